"""Inspect checkpoints: per-layer health of one model's 3×3 filters, one summary row per model.

A checkpoint is loaded through the model sources, as the workflow's dump loads a sheet
row: a local file is a row of the ``file`` source read by its format's reader, and torch
or timm are imported only where the format needs them: ``.safetensors`` (numpy alone,
depth in name order), ``.onnx`` (the onnx package, graph depth), TF.js ``model.json`` and
Keras ``.h5`` (their readers, no TensorFlow); torch files (``.pt``, ``.pth``, ``.bin``,
``.ckpt``) go to the restricted unpickler (``torch-pickle`` reader). With ``arch`` (a timm
architecture), a ``.safetensors`` or torch file is a row of the ``checkpoint`` source,
loaded into that architecture for graph depth, strides and groups. Anything else is a
row of the ``timm`` source (``pretrained``, ``seed``).

Public: :func:`inspect` (a layer table), :func:`read_layers`, :func:`read_filters`
(exported by the package), :func:`inspect_model` and :func:`model_summary` (what the
command line prints).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .extract import plan_layers
from .metrics import DEFAULT_CUTOFFS, layer_flags, layer_metrics
from .errors import SourceError
from .model import LoadedModel

# file name endings → format; the first match wins (".weights.h5" before ".h5")
FORMATS = {
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    ".pt": "torch", ".pth": "torch", ".bin": "torch", ".ckpt": "torch",
    ".h5": "keras", ".keras": "keras",
    "model.json": "tfjs",
}  # fmt: skip
# format → the reader (filterdb.readers) of its files; torch files go to the restricted unpickler (no torch)
READER_OF = {"safetensors": "safetensors", "onnx": "onnx", "torch": "torch-pickle", "keras": "keras-h5", "tfjs": "tfjs"}
# formats whose files say nothing of stride and dilation when read without --arch (weights
# alone: a safetensors file, a torch state dict; a pickled torch module does say)
NO_GEOMETRY = {"safetensors", "torch"}
FLAGS = ("sparse", "collapsed", "random_like", "zero")


def checkpoint_format(path: str | os.PathLike) -> str | None:
    """The format of a checkpoint file by its name (see ``FORMATS``), or None."""
    name = Path(path).name.lower()
    return next((fmt for ending, fmt in FORMATS.items() if name.endswith(ending)), None)


def model_id_of(target: Any) -> str:
    """A model id for a target: the file name without its format's ending, the folder of a
    TF.js ``model.json``, a module's class name, or a timm name as it is."""
    if not isinstance(target, (str, os.PathLike)):
        return type(target).__name__
    path = Path(target)
    name = path.name
    if name.lower() == "model.json":
        return path.resolve().parent.name
    for ending in (".weights.h5", *FORMATS):
        if name.lower().endswith(ending) and len(name) > len(ending):
            return name[: -len(ending)]
    return str(target)


def file_row(model_id: str, path: Path, fmt: str, arch: str | None) -> dict:
    """The model-sheet row of a local checkpoint: source ``checkpoint`` with ``arch``, else ``file``."""
    if arch:
        if fmt not in ("safetensors", "torch"):
            raise SourceError(f"{path}: --arch applies to .safetensors and torch files, not to {fmt} files")
        return {"model": model_id, "source": "checkpoint", "reference": str(path), "arch": arch}
    if fmt == "keras" and path.suffix.lower() == ".keras":
        raise SourceError(f"{path}: a .keras file is a zip archive: unzip it and inspect its model.weights.h5")
    return {"model": model_id, "source": "file", "reference": str(path), "reader": READER_OF[fmt]}


def _read_file(model_id: str, path: Path, fmt: str, arch: str | None) -> LoadedModel:
    """Load a local checkpoint through its source, as the workflow's dump does."""
    from .sources import get_source

    row = file_row(model_id, path, fmt, arch)
    source = get_source(row["source"])
    if row["source"] == "file":  # a local file is not fetched: no checksum to read the whole file for
        return source.load(row, source.manifest_of(str(path)))
    return source.load(row, source.fetch(row, None))


