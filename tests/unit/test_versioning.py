"""A feature's files may not change under an already-released version (harness/release.py).

`devcontainer features publish` skips a version the registry already has, so a change without a
semver bump would never reach users. release/<id>.json records the last released version and a
hash of the feature's files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import release


@pytest.mark.parametrize("feature", release.features())
def test_a_changed_feature_has_a_bumped_version(feature: str) -> None:
    found = release.problem(feature)
    assert found is None, found


def test_every_feature_has_a_record_and_no_record_is_orphaned() -> None:
    assert sorted(p.stem for p in release.RECORDS.glob("*.json")) == release.features()


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A src/ with one released feature 'demo' at 1.2.3, and its record."""
    src, records = tmp_path / "src", tmp_path / "release"
    feature = src / "demo"
    (feature / "lib").mkdir(parents=True)
    (feature / "devcontainer-feature.json").write_text(json.dumps({"id": "demo", "version": "1.2.3"}))
    (feature / "install.sh").write_text("#!/bin/sh\n")
    (feature / "lib" / "code.py").write_text("X = 1\n")
    release.write_record("demo", src, records)
    return src, records


def set_version(src: Path, version: str) -> None:
    path = src / "demo" / "devcontainer-feature.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), version=version)))


def test_unchanged_files_at_the_released_version_pass(tree) -> None:
    assert release.problem("demo", *tree) is None
    assert json.loads((tree[1] / "demo.json").read_text())["version"] == "1.2.3"


def test_changed_files_at_the_released_version_fail_saying_how_to_fix(tree) -> None:
    src, records = tree
    (src / "demo" / "lib" / "code.py").write_text("X = 2\n")
    found = release.problem("demo", src, records)
    assert found is not None
    assert "still says 1.2.3" in found and "bump" in found and "semver" in found
    assert "python3 -m harness release-record" in found


@pytest.mark.parametrize("change", [
    lambda d: (d / "lib" / "code.py").rename(d / "lib" / "other.py"),
    lambda d: (d / "NOTES.md").write_text("new\n"),
    lambda d: (d / "install.sh").unlink(),
])
def test_renamed_added_and_removed_files_count_as_changes(tree, change) -> None:
    change(tree[0] / "demo")
    assert release.problem("demo", *tree) is not None


@pytest.mark.parametrize("bumped", ["1.2.4", "1.3.0", "2.0.0"])
def test_a_bumped_version_passes_until_the_next_record(tree, bumped: str) -> None:
    src, records = tree
    (src / "demo" / "lib" / "code.py").write_text("X = 2\n")
    set_version(src, bumped)
    assert release.problem("demo", src, records) is None
    release.write_record("demo", src, records)
    (src / "demo" / "lib" / "code.py").write_text("X = 3\n")
    assert release.problem("demo", src, records) is not None


def test_bytecode_is_not_part_of_the_feature(tree) -> None:
    src, records = tree
    cache = src / "demo" / "lib" / "__pycache__"
    cache.mkdir()
    (cache / "code.cpython-311.pyc").write_bytes(b"\0")
    (src / "demo" / "stray.pyc").write_bytes(b"\0")
    assert release.problem("demo", src, records) is None


@pytest.mark.parametrize("version, words", [("1.2.2", "lower than the released 1.2.3"),
                                            ("1.3", "not semver"), ("v1.2.4", "not semver")])
def test_versions_below_the_record_or_not_semver_fail(tree, version: str, words: str) -> None:
    set_version(tree[0], version)
    found = release.problem("demo", *tree)
    assert found is not None and words in found


def test_a_missing_record_fails_naming_the_command(tree) -> None:
    (tree[1] / "demo.json").unlink()
    found = release.problem("demo", *tree)
    assert found is not None and "python3 -m harness release-record" in found
