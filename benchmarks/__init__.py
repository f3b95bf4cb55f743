"""uv-user's benchmarks: start cost, sync speed and install cost, measured side by side in real
containers in one run. Run `sudo bash benchmarks/run.sh` (or `python3 -m benchmarks --help`)."""