def load_model(target: Any, arch: str | None = None, pretrained: bool = False, seed: int = 0) -> tuple[LoadedModel, str]:
    """(the model's conv layers, its format) for a checkpoint path, a torch module or a timm name."""
    model_id = model_id_of(target)
    if not isinstance(target, (str, os.PathLike)):
        if not hasattr(target, "named_modules"):
            raise SourceError(f"cannot inspect a {type(target).__name__}: give a checkpoint path, a torch module or a timm name")
        from .sources.torch_graph import convs_from_module

        return convs_from_module(model_id, target), "module"
    path = Path(target)
    fmt = checkpoint_format(path)
    if path.is_dir():
        raise SourceError(
            f"{path}: a folder; inspect its files one by one (expand_targets lists them), "
            "or run `filterdb inspect` on the folder"
        )
    if fmt is not None or path.exists():
        if not path.is_file():
            raise SourceError(f"{path}: no such checkpoint file")
        if fmt is None:
            raise SourceError(
                f"{path}: unknown checkpoint format; known endings: {', '.join(FORMATS)} "
                "(or a timm model name)"
            )
        return _read_file(model_id, path, fmt, arch), fmt
    from .sources import get_source

    row = {"model": model_id, "source": "timm", "reference": str(target), "pretrained": pretrained, "seed": seed}
    source = get_source("timm")
    return source.load(row, source.fetch(row, Path.home() / ".cache" / "filterdb")), "timm"


def layer_rows(loaded: LoadedModel, fmt: str, cutoffs: dict | None = None) -> tuple[list[dict], list[np.ndarray], list[dict]]:
    """(one dict per 3×3 layer: facts, metrics and flags; its (n, 9) filters; layers left out).

    Layers with NaN or Inf weights are left out and listed. An all-zero layer is flagged
    ``zero`` and has no orthogonality (NaN: no direction to compare), where the metric
    would count its zero channels as orthogonal.
    """
    cutoffs = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    facts, kernels, excluded = plan_layers(loaded, on_nonfinite="exclude")
    detail = loaded.source_detail
    no_geometry = fmt in NO_GEOMETRY and "arch" not in detail and "pickled module" not in str(detail.get("content", ""))
    rows = []
    for fact, flat in zip(facts, kernels):
        metrics = layer_metrics(flat, fact["out_channels"])
        zero = bool(metrics["abs_max"] == 0)
        if zero:
            metrics["orthogonality"] = float("nan")
        row = {"model": loaded.model, **fact, **metrics, **layer_flags(metrics, cutoffs, fact["n_filters"]), "flag_zero": zero}
        if no_geometry:
            row["stride"] = row["dilation"] = None
        rows.append(row)
    return rows, kernels, excluded


def model_summary(model: str, path: str, fmt: str, loaded: LoadedModel | None, rows: list[dict], excluded: list[dict]) -> dict:
    """One row per model: size, flag counts, and the layer metrics' extremes."""
    ratio = np.array([r["entropy_ratio"] for r in rows], dtype=np.float64)
    ortho = np.array([r["orthogonality"] for r in rows], dtype=np.float64)
    sparsity = np.array([r["sparsity"] for r in rows], dtype=np.float64)

    def stat(fn, values):
        finite = values[np.isfinite(values)]
        return float(fn(finite)) if finite.size else None

    summary = {
        "model": model,
        "path": path,
        "format": fmt,
        "depth_source": loaded.depth_source if loaded else None,
        "precision": loaded.precision if loaded else None,
        "n_layers": len(rows),
        "n_filters": int(sum(r["n_filters"] for r in rows)),
        **{f"n_{flag}": int(sum(r[f"flag_{flag}"] for r in rows)) for flag in FLAGS},
        "n_nonfinite": len(excluded),
        "min_entropy_ratio": stat(np.min, ratio),
        "median_entropy_ratio": stat(np.median, ratio),
        "mean_sparsity": stat(np.mean, sparsity),
        "min_orthogonality": stat(np.min, ortho),
    }
    return summary


