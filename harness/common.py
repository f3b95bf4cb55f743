"""Helpers shared by the provisioning modules: the one error type, progress lines, commands, apt.

Everything here is stdlib-only so the harness runs before anything else is installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

# Part of every image's recipe hash: bump it when a change to the build code must rebuild images.
VERSION = "2"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Build logs go under the git-ignored /build so CI can print them on failure.
LOG_DIR = Path(os.environ.get("UVUSER_HARNESS_LOGS", REPO_ROOT / "build" / "logs"))
# Root's tools (dockerd, debootstrap, chroot) live in sbin, which a non-login PATH may lack.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin")


class ProvisionError(RuntimeError):
    """The single error the harness raises: the message says what failed and what to do."""


def log(message: str) -> None:
    """One progress line on stderr, prefixed so it stands out in pytest and CI output."""
    print(f"harness: {message}", file=sys.stderr, flush=True)


def command_env(**extra: str) -> dict[str, str]:
    """The caller's environment with sbin on PATH, so root tools resolve for us and for children."""
    env = dict(os.environ, **extra)
    path = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(path + [d for d in _SBIN if d not in path])
    return env


def which(tool: str) -> str | None:
    """Like shutil.which, but also looks in sbin."""
    return shutil.which(tool, path=command_env()["PATH"])


def is_root() -> bool:
    return os.geteuid() == 0


def can_apt() -> bool:
    """Whether we may install host packages ourselves: root on Debian/Ubuntu."""
    return is_root() and which("apt-get") is not None and Path("/etc/debian_version").exists()


def log_path(name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{name}.log"


def tail(path: Path, lines: int = 15) -> str:
    """The end of a log, quoted into error messages so CI output shows the cause."""
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join("    " + line for line in text)


def run_logged(cmd: Sequence[str], log_file: Path, *, what: str, retries: int = 0,
               stdin: Path | None = None, cwd: Path | None = None, env: dict[str, str] | None = None,
               before_retry: Callable[[], None] | None = None) -> None:
    """Run cmd with its output appended to log_file; retry transient failures; raise with the log tail."""
    for attempt in range(retries + 1):
        with log_file.open("a") as fh, (stdin or Path(os.devnull)).open("rb") as inp:
            fh.write(f"\n$ {' '.join(cmd)}\n")
            fh.flush()
            result = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=inp, cwd=cwd,
                                    env=env or command_env())
        if result.returncode == 0:
            return
        if attempt < retries:
            log(f"{what} failed (exit {result.returncode}); retrying once")
            if before_retry:
                before_retry()
            time.sleep(3)
    raise ProvisionError(f"{what} failed (exit {result.returncode}); full log: {log_file}\n{tail(log_file)}")


_apt_updated = False


def apt_install(packages: Sequence[str]) -> None:
    """Install host packages (root on Debian only), running `apt-get update` at most once per process.
    Recommends stay on: that is how FACTS.md verified docker.io and debootstrap on this machine."""
    global _apt_updated
    if not can_apt():
        raise ProvisionError(f"missing host packages {' '.join(packages)} and not root on Debian; "
                             f"install them with: sudo apt-get install -y {' '.join(packages)}")
    apt_log = log_path("apt")
    env = command_env(DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        log("apt-get update")
        run_logged(["apt-get", "update"], apt_log, what="apt-get update", retries=1, env=env)
        _apt_updated = True
    log(f"apt-get install {' '.join(packages)}")
    run_logged(["apt-get", "install", "-y", *packages], apt_log,
               what=f"apt-get install {' '.join(packages)}", retries=1, env=env)


# Host tool -> the Debian package that provides it.
TOOL_PACKAGES = {
    "dockerd": "docker.io",
    "docker": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
    "docker-registry": "docker-registry",
    "qemu-aarch64-static": "qemu-user-static",
    "qemu-x86_64-static": "qemu-user-static",
    "update-binfmts": "binfmt-support",
}


def ensure_tools(*tools: str) -> dict[str, Path]:
    """Make sure host tools exist, installing only the missing ones with apt; returns their paths."""
    missing = [t for t in tools if which(t) is None]
    if missing:
        apt_install(sorted({TOOL_PACKAGES[t] for t in missing}))
    found = {t: which(t) for t in tools}
    still = [t for t, p in found.items() if p is None]
    if still:
        raise ProvisionError(f"{', '.join(still)} still not found after installing "
                             f"{', '.join(TOOL_PACKAGES[t] for t in still)}")
    return {t: Path(p) for t, p in found.items() if p}


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """A cross-process lock, so parallel pytest workers don't build the same thing twice."""
    lock = Path(os.environ.get("TMPDIR", "/tmp")) / f"uv-user-harness-{name}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # created by another user: a read-only fd can still hold a flock
        fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
