"""Time one command inside a benchmark container, so `docker exec` overhead stays out of the number.

Runs on the image's own python3 (stdlib only). Prints one JSON line:
{"seconds": wall time of the command, "returncode": ..., "output": the end of its stdout+stderr}.

Usage: timer.py [--cwd DIR] [--env K=V]... [--unset K]... -- COMMAND [ARG...]
"""

import argparse
import json
import os
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cwd", default=None)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--unset", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    env = dict(os.environ)
    for name in args.unset:
        env.pop(name, None)
    for pair in args.env:
        name, _, value = pair.partition("=")
        env[name] = value
    started = time.perf_counter()
    result = subprocess.run(command, cwd=args.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    output = result.stdout.decode("utf-8", "replace")
    print(json.dumps({"seconds": seconds, "returncode": result.returncode, "output": output[-4000:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
