"""filterdb: a database of trained 3×3 convolution filters and the CNN Filter DB study."""

__version__ = "0.1.0"
