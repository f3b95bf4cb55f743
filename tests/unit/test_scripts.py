"""The installed shell scripts, run for real by dash and bash against a scratch tree.

The dev user owns the environment's bin, which comes first on every process's PATH.
These tests plant programs there (``id``, ``stat``, ``sleep``, ``python``) that leave a
mark when run, then check that nothing running as root ran them, and that the dev
user's own shells still find the environment first, wherever PATH had put it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from uv_user import scripts


SHELLS = ["dash", "bash"]
NOBODY = 65534  # the dev user in these tests: `id -u nobody` resolves without creating accounts
STRANGER = 4242  # an owner that is neither root nor the shell's user
SYSTEM = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PLANTED = ("id", "stat", "sleep", "python", "uv-user")


@dataclass
class Layout:
    root: Path
    env: Path
    bin: Path
    marks: Path  # planted programs append their name here when they run

    @property
    def tool_bin(self) -> Path:
        return self.root / "bin"

    def ran(self) -> List[str]:
        return self.marks.read_text().split() if self.marks.exists() else []


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """<tmp>/opt-uv-user/venv/bin with planted programs; tmp_path made traversable for nobody."""
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:  # pytest's base dir is 0700
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, 0o755)
    root = tmp_path / "opt-uv-user"
    bin_dir = root / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    marks = tmp_path / "marks"
    marks.touch()
    os.chmod(marks, 0o666)
    for name in PLANTED:
        program = bin_dir / name
        program.write_text("#!/bin/sh\necho {} >> {}\n".format(name, marks))
        program.chmod(0o755)
    return Layout(root, root / "venv", bin_dir, marks)


def own(layout: Layout, uid: int) -> None:
    for path in (layout.root, layout.env, layout.bin, *layout.bin.iterdir()):
        os.lchown(path, uid, uid)


def as_user(uid: Optional[int]):
    if uid is None:
        return None

    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return drop


def sh(shell: str, script: str, *args: str, uid: Optional[int] = None, path: str = SYSTEM,
       env: Optional[Dict[str, str]] = None, timeout: float = 30) -> subprocess.CompletedProcess:
    environ = {"PATH": path, "HOME": "/", "LC_ALL": "C.UTF-8"}
    environ.update(env or {})
    return subprocess.run(["/usr/bin/" + shell, "-c", script, "sh", *args], env=environ, cwd="/",
                          preexec_fn=as_user(uid), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def profile_of(layout: Layout) -> str:
    return scripts.profile(root=str(layout.root), env=str(layout.env), cache=str(layout.root / "cache"),
                           pythons=str(layout.root / "python"), tools=str(layout.root / "tools"),
                           tool_bin=str(layout.tool_bin))


def report() -> str:
    """What the test reads back after sourcing: PATH and the uv variables, one per line."""
    return 'printf "%s\\n" "$PATH" "${UV_PROJECT_ENVIRONMENT-unset}" "${VIRTUAL_ENV-unset}"'


# --------------------------------------------------------------------------- /etc/profile.d/uv-user.sh


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("before", [
    "/usr/local/python/current/bin:/usr/local/py-utils/bin:{bin}:{tools}:/usr/bin:/bin",  # python feature after us
    "/usr/bin:/bin",                                                                        # /etc/profile reset PATH
    "/usr/bin:/bin:{tools}:{bin}",                                                          # at the end, swapped
    "{bin}:/usr/local/python/current/bin:{bin}:/usr/bin:/bin",                              # twice
])
def test_a_login_shell_of_the_dev_user_moves_the_env_and_tools_first_wherever_they_were(layout, shell, before):
    own(layout, NOBODY)
    path = before.format(bin=layout.bin, tools=layout.tool_bin)
    out = sh(shell, profile_of(layout) + report(), uid=NOBODY, path=path)
    assert out.returncode == 0, out.stderr
    got_path, project, venv = out.stdout.splitlines()
    entries = got_path.split(":")
    ours = [str(layout.bin), str(layout.tool_bin)]
    assert entries[:2] == ours
    assert entries.count(ours[0]) == 1 and entries.count(ours[1]) == 1
    assert entries[2:] == [e for e in path.split(":") if e not in ours]
    assert (project, venv) == (str(layout.env), str(layout.env))
    assert layout.ran() == []


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
def test_the_profile_keeps_uv_settings_the_user_already_made(layout, shell):
    own(layout, NOBODY)
    out = sh(shell, profile_of(layout) + report(), uid=NOBODY, env={"UV_PROJECT_ENVIRONMENT": "/elsewhere"})
    assert out.stdout.splitlines()[1] == "/elsewhere"


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
def test_a_root_login_shell_does_not_get_the_dev_users_bin(layout, shell):
    own(layout, STRANGER)
    tools = layout.root / "tools" / "bin"
    path = "{}:{}:/usr/bin:/bin".format(layout.bin, tools)
    out = sh(shell, profile_of(layout) + report() + "; id -u >/dev/null; python -c pass 2>/dev/null; true",
             path=path)
    assert out.returncode == 0, out.stderr
    got_path, project, venv = out.stdout.splitlines()
    assert got_path == "/usr/bin:/bin"
    assert (project, venv) == ("unset", "unset")
    assert layout.ran() == []


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
def test_root_keeps_the_env_when_the_tree_is_roots_own(layout, shell):
    own(layout, 0)
    out = sh(shell, profile_of(layout) + report(), path="/usr/bin:/bin")
    assert out.stdout.splitlines()[0] == "{}:{}:/usr/bin:/bin".format(layout.bin, layout.tool_bin)


# --------------------------------------------------------------------------- the container's start shell


@dataclass
class Start:
    entrypoint: Path  # a stub that records it ran and the PATH it saw
    start_shell: Path
    seen: Path


@pytest.fixture
def start(layout: Layout, tmp_path: Path) -> Start:
    seen = tmp_path / "seen"
    stub = tmp_path / "entrypoint.sh"
    stub.write_text('#!/bin/sh\necho "entrypoint $PATH" >> {}\n'.format(seen))
    stub.chmod(0o755)
    start_shell = tmp_path / "start-shell.sh"
    start_shell.write_text(scripts.start_shell(root=str(layout.root), env=str(layout.env),
                                               entrypoint_path=str(stub)))
    return Start(stub, start_shell, seen)


def cli_start_shell(line: str) -> str:
    """The devcontainers CLI's container command (0.89), with one keep-alive round instead of forever."""
    return 'echo Container started\ntrap "exit 0" 15\n{}\nexec "$@"\nsleep 0 & wait $!\n'.format(line)


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
def test_root_start_shell_never_runs_the_dev_users_sleep_or_hands_it_the_image_command(layout, start, shell):
    own(layout, NOBODY)
    path = "{}:/usr/local/bin:/usr/bin:/bin".format(layout.bin)
    line = scripts.entrypoint_line(str(start.start_shell))
    keepalive = sh(shell, cli_start_shell(line), path=path)  # overrideCommand: no image command
    assert keepalive.returncode == 0, keepalive.stderr
    image_command = sh(shell, cli_start_shell(line), "sh", "-c", 'echo "cmd $PATH"; id -u; stat / >/dev/null',
                       path=path)
    assert image_command.returncode == 0, image_command.stderr
    assert "cmd /usr/local/bin:/usr/bin:/bin" in image_command.stdout
    assert layout.ran() == []
    assert start.seen.read_text().splitlines() == ["entrypoint " + path] * 2


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
def test_a_non_root_start_shell_and_a_root_owned_tree_keep_path(layout, start, shell):
    path = "{}:/usr/bin:/bin".format(layout.bin)
    line = scripts.entrypoint_line(str(start.start_shell))
    own(layout, NOBODY)
    as_dev = sh(shell, cli_start_shell(line), "sh", "-c", 'echo "cmd $PATH"', uid=NOBODY, path=path)
    own(layout, 0)
    as_root = sh(shell, cli_start_shell(line), "sh", "-c", 'echo "cmd $PATH"', path=path)
    assert "cmd " + path in as_dev.stdout and "cmd " + path in as_root.stdout


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
def test_a_missing_start_shell_leaves_the_start_alone(tmp_path, shell):
    line = scripts.entrypoint_line(str(tmp_path / "gone.sh"))
    out = sh(shell, cli_start_shell(line), "echo", "handed over")
    assert out.returncode == 0 and out.stdout.splitlines() == ["Container started", "handed over"], out


