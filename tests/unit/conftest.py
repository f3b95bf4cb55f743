"""Shared fixtures for the unit suite: a local index server, a recording fake uv, plan inputs.

Everything here runs on the host's python3 without Docker or network access:
the "index" is tests/fakeindex.py's http.server on 127.0.0.1 serving pages the test hands it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

from fakeindex import LocalIndex
from harness.common import run
from uv_user import facts as facts_mod
from uv_user import options as options_mod
from uv_user import paths as paths_mod
from uv_user.users import Account
from uv_user.wheels import Platform, WheelFile


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- local index server
# The server is tests/fakeindex.py's (the hardening tests run the same one in a container).


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
    monkeypatch.setattr(paths, name, value)."""
    return {name: str(root) + getattr(paths_mod, name)[len(paths_mod.ROOT):] for name in TREE_NAMES}


def scratch_layout(base: Path) -> Dict[str, object]:
    """Every place uv-user installs to, moved below ``base``: what the hidden `install --prefix` does."""
    return paths_mod.relocated(str(base))


def _moved(monkeypatch: pytest.MonkeyPatch, moved: Dict[str, object]) -> Dict[str, object]:
    for name, value in moved.items():
        monkeypatch.setattr(paths_mod, name, value)
    return moved


@pytest.fixture
def tree_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Dict[str, object]]:
    """tree_at(root): point paths' managed tree at ``root`` for this test; returns scratch_tree(root)."""
    return lambda root: _moved(monkeypatch, dict(scratch_tree(root)))


@pytest.fixture
def layout_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Dict[str, object]]:
    """layout_at(base): point every place uv-user installs to below ``base`` for this test."""
    return lambda base: _moved(monkeypatch, scratch_layout(base))


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


# --------------------------------------------------------------------------- the entry script, as a command

FEATURE_DIR = Path(__file__).resolve().parents[2] / "src" / "uv-user"


@pytest.fixture
def run_uv_user() -> Callable[..., "subprocess.CompletedProcess[str]"]:
    """run_uv_user(args, env, timeout=60): run uv-user.py as install.sh and the entrypoint run it (this
    python3, the environment exactly ``env``), capturing its output; never raises on an exit code.
    `repair` and `sync` get --state (the session's, see below) unless the arguments name one."""

    def call(args: List[str], env: Dict[str, str], timeout: float = 60) -> "subprocess.CompletedProcess[str]":
        args = list(args)
        if args[:1] in (["repair"], ["sync"]) and "--state" not in args:
            args += ["--state", paths_mod.REPAIR_STATE]
        return run([sys.executable, str(FEATURE_DIR / "uv-user.py")] + args, env=env, check=False, timeout=timeout)

    return call


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

# Where CLI runs in a test write the repair's status file: run_uv_user passes --state, and test_doctor's
# run_doctor puts `paths.REPAIR_STATE = os.environ[STATE_VARIABLE]` before the CLI (uv-user reads no variable).
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
