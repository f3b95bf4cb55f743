"""Start-time ownership repair of /opt/uv-user.

Why it exists: a fresh named volume can come up root-owned, the devcontainers CLI
re-owns only $HOME after remapping the user's UID, and ``sudo uv ...`` leaves
root-owned files. Each of those breaks the next ``uv sync``.

Why it is built this way: root runs it, in a tree the (non-root) user owns and
can rename, relink and swap while root works in it. So root trusts no path:

- It walks only through directory file descriptors, each opened O_NOFOLLOW |
  O_DIRECTORY relative to its parent's and checked (fstat) to be the inode the
  parent's listing showed. A directory swapped for a symlink is never entered.
- It changes exactly the inode it checked. Where the user can change names, each
  entry is opened O_PATH | O_NOFOLLOW relative to its directory (which never
  opens a FIFO or a device), compared by (st_dev, st_ino) with the listing, and
  re-owned through that fd (the careful way). In a locked directory (below) the
  name is the inode the listing showed, and the entry is re-owned by that name.
- It never crosses a mount: an entry on another st_dev is skipped, and the
  mounts of the tree's own filesystem below the tree's mount (bind mounts, which
  have the same st_dev) are found in the mount table and pinned by mount id
  (see _Mounts), directories and single files alike.
- A file with more names than the tree holds has a name outside it (``ln
  /etc/shadow x`` where the kernel allows it): re-owning it would hand that file
  over. A hard-linked file is re-owned only when its link count equals the names
  of it counted in the tree at one moment: counted as listed when all of them are
  in locked directories (see locked_link), else last, with inotify watching every
  directory holding them, so that no name moved, removed or replaced meanwhile
  (see settle_links): a name moved mid-walk cannot be counted twice, and a name
  removed cannot leave the count short.

Locked directories (what makes a full repair cost about what ``chown -R`` does).
Only a process that can write a directory can rename, link, remove or create a
name in it, so in a directory no process but root's can write, names stay put,
and changing an entry by name (fchownat with AT_SYMLINK_NOFOLLOW, relative to the
directory's fd) is as exact as through a handle of its own, at a quarter of the
calls, and hard links there are counted as listed, without inotify. A directory
to re-own that is not the dev user's and has no group or other write (the usual
0755 of a fresh volume, or of the old uid's tree after a UID remap) is locked
before it is listed:

- It is made root's first (its group kept), then fstat on the fd that lists it
  must show root's with no group or other write. Its old owner could otherwise
  still change it: after a remap the old uid is no one's, but a setuid program
  the user left on the volume as that uid would run as it. Root's, no owner but
  root can chmod it, and no write bit lets anyone else in. ACLs included: with a
  POSIX ACL, the mode's group bits are its mask, which caps every named user and
  group, so no group write means no one named may write. Capabilities: the dev
  user is assumed to have none (no CAP_DAC_OVERRIDE or CAP_FOWNER: with them it
  could write any file anyway, /etc/shadow included, and would gain nothing).
- Only where the mode bits are the whole story: on ext2/3/4, xfs, btrfs, tmpfs
  and overlay (LOCKABLE_FILESYSTEMS; not NFS, CIFS, FUSE, 9p or virtiofs, whose
  servers decide, nor ZFS, which may hold NFSv4 ACLs), and only when every mount
  below the tree's was pinned (so a listing tells mounts apart by name).
- It is given to the user once its entries are done (after its listing, or, when
  it holds names of hard-linked files whose other names are still to be
  counted, once they are, or at the end). Its subdirectories are entered after
  that as always, through verified opens, and each is locked in its turn.
- A directory the dev user owns is never locked (even 0555: its owner can chmod
  it), nor one with group or other write (the user may be in that group), nor
  one whose mode its old owner changed before it was taken (fstat tells): those
  go the careful way, as does every entry of a directory the user can write
  (the ``sudo uv`` case: root's files in the user's directories).
- Root's own processes are trusted: a concurrent ``sudo uv`` may change names in
  a root-owned directory, but the user cannot direct it. Another repair would
  give a locked directory to the user while this one works in it, so repairs
  take turns (serialize: a lock file root's alone, beside the status file).
- Killed midway (SIGKILL), a repair leaves at most the directories it had locked
  root's instead of the old owner's, their mode unchanged: still mismatched, and
  the next repair (every start) locks and gives them as it would have. At the
  deadline, or on an error, every locked directory is given to the user first.

It is also bounded and fast: one pass checks and changes while it holds each
directory's fd (cost linear in the entries, whatever the depth: ancestors' fds
are kept, and re-derived through ``..`` when fds run short), what uv needs
first (the root, the environment, the cache's top levels and lock files, the
managed Pythons' top level), and it stops at a deadline. A start with nothing to
repair costs one lstat per entry.
"""

from __future__ import annotations

import errno
import gc
import os
import pwd
import stat
import sys
import time

from . import linux, mounts, paths, status
from .errors import UvUserError
from .text import shown

# Every container start runs this module, so it imports only what a repair uses: no typing,
# dataclasses or subprocess at import time (each costs milliseconds next to a ~60 ms chown -R).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Callable, Dict, List, Optional, Set, Tuple

    Key = Tuple[int, int]  # (st_dev, st_ino)

# What uv needs to work, repaired before the rest: (directory relative to the root, how deep;
# None: all of it). The root and its children; the environment uv syncs; the cache's top level and
# its buckets' (uv locks <cache>/.lock and locks inside buckets); the managed Pythons' and uv tools' top
# levels (their .lock files) and the tools' commands. A lockable directory reached at the depth limit
# (a child of the root or of a bucket) is re-owned when it is listed, in its turn, not when reached.
PRIORITY: Tuple[Tuple[str, Optional[int]], ...] = (("", 1),) + tuple(
    (os.path.relpath(path, paths.ROOT), depth)
    for path, depth in ((paths.VENV, None), (paths.CACHE, 2), (paths.PYTHONS, 1), (paths.TOOLS, 1),
                        (paths.TOOL_BIN, None)))
