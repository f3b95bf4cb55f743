"""The documented commands work as typed (`bash scripts/test.sh`, `bash scripts/demo.sh`, `bash
benchmarks/run.sh`), as root or not, with or without sudo: scripts/as-root.sh runs them again with sudo
only when they need root and are not root, and says what to do when there is no sudo. Recording stubs
first on PATH stand in for `id` and `sudo`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import pytest

from harness.common import run

REPO = Path(__file__).resolve().parents[2]
DOCUMENTED = ["scripts/test.sh", "scripts/demo.sh", "benchmarks/run.sh"]


def as_root(tmp_path: Path, uid: int, sudo: Optional[str]):
    """as_root from scripts/as-root.sh, under a fake `id -u` and a recording `sudo` (or none)."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "id").write_text("#!/bin/sh\n[ \"$1\" = -u ] && echo {} || echo someone\n".format(uid))
    if sudo is not None:
        (stubs / "sudo").write_text('#!/bin/sh\necho "sudo $*" >> "{}"\n{}\n'.format(tmp_path / "calls", sudo))
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    script = 'source scripts/as-root.sh; as_root "it provisions things" scripts/demo.sh --keep "two words"; ' \
             'echo "went on as $(id -u)"'
    # Only the stubs on PATH: a machine's real sudo (CI runners have one) must never be found.
    return run(["/bin/bash", "-c", script], cwd=REPO, check=False, env={"PATH": str(stubs), "CI": "true"})


def test_as_root_the_command_just_goes_on(tmp_path: Path) -> None:
    result = as_root(tmp_path, 0, sudo="exit 0")
    assert (result.returncode, result.stdout, result.stderr) == (0, "went on as 0\n", "")
    assert not (tmp_path / "calls").exists()


def test_as_a_user_it_runs_again_with_sudo_keeping_the_environment_and_the_arguments(tmp_path: Path) -> None:
    result = as_root(tmp_path, 1000, sudo='echo "CI=$CI"; exit 7')
    assert result.returncode == 7  # sudo's: the script was replaced by it (exec), nothing ran after it
    assert result.stdout == "CI=true\n"
    assert result.stderr == "scripts/demo.sh: it provisions things: running it again as root (sudo)\n"
    assert (tmp_path / "calls").read_text() == "sudo -E -H bash scripts/demo.sh --keep two words\n"


def test_as_a_user_without_sudo_it_says_what_to_run_instead(tmp_path: Path) -> None:
    result = as_root(tmp_path, 1000, sudo=None)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("scripts/demo.sh: it provisions things, so it needs root, and there is no sudo here: "
                             "run it as root (su root -c 'bash scripts/demo.sh --keep two\\ words')\n")


@pytest.mark.parametrize("command", DOCUMENTED)
def test_each_documented_command_asks_for_root_through_as_root(command: str) -> None:
    text = (REPO / command).read_text()
    assert "source scripts/as-root.sh" in text
    assert re.search(r'as_root "[^"]+' + r'(\\\n[^"]*)?" *(\\\n *)?' + re.escape(command) + r' "\$@"', text), text
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "sudo " in line], code  # only as_root calls sudo


@pytest.mark.parametrize("selection, needs", [("not docker and not root", "no"), ("root and not docker", "yes"),
                                              ("docker", "yes")])
def test_the_test_command_knows_which_selections_need_root(selection: str, needs: str) -> None:
    result = run(["python3", "-m", "pytest", "--collect-only", "-q", "--needs-root", "-p", "no:cacheprovider",
                  "-m", selection], cwd=REPO, check=False, timeout=120,
                 env={"PATH": "{}:/usr/bin:/bin".format(REPO / ".venv-dev" / "bin"), "PYTHONDONTWRITEBYTECODE": "1"})
    assert "uvuser-needs-root: {}\n".format(needs) in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_readme_shows_the_commands_without_sudo() -> None:
    readme = (REPO / "README.md").read_text()
    for command in DOCUMENTED:
        assert "bash {}".format(command) in readme
        assert "sudo bash {}".format(command) not in readme
    assert "exec bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
