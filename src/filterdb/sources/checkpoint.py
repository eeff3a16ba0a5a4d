"""``checkpoint`` source: a local weights file plus the timm architecture it fits.

Sheet columns: ``reference`` (path to a ``.safetensors`` file or a torch state dict,
relative to the working directory), ``arch`` (timm architecture name), optional
``sha256``. Torch files are read with ``weights_only=True``: a checkpoint that needs
pickle to load is refused, never executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..readers.torch_file import float_weight, stored_precision
from ..errors import SourceError
from ..model import LoadedModel
from .base import local_file, require
from .timm_source import create
from .torch_graph import convs_from_module


def read_state_dict(model_id: str, path: Path) -> dict:
    """Tensors of a .safetensors file or a torch state dict, loaded without running code."""
    if not path.is_file():
        raise SourceError(f"model {model_id!r}: checkpoint file {str(path)!r} does not exist")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            import torch

            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SourceError(
            f"model {model_id!r}: cannot read checkpoint {str(path)!r} "
            f"({type(exc).__name__}: {exc}). A truncated download or a file that needs "
            "pickle to load (weights_only=True refuses it) gives this error."
        ) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise SourceError(f"model {model_id!r}: {str(path)!r} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def fetch(row: Mapping[str, Any], cache_dir) -> dict:
    return {**local_file(row, "checkpoint file"), "arch": str(require(row, "arch"))}


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    model_id = row["model"]
    arch = str(require(row, "arch"))
    state = read_state_dict(model_id, Path(manifest["path"]))
    module = create(model_id, arch, pretrained=False)
    path = Path(manifest["path"])
    # the stored dtypes, before load_state_dict casts them silently to the module's float32
    convs = [k for k, v in state.items() if getattr(v, "ndim", 0) == 4 and k.endswith("weight")]
    labels = {stored_precision(state[k]) for k in convs}
    weights = [k for k, v in state.items() if hasattr(v, "is_quantized") and k.endswith(("weight", "bias"))]
    state.update({k: float_weight(model_id, k, state[k], path) for k in weights})
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise SourceError(
            f"model {model_id!r}: the state dict in {manifest['path']!r} does not fit timm "
            f"architecture {arch!r}: {exc}"
        ) from exc
    if result.missing_keys or result.unexpected_keys:
        missing = ", ".join(result.missing_keys[:5])
        unexpected = ", ".join(result.unexpected_keys[:5])
        raise SourceError(
            f"model {model_id!r}: the state dict in {manifest['path']!r} does not fit timm "
            f"architecture {arch!r}: {len(result.missing_keys)} missing keys ({missing}), "
            f"{len(result.unexpected_keys)} unexpected keys ({unexpected})"
        )
    input_size = tuple(module.pretrained_cfg.get("input_size", (3, 224, 224)))
    return convs_from_module(
        model_id,
        module,
        input_shape=input_size,
        precision="+".join(sorted(labels)) or "fp32",
        source_detail={"path": manifest["path"], "sha256": manifest["sha256"], "arch": arch},
    )
