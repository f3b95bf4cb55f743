"""Reading simple-index pages (PEP 691 JSON, PEP 503 HTML) and vetting indexUrl."""

from __future__ import annotations

import json

import pytest

from uv_user.errors import UvUserError
from uv_user import net
from uv_user.index import SHELL_TEXT, parse_html, parse_json, project_url, validate_index_url
from uv_user.text import quoted

PAGE = "https://mirror.example/simple/uv/"
X86 = "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
MUSL = "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl"
OLD = "uv-0.13.8-py3-none-musllinux_1_1_x86_64.whl"
SHA_A = "a" * 64
SHA_B = "B" * 64


def json_page(files, versions=None):
    data = {"meta": {"api-version": "1.1"}, "name": "uv", "files": files}
    if versions is not None:
        data["versions"] = versions
    return json.dumps(data)


# ----------------------------------------------------------------------------- PEP 691 JSON


def test_parse_json_keeps_absolute_urls_and_resolves_relative_ones_against_the_page():
    text = json_page([
        {"filename": X86, "url": "https://files.example/packages/ab/" + X86, "hashes": {"sha256": SHA_A}},
        {"filename": MUSL, "url": "../../packages/ab/" + MUSL, "hashes": {"sha256": SHA_B}},
        {"filename": OLD, "url": "/packages/cd/" + OLD, "hashes": {"sha256": SHA_A}},
    ])
    files, _ = parse_json(text, PAGE)
    assert [f.url for f in files] == [
        "https://files.example/packages/ab/" + X86,
        "https://mirror.example/packages/ab/" + MUSL,
        "https://mirror.example/packages/cd/" + OLD,
    ]
    assert [f.filename for f in files] == [X86, MUSL, OLD]


def test_parse_json_versions_are_the_pep700_list_plus_those_in_uv_wheel_names():
    text = json_page(
        [{"filename": OLD, "url": OLD, "hashes": {}},
         {"filename": "uv-0.14.0.tar.gz", "url": "uv-0.14.0.tar.gz", "hashes": {}},
         {"filename": "uvx-0.99.0-py3-none-any.whl", "url": "x.whl", "hashes": {}}],
        versions=["0.12.0", "0.13.9", 7],
    )
    _, versions = parse_json(text, PAGE)
    assert versions == {"0.12.0", "0.13.9", "0.13.8"}


def test_parse_json_without_pep700_versions_uses_file_names_only():
    _, versions = parse_json(json_page([{"filename": X86, "url": X86}]), PAGE)
    assert versions == {"0.13.9"}


@pytest.mark.parametrize("hashes, expected", [
    ({"sha256": SHA_A}, SHA_A),
    ({"sha256": SHA_B, "md5": "0" * 32}, SHA_B),
    ({"md5": "0" * 32}, ""),
    ({"sha256": "abc"}, ""),
    ({"sha256": "g" * 64}, ""),
    ({"sha256": 123}, ""),
    ({}, ""),
    (None, ""),
    ("sha256=" + SHA_A, ""),
])
def test_parse_json_takes_only_a_well_formed_sha256(hashes, expected):
    files, _ = parse_json(json_page([{"filename": X86, "url": X86, "hashes": hashes}]), PAGE)
    assert files[0].sha256 == expected


@pytest.mark.parametrize("yanked, expected", [
    (True, True), ("broken build", True), (False, False), (None, False),
])
def test_parse_json_reads_yanked_as_flag_or_reason(yanked, expected):
    entry = {"filename": X86, "url": X86, "hashes": {"sha256": SHA_A}, "yanked": yanked}
    files, _ = parse_json(json_page([entry]), PAGE)
    assert files[0].yanked is expected


def test_parse_json_skips_entries_without_a_url():
    text = json_page([{"filename": X86}, "junk", {"filename": MUSL, "url": MUSL, "hashes": {"sha256": SHA_A}}])
    files, _ = parse_json(text, PAGE)
    assert [f.filename for f in files] == [MUSL]


@pytest.mark.parametrize("text", ["", "not json", "<html></html>", "[]", "null", '{"meta": {}}', '{"files": '])
def test_parse_json_refuses_a_malformed_page_naming_it(text):
    with pytest.raises(UvUserError) as caught:
        parse_json(text, PAGE)
    assert caught.value.line().startswith("uv-user: " + PAGE + " is not a valid PEP 691 JSON page")


# ----------------------------------------------------------------------------- PEP 503 HTML

