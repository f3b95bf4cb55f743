"""Fixtures shared by the real-container tests."""

from __future__ import annotations

import grp
import pwd
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from harness.devcontainer import REPO, example_workspace, run, temp_dir

REMAP_USER = "uvuser-remap"
REMAP_UID = 1500


@pytest.fixture
def workspace(provisioned) -> Iterator[Path]:
    """examples/basic with the local feature, owned by uid 1000 like a host checkout; removed afterwards."""
    with example_workspace(REPO / "examples" / "basic", "uv-user-it-", image=provisioned["base"]) as ws:
        yield ws


@pytest.fixture
def workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A new empty folder for the test's workspaces (uv-user-<module>-*), removed with what is in it."""
    path = temp_dir("uv-user-{}-".format(request.module.__name__.rsplit(".", 1)[-1].replace("test_", "")))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def remap_user() -> str:
    """A non-root host user in the docker group with a UID other than the image's 1000 (made as root):
    the devcontainers CLI remaps the remote user's UID only when it runs as such a user."""
    try:
        pwd.getpwnam(REMAP_USER)
    except KeyError:
        grp.getgrnam("docker")  # the engine's socket group; the harness installs docker.io
        run(["useradd", "--uid", str(REMAP_UID), "--create-home", "--groups", "docker", REMAP_USER])
    return REMAP_USER
