"""Pre-training, pruning and fine-tuning: one seeded, resumable step loop.

The loop (:func:`fit`) is the zoo's recipe counted in steps rather than epochs (so a
source of 1,000 and one of 60,000 images get the same compute): Adam with L2 weight
decay, a cosine schedule, batch order of pass p from numpy's generator seeded with
(seed, p). No other randomness is drawn, so a run resumed from its step checkpoint
(``.{name}.ckpt`` beside the weights, every ``SAVE_EVERY`` steps) gives the same bytes as
an uninterrupted one; CPU runs use torch's deterministic algorithms.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ... import store
from .. import architectures
from ..train import checkpoint_path, deterministic
from . import data as exp_data
from .design import Checkpoint, Design
from .pruning import prune_filters

log = logging.getLogger(__name__)

SAVE_EVERY = 100  # steps between resume checkpoints
N_CLASSES = 10  # every source and target of the zoo has at most 10 classes


def build(design: Design, checkpoint: Checkpoint, seed: int):
    """The checkpoint's freshly initialised module (seeded: the same for the same seed)."""
    import torch

    torch.manual_seed(seed)
    return architectures.build(design.settings["architecture"], width=checkpoint.width, depth=design.settings["depth"],
                               in_channels=1, n_classes=N_CLASSES, image_size=design.settings["image_size"])  # fmt: skip


def replace_head(model, n_classes: int, seed: int):
    """A new, seeded linear classifier in place of the model's last Linear layer."""
    import torch
    import torch.nn as nn

    parent, name = None, None
    for module in model.modules():
        for child_name, child in module.named_children():
            if isinstance(child, nn.Linear):
                parent, name = module, child_name
    if parent is None:
        raise ValueError("the model has no Linear classifier to replace")
    old = getattr(parent, name)
    torch.manual_seed(seed)
    setattr(parent, name, nn.Linear(old.in_features, n_classes))
    return model