HTML = """<!DOCTYPE html>
<html><head><title>Links for uv</title></head><body>
<a href="../../packages/ab/{x86}#sha256={a}">{x86}</a><br/>
<a href="https://files.example/{musl}#sha256={b}" data-requires-python="&gt;=3.8">{musl}</a>
<a href="/packages/{old}#sha256={a}" data-yanked="">{old}</a>
<a href="/packages/uv-0.13.7-py3-none-musllinux_1_1_x86_64.whl">no hash</a>
<a href="/packages/uv-0.13.6-py3-none-musllinux_1_1_x86_64.whl#md5=00112233445566778899aabbccddeeff">md5</a>
<a href="/packages/uv-0.13.5.tar.gz#sha256={a}">sdist</a>
<a>no href</a>
</body></html>
""".format(x86=X86, musl=MUSL, old=OLD, a=SHA_A, b=SHA_B)


def test_parse_html_resolves_relative_hrefs_and_reads_sha256_fragments():
    files, _ = parse_html(HTML, PAGE)
    by_name = {f.filename: f for f in files}
    assert by_name[X86].url == "https://mirror.example/packages/ab/" + X86
    assert by_name[X86].sha256 == SHA_A
    assert by_name[MUSL].url == "https://files.example/" + MUSL
    assert by_name[MUSL].sha256 == SHA_B
    assert by_name[OLD].url == "https://mirror.example/packages/" + OLD
    assert "#" not in "".join(f.url for f in files)


def test_parse_html_marks_data_yanked_links_as_yanked():
    files, _ = parse_html(HTML, PAGE)
    assert {f.filename for f in files if f.yanked} == {OLD}


def test_parse_html_without_a_sha256_fragment_has_an_empty_hash():
    files, _ = parse_html(HTML, PAGE)
    by_name = {f.filename: f for f in files}
    assert by_name["uv-0.13.7-py3-none-musllinux_1_1_x86_64.whl"].sha256 == ""
    assert by_name["uv-0.13.6-py3-none-musllinux_1_1_x86_64.whl"].sha256 == ""


def test_parse_html_versions_come_from_uv_wheel_names_only():
    _, versions = parse_html(HTML, PAGE)
    assert versions == {"0.13.9", "0.13.8", "0.13.7", "0.13.6"}


def test_parse_html_resolves_links_against_base_href():
    page = '<html><head><base href="https://cdn.example/root/sub/"></head><body>' \
           '<a href="../files/{x}#sha256={a}">x</a><a href="{m}">m</a></body></html>'.format(x=X86, m=MUSL, a=SHA_A)
    files, _ = parse_html(page, PAGE)
    assert [f.url for f in files] == ["https://cdn.example/root/files/" + X86, "https://cdn.example/root/sub/" + MUSL]


def test_parse_html_resolves_a_relative_base_href_against_the_page():
    page = '<base href="../mirror/"><a href="{x}">x</a>'.format(x=X86)
    files, _ = parse_html(page, PAGE)
    assert files[0].url == "https://mirror.example/simple/mirror/" + X86


def test_parse_html_unquotes_percent_encoded_file_names():
    page = '<a href="/p/uv%2D0.13.9%2Dpy3-none-musllinux_1_1_x86_64.whl#sha256={a}">x</a>'.format(a=SHA_A)
    files, versions = parse_html(page, PAGE)
    assert files[0].filename == MUSL
    assert versions == {"0.13.9"}


# ----------------------------------------------------------------------------- indexUrl


@pytest.mark.parametrize("raw, expected", [
    ("https://pypi.org/simple", "https://pypi.org/simple"),
    ("https://pypi.org/simple/", "https://pypi.org/simple"),
    ("  https://mirror.example/pypi/simple/  ", "https://mirror.example/pypi/simple"),
    ("http://127.0.0.1:8080/simple", "http://127.0.0.1:8080/simple"),
    ("http://localhost", "http://localhost"),
    ("http://localhost:3141/root/pypi/+simple/", "http://localhost:3141/root/pypi/+simple"),
    ("http://[::1]:8080/simple", "http://[::1]:8080/simple"),
])
def test_validate_index_url_accepts_https_and_loopback_http(raw, expected):
    assert validate_index_url(raw) == expected


