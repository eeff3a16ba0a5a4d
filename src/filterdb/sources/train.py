"""``train`` source: a model of the workflow's own zoo, trained by the ``train`` rule.

Sheet columns (see ``config/zoo.tsv``): ``architecture`` (vgg, resnet, mobilenet),
``dataset`` (a zoo data set, :mod:`filterdb.zoo.datasets`), ``task``
(classification, denoising), ``width``, ``depth``, ``epochs``, ``data_size``,
``seed``. The ``train`` rule writes the weights (``.safetensors``) and the training
record (``.json``); the ``model`` rule takes both as its input and passes their paths to
``fetch``, which checks them against each other and the row; ``load`` rebuilds the
architecture and reads the weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..errors import SourceError
from ..model import LoadedModel
from .torch_graph import convs_from_module


def _config(row: Mapping[str, Any]):
    from ..zoo.train import TrainConfig, TrainError

    try:
        return TrainConfig.from_row(row)
    except TrainError as exc:
        raise SourceError(str(exc)) from None


def model_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """The training figures that go into the model table (a flat dict)."""
    config, final = record["config"], record["final"]
    return {
        "dataset": config["dataset"],
        "width": float(config["width"]),
        "depth": int(config["depth"]),
        "epochs": int(config["epochs"]),
        "data_size": int(record["dataset"]["train_images"]),
        "seed": int(config["seed"]),
        "train_loss": final["train_loss"],
        "train_accuracy": final["train_accuracy"],
        "test_loss": final["test_loss"],
        "test_accuracy": final["test_accuracy"],
        "train_steps": int(record["steps"]),
        # no times, host or threads: the model table is the same on every machine and
        # executor (they are in results/zoo/timing.tsv)
        "train_device": record["device"],
        "n_parameters": int(record["n_parameters"]),
        "train_curve": json.dumps(
            [{k: v for k, v in point.items() if k != "seconds"} for point in record["curve"]], sort_keys=True
        ),
    }


def fetch(row: Mapping[str, Any], cache_dir, weights: str | Path, record: str | Path) -> dict:
    """The manifest of a trained zoo model. weights, record: the files the ``train`` rule wrote
    for this row (the ``model`` rule's input)."""
    from ..store import sha256_of

    model_id = row["model"]
    config = _config(row)
    weights, record_path = Path(weights), Path(record)
    if not weights.is_file() or not record_path.is_file():
        raise SourceError(
            f"model {model_id!r}: the zoo model is not trained yet ({weights} / {record_path} missing); "
            f"run `snakemake {weights}` (rule train)"
        )
    record = json.loads(record_path.read_text())
    digest = sha256_of(weights)
    if record.get("weights_sha256") != digest:
        raise SourceError(
            f"model {model_id!r}: {weights} (sha256 {digest}) is not the file its record {record_path} "
            "describes; delete both and retrain"
        )
    if record.get("config") != config.as_dict():
        raise SourceError(
            f"model {model_id!r}: {record_path} was trained with other settings than the sheet row "
            f"({record.get('config')} vs {config.as_dict()}); delete it and retrain"
        )
    return {
        "weights": str(weights),
        "record": str(record_path),
        "sha256": digest,
        "config": config.as_dict(),
        "model_columns": model_columns(record),
    }


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    """The conv layers of a trained zoo model: from the weights and the layout the ``train``
    rule stored beside them (numpy only), or, for weights written without a layout, by
    rebuilding the architecture in torch and tracing it."""
    layout_loaded = _load_with_layout(row["model"], manifest)
    if layout_loaded is not None:
        return layout_loaded
    from ..zoo.train import TrainError

    model_id = row["model"]
    config = _config(row)
    try:
        module = config.build()
    except TrainError as exc:
        raise SourceError(str(exc)) from None
    from safetensors.torch import load_file

    state = load_file(manifest["weights"])
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise SourceError(f"model {model_id!r}: {manifest['weights']} does not fit its sheet row: {exc}") from exc
    return convs_from_module(
        model_id, module.eval(), input_shape=config.input_shape(),
        source_detail={"weights": manifest["weights"], "sha256": manifest["sha256"]},
    )  # fmt: skip


def _load_with_layout(model_id: str, manifest: Mapping[str, Any]) -> LoadedModel | None:
    from ..model import ConvLayer
    from ..readers.safetensors_file import data_map, read_header, tensor
    from ..zoo.train import LAYOUT_KEY

    path = manifest["weights"]
    metadata: dict = {}
    header, start = read_header(model_id, path, metadata)
    if LAYOUT_KEY not in metadata:
        return None
    try:
        layout = json.loads(metadata[LAYOUT_KEY])
        layers = [(str(c["name"]), int(c["distance"]), int(c["groups"]), tuple(c["stride"]), tuple(c["dilation"]))
                  for c in layout["layers"]]  # fmt: skip
        depth_source = str(layout["depth_source"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"model {model_id!r}: {path}: malformed conv layout in its metadata ({exc})") from None
    convs_in_file = {n.removesuffix(".weight") for n, e in header.items() if n.endswith(".weight") and len(e["shape"]) == 4}
    named = [name for name, *_ in layers]
    if set(named) != convs_in_file or len(set(named)) != len(named):
        raise SourceError(
            f"model {model_id!r}: {path}: its conv layout names {len(named)} layers, the file holds "
            f"{len(convs_in_file)} conv weights ({sorted(set(named) ^ convs_in_file)[:5]} differ); delete it and retrain"
        )
    # the zoo writes float32; another dtype is a file not written by it (its precision unrecorded here)
    other = sorted(f"{name} ({header[f'{name}.weight']['dtype']})" for name in named if header[f"{name}.weight"]["dtype"] != "F32")
    if other:
        raise SourceError(
            f"model {model_id!r}: {path}: conv weights that are not float32, as the zoo writes them: "
            f"{', '.join(other[:5])}; delete it and retrain"
        )
    data = data_map(path, start)
    convs = [
        ConvLayer(name=name, weight=tensor(data, header[f"{name}.weight"]), groups=groups,
                  stride=(int(stride[0]), int(stride[1])), dilation=(int(dilation[0]), int(dilation[1])), distance=distance)
        for name, distance, groups, stride, dilation in layers
    ]  # fmt: skip
    return LoadedModel(
        model=model_id, convs=convs, depth_source=depth_source,
        source_detail={"weights": manifest["weights"], "sha256": manifest["sha256"]},
    )  # fmt: skip
