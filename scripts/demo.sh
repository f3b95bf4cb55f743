#!/usr/bin/env bash
# The main job (README): build examples/basic as a real dev container with the
# local feature, run `uv sync` as the non-root user and show where it went.
# Provisions the Docker engine, the devcontainers CLI and the base image first:
# as root, so run as a user it runs itself again with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/as-root.sh
as_root "the demo provisions the Docker engine, the base image and ghcr.io for the CLI, and gives its copy of \
the workspace to the container's user (uid 1000)" scripts/demo.sh "$@"
exec python3 -m harness demo "$@"
