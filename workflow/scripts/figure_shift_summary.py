"""Rule figure_shift_summary: the spread of pairwise D per axis, side by side."""
import json

import pandas as pd

from filterdb import store
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.noise import noise_sentence
from filterdb.plots.shift import pairwise_values, shift_summary
from filterdb.runner import run_step


def step():
    matrices = {axis: store.read_shift(path)
                for axis, path in zip(snakemake.params.axes, snakemake.input.matrices)}
    with open(snakemake.input.noise) as handle:
        noise = json.load(handle)
    save_all(shift_summary(matrices, noise.get("value")), [snakemake.output.pdf, snakemake.output.png])
    lines = []
    for axis, matrix in sorted(matrices.items()):
        values = pairwise_values(matrix)
        lines.append(f"``{axis}``: {len(matrix)} groups" + (f", median D {pd.Series(values).median():.3g}, "
                                                              f"max {values.max():.3g}" if len(values) else ", no pair"))
    write_notes(snakemake.output.notes, [
        "Per axis: " + "; ".join(lines) + ".",
        noise_sentence(noise).replace("red mark on the colour bar", "dashed line"),
    ])


run_step(snakemake, step)
