#!/usr/bin/env bash
# The test command (README, .ci/run): a venv with the dev tools, then pytest.
# The first test that needs Docker provisions the rest (engine, devcontainers
# CLI, test images; see harness/), so `-m "not docker"` needs none of it.
# Extra arguments go to pytest. Run as a user, it runs as that user when the
# selected tests allow it, and again as root (sudo) when some need root: the
# Docker tests and the tests marked `root` (`-m "not docker and not root"`
# needs neither).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1  # keep bytecode out of src/ (packaged and copied into images)
source scripts/as-root.sh

if [ "$(id -u)" != 0 ]; then
    bash scripts/dev-env.sh || as_root "scripts/dev-env.sh could not make .venv-dev as $(id -un)" \
        scripts/test.sh "$@"
    if .venv-dev/bin/python -m pytest --collect-only -q --needs-root -p no:cacheprovider "$@" 2>/dev/null \
            | grep -qx "uvuser-needs-root: yes"; then
        as_root "the selected tests include Docker tests or tests marked root" scripts/test.sh "$@"
    fi
else
    bash scripts/dev-env.sh
fi
exec .venv-dev/bin/python -m pytest "$@"
