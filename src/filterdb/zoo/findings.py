"""The paper's claims, checked on the zoo: one row a claim, computed from the database.

Inputs are the database's model table (with the zoo sheet's ``axes`` column: the axes a
model belongs to, ';'-separated: data, width, budget, size, task, seed, arch), its layer
table, per-model coefficient histograms and the basis' explained-variance ratios.
Every number is measured here; a claim the zoo does not support is reported as such.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from ..shift import FLOAT32_EPS, group_histograms, shift_matrix

SYNTHETIC_LARGE = ("fractals", "dead leaves")  # the "large, varied synthetic data" of claim 4
SYNTHETIC = (*SYNTHETIC_LARGE, "noise")
LARGE_MIN = 5000  # training images: "large" at or above, "small" at or below SMALL_MAX
SMALL_MAX = 2000
RANDOM_LIKE_TOLERANCE = 0.1  # |H/TH − 1| at initialisation

COLUMNS = ["claim", "statement", "measure", "value", "comparison", "reference", "supported", "models", "detail"]
# with the experiments' conclusions (zoo/experiments/tables.py): a bootstrap 95 % interval of the value
INTERVAL_COLUMNS = ["interval_low", "interval_high"]


def on_axis(models: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Zoo models whose ``axes`` cell lists ``axis``."""
    if "axes" not in models.columns:
        return models.iloc[0:0]
    member = models["axes"].fillna("").astype(str).map(lambda cell: axis in {a.strip() for a in cell.split(";")})
    return models[member]


def _row(claim, statement, measure, value, comparison, reference, supported, models, detail) -> dict:
    verdict = "untestable" if supported is None else ("yes" if supported else "no")
    return dict(zip(COLUMNS, [claim, statement, measure, value, comparison, reference, verdict,
                              ";".join(map(str, models)), detail]))  # fmt: skip


def _model_distance(layers, histograms, measure, names) -> pd.DataFrame:
    """D between the named models (all their layers), from summed histograms."""
    sums, _ = group_histograms(layers[layers["model"].isin(list(names))], histograms, "model")
    return measure(sums)


def _weighted(layers: pd.DataFrame, column: str) -> float:
    weights = layers["n_filters"].to_numpy(dtype=float)
    values = layers[column].to_numpy(dtype=float)
    ok = np.isfinite(values)
    return float(np.average(values[ok], weights=weights[ok])) if ok.any() and weights[ok].sum() > 0 else float("nan")


def seed_floor(models, layers, histograms, measure) -> tuple[float, list[str]]:
    """D between the whole-model histograms of replicate seeds (the noise floor), or NaN."""
    replicates = on_axis(models, "seed").sort_values("model")
    names = replicates["model"].tolist()
    if len(names) < 2:
        return float("nan"), names
    matrix = _model_distance(layers, histograms, measure, names)
    upper = matrix.to_numpy()[np.triu_indices(len(names), 1)]
    return float(upper.max()), names


def claim_init(models, layers, histograms, measure) -> dict:
    statement = "Filters at initialisation are random-like (H/TH ≈ 1) and move away with training"
    budget = on_axis(models, "budget").sort_values(["epochs", "model"])
    if budget.empty or (budget["epochs"] == 0).sum() == 0 or (budget["epochs"] > 0).sum() == 0:
        return _row(1, statement, "mean H/TH at 0 epochs", np.nan, "", "", None, budget["model"], "needs budget-axis models with 0 and >0 epochs")
    ratio = {m: _weighted(layers[layers["model"] == m], "entropy_ratio") for m in budget["model"]}
    init = budget[budget["epochs"] == 0]["model"].iloc[0]
    trained = budget[budget["epochs"] > 0]
    distance = _model_distance(layers, histograms, measure, budget["model"])
    from_init = [float(distance.loc[init, m]) for m in trained["model"]]
    floor, _ = seed_floor(models, layers, histograms, measure)
    random_like = abs(ratio[init] - 1) <= RANDOM_LIKE_TOLERANCE
    grows = bool(np.all(np.diff(from_init) >= 0))
    beyond_noise = bool(np.isnan(floor) or from_init[-1] > floor)
    epochs = trained["epochs"].astype(int).tolist()
    detail = (
        "H/TH by epochs: " + ", ".join(f"{int(e)}: {ratio[m]:.3f}" for e, m in zip(budget["epochs"], budget["model"]))
        + "; D(init, trained) by epochs: " + ", ".join(f"{e}: {d:.4g}" for e, d in zip(epochs, from_init))
        + f"; seed noise floor D = {floor:.4g}"
    )  # fmt: skip
    return _row(1, statement, "mean H/TH at 0 epochs (filter-weighted)", ratio[init],
                f"|H/TH − 1| ≤ {RANDOM_LIKE_TOLERANCE} and D(init, trained) grows with epochs and exceeds the seed floor",
                floor, random_like and grows and beyond_noise, budget["model"], detail)  # fmt: skip