LISTED = 1000  # Mismatch entries a report keeps (the counts are always complete)
ERRORS_KEPT = 20  # error lines a report keeps
LINK_TRIES = 3  # rounds of counting a hard link's names before it is left alone as "still changing"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC  # readable: scandir needs it
_ENTRY_FLAGS = getattr(os, "O_PATH", 0o10000000) | os.O_NOFOLLOW | os.O_CLOEXEC  # never opens the file itself
# Module names tests replace: to change the tree at an exact moment of the walk, to fail one change,
# to have no inotify.
_scandir = os.scandir
_chown_fd = linux.chown_fd
_chown_at = os.chown  # by name in a locked directory: (name, uid, gid, dir_fd=, follow_symlinks=False)
_Watcher = linux.Watcher
# Where a directory's mode bits say who can change its names (POSIX ACLs included: their mask is the
# mode's group bits), so a directory can be locked (see "Locked directories"). Not NFS, CIFS, FUSE,
# 9p or virtiofs (the server decides, and may honour other ACLs), nor ZFS (it may have NFSv4 ACLs).
LOCKABLE_FILESYSTEMS = frozenset(("ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay"))


class Mismatch:
    """An entry not owned by the user when the walk saw it."""

    __slots__ = ("path", "uid", "gid", "ino", "dev", "nlink", "refused")

    def __init__(self, path: str, uid: int, gid: int, ino: int = 0, dev: int = 0, nlink: int = 1,
                 refused: str = "") -> None:
        self.path, self.uid, self.gid = path, uid, gid
        #: The inode the walk saw.
        self.ino, self.dev, self.nlink = ino, dev, nlink
        #: Why this entry must not be re-owned ("" when it may be; filled by scan()).
        self.refused = refused

    def as_dict(self) -> Dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mismatch) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return "Mismatch({})".format(", ".join("{}={!r}".format(k, v) for k, v in self.as_dict().items()))


class Report:
    """What one scan or repair found and did: plain data (as_dict() is JSON-ready)."""

    def __init__(self, root: str, uid: int, gid: int, user: str = "", scanned: int = 0, mismatched: int = 0,
                 mismatches: Optional[List[Mismatch]] = None, changed: int = 0, refused: int = 0, raced: int = 0,
                 errors: Optional[List[str]] = None, error_count: int = 0,
                 skipped_mounts: Optional[List[str]] = None, incomplete: bool = False, seconds: float = 0.0,
                 dry_run: bool = True, root_dev: int = 0, background_pid: int = 0,
                 delegated: Optional[int] = None) -> None:
        self.root, self.uid, self.gid, self.user = root, uid, gid, user
        self.scanned = scanned
        self.mismatched = mismatched  # entries not owned by uid:gid when seen
        self.mismatches = [] if mismatches is None else mismatches  # the first LISTED of them
        self.changed = changed
        self.refused = refused  # hard-linked files left alone
        self.raced = raced  # entries replaced, moved or removed while being repaired (the next repair sees them)
        self.errors = [] if errors is None else errors  # the first ERRORS_KEPT, one line each, names escaped
        self.error_count = error_count
        self.skipped_mounts = [] if skipped_mounts is None else skipped_mounts
        self.incomplete = incomplete  # stopped at the deadline
        self.seconds = seconds
        self.dry_run = dry_run
        #: st_dev of the root: the walk never steps onto another filesystem.
        self.root_dev = root_dev
        #: pid of the process continuing this repair in the background (0: none).
        self.background_pid = background_pid
        #: exit code of `sudo -n uv-user repair` when a non-root user handed the repair to root (None: not).
        self.delegated = delegated

    @property
    def complete(self) -> bool:
        """Nothing left: not stopped by the deadline, nothing that could not be changed. (Entries that
        changed under the walk do not count: the user's own uv may be running beside a repair.)"""
        return not self.incomplete and not self.error_count

    def as_dict(self) -> Dict[str, object]:
        data = dict(vars(self))
        data["mismatches"] = [item.as_dict() for item in self.mismatches]
        data["errors"] = list(self.errors)
        data["skipped_mounts"] = list(self.skipped_mounts)
        return data

    def __repr__(self) -> str:
        return "Report({})".format(", ".join("{}={!r}".format(k, v) for k, v in vars(self).items()))


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
        raise UvUserError("{} does not exist".format(shown(root)), "rebuild the container so the feature can create it")
    if stat.S_ISLNK(st.st_mode):
        raise UvUserError("{} is a symlink (to {})".format(shown(root), shown(os.readlink(path))),
                          "uv-user never re-owns through links: remove it and rebuild")
    if not stat.S_ISDIR(st.st_mode):
        raise UvUserError("{} is not a directory".format(shown(root)), "remove it and rebuild")
    return st


def _outside(missing: int, nlink: int, root: str) -> str:
    return "a hard link with {} of its {} names outside {}: left alone, since re-owning it would re-own them " \
           "too".format(missing, nlink, shown(root))


def _key(st: os.stat_result) -> Key:
    return st.st_dev, st.st_ino


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


