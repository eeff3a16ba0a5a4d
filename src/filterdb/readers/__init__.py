"""Readers of weight formats, in one registry: each turns local files into a :class:`~filterdb.model.LoadedModel`.

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
- :mod:`.safetensors_file`: ``.safetensors`` files, with numpy alone.

Each reader module has ``read(model_id, paths, options) -> LoadedModel``; ``READERS`` maps
a reader's name (a sheet's ``reader`` column) to that function, imported when first used,
so a reader's dependencies (onnx, torch, h5py) load only with it.
"""

from __future__ import annotations

from ..errors import SourceError
from ..registry import Registry

READERS = Registry(
    "reader",
    {
        "onnx": "filterdb.readers.onnx:read",
        "torch": "filterdb.readers.torch_file:read",
        "dlib": "filterdb.readers.dlib:read",
        "tfjs-layers": "filterdb.readers.tfjs:read",
        "tfjs-graph": "filterdb.readers.tfjs:read",
        "tfjs-weights": "filterdb.readers.tfjs:read",
        "tfjs": "filterdb.readers.tfjs:read",  # the kind read from the file
        "torch-pickle": "filterdb.readers.torch_pickle:read",
        "madmom": "filterdb.readers.madmom:read",
        "katago": "filterdb.readers.katago:read",
        "tf-variables": "filterdb.readers.tf_checkpoint:read",
        "keras-h5": "filterdb.readers.keras_h5:read",
        "safetensors": "filterdb.readers.safetensors_file:read",
    },
    error=SourceError,
)


def read(reader: str, model_id: str, paths: list, options: dict | None = None):
    """Read ``paths`` (local files, the first the model file) with the reader named ``reader``."""
    function = READERS.lookup(reader, where=f"model {model_id!r}")
    return function(model_id, list(paths), {**(options or {}), "reader": reader})
