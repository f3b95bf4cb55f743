"""install.sh's own decisions, with recording stubs first on PATH instead of real package managers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.common import run

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


def run_install(path: str, **env: str) -> subprocess.CompletedProcess:
    """install.sh with exactly this environment: PATH and ``env``."""
    return run(["/bin/sh", str(FEATURE / "install.sh")], env=dict(env, PATH=path), check=False)


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


def apt_that_installs_python(tmp_path: Path, calls: Path) -> str:
    """A PATH whose apt-get "installs" python3 (a link to this interpreter) and whose rm only records:
    install.sh runs `rm -rf /var/lib/apt/lists/*`, which must not touch the host's lists."""
    bin_dir = tmp_path / "bin"
    python = os.path.realpath(sys.executable)
    return stub_path(tmp_path, {
        "apt-get": 'echo "apt-get $*" >> {c}; [ "$1" != install ] || /bin/ln -s {p} {b}/python3'.format(
            c=calls, p=python, b=bin_dir),
        "rm": 'echo "rm $*" >> {}'.format(calls),
    })


def test_a_bad_option_after_installing_python_says_python3_was_installed(tmp_path) -> None:
    # The message used to say "(nothing was changed)" right after apt-get had installed python3.
    calls = tmp_path / "calls"
    result = run_install(apt_that_installs_python(tmp_path, calls), VERSION="0.13.x")
    assert result.returncode == 1
    recorded = calls.read_text().splitlines()
    assert recorded[:2] == ["apt-get update -y", "apt-get install -y --no-install-recommends python3 ca-certificates"]
    assert len(recorded) == 3 and recorded[2].startswith("rm -rf /var/lib/apt/lists/")  # the glob, expanded
    assert result.stderr.splitlines() == [
        "uv-user: version '0.13.x' is not valid; use latest, none, X.Y (newest patch) or X.Y.Z, e.g. 0.9.5 (only "
        "python3 was installed, by the package manager; nothing else was changed)"]


def test_with_python_already_there_nothing_was_changed_whatever_the_environment_says(tmp_path) -> None:
    path = stub_path(tmp_path, {})
    os.symlink(os.path.realpath(sys.executable), Path(path) / "python3")
    result = run_install(path, VERSION="0.13.x", _UV_USER_PYTHON3_INSTALLED="1")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].endswith("e.g. 0.9.5 (nothing was changed)")
