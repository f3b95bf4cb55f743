"""autoSync: what runs for which workspace, and the exit-code policy."""

from __future__ import annotations

import json
import os
import pwd
import stat

import pytest

from uv_user import autosync, options, paths
from uv_user.errors import UvUserError


NO_LOCK = "no uv.lock in the workspace: not syncing (run `uv sync`, or set autoSync to always)"
NO_PROJECT = "no pyproject.toml in the workspace: nothing to sync"
ALWAYS = "pyproject.toml found: syncing (autoSync always)"


@pytest.mark.parametrize("mode, present, args, reason", [
    ("lock", {"uv.lock", "pyproject.toml"}, ["sync", "--frozen"], "uv.lock found: installing exactly what it pins"),
    ("all", {"uv.lock", "pyproject.toml"}, ["sync", "--frozen", "--all-packages"],
     "uv.lock found: installing every workspace member exactly as it pins (autoSync all)"),
    ("all", {"pyproject.toml"}, None, NO_LOCK),
    ("lock", {"pyproject.toml"}, None, NO_LOCK),
    ("lock", set(), None, NO_LOCK),
    ("always", {"pyproject.toml"}, ["sync"], ALWAYS),
    ("always", {"pyproject.toml", "uv.lock"}, ["sync"], ALWAYS),
    ("always", set(), None, NO_PROJECT),
    ("never", {"pyproject.toml", "uv.lock"}, None, "autoSync is never: not syncing"),
])
def test_decide(mode, present, args, reason) -> None:
    decision = autosync.decide(mode, present)
    assert decision.args == args
    assert decision.reason == reason


def test_lock_mode_without_lock_says_how_to_get_a_sync() -> None:
    assert "autoSync to always" in autosync.decide("lock", {"pyproject.toml"}).reason


@pytest.mark.parametrize("raw, mode", [("lock", "lock"), ("ALWAYS", "always"), (" never ", "never")])
def test_option_values(raw, mode) -> None:
    assert options.read({"AUTOSYNC": raw}).auto_sync == mode


@pytest.mark.parametrize("raw", ["", "sometimes", "lock; rm -rf /", "$(id)"])
def test_bad_option_values_name_the_value(raw) -> None:
    with pytest.raises(UvUserError) as caught:
        options.read({"AUTOSYNC": raw})
    assert caught.value.line().startswith("uv-user: autoSync {!r}".format(raw))


def test_recorded_mode_falls_back_to_lock() -> None:
    assert autosync.recorded_mode({}) == "lock"
    assert autosync.recorded_mode({"options": {"autoSync": "never"}}) == "never"
    assert autosync.recorded_mode({"options": {"autoSync": "bogus"}}) == "lock"


@pytest.fixture
def fake_uv(tmp_path, monkeypatch):
    """A recording uv that exits with the code in $FAKE_UV_EXIT, named in a temp install record."""
    calls = tmp_path / "calls"
    uv = tmp_path / "uv"
    uv.write_text("#!/bin/sh\necho \"$PWD $*\" >> {}\nexit ${{FAKE_UV_EXIT:-0}}\n".format(calls))
    uv.chmod(uv.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "install.json"
    record.write_text(json.dumps({"uv": str(uv), "options": {"autoSync": "lock"}}))
    monkeypatch.setattr(paths, "RECORD", str(record))
    return calls


def test_run_syncs_frozen_in_the_workspace(tmp_path, fake_uv) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "uv.lock").write_text("")
    assert autosync.run(str(tmp_path / "ws"), None, True, lambda m: None) == 0
    assert fake_uv.read_text() == "{} sync --frozen\n".format(tmp_path / "ws")


def test_run_does_nothing_without_a_lock(tmp_path, fake_uv) -> None:
    assert autosync.run(str(tmp_path), None, True, lambda m: None) == 0
    assert not fake_uv.exists()


