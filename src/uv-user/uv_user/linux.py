"""The Linux calls the repair needs and Python's os module lacks (stdlib only: ctypes and /proc).

- Re-owning exactly the inode an O_PATH fd holds: os.chown has no AT_EMPTY_PATH, and os.fchown
  refuses O_PATH fds (EBADF). fchownat(fd, "", AT_EMPTY_PATH) does it, for a symlink too;
  without ctypes, /proc/self/fd/N reaches the same inode for anything but a symlink.
- The mount an fd or a name is on (statx's STATX_MNT_ID, one call; else fdinfo's mnt_id): unlike a
  mount point's path, renames cannot fool it.
- inotify, to know that no name left or was replaced in a directory while the repair counted names in it.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

TYPE_CHECKING = False  # typing is for type checkers: importing it costs every start milliseconds
if TYPE_CHECKING:
    from typing import Callable, Dict, Optional, Set, Tuple

    Key = Tuple[int, int]  # (st_dev, st_ino)

_O_PATH = getattr(os, "O_PATH", 0o10000000)
_AT_EMPTY_PATH = 0x1000
_AT_SYMLINK_NOFOLLOW = 0x100


class _Libc:
    """libc's fchownat and inotify through ctypes, loaded on first use (None: unavailable here)."""

    loaded = False
    fchownat = None
    statx = None
    inotify_init1 = None
    inotify_add_watch = None
    get_errno = None
    buffer = None  # statx's struct, reused: one repair runs in one thread

    @classmethod
    def load(cls) -> None:
        if cls.loaded:
            return
        cls.loaded = True
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fchownat = libc.fchownat
            fchownat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int]
            fchownat.restype = ctypes.c_int
            init = libc.inotify_init1
            init.argtypes = [ctypes.c_int]
            init.restype = ctypes.c_int
            add = libc.inotify_add_watch
            add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            add.restype = ctypes.c_int
        except (ImportError, OSError, AttributeError):
            return
        cls.get_errno = staticmethod(ctypes.get_errno)
        cls.fchownat, cls.inotify_init1, cls.inotify_add_watch = fchownat, init, add
        try:  # glibc 2.28+, musl 1.2.5+; without it, fdinfo tells an fd's mount
            statx = libc.statx
            statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
            statx.restype = ctypes.c_int
            cls.statx, cls.buffer = statx, ctypes.create_string_buffer(256)
        except AttributeError:
            pass

    @classmethod
    def fail(cls) -> OSError:
        code = cls.get_errno()  # type: ignore[misc]
        return OSError(code, os.strerror(code))


def fd_chowner() -> Optional[Callable[[int, int, int], None]]:
    """chown(fd, uid, gid) for O_PATH fds through fchownat(AT_EMPTY_PATH), bound once for hot loops
    (None: no ctypes; chown_fd still works then, but not for symlinks)."""
    _Libc.load()
    call = _Libc.fchownat
    if call is None:
        return None
    flags = _AT_EMPTY_PATH | _AT_SYMLINK_NOFOLLOW

    def chown(fd: int, uid: int, gid: int) -> None:
        if call(fd, b"", uid, gid, flags) != 0:
            raise _Libc.fail()

    return chown


def chown_fd(fd: int, st: os.stat_result, uid: int, gid: int) -> None:
    """Re-own exactly the inode an O_PATH fd holds (a symlink itself, never its target)."""
    _Libc.load()
    if _Libc.fchownat is not None:
        if _Libc.fchownat(fd, b"", uid, gid, _AT_EMPTY_PATH | _AT_SYMLINK_NOFOLLOW) != 0:
            raise _Libc.fail()
        return
    if stat.S_ISLNK(st.st_mode):
        raise OSError(errno.ENOTSUP, "a symlink cannot be re-owned safely without fchownat (ctypes is unavailable)")
    os.chown("/proc/self/fd/{}".format(fd), uid, gid)  # the magic link leads to this very inode


_STATX_MNT_ID = 0x1000
_STATX_DEV = struct.Struct("=II")  # stx_dev_major, stx_dev_minor at 136
_STATX_MNT = struct.Struct("=Q")  # stx_mnt_id at 144


