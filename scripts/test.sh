#!/usr/bin/env bash
# The test command (README, .ci/run): a venv with the dev tools, then pytest.
# The first test that needs Docker provisions the rest (engine, devcontainers
# CLI, test images; see harness/), so `-m "not docker"` needs none of it.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1  # keep bytecode out of src/ (packaged and copied into images)

bash scripts/dev-env.sh
exec .venv-dev/bin/python -m pytest "$@"
