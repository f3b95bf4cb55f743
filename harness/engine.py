"""The Docker engine: use a running one, else (as root on Debian) install and start dockerd ourselves.

We record the pid of a dockerd we started in our own pid file, so stop_engine() can never stop an
engine someone else runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .common import ProvisionError, can_apt, command_env, ensure_tools, log, run, tail, which

DOCKERD_LOG = Path("/var/log/uv-user-dockerd.log")
OUR_PIDFILE = Path("/var/run/uv-user-dockerd.pid")  # only a dockerd that WE started
DOCKER_PIDFILE = Path("/var/run/docker.pid")        # written by any dockerd
START_TIMEOUT = 60.0


def _docker_info() -> tuple[bool, str]:
    """Whether `docker info` reaches a server, and if not, docker's own last word on why."""
    if which("docker") is None:
        return False, "no docker client on PATH"
    try:
        result = run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30)
    except subprocess.TimeoutExpired:
        return False, "`docker info` timed out"
    ok = result.returncode == 0 and result.stdout.strip() not in ("", "<no value>")
    return ok, (result.stderr.strip().splitlines() or ["no server version"])[-1]


def engine_ready() -> bool:
    """True when `docker info` reaches a server."""
    return _docker_info()[0]


def _live_dockerd(pidfile: Path) -> int | None:
    """The pid in pidfile if it names a running dockerd (not a recycled pid), else None."""
    try:
        pid = int(pidfile.read_text().strip())
        comm, _, rest = Path(f"/proc/{pid}/stat").read_text().partition(") ")
    except (OSError, ValueError):
        return None
    return pid if comm.endswith("(dockerd") and not rest.startswith("Z") else None


def _wait_ready(proc: subprocess.Popen[bytes] | None, hint: str) -> None:
    """Poll `docker info` for up to START_TIMEOUT; fail early if our dockerd exits."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if engine_ready():
            return
        if proc is not None and proc.poll() is not None:
            raise ProvisionError(f"dockerd exited with code {proc.returncode} while starting; "
                                 f"see {DOCKERD_LOG}\n{tail(DOCKERD_LOG)}")
        time.sleep(1)
    log_tail = f"\n{tail(DOCKERD_LOG)}" if proc is not None else ""
    raise ProvisionError(f"the Docker engine did not answer `docker info` within {START_TIMEOUT:.0f} s; "
                         f"{hint}{log_tail}")


def ensure_engine() -> None:
    """Make `docker info` work, starting dockerd (detached, logged) only if we are root on Debian."""
    ready, why = _docker_info()
    if ready:
        return
    if not can_apt():
        raise ProvisionError(f"no Docker engine answers `docker info` ({why}); only root on Debian/Ubuntu "
                             "can start one here: start dockerd (or join the docker group) and retry")
    ensure_tools("docker", "dockerd")
    if engine_ready():  # the package's init script may have started one
        return
    pid = _live_dockerd(DOCKER_PIDFILE)
    if pid is not None:  # still starting, or wedged: never start a second one beside it
        log(f"dockerd pid {pid} is already running; waiting for it")
        _wait_ready(None, f"dockerd pid {pid} is running but not answering; see its log "
                          f"({DOCKERD_LOG} if the harness started it)")
        return
    DOCKER_PIDFILE.unlink(missing_ok=True)  # stale: dockerd refuses to start while it exists
    log(f"starting dockerd (log: {DOCKERD_LOG})")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DOCKERD_LOG.open("ab") as out:
        proc = subprocess.Popen([which("dockerd") or "dockerd"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=command_env())
    OUR_PIDFILE.write_text(f"{proc.pid}\n")
    started = time.monotonic()
    _wait_ready(proc, f"see {DOCKERD_LOG}")
    log(f"dockerd (pid {proc.pid}) is up after {time.monotonic() - started:.1f} s")


def stop_engine() -> bool:
    """Stop the dockerd that ensure_engine started, if any; returns whether one was stopped."""
    pid = _live_dockerd(OUR_PIDFILE)
    if pid is None:
        OUR_PIDFILE.unlink(missing_ok=True)
        log("no dockerd started by the harness is running; nothing to stop")
        return False
    log(f"stopping dockerd pid {pid}")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _live_dockerd(OUR_PIDFILE) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    if _live_dockerd(OUR_PIDFILE) is not None:
        raise ProvisionError(f"dockerd pid {pid} did not stop within 30 s; see {DOCKERD_LOG}")
    OUR_PIDFILE.unlink(missing_ok=True)
    return True
