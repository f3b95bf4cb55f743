"""Showing names the dev user controls, safely, in one-line messages.

File names under /opt/uv-user, environment values and index pages come from
someone else. A newline in one would split a ``uv-user:`` line into a forged
second line; bytes that are not valid UTF-8 arrive as surrogate escapes
(``os.fsdecode``) and make ``print`` raise under a UTF-8 locale. Every message
that carries such a value passes it through :func:`shown` first.
"""

from __future__ import annotations

import os
from typing import Union

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(value: Union[str, bytes, "os.PathLike[str]"]) -> str:
    """``value`` as printable ASCII on one line: control characters, invalid UTF-8 and anything
    outside ASCII become backslash escapes (``\\n``, ``\\x1b``, ``\\xff``, ``\\xe9``, ``\\u2028``), so the
    line prints under any locale and reads back unambiguously."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    elif not isinstance(value, str):
        value = os.fspath(value)
        if isinstance(value, bytes):
            value = os.fsdecode(value)
    out = []
    for ch in value:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8 (surrogateescape)
            out.append("\\x{:02x}".format(code - 0xDC00))
        elif 32 <= code < 127:
            out.append(ch)
        elif code < 0x100:
            out.append("\\x{:02x}".format(code))
        elif code < 0x10000:
            out.append("\\u{:04x}".format(code))
        else:
            out.append("\\U{:08x}".format(code))
    return "".join(out)


def quoted(value: str) -> str:
    """``value`` escaped and in single quotes, as messages show option values: ``'a\\nb'``."""
    return "'" + shown(value).replace("'", "\\'") + "'"
