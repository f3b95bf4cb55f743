"""ghcr.io for the devcontainers CLI: the real one when it is reachable, else a local stand-in.

uv-user declares `installsAfter` on official features, as every official feature does, and the
devcontainers CLI resolves each such reference over the network at every build, even when the
configuration does not use that feature. This machine reaches no container registry, so the
harness stands in for ghcr.io:

- a throw-away CA and a certificate for ghcr.io (and 127.0.0.1) made with openssl, in build/ghcr/;
- Debian's docker-registry serving it on 127.0.0.1:443 (harness.registry in TLS mode);
- `127.0.0.1 ghcr.io` in /etc/hosts, marked as ours: a stale entry from a killed run is recognised
  and replaced, and an entry someone else wrote is never touched;
- the CA trusted by the devcontainers CLI only: harness.cli.cli_env() sets NODE_EXTRA_CA_CERTS
  (and keeps ghcr.io away from any proxy) for every CLI run;
- the features in harness/standin-features published under their real references
  (ghcr.io/devcontainers/features/python:1, ...).

Docker never needs it: features are not images. stop_ghcr() undoes all of it, only in the process
that set it up (or adopted it after that process died). When https://ghcr.io/v2/ answers over TLS
the system trusts, nothing is provisioned and nothing is touched; UVUSER_GHCR=standin forces the
stand-in anyway (publish_feature needs it: nobody can publish uv-user to the real ghcr.io here).

    from harness import ghcr
    g = ghcr.ensure_ghcr()                    # Ghcr(standin=True, registry=Registry(..., started=True))
    pub = ghcr.publish_feature(ghcr.BEFORE)   # Publication(ref="ghcr.io/aaa-features/uv-user/uv-user:1", ...)
    ghcr.stop_ghcr()                          # True when it stopped the stand-in
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

from .cli import ensure_cli
from .common import REPO_ROOT, ProvisionError, exclusive, is_root, log, log_path, run, which
from .registry import Registry, Server, Tls, ensure_registry, owner, running, stop_registry
from .release import files_sha256

HOSTNAME = "ghcr.io"
HOSTS = Path("/etc/hosts")
MARK = "# uv-user harness: ghcr.io stand-in, state in "  # followed by the state directory
STATE = REPO_ROOT / "build" / "ghcr"  # git-ignored: CA, certificate, registry state and storage
FEATURES = Path(__file__).resolve().parent / "standin-features" / "devcontainers"
OFFICIAL_NAMESPACE = "devcontainers/features"
CHECK_TIMEOUT = 5.0
CERT_DAYS = 30

# Namespaces to publish uv-user under. Inside one install round the CLI orders features by their
# reference, so these put ghcr.io/<namespace>/uv-user before or after ghcr.io/devcontainers/features/*.
BEFORE = "aaa-features/uv-user"  # ghcr.io/aaa-features/uv-user/uv-user:1
AFTER = "zzz-features/uv-user"   # ghcr.io/zzz-features/uv-user/uv-user:1
DOCUMENTED = "uv-user/features"  # ghcr.io/uv-user/features/uv-user:1, the README's (sorts after, too)


@dataclasses.dataclass(frozen=True)
class Ghcr:
    """What ensure_ghcr found or made."""
    standin: bool               # False: the real ghcr.io answers, nothing was provisioned
    registry: Registry | None   # the stand-in's registry; .started: whether this process owns it

    @property
    def started(self) -> bool:
        return self.registry is not None and self.registry.started


@dataclasses.dataclass(frozen=True)
class Publication:
    """uv-user as publish_feature left it on the stand-in."""
    ref: str      # what a devcontainer.json names: ghcr.io/<namespace>/uv-user:<major>
    digest: str   # the manifest digest every tag points at (devcontainer-lock.json's "resolved" ends with it)
    version: str  # the version in src/uv-user/devcontainer-feature.json


def _server(state: Path) -> Server:
    return Server(443, state / "registry", Tls(HOSTNAME, state / "server.pem", state / "server.key", state / "ca.pem"))


# ---------------------------------------------------------------------------------------- /etc/hosts

def _ours(line: str) -> bool:
    return MARK in line


def _marked_state() -> Path | None:
    """The state directory our /etc/hosts entry names, if there is one."""
    try:
        lines = HOSTS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if _ours(line):
            return Path(line.split(MARK, 1)[1].strip())
    return None


def _foreign_entry() -> str | None:
    """An /etc/hosts line not written by us that names ghcr.io: ours would never take effect after it."""
    for line in HOSTS.read_text().splitlines():
        if not _ours(line) and HOSTNAME in line.split("#", 1)[0].split()[1:]:
            return line
    return None


def _write_hosts(lines: list[str]) -> None:
    """Rewrite /etc/hosts in place: it may be a bind mount (containers), where a rename fails."""
    text = "".join(line + "\n" for line in lines)
    try:
        with HOSTS.open("r+") as fh:
            fh.write(text)
            fh.truncate()
    except OSError as exc:
        raise ProvisionError(f"cannot rewrite {HOSTS} ({exc.strerror}); the ghcr.io stand-in needs a writable "
                             f"{HOSTS} to map ghcr.io to 127.0.0.1") from None


def _set_hosts(state: Path) -> None:
    lines = [line for line in HOSTS.read_text().splitlines() if not _ours(line)]
    _write_hosts(lines + [f"127.0.0.1 {HOSTNAME} {MARK}{state}"])


def _clear_hosts() -> None:
    lines = HOSTS.read_text().splitlines()
    kept = [line for line in lines if not _ours(line)]
    if kept != lines:
        _write_hosts(kept)


# ---------------------------------------------------------------------------------------- what the CLI trusts

def node_ca_bundle() -> Path | None:
    """What NODE_EXTRA_CA_CERTS must name for the CLI while a stand-in is up (harness.cli.cli_env uses
    it): its CA plus whatever NODE_EXTRA_CA_CERTS named when it was set up. None when none is up."""
    state = _marked_state()
    bundle = state / "node-ca.pem" if state else None
    return bundle if bundle is not None and bundle.is_file() else None


def _write_node_bundle(state: Path) -> None:
    """Node reads one extra CA file: keep the certificates the caller already trusted (a proxy's CA)."""
    parts = [(state / "ca.pem").read_text()]
    inherited = os.environ.get("NODE_EXTRA_CA_CERTS")
    if inherited and Path(inherited).is_file() and Path(inherited).resolve() != (state / "node-ca.pem").resolve():
        parts.append(Path(inherited).read_text())
    (state / "node-ca.pem").write_text("\n".join(part.strip() + "\n" for part in parts))


def _make_certs(state: Path) -> None:
    """A throw-away CA and a server certificate for ghcr.io and 127.0.0.1, unless current ones exist."""
    ca, cert, key = state / "ca.pem", state / "server.pem", state / "server.key"
    if which("openssl") is None:
        raise ProvisionError("openssl is needed for the ghcr.io stand-in's certificate: apt-get install -y openssl")
    log_file = log_path("ghcr")
    if cert.exists() and key.exists() and ca.exists() and run(
            ["openssl", "x509", "-checkend", "86400", "-noout", "-in", str(cert)], check=False).returncode == 0:
        return  # valid for at least another day
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)  # a non-root host user's CLI must read node-ca.pem
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", str(state / "ca.key"), "-out", str(ca),
         "-days", str(CERT_DAYS), "-subj", "/CN=uv-user harness throw-away CA (ghcr.io stand-in)",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        log_file=log_file, what="openssl: the stand-in's CA")
    run(["openssl", "req", *ec, "-keyout", str(key), "-out", str(state / "server.csr"),
         "-subj", f"/CN={HOSTNAME}"], log_file=log_file, what="openssl: the ghcr.io key")
    (state / "server.ext").write_text(f"subjectAltName=DNS:{HOSTNAME},IP:127.0.0.1\n"
                                      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                      "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", str(state / "server.csr"), "-CA", str(ca),
         "-CAkey", str(state / "ca.key"), "-CAcreateserial", "-days", str(CERT_DAYS),
         "-extfile", str(state / "server.ext"), "-out", str(cert)],
        log_file=log_file, what="openssl: the ghcr.io certificate")
    for private in (state / "ca.key", key):
        os.chmod(private, 0o600)


