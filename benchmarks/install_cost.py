"""Install cost: `devcontainer build` of examples/basic with the feature, uncached and cached,
beside the same build without the feature; and what the feature adds to the image's size.

The image built here is the one the start and sync benchmarks then run: the feature exactly as
the devcontainers CLI installs it, with its real entrypoint recorded in the image's metadata.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Dict, List, Tuple

from harness.devcontainer import FEATURE_SRC, make_workspace, remove_build_leftovers
from harness.devcontainer import REPO as HARNESS_REPO

from .docker import BenchError, Session, image_id, image_size, median, rotated, sh

EXAMPLE = HARNESS_REPO / "examples" / "basic"
MB = 1_000_000  # docker's MB


def workspaces(into: Path, base: str) -> Tuple[Path, Path]:
    """examples/basic with the local feature, and the same config without it."""
    with_feature = make_workspace(EXAMPLE, into, image=base)
    bare = into / "bare"
    (bare / ".devcontainer").mkdir(parents=True)
    (bare / ".devcontainer" / "devcontainer.json").write_text(
        json.dumps({"name": "bare", "image": base, "remoteUser": "vscode"}, indent=2))
    return with_feature, bare


def build(session: Session, cli: Path, workspace: Path, tag: str, no_cache: bool) -> float:
    """Seconds of one `devcontainer build`; an image it replaces is removed with the run's."""
    before = image_id(tag)
    started = time.perf_counter()
    result = sh([str(cli), "build", "--workspace-folder", str(workspace), "--image-name", tag,
                 "--log-format", "json", *(["--no-cache"] if no_cache else [])], check=False, timeout=900)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        output = result.stdout + result.stderr
        remove_build_leftovers(output)  # the classic builder keeps a failed RUN step's container
        raise BenchError("devcontainer build of {} failed ({}):\n{}".format(workspace, result.returncode,
                                                                           output[-3000:]))
    after = image_id(tag)
    if after is None:
        raise BenchError("devcontainer build reported success but {} does not exist".format(tag))
    if before and before != after:
        session.forget_image(before)
    if workspace.name != "bare":
        check_content(tag)
    return seconds


def check_content(tag: str) -> None:
    """The image runs this checkout's uv-user. Builds on one engine share the CLI's
    dev_container_feature_content_temp tag, so a concurrent build can swap the feature content."""
    files = ["uv-user.py"] + sorted("uv_user/" + p.name for p in (FEATURE_SRC / "uv_user").glob("*.py"))
    want = {name: hashlib.sha256((FEATURE_SRC / name).read_bytes()).hexdigest() for name in files}
    listing = sh(["docker", "run", "--rm", "--entrypoint", "sh", tag, "-c",
                  'cd /usr/local/share/uv-user && sha256sum "$@"', "-", *files], check=False).stdout
    have = {name: digest for digest, name in (line.split() for line in listing.splitlines() if line.strip())}
    differ = sorted(name for name in files if have.get(name) != want[name])
    if differ:
        raise BenchError("{} does not hold this checkout's uv-user ({} differ): a concurrent devcontainer build "
                         "probably swapped the CLI's shared feature content; run again".format(tag, ", ".join(differ)))


def entrypoint_of(tag: str) -> str:
    """The feature's entrypoint as the CLI will run it: from the image's devcontainer.metadata."""
    raw = sh(["docker", "image", "inspect", "--format", '{{index .Config.Labels "devcontainer.metadata"}}',
              tag]).stdout
    entries = [item["entrypoint"] for item in json.loads(raw) if item.get("entrypoint")]
    if len(entries) != 1:
        raise BenchError("expected exactly one feature entrypoint in {}'s metadata, found {}".format(tag, entries))
    return entries[0]


def run(session: Session, cli: Path, base: str, workdir: Path, reps: int) -> Tuple[Dict[str, object], str]:
    """The install-cost numbers, and the tag of the image with the feature."""
    with_feature, bare = workspaces(workdir, base)
    feature_tag, bare_tag = session.tag("feature"), session.tag("bare")
    samples: Dict[str, List[float]] = {"uncached": [], "cached": [], "bare": []}
    for rep in range(reps):
        for variant in rotated(["feature", "bare"], rep):
            if variant == "feature":  # the cached build must follow its own uncached one
                samples["uncached"].append(build(session, cli, with_feature, feature_tag, no_cache=True))
                samples["cached"].append(build(session, cli, with_feature, feature_tag, no_cache=False))
            else:
                samples["bare"].append(build(session, cli, bare, bare_tag, no_cache=True))
    base_size, feature_size = image_size(base), image_size(feature_tag)
    uv = sh(["docker", "run", "--rm", "--entrypoint", "uv", feature_tag, "--version"]).stdout.strip()
    result = {
        "reps": reps,
        "build_uncached_s": median(samples["uncached"]),
        "build_cached_s": median(samples["cached"]),
        "build_without_feature_s": median(samples["bare"]),
        "base_size_mb": base_size / MB,
        "feature_size_mb": feature_size / MB,
        "size_delta_mb": (feature_size - base_size) / MB,
        "uv_version": uv,
        "entrypoint": entrypoint_of(feature_tag),
        "samples": samples,
    }
    return result, feature_tag
