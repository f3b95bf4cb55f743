#!/usr/bin/env bash
# Make or reuse a virtualenv for the project's own tooling (never the feature's: that is stdlib-only).
# Usage: scripts/venv.sh DIR STAMP PIP_INSTALL_ARGS...
# Reinstalls only when STAMP (a hash of what the packages come from) changes.
set -euo pipefail

venv=$1 stamp=$2
shift 2
if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ] && [ -x "$venv/bin/python" ]; then
    exit 0
fi
if ! python3 -m venv --clear "$venv" 2>/dev/null; then
    # Debian/Ubuntu ship venv's ensurepip separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv --clear "$venv"
    else
        echo "venv: python3 -m venv failed; install python3-venv (sudo apt-get install python3-venv)" >&2
        exit 1
    fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
echo "$stamp" > "$venv/.stamp"
