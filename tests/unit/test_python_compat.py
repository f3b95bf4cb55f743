"""The in-container code must run on the python3 of Debian 11 / Ubuntu 20.04 (3.8): checked two ways."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.common import run

FEATURE = Path(__file__).resolve().parents[2] / "src" / "uv-user"
VERMIN = [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())"]
SOURCES = [str(FEATURE / "uv-user.py")] + sorted(glob.glob(str(FEATURE / "uv_user" / "*.py")))


def test_static_minimum_version_is_3_8() -> None:
    """vermin reads the syntax and library use of every module; 3.9+ features fail this."""
    result = run(VERMIN + ["--target=3.8-", "--no-tips", "--violations", "--eval-annotations"] + SOURCES, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vermin_would_catch_a_3_9_construct(tmp_path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("value = 'abc'.removeprefix('a')\n")
    result = run(VERMIN + ["--target=3.8-", "--no-tips", "--violations", str(probe)], check=False)
    assert result.returncode != 0


def _python38() -> str:
    """A working 3.8 (pyenv shims exist even when they cannot run the version)."""
    candidates = sorted(glob.glob("/root/.pyenv/versions/3.8*/bin/python3.8")) + [shutil.which("python3.8")]
    for candidate in filter(None, candidates):
        if run([candidate, "-c", "pass"], check=False).returncode == 0:
            return candidate
    return ""


@pytest.mark.skipif(not _python38(), reason="no python3.8 interpreter on this machine (vermin still checks)")
def test_runs_on_a_real_python_3_8(tmp_path) -> None:
    """Import every module and plan a dry run (version none: a fake uv, no network) on 3.8 itself."""
    fake = tmp_path / "uv"
    fake.write_text("#!/bin/sh\necho 'uv 0.9.30'\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH="{}:{}".format(tmp_path, os.environ["PATH"]), VERSION="none")
    result = run([_python38(), "-B", "-E", "-s", str(FEATURE / "uv-user.py"), "install", "--dry-run"], env=env,
                 check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uv-user: uv 0.9.30: reuse the image's {}".format(fake) in result.stdout
