"""Shared figure helpers: reproducible saving, placeholders, labels, colours.

Every plotting function of ``filterdb.plots`` takes tables or arrays and returns a
matplotlib Figure; ``save`` writes it with fixed metadata, so the same inputs give the
same bytes.
"""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..store import atomic_path, write_text_atomic  # noqa: E402
from . import style  # noqa: E402
from .style import DIVERGING, MIN_FONT  # noqa: E402,F401

style.apply()
plt.rcParams.update(
    {
        "svg.hashsalt": "filterdb",
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "pdf.fonttype": 42,  # embedded TrueType: text stays text in the PDF
    }
)

logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatters at INFO

WIDTH = 10.0  # inches: the width of a figure in the report (1,500 px at savefig.dpi)

_METADATA = {
    ".pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "filterdb"},
    ".png": {"Software": None},
}


def _write(figure, path: Path) -> None:
    with atomic_path(path, suffix=path.suffix) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip("."), metadata=_METADATA.get(path.suffix), bbox_inches="tight")


def save(figure, path: str | os.PathLike) -> None:
    """Write the figure atomically with fixed metadata (no timestamps), then close it."""
    _write(figure, Path(path))
    plt.close(figure)


def save_all(figure, paths: Iterable[str | os.PathLike]) -> None:
    """Save one figure to several paths (PDF and PNG), then close it."""
    for path in paths:
        _write(figure, Path(path))
    plt.close(figure)


def placeholder(message: str, figsize=(5, 3), title: str | None = None):
    """A figure that explains why there is nothing to draw (never an empty or failed file)."""
    figure, axis = plt.subplots(figsize=figsize)
    axis.axis("off")
    if title:
        axis.set_title(title)
    wrapped = "\n".join(textwrap.fill(line, 70) for line in message.splitlines())
    axis.text(0.5, 0.5, wrapped, ha="center", va="center", fontsize=10, transform=axis.transAxes,
              bbox={"boxstyle": "round", "facecolor": "#f4f4f4", "edgecolor": "#bbbbbb"})
    return figure


def write_notes(path: str | os.PathLike, lines: Sequence[str]) -> None:
    """A caption fragment (reStructuredText) that the report includes below the caption."""
    text = "\n\n".join(line for line in lines if line) + "\n"
    write_text_atomic(path, text)


def write_caption(path: str | os.PathLike, template: str, **values) -> None:
    """One figure's report caption, from a caption template of ``workflow/report`` rendered
    as Snakemake renders one (Jinja, with ``snakemake`` holding ``values``: ``wildcards``,
    ``output``, ``params`` as dicts), for a job that draws several figures."""
    import jinja2

    namespace = SimpleNamespace(**{k: SimpleNamespace(**v) for k, v in values.items()})
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(snakemake=namespace)
    write_text_atomic(path, text)


def wrap(label: object, width: int = 22) -> str:
    """Wrap a long tick label onto several lines."""
    return "\n".join(textwrap.wrap(str(label), width, break_long_words=True)) or str(label)


def fmt_count(n: float) -> str:
    """Compact count: 950, 12.3k, 4.5M, 1.5G."""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def group_label(name: object, models: int | None = None, filters: int | None = None, width: int = 22) -> str:
    """'name (m models, f filters)' wrapped for ticks and legends."""
    parts = []
    if models is not None:
        parts.append(f"{int(models)} m")
    if filters is not None:
        parts.append(f"{fmt_count(filters)} f")
    suffix = f" ({', '.join(parts)})" if parts else ""
    return wrap(f"{name}{suffix}", width)


def set_category_ticks(axis, labels: Sequence[str], which: str = "x", fontsize: float | None = None) -> None:
    """Category tick labels that never overlap: flat when few and short, else rotated and smaller."""
    n = len(labels)
    size = max(MIN_FONT, fontsize or (8 if n <= 12 else 7))
    if which != "x":
        axis.set_yticks(range(n), labels, fontsize=size)
        return
    longest = max((len(line) for label in labels for line in str(label).splitlines()), default=0)
    lines = max((len(str(label).splitlines()) for label in labels), default=1)
    width_per_label = axis.get_window_extent().width / axis.figure.dpi / max(n, 1)  # inches
    if longest * size / 72 * 0.6 <= width_per_label * 0.95:
        axis.set_xticks(range(n), labels, fontsize=size)
    else:  # vertical, one line each, small enough that neighbours never touch
        size = MIN_FONT
        axis.set_xticks(range(n), labels, rotation=90, fontsize=size, linespacing=1.0)


def footnote(figure, text: str, width: int = 150) -> None:
    """A note at the foot of a constrained-layout figure (its space is reserved, so it
    never overlaps tick labels and never leaves the figure)."""
    figure.supxlabel(wrap(text, width), fontsize=MIN_FONT, x=0.0, ha="left", multialignment="left")
