"""``timm`` source: any timm architecture, at a seeded random init or with hub weights.

Sheet columns: ``reference`` (the timm model name), ``pretrained`` (true: timm's own
hub loading, which honours a local Hugging Face cache and ``HF_HUB_OFFLINE``),
``seed`` (random init only; default 0).
"""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Any, Mapping

from ..errors import SourceError
from ..model import LoadedModel
from ..registry import suggest
from .base import as_bool, require, row_value
from .torch_graph import convs_from_module


def check_name(model_id: str, name: str) -> None:
    """Raise a SourceError with close matches when ``name`` is not a timm model."""
    import timm

    if name in timm.list_models():
        return
    # pretrained tags (resnet50.a1_in1k) are valid names too
    if "." in name and name.split(".", 1)[0] in timm.list_models():
        return
    close = suggest(name, timm.list_models(), n=5)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise SourceError(f"model {model_id!r}: {name!r} is not a timm architecture.{hint}")


HUB_HOST = "huggingface.co"


def hub_reachable(host: str = HUB_HOST, timeout: float = 3.0) -> bool:
    """Whether the hub answers a TCP connection within ``timeout`` seconds."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextmanager
def _offline_unless_reachable():
    """Serve hub weights from the local cache only when the hub cannot be reached.

    Without this, huggingface_hub retries every lookup for about a minute per model
    before it fails on a machine without network.
    """
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    if not previous and not hub_reachable():
        constants.HF_HUB_OFFLINE = True  # read at call time by huggingface_hub
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def create(model_id: str, name: str, pretrained: bool, seed: int = 0):
    """Build the timm model; hub errors become a SourceError that says how to go offline."""
    import timm
    import torch

    check_name(model_id, name)
    torch.manual_seed(int(seed))
    try:
        if not pretrained:
            return timm.create_model(name, pretrained=False)
        with _offline_unless_reachable():
            return timm.create_model(name, pretrained=True)
    except Exception as exc:
        if not pretrained:
            raise SourceError(f"model {model_id!r}: timm could not build {name!r}: {exc}") from exc
        raise SourceError(
            f"model {model_id!r}: timm could not load pretrained weights for {name!r} "
            f"({type(exc).__name__}: {exc}). Without network access, put the weights in "
            "the Hugging Face cache (HF_HOME) and set HF_HUB_OFFLINE=1, or add the model "
            "as source 'checkpoint' with a local .safetensors file and its 'arch'."
        ) from exc


def _settings(row: Mapping[str, Any]) -> tuple[str, bool, int]:
    name = str(require(row, "reference"))
    pretrained = as_bool(row_value(row, "pretrained", False))
    seed = int(float(row_value(row, "seed", 0)))
    return name, pretrained, seed


def fetch(row: Mapping[str, Any], cache_dir) -> dict:
    name, pretrained, seed = _settings(row)
    check_name(row["model"], name)
    if pretrained:  # download once into the hub cache, so that load() runs offline
        create(row["model"], name, pretrained=True)
    return {"timm": name, "pretrained": pretrained, "seed": None if pretrained else seed}


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    name, pretrained, seed = _settings(row)
    module = create(row["model"], name, pretrained=pretrained, seed=seed)
    input_size = tuple(module.pretrained_cfg.get("input_size", (3, 224, 224)))
    return convs_from_module(
        row["model"], module, input_shape=input_size, source_detail={"timm": name}
    )
