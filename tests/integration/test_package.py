"""The feature packages with the reference CLI the way `features publish` would package it."""

from __future__ import annotations

import json
import tarfile

import pytest

from harness.devcontainer import CLI, REPO, run

pytestmark = pytest.mark.docker


def test_features_package_produces_the_feature_tarball(tmp_path) -> None:
    out = tmp_path / "package"
    run([str(CLI), "features", "package", str(REPO / "src"), "--output-folder", str(out), "--force-clean-output-folder"])
    collection = json.loads((out / "devcontainer-collection.json").read_text())
    assert [f["id"] for f in collection["features"]] == ["uv-user"]
    with tarfile.open(out / "devcontainer-feature-uv-user.tgz") as archive:
        names = set(n.lstrip("./") for n in archive.getnames())
    for required in ("devcontainer-feature.json", "install.sh", "uv-user.py", "uv_user/cli.py", "NOTES.md"):
        assert required in names, sorted(names)
    assert not any("__pycache__" in n for n in names), "bytecode must not be published"
