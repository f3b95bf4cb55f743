"""Which uv wheel fits this machine, from wheel file names alone (PEP 425/600/656)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from .errors import UvUserError
from .text import shown

# uname -m spellings folded onto the names wheel platform tags use.
_ARCH_ALIASES = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "arm64": "aarch64",
    "armv8l": "armv7l",
    "i386": "i686",
    "i586": "i686",
}
_MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_OTHER_LIBC = {"glibc": "musllinux", "musl": "manylinux"}
# libc versions of at most nine digits: int() refuses thousands, and no libc is numbered like that.
_LINUX_TAG = re.compile(r"(manylinux|musllinux)_([0-9]{1,9})_([0-9]{1,9})_(.+)")
# What PEP 427 wheel names are made of (names, versions incl. local "+" and epoch "!", tags). Anything
# else (a path separator, a newline or escape that would forge a line in the plan) is not a wheel.
_WHEEL_NAME = re.compile(r"[A-Za-z0-9_.+!-]+\.whl")


@dataclass(frozen=True)
class Platform:
    """The facts about the image that decide the wheel: CPU, C library and its version."""

    arch: str
    libc: str  # "glibc" or "musl"
    libc_version: Tuple[int, int]

    def describe(self) -> str:
        return "{} {} {}.{}".format(self.arch, self.libc, *self.libc_version)


@dataclass(frozen=True)
class WheelFile:
    filename: str
    url: str
    sha256: str
    yanked: bool = False


def normalize_arch(machine: str) -> str:
    machine = machine.strip().lower()
    return _ARCH_ALIASES.get(machine, machine)


def parse_wheel_name(filename: str) -> Optional[Tuple[str, str, List[str]]]:
    """(project, version, platform tags) for a wheel file name, None for anything else."""
    if not isinstance(filename, str) or not _WHEEL_NAME.fullmatch(filename):
        return None  # a file name from the index, never a path
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        return None
    return parts[0], parts[1], parts[-1].split(".")


def tag_requirement(tag: str) -> Optional[Tuple[str, Tuple[int, int], str]]:
    """(libc, minimum libc version, arch) a Linux platform tag needs; None if not Linux."""
    for legacy, version in _MANYLINUX_LEGACY.items():
        if tag.startswith(legacy + "_"):
            return "glibc", version, tag[len(legacy) + 1:]
    match = _LINUX_TAG.fullmatch(tag)
    if not match:
        return None
    family, major, minor, arch = match.groups()
    return ("glibc" if family == "manylinux" else "musl"), (int(major), int(minor)), arch


def tag_fits(tag: str, platform: Platform) -> Optional[Tuple[int, int]]:
    """The libc version a fitting tag asks for (higher is more specific), None if it does not fit."""
    need = tag_requirement(tag)
    if need is None:
        return None
    libc, version, arch = need
    if libc != platform.libc or arch != platform.arch or version > platform.libc_version:
        return None
    return version


def select(files: Iterable[WheelFile], version: str, platform: Platform) -> WheelFile:
    """The best uv wheel of ``version`` for ``platform``: fitting, not yanked, most specific tag."""
    best: Optional[Tuple[Tuple[Tuple[int, int], bool], WheelFile]] = None
    seen: List[str] = []
    for wheel in files:
        parsed = parse_wheel_name(wheel.filename)
        if parsed is None or parsed[0] != "uv" or parsed[1] != version or wheel.yanked:
            continue
        seen.append(wheel.filename)
        fits = [v for v in (tag_fits(t, platform) for t in parsed[2]) if v is not None]
        if not fits:
            continue
        # Most specific libc first; on a tie prefer the wheel built only for this libc.
        rank = (max(fits), not any(t.startswith(_OTHER_LIBC[platform.libc]) for t in parsed[2]))
        if best is None or rank > best[0]:
            best = (rank, wheel)
    if best is None:
        # The way out follows a full stop, not "; ": it stays inside ``what`` (fix ""), the text unchanged.
        raise UvUserError(
            "no uv {} wheel fits this image ({}); {} wheel(s) for that version were on the index: {}. "
            "Use an image with a supported platform or set version to one that ships it".format(
                shown(version), shown(platform.describe()), len(seen), _short(seen)))
    return best[1]


def _short(names: Sequence[str], limit: int = 4) -> str:
    listed = ", ".join(shown(name) for name in names[:limit])
    return listed + (", ..." if len(names) > limit else "") if names else "none"
