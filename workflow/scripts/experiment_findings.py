"""Rule exp_findings: the paper's two conclusions as findings rows (value, bootstrap interval, verdict)."""
import pandas as pd

from filterdb.store import write_text_atomic
from filterdb.runner import run_step
from filterdb.zoo.experiments.tables import FINDING_COLUMNS, degeneracy_findings, transfer_findings


def step():
    rows = []
    resamples = snakemake.params.resamples
    for path in snakemake.input.transfer:
        rows += transfer_findings(pd.read_csv(path, sep="\t"), resamples)
    for path in snakemake.input.degeneracy:
        rows += degeneracy_findings(pd.read_csv(path, sep="\t"), resamples=resamples)
    table = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    write_text_atomic(snakemake.output[0], table.to_csv(sep="\t", index=False, float_format="%.6g"))


run_step(snakemake, step)
