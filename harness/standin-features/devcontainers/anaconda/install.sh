#!/bin/sh
# LAB STAND-IN for ghcr.io/devcontainers/features/anaconda (see harness/standin-features/README.md).
# It does not install anaconda: it only puts a `python` in /usr/local/conda/bin, the directory the real
# feature's containerEnv puts first on PATH, so tests can see whose python comes first.
set -eu
python3=$(command -v python3) || { echo "anaconda stand-in: the image has no python3 to link" >&2; exit 1; }
mkdir -p /usr/local/conda/bin
ln -sf "$python3" /usr/local/conda/bin/python
echo "anaconda stand-in: /usr/local/conda/bin/python -> $python3"
