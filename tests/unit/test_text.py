"""shown(): names the dev user controls never split a message line or crash print()."""

from __future__ import annotations

import os

import pytest

from uv_user.text import shown


@pytest.mark.parametrize("raw, expected", [
    ("plain/path-1.0", "plain/path-1.0"),
    ("two\nlines", "two\\nlines"),
    ("cr\rtab\t", "cr\\rtab\\t"),
    ("back\\slash", "back\\\\slash"),
    ("esc\x1b[31m", "esc\\x1b[31m"),
    ("caf\u00e9", "caf\\xe9"),
    ("sep\u2028", "sep\\u2028"),
    ("emoji\U0001F600", "emoji\\U0001f600"),
    (os.fsdecode(b"bad\xff\xfe"), "bad\\xff\\xfe"),
    (b"bytes\xff", "bytes\\xff"),
])
def test_shown_escapes(raw: object, expected: str) -> None:
    assert shown(raw) == expected  # type: ignore[arg-type]


def test_shown_is_ascii_and_one_line_for_every_byte() -> None:
    every = os.fsdecode(bytes(range(1, 256)))
    out = shown(every)
    out.encode("ascii")
    assert "\n" not in out and "\r" not in out
