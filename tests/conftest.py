"""Shared pytest wiring: tests marked ``docker`` get a provisioned engine, CLI, ghcr.io and images;
tests marked ``root`` need to run as root.

Without Docker or root on a laptop they skip with the reason; under CI=true a missing
engine, CLI, ghcr.io stand-in or image, or a root test run as another user, is a failure, never a skip.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Callable, Dict, Iterator

# The feature directory is packaged and copied into images as it is: keep bytecode out of it.
sys.dont_write_bytecode = True

import pytest  # noqa: E402

if TYPE_CHECKING:
    from harness.ghcr import Publication
    from harness.registry import Registry

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """``root`` tests (chown to other uids, useradd) run as root; before any fixture, so no provisioning first."""
    if item.get_closest_marker("root") is None or os.geteuid() == 0:
        return
    if IN_CI:
        pytest.fail("CI=true and this test needs root but runs as uid {}: run the root tests as root "
                    "(bash scripts/test.sh -m root re-runs itself with sudo; .github/workflows/test.yaml runs "
                    "it under sudo -E)".format(os.geteuid()), pytrace=False)
    pytest.skip("needs root (chown to other uids): run as root to include it (bash scripts/test.sh does)")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--needs-root", action="store_true",
                     help="with --collect-only: print 'uvuser-needs-root: yes' when a selected test needs root "
                          "(marked docker or root), else 'no' (scripts/test.sh asks before it runs as a user)")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    for item in items:
        if "emulated" in item.keywords and "docker" not in item.keywords:
            item.add_marker(pytest.mark.docker)


def pytest_collection_finish(session: pytest.Session) -> None:
    """--needs-root: Docker tests need root too (provisioning; workspace copies handed to uid 1000)."""
    if session.config.getoption("needs_root"):
        needs = any(item.get_closest_marker(mark) is not None for item in session.items for mark in ("docker", "root"))
        reporter = session.config.pluginmanager.getplugin("terminalreporter")
        reporter.write_line("uvuser-needs-root: {}".format("yes" if needs else "no"))


@pytest.fixture(scope="session")
def provisioned(pytestconfig: pytest.Config) -> Iterator[Dict[str, str]]:
    """Engine + CLI + ghcr.io for the CLI + the standard test images, built or reused by tag (progress
    shown live). A ghcr.io stand-in this session set up is removed when the session ends."""
    from harness import provision
    from harness.common import ProvisionError

    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled():
            done = provision.ensure_all()
    except ProvisionError as exc:
        if IN_CI:
            pytest.fail("CI=true and the Docker test environment could not be provisioned: {}".format(exc))
        pytest.skip("no Docker test environment here: {}".format(exc))
    try:
        yield done.images
    finally:
        if done.ghcr is not None and done.ghcr.started:
            with capture.global_and_fixture_disabled():
                provision.stop_ghcr()


@pytest.fixture(autouse=True)
def _docker_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("provisioned")


@pytest.fixture(scope="session")
def ghcr_standin(provisioned) -> Registry:
    """The ghcr.io stand-in's registry (provisioned with the rest). Where the real ghcr.io answers there
    is none (UVUSER_GHCR=standin forces it): a skip, or under CI=true a failure."""
    from harness import ghcr

    found = ghcr.ensure_ghcr()  # cheap: provisioning brought it up
    if found.registry is None:
        why = "the real ghcr.io answers; set UVUSER_GHCR=standin to test against the stand-in"
        if IN_CI:
            pytest.fail("CI=true and there is no ghcr.io stand-in: {}".format(why))
        pytest.skip(why)
    return found.registry


@pytest.fixture(scope="session")
def publish_uv_user(ghcr_standin) -> Callable[[str], Publication]:
    """publish_uv_user(namespace) -> Publication: the current src/uv-user on the ghcr.io stand-in as
    ghcr.io/<namespace>/uv-user (harness.ghcr.publish_feature: republished whenever the files changed;
    harness.ghcr.BEFORE, AFTER and DOCUMENTED name the usual namespaces)."""
    from harness import ghcr

    return ghcr.publish_feature
