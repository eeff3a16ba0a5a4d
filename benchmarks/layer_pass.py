"""CPU per filter of one layer's pass, in memory: the compiled pass against its numpy reference.

    .venv/bin/python benchmarks/layer_pass.py [--channels 512] [--repeats 5]

One random float32 layer of c × c 3×3 filters (c = ``--channels``), best of ``--repeats``,
all in one process, interleaved so that a busy machine slows them alike:

- ``numpy``: ``metrics.layer_sums`` with the moment sums (the statistics pass before the
  compiled one, chunks of 8,192 filters);
- ``numpy + bins``: the same, then a second sweep over the chunks whose scaled filters are
  projected by a BLAS product and counted by ``shift.Binner``. The frozen-basis one pass
  before the compiled one did both in one sweep, so this overstates it by one load and
  scaling of each chunk;
- ``compiled``, ``compiled + bins``: ``kernels.layer_sums`` without and with a
  ``shift.LayerCounts``;
- ``orthogonality``: ``metrics.orthogonality`` of the layer, which neither pass includes.

Prints ns of CPU per filter (``time.process_time``) and the ratio numpy / compiled.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as a workflow job's share of 2 cores

import numpy as np  # noqa: E402

from filterdb import basis, kernels, metrics, shift  # noqa: E402


def numpy_pass(w: np.ndarray, binner: shift.Binner | None, matrix: np.ndarray) -> None:
    """The numpy one pass: reference sums, then (with ``binner``) BLAS projection and bins."""
    metrics.layer_sums(w, metrics.empty_moments())
    if binner is None:
        return
    counts = np.zeros((9, binner.bins), np.int64)
    raw, scaled = metrics.chunk_blocks(len(w))
    peak = np.empty(raw.shape[1])
    for start in range(0, len(w), metrics.CHUNK):
        part = w[start : start + metrics.CHUNK]
        k = len(part)
        x, a, p = raw[:, :k], scaled[:, :k], peak[:k]
        metrics.load_chunk(part, x, a, p)
        metrics.scale_chunk(x[:9], p, a[:9])
        binner.add(counts, np.matmul(matrix, a, out=x[:9]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    c = args.channels
    rng = np.random.default_rng(0)
    w = rng.standard_normal((c * c, 9)).astype(np.float32)
    components = np.linalg.qr(rng.standard_normal((9, 9)))[0]
    b = {"components": components, "mean": np.zeros(9)}
    edges = shift.range_edges("paper", np.full(9, -3.0), np.full(9, 3.0), 70)
    binner, projector = shift.Binner(edges), basis.Projector(b)
    steps = {
        "numpy": lambda: numpy_pass(w, None, projector.matrix),
        "numpy + bins": lambda: numpy_pass(w, binner, projector.matrix),
        "compiled": lambda: kernels.layer_sums(w, metrics.empty_moments()),
        "compiled + bins": lambda: kernels.layer_sums(w, metrics.empty_moments(), shift.LayerCounts(binner, None, projector)),
        "orthogonality": lambda: metrics.orthogonality(w.reshape(c, -1)),
    }
    best = {name: float("inf") for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.process_time()
            step()
            best[name] = min(best[name], time.process_time() - start)
    ns = {name: seconds / len(w) * 1e9 for name, seconds in best.items()}
    print(f"layer {c} × {c} ({len(w):,} filters), best of {args.repeats}, build: {kernels.build()}")
    print("| step | ns of CPU per filter |\n| --- | ---: |")
    for name, value in ns.items():
        print(f"| {name} | {value:.1f} |")
    print(f"numpy / compiled: {ns['numpy'] / ns['compiled']:.1f}× without bins, "
          f"{ns['numpy + bins'] / ns['compiled + bins']:.1f}× with them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
