#!/usr/bin/env bash
# The main job (README): build examples/basic as a real dev container with the
# local feature, run `uv sync` as the non-root user and show where it went.
# Provisions the Docker engine, the devcontainers CLI and the base image first.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m harness demo "$@"
