#!/usr/bin/env bash
# The benchmark command (README "Performance"): a venv with matplotlib for the chart, then
# `python -m benchmarks` with this script's arguments (--quick, --out DIR, --help, ...).
# The harness provisions the rest (Docker engine, the pinned devcontainers CLI, the base image):
# as root, so run as a user it runs itself again with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1  # keep bytecode out of src/ (copied into images as it is)
source scripts/as-root.sh
as_root "the benchmarks provision the Docker engine, the base image and ghcr.io for the CLI" \
    benchmarks/run.sh "$@"

bash scripts/venv.sh .venv-bench "$(sha256sum benchmarks/requirements.txt | cut -d' ' -f1)" \
    -r benchmarks/requirements.txt
exec .venv-bench/bin/python -m benchmarks "$@"
