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


# ----------------------------------------------------------------------------- repo tags after a publish


def test_each_published_version_gets_the_repo_tag_devcontainers_action_added() -> None:
    # What `devcontainer features publish` prints: a result per id, {} for a version the registry had.
    published = {
        "uv-user": {"publishedTags": ["1", "1.1", "1.1.0", "latest"], "digest": "sha256:" + "0" * 64,
                    "version": "1.1.0"},
        "other": {"publishedTags": ["0.2", "0.2.1"], "digest": "sha256:" + "1" * 64, "version": "0.2.1"},
        "skipped": {},
    }
    assert release.repo_tags(published) == ["feature_other_0.2.1", "feature_uv-user_1.1.0"]
    assert release.repo_tags({"uv-user": {}}) == []


@pytest.mark.parametrize("published", [
    [], "1.0.0", {"uv-user": "1.0.0"}, {"uv-user": {"version": "1.0"}}, {"uv user": {"version": "1.0.0"}},
    {"uv-user": {"version": "1.0.0; rm -rf /"}}, {"-x": {"version": "1.0.0"}},
])
def test_anything_else_is_refused_rather_than_tagged(published) -> None:
    with pytest.raises(ValueError):
        release.repo_tags(published)


def test_release_tags_prints_one_tag_a_line_and_fails_on_a_bad_file(tmp_path: Path, capsys) -> None:
    good, bad = tmp_path / "published.json", tmp_path / "empty.json"
    good.write_text(json.dumps({"uv-user": {"publishedTags": ["1.0.1"], "digest": "sha256:x", "version": "1.0.1"}}))
    bad.write_text("")  # the publish step failed before printing
    assert release.tags_command(str(good)) == 0
    assert capsys.readouterr().out == "feature_uv-user_1.0.1\n"
    assert release.tags_command(str(bad)) == 1
    out = capsys.readouterr()
    assert out.out == "" and "harness: error:" in out.err
    assert release.tags_command(str(tmp_path / "missing.json")) == 1
