#!/usr/bin/env bash
# Install filterdb with its test extras in .venv and run the test suite.
# System packages for the report screenshot (chromium) and the one-node Slurm test
# are installed when this runs as root with apt-get; without them those tests skip.
# The Slurm test (~7 min) is left out unless asked for: `bash tests/run.sh -m slurm`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
    || echo "tests/run.sh: could not install chromium/slurm; their tests will skip" >&2
fi

python3 -m venv .venv
.venv/bin/pip install -q -e '.[test,slurm]'
if [ $# -eq 0 ]; then
  set -- -m "not slurm"
fi
exec .venv/bin/python -m pytest -ra "$@"
