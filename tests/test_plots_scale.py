"""The shift heatmap's colour scale: an outlying group does not darken the others."""

import numpy as np

from filterdb.plots.shift import colour_top


def symmetric(values):
    n = int(round((1 + np.sqrt(1 + 8 * len(values))) / 2))  # n(n−1)/2 pairs
    matrix = np.zeros((n, n))
    matrix[np.triu_indices(n, k=1)] = values
    return matrix + matrix.T


def test_scale_is_the_largest_value_without_an_outlier():
    rng = np.random.default_rng(0)
    matrix = symmetric(rng.uniform(0.1, 0.5, size=45))  # 10 groups
    assert colour_top(matrix) == (matrix.max(), 0)


def test_one_outlying_group_caps_the_scale_at_the_quantile():
    rng = np.random.default_rng(1)
    matrix = symmetric(rng.uniform(0.1, 0.5, size=435))  # 30 groups
    matrix[0, 1:] = matrix[1:, 0] = 5.0  # group 0 far from every other
    top, above = colour_top(matrix)
    off = matrix[~np.eye(30, dtype=bool)]
    assert top == np.quantile(off, 0.9)
    assert above == 29 + np.count_nonzero(np.triu(matrix[1:, 1:], k=1) > top)  # the outlier's pairs and the top tenth
    assert top < 1.0


def test_small_matrices_are_never_capped():
    matrix = symmetric([0.1, 0.1, 9.0])  # 3 groups: too few values for a quantile
    assert colour_top(matrix) == (9.0, 0)
