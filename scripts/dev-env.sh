#!/usr/bin/env bash
# Create .venv-dev with the dev tools listed in pyproject.toml ([project.optional-dependencies] dev).
# Reinstalls only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-dev
stamp="$venv/.pyproject.sha256"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c 'import pytest' 2>/dev/null; then
    exit 0
fi

if ! python3 -m venv --clear "$venv" 2>/dev/null; then
    # Debian/Ubuntu ship venv's ensurepip separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv --clear "$venv"
    else
        echo "dev-env: python3 -m venv failed; install python3-venv (sudo apt-get install python3-venv)" >&2
        exit 1
    fi
fi

mapfile -t deps < <(python3 - <<'PY'
import re
text = open("pyproject.toml", encoding="utf-8").read()
try:
    import tomllib
    deps = tomllib.loads(text)["project"]["optional-dependencies"]["dev"]
except ImportError:  # Python < 3.11: the list is simple enough for a regex
    block = re.search(r"^dev = \[(.*?)^\]", text, re.S | re.M).group(1)
    deps = re.findall(r'"([^"]+)"', block)
print("\n".join(deps))
PY
)
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${deps[@]}"
echo "$want" > "$stamp"