def inspect_model(target: Any, arch: str | None = None, pretrained: bool = False, seed: int = 0,
                  cutoffs: dict | None = None, against=None) -> dict:
    """Inspect one model: {"summary": model row, "layers": layer rows, "shift": {group: D}}.

    against: a :class:`filterdb.population.Population` (or None): adds each layer's
    percentiles at its depth decile, the model's D to each visual-category group, the
    nearest group and a verdict to the summary.
    """
    loaded, fmt = load_model(target, arch, pretrained, seed)
    rows, kernels, excluded = layer_rows(loaded, fmt, cutoffs)
    path = str(target) if isinstance(target, (str, os.PathLike)) else ""
    summary = model_summary(loaded.model, path, fmt, loaded, rows, excluded)
    shift: dict[str, float] = {}
    if against is not None:
        against.add_percentiles(rows)
        shift, outside = against.shift_to_groups(kernels)
        summary.update(against.summarise(rows, shift, outside))
    return {"summary": summary, "layers": rows, "shift": shift, "excluded": excluded}


def failed(model: str, path: str, error: str) -> dict:
    """The result of a target that could not be inspected: a summary row holding the error."""
    return {"summary": {"model": model, "path": path, "error": error}, "layers": [], "shift": {}, "excluded": []}


# --------------------------------------------------------------------------- many files

def expand_targets(targets: Iterable[str]) -> list[str]:
    """Checkpoint paths of the targets: a folder gives every checkpoint file under it (sorted).

    A folder holding a TF.js ``model.json`` is one model (its ``.bin`` files are its
    shards); ``.bin`` files beside an ``.onnx`` file are taken as its external data.
    """
    found: list[str] = []
    for target in targets:
        path = Path(target)
        if not path.is_dir():
            found.append(str(target))
            continue
        files = []
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            lower = {n.lower() for n in names}
            if "model.json" in lower:
                files += [os.path.join(folder, n) for n in names if n.lower() == "model.json"]
                continue
            has_onnx = any(n.endswith(".onnx") for n in lower)
            for name in sorted(names):
                fmt = checkpoint_format(name)
                if fmt is None or (fmt == "torch" and name.lower().endswith(".bin") and has_onnx):
                    continue
                files.append(os.path.join(folder, name))
        if not files:
            raise SourceError(
                f"{path}: is a directory; give a checkpoint file or a folder holding some: no file under it "
                f"ends in {', '.join(FORMATS)}"
            )
        found += files
    return found


# --------------------------------------------------------------------------- Python API

def _layer_frame(rows: list[dict]):
    import pandas as pd

    from .stats import depth_decile

    frame = pd.DataFrame.from_records(rows)
    if len(frame) and "depth_decile" not in frame.columns:
        position = frame.columns.get_loc("conv_depth_norm") + 1
        frame.insert(position, "depth_decile", depth_decile(frame["conv_depth_norm"].to_numpy()))
    return frame


