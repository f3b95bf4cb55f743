"""uv-user beside the official features users combine it with, written the way users write them.

Each case is a real `devcontainer up` of a bookworm image with python3 and no non-root user yet:
common-utils creates `vscode`, the python feature puts its python first on PATH, and uv-user is
listed first or last, referenced by local path or published (on the ghcr.io stand-in) under a
namespace that sorts before or after ghcr.io/devcontainers/features. One more case starts from the
devcontainers python image's stand-in. A last one has the remote user created by a feature that
installs after uv-user and that installsAfter does not name: the environment must still be theirs.

As the remote user, every case checks: `python` is the environment's in `bash -lc`, in `bash -c`
and through `devcontainer exec`; the environment belongs to the remote user; `uv sync` then
`import` works; `uv-user doctor` passes; the merged metadata makes the environment's python VS
Code's interpreter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from harness import ghcr
from harness.devcontainer import FEATURE_SRC, REPO, chown_tree, docker_cleanup, exec_, run, up

pytestmark = pytest.mark.docker

OFFICIAL = "ghcr.io/devcontainers/features/"
COMMON_UTILS = (OFFICIAL + "common-utils:2",
                {"installZsh": False, "installOhMyZsh": False, "upgradePackages": False, "username": "vscode"})
PYTHON = (OFFICIAL + "python:1", {"version": "os-provided", "installTools": False})
ENV_PYTHON = "/opt/uv-user/venv/bin/python"
PROJECT = REPO / "examples" / "basic"

CHECKS = r"""
set -eu
echo "exec python: $(command -v python)"
echo "bash -c python: $(bash -c 'command -v python')"
echo "bash -lc python: $(bash -lc 'command -v python')"
echo "user: $(id -un)"
echo "owner: $(stat -c %U /opt/uv-user /opt/uv-user/venv /opt/uv-user/venv/bin | sort -u | tr '\n' ' ')"
cd "$1"
uv sync -q
python -c 'import sys, iniconfig, packaging; print("imports from:", sys.prefix)'
test ! -e .venv
uv-user doctor
"""

# (case, uv-user reference: "local" or a stand-in namespace, listed first or last, image, other features)
CASES: List[Tuple[str, str, str, str, List[Tuple[str, dict]]]] = [
    ("local-listed-first", "local", "first", "python", [COMMON_UTILS, PYTHON]),
    ("local-listed-last", "local", "last", "python", [COMMON_UTILS, PYTHON]),
    ("sorts-before-listed-first", ghcr.BEFORE, "first", "python", [COMMON_UTILS, PYTHON]),
    ("sorts-after-listed-last", ghcr.AFTER, "last", "python", [COMMON_UTILS, PYTHON]),
    ("devcontainers-python-image", "local", "last", "devpython", []),
]


def write_workspace(into: Path, reference: str, listed: str, image: str, others: List[Tuple[str, dict]],
                    remote_user: str = "vscode", local_features: Dict[str, str] = {}) -> Path:
    """A copy of examples/basic's project with a devcontainer.json as a user would write it."""
    ws = into / "project"
    shutil.copytree(PROJECT, ws, ignore=shutil.ignore_patterns(".devcontainer"))
    devcontainer = ws / ".devcontainer"
    devcontainer.mkdir()
    if reference == "./uv-user":
        shutil.copytree(FEATURE_SRC, devcontainer / "uv-user", ignore=shutil.ignore_patterns("__pycache__"))
    for name, install in local_features.items():  # extra local features: ./<name> with this install.sh
        (devcontainer / name).mkdir()
        (devcontainer / name / "devcontainer-feature.json").write_text(json.dumps(
            {"id": name, "version": "1.0.0", "name": name}))
        (devcontainer / name / "install.sh").write_text(install)
        (devcontainer / name / "install.sh").chmod(0o755)
    features = [(reference, {})] + others if listed == "first" else others + [(reference, {})]
    config = {"image": image, "features": dict(features), "remoteUser": remote_user}
    (devcontainer / "devcontainer.json").write_text(json.dumps(config, indent=4))
    chown_tree(into)
    return ws


def interpreter_paths(outcome: dict) -> List[str]:
    """python.defaultInterpreterPath as VS Code merges the metadata: in order, the last one wins."""
    return [entry["settings"]["python.defaultInterpreterPath"]
            for entry in outcome["mergedConfiguration"]["customizations"].get("vscode", [])
            if "python.defaultInterpreterPath" in entry.get("settings", {})]


def check_as_the_user(ws: Path, outcome: dict, user: str) -> str:
    result = exec_(ws, CHECKS, extra_args=[outcome["remoteWorkspaceFolder"]], check=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for shell in ("exec python", "bash -c python", "bash -lc python"):
        assert "{}: {}\n".format(shell, ENV_PYTHON) in out, out
    assert "user: {}\n".format(user) in out and "owner: {} \n".format(user) in out, out
    assert "imports from: /opt/uv-user/venv\n" in out, out
    assert "uv-user: doctor: no problems" in out, out
    assert interpreter_paths(outcome)[-1] == ENV_PYTHON, interpreter_paths(outcome)
    return out


@pytest.mark.parametrize("case, source, listed, image, others", CASES, ids=[c[0] for c in CASES])
def test_beside_the_official_features(case: str, source: str, listed: str, image: str, others: list,
                                      workdir: Path, provisioned: Dict[str, str], request) -> None:
    reference = "./uv-user" if source == "local" else request.getfixturevalue("publish_uv_user")(source).ref
    ws = write_workspace(workdir, reference, listed, provisioned[image], others)
    with docker_cleanup(ws):
        outcome = up(ws, "--include-merged-configuration")
        check_as_the_user(ws, outcome, "vscode")
        # docker run of the built image, as compose or other tools use it: the image's own ENV PATH.
        image_id = json.loads(run(["docker", "inspect", outcome["containerId"]]).stdout)[0]["Image"]
        plain = run(["docker", "run", "--rm", "--entrypoint", "sh", image_id, "-c", "command -v python"])
        assert plain.stdout.strip() == ENV_PYTHON


MAKE_USER = """#!/bin/sh
set -e
useradd --create-home --shell /bin/bash dev
"""


def test_a_remote_user_made_by_a_feature_after_uv_user_gets_the_environment(workdir: Path,
                                                                             provisioned: Dict[str, str]) -> None:
    """The user does not exist when uv-user installs (a feature installsAfter does not name creates it
    later): the environment is never handed to root; the start-time repair gives it to `dev`."""
    ws = write_workspace(workdir, "./uv-user", "first", provisioned["python"], [("./zz-make-user", {})],
                         remote_user="dev", local_features={"zz-make-user": MAKE_USER})
    with docker_cleanup(ws):
        outcome = up(ws, "--include-merged-configuration")
        image_id = json.loads(run(["docker", "inspect", outcome["containerId"]]).stdout)[0]["Image"]
        metadata = json.loads(run(["docker", "image", "inspect", "--format",
                                   '{{index .Config.Labels "devcontainer.metadata"}}', image_id]).stdout)
        order = [entry.get("id", "") for entry in metadata if "id" in entry]
        assert order.index("./uv-user") < order.index("./zz-make-user"), order  # the user came later
        record = run(["docker", "run", "--rm", "--entrypoint", "cat", image_id,
                      "/usr/local/share/uv-user/install.json"]).stdout
        assert json.loads(record)["username"] == "dev" and json.loads(record)["user_existed_at_build"] is False
        check_as_the_user(ws, outcome, "dev")
