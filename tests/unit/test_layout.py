"""paths.py is the one source of uv-user's layout; every copy that cannot be derived from it is checked here.

A copy is whatever spells a location out where Python cannot compute it: devcontainer-feature.json
(containerEnv, the volume, VS Code's interpreter, the entrypoint line), install.sh (which python3 it
skips), test/uv-user/*.sh (the devcontainers CLI's scenario checks), the README's "What you get"
table, and every mention in README.md, NOTES.md and the package's own docstrings. An edit of
paths.py that forgets one of them fails here, naming it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from uv_user import paths, scripts

REPO = Path(__file__).resolve().parents[2]
FEATURE_DIR = REPO / "src" / "uv-user"
FEATURE = json.loads((FEATURE_DIR / "devcontainer-feature.json").read_text())
SCENARIOS = REPO / "test" / "uv-user"
README = (REPO / "README.md").read_text()


def container_env() -> Dict[str, str]:
    """containerEnv as the layout makes it: uv finds each place through its own variable."""
    return {
        "UV_PROJECT_ENVIRONMENT": paths.VENV,
        "VIRTUAL_ENV": paths.VENV,
        "UV_CACHE_DIR": paths.CACHE,
        "UV_PYTHON_INSTALL_DIR": paths.PYTHONS,
        "UV_TOOL_DIR": paths.TOOLS,
        "UV_TOOL_BIN_DIR": paths.TOOL_BIN,
        "PATH": "{}/bin:{}:${{PATH}}".format(paths.VENV, paths.TOOL_BIN),
    }


# ----------------------------------------------------------------------------- devcontainer-feature.json


def test_container_env_is_the_layout() -> None:
    assert FEATURE["containerEnv"] == container_env()


def test_the_volume_is_mounted_at_the_root_and_vscode_finds_the_envs_python() -> None:
    assert [mount["target"] for mount in FEATURE["mounts"]] == [paths.ROOT]
    assert FEATURE["customizations"]["vscode"]["settings"]["python.defaultInterpreterPath"] == \
        paths.VENV + "/bin/python"
    assert FEATURE["entrypoint"] == scripts.entrypoint_line()


# ----------------------------------------------------------------------------- install.sh


def test_install_sh_never_takes_python3_from_the_tree() -> None:
    """A second install runs with the env's bin first on PATH: its python3 must not run the installer."""
    skipped = re.findall(r'^\s*""\|(\S+)/\*\) continue ;;$', (FEATURE_DIR / "install.sh").read_text(), re.M)
    assert skipped == [paths.ROOT]


# ----------------------------------------------------------------------------- test/uv-user


def shell_variables() -> Dict[str, str]:
    out = subprocess.run(["bash", "-c", '. ./checks.sh && printf "%s\\n" "$UVU_ROOT" "$UVU_ENV" "$UVU_CACHE"'],
                         cwd=str(SCENARIOS), stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return dict(zip(("UVU_ROOT", "UVU_ENV", "UVU_CACHE"), out.splitlines()))


def test_the_scenario_checks_take_the_layout_from_paths() -> None:
    assert shell_variables() == {"UVU_ROOT": paths.ROOT, "UVU_ENV": paths.VENV, "UVU_CACHE": paths.CACHE}


def test_no_scenario_script_spells_out_a_path_of_the_tree() -> None:
    """Only checks.sh's three variables hold the layout: the scripts use them."""
    for script in sorted(SCENARIOS.glob("*.sh")):
        for number, line in enumerate(script.read_text().splitlines(), 1):
            if paths.ROOT in line and not re.fullmatch(r"UVU_[A-Z]+={}(/\w+)?".format(re.escape(paths.ROOT)), line):
                pytest.fail("{}:{} spells out {}: use ${{UVU_ROOT}} or ${{UVU_ENV}}".format(
                    script.name, number, paths.ROOT))


def scenario_checks(tmp_path: Path) -> Iterator[Tuple[str, List[str]]]:
    """(script, argv) of every `check` each scenario script makes, with the lib and stat stubbed: what the
    devcontainers CLI's test lib would run, variables expanded, nothing run."""
    work, record = tmp_path / "scenarios", tmp_path / "checks"
    work.mkdir()
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "stat").write_text('#!/bin/sh\necho "stat $*"\n')
    (stubs / "stat").chmod(0o755)
    (work / "dev-container-features-test-lib").write_text(
        'check() { shift; printf "%s\\037" "$@" >> "$UVU_RECORD"; printf "\\036" >> "$UVU_RECORD"; }\n'
        "reportResults() { :; }\n")
    for script in sorted(SCENARIOS.glob("*.sh")):
        (work / script.name).write_text(script.read_text())
    for script in sorted(SCENARIOS.glob("*.sh")):
        if script.name == "checks.sh":
            continue
        record.write_text("")
        env = dict(os.environ, UVU_RECORD=str(record), PATH="{}:{}".format(stubs, os.environ["PATH"]))
        subprocess.run(["bash", script.name], cwd=str(work), env=env, check=True, stdout=subprocess.DEVNULL)
        for argv in record.read_text().split("\036")[:-1]:
            yield script.name, argv.split("\037")[:-1]


