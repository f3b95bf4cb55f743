"""UvUserError as data: what failed, the fix, a code to branch on; one line for the user."""

from __future__ import annotations

import pytest

from uv_user.errors import PYTHON3_INSTALLED, UvUserError


def test_what_and_fix_make_the_message_and_the_line(monkeypatch):
    monkeypatch.delenv(PYTHON3_INSTALLED, raising=False)
    exc = UvUserError("version 'x' is not valid", "use latest")
    assert (exc.what, exc.fix, exc.code) == ("version 'x' is not valid", "use latest", "")
    assert str(exc) == "version 'x' is not valid; use latest"
    assert exc.line() == "uv-user: version 'x' is not valid; use latest (nothing was changed)"


def test_a_message_whose_way_out_is_part_of_what_has_no_fix():
    exc = UvUserError("refusing to repair ownership of /usr: it is a system directory")
    assert (str(exc), exc.fix) == ("refusing to repair ownership of /usr: it is a system directory", "")


def test_a_code_is_data_beside_the_words():
    assert UvUserError("indexUrl 'http://x' is plain HTTP", "use https://", code="plain-http").code == "plain-http"


@pytest.mark.parametrize("installed, suffix", [
    ("", " (nothing was changed)"),
    ("1", " (only python3 was installed, by the package manager; nothing else was changed)"),
])
def test_the_line_says_nothing_was_changed_until_something_was(monkeypatch, installed, suffix):
    monkeypatch.setenv(PYTHON3_INSTALLED, installed)
    exc = UvUserError("what", "fix")
    assert exc.line() == "uv-user: what; fix" + suffix
    exc.changed = True
    assert exc.line() == "uv-user: what; fix"
