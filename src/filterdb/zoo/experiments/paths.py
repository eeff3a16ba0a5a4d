"""The experiments' file layout, for the workflow's rules (no torch)."""

from __future__ import annotations

from .design import SYNTHETIC_NAME, Design

RESULTS = "results/experiments"


def data_files(name: str, cache_dir: str) -> dict[str, str]:
    """The cached arrays and record of a data set: the zoo's, or a generated source's."""
    folder = f"{cache_dir}/experiments" if SYNTHETIC_NAME.match(name) else cache_dir
    return {"data": f"{folder}/datasets/{name}.npz", "record": f"{folder}/datasets/{name}.json"}


def checkpoint_inputs(design: Design, name: str, seed: str, cache_dir: str) -> dict[str, str]:
    """What a checkpoint is made from: its parent's weights (pruning), its data (training), or nothing (init)."""
    made = design.checkpoints[name]
    if made.parent is not None:
        return {"parent": f"{RESULTS}/checkpoints/{made.parent}_s{seed}.safetensors"}
    return data_files(made.dataset, cache_dir) if made.steps > 0 else {}


def checkpoint_files(design: Design, experiment: str, ext: str) -> list[str]:
    """Every checkpoint file (``safetensors`` or ``json``) of one experiment, all seeds."""
    return [f"{RESULTS}/checkpoints/{c.name}_s{s}.{ext}" for c in design.of(experiment) for s in design.seeds]


def finetune_records(design: Design, experiment: str) -> list[str]:
    """The record of every fine-tuning (checkpoint × seed × target) of one experiment."""
    return [f"{RESULTS}/finetuned/{t}/{c}_s{s}.json" for c, s, t in design.finetune_jobs(experiment)]


def checkpoint_input_function(design: Design, name: str, cache_dir: str):
    """The input function of one checkpoint's rule (its seed is the wildcard)."""
    return lambda wildcards: checkpoint_inputs(design, name, wildcards.seed, cache_dir)
