"""Filters as images: the first filters of every layer of a model (the paper's opening figure)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .common import DIVERGING, placeholder, plt


def filter_mosaic(kernels: np.ndarray, scale: float, columns: int, rows: int = 1, gap: int = 1) -> np.ndarray:
    """Tile (n, 9) kernels into a (rows·(3+gap)−gap, columns·(3+gap)−gap) image.

    Weights are divided by ``scale`` (the layer's max |w|), so the image lies in [−1, 1]
    and a sparse filter shows as white. Empty slots and gaps are NaN.
    """
    kernels = np.asarray(kernels, dtype=np.float64).reshape(-1, 9)
    image = np.full((rows * (3 + gap) - gap, columns * (3 + gap) - gap), np.nan)
    scale = scale if scale and np.isfinite(scale) and scale > 0 else 1.0
    for k, kernel in enumerate(kernels[: rows * columns]):
        r, c = divmod(k, columns)
        image[r * (3 + gap): r * (3 + gap) + 3, c * (3 + gap): c * (3 + gap) + 3] = kernel.reshape(3, 3) / scale
    return image


def _cmap():
    return plt.get_cmap(DIVERGING).with_extremes(bad="white")


def first_filters_figure(layers: pd.DataFrame, kernels: Mapping[int, np.ndarray], model: str, per_layer: int = 32):
    """One row per 3×3 layer of ``model``: its first ``per_layer`` filters (stored order: out_ch, then in_ch).

    layers: the model's layer table (layer, name, conv_depth_norm, sparsity, entropy_ratio,
    abs_max); kernels: layer → (k, 9) first filters. Colour: weight / the layer's max |w|,
    so growing sparsity with depth shows as fading filters.
    """
    layers = layers.sort_values(["conv_depth_norm", "layer"], kind="stable")
    layers = layers[layers["layer"].isin(list(kernels))]
    if layers.empty:
        return placeholder(f"Model '{model}' has no 3×3 convolution layers: no filters to show.",
                           title=f"First filters of {model}")
    n_rows = len(layers)
    image = np.full((n_rows * 4 - 1, per_layer * 4 - 1), np.nan)
    labels = []
    for row, layer in enumerate(layers.itertuples(index=False)):
        image[row * 4: row * 4 + 3] = filter_mosaic(kernels[layer.layer], layer.abs_max, per_layer)
        labels.append(f"{layer.name}  d={layer.conv_depth_norm:.2f}  "
                      f"sp={layer.sparsity:.2f}  H/TH={layer.entropy_ratio:.2f}")
    height = min(max(2.5, 0.28 * n_rows + 1.2), 40)
    figure, axis = plt.subplots(figsize=(10, height), layout="constrained")
    shown = axis.imshow(image, cmap=_cmap(), vmin=-1, vmax=1, interpolation="nearest", aspect="equal")
    axis.set_yticks(np.arange(n_rows) * 4 + 1, labels, fontsize=7)
    axis.set_xticks(np.arange(0, per_layer, 4) * 4 + 1, [str(i) for i in range(0, per_layer, 4)], fontsize=7)
    axis.set_xlabel("filter index within the layer (out_ch-major stored order)")
    axis.tick_params(length=0)
    for side in axis.spines.values():
        side.set_visible(False)
    axis.set_title(f"First {per_layer} filters of every 3×3 layer of {model}, shallow (top) to deep (bottom)\n"
                   "d: normalised depth, sp: sparsity, H/TH: variance entropy / randomness threshold")
    figure.colorbar(shown, ax=axis, shrink=min(1.0, 2.4 / height), aspect=20, label="weight / layer max |w|")
    return figure