# ---------------------------------------------------------------------------------------- the real one

def real_ghcr_reachable(timeout: float = CHECK_TIMEOUT) -> bool:
    """Whether https://ghcr.io/v2/ answers (any HTTP status) over TLS the system trust store accepts,
    through the proxy the environment names, as the CLI would go. Bounded even when DNS hangs."""
    answered: list[bool] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(f"https://{HOSTNAME}/v2/", timeout=timeout).close()
            answered.append(True)
        except urllib.error.HTTPError:  # 401 without a token: that is ghcr.io answering
            answered.append(True)
        except (OSError, ValueError):
            answered.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return bool(answered and answered[0])


# ---------------------------------------------------------------------------------------- set up, tear down

def ensure_ghcr() -> Ghcr:
    """ghcr.io for the CLI: the real one if it answers, else the stand-in, started (as root) if it is not up.

    Cheap when the stand-in is already up: a look at /etc/hosts, one request, no publishing."""
    with exclusive("ghcr"):
        marked = _marked_state()
        if marked is not None:
            if running(_server(marked)):
                reg = ensure_registry(_server(marked))  # another process's: used; an orphan: adopted
                _publish_official(reg, marked)
                return Ghcr(standin=True, registry=reg)
            log(f"removing a stale ghcr.io stand-in entry from {HOSTS} (its registry is gone)")
            _clear_hosts()
        if os.environ.get("UVUSER_GHCR", "auto") != "standin" and real_ghcr_reachable():
            log("ghcr.io is reachable: using the real one, no stand-in")
            return Ghcr(standin=False, registry=None)
        if not is_root():
            raise ProvisionError("ghcr.io is unreachable and the stand-in needs root (port 443, /etc/hosts): "
                                 "run `sudo python3 -m harness provision` once")
        foreign = _foreign_entry()
        if foreign is not None:
            raise ProvisionError(f"{HOSTS} already maps ghcr.io in a line the harness did not write ({foreign!r}); "
                                 "remove it, or stop what it points at, so the harness can stand in for ghcr.io")
        _make_certs(STATE)
        _write_node_bundle(STATE)
        reg = ensure_registry(_server(STATE))
        _set_hosts(STATE)
        log(f"ghcr.io stands in at {reg.url}: /etc/hosts maps it to 127.0.0.1; the CLI trusts "
            f"{STATE / 'ca.pem'} through NODE_EXTRA_CA_CERTS")
        try:
            _publish_official(reg, STATE)
        except ProvisionError:
            if reg.started:
                _stop(STATE)
            raise
        return Ghcr(standin=True, registry=reg)


