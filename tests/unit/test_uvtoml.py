"""Merging uv-user's keys into /etc/uv/uv.toml without touching anyone else's."""

from __future__ import annotations

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from uv_user.uvtoml import MARKER, candidates, merge, spellings, top_level_keys

CERTS = [("system-certs", "native-tls")]
BOTH = {"system-certs": "true", "compile-bytecode": "true"}
CERTS_ONLY = {"system-certs": "true", "compile-bytecode": None}
NOTHING = {"system-certs": None, "compile-bytecode": None}

USER_FILE = """\
# Company defaults, do not remove
index-strategy = "unsafe-best-match"
python-preference = "only-system"

[[index]]
name = "corp"
url = "https://corp.example/simple"
default = true

[pip]
compile-bytecode = false
"""


def ours(key, value):
    return "{} = {}  {}".format(key, value, MARKER)


def test_empty_file_gets_only_our_wanted_lines():
    text, notes = merge("", CERTS_ONLY, CERTS)
    assert text == ours("system-certs", "true") + "\n"
    assert notes == []


def test_nothing_wanted_on_an_empty_file_stays_empty():
    assert merge("", NOTHING, CERTS) == ("", [])


def test_user_content_and_tables_stay_intact_and_ours_go_before_the_first_table():
    text, notes = merge(USER_FILE, BOTH, CERTS)
    lines = text.splitlines()
    assert text.endswith(USER_FILE)  # every user byte kept, in order
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    assert set(lines[:first_table]) >= {ours("system-certs", "true"), ours("compile-bytecode", "true")}
    assert [line for line in lines if line.endswith(MARKER)] == [ours("system-certs", "true"),
                                                                 ours("compile-bytecode", "true")]
    assert notes == []  # compile-bytecode inside [pip] is not a top-level setting


def test_our_lines_are_rewritten_when_an_option_changes():
    first, _ = merge(USER_FILE, BOTH, CERTS)
    second, _ = merge(first, {"system-certs": "false", "compile-bytecode": "true"}, CERTS)
    assert ours("system-certs", "false") in second.splitlines()
    assert ours("system-certs", "true") not in second
    assert second.endswith(USER_FILE)


def test_our_lines_are_removed_when_an_option_is_turned_off():
    first, _ = merge(USER_FILE, BOTH, CERTS)
    second, _ = merge(first, CERTS_ONLY, CERTS)
    assert "compile-bytecode = true" not in second
    assert second == ours("system-certs", "true") + "\n" + USER_FILE
    third, _ = merge(second, NOTHING, CERTS)
    assert third == USER_FILE


def test_a_marked_line_for_an_alias_is_ours_to_replace():
    # An older uv-user wrote native-tls; the new one owns the whole alias group.
    existing = ours("native-tls", "true") + "\n" + USER_FILE
    text, notes = merge(existing, CERTS_ONLY, CERTS)
    assert "native-tls" not in text
    assert text == ours("system-certs", "true") + "\n" + USER_FILE
    assert notes == []


def test_a_user_set_native_tls_stops_us_writing_system_certs_and_says_so():
    existing = "native-tls = false\n" + USER_FILE
    text, notes = merge(existing, CERTS_ONLY, CERTS)
    assert text == existing
    assert len(notes) == 1 and "native-tls" in notes[0] and "not by uv-user" in notes[0]


def test_a_user_set_alias_added_later_displaces_our_earlier_line():
    first, _ = merge(USER_FILE, CERTS_ONLY, CERTS)
    edited = first.replace("# Company defaults", "native-tls = false\n# Company defaults")
    text, notes = merge(edited, CERTS_ONLY, CERTS)
    assert "system-certs" not in text
    assert "native-tls = false" in text
    assert notes == ["kept native-tls = ... already set in uv.toml (not by uv-user)"]


def test_a_user_set_key_itself_is_left_alone():
    existing = "compile-bytecode = false\n"
    text, notes = merge(existing, BOTH, CERTS)
    assert text.splitlines() == [ours("system-certs", "true"), "compile-bytecode = false"]
    assert any("compile-bytecode" in n for n in notes)


def test_merge_is_idempotent_on_a_realistic_file():
    for wanted in (BOTH, CERTS_ONLY, NOTHING):
        once, _ = merge(USER_FILE, wanted, CERTS)
        assert merge(once, wanted, CERTS)[0] == once


