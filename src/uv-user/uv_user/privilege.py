"""Becoming root for the repair when uv-user runs as the dev user: ``sudo -n``, found safely.

Why its own module: `uv-user repair` (cli) and `uv-user doctor` both ask whether sudo works,
and the doctor must not import the CLI for it. Why not ``shutil.which("sudo")``: the inherited
PATH starts with /opt/uv-user/venv/bin, which the dev user owns, so a ``sudo`` planted there
would be run (and would see whatever it is passed). Only the root-owned system directories
of paths.SYSTEM_PATH are searched, and the program is run by its absolute path.
"""

from __future__ import annotations

import os
import subprocess
from typing import List

from . import paths


def find_sudo() -> str:
    """The absolute path of sudo in paths.SYSTEM_PATH, or "" when there is none."""
    for directory in paths.SYSTEM_PATH.split(":"):
        candidate = os.path.join(directory, "sudo")
        if directory.startswith("/") and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return ""


def sudo_works() -> bool:
    """Whether ``sudo -n`` lets this user run commands as root without a password prompt."""
    sudo = find_sudo()
    if not sudo:
        return False
    try:
        return subprocess.run([sudo, "-n", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def as_root(args: List[str]) -> List[str]:
    """``args`` run through ``sudo -n`` by its absolute path (call only when sudo_works())."""
    return [find_sudo() or "sudo", "-n"] + args
