"""The entry script as install.sh and the entrypoint run it: one ``uv-user:`` line, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.common import run
from harness.devcontainer import chown_tree
from uv_user import cli, doctor, paths, privilege, repair

FEATURE_DIR = Path(__file__).resolve().parents[2] / "src" / "uv-user"

def assert_one_error_line(result, *fragments):
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("uv-user: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


# ----------------------------------------------------------------------------- install


@pytest.mark.parametrize("env, fragment", [
    ({"VERSION": "$(id)"}, "version '$(id)' is not valid"),
    ({"VERSION": "latest; rm -rf /"}, "version 'latest; rm -rf /' is not valid"),
    ({"INDEXURL": "http://example.com/simple"}, "is plain HTTP"),
    ({"SYSTEMCERTS": "maybe"}, "systemCerts 'maybe' is not a boolean"),
])
def test_install_with_a_bad_option_exits_1_with_one_line(cli_env, env, fragment, run_uv_user):
    result = run_uv_user(["install", "--dry-run"], cli_env(**env))
    assert result.returncode == 1
    assert_one_error_line(result, fragment, "(nothing was changed)")
    assert result.stdout == ""


def test_install_for_a_user_created_later_defers_the_owner_and_says_so(cli_env, fake_uv, run_uv_user):
    """A feature that creates the user (common-utils) may install after uv-user: never hand the tree to
    root silently; name the user, who gets it at start."""
    env = cli_env(VERSION="none", USERNAME="no-such-user",
                  PATH=str(fake_uv.bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    result = run_uv_user(["install", "--dry-run"], env)
    assert result.returncode == 0, result.stderr
    assert "uv-user: owner: no-such-user (not created yet: given the tree at start)" in result.stdout
    assert "uv-user: note: user no-such-user does not exist yet" in result.stdout
    plan = json.loads(result.stdout[result.stdout.index("{"):])
    assert plan["record"]["username"] == "no-such-user"
    assert plan["record"]["user_existed_at_build"] is False
    assert fake_uv.recorded_calls() == ["--version"]  # looked at, never used


def test_install_dry_run_with_version_none_prints_the_plan_and_only_asks_uv_its_version(cli_env, fake_uv, run_uv_user):
    existed = os.path.lexists(paths.ROOT)
    env = cli_env(VERSION="none", USERNAME="root", SHELLCOMPLETION="false",
                  PATH=str(fake_uv.bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    result = run_uv_user(["install", "--dry-run"], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "uv-user: uv 0.9.30: reuse the image's {}".format(fake_uv.path) in result.stdout
    assert "uv-user: shell completion: off" in result.stdout
    plan = json.loads(result.stdout[result.stdout.index("\n{") + 1:])
    assert plan["uv"] == {"action": "reuse", "version": "0.9.30", "binary": str(fake_uv.path), "wheel": None}
    assert plan["user"]["name"] == "root"
    assert fake_uv.recorded_calls() == ["--version"]
    assert os.path.lexists(paths.ROOT) == existed


def test_install_version_none_without_uv_on_path_exits_1(cli_env, tmp_path, run_uv_user):
    result = run_uv_user(["install", "--dry-run"], cli_env(VERSION="none", PATH=str(tmp_path)))
    assert result.returncode == 1
    assert_one_error_line(result, "version is none but no working uv is on PATH")


def test_install_dry_run_refuses_a_linked_venv_before_it_asks_the_index(cli_env, local_index, tmp_path,
                                                                       run_uv_user):
    """The dry run used to print "keep" and exit 0 (the venv looked valid through its link) while the real
    install refused it, after fetching the index."""
    base, target = tmp_path / "image", tmp_path / "elsewhere"
    root = Path(str(base) + paths.ROOT)
    (target / "bin").mkdir(parents=True)
    (target / "pyvenv.cfg").write_text("home = /usr/bin\n")
    os.symlink(sys.executable, str(target / "bin" / "python"))
    root.mkdir(parents=True)
    os.symlink(str(target), str(root / "venv"))
    env = cli_env(INDEXURL=local_index.url + "/simple", VERSION="0.13.9")
    for args in (["install", "--dry-run"], ["install"]):
        result = run_uv_user(args + ["--prefix", str(base)], env)
        assert result.returncode == 1
        assert_one_error_line(result, "uv-user: {} is a symlink (to {}); uv-user never writes through links".format(
            root / "venv", target), "(nothing was changed)")
        assert result.stdout == ""
    assert local_index.requests == []


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs: the install's first writes fit, the rest does not (mounting needs root)."""
    base = tmp_path / "small"
    base.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "uvuser-full", str(base)], check=True)
    try:
        yield base
    finally:
        subprocess.run(["umount", "-l", str(base)], check=False)


