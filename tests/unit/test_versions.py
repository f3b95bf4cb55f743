"""The ``version`` option: what is accepted, what is refused, which release it selects."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from uv_user.errors import UvUserError
from uv_user.versions import VersionSpec, choose, parse_spec

# ----------------------------------------------------------------------------- parse_spec


@pytest.mark.parametrize("raw, expected", [
    ("latest", VersionSpec("latest")),
    ("none", VersionSpec("none")),
    ("0.13", VersionSpec("minor", (0, 13))),
    ("0.13.9", VersionSpec("exact", (0, 13, 9))),
    ("10.0.0", VersionSpec("exact", (10, 0, 0))),
    ("  0.13.9\n", VersionSpec("exact", (0, 13, 9))),
    ("\tlatest ", VersionSpec("latest")),
    (" none", VersionSpec("none")),
    ("LATEST", VersionSpec("latest")),
])
def test_parse_spec_accepts_documented_forms(raw, expected):
    assert parse_spec(raw) == expected


@pytest.mark.parametrize("raw", [
    "9.9.bogus", "latest; rm -rf /", "$(id)", "", "   ", "1.2.3.4", "01.2.3", "v1.2.3", "1", "1.2.", "0.13.x",
    "1.2.3rc1", ">=0.13", "0.13.9\n0.13.8", "`id`",
    "lts", "stable",  # once undocumented spellings of latest: uv has no LTS or stable channel to promise
])
def test_parse_spec_refuses_anything_else_with_one_named_line(raw):
    with pytest.raises(UvUserError) as caught:
        parse_spec(raw)
    line = caught.value.line()
    assert line.startswith("uv-user: ")
    assert repr(raw) in line
    assert "\n" not in line.replace(repr(raw), "")
    assert line.endswith("(nothing was changed)")


# ----------------------------------------------------------------------------- choose

AVAILABLE = ["0.12.0", "0.13.0", "0.13.9", "0.13.10", "0.14.0a1", "0.14.0rc1", "0.5.0a1", "0.5.0rc1",
             "0.4.30", "0.14.0.dev1", "0.13.11+local"]


def test_choose_latest_ignores_pre_releases_and_compares_numerically():
    assert choose(parse_spec("latest"), AVAILABLE) == "0.13.10"


def test_choose_minor_picks_newest_patch():
    assert choose(parse_spec("0.13"), AVAILABLE) == "0.13.10"
    assert choose(parse_spec("0.12"), AVAILABLE) == "0.12.0"


def test_choose_exact_picks_that_release_even_when_newer_exist():
    assert choose(parse_spec("0.13.9"), AVAILABLE) == "0.13.9"


def test_choose_never_selects_a_pre_release_even_when_it_is_all_there_is_for_the_minor():
    with pytest.raises(UvUserError) as caught:
        choose(parse_spec("0.5"), AVAILABLE)
    message = caught.value.line()
    assert message.startswith("uv-user: ")
    assert "0.5.*" in message
    assert "newest there: 0.13.10" in message


def test_choose_missing_exact_names_the_newest_available():
    with pytest.raises(UvUserError, match=r"uv version 9\.9\.9 is not on the index \(newest there: 0\.13\.10\)"):
        choose(parse_spec("9.9.9"), AVAILABLE)


def test_choose_from_an_empty_index_says_none():
    with pytest.raises(UvUserError, match=r"newest there: none"):
        choose(parse_spec("latest"), ["0.1.0rc1"])


# ----------------------------------------------------------------------------- properties

_number = st.integers(min_value=0, max_value=999999)
_space = st.sampled_from(["", " ", "\t", "\n", "  \t"])
_keyword = st.sampled_from(["latest", "none", "Latest", "NONE"])
_numeric = st.lists(_number, min_size=2, max_size=3).map(lambda parts: ".".join(map(str, parts)))
valid_specs = st.builds(lambda a, body, b: a + body + b, _space, st.one_of(_keyword, _numeric), _space)


def canonical(raw: str) -> str:
    """What describe() must print for an accepted raw value, derived without the module."""
    value = raw.strip().lower()
    if value in ("latest", "none"):
        return value
    numbers = ".".join(str(int(p)) for p in value.split("."))
    return numbers + (".*" if value.count(".") == 1 else "")


@settings(deadline=None)
@given(valid_specs)
def test_accepted_specs_describe_canonically_and_reparse_to_the_same_spec(raw):
    spec = parse_spec(raw)
    described = spec.describe()
    assert described == canonical(raw)
    # A minor spec is shown as X.Y.*; without the wildcard it is the value that selects it.
    reparsed = parse_spec(described[:-2] if described.endswith(".*") else described)
    assert reparsed == spec


@settings(deadline=None)
@given(valid_specs)
@example("0.13")
def test_describe_output_is_itself_an_accepted_version_option(raw):
    spec = parse_spec(raw)
    assert parse_spec(spec.describe()) == spec


@settings(deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[0-9v.$();a-z ]{0,12}", fullmatch=True)))
@example("latest; rm -rf /")
@example("\x00")
def test_junk_is_either_a_spec_or_a_uv_user_error(raw):
    try:
        spec = parse_spec(raw)
    except UvUserError as exc:
        assert exc.line().startswith("uv-user: version ")
        return
    # Whatever is accepted can only ever be a keyword or plain dotted digits: nothing a shell cares about.
    assert re.fullmatch(r"latest|none|[0-9]+(\.[0-9]+){1,2}(\.\*)?", spec.describe())


# ----------------------------------------------------------------------------- absurd numbers

HUGE = "9" * 5000  # past Python's int-conversion limit (4300 digits): int() raises ValueError


@pytest.mark.parametrize("raw", ["1." + HUGE, HUGE + ".0.0", "0.13." + HUGE, "1234567.0"])
def test_a_version_option_with_an_absurd_number_is_one_line(raw):
    with pytest.raises(UvUserError) as caught:
        parse_spec(raw)
    assert caught.value.line().startswith("uv-user: version ")


@pytest.mark.parametrize("available", [
    ["0.13.9", "1." + HUGE],
    ["0.13.9", HUGE + ".0.0", "0." + HUGE + ".1"],
    ["0.13.9", "1234567890.0.0"],  # ten digits: no uv release is numbered like that
    ["0.13.9", "1.2.3\n"],
])
def test_index_versions_with_absurd_numbers_are_ignored(available):
    assert choose(parse_spec("latest"), available) == "0.13.9"


def test_release_components_of_up_to_nine_digits_still_count():
    assert choose(parse_spec("latest"), ["0.13.9", "0.999999999.0"]) == "0.999999999.0"
