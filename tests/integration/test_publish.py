"""The feature as users get it: published to an OCI registry and used by reference.

`devcontainer features publish` pushes src/ to a local registry (harness.registry: Debian's
docker-registry on 127.0.0.1:5000, which the CLI reaches as plain-HTTP `localhost:5000`), and
examples/basic, pointed at `localhost:5000/uv-user/features/uv-user:1` instead of ghcr.io, comes
up with the pinned CLI and passes the scenarios' as-the-user checks (test/uv-user/checks.sh).
Publishing the same version again is a no-op that breaks nothing, and the lockfile the CLI writes
keeps resolving.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import urllib.error
from pathlib import Path
from typing import Iterator

import pytest

from harness.common import ProvisionError
from harness.devcontainer import CLI, REPO, chown_tree, docker_cleanup, exec_, run, strip_jsonc, temp_dir, up
from harness.registry import Registry, ensure_registry, stop_registry

pytestmark = pytest.mark.docker

FEATURE = json.loads((REPO / "src" / "uv-user" / "devcontainer-feature.json").read_text())
VERSION = FEATURE["version"]
EXAMPLE = REPO / "examples" / "basic"
PUBLISHED_REF = "ghcr.io/uv-user/features/uv-user:1"  # what examples/basic references
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The CLI's own test library is compiled into its bundle: this shim gives checks.sh the same
# `check` and `reportResults`.
TEST_LIB = """\
FAILED=()
check() {
    local label=$1; shift
    if "$@"; then echo "passed: $label"; else echo "FAILED: $label" >&2; FAILED+=("$label"); fi
}
reportResults() {
    if [ ${#FAILED[@]} -ne 0 ]; then echo "failed checks: ${FAILED[*]}" >&2; exit 1; fi
    echo "all checks passed"
}
"""
CHECKS = """\
set -e
source ./dev-container-features-test-lib
source ./checks.sh
uvuser_core_checks vscode
check "the published version runs" test "$(uv-user --version)" = "uv-user $1"
check "uv sync of the workspace project" uv sync
check "no .venv in the workspace" test ! -e .venv
check "the project's python is the env's" python hello.py
reportResults
"""


@pytest.fixture(scope="module")
def registry(provisioned) -> Iterator[Registry]:
    """The local registry: started here (and stopped, its storage removed, afterwards) unless one runs."""
    try:
        reg = ensure_registry()
    except ProvisionError as exc:
        if IN_CI:
            pytest.fail("CI=true and the local OCI registry could not be started: {}".format(exc))
        pytest.skip("no local OCI registry here: {}".format(exc))
    try:
        yield reg
    finally:
        if reg.started:
            stop_registry()


@pytest.fixture(scope="module")
def namespace(registry: Registry) -> Iterator[str]:
    """uv-user/features in a registry of our own; in one that was already running, a fresh name
    (so a stale 1.0.0 there cannot stand in for ours), whose manifests are deleted afterwards."""
    name = "uv-user/features" if registry.started else "uv-user-{}/features".format(secrets.token_hex(4))
    yield name
    if not registry.started:
        for repo in (name, name + "/uv-user"):
            try:
                registry.delete_repository(repo)
            except urllib.error.HTTPError:
                pass  # deleting is off in that registry's config


def publish(registry: Registry, namespace: str) -> dict:
    result = run([str(CLI), "features", "publish", str(REPO / "src"), "--registry", registry.host,
                  "--namespace", namespace, "--log-level", "info"])
    return json.loads(result.stdout.strip().splitlines()[-1])


def expected_tags(version: str) -> list:
    major, minor, _ = version.split(".")
    return sorted([major, "{}.{}".format(major, minor), version, "latest"])


def workspace_for(ref: str, image: str, into: Path) -> Path:
    """examples/basic referencing the published feature by ref, plus the checks, owned by uid 1000."""
    ws = into / EXAMPLE.name
    shutil.copytree(EXAMPLE, ws)
    config_path = ws / ".devcontainer" / "devcontainer.json"
    config = json.loads(strip_jsonc(config_path.read_text()))
    assert PUBLISHED_REF in config["features"], config
    config["features"] = {ref: config["features"][PUBLISHED_REF]}
    config["image"] = image
    config_path.write_text(json.dumps(config, indent=2))
    shutil.copy(REPO / "test" / "uv-user" / "checks.sh", ws / "checks.sh")
    (ws / "dev-container-features-test-lib").write_text(TEST_LIB)
    chown_tree(into)
    return ws


def run_checks(ws: Path) -> None:
    result = exec_(ws, CHECKS, extra_args=[VERSION], check=False)
    assert result.returncode == 0 and "all checks passed" in result.stdout, result.stdout[-6000:] + result.stderr[-6000:]


def test_published_feature_is_used_by_reference(registry: Registry, namespace: str, provisioned) -> None:
    repo = namespace + "/uv-user"
    first = publish(registry, namespace)
    assert first["uv-user"]["version"] == VERSION, first
    assert sorted(first["uv-user"]["publishedTags"]) == expected_tags(VERSION), first
    assert registry.tags(repo) == expected_tags(VERSION)
    assert registry.tags(namespace) == ["latest"], "the collection metadata (devcontainer-collection.json)"
    digest = registry.digest(repo, "1")
    assert {registry.digest(repo, tag) for tag in expected_tags(VERSION)} == {digest}

    ref = "{}/{}:{}".format(registry.host, repo, VERSION.split(".")[0])
    workdir = temp_dir("uv-user-publish-")
    try:
        ws = workspace_for(ref, provisioned["base"], workdir)
        with docker_cleanup(ws):
            up(ws)
            lock = json.loads((ws / ".devcontainer" / "devcontainer-lock.json").read_text())["features"][ref]
            assert lock["version"] == VERSION and lock["resolved"].endswith("@" + digest), lock
            run_checks(ws)

            # The same version again: the CLI skips it, the tags and the digest stay, the lockfile still holds.
            again = publish(registry, namespace)
            assert again["uv-user"] == {}, again
            assert registry.tags(repo) == expected_tags(VERSION) and registry.digest(repo, "1") == digest
            up(ws, "--remove-existing-container", "--frozen-lockfile")
            run_checks(ws)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
