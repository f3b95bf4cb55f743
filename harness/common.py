"""Helpers shared by the provisioning modules: the one error type, progress lines, the command runner
(run: the harness's, the tests' and the benchmarks'), apt.

Everything here is stdlib-only so the harness runs before anything else is installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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


class CommandFailed(ProvisionError):
    """A command exited non-zero: the message quotes it and the ends of its output (or of its log)."""


def run(cmd: Sequence[str], *, check: bool = True, timeout: float | None = 1800, user: str | None = None,
        env: Mapping[str, str] | None = None, cwd: Path | str | None = None, stdin: Path | None = None,
        log_file: Path | None = None, what: str = "", retries: int = 0,
        before_retry: Callable[[], None] | None = None,
        error: type[Exception] = CommandFailed) -> subprocess.CompletedProcess[str]:
    """Run a host command to its end: the one way the harness, the tests and the benchmarks do.

    Output is captured as text (stdout and stderr apart, undecodable bytes replaced) or, with ``log_file``,
    appended to that file after a ``$ command`` line (the result's stdout and stderr are then "").
    stdin is the file ``stdin`` or /dev/null. ``env`` is the whole environment; by default ours with
    sbin on PATH and, while the harness's ghcr.io stand-in is up, its CA for the devcontainers CLI
    (harness.cli.cli_env), so no CLI run can miss it (other programs ignore it). ``user``: as that
    host user (runuser), with their HOME. ``retries``: run a failed command again that many times,
    ``before_retry`` first. With ``check``, a final non-zero exit raises ``error`` (CommandFailed, a
    ProvisionError; the benchmarks pass BenchError) naming ``what`` (default: the command) and quoting
    the ends of both streams, or the log's tail.
    """
    argv = [str(part) for part in cmd]
    if user:  # as a host user, with that user's HOME (the devcontainers CLI keeps state there)
        argv = ["runuser", "-u", user, "--", "env", "HOME=" + pwd.getpwnam(user).pw_dir] + argv
    if env is None:
        from .cli import cli_env  # cli imports this module
        env = cli_env(command_env())
    for attempt in range(retries + 1):
        with (stdin or Path(os.devnull)).open("rb") as inp, \
                (log_file.open("a") if log_file else contextlib.nullcontext()) as out:
            if out is not None:
                out.write(f"\n$ {' '.join(argv)}\n")
                out.flush()
            result = subprocess.run(argv, stdin=inp, stdout=out or subprocess.PIPE,
                                    stderr=subprocess.STDOUT if out else subprocess.PIPE, text=True,
                                    errors="replace", timeout=timeout, env=dict(env), cwd=cwd)
        if result.returncode == 0 or not check:
            break
        if attempt < retries:
            log(f"{what or argv[0]} failed (exit {result.returncode}); retrying")
            if before_retry:
                before_retry()
            time.sleep(3)
    result.stdout, result.stderr = result.stdout or "", result.stderr or ""
    if check and result.returncode != 0:
        if log_file:
            raise error(f"{what or ' '.join(argv)} failed (exit {result.returncode}); full log: {log_file}\n"
                        f"{tail(log_file)}")
        raise error(f"command failed ({result.returncode}): {' '.join(argv)}\n--- stdout\n{result.stdout[-6000:]}"
                    f"\n--- stderr\n{result.stderr[-6000:]}")
    return result


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
        run(["apt-get", "update"], log_file=apt_log, what="apt-get update", retries=1, env=env)
        _apt_updated = True
    log(f"apt-get install {' '.join(packages)}")
    run(["apt-get", "install", "-y", *packages], log_file=apt_log, what=f"apt-get install {' '.join(packages)}",
        retries=1, env=env)


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
