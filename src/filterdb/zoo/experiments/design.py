"""The experiments' design: config block ``experiments`` and design tables, without torch.

A design table (TSV, ``#`` lines are comments) has one row per checkpoint kind:

| column | meaning |
| --- | --- |
| ``checkpoint`` | id prefix (letters, digits, ``_.+-``) |
| ``role`` | transfer: ``source``, ``in-domain``, ``scratch``; degeneracy: the one change from the base recipe (``base``, ``width``, ``weight_decay``, ``lr``, ``prune``, ``init``) |
| ``dataset`` | pre-training data: a zoo data set, or ``fractals-k{K}``, ``dead-leaves-k{K}``, ``noise-k{K}`` (K generator classes, 60,000 images); ``{classes}`` in the name follows the classes level (generator diversity instead of a subset) |
| ``data_size`` | pre-training images; ``;``-separated levels expand the row (id suffix ``_n{size}``) |
| ``classes`` | classes kept (labels 0 … K−1), the variance level; levels expand (suffix ``_c{K}``) |
| ``width``, ``steps``, ``lr``, ``weight_decay`` | training settings; empty: the config's ``pretrain`` recipe; steps 0 is the untrained init |
| ``prune``, ``parent`` | magnitude pruning: the share of 3×3 filters zeroed in each layer of checkpoint ``parent`` |
| ``targets`` | ``;``-separated target data sets the checkpoint is fine-tuned on |

Every checkpoint is made once per seed in ``experiments.seeds``, and in the same job
fine-tuned on each of its targets at each label budget in ``experiments.budgets``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import FilterdbError
from ...sheet import read_tsv
from .. import architectures
from ..datasets import DATASETS

EXPERIMENTS = ("transfer", "degeneracy")
TRANSFER_ROLES = ("source", "in-domain", "scratch")
DEGENERACY_ROLES = ("base", "width", "weight_decay", "lr", "prune", "init")
SYNTHETIC_GENERATORS = {"fractals": "fractals", "dead-leaves": "dead_leaves", "noise": "noise"}
SYNTHETIC_NAME = re.compile(r"^(fractals|dead-leaves|noise)-k(\d+)$")
SYNTHETIC_TRAIN = 60000  # images of a generated source; sizes are subsets, as for real data
ID = re.compile(r"^[A-Za-z0-9_.+-]+$")

RECIPE_KEYS = ("steps", "batch_size", "lr", "weight_decay")
DEFAULTS: dict[str, Any] = {
    "seeds": [0, 1],
    "budgets": [100, 1000],
    "architecture": "vgg",
    "depth": 4,
    "image_size": 16,
    "test_images": 500,
    "noise_sigmas": [0.1, 0.2, 0.3],
    "fgsm_eps": [0.01, 0.02, 0.05],
    "bootstrap": 2000,
    "pretrain": {"steps": 300, "batch_size": 64, "lr": 0.002, "weight_decay": 0.0005},
    "finetune": {"steps": 80, "batch_size": 64, "lr": 0.001, "weight_decay": 0.0005},
}
KNOWN_KEYS = set(DEFAULTS) | set(EXPERIMENTS)


class DesignError(FilterdbError, ValueError):
    """The experiments config or a design table is malformed; the message names the key, file and line."""


@dataclass(frozen=True)
class Checkpoint:
    """One pre-trained (or initialised, or pruned) checkpoint kind; made once per seed."""

    name: str
    experiment: str
    role: str
    row: str  # the design row's checkpoint cell (one source across its levels)
    dataset: str
    targets: tuple[str, ...]
    data_size: int | None = None
    classes: int | None = None
    width: float = 1.0
    steps: int = 0
    lr: float = 0.002
    weight_decay: float = 0.0005
    batch_size: int = 64
    prune: float = 0.0
    parent: str | None = None
    where: str = field(default="", compare=False)

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.dataset)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if k != "where"}


@dataclass(frozen=True)
class Design:
    """The whole design: settings and checkpoints by name."""

    settings: dict[str, Any]
    checkpoints: dict[str, Checkpoint]

    @property
    def seeds(self) -> list[int]:
        return list(self.settings["seeds"])

    @property
    def budgets(self) -> list[int]:
        return list(self.settings["budgets"])

    def of(self, experiment: str) -> list[Checkpoint]:
        return [c for c in self.checkpoints.values() if c.experiment == experiment]

    def numbered_checkpoints(self) -> list[tuple[str, Checkpoint]]:
        """(two-digit number, checkpoint) in the design's order: the names of the workflow's
        per-checkpoint rules (``exp_checkpoint_07``)."""
        width = max(2, len(str(len(self.checkpoints) - 1)))
        return [(f"{i:0{width}d}", c) for i, c in enumerate(self.checkpoints.values())]

    def datasets(self) -> list[str]:
        names = {c.dataset for c in self.checkpoints.values()}
        names |= {t for c in self.checkpoints.values() for t in c.targets}
        return sorted(names)

    def finetune_jobs(self, experiment: str) -> list[tuple[str, int, str]]:
        """(checkpoint, seed, target) of every fine-tuning of one experiment."""
        return [(c.name, s, t) for c in self.of(experiment) for s in self.seeds for t in c.targets]


def is_synthetic(dataset: str) -> bool:
    return bool(SYNTHETIC_NAME.match(dataset)) or (dataset in DATASETS and DATASETS[dataset].synthetic)


def known_dataset(name: str) -> bool:
    match = SYNTHETIC_NAME.match(name)
    return name in DATASETS or (match is not None and int(match.group(2)) >= 1)


def _levels(cell: str, cast, column: str, where: str) -> list:
    values = []
    for part in cell.split(";"):
        part = part.strip()
        try:
            number = float(part)
            if cast is int and not number.is_integer():
                raise ValueError(part)
            values.append(cast(number))
        except ValueError:
            raise DesignError(f"{where}: column {column!r} must hold {cast.__name__} values separated by ';', not {cell!r}") from None
    if len(set(values)) != len(values):
        raise DesignError(f"{where}: column {column!r} repeats a level: {cell!r}")
    return values


def _settings(config: dict) -> dict[str, Any]:
    block = config.get("experiments") or {}
    if not isinstance(block, dict):
        raise DesignError("config key 'experiments' must be a mapping")
    unknown = sorted(set(block) - KNOWN_KEYS)
    if unknown:
        raise DesignError(f"config key 'experiments.{unknown[0]}' is unknown; known: {', '.join(sorted(KNOWN_KEYS))}")
    settings = {**DEFAULTS, **block}
    for recipe in ("pretrain", "finetune"):
        given = block.get(recipe) or {}
        if not isinstance(given, dict) or set(given) - set(RECIPE_KEYS):
            raise DesignError(f"config key 'experiments.{recipe}' takes {', '.join(RECIPE_KEYS)}; got {given!r}")
        settings[recipe] = {**DEFAULTS[recipe], **given}
        for key in RECIPE_KEYS:
            value = settings[recipe][key]
            if not isinstance(value, (int, float)) or value < 0 or (key in ("steps", "batch_size") and int(value) != value):
                raise DesignError(f"config key 'experiments.{recipe}.{key}' must be a non-negative number, not {value!r}")
        if settings[recipe]["batch_size"] < 1:
            raise DesignError(f"config key 'experiments.{recipe}.batch_size' must be at least 1")
    for key in ("seeds", "budgets", "noise_sigmas", "fgsm_eps"):
        value = settings[key]
        if not isinstance(value, list) or not value or not all(isinstance(v, (int, float)) and v >= 0 for v in value):
            raise DesignError(f"config key 'experiments.{key}' must be a non-empty list of non-negative numbers, not {value!r}")
    if not all(isinstance(v, int) for v in settings["seeds"] + settings["budgets"]) or min(settings["budgets"]) < 1:
        raise DesignError("config keys 'experiments.seeds' and 'experiments.budgets' must hold integers (budgets ≥ 1)")
    for key in ("image_size", "test_images", "bootstrap", "depth"):
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise DesignError(f"config key 'experiments.{key}' must be a positive integer, not {settings[key]!r}")
    try:
        architectures.check(settings["architecture"], 1, settings["depth"], settings["image_size"])
    except architectures.ArchitectureError as exc:
        raise DesignError(f"config key 'experiments.architecture': {exc}") from None
    return settings


def _checkpoints(path: Path, experiment: str, settings: dict) -> list[Checkpoint]:
    if not path.is_file():
        raise DesignError(f"config key 'experiments.{experiment}': design table {str(path)!r} does not exist")
    header, records = read_tsv(path)
    for column in ("checkpoint", "role", "dataset", "targets"):
        if column not in header:
            raise DesignError(f"{path}: the design table has no column {column!r}")
    roles = TRANSFER_ROLES if experiment == "transfer" else DEGENERACY_ROLES
    recipe = settings["pretrain"]
    out = []
    for line, record in records:
        cell = {k: v.strip() for k, v in record.items() if v is not None and v.strip()}
        name = cell.get("checkpoint", "")
        where = f"{path} line {line} (checkpoint {name!r})"
        if not ID.match(name):
            raise DesignError(f"{where}: column 'checkpoint' must be letters, digits or _.+-")
        role = cell.get("role", "")
        if role not in roles:
            raise DesignError(f"{where}: column 'role' is {role!r}; the {experiment} design knows {', '.join(roles)}")
        dataset = cell.get("dataset", "")
        if "{classes}" in dataset and "classes" not in cell:
            raise DesignError(f"{where}: column 'dataset' names {{classes}} but column 'classes' is empty")
        for kept in _levels(cell["classes"], int, "classes", where) if "classes" in cell else [None]:
            name_of = dataset.replace("{classes}", str(kept))
            if not known_dataset(name_of):
                raise DesignError(f"{where}: column 'dataset': unknown data set {name_of!r}; known: {', '.join(sorted(DATASETS))}, "
                                  "or fractals-kK, dead-leaves-kK, noise-kK (K generator classes; dataset fractals-k{classes} follows the classes level)")
        targets = tuple(t.strip() for t in cell.get("targets", "").split(";") if t.strip())
        if not targets:
            raise DesignError(f"{where}: column 'targets' is empty")
        for target in targets:
            if target not in DATASETS:
                raise DesignError(f"{where}: column 'targets': unknown data set {target!r}; known: {', '.join(sorted(DATASETS))}")
        sizes = _levels(cell["data_size"], int, "data_size", where) if "data_size" in cell else [None]
        classes = _levels(cell["classes"], int, "classes", where) if "classes" in cell else [None]
        if any(s is not None and s < 1 for s in sizes) or any(c is not None and c < 2 for c in classes):
            raise DesignError(f"{where}: data_size must be at least 1 and classes at least 2")
        one = {k: _levels(cell[k], cast, k, where)[0] if k in cell else default
               for k, cast, default in (("width", float, 1.0), ("steps", int, recipe["steps"]), ("lr", float, recipe["lr"]),
                                        ("weight_decay", float, recipe["weight_decay"]), ("prune", float, 0.0))}  # fmt: skip
        parent = cell.get("parent")
        if (one["prune"] > 0 or role == "prune") != (parent is not None):
            raise DesignError(f"{where}: a pruned checkpoint needs both 'prune' (> 0) and 'parent'; others neither")
        if not 0 <= one["prune"] <= 1:
            raise DesignError(f"{where}: column 'prune' must lie in [0, 1], not {one['prune']}")
        if role in ("scratch", "init"):
            one["steps"] = 0
        try:
            architectures.check(settings["architecture"], one["width"], settings["depth"], settings["image_size"])
        except architectures.ArchitectureError as exc:
            raise DesignError(f"{where}: column 'width': {exc}") from None
        for size in sizes:
            for kept in classes:
                # a source's id always carries its levels: one source may span several rows
                suffix = (f"_n{size}" if len(sizes) > 1 or (role == "source" and size) else "") + \
                    (f"_c{kept}" if len(classes) > 1 or (role == "source" and kept) else "")
                out.append(Checkpoint(
                    name=name + suffix, experiment=experiment, role=role, row=name, dataset=dataset.replace("{classes}", str(kept)),
                    targets=targets, data_size=size, classes=kept, parent=parent,
                    batch_size=int(recipe["batch_size"]), where=where, **one,
                ))  # fmt: skip
    return out


def load_design(config: dict, root: str | Path = ".") -> Design:
    """The design of ``config['experiments']``; tables are read relative to ``root``.

    An absent or empty block is an empty design (no experiment runs).
    """
    settings = _settings(config)
    checkpoints: dict[str, Checkpoint] = {}
    for experiment in EXPERIMENTS:
        if not settings.get(experiment):
            continue
        for checkpoint in _checkpoints(Path(root) / settings[experiment], experiment, settings):
            if checkpoint.name in checkpoints:
                raise DesignError(f"{checkpoint.where}: checkpoint id {checkpoint.name!r} is also made by {checkpoints[checkpoint.name].where}")
            checkpoints[checkpoint.name] = checkpoint
    for checkpoint in checkpoints.values():
        if checkpoint.parent is not None:
            parent = checkpoints.get(checkpoint.parent)
            if parent is None or parent.parent is not None:
                raise DesignError(f"{checkpoint.where}: parent {checkpoint.parent!r} is not an unpruned checkpoint of the design")
            # a pruned checkpoint is its parent's model: same architecture and data
            checkpoints[checkpoint.name] = replace(checkpoint, width=parent.width, dataset=parent.dataset,
                                                   data_size=parent.data_size, classes=parent.classes, steps=parent.steps)  # fmt: skip
    if settings.get("transfer"):
        _check_transfer(checkpoints)
    return Design(settings, checkpoints)


def _check_transfer(checkpoints: dict[str, Checkpoint]) -> None:
    transfer = [c for c in checkpoints.values() if c.experiment == "transfer"]
    targets = {t for c in transfer for t in c.targets}
    for target in sorted(targets):
        for role in ("scratch", "in-domain"):
            if not any(c.role == role and target in c.targets for c in transfer):
                raise DesignError(f"transfer design: target {target!r} has no {role!r} row (its baseline)")
    for c in transfer:
        if c.role == "source" and c.dataset in c.targets:
            raise DesignError(f"{c.where}: a source must not be fine-tuned on its own data set {c.dataset!r} (that is the in-domain baseline)")
        if c.role == "in-domain" and (len(c.targets) != 1 or c.targets[0] != c.dataset):
            raise DesignError(f"{c.where}: an in-domain row pre-trains on its one target's data set")
