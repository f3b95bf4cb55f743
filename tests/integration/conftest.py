"""Fixtures shared by the real-container tests."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from harness.devcontainer import REPO, example_workspace


@pytest.fixture
def workspace(provisioned) -> Iterator[Path]:
    """examples/basic with the local feature, owned by uid 1000 like a host checkout; removed afterwards."""
    with example_workspace(REPO / "examples" / "basic", "uv-user-it-", image=provisioned["base"]) as ws:
        yield ws
