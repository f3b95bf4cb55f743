"""Docker plumbing for the benchmarks: run and time commands, and a Session that owns what it creates.

Commands run through the harness's runner (harness.common.run; here `sh`, raising BenchError), and a
Session is the harness's owner of Docker objects (harness.devcontainer.Owned): every container and
volume a run makes carries the label ``uvuser.bench=<run id>`` and every image a tag
``uvuser-bench/<name>:<run id>``; Session.cleanup() removes exactly those, so benchmark runs and test
runs can share one engine. Nothing is pruned.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import List, Optional, Sequence

from harness.common import run
from harness.devcontainer import Owned, docker_exec

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
INCONTAINER = HERE / "incontainer"
LABEL = "uvuser.bench"


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and quotes its output."""


# Run a host command, capturing text output; on failure raise BenchError with both streams' ends.
sh = functools.partial(run, error=BenchError)


def timed(cmd: Sequence[str], **kwargs) -> float:
    """Wall seconds of a host command that must succeed."""
    started = time.perf_counter()
    sh(cmd, **kwargs)
    return time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def rotated(items: Sequence[str], rep: int) -> List[str]:
    """The variants in a different order each repetition, so no variant always runs first."""
    shift = rep % len(items)
    return list(items[shift:]) + list(items[:shift])


def image_size(tag: str) -> int:
    return int(sh(["docker", "image", "inspect", "--format", "{{.Size}}", tag]).stdout.strip())


def image_id(tag: str) -> Optional[str]:
    result = sh(["docker", "image", "inspect", "--format", "{{.Id}}", tag], check=False)
    return result.stdout.strip() if result.returncode == 0 else None


class Session(Owned):
    """One benchmark run's Docker objects, named and labelled by its run id (harness.devcontainer.Owned)."""

    def __init__(self) -> None:
        super().__init__(prefix="uvuser-bench", key=LABEL, run_id="r" + uuid.uuid4().hex[:10])

    def forget_image(self, ref: str) -> None:
        """An image this run made and no longer needs (e.g. replaced by a rebuild)."""
        self.image(ref)

    def create(self, what: str, image: str, args: Sequence[str], command: Sequence[str]) -> str:
        """A created (not started) container."""
        args = [*self.create_args(what), *args]
        sh(["docker", "create", *args, image, *command])
        return args[1]

    def daemon(self, what: str, image: str, args: Sequence[str] = ()) -> str:
        """A running container whose main process just sleeps: the place to `exec` measurements."""
        args = [*self.create_args(what), "-v", "{}:/bench:ro".format(INCONTAINER), *args]
        sh(["docker", "run", "-d", *args, "--entrypoint", "sleep", image, "infinity"])
        return args[1]


def exec_json(container: str, argv: Sequence[str], *, user: str = "root") -> dict:
    """Run benchmarks/incontainer/timer.py in a container; the command must succeed."""
    result = sh(["docker", "exec", "-u", user, container, "python3", "-E", "-s", "/bench/timer.py", *argv])
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if outcome["returncode"] != 0:
        raise BenchError("in {} as {}: {} exited {}:\n{}".format(
            container, user, " ".join(argv), outcome["returncode"], outcome["output"][-3000:]))
    return outcome


def exec_sh(container: str, script: str, *, user: str = "root", check: bool = True) -> subprocess.CompletedProcess:
    return docker_exec(container, script, user=user, check=check, error=BenchError)
