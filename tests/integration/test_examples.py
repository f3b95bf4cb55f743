"""Every example in examples/ works as its README and comments say, in a real dev container.

Each test copies an example with the local feature (make_workspace maps the public
images the examples name to the harness's local stand-ins), brings it up with the
pinned devcontainers CLI, runs `uv sync` as the remote user in the workspace and
checks where the environment landed, who owns it, that no .venv appeared, and that
`uv-user doctor` agrees.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Dict

import pytest

from harness.devcontainer import REPO, chown_tree, docker_cleanup, exec_, make_workspace, public_images, up

pytestmark = pytest.mark.docker

EXAMPLES = REPO / "examples"

# Run as the remote user in the workspace: the env, its owner, no .venv, a clean doctor.
SYNC_AND_CHECK = r"""
set -eu
cd "$1"
uv sync
test ! -e .venv || { echo "a .venv appeared in $PWD"; exit 1; }
python -c 'import iniconfig, sys; print(sys.prefix); print(iniconfig.__file__)'
stat -c '%U' /opt/uv-user/venv /opt/uv-user/venv/bin/python
id -un
uv-user doctor
"""


def bring_up(example: str, workdir: Path, provisioned: Dict[str, str], cleanup) -> Dict[str, object]:
    """A uniquely named copy (compose names its project after the folder), owned by uid 1000 like a checkout."""
    ws = make_workspace(EXAMPLES / example, workdir, images=public_images(provisioned),
                        name="{}-{}".format(example, uuid.uuid4().hex[:8]))
    chown_tree(workdir)
    cleanup.add(ws)
    outcome = up(ws)
    return {"workspace": ws, "remote": outcome["remoteWorkspaceFolder"]}


@pytest.mark.parametrize("example, user", [("basic", "vscode"), ("dockerfile", "moby"), ("compose", "vscode"),
                                           ("python-feature", "vscode")])
def test_example_syncs_into_the_user_owned_env(example: str, user: str, workdir: Path, provisioned) -> None:
    with docker_cleanup() as cleanup:
        box = bring_up(example, workdir, provisioned, cleanup)
        result = exec_(box["workspace"], SYNC_AND_CHECK, extra_args=[box["remote"]])
    lines = result.stdout.splitlines()
    assert "/opt/uv-user/venv" in lines, result.stdout
    assert any(line.startswith("/opt/uv-user/venv/lib/") and "iniconfig" in line for line in lines), result.stdout
    assert lines.count(user) == 3, result.stdout  # owner of the env, of its python, and who ran it
    assert "uv-user: doctor: no problems" in result.stdout


TWO_PROJECTS = r"""
set -eu
cd "$1/web" && uv sync
cd "$1/api" && (set -a && . ./.env && set +a && uv sync && uv run python -c 'import six, sys; print("api", sys.prefix)')
cd "$1"
test ! -e web/.venv && test ! -e api/.venv
python -c 'import iniconfig, sys; print("web", sys.prefix)'
python -c 'import six' 2>/dev/null && echo "six leaked into the default env" || true
stat -c '%U %n' /opt/uv-user/envs/api /opt/uv-user/envs/api/bin/python
cd "$1/api" && (set -a && . ./.env && set +a && uv-user doctor)
"""


def test_two_projects_each_get_the_env_the_readme_promises(workdir: Path, provisioned) -> None:
    with docker_cleanup() as cleanup:
        box = bring_up("two-projects", workdir, provisioned, cleanup)
        result = exec_(box["workspace"], TWO_PROJECTS, extra_args=[box["remote"]])
    out = result.stdout
    assert "api /opt/uv-user/envs/api" in out, out
    assert "web /opt/uv-user/venv" in out, out  # api's sync did not strip web's packages
    assert "leaked" not in out
    assert "vscode /opt/uv-user/envs/api\n" in out and "vscode /opt/uv-user/envs/api/bin/python" in out
    # In api's terminal the doctor explains the second env rather than failing.
    assert "! env: uv syncs /opt/uv-user/envs/api, not the default /opt/uv-user/venv" in out
    assert "uv-user: doctor: no problems" in out
