"""CPU seconds and peak memory per rule of a finished build, from its jobs' logs.

    .venv/bin/python benchmarks/rule_usage.py [results/logs]

Every workflow script ends its log with ``job usage: C s CPU, M MB peak`` (exact, from
``getrusage``: user + system of the job's process and its children, interpreter start-up
and imports included; see ``filterdb.runner.usage_line``). This sums them per rule (the
first folder under ``results/logs``, or the log's name for a rule with one job) and prints
a Markdown table, largest CPU first. Jobs that Snakemake runs in its own process (``run:``
rules) and Snakemake's own scheduling are not in it.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

USAGE = re.compile(r"job usage: ([0-9.]+) s CPU, ([0-9]+) MB peak")


def rule_of(log: Path, root: Path) -> str:
    parts = log.relative_to(root).parts
    if parts[0] == "experiments" and len(parts) > 2:
        return f"experiments/{parts[1]}"
    return parts[0] if len(parts) > 1 else log.stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="?", type=Path, default=Path("results/logs"))
    args = parser.parse_args()
    jobs, cpu, peak = defaultdict(int), defaultdict(float), defaultdict(int)
    for log in sorted(args.logs.rglob("*.log")):
        found = USAGE.findall(log.read_text(errors="replace"))
        if found:
            rule = rule_of(log, args.logs)
            jobs[rule] += 1
            cpu[rule] += float(found[-1][0])
            peak[rule] = max(peak[rule], int(found[-1][1]))
    print("| rule | jobs | CPU s | CPU s per job | peak MB of a job |\n| --- | ---: | ---: | ---: | ---: |")
    for rule in sorted(cpu, key=cpu.get, reverse=True):
        print(f"| {rule} | {jobs[rule]} | {cpu[rule]:.0f} | {cpu[rule] / jobs[rule]:.2f} | {peak[rule]} |")
    print(f"| **all** | {sum(jobs.values())} | {sum(cpu.values()):.0f} | | {max(peak.values(), default=0)} |")


if __name__ == "__main__":
    main()
