"""madmom model pickles (``madmom/models/**/*.pkl``) read with the restricted unpickler.

madmom's networks were pickled under Python 2: strings are read as latin-1 and every
madmom class (``NeuralNetwork``, ``ConvolutionalLayer``, activation functions) becomes an
inert stub; numpy arrays are rebuilt from their raw bytes. Nothing is imported or run.

A ``ConvolutionalLayer`` keeps ``weights`` as (in, out, kh, kw) and applies each kernel as a
true convolution (madmom flips it before OpenCV's correlation; the weights came from
Lasagne, whose default also flips). Every other framework in the database stores the
kernel of a cross-correlation, so the reader returns (out, in, kh, kw) rotated by 180°:
the kernel that, correlated with the input, gives madmom's output. Depth: the order of
``NeuralNetwork.layers``, which is the order madmom runs them (execution order).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel
from .safe_pickle import RestrictedUnpickler, Stub, plain, walk_stubs


def load_madmom(model_id: str, path: str | Path):
    """The stubbed object tree of a madmom pickle; SourceError for a missing or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"model {model_id!r}: madmom file {str(path)!r} does not exist")
    try:
        with open(path, "rb") as handle:
            return plain(RestrictedUnpickler(handle, encoding="latin1").load())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            UnicodeDecodeError, OverflowError, MemoryError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise SourceError(
            f"model {model_id!r}: {str(path)!r} is not a readable madmom pickle ({type(exc).__name__}: {first}); "
            "a truncated or corrupt download gives this error: delete it and fetch again"
        ) from None


def read_madmom(model_id: str, path: str | Path) -> LoadedModel:
    """Conv layers of a madmom network, weights (out, in, kh, kw) float32 in correlation form."""
    root = load_madmom(model_id, path)
    if not isinstance(root, Stub):
        raise SourceError(f"model {model_id!r}: {str(path)!r} holds a {type(root).__name__}, not a madmom network")
    convs: list[ConvLayer] = []
    for stub in walk_stubs(root):
        if stub.class_name != "ConvolutionalLayer":
            continue
        attrs = stub.attributes()
        weights = attrs.get("weights")
        if not (isinstance(weights, np.ndarray) and weights.ndim == 4):
            raise SourceError(f"model {model_id!r}: a ConvolutionalLayer in {str(path)!r} has no 4-D weights")
        stride = attrs.get("stride", 1)
        stride = (int(stride), int(stride)) if np.isscalar(stride) else tuple(int(s) for s in stride)
        kernel = np.ascontiguousarray(weights.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1], dtype=np.float32)
        convs.append(ConvLayer(name=f"layers.{len(convs)}.ConvolutionalLayer", weight=kernel, stride=stride,
                               distance=len(convs)))
    if not convs:
        raise SourceError(f"model {model_id!r}: {str(path)!r} has no ConvolutionalLayer")
    for index, conv in enumerate(convs):
        conv.name = f"conv{index}"
    return LoadedModel(model=model_id, convs=convs, depth_source="execution order", precision="fp32",
                       bn_folded=False,
                       source_detail={"format": "madmom pickle (restricted unpickler)", "file": Path(path).name,
                                      "kernels": "rotated 180° from madmom's convolution to correlation form"})


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): the first of ``paths`` is the model file."""
    return read_madmom(model_id, paths[0])
