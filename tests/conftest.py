"""Shared pytest wiring: tests marked ``docker`` get a provisioned engine, CLI and images;
tests marked ``root`` need to run as root.

Without Docker or root on a laptop they skip with the reason; under CI=true a missing
engine, CLI or image, or a root test run as another user, is a failure, never a skip.
"""

from __future__ import annotations

import os
import sys
from typing import Dict

# The feature directory is packaged and copied into images as it is: keep bytecode out of it.
sys.dont_write_bytecode = True

import pytest  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """``root`` tests (chown to other uids, useradd) run as root; before any fixture, so no provisioning first."""
    if item.get_closest_marker("root") is None or os.geteuid() == 0:
        return
    if IN_CI:
        pytest.fail("CI=true and this test needs root but runs as uid {}: run the root tests with sudo "
                    "(sudo -E bash scripts/test.sh -m root), as .github/workflows/test.yaml does"
                    .format(os.geteuid()), pytrace=False)
    pytest.skip("needs root (chown to other uids): run with sudo to include it")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    for item in items:
        if "emulated" in item.keywords and "docker" not in item.keywords:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def provisioned(pytestconfig: pytest.Config) -> Dict[str, str]:
    """Engine + CLI + the standard test images, built or reused by tag (progress shown live)."""
    from harness import provision
    from harness.common import ProvisionError

    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled():
            return provision.ensure_all().images
    except ProvisionError as exc:
        if IN_CI:
            pytest.fail("CI=true and the Docker test environment could not be provisioned: {}".format(exc))
        pytest.skip("no Docker test environment here: {}".format(exc))


@pytest.fixture(autouse=True)
def _docker_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("provisioned")