@pytest.mark.root  # install refuses to run for real as anyone else; mount
def test_install_on_a_full_disk_ends_in_one_line_naming_the_file_not_a_traceback(cli_env, fake_uv, full_disk,
                                                                                run_uv_user):
    env = cli_env(VERSION="none", USERNAME="root", PATH=str(fake_uv.bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    result = run_uv_user(["install", "--prefix", str(full_disk)], env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert line.startswith("uv-user: {}/".format(full_disk)), line
    assert ": No space left on device; free disk space" in line, line
    assert "nothing was changed" not in line
    assert os.path.isdir(str(full_disk) + paths.CACHE)  # written before the disk was full


# ----------------------------------------------------------------------------- repair


def test_repair_entrypoint_without_a_record_exits_0_with_one_line(cli_env, tmp_path, run_uv_user):
    record = tmp_path / "no-install.json"
    result = run_uv_user(["repair", "--entrypoint", "--record", str(record)], cli_env())
    assert result.returncode == 0
    assert_one_error_line(result, "no user recorded in {}".format(record))
    assert result.stdout == ""


def test_repair_entrypoint_for_a_vanished_user_exits_0_with_one_line(cli_env, run_uv_user):
    result = run_uv_user(["repair", "--entrypoint", "--user", "no-such-user"], cli_env())
    assert result.returncode == 0
    assert_one_error_line(result, "user 'no-such-user' does not exist in this container (yet, or any more)")


def test_repair_outside_the_entrypoint_fails_loudly(cli_env, run_uv_user):
    result = run_uv_user(["repair", "--user", "no-such-user"], cli_env())
    assert result.returncode == 1
    assert_one_error_line(result, "user 'no-such-user' does not exist in this container (yet, or any more)")


def test_repair_entrypoint_with_a_symlinked_root_exits_0_with_one_line(cli_env, tmp_path, run_uv_user):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "root-link")
    result = run_uv_user(["repair", "--entrypoint", "--user", "root", "--root", str(tmp_path / "root-link")], cli_env())
    assert result.returncode == 0
    assert_one_error_line(result, "is a symlink")


def test_repair_entrypoint_survives_an_unexpected_error_with_one_line(tmp_path, monkeypatch, capfd):
    # In this process, so the fault can be planted: the entry script only calls cli.main.
    (tmp_path / "tree").mkdir()

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(repair, "scan", boom)
    monkeypatch.setattr(repair, "repair", boom)
    code = cli.main(["repair", "--entrypoint", "--user", "root", "--root", str(tmp_path / "tree"),
                     "--state", paths.REPAIR_STATE])
    out, err = capfd.readouterr()
    assert code == 0
    assert_one_error_line(subprocess.CompletedProcess([], code, out, err),
                          "unexpected error (RuntimeError: disk on fire)")


_REPAIR_WORDS = ["repair", "--entrypoint", "--dry-run", "--continue", "--user", "--root", "--state", "--max-seconds",
                 "vscode", "/opt/x", "1.5", "1e-9", "inf", "nan", "-1", "", "--ent", "--user=x", "-h", "abc", "sync"]


def parsed(argv):
    from uv_user import cli

    try:
        return {key: repr(value) for key, value in vars(cli.parser().parse_args(argv)).items()}
    except SystemExit:
        return None


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(_REPAIR_WORDS), max_size=7).map(lambda words: ["repair"] + words))
@example(["repair", "--entrypoint"])
@example(["repair", "--continue", "--user", "vscode", "--root", "/opt/x", "--state", "/var/lib/x/repair.json"])
def test_a_repair_command_line_read_by_hand_is_what_the_parser_reads(argv):
    from uv_user import cli

    by_hand = cli.repair_args(argv)
    if by_hand is not None:
        with contextlib.redirect_stderr(io.StringIO()):
            assert {key: repr(value) for key, value in vars(by_hand).items()} == parsed(argv)


