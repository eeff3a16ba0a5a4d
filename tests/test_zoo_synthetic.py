"""Synthetic data: deterministic for a seed, balanced classes, images with content."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filterdb.zoo import synthetic


@pytest.mark.parametrize("name", sorted(synthetic.GENERATORS))
def test_same_seed_same_bytes_other_seed_other_bytes(name):
    generate = synthetic.GENERATORS[name]
    x1, y1 = generate(40, size=16, seed=3)
    x2, y2 = generate(40, size=16, seed=3)
    x3, _ = generate(40, size=16, seed=4)
    assert x1.tobytes() == x2.tobytes() and np.array_equal(y1, y2)
    assert x1.tobytes() != x3.tobytes()
    assert x1.shape == (40, 1, 16, 16) and x1.dtype == np.uint8
    assert np.bincount(y1).tolist() == [4] * 10
    # every image has contrast (min-max scaled), so no class is blank
    assert (x1.reshape(40, -1).max(axis=1) > x1.reshape(40, -1).min(axis=1)).all()


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 30), size=st.integers(8, 20), classes=st.integers(1, 6))
def test_shapes_and_labels(n, size, classes):
    for generate in synthetic.GENERATORS.values():
        x, y = generate(n, size=size, n_classes=classes, seed=0)
        assert x.shape == (n, 1, size, size)
        assert np.array_equal(y, np.arange(n) % classes)


def test_noise_classes_differ_in_spectrum():
    x, y = synthetic.noise(200, size=32, seed=0)
    power = np.abs(np.fft.rfft2(x[:, 0].astype(float) - x.mean(axis=(2, 3))[:, 0, None, None])) ** 2
    high = power[:, 8:, 8:].sum(axis=(1, 2)) / power.sum(axis=(1, 2))
    # steeper spectra (higher class) put less power at high frequencies
    assert high[y == 0].mean() > high[y == 9].mean()


def test_fractal_classes_are_distinct_systems():
    x, y = synthetic.fractals(20, size=28, seed=0)
    mean = np.stack([x[y == c].mean(axis=0) for c in range(10)]).reshape(10, -1)
    assert len({m.tobytes() for m in mean}) == 10
