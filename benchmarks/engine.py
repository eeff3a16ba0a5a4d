"""Benchmark of the analysis engine on a synthetic database of N filters.

    .venv/bin/python benchmarks/engine.py --filters 1e7 [--jobs 2] [--workdir DIR] [--keep]

Writes a database in the project's layout (``filters/{model}.parquet``, one file per
model, written by ``tests/synthetic_db.write_model`` exactly as the dump writes them;
models shaped like ResNet-18/34 and VGG-16, four groups of models drawn from different
filter distributions), then times every stage of the workflow as the workflow runs it:
per-model stages in ``--jobs`` worker processes at a time (as ``snakemake --cores 2``
would), reduce stages in one process. Each worker reports its peak RSS
(``getrusage``), so the memory column is the peak of any one job of that stage.

Stages: write (the synthetic dump, not part of the analysis), read (stream every layer,
nothing else), stats (per-layer statistics and the moment sums in one read: the model
job's statistics step), moments (the moment sums alone), basis (reduce:
PCA from the moment sums), range (per-model coefficient min/max), histograms (per-layer
coefficient histograms), shift (reduce: group sums and D matrices along several axes,
from the stored histograms only), onepass (with a frozen basis, ``basis.from``: the
statistics, the moment sums and the histograms in one read, the model job).

Prints a Markdown table of the stages, then the analysis with the database's own basis
(stats, basis, range, edges, histograms, shift) beside the analysis with a frozen basis
(onepass, shift; the shift reduce is the same step on outputs of the same size), and
writes ``--json`` (default: benchmarks/results/engine-N.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
KINDS = {
    # (out_channels, in_channels) of the 3×3 layers
    "resnet18": [(64, 64)] * 4 + [(128, 64)] + [(128, 128)] * 3 + [(256, 128)] + [(256, 256)] * 3
    + [(512, 256)] + [(512, 512)] * 3,
    "resnet34": [(64, 64)] * 6 + [(128, 64)] + [(128, 128)] * 7 + [(256, 128)] + [(256, 256)] * 11
    + [(512, 256)] + [(512, 512)] * 5,
    "vgg16": [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256),
              (512, 256), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)],
}  # fmt: skip
ANALYSIS = ("stats", "basis", "range", "edges", "histograms", "shift")  # one run of the study
# the same study with ``shift.range`` fixed in the config: no range pass, no edges reduce
FIXED_RANGE = tuple(s for s in ANALYSIS if s not in ("range", "edges"))
# with a frozen basis (``basis.from``): statistics and histograms from one read, then the shift
FROZEN = ("onepass", "shift")
ANALYSES = {"database basis": ANALYSIS, "frozen basis": FROZEN}  # compared side by side
TASKS = ["classification", "segmentation", "detection", "generation"]
CATEGORIES = ["natural", "medical", "artworks", "plants"]


def plan(n_filters: int) -> list[dict]:
    """Models (id, kind, group) until the database holds at least n_filters filters."""
    models, total, kinds = [], 0, list(KINDS)
    while total < n_filters:
        i = len(models)
        kind = kinds[i % len(kinds)]
        models.append({"model": f"m{i:05d}_{kind}", "kind": kind, "group": i % 4})
        total += sum(a * b for a, b in KINDS[kind])
    return models


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads (the machine may be shared)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- per-model jobs


def job(stage: str, root: Path, models: list[dict]) -> dict:
    """Run one stage over some models in this process; returns timings and peak memory."""
    sys.path.insert(0, str(HERE.parent / "tests"))  # the synthetic database of the tests
    import synthetic_db as synthetic

    from filterdb import basis, shift, stats, store

    filters = root / "filters"
    started = time.perf_counter()
    cpu_started = cpu_seconds()
    n = 0
    if stage in ("range", "histograms", "onepass"):
        b = store.read_basis(root / "basis.json")
    if stage in ("histograms", "onepass"):
        edges = store.read_bin_edges(root / "edges.json")
    for m in models:
        path = filters / f"{m['model']}.parquet"
        if stage == "write":
            info = synthetic.write_model(path, m["model"], KINDS[m["kind"]], seed=1, group=m["group"])
            n += info["n_filters"]
        elif stage == "read":
            for _, kernels, _ in store.iter_layer_kernels(path, check_finite=False):
                n += kernels.shape[0]
        elif stage == "stats":
            table = stats.write_layer_stats(
                path, root / "layers" / f"{m['model']}.parquet", m["model"], moments_path=root / "moments" / f"{m['model']}.npz"
            )
            n += sum(table.column("n_filters").to_pylist())
        elif stage == "onepass":  # a model job's one pass with a frozen basis
            table = stats.write_layer_stats(
                path, root / "layers1" / f"{m['model']}.parquet", m["model"],
                moments_path=root / "moments1" / f"{m['model']}.npz",
                histograms_path=root / "hist1" / f"{m['model']}.parquet", binning=(b, edges),
            )  # fmt: skip
            n += sum(table.column("n_filters").to_pylist())
        elif stage == "moments":
            total = basis.moments(path)
            store.save_moments(total, root / "moments_only" / f"{m['model']}.npz")
            n += int(total["count"])
        elif stage == "range":
            low, high = basis.coefficient_range(path, b)
            store.write_range(root / "range" / f"{m['model']}.json", low, high)
            n += store.filters_metadata(path)[0]["n_filters"]
        elif stage == "histograms":
            table = store.histograms_table(*shift.model_histograms(path, b, edges))
            store.write_table(table, root / "hist" / f"{m['model']}.parquet", store.file_metadata(m["model"]))
            n += int(table.column("n_filters").to_numpy().sum())
        else:
            raise ValueError(stage)
    return {"seconds": time.perf_counter() - started, "cpu_s": cpu_seconds() - cpu_started, "filters": n, "peak_rss_mb": peak_rss_mb()}


def run_parallel(stage: str, root: Path, models: list[dict], jobs: int) -> dict:
    """Run a per-model stage in ``jobs`` worker processes (models dealt round-robin by size)."""
    order = sorted(models, key=lambda m: -sum(a * b for a, b in KINDS[m["kind"]]))
    shares = [order[i::jobs] for i in range(jobs)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    started = time.perf_counter()
    procs = []
    for share in shares:
        if not share:
            continue
        spec = json.dumps({"stage": stage, "root": str(root), "models": share})
        procs.append(
            subprocess.Popen([sys.executable, __file__, "--job", spec], stdout=subprocess.PIPE, env=env, text=True)
        )
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"stage {stage}: a worker failed with exit code {proc.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    return {
        "stage": stage,
        "wall_s": wall,
        "filters": sum(r["filters"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "busy_s": sum(r["seconds"] for r in results),
        "cpu_s": sum(r["cpu_s"] for r in results),
        "cpu_s_slowest_job": max(r["cpu_s"] for r in results),
    }


# ---------------------------------------------------------------- reduce steps


def reduce_step(stage: str, root: Path, models: list[dict], n_filters: int) -> dict:
    """Run a reduce step in a fresh process (for its own peak RSS)."""
    spec = json.dumps({"stage": stage, "root": str(root), "models": models})
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--reduce", spec], stdout=subprocess.PIPE, env=env, text=True, check=True)
    wall = time.perf_counter() - started
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"stage": stage, "wall_s": wall, "filters": n_filters, "peak_rss_mb": result["peak_rss_mb"],
            "busy_s": result["seconds"], "cpu_s": result["cpu_s"], "cpu_s_slowest_job": result["cpu_s"],
            "detail": result.get("detail")}  # fmt: skip


def reduce(stage: str, root: Path, models: list[dict]) -> dict:
    import pandas as pd

    from filterdb import basis, shift, store

    started = time.perf_counter()
    cpu_started = cpu_seconds()
    detail = None
    if stage == "basis":
        b = basis.basis_from_moments(store.load_moments(root / "moments" / f"{m['model']}.npz") for m in models)
        store.write_basis(root / "basis.json", b)
        detail = {"evr": np.round(b["explained_variance_ratio"], 4).tolist()}
    elif stage == "edges":
        ranges = [store.read_range(root / "range" / f"{m['model']}.json") for m in models]
        store.write_bin_edges(root / "edges.json", shift.pooled_edges("paper", ranges, 70), "paper")
    elif stage == "shift":
        evr = store.read_basis(root / "basis.json")["explained_variance_ratio"]
        edges = store.read_bin_edges(root / "edges.json")
        layers = pd.concat([store.read_layers(root / "layers" / f"{m['model']}.parquet") for m in models])
        info = pd.DataFrame(models).assign(
            task=lambda f: [TASKS[g] for g in f["group"]], visual_category=lambda f: [CATEGORIES[(g + 1) % 4] for g in f["group"]]
        )
        joined = layers.merge(info, on="model")
        histograms = {m["model"]: store.read_histograms(root / "hist" / f"{m['model']}.parquet") for m in models}
        loaded = time.perf_counter() - started
        axes = {
            "task": ("task", None),
            "visual_category": ("visual_category", None),
            "depth_decile": ("depth_decile", None),
            "kind": ("kind", None),
            "visual_category_first_decile": ("visual_category", {"depth_decile": 0}),
            "model": ("model", None),
        }
        detail = {"load_s": round(loaded, 3)}
        for name, (column, where) in axes.items():
            t0 = time.perf_counter()
            sums, _ = shift.group_histograms(joined, histograms, column, where, min_filters=1000)
            matrix = shift.shift_matrix(sums, evr, edges)
            detail[name] = {"groups": len(sums), "seconds": round(time.perf_counter() - t0, 4)}
            if name == "task":
                detail["task_matrix"] = matrix.round(5).to_dict()
    return {"seconds": time.perf_counter() - started, "cpu_s": cpu_seconds() - cpu_started, "peak_rss_mb": peak_rss_mb(), "detail": detail}


# ---------------------------------------------------------------- driver


def benchmark(n_filters: int, jobs: int, workdir: Path, keep: bool) -> dict:
    models = plan(n_filters)
    root = Path(tempfile.mkdtemp(prefix=f"filterdb-bench-{n_filters:.0e}-", dir=workdir))
    for sub in ("filters", "layers", "moments", "moments_only", "range", "hist", "layers1", "moments1", "hist1"):
        (root / sub).mkdir()
    total = sum(sum(a * b for a, b in KINDS[m["kind"]]) for m in models)
    print(f"# {len(models)} models, {sum(len(KINDS[m['kind']]) for m in models)} layers, {total:,} filters in {root}", file=sys.stderr)
    rows = []
    try:
        for stage in ("write", "read", "stats", "moments", "basis", "range", "edges", "histograms", "shift", "onepass"):
            if stage in ("basis", "edges", "shift"):
                row = reduce_step(stage, root, models, total)
            else:
                row = run_parallel(stage, root, models, jobs)
            row["filters_per_s"] = row["filters"] / row["wall_s"]
            rows.append(row)
            print(
                f"{stage:>10}: {row['wall_s']:8.2f} s  {row['filters_per_s'] / 1e6:8.1f} M filters/s  "
                f"peak {row['peak_rss_mb']:8.0f} MB",
                file=sys.stderr,
                flush=True,
            )
        disk = sum(p.stat().st_size for p in (root / "filters").iterdir())
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    analysis = [r for r in rows if r["stage"] in ANALYSIS]
    end_to_end = sum(r["wall_s"] for r in analysis)
    analyses = {name: summary(rows, stages, total, jobs) for name, stages in ANALYSES.items()}
    return {
        "n_filters": total,
        "models": len(models),
        "layers": sum(len(KINDS[m["kind"]]) for m in models),
        "jobs": jobs,
        "cpus": os.cpu_count(),
        "filters_bytes": disk,
        "stages": rows,
        "end_to_end_s": end_to_end,
        "end_to_end_filters_per_s": total / end_to_end,
        "analyses": analyses,
        "load_average": os.getloadavg(),
    }


def cpu_bound_s(row: dict, jobs: int) -> float:
    """Seconds the stage needs on ``jobs`` idle cores: its CPU time spread over the jobs,
    or its slowest job's, whichever is longer (the machine may be shared while measuring)."""
    return max(row["cpu_s"] / jobs, row["cpu_s_slowest_job"])