def fit(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    resume_path: str | os.PathLike,
    fingerprint: str,
    device: str = "cpu",
    after_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place for ``steps`` steps on float images x (N, C, H, W), labels y.

    ``fingerprint`` (settings and data) must match for a resume checkpoint to be used.
    Returns {"train_loss": mean loss of the last pass of batches, "resumed_at": step or None}.
    """
    import torch
    import torch.nn.functional as F

    n = len(y)
    batch_size = min(batch_size, n)
    per_pass = math.ceil(n / batch_size)
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1))))
    resume_path = Path(resume_path)
    step, resumed, losses = 0, None, []
    if resume_path.is_file():
        state = torch.load(resume_path, map_location=device, weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            schedule.load_state_dict(state["schedule"])
            step = resumed = int(state["step"])
            losses = json.loads(state["losses"])
            log.info("resuming after step %d from %s", step, resume_path)
    x_all, y_all = torch.from_numpy(x), torch.from_numpy(y)
    order = None
    while step < steps:
        pass_index, position = divmod(step, per_pass)
        if order is None or position == 0:
            order = np.random.default_rng([seed, pass_index]).permutation(n)
        batch = torch.from_numpy(order[position * batch_size : (position + 1) * batch_size])
        loss = F.cross_entropy(model(x_all[batch].to(device)), y_all[batch].to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses = (losses + [float(loss.detach())])[-per_pass:]
        step += 1
        if step % SAVE_EVERY == 0 and step < steps:
            with store.atomic_path(resume_path, suffix=".pt") as tmp:
                torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                            "step": step, "losses": json.dumps(losses), "fingerprint": fingerprint}, tmp)  # fmt: skip
        if after_step is not None:
            after_step(step)
    return {"train_loss": float(np.mean(losses)) if losses else None, "resumed_at": resumed}


def state_dict_cpu(model) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_weights(state: dict, path: str | os.PathLike, name: str) -> str:
    from safetensors.torch import save_file

    with store.atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata={"model": name})
    return store.sha256_of(path)


def load_weights(path: str | os.PathLike) -> dict:
    """A safetensors state dict (no code is executed to read it)."""
    from safetensors.torch import load_file

    return load_file(str(path))


def _context(device: str, threads: int | None):
    return deterministic(threads) if device == "cpu" else nullcontext()


def _device(device: str | None) -> str:
    import torch

    return device if device and device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")


def make_checkpoint(
    design: Design,
    checkpoint: Checkpoint,
    seed: int,
    weights_path: str | os.PathLike,
    record_path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike,
    parent_weights: str | os.PathLike | None = None,
    device: str | None = None,
    threads: int | None = None,
    after_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Pre-train (or initialise, or prune the parent of) one checkpoint for one seed; write
    weights then record, atomically; return the record."""
    import torch

    from .robustness import accuracy

    device = _device(device)
    started, started_cpu = time.perf_counter(), time.process_time()
    where = f"checkpoint {checkpoint.name!r} seed {seed}"
    size = design.settings["image_size"]
    record: dict[str, Any] = {"checkpoint": checkpoint.name, "seed": seed, "design": checkpoint.as_dict(), "device": device}
    with _context(device, threads):
        if checkpoint.parent is not None:
            if parent_weights is None:
                raise ValueError(f"{where}: pruning needs the parent's weights")
            state, pruned = prune_filters(load_weights(parent_weights), checkpoint.prune)
            record["pruned_filters"] = pruned
        else:
            model = build(design, checkpoint, seed)
            if checkpoint.steps > 0:
                data = exp_data.load(checkpoint.dataset, cache_dir)
                exclude = None
                if any(checkpoint.dataset in c.targets for c in design.checkpoints.values()):
                    # never pre-train on a target's labelled pool: the fine-tuning images stay unseen
                    exclude = exp_data.label_pool(len(data.y_train), max(design.budgets), where)
                subset = exp_data.source_subset(data.y_train, checkpoint.classes, checkpoint.data_size, exclude, where)
                x = exp_data.resize(data.x_train[subset], size)
                y = data.y_train[subset]
                fingerprint = json.dumps({"design": checkpoint.as_dict(), "seed": seed, "data": data.sha256,
                                          "subset": hashlib.sha256(subset.tobytes()).hexdigest(),
                                          "settings": {k: design.settings[k] for k in ("architecture", "depth", "image_size")}},
                                         sort_keys=True)  # fmt: skip
                result = fit(model, x, y, steps=checkpoint.steps, batch_size=checkpoint.batch_size, lr=checkpoint.lr,
                             weight_decay=checkpoint.weight_decay, seed=seed, resume_path=checkpoint_path(weights_path),
                             fingerprint=fingerprint, device=device, after_step=after_step)  # fmt: skip
                test_keep = data.y_test < (checkpoint.classes or N_CLASSES)
                x_test = exp_data.resize(data.x_test[test_keep][: design.settings["test_images"]], size)
                y_test = data.y_test[test_keep][: design.settings["test_images"]]
                record.update({
                    "dataset_sha256": data.sha256, "visual_category": data.spec.visual_category,
                    "synthetic": data.spec.synthetic, "train_images": int(len(subset)),
                    "pixel_spread": exp_data.pixel_spread(x), "train_loss": result["train_loss"],
                    "source_test_accuracy": accuracy(model, torch.from_numpy(x_test), torch.from_numpy(y_test), device),
                    "resumed_at": result["resumed_at"],
                })  # fmt: skip
            state = state_dict_cpu(model)
    record["weights_sha256"] = save_weights(state, weights_path, f"{checkpoint.name}_s{seed}")
    record["wall_s"] = time.perf_counter() - started
    record["cpu_s"] = time.process_time() - started_cpu
    record["torch"] = torch.__version__
    store.write_json_atomic(record_path, record)
    checkpoint_path(weights_path).unlink(missing_ok=True)
    return record


def finetune(
    design: Design,
    checkpoint: Checkpoint,
    seed: int,
    target: str,
    checkpoint_weights: str | os.PathLike,
    weights_paths: list[str | os.PathLike],
    record_path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Fine-tune one checkpoint (one seed) on one target at every label budget; measure
    clean, Gaussian-noise and FGSM accuracy on the target's test images; write the
    fine-tuned weights (one file per budget, in ``design.budgets`` order) and the record."""
    import torch

    from .robustness import robustness

    device = _device(device)
    started, started_cpu = time.perf_counter(), time.process_time()
    settings, recipe = design.settings, design.settings["finetune"]
    where = f"checkpoint {checkpoint.name!r} seed {seed} target {target!r}"
    data = exp_data.load(target, cache_dir)
    pool = exp_data.label_pool(len(data.y_train), max(design.budgets), where)
    x_pool = exp_data.resize(data.x_train[pool], settings["image_size"])
    y_pool = data.y_train[pool]
    x_test = torch.from_numpy(exp_data.resize(data.x_test[: settings["test_images"]], settings["image_size"]))
    y_test = torch.from_numpy(data.y_test[: settings["test_images"]])
    source_state = load_weights(checkpoint_weights)
    results = []
    with _context(device, threads):
        for budget, weights_path in zip(design.budgets, weights_paths):
            model = build(design, checkpoint, seed)
            model.load_state_dict(source_state)
            replace_head(model, data.spec.n_classes, seed)
            fingerprint = json.dumps({"checkpoint": store.sha256_of(checkpoint_weights), "target": data.sha256, "budget": budget,
                                      "seed": seed, "recipe": recipe}, sort_keys=True)  # fmt: skip
            fitted = fit(model, x_pool[:budget], y_pool[:budget], steps=int(recipe["steps"]), batch_size=int(recipe["batch_size"]),
                         lr=recipe["lr"], weight_decay=recipe["weight_decay"], seed=seed,
                         resume_path=checkpoint_path(weights_path), fingerprint=fingerprint, device=device)  # fmt: skip
            measured = robustness(model, x_test, y_test, settings["noise_sigmas"], settings["fgsm_eps"], seed, device)
            sha = save_weights(state_dict_cpu(model), weights_path, f"{checkpoint.name}_s{seed}_{target}_n{budget}")
            checkpoint_path(weights_path).unlink(missing_ok=True)
            results.append({"budget": budget, "train_loss": fitted["train_loss"], **measured, "weights_sha256": sha})
    record = {"checkpoint": checkpoint.name, "seed": seed, "target": target, "target_sha256": data.sha256,
              "test_images": int(len(y_test)), "recipe": recipe, "results": results, "device": device,
              "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - started_cpu}  # fmt: skip
    store.write_json_atomic(record_path, record)
    return record
