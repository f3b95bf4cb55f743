"""Shared fixtures for the unit suite: a local index server, a recording fake uv, plan inputs.

Everything here runs on the host's python3 without Docker or network access:
the "index" is an http.server on 127.0.0.1 serving pages the test hands it.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple, Union

import pytest

from uv_user import facts as facts_mod
from uv_user import options as options_mod
from uv_user import paths as paths_mod
from uv_user.users import Account
from uv_user.wheels import Platform, WheelFile


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- local index server


@dataclass
class Reply:
    """One canned answer. ``hang`` stalls before the status line, ``hang_body`` after the headers.

    ``trickle`` sends the body one byte every that many seconds, after the headers (with
    ``trickle_headers``, the status line and headers too): every read gets a byte long before a socket
    timeout, so only a deadline on the whole fetch ends it. ``length`` replaces the Content-Length
    header ("" sends none, so the body ends when the connection closes).
    """

    status: int = 200
    body: bytes = b""
    ctype: str = "text/html"
    headers: Dict[str, str] = field(default_factory=dict)
    hang: bool = False
    hang_body: bool = False
    trickle: float = 0.0
    trickle_headers: bool = False
    length: Optional[str] = None
    reason: Optional[str] = None  # the status line's reason phrase (default: the standard one)


# A route is a list of replies served in order (the last one repeats), or a function of the
# request headers returning a reply.
Route = Union[List[Reply], Callable[[Dict[str, str]], Reply]]


class LocalIndex:
    """A threaded http.server on 127.0.0.1 with routes set per test, recording every request."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.routes: Dict[str, Route] = {}
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        self.release = threading.Event()  # set at teardown so hanging handlers end
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                headers = {k.lower(): v for k, v in self.headers.items()}
                index.requests.append((self.path, headers))
                reply = index._reply(self.path, headers)
                if reply.hang:
                    index.release.wait(10)
                    return
                reason = self.responses.get(reply.status, ("",))[0] if reply.reason is None else reply.reason
                head = ["{} {} {}".format(self.protocol_version, reply.status, reason), "Content-Type: " + reply.ctype]
                length = str(len(reply.body)) if reply.length is None else reply.length
                head += ["Content-Length: " + length] if length else []
                head += ["{}: {}".format(key, value) for key, value in reply.headers.items()]
                raw_head = "".join(line + "\r\n" for line in head + [""]).encode("latin-1")
                if reply.trickle_headers:
                    index.trickle(self.wfile, raw_head + reply.body, reply.trickle)
                    return
                self.wfile.write(raw_head)
                if reply.hang_body:
                    self.wfile.flush()
                    index.release.wait(10)
                    return
                if reply.trickle:
                    index.trickle(self.wfile, reply.body, reply.trickle)
                    return
                try:
                    self.wfile.write(reply.body)
                except OSError:  # the client gave up (a size cap)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = "{}://127.0.0.1:{}".format("https" if tls else "http", self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def trickle(self, out: BinaryIO, data: bytes, interval: float) -> None:
        """``data`` a byte at a time, ``interval`` seconds apart, until done, the client leaves or teardown."""
        for i in range(len(data)):
            try:
                out.write(data[i:i + 1])
                out.flush()
            except OSError:
                return
            if self.release.wait(interval):
                return

    def _reply(self, path: str, headers: Dict[str, str]) -> Reply:
        route = self.routes.get(path)
        if route is None:
            return Reply(404, b"not found", "text/plain")
        if callable(route):
            return route(headers)
        return route.pop(0) if len(route) > 1 else route[0]

    @staticmethod
    def reply(status: int = 200, body: bytes = b"", ctype: str = "text/html", **more: object) -> Reply:
        """A canned answer for ``routes`` (see Reply for the fields)."""
        return Reply(status, body, ctype, **more)  # type: ignore[arg-type]

    def paths_requested(self) -> List[str]:
        return [p for p, _ in self.requests]

    def start(self) -> "LocalIndex":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not be sent to a proxy the host happens to configure."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def local_index(no_proxy: None) -> Iterator[LocalIndex]:
    """An index server on 127.0.0.1 with no routes yet (every path answers 404)."""
    server = LocalIndex().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away self-signed certificate for 127.0.0.1 (cert.pem, key.pem); it is its own CA."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    where = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(where / "key.pem"),
                    "-out", str(where / "cert.pem")], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return where


