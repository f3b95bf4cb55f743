"""Start-time ownership repair of /opt/uv-user.

Why it exists: a fresh named volume can come up root-owned, the devcontainers CLI
re-owns only $HOME after remapping the user's UID, and ``sudo uv ...`` leaves
root-owned files. Each of those breaks the next ``uv sync``.

How it stays safe and cheap: it never follows a symlink, never leaves the
filesystem of its root (a mount inside the tree is not ours), refuses a root that
is itself a symlink, and changes only entries whose owner differs, so a start with
nothing to repair costs one lstat per entry.

The tree belongs to the (non-root) user, who can rename and relink anything in it
while root repairs it. So the re-owning step trusts no path: it walks down from
the root one directory file descriptor at a time (O_NOFOLLOW, same filesystem),
checks that each entry is still the inode the scan saw, and changes the owner
relative to its directory without following the last component. A regular file
with more hard links than the tree holds has a name outside the tree (``ln
/etc/shadow x`` where the kernel allows it): re-owning it would hand that file
over, so it is left alone and reported.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from . import paths
from .errors import UvUserError


@dataclass
class Mismatch:
    path: str
    uid: int
    gid: int
    #: The inode the scan saw; re-owning skips the path if it now names another one.
    ino: int = 0
    dev: int = 0
    nlink: int = 1
    #: Why this entry must not be re-owned ("" when it may be).
    refused: str = ""


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
    #: st_dev of the root: re-owning never steps onto another filesystem (0: not checked).
    root_dev: int = 0


def needs_change(st: os.stat_result, uid: int, gid: int) -> bool:
    return st.st_uid != uid or st.st_gid != gid


def check_root(root: str) -> os.stat_result:
    """The root's own lstat, refusing anything that would let the walk escape."""
    reason = paths.refusal(root)
    if reason:
        raise UvUserError("refusing to repair ownership of {}: {}".format(root, reason))
    path = os.path.normpath(root)  # lexically: "venv/.." must not resolve through a linked venv
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UvUserError("{} does not exist; rebuild the container so the feature can create it".format(root))
    if stat.S_ISLNK(st.st_mode):
        raise UvUserError(
            "{} is a symlink (to {}); uv-user never re-owns through links: remove it and rebuild".format(
                root, os.readlink(path))
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
    root_st = check_root(root)
    root = os.path.normpath(root)
    report = Report(root, uid, gid, root_dev=root_st.st_dev)
    names: Dict[Tuple[int, int], int] = {}  # hard-linked files: how many of their names are in the tree
    for path, st in walk(root, root_st, report, deadline):
        report.scanned += 1
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            names[(st.st_dev, st.st_ino)] = names.get((st.st_dev, st.st_ino), 0) + 1
        if needs_change(st, uid, gid):
            report.mismatches.append(Mismatch(path, st.st_uid, st.st_gid, st.st_ino, st.st_dev, st.st_nlink))
    for item in report.mismatches:
        inside = names.get((item.dev, item.ino), 0)
        if (item.dev, item.ino) in names and inside < item.nlink:  # a file (directories are not counted)
            item.refused = "a hard link with {} of its {} names outside {}: left alone, since re-owning it " \
                           "would re-own them too".format(item.nlink - inside, item.nlink, root)
    return report


_DIR_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)


def _same(st: os.stat_result, item: Mismatch) -> bool:
    return not item.ino or (st.st_ino, st.st_dev) == (item.ino, item.dev)


def _chown_at(dir_fd: int, name: str, uid: int, gid: int) -> None:
    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


class _Parents:
    """Directory fds reached from the root's parent one O_NOFOLLOW step at a time; the last one is kept."""

    def __init__(self, top: str, dev: int) -> None:
        self.top = top  # the root's parent (/opt): not the user's, so opened by path
        self.dev = dev  # every directory from the root down must be on this filesystem (0: unchecked)
        self.key: Optional[Tuple[str, ...]] = None
        self.fd = -1

    def open(self, parts: Tuple[str, ...]) -> int:
        if parts == self.key:
            return self.fd
        self.close()
        fd = os.open(self.top, _DIR_FLAGS)
        try:
            for part in parts:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
                if self.dev and os.fstat(fd).st_dev != self.dev:
                    raise OSError(errno.EXDEV, "a directory on the way is on another filesystem")
        except BaseException:
            os.close(fd)
            raise
        self.key, self.fd = parts, fd
        return fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.key, self.fd = None, -1


def apply(report: Report, chown_at: Callable[[int, str, int, int], None] = _chown_at) -> Report:
    """Re-own exactly the mismatched entries, each reached without following any symlink."""
    root = report.root
    parents = _Parents(os.path.dirname(root) or "/", report.root_dev)
    for item in report.mismatches:
        if item.refused:
            report.errors.append("{}: {}".format(item.path, item.refused))
            continue
        relative = os.path.relpath(item.path, root)
        parts = (os.path.basename(root),) + (() if relative == "." else tuple(relative.split("/")))
        try:
            dir_fd = parents.open(parts[:-1])
            st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            if not _same(st, item) or not needs_change(st, report.uid, report.gid):
                continue  # replaced, or already re-owned (by a repair running alongside): not ours to change
            chown_at(dir_fd, parts[-1], report.uid, report.gid)
            report.changed += 1
        except FileNotFoundError:
            continue  # removed since the scan: nothing to own
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                report.errors.append("{}: a directory on the way was replaced by a link or file since the scan;"
                                     " left alone".format(item.path))
            else:
                report.errors.append("{}: {}".format(item.path, exc.strerror or exc))
    parents.close()
    return report


def repair(root: str, uid: int, gid: int, deadline: Optional[float] = None) -> Report:
    return apply(scan(root, uid, gid, deadline))
