"""Synthetic image data sets, generated from a seed: the paper's "arbitrary data".

All generators return ``(images, labels)``: images uint8 of shape (n, 1, size, size),
labels int64 of shape (n,), classes balanced and interleaved (label = index mod
n_classes). The same arguments give the same bytes.

- :func:`fractals`: formula-driven fractals in the style of FractalDB (Kataoka et al.,
  ACCV 2020): one class per random iterated function system (IFS), instances vary by
  a perturbed map, flips and point density; rendered with the chaos game.
- :func:`dead_leaves`: occluding random discs or squares with power-law radii
  (Matheron's dead-leaves model); one class per shape × radius-range setting.
- :func:`noise`: Gaussian noise with a 1/f^α power spectrum; one class per α.
"""

from __future__ import annotations

import numpy as np

MIN_FILL = 0.12  # FractalDB keeps systems whose rendering fills enough of the canvas


def _to_uint8(images: np.ndarray) -> np.ndarray:
    """Per-image min-max scaling of float images (n, h, w) to uint8 (n, 1, h, w)."""
    low = images.min(axis=(1, 2), keepdims=True)
    high = images.max(axis=(1, 2), keepdims=True)
    scaled = (images - low) / np.where(high > low, high - low, 1.0)
    return np.round(scaled * 255).astype(np.uint8)[:, None]


def _labels(n: int, n_classes: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) % n_classes


def _random_ifs(rng: np.random.Generator, n_maps: int) -> np.ndarray:
    """(n_maps, 6) affine maps [a, b, c, d, e, f]: x' = a x + b y + e, y' = c x + d y + f.

    The linear part is rescaled to spectral norm ≤ 0.8 so the system contracts.
    """
    params = rng.uniform(-1.0, 1.0, size=(n_maps, 6))
    linear = params[:, :4].reshape(n_maps, 2, 2)
    norm = np.linalg.norm(linear, ord=2, axis=(1, 2))
    params[:, :4] *= np.minimum(1.0, 0.8 / np.maximum(norm, 1e-12))[:, None]
    return params


def _chaos_game(maps: np.ndarray, rng: np.random.Generator, points: int, steps: int, burn_in: int = 8) -> np.ndarray:
    """Points (B, steps·points, 2) on the attractors of B systems of M maps each.

    maps: (B, M, 6). Maps are chosen with probability ∝ |det|, as in FractalDB.
    """
    batch, n_maps, _ = maps.shape
    det = np.abs(maps[..., 0] * maps[..., 3] - maps[..., 1] * maps[..., 2]) + 1e-3
    det = np.where(np.abs(maps).sum(axis=-1) > 0, det, 0.0)  # all-zero slots: padding, never picked
    cumulative = np.cumsum(det / det.sum(axis=1, keepdims=True), axis=1)  # (B, M)
    xy = rng.uniform(-0.5, 0.5, size=(batch, points, 2))
    out = np.empty((batch, steps, points, 2))
    rows = np.arange(batch)[:, None]
    for step in range(burn_in + steps):  # a loop over iterations, vectorised over points
        pick = (rng.random((batch, points, 1)) > cumulative[:, None, :]).sum(axis=2)
        pick = np.minimum(pick, n_maps - 1)
        m = maps[rows, pick]  # (B, P, 6)
        x, y = xy[..., 0], xy[..., 1]
        xy = np.stack([m[..., 0] * x + m[..., 1] * y + m[..., 4], m[..., 2] * x + m[..., 3] * y + m[..., 5]], axis=-1)
        if step >= burn_in:
            out[:, step - burn_in] = xy
    return out.reshape(batch, steps * points, 2)


def _rasterise(xy: np.ndarray, size: int) -> np.ndarray:
    """Binary occupancy images (B, size, size) of point clouds (B, N, 2), fitted to the canvas."""
    batch = xy.shape[0]
    low = xy.min(axis=1, keepdims=True)
    span = np.maximum(xy.max(axis=1, keepdims=True) - low, 1e-9).max(axis=2, keepdims=True)
    # keep the aspect ratio, leave a one-pixel margin
    pixel = ((xy - low) / span * (size - 3) + 1).astype(np.int64)
    flat = np.arange(batch)[:, None] * size * size + pixel[..., 1] * size + pixel[..., 0]
    counts = np.bincount(flat.ravel(), minlength=batch * size * size).reshape(batch, size, size)
    return counts