def test_the_entrypoint_line_survives_compose_interpolation():
    """The CLI pastes entrypoint lines into a compose file too, where `$` interpolates and `"` ends its string."""
    line = scripts.entrypoint_line()
    assert "$" not in line and '"' not in line and "\n" not in line


# --------------------------------------------------------------------------- entrypoint.sh


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    """A stand-in for /usr/local/bin/uv-user that records its arguments and PATH."""
    log = tmp_path / "uv-user.log"
    stub = tmp_path / "uv-user"
    stub.write_text('#!/bin/sh\necho "$* | $PATH" >> {}\n'.format(log))
    stub.chmod(0o755)
    return stub


def entrypoint_of(layout: Layout, recorder: Path) -> str:
    return scripts.entrypoint("nobody", sys.executable, root=str(layout.root), env=str(layout.env),
                              command=str(recorder))


def wait_for(path: Path, lines: int, timeout: float = 10) -> List[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= lines:
            break
        time.sleep(0.01)
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.root
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("owner, foreground", [(STRANGER, True), (NOBODY, False)])
def test_the_entrypoint_repairs_with_system_programs_and_hands_over_without_the_users_tree(
        layout, recorder, shell, owner, foreground):
    own(layout, owner)
    path = "{}:/usr/local/bin:/usr/bin:/bin".format(layout.bin)
    out = sh(shell, entrypoint_of(layout, recorder), "sh", "-c", 'echo "cmd $PATH"; sleep 0', path=path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["cmd /usr/local/bin:/usr/bin:/bin"]
    log = recorder.parent / "uv-user.log"
    if foreground:  # the tree's root is not the user's: repaired before the start goes on
        assert log.read_text().splitlines() == ["repair --entrypoint | " + SYSTEM]
    else:
        assert wait_for(log, 1) == ["repair --entrypoint | " + SYSTEM]
    assert layout.ran() == []


@pytest.mark.root
def test_the_entrypoint_as_the_dev_user_hands_over_with_path_unchanged(layout, recorder):
    own(layout, NOBODY)
    path = "{}:/usr/bin:/bin".format(layout.bin)
    out = sh("dash", entrypoint_of(layout, recorder), "sh", "-c", 'echo "cmd $PATH"', uid=NOBODY, path=path)
    assert out.stdout.splitlines() == ["cmd " + path]


@pytest.mark.root
def test_the_entrypoint_without_arguments_exits_0(layout, recorder):
    own(layout, NOBODY)
    out = sh("dash", entrypoint_of(layout, recorder))
    assert out.returncode == 0 and out.stdout == ""


def test_the_installed_command_runs_the_images_python_by_absolute_path():
    text = scripts.command("/usr/bin/python3")
    assert "exec /usr/bin/python3 -E -s -S /usr/local/share/uv-user/uv-user.py \"$@\"" in text


def test_generated_scripts_parse_in_posix_sh():
    for text in (scripts.profile(), scripts.start_shell(), scripts.entrypoint("vscode", "/usr/bin/python3")):
        result = subprocess.run(["/usr/bin/dash", "-n"], input=text, text=True, stderr=subprocess.PIPE)
        assert result.returncode == 0, result.stderr
