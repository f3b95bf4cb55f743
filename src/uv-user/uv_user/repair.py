"""Start-time ownership repair of /opt/uv-user.

Why it exists: a fresh named volume can come up root-owned, the devcontainers CLI
re-owns only $HOME after remapping the user's UID, and ``sudo uv ...`` leaves
root-owned files. Each of those breaks the next ``uv sync``.

Why it is built this way: root runs it, in a tree the (non-root) user owns and
can rename, relink and swap while root works in it. So root trusts no path:

- It walks only through directory file descriptors, each opened O_NOFOLLOW |
  O_DIRECTORY relative to its parent's and checked (fstat) to be the inode the
  parent's listing showed. A directory swapped for a symlink is never entered.
- It changes exactly the inode it checked: each entry is opened O_PATH |
  O_NOFOLLOW relative to its directory (which never opens a FIFO or a device),
  compared by (st_dev, st_ino) with the listing, and re-owned through that fd.
- It never crosses a mount: an entry on another st_dev is skipped, and when the
  mount table holds a mount of the tree's own filesystem below the tree's mount
  (a bind mount, which has the same st_dev), every directory's mount id is
  compared with the root's too.
- A regular file with more names than the tree holds has a name outside it
  (``ln /etc/shadow x`` where the kernel allows it): re-owning it would hand that
  file over. Hard-linked files are re-owned last, only after their names inside
  the tree have been counted again while inotify watches their directories, so
  a name moved from one directory to another mid-walk cannot be counted twice.

It is also bounded and fast: one pass checks and changes while it holds each
directory's fd (cost linear in the entries, whatever the depth: ancestors' fds
are kept, and re-derived through ``..`` when fds run short), what uv needs
first (the root, its children, the environment, the cache's top levels and
lock files, the managed Pythons' top level), and it stops at a deadline. A
start with nothing to repair costs one lstat per entry.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from . import facts, linux, mounts, paths, privilege, status
from .errors import UvUserError
from .text import shown

# What uv needs to work, repaired before the rest: (directory relative to the root, how deep;
# None: all of it). The root and its children; the environment uv syncs; the cache's top level and
# its buckets' (uv locks <cache>/.lock and locks inside buckets); the managed Pythons' top level (.lock).
PRIORITY: Tuple[Tuple[str, Optional[int]], ...] = (("", 1), ("venv", None), ("cache", 2), ("python", 1))
LISTED = 1000  # Mismatch entries a report keeps (the counts are always complete)
ERRORS_KEPT = 20  # error lines a report keeps
LINK_TRIES = 3  # rounds of counting a hard link's names before it is left alone as "still changing"

Key = Tuple[int, int]  # (st_dev, st_ino)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC  # readable: scandir needs it
_ENTRY_FLAGS = getattr(os, "O_PATH", 0o10000000) | os.O_NOFOLLOW | os.O_CLOEXEC  # never opens the file itself
# Module names tests replace: to change the tree at an exact moment of the walk, to fail one change,
# to have no inotify.
_scandir = os.scandir
_chown_fd = linux.chown_fd
_Watcher = linux.Watcher


@dataclass
class Mismatch:
    path: str
    uid: int
    gid: int
    #: The inode the walk saw.
    ino: int = 0
    dev: int = 0
    nlink: int = 1
    #: Why this entry must not be re-owned ("" when it may be; filled by scan()).
    refused: str = ""


@dataclass
class Report:
    """What one scan or repair found and did: plain data (asdict() is JSON-ready)."""

    root: str
    uid: int
    gid: int
    user: str = ""
    scanned: int = 0
    mismatched: int = 0  # entries not owned by uid:gid when seen
    mismatches: List[Mismatch] = field(default_factory=list)  # the first LISTED of them
    changed: int = 0
    refused: int = 0  # hard-linked files left alone
    raced: int = 0  # entries replaced, moved or removed while being repaired (the next repair sees them)
    errors: List[str] = field(default_factory=list)  # the first ERRORS_KEPT, one line each, names escaped
    error_count: int = 0
    skipped_mounts: List[str] = field(default_factory=list)
    incomplete: bool = False  # stopped at the deadline
    seconds: float = 0.0
    dry_run: bool = True
    #: st_dev of the root: the walk never steps onto another filesystem.
    root_dev: int = 0
    #: pid of the process continuing this repair in the background (0: none).
    background_pid: int = 0
    #: exit code of `sudo -n uv-user repair` when a non-root user handed the repair to root (None: not).
    delegated: Optional[int] = None

    @property
    def complete(self) -> bool:
        """Nothing left: not stopped by the deadline, nothing that could not be changed. (Entries that
        changed under the walk do not count: the user's own uv may be running beside a repair.)"""
        return not self.incomplete and not self.error_count

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)


