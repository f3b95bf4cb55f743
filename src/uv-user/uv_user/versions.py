"""The ``version`` option: what users may write and which uv release it selects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Tuple

from .errors import UvUserError
from .text import quoted

Release = Tuple[int, ...]

_NUMBER = r"(0|[1-9][0-9]{0,5})"
_EXACT = re.compile(r"^{n}\.{n}\.{n}$".format(n=_NUMBER))
_MINOR = re.compile(r"^{n}\.{n}(\.\*)?$".format(n=_NUMBER))
# Release versions as uv publishes them; pre-releases and local versions never match. Components
# are bounded: an index may list "1.<5000 digits>", which int() refuses past 4300 digits (and which
# no uv release will ever be); nine digits keep int() cheap and every real version readable.
_RELEASE = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){1,3}")


@dataclass(frozen=True)
class VersionSpec:
    """``kind`` is one of latest, exact, minor, none; ``release`` is set for exact/minor."""

    kind: str
    release: Release = ()

    def describe(self) -> str:
        if self.kind in ("exact", "minor"):
            return ".".join(map(str, self.release)) + (".*" if self.kind == "minor" else "")
        return self.kind


def parse_spec(raw: str) -> VersionSpec:
    """Parse the option: latest, none, X.Y or X.Y.Z, as the README and the JSON list them, and no other
    spelling (uv publishes no channel an alias could name). Anything else is refused before anything happens."""
    value = raw.strip()
    if value.lower() == "latest":
        return VersionSpec("latest")
    if value.lower() == "none":
        return VersionSpec("none")
    for kind, pattern in (("exact", _EXACT), ("minor", _MINOR)):
        if pattern.match(value):
            return VersionSpec(kind, tuple(int(p) for p in value.split(".") if p != "*"))
    raise UvUserError("version {} is not valid".format(quoted(raw)),
                      "use latest, none, X.Y (newest patch) or X.Y.Z, e.g. 0.9.5")


def parse_release(text: str) -> Optional[Release]:
    """A final release as a comparable tuple; None for pre-releases, absurd numbers and other forms."""
    return tuple(int(p) for p in text.split(".")) if _RELEASE.fullmatch(text) else None


def format_release(release: Release) -> str:
    return ".".join(str(p) for p in release)


def matches(spec: VersionSpec, release: Release) -> bool:
    if spec.kind == "latest":
        return True
    if spec.kind == "exact":
        return release == spec.release or release == spec.release + (0,)
    if spec.kind == "minor":
        return release[:2] == spec.release
    return False


def choose(spec: VersionSpec, available: Iterable[str]) -> str:
    """The newest available release the spec admits, or an error naming what exists."""
    releases = sorted({r for r in map(parse_release, available) if r is not None})
    fitting = [r for r in releases if matches(spec, r)]
    if fitting:
        return format_release(fitting[-1])
    newest = format_release(releases[-1]) if releases else "none"
    raise UvUserError("uv version {} is not on the index (newest there: {})".format(spec.describe(), newest),
                      "pick a published version or check indexUrl")
