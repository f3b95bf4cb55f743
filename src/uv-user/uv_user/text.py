"""Showing names the dev user controls, safely, in one-line messages.

File names under /opt/uv-user, environment values and index pages come from
someone else. A newline in one would split a ``uv-user:`` line into a forged
second line; bytes that are not valid UTF-8 arrive as surrogate escapes
(``os.fsdecode``) and make ``print`` raise under a UTF-8 locale. Every message
that carries such a value passes it through :func:`shown` (or :func:`quoted`)
first; :func:`one_line` is the last line of defence for a whole message.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is for type checkers: importing it costs every start milliseconds
if TYPE_CHECKING:
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
    return _escaped(value, _ESCAPES)


def quoted(value: Union[str, bytes, "os.PathLike[str]"]) -> str:
    """``shown(value)`` in single quotes, for an option or variable value (where spaces matter)."""
    return "'" + shown(value).replace("'", "\\'") + "'"


def one_line(message: str) -> str:
    """``message`` with everything :func:`shown` escapes escaped, except backslashes: the values in
    it went through shown() already and must not be escaped twice. Whatever a message carries, it
    then prints as one line that controls nothing."""
    return _escaped(message, {"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _escaped(value: str, escapes: dict) -> str:
    out = []
    for ch in value:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
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
