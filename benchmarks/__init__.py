"""uv-user's benchmarks: start cost, sync speed and install cost, measured side by side in real
containers in one run. Run `bash benchmarks/run.sh` (or `python3 -m benchmarks --help`).

The harness provisions the engine, the CLI and the base image and is the one place for what runs
commands and owns Docker objects (harness.common.run, harness.devcontainer.Owned); benchmarks/docker.py
holds what only the benchmarks need on top: timing, medians, a Session that labels its run's objects."""