def test_top_level_keys_stop_at_the_first_table_and_know_which_are_ours():
    first, _ = merge(USER_FILE, CERTS_ONLY, CERTS)
    assert top_level_keys(first) == {"system-certs": True, "index-strategy": False, "python-preference": False}


# ----------------------------------------------------------------------------- property

_LINE_POOL = [
    "", "# a comment", 'index-url = "https://corp.example/simple"', "native-tls = true", "system-certs = false",
    "compile-bytecode = true", ours("system-certs", "true"), ours("compile-bytecode", "true"),
    ours("native-tls", "true"), "[pip]", "[[index]]", 'url = "https://x.example/simple"', "  ", "offline = false",
]
_WANTED_VALUE = st.sampled_from([None, "true", "false"])


def _foreign_lines(text):
    """Non-blank lines that are not ours: everything in tables, and unmarked top-level lines."""
    kept, in_tables = [], False
    for line in text.splitlines():
        in_tables = in_tables or line.startswith("[")
        if line.strip() and (in_tables or not line.endswith(MARKER)):
            kept.append(line)
    return kept


def _mixed_ownership(lines):
    """True when a top-level setting (or its alias) is set both by the user and by a marked line."""
    head = lines[:next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))]
    groups = [{"system-certs", "native-tls"}, {"compile-bytecode"}]
    for group in groups:
        keys = [(line.split(" ")[0], line.endswith(MARKER)) for line in head if line.split(" ")[0] in group]
        if {marked for _, marked in keys} == {True, False}:
            return True
    return False


def _check_merge_properties(lines, certs, bytecode):
    existing = "\n".join(lines) + ("\n" if lines else "")
    wanted = {"system-certs": certs, "compile-bytecode": bytecode}
    once, _ = merge(existing, wanted, CERTS)
    assert merge(once, wanted, CERTS)[0] == once
    assert _foreign_lines(once) == _foreign_lines(existing)


@settings(deadline=None)
@given(st.lists(st.sampled_from(_LINE_POOL), max_size=12), _WANTED_VALUE, _WANTED_VALUE)
def test_merge_is_idempotent_and_keeps_every_line_that_is_not_ours(lines, certs, bytecode):
    assume(not _mixed_ownership(lines))
    _check_merge_properties(lines, certs, bytecode)


@settings(deadline=None)
@given(st.lists(st.sampled_from(_LINE_POOL), max_size=12), _WANTED_VALUE, _WANTED_VALUE)
@example(lines=["native-tls = true", ours("native-tls", "true")], certs="true", bytecode=None)
def test_merge_is_idempotent_even_when_user_and_marked_lines_share_a_setting(lines, certs, bytecode):
    _check_merge_properties(lines, certs, bytecode)


def test_a_user_line_above_our_line_of_the_same_key_wins():
    existing = "system-certs = false\n" + ours("system-certs", "true") + "\n"
    text, notes = merge(existing, CERTS_ONLY, CERTS)
    assert text == "system-certs = false\n"
    assert notes == ["kept system-certs = ... already set in uv.toml (not by uv-user)"]


# ----------------------------------------------------------------------------- one text per spelling


def test_candidates_spell_our_aliased_key_each_way_uv_has_named_it_current_first():
    texts, notes = candidates(USER_FILE, BOTH, CERTS)
    assert texts == [merge(USER_FILE, BOTH, CERTS)[0],
                     ours("native-tls", "true") + "\n" + ours("compile-bytecode", "true") + "\n" + USER_FILE]
    assert notes == []


def test_candidates_are_one_text_when_no_aliased_key_is_written():
    assert candidates(USER_FILE, {"system-certs": None, "compile-bytecode": "true"}, CERTS)[0] == [
        ours("compile-bytecode", "true") + "\n" + USER_FILE]
    text, notes = candidates("native-tls = false\n", CERTS_ONLY, CERTS)
    assert text == ["native-tls = false\n"] and len(notes) == 1  # the user's own spelling is theirs


def test_spellings_rename_only_keys_of_an_alias_group():
    assert spellings(BOTH, CERTS) == [BOTH, {"native-tls": "true", "compile-bytecode": "true"}]
    assert spellings({"compile-bytecode": "true"}, CERTS) == [{"compile-bytecode": "true"}]