def stop_ghcr() -> bool:
    """Undo ensure_ghcr unless another live process owns the stand-in: stop the registry, remove the
    /etc/hosts entry and the state directory (CA, certificate, storage). Returns whether it did.
    Callers stop it when their Ghcr says started; `python3 -m harness stop-ghcr` after a provision."""
    with exclusive("ghcr"):
        state = _marked_state() or STATE
        if not running(_server(state)) or owner(_server(state)) == "alive":
            return False
        _stop(state)
        return True


def _stop(state: Path) -> None:
    stop_registry(_server(state))
    _clear_hosts()
    log(f"ghcr.io stand-in stopped; removed its {HOSTS} entry and {state}")
    shutil.rmtree(state, ignore_errors=True)


# ---------------------------------------------------------------------------------------- content

def _publish(reg: Registry, collection: Path, namespace: str) -> None:
    """`devcontainer features publish` of a folder of features to the stand-in (output in build/logs/ghcr.log)."""
    run([str(ensure_cli()), "features", "publish", str(collection), "--registry", reg.host, "--namespace", namespace,
         "--log-level", "info"], log_file=log_path("ghcr"),
        what=f"publishing {collection} to the ghcr.io stand-in as {namespace}")


def _publish_official(reg: Registry, state: Path) -> None:
    """harness/standin-features/devcontainers as ghcr.io/devcontainers/features/<id>, once per content:
    changed files replace what an earlier run published (publish itself skips a version it finds)."""
    want = files_sha256(FEATURES)
    stamp = state / "official.sha256"
    ids = sorted(p.parent.name for p in FEATURES.glob("*/devcontainer-feature.json"))
    if stamp.exists() and stamp.read_text().strip() == want and all(
            reg.tags(f"{OFFICIAL_NAMESPACE}/{i}") for i in ids):
        return
    if not reg.started:
        raise ProvisionError(f"the ghcr.io stand-in another process runs ({reg.url}) serves other official "
                             "features than harness/standin-features; stop that process first")
    for feature_id in ids:
        reg.delete_repository(f"{OFFICIAL_NAMESPACE}/{feature_id}")
    log(f"publishing {', '.join(ids)} to the stand-in as ghcr.io/{OFFICIAL_NAMESPACE}/<id>")
    _publish(reg, FEATURES, OFFICIAL_NAMESPACE)
    missing = [i for i in ids if not reg.tags(f"{OFFICIAL_NAMESPACE}/{i}")]
    if missing:
        raise ProvisionError(f"after publishing, the stand-in lacks {', '.join(missing)}; see {log_path('ghcr')}")
    stamp.write_text(want + "\n")


