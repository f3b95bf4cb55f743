"""Everything uv keeps, kept and ready: uv tools, a changed base image, uv workspaces, the prebuild flow.

Each test brings up a real dev container with the local feature through the pinned devcontainers CLI
and checks, as the remote user, what a developer would see after a rebuild, a UID remap, a new base
image or a Codespaces-style prebuild.
"""

from __future__ import annotations

import json
import pwd
import shutil
from pathlib import Path
from typing import Dict

import pytest

from harness.devcontainer import (REPO, chown_tree, docker_cleanup, example_workspace, exec_, strip_jsonc, temp_dir, up,
                                  wait_repaired)

pytestmark = pytest.mark.docker

EXAMPLE = REPO / "examples" / "basic"
UV_WORKSPACE = Path(__file__).resolve().parent / "workspaces" / "uv-workspace"
TOOL, SECOND_TOOL = "pycowsay", "cowsay"  # small pure-Python tools with one command each


def set_config(workspace: Path, **changes: object) -> None:
    """Change keys of the copy's devcontainer.json (comments are dropped)."""
    path = workspace / ".devcontainer" / "devcontainer.json"
    config = json.loads(strip_jsonc(path.read_text()))
    config.update(changes)
    path.write_text(json.dumps(config, indent=2))


@pytest.mark.root  # useradd for the remap user
def test_uv_tools_survive_a_rebuild_and_a_uid_remap(remap_user: str, provisioned: Dict[str, str]) -> None:
    account = pwd.getpwnam(remap_user)
    with example_workspace(EXAMPLE, "uv-user-tools-", account.pw_uid, account.pw_gid, parent=Path(account.pw_dir),
                           image=provisioned["base"]) as ws:
        up(ws)  # as root on the host: no UID remap, vscode is 1000
        installed = exec_(ws, "uv tool install {0} && command -v {0} && {0} installed".format(TOOL))
        assert "/opt/uv-user/bin/{}".format(TOOL) in installed.stdout.split()
        # Rebuild with the volume kept: the tool is there and runs; nothing needs installing.
        up(ws, "--remove-existing-container")
        again = exec_(ws, "command -v {0} && {0} kept && uv tool list && uv-user doctor".format(TOOL))
        assert "/opt/uv-user/bin/{}".format(TOOL) in again.stdout.split() and "kept" in again.stdout
        assert "1 uv tool in /opt/uv-user/tools, commands on PATH: {}".format(TOOL) in again.stdout
        # The same container config brought up by a host user with another UID: the CLI remaps vscode.
        remapped_up = up(ws, "--remove-existing-container", user=remap_user)
        wait_repaired(remapped_up["containerId"])  # the start-time repair of what is left runs beside the start
        remapped = exec_(ws, "id -u && {0} remapped && uv tool install {1} && {1} -t second && "
                             "uv-user doctor".format(TOOL, SECOND_TOOL), user=remap_user)
        lines = remapped.stdout.splitlines()
        assert lines[0] == str(account.pw_uid)
        assert "remapped" in remapped.stdout and "second" in remapped.stdout
        assert "2 uv tools in /opt/uv-user/tools" in remapped.stdout


def test_a_new_base_image_with_another_python_opens_with_a_working_env(provisioned: Dict[str, str]) -> None:
    """bookworm (3.11) -> trixie (3.13) with the volume kept: autoSync recreates the project env; the doctor
    names the tool whose environment broke, with the command that fixes it."""
    with example_workspace(EXAMPLE, "uv-user-newbase-", image=provisioned["base"]) as ws:
        outcome = up(ws)
        exec_(ws, "python -c 'import packaging' && uv tool install {}".format(TOOL))
        set_config(ws, image=provisioned["trixie"])
        outcome = up(ws, "--remove-existing-container")
        opened = exec_(ws, "cd \"$1\" && python -c 'import sys, packaging; print(sys.version_info[:2], "
                           "sys.prefix)'", extra_args=[outcome["remoteWorkspaceFolder"]])
        assert "(3, 13) /opt/uv-user/venv" in opened.stdout, opened.stdout
        doctor = exec_(ws, "uv-user doctor", check=False)
        assert "tools: 1 of 1 uv tool no longer runs: {} (made with Python 3.11, its python is now " \
               "3.13)".format(TOOL) in doctor.stdout, doctor.stdout
        fix = "uv tool uninstall {0} && uv tool install {0}".format(TOOL)
        assert "fix: " + fix in doctor.stdout
        fixed = exec_(ws, "{} && {} fixed && uv-user doctor".format(fix, TOOL))
        assert "fixed" in fixed.stdout and "uv-user: doctor: no problems" in fixed.stdout


@pytest.mark.parametrize("auto_sync, members", [("lock", ["member-a"]), ("all", ["member-a", "member-b"])])
def test_auto_sync_at_a_uv_workspace_root(auto_sync: str, members: list, provisioned: Dict[str, str]) -> None:
    """lock: what `uv sync` does at a root that is a project (it and its dependencies); all: every member."""
    workdir = temp_dir("uv-user-uvws-")
    try:
        ws = workdir / "uv-workspace"
        shutil.copytree(UV_WORKSPACE, ws)
        devcontainer = ws / ".devcontainer"
        shutil.copytree(REPO / "src" / "uv-user", devcontainer / "uv-user",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (devcontainer / "devcontainer.json").write_text(json.dumps({
            "image": provisioned["base"], "remoteUser": "vscode",
            "features": {"./uv-user": {"autoSync": auto_sync}}}))
        chown_tree(workdir)
        with docker_cleanup(ws):
            up(ws)
            script = ("for m in member_a member_b; do python -c \"import $m; print($m.NAME)\" 2>/dev/null; done; "
                      "test ! -e \"$1/.venv\"")
            outcome = exec_(ws, script, extra_args=["/workspaces/uv-workspace"])
            assert outcome.stdout.split() == members, outcome.stdout
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_prebuild_flow_opens_with_the_locked_packages(provisioned: Dict[str, str]) -> None:
    """Codespaces prebuilds run onCreateCommand and updateContentCommand, then a codespace opens from the
    result: the locked packages import before any command, and a second `uv sync --frozen` changes nothing."""
    with example_workspace(EXAMPLE, "uv-user-prebuild-", image=provisioned["base"]) as ws:
        prebuilt = up(ws, "--prebuild", "--update-remote-user-uid-default", "never")
        # Open it as a user would: the same container, the remaining lifecycle commands.
        opened = up(ws, "--expect-existing-container", "--update-remote-user-uid-default", "never")
        assert opened["containerId"] == prebuilt["containerId"]
        first = exec_(ws, "python -c 'import iniconfig, packaging, sys; print(sys.prefix)'")
        assert first.stdout.strip() == "/opt/uv-user/venv"
        again = exec_(ws, "cd \"$1\" && uv sync --frozen 2>&1", extra_args=[opened["remoteWorkspaceFolder"]])
        changed = [line for line in again.stdout.splitlines()
                   if line.lstrip().startswith(("+", "-", "~", "Installed", "Uninstalled", "Prepared", "Creating"))]
        assert changed == [], again.stdout