@pytest.fixture
def tls_index(no_proxy: None, test_ca: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIndex]:
    """Like local_index, over HTTPS (https://127.0.0.1:PORT); SSL_CERT_FILE trusts its certificate, so
    create Fetchers after this fixture."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(test_ca / "cert.pem"), str(test_ca / "key.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca / "cert.pem"))
    server = LocalIndex(tls=context).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_port(no_proxy: None) -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- a recording fake uv


@dataclass
class FakeUv:
    bin_dir: Path
    path: Path
    calls: Path

    def recorded_calls(self) -> List[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def fake_uv(tmp_path: Path) -> FakeUv:
    """A ``uv`` that records its arguments and reports version 0.9.30; put bin_dir first on PATH."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    calls = tmp_path / "fake-uv-calls.log"
    script = bin_dir / "uv"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "{}"\necho "uv 0.9.30"\n'.format(calls))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return FakeUv(bin_dir, script, calls)


# --------------------------------------------------------------------------- uv-user's tree, elsewhere

# The paths attributes that name the managed tree (paths.managed_dirs() reads them when called).
TREE_NAMES = ("ROOT", "VENV", "CACHE", "PYTHONS", "TOOLS", "TOOL_BIN")


def scratch_tree(root: Path) -> Dict[str, str]:
    """The managed tree's paths moved under ``root`` (name → path), derived from paths itself: for
    monkeypatch.setattr(paths, name, value), or a CLI prelude."""
    return {name: str(root) + getattr(paths_mod, name)[len(paths_mod.ROOT):] for name in TREE_NAMES}


def scratch_layout(base: Path) -> Dict[str, object]:
    """Every place uv-user installs to (each absolute path in paths, and the completion files), moved
    below ``base``: derived from paths itself, so a new location moves too."""
    moved: Dict[str, object] = {name: str(base) + value for name, value in vars(paths_mod).items()
                                if name.isupper() and isinstance(value, str) and value.startswith("/")
                                and ":" not in value}  # not SYSTEM_PATH: where programs are, not a place
    moved["COMPLETION_FILES"] = {shell: tuple(str(base) + path for path in files)
                                 for shell, files in paths_mod.COMPLETION_FILES.items()}
    return moved


def _moved(monkeypatch: pytest.MonkeyPatch, moved: Dict[str, object]) -> Dict[str, object]:
    for name, value in moved.items():
        monkeypatch.setattr(paths_mod, name, value)
    return moved


def _prelude(moved: Dict[str, object]) -> str:
    return "from uv_user import paths\n" + "".join("paths.{} = {!r}\n".format(n, v) for n, v in moved.items())


@pytest.fixture
def tree_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Dict[str, object]]:
    """tree_at(root): point paths' managed tree at ``root`` for this test; returns scratch_tree(root)."""
    return lambda root: _moved(monkeypatch, dict(scratch_tree(root)))


@pytest.fixture
def layout_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Dict[str, object]]:
    """layout_at(base): point every place uv-user installs to below ``base`` for this test."""
    return lambda base: _moved(monkeypatch, scratch_layout(base))


@pytest.fixture
def tree_prelude() -> Callable[[Path], str]:
    """tree_prelude(root): what tree_at does, as Python for a CLI run's prelude."""
    return lambda root: _prelude(dict(scratch_tree(root)))


@pytest.fixture
def layout_prelude() -> Callable[[Path], str]:
    """layout_prelude(base): what layout_at does, as Python for a CLI run's prelude."""
    return lambda base: _prelude(scratch_layout(base))


# --------------------------------------------------------------------------- plan inputs

X86_GLIBC = Platform("x86_64", "glibc", (2, 36))
ROOT_ACCOUNT = Account("root", 0, 0)
VSCODE_ACCOUNT = Account("vscode", 1000, 1000)


@pytest.fixture
def make_options() -> Callable[..., options_mod.Options]:
    """Options as install.sh would read them from the environment (keys are the JSON names)."""

    def build(**values: str) -> options_mod.Options:
        return options_mod.read({name.upper(): value for name, value in values.items()})

    return build


