#!/usr/bin/env bash
# The benchmark command (README "Performance"): a venv with matplotlib for the chart, then
# `python -m benchmarks` with this script's arguments (--quick, --out DIR, --help, ...).
# The harness provisions the rest (Docker engine, the pinned devcontainers CLI, the base image).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1  # keep bytecode out of src/ (copied into images as it is)

venv=.venv-bench
stamp="$venv/.requirements.sha256"
want=$(sha256sum benchmarks/requirements.txt | cut -d' ' -f1)
if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; }; then
    if ! python3 -m venv --clear "$venv" 2>/dev/null; then
        # Debian/Ubuntu ship venv's ensurepip separately.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv --clear "$venv"
        else
            echo "bench: python3 -m venv failed; install python3-venv (sudo apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
    echo "$want" > "$stamp"
fi
exec "$venv/bin/python" -m benchmarks "$@"
