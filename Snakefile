# filterdb: a database of trained 3×3 convolution filters and the CNN Filter DB study.
# Targets are listed in `rule all`; `snakemake -n` shows every job.
from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/shift.smk"
include: "workflow/rules/database.smk"
include: "workflow/rules/zoo.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
