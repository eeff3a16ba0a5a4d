"""Saving figures reproducibly: same inputs, same bytes."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "filterdb", "figure.dpi": 100, "savefig.dpi": 150, "font.size": 9})

_METADATA = {
    ".pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "filterdb"},
    ".png": {"Software": None},
}


def save(figure, path: str | os.PathLike) -> None:
    """Write the figure atomically with fixed metadata (no timestamps)."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip("."), metadata=_METADATA.get(path.suffix), bbox_inches="tight")
    plt.close(figure)


def placeholder(message: str, figsize=(5, 3)):
    """A figure that explains why there is nothing to draw."""
    figure, axis = plt.subplots(figsize=figsize)
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure
