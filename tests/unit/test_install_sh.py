"""install.sh's own decisions, with recording stubs first on PATH instead of real package managers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

FEATURE = Path(__file__).resolve().parents[2] / "src" / "uv-user"


def stub_path(tmp_path: Path, stubs: dict) -> str:
    """A PATH holding only dirname (install.sh needs it) and the given stub scripts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink("/usr/bin/dirname", bin_dir / "dirname")
    for name, body in stubs.items():
        script = bin_dir / name
        script.write_text("#!/bin/sh\n" + body + "\n")
        script.chmod(0o755)
    return str(bin_dir)


def run_install(path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", str(FEATURE / "install.sh")], env={"PATH": path},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_no_python_and_no_package_manager_is_one_clear_line(tmp_path) -> None:
    result = run_install(stub_path(tmp_path, {}))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "uv-user: python3 is missing and no known package manager (apt-get, apk, dnf, microdnf, zypper) was "
        "found; install python3 3.8+ in the image first (nothing was changed)"]


def test_a_failing_apt_get_ends_in_a_uv_user_line(tmp_path) -> None:
    calls = tmp_path / "calls"
    path = stub_path(tmp_path, {"apt-get": 'echo "apt-get $*" >> {}; exit 100'.format(calls)})
    result = run_install(path)
    assert result.returncode == 1
    assert calls.read_text().splitlines() == ["apt-get update -y"]
    assert result.stderr.strip().splitlines()[-1].startswith("uv-user: installing python3 with the image's package "
                                                             "manager failed")
