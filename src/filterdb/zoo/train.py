"""Train one zoo model from its sheet row: seeded, resumable, and written atomically.

CPU training is bitwise reproducible for a seed: the weights come from
``torch.manual_seed(seed)``, the batch order of epoch e from ``numpy``'s generator
seeded with (seed, e), the denoising noise from a torch generator seeded with (seed, e),
and torch runs with deterministic algorithms. Because every epoch's randomness is
derived from (seed, epoch) rather than carried over, a run resumed from the checkpoint
of epoch e gives the same bytes as an uninterrupted one.

Files: the weights (``.safetensors``) and the training record (``.json``) are written
atomically, weights first, and the checkpoint is removed last; a killed job leaves at
most a checkpoint (``.{model}.ckpt`` beside the weights), never a half-written output.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .. import store
from ..errors import FilterdbError
from . import architectures
from .datasets import Dataset, DatasetError, get_spec

log = logging.getLogger(__name__)

EVAL_IMAGES = 2000  # images per evaluation pass: bounds the cost of a curve point
SUBSET_SEED = 0  # the training subset does not depend on the model seed: replicates share data


class TrainError(FilterdbError, ValueError):
    """A zoo row cannot be trained as given; the message names the model and the column."""


@dataclass(frozen=True)
class TrainConfig:
    """One zoo model's training settings, from its sheet row (columns of the same names)."""

    model: str
    architecture: str
    dataset: str
    task: str = "classification"
    width: float = 1.0
    depth: int = 4
    epochs: int = 4
    data_size: int | None = None  # training images; None: the whole training split
    seed: int = 0
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    noise_sigma: float = 0.3  # denoising: std of the Gaussian noise added to inputs in [0, 1]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "TrainConfig":
        def cell(key, cast, default=None):
            value = row.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                return default
            try:
                return cast(value)
            except (TypeError, ValueError):
                raise TrainError(f"model {row.get('model')!r}: column {key!r} must be {cast.__name__}, not {value!r}") from None

        def integer(value):
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)

        model = str(row.get("model"))
        dataset = cell("dataset", str) or cell("training_dataset", str)
        if dataset is None:
            raise TrainError(f"model {model!r}: source 'train' needs column 'dataset' (a zoo data set name)")
        architecture = cell("architecture", str)
        if architecture is None:
            raise TrainError(f"model {model!r}: source 'train' needs column 'architecture'")
        defaults = cls(model=model, architecture=architecture, dataset=dataset)
        config = cls(
            model=model,
            architecture=architecture.lower(),
            dataset=dataset,
            task=cell("task", str, defaults.task),
            width=cell("width", float, defaults.width),
            depth=cell("depth", integer, defaults.depth),
            epochs=cell("epochs", integer, defaults.epochs),
            data_size=cell("data_size", integer, None),
            seed=cell("seed", integer, defaults.seed),
            batch_size=cell("batch_size", integer, defaults.batch_size),
            lr=cell("lr", float, defaults.lr),
            weight_decay=cell("weight_decay", float, defaults.weight_decay),
            noise_sigma=cell("noise_sigma", float, defaults.noise_sigma),
        )
        config.validate()
        return config

    def validate(self) -> None:
        where = f"model {self.model!r}"
        if self.task not in architectures.TASKS:
            raise TrainError(f"{where}: column 'task' is {self.task!r}; the zoo trains {', '.join(architectures.TASKS)}")
        try:
            spec = get_spec(self.dataset)
            architectures.check(self.architecture, self.width, self.depth, spec.image_size, self.task)
        except (architectures.ArchitectureError, DatasetError) as exc:
            raise TrainError(f"{where}: {exc}") from None
        if self.epochs < 0:
            raise TrainError(f"{where}: column 'epochs' is {self.epochs}; 0 (initialisation) or more")
        if self.data_size is not None and self.data_size < 1:
            raise TrainError(f"{where}: column 'data_size' is {self.data_size}; at least 1 image")
        if self.batch_size < 1:
            raise TrainError(f"{where}: column 'batch_size' is {self.batch_size}; at least 1")

    def build(self):
        """The initialised module (seeded here, so it is the same for the same row)."""
        import torch

        spec = get_spec(self.dataset)
        torch.manual_seed(self.seed)
        try:
            return architectures.build(
                self.architecture, width=self.width, depth=self.depth, in_channels=spec.channels,
                n_classes=spec.n_classes, image_size=spec.image_size, task=self.task,
            )  # fmt: skip
        except architectures.ArchitectureError as exc:
            raise TrainError(f"model {self.model!r}: {exc}") from None

    def input_shape(self) -> tuple[int, int, int]:
        spec = get_spec(self.dataset)
        return spec.channels, spec.image_size, spec.image_size

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_subset(labels: np.ndarray, data_size: int | None, model: str, dataset: str) -> np.ndarray:
    """Indices of the first ``data_size`` images of a fixed permutation (seed SUBSET_SEED)."""
    n = len(labels)
    if data_size is None:
        return np.arange(n)
    if data_size > n:
        raise TrainError(f"model {model!r}: data_size {data_size} exceeds the {n} training images of {dataset!r}")
    return np.sort(np.random.default_rng(SUBSET_SEED).permutation(n)[:data_size])