def test_the_plain_repair_command_lines_are_read_by_hand():
    from uv_user import cli

    for argv in (["repair", "--entrypoint"], ["repair", "--user", "root", "--root", "/tmp/t", "--state", "/tmp/s"],
                 ["repair", "--continue", "--user", "vscode", "--root", "/opt/uv-user", "--state", "/s"]):
        assert cli.repair_args(argv) is not None, argv
    for argv in (["repair", "--user=x"], ["repair", "--ent"], ["repair", "--max-seconds", "abc"], ["repair", "-h"],
                 ["sync"], ["doctor", "--fix"]):
        assert cli.repair_args(argv) is None, argv


@pytest.mark.root  # a real repair, as at a start
def test_a_start_imports_nothing_only_the_other_commands_need(cli_env, tmp_path):
    # Every container start runs `uv-user repair --entrypoint`: argparse, dataclasses, typing,
    # subprocess and json (re, enum) each cost milliseconds there (Performance in the README).
    tree = tmp_path / "tree"
    (tree / "venv" / "lib").mkdir(parents=True)
    (tree / "venv" / "lib" / "mod.py").write_text("")
    os.lchown(str(tree / "venv" / "lib"), 12345, 12345)
    record = tmp_path / "install.json"
    record.write_text(json.dumps({"username": "root", "options": {"autoSync": "lock"}}, indent=2))
    code = ("import sys; sys.path.insert(0, {feature!r})\nfrom uv_user import paths\n"
            "paths.RECORD, paths.ROOT, paths.REPAIR_STATE = {record!r}, {tree!r}, {state!r}\n"
            "from uv_user.cli import main\ncode = main(['repair', '--entrypoint'])\n"
            "print(sorted(set(sys.modules) & {{'argparse', 'dataclasses', 'typing', 'subprocess', 'inspect', 'json', "
            "'re', 'enum', 'uv_user.autosync', 'uv_user.facts'}}))\nsys.exit(code)").format(
                feature=str(FEATURE_DIR), record=str(record), tree=str(tree), state=str(tmp_path / "s" / "r.json"))
    result = subprocess.run([sys.executable, "-B", "-E", "-s", "-S", "-c", code], env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "uv-user: re-owned 1 of 4 entries under {} for root (0:0)\n[]\n".format(tree)
    assert os.lstat(str(tree / "venv" / "lib")).st_uid == 0


@pytest.mark.root  # chown to another uid
def test_repair_dry_run_reports_and_repair_fixes(cli_env, tmp_path, run_uv_user):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    os.lchown(tree / "sub", 12345, 12345)
    args = ["repair", "--user", "root", "--root", str(tree)]
    dry = run_uv_user(args + ["--dry-run"], cli_env())
    assert dry.returncode == 0 and dry.stderr == ""
    assert dry.stdout.startswith("uv-user: 1 entries under {} are not owned by root (0:0)".format(tree))
    assert os.lstat(tree / "sub").st_uid == 12345
    fixed = run_uv_user(args, cli_env())
    assert fixed.returncode == 0 and fixed.stderr == ""
    assert fixed.stdout == "uv-user: re-owned 1 of 2 entries under {} for root (0:0)\n".format(tree)
    assert os.lstat(tree / "sub").st_uid == 0


def test_version_flag_prints_the_feature_version(cli_env, run_uv_user):
    import uv_user
    result = run_uv_user(["--version"], cli_env())
    assert result.returncode == 0
    assert result.stdout.strip() == "uv-user " + uv_user.__version__


def test_no_subcommand_prints_help_and_exits_2(cli_env, run_uv_user):
    result = run_uv_user([], cli_env())
    assert result.returncode == 2
    assert "install" in result.stdout and "repair" in result.stdout


# ----------------------------------------------------------------------------- sudo


def recording_sudo(directory: Path, calls: Path, code: int = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    sudo = directory / "sudo"
    sudo.write_text('#!/bin/sh\necho "$0 $*" >> "{}"\nexit {}\n'.format(calls, code))
    sudo.chmod(0o755)
    return sudo


def test_sudo_is_found_only_in_the_system_directories_never_on_the_inherited_path(tmp_path, monkeypatch):
    # PATH starts with the dev user's /opt/uv-user/venv/bin: a `sudo` there must never run.
    calls = tmp_path / "calls"
    planted = recording_sudo(tmp_path / "venv-bin", calls)
    monkeypatch.setenv("PATH", "{}:{}".format(planted.parent, os.environ.get("PATH", "")))
    monkeypatch.setattr(paths, "SYSTEM_PATH", str(tmp_path / "no-sudo-here"))
    assert privilege.find_sudo() == ""
    assert privilege.sudo_works() is False
    assert not calls.exists()
    system = recording_sudo(tmp_path / "sbin", calls)
    monkeypatch.setattr(paths, "SYSTEM_PATH", "{}:{}".format(tmp_path / "no-sudo-here", system.parent))
    assert privilege.find_sudo() == str(system)
    assert privilege.sudo_works() is True
    assert calls.read_text() == "{} -n true\n".format(system)


def test_the_doctor_asks_about_sudo_without_importing_the_cli(tmp_path, monkeypatch):
    root = tmp_path / "tree"
    (root / "venv").mkdir(parents=True)
    asked = []
    monkeypatch.setitem(sys.modules, "uv_user.cli", None)  # importing it now fails
    monkeypatch.setattr(privilege, "sudo_works", lambda: asked.append(True) or False)
    monkeypatch.setattr(doctor, "gather_ownership", lambda root, record: doctor.Ownership(
        owner="vscode", uid=1000, gid=1000, scanned=2, mismatches=1, examples=["x (0:0)"]))
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    facts = doctor.gather(str(root), {"PATH": "/usr/bin:/bin"}, [])
    assert asked == [True] and facts.can_sudo is False


# ----------------------------------------------------------------------------- names the dev user chose

needs_root = pytest.mark.root  # chown to other uids; tests/conftest.py skips or fails it when not root
HOSTILE = b"bad\xff\nuv-user: all good"  # invalid UTF-8, and a newline that would forge a second line
SHOWN = "bad\\xff\\nuv-user: all good"


def hostile_tree(tmp_path: Path, name: bytes = HOSTILE) -> Path:
    """tree/ (root's) holding one file under ``name`` (a hostile one), hard-linked from outside (so it is refused)."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    (outside / "theirs").write_text("")
    os.lchown(str(outside / "theirs"), 12345, 12345)
    os.link(str(outside / "theirs"), os.path.join(os.fsencode(str(tree)), name))
    return tree


# C.UTF-8 gives Python's stdio surrogateescape (raw bytes and a forged line came out); a full UTF-8
# locale such as en_US.UTF-8 gives it strict errors (a traceback came out): PYTHONIOENCODING=utf-8 does that.
STDIO = [{"LC_ALL": "C.UTF-8"}, {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}]


@pytest.fixture(params=STDIO, ids=["C.UTF-8", "strict-utf-8"])
def utf8(request, cli_env):
    env = cli_env(**request.param)
    if "PYTHONIOENCODING" not in request.param:
        env.pop("PYTHONIOENCODING", None)
    return env


@needs_root
@pytest.mark.parametrize("extra, code", [([], 1), (["--entrypoint"], 0)])
def test_a_hostile_file_name_in_a_repair_message_stays_on_one_escaped_line(utf8, tmp_path, extra, code, run_uv_user):
    tree = hostile_tree(tmp_path)
    result = run_uv_user(["repair", "--user", "root", "--root", str(tree)] + extra, utf8)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stdout + result.stderr and result.stderr == ""
    line, = result.stdout.splitlines()
    assert line.startswith("uv-user: re-owned 0 of 2 entries under {} for root (0:0); 1 could not be changed, "
                           "e.g. {}/{}: a hard link with 1 of its 2 names outside".format(tree, tree, SHOWN)), line


@needs_root
def test_a_hostile_file_name_in_a_dry_run_stays_on_one_escaped_line(utf8, tmp_path, run_uv_user):
    tree = hostile_tree(tmp_path)
    result = run_uv_user(["repair", "--user", "root", "--root", str(tree), "--dry-run"], utf8)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == "uv-user: 1 entries under {0} are not owned by root (0:0), e.g. {0}/{1} " \
                            "(12345:12345)\n".format(tree, SHOWN)


@needs_root
def test_sync_from_the_lifecycle_hook_survives_a_hostile_file_name(utf8, tmp_path, run_uv_user):
    tree = hostile_tree(tmp_path)
    record = tmp_path / "install.json"
    record.write_text(json.dumps({"username": "root", "options": {"autoSync": "never"}}))
    (tmp_path / "ws").mkdir()
    result = run_uv_user(["sync", "--lifecycle", "--workspace", str(tmp_path / "ws"), "--root", str(tree),
                      "--record", str(record)], utf8)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    assert all(line.startswith("uv-user: ") for line in lines), lines
    assert any(SHOWN in line for line in lines), lines
    assert lines[-1] == "uv-user: autoSync is never: not syncing"


@needs_root
def test_repair_entrypoint_exits_0_even_when_something_could_not_be_changed(cli_env, tmp_path, run_uv_user):
    tree = hostile_tree(tmp_path, b"x")
    by_hand = run_uv_user(["repair", "--user", "root", "--root", str(tree)], cli_env())
    at_start = run_uv_user(["repair", "--user", "root", "--root", str(tree), "--entrypoint"], cli_env())
    assert (by_hand.returncode, at_start.returncode) == (1, 0)
    assert at_start.stdout == by_hand.stdout and "1 could not be changed" in at_start.stdout


# ----------------------------------------------------------------------------- bounded starts


def wait_for_state(path: Path, wanted: str, seconds: float = 30.0) -> dict:
    end = time.monotonic() + seconds
    while True:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("state") == wanted or time.monotonic() > end:
            return state
        time.sleep(0.05)


@needs_root
def test_what_the_bound_leaves_continues_in_a_detached_process_that_finishes_it(cli_env, tmp_path, run_uv_user):
    tree = tmp_path / "tree"
    for i in range(30):
        (tree / "venv" / "d{}".format(i)).mkdir(parents=True)
        for j in range(10):
            (tree / "venv" / "d{}".format(i) / "f{}".format(j)).write_text("")
    chown_tree(tree, 12345, 12345)
    state = tmp_path / "state" / "repair.json"
    # A bound that is over at once: the entrypoint's run re-owns (nearly) nothing, then hands over.
    result = run_uv_user(["repair", "--entrypoint", "--user", "root", "--root", str(tree), "--max-seconds", "1e-9",
                  "--state", str(state)], cli_env())
    assert result.returncode == 0 and result.stderr == ""
    line, = result.stdout.splitlines()
    assert "stopped after 1e-09 s: the rest continues in the background (pid " in line, line
    pid = int(line.rsplit("(pid ", 1)[1].split(";")[0])
    done = wait_for_state(state, "complete")
    assert done["state"] == "complete", done
    assert (done["pid"], done["background"], done["error_count"]) == (pid, True, 0)
    assert done["finished"] >= done["started"] and done["deadline_seconds"] == repair.BACKGROUND_SECONDS
    assert run(["find", str(tree), "!", "-uid", "0"]).stdout == ""
    assert oct(os.stat(str(state)).st_mode & 0o777) == "0o644" and oct(os.stat(str(state.parent)).st_mode & 0o777) \
        == "0o755"


@needs_root
def test_a_start_with_nothing_to_repair_says_nothing_and_records_it(cli_env, tmp_path, run_uv_user):
    tree = tmp_path / "tree"
    (tree / "venv").mkdir(parents=True)
    state = tmp_path / "state" / "repair.json"
    result = run_uv_user(["repair", "--entrypoint", "--user", "root", "--root", str(tree), "--state", str(state)],
                     cli_env())
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    recorded = json.loads(state.read_text())
    assert (recorded["state"], recorded["scanned"], recorded["changed"], recorded["deadline_seconds"]) == (
        "complete", 2, 0, repair.START_SECONDS)
