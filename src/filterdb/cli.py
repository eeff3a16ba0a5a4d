"""Command line: ``filterdb inspect`` (is this checkpoint healthy enough to fine-tune?),
``filterdb import-hdf5`` and ``filterdb fetch``.

Exit status: 0 on success; 1 when the work fails (a model or file that cannot be read, a
full disk: the message names what and where) or ``inspect --fail-on`` finds a flagged
layer; 2 when the command line is wrong (argparse's own errors, an unknown ``--fail-on`` flag).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from . import __version__
from .errors import FilterdbError, UsageError

# what the user can act on, shown as one line: the project's errors, the file system's
# (a missing or unreadable file) and a missing optional dependency; anything else is a bug
RUNTIME_ERRORS = (FilterdbError, OSError, ImportError)

FAIL_ON = ("sparse", "collapsed", "random-like", "zero", "nonfinite")
EXIT_FAILED = 1  # a runtime error, or --fail-on found a flagged layer
EXIT_USAGE = 2  # what argparse exits with on a bad command line
DESCRIPTION = (
    "filterdb: a database of trained 3×3 convolution filters. 'filterdb inspect' reports the "
    "per-layer health of checkpoints (is this checkpoint healthy enough to fine-tune?); "
    "'filterdb import-hdf5' converts the paper's HDF5 release into a workflow folder; "
    "'filterdb fetch' downloads the sheets' models into the cache."
)
EPILOG = (
    "Exit status: 0 on success; 1 when the work fails (a model or file that cannot be read) "
    "or inspect --fail-on finds a flagged layer; 2 on a usage error."
)
PERCENTILE_COLUMNS = (("sparsity_pct", "sp%"), ("entropy_ratio_pct", "H/TH%"), ("orthogonality_pct", "orth%"))


def _number(value, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None or value != value else f"{value:>{width}{spec}}"


def _format_table(result: dict) -> str:
    """The text report of one model: one line per 3×3 layer, then its summary lines."""
    rows, summary = result["layers"], result["summary"]
    against = "verdict" in summary
    extra = "".join(f" {label:>6}" for _, label in PERCENTILE_COLUMNS) if against else ""
    header = f"{'#':>3} {'layer':<40} {'shape':>18} {'n_filters':>10} {'sparsity':>8} {'H':>6} {'H/TH':>6} {'ortho':>6}{extra}  flags"
    lines = [f"{summary['model']} ({summary['format']}, depth: {summary['depth_source']})", header, "-" * len(header)]
    for r in rows:
        shape = f"{r['out_channels']}x{r['in_channels'] // r['groups']}x3x3" + (f"/g{r['groups']}" if r["groups"] > 1 else "")
        flags = "zero" if r["flag_zero"] else ",".join(
            k.removeprefix("flag_").replace("_", "-") for k in ("flag_sparse", "flag_collapsed", "flag_random_like") if r[k]
        )
        name = r["name"] if len(r["name"]) <= 40 else "…" + r["name"][-39:]
        pct = "".join(" " + _number(r[c], ".1f", 6) for c, _ in PERCENTILE_COLUMNS) if against else ""
        lines.append(
            f"{r['layer']:>3} {name:<40} {shape:>18} {r['n_filters']:>10,} {_number(r['sparsity'], '.3f', 8)} "
            f"{_number(r['variance_entropy'], '.3f', 6)} {_number(r['entropy_ratio'], '.3f', 6)} "
            f"{_number(r['orthogonality'], '.3f', 6)}{pct}  {flags}"
        )
    if rows:
        lines.append(
            f"{summary['n_layers']} layers, {summary['n_filters']:,} filters: {summary['n_sparse']} sparse, "
            f"{summary['n_collapsed']} collapsed, {summary['n_random_like']} random-like, {summary['n_zero']} all-zero"
        )
    else:
        lines.append("no 3×3 convolution layers")
    for item in result["excluded"]:
        lines.append(f"left out: {item['name']} ({item['nonfinite_filters']} of {item['n_filters']} filters NaN or Inf)")
    if against:
        lines.append(f"against {summary['against']}: {summary['reference_models']} models; sp%, H/TH%, orth%: "
                     "percentile among their layers of the same depth decile")
        lines.append(summary["verdict"])
        if result["shift"]:
            ranked = sorted(result["shift"].items(), key=lambda kv: kv[1])
            lines.append("D to each visual category: " + ", ".join(f"{g} {d:.4g}" for g, d in ranked))
    return "\n".join(lines)


def _csv_rows(results: list[dict]) -> tuple[list[str], list[dict]]:
    """One flat row per model: its summary, then D to each visual category (``d[group]``)."""
    rows = [{**r["summary"], **{f"d[{g}]": d for g, d in r["shift"].items()}} for r in results]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return columns, rows


def failing(results: list[dict], fail_on: list[str]) -> list[str]:
    """'model: n flag layers' for each model with a layer flagged as one of ``fail_on``."""
    found = []
    for result in results:
        summary = result["summary"]
        if "error" in summary:
            continue
        counts = {flag: summary["n_nonfinite"] if flag == "nonfinite" else summary[f"n_{flag.replace('-', '_')}"]
                  for flag in fail_on}  # fmt: skip
        hits = [f"{n} {flag}" for flag, n in counts.items() if n]
        if hits:
            found.append(f"{summary['model']}: {', '.join(hits)} layer(s)")
    return found


def _parse_fail_on(text: str | None) -> list[str]:
    flags = [f.strip() for f in (text or "").split(",") if f.strip()]
    unknown = [f for f in flags if f not in FAIL_ON]
    if unknown:
        raise UsageError(f"--fail-on: unknown flag(s) {', '.join(unknown)}; known: {', '.join(FAIL_ON)}")
    return flags


def _cmd_inspect(args) -> int:
    from .inspection import expand_targets, failed, finite_or_none, inspect_model, model_id_of

    fail_on = _parse_fail_on(args.fail_on)
    population = None
    if args.against:
        from .population import Population

        population = Population(args.against, pool=args.pool)
    results, errors = [], 0
    for target in expand_targets(args.model):
        try:
            results.append(inspect_model(target, args.arch, args.pretrained, args.seed, against=population))
        except RUNTIME_ERRORS as exc:
            print(f"filterdb: error: {exc}", file=sys.stderr)
            results.append(failed(model_id_of(target), target, str(exc)))
            errors += 1
    if args.json:
        json.dump(finite_or_none(results), sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    elif args.csv:
        import csv

        columns, rows = _csv_rows(results)
        writer = csv.DictWriter(sys.stdout, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(finite_or_none(rows))
    else:
        print("\n\n".join(_format_table(r) for r in results if "error" not in r["summary"]))
    if errors:
        return EXIT_FAILED
    found = failing(results, fail_on)
    for line in found:
        print(f"filterdb: --fail-on {args.fail_on}: {line}", file=sys.stderr)
    return EXIT_FAILED if found else 0


def _cmd_import_hdf5(args) -> int:
    from .importer import import_hdf5, workflow_command

    summary = import_hdf5(
        args.dataset,
        args.out,
        chunk_filters=args.chunk_filters,
        progress=not args.quiet,
        on_nonfinite="exclude" if args.exclude_nonfinite else "error",
        models=args.models,
    )
    print(
        f"imported {summary['models']} models, {summary['filters']:,} filters "
        f"(filter_ids: {summary['filter_ids']} ends) into {args.out}; run the study with:"
    )
    print(workflow_command(args.out))  # the last line: the command to copy
    return 0


def _cmd_fetch(args) -> int:
    """Each row's fetch step, as its model job runs it, into the cache: where compute nodes
    have no internet, the login node fills the cache and the jobs find their files there."""
    from .sheet import IMPORTED_SOURCE, load_sheets
    from .sources import get_source

    rows = load_sheets(args.sheets)
    failed = 0
    for number, (model, row) in enumerate(sorted(rows.items()), 1):
        public = {k: v for k, v in row.items() if not k.startswith("_")}
        if row["source"] in ("train", IMPORTED_SOURCE):  # the zoo's training, an imported file: nothing to download
            print(f"[{number}/{len(rows)}] {model}: source {row['source']}, nothing to fetch", file=sys.stderr)
            continue
        try:
            get_source(row["source"]).fetch(public, args.cache_dir)
        except RUNTIME_ERRORS as exc:
            failed += 1
            print(f"filterdb: error: {exc}", file=sys.stderr)
            continue
        print(f"[{number}/{len(rows)}] {model}: fetched", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="filterdb", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"filterdb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    inspect = commands.add_parser(
        "inspect",
        help="per-layer health of checkpoints, optionally placed in a built database",
        description="Per-layer health of one or more models: sparsity, variance entropy H, H/TH and "
        "orthogonality of every 3×3 conv layer, with flags. Exit status: 0; 1 when a model cannot be read "
        "or --fail-on finds a flagged layer; 2 on a usage error.",
    )
    inspect.add_argument("model", nargs="+", help="checkpoint files (.safetensors, .onnx, .pt/.pth/.bin/.ckpt, "
                         "TF.js model.json, Keras .h5), folders of them, or timm model names")
    inspect.add_argument("--arch", help="timm architecture to load .safetensors/torch files into (graph depth, strides)")
    inspect.add_argument("--pretrained", action="store_true", help="timm hub weights instead of a random init")
    inspect.add_argument("--seed", type=int, default=0, help="seed of the random init (default 0)")
    inspect.add_argument("--against", metavar="DB", help="a built database (results/db): percentiles at each "
                         "layer's depth decile, D to each visual category, a verdict")
    inspect.add_argument("--pool", choices=("trained", "all"), default="trained",
                         help="the database's models to compare with (default: trained)")
    output = inspect.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON: one object per model, with its layers")
    output.add_argument("--csv", action="store_true", help="CSV: one row per model")
    inspect.add_argument("--fail-on", metavar="FLAGS", help=f"exit 1 when a layer has one of these flags "
                         f"(comma-separated: {', '.join(FAIL_ON)})")
    inspect.set_defaults(func=_cmd_inspect)

    importer = commands.add_parser(
        "import-hdf5",
        help="convert the paper's HDF5 release into a workflow folder",
        description="Convert the paper's HDF5 release (dataset.h5) into OUT: filters/*.parquet, "
        "config/models.tsv, config/config.yaml. The last line printed is the snakemake command "
        "that builds the study's figures and tables on it, under OUT/results.",
    )
    importer.add_argument("dataset", help="the published dataset.h5")
    importer.add_argument("out", help="output folder: filters/{model}.parquet, config/, import.json")
    importer.add_argument("--model", action="append", dest="models", metavar="ID",
                          help="import only this model id (as in config/models.tsv; repeatable)")
    importer.add_argument("--exclude-nonfinite", action="store_true",
                          help="leave out (and record) layers with NaN/Inf weights instead of failing")
    importer.add_argument("--chunk-filters", type=int, default=1 << 22, metavar="N",
                          help="filters read from the HDF5 file at a time (memory ≈ 80 bytes each; default 4194304)")
    importer.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    importer.set_defaults(func=_cmd_import_hdf5)

    fetch = commands.add_parser(
        "fetch",
        help="download the sheets' models into the cache (a login node before a cluster run)",
        description="Run each sheet row's fetch step (download and verify) into the cache, without "
        "dumping anything: the workflow's model jobs then find their files there. Rows trained by the "
        "zoo or imported need nothing. Exit status 1 when a row cannot be fetched (the others still are).",
    )
    fetch.add_argument("sheets", nargs="+", help="model sheets (TSV), as in the config's sheets: list")
    fetch.add_argument("--cache-dir", default="resources/cache", help="the config's cache_dir (default resources/cache)")
    fetch.set_defaults(func=_cmd_fetch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "inspect" and "numpy" not in sys.modules:
        # before numpy loads (else it has no effect, and would only leak to child processes):
        # the metrics' BLAS products are small (10 × 8192 blocks), and OpenBLAS threads
        # waiting on each other cost 7× the CPU of one thread on a busy machine
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"filterdb: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RUNTIME_ERRORS as exc:
        print(f"filterdb: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
