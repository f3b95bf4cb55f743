"""Docker plumbing for the benchmarks: run and time commands, and a Session that owns what it creates.

Every container and volume a run makes carries the label ``uvuser.bench=<run id>`` and every image
a tag ``uvuser-bench/<name>:<run id>``; Session.cleanup() removes exactly those, so benchmark runs
and test runs can share one engine. Nothing is pruned.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
INCONTAINER = HERE / "incontainer"
LABEL = "uvuser.bench"


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and quotes its output."""


def sh(cmd: Sequence[str], *, check: bool = True, timeout: float = 1800, stdin: Optional[Path] = None,
       env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run a host command, capturing text output; on failure raise with both streams' ends."""
    with open(stdin or os.devnull, "rb") as inp:
        result = subprocess.run(list(cmd), stdin=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=timeout, env=env)
    out = result.stdout.decode("utf-8", "replace")
    err = result.stderr.decode("utf-8", "replace")
    if check and result.returncode != 0:
        raise BenchError("command failed ({}): {}\n--- stdout\n{}\n--- stderr\n{}".format(
            result.returncode, " ".join(cmd), out[-3000:], err[-3000:]))
    return subprocess.CompletedProcess(result.args, result.returncode, out, err)


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


class Session:
    """One benchmark run's Docker objects, named and labelled by its run id."""

    def __init__(self) -> None:
        self.run_id = "r" + uuid.uuid4().hex[:10]
        self.label = "{}={}".format(LABEL, self.run_id)
        self.images: List[str] = []  # tags and replaced image ids, removed newest first

    def tag(self, name: str) -> str:
        tag = "uvuser-bench/{}:{}".format(name, self.run_id)
        if tag not in self.images:
            self.images.append(tag)
        return tag

    def forget_image(self, ref: str) -> None:
        """An image this run made and no longer needs (e.g. replaced by a rebuild)."""
        self.images.append(ref)

    def name(self, what: str) -> str:
        return "uvuser-bench-{}-{}".format(self.run_id, what)

    def volume(self, what: str) -> str:
        name = self.name(what)
        sh(["docker", "volume", "create", "--label", self.label, name])
        return name

    def create(self, what: str, image: str, args: Sequence[str], command: Sequence[str]) -> str:
        """A created (not started) container."""
        name = self.name(what)
        sh(["docker", "create", "--name", name, "--label", self.label, *args, image, *command])
        return name

    def daemon(self, what: str, image: str, args: Sequence[str] = ()) -> str:
        """A running container whose main process just sleeps: the place to `exec` measurements."""
        name = self.name(what)
        sh(["docker", "run", "-d", "--name", name, "--label", self.label,
            "-v", "{}:/bench:ro".format(INCONTAINER), *args, "--entrypoint", "sleep", image, "infinity"])
        return name

    def cleanup(self) -> None:
        containers = sh(["docker", "ps", "-aq", "--filter", "label=" + self.label], check=False).stdout.split()
        if containers:
            sh(["docker", "rm", "-f", "-v", *containers], check=False)
        volumes = sh(["docker", "volume", "ls", "-q", "--filter", "label=" + self.label], check=False).stdout.split()
        if volumes:
            sh(["docker", "volume", "rm", "-f", *volumes], check=False)
        for ref in reversed(self.images):
            sh(["docker", "image", "rm", ref], check=False)


def exec_json(container: str, argv: Sequence[str], *, user: str = "root") -> dict:
    """Run benchmarks/incontainer/timer.py in a container; the command must succeed."""
    result = sh(["docker", "exec", "-u", user, container, "python3", "-E", "-s", "/bench/timer.py", *argv])
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if outcome["returncode"] != 0:
        raise BenchError("in {} as {}: {} exited {}:\n{}".format(
            container, user, " ".join(argv), outcome["returncode"], outcome["output"][-3000:]))
    return outcome


def exec_sh(container: str, script: str, *, user: str = "root", check: bool = True) -> subprocess.CompletedProcess:
    return sh(["docker", "exec", "-u", user, container, "sh", "-c", script], check=check)