def claim_width(models, layers, histograms, measure) -> dict:
    statement = "Wider nets of the same family have more sparse filters in their deeper layers"
    width = on_axis(models, "width")
    rows, detail = [], []
    for fam, part in width.groupby("family"):
        if part["width"].nunique() < 2:
            continue
        deep = layers[layers["model"].isin(part["model"]) & (layers["conv_depth_norm"] >= 0.5)]
        sparsity = part.set_index("model")["width"].astype(float).to_frame()
        sparsity["deep_sparsity"] = [_weighted(deep[deep["model"] == m], "sparsity") for m in sparsity.index]
        sparsity = sparsity.sort_values("width")
        rho = sparsity["width"].rank().corr(sparsity["deep_sparsity"].rank())  # Spearman
        rows.append((fam, sparsity, rho))
        detail.append(f"{fam}: " + ", ".join(f"×{w:g}: {s:.4f}" for w, s in zip(sparsity["width"], sparsity["deep_sparsity"])) + f" (Spearman ρ = {rho:.3f})")
    if not rows:
        return _row(2, statement, "deep-layer sparsity of the widest net", np.nan, "", "", None, width["model"], "needs width-axis models of at least two widths in one family")
    fam, table, rho = rows[0]
    widest, narrowest = table["deep_sparsity"].iloc[-1], table["deep_sparsity"].iloc[0]
    supported = all(t["deep_sparsity"].iloc[-1] > t["deep_sparsity"].iloc[0] and r > 0 for _, t, r in rows)
    return _row(2, statement, f"{fam}: filter-weighted sparsity of layers at depth ≥ 0.5, widest net", widest,
                "greater than the narrowest net's, with Spearman ρ(width, sparsity) > 0 in every family",
                narrowest, supported, width["model"], "; ".join(detail))  # fmt: skip


def claim_depth(models, layers, histograms, measure, min_group_filters: int = 0) -> dict:
    statement = "The shift between the first and the last depth decile is larger than between replicate seeds"
    replicates = on_axis(models, "seed").sort_values("model")["model"].tolist()
    if len(replicates) < 2:
        return _row(3, statement, "D(first, last decile)", np.nan, "", "", None, replicates, "needs two seed-axis replicates")
    part = layers[layers["model"].isin(replicates)]
    first, last = part["depth_decile"].min(), part["depth_decile"].max()
    if first == last:
        return _row(3, statement, "D(first, last decile)", np.nan, "", "", None, replicates, "the replicates have one depth decile only")
    part = part[part["depth_decile"].isin([first, last])]
    sums, _ = group_histograms(part, histograms, ["model", "depth_decile"])
    matrix = measure(sums)
    key = lambda m, d: f"{m} / {d}"  # noqa: E731 (the group names of group_histograms)
    depth = [float(matrix.loc[key(m, first), key(m, last)]) for m in replicates]
    # the noise floor compares like with like: the same decile (same filter count) across seeds
    floor = [float(matrix.loc[key(a, d), key(b, d)]) for d in (first, last)
             for i, a in enumerate(replicates) for b in replicates[i + 1:]]  # fmt: skip
    value, reference = float(np.mean(depth)), float(np.max(floor))
    smallest = int(part.groupby(["model", "depth_decile"])["n_filters"].sum().min())
    detail = (f"deciles {first} and {last} (smallest group: {smallest} filters); D(first, last) per replicate: "
              + ", ".join(f"{d:.4g}" for d in depth)
              + "; D between seeds, same decile: " + ", ".join(f"{d:.4g}" for d in floor))  # fmt: skip
    supported = value > reference
    if smallest < min_group_filters:
        # a histogram of a few filters is mostly empty bins: D then measures the sample size
        supported = None
        detail += f"; untestable: a compared group holds fewer than shift.min_group_filters = {min_group_filters} filters"
    return _row(3, statement, "mean D(first decile, last decile) over replicates", value,
                "greater than the largest D between replicate seeds within one decile", reference,
                supported, replicates, detail)  # fmt: skip


