"""Start-to-finish time of `filterdb inspect` on a ResNet-50-sized checkpoint, one process per run.

    .venv/bin/python benchmarks/inspect_timing.py [--runs 7] [--arch-runs 3]

Writes a timm ``resnet50`` (random init, seed 0; 1,257,472 3×3 filters, 98 MB) to a
``.safetensors`` file in a temp dir, then times whole processes, interleaved so that a
busy machine slows them alike:

- ``numpy``: ``python -c "import numpy"``, the baseline the others are divided by;
- ``inspect``: ``filterdb inspect FILE --json`` (numpy reader, no torch, no timm);
- ``inspect --arch``: ``filterdb inspect FILE --arch resnet50 --json``, the file loaded
  into timm's module for graph depth (the path every safetensors file took before);
- ``inspect --against``: with ``--db PATH`` (a built ``results/db``), the same plus the
  database comparison.

Reports median and min wall time of each, the median ratio to ``numpy`` of the runs of the
same round, and the median CPU time (user + system, from ``getrusage``), which a busy
machine inflates less than wall time. Prints a Markdown table; ``--json`` writes the raw times
(default benchmarks/results/inspect.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILTERDB = str(Path(sys.executable).with_name("filterdb"))


def write_checkpoint(path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c",
         "import sys, timm, torch; from safetensors.torch import save_file; torch.manual_seed(0); "
         "m = timm.create_model('resnet50', pretrained=False); "
         "save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[1])", str(path)],
        check=True,
    )  # fmt: skip


def wall(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--arch-runs", type=int, default=3)
    parser.add_argument("--db", help="a built results/db to time --against too")
    parser.add_argument("--json", default=str(HERE / "results" / "inspect.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "resnet50.safetensors"
        write_checkpoint(checkpoint)
        commands = {
            "numpy": [sys.executable, "-c", "import numpy"],
            "inspect": [FILTERDB, "inspect", str(checkpoint), "--json"],
        }
        if args.db:
            commands["inspect --against"] = [*commands["inspect"], "--against", args.db]
        times: dict[str, list[float]] = {name: [] for name in commands}
        times["inspect --arch"] = []
        cpu: dict[str, list[float]] = {name: [] for name in times}
        start_load = os.getloadavg()
        for round_ in range(args.runs):
            todo = dict(commands)
            if round_ < args.arch_runs:
                todo["inspect --arch"] = [*commands["inspect"], "--arch", "resnet50"]
            for name, command in todo.items():
                seconds, cpu_seconds = wall(command)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
        load = os.getloadavg()
    print(f"load average before {start_load[0]:.1f}, after {load[0]:.1f} (1 min); cores: {os.cpu_count()}")
    print("| process | runs | median wall | min wall | median wall / `import numpy` (same round) | median CPU (user + sys) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, times["numpy"]))
        print(f"| {name} | {len(values)} | {statistics.median(values):.3f} s | {min(values):.3f} s | "
              f"{ratio:.1f}× | {statistics.median(cpu[name]):.3f} s |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    record = {"times": times, "cpu": cpu, "loadavg_before": start_load, "loadavg_after": load}
    Path(args.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
