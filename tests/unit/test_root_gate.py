"""Tests that need root are marked ``root``; under CI=true, not being root fails them (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_skips_itself_for_want_of_root() -> None:
    # A skip on the uid would be silent in CI: the `root` marker goes through the gate in conftest.py.
    pattern = re.compile(r"skip.*\bget(e?)uid\(\)|\bget(e?)uid\(\) != 0:\s*\n\s*pytest\.skip")
    offenders = [str(path.relative_to(TESTS)) for path in TESTS.rglob("*.py")
                 if path.name != "conftest.py" and pattern.search(path.read_text())]
    assert offenders == [], "use @pytest.mark.root, not a skip on the uid: {}".format(offenders)


def run_as_another_user(ci: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """A one-test suite with the real conftest.py, run by pytest with os.geteuid() faked to a non-root uid."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    root: needs root\n")
    (tmp_path / "fake_uid.py").write_text("import os\nos.geteuid = lambda: 1001\n")
    (tmp_path / "test_needs_root.py").write_text("import pytest\n\n@pytest.mark.root\ndef test_chown():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(CI=ci, PYTHONPATH=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "fake_uid", "-p", "no:cacheprovider", "-rA",
                           str(tmp_path)], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)


def test_a_root_test_run_as_another_user_fails_under_ci(tmp_path: Path) -> None:
    result = run_as_another_user("true", tmp_path)
    assert result.returncode != 0, result.stdout
    assert "CI=true and this test needs root but runs as uid 1001" in result.stdout, result.stdout
    assert "skipped" not in result.stdout, result.stdout


def test_a_root_test_run_as_another_user_skips_outside_ci(tmp_path: Path) -> None:
    result = run_as_another_user("", tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout and "needs root" in result.stdout, result.stdout