def publish_feature(namespace: str, src: Path = REPO_ROOT / "src", feature: str = "uv-user") -> Publication:
    """(Re)publish src/<feature> to the stand-in as ghcr.io/<namespace>/<feature>; returns its reference.

    Never stale: when the files differ from the last publication under namespace, the old manifests are
    deleted first (`features publish` silently skips a version the registry has). The CLI keeps no
    feature cache between runs (it downloads into a fresh temp folder each time), so a build after this
    gets exactly these files, and its devcontainer-lock.json names Publication.digest."""
    ghcr = ensure_ghcr()
    if not ghcr.standin or ghcr.registry is None:
        raise ProvisionError(f"ghcr.io is the real one here: uv-user cannot be published to ghcr.io/{namespace}; "
                             "set UVUSER_GHCR=standin to use the harness's stand-in instead")
    reg = ghcr.registry
    metadata = json.loads((src / feature / "devcontainer-feature.json").read_text())
    version = str(metadata["version"])
    repo = f"{namespace}/{feature}"
    files = files_sha256(src / feature)
    record_path = (_marked_state() or STATE) / "published.json"
    with exclusive("ghcr-publish"):
        records = json.loads(record_path.read_text()) if record_path.exists() else {}
        known = records.get(repo, {})
        current = reg.digest(repo, version) if version in reg.tags(repo) else None
        if not (known.get("files") == files and current is not None and known.get("digest") == current):
            reg.delete_repository(repo)
            with tempfile.TemporaryDirectory(prefix="uv-user-publish-") as tmp:
                # Only this feature, without bytecode: what the release workflow publishes from a clean checkout.
                shutil.copytree(src / feature, Path(tmp) / feature,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                log(f"publishing {src / feature} ({version}) to the stand-in as ghcr.io/{repo}")
                _publish(reg, Path(tmp), namespace)
            current = reg.digest(repo, version)
            records[repo] = {"files": files, "digest": current}
            record_path.write_text(json.dumps(records, indent=2) + "\n")
    return Publication(ref=f"{HOSTNAME}/{repo}:{version.split('.')[0]}", digest=current, version=version)
