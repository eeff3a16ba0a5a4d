"""Extraction cost: a model's filters Parquet against loading its weights and saving one raw array.

    .venv/bin/python benchmarks/extraction.py [--models resnet50 vgg16] [--repeats 5]

For each model (timm architecture, random init, exported once to ONNX in a temp dir),
three whole processes are timed, each started fresh (``python -c``), best of
``--repeats``, all in one run so that the ratios compare like with like:

- ``raw``: read the ONNX file with ``onnx``, gather every 3×3 conv weight, save them as
  one float32 array with ``np.save`` (the baseline of the issue);
- ``parquet``: read the same file with filterdb's ONNX reader and write
  ``{model}.parquet`` with ``extract.write_filters`` (what the dump rule does);
- ``load only``: filterdb's reader alone, to split the Parquet cost into load and write.

Target (``TARGET``): ``parquet`` within 2.5× of ``raw`` (the ratio column). Filters files are written by
pyarrow, whose nested-column writer encodes a repetition and a definition level for each
of the nine values of every filter; loading the model dwarfs that.

Prints a Markdown table and writes ``--json`` (default benchmarks/results/extraction.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 2.5  # load + Parquet at most this many times load + np.save

RAW = """
import sys, numpy as np, onnx
from onnx import numpy_helper
model = onnx.load(sys.argv[1])
conv_weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
arrays = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name in conv_weights]
kernels = [a.reshape(-1, 9) for a in arrays if a.ndim == 4 and a.shape[2:] == (3, 3)]
np.save(sys.argv[2], np.concatenate(kernels).astype(np.float32, copy=False))
"""

PARQUET = """
import sys
from filterdb.extract import write_filters
from filterdb.readers.onnx import read_onnx
write_filters(read_onnx("bench", sys.argv[1]), sys.argv[2])
"""

LOAD = """
import sys
from filterdb.readers.onnx import read_onnx
read_onnx("bench", sys.argv[1])
"""


def export(name: str, folder: Path) -> Path:
    import timm
    import torch

    path = folder / f"{name}.onnx"
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    size = 224
    torch.onnx.export(model, torch.zeros(1, 3, size, size), path, opset_version=17, dynamo=False,
                      do_constant_folding=True)  # fmt: skip
    return path


def whole_process(code: str, *args: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *args], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "vgg16"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "extraction.json")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="filterdb-extract-") as tmp:
        folder = Path(tmp)
        for name in args.models:
            onnx_path = export(name, folder)
            raw = whole_process(RAW, str(onnx_path), str(folder / f"{name}.npy"), repeats=args.repeats)
            parquet = whole_process(PARQUET, str(onnx_path), str(folder / f"{name}.parquet"), repeats=args.repeats)
            load = whole_process(LOAD, str(onnx_path), repeats=args.repeats)
            import pyarrow.parquet as pq

            rows.append({
                "model": name,
                "filters": pq.ParquetFile(folder / f"{name}.parquet").metadata.num_rows,
                "raw_s": raw, "parquet_s": parquet, "load_only_s": load, "ratio": parquet / raw,
                "npy_bytes": (folder / f"{name}.npy").stat().st_size,
                "parquet_bytes": (folder / f"{name}.parquet").stat().st_size,
            })  # fmt: skip
            print(f"{name}: raw {raw:.2f} s, parquet {parquet:.2f} s, ratio {parquet / raw:.2f}", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print_table(rows)
    met = all(r["ratio"] <= TARGET for r in rows)
    print(f"\nTarget: within {TARGET}× of np.save: {'met' if met else 'NOT met'} "
          "(" + ", ".join(f"{r['model']} {r['ratio']:.2f}×" for r in rows) + ").")
    return 0


def print_table(rows: list[dict]) -> None:
    """The extraction results as a Markdown table (also used by report.py)."""
    print("| model | 3×3 filters | load + np.save (s) | load + Parquet (s) | ratio | filterdb load only (s) | .npy MB | .parquet MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['model']} | {r['filters']:,} | {r['raw_s']:.2f} | {r['parquet_s']:.2f} | {r['ratio']:.2f} | "
            f"{r['load_only_s']:.2f} | {r['npy_bytes'] / 1e6:.1f} | {r['parquet_bytes'] / 1e6:.1f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
