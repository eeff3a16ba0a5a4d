"""The workflow's own model zoo: data sets, architectures, training and the findings.

Importing this package does not import torch, so the Snakefile can use
:func:`cuda_visible` to decide whether training jobs claim the GPU resource.
"""

from __future__ import annotations

import os
from pathlib import Path


def cuda_visible(setting: str = "auto") -> bool:
    """Whether an NVIDIA GPU is visible to jobs, without importing torch.

    setting: "auto" (look at CUDA_VISIBLE_DEVICES and the NVIDIA driver), "cuda" or "cpu".
    """
    if setting != "auto":
        return setting == "cuda"
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return Path("/dev/nvidiactl").exists() or any(Path("/proc/driver/nvidia/gpus").glob("*"))


def zoo_models(rows: dict) -> list[str]:
    """Model ids of the sheet rows with source "train", sorted."""
    return sorted(m for m, row in rows.items() if row.get("source") == "train")


def dataset_of(row: dict) -> str:
    """The zoo data set of a sheet row: column ``dataset``, else ``training_dataset``."""
    return str(row.get("dataset") or row["training_dataset"])


def check_rows(rows: dict) -> None:
    """Validate the zoo rows (unknown data set or architecture, a width or depth without a
    3×3 conv, bad numbers) when the workflow is parsed, without torch: a TrainError names
    the model and the column."""
    from .train import TrainConfig, TrainError

    for model in zoo_models(rows):
        row = rows[model]
        try:
            TrainConfig.from_row({k: v for k, v in row.items() if not str(k).startswith("_")})
        except TrainError as exc:
            raise TrainError(f"{row.get('_sheet', 'model sheet')}: {exc}") from None
