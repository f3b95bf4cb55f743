"""ghcr.io as the devcontainers CLI sees it here, and what uv-user's installsAfter does with it.

The CLI resolves every installsAfter reference at every build. Without the real ghcr.io, the
harness's stand-in (harness/ghcr.py) serves the official features under their real references and
uv-user itself (publish_feature) under namespaces that sort before and after
ghcr.io/devcontainers/features: inside one install round the CLI orders features by reference, so
only installsAfter can put a feature whose reference sorts first after python, anaconda and conda.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import secrets
import shutil
import tarfile
import urllib.error
from pathlib import Path
from typing import Iterator

import pytest

from harness import ghcr
from harness.devcontainer import (FEATURE_SRC, REPO, chown_tree, docker_cleanup, exec_, make_workspace, run,
                                  temp_dir, up)
from harness.registry import Registry

pytestmark = pytest.mark.docker

EXAMPLE = REPO / "examples" / "basic"
OFFICIAL = "ghcr.io/devcontainers/features/"
# What puts a python first on PATH, offline: python needs os-provided and no tools (PyPI, CPython builds);
# anaconda and conda are the stand-ins of harness/standin-features (a python link in their bin).
PYTHON_FIRST = {
    OFFICIAL + "python:1": {"version": "os-provided", "installTools": False},
    OFFICIAL + "anaconda:1": {},
    OFFICIAL + "conda:2": {},
}
ENV_PYTHON = "/opt/uv-user/venv/bin/python"
# As the remote user: whose python comes first, in the CLI's shell and in a login shell.
WHOSE_PYTHON = r"""
echo "python: $(command -v python)"
echo "login python: $(bash -lc 'command -v python')"
"""
# As the remote user in the workspace: uv sync fills the env, and the env's python has the packages.
SYNC = r"""
set -eu
cd "$1"
uv sync -q
"$UV_PROJECT_ENVIRONMENT/bin/python" -c 'import sys, iniconfig; print("prefix:", sys.prefix)'
"""


def test_the_standin_serves_the_official_features_with_their_real_metadata(ghcr_standin: Registry) -> None:
    for path in sorted(ghcr.FEATURES.glob("*/devcontainer-feature.json")):
        meta = json.loads(path.read_text())
        repo = "devcontainers/features/" + meta["id"]
        assert {meta["version"].split(".")[0], meta["version"], "latest"} <= set(ghcr_standin.tags(repo)), repo
        manifest = json.loads(ghcr_standin.api("/v2/{}/manifests/latest".format(repo))[1])
        served = json.loads(manifest["annotations"]["dev.containers.metadata"])  # what the CLI reads
        assert (served["id"], served["version"]) == (meta["id"], meta["version"])
        assert served.get("installsAfter") == meta.get("installsAfter") and served.get("containerEnv") == meta.get(
            "containerEnv"), repo


def layer_file(registry: Registry, repo: str, digest: str, name: str) -> str:
    manifest = json.loads(registry.api("/v2/{}/manifests/{}".format(repo, digest))[1])
    blob = registry.api("/v2/{}/blobs/{}".format(repo, manifest["layers"][0]["digest"]))[1]
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        member = next(m for m in archive.getmembers() if m.name.removeprefix("./") == name)
        return archive.extractfile(member).read().decode()


def test_publish_feature_republishes_exactly_when_the_files_change(ghcr_standin: Registry, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(FEATURE_SRC, src / "uv-user", ignore=shutil.ignore_patterns("__pycache__"))
    namespace = "uv-user-test-{}/features".format(secrets.token_hex(4))
    repo = namespace + "/uv-user"
    try:
        first = ghcr.publish_feature(namespace, src=src)
        assert first.ref == "ghcr.io/{}:{}".format(repo, first.version.split(".")[0])
        assert ghcr.publish_feature(namespace, src=src) == first  # unchanged: the same manifest

        notes = src / "uv-user" / "NOTES.md"
        notes.write_text(notes.read_text() + "\nchanged for the test\n")
        changed = ghcr.publish_feature(namespace, src=src)
        assert changed.version == first.version and changed.digest != first.digest
        assert {ghcr_standin.digest(repo, tag) for tag in ghcr_standin.tags(repo)} == {changed.digest}
        assert layer_file(ghcr_standin, repo, changed.digest, "NOTES.md").endswith("changed for the test\n")
        with pytest.raises(urllib.error.HTTPError) as gone:  # nothing can still resolve to the old files
            ghcr_standin.api("/v2/{}/manifests/{}".format(repo, first.digest))
        assert gone.value.code == 404
    finally:
        for name in (repo, namespace):
            ghcr_standin.delete_repository(name)


@dataclasses.dataclass
class Box:
    """A dev container brought up with uv-user by reference from the stand-in."""
    workspace: Path
    outcome: dict
    image: str
    published: ghcr.Publication


@contextlib.contextmanager
def bring_up(published: ghcr.Publication, *extra: str, **make_args: object) -> Iterator[Box]:
    workdir = temp_dir("uv-user-ghcr-")
    try:
        ws = make_workspace(EXAMPLE, workdir, feature=published.ref, **make_args)  # type: ignore[arg-type]
        chown_tree(workdir)
        with docker_cleanup(ws):
            outcome = up(ws, *extra)
            image = json.loads(run(["docker", "inspect", outcome["containerId"]]).stdout)[0]["Config"]["Image"]
            yield Box(ws, outcome, image, published)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def after_python_features(publish_uv_user, provisioned) -> Iterator[Box]:
    """Published under a namespace that sorts before ghcr.io/devcontainers/features, beside python,
    anaconda and conda, on the vscode base image."""
    published = publish_uv_user(ghcr.BEFORE)
    assert published.ref < OFFICIAL, "without installsAfter it would install first in its round"
    with bring_up(published, image=provisioned["base"], features=PYTHON_FIRST) as box:
        yield box


@pytest.fixture(scope="module")
def on_devcontainers_python(publish_uv_user, provisioned) -> Iterator[Box]:
    """Published under a namespace that sorts after, on mcr.microsoft.com/devcontainers/python's stand-in."""
    with bring_up(publish_uv_user(ghcr.AFTER), "--include-merged-configuration",
                  image=provisioned["devpython"]) as box:
        yield box


