"""A living database: a frozen basis file (basis.from) makes statistics and histograms one
read per model, gives the same histograms as the database-basis path, and adding a model
to a finished build schedules only that model's jobs and the reduce steps."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

import synthetic_db as synthetic
from filterdb import basis, shift, stats, store
from filterdb.workflow_inputs import model_bucket
from workflow_helpers import copy_workflow, snakemake

SHAPES = {"m1": [(16, 8), (32, 16)], "m2": [(32, 32)], "m3": [(16, 16), (8, 8)], "m4": [(24, 16)]}
HEADER = "model\tsource\treference\tarchitecture\tfamily\ttask\tvisual_category\ttraining_dataset\tpretrained\n"


def sheet_row(model: str, group: int) -> str:
    task = ("classification", "segmentation")[group % 2]
    return f"{model}\tparquet\tfilters/{model}.parquet\tnet{group}\tNet\t{task}\tnatural\tset{group}\ttrue\n"


def write_project(work, models):
    (work / "filters").mkdir(exist_ok=True)
    for i, model in enumerate(models):
        if (work / "filters" / f"{model}.parquet").exists():
            continue  # an existing file keeps its bytes and its time stamp
        synthetic.write_model(work / "filters" / f"{model}.parquet", model, SHAPES[model], seed=i, group=i % 2)
    (work / "config" / "tiny.tsv").write_text(HEADER + "".join(sheet_row(m, i) for i, m in enumerate(models)))


def tiny_config(work, frozen=None):
    text = (
        "sheets: [config/tiny.tsv]\n"
        "shift:\n  min_group_filters: 10\n  axes:\n    task: {column: task}\n    depth_decile: {column: depth_decile}\n"
        "figures:\n  group_comparison: {}\n"
        "experiments: {transfer: null, degeneracy: null}\n"
    )
    if frozen:
        text += f"basis:\n  from: {frozen}\n"
    (work / "config" / "tiny.yaml").write_text(text)
    return "config/tiny.yaml"


def test_one_pass_gives_the_histograms_of_two(tmp_path):
    """stats.scan with a frozen basis: the same layer table, and the same histogram counts as
    shift.model_histograms (the separate histogram pass)."""
    path = tmp_path / "m.parquet"
    synthetic.write_model(path, "m", [(16, 8), (32, 32), (8, 4)], seed=3)
    b = basis.basis_from_moments([basis.moments(path)])
    edges = shift.range_edges("paper", *basis.coefficient_range(path, b), 70)
    table, total, histograms = stats.scan(path, "m", binning=(b, edges))
    alone, _ = synthetic.scan_table(path, "m")
    assert table.equals(alone)
    for got, expected in zip(histograms, shift.model_histograms(path, b, edges)):
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("row_group_size", [None, 37])
def test_joint_counts_of_the_histogram_pass_equal_the_separate_read(tmp_path, row_group_size):
    """The c0–c1 joint counts written by the histogram pass (histograms rule) and by the
    frozen-basis stats pass (layer_stats) have the bytes of plots.data.joint_counts' table."""
    import pyarrow.parquet as pq

    from filterdb.plots.data import joint_counts

    path = tmp_path / "m.parquet"
    synthetic.write_model(path, "m", [(16, 8), (32, 32), (8, 4)], seed=3)
    if row_group_size:
        pq.write_table(store.open_filters(path).read(), tmp_path / "c.parquet", row_group_size=row_group_size)
        path = tmp_path / "c.parquet"
    b = basis.basis_from_moments([basis.moments(path)])
    low, high = basis.coefficient_range(path, b)
    # a range narrower than the data: filters outside it in c0 or c1 are not counted
    edges = shift.range_edges("paper", low * 0.6, high * 0.6, 70)
    expected = joint_counts(path, b, edges, (0, 1))
    assert 0 < expected.sum() < 16 * 8 + 32 * 32 + 8 * 4  # some filters are outside
    joint = shift.JointCounter(edges, (0, 1))
    histograms = shift.model_histograms(path, b, edges, joint)
    assert np.array_equal(joint.counts, expected)
    for got, alone in zip(histograms, shift.model_histograms(path, b, edges)):
        assert np.array_equal(got, alone)
    stats.write_layer_stats(path, tmp_path / "l.parquet", "m", moments_path=tmp_path / "m.npz",
                            histograms_path=tmp_path / "h.parquet", binning=(b, edges),
                            joint_path=tmp_path / "joint.parquet")  # fmt: skip
    store.write_table(store.joint_table(expected), tmp_path / "alone.parquet", store.file_metadata("m"))
    assert (tmp_path / "joint.parquet").read_bytes() == (tmp_path / "alone.parquet").read_bytes()


