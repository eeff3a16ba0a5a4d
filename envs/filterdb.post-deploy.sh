#!/usr/bin/env bash
# Snakemake runs this once, right after it builds envs/filterdb.yaml, inside the new environment
# (activated), from a copy at .snakemake/conda/<hash>.post-deploy.sh and in the working directory of the
# run: neither says where the workflow is. The workflow says it: workflow/rules/common.smk exports
# FILTERDB_WORKFLOW_DIR (the folder of the Snakefile, the checkout) before any environment is built.
# The install is editable, so that the jobs run the checkout's library as it is now, as the code
# params of the rules assume.
set -euo pipefail
source_dir="${FILTERDB_WORKFLOW_DIR:?FILTERDB_WORKFLOW_DIR is not set: run this from Snakemake (--sdm conda), or set it to the filterdb checkout}"
if [ ! -f "$source_dir/pyproject.toml" ]; then
    echo "FILTERDB_WORKFLOW_DIR=$source_dir holds no pyproject.toml: it is not the filterdb checkout" >&2
    exit 1
fi
# dependencies come from envs/filterdb.yaml; setuptools is there, so nothing is downloaded here
python -m pip install --no-deps --no-build-isolation --editable "$source_dir"
python -c "import filterdb, sys; sys.stdout.write(f'filterdb {filterdb.__version__} from {filterdb.__file__}\n')"