def test_failed_sync_is_loud_and_exit_zero_only_from_the_lifecycle_hook(tmp_path, fake_uv, monkeypatch, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\n")
    monkeypatch.setenv("FAKE_UV_EXIT", "2")
    assert autosync.run(str(tmp_path), "always", True, lambda m: None) == 0
    err = capsys.readouterr().err.splitlines()
    assert all(line.startswith("uv-user:") for line in err)
    assert any("autoSync FAILED: `uv sync` exited 2" in line for line in err)
    assert err[-1] == "uv-user: fix the project, then rerun: cd {} && uv sync".format(tmp_path)
    assert autosync.run(str(tmp_path), "always", False, lambda m: None) == 2




@pytest.fixture
def world_writable_tmp(tmp_path):
    """tmp_path reachable by another user (pytest's base dir is 0700)."""
    for path in [tmp_path, *[p for p in tmp_path.parents if str(p).startswith("/tmp/pytest-of-")]]:
        os.chmod(path, 0o777 if path == tmp_path else 0o755)
    return tmp_path


@pytest.mark.root
def test_root_syncs_the_environment_of_another_user_as_that_user(world_writable_tmp, monkeypatch) -> None:
    """Zed and other clients run lifecycle hooks as root: uv must run as the env's owner."""
    tmp = world_writable_tmp
    calls = tmp / "calls"
    uv = tmp / "uv"
    uv.write_text('#!/bin/sh\necho "$(id -u):$(id -g) $HOME $*" >> {}\n'.format(calls))
    uv.chmod(0o755)
    record = tmp / "install.json"
    record.write_text(json.dumps({"uv": str(uv), "username": "nobody", "options": {"autoSync": "lock"}}))
    monkeypatch.setattr(paths, "RECORD", str(record))
    (tmp / "uv.lock").write_text("")
    assert autosync.run(str(tmp), None, True, lambda m: None) == 0
    nobody = pwd.getpwnam("nobody")
    assert calls.read_text() == "{}:{} {} sync --frozen\n".format(nobody.pw_uid, nobody.pw_gid, nobody.pw_dir)


def test_root_never_syncs_for_an_owner_that_does_not_exist(tmp_path, monkeypatch, capsys) -> None:
    record = tmp_path / "install.json"
    record.write_text(json.dumps({"uv": "/bin/false", "username": "no-such-user"}))
    monkeypatch.setattr(paths, "RECORD", str(record))
    (tmp_path / "uv.lock").write_text("")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert autosync.run(str(tmp_path), None, True, lambda m: None) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["uv-user: the environment belongs to user no-such-user, who does not exist in this container, "
                   "and uv-user never syncs it as root; run `uv-user doctor` (nothing was changed)"]
    assert autosync.run(str(tmp_path), None, False, lambda m: None) == 1


def test_as_root_an_unrecorded_uv_is_looked_up_in_system_directories_only(tmp_path, monkeypatch) -> None:
    planted = tmp_path / "uv"
    planted.write_text("#!/bin/sh\n")
    planted.chmod(0o755)
    monkeypatch.setenv("PATH", "{}:{}".format(tmp_path, os.environ["PATH"]))
    assert autosync.uv_binary({}, 0) != str(planted)
    assert autosync.uv_binary({}, 1000) == str(planted)


def test_a_workspace_name_cannot_forge_a_line_or_reach_the_terminal(tmp_path, fake_uv, monkeypatch, capsys) -> None:
    # A folder name is the user's (or a cloned repository's): a newline, escapes, a byte that is not UTF-8.
    workspace = tmp_path / os.fsdecode(b"ws\nuv-user: the environment is in sync\x1b[2J\xff")
    workspace.mkdir()
    (workspace / "pyproject.toml").write_text("")
    monkeypatch.setenv("FAKE_UV_EXIT", "2")
    logged = []
    assert autosync.run(str(workspace), "always", True, logged.append) == 0
    lines = logged + capsys.readouterr().err.splitlines()
    assert all(line.isprintable() and line.isascii() for line in lines), lines
    assert all(line.startswith("uv-user:") for line in capsys.readouterr().err.splitlines())
    shown = "ws\\nuv-user: the environment is in sync\\x1b[2J\\xff"
    assert any(shown in line for line in logged) and shown in lines[-1]