def test_the_scenario_checks_run_what_they_ran_when_the_paths_were_spelled_out(tmp_path: Path) -> None:
    checks = list(scenario_checks(tmp_path))
    venv, cache, root = paths.VENV, paths.CACHE, paths.ROOT
    for wanted in (
        ("checks", ["bash", "-lc", 'test "$(command -v python)" = {}/bin/python'.format(venv)]),
        ("checks", ["bash", "-lc", 'test "$(command -v python)" = {0}/bin/python && test "${{UV_PROJECT_ENVIRONMENT}}:'
                                   '${{VIRTUAL_ENV}}:${{UV_CACHE_DIR}}" = {0}:{0}:{1}'.format(venv, cache)]),
        ("compose_service.sh", ["grep", "-q", " {} ".format(root), "/proc/mounts"]),
        ("options_flipped.sh", ["bash", "-c", "ls {}/lib/python3*/site-packages/iniconfig/__pycache__/*.pyc"
                                .format(venv)]),
        ("remote_user_root.sh", ["test", "stat -c %u {}".format(venv), "=", "0"]),
        ("seed_user_moby.sh", ["bash", "-c", 'case "$PATH" in {}/bin:*) true;; *) false;; esac'.format(venv)]),
    ):
        where, argv = wanted
        found = [name for name, made in checks if made[-len(argv):] == argv]
        assert found, argv
        # checks.sh's own checks run in every scenario; the others in theirs only.
        assert found == [where] if where != "checks" else len(found) == len(
            [p for p in SCENARIOS.glob("*.sh") if p.name != "checks.sh"]), (argv, found)


def test_the_ownership_check_looks_at_the_root(tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "find").write_text('#!/bin/sh\necho "$1" > "{}"\n'.format(tmp_path / "looked-at"))
    (stubs / "find").chmod(0o755)
    env = dict(os.environ, PATH="{}:{}".format(stubs, os.environ["PATH"]))
    subprocess.run(["bash", "-c", ". ./checks.sh && uvuser_all_owned"], cwd=str(SCENARIOS), env=env, check=True)
    assert (tmp_path / "looked-at").read_text() == paths.ROOT + "\n"


# ----------------------------------------------------------------------------- the README and NOTES.md


def what_you_get() -> Dict[str, str]:
    """The README's "What you get" table: first column → the value in the second."""
    section = README.split("## What you get", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| (.+?) \| (.+?) \|", section, re.M)[2:])


def test_what_you_get_shows_the_layout() -> None:
    table = what_you_get()
    for name, value in container_env().items():
        assert table.pop("`{}`".format(name)) == "`{}`".format(value.replace("${PATH}", "$PATH")), name
    assert table.pop("volume `{}`".format(FEATURE["mounts"][0]["source"])) == "mounted at `{}`".format(paths.ROOT)
    assert table.pop("`uv`, `uvx`, `uv-user`") == "`{}`".format(paths.BIN_DIR)
    assert table.pop("`python.defaultInterpreterPath`") == "`{}/bin/python`".format(paths.VENV)
    assert table == {}  # a new row is checked here too


# Below the root, the managed directories' names; "envs" is the user's own (examples/two-projects).
BELOW_ROOT = {os.path.relpath(d, paths.ROOT).split("/")[0] for d in paths.managed_dirs() if d != paths.ROOT} | {"envs"}
# An absolute path, not the tail of a URL or a relative one ("ghcr.io/uv-user/...", "./uv-user").
_PATH = re.compile(r"(?<![\w.:/$-])/[\w.*${}-]+(?:/[\w.*${}-]+)*")


def mentions() -> Iterator[Tuple[str, str]]:
    """(file, path) for each absolute path naming uv-user, or uv's system config, outside paths.py."""
    files = [REPO / "README.md", FEATURE_DIR / "NOTES.md", FEATURE_DIR / "devcontainer-feature.json",
             FEATURE_DIR / "install.sh", FEATURE_DIR / "uv-user.py"]
    files += sorted(SCENARIOS.glob("*.sh")) + sorted((FEATURE_DIR / "uv_user").glob("*.py"))
    for path in files:
        if path.name == "paths.py":
            continue
        for found in _PATH.findall(path.read_text()):
            found = found.rstrip(".").rsplit("/*", 1)[0] if found.endswith("/*") else found.rstrip(".")
            if found.count("/") >= 2 and ("uv-user" in found or found.startswith("/etc/uv/")):
                yield path.name, found


def repair_state() -> str:
    """paths.REPAIR_STATE as uv-user has it: the unit session points it at a tmp dir (conftest)."""
    return subprocess.run([sys.executable, "-B", "-c", "from uv_user import paths; print(paths.REPAIR_STATE)"],
                          cwd=str(FEATURE_DIR), stdout=subprocess.PIPE, universal_newlines=True,
                          check=True).stdout.strip()


def known(path: str, state: str) -> bool:
    if paths.is_within(path, paths.ROOT):
        return path == paths.ROOT or os.path.relpath(path, paths.ROOT).split("/")[0] in BELOW_ROOT
    return paths.is_within(path, paths.SHARE) or path in (
        paths.COMMAND, paths.PROFILE_SCRIPT, paths.UV_TOML, state, os.path.dirname(state))


def test_every_path_the_docs_and_scripts_name_is_in_the_layout() -> None:
    found = list(mentions())
    assert len(found) > 40  # the pattern still finds them
    state = repair_state()
    stale = sorted({"{}: {}".format(name, path) for name, path in found if not known(path, state)})
    assert stale == [], "these name a place paths.py does not have"
