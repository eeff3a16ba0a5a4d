"""Tables for docs/benchmarks.md from benchmarks/results/*.json, with a linear extrapolation.

    .venv/bin/python benchmarks/report.py [--target 1464797156]

For every stage: CPU seconds per filter at each N, and a least-squares line
CPU(N) = a + b·N through the measured points, extrapolated to ``--target`` filters
(the paper's database) on 2 cores. Peak memory is reported per N, to show it is flat.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PAPER = 1_464_797_156


def cpu_bound_s(row: dict, jobs: int) -> float:
    return max(row["cpu_s"] / jobs, row["cpu_s_slowest_job"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=PAPER)
    args = parser.parse_args(argv)
    runs = sorted(
        (json.loads(p.read_text()) for p in (HERE / "results").glob("engine-*.json")), key=lambda r: r["n_filters"]
    )
    if not runs:
        raise SystemExit("no benchmarks/results/engine-*.json: run benchmarks/engine.py first")
    stages = [s["stage"] for s in runs[0]["stages"]]
    ns = [r["n_filters"] for r in runs]
    head = " | ".join(f"N = {n / 1e6:,.0f} M" for n in ns)
    print(f"| stage | {head} | extrapolated to {args.target / 1e9:.2f} G filters, 2 cores |")
    print("| --- |" + " ---: |" * (len(ns) + 1))
    total_target = 0.0
    fixed_target = 0.0
    analysis = ("stats", "basis", "range", "edges", "histograms", "shift")
    for stage in stages:
        cells, xs, ys = [], [], []
        for run in runs:
            row = next(s for s in run["stages"] if s["stage"] == stage)
            bound = cpu_bound_s(row, run["jobs"])
            xs.append(run["n_filters"])
            ys.append(bound)
            cells.append(f"{row['filters'] / bound / 1e6:,.1f} M/s, {row['peak_rss_mb']:.0f} MB")
        if len(xs) > 1:
            slope, intercept = np.polyfit(xs, ys, 1)
        else:
            slope, intercept = ys[0] / xs[0], 0.0
        target = intercept + slope * args.target
        if stage in analysis:
            total_target += target
        if stage in analysis and stage not in ("range", "edges"):
            fixed_target += target
        print(f"| {stage} | " + " | ".join(cells) + f" | {target / 60:,.1f} min |")
    e2e = []
    for run in runs:
        bound = sum(cpu_bound_s(s, run["jobs"]) for s in run["stages"] if s["stage"] in analysis)
        e2e.append(f"{run['n_filters'] / bound / 1e6:,.1f} M/s")
    print(f"| **analysis end to end** ({', '.join(analysis)}) | " + " | ".join(e2e) + f" | **{total_target / 60:,.1f} min** |")
    fixed = tuple(s for s in analysis if s not in ("range", "edges"))  # shift.range fixed in the config
    rates = []
    for run in runs:
        bound = sum(cpu_bound_s(s, run["jobs"]) for s in run["stages"] if s["stage"] in fixed)
        rates.append(f"{run['n_filters'] / bound / 1e6:,.1f} M/s")
    print(f"| analysis with a fixed range ({', '.join(fixed)}) | " + " | ".join(rates) + f" | {fixed_target / 60:,.1f} min |")
    frozen = ("onepass", "shift")  # a frozen basis (basis.from): one read per model, then the shift
    rates = []
    for run in runs:
        rows = [s for s in run["stages"] if s["stage"] in frozen]
        if len(rows) < len(frozen):  # a run from before the one-pass stage
            rates.append("–")
            continue
        rates.append(f"{run['n_filters'] / sum(cpu_bound_s(s, run['jobs']) for s in rows) / 1e6:,.1f} M/s")
    print(f"| analysis with a frozen basis ({', '.join(frozen)}) | " + " | ".join(rates) + " | |")
    wall = " | ".join(f"{r['end_to_end_s']:,.0f} s wall (load {r['load_average'][0]:.0f})" for r in runs)
    print(f"| measured wall time of the analysis | {wall} | |")
    extraction = HERE / "results" / "extraction.json"
    if extraction.exists():
        from extraction import print_table  # beside this script

        print()
        print_table(json.loads(extraction.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
