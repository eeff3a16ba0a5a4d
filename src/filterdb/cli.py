"""Command line: ``filterdb inspect MODEL`` — is this checkpoint healthy enough to fine-tune?"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .extract import plan_layers
from .metrics import DEFAULT_CUTOFFS, layer_flags, layer_metrics
from .sheet import SheetError
from .sources.base import SourceError

CHECKPOINT_SUFFIXES = {".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".onnx"}


def _row_for(target: str, arch: str | None, pretrained: bool, seed: int) -> dict:
    path = Path(target)
    suffix = path.suffix.lower()  # model.ONNX is an ONNX file too
    if path.is_dir():
        raise SourceError(
            f"{target}: is a directory; give a checkpoint file ({', '.join(sorted(CHECKPOINT_SUFFIXES))}) "
            "or a timm model name"
        )
    model_id = path.stem if suffix in CHECKPOINT_SUFFIXES else target
    if suffix == ".onnx":
        return {"model": model_id, "source": "onnx", "reference": str(path)}
    if suffix in CHECKPOINT_SUFFIXES or path.exists():
        if not arch:
            raise SourceError(f"{target}: a checkpoint file needs --arch, the timm architecture it belongs to")
        return {"model": model_id, "source": "checkpoint", "reference": str(path), "arch": arch}
    return {"model": model_id, "source": "timm", "reference": target, "pretrained": pretrained, "seed": seed}


def inspect_model(target: str, arch: str | None = None, pretrained: bool = False, seed: int = 0,
                  cutoffs: dict | None = None) -> list[dict]:
    """Per-layer metrics and flags of a timm model or a checkpoint file, one dict per 3×3 layer."""
    from .sources import get_source

    cutoffs = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    row = _row_for(target, arch, pretrained, seed)
    source = get_source(row["source"])
    loaded = source.load(row, source.fetch(row, Path.home() / ".cache" / "filterdb"))
    facts, kernels, _ = plan_layers(loaded)
    rows = []
    for fact, flat in zip(facts, kernels):
        metrics = layer_metrics(flat, fact["out_channels"])
        rows.append({**fact, **metrics, **layer_flags(metrics, cutoffs, fact["n_filters"])})
    return rows


def _format_table(rows: list[dict]) -> str:
    header = f"{'#':>3} {'layer':<40} {'shape':>18} {'n_filters':>10} {'sparsity':>8} {'H':>6} {'H/TH':>6} {'ortho':>6}  flags"
    lines = [header, "-" * len(header)]
    for r in rows:
        shape = f"{r['out_channels']}x{r['in_channels'] // r['groups']}x3x3" + (f"/g{r['groups']}" if r["groups"] > 1 else "")
        flags = ",".join(k.removeprefix("flag_").replace("_", "-") for k in ("flag_sparse", "flag_collapsed", "flag_random_like") if r[k])
        name = r["name"] if len(r["name"]) <= 40 else "…" + r["name"][-39:]
        lines.append(
            f"{r['layer']:>3} {name:<40} {shape:>18} {r['n_filters']:>10,} {r['sparsity']:>8.3f} "
            f"{r['variance_entropy']:>6.3f} {r['entropy_ratio']:>6.3f} {r['orthogonality']:>6.3f}  {flags}"
        )
    n = len(rows)
    if n:
        count = {k: sum(r[f"flag_{k}"] for r in rows) for k in ("sparse", "collapsed", "random_like")}
        lines.append(
            f"{n} layers, {sum(r['n_filters'] for r in rows):,} filters: {count['sparse']} sparse, "
            f"{count['collapsed']} collapsed, {count['random_like']} random-like"
        )
    else:
        lines.append("no 3×3 convolution layers")
    return "\n".join(lines)


def _cmd_inspect(args) -> int:
    rows = inspect_model(args.model, args.arch, args.pretrained, args.seed)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, default=float)
        sys.stdout.write("\n")
    else:
        print(_format_table(rows))
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="filterdb", description=__doc__)
    parser.add_argument("--version", action="version", version=f"filterdb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    inspect = commands.add_parser("inspect", help="per-layer health table of one model")
    inspect.add_argument("model", help="a timm model name, or a checkpoint file (.safetensors, .pt, .onnx)")
    inspect.add_argument("--arch", help="timm architecture of a checkpoint file")
    inspect.add_argument("--pretrained", action="store_true", help="timm hub weights instead of a random init")
    inspect.add_argument("--seed", type=int, default=0, help="seed of the random init (default 0)")
    inspect.add_argument("--json", action="store_true", help="print the table as JSON")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except (SourceError, SheetError, ValueError, OSError, ImportError) as exc:
        print(f"filterdb: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
