"""The figures and the report as a user meets them, on the smoke config: every figure is
a target that rebuilds alone with the same bytes, touching one model rebuilds only what
depends on it, and the report opens in headless Chromium (screenshot kept as artifact)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from filterdb.workflow_inputs import model_bucket, model_buckets
from workflow_helpers import ROOT, copy_workflow, snakemake

pytestmark = pytest.mark.slow

CONFIG = "config/smoke.yaml"
SMOKE_SHEETS = [ROOT / s for s in yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())["sheets"]]
MODELS = sorted(pd.concat([pd.read_csv(p, sep="\t", comment="#") for p in SMOKE_SHEETS])["model"])
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("FILTERDB_TEST_ARTIFACTS", ROOT / "results" / "test-artifacts"))


def figure_names() -> list[str]:
    """Figure names the smoke config promises (the default config merged with smoke.yaml)."""
    default = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    smoke = yaml.safe_load((ROOT / CONFIG).read_text())
    axes = sorted({**default["shift"]["axes"], **smoke["shift"]["axes"]})
    comparisons = sorted({**default["figures"]["group_comparison"], **smoke["figures"]["group_comparison"]})
    return [
        "basis", "coefficients", "joint_c0_c1", *(f"shift_{a}" for a in axes), "shift_summary", "first_filters",
        "degeneracy_by_depth", "degenerated_models", *(f"groups_{c}" for c in comparisons),
    ]  # fmt: skip


# DAG questions are asked by modification time: code provenance (a `code` param hashing
# filterdb's modules) would otherwise rerun everything whenever the library is edited.
MTIME = ("--rerun-triggers", "mtime")


def job_counts(stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    block = stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    counts: dict[str, int] = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", block, re.M):
        rule = re.sub(r"_\d\d$", "", m.group(1))  # the jobs of a bucket of models (histograms_07)
        counts[rule] = counts.get(rule, 0) + int(m.group(2))
    return counts


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("figures"))
    snakemake(work, "--cores", "2", "--configfile", CONFIG)
    return work


def test_every_figure_card_and_table_is_built(run):
    for name in figure_names():
        for suffix in (".pdf", ".png", ".notes.rst"):
            assert (run / f"results/figures/{name}{suffix}").stat().st_size > 50, name + suffix
        width, height = Image.open(run / f"results/figures/{name}.png").size
        assert 500 <= width <= 3000 and 250 <= height <= 6000, (name, width, height)
    for model in MODELS:
        assert Image.open(run / f"results/cards/{model}.png").size[0] >= 900, model
    summary = (run / "results/report/summary.rst").read_text()
    models = pd.read_parquet(run / "results/db/models.parquet")
    assert f"**{len(models)} models** ({(models['n_filters'] > 0).sum()} with 3×3 convolutions)" in summary
    # the smoke config trains a zoo, so the opening page lists the findings, one line a claim
    assert "Findings\n--------" in summary and "<table" not in summary
    findings = pd.read_csv(run / "results/findings.tsv", sep="\t")
    assert all(statement in summary for statement in findings["statement"]), findings["statement"].tolist()
    assert "<table" in (run / "results/report/models.html").read_text()


def test_each_figure_rebuilds_alone_by_path(run):
    targets = [f"results/figures/{name}.pdf" for name in figure_names()] + [f"results/cards/{m}.png" for m in MODELS]
    result = snakemake(run, "-n", *MTIME, "--force", *targets, "--configfile", CONFIG)  # --configfile takes several values
    counts = job_counts(result.stdout)
    upstream = {"model", "imported_model", "basis", "histograms", "shift",
                "model_table", "layer_table", "model_range", "bin_edges"}
    assert not upstream & set(counts), counts
    # one job per figure, but one for the shift figures (every axis and the summary) and one
    # for every group comparison, and the cards by the jobs of their buckets of models
    assert counts.pop("model_cards") == len(model_buckets(MODELS)), counts
    sets = {"figure_shift": "shift_", "figure_group_comparison": "groups_"}
    in_sets = [n for n in figure_names() if n.startswith(tuple(sets.values()))]
    assert all(counts.pop(rule) == 1 for rule in sets), counts
    assert sum(counts.values()) == len(targets) - len(MODELS) - len(in_sets), counts


def test_a_rebuilt_figure_has_the_same_bytes(run):
    paths = ["results/figures/basis.pdf", "results/figures/basis.png", "results/figures/shift_depth_decile.pdf",
             "results/figures/shift_depth_decile.png", "results/cards/smoke_resnet18_s0.png"]
    before = {p: (run / p).read_bytes() for p in paths}
    for path in ("results/figures/basis.pdf", "results/figures/shift_depth_decile.pdf", "results/cards/smoke_resnet18_s0.png"):
        (run / path).unlink()
    card_job = f"model_cards_{model_bucket('smoke_resnet18_s0')}"
    snakemake(run, "--cores", "2", *MTIME, "--allowed-rules", "figure_basis", "figure_shift", card_job,
              "--configfile", CONFIG, "--", "results/figures/basis.pdf", "results/figures/shift_depth_decile.pdf",
              "results/cards/smoke_resnet18_s0.png")
    for path in paths:
        assert (run / path).read_bytes() == before[path], f"{path}: a rebuild changed its bytes"


def test_touching_one_models_filters_rebuilds_only_what_depends_on_it(run):
    touched = run / "results/filters/smoke_resnet18_s0.parquet"
    stat = touched.stat()
    try:
        # newer than every output of the build (one that wrote this file a minute earlier)
        newest = max(p.stat().st_mtime for p in (run / "results").rglob("*") if p.is_file())
        os.utime(touched, (stat.st_atime, newest + 60))
        result = snakemake(run, "-n", *MTIME, "--configfile", CONFIG)
    finally:
        os.utime(touched, (stat.st_atime, stat.st_mtime))
    counts = job_counts(result.stdout)
    # the file is its model job's own output: the job that wrote it does not rerun, nor the
    # model's card (drawn from that job's other files); the database's tables do
    assert "model" not in counts and "model_cards" not in counts, counts
    assert counts["model_table"] == 1 and counts["histograms"] >= 1, counts
    assert re.search(r"output: .*results/hist/smoke_resnet18_s0\.parquet", result.stdout)


@pytest.fixture(scope="module")
def report(run):
    snakemake(run, "--configfile", CONFIG, "--report", "results/report.html")
    return run / "results/report.html"


def test_report_is_one_self_contained_file_with_the_opening_page(report):
    html = report.read_text()
    assert report.stat().st_size > 100_000
    assert "Size by source" in html and "Findings" in html
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", html), "external resources"
    for category in ("1. Basis and coefficients", "2. Shift", "3. Degeneracy", "4. Group comparison",
                     "5. Model cards", "6. Tables"):
        assert category in html, category
    assert "System Message" not in html and "Undefined substitution" not in html


def test_each_figure_of_a_set_has_its_own_caption(run, report):
    """The shift figures (and the group comparisons) are drawn by one job, which writes each
    figure's caption: the report shows each with its own axis and its own notes."""
    html = report.read_text()
    for name in figure_names():
        caption = run / f"results/figures/{name}.caption.rst"
        if not name.startswith(("shift_", "groups_")):
            assert not caption.exists(), name
            continue
        text = caption.read_text()
        assert "{{" not in text and f"results/figures/{name}.notes.rst" in text, name
        if name == "shift_summary":
            assert "spread of the pairwise shifts" in text
        elif name.startswith("shift_"):
            assert f"results/shift/{name.removeprefix('shift_')}.tsv" in text, name
        else:
            assert re.search(rf"comparison\s+``{name.removeprefix('groups_')}``", text), name
    notes = [(run / f"results/figures/{n}.notes.rst").read_text() for n in figure_names() if n.startswith("shift_")]
    assert len(set(notes)) == len(notes)  # each figure's own notes
    for name in figure_names():
        if name.startswith("shift_") and name != "shift_summary":
            assert f"results/shift/{name.removeprefix('shift_')}.tsv" in html, name


