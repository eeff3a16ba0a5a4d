"""Readers of weight formats: each turns local files into :class:`~filterdb.sources.base.LoadedModel`.

Readers never import or run the code that shipped the weights: ONNX protobufs are read
with the ``onnx`` package, TF.js model files as JSON (or as JavaScript literals, parsed,
never evaluated), dlib networks by their serialisation format, torch files with
``weights_only=True``.

- :mod:`.onnx`: ``.onnx`` files, external data included.
- :mod:`.tfjs`: TF.js layers models, graph models and bare weight manifests.
- :mod:`.dlib`: dlib DNN ``.dat`` files.
- :mod:`.torch_file`: torch state dicts (``torch.load(weights_only=True)``).
- :mod:`.torch_pickle`: torch files of any era (pre-zip included) and whole pickled modules,
  through the restricted unpickler of :mod:`.safe_pickle` (no torch, no pickled code run).
- :mod:`.madmom`: madmom's Python-2-era model pickles, through the same unpickler.
- :mod:`.katago`: KataGo ``.bin.gz`` networks.
- :mod:`.tf_checkpoint`: TensorFlow SavedModel / checkpoint variables, without TensorFlow.
- :mod:`.keras_h5`: Keras 3 ``.weights.h5`` and Keras 2 whole-model ``.h5`` files (h5py).
"""

from __future__ import annotations

READERS = ("onnx", "torch", "dlib", "tfjs-layers", "tfjs-graph", "tfjs-weights", "torch-pickle", "madmom",
           "katago", "tf-variables", "keras-h5")


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
    if reader == "torch-pickle":
        from .torch_pickle import read_torch_pickle

        return read_torch_pickle(model_id, paths)
    if reader == "madmom":
        from .madmom import read_madmom

        return read_madmom(model_id, paths[0])
    if reader == "katago":
        from .katago import read_katago

        return read_katago(model_id, paths[0])
    if reader == "tf-variables":
        from .tf_checkpoint import read_tf_variables

        return read_tf_variables(model_id, paths)
    if reader == "keras-h5":
        from .keras_h5 import read_keras_h5

        return read_keras_h5(model_id, paths[0])
    raise SourceError(
        f"model {model_id!r}: unknown reader {reader!r}; known readers: {', '.join(READERS)}"
    )
