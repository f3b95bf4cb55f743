"""The repair's status file (paths.REPAIR_STATE): what the last repair did, or is still doing.

Why it exists: the start-time repair is bounded (the start is never held), and what it has
not done by then continues in a detached process whose output nobody sees. The doctor
reads this file to say that a repair is still running in the background, or stopped before
it finished, and what to do.

Why it is written this way: root writes it, so it lives in a root-owned directory
(/var/lib/uv-user, 0755), never under the user's tree, and is written without following
links: the directory is opened O_NOFOLLOW and must be root's and writable by root alone, the
new content goes to a temp file created O_EXCL|O_NOFOLLOW in it, then replaces the file by
rename (which replaces a planted link rather than writing through it). Writing it never
fails a repair; reading it never fails the doctor.

Format (JSON object, version 1): state ("running" | "continuing" | "complete" |
"incomplete" | "failed"), pid, background_pid, started and finished (Unix times; finished
is null until then), background (true in the detached continuation), user, uid, gid, root,
deadline_seconds, scanned, mismatched, changed, refused, raced, error_count, errors (the
first few lines, escaped), skipped_mounts (how many), seconds. It is written by dumps(), not
the json module, which a start would pay milliseconds to import.

Beside it, ``repair.lock`` (0600, root's): a repair holds it (flock) from the first directory it
re-owns to its end, so that repairs take turns (repair.py: "Locked directories"). Only root can
open it, so the dev user can neither hold it nor plant another in its place.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # typing is for type checkers: importing it costs every start milliseconds
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple

VERSION = 1
ERRORS_KEPT = 5
RUNNING = ("running", "continuing")


def _root_dir(directory: str) -> Tuple[int, str]:
    """An fd of ``directory`` (made 0755 if missing), never through a link, when it is root's alone;
    else -1 and why not."""
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        return -1, "{}: {}".format(directory, exc.strerror or exc)
    try:
        st = os.fstat(dir_fd)
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            os.close(dir_fd)
            return -1, "{} is not root's alone (owner {}, mode {:o})".format(directory, st.st_uid,
                                                                             stat.S_IMODE(st.st_mode))
        if stat.S_IMODE(st.st_mode) != 0o755:
            os.fchmod(dir_fd, 0o755)  # others may read it: the doctor runs as the dev user
    except OSError as exc:
        os.close(dir_fd)
        return -1, "{}: {}".format(directory, exc.strerror or exc)
    return dir_fd, ""


def write(path: str, state: Dict[str, object]) -> str:
    """Replace the status file with ``state``; returns "" or why it could not (never raises)."""
    directory, name = os.path.split(path)
    dir_fd, why = _root_dir(directory)
    if dir_fd < 0:
        return why
    temp = ".{}.{}.tmp".format(name, os.getpid())
    try:
        data = dumps(dict(state, version=VERSION)).encode() + b"\n"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                     dir_fd=dir_fd)
        try:
            os.fchmod(fd, 0o644)
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return ""
    except OSError as exc:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
        return "{}: {}".format(path, exc.strerror or exc)
    finally:
        os.close(dir_fd)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def dumps(value: object) -> str:
    """``json.dumps(value, sort_keys=True)`` for the plain values a status holds, without the json
    module: it imports re, and the two cost a start milliseconds (a test holds the two equal)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch) or (ch if " " <= ch <= "~" else _unicode(ch)) for ch in value) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("status keys are strings")
        return "{" + ", ".join(dumps(key) + ": " + dumps(value[key]) for key in sorted(value)) + "}"
    raise TypeError("a status holds no {}".format(type(value).__name__))


def _unicode(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:  # a surrogate pair, as json.dumps writes it
        code -= 0x10000
        return "\\u{:04x}\\u{:04x}".format(0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF))
    return "\\u{:04x}".format(code)


def lock(path: str) -> int:
    """An fd of the repairs' lock file ``path`` (created 0600 in a directory root's alone, so the dev
    user can neither hold it nor plant it), or -1 when it cannot be had that way. Never raises."""
    directory, name = os.path.split(path)
    dir_fd, _ = _root_dir(directory)
    if dir_fd < 0:
        return -1
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError:
        return -1
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_uid == 0:
            if stat.S_IMODE(st.st_mode) != 0o600:
                os.fchmod(fd, 0o600)
            return fd
    except OSError:
        pass
    os.close(fd)
    return -1


def read(path: str) -> Optional[Dict[str, object]]:
    """The last state written, or None when there is none (or it is unreadable)."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == VERSION else None


def alive(pid: object) -> bool:
    """Whether ``pid`` is still a uv-user repair (a reused pid running something else is not)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # root's process, asked by the dev user: it exists
    except OSError:
        return False
    try:
        with open("/proc/{}/stat".format(pid), "rb") as handle:
            if handle.read().rpartition(b")")[2].split()[:1] in ([b"Z"], [b"X"]):
                return False  # exited (killed before it finished), not reaped: PID 1 may never reap it
        with open("/proc/{}/cmdline".format(pid), "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return True  # it exists; /proc cannot say more
    # Empty while a process is between exec and its first instruction: it exists.
    return not cmdline or b"repair" in cmdline


def running_pid(state: Optional[Dict[str, object]]) -> int:
    """The pid of the repair the state says is under way (0: none)."""
    if not state or state.get("state") not in RUNNING:
        return 0
    pid = state.get("background_pid") or state.get("pid")
    return pid if isinstance(pid, int) else 0
