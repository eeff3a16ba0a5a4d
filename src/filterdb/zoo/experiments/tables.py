"""The experiments' result tables and their findings rows.

``transfer_table``: one row per checkpoint × seed × target × budget with target accuracy,
the from-scratch and in-domain baselines of the same target, budget and seed, the gain
over from-scratch, and D between the checkpoint's filters and the in-domain model's.
``degeneracy_table``: one row per checkpoint × seed × target × budget with the checkpoint's
degeneracy, fine-tuned accuracy and robustness. ``findings_rows``: the paper's two
conclusions, each as measure, value, bootstrap interval and verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ...shift import FLOAT32_EPS
from .design import Design
from .measures import degeneracy, filter_distances, mean_interval, spearman, spearman_interval, verdict

FINDING_COLUMNS = ["claim", "statement", "measure", "value", "interval_low", "interval_high", "comparison",
                   "reference", "supported", "models", "detail"]  # fmt: skip


def _read(paths) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def _finetune_rows(design: Design, records: list[dict]) -> pd.DataFrame:
    rows = []
    for record in records:
        checkpoint = design.checkpoints[record["checkpoint"]]
        for result in record["results"]:
            row = {"checkpoint": checkpoint.name, "row": checkpoint.row, "role": checkpoint.role, "seed": record["seed"],
                   "target": record["target"], "budget": result["budget"], "accuracy": result["accuracy"],
                   "mean_noise_accuracy": result["mean_noise_accuracy"], "mean_fgsm_accuracy": result["mean_fgsm_accuracy"]}  # fmt: skip
            row.update({f"noise_accuracy_{k}": v for k, v in result["noise_accuracy"].items()})
            row.update({f"fgsm_accuracy_{k}": v for k, v in result["fgsm_accuracy"].items()})
            rows.append(row)
    return pd.DataFrame(rows)


def _kernels(weights_path) -> np.ndarray:
    from .measures import conv_weights
    from .training import load_weights

    return np.concatenate([w.reshape(-1, 9) for _, w in conv_weights(load_weights(weights_path))])


def transfer_table(design: Design, checkpoint_records: list, checkpoint_weights: list, finetune_records: list,
                   bins: int = 70, eps: float = FLOAT32_EPS) -> pd.DataFrame:  # fmt: skip
    """Rows of the transfer experiment (paths in any order; records name their checkpoint and seed)."""
    records = {(r["checkpoint"], r["seed"]): r for r in _read(checkpoint_records)}
    table = _finetune_rows(design, _read(finetune_records))
    names = [f"{r['checkpoint']}_s{r['seed']}" for r in records.values()]
    weights = {Path(p).name.removesuffix(".safetensors"): p for p in checkpoint_weights}
    trained = [f"{c}_s{s}" for (c, s) in records if design.checkpoints[c].steps > 0]
    distances = filter_distances({n: _kernels(weights[n]) for n in names}, bins, eps, pool=trained)
    in_domain = {c.targets[0]: c.name for c in design.of("transfer") if c.role == "in-domain"}
    scratch = {t: c.name for c in design.of("transfer") if c.role == "scratch" for t in c.targets}
    out = []
    for _, row in table.iterrows():
        checkpoint = design.checkpoints[row["checkpoint"]]
        record = records[(row["checkpoint"], row["seed"])]
        key = (row["target"], row["budget"], row["seed"])
        out.append({
            **{k: row[k] for k in ("checkpoint", "row", "role")},
            "dataset": checkpoint.dataset, "category": "synthetic" if checkpoint.synthetic else ("baseline" if checkpoint.role != "source" else "real"),
            "visual_category": record.get("visual_category", "none (initialisation)"),
            "data_size": record.get("train_images", 0), "classes": checkpoint.classes or 10,
            "pixel_spread": record.get("pixel_spread", np.nan),
            "source_test_accuracy": record.get("source_test_accuracy", np.nan),
            "target": row["target"], "budget": row["budget"], "seed": row["seed"], "accuracy": row["accuracy"],
            "_scratch": (scratch[row["target"]], *key), "_in_domain": (in_domain[row["target"]], *key),
            "D_in_domain": float(distances.loc[f"{checkpoint.name}_s{row['seed']}", f"{in_domain[row['target']]}_s{row['seed']}"]),
        })  # fmt: skip
    frame = pd.DataFrame(out)
    accuracy = table.set_index(["checkpoint", "target", "budget", "seed"])["accuracy"]
    frame["scratch_accuracy"] = [accuracy.get(k, np.nan) for k in frame.pop("_scratch")]
    frame["in_domain_accuracy"] = [accuracy.get(k, np.nan) for k in frame.pop("_in_domain")]
    frame["gain_over_scratch"] = frame["accuracy"] - frame["scratch_accuracy"]
    return frame.sort_values(["role", "row", "data_size", "classes", "target", "budget", "seed"], ignore_index=True)


def degeneracy_table(design: Design, checkpoint_weights: list, finetune_records: list, cutoffs: dict | None = None) -> pd.DataFrame:
    """Rows of the degeneracy experiment: the checkpoint's degeneracy beside its fine-tuned results."""
    from .training import load_weights

    measured = {}
    for path in checkpoint_weights:
        measured[Path(path).name.removesuffix(".safetensors")] = degeneracy(load_weights(path), cutoffs)
    table = _finetune_rows(design, _read(finetune_records))
    change = {c.name: c for c in design.of("degeneracy")}
    rows = []
    for _, row in table.iterrows():
        checkpoint = change[row["checkpoint"]]
        level = {"width": checkpoint.width, "weight_decay": checkpoint.weight_decay, "lr": checkpoint.lr,
                 "prune": checkpoint.prune, "init": 0, "base": 0}[checkpoint.role]  # fmt: skip
        rows.append({"checkpoint": row["checkpoint"], "change": checkpoint.role, "level": level, "seed": row["seed"],
                     **measured[f"{row['checkpoint']}_s{row['seed']}"],
                     **{k: row[k] for k in row.index if k not in ("checkpoint", "row", "role", "seed")}})  # fmt: skip
    return pd.DataFrame(rows).sort_values(["change", "level", "checkpoint", "target", "budget", "seed"], ignore_index=True)


