"""Dry-run cost of a large model sheet: ``snakemake -n`` on N timm rows, wall and CPU seconds.

    .venv/bin/python benchmarks/dry_run.py [--models 1000 10000] [--library src] [--frozen-basis]

Copies the workflow into a temporary folder, writes a sheet of N rows (timm resnet18,
one seed each) and a config with the default axes, and times one ``snakemake -n`` per
size. CPU seconds (user + system of the child, from ``getrusage``) are the figure that
other load on the machine inflates least; wall seconds are what a user waits.
``--library`` puts another checkout's ``src`` first on PYTHONPATH (a before/after
comparison on one machine, in one run). ``--frozen-basis`` plans the build with
``basis.from`` (a basis file written here from an identity basis): no basis, range or
histogram jobs, and no per-model job reads a file whose rule takes every model.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HEADER = "model\tsource\treference\tarchitecture\tfamily\ttask\tvisual_category\ttraining_dataset\tpretrained\tseed"


def prepare(work: Path, tree: Path, models: int, frozen: bool = False) -> None:
    for name in ("Snakefile", "workflow", "config", "envs"):
        source = tree / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, work / name)
    rows = (f"m{i:05d}\ttimm\tresnet18\tresnet18\tResNet\tclassification\tnone (initialisation)\tnone\tfalse\t{i}" for i in range(models))
    (work / "config" / "big.tsv").write_text("\n".join([HEADER, *rows]) + "\n")
    config = yaml.safe_load((work / "config" / "config.yaml").read_text())
    config["sheets"] = ["config/big.tsv"]
    config["basis"] = {"pool": "all"}  # the rows are random inits: no trained model
    config["figures"]["first_filters_model"] = None
    config["figures"]["basis_subset"] = {"column": "visual_category", "value": "none (initialisation)"}
    if frozen:
        import numpy as np

        from filterdb.shift import range_edges
        from filterdb.store import basis_file, write_json_atomic

        identity = {"mean": np.zeros(9), "components": np.eye(9), "explained_variance": np.ones(9),
                    "explained_variance_ratio": np.full(9, 1 / 9), "n_filters": 0, "models": []}  # fmt: skip
        write_json_atomic(work / "basis_file.json", basis_file(identity, range_edges([-3, 3], None, None, 70), [-3, 3]))
        config["basis"]["from"] = "basis_file.json"
    (work / "config" / "big.yaml").write_text(yaml.safe_dump(config))


def time_dry_run(work: Path, library: Path | None) -> tuple[float, float, int]:
    env = dict(os.environ)
    if library is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(library), env.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "-n", "--configfile", "config/big.yaml"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"snakemake -n failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    jobs = sum(1 for line in result.stdout.splitlines() if line.strip().startswith(("rule ", "localrule ")))
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose workflow is run")
    parser.add_argument("--library", type=Path, help="a filterdb src folder put first on PYTHONPATH")
    parser.add_argument("--frozen-basis", action="store_true", help="plan with basis.from (a frozen basis file)")
    args = parser.parse_args()
    print("| models | jobs | wall s | CPU s |\n| ---: | ---: | ---: | ---: |")
    for models in args.models:
        with tempfile.TemporaryDirectory() as folder:
            prepare(Path(folder), args.tree, models, args.frozen_basis)
            wall, cpu, jobs = time_dry_run(Path(folder), args.library)
        print(f"| {models:,} | {jobs:,} | {wall:.0f} | {cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
