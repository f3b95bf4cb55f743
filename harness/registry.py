"""Local OCI registries: Debian's `docker-registry` with our own config, no auth, in one of two modes.

    from harness.registry import LOCAL, ensure_registry, stop_registry
    reg = ensure_registry()        # LOCAL: Registry(host="localhost:5000", started=True, ...)
    ...  # devcontainer features publish src -r localhost:5000 -n uv-user/features
    stop_registry()                # only a registry this harness started; also removes its storage

- Plain HTTP (LOCAL, 127.0.0.1:5000): the devcontainers CLI speaks plain HTTP only to the hostname
  `localhost`, so publish and reference it as `localhost:5000`. tests/integration/test_publish.py.
- TLS for a registry hostname (a Server with `tls`): serves that name's certificate on 127.0.0.1:port.
  harness/ghcr.py runs the ghcr.io stand-in this way (its CA, /etc/hosts entry and content).

It listens on 127.0.0.1 only. A registry we started records the process that asked for it (the
owner): while the owner lives, other processes use it without stopping it; a registry whose owner
died (a killed test run) is adopted by the next caller, which then stops it. On LOCAL's port, a
registry someone else runs is used as it is and never stopped by us.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .common import REPO_ROOT, ProvisionError, command_env, ensure_tools, exclusive, log, log_path, tail

PORT = 5000
STATE_DIR = REPO_ROOT / "build" / "registry"  # git-ignored: config, pid files, storage
START_TIMEOUT = 30.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclasses.dataclass(frozen=True)
class Tls:
    """Serve HTTPS as `hostname` with this certificate; clients check it against `ca`."""
    hostname: str
    cert: Path
    key: Path
    ca: Path


@dataclasses.dataclass(frozen=True)
class Server:
    """How one docker-registry runs: its port on 127.0.0.1, its state directory, plain HTTP or TLS."""
    port: int
    state: Path  # config.yml, registry.pid, owner, storage/ (all removed when we stop it)
    tls: Tls | None = None

    @property
    def host(self) -> str:
        """What the CLI is given: `-r localhost:5000`, or the TLS hostname (`ghcr.io`, port 443 implied)."""
        if self.tls is None:
            return f"localhost:{self.port}"
        return self.tls.hostname if self.port == 443 else f"{self.tls.hostname}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        """For locks and logs: registry-5000, registry-ghcr.io."""
        return f"registry-{self.tls.hostname if self.tls else self.port}"


LOCAL = Server(PORT, STATE_DIR / str(PORT))


def _opener(server: Server) -> urllib.request.OpenerDirector:
    """Straight to loopback (never via a proxy); for TLS, trusting only the server's CA. The certificate
    names the hostname and 127.0.0.1, so the API is reachable before any /etc/hosts entry exists."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if server.tls is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(server.tls.ca))))
    return urllib.request.build_opener(*handlers)


