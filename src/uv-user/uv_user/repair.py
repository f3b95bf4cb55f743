"""Start-time ownership repair of /opt/uv-user.

Why it exists: a fresh named volume can come up root-owned, the devcontainers CLI
re-owns only $HOME after remapping the user's UID, and ``sudo uv ...`` leaves
root-owned files. Each of those breaks the next ``uv sync``.

How it stays safe and cheap: it never follows a symlink (lchown, lstat,
scandir without following), never leaves the filesystem of its root (a mount
inside the tree is not ours), refuses a root that is itself a symlink, and
changes only entries whose owner differs, so a start with nothing to repair
costs one lstat per entry.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Tuple

from . import paths
from .errors import UvUserError


@dataclass
class Mismatch:
    path: str
    uid: int
    gid: int


@dataclass
class Report:
    root: str
    uid: int
    gid: int
    scanned: int = 0
    mismatches: List[Mismatch] = field(default_factory=list)
    changed: int = 0
    errors: List[str] = field(default_factory=list)
    skipped_mounts: List[str] = field(default_factory=list)
    incomplete: bool = False


def needs_change(st: os.stat_result, uid: int, gid: int) -> bool:
    return st.st_uid != uid or st.st_gid != gid


def check_root(root: str) -> os.stat_result:
    """The root's own lstat, refusing anything that would let the walk escape."""
    reason = paths.refusal(root)
    if reason:
        raise UvUserError("refusing to repair ownership of {}: {}".format(root, reason))
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        raise UvUserError("{} does not exist; rebuild the container so the feature can create it".format(root))
    if stat.S_ISLNK(st.st_mode):
        raise UvUserError(
            "{} is a symlink (to {}); uv-user never re-owns through links: remove it and rebuild".format(
                root, os.readlink(root))
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UvUserError("{} is not a directory; remove it and rebuild".format(root))
    return st


def walk(root: str, root_st: os.stat_result, report: Report,
         deadline: Optional[float] = None) -> Iterator[Tuple[str, os.stat_result]]:
    """Every entry under ``root`` (root first), without following links or crossing mounts."""
    yield root, root_st
    stack = [root]
    while stack:
        if deadline is not None and time.monotonic() > deadline:
            report.incomplete = True
            return
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            report.errors.append("{}: {}".format(directory, exc.strerror or exc))
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                report.errors.append("{}: {}".format(entry.path, exc.strerror or exc))
                continue
            if st.st_dev != root_st.st_dev:
                report.skipped_mounts.append(entry.path)
                continue
            yield entry.path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)


def scan(root: str, uid: int, gid: int, deadline: Optional[float] = None) -> Report:
    """The repair plan: which entries under ``root`` are not owned by uid:gid."""
    report = Report(root, uid, gid)
    for path, st in walk(root, check_root(root), report, deadline):
        report.scanned += 1
        if needs_change(st, uid, gid):
            report.mismatches.append(Mismatch(path, st.st_uid, st.st_gid))
    return report


def apply(report: Report, lchown: Callable[[str, int, int], None] = os.lchown) -> Report:
    """Re-own exactly the mismatched entries; never through a link (lchown)."""
    for item in report.mismatches:
        try:
            lchown(item.path, report.uid, report.gid)
            report.changed += 1
        except FileNotFoundError:
            continue  # removed since the scan: nothing to own
        except OSError as exc:
            report.errors.append("{}: {}".format(item.path, exc.strerror or exc))
    return report


def repair(root: str, uid: int, gid: int, deadline: Optional[float] = None) -> Report:
    return apply(scan(root, uid, gid, deadline))