class _Mounts:
    """Where the walk must not go: mounts of the tree's own filesystem (bind mounts) below its mount.

    They have the root's st_dev, so st_dev cannot tell them. A mount point cannot be renamed
    (EBUSY) and the user cannot mount, so each one is pinned once, at the start, as (its parent
    directory's inode, its name), checked with statx to carry that mount's id; then a listing
    tells them by a set lookup. When one cannot be pinned (no statx, a mount point the mount table
    names but that moved meanwhile, mounts stacked on one point) every directory and every entry
    to change has its mount id compared with the root's instead (per_entry).
    """

    def __init__(self, root_fd: int) -> None:
        self.root_id = linux.mount_id(root_fd, proc_first=True)
        self.points: Dict[Key, Set[str]] = {}  # directory → names in it that are mount points
        self.per_entry = False
        self.fstype = ""  # the tree's filesystem type ("" when the mount table does not say)
        if self.root_id is None:
            return  # no statx, no /proc: only st_dev can tell (and tells every mount of another filesystem)
        table = mounts.read()
        rows = mounts.parse(table) if table is not None else []
        self.fstype = next((row.fstype for row in rows if row.ident == self.root_id), "")
        below = mounts.same_device_below(rows, self.root_id) if table is not None else None
        self.per_entry = below is None or not all(self.pin(row) for row in below)

    @property
    def lockable(self) -> bool:
        """Whether directories here may be locked (see "Locked directories"): a filesystem whose
        permissions are the mode bits (POSIX ACLs included), and every mount below pinned."""
        return self.fstype in LOCKABLE_FILESYSTEMS and not self.per_entry

    def pin(self, row: mounts.MountRow) -> bool:
        parent, name = os.path.split(row.mount_point)
        if not name:
            return False
        try:
            fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if linux.mount_id_at(fd, name) != row.ident:
                return False
            self.points.setdefault(_key(os.fstat(fd)), set()).add(name)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def foreign(self, fd: int) -> bool:
        return self.per_entry and linux.mount_id(fd) != self.root_id

    def name_key(self, dir_fd: int, name: str) -> Optional[Key]:
        """(st_dev, st_ino) of ``name`` if it is on the root's mount; None for a mount (e.g. a single
        file bind-mounted there). Asked only when per_entry. Raises OSError when it is gone."""
        found = linux.statx_at(dir_fd, os.fsencode(name))
        if found is not None:
            return found[0] if found[1] == self.root_id else None
        fd = os.open(name, _ENTRY_FLAGS, dir_fd=dir_fd)
        try:
            return None if self.foreign(fd) else _key(os.fstat(fd))
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------- the walk


class _Dir:
    """A directory of the tree as the walk reached it: its parent, its name there, its inode, its fd."""

    __slots__ = ("parent", "name", "key", "fd", "links", "watched", "lockable", "taken", "listing", "holds",
                 "shown")

    def __init__(self, parent: Optional["_Dir"], name: str, key: Key, fd: int) -> None:
        self.parent, self.name, self.key, self.fd = parent, name, key, fd
        self.links = False  # holds a name of a hard-linked file to re-own at the end (the careful way)
        self.watched = False  # inotify watches it (since before a listing that saw such a name)
        self.lockable = False  # someone else's, no group or other write: re-owned after its names, listed locked
        self.taken = False  # root's (made so, or found so) while its names are changed by name; given after
        self.listing = False
        self.holds = 0  # names in it of hard-linked files counted while locked: it stays taken meanwhile
        self.shown = ""

    def path(self, root: str) -> str:
        """For messages only (never opened): built on demand, so deep trees cost nothing here."""
        if not self.shown:
            names, node = [], self
            while node.parent is not None:
                names.append(node.name)
                node = node.parent
            self.shown = "/".join([root] + names[::-1])
        return self.shown


