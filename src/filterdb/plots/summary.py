"""The report's opening page (reStructuredText) and its HTML tables, from the database tables."""

from __future__ import annotations

import html
import re
from typing import Sequence

import numpy as np
import pandas as pd

from .common import fmt_count

MAX_FINDINGS_ROWS = 6  # on the opening page; the whole table is its own page


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        text = "" if value != value else f"{value + 0.0:.4g}"  # + 0.0: no "-0"
    elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        text = f"{value:,}"
    else:
        text = str(value)
    text = re.sub(r"([\\*`|_<>])", r"\\\1", text.replace("\n", " "))  # literal text, not markup
    if re.match(r"[-+#•]\s|\d+[.)]\s|[A-Za-z][.)]\s", text):  # would start a list
        text = "\\" + text
    return text or " "


def list_table(frame: pd.DataFrame, title: str, widths: Sequence[int] | None = None) -> str:
    """A docutils ``list-table`` of a small frame (header row from its columns)."""
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    if widths:
        lines.insert(2, f"   :widths: {' '.join(str(w) for w in widths)}")
    for row in [list(frame.columns), *frame.itertuples(index=False)]:
        cells = [_cell(v) for v in row]
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {c}" for c in cells[1:])
    return "\n".join(lines) + "\n"


def size_by(models: pd.DataFrame, layers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Models, 3×3 layers and filters per value of a model column, largest first."""
    per_model = layers.groupby("model").size().rename("layers")
    table = models.assign(layers=models["model"].map(per_model).fillna(0).astype(int))
    table = (
        table.assign(**{column: table[column].astype(str)})
        .groupby(column)
        .agg(models=("model", "size"), layers=("layers", "sum"), filters=("n_filters", "sum"))
        .reset_index()
        .sort_values(["filters", column], ascending=[False, True], kind="stable")
    )
    return table.astype({"models": int, "layers": int, "filters": int})


def size_line(table: pd.DataFrame, column: str, limit: int = 5) -> str:
    """A size table as one short paragraph: the largest groups, then how many more."""
    parts = [f"{_cell(row[column])} {row['models']:,} model{'s' if row['models'] != 1 else ''}, "
             f"{fmt_count(row['filters'])} filters"
             for _, row in table.head(limit).iterrows()]
    if len(table) > limit:
        parts.append(f"and {len(table) - limit} more")
    return f"**Size by {column.replace('_', ' ')}:** " + "; ".join(parts) + "."


def database_summary(
    models: pd.DataFrame,
    layers: pd.DataFrame,
    findings: pd.DataFrame | None,
    findings_note: str,
    by: Sequence[str] = ("source", "task", "visual_category"),
    basis: str | None = None,
) -> str:
    """The opening page's body: database size, size by source/task/category, flags, findings.

    The report draws this text in a narrow column beside the workflow's rule graph, and
    centres it vertically (a text taller than the window loses its top): so it holds no
    table and stays short; whole tables are pages of their own (``size_tables``).
    """
    n_models = len(models)
    with_filters = int((models["n_filters"] > 0).sum())
    n_filters = int(models["n_filters"].sum())
    flagged = {name: int(layers[f"flag_{key}"].sum()) for name, key in
               (("sparse", "sparse"), ("collapsed", "collapsed"), ("random-like", "random_like"))}
    parts = [
        "Database",
        "--------",
        "",
        f"**{n_models:,} models** ({with_filters:,} with 3×3 convolutions), **{len(layers):,} 3×3 layers**, "
        f"**{n_filters:,} filters**. Flagged layers: "
        + ", ".join(f"{v:,} {k}" for k, v in flagged.items())
        # the basis in place of the pointer to the tables: the column has no room for both
        + (f". {basis}" if basis else ". Whole tables: *6. Tables*; each finding with its measure and reference: *Findings*."),
        "",
    ]
    for column in by:
        if column in models.columns:
            parts += [size_line(size_by(models, layers, column), column), ""]
    parts += ["Findings", "--------", ""]
    if findings is None or findings.empty:
        parts += [findings_note, ""]
    else:
        for _, row in findings.head(MAX_FINDINGS_ROWS).iterrows():
            if {"supported", "statement"} <= set(row.index):
                parts.append(f"- **{_cell(row['supported'])}**: {_cell(row['statement'])}")
            else:
                parts.append("- " + "; ".join(f"{_cell(k)}: {_cell(v)}" for k, v in row.items()))
        if len(findings) > MAX_FINDINGS_ROWS:
            parts.append(f"- … {len(findings) - MAX_FINDINGS_ROWS} more under *Findings*")
        parts += [""]
    return "\n".join(parts)


def basis_line(record: dict, frozen_from: str | None) -> str:
    """Which basis every shift and coefficient figure uses: a ``basis_file`` record (see
    ``store.basis_file``), fitted on this database or frozen from an earlier build's file."""
    where = f"frozen (``{frozen_from}``)" if frozen_from else "fitted here"
    models = record.get("models") or []
    return (
        f"Basis: {where}, {len(models):,} models, {int(record.get('n_filters', 0)):,} filters, "
        f"sha256 ``{record['sha256'][:12]}``."
    )


def size_tables(models: pd.DataFrame, layers: pd.DataFrame, by: Sequence[str] = ("source", "task", "visual_category")) -> str:
    """One HTML page: the database's size by each column of ``by``."""
    body = []
    for column in by:
        if column in models.columns:
            table = size_by(models, layers, column)
            body.append(f"<h3>Size by {html.escape(column.replace('_', ' '))}</h3>"
                        + table.to_html(index=False, border=0, escape=True))
    return _page("Size of the database", "\n".join(body))


_STYLE = """<style>
body{font-family:system-ui,sans-serif;font-size:13px;margin:8px}
table{border-collapse:collapse}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;position:sticky;top:0}
td:first-child,th:first-child{text-align:left}
tr:nth-child(even){background:#fafafa}
</style>"""


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>{_STYLE}</head>"
        f"<body>{body}\n</body></html>\n"
    )


def html_table(frame: pd.DataFrame, title: str) -> str:
    """A standalone HTML page holding one table (floats to 4 significant digits)."""
    body = frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v + 0.0:.4g}", border=0, escape=True)
    return _page(title, f"<h3>{html.escape(title)}</h3><p>{len(frame):,} rows.</p>\n{body}")