def fractals(n: int, size: int = 28, n_classes: int = 10, seed: int = 0, points: int = 64, steps: int = 24):
    """FractalDB-style images: one IFS per class, n images, classes interleaved."""
    rng = np.random.default_rng(seed)
    systems = []
    while len(systems) < n_classes:  # a loop over classes: resample until the system fills the canvas
        n_maps = int(rng.integers(2, 5))
        candidate = _random_ifs(rng, n_maps)
        padded = np.zeros((4, 6))
        padded[:n_maps] = candidate
        image = _rasterise(_chaos_game(candidate[None], rng, 256, 32), size)[0]
        if (image > 0).mean() >= MIN_FILL:
            systems.append((n_maps, padded))
    labels = _labels(n, n_classes)
    n_maps = np.array([systems[c][0] for c in labels])
    maps = np.stack([systems[c][1] for c in labels])  # (n, 4, 6)
    # instance variation (FractalDB): scale one parameter of one map by 0.8 … 1.2
    which_map = (rng.random(n) * n_maps).astype(np.int64)
    which_param = rng.integers(0, 6, n)
    maps[np.arange(n), which_map, which_param] *= rng.uniform(0.8, 1.2, n)
    maps[np.arange(4)[None, :] >= n_maps[:, None]] = 0.0  # padding slots stay all-zero
    images = np.empty((n, size, size))
    for start in range(0, n, 512):  # chunks bound memory at 512 × steps × points × 2 floats
        part = maps[start : start + 512]
        counts = _rasterise(_chaos_game(part, rng, points, steps), size)
        images[start : start + 512] = np.log1p(counts)
    flip = rng.random((n, 2)) < 0.5
    images[flip[:, 0]] = images[flip[:, 0], :, ::-1]
    images[flip[:, 1]] = images[flip[:, 1], ::-1, :]
    return _to_uint8(images), labels


def dead_leaves(n: int, size: int = 28, n_classes: int = 10, seed: int = 0, leaves: int = 64):
    """Dead-leaves images: class c sets the shape (disc/square) and the radius range.

    Radii follow p(r) ∝ r⁻³ on [r_min, r_max] (scale invariance); grey levels uniform;
    the first leaf drawn lies on top.
    """
    rng = np.random.default_rng(seed)
    labels = _labels(n, n_classes)
    half = max(n_classes // 2, 1)
    square = labels >= half  # first half discs, second half squares
    scale = (labels % half) / max(half - 1, 1)  # 0 … 1 within each shape
    r_min = (0.02 + 0.06 * scale) * size
    r_max = (0.15 + 0.35 * scale) * size
    u = rng.random((n, leaves))
    # inverse CDF of p(r) ∝ r^-3 on [r_min, r_max]
    radius = 1.0 / np.sqrt(u / r_max[:, None] ** 2 + (1 - u) / r_min[:, None] ** 2)
    centre = rng.uniform(0, size, size=(n, leaves, 2))
    grey = rng.random((n, leaves))
    background = rng.random(n)
    coords = np.arange(size, dtype=np.float32) + 0.5
    gx, gy = coords[None, None, :], coords[None, :, None]  # broadcast to (n, size, size)
    images = np.broadcast_to(background[:, None, None], (n, size, size)).astype(np.float32)
    cx, cy = centre[..., 0].astype(np.float32), centre[..., 1].astype(np.float32)
    r = radius.astype(np.float32)
    for leaf in reversed(range(leaves)):  # a loop over leaves, vectorised over images and pixels
        dx = np.abs(gx - cx[:, leaf, None, None])
        dy = np.abs(gy - cy[:, leaf, None, None])
        dist = np.where(square[:, None, None], np.maximum(dx, dy), np.sqrt(dx * dx + dy * dy))
        # painting from the last leaf to the first leaves the first one on top
        images = np.where(dist < r[:, leaf, None, None], grey[:, leaf, None, None].astype(np.float32), images)
    return _to_uint8(images.astype(np.float64)), labels


def noise(n: int, size: int = 28, n_classes: int = 10, seed: int = 0, alpha_max: float = 3.0):
    """Gaussian noise images with power spectrum 1/f^α, α = alpha_max · c / (n_classes − 1)."""
    rng = np.random.default_rng(seed)
    labels = _labels(n, n_classes)
    alpha = alpha_max * labels / max(n_classes - 1, 1)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    freq = np.sqrt(fx**2 + fy**2)
    freq[0, 0] = 1.0 / size  # no infinite DC gain
    spectrum = rng.standard_normal((n, size, size // 2 + 1)) + 1j * rng.standard_normal((n, size, size // 2 + 1))
    amplitude = freq[None] ** (-alpha[:, None, None] / 2)
    images = np.fft.irfft2(spectrum * amplitude, s=(size, size), axes=(1, 2))
    return _to_uint8(images), labels


GENERATORS = {"fractals": fractals, "dead_leaves": dead_leaves, "noise": noise}