@contextmanager
def deterministic(threads: int | None):
    """Deterministic torch algorithms and a fixed thread count, restored afterwards."""
    import torch

    previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])


def _to_float(images: np.ndarray):
    import torch

    return torch.from_numpy(images.astype(np.float32) / 255.0).contiguous(memory_format=torch.channels_last)


def _evaluate(model, images, labels, config: TrainConfig, device, generator_seed: int) -> tuple[float, float | None]:
    """Mean loss and accuracy (None for denoising) on at most EVAL_IMAGES images."""
    import torch
    import torch.nn.functional as F

    images, labels = images[:EVAL_IMAGES], labels[:EVAL_IMAGES]
    generator = torch.Generator().manual_seed(generator_seed)
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(images), 500):
            x = _to_float(images[start : start + 500])
            if config.task == "denoising":
                noisy = x + config.noise_sigma * torch.randn(x.shape, generator=generator)
                out = model(noisy.to(device))
                total_loss += float(F.mse_loss(out, x.to(device), reduction="sum")) / x[0].numel()
            else:
                y = torch.from_numpy(labels[start : start + 500]).to(device)
                out = model(x.to(device))
                total_loss += float(F.cross_entropy(out, y, reduction="sum"))
                correct += int((out.argmax(1) == y).sum())
    n = max(len(images), 1)
    return total_loss / n, (None if config.task == "denoising" else correct / n)


def _state_dict_cpu(model) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


# safetensors metadata key: the conv layers' graph facts, so that a dump needs no torch
LAYOUT_KEY = "filterdb.conv_layout"


def conv_layout(model, config: TrainConfig) -> str:
    """JSON of what the weights alone do not say: the model id, each conv's graph distance,
    groups, stride and dilation, in the model's order, and how the distances were found. The ``train``
    source rebuilds the layers from it and the weights with numpy (no torch, no tracing)."""
    import copy

    from ..sources.torch_graph import convs_from_module

    loaded = convs_from_module(config.model, copy.deepcopy(model).cpu().eval(), input_shape=config.input_shape())
    layers = [
        {"name": c.name, "distance": c.distance, "groups": c.groups, "stride": list(c.stride), "dilation": list(c.dilation)}
        for c in loaded.convs
    ]
    return json.dumps({"model": config.model, "depth_source": loaded.depth_source, "layers": layers}, sort_keys=True)


def checkpoint_path(weights_path: str | os.PathLike) -> Path:
    path = Path(weights_path)
    return path.with_name(f".{path.name.removesuffix('.safetensors')}.ckpt")


