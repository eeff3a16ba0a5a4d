"""Adding one model to a finished build: what reruns, and how long it takes.

    .venv/bin/python benchmarks/add_model.py --build DIR --weights FILE.safetensors [--cores 2]

DIR is a checkout holding a finished build of its config (``results/``, its ``.venv``),
e.g. the clone of ``../shared/tools/fresh-clone main``. FILE is the model to add (read
through a ``file`` row with the ``safetensors`` reader). Steps, each a ``snakemake`` run in
DIR with its wall and CPU seconds (user + system of the children, ``getrusage``):

1. database basis: the jobs ``snakemake -n`` plans once the row is added (not run);
2. freeze the basis: copy ``results/basis/basis_file.json`` to ``resources/frozen_basis.json``
   and run the build with ``basis.from`` pointing at it. This is the one-time change of mode:
   every model job reruns, since it now also writes its model's histograms;
3. add the row (``config/added.tsv``) with the basis frozen: the planned jobs, then the run.

Prints the planned jobs per rule and the timings as Markdown.
"""

from __future__ import annotations

import argparse
import collections
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROW = {
    "model": "added_resnet18",
    "source": "file",
    "reader": "safetensors",
    "architecture": "resnet18",
    "family": "ResNet",
    "task": "classification",
    "visual_category": "none (initialisation)",
    "training_dataset": "none",
    "pretrained": "false",
}


def snakemake(build: Path, args: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run([str(build / ".venv/bin/snakemake"), *args], cwd=build, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def planned(build: Path, configs: list[str]) -> list[tuple[str, str]]:
    """(rule, model or '') of every job ``snakemake -n`` plans."""
    result, _, _ = snakemake(build, ["-n", "--configfile", *configs])
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        if line.strip().startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
            jobs.append((rule, ""))
        elif rule and line.strip().startswith("wildcards:") and "model=" in line:
            model = line.split("model=")[1].split(",")[0].strip()
            jobs[-1] = (rule, model)
    return jobs


def show(title: str, jobs: list[tuple[str, str]]) -> None:
    per_rule = collections.Counter(rule for rule, _ in jobs)
    models = sorted({model for _, model in jobs if model})
    print(f"\n{title}: {len(jobs)} jobs; per-model jobs for {len(models)} model(s)"
          f"{': ' + ', '.join(models[:5]) if models else ''}{' …' if len(models) > 5 else ''}")  # fmt: skip
    print("| rule | jobs |\n| --- | ---: |")
    for rule, count in sorted(per_rule.items()):
        print(f"| {rule} | {count} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True, help="a checkout with a finished build")
    parser.add_argument("--weights", type=Path, required=True, help="the model to add (.safetensors)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    build = args.build.resolve()
    config = yaml.safe_load((build / "config/config.yaml").read_text())

    # the added model: one row of a new sheet, its weights beside the cache
    (build / "resources").mkdir(exist_ok=True)
    weights = build / "resources" / args.weights.name
    shutil.copyfile(args.weights, weights)
    row = {**ROW, "reference": str(weights.relative_to(build))}
    (build / "config/added.tsv").write_text("\t".join(row) + "\n" + "\t".join(row.values()) + "\n")
    added = {"sheets": [*config["sheets"], "config/added.tsv"]}
    (build / "config/added.yaml").write_text(yaml.safe_dump(added))

    show("Database basis, after adding the row (planned, not run)", planned(build, ["config/added.yaml"]))

    shutil.copyfile(build / "results/basis/basis_file.json", build / "resources/frozen_basis.json")
    frozen = {"basis": {**config.get("basis", {}), "from": "resources/frozen_basis.json"}}
    (build / "config/frozen.yaml").write_text(yaml.safe_dump(frozen))
    (build / "config/frozen_added.yaml").write_text(yaml.safe_dump({**frozen, **added}))

    show("Freezing the basis (planned)", planned(build, ["config/frozen.yaml"]))
    _, wall, cpu = snakemake(build, ["--cores", str(args.cores), "--configfile", "config/frozen.yaml"])
    print(f"\nFreezing the basis: {wall:.0f} s wall, {cpu:.0f} s CPU")

    jobs = planned(build, ["config/frozen_added.yaml"])
    show("Frozen basis, after adding the row (planned)", jobs)
    _, wall, cpu = snakemake(build, ["--cores", str(args.cores), "--configfile", "config/frozen_added.yaml"])
    print(f"\nAdding {row['model']} with the basis frozen: {wall:.0f} s wall, {cpu:.0f} s CPU")
    # the model's own job (fetch, dump, one pass; its card is a job of its own), from its log
    usage = [line for line in (build / f"results/logs/model/{row['model']}.log").read_text().splitlines()
             if "job usage:" in line]  # fmt: skip
    print(f"- its model job: {usage[-1].split('job usage: ')[1] if usage else 'no usage line in its log'}")


if __name__ == "__main__":
    main()
