"""``torchvision`` source: a torchvision model (classification, segmentation, detection...) with its weights.

Sheet columns: ``reference`` (the torchvision model name, as ``torchvision.models.get_model``
takes it: ``resnet50``, ``fasterrcnn_resnet50_fpn``, ``deeplabv3_resnet50``...),
``weights`` (the weights enum member, ``ResNet50_Weights.IMAGENET1K_V2``, or ``DEFAULT``).
``fetch`` downloads the weights with torchvision's own code into the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), checking the hash torchvision pins; ``load`` reads them
from there, offline.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import SourceError
from ..model import LoadedModel
from .base import require, row_value
from .torch_graph import convs_from_module


def _weights(row: Mapping[str, Any]):
    import torchvision

    name = str(require(row, "reference"))
    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise SourceError(
            f"model {row['model']!r}: {name!r} is not a torchvision model with weights "
            f"({exc}); see torchvision.models.list_models()"
        ) from None
    spec = str(row_value(row, "weights", "DEFAULT"))
    member = spec.split(".", 1)[1] if "." in spec else spec
    if spec.count(".") == 1 and spec.split(".")[0] != enum.__name__:
        raise SourceError(f"model {row['model']!r}: weights {spec!r} do not belong to {name!r} (its enum: {enum.__name__})")
    try:
        return name, enum[member]
    except KeyError:
        raise SourceError(
            f"model {row['model']!r}: {enum.__name__} has no member {member!r}; "
            f"known: {', '.join(w.name for w in enum)}"
        ) from None


def _checkpoint_path(weights) -> str:
    import os

    import torch

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


def fetch(row: Mapping[str, Any], cache_dir) -> dict:
    name, weights = _weights(row)
    try:
        weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:
        raise SourceError(
            f"model {row['model']!r}: torchvision could not download {weights} for {name!r} "
            f"({type(exc).__name__}: {exc}). Without network access, download {weights.url} "
            f"elsewhere and put it at {_checkpoint_path(weights)} (TORCH_HOME sets the folder), "
            "or add the model as source 'checkpoint' with a local file."
        ) from exc
    return {"torchvision": name, "weights": str(weights), "file": _checkpoint_path(weights)}


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    import torchvision

    name, weights = _weights(row)
    try:
        module = torchvision.models.get_model(name, weights=weights)
    except Exception as exc:
        raise SourceError(
            f"model {row['model']!r}: torchvision could not build {name!r} with {weights} "
            f"({type(exc).__name__}: {exc}); run the fetch step first, or put the weights at "
            f"{_checkpoint_path(weights)}"
        ) from exc
    crop = getattr(weights.transforms(), "crop_size", [224])
    size = int(crop[0]) if crop else 224
    return convs_from_module(
        row["model"], module, input_shape=(3, size, size),
        source_detail={"torchvision": name, "weights": str(weights), "url": weights.url},
    )