def needs_change(st: os.stat_result, uid: int, gid: int) -> bool:
    return st.st_uid != uid or st.st_gid != gid


def check_root(root: str) -> os.stat_result:
    """The root's own lstat, refusing anything that would let the walk escape."""
    reason = paths.refusal(root)
    if reason:
        raise UvUserError("refusing to repair ownership of {}: {}".format(shown(root), reason))
    path = os.path.normpath(root)  # lexically: "venv/.." must not resolve through a linked venv
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UvUserError("{} does not exist; rebuild the container so the feature can create it".format(shown(root)))
    if stat.S_ISLNK(st.st_mode):
        raise UvUserError("{} is a symlink (to {}); uv-user never re-owns through links: remove it and rebuild".format(
            shown(root), shown(os.readlink(path))))
    if not stat.S_ISDIR(st.st_mode):
        raise UvUserError("{} is not a directory; remove it and rebuild".format(shown(root)))
    return st


def _key(st: os.stat_result) -> Key:
    return st.st_dev, st.st_ino


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


class _Mounts:
    """Whether an fd is on the root's mount, by mount id when the mount table says it can differ."""

    def __init__(self, root_fd: int) -> None:
        self.root_id = linux.mount_id(root_fd)
        self.check_each = False
        if self.root_id is None:
            return  # no /proc: only st_dev can tell (and tells every mount of another filesystem)
        table = mounts.read()
        # Unreadable while fdinfo is not: compare every directory rather than guess.
        self.check_each = table is None or bool(mounts.same_device_below(mounts.parse(table), self.root_id))

    def foreign(self, fd: int) -> bool:
        return self.check_each and linux.mount_id(fd) != self.root_id


# ----------------------------------------------------------------------------- the walk


class _Dir:
    """A directory of the tree as the walk reached it: its parent, its name there, its inode, its fd."""

    __slots__ = ("parent", "name", "key", "fd", "links")

    def __init__(self, parent: Optional["_Dir"], name: str, key: Key, fd: int) -> None:
        self.parent, self.name, self.key, self.fd = parent, name, key, fd
        self.links = False  # holds a name of a hard-linked file to re-own at the end

    def path(self, root: str) -> str:
        """For messages only (never opened): built on demand, so deep trees cost nothing here."""
        names, node = [], self
        while node.parent is not None:
            names.append(node.name)
            node = node.parent
        return "/".join([root] + names[::-1])


class _Link:
    """A mismatched file with more than one name: where the walk saw its names."""

    __slots__ = ("key", "names", "tries")

    def __init__(self, key: Key) -> None:
        self.key = key
        self.names: Dict[Tuple[Key, str], _Dir] = {}  # (directory, name) → directory
        self.tries = 0


class _Frame:
    __slots__ = ("node", "pending", "depth")

    def __init__(self, node: _Dir, pending: List[Tuple[str, os.stat_result]], depth: Optional[int]) -> None:
        self.node, self.pending, self.depth = node, pending, depth


def _fd_budget() -> Tuple[int, Optional[Tuple[int, int]]]:
    """How many directory fds the walk may hold, raising the soft limit to the hard one first.

    Returns the budget and the limits to restore afterwards (children such as `uv sync` must not
    inherit a raised soft limit).
    """
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
        wanted = min(wanted, 1 << 20)
        saved = None
        if wanted > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            saved, soft = (soft, hard), wanted
    except (ImportError, ValueError, OSError):
        return 64, None
    return max(8, min(soft, 1 << 16) - 64), saved


def _restore_limit(saved: Optional[Tuple[int, int]]) -> None:
    if saved is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