@pytest.fixture
def make_facts() -> Callable[..., facts_mod.Facts]:
    """Facts of a plain Debian-like image with a vscode user; override any field."""

    def build(**overrides: object) -> facts_mod.Facts:
        values: Dict[str, object] = dict(
            platform=X86_GLIBC,
            python="/usr/bin/python3",
            accounts=[ROOT_ACCOUNT, VSCODE_ACCOUNT],
            remote_user="vscode",
        )
        values.update(overrides)
        return facts_mod.Facts(**values)  # type: ignore[arg-type]

    return build


def _wheel(version: str, tag: str, sha: Optional[str] = None, yanked: bool = False,
           base: str = "https://files.example/packages/") -> WheelFile:
    name = "uv-{}-py3-none-{}.whl".format(version, tag)
    return WheelFile(name, base + name, sha256_hex(name.encode()) if sha is None else sha, yanked)


@pytest.fixture
def make_wheel() -> Callable[..., WheelFile]:
    """make_wheel(version, tag, sha=None, yanked=False): a uv wheel entry as an index lists it."""
    return _wheel


@pytest.fixture
def index_files() -> List[WheelFile]:
    """uv 0.13.8 and 0.13.9 for x86_64 glibc/musl and aarch64, all with hashes."""
    tags = ("manylinux_2_17_x86_64.manylinux2014_x86_64", "musllinux_1_1_x86_64", "manylinux_2_28_aarch64")
    return [_wheel(v, t) for v in ("0.13.8", "0.13.9") for t in tags]


# What the devcontainers CLI exports to install.sh: one variable per option of the feature's JSON, and the user.
OPTION_VARIABLES = {name.upper() for name in json.loads(
    (Path(__file__).resolve().parents[2] / "src" / "uv-user" / "devcontainer-feature.json").read_text(
        encoding="utf-8"))["options"]} | {"_REMOTE_USER"}


@pytest.fixture
def cli_env() -> Callable[..., Dict[str, str]]:
    """cli_env(**extra): the host environment without option variables, plus ``extra``."""

    def build(**extra: str) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k.upper() not in OPTION_VARIABLES}
        env.update(extra)
        return env

    return build


# --------------------------------------------------------------------------- changing a tree mid-repair


class _Listed(list):
    """A directory listing already read (and stat()ed), usable where repair expects os.scandir's iterator."""

    def __enter__(self) -> "_Listed":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def after_listing(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, Callable[[], None]], None]:
    """after_listing(directory, change): run ``change`` (as a racing user would) right after the
    repair's walk has listed ``directory``, once: the moment between a listing and what follows it."""
    from uv_user import repair

    def arm(directory: Path, change: Callable[[], None]) -> None:
        real, target, done = repair._scandir, os.stat(str(directory)).st_ino, []

        def scandir(fd: int) -> _Listed:
            with real(fd) as entries:
                listed = _Listed(entries)
            for entry in listed:
                entry.stat(follow_symlinks=False)  # cached in the entry: its directory fd closes with the iterator
            if os.fstat(fd).st_ino == target and not done:
                done.append(True)
                change()
            return listed

        monkeypatch.setattr(repair, "_scandir", scandir)

    return arm


# --------------------------------------------------------------------------- the repair's status file

# Where CLI runs in a test write the repair's status file: test_cli.run and run_doctor put
# `paths.REPAIR_STATE = os.environ[STATE_VARIABLE]` before the CLI (uv-user itself reads no variable).
STATE_VARIABLE = "UVUSER_TEST_REPAIR_STATE"


@pytest.fixture(scope="session", autouse=True)
def _repair_state_stays_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Repairs run as root here: their status file goes to a tmp dir, never to the host's /var/lib."""
    host = paths_mod.REPAIR_STATE
    existed = os.path.lexists(host)
    state = str(tmp_path_factory.mktemp("var-lib-uv-user") / "repair.json")
    paths_mod.REPAIR_STATE, os.environ[STATE_VARIABLE] = state, state
    yield
    paths_mod.REPAIR_STATE = host
    os.environ.pop(STATE_VARIABLE, None)
    assert existed or not os.path.lexists(host), "a test wrote the host's " + host
