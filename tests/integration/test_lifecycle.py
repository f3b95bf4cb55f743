"""What the CLI scenarios cannot express: rebuilds, restarts, UID remaps, hostile trees.

Each test brings up examples/basic with the local feature through the pinned
devcontainers CLI, does something to it from outside, and checks as the remote
user (or as root from outside) what a developer would see.
"""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from harness.devcontainer import REPO, docker_exec, example_workspace, exec_, run, up, wait_repaired

pytestmark = pytest.mark.docker

EXAMPLE = REPO / "examples" / "basic"


def foreign_entries(container: str, user: str = "vscode") -> str:
    return docker_exec(container, "find /opt/uv-user \\( ! -user {0} -o ! -group {0} \\) | head -5".format(user)).stdout


def test_rebuild_keeps_the_synced_env_on_the_volume(workspace: Path) -> None:
    first = up(workspace)
    exec_(workspace, "cd \"$1\" && uv sync", extra_args=[first["remoteWorkspaceFolder"]])
    second = up(workspace, "--remove-existing-container")
    assert second["containerId"] != first["containerId"]
    # No sync after the rebuild: the packages are still there, and uv agrees nothing is missing.
    result = exec_(workspace, "cd \"$1\" && python -c 'import iniconfig, packaging; print(packaging.__file__)' "
                   "&& uv sync --offline --frozen 2>&1", extra_args=[second["remoteWorkspaceFolder"]])
    assert "/opt/uv-user/venv/" in result.stdout
    assert foreign_entries(second["containerId"]) == ""


def test_restart_repairs_ownership_broken_by_sudo_uv(workspace: Path) -> None:
    outcome = up(workspace)
    container = outcome["containerId"]
    exec_(workspace, "cd \"$1\" && uv sync && sudo -E env PATH=\"$PATH\" uv pip install six",
          extra_args=[outcome["remoteWorkspaceFolder"]])
    assert foreign_entries(container) != "", "sudo uv pip install should have left root-owned files"
    run(["docker", "restart", container])
    wait_repaired(container)
    assert foreign_entries(container) == ""
    exec_(workspace, "cd \"$1\" && uv pip install --reinstall six && python -c 'import six'",
          extra_args=[outcome["remoteWorkspaceFolder"]])


def test_repair_never_follows_a_symlink_to_etc_shadow(workspace: Path) -> None:
    outcome = up(workspace)
    container = outcome["containerId"]
    before = docker_exec(container, "stat -c '%u:%g %a' /etc/shadow /etc").stdout
    docker_exec(container, "ln -s /etc/shadow /opt/uv-user/venv/shadow-link && ln -s /etc /opt/uv-user/venv/etc-link"
                           " && chown -h 0:0 /opt/uv-user/venv/shadow-link /opt/uv-user/venv/etc-link")
    run(["docker", "restart", container])
    wait_repaired(container)
    assert docker_exec(container, "stat -c '%u:%g %a' /etc/shadow /etc").stdout == before
    # The links themselves were re-owned (lchown), so the tree is consistent.
    links = docker_exec(container, "stat -c '%U %F' /opt/uv-user/venv/shadow-link /opt/uv-user/venv/etc-link").stdout
    assert links.split("\n")[:2] == ["vscode symbolic link", "vscode symbolic link"]
    result = exec_(workspace, "cat /etc/shadow", check=False)
    assert result.returncode != 0, "the remote user must still not read /etc/shadow"


def test_start_with_nothing_to_repair_changes_nothing(workspace: Path) -> None:
    outcome = up(workspace)
    container = outcome["containerId"]
    exec_(workspace, "cd \"$1\" && uv sync", extra_args=[outcome["remoteWorkspaceFolder"]])
    # chown(2) updates ctime even to the same owner: unchanged ctimes prove nothing was touched.
    snapshot = "find /opt/uv-user -printf '%C@ %p\\n' | sort"
    before = docker_exec(container, snapshot).stdout
    run(["docker", "restart", container])
    wait_repaired(container)
    after = docker_exec(container, snapshot).stdout
    assert before == after
    assert before.count("\n") > 50


@pytest.mark.root  # useradd for the remap user
def test_uid_remap_by_the_cli_is_repaired_at_start(remap_user: str, provisioned) -> None:
    account = pwd.getpwnam(remap_user)
    with example_workspace(EXAMPLE, "uv-user-remap-", account.pw_uid, account.pw_gid, parent=Path(account.pw_dir),
                           image=provisioned["base"]) as ws:
        outcome = up(ws, user=remap_user)
        container = outcome["containerId"]
        wait_repaired(container)
        result = exec_(ws, "cd \"$1\" && id -u && uv sync && python -c 'import packaging' && "
                       "find /opt/uv-user ! -user \"$(id -u)\" | wc -l && test ! -e .venv",
                       user=remap_user, extra_args=[outcome["remoteWorkspaceFolder"]])
        lines = result.stdout.split()
        assert lines[0] == str(account.pw_uid), "the CLI should have remapped vscode to the host UID"
        assert lines[-1] == "0"
