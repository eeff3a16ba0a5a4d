"""A built database as the population a checkpoint is placed in (``filterdb inspect --against``).

Reads what the workflow wrote under ``results/``: ``db/models.parquet`` and
``db/layers.parquet`` (layer metrics), ``basis/basis.json`` and ``basis/bin_edges.json``
(the shift basis and histogram bins) and ``hist/*.parquet`` (per-layer histograms).
Nothing is recomputed over the database's filters.

- Percentiles: a layer's sparsity, H/TH and orthogonality among the population's layers
  of the same depth decile, as ``scipy.stats.percentileofscore(kind="mean")``: the share
  of reference values below it, plus half the share equal to it, in percent.
- Shift: the model's own coefficient histogram (its filters projected on the database's
  basis, binned on its edges) against each visual category's summed histograms, by the
  same D as the database's shift matrices (``shift.shift_matrix``).

The population: the trained models (column ``trained``), leaving out bit-identical
copies (``duplicate_of``), as the basis pool is drawn; ``pool="all"`` keeps untrained
models too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import store
from .basis import Projector
from .database import layers_with_models, unique_models
from .errors import ConfigError, DataError
from .metrics import CHUNK
from .shift import FLOAT32_EPS, Binner, group_histograms, shift_matrix

PERCENTILE_METRICS = ("sparsity", "entropy_ratio", "orthogonality")
GROUP_COLUMN = "visual_category"
LOW, HIGH = 5.0, 95.0  # the verdict's percentiles
_SELF = "\0inspected model"  # the inspected model's group name: no category can be called so


def database_paths(db: str | os.PathLike) -> dict[str, Path]:
    """Files of a built database, given its ``results/db`` folder or the ``results`` folder."""
    root = Path(db)
    if (root / "db" / "models.parquet").is_file():
        root = root / "db"
    results = root.parent
    paths = {
        "models": root / "models.parquet",
        "layers": root / "layers.parquet",
        "basis": results / "basis" / "basis.json",
        "edges": results / "basis" / "bin_edges.json",
        "hist": results / "hist",
    }
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise DataError(
            f"--against {db}: not a built database (missing {', '.join(missing)}); give the results/db "
            "folder of a workflow run that built the shift analysis (snakemake all)"
        )
    return paths


class Population:
    """The reference population of a built database (see the module's docstring).

    db: the ``results/db`` folder (or ``results``). pool: "trained" or "all".
    min_group_filters: visual categories with fewer filters are left out, as in the
    database's shift matrices. eps: the density floor of the shift analysis.
    """

    def __init__(self, db: str | os.PathLike, pool: str = "trained", min_group_filters: int = 1000,
                 eps: float = FLOAT32_EPS):
        if pool not in ("trained", "all"):
            raise ConfigError(f"config key basis.pool must be 'trained' or 'all', not {pool!r}")
        self.paths = database_paths(db)
        self.db = str(db)
        self.pool = pool
        self.eps = eps
        models = store.read_models(self.paths["models"])
        keep = set(unique_models(models))
        if pool == "trained" and "trained" in models.columns:
            keep &= set(models.loc[models["trained"].astype(bool), "model"])
        if not keep:
            raise DataError(f"--against {db}: the database holds no {pool} models to compare with")
        self.models = models[models["model"].isin(keep)]
        columns = ["model", "layer", "n_filters", "depth_decile", *PERCENTILE_METRICS]
        layers = store.read_frame(self.paths["layers"], columns)
        self.layers = layers[layers["model"].isin(keep)]
        self.reference = {
            metric: {
                int(d): np.sort(v[np.isfinite(v)])
                for d, v in self.layers.groupby("depth_decile")[metric].apply(np.asarray).items()
            }
            for metric in PERCENTILE_METRICS
        }
        self.basis = store.read_basis(self.paths["basis"])
        self.edges = store.read_bin_edges(self.paths["edges"])
        self.evr = self.basis["explained_variance_ratio"]
        files = store.histogram_files(sorted(self.paths["hist"].glob("*.parquet")))
        histograms = {model: path for model, path in files.items() if model in keep}
        joined = layers_with_models(self.layers, self.models)
        self.group_counts, self.group_sizes = group_histograms(
            joined, histograms, GROUP_COLUMN, min_filters=min_group_filters
        )

    # ---------------------------------------------------------------- per layer

    def percentile(self, metric: str, decile: int, value: float) -> tuple[float, int]:
        """(percentile of ``value`` among the reference layers of ``decile``, their count)."""
        values = self.reference[metric].get(int(decile), np.zeros(0))
        if not values.size or not np.isfinite(value):
            return float("nan"), int(values.size)
        below = np.searchsorted(values, value, side="left")
        at_most = np.searchsorted(values, value, side="right")
        return float(100.0 * (below + at_most) / (2 * values.size)), int(values.size)

    def add_percentiles(self, rows: list[dict]) -> None:
        """Add ``depth_decile``, ``{metric}_pct`` and ``reference_layers`` to each layer row, in place."""
        from .stats import depth_decile

        deciles = depth_decile(np.array([r["conv_depth_norm"] for r in rows], dtype=np.float64))
        for row, decile in zip(rows, deciles):
            row["depth_decile"] = int(decile)
            for metric in PERCENTILE_METRICS:
                row[f"{metric}_pct"], row["reference_layers"] = self.percentile(metric, decile, row[metric])

    # ---------------------------------------------------------------- per model

    def model_counts(self, kernels: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """(counts (9, bins) of the model's coefficients on the database's bins, filters seen)."""
        binner = Binner(self.edges)
        projector = Projector(self.basis)
        counts = np.zeros((9, binner.bins), np.int64)
        n = 0
        for flat in kernels:
            n += flat.shape[0]
            for _, coefficients in projector.chunks(flat, CHUNK):
                binner.add(counts, coefficients)
        return counts, n

    def shift_to_groups(self, kernels: list[np.ndarray]) -> tuple[dict[str, float], float]:
        """({visual category: D(model, category)}, share of the model's coefficient values
        outside the database's range, which the histograms cannot count)."""
        counts, n = self.model_counts(kernels)
        if n == 0 or not self.group_counts or (counts.sum(axis=1) == 0).any():
            return {}, float("nan") if n == 0 else float(1 - counts.sum() / (9 * n))
        matrix = shift_matrix({**self.group_counts, _SELF: counts}, self.evr, self.edges, self.eps)
        distances = matrix.loc[_SELF].drop(_SELF)
        return {str(g): float(d) for g, d in distances.items()}, float(1 - counts.sum() / (9 * n))

    def summarise(self, rows: list[dict], shift: dict[str, float], outside: float) -> dict:
        """The model's place in the population: counts beyond the 5th / 95th percentiles, the
        nearest visual category, and a one-line verdict."""
        low_entropy = sum(r["entropy_ratio_pct"] < LOW for r in rows)
        high_sparsity = sum(r["sparsity_pct"] > HIGH for r in rows)
        low_ortho = sum(r["orthogonality_pct"] < LOW for r in rows)
        nearest = min(shift, key=shift.get) if shift else None
        verdict = (
            f"{low_entropy} of {len(rows)} layers below the {LOW:g}th percentile of H/TH at their depth, "
            f"{high_sparsity} above the {HIGH:g}th of sparsity, {low_ortho} below the {LOW:g}th of orthogonality"
        )
        verdict += f"; nearest visual category: {nearest} (D = {shift[nearest]:.4g})" if nearest else "; no visual category to compare with"
        return {
            "against": self.db,
            "reference_models": int(self.layers["model"].nunique()),
            "n_low_entropy_ratio": int(low_entropy),
            "n_high_sparsity": int(high_sparsity),
            "n_low_orthogonality": int(low_ortho),
            "nearest_group": nearest,
            "d_nearest": shift.get(nearest) if nearest else None,
            "outside_range": outside,
            "verdict": verdict,
        }