@dataclasses.dataclass(frozen=True)
class Registry:
    server: Server
    started: bool  # whether this process owns it (started or adopted it): only then may it stop it

    @property
    def host(self) -> str:
        """What the CLI is given: `-r localhost:5000`, `localhost:5000/<namespace>/<id>:1`."""
        return self.server.host

    @property
    def url(self) -> str:
        """The HTTP API, e.g. http://127.0.0.1:5000 (/v2/<name>/tags/list)."""
        return self.server.url

    def api(self, path: str, method: str = "GET") -> tuple[dict[str, str], bytes]:
        """One registry API call (path starts with /v2/), OCI manifests accepted; headers and body."""
        request = urllib.request.Request(self.url + path, method=method, headers={"Accept": ", ".join(
            [OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"])})
        with _opener(self.server).open(request, timeout=30) as response:
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

    def delete_repository(self, name: str) -> None:
        """Delete every manifest of repository name, so a publish of the same version is not skipped.

        In a registry we run, its files go too: after deleting through the API the registry still knows
        the name and lists `"tags": null`, on which `devcontainer features publish` fails."""
        for tag in self.tags(name):
            try:
                self.api(f"/v2/{name}/manifests/{self.digest(name, tag)}", method="DELETE")
            except urllib.error.HTTPError as exc:
                if exc.code != 404:  # 404: the digest went with an earlier tag
                    raise
        if _ours(self.server) is not None:
            repo = _files(self.server)[3] / "docker" / "registry" / "v2" / "repositories" / name
            for part in ("_manifests", "_layers", "_uploads"):  # not the repositories nested under it
                shutil.rmtree(repo / part, ignore_errors=True)


def _files(server: Server) -> tuple[Path, Path, Path, Path]:
    return (server.state / "config.yml", server.state / "registry.pid", server.state / "owner",
            server.state / "storage")


def _answer(server: Server) -> int | None:
    """HTTP status of GET /v2/; None if nothing answers (or, for TLS, not with our certificate)."""
    try:
        with _opener(server).open(f"{server.url}/v2/", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def _process_id(pid: int) -> str | None:
    """pid and its start time: names one process, never a later one that reuses the pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else f"{pid} {fields[19]}"


def _ours(server: Server) -> int | None:
    """The pid in the pid file if it is a live docker-registry serving our config (not a recycled pid)."""
    config, pidfile, _, _ = _files(server)
    try:
        pid = int(pidfile.read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    serving = argv[0].endswith(b"docker-registry") and str(config).encode() in argv
    return pid if serving and _process_id(pid) is not None else None


def owner(server: Server) -> str:
    """Who owns our registry: "me" (this process), "alive" (another running process) or "gone"."""
    try:
        owner = _files(server)[2].read_text().strip()
        pid = int(owner.split()[0])
    except (OSError, ValueError, IndexError):
        return "gone"
    if _process_id(pid) != owner:
        return "gone"
    return "me" if pid == os.getpid() else "alive"


def _claim(server: Server) -> None:
    _files(server)[2].write_text(f"{_process_id(os.getpid())}\n")


def _check_answer(status: int | None, server: Server) -> bool:
    """True when a registry without auth answers /v2/; an error when something else holds the port."""
    if status is None:
        return False
    if status == 200:
        return True
    raise ProvisionError(f"{server.url}/v2/ answers HTTP {status}, not an open registry (Debian's "
                         "docker-registry service with its default htpasswd config?); stop it "
                         "(`service docker-registry stop`) or free the port")


def running(server: Server) -> bool:
    """Whether our docker-registry for server is up (whoever in this checkout started it)."""
    return _ours(server) is not None


def ensure_registry(server: Server = LOCAL) -> Registry:
    """A registry answering on 127.0.0.1:port, started in the background (as root: installed) if none is.

    started=True when this process owns it: it started it, or adopted one whose owner died."""
    with exclusive(server.name):
        if _ours(server) is not None and _check_answer(_answer(server), server):
            whose = owner(server)
            if whose == "alive":
                log(f"{server.name} runs for another process; using it (that process stops it)")
                return Registry(server, started=False)
            if whose == "gone":
                log(f"{server.name} was left running by a process that ended; adopting it")
                _claim(server)
            return Registry(server, started=True)
        if server.tls is None and _check_answer(_answer(server), server):
            log(f"a registry already answers on {server.url}; using it as it is")
            return Registry(server, started=False)
        _start(server)
        _claim(server)
    return Registry(server, started=True)


def _start(server: Server) -> None:
    binary = ensure_tools("docker-registry")["docker-registry"]
    config, pidfile, _, storage = _files(server)
    storage.mkdir(parents=True, exist_ok=True)
    http: dict[str, object] = {"addr": f"127.0.0.1:{server.port}"}
    if server.tls is not None:
        http["tls"] = {"certificate": str(server.tls.cert), "key": str(server.tls.key)}
    # JSON is YAML: no YAML writer needed. No `auth` section: no auth.
    config.write_text(json.dumps({
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": f"uv-user-{server.name}"}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": http,
    }, indent=2) + "\n")
    log_file = log_path(server.name)
    log(f"starting docker-registry on {server.url} as {server.host} (storage {storage}, log {log_file})")
    with log_file.open("ab") as out:
        proc = subprocess.Popen([str(binary), "serve", str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=command_env())
    pidfile.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while not _check_answer(_answer(server), server):
        if proc.poll() is not None:
            pidfile.unlink(missing_ok=True)
            raise ProvisionError(f"docker-registry exited with code {proc.returncode} while starting "
                                 f"(port {server.port} in use?); see {log_file}\n{tail(log_file)}")
        if time.monotonic() > deadline:
            _terminate(proc.pid, server)
            raise ProvisionError(f"docker-registry did not answer {server.url}/v2/ within {START_TIMEOUT:.0f} s; "
                                 f"see {log_file}\n{tail(log_file)}")
        time.sleep(0.2)


def _terminate(pid: int, server: Server) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _ours(server) is not None:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline += 15
        time.sleep(0.2)
    _files(server)[1].unlink(missing_ok=True)


def stop_registry(server: Server = LOCAL) -> bool:
    """Stop the registry ensure_registry started for server, if it runs, and remove its state dir.

    Returns whether one was stopped. A registry someone else runs is never touched."""
    with exclusive(server.name):
        pid = _ours(server)
        if pid is None:
            _files(server)[1].unlink(missing_ok=True)
            return False
        log(f"stopping docker-registry pid {pid}; removing {server.state}")
        _terminate(pid, server)
        shutil.rmtree(server.state, ignore_errors=True)  # config, owner and storage
        return True
