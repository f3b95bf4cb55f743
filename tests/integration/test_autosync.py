"""Ready on open: the feature's updateContentCommand syncs the workspace when the container is created."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness.devcontainer import CLI, REPO, chown_tree, docker_cleanup, exec_, make_workspace, run, temp_dir

pytestmark = pytest.mark.docker

EXAMPLE = REPO / "examples" / "basic"


@pytest.fixture
def workspace(provisioned) -> Iterator[Callable[..., Path]]:
    """examples/basic (which commits a uv.lock) with feature options and extra config applied."""
    made = []

    def make(feature_options: dict, **config_extra: object) -> Path:
        workdir = temp_dir("uv-user-autosync-")
        made.append(workdir)
        ws = make_workspace(EXAMPLE, workdir, image=provisioned["base"])
        config_path = ws / ".devcontainer" / "devcontainer.json"
        config = json.loads(config_path.read_text())
        config["features"] = {"./uv-user": feature_options}
        config.update(config_extra)
        config_path.write_text(json.dumps(config, indent=2))
        chown_tree(workdir)
        cleanup.add(ws)
        return ws

    with docker_cleanup() as cleanup:
        yield make
    for workdir in made:
        shutil.rmtree(workdir, ignore_errors=True)


def up_logged(ws: Path) -> tuple:
    """`devcontainer up`, returning (outcome, the creation log the user sees)."""
    result = run([str(CLI), "up", "--workspace-folder", str(ws)], check=False)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    return outcome, result.stdout + result.stderr


def test_a_locked_workspace_opens_with_its_packages_installed(workspace) -> None:
    ws = workspace({})
    outcome, log = up_logged(ws)
    assert outcome["outcome"] == "success", log[-4000:]
    assert "uv.lock found" in log
    result = exec_(ws, "cd \"$1\" && python -c 'import packaging, iniconfig, sys; print(sys.prefix)' "
                   "&& test ! -e .venv && uv sync --frozen --offline 2>&1",
                   extra_args=[outcome["remoteWorkspaceFolder"]])
    assert result.stdout.startswith("/opt/uv-user/venv")


def test_never_leaves_the_environment_alone(workspace) -> None:
    ws = workspace({"autoSync": "never"})
    outcome, log = up_logged(ws)
    assert outcome["outcome"] == "success", log[-4000:]
    assert "autoSync is never" in log
    result = exec_(ws, "python -c 'import packaging'", check=False)
    assert result.returncode != 0
    assert "No module named 'packaging'" in result.stderr


def test_a_broken_project_is_loud_but_the_container_and_user_hooks_still_come_up(workspace) -> None:
    ws = workspace({"autoSync": "always"}, postCreateCommand="touch /tmp/user-post-create-ran")
    (ws / "pyproject.toml").write_text("[project\nname = 'broken'\n")
    os.lchown(ws / "pyproject.toml", 1000, 1000)
    outcome, log = up_logged(ws)
    assert outcome["outcome"] == "success", log[-4000:]
    assert "uv-user: autoSync FAILED: `uv sync` exited" in log
    assert "uv-user: fix the project, then rerun: cd {} && uv sync".format(outcome["remoteWorkspaceFolder"]) in log
    assert "uv-user: diagnose: uv-user doctor" in log
    exec_(ws, "test -e /tmp/user-post-create-ran")