# -- findings ------------------------------------------------------------------------------


def _finding(claim, statement, measure, value, low, high, comparison, reference, supported, models, detail) -> dict:
    return dict(zip(FINDING_COLUMNS, [claim, statement, measure, value, low, high, comparison, reference, supported, models, detail]))


def transfer_cells(transfer: pd.DataFrame) -> pd.DataFrame:
    """Per source × size × classes × target × budget: mean gain over from-scratch (seeds
    paired), the seed-to-seed spread, and whether the gain exceeds it.

    spread: the larger of the range (max − min over seeds) of the source's accuracy and of
    the from-scratch accuracy: a gain counts only when it is larger than replicate noise.
    """
    sources = transfer[transfer["role"] == "source"]
    keys = ["row", "category", "dataset", "data_size", "classes", "target", "budget"]
    grouped = sources.groupby(keys, sort=True)
    cells = grouped.agg(seeds=("seed", "nunique"), accuracy=("accuracy", "mean"), gain=("gain_over_scratch", "mean"),
                        pixel_spread=("pixel_spread", "mean"), D_in_domain=("D_in_domain", "mean")).reset_index()  # fmt: skip
    spread = grouped.agg(acc_range=("accuracy", lambda a: a.max() - a.min()),
                         scratch_range=("scratch_accuracy", lambda a: a.max() - a.min())).reset_index(drop=True)  # fmt: skip
    cells["seed_spread"] = np.maximum(spread["acc_range"], spread["scratch_range"]).to_numpy()
    cells["beats_scratch"] = (cells["gain"] > cells["seed_spread"]) & (cells["seeds"] >= 2)
    return cells