def test_report_opens_in_headless_chromium(report, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report_first_page.png"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
        "--window-size=1400,1000", "--virtual-time-budget=8000", "--hide-scrollbars",
    ]  # fmt: skip
    shot = subprocess.run([CHROMIUM, *flags, f"--screenshot={screenshot}", report.as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert shot.returncode == 0, shot.stderr[-3000:]
    console = [line for line in shot.stderr.splitlines() if ":CONSOLE" in line and "tailwindcss.com" not in line]
    assert not [line for line in console if re.search(r"Uncaught|Error|Failed", line)], console
    pixels = np.asarray(Image.open(screenshot).convert("L"))
    assert pixels.shape == (1000, 1400) and pixels.std() > 10, "a blank screenshot"
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert "Size by source" in dom.stdout and f"{len(MODELS)} models" in dom.stdout, "the opening page did not render"

    # a figure's page: its category in the menu and its caption with the notes (what a click shows)
    figure = "results/figures/shift_depth_decile.png"
    click = (f'<script>setTimeout(function(){{app.showCategory("2. Shift");}},1000);'
             f'setTimeout(function(){{app.showResultInfo("{figure}");}},2000);</script></body>')
    html = report.read_text()
    page = tmp_path / "figure_page.html"
    page.write_text(html[: html.rindex("</body>")] + click + html[html.rindex("</body>") + len("</body>"):])
    shot = subprocess.run([CHROMIUM, *flags, f"--screenshot={ARTIFACTS / 'report_figure_page.png'}", page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    console = [line for line in shot.stderr.splitlines() if ":CONSOLE" in line and "tailwindcss.com" not in line]
    assert shot.returncode == 0 and not console, console or shot.stderr[-3000:]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    assert "How to read it." in dom.stdout and "Groups drawn (10 of 10," in dom.stdout, "the caption did not render"


def test_report_opening_text_leaves_the_rule_graph_its_space(report, tmp_path):
    """At 1400×1000 the opening text (left column) ends left of the rule graph (no table or
    line of it runs under the graph) and starts inside the window (measured in the browser,
    written into the DOM)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    measure = ("<script>setTimeout(function(){var g=document.getElementById('rulegraph');"
               "var p=document.querySelector('.prose');var right=0;"
               "var top=1e9;p.querySelectorAll('*').forEach(function(x){var r=x.getBoundingClientRect();"
               "right=Math.max(right,r.right);top=Math.min(top,r.top);});"
               "document.title='LAYOUT '+Math.round(right)+' '+"
               "Math.round(g.getBoundingClientRect().left)+' '+g.getBoundingClientRect().width+' '+"
               "Math.round(top);},6000);</script></body>")
    html = report.read_text()
    page = tmp_path / "measured.html"
    page.write_text(html[: html.rindex("</body>")] + measure + html[html.rindex("</body>") + len("</body>"):])
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000", "--virtual-time-budget=8000"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    found = re.search(r"LAYOUT (\d+) (\d+) ([\d.]+) (-?\d+)", dom.stdout)
    assert found, dom.stderr[-2000:]
    text_right, graph_left, graph_width, text_top = int(found[1]), int(found[2]), float(found[3]), int(found[4])
    assert graph_width > 100 and text_right <= graph_left, (text_right, graph_left)
    # the column is centred vertically: a text taller than the window would lose its top
    assert text_top >= 0, text_top


def test_report_before_the_run_names_the_missing_figure(tmp_path):
    work = copy_workflow(tmp_path)
    result = snakemake(work, "--configfile", CONFIG, "--report", "report.html", check=False)
    assert result.returncode != 0
    assert "marked for report but does not exist" in result.stdout + result.stderr
