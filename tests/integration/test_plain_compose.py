"""Outside the devcontainers CLI: the built image under plain Docker Compose (via pytest-docker).

Other dev-container tools, CI jobs and `docker compose up` of a built image run no
feature entrypoint and no lifecycle command, and may start login shells that reset
PATH. The image must still put the user's environment first, and a fresh volume
on /opt/uv-user must come up owned by the user (Docker copies the image's
ownership into it). The compose file is written with pyyaml from what the test needs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from harness.devcontainer import CLI, REPO, Owned, docker_exec, example_workspace, run

pytestmark = pytest.mark.docker

SERVICE = "app"


@pytest.fixture(scope="session")
def feature_image(provisioned) -> Iterator[str]:
    """examples/basic built by the CLI (`devcontainer build`) with the local feature."""
    owned = Owned()
    try:
        tag = owned.tag("plain-compose")
        with example_workspace(REPO / "examples" / "basic", "uv-user-plain-", image=provisioned["base"]) as ws:
            run([str(CLI), "build", "--workspace-folder", str(ws), "--image-name", tag])
        yield tag
    finally:
        owned.cleanup()


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return "docker-compose"  # this engine has no `docker compose` plugin; Debian's v1 works


@pytest.fixture(scope="session")
def docker_setup() -> str:
    return "up -d"  # pytest-docker's default adds --wait, which compose v1 does not have


@pytest.fixture(scope="session")
def docker_compose_file(feature_image: str, tmp_path_factory) -> str:
    compose = {
        "version": "3.8",
        "services": {SERVICE: {
            "image": feature_image,
            "user": "vscode",
            "command": ["sleep", "infinity"],
            "volumes": ["uvenv:/opt/uv-user"],
        }},
        "volumes": {"uvenv": {}},
    }
    path = tmp_path_factory.mktemp("compose") / "docker-compose.yml"
    path.write_text(yaml.safe_dump(compose, sort_keys=False))
    return str(path)


def exec_in(docker_services, script: str) -> subprocess.CompletedProcess:
    cid = docker_services._docker_compose.execute("ps -q " + SERVICE).decode().strip()
    return docker_exec(cid, script, user="vscode", shell="bash")


def test_the_written_compose_file_round_trips(docker_compose_file: str, feature_image: str) -> None:
    loaded = yaml.safe_load(Path(docker_compose_file).read_text())
    assert loaded["services"][SERVICE]["image"] == feature_image
    assert loaded["services"][SERVICE]["volumes"] == ["uvenv:/opt/uv-user"]


def test_plain_compose_gets_the_users_env_first_even_in_login_shells(docker_services) -> None:
    result = exec_in(docker_services, "command -v python; bash -lc 'command -v python; echo $UV_PROJECT_ENVIRONMENT'; "
                                      "find /opt/uv-user ! -user vscode | wc -l; "
                                      "awk '$2 == \"/opt/uv-user\" {print $3}' /proc/mounts")
    words = result.stdout.split()
    assert words[:4] == ["/opt/uv-user/venv/bin/python", "/opt/uv-user/venv/bin/python", "/opt/uv-user/venv", "0"], \
        result.stdout
    assert len(words) == 5, "the compose volume is mounted at /opt/uv-user: " + result.stdout


def test_plain_compose_syncs_a_project_into_the_volume(docker_services) -> None:
    script = ("mkdir -p ~/p && cd ~/p && printf '[project]\\nname = \"p\"\\nversion = \"0\"\\n"
              "requires-python = \">=3.8\"\\ndependencies = [\"iniconfig\"]\\n' > pyproject.toml && uv sync -q && "
              "test ! -e .venv && python -c 'import iniconfig; print(iniconfig.__file__)'")
    assert exec_in(docker_services, script).stdout.startswith("/opt/uv-user/venv/lib/")