def inspect(path_or_module: Any, against: Any = None, *, arch: str | None = None, pretrained: bool = False,
            seed: int = 0, cutoffs: dict | None = None):
    """Per-layer health of one model's 3×3 conv layers, as a pandas DataFrame.

    path_or_module: a checkpoint file (``.safetensors``, ``.onnx``, torch, TF.js
    ``model.json``, Keras ``.h5``), a torch ``nn.Module``, or a timm model name.
    against: a built database (its ``results/db`` folder, or the ``results`` folder
    above it) or a :class:`filterdb.population.Population`; None for no comparison.
    arch: timm architecture to load a ``.safetensors`` or torch file into (graph depth).
    cutoffs: flag cut-offs (``sparse_min``, ``collapsed_max``, ``random_like_min``).

    Returns one row per 3×3 layer: ``layer``, ``name``, channels, ``groups``, ``n_filters``,
    ``conv_depth_norm``, ``depth_decile``, ``depth_source``, the metrics (``sparsity``,
    ``variance_entropy``, ``entropy_ratio`` = H/TH, ``orthogonality``, …) and flags
    (``flag_sparse``, ``flag_collapsed``, ``flag_random_like``, ``flag_zero``). With
    ``against``: ``sparsity_pct``, ``entropy_ratio_pct``, ``orthogonality_pct`` (percentile
    among the database's layers of the same depth decile) and ``reference_layers``.
    ``frame.attrs`` holds the model's summary row (with ``verdict``, ``nearest_group``)
    and ``shift`` ({visual category: D}).
    """
    population = _population(against)
    result = inspect_model(path_or_module, arch, pretrained, seed, cutoffs, population)
    frame = _layer_frame(result["layers"])
    frame.attrs["summary"] = result["summary"]
    frame.attrs["shift"] = result["shift"]
    frame.attrs["excluded"] = result["excluded"]
    return frame


def _population(against: Any):
    if against is None:
        return None
    from .population import Population

    return against if isinstance(against, Population) else Population(against)


def read_layers(path_or_module: Any, *, arch: str | None = None):
    """The 3×3 conv layers of a model, without metrics, as a pandas DataFrame.

    path_or_module: as for :func:`inspect`, or a filterdb filters file
    (``results/filters/{model}.parquet``, which describes its layers in its metadata).
    Columns: ``layer``, ``name``, ``in_channels``, ``out_channels``, ``groups``, ``stride``,
    ``dilation``, ``n_filters``, ``conv_depth``, ``conv_depth_norm``, ``depth_decile``,
    ``depth_source``.
    """
    if _is_filters_file(path_or_module):
        from .store import filters_metadata

        facts = filters_metadata(path_or_module)[1]
    else:
        loaded, _ = load_model(path_or_module, arch)
        facts = plan_layers(loaded, on_nonfinite="exclude")[0]
    return _layer_frame(facts)


def read_filters(path_or_module: Any, layer: int | str | None = None, *, arch: str | None = None):
    """The 3×3 filters of a model: a list of (n, 9) float32 arrays, one per layer of
    :func:`read_layers` (rows ordered by output, then input channel), or with ``layer``
    (an index or a layer name) that layer's array alone.

    path_or_module: as for :func:`read_layers`.
    """
    if _is_filters_file(path_or_module):
        from . import store

        names = [f["name"] for f in store.filters_metadata(path_or_module)[1]]
        wanted = names.index(layer) if isinstance(layer, str) and layer in names else layer
        kernels = [np.array(k, dtype=np.float32) for i, k, _ in store.iter_layer_kernels(path_or_module)
                   if wanted is None or i == wanted]  # fmt: skip
    else:
        loaded, _ = load_model(path_or_module, arch)
        facts, kernels, _ = plan_layers(loaded, on_nonfinite="exclude")
        names = [f["name"] for f in facts]
        if layer is not None:
            wanted = names.index(layer) if isinstance(layer, str) and layer in names else layer
            kernels = [kernels[wanted]] if isinstance(wanted, int) and 0 <= wanted < len(kernels) else []
    if layer is None:
        return kernels
    if not kernels:
        raise KeyError(f"{path_or_module}: no 3×3 layer {layer!r}; layers: {', '.join(names[:8])}{' …' if len(names) > 8 else ''}")
    return kernels[0]


def _is_filters_file(target: Any) -> bool:
    return isinstance(target, (str, os.PathLike)) and str(target).endswith(".parquet")


def finite_or_none(value: Any) -> Any:
    """JSON-ready value: NaN and ±Inf become None, numpy scalars Python ones."""
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value
