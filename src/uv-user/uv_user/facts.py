"""Read-only inspection of the image: everything the plan depends on, nothing written."""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from . import paths
from .users import Account
from .wheels import Platform, normalize_arch


@dataclass
class Facts:
    platform: Platform
    python: str
    accounts: List[Account]
    remote_user: str
    uv_on_path: str = ""  # a uv that is not ours (or ours), found on PATH
    uv_on_path_version: str = ""
    installed_version: str = ""  # version of paths.BIN_DIR/uv if present
    venv_state: str = "absent"  # absent | valid | broken
    uv_toml: str = ""
    record: Dict[str, object] = field(default_factory=dict)
    is_root: bool = True


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


def venv_state(venv: str = paths.VENV) -> str:
    if not os.path.lexists(venv):
        return "absent"
    python = os.path.join(venv, "bin", "python")
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")) and os.path.exists(python):
        return "valid"
    return "broken"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return ""


def read_record() -> Dict[str, object]:
    """The install record (who owns the tree, which uv, the options), or {} when absent or unreadable."""
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
    record = read_record()
    return Facts(
        platform=detect_platform(),
        python=base_python(),
        accounts=[Account(p.pw_name, p.pw_uid, p.pw_gid, p.pw_dir) for p in pwd.getpwall()],
        remote_user=env.get("_REMOTE_USER", ""),
        uv_on_path=uv_path,
        uv_on_path_version=uv_version(uv_path) if uv_path else "",
        installed_version=uv_version(ours) if os.path.exists(ours) else "",
        venv_state=venv_state(),
        uv_toml=_read(paths.UV_TOML),
        record=record,
        is_root=os.geteuid() == 0,
    )