def summary(rows: list[dict], stages: tuple, n_filters: int, jobs: int) -> dict:
    """One analysis (its stages, run one after the other): wall time, CPU-bound time and
    throughput on ``jobs`` cores, and the peak RSS of any of its jobs."""
    chosen = [r for r in rows if r["stage"] in stages]
    bound = sum(cpu_bound_s(r, jobs) for r in chosen)
    return {
        "stages": list(stages),
        "wall_s": sum(r["wall_s"] for r in chosen),
        "cpu_bound_s": bound,
        "filters_per_s_cpu_bound": n_filters / bound,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in chosen),
    }


def comparison(result: dict) -> str:
    """The database-basis and frozen-basis analyses of one run, side by side."""
    lines = [
        f"| analysis (N = {result['n_filters']:,}) | stages | M filters/s (CPU-bound, {result['jobs']} cores) "
        "| wall s | peak RSS of a job (MB) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, a in result["analyses"].items():
        lines.append(
            f"| {name} | {', '.join(a['stages'])} | {a['filters_per_s_cpu_bound'] / 1e6:.1f} | "
            f"{a['wall_s']:.1f} | {a['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def markdown(result: dict) -> str:
    jobs = result["jobs"]
    lines = [
        f"N = {result['n_filters']:,} filters, {result['models']} models, {result['layers']} layers, "
        f"{jobs} jobs on {result['cpus']} CPUs, {result['filters_bytes'] / 2**30:.2f} GiB of Parquet, "
        f"load average at the end {result['load_average'][0]:.1f}",
        "",
        "| stage | wall s | M filters/s (wall) | CPU s | ns CPU / filter | M filters/s (CPU-bound, "
        f"{jobs} cores) | peak RSS of a job (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    analysis_cpu = 0.0
    for row in result["stages"]:
        bound = cpu_bound_s(row, jobs)
        if row["stage"] in ANALYSIS:
            analysis_cpu += bound
        lines.append(
            f"| {row['stage']} | {row['wall_s']:.2f} | {row['filters_per_s'] / 1e6:.1f} | {row['cpu_s']:.2f} | "
            f"{row['cpu_s'] / row['filters'] * 1e9:.0f} | {row['filters'] / max(bound, 1e-9) / 1e6:.1f} | "
            f"{row['peak_rss_mb']:.0f} |"
        )
    lines.append(
        f"| **analysis end to end** ({', '.join(ANALYSIS)}) | {result['end_to_end_s']:.2f} | "
        f"{result['end_to_end_filters_per_s'] / 1e6:.1f} | | | {result['n_filters'] / analysis_cpu / 1e6:.1f} | |"
    )
    fixed = [r for r in result["stages"] if r["stage"] in FIXED_RANGE]
    lines.append(
        f"| analysis with a fixed range ({', '.join(FIXED_RANGE)}) | {sum(r['wall_s'] for r in fixed):.2f} | "
        f"{result['n_filters'] / sum(r['wall_s'] for r in fixed) / 1e6:.1f} | | | "
        f"{result['n_filters'] / sum(cpu_bound_s(r, jobs) for r in fixed) / 1e6:.1f} | |"
    )
    frozen = [r for r in result["stages"] if r["stage"] in FROZEN]
    if len(frozen) == len(FROZEN):
        lines.append(
            f"| analysis with a frozen basis ({', '.join(FROZEN)}) | {sum(r['wall_s'] for r in frozen):.2f} | "
            f"{result['n_filters'] / sum(r['wall_s'] for r in frozen) / 1e6:.1f} | | | "
            f"{result['n_filters'] / sum(cpu_bound_s(r, jobs) for r in frozen) / 1e6:.1f} | |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filters", type=float, default=1e7, help="N, filters in the database (default 1e7)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="per-model jobs at a time")
    parser.add_argument("--workdir", type=Path, default=None, help="where the database is written (a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--reduce", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job or args.reduce:
        spec = json.loads(args.job or args.reduce)
        fn = job if args.job else reduce
        print(json.dumps(fn(spec["stage"], Path(spec["root"]), spec["models"])))
        return 0
    result = benchmark(int(args.filters), args.jobs, args.workdir, args.keep)
    out = args.json or HERE / "results" / f"engine-{int(args.filters):.0e}.json".replace("+", "")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(markdown(result))
    print()
    print(comparison(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
