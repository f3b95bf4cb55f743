#!/bin/sh
# LAB STAND-IN for ghcr.io/devcontainers/features/conda (see harness/standin-features/README.md).
# It does not install conda: it only puts a `python` in /opt/conda/bin, the directory the real
# feature's containerEnv puts first on PATH, so tests can see whose python comes first.
set -eu
python3=$(command -v python3) || { echo "conda stand-in: the image has no python3 to link" >&2; exit 1; }
mkdir -p /opt/conda/bin
ln -sf "$python3" /opt/conda/bin/python
echo "conda stand-in: /opt/conda/bin/python -> $python3"