def train(
    config: TrainConfig,
    data: Dataset,
    weights_path: str | os.PathLike,
    record_path: str | os.PathLike,
    *,
    device: str | None = None,
    threads: int | None = None,
    after_epoch: Callable[[int], None] | None = None,
    timing_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train (or resume), then write the weights and the record; returns the record.

    The record holds what the training did (settings, curve, final figures), the same
    bytes on every machine and executor; what the run measured (wall and CPU seconds,
    per-epoch seconds, threads) goes to ``timing_path`` (a benchmark file), never into
    the record, from which the model table is made.
    after_epoch(e) is called after epoch e's checkpoint is written (tests use it to
    interrupt a run).
    """
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    started, started_cpu = time.perf_counter(), time.process_time()
    subset = training_subset(data.y_train, config.data_size, config.model, config.dataset)
    x_train, y_train = data.x_train[subset], data.y_train[subset]
    # a fixed evaluation subset of the training images, so curve points are comparable
    eval_train = np.random.default_rng(SUBSET_SEED).permutation(len(subset))[:EVAL_IMAGES]
    steps_per_epoch = math.ceil(len(subset) / config.batch_size)
    total_steps = max(steps_per_epoch * config.epochs, 1)
    ckpt = checkpoint_path(weights_path)

    # deterministic algorithms on CPU only: on CUDA several of them raise instead of running
    with deterministic(threads) if device == "cpu" else nullcontext():
        model = config.build().to(device).to(memory_format=torch.channels_last)
        # Adam with L2 (not decoupled) weight decay: the setting in which filters that stop
        # receiving gradient decay to zero, i.e. where sparse filters appear
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
        )
        curve: list[dict] = []
        first_epoch = 0
        if ckpt.is_file():
            state = torch.load(ckpt, map_location=device, weights_only=True)
            if state.get("config") == json.dumps(config.as_dict(), sort_keys=True) and state.get("dataset_sha256") == data.sha256:
                model.load_state_dict(state["model"])
                optimiser.load_state_dict(state["optimiser"])
                schedule.load_state_dict(state["schedule"])
                curve = json.loads(state["curve"])
                first_epoch = int(state["epoch"]) + 1
                log.info("model %s: resuming after epoch %d from %s", config.model, first_epoch, ckpt)
            else:
                log.info("model %s: checkpoint %s is for other settings; training from scratch", config.model, ckpt)

        for epoch in range(first_epoch, config.epochs):
            epoch_start = time.perf_counter()
            model.train()
            order = np.random.default_rng([config.seed, epoch]).permutation(len(subset))
            noise = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
            running, seen = 0.0, 0
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                x = _to_float(x_train[batch])
                if config.task == "denoising":
                    noisy = x + config.noise_sigma * torch.randn(x.shape, generator=noise)
                    loss = F.mse_loss(model(noisy.to(device)), x.to(device))
                else:
                    loss = F.cross_entropy(model(x.to(device)), torch.from_numpy(y_train[batch]).to(device))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                running += float(loss.detach()) * len(batch)
                seen += len(batch)
            test_loss, test_acc = _evaluate(model, data.x_test, data.y_test, config, device, config.seed)
            point = {"epoch": epoch + 1, "train_loss": running / seen, "test_loss": test_loss,
                     "test_accuracy": test_acc, "seconds": time.perf_counter() - epoch_start}  # fmt: skip
            curve.append(point)
            log.info("model %s epoch %d/%d: %s", config.model, epoch + 1, config.epochs, json.dumps(point))
            with store.atomic_path(ckpt, suffix=".pt") as tmp:
                torch.save(
                    {"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                     "schedule": schedule.state_dict(), "epoch": epoch, "curve": json.dumps(curve),
                     "config": json.dumps(config.as_dict(), sort_keys=True), "dataset_sha256": data.sha256},
                    tmp,
                )  # fmt: skip
            if after_epoch is not None:
                after_epoch(epoch)

        train_loss, train_acc = _evaluate(model, x_train[eval_train], y_train[eval_train], config, device, config.seed + 1)
        if curve:  # the last epoch's evaluation is of these weights, with the same seed
            test_loss, test_acc = curve[-1]["test_loss"], curve[-1]["test_accuracy"]
        else:
            test_loss, test_acc = _evaluate(model, data.x_test, data.y_test, config, device, config.seed)
        state = _state_dict_cpu(model)

        layout = conv_layout(model, config)

    weights_path = Path(weights_path)
    with store.atomic_path(weights_path, suffix=".safetensors") as tmp:
        # one metadata key: safetensors writes a metadata map in no fixed order, and the
        # file's bytes (its sha256 in the record) must be the same on every run
        save_file(state, str(tmp), metadata={LAYOUT_KEY: layout})
    record = {
        "model": config.model,
        "config": config.as_dict(),
        "family": architectures.family(config.architecture),
        "dataset": {"name": config.dataset, "sha256": data.sha256, "visual_category": data.spec.visual_category,
                    "train_images": int(len(subset)), "test_images": int(min(len(data.y_test), EVAL_IMAGES))},
        "curve": [{k: v for k, v in point.items() if k != "seconds"} for point in curve],
        "final": {"train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss, "test_accuracy": test_acc},
        "steps": steps_per_epoch * config.epochs,
        "n_parameters": int(sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))),
        "device": device,
        "torch": torch.__version__,
        "resumed_after_epoch": first_epoch if first_epoch else None,
        "weights_sha256": store.sha256_of(weights_path),
    }  # fmt: skip
    timing = {
        "model": config.model,
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - started_cpu,  # all threads; not inflated by other load
        "epoch_seconds": [point.get("seconds") for point in curve],
        "threads": int(torch.get_num_threads()) if threads is None else int(threads),
        "device": device,
    }
    if timing_path is not None:
        store.write_json_atomic(timing_path, timing)
    store.write_json_atomic(record_path, record)
    ckpt.unlink(missing_ok=True)
    return record


def timing_table(benchmarks: list[str], timings: list[str], records: list[str]):
    """Per-model training time plus a TOTAL row (sums: the zoo run one job at a time).

    wall_s and cpu_s are the benchmark's wall and CPU seconds of the whole job (imports
    included); cpu_s is the figure that other load on the machine does not inflate.

    benchmarks: Snakemake ``benchmark:`` files of the train rule; timings: the timing
    files ``train`` wrote (``timing_path``); records: the matching training records;
    all three in the same order.
    """
    import pandas as pd

    rows = []
    for bench, timing_path, record_path in zip(benchmarks, timings, records):
        measured = pd.read_csv(bench, sep="\t")
        timing = json.loads(Path(timing_path).read_text())
        record = json.loads(Path(record_path).read_text())
        rows.append({
            "model": record["model"], "wall_s": float(measured["s"].iloc[0]),
            "cpu_s": float(measured["cpu_time"].iloc[0]) if "cpu_time" in measured else float("nan"),
            "train_s": float(timing["wall_s"]), "train_cpu_s": float(timing.get("cpu_s", float("nan"))),
            "max_rss_mb": float(measured["max_rss"].iloc[0]),
            "epochs": int(record["config"]["epochs"]), "train_images": int(record["dataset"]["train_images"]),
            "device": timing["device"], "threads": int(timing["threads"]),
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=["model", "wall_s", "cpu_s", "train_s", "train_cpu_s", "max_rss_mb", "epochs", "train_images", "device", "threads"])
    total = {"model": "TOTAL", "wall_s": table["wall_s"].sum(), "cpu_s": table["cpu_s"].sum(), "train_s": table["train_s"].sum(),
             "train_cpu_s": table["train_cpu_s"].sum(),
             "max_rss_mb": table["max_rss_mb"].max() if len(table) else 0.0}  # fmt: skip
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    return table.astype({"epochs": "Int64", "train_images": "Int64", "threads": "Int64"})