def axis_points(sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The size axis (each source at its most classes) and the variance axis (each source at
    the size with the most classes levels, the larger on a tie): one level varies, the other is fixed."""
    most = sources.groupby("row")["classes"].transform("max")
    levels = sources.groupby(["row", "data_size"])["classes"].nunique().reset_index()
    levels = levels.sort_values(["row", "classes", "data_size"]).groupby("row").tail(1).set_index("row")["data_size"]
    return sources[sources["classes"] == most], sources[sources["data_size"] == sources["row"].map(levels)]


def _conditions(cells: pd.DataFrame) -> list[str]:
    """Per source, target and budget: the smallest size (and there the fewest classes) that beats from-scratch."""
    parts = []
    for (row, target, budget), part in cells.groupby(["row", "target", "budget"], sort=True):
        winners = part[part["beats_scratch"]].sort_values(["data_size", "classes"])
        tested = f"{len(part)} cells"
        if winners.empty:
            parts.append(f"{row}→{target} n={budget}: never ({tested})")
        else:
            first = winners.iloc[0]
            parts.append(f"{row}→{target} n={budget}: from {int(first['data_size'])} images × {int(first['classes'])} classes "
                         f"(gain {first['gain']:+.3f} > spread {first['seed_spread']:.3f}; {int(part['beats_scratch'].sum())}/{tested})")  # fmt: skip
    return parts


def transfer_findings(transfer: pd.DataFrame, resamples: int = 2000) -> list[dict]:
    statement = "Pre-training can succeed on arbitrary data sets if they meet size and variance conditions"
    sources = transfer[transfer["role"] == "source"]
    models = ";".join(sorted(sources["checkpoint"].unique()))
    if sources.empty or sources["scratch_accuracy"].isna().all():
        return [_finding("transfer", statement, "gain over from-scratch", np.nan, np.nan, np.nan, "", np.nan, "untestable", models, "no source rows")]
    cells = transfer_cells(transfer)
    conditions = "; ".join(_conditions(cells))
    rows = []
    size_axis, variance_axis = axis_points(sources)
    for claim, points, column, label in (
        ("transfer-size", size_axis, "data_size", "source images"),
        ("transfer-variance", variance_axis, "classes", "source classes"),
    ):
        x = np.log2(points[column].astype(float)) if column == "data_size" else points[column].astype(float)
        rho, low, high = spearman_interval(x, points["gain_over_scratch"], resamples)
        per_source = ", ".join(f"{r}: {spearman(np.asarray(g[column], float), g['gain_over_scratch']):.2f}"
                               for r, g in points.groupby("row"))  # fmt: skip
        rows.append(_finding(claim, f"{statement}: the gain over from-scratch grows with the {label}",
                             f"Spearman ρ({label}, target accuracy − from-scratch accuracy) along the {column} axis "
                             "(other level held fixed), every source × target × budget × seed",
                             rho, low, high, "bootstrap 95 % interval above 0", 0.0, verdict(low, high, +1), models,
                             f"{len(points)} points; ρ per source: {per_source}; conditions: {conditions}"))  # fmt: skip
    # 'arbitrary data': synthetic sources at their largest size and most classes
    synthetic = sources[sources["category"] == "synthetic"]
    if synthetic.empty:
        rows.append(_finding("transfer-synthetic", statement, "gain of synthetic sources", np.nan, np.nan, np.nan, "", np.nan,
                             "untestable", models, "the design has no synthetic source"))  # fmt: skip
        return rows
    top = synthetic.groupby("row", group_keys=False).apply(
        lambda g: g[(g["data_size"] == g["data_size"].max()) & (g["classes"] == g["classes"].max())])
    mean, low, high = mean_interval(top["gain_over_scratch"], resamples)
    synthetic_cells = cells[(cells["category"] == "synthetic")]
    beats = synthetic_cells.groupby("row")["beats_scratch"].any()
    real_cells = cells[cells["category"] == "real"]
    rows.append(_finding(
        "transfer-synthetic",
        f"{statement}: synthetic sources (no real images) at their largest size and most classes beat from-scratch",
        "mean gain over from-scratch of synthetic sources at their largest size and most classes",
        mean, low, high, "bootstrap 95 % interval above 0", 0.0, verdict(low, high, +1), ";".join(sorted(top["checkpoint"].unique())),
        f"{len(top)} points; synthetic sources beating from-scratch by more than the seed spread in some cell: "
        f"{', '.join(f'{k}: {bool(v)}' for k, v in beats.items())}; real sources: "
        f"{', '.join(f'{k}: {bool(v)}' for k, v in real_cells.groupby('row')['beats_scratch'].any().items())}",
    ))  # fmt: skip
    return rows


def degeneracy_findings(table: pd.DataFrame, measure: str = "degenerated_filter_share", resamples: int = 2000) -> list[dict]:
    statement = ("Many pre-trained models contain degenerated filters, which makes them less robust and less suitable "
                 "for fine-tuning on a target application")  # fmt: skip
    rows = []
    budgets = sorted(table["budget"].unique()) if len(table) else []
    models = ";".join(sorted(table["checkpoint"].unique())) if len(table) else ""
    outcomes = [(f"degeneracy-finetune-n{b}", b, "accuracy", f"fine-tuned accuracy with {b} labels") for b in budgets]
    if budgets:
        top = budgets[-1]
        outcomes += [("degeneracy-noise", top, "mean_noise_accuracy", f"accuracy under Gaussian noise, {top} labels"),
                     ("degeneracy-fgsm", top, "mean_fgsm_accuracy", f"accuracy under FGSM, {top} labels")]  # fmt: skip
    for claim, budget, column, label in outcomes:
        part = table[table["budget"] == budget]
        rho, low, high = spearman_interval(part[measure], part[column], resamples)
        others = []
        for other in ("sparse_filter_share", "collapsed_layer_share", "random_like_layer_share", "mean_entropy_ratio", "mean_orthogonality"):
            r, lo, hi = spearman_interval(part[other], part[column], resamples)
            others.append(f"{other}: ρ = {r:.3f} [{lo:.3f}, {hi:.3f}]")
        rows.append(_finding(claim, statement, f"Spearman ρ({measure}, {label}), one point per checkpoint × seed",
                             rho, low, high, "bootstrap 95 % interval below 0", 0.0, verdict(low, high, -1), models,
                             f"{len(part)} points on {', '.join(sorted(part['target'].unique()))}; other measures: {'; '.join(others)}"))  # fmt: skip
    return rows