class _Link:
    """A mismatched file with more than one name: where the walk saw its names."""

    __slots__ = ("key", "names", "tries", "unseen", "nlink")

    def __init__(self, key: Key) -> None:
        self.key = key
        # Where the walk saw its names. No name is seen twice: no directory is listed twice (a
        # shallow listing's names are skipped by the full one).
        self.names: List[Tuple[_Dir, str]] = []
        self.tries = 0
        self.unseen = False  # a name of it was seen in a directory not watched before its listing
        self.nlink = 0

    def dirs(self) -> Set[Key]:
        return {node.key for node, _ in self.names}


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

    def __init__(self, report: Report, change: bool, deadline: Optional[float], lock: str = "") -> None:
        self.report, self.change, self.deadline, self.lock_path = report, change, deadline, lock
        self.root, self.uid, self.gid, self.dev = report.root, report.uid, report.gid, report.root_dev
        self.budget = 64
        self.open = 0  # directory fds held by _Dir nodes
        self.stack: List[_Frame] = []
        self.low = 0  # frames below this index hold no fd (or are the root's): where make_room looks first
        self.full: Set[Key] = set()  # directories listed with no depth limit (never listed twice)
        self.partial: Dict[Key, Set[str]] = {}  # names handled by a depth-limited listing
        self.links: Dict[Key, _Link] = {}  # hard-linked files counted under inotify (settle_links)
        # Hard-linked files whose names, all in locked directories so far, are counted as listed: the one
        # name seen of a file with two (what uv makes), and the names seen of the others.
        self.pairs: Dict[Key, Tuple[_Dir, str]] = {}
        self.counting: Dict[Key, List[Tuple[_Dir, str]]] = {}
        self.names: Dict[Key, Tuple[int, Set[Tuple[Key, str]]]] = {}  # scan only: hard links' nlink, names
        self.entered: Set[Key] = set()  # directories already checked (a shallow listing enters them first)
        self.kept: List[_Dir] = []  # directories holding hard-link names, fds kept while there is room
        self.expired = False
        self.top: Optional[_Dir] = None
        self.mounts: Optional[_Mounts] = None
        self.watcher: Optional[linux.Watcher] = None
        self.unwatchable = ""  # why inotify is unavailable ("" while it is not known to be)
        self.link_dirs: List[_Dir] = []  # directories holding names of hard-linked files
        self.chown: Optional[Callable[[int, int, int], None]] = None  # fchownat(AT_EMPTY_PATH), bound when needed
        self.watch_limit = False  # the walk's watches hit fs.inotify.max_user_watches
        self.serialized = False  # no other repair changes directories' owners now (or none can be kept out)
        self.mutex = -1  # the repairs' lock file, held from the first directory to re-own to the end
        self.fast = False  # directories may be locked: the lock is held, on a filesystem that allows it
        self.deferred: Set[Key] = set()  # lockable directories entered, not yet listed (re-owned after that)
        self.taken: Dict[Key, _Dir] = {}  # directories root's until their names are done (then the user's)

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
        changed = UvUserError("{} changed while it was being opened (replaced, or by a link)".format(shown(self.root)),
                              "run `uv-user repair` again")
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
        self.entered.add(self.top.key)
        if needs_change(st, self.uid, self.gid):
            self.report.mismatched += 1
            self.report.mismatches.append(Mismatch(self.root, st.st_uid, st.st_gid, st.st_ino, st.st_dev,
                                                   st.st_nlink))
            if self.change:
                self.own(self.top, st)
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
        held = self.taken.get(_key(now))
        if held is not None:  # still root's, for names of hard-linked files in it: the same node
            if held.fd < 0:
                held.fd, fd = fd, -1
                self.open += 1
            else:
                os.close(fd)
            held.parent, held.name, held.shown = parent, name, ""
            return held
        node = _Dir(parent, name, _key(now), fd)
        self.open += 1
        if node.key not in self.entered:
            self.entered.add(node.key)
            if needs_change(now, self.uid, self.gid):
                self.note(parent, name, now)
                if self.change and not self.own(node, now):
                    self.close(node)
                    return None
        elif node.key in self.deferred:
            node.lockable = True
        return node

    # -- re-owning directories: locked while their names change, when they can be

    def own(self, node: _Dir, st: os.stat_result) -> bool:
        """A directory to re-own: now (then its entries the careful way), or after its names, which
        are then changed by name (see "Locked directories"). False: the deadline passed first."""
        if not self.serialize():
            return False
        if self.fast and self.lockable(st):
            node.lockable = True
            self.deferred.add(node.key)
        else:
            self.fchown(node, node.path(self.root))
        return True

    def lockable(self, st: os.stat_result) -> bool:
        """A directory the user does not own (or could chmod) and no group or other may write."""
        user_can_chmod = st.st_uid == self.uid != 0
        return not user_can_chmod and not st.st_mode & 0o022

    def serialize(self) -> bool:
        """Before the first directory this walk re-owns: wait until no other repair re-owns any.

        A locked directory is root's while its names change, and another repair would give it to
        the user meanwhile; so repairs take turns, holding the lock file beside the status file (root's
        alone: the user cannot hold it). Without one (a read-only /var/lib), no repair can lock a
        directory, and each goes the careful way. False: the deadline passed while waiting.
        """
        if self.serialized or self.expired:
            return not self.expired
        fd = status.lock(self.lock_path) if self.lock_path else -1
        if fd >= 0:
            import fcntl

            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if self.deadline is not None else 0))
                    break
                except BlockingIOError:
                    if self.clock():
                        os.close(fd)
                        return False
                    time.sleep(0.005)
                except OSError:  # no locks here: no repair can lock a directory
                    os.close(fd)
                    fd = -1
                    break
        assert self.mounts is not None
        self.serialized, self.mutex, self.fast = True, fd, fd >= 0 and self.mounts.lockable
        return True

    def lock(self, node: _Dir) -> bool:
        """Before ``node`` is listed: True when no one but root can change its names until it is given.

        A lockable directory is made root's (its group kept) unless it is already, and then fstat on
        the fd that lists it must show root's with no group or other write: then no process but root's
        can rename, link, remove or create a name in it (ACLs included: with one, the mode's group
        bits are its mask). Otherwise (its owner changed its mode meanwhile) it is given to the user
        at once and listed the careful way.
        """
        if node.taken:
            return True  # listed again (a shallow listing, then the full one) while it is still root's
        if not node.lockable:
            return False
        node.lockable = False
        self.deferred.discard(node.key)
        try:
            st = os.fstat(node.fd)
            if st.st_uid != 0 or (self.uid == 0 and st.st_gid != self.gid):
                os.fchown(node.fd, 0, self.gid if self.uid == 0 else -1)
                st = os.fstat(node.fd)
        except OSError:
            self.fchown(node, node.path(self.root))  # says why, if it cannot be re-owned at all
            return False
        node.taken = True
        self.taken[node.key] = node
        if st.st_uid == 0 and not st.st_mode & 0o022:
            return True
        self.give(node)
        return False

    def give(self, node: _Dir) -> None:
        """The directory to the user, once its names are done (or at the end, or at the deadline)."""
        node.taken = False
        self.taken.pop(node.key, None)
        if self.uid == 0:  # taking it made it root's: the user's
            self.report.changed += 1
            return
        reopened = node.fd < 0
        if reopened and not self.reopen(node):
            self.error(node.path(self.root), "moved while it was being repaired; left root's for the next repair")
            return
        self.fchown(node, node.path(self.root))
        if reopened:
            self.close(node)

    def unhold(self, node: _Dir) -> None:
        node.holds -= 1
        if not node.holds and node.taken and not node.listing:
            self.give(node)

    def change_entry(self, node: _Dir, name: str, st: os.stat_result, watched: bool) -> None:
        """Re-own one non-directory: the very inode the listing showed, or nothing."""
        if st.st_nlink > 1:
            self.defer(node, name, st, watched)
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
                self.defer(node, name, now, False)  # linked since the listing
            elif needs_change(now, self.uid, self.gid):
                _chown_fd(fd, now, self.uid, self.gid)
                self.report.changed += 1
        except OSError as exc:
            self.error(self.entry_path(node, name), _why(exc))
        finally:
            os.close(fd)

    def defer(self, node: _Dir, name: str, st: os.stat_result, watched: bool) -> None:
        """A hard-linked file: re-owned at the end, once its names are known to be all inside."""
        key = (st.st_dev, st.st_ino)
        link = self.links.get(key) or (self.unlock(key) if key in self.counting or key in self.pairs else None)
        if link is None:
            link = self.links[key] = _Link(key)
        link.names.append((node, name))
        link.unseen = link.unseen or not watched
        link.nlink = st.st_nlink
        self.careful(node)

    def start_watching(self) -> None:
        """From the first hard link on, each directory is watched before it is listed (see settle_links)."""
        try:
            self.watcher = _Watcher()
        except OSError as exc:
            self.unwatchable = _why(exc)

    def watch(self, node: _Dir) -> bool:
        """Watch ``node`` before listing it; True when a watch is in place (it may predate this listing)."""
        if self.watcher is not None and not node.watched and not self.watch_limit:
            try:
                node.watched = self.watcher.watch(node.fd, node.key)
            except OSError:
                node.watched = False
            self.watch_limit = not node.watched
        return node.watched

    def is_mount(self, node: _Dir, name: str) -> bool:
        assert self.mounts is not None
        try:
            return self.mounts.name_key(node.fd, name) is None
        except OSError:
            return False  # gone: whoever looks next finds out

    def list_dir(self, node: _Dir, depth: Optional[int]) -> List[Tuple[str, os.stat_result]]:
        """Handle every entry of ``node``; return its subdirectories to enter (with their lstat).

        A lockable directory is locked first (made root's), its entries re-owned by name, and it
        is given to the user after them (or, holding names of hard-linked files not all counted yet,
        once they are). Elsewhere each entry is re-owned through a handle of its own.
        """
        locked = self.change and self.lock(node)
        node.listing = True
        try:
            return self.entries(node, depth, locked)
        finally:
            node.listing = False
            if node.taken and not node.holds:
                self.give(node)

    def entries(self, node: _Dir, depth: Optional[int], locked: bool) -> List[Tuple[str, os.stat_result]]:
        if depth is None:
            self.full.add(node.key)
        before = self.partial.get(node.key, ())
        record = self.partial.setdefault(node.key, set()) if depth is not None else None
        # Before the listing (what it shows stays true until an event); a locked directory needs no watch.
        watched = self.change and not locked and self.watch(node)
        pending: List[Tuple[str, os.stat_result]] = []
        uid, gid, dev, report, change = self.uid, self.gid, self.dev, self.report, self.change
        links, counting, pairs = self.links, self.counting, self.pairs
        assert self.mounts is not None
        per_entry, points = self.mounts.per_entry, self.mounts.points.get(node.key)
        try:
            entries = _scandir(node.fd)
        except OSError as exc:
            self.error(node.path(self.root), _why(exc))
            return pending
        seen = wrong = changed = 0  # counted here, added to the report once (the hot loop of a big tree)
        node_key, listed, dir_fd, chown_at = node.key, report.mismatches, node.fd, _chown_at
        room = LISTED - len(listed)
        shallow, check_at = bool(before) or record is not None, 1024
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
                is_dir = st.st_mode & 0o170000 == 0o040000
                if shallow:  # a depth-limited listing, or one after it
                    if before and name in before:  # handled by an earlier, shallower listing
                        if is_dir and st.st_dev == dev:
                            pending.append((name, st))
                        continue
                    if record is not None:
                        record.add(name)
                seen += 1
                if seen == check_at:
                    if self.clock():
                        break
                    check_at += 1024
                if st.st_dev != dev or (points and name in points):
                    self.skip_mount(self.entry_path(node, name))
                elif is_dir:
                    pending.append((name, st))  # checked (and counted) when entered: it may be a mount
                elif st.st_uid != uid or st.st_gid != gid:
                    if per_entry and self.is_mount(node, name):
                        self.skip_mount(self.entry_path(node, name))
                        continue
                    wrong += 1
                    if room > 0:
                        room -= 1
                        listed.append(Mismatch(self.entry_path(node, name), st.st_uid, st.st_gid, st.st_ino,
                                               st.st_dev, st.st_nlink))
                    if not change:
                        if st.st_nlink > 1:
                            self.names.setdefault(_key(st), (st.st_nlink, set()))[1].add((node_key, name))
                    elif locked:  # the name is the inode listed until root gives the directory away
                        first = None
                        if st.st_nlink > 1:  # a hard-linked file (uv hard-links the env to the cache)
                            key = (st.st_dev, st.st_ino)
                            first = pairs.pop(key, None)
                            if first is None or st.st_nlink != 2:
                                if first is not None:
                                    counting[key] = [first]
                                elif st.st_nlink == 2 and key not in counting and key not in links:
                                    pairs[key] = (node, name)  # one of its two names: counted, its directory held
                                    node.holds += 1
                                    continue
                                self.locked_link(node, name, st)
                                continue
                            # Its other name counted, in a directory still locked: both are the tree's (locked_link).
                        try:
                            chown_at(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
                            changed += 1
                        except FileNotFoundError:
                            report.raced += 1  # only root can remove it: root's own uv, say
                        except OSError as exc:
                            self.error(self.entry_path(node, name), _why(exc))
                        if first is not None:
                            other = first[0]
                            other.holds -= 1
                            if not other.holds and other.taken and not other.listing:
                                self.give(other)
                    elif st.st_nlink > 1:  # where the user can change names (uv hard-links the env to the cache)
                        key = (st.st_dev, st.st_ino)
                        link = links.get(key)
                        if link is None:
                            if key in counting or key in pairs:
                                link = self.unlock(key)
                            else:
                                link = links[key] = _Link(key)
                                if self.watcher is None and not self.unwatchable:
                                    self.start_watching()
                        link.names.append((node, name))
                        link.nlink = st.st_nlink  # the last look: every name seen before is still there
                        if not watched:
                            link.unseen = True
                        if not node.links:
                            node.links = True
                            self.link_dirs.append(node)
                    else:
                        self.change_entry(node, name, st, watched)
        report.scanned += seen
        report.mismatched += wrong
        report.changed += changed
        return pending

    def locked_link(self, node: _Dir, name: str, st: os.stat_result) -> None:
        """A hard-linked file's name in a locked directory (the listing itself handles the two names of
        a file with two).

        The count: each name counted has stayed where it was listed (no one but root could move it:
        its directory is still locked, held for it), and this listing read the link count. When the
        two are equal, every name of the file was one counted at that moment, so it is the tree's,
        and it is re-owned by this name. A name seen where the user can change names (unlock), or a
        count over the link count (only root could remove a name), make the file go the careful way.
        """
        key = (st.st_dev, st.st_ino)
        names = self.counting.get(key)
        if names is None:
            link = self.links.get(key)
            if link is not None:  # the file goes the careful way already
                link.names.append((node, name))
                link.unseen = True
                self.careful(node)
                return
            names = self.counting[key] = []
        names.append((node, name))
        node.holds += 1
        if len(names) < st.st_nlink:
            return
        if len(names) > st.st_nlink:
            self.unlock(key)
            return
        del self.counting[key]
        try:
            _chown_at(name, self.uid, self.gid, dir_fd=node.fd, follow_symlinks=False)
            self.report.changed += 1
        except FileNotFoundError:
            self.report.raced += 1
        except OSError as exc:
            self.error(self.entry_path(node, name), _why(exc))
        for other, _ in names:
            self.unhold(other)

    def unlock(self, key: Key) -> _Link:
        """A hard-linked file counted as listed, now to be counted under inotify at the end
        (settle_links), as any file with a name where the user can change names; the locked
        directories holding its names need not wait for it."""
        link = self.links[key] = _Link(key)
        first = self.pairs.pop(key, None)
        link.names = [first] if first is not None else self.counting.pop(key, [])
        link.unseen = True
        for node, _ in link.names:
            self.careful(node)
            self.unhold(node)
        return link

    def careful(self, node: _Dir) -> None:
        if self.watcher is None and not self.unwatchable:
            self.start_watching()
        if not node.links:
            node.links = True
            self.link_dirs.append(node)

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
            left = None if frame.depth is None else frame.depth - 1
            if left == 0 and not (self.change and needs_change(st, self.uid, self.gid) and
                                  not (self.fast and self.lockable(st))):
                continue  # reached, not to be listed, nothing to re-own before its listing: left for that
            child = self.enter(frame.node, name, st)
            if child is None:
                continue
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
        if (node.links or node.taken) and self.change and self.open < self.budget // 2:
            self.kept.append(node)  # its hard-link names are counted again at the end, or it is given then
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
        """Re-own the hard-linked files whose names are all inside the tree.

        A file's names are all inside when, at one moment, its link count equals the number of its
        names found in the tree. The walk saw names at different moments, and the user can move,
        remove or replace names meanwhile; inotify says whether they did. So, for each file: its
        names are seen while their directories are watched, its link count is read (on the exact
        inode, an O_PATH fd) after that, and then the events are read: none for those directories
        means every name seen was still there when the count was read, so the count is exact.
        Names the walk saw after watching their directory need no second look (the fast path);
        the others are looked at again, batch by batch (settle_batch). Any doubt: look again
        (LINK_TRIES), then leave the file alone and say so. Files whose names are all in locked
        directories were counted as listed (locked_link); those still short of their link count are
        settled first (settle_counted).
        """
        self.settle_counted()
        links = list(self.links.values())
        if not links:
            return
        size = max(1, self.budget // 4)  # directories per batch: fds (kept ones are at most half the budget)
        try:  # one inotify instance throughout: closing one waits for the kernel (~10 ms)
            if self.unwatchable:
                for link in links:
                    self.refuse(link, "its names could not be counted safely (inotify: {})".format(self.unwatchable))
                return
            self.settle_all(self.settle_seen(links), size)
        finally:
            if self.watcher is not None:
                self.watcher.close()
                self.watcher = None

    def settle_counted(self) -> None:
        """Files counted as listed whose names counted stayed under their link count: counted once more,
        as the listing would (their directories are still locked), then re-owned, or left alone."""
        for key, first in self.pairs.items():
            self.counting[key] = [first]
        self.pairs.clear()
        for key, names in list(self.counting.items()):
            node, name = names[0]
            reopened = node.fd < 0
            try:
                if reopened and not self.reopen(node):
                    raise OSError(errno.ESTALE, "moved")
                st = os.stat(name, dir_fd=node.fd, follow_symlinks=False)
            except OSError:
                st = None
            if st is None or _key(st) != key or len(names) > st.st_nlink:
                self.unlock(key)  # only root can have changed it: the careful way decides
                if reopened:
                    self.close(node)
                continue
            del self.counting[key]
            link = _Link(key)
            link.names = names
            if len(names) < st.st_nlink:
                self.refuse(link, _outside(st.st_nlink - len(names), st.st_nlink, self.root))
            else:
                try:
                    _chown_at(name, self.uid, self.gid, dir_fd=node.fd, follow_symlinks=False)
                    self.report.changed += 1
                except OSError as exc:
                    self.error(self.entry_path(node, name), _why(exc))
            for other, _ in names:
                self.unhold(other)
            if reopened:
                self.close(node)

    def settle_seen(self, links: List[_Link]) -> List[_Link]:
        """The fast path: files whose every name the walk saw under a watch. Returns the others.

        With no event since, each name still leads to the inode the walk saw, and the link count
        the walk read last was read while all the names seen before were there: both are exact, so
        the file is only opened (O_PATH, before the events are read: the fd holds that inode) and,
        when the count matches, re-owned through that fd.
        """
        if self.watcher is None:
            return links
        held: List[Tuple[_Link, int]] = []
        later: List[_Link] = []
        assert self.mounts is not None
        per_entry = self.mounts.per_entry
        for link in links:
            if link.unseen:
                later.append(link)
                continue
            node, name = link.names[0]
            try:
                if node.fd < 0 and not self.reopen(node):
                    raise OSError(errno.ESTALE, "moved")
                fd = os.open(name, _ENTRY_FLAGS, dir_fd=node.fd)
            except OSError:
                later.append(link)
                continue
            if per_entry and (_key(os.fstat(fd)) != link.key or self.mounts.foreign(fd)):
                os.close(fd)
                later.append(link)
                continue
            held.append((link, fd))
        self.settled(self.link_dirs)
        moved = self.watcher.disturbed()  # every event since the walk watched these directories
        # A watcher exists, so ctypes does: fchownat is there.
        if self.chown is None:
            self.chown = linux.fd_chowner()
        chown, uid, gid = self.chown, self.uid, self.gid
        assert chown is not None
        for link, fd in held:
            try:
                names = len(link.names)
                if moved is None or (moved and not moved.isdisjoint(link.dirs())) or link.nlink < names:
                    later.append(link)
                elif link.nlink > names:
                    self.refuse(link, _outside(link.nlink - names, link.nlink, self.root))
                else:
                    chown(fd, uid, gid)
                    self.report.changed += 1
            except OSError as exc:
                self.error(self.link_path(link), _why(exc))
            finally:
                os.close(fd)
        return later

    @staticmethod
    def settled(nodes: List[_Dir]) -> None:
        """Wait until no change is under way in these directories, so its event is queued.

        The kernel changes a name (and a link count) before it queues the inotify event, both while
        holding the directory's lock. Reading a directory takes that lock, so after one read of each,
        every change that a link count just read could reflect has its event waiting to be read.
        """
        for node in nodes:
            if node.fd >= 0:
                try:
                    with os.scandir(node.fd) as entries:
                        next(entries, None)
                except OSError:
                    pass

    def open_link(self, link: _Link) -> Tuple[int, os.stat_result]:
        """An O_PATH fd of the file through one of its names, and its fstat (-1: none fits any more)."""
        assert self.mounts is not None
        for node, name in link.names:
            if node.fd < 0 and not self.reopen(node):
                continue
            try:
                fd = os.open(name, _ENTRY_FLAGS, dir_fd=node.fd)
            except OSError:
                continue
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == link.key and not self.mounts.foreign(fd):
                return fd, st
            os.close(fd)
        return -1, os.stat_result((0,) * 10)

    def settle(self, link: _Link, fd: int, st: os.stat_result, names: int) -> bool:
        """Decide with the link count read inside the watched window; False: count again."""
        if st.st_nlink > names:
            self.refuse(link, _outside(st.st_nlink - names, st.st_nlink, self.root))
        elif st.st_nlink < names:
            return False  # a name seen is gone, yet no event said so: do not trust this count
        elif needs_change(st, self.uid, self.gid):
            try:
                _chown_fd(fd, st, self.uid, self.gid)
                self.report.changed += 1
            except OSError as exc:
                self.error(self.link_path(link), _why(exc))
        return True

    def settle_all(self, pending: List[_Link], size: int) -> None:
        """The careful path, for names the walk saw unwatched or in a directory that changed since."""
        while pending and not self.clock():
            batch: List[_Link] = []
            dirs: Dict[Key, _Dir] = {}
            rest: List[_Link] = []
            for link in pending:
                if len(dirs) >= size and batch:
                    rest.append(link)
                    continue
                batch.append(link)
                for node, _ in link.names:
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
                for node in dirs.values():
                    node.watched = False
            pending = again + unwatched + rest

    def settle_batch(self, watcher: linux.Watcher, batch: List[_Link],
                     dirs: List[_Dir]) -> Tuple[List[_Link], List[_Link]]:
        """Watch → forget earlier events → count each file's names again → read its link count →
        no event for those directories → decide. Returns the links to count again (something moved)
        and those whose directories could not all be watched (the watch limit)."""
        reopened: List[_Dir] = []
        held: List[Tuple[_Link, int, os.stat_result, int]] = []
        again: List[_Link] = []
        unwatched: List[_Link] = []
        try:
            watched: Set[Key] = set()
            for node in dirs:
                if node.fd < 0:
                    if not self.reopen(node):
                        continue  # moved since the walk: its links are left for the next repair
                    reopened.append(node)
                if node.watched or watcher.watch(node.fd, node.key):
                    node.watched = True
                    watched.add(node.key)
            watcher.disturbed()  # what happened before this count does not matter: forget it
            for link in batch:
                if any(node.fd < 0 for node, _ in link.names):
                    self.report.raced += 1
                elif not watched.issuperset(link.dirs()):
                    unwatched.append(link)
                else:
                    counted = self.count_names(link)
                    fd, st = self.open_link(link) if counted else (-1, None)
                    if fd >= 0:
                        held.append((link, fd, st, counted))  # type: ignore[arg-type]
                    else:
                        self.report.raced += 1  # no name of it is where the walk saw it any more
            self.settled([node for node in dirs if node.key in watched])
            moved = watcher.disturbed()
            for link, fd, st, counted in held:
                try:
                    if moved is None or not moved.isdisjoint(link.dirs()) or not self.settle(link, fd, st, counted):
                        again.append(link)
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

    def count_names(self, link: _Link) -> int:
        """How many of the names the walk saw are the file's name still (and no mount)."""
        assert self.mounts is not None
        counted = 0
        for node, name in link.names:
            try:
                if self.mounts.per_entry:
                    counted += self.mounts.name_key(node.fd, name) == link.key
                else:
                    counted += _key(os.stat(name, dir_fd=node.fd, follow_symlinks=False)) == link.key
            except OSError:
                continue
        return counted

    def link_path(self, link: _Link) -> str:
        for node, name in link.names:
            return self.entry_path(node, name)
        return self.root

    def refuse(self, link: _Link, why: str) -> None:
        self.report.refused += 1
        self.error(self.link_path(link), why)

    # -- the whole walk

    def run(self, root_st: os.stat_result, priority: bool) -> None:
        self.budget, saved_limit = _fd_budget()
        try:
            top = self.start(root_st)
        except BaseException:
            self.unlock_repairs()
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
            try:
                for node in list(self.taken.values()):  # the deadline, or an error: the user's, names done or not
                    self.give(node)
            finally:
                self.unlock_repairs()
                for node in self.kept:
                    self.close(node)
                self.close(top)
                _restore_limit(saved_limit)

    def unlock_repairs(self) -> None:
        if self.mutex >= 0:
            os.close(self.mutex)  # closing the last fd of the lock file releases it
            self.mutex = -1

    def refusals(self) -> None:
        """scan(): which mismatches a repair would leave alone (their names counted as listed)."""
        outside = {key: nlink - len(names) for key, (nlink, names) in self.names.items() if len(names) < nlink}
        self.report.refused = len(outside)
        for item in self.report.mismatches:
            missing = outside.get((item.dev, item.ino))
            if missing:
                item.refused = _outside(missing, item.nlink, self.root)


def _walk(root: str, uid: int, gid: int, deadline: Optional[float], change: bool, lock: str = "") -> Report:
    started = time.monotonic()
    root_st = check_root(root)
    report = Report(os.path.normpath(root), uid, gid, dry_run=not change, root_dev=root_st.st_dev)
    # The walk makes many short-lived objects and no reference cycles: the cyclic collector, run every
    # few hundred allocations, would find nothing and cost ~6 % of a full repair.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _Walk(report, change, deadline, lock).run(root_st, priority=change)
    finally:
        if collecting:
            gc.enable()
    report.seconds = round(time.monotonic() - started, 3)
    return report


def scan(root: str, uid: int, gid: int, deadline: Optional[float] = None) -> Report:
    """What a repair would change under ``root``, changing nothing (doctor, --dry-run).

    Walks the same way a repair does (directory fds, no links, no mounts); ``deadline`` is a
    time.monotonic() value after which it stops and marks the report incomplete.
    """
    return _walk(root, uid, gid, deadline, change=False)


def repair(root: str, uid: int, gid: int, deadline: Optional[float] = None, state: str = "") -> Report:
    """Give everything under ``root`` to uid:gid in one pass, what uv needs first, until ``deadline``.

    Repairs take turns through a lock file beside the status file ``state`` (default:
    paths.REPAIR_STATE, read when called); see "Locked directories".
    """
    return _walk(root, uid, gid, deadline, change=True, lock=lock_path(state or paths.REPAIR_STATE))


def lock_path(state: str) -> str:
    """The repairs' lock file: beside their status file, in the directory only root can write."""
    return os.path.join(os.path.dirname(state), "repair.lock")



# ----------------------------------------------------------------------------- the repair uv-user runs for a user

START_SECONDS = 10.0  # the start-time repair's bound (the entrypoint waits at most this long)
BACKGROUND_SECONDS = 3600.0  # the detached continuation's: generous, but a tree grown without end stops too


def account(name: str) -> Tuple[int, int]:
    """uid:gid of ``name`` now: the user recorded at install may have been remapped, or not exist yet."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        # The way out follows a colon (a test pins the text): it stays inside ``what``.
        raise UvUserError("user '{}' does not exist in this container (yet, or any more): create it, rebuild the "
                          "container, or pass --user NAME".format(shown(name)))
    return entry.pw_uid, entry.pw_gid


def recorded_user() -> str:
    name = str(_read_record().get("username") or "")
    if not name:
        raise UvUserError("no user recorded in {}".format(shown(paths.RECORD)),
                          "rebuild the container or pass --user NAME")
    return name


def _read_record() -> Dict[str, object]:
    """The install record as facts.read_record reads it ({} when absent or unreadable). Read here, not
    through facts: that module imports what only the install and the doctor need (subprocess,
    dataclasses, glob), and this runs at every start."""
    try:
        with open(paths.RECORD, "rb") as handle:
            data = json_loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return {}
    return data if isinstance(data, dict) else {}


class _JsonDefaults:
    """What json.loads gives its scanner (json.decoder.JSONDecoder's defaults)."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int, parse_constant = float, int, float  # float() reads NaN, Infinity, -Infinity


_JSON_SPACE = " \t\n\r"


def json_loads(text: str) -> object:
    """json.loads(text) with the C scanner json.loads itself uses, without importing the json package:
    its decoder compiles regular expressions when imported (re and enum: ~5 ms at every start). A
    Python without that scanner gets json.loads. Raises ValueError where json.loads does."""
    try:
        from _json import make_scanner
    except ImportError:
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = make_scanner(_JsonDefaults)(text, start)
    except StopIteration:
        raise ValueError("not a JSON document")
    if text[end:].strip(_JSON_SPACE):
        raise ValueError("more than one JSON document")
    return value


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
        report = repair(root, uid, gid, deadline, state)
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
    import subprocess

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "uv-user.py")
    if not sys.executable or not os.path.isfile(script):
        report.error_count += 1
        report.errors.append("cannot continue in the background (no {}): the next start goes on".format(
            shown(script)))
        return None
    try:
        child = subprocess.Popen(
            [sys.executable, "-E", "-s", "-S", script, "repair", "--continue", "--user", report.user, "--root",
             report.root, "--state", state], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd="/", env={"PATH": paths.SYSTEM_PATH, "LC_ALL": "C.UTF-8"}, close_fds=True, start_new_session=True)
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
    import subprocess

    from . import privilege

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
        "{} entries under {} are not owned by {} ({}:{}) and this container runs as {} without sudo".format(
            report.mismatched, shown(report.root), shown(report.user), report.uid, report.gid, shown(me)),
        "as root run: uv-user repair (e.g. docker exec -u root <container> uv-user repair)")
