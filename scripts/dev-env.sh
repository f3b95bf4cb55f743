#!/usr/bin/env bash
# .venv-dev with the dev tools listed in pyproject.toml ([project.optional-dependencies] dev).
set -euo pipefail
cd "$(dirname "$0")/.."

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
exec bash scripts/venv.sh .venv-dev "$(sha256sum pyproject.toml | cut -d' ' -f1)" "${deps[@]}"
