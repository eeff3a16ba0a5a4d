"""Data for the experiments: generated sources, subsets, label pools, resizing, spread.

Generated sources ``fractals-k{K}``, ``dead-leaves-k{K}``, ``noise-k{K}`` are the zoo's
generators with K classes (generator diversity) and 60,000 training images, cached under
``<cache_dir>/experiments/datasets/`` by the zoo's own ``prepare`` (checksummed, locked,
atomic). Sizes are subsets of a fixed permutation, as for the real data sets.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import datasets, synthetic
from .design import SYNTHETIC_GENERATORS, SYNTHETIC_NAME, SYNTHETIC_TRAIN, DesignError

SYNTHETIC_TEST = 1000
DATA_SEED = 0  # subsets, pools and generated images do not depend on the model seed: replicates share data


def synthetic_spec(name: str) -> datasets.DatasetSpec:
    match = SYNTHETIC_NAME.match(name)
    if match is None:
        raise datasets.DatasetError(f"{name!r} is not a generated experiment source (fractals-kK, dead-leaves-kK, noise-kK)")
    base, classes = match.group(1), int(match.group(2))
    generator = SYNTHETIC_GENERATORS[base]

    def build(cache_dir: Path):
        x, y = synthetic.GENERATORS[generator](SYNTHETIC_TRAIN + SYNTHETIC_TEST, size=28, n_classes=classes, seed=DATA_SEED)
        return x[:SYNTHETIC_TRAIN], y[:SYNTHETIC_TRAIN], x[SYNTHETIC_TRAIN:], y[SYNTHETIC_TRAIN:]

    category = datasets.get_spec(base).visual_category
    return datasets.DatasetSpec(name, category, 1, 28, classes, build,
                                f"{base} generator with {classes} classes, {SYNTHETIC_TRAIN} + {SYNTHETIC_TEST} images, seed {DATA_SEED}",
                                synthetic=True)  # fmt: skip


def register(name: str) -> None:
    """Make a generated source known to the zoo's data-set registry (``prepare``, ``load``)."""
    if SYNTHETIC_NAME.match(name) and name not in datasets.DATASETS:
        datasets.DATASETS[name] = synthetic_spec(name)


def cache_for(name: str, cache_dir: str | os.PathLike) -> Path:
    """The cache folder of a data set: generated sources live apart from the zoo's."""
    return Path(cache_dir) / "experiments" if SYNTHETIC_NAME.match(name) else Path(cache_dir)


def load(name: str, cache_dir: str | os.PathLike) -> datasets.Dataset:
    register(name)
    return datasets.load(name, cache_for(name, cache_dir), prepare_missing=False)


def prepare(name: str, cache_dir: str | os.PathLike) -> Path:
    register(name)
    return datasets.prepare(name, cache_for(name, cache_dir))


def label_pool(n_train: int, budget_max: int, where: str) -> np.ndarray:
    """Indices of the target's labelled pool: the last ``budget_max`` of a fixed permutation.

    Budget b uses the first b of them (nested budgets); pre-training subsets of the same
    data set are drawn from the rest.
    """
    if budget_max > n_train:
        raise DesignError(f"{where}: label budget {budget_max} exceeds the {n_train} training images")
    return np.random.default_rng(DATA_SEED).permutation(n_train)[n_train - budget_max :]


def source_subset(labels: np.ndarray, classes: int | None, data_size: int | None, exclude: np.ndarray | None, where: str) -> np.ndarray:
    """Sorted indices of a pre-training subset: labels < classes, minus ``exclude``, the
    first ``data_size`` of a fixed permutation."""
    keep = np.ones(len(labels), bool) if classes is None else labels < classes
    if exclude is not None:
        keep[exclude] = False
    candidates = np.flatnonzero(keep)
    if data_size is None:
        return candidates
    if data_size > len(candidates):
        raise DesignError(
            f"{where}: data_size {data_size} exceeds the {len(candidates)} images of "
            f"{'all' if classes is None else f'the first {classes}'} classes available for pre-training"
        )
    return np.sort(candidates[np.random.default_rng(DATA_SEED).permutation(len(candidates))[:data_size]])


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, C, H, W) → float32 (N, C, size, size) in [0, 1], area-averaged (or
    bilinear when enlarging), chunked to bound memory."""
    import torch
    import torch.nn.functional as F

    out = np.empty((len(images), images.shape[1], size, size), np.float32)
    for start in range(0, len(images), 8192):
        x = torch.from_numpy(images[start : start + 8192].astype(np.float32) / 255.0)
        if x.shape[-1] != size:
            mode = "area" if x.shape[-1] > size else "bilinear"
            x = F.interpolate(x, size=(size, size), mode=mode, **({} if mode == "area" else {"align_corners": False}))
        out[start : start + len(x)] = x.numpy()
    return out


def pixel_spread(images: np.ndarray) -> float:
    """RMS pixel distance between two distinct images of the set, per pixel, in [0, 1] units.

    sqrt(mean over pairs i ≠ j of ‖xᵢ − xⱼ‖² / D) = sqrt(2 n/(n−1) · mean_d var_d), with var_d
    each pixel's population variance: the data set's variance measure, exact, no pairs formed.
    """
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    n = x.shape[0]
    if n < 2:
        return float("nan")
    variance = x.var(axis=0).mean()
    return float(np.sqrt(2 * n / (n - 1) * variance))
