"""One figure style for every figure and card: a colour-blind-safe palette, the colour of
each group, and the top-N rule that keeps a legend or a facet grid readable at 50 groups.

Colours of groups (a category, a family, a source, …) come from their rank by filter
count in the whole database: the largest group gets the first colour, and so on. Every
figure ranks the same database table, so a group has the same colour in every figure.
Only the ``top_n`` largest groups are drawn by name; the rest are pooled as ``OTHER``
(grey) and named in the caption.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import ColumnError, ConfigError
from ..shift import group_labels

# Okabe & Ito's eight colours (black left out: it is the colour of text and medians) and
# five of Paul Tol's "muted" ones: told apart with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#332288",  # indigo
    "#999933",  # olive
    "#882255",  # wine
    "#44AA99",  # teal
    "#F0E442",  # yellow (late: weak as a line on white)
    "#DDCC77",  # sand
)
MAX_NAMED = len(PALETTE)  # the largest top_n a figure can colour apart
OTHER = "other"
OTHER_COLOUR = "#8C8C8C"

# layer flags and metrics, the same in every figure and card; cut-off lines are neutral
# (told apart by their dash) so that they never read as one of the groups' colours
FLAGGED = "#D55E00"  # a layer flagged sparse or collapsed (model cards)
CUTOFF_COLOUR = "#4D4D4D"
CUTOFF_STYLES = {"sparse": "--", "collapsed": "-.", "random-like": ":"}
LINE = "#333333"  # a single model's or the whole database's line
DIVERGING = "RdBu_r"  # weights and components: red positive, blue negative, white zero
SEQUENTIAL = "viridis"  # shift D: perceptually uniform, readable in grey

MIN_FONT = 7.0  # points at the saved size: no text of any figure is smaller
FONT = {"small": 7.0, "normal": 8.0, "title": 9.0}


# seaborn's "ticks" style at its "paper" scale, as plain rcParams: importing seaborn (and
# scipy through it) cost each per-model card job 1.5 s of its ~3 s
_TICKS = {
    "axes.axisbelow": True, "axes.edgecolor": ".15", "axes.labelcolor": ".15", "axes.linewidth": 1.0,
    "grid.color": ".8", "text.color": ".15", "xtick.color": ".15", "ytick.color": ".15",
    "lines.linewidth": 1.2, "lines.markersize": 4.8, "lines.solid_capstyle": "round",
    "patch.edgecolor": "w", "patch.force_edgecolor": True, "patch.linewidth": 0.8,
    "xtick.major.size": 4.8, "xtick.major.width": 1.0, "xtick.minor.size": 3.2, "xtick.minor.width": 0.8,
    "ytick.major.size": 4.8, "ytick.major.width": 1.0, "ytick.minor.size": 3.2, "ytick.minor.width": 0.8,
    "font.family": ["DejaVu Sans"],
}  # fmt: skip


def apply() -> None:
    """The style's matplotlib settings (seaborn's ticks theme at paper scale, our fonts)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        **_TICKS,
        "font.size": FONT["normal"],
        "axes.titlesize": FONT["title"],
        "axes.labelsize": FONT["normal"],
        "xtick.labelsize": FONT["small"],
        "ytick.labelsize": FONT["small"],
        "legend.fontsize": FONT["small"],
        "legend.title_fontsize": FONT["small"],
        "figure.titlesize": FONT["title"] + 1,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
    })  # fmt: skip


@dataclass(frozen=True)
class Groups:
    """The groups of one column, ranked by filter count (largest first, then by name).

    ``shown``: the ``top_n`` largest with filters, drawn by name; ``pooled``: the others,
    drawn together as ``OTHER`` when any exist.
    """

    column: str
    ranked: tuple[str, ...]
    filters: dict = field(compare=False)
    models: dict = field(compare=False)
    top_n: int = 8

    @property
    def shown(self) -> list[str]:
        return [g for g in self.ranked if self.filters[g] > 0][: self.top_n]

    @property
    def pooled(self) -> list[str]:
        shown = set(self.shown)
        return [g for g in self.ranked if g not in shown]

    @property
    def drawn(self) -> list[str]:
        """Shown groups, then OTHER when some group with filters is pooled."""
        extra = [OTHER] if any(self.filters[g] > 0 for g in self.pooled) else []
        return self.shown + extra

    def colour(self, group: str) -> str:
        """The group's colour: by its rank in the database (fixed for a build), grey for OTHER."""
        if group == OTHER or group not in self.ranked:
            return OTHER_COLOUR
        rank = self.ranked.index(group)
        return PALETTE[rank] if rank < MAX_NAMED else OTHER_COLOUR

    def palette(self) -> dict[str, str]:
        return self.palette_for(self.drawn)

    def palette_for(self, names) -> dict[str, str]:
        """Colours of the given groups: each its own rank's colour; a group ranked beyond the
        palette (possible in a subset of the table) takes the first colour no other name uses."""
        colours = {g: self.colour(g) for g in names}
        free = [c for c in PALETTE if c not in colours.values()]
        for g in names:
            if g != OTHER and colours[g] == OTHER_COLOUR and free:
                colours[g] = free.pop(0)
        return colours

    def key(self, values: pd.Series) -> pd.Series:
        """Each row's drawn group: its own value when shown, else OTHER."""
        text = group_labels(values)
        return text.where(text.isin(self.shown), OTHER)

    def size(self, group: str) -> tuple[int, int]:
        """(models, filters) of a drawn group (OTHER: the sum of the pooled groups)."""
        names = self.pooled if group == OTHER else [group]
        return sum(self.models[g] for g in names), sum(self.filters[g] for g in names)


def rank_groups(table: pd.DataFrame, column: str, top_n: int = 8) -> Groups:
    """Rank the values of ``column`` in a layer (or model) table by their filters.

    table: rows with ``model``, ``n_filters`` and ``column``; for a colour that is fixed
    across figures pass the whole database's table. Missing values are the group
    ``shift.MISSING_GROUP``, as in every grouping.
    """
    if column not in table.columns:
        raise ColumnError(f"column {column!r} is not a column of the model or layer table; "
                       f"known columns: {', '.join(sorted(map(str, table.columns)))}")
    if not 1 <= top_n <= MAX_NAMED:
        raise ConfigError(f"config key figures.top_groups: {top_n} is outside 1…{MAX_NAMED}")
    keys = group_labels(table[column])
    sums = table.assign(_g=keys).groupby("_g", sort=True).agg(filters=("n_filters", "sum"),
                                                               models=("model", "nunique"))
    order = sorted(sums.index, key=lambda g: (-int(sums.loc[g, "filters"]), g))
    return Groups(column, tuple(order), {g: int(sums.loc[g, "filters"]) for g in order},
                  {g: int(sums.loc[g, "models"]) for g in order}, top_n)


def pooled_line(groups: Groups) -> str:
    """Caption sentence naming the groups pooled as OTHER."""
    if not groups.pooled:
        return f"All {len(groups.ranked)} groups of ``{groups.column}`` are drawn by name."
    names = ", ".join(groups.pooled)
    models, filters = groups.size(OTHER)
    return (f"The {len(groups.shown)} largest of {len(groups.ranked)} groups of ``{groups.column}`` by filter count "
            f"are drawn by name (config ``figures.top_groups``); the other {len(groups.pooled)} "
            f"({models} models, {filters:,} filters) are pooled as '{OTHER}': {names}.")
