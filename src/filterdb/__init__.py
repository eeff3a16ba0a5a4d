"""filterdb: a database of trained 3×3 convolution filters and the CNN Filter DB study.

The package's top level stays light (nothing is imported until used): ``inspect``,
``read_layers`` and ``read_filters`` load :mod:`filterdb.inspection` on first use, and
torch only when a checkpoint's format needs it.
"""

__version__ = "0.1.0"

__all__ = ["inspect", "read_filters", "read_layers"]


def __getattr__(name: str):
    if name in __all__:
        from . import inspection

        return getattr(inspection, name)
    raise AttributeError(f"module 'filterdb' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
