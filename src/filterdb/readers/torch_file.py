"""Torch weight files (state dicts) read without running pickled code.

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers; a file
that needs arbitrary pickle (a whole pickled ``nn.Module``, custom classes) is refused,
unless the sheet row says ``trust_pickle: true``, which runs the pickle: only for files
whose origin you trust.

A state dict has no graph: every 4-D ``*.weight`` tensor is taken as a conv
(out, in/groups, kh, kw) with groups = 1, in the dict's order, which is the order in
which the module defined its layers (depth source: execution order). Several files
(a cascade such as MTCNN's P-, R- and O-Net) are read in the given order, their keys
prefixed with the file stem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel


def load_state_dict(model_id: str, path: Path, trust_pickle: bool = False) -> dict:
    """{name: tensor} of one torch file; a SourceError for pickle-only files unless trusted."""
    import pickle

    import torch

    if not path.is_file():
        raise SourceError(f"model {model_id!r}: torch file {str(path)!r} does not exist")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            raise SourceError(
                f"model {model_id!r}: {str(path)!r} cannot be read as plain weights "
                f"(weights_only=True refused it: {str(exc).splitlines()[0]}). Loading it would run "
                "pickled code. Convert it to a state dict or .safetensors, or, only if you trust "
                "its origin, set trust_pickle: true in the model sheet row."
            ) from None
        state = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise SourceError(
            f"model {model_id!r}: cannot read torch file {str(path)!r} ({type(exc).__name__}: {exc}); "
            "a truncated or corrupt download gives this error: delete it and fetch again"
        ) from exc
    if hasattr(state, "state_dict") and callable(state.state_dict):
        state = state.state_dict()
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise SourceError(f"model {model_id!r}: {str(path)!r} holds a {type(state).__name__}, not a state dict")
    return state


_FLOAT_LABELS = {
    "torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float64": "fp64",
}  # fmt: skip


def stored_precision(tensor) -> str:
    """The stored dtype of a weight tensor as filterdb labels it: fp32, fp16, bf16, int8-quantised, ..."""
    if tensor.is_quantized:
        return f"{str(tensor.dtype).removeprefix('torch.q')}-quantised"  # qint8 → int8-quantised
    return _FLOAT_LABELS.get(str(tensor.dtype), str(tensor.dtype).removeprefix("torch."))


def float_weight(model_id: str, key: str, tensor, path) -> "object":
    """A weight tensor as float32: quantised tensors dequantised with their own scale;
    plain integer tensors (codes without a scale) refused, naming the file and tensor."""
    import torch

    if tensor.is_quantized:
        return tensor.dequantize().float()
    if not (tensor.is_floating_point() or tensor.dtype == torch.bool):
        raise SourceError(
            f"model {model_id!r}: tensor {key!r} in {str(path)!r} is stored as "
            f"{str(tensor.dtype).removeprefix('torch.')} with no scale; these are quantised codes, not "
            "weights. Dequantise them (weights = scale × (codes − zero point)) or save the model as a "
            "quantised torch model"
        )
    return tensor.float()


def read_torch(model_id: str, paths: Sequence[str | Path], trust_pickle: bool = False) -> LoadedModel:
    """Conv layers (every 4-D ``*.weight``) of one or more torch state-dict files."""
    import torch

    convs: list[ConvLayer] = []
    labels: set[str] = set()
    many = len(paths) > 1
    for path in map(Path, paths):
        state = load_state_dict(model_id, path, trust_pickle)
        for key, value in state.items():
            if not (isinstance(value, torch.Tensor) and value.ndim == 4 and key.endswith("weight")):
                continue
            labels.add(stored_precision(value))
            convs.append(
                ConvLayer(
                    name=f"{path.stem}/{key}" if many else key,
                    weight=float_weight(model_id, key, value.detach(), path).numpy(),
                    distance=len(convs),
                )
            )
    if not convs:
        raise SourceError(f"model {model_id!r}: no 4-D conv weights in {', '.join(map(str, paths))}")
    return LoadedModel(
        model=model_id,
        convs=convs,
        depth_source="execution order",
        precision="+".join(sorted(labels)),
        bn_folded=False,
        source_detail={"format": "torch", "files": [Path(p).name for p in paths]},
    )


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`); option ``trust_pickle`` (bool)."""
    return read_torch(model_id, paths, trust_pickle=bool(options.get("trust_pickle")))
