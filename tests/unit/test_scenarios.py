"""test/uv-user without Docker: the scenarios name public images users have, each one the harness
stands in for, and standin_project swaps every one of them for its stand-in in a copy (what
tests/integration/test_cli_scenarios.py runs) while the repository keeps the public names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.devcontainer import image_references, public_images, standin_project, strip_jsonc

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "test" / "uv-user"
SCENARIOS = json.loads(strip_jsonc((TESTS / "scenarios.json").read_text()))
STAND_INS = public_images()  # every public image the harness has a stand-in for -> the stand-in's tag


def scenario_images(tests: Path) -> dict:
    """scenario -> every image it starts from: its "image", or the FROM / compose image: lines of its folder."""
    scenarios = json.loads(strip_jsonc((tests / "scenarios.json").read_text()))
    return {name: ([config["image"]] if "image" in config else []) + (
        image_references(tests / name) if (tests / name).is_dir() else []) for name, config in scenarios.items()}


def test_every_scenario_has_its_script_and_each_script_its_scenario() -> None:
    scripts = {p.stem for p in TESTS.glob("*.sh")} - {"test", "duplicate", "checks"}
    assert scripts == set(SCENARIOS)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_scenario_names_public_images_the_harness_stands_in_for(scenario: str) -> None:
    images = scenario_images(TESTS)[scenario]
    assert images, "{} names no image".format(scenario)
    assert set(images) <= set(STAND_INS), images
    config = SCENARIOS[scenario]
    if "build" in config:  # the Dockerfile is in the scenario's folder, which the CLI copies in
        assert (TESTS / scenario / config["build"]["dockerfile"]).is_file()
    if "dockerComposeFile" in config:
        assert (TESTS / scenario / config["dockerComposeFile"]).is_file()


def test_the_stand_in_copy_names_only_stand_ins_and_leaves_the_repository_alone(tmp_path: Path) -> None:
    before = {path: path.read_bytes() for path in TESTS.rglob("*") if path.is_file()}
    copy = standin_project(REPO, tmp_path, STAND_INS)
    assert copy == tmp_path / REPO.name
    swapped = scenario_images(copy / "test" / "uv-user")
    assert set(swapped) == set(SCENARIOS)
    for scenario, images in swapped.items():
        assert images and set(images) <= set(STAND_INS.values()), (scenario, images)
        assert len(images) == len(scenario_images(TESTS)[scenario])
    # Everything else the CLI reads is as it is in the repository: the feature, the scripts.
    install_sh = Path("src", "uv-user", "install.sh")
    assert (copy / install_sh).read_bytes() == (REPO / install_sh).read_bytes()
    assert (copy / "test" / "uv-user" / "checks.sh").read_bytes() == (TESTS / "checks.sh").read_bytes()
    copied = json.loads((copy / "test" / "uv-user" / "scenarios.json").read_text())
    assert {name: {k: v for k, v in config.items() if k != "image"} for name, config in copied.items()} == \
        {name: {k: v for k, v in config.items() if k != "image"} for name, config in SCENARIOS.items()}
    assert not list((copy / "src").rglob("__pycache__"))
    assert {path: path.read_bytes() for path in TESTS.rglob("*") if path.is_file()} == before