def test_basis_file_round_trip_and_refuses_an_edited_file(tmp_path):
    path = tmp_path / "m.parquet"
    synthetic.write_model(path, "m", [(16, 8)], seed=1)
    b = basis.basis_from_moments([basis.moments(path)])
    b["models"] = ["m"]
    edges = shift.range_edges([-2.0, 2.0], None, None, 10)
    record = store.basis_file(b, edges, [-2.0, 2.0])
    store.write_json_atomic(tmp_path / "basis_file.json", record)
    back, back_edges, _ = store.read_basis_file(tmp_path / "basis_file.json")
    assert np.array_equal(back["components"], b["components"]) and np.array_equal(back_edges, edges)
    assert back["models"] == ["m"] and back["n_filters"] == 128
    record["mean"][0] += 1e-9
    (tmp_path / "edited.json").write_text(json.dumps(record))
    with pytest.raises(store.DataError, match=r"basis.from: .*edited.json: its content does not match its sha256"):
        store.read_basis_file(tmp_path / "edited.json")
    with pytest.raises(store.DataError, match=r"basis.from: .*nothere.json: no such file"):
        store.read_basis_file(tmp_path / "nothere.json")


def planned_jobs(result) -> list[tuple[str, str]]:
    """(rule, model wildcard or '') of every job of a dry run's output."""
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if match:
            rule = match.group(1)
            jobs.append((rule, ""))
        elif rule and line.strip().startswith("wildcards:"):
            model = re.search(r"model=([^,\s]+)", line)
            if model:
                jobs[-1] = (rule, model.group(1))
    return jobs


@pytest.mark.slow
def test_adding_a_model_with_a_frozen_basis_costs_that_model(tmp_path):
    # a first build with the database's own basis writes the basis file
    first = copy_workflow(tmp_path / "first")
    write_project(first, ["m1", "m2", "m3"])
    histograms = [f"results/hist/{m}.parquet" for m in ("m1", "m2", "m3")]
    snakemake(first, "results/basis/basis_file.json", *histograms, "--cores", "2", "--configfile", tiny_config(first))
    frozen = tmp_path / "basis_file.json"
    shutil.copy(first / "results" / "basis" / "basis_file.json", frozen)
    # a second database on that frozen basis: no basis, range or histogram jobs
    work = copy_workflow(tmp_path / "second")
    write_project(work, ["m1", "m2", "m3"])
    config = tiny_config(work, frozen)
    planned = {rule for rule, _ in planned_jobs(snakemake(work, "-n", "--configfile", config))}
    assert "frozen_basis" in planned and not planned & {"basis", "bin_edges"}
    assert not any(rule.startswith(("model_range_", "histograms_")) for rule in planned), planned
    snakemake(work, "--cores", "2", "--configfile", config)
    # histograms from the one pass equal those of the first build's separate pass
    for path in histograms:
        a, b = store.read_histograms(first / path), store.read_histograms(work / path)
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), path
    # add one model: only its own jobs and the reduce steps are planned
    write_project(work, ["m1", "m2", "m3", "m4"])
    jobs = planned_jobs(snakemake(work, "-n", "--configfile", config))
    per_model = {(rule, model) for rule, model in jobs if model}
    assert {model for _, model in per_model} == {"m4"}, sorted(per_model)
    assert per_model in ({("model", "m4")}, {("imported_model", "m4")}), per_model
    reduce_steps = {rule for rule, model in jobs if not model}
    # its card: the job of its bucket of models, which redraws that bucket's few cards only
    assert {rule for rule in reduce_steps if rule.startswith("model_cards_")} == {f"model_cards_{model_bucket('m4')}"}
    assert not reduce_steps & {"frozen_basis", "basis", "bin_edges"}
    assert {"model_table", "layer_table", "shift"} <= reduce_steps