def claim_synthetic(models, layers, histograms, measure) -> dict:
    statement = ("Filters learned on large, varied synthetic data are closer to those learned on real images "
                 "than filters learned on a small real data set are")  # fmt: skip
    pool = pd.concat([on_axis(models, "data"), on_axis(models, "size")]).drop_duplicates("model")
    if "task" in pool.columns:
        pool = pool[pool["task"] == "classification"]
    category = pool["visual_category"].astype(str)
    size = pool["data_size"].astype(float)
    synthetic = pool[category.isin(SYNTHETIC_LARGE) & (size >= LARGE_MIN)]
    real_large = pool[~category.isin(SYNTHETIC) & (size >= LARGE_MIN)]
    small_real = pool[~category.isin(SYNTHETIC) & (size <= SMALL_MAX)]
    names = [*synthetic["model"], *real_large["model"], *small_real["model"]]
    if synthetic.empty or real_large.empty or small_real.empty:
        return _row(4, statement, "mean D(synthetic, real)", np.nan, "", "", None, names,
                    "needs large synthetic, large real and small real models on the data/size axes")
    matrix = _model_distance(layers, histograms, measure, names)
    dataset = pool.set_index("model")["dataset"].astype(str)
    d_syn = [float(matrix.loc[s, r]) for s in synthetic["model"] for r in real_large["model"]]
    # a small subset of a large set shares its images: compare it with the other data sets only
    d_small = [float(matrix.loc[m, r]) for m in small_real["model"] for r in real_large["model"] if dataset[m] != dataset[r]]
    if not d_small:
        return _row(4, statement, "mean D(synthetic, real)", float(np.mean(d_syn)), "", "", None, names,
                    "the small real models share their data set with every large real model")
    value, reference = float(np.mean(d_syn)), float(np.mean(d_small))
    detail = (f"synthetic: {', '.join(synthetic['model'])}; real (large): {', '.join(real_large['model'])}; "
              f"small real: {', '.join(small_real['model'])}; D(synthetic, real) pairs: {len(d_syn)}, "
              f"D(small real, real of another data set) pairs: {len(d_small)}")  # fmt: skip
    return _row(4, statement, "mean D(synthetic large, real large)", value,
                "less than mean D(small real, large real of another data set)", reference,
                value < reference, names, detail)  # fmt: skip


def findings(
    models: pd.DataFrame,
    layers: pd.DataFrame,
    histograms: dict,
    evr,
    edges,
    eps: float = FLOAT32_EPS,
    min_group_filters: int = 0,
) -> pd.DataFrame:
    """The findings table (COLUMNS), one row per claim, for the zoo models (source == train).

    min_group_filters: a claim that compares groups of layers (3: depth deciles) is
    untestable when a group holds fewer filters (the shift config's minimum).

    layers: the database's layer table (model, layer, n_filters, conv_depth_norm,
    depth_decile, sparsity, entropy_ratio); histograms: model → (layer ids, counts (L, 9, bins))
    or model → histogram file (``store.histogram_files``), as ``shift.group_histograms`` takes them;
    evr, edges: the basis' explained-variance ratios and the histograms' bin edges (9, bins + 1).
    """
    zoo = models[models["source"] == "train"] if "source" in models.columns else models
    layers = layers[layers["model"].isin(zoo["model"])]
    # D between groups: the shift measure of the study, with its basis, bins and eps
    measure = partial(shift_matrix, evr=np.asarray(evr, float), edges=np.asarray(edges, float), eps=eps)
    rows = [
        claim_init(zoo, layers, histograms, measure),
        claim_width(zoo, layers, histograms, measure),
        claim_depth(zoo, layers, histograms, measure, min_group_filters),
        claim_synthetic(zoo, layers, histograms, measure),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def with_experiments(table: pd.DataFrame, experiments: list[pd.DataFrame]) -> pd.DataFrame:
    """The experiments' conclusion rows first, then the zoo's claims; one column set
    (claims without an interval leave it empty; verdicts: yes, no, inconclusive, untestable)."""
    columns = [*COLUMNS[:4], *INTERVAL_COLUMNS, *COLUMNS[4:]]
    parts = [part.reindex(columns=columns) for part in [*experiments, table] if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else table.reindex(columns=columns)
