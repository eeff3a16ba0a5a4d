"""Readers of weight formats: each turns local files into :class:`~filterdb.sources.base.LoadedModel`.

Readers never import or run the code that shipped the weights: ONNX protobufs are read
with the ``onnx`` package, TF.js model files as JSON (or as JavaScript literals, parsed,
never evaluated), dlib networks by their serialisation format, torch files with
``weights_only=True``.

- :mod:`.onnx`: ``.onnx`` files, external data included.
- :mod:`.tfjs`: TF.js layers models, graph models and bare weight manifests.
- :mod:`.dlib`: dlib DNN ``.dat`` files.
- :mod:`.torch_file`: torch state dicts.
"""

from __future__ import annotations

READERS = ("onnx", "torch", "dlib", "tfjs-layers", "tfjs-graph", "tfjs-weights")


def read(reader: str, model_id: str, paths: list, options: dict | None = None):
    """Dispatch to the reader named ``reader``; ``paths`` are local files, the first the model file."""
    from ..sources.base import SourceError

    options = options or {}
    if reader == "onnx":
        from .onnx import read_onnx

        return read_onnx(model_id, paths[0])
    if reader == "torch":
        from .torch_file import read_torch

        return read_torch(model_id, paths, trust_pickle=bool(options.get("trust_pickle")))
    if reader == "dlib":
        from .dlib import read_dlib

        return read_dlib(model_id, paths[0])
    if reader in ("tfjs-layers", "tfjs-graph", "tfjs-weights", "tfjs"):
        from .tfjs import read_tfjs

        return read_tfjs(model_id, paths[0], kind=reader, options=options)
    raise SourceError(
        f"model {model_id!r}: unknown reader {reader!r}; known readers: {', '.join(READERS)}"
    )