class _Walk:
    """One scan (``change`` False) or repair of the tree under ``report.root``."""

    def __init__(self, report: Report, change: bool, deadline: Optional[float]) -> None:
        self.report, self.change, self.deadline = report, change, deadline
        self.root, self.uid, self.gid, self.dev = report.root, report.uid, report.gid, report.root_dev
        self.budget = 64
        self.open = 0  # directory fds held by _Dir nodes
        self.stack: List[_Frame] = []
        self.low = 0  # frames below this index hold no fd (or are the root's): where make_room looks first
        self.full: Set[Key] = set()  # directories listed with no depth limit (never listed twice)
        self.partial: Dict[Key, Set[str]] = {}  # names handled by a depth-limited listing
        self.links: Dict[Key, _Link] = {}
        self.names: Dict[Key, Tuple[int, Set[Tuple[Key, str]]]] = {}  # scan only: hard links' nlink, names
        self.entered: Set[Key] = set()  # directories already checked (a shallow listing enters them first)
        self.kept: List[_Dir] = []  # directories holding hard-link names, fds kept while there is room
        self.expired = False
        self.top: Optional[_Dir] = None
        self.mounts: Optional[_Mounts] = None
        self.watcher: Optional[linux.Watcher] = None

    # -- bookkeeping

    def clock(self) -> bool:
        if not self.expired and self.deadline is not None and time.monotonic() > self.deadline:
            self.expired = self.report.incomplete = True
        return self.expired

    def error(self, path: str, reason: str) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < ERRORS_KEPT:
            self.report.errors.append("{}: {}".format(shown(path), reason))

    def entry_path(self, node: _Dir, name: str) -> str:
        return node.path(self.root) + "/" + name

    def note(self, node: _Dir, name: str, st: os.stat_result) -> None:
        self.report.mismatched += 1
        if len(self.report.mismatches) < LISTED:
            self.report.mismatches.append(Mismatch(self.entry_path(node, name), st.st_uid, st.st_gid, st.st_ino,
                                                   st.st_dev, st.st_nlink))

    def skip_mount(self, path: str) -> None:
        if len(self.report.skipped_mounts) < LISTED:
            self.report.skipped_mounts.append(path)

    def close(self, node: _Dir) -> None:
        if node.fd >= 0:
            os.close(node.fd)
            node.fd = -1
            self.open -= 1

    def make_room(self) -> None:
        """Close a directory fd that can be re-derived later when the budget is spent."""
        while self.open >= self.budget:
            if self.kept:
                self.close(self.kept.pop())
                continue
            last = len(self.stack) - 1  # the frame being worked on keeps its fd
            while self.low < last and (self.stack[self.low].node.fd < 0 or self.stack[self.low].node is self.top):
                self.low += 1
            if self.low >= last:
                return  # nothing left to give back: the next open fails and is reported
            self.close(self.stack[self.low].node)

    def verified_open(self, dir_fd: int, name: str, key: Key) -> int:
        """openat(dir_fd, name) as a directory, never through a link, and only if it is ``key``."""
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            assert self.mounts is not None
            if _key(st) != key or self.mounts.foreign(fd):
                raise OSError(errno.ESTALE, "replaced")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def reopen(self, node: _Dir, child: Optional[_Dir] = None) -> bool:
        """Give ``node`` an fd again: through ``child``'s ``..`` (one step), else down from an open ancestor.

        Both check every directory against the inode recorded when it was first reached, so a
        directory the user moved since is not mistaken for it: it is reported, not walked.
        """
        if node.fd >= 0:
            return True
        self.make_room()
        if child is not None and child.fd >= 0:
            try:
                node.fd = self.verified_open(child.fd, "..", node.key)
                self.open += 1
                return True
            except OSError:
                pass
        chain, top = [], node
        while top.fd < 0:
            chain.append(top)
            top = top.parent  # type: ignore[assignment]  # the root's fd stays open
        fd = top.fd
        try:
            for step in reversed(chain):
                next_fd = self.verified_open(fd, step.name, step.key)
                if fd != top.fd:
                    os.close(fd)
                fd = next_fd
        except OSError:
            if fd != top.fd:
                os.close(fd)
            self.report.raced += 1
            return False
        node.fd = fd
        self.open += 1
        return True

    # -- entries

    def start(self, root_st: os.stat_result) -> _Dir:
        """The root: opened by path (its parent is root's), then checked to be what check_root saw."""
        changed = UvUserError("{} changed while it was being opened (replaced, or by a link); run `uv-user repair` "
                              "again".format(shown(self.root)))
        try:
            fd = os.open(self.root, _DIR_FLAGS)
        except OSError:
            raise changed
        st = os.fstat(fd)
        if _key(st) != _key(root_st):
            os.close(fd)
            raise changed
        self.top = _Dir(None, "", _key(st), fd)
        self.open += 1
        self.mounts = _Mounts(fd)
        self.report.scanned += 1
        if needs_change(st, self.uid, self.gid):
            self.report.mismatched += 1
            self.report.mismatches.append(Mismatch(self.root, st.st_uid, st.st_gid, st.st_ino, st.st_dev,
                                                   st.st_nlink))
            if self.change:
                self.fchown(self.top, self.root)
        return self.top

    def fchown(self, node: _Dir, path: str) -> None:
        try:
            os.fchown(node.fd, self.uid, self.gid)
            self.report.changed += 1
        except OSError as exc:
            self.error(path, _why(exc))

    def enter(self, parent: _Dir, name: str, st: os.stat_result) -> Optional[_Dir]:
        """A subdirectory the listing showed: opened, checked, re-owned if needed."""
        if parent.fd < 0:
            return None
        self.make_room()
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent.fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                self.report.raced += 1  # removed, or replaced by a link or a file since the listing
            else:
                self.error(self.entry_path(parent, name), _why(exc))
            return None
        now = os.fstat(fd)
        assert self.mounts is not None
        if _key(now) != _key(st):
            os.close(fd)
            self.report.raced += 1
            return None
        if self.mounts.foreign(fd):
            os.close(fd)
            self.skip_mount(self.entry_path(parent, name))
            return None
        node = _Dir(parent, name, _key(now), fd)
        self.open += 1
        if node.key not in self.entered:
            self.entered.add(node.key)
            if needs_change(now, self.uid, self.gid):
                self.note(parent, name, now)
                if self.change:
                    self.fchown(node, self.entry_path(parent, name))
        return node

    def change_entry(self, node: _Dir, name: str, st: os.stat_result) -> None:
        """Re-own one non-directory: the very inode the listing showed, or nothing."""
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            self.defer(node, name, st)
            return
        try:
            fd = os.open(name, _ENTRY_FLAGS, dir_fd=node.fd)
        except FileNotFoundError:
            self.report.raced += 1
            return
        except OSError as exc:
            self.error(self.entry_path(node, name), _why(exc))
            return
        try:
            now = os.fstat(fd)
            assert self.mounts is not None
            if _key(now) != _key(st):
                self.report.raced += 1  # swapped since the listing: the next repair looks at it
            elif self.mounts.foreign(fd):
                self.skip_mount(self.entry_path(node, name))
            elif now.st_nlink > 1:
                self.defer(node, name, now)  # linked since the listing
            elif needs_change(now, self.uid, self.gid):
                _chown_fd(fd, now, self.uid, self.gid)
                self.report.changed += 1
        except OSError as exc:
            self.error(self.entry_path(node, name), _why(exc))
        finally:
            os.close(fd)

    def defer(self, node: _Dir, name: str, st: os.stat_result) -> None:
        link = self.links.get(_key(st))
        if link is None:
            link = self.links[_key(st)] = _Link(_key(st))
        link.names[(node.key, name)] = node
        node.links = True

    def list_dir(self, node: _Dir, depth: Optional[int]) -> List[Tuple[str, os.stat_result]]:
        """Handle every entry of ``node``; return its subdirectories to enter (with their lstat)."""
        if depth is None:
            self.full.add(node.key)
        before = self.partial.get(node.key, ())
        record = self.partial.setdefault(node.key, set()) if depth is not None else None
        pending: List[Tuple[str, os.stat_result]] = []
        uid, gid, dev, report = self.uid, self.gid, self.dev, self.report
        try:
            entries = _scandir(node.fd)
        except OSError as exc:
            self.error(node.path(self.root), _why(exc))
            return pending
        with entries:
            for entry in entries:
                name = entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    report.raced += 1
                    continue
                except OSError as exc:
                    self.error(self.entry_path(node, name), _why(exc))
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                if name in before:  # handled by an earlier, shallower listing
                    if is_dir and st.st_dev == dev:
                        pending.append((name, st))
                    continue
                if record is not None:
                    record.add(name)
                report.scanned += 1
                if not report.scanned & 1023 and self.clock():
                    break
                if st.st_dev != dev:
                    self.skip_mount(self.entry_path(node, name))
                    continue
                if is_dir:
                    pending.append((name, st))  # checked (and counted) when entered: it may be a mount
                elif st.st_uid != uid or st.st_gid != gid:
                    self.mismatched_file(node, name, st)
        return pending

    def mismatched_file(self, node: _Dir, name: str, st: os.stat_result) -> None:
        assert self.mounts is not None
        if self.mounts.check_each and self.is_mount(node, name):
            self.skip_mount(self.entry_path(node, name))
            return
        self.note(node, name, st)
        if self.change:
            self.change_entry(node, name, st)
        elif st.st_nlink > 1:
            self.names.setdefault(_key(st), (st.st_nlink, set()))[1].add((node.key, name))

    def is_mount(self, node: _Dir, name: str) -> bool:
        """A single-file bind mount of this filesystem (only asked when the mount table has one)."""
        try:
            fd = os.open(name, _ENTRY_FLAGS, dir_fd=node.fd)
        except OSError:
            return False
        try:
            assert self.mounts is not None
            return self.mounts.foreign(fd)
        finally:
            os.close(fd)

    # -- directories

    def subtree(self, node: _Dir, depth: Optional[int]) -> None:
        """Depth-first below ``node`` (depth None: all of it); ``node``'s fd stays the caller's."""
        if depth is None and node.key in self.full:
            return
        base = len(self.stack)
        self.stack.append(_Frame(node, self.list_dir(node, depth), depth))
        while len(self.stack) > base:
            frame = self.stack[-1]
            if self.expired or self.clock():
                break
            if not frame.pending or frame.node.fd < 0:
                self.stack.pop()
                self.low = min(self.low, len(self.stack) - 1) if self.stack else 0
                if len(self.stack) > base:
                    self.leave(frame.node, self.stack[-1].node)
                continue
            name, st = frame.pending.pop()
            child = self.enter(frame.node, name, st)
            if child is None:
                continue
            left = None if frame.depth is None else frame.depth - 1
            if left == 0 or (left is None and child.key in self.full):
                self.release(child)
                continue
            self.stack.append(_Frame(child, self.list_dir(child, left), left))
        while len(self.stack) > base:  # stopped early: give back what the frames hold
            frame = self.stack.pop()
            if len(self.stack) > base:
                self.release(frame.node)
        self.low = 0

    def leave(self, child: _Dir, parent: _Dir) -> None:
        if parent.fd < 0 and not self.reopen(parent, child):
            self.error(parent.path(self.root), "moved while it was being repaired; left for the next repair")
        self.release(child)

    def release(self, node: _Dir) -> None:
        if node.links and self.change and self.open < self.budget // 2:
            self.kept.append(node)  # its hard-link names are counted again at the end
        else:
            self.close(node)

    def reach(self, relative: str) -> Optional[_Dir]:
        """A directory of PRIORITY, one name below the root, or None when there is none."""
        assert self.top is not None
        if not relative:
            return self.top
        try:
            st = os.stat(relative, dir_fd=self.top.fd, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode) or st.st_dev != self.dev:
            return None
        return self.enter(self.top, relative, st)

    # -- hard links, last

    def settle_links(self) -> None:
        """Re-own the hard-linked files whose names are all inside the tree, counted while watched."""
        pending = list(self.links.values())
        size = max(1, self.budget // 4)  # directories per batch: fds (kept ones are at most half the budget)
        try:  # one inotify instance for every batch (self.watcher): closing one waits for the kernel (~10 ms)
            self.settle_all(pending, size)
        finally:
            if self.watcher is not None:
                self.watcher.close()
                self.watcher = None

    def settle_all(self, pending: List[_Link], size: int) -> None:
        while pending and not self.clock():
            batch: List[_Link] = []
            dirs: Dict[Key, _Dir] = {}
            rest: List[_Link] = []
            for link in pending:
                if len(dirs) >= size and batch:
                    rest.append(link)
                    continue
                batch.append(link)
                for node in link.names.values():
                    dirs[node.key] = node
            try:
                if self.watcher is None:
                    self.watcher = _Watcher()
                again, unwatched = self.settle_batch(self.watcher, batch, list(dirs.values()))
            except OSError as exc:
                for link in pending:
                    self.refuse(link, "its names could not be counted safely (inotify: {})".format(_why(exc)))
                return
            if unwatched and len(unwatched) == len(batch) and size == 1:
                for link in pending:
                    self.refuse(link, "its names could not be counted safely (no inotify watch left: "
                                      "fs.inotify.max_user_watches)")
                return
            if unwatched:  # the watch limit: a fresh instance drops every watch of the earlier batches
                size = max(1, size // 2)
                self.watcher.close()
                self.watcher = None
            pending = again + unwatched + rest

    def settle_batch(self, watcher: linux.Watcher, batch: List[_Link], dirs: List[_Dir]) -> Tuple[List[_Link],
                                                                                              List[_Link]]:
        """Watch → count each file's names again → read its link count → no name left a watched
        directory meanwhile → re-own. Returns the links to count again (a name moved meanwhile) and
        those whose directories could not all be watched (the watch limit)."""
        reopened: List[_Dir] = []
        held: List[Tuple[_Link, int, Set[Tuple[Key, str]]]] = []
        again: List[_Link] = []
        unwatched: List[_Link] = []
        try:
            watched: Set[Key] = set()
            for node in dirs:
                if node.fd < 0:
                    if not self.reopen(node):
                        continue  # moved since the walk: its links are left for the next repair
                    reopened.append(node)
                if watcher.watch(node.fd, node.key):
                    watched.add(node.key)
            watcher.disturbed()  # what happened before this count does not matter: forget it
            for link in batch:
                if any(node.fd < 0 for node in link.names.values()):
                    self.report.raced += 1
                elif any(key not in watched for key, _ in link.names):
                    unwatched.append(link)
                else:
                    fd, counted = self.count_names(link)
                    if fd >= 0:
                        held.append((link, fd, counted))
                    else:
                        self.report.raced += 1  # no name of it is where the walk saw it any more
            moved = watcher.disturbed()
            for link, fd, counted in held:
                try:
                    if moved is None or any(d in moved for d, _ in counted):
                        again.append(link)
                    else:
                        self.settle(link, fd, counted)
                finally:
                    os.close(fd)
        finally:
            for node in reopened:
                self.close(node)
        retry = []
        for link in again:
            link.tries += 1
            if link.tries >= LINK_TRIES:
                self.refuse(link, "its names kept moving while they were counted: left alone")
            else:
                retry.append(link)
        return retry, unwatched

    def count_names(self, link: _Link) -> Tuple[int, Set[Tuple[Key, str]]]:
        """An O_PATH fd of the file (-1: none left) and its names found again where the walk saw them."""
        fd = -1
        counted: Set[Tuple[Key, str]] = set()
        for (dir_key, name), node in link.names.items():
            try:
                if fd < 0:
                    fd = os.open(name, _ENTRY_FLAGS, dir_fd=node.fd)
                    if _key(os.fstat(fd)) != link.key:
                        os.close(fd)
                        fd = -1
                        continue
                elif _key(os.stat(name, dir_fd=node.fd, follow_symlinks=False)) != link.key:
                    continue
            except OSError:
                continue
            counted.add((dir_key, name))
        return fd, counted

    def settle(self, link: _Link, fd: int, counted: Set[Tuple[Key, str]]) -> None:
        """Every name counted is there at once (no event): if they are all its names, re-own it."""
        try:
            st = os.fstat(fd)  # its link count now, right before the change
            assert self.mounts is not None
            if self.mounts.foreign(fd):
                return
            if st.st_nlink > len(counted):
                self.refuse(link, "a hard link with {} of its {} names outside {}: left alone, since re-owning it "
                                  "would re-own them too".format(st.st_nlink - len(counted), st.st_nlink,
                                                                 shown(self.root)), counted)
            elif needs_change(st, self.uid, self.gid):
                _chown_fd(fd, st, self.uid, self.gid)
                self.report.changed += 1
        except OSError as exc:
            self.error(self.link_path(link, counted), _why(exc))

    def link_path(self, link: _Link, counted: Optional[Set[Tuple[Key, str]]] = None) -> str:
        for (dir_key, name), node in link.names.items():
            if counted is None or (dir_key, name) in counted:
                return self.entry_path(node, name)
        return self.root

    def refuse(self, link: _Link, why: str, counted: Optional[Set[Tuple[Key, str]]] = None) -> None:
        self.report.refused += 1
        self.error(self.link_path(link, counted), why)

    # -- the whole walk

    def run(self, root_st: os.stat_result, priority: bool) -> None:
        self.budget, saved_limit = _fd_budget()
        try:
            top = self.start(root_st)
        except BaseException:
            _restore_limit(saved_limit)
            raise
        plan = (PRIORITY if priority else ()) + (("", None),)
        try:
            for relative, depth in plan:
                if self.clock():
                    break
                node = self.reach(relative)
                if node is None:
                    continue
                self.subtree(node, depth)
                if node is not top:
                    self.release(node)
            if self.change and not self.expired:
                self.settle_links()
            elif not self.change:
                self.refusals()
        finally:
            for node in self.kept:
                self.close(node)
            self.close(top)
            _restore_limit(saved_limit)

    def refusals(self) -> None:
        """scan(): which mismatches a repair would leave alone (their names counted as listed)."""
        outside = {key: nlink - len(names) for key, (nlink, names) in self.names.items() if len(names) < nlink}
        self.report.refused = len(outside)
        for item in self.report.mismatches:
            missing = outside.get((item.dev, item.ino))
            if missing:
                item.refused = "a hard link with {} of its {} names outside {}: left alone, since re-owning it " \
                               "would re-own them too".format(missing, item.nlink, shown(self.root))


def _walk(root: str, uid: int, gid: int, deadline: Optional[float], change: bool) -> Report:
    started = time.monotonic()
    root_st = check_root(root)
    report = Report(os.path.normpath(root), uid, gid, dry_run=not change, root_dev=root_st.st_dev)
    _Walk(report, change, deadline).run(root_st, priority=change)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def scan(root: str, uid: int, gid: int, deadline: Optional[float] = None) -> Report:
    """What a repair would change under ``root``, changing nothing (doctor, --dry-run).

    Walks the same way a repair does (directory fds, no links, no mounts); ``deadline`` is a
    time.monotonic() value after which it stops and marks the report incomplete.
    """
    return _walk(root, uid, gid, deadline, change=False)


def repair(root: str, uid: int, gid: int, deadline: Optional[float] = None) -> Report:
    """Give everything under ``root`` to uid:gid in one pass, what uv needs first, until ``deadline``."""
    return _walk(root, uid, gid, deadline, change=True)



# ----------------------------------------------------------------------------- the repair uv-user runs for a user

START_SECONDS = 10.0  # the start-time repair's bound (the entrypoint waits at most this long)
BACKGROUND_SECONDS = 3600.0  # the detached continuation's: generous, but a tree grown without end stops too


def account(name: str) -> Tuple[int, int]:
    """uid:gid of ``name`` now: the user recorded at install may have been remapped, or not exist yet."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UvUserError("user '{}' does not exist in this container (yet, or any more): create it, rebuild the "
                          "container, or pass --user NAME".format(shown(name)))
    return entry.pw_uid, entry.pw_gid


def recorded_user() -> str:
    name = str(facts.read_record().get("username") or "")
    if not name:
        raise UvUserError("no user recorded in {}; rebuild the container or pass --user NAME".format(
            shown(paths.RECORD)))
    return name


def for_user(name: str = "", root: str = paths.ROOT, seconds: Optional[float] = None, dry_run: bool = False,
             state: str = paths.REPAIR_STATE, background: bool = True, continuing: bool = False) -> Report:
    """Give ``root`` to ``name`` (default: the user recorded at install), as `uv-user repair` does.

    As root: one bounded repair (``seconds``; None: no bound), recorded in the status file
    ``state``; what the bound left continues in a detached process when ``background`` (and
    ``continuing`` marks that process). Not root: a scan, then the repair is handed to root
    through ``sudo -n`` (Report.delegated is its exit code), or UvUserError says what to run.
    ``dry_run``: the scan only. Every failure a user can cause is a UvUserError.
    """
    name = name or recorded_user()
    uid, gid = account(name)
    deadline = time.monotonic() + seconds if seconds else None
    if dry_run or os.geteuid() != 0:
        report = scan(root, uid, gid, deadline)
        report.user = name
        if not dry_run and report.mismatched:
            _hand_to_root(report, seconds)
        return report
    started = time.time()
    record: Dict[str, object] = {"state": "running", "pid": os.getpid(), "background_pid": 0, "started": started,
                                 "finished": None, "background": continuing, "user": name, "uid": uid, "gid": gid,
                                 "root": root, "deadline_seconds": seconds}
    status.write(state, record)
    try:
        report = repair(root, uid, gid, deadline)
    except UvUserError as exc:
        status.write(state, dict(record, state="failed", finished=time.time(), errors=[str(exc)]))
        raise
    report.user = name
    child = _continue_in_background(report, state) if report.incomplete and background else None
    record.update(_summary(report), state="continuing" if child else "complete" if report.complete else "incomplete",
                  finished=None if child else time.time(), background_pid=report.background_pid)
    status.write(state, record)
    if child is not None:
        child.stdin.close()  # type: ignore[union-attr]  # go: the status file says who continues
    return report


def _summary(report: Report) -> Dict[str, object]:
    return {"scanned": report.scanned, "mismatched": report.mismatched, "changed": report.changed,
            "refused": report.refused, "raced": report.raced, "error_count": report.error_count,
            "errors": report.errors[:status.ERRORS_KEPT], "skipped_mounts": len(report.skipped_mounts),
            "seconds": report.seconds}


def _continue_in_background(report: Report, state: str) -> Optional["subprocess.Popen[bytes]"]:
    """`uv-user repair --continue` detached (new session, no stdio of ours): it waits for the status
    file to name it (stdin closes), then repairs what is left with BACKGROUND_SECONDS."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "uv-user.py")
    if not sys.executable or not os.path.isfile(script):
        report.error_count += 1
        report.errors.append("cannot continue in the background (no {}): the next start goes on".format(
            shown(script)))
        return None
    try:
        child = subprocess.Popen(
            [sys.executable, "-E", "-s", script, "repair", "--continue", "--user", report.user, "--root", report.root,
             "--state", state], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd="/", env={"PATH": paths.SYSTEM_PATH, "LC_ALL": "C.UTF-8"}, close_fds=True, start_new_session=True)
    except OSError as exc:
        report.error_count += 1
        report.errors.append("cannot continue in the background ({}): the next start goes on".format(
            shown(str(exc))))
        return None
    report.background_pid = child.pid
    return child


def wait_for_go() -> None:
    """In the continuation: start once the foreground repair has recorded it (it closes our stdin)."""
    try:
        sys.stdin.buffer.read()
    except (OSError, ValueError, AttributeError):
        pass


def _hand_to_root(report: Report, seconds: Optional[float]) -> None:
    """Not root, and entries are someone else's: `sudo -n uv-user repair`, or say what to run as root."""
    if privilege.sudo_works():
        cmd = [paths.COMMAND, "repair", "--user", report.user, "--root", report.root]
        if seconds:
            cmd += ["--max-seconds", repr(seconds)]
        report.delegated = subprocess.run(privilege.as_root(cmd)).returncode
        return
    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = str(os.geteuid())
    raise UvUserError(
        "{} entries under {} are not owned by {} ({}:{}) and this container runs as {} without sudo; "
        "as root run: uv-user repair (e.g. docker exec -u root <container> uv-user repair)".format(
            report.mismatched, shown(report.root), shown(report.user), report.uid, report.gid, shown(me)))
