"""A local OCI registry for publishing the feature: Debian's `docker-registry`, our own config, no auth.

    from harness.registry import ensure_registry, stop_registry
    reg = ensure_registry()        # Registry(host="localhost:5000", started=True, ...)
    ...  # devcontainer features publish src -r localhost:5000 -n uv-user/features
    stop_registry()                # only a registry this harness started; also removes its storage

It listens on 127.0.0.1 only. The devcontainers CLI speaks plain HTTP only to the hostname
`localhost`, so publish and reference it as `localhost:5000`. A registry that already answers on
the port is used as it is and never stopped by us.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .common import REPO_ROOT, ProvisionError, command_env, ensure_tools, exclusive, log, log_path, tail

PORT = 5000
STATE_DIR = REPO_ROOT / "build" / "registry"  # git-ignored: config, pid file, storage
START_TIMEOUT = 30.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclasses.dataclass(frozen=True)
class Registry:
    host: str     # what the CLI is given: `-r localhost:5000`, `localhost:5000/<namespace>/<id>:1`
    url: str      # the HTTP API, e.g. http://127.0.0.1:5000 (/v2/<name>/tags/list)
    started: bool  # whether this call started it (only then may stop_registry stop it)

    def api(self, path: str, method: str = "GET") -> tuple[dict[str, str], bytes]:
        """One registry API call (path starts with /v2/), OCI manifests accepted; headers and body."""
        request = urllib.request.Request(self.url + path, method=method, headers={"Accept": ", ".join(
            [OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"])})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            return {k.lower(): v for k, v in response.headers.items()}, response.read()

    def tags(self, name: str) -> list[str]:
        """The tags of repository name (e.g. uv-user/features/uv-user), sorted; [] if it has none."""
        try:
            return sorted(json.loads(self.api(f"/v2/{name}/tags/list")[1]).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def digest(self, name: str, tag: str) -> str:
        """The manifest digest a tag points at."""
        return self.api(f"/v2/{name}/manifests/{tag}", method="HEAD")[0]["docker-content-digest"]


def _paths(port: int) -> tuple[Path, Path, Path]:
    state = STATE_DIR / str(port)
    return state / "config.yml", state / "registry.pid", state / "storage"


def _answer(url: str) -> int | None:
    """HTTP status of GET url, straight to loopback (never via a proxy); None if nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def _ours(pidfile: Path, config: Path) -> int | None:
    """The pid in pidfile if it is a live docker-registry serving our config (not a recycled pid)."""
    try:
        pid = int(pidfile.read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2]
    except (OSError, ValueError):
        return None
    serving = argv[0].endswith(b"docker-registry") and str(config).encode() in argv
    return pid if serving and not state.startswith("Z") else None


def _check_answer(status: int | None, port: int) -> bool:
    """True when a registry without auth answers /v2/; an error when something else holds the port."""
    if status is None:
        return False
    if status == 200:
        return True
    raise ProvisionError(f"127.0.0.1:{port}/v2/ answers HTTP {status}, not an open registry (Debian's "
                         "docker-registry service with its default htpasswd config?); stop it "
                         "(`service docker-registry stop`) or free the port")


def ensure_registry(port: int = PORT) -> Registry:
    """A registry answering on 127.0.0.1:port, started in the background (as root: installed) if none is."""
    url = f"http://127.0.0.1:{port}"
    host = f"localhost:{port}"
    with exclusive(f"registry-{port}"):
        if _check_answer(_answer(f"{url}/v2/"), port):
            log(f"a registry already answers on {url}; using it as it is")
            return Registry(host, url, started=False)
        binary = ensure_tools("docker-registry")["docker-registry"]
        config, pidfile, storage = _paths(port)
        storage.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: no YAML writer needed. No `auth` section: no auth.
        config.write_text(json.dumps({
            "version": 0.1,
            "log": {"level": "info", "fields": {"service": "uv-user-registry"}},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{port}"},
        }, indent=2) + "\n")
        log_file = log_path(f"registry-{port}")
        log(f"starting docker-registry on {url} (storage {storage}, log {log_file})")
        with log_file.open("ab") as out:
            proc = subprocess.Popen([str(binary), "serve", str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=command_env())
        pidfile.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while not _check_answer(_answer(f"{url}/v2/"), port):
            if proc.poll() is not None:
                pidfile.unlink(missing_ok=True)
                raise ProvisionError(f"docker-registry exited with code {proc.returncode} while starting "
                                     f"(port {port} in use?); see {log_file}\n{tail(log_file)}")
            if time.monotonic() > deadline:
                _terminate(proc.pid, pidfile, config)
                raise ProvisionError(f"docker-registry did not answer {url}/v2/ within {START_TIMEOUT:.0f} s; "
                                     f"see {log_file}\n{tail(log_file)}")
            time.sleep(0.2)
    return Registry(host, url, started=True)


def _terminate(pid: int, pidfile: Path, config: Path) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _ours(pidfile, config) is not None:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline += 15
        time.sleep(0.2)
    pidfile.unlink(missing_ok=True)


def stop_registry(port: int = PORT) -> bool:
    """Stop the registry ensure_registry started on port, if it runs, and remove its storage.

    Returns whether one was stopped. A registry someone else runs is never touched."""
    config, pidfile, storage = _paths(port)
    with exclusive(f"registry-{port}"):
        pid = _ours(pidfile, config)
        if pid is None:
            pidfile.unlink(missing_ok=True)
            return False
        log(f"stopping docker-registry pid {pid}; removing {storage.parent}")
        _terminate(pid, pidfile, config)
        shutil.rmtree(storage.parent, ignore_errors=True)  # config and storage
        return True
