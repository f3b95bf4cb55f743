"""Which programs root may run: never one another user can replace.

PATH starts with the dev user's ``/opt/uv-user/venv/bin`` for every process of
the container, root's too. So when uv-user runs as root it looks programs up in
the system's directories only (:data:`paths.SYSTEM_PATH`), and before it runs a
program it found elsewhere (the ``uv`` first on the user's PATH, for the doctor)
it checks that no one but root could have put it there.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import Optional

from . import paths


def system_which(name: str) -> Optional[str]:
    """``name`` looked up in the system's directories only."""
    return shutil.which(name, path=paths.SYSTEM_PATH)


def which_for(name: str, search_path: Optional[str], euid: int) -> Optional[str]:
    """The program to run: from ``search_path`` for a normal user, from system directories for root."""
    return system_which(name) if euid == 0 else shutil.which(name, path=search_path)


def root_may_run(path: str) -> bool:
    """True when ``path`` and every directory above it belong to root and no one else can write
    them (a sticky world-writable directory such as /tmp is fine: others cannot replace root's
    entries in it). Symlinks are followed the way exec would follow them, each checked."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    directory = os.path.dirname(real)
    while True:
        try:
            dst = os.lstat(directory)
        except OSError:
            return False
        writable = dst.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if dst.st_uid != 0 or (writable and not dst.st_mode & stat.S_ISVTX):
            return False
        parent = os.path.dirname(directory)
        if parent == directory:
            return True
        directory = parent