def image_python(image: str) -> str:
    """The python of tools that run the image without the CLI (docker run, compose): the image's ENV PATH."""
    return run(["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", "command -v python"]).stdout.strip()


def test_installs_after_python_anaconda_and_conda_though_its_reference_sorts_first(after_python_features) -> None:
    box = after_python_features
    lock = json.loads((box.workspace / ".devcontainer" / "devcontainer-lock.json").read_text())["features"]
    assert lock[box.published.ref]["version"] == box.published.version
    assert lock[box.published.ref]["resolved"].endswith("@" + box.published.digest), lock  # this publication

    label = run(["docker", "image", "inspect", "--format", '{{index .Config.Labels "devcontainer.metadata"}}',
                 box.image]).stdout
    order = [entry["id"] for entry in json.loads(label) if "id" in entry]  # install order
    assert order[-1] == box.published.ref, order
    assert set(PYTHON_FIRST) <= set(order[:-1]), order
    assert image_python(box.image) == ENV_PYTHON
    result = exec_(box.workspace, SYNC, extra_args=[box.outcome["remoteWorkspaceFolder"]])
    assert "prefix: /opt/uv-user/venv\n" in result.stdout, result.stdout


def test_on_the_devcontainers_python_image_the_env_is_vs_codes_interpreter(on_devcontainers_python) -> None:
    box = on_devcontainers_python
    settings = [entry["settings"] for entry in box.outcome["mergedConfiguration"]["customizations"]["vscode"]
                if "python.defaultInterpreterPath" in entry.get("settings", {})]
    assert [s["python.defaultInterpreterPath"] for s in settings] == [
        "/usr/local/python/current/bin/python", "/usr/local/python/current/bin/python", ENV_PYTHON], settings
    assert image_python(box.image) == ENV_PYTHON
    result = exec_(box.workspace, SYNC, extra_args=[box.outcome["remoteWorkspaceFolder"]])
    assert "prefix: /opt/uv-user/venv\n" in result.stdout, result.stdout


@pytest.mark.parametrize("box_name", ["after_python_features", "on_devcontainers_python"])
def test_login_shells_find_the_envs_python_first(box_name: str, request: pytest.FixtureRequest) -> None:
    box = request.getfixturevalue(box_name)
    result = exec_(box.workspace, WHOSE_PYTHON)
    assert result.stdout.splitlines() == ["python: " + ENV_PYTHON, "login python: " + ENV_PYTHON], result.stdout