def statx_at(dir_fd: int, name: bytes) -> Optional[Tuple[Key, int]]:
    """((st_dev, st_ino), mount id) of ``name`` in ``dir_fd`` (b"": the fd itself), never following a
    link; None when statx cannot tell the mount (no statx, or a kernel before 5.8)."""
    _Libc.load()
    if _Libc.statx is None:
        return None
    flags = _AT_SYMLINK_NOFOLLOW | (_AT_EMPTY_PATH if not name else 0)
    if _Libc.statx(dir_fd, name, flags, _STATX_MNT_ID, _Libc.buffer) != 0:
        raise _Libc.fail()
    raw = _Libc.buffer.raw  # type: ignore[union-attr]
    mask = struct.unpack_from("=I", raw, 0)[0]
    if not mask & _STATX_MNT_ID:
        return None
    ino = struct.unpack_from("=Q", raw, 32)[0]
    major, minor = _STATX_DEV.unpack_from(raw, 136)
    return (os.makedev(major, minor), ino), _STATX_MNT.unpack_from(raw, 144)[0]


def mount_id(fd: int, proc_first: bool = False) -> Optional[int]:
    """The id of the mount an fd is on, or None when neither statx nor /proc can tell.

    ``proc_first``: ask /proc's fdinfo first when ctypes is not loaded yet, for a single answer
    (loading ctypes for statx costs more than reading one small file)."""
    if proc_first and not _Libc.loaded:
        found_in_proc = _fdinfo_mount_id(fd)
        if found_in_proc is not None:
            return found_in_proc
    try:
        found = statx_at(fd, b"")
    except OSError:
        found = None
    return found[1] if found is not None else _fdinfo_mount_id(fd)


def mount_id_at(dir_fd: int, name: str) -> Optional[int]:
    """The id of the mount ``name`` in ``dir_fd`` is on (a mount point's own), never through a link;
    None when neither statx nor /proc can tell. Raises OSError when there is no such name."""
    if _Libc.loaded:
        found = statx_at(dir_fd, os.fsencode(name))
        if found is not None:
            return found[1]
    fd = os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        return mount_id(fd, proc_first=True)
    finally:
        os.close(fd)


def _fdinfo_mount_id(fd: int) -> Optional[int]:
    try:
        with open("/proc/self/fdinfo/{}".format(fd), "rb") as handle:
            for line in handle:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class Watcher:
    """inotify on directories: did any name leave them, or get replaced, since they were watched?"""

    # IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR; the kernel
    # adds IN_IGNORED, IN_UNMOUNT and IN_Q_OVERFLOW on its own. A name replaced by a rename onto it
    # shows only as a name moved in (IN_MOVED_TO): without it, a counted name could vanish unseen.
    MASK = 0x40 | 0x80 | 0x200 | 0x400 | 0x800 | 0x01000000
    OVERFLOW = 0x4000

    def __init__(self) -> None:
        _Libc.load()
        if _Libc.inotify_init1 is None:
            raise OSError(errno.ENOSYS, "ctypes is unavailable")
        fd = _Libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _Libc.fail()
        self.fd = fd
        self.dirs: Dict[int, Key] = {}  # watch descriptor → directory

    def watch(self, fd: int, key: Key) -> bool:
        """Watch the directory an fd holds; False when the watch limit is reached."""
        wd = _Libc.inotify_add_watch(self.fd, "/proc/self/fd/{}".format(fd).encode(), self.MASK)
        if wd < 0:
            error = _Libc.fail()
            if error.errno == errno.ENOSPC:
                return False
            raise error
        self.dirs[wd] = key
        return True

    def disturbed(self) -> Optional[Set[Key]]:
        """Directories a name left or was replaced in since the last call; None: unknown (the queue overflowed)."""
        found: Set[Key] = set()
        overflow = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return None if overflow else found
            offset = 0
            while offset + 16 <= len(data):
                wd, mask, _, length = struct.unpack_from("iIII", data, offset)
                offset += 16 + length
                overflow = overflow or bool(mask & self.OVERFLOW)
                if wd in self.dirs:
                    found.add(self.dirs[wd])

    def close(self) -> None:
        """Closing waits ~10 ms for the kernel (an SRCU grace period): one instance serves a whole
        repair, and the wait happens in a thread of its own (nothing else uses this fd)."""
        import threading

        fd, self.fd = self.fd, -1
        threading.Thread(target=os.close, args=(fd,), name="uv-user-inotify-close", daemon=True).start()
