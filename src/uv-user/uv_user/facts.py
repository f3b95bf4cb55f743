"""Read-only inspection of the image: everything the plan depends on, nothing written.

Why the facts include uv-user's own tree (:class:`Tree`): the plan must refuse, before the index is
asked and before the first write, everything apply would otherwise find out only halfway: a managed
directory that is a symlink (``uv venv --clear`` would empty what it points to) or not a directory,
and a file the ownership repair would leave alone (a hard link with names outside the tree).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from . import paths
from .errors import UvUserError
from .users import Account
from .wheels import Platform, normalize_arch


@dataclass(frozen=True)
class Stranger:
    """A file under the tree that the ownership repair will not re-own, with its owner now."""

    path: str
    uid: int
    gid: int
    why: str  # "a hard link with 1 of its 2 names outside /opt/uv-user: left alone, since ..."


@dataclass(frozen=True)
class Tree:
    """uv-user's own tree as the install finds it, as far as the plan must refuse it up front."""

    #: managed directories that are symlinks, and where they point
    linked: Tuple[Tuple[str, str], ...] = ()
    #: managed directories that exist as something other than a directory
    not_dirs: Tuple[str, ...] = ()
    #: files the repair leaves alone whatever their owner (names outside the tree), as far as listed
    strangers: Tuple[Stranger, ...] = ()
    #: how many such files (not names) the scan counted but could not list: their owners are unknown
    unlisted: int = 0


@dataclass
class Facts:
    platform: Platform
    python: str
    accounts: List[Account]
    remote_user: str
    uv_on_path: str = ""  # a uv that is not ours (or ours), found on PATH
    uv_on_path_version: str = ""
    installed_version: str = ""  # version of paths.BIN_DIR/uv if present
    venv_state: str = "absent"  # absent | valid | broken | linked (a symlink: the plan refuses it, see tree)
    uv_toml: str = ""
    is_root: bool = True
    tree: Tree = field(default_factory=Tree)


def detect_platform(machine: str = "") -> Platform:
    arch = normalize_arch(machine or os.uname().machine)
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        glibc = ""
    match = re.match(r"glibc (\d+)\.(\d+)", glibc)
    if match:
        return Platform(arch, "glibc", (int(match.group(1)), int(match.group(2))))
    if glob.glob("/lib/ld-musl-*.so.1"):
        return Platform(arch, "musl", _musl_version())
    return Platform(arch, "glibc", (2, 17))


def _musl_version() -> Tuple[int, int]:
    for loader in glob.glob("/lib/ld-musl-*.so.1"):
        try:
            out = subprocess.run([loader], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, timeout=10).stderr
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(rb"Version (\d+)\.(\d+)", out)
        if match:
            return int(match.group(1)), int(match.group(2))
    return (1, 1)


def base_python() -> str:
    """The image's interpreter running this setup, never one inside uv-user's own env."""
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
        candidate = os.path.join(sys.base_prefix, "bin", "python3")
        return candidate if os.path.exists(candidate) else ""
    return sys.executable or ""


def uv_version(binary: str) -> str:
    """``0.9.5`` from ``uv 0.9.5 (abc 2025-01-01)``; "" when it does not run."""
    try:
        out = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=30, check=False).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return ""
    match = re.match(r"uv ([0-9][0-9A-Za-z.+-]*)", out.strip())
    return match.group(1) if match else ""


def find_uv(path_env: str) -> str:
    """The first uv on PATH outside uv-user's env (whose bin comes first once installed)."""
    for directory in path_env.split(os.pathsep):
        if not directory or paths.is_within(directory, paths.ROOT):
            continue
        candidate = os.path.join(directory, "uv")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return ""


def venv_state(venv: Optional[str] = None) -> str:
    """absent, valid or broken as uv would find it; "linked" when it is a symlink, which is never looked through."""
    venv = venv or paths.VENV
    if not os.path.lexists(venv):
        return "absent"
    if os.path.islink(venv):
        return "linked"
    python = os.path.join(venv, "bin", "python")
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")) and os.path.exists(python):
        return "valid"
    return "broken"


def linked_dirs() -> Tuple[Tuple[str, str], ...]:
    """The managed directories that are symlinks, with their targets, the tree's root first."""
    return tuple((d, os.readlink(d)) for d in paths.managed_dirs() if os.path.islink(d))


def tree() -> Tree:
    """What the plan must know of the tree before anything is written (see the module docstring).

    The strangers come from the repair's own scan (the same decision, made once), asked about an
    owner no file has, so that every file is looked at; the plan then compares each one's owner
    with the user it chose. A tree the scan may not enter is the plan's to refuse, not looked into."""
    from . import repair  # here: repair reads the install record through this module

    linked = linked_dirs()
    not_dirs = tuple(d for d in paths.managed_dirs() if os.path.lexists(d) and not os.path.islink(d)
                     and not os.path.isdir(d))
    strangers: Tuple[Stranger, ...] = ()
    unlisted = 0
    if not linked and os.path.isdir(paths.ROOT) and not paths.refusal(paths.ROOT):
        try:
            report = repair.scan(paths.ROOT, -1, -1)
        except UvUserError:  # changed under the scan: the plan sees no stranger, apply's repair still checks
            report = None
        if report is not None:
            refused = [m for m in report.mismatches if m.refused]
            strangers = tuple(Stranger(m.path, m.uid, m.gid, m.refused) for m in refused)
            unlisted = report.refused - len({(m.dev, m.ino) for m in refused})  # counted by file, listed by name
    return Tree(linked, not_dirs, strangers, unlisted)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return ""


def read_record() -> Dict[str, object]:
    """The install record (who owns the tree, which uv, the options), or {} when absent or unreadable: what
    the start-time repair and autoSync know of the install (the install itself never reads it)."""
    return load_record(paths.RECORD)[0]


def load_record(path: str) -> Tuple[Dict[str, object], str]:
    """The install record at ``path`` and "", or {} and why there is none: "missing", or "unreadable"
    (it cannot be read, or is not UTF-8 JSON holding an object)."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return {}, "missing"
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return {}, "unreadable"
    return (data, "") if isinstance(data, dict) else ({}, "unreadable")


def gather(env: Dict[str, str]) -> Facts:
    uv_path = find_uv(env.get("PATH", os.defpath))
    ours = os.path.join(paths.BIN_DIR, "uv")
    return Facts(
        platform=detect_platform(),
        python=base_python(),
        accounts=[Account(p.pw_name, p.pw_uid, p.pw_gid) for p in pwd.getpwall()],
        remote_user=env.get("_REMOTE_USER", ""),
        uv_on_path=uv_path,
        uv_on_path_version=uv_version(uv_path) if uv_path else "",
        installed_version=uv_version(ours) if os.path.exists(ours) else "",
        venv_state=venv_state(),
        uv_toml=_read(paths.UV_TOML),
        is_root=os.geteuid() == 0,
        tree=tree(),
    )
