"""The shift maps' noise floor: how large D gets between two sets of filters that differ
only by chance.

With replicates (sheet rows that agree on every column but the model id, seed, notes and
zoo axes, and differ in the seed): the largest D between two replicates. Without: D
between two random halves (by layer, seeded) of the database's layers. A shift below the
floor cannot be told from noise.
"""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np

from ..shift import FLOAT32_EPS, shift_matrix
from ..store import read_histograms

NOT_SETTINGS = ("model", "seed", "notes", "axes")


def replicate_sets(rows: Mapping[str, Mapping], ignore: Sequence[str] = NOT_SETTINGS) -> list[list[str]]:
    """Sets of two or more models whose sheet rows are the same setting with different seeds.

    rows: model id → sheet row. Returned sorted (models within a set, sets by first model).
    """
    by_setting: dict[tuple, list[tuple[str, str]]] = {}
    for model, row in rows.items():
        setting = tuple(sorted((k, str(v)) for k, v in row.items() if k not in ignore and not k.startswith("_")))
        by_setting.setdefault(setting, []).append((model, str(row.get("seed", ""))))
    sets = []
    for members in by_setting.values():
        if len({seed for _, seed in members}) > 1:
            sets.append(sorted(model for model, _ in members))
    return sorted(sets)


def replicate_noise(counts: Mapping[str, np.ndarray], sets: Sequence[Sequence[str]], evr: np.ndarray,
                    edges: np.ndarray, eps: float = FLOAT32_EPS) -> tuple[float | None, list[tuple[str, str, float]]]:
    """Largest D between two replicates, and D of every replicate pair.

    counts: model → (9, bins) coefficient counts summed over its layers, over ``edges``;
    models without filters are skipped. Returns (None, []) when no pair has filters on both sides.
    """
    pairs = []
    for members in sets:
        with_filters = [m for m in members if m in counts and np.asarray(counts[m]).sum() > 0]
        for a, b in itertools.combinations(with_filters, 2):
            d = shift_matrix({a: counts[a], b: counts[b]}, evr, edges, eps).iloc[0, 1]
            pairs.append((a, b, float(d)))
    if not pairs:
        return None, []
    return max(d for _, _, d in pairs), pairs


def split_half_noise(layer_counts: Sequence[np.ndarray], evr: np.ndarray, edges: np.ndarray,
                     eps: float = FLOAT32_EPS, seed: int = 0) -> float | None:
    """D between two random halves of the given layers (each (9, bins) counts).

    Layers are shuffled with a fixed seed and split in two; None with fewer than two layers.
    """
    layer_counts = [np.asarray(c) for c in layer_counts if np.asarray(c).sum() > 0]
    if len(layer_counts) < 2:
        return None
    order = np.random.default_rng(seed).permutation(len(layer_counts))
    half = len(order) // 2
    first = sum(layer_counts[i] for i in order[:half])
    second = sum(layer_counts[i] for i in order[half:])
    return float(shift_matrix({"a": first, "b": second}, evr, edges, eps).iloc[0, 1])


def noise_floor(histogram_files: Mapping[str, str], sets: Sequence[Sequence[str]], evr: np.ndarray,
                edges: np.ndarray, eps: float = FLOAT32_EPS) -> dict:
    """The noise-floor record of the shift maps: the largest D between replicates when
    ``sets`` (``replicate_sets``) has a pair with filters, else D between random halves
    of the database's layers.

    histogram_files: model → its histogram file (``store.histogram_files``), read one at
    a time. Returns {"value": D or None, "method", "pairs": [{"a", "b", "D"}], ("layers")}.
    """
    per_model, layers = {}, []
    for model, path in histogram_files.items():
        _, counts = read_histograms(path)
        if sets:
            per_model[model] = counts.sum(axis=0)
        else:
            layers.extend(counts)
    value, pairs = replicate_noise(per_model, sets, evr, edges, eps) if sets else (None, [])
    if value is not None:
        return {"value": value, "method": "replicate seeds", "pairs": [{"a": a, "b": b, "D": d} for a, b, d in pairs]}
    return {"value": split_half_noise(layers, evr, edges, eps), "layers": len(layers), "pairs": [],
            "method": "random halves of the database's layers (no replicate seeds)"}


def noise_sentence(record: Mapping) -> str:
    """Caption sentence for a noise-floor record (as the noise_floor rule writes it)."""
    value = record.get("value")
    if value is None:
        return "No noise floor: the database has neither replicate seeds nor two layers to split."
    if record.get("pairs"):
        pairs = ", ".join(f"``{p['a']}``–``{p['b']}`` {p['D']:.3g}" for p in record["pairs"][:6])
        more = f" and {len(record['pairs']) - 6} more" if len(record["pairs"]) > 6 else ""
        return (f"**Noise floor** (red mark on the colour bar): D = {value:.3g}, the largest D between replicates "
                f"(models that differ only by their seed): {pairs}{more}. A shift below it cannot be told from noise.")
    return (f"**Noise floor** (red mark on the colour bar): D = {value:.3g} between two random halves of the "
            f"database's {record.get('layers', 0):,} layers (no replicate seeds in the sheets). A shift below it "
            "cannot be told from noise.")
