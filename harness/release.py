"""What was last published, per feature: release/<id>.json = {"version", "files_sha256"}.

`devcontainer features publish` silently skips a version that is already in the registry, so
changing a feature's files without bumping its semver `version` would never reach users. The
record lets a unit test (tests/unit/test_versioning.py) and `python3 -m harness release-record
--check` catch that: the files differ from the record while the version still equals it.
After a release, `python3 -m harness release-record` writes the new record (the release workflow
does it in its documentation PR).

The record lives outside src/, which is packaged as it is.

`python3 -m harness release-tags FILE` reads the JSON that `devcontainer features publish` prints and
names the git tag (feature_<id>_<version>) the release workflow adds for each version it published.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

from .common import REPO_ROOT, log

SRC = REPO_ROOT / "src"
RECORDS = REPO_ROOT / "release"
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
# What `git check-ref-format` and the registry accept alike; ids and versions never need more.
TAG_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
HOW_TO_FIX = ("bump \"version\" in {json} per semver (major: a breaking change to options, containerEnv or "
              "the /opt/uv-user layout; minor: a new option or behaviour; patch: a fix), and after publishing "
              "run `python3 -m harness release-record` so {record} names the released version")


def features() -> list[str]:
    """The ids of the features under src/ (directories with a devcontainer-feature.json)."""
    return sorted(p.parent.name for p in SRC.glob("*/devcontainer-feature.json"))


def _packaged_files(feature_dir: Path) -> list[Path]:
    """Every file that ships, except bytecode (never published: see tests/integration/test_package.py)."""
    return sorted((p for p in feature_dir.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"),
                  key=lambda p: p.relative_to(feature_dir).as_posix())


def files_sha256(feature_dir: Path) -> str:
    """A hash over the sorted relative paths and contents of the feature's files."""
    digest = hashlib.sha256()
    for path in _packaged_files(feature_dir):
        digest.update(path.relative_to(feature_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def current(feature: str, src: Path = SRC) -> dict[str, str]:
    """The record the feature's files would get now."""
    feature_dir = src / feature
    version = json.loads((feature_dir / "devcontainer-feature.json").read_text())["version"]
    return {"version": str(version), "files_sha256": files_sha256(feature_dir)}


def _semver(version: str) -> tuple[int, ...] | None:
    match = SEMVER.match(version)
    return tuple(int(part) for part in match.groups()) if match else None


def problem(feature: str, src: Path = SRC, records: Path = RECORDS) -> str | None:
    """Why the feature's version does not fit its record, or None when it does."""
    json_path = src / feature / "devcontainer-feature.json"
    record_path = records / f"{feature}.json"
    fix = HOW_TO_FIX.format(json=json_path.relative_to(src.parent), record=record_path.relative_to(records.parent))
    now = current(feature, src)
    version = _semver(now["version"])
    if version is None:
        return f"{feature}: version {now['version']!r} is not semver MAJOR.MINOR.PATCH; {fix}"
    try:
        recorded = json.loads(record_path.read_text())
    except FileNotFoundError:
        return (f"{feature}: no release record {record_path.relative_to(records.parent)}; "
                "run `python3 -m harness release-record` to create it")
    was = _semver(str(recorded.get("version")))
    if was is None:
        return f"{feature}: {record_path.relative_to(records.parent)} has no semver version: {recorded!r}"
    if version < was:
        return f"{feature}: version {now['version']} is lower than the released {recorded['version']}; {fix}"
    if version == was and now["files_sha256"] != recorded.get("files_sha256"):
        return (f"{feature}: {src.name}/{feature} changed since version {recorded['version']} was released, "
                f"but {json_path.relative_to(src.parent)} still says {now['version']}: publishing would skip it "
                f"and users would never get the change; {fix} (if {recorded['version']} was never published, "
                "only re-record it: `python3 -m harness release-record`)")
    return None


def write_record(feature: str, src: Path = SRC, records: Path = RECORDS) -> Path:
    """Record the feature's current version and files as released."""
    records.mkdir(parents=True, exist_ok=True)
    path = records / f"{feature}.json"
    path.write_text(json.dumps(current(feature, src), indent=4) + "\n")
    return path


def record_command(check: bool = False) -> int:
    """`python3 -m harness release-record [--check]`: write every feature's record, or only verify them."""
    if check:
        problems = [p for p in map(problem, features()) if p]
        for text in problems:
            print(f"harness: error: {text}", file=sys.stderr)
        return 1 if problems else 0
    for feature in features():
        path = write_record(feature)
        log(f"recorded {path.relative_to(REPO_ROOT)}: {feature} {current(feature)['version']} as released")
    return 0


def repo_tags(published: object) -> list[str]:
    """The repo tag for each feature that `devcontainer features publish` published: feature_<id>_<version>.

    The CLI prints {"<id>": {"publishedTags": [...], "digest": ..., "version": ...}} and {"<id>": {}} for a
    version the registry already had (nothing published, so no tag). The names are devcontainers/action's.
    """
    if not isinstance(published, dict):
        raise ValueError(f"not the JSON object `devcontainer features publish` prints: {published!r}")
    tags = []
    for feature, result in sorted(published.items()):
        if not isinstance(result, dict):
            raise ValueError(f"{feature}: not a publish result: {result!r}")
        version = result.get("version")
        if not version:
            continue
        if not TAG_PART.match(feature) or _semver(str(version)) is None:
            raise ValueError(f"{feature}: no repo tag for id {feature!r} and version {version!r}")
        tags.append(f"feature_{feature}_{version}")
    return tags


def tags_command(path: str) -> int:
    """`python3 -m harness release-tags FILE`: print the repo tags for the publish result in FILE."""
    try:
        tags = repo_tags(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"harness: error: {path}: {exc}", file=sys.stderr)
        return 1
    for tag in tags:
        print(tag)
    return 0