@pytest.mark.parametrize("raw", [
    "http://example.com/simple",
    "http://pypi.org/simple",
    "ftp://x",
    "",
    "   ",
    "pypi.org/simple",
    "https://",
    "https://x/simple; rm -rf /",
    "https://x/$(id)/simple",
    "https://x/`id`",
    "https://x/simple'",
    "file:///etc/passwd",
])
def test_validate_index_url_refuses_non_https_and_shell_text_naming_it(raw):
    with pytest.raises(UvUserError) as caught:
        validate_index_url(raw)
    line = caught.value.line()
    assert line.startswith("uv-user: indexUrl ")
    assert quoted(raw) in line


@pytest.mark.parametrize("raw", ["http://127.0.0.1.nip.example/simple", "http://127.attacker.example/simple"])
def test_validate_index_url_refuses_plain_http_to_dns_names_that_merely_start_with_127(raw):
    with pytest.raises(UvUserError):
        validate_index_url(raw)


@pytest.mark.parametrize("raw, code", [
    ("http://example.com/simple", net.PLAIN_HTTP),
    ("https://alice:pw@mirror.example/simple", net.CREDENTIALS),
    ("ftp://x", net.NOT_HTTP),
    ("", net.NOT_HTTP),
    ("https://x/$(id)/simple", SHELL_TEXT),
    ("http://[::1/simple", net.INVALID_URL),
    ("https://mirror.example/sim ple", net.CONTROL_CHARACTERS),
    ("http://127.0.0.1:0/simple", net.PORT_ZERO),
    ("https://a..b/simple", net.BAD_HOST),
])
def test_validate_index_url_says_which_kind_of_refusal_as_a_code(raw, code):
    """Callers branch on the code, never on the words (which say the same in a sentence)."""
    with pytest.raises(UvUserError) as caught:
        validate_index_url(raw)
    assert caught.value.code == code
    problem = net.url_problem(raw.strip())  # the fetch rules, as data: the same kind, or none but the shell text
    assert (problem.code if problem else SHELL_TEXT) == code


def test_project_url_appends_the_uv_project_once():
    assert project_url("https://pypi.org/simple") == "https://pypi.org/simple/uv/"
    assert project_url("https://pypi.org/simple/") == "https://pypi.org/simple/uv/"


# ----------------------------------------------------------------------------- hostile pages

HUGE = "9" * 5000  # past Python's int-conversion limit (4300 digits): int() raises ValueError


@pytest.mark.parametrize("entry", [
    {"filename": 5, "url": X86},
    {"filename": [X86], "url": X86},
    {"filename": X86, "url": "http://[::1/" + X86},  # urljoin raises "Invalid IPv6 URL"
])
def test_parse_json_skips_entries_it_cannot_read(entry):
    good = {"filename": MUSL, "url": MUSL, "hashes": {"sha256": SHA_A}}
    files, versions = parse_json(json_page([entry, good]), PAGE)
    assert [f.filename for f in files] == [MUSL]
    assert versions == {"0.13.9"}


def test_parse_json_reads_a_page_with_an_absurd_number_as_if_it_were_absent():
    text = '{"files": [{"filename": "%s", "url": "%s", "size": 1%s}], "versions": [1%s, "0.13.9"]}' % (
        MUSL, MUSL, HUGE, HUGE)
    files, versions = parse_json(text, PAGE)
    assert [f.filename for f in files] == [MUSL]
    assert versions == {"0.13.9"}


def test_parse_json_refuses_a_page_nested_too_deep_for_the_parser():
    with pytest.raises(UvUserError, match="is not a valid PEP 691 JSON page"):
        parse_json('{"files": ' + "[" * 100000 + "]" * 100000 + "}", PAGE)


def test_parse_json_takes_no_sha256_with_a_trailing_newline():
    files, _ = parse_json(json_page([{"filename": X86, "url": X86, "hashes": {"sha256": SHA_A + "\n"}}]), PAGE)
    assert files[0].sha256 == ""


def test_parse_html_skips_a_link_it_cannot_read():
    page = '<a href="http://[::1/{x}">x</a><a href="{m}#sha256={a}">m</a>'.format(x=X86, m=MUSL, a=SHA_A)
    files, _ = parse_html(page, PAGE)
    assert [f.filename for f in files] == [MUSL]


@pytest.mark.parametrize("ref", ["&#" + HUGE + ";", "&#" + HUGE, "&#000000000065;"])
def test_parse_html_reads_an_absurd_character_reference_as_a_replacement_character(ref):
    page = '<a href="{m}#sha256={a}" title="{r}">{r}</a>'.format(m=MUSL, a=SHA_A, r=ref)
    files, versions = parse_html(page, PAGE)
    assert [f.filename for f in files] == [MUSL]
    assert versions == {"0.13.9"}
