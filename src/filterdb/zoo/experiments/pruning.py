"""Magnitude pruning of 3×3 filters: the sparse filters of a checkpoint, made on purpose."""

from __future__ import annotations

import math

import numpy as np


def is_conv3x3(name: str, tensor) -> bool:
    return name.endswith("weight") and tensor.ndim == 4 and tuple(tensor.shape[-2:]) == (3, 3)


def prune_filters(state: dict, fraction: float) -> tuple[dict, int]:
    """Zero the ``floor(fraction · n)`` 3×3 filters of smallest max |w| in each 3×3 conv layer.

    state: a torch state dict (not modified); returns (pruned copy, filters zeroed). A
    zeroed filter has max |w| = 0, so the workflow's sparsity measure counts it sparse;
    ties go to the lower filter index (stable order), so the result is deterministic.
    """
    import torch

    if not 0 <= fraction <= 1:
        raise ValueError(f"pruning fraction {fraction} must lie in [0, 1]")
    pruned, zeroed = {}, 0
    for name, tensor in state.items():
        tensor = tensor.clone()
        if is_conv3x3(name, tensor):
            flat = tensor.reshape(-1, 9)
            count = math.floor(fraction * flat.shape[0])
            if count:
                peak = flat.abs().amax(dim=1).numpy()
                drop = np.argsort(peak, kind="stable")[:count]
                flat[torch.from_numpy(drop)] = 0.0
                zeroed += count
        pruned[name] = tensor
    return pruned, zeroed
