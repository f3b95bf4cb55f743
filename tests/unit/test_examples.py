"""examples/ without Docker: each uses the published feature, names only images the harness can stand in
for, and is listed in the README; make_workspace rewrites them as the docker tests need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.devcontainer import PUBLISHED_REF, image_references, make_workspace, public_images, strip_jsonc

REPO = Path(__file__).resolve().parents[2]
OFFICIAL = "ghcr.io/devcontainers/features/"
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if (p / ".devcontainer" / "devcontainer.json").exists())
STAND_INS = public_images()  # every public image the harness has a stand-in for -> the stand-in's tag


def image_refs(workspace: Path) -> list:
    """Every image a dev container of this workspace starts from: json image, FROM lines, compose image: lines."""
    devcontainer = workspace / ".devcontainer"
    config = json.loads(strip_jsonc((devcontainer / "devcontainer.json").read_text()))
    refs = [config["image"]] if "image" in config else []
    return refs + image_references(devcontainer)


def test_there_are_the_documented_examples():
    assert [p.name for p in EXAMPLES] == ["basic", "compose", "dockerfile", "python-feature", "two-projects"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_example_uses_the_published_feature_and_known_images(example: Path):
    config = json.loads(strip_jsonc((example / ".devcontainer" / "devcontainer.json").read_text()))
    # uv-user by its published reference, beside official features by theirs, as users write them.
    assert PUBLISHED_REF in config["features"]
    assert all(ref == PUBLISHED_REF or ref.startswith(OFFICIAL) for ref in config["features"]), config["features"]
    refs = image_refs(example)
    assert refs and set(refs) <= set(STAND_INS), refs


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_make_workspace_points_every_image_at_a_stand_in(example: Path, tmp_path: Path):
    ws = make_workspace(example, tmp_path, images=STAND_INS, name=example.name + "-copy")
    assert ws == tmp_path / (example.name + "-copy")
    config = json.loads(strip_jsonc((ws / ".devcontainer" / "devcontainer.json").read_text()))
    original = json.loads(strip_jsonc((example / ".devcontainer" / "devcontainer.json").read_text()))
    assert list(config["features"]) == ["./uv-user" if ref == PUBLISHED_REF else ref for ref in original["features"]]
    assert set(image_refs(ws)) <= set(STAND_INS.values())
    assert (ws / ".devcontainer" / "uv-user" / "install.sh").exists()


def test_make_workspace_keeps_comments_when_nothing_is_substituted(tmp_path: Path):
    ws = make_workspace(REPO / "examples" / "basic", tmp_path)
    text = (ws / ".devcontainer" / "devcontainer.json").read_text()
    assert "//" in text and '"./uv-user"' in text


def test_the_readme_lists_every_example():
    readme = (REPO / "README.md").read_text()
    for example in EXAMPLES:
        assert "examples/{}".format(example.name) in readme, example.name


def test_the_two_projects_example_means_what_its_readme_says():
    example = REPO / "examples" / "two-projects"
    env_file = (example / "api" / ".env").read_text()
    assert "UV_PROJECT_ENVIRONMENT=/opt/uv-user/envs/api" in env_file
    assert "VIRTUAL_ENV=/opt/uv-user/envs/api" in env_file
    tasks = json.loads((example / ".vscode" / "tasks.json").read_text())["tasks"]
    api = next(t for t in tasks if t["label"] == "api: uv sync")
    assert api["options"]["env"] == {"UV_PROJECT_ENVIRONMENT": "/opt/uv-user/envs/api",
                                     "VIRTUAL_ENV": "/opt/uv-user/envs/api"}
    assert "/opt/uv-user/envs/api" in (example / "README.md").read_text()
