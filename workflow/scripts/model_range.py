"""Rule model_range: min and max of each basis coefficient over one model's filters."""
import json

from filterdb.basis import basis_from_json, coefficient_range
from filterdb.io import write_json_atomic
from filterdb.runner import run_step


def step():
    with open(snakemake.input.basis) as handle:
        basis = basis_from_json(json.load(handle))
    low, high = coefficient_range(snakemake.input.filters, basis)
    # a model without filters has an empty range: +inf/-inf are written as null
    as_list = lambda a: [float(v) if abs(v) != float("inf") else None for v in a]
    write_json_atomic(snakemake.output.range, {"low": as_list(low), "high": as_list(high)})


run_step(snakemake, step)
