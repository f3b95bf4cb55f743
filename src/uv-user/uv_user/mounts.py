"""/proc/self/mountinfo, read one way for the doctor (what is mounted where) and the repair (what it must not cross)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for type checkers: importing it costs every start milliseconds
if TYPE_CHECKING:
    from typing import List, Optional

MOUNTINFO = "/proc/self/mountinfo"


class MountRow:
    """One line of mountinfo (proc(5)): ids, the filesystem's major:minor, where it is mounted, what it is.

    A plain class, not a dataclass: the repair reads the table at every start, and dataclasses costs
    more to import than the whole table does to read."""

    __slots__ = ("ident", "parent", "device", "mount_point", "fstype", "source")

    def __init__(self, ident: int, parent: int, device: str, mount_point: str, fstype: str, source: str) -> None:
        self.ident, self.parent = ident, parent
        self.device = device  # "major:minor" of the filesystem, as st_dev would show it
        self.mount_point, self.fstype, self.source = mount_point, fstype, source

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MountRow) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "MountRow({})".format(", ".join("{}={!r}".format(k, v) for k, v in zip(self.__slots__, self._fields())))


def unescape(field_text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    if "\\" not in field_text:
        return field_text
    import re  # rarely needed: not at every start

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def parse(text: str) -> List[MountRow]:
    """Mount point is field 5; fstype and source follow the " - " separator (optional fields come before it)."""
    rows = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 2 or not (fields[0].isdigit() and fields[1].isdigit()):
            continue
        rows.append(MountRow(int(fields[0]), int(fields[1]), fields[2], unescape(fields[4]), rest[0],
                             unescape(rest[1])))
    return rows


def read() -> Optional[str]:
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except OSError:
        return None


def same_device_below(rows: List[MountRow], mount_id: int) -> List[MountRow]:
    """The mounts below mount ``mount_id`` that show its own filesystem (bind mounts).

    Walking a tree on mount ``mount_id``, only a mount below it can be stepped onto, and one of
    another filesystem has another st_dev, which the walk refuses anyway. So only these need a
    walk to look out for; when there are none (the common case) it reads nothing per entry.
    Below means transitively: a bind mount stacked on a tmpfs inside the tree counts too.
    """
    device = next((row.device for row in rows if row.ident == mount_id), None)
    below, found, grew = {mount_id}, [], True
    while grew:
        grew = False
        for row in rows:
            if row.parent in below and row.ident not in below:
                below.add(row.ident)
                grew = True
                if row.device == device:
                    found.append(row)
    return found
