"""Hardening without Docker: hostile option values, hostile index pages, hostile trees under repair.

What a user types, what an index serves and what the (non-root) user plants in the tree it owns
must each end in one ``uv-user:`` line or a correct tree: never a traceback, never a write outside
uv-user's own files, never a re-owned file that is not uv-user's. The same cases in real
containers are in tests/integration/test_hardening.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from uv_user import apply, facts, index, net, options, paths, plan, repair, status, users, wheels
from uv_user import versions as versions_mod
from harness.common import run
from harness.devcontainer import chown_tree
from uv_user.errors import UvUserError
from uv_user.index import fetch_project, validate_index_url
from uv_user.net import Fetcher, url_problem

FEATURE_DIR = Path(__file__).resolve().parents[2] / "src" / "uv-user"
needs_root = pytest.mark.root  # chown to other uids; tests/conftest.py skips or fails it when not root
OWNER = (4242, 4242)
X86 = "uv-0.9.30-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
# What the devcontainers CLI exports, one variable per option of the feature's JSON (indexUrl → INDEXURL).
OPTION_VARIABLES = sorted(name.upper() for name in json.loads(
    (FEATURE_DIR / "devcontainer-feature.json").read_text(encoding="utf-8"))["options"])


def no_sleep_fetcher(**kwargs) -> Fetcher:
    return Fetcher(sleep=lambda seconds: None, **kwargs)


# ============================================================================ indexUrl


@pytest.mark.parametrize("raw, fragment", [
    ("http://[::1/simple", "is not a valid URL: Invalid IPv6 URL"),
    ("http://127.0.0.1:99999/simple", "is not a valid URL: Port out of range"),
    ("http://127.0.0.1:{}/simple".format("9" * 5000), "is not a valid URL: Port out of range 0-65535; use"),
    ("http://127.0.0.1:abc/simple", "is not a valid URL: Port could not be cast"),
    ("http://127.0.0.1:0/simple", "it names port 0"),
    ("https://a..b/simple", "its host name 'a..b' is not a valid DNS name"),
    ("https://mirror.example/sim ple", "whitespace or control characters"),
    ("https://mirror.example/simple\x00", "whitespace or control characters"),
    ("http://0.0.0.0:8080/simple", "is plain HTTP"),
    ("http://[::ffff:127.0.0.1]:8080/simple", "is plain HTTP"),  # mapped, not loopback
])
def test_index_urls_that_used_to_crash_or_retry_are_refused_at_once_naming_them(raw, fragment):
    # Before: "http://[::1" was a ValueError traceback; bad ports were retried 4 times (7 s) with
    # an error about the network.
    with pytest.raises(UvUserError) as caught:
        validate_index_url(raw)
    line = caught.value.line()
    assert line.startswith("uv-user: indexUrl " + repr(raw))
    assert fragment in line and "(nothing was changed)" in line


def test_an_index_url_with_credentials_is_refused_without_printing_the_password():
    with pytest.raises(UvUserError) as caught:
        validate_index_url("https://alice:s3cr3t@mirror.example/simple")
    line = caught.value.line()
    assert "s3cr3t" not in line
    assert "'https://alice:***@mirror.example/simple' carries credentials" in line


@settings(deadline=None, max_examples=400)
@given(st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, host, rest: scheme + host + rest,
              st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "file://", "", "//"]),
              st.text(alphabet="[]:.@%0123456789abcxyz-", max_size=20),
              st.text(alphabet="/:?#@[]%. \t\n$;'\"`\\0aZ", max_size=12)),
))
@example("http://[::1")
@example("https://x:99999999999999999999/")
def test_any_index_url_is_accepted_usable_or_refused_with_one_line(raw):
    """Never another exception; whatever is accepted passes the fetch rules as it is."""
    try:
        value = validate_index_url(raw)
    except UvUserError as exc:
        assert exc.line().startswith("uv-user: indexUrl ")
        return
    assert url_problem(value) is None
    assert url_problem(index.project_url(value)) is None


@settings(deadline=None, max_examples=200)
@given(st.dictionaries(st.sampled_from(OPTION_VARIABLES), st.text(max_size=24)))
def test_any_option_values_read_or_fail_with_one_uv_user_line(env):
    try:
        options.read(env)
    except UvUserError as exc:
        assert exc.line().startswith("uv-user: ") and "\n" not in exc.line()


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "nan", "inf", "1e999"])
def test_the_hidden_timeout_variable_is_checked(raw):
    with pytest.raises(UvUserError) as caught:
        net.timeout_from({net.TIMEOUT_ENV: raw})
    assert caught.value.line().startswith("uv-user: {}={!r} is not a positive number".format(net.TIMEOUT_ENV, raw))


def test_the_timeout_defaults_to_30_s_and_the_hidden_variable_shortens_it():
    assert net.timeout_from({}) == 30.0
    assert net.timeout_from({net.TIMEOUT_ENV: " 1.5 "}) == 1.5


def test_a_timeout_says_how_long_each_attempt_waited(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(hang=True)]
    with pytest.raises(UvUserError) as caught:
        fetch_project(no_sleep_fetcher(timeout=0.3, attempts=2), local_index.url + "/simple")
    line = caught.value.line()
    assert "the index page {}/simple/uv/ after 2 attempts (timed out: no data for 0.3 s); check".format(
        local_index.url) in line
    assert len(local_index.requests) == 2


# ============================================================================ what the index hands out


@pytest.mark.parametrize("link", [
    "file:///etc/shadow",
    "ftp://files.example/uv.whl",
    "data:application/octet-stream;base64,AAAA",
    "http://files.example/packages/uv.whl",  # plain HTTP to a non-loopback host: never contacted
    "https://user:pw@files.example/uv.whl",
])
def test_a_wheel_link_uv_user_would_not_fetch_is_refused_before_any_request(link):
    fetcher = no_sleep_fetcher()
    with pytest.raises(UvUserError) as caught:
        fetcher.download(link, io.BytesIO(), "0" * 64)
    line = caught.value.line()
    assert line.startswith("uv-user: refusing to fetch ")
    assert "pw@" not in line


def test_a_redirect_to_plain_http_elsewhere_is_refused_not_followed(local_index):
    # The page would have come over plain HTTP from another host: its hashes would prove nothing.
    local_index.routes["/simple/uv/"] = [local_index.reply(302, headers={"Location": "http://mirror.invalid/uv/"})]
    with pytest.raises(UvUserError) as caught:
        fetch_project(no_sleep_fetcher(), local_index.url + "/simple")
    line = caught.value.line()
    assert "redirects to http://mirror.invalid/uv/, which uv-user refuses: it is plain HTTP" in line
    assert caught.value.code == net.PLAIN_HTTP
    assert len(local_index.requests) == 1


def test_an_https_index_that_redirects_to_plain_http_is_refused_even_to_loopback(tls_index, local_index):
    # Plain HTTP to localhost is fine for a test index that is itself http://localhost; reached from
    # an HTTPS index it is a downgrade: whoever answers on that port could serve any page and hashes.
    tls_index.routes["/simple/uv/"] = [tls_index.reply(302, headers={"Location": local_index.url + "/simple/uv/"})]
    local_index.routes["/simple/uv/"] = [local_index.reply(body=b'<a href="/p/' + X86.encode() + b'">x</a>')]
    with pytest.raises(UvUserError) as caught:
        fetch_project(no_sleep_fetcher(), tls_index.url + "/simple")
    assert caught.value.line() == (
        "uv-user: {}/simple/uv/ redirects to {}/simple/uv/, which uv-user refuses: it would downgrade HTTPS to "
        "plain HTTP; check indexUrl (nothing was changed)".format(tls_index.url, local_index.url))
    assert caught.value.code == net.DOWNGRADE
    assert len(tls_index.requests) == 1 and local_index.requests == []


def test_an_https_index_is_read_over_tls_with_the_ca_from_ssl_cert_file(tls_index):
    tls_index.routes["/simple/uv/"] = [tls_index.reply(body=b'<a href="/p/' + X86.encode() + b'">x</a>')]
    files, _ = fetch_project(no_sleep_fetcher(), tls_index.url + "/simple")
    assert [f.url for f in files] == [tls_index.url + "/p/" + X86]


@pytest.mark.parametrize("page", [
    '<a href="http://127.0.0.1:9/p/{x}#sha256={a}">x</a>',
    '<base href="http://127.0.0.1:9/p/"><a href="{x}#sha256={a}">x</a>',
    json.dumps({"files": [{"filename": X86, "url": "http://127.0.0.1:9/p/" + X86, "hashes": {"sha256": "a" * 64}}]}),
])
def test_an_https_page_that_links_a_uv_wheel_over_plain_http_is_refused(page):
    body = page.replace("{x}", X86).replace("{a}", "a" * 64)
    ctype = "application/json" if body.startswith("{") else "text/html"
    with pytest.raises(UvUserError) as caught:
        fetch_project(_Served(body, ctype, "https://mirror.example/simple/uv/"), "https://mirror.example/simple")
    assert caught.value.line() == (
        "uv-user: https://mirror.example/simple/uv/ links {x} over plain HTTP (http://127.0.0.1:9/p/{x}); uv-user "
        "never downgrades from HTTPS: fix the index's links or use another indexUrl (nothing was changed)".format(x=X86))


def test_a_plain_http_loopback_page_may_link_plain_http_and_an_https_page_other_files(local_index):
    page = '<a href="/p/{x}">x</a><a href="http://elsewhere.example/uv-0.9.30.tar.gz">sdist</a>'.format(x=X86)
    files, _ = fetch_project(_Served(page, "text/html", local_index.url + "/simple/uv/"), local_index.url + "/simple")
    assert files[0].url == local_index.url + "/p/" + X86
    files, _ = fetch_project(_Served(page, "text/html", "https://mirror.example/simple/uv/"),
                             "https://mirror.example/simple")
    assert [f.url for f in files] == ["https://mirror.example/p/" + X86, "http://elsewhere.example/uv-0.9.30.tar.gz"]


def test_a_loopback_index_is_never_sent_to_a_proxy_from_the_environment(local_index, closed_port, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:{}".format(closed_port))  # a proxy that is down
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    local_index.routes["/simple/uv/"] = [local_index.reply(body=b'<a href="/p/' + X86.encode() + b'">x</a>')]
    files, _ = fetch_project(no_sleep_fetcher(attempts=1), local_index.url + "/simple")
    assert [f.filename for f in files] == [X86]


def test_a_page_in_a_charset_python_does_not_know_is_read_as_utf8(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(body=b'<a href="/p/' + X86.encode() + b'">x</a>',
                                                           ctype="text/html; charset=x-no-such-charset")]
    files, _ = fetch_project(no_sleep_fetcher(), local_index.url + "/simple")
    assert [f.filename for f in files] == [X86]


@pytest.mark.parametrize("name", [
    "uv-0.9.30-py3-none-manylinux_2_17_x86_64.x/../../../../usr/bin/evil.whl",
    "uv-0.9.30-py3-none-manylinux_2_17_x86_64\\..\\evil.whl",
    "uv-0.9.30-py3-none-manylinux_2_17_x86_64\x00.whl",
])
def test_a_wheel_file_name_that_is_a_path_is_not_a_wheel(name):
    assert wheels.parse_wheel_name(name) is None


def test_an_html_page_cannot_smuggle_a_path_in_a_percent_encoded_file_name(local_index):
    evil = "uv-0.9.30-py3-none-manylinux_2_17_x86_64.x%2F..%2F..%2F..%2Fusr%2Fbin%2Fevil.whl"
    local_index.routes["/simple/uv/"] = [local_index.reply(
        body='<a href="/p/{}#sha256={}">x</a>'.format(evil, "a" * 64).encode())]
    files, versions = fetch_project(no_sleep_fetcher(), local_index.url + "/simple")
    assert versions == set()  # not read as a uv wheel at all
    with pytest.raises(UvUserError, match="no uv 0.9.30 wheel fits this image"):
        wheels.select(files, "0.9.30", wheels.Platform("x86_64", "glibc", (2, 36)))


# ============================================================================ any page, any option: a result or one line

_HUGE = st.integers(min_value=4301, max_value=5000).map(lambda n: "9" * n)  # past int()'s digit limit
_NUMBER = st.one_of(st.integers(min_value=0, max_value=20).map(str), st.text("0123456789", min_size=1, max_size=12),
                    _HUGE)
_VERSION = st.lists(_NUMBER, min_size=1, max_size=4).map(".".join)
_TAG = st.one_of(st.builds("{}_{}_{}_{}".format, st.sampled_from(["manylinux", "musllinux"]), _NUMBER, _NUMBER,
                           st.sampled_from(["x86_64", "aarch64", "x86_64\n"])),
                 st.sampled_from(["manylinux2014_x86_64", "win_amd64"]), st.text(max_size=8))
_FILENAME = st.one_of(st.builds("uv-{}-py3-none-{}.whl".format, _VERSION, _TAG), st.text(max_size=12),
                      st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2))
_URL = st.one_of(st.sampled_from(["../../p/uv.whl", "http://[::1/uv.whl", "https://files.example/uv.whl",
                                  "http://127.0.0.1:1/uv.whl", "file:///etc/passwd", "http://x:" + "9" * 5000 + "/",
                                  "//evil.example/uv.whl", "https://x/a#sha256=" + "a" * 64]),
                 st.text(max_size=12), st.integers())
_HASHES = st.one_of(st.none(), st.text(max_size=4), st.dictionaries(
    st.sampled_from(["sha256", "md5"]), st.one_of(st.just("a" * 64), st.just("a" * 64 + "\n"), st.integers()),
    max_size=2))
_ENTRY = st.one_of(st.fixed_dictionaries({"filename": _FILENAME, "url": _URL},
                                         optional={"hashes": _HASHES, "yanked": st.one_of(st.booleans(), st.text())}),
                   st.integers(), st.text(max_size=4), st.none())
_JSON_PAGE = st.builds(lambda files, versions: json.dumps({"files": files, "versions": versions}),
                       st.one_of(st.lists(_ENTRY, max_size=6), st.integers(), st.none()),
                       st.one_of(st.none(), st.lists(st.one_of(_VERSION, st.integers(), st.none()), max_size=4)))
_ANCHOR = st.builds('<a href="{}{}"{}>{}</a>'.format,
                    st.one_of(_URL.filter(lambda u: isinstance(u, str)).map(lambda u: u.replace('"', "")),
                              _FILENAME.filter(lambda f: isinstance(f, str)).map(lambda f: f.replace('"', ""))),
                    st.sampled_from(["", "#sha256=" + "a" * 64, "#md5=0", "#sha256=" + "a" * 64 + "&#10;"]),
                    st.sampled_from(["", " data-yanked", ' title="&#' + "9" * 5000 + ';"']),
                    st.sampled_from(["x", "&#" + "9" * 5000 + ";", "&#x110000;", "&amp"]))
_HTML_PAGE = st.one_of(st.lists(_ANCHOR, max_size=6).map("".join), st.text(max_size=60),
                       st.builds('<base href="{}">{}'.format, _URL.filter(lambda u: isinstance(u, str)),
                                 st.lists(_ANCHOR, max_size=3).map("".join)))
PLATFORMS = [wheels.Platform("x86_64", "glibc", (2, 36)), wheels.Platform("aarch64", "musl", (1, 2))]


class _Served:
    """A fetcher whose index page is whatever the test says."""

    def __init__(self, body: str, ctype: str, url: str) -> None:
        self.page = (body, ctype, url)

    def text(self, url: str, accept: str):
        return self.page


def _whole_choice(body: str, ctype: str, page_url: str = "https://mirror.example/simple/uv/") -> None:
    """Everything uv-user does with an index page up to the wheel it would download."""
    files, versions = fetch_project(_Served(body, ctype, page_url), "https://mirror.example/simple")
    for spec in ("latest", "0.13", "0.13.9", "1." + "9" * 6):
        try:
            version = versions_mod.choose(versions_mod.parse_spec(spec), sorted(versions))
        except UvUserError:
            continue
        for platform in PLATFORMS:
            try:
                wheels.select(files, version, platform)
            except UvUserError:
                pass


def _result_or_one_line(attempt) -> None:
    try:
        attempt()
    except UvUserError as exc:
        line = exc.line()
        assert line.startswith("uv-user: ") and all(32 <= ord(c) < 127 for c in line), line


@settings(deadline=None, max_examples=300)
@given(_JSON_PAGE, st.sampled_from([index.JSON_TYPE, "application/json"]))
@example('{"files": [], "versions": [1' + "0" * 5000 + "]}", index.JSON_TYPE)
@example('{"files": ' + "[" * 50000 + "]" * 50000 + "}", index.JSON_TYPE)
@example(json.dumps({"files": [{"filename": "uv-1.{}.0-py3-none-manylinux_2_17_x86_64.whl".format("9" * 5000),
                                "url": "u.whl", "hashes": {"sha256": "a" * 64}}]}), index.JSON_TYPE)
def test_any_json_page_ends_in_a_choice_or_one_line(body, ctype):
    _result_or_one_line(lambda: _whole_choice(body, ctype))


@settings(deadline=None, max_examples=300)
@given(_HTML_PAGE)
@example('<a href="uv-0.13.9-py3-none-manylinux_2_17_x86_64.whl" title="&#' + "9" * 5000 + ';">x</a>')
@example('<a href="uv-0.13.9-py3-none-manylinux_{}_17_x86_64.whl">x</a>'.format("9" * 5000))
def test_any_html_page_ends_in_a_choice_or_one_line(body):
    _result_or_one_line(lambda: _whole_choice(body, "text/html"))


_OPTION_TEXT = st.one_of(st.text(max_size=24), _VERSION, _HUGE,
                         st.builds("https://x:{}/simple".format, _NUMBER), st.builds("{}\n{}".format,
                                                                                     _VERSION, _VERSION))


@settings(deadline=None, max_examples=300)
@given(st.dictionaries(st.sampled_from(OPTION_VARIABLES), _OPTION_TEXT))
@example({"VERSION": "1." + "9" * 5000})
@example({"INDEXURL": "https://x:" + "9" * 5000 + "/simple"})
def test_any_option_values_even_absurd_numbers_read_or_fail_with_one_line(env):
    _result_or_one_line(lambda: options.read(env))


# ============================================================================ install: nothing written on refusal


def test_a_wheel_with_the_wrong_sha256_leaves_the_bin_dir_untouched(local_index, tmp_path, monkeypatch,
                                                                     make_options, make_facts):
    bin_dir = tmp_path / "usr-local-bin"
    bin_dir.mkdir()
    (bin_dir / "other-tool").write_text("#!/bin/sh\n")
    monkeypatch.setattr(paths, "BIN_DIR", str(bin_dir))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    local_index.routes["/p/uv.whl"] = [local_index.reply(body=b"PK not the wheel", ctype="application/zip")]
    # The plan install makes from an index that lists the wheel with a sha256 its bytes will not have.
    listed = wheels.WheelFile(X86, local_index.url + "/p/uv.whl", "0" * 64)
    the_plan = plan.make_plan(make_options(version="0.9.30"), make_facts(), [listed], ["0.9.30"])
    assert (the_plan.uv.action, the_plan.uv.wheel, the_plan.uv.binary) == ("download", listed, str(bin_dir / "uv"))
    before = (sorted(os.listdir(bin_dir)), os.stat(bin_dir).st_mtime_ns)
    with pytest.raises(UvUserError) as caught:
        with apply.staged_uv(the_plan, no_sleep_fetcher(), log=lambda m: None):
            pass
    assert "sha256 of {}/p/uv.whl is".format(local_index.url) in caught.value.line()
    assert "(nothing was changed)" in caught.value.line()
    # Not even a staging directory came and went: the directory's mtime is the same.
    assert (sorted(os.listdir(bin_dir)), os.stat(bin_dir).st_mtime_ns) == before
    assert os.listdir(tmp_path / "tmp") == []  # the download was cleaned up


def test_a_symlinked_venv_is_refused_before_anything_is_written(tmp_path, tree_at, make_options, make_facts):
    # `uv venv --clear` through such a link empties the directory it points to (seen with uv 0.9.30).
    root = tmp_path / "uv-user"
    target = tmp_path / "precious"
    root.mkdir()
    target.mkdir()
    (target / "keep").write_text("mine")
    os.symlink(target, root / "venv")
    tree_at(root)
    found = make_facts(tree=facts.tree(), venv_state=facts.venv_state())
    assert found.venv_state == "linked"  # never "valid" through the link
    with pytest.raises(UvUserError) as caught:
        plan.make_plan(make_options(), found)  # the plan refuses: apply never meets such a tree
    assert caught.value.line() == ("uv-user: {} is a symlink (to {}); uv-user never writes through links: remove it "
                                   "from the image and rebuild (nothing was changed)".format(root / "venv", target))
    assert (target / "keep").read_text() == "mine"


# ============================================================================ repair roots


@pytest.mark.parametrize("root", ["/", "/usr", "/etc", "/home", "/home/vscode", "/root/env", "/usr/local/share",
                                  "/usr/local/share/uv-user", "/workspaces/project", "/var/lib/dpkg",
                                  "/opt/uv-user/venv/../../../etc", "/lib/x86_64-linux-gnu"])
def test_repair_refuses_system_trees_homes_and_the_workspace_with_one_line(cli_env, run_uv_user, root):
    result = run_uv_user(["repair", "--user", "root", "--root", root], cli_env())
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("uv-user: refusing to repair ownership of {}: it is ".format(root))
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


_SEGMENTS = st.sampled_from(["usr", "etc", "home", "local", "share", "vscode", "workspaces", "proj", "opt",
                             "uv-user", "venv", "var", "lib", "..", ".", ""])


@settings(deadline=None, max_examples=500)
@given(st.lists(_SEGMENTS, max_size=7).map(lambda parts: "/" + "/".join(parts)))
def test_refusal_never_accepts_anything_inside_a_system_tree(path):
    if paths.refusal(path) == "":
        norm = paths.normalize(path)
        assert not any(paths.is_within(norm, tree) for tree in paths.SYSTEM_TREES), norm


@needs_root
def test_repair_ignores_the_environment_variables_that_point_uv_elsewhere(cli_env, run_uv_user, tmp_path):
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"
    (tree / "venv").mkdir(parents=True)
    elsewhere.mkdir()
    for path in (tree, tree / "venv", elsewhere):
        os.lchown(path, 12345, 12345)
    env = cli_env(UV_PROJECT_ENVIRONMENT=str(elsewhere), VIRTUAL_ENV=str(elsewhere), UV_CACHE_DIR=str(elsewhere),
                  UV_PYTHON_INSTALL_DIR=str(elsewhere), HOME=str(elsewhere))
    result = run_uv_user(["repair", "--user", "root", "--root", str(tree)], env)
    assert result.returncode == 0, result.stderr
    assert os.lstat(tree / "venv").st_uid == 0
    assert os.lstat(elsewhere).st_uid == 12345


# ============================================================================ hostile trees (real files, as root)


def owner(path: Path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


@pytest.fixture
def hostile(tmp_path: Path):
    """tmp/tree (the user's, owned by a stranger uid after a remap) and tmp/outside (root's)."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "venv" / "lib").mkdir(parents=True)
    (tree / "cache").mkdir()
    outside.mkdir()
    (outside / "shadow").write_text("root's secret")
    (outside / "dir").mkdir()
    (outside / "dir" / "child").write_text("root's")
    for path in (outside, outside / "shadow", outside / "dir", outside / "dir" / "child"):
        os.lchown(path, 0, 0)
    return tree, outside


@needs_root
def test_a_hard_link_to_a_file_outside_the_tree_is_left_alone_and_reported(hostile):
    tree, outside = hostile
    os.link(outside / "shadow", tree / "venv" / "x")  # what protected_hardlinks stops a user doing
    (tree / "venv" / "lib" / "mod.py").write_text("")
    chown_tree(tree, 0, 0)
    report = repair.repair(str(tree), *OWNER)
    assert owner(outside / "shadow") == (0, 0)
    assert owner(tree / "venv" / "lib" / "mod.py") == OWNER and owner(tree) == OWNER
    assert report.errors == ["{}: a hard link with 1 of its 2 names outside {}: left alone, since re-owning it "
                             "would re-own them too".format(tree / "venv" / "x", tree)]


@needs_root
def test_hard_links_between_the_cache_and_the_env_are_re_owned(hostile):
    tree, _ = hostile
    (tree / "cache" / "mod.py").write_text("")
    os.link(tree / "cache" / "mod.py", tree / "venv" / "lib" / "mod.py")  # what uv does
    chown_tree(tree, 0, 0)
    report = repair.repair(str(tree), *OWNER)
    assert report.errors == []
    assert owner(tree / "venv" / "lib" / "mod.py") == OWNER


@needs_root
def test_a_directory_swapped_for_a_symlink_after_its_parent_was_listed_is_not_followed(hostile, after_listing):
    tree, outside = hostile
    (tree / "venv" / "lib" / "shadow").write_text("")
    chown_tree(tree, 0, 0)

    def swap() -> None:  # venv/lib → outside, where "shadow" is root's file
        os.rename(tree / "venv" / "lib", tree / "venv" / "lib.real")
        os.symlink(outside, tree / "venv" / "lib")

    after_listing(tree / "venv", swap)
    report = repair.repair(str(tree), *OWNER)
    assert owner(outside / "shadow") == (0, 0) and owner(outside) == (0, 0)
    assert owner(tree / "venv") == OWNER
    assert report.raced >= 1 and report.errors == []
    repair.repair(str(tree), *OWNER)  # the next one sees the link as a link: re-owns it, not its target
    assert owner(tree / "venv" / "lib") == OWNER and owner(tree / "venv" / "lib.real" / "shadow") == OWNER
    assert owner(outside / "shadow") == (0, 0) and owner(outside) == (0, 0)


@needs_root
def test_an_entry_replaced_after_its_directory_was_listed_is_not_re_owned(hostile, after_listing):
    tree, outside = hostile
    (tree / "venv" / "file").write_text("")
    chown_tree(tree, 0, 0)
    os.lchown(tree / "venv", *OWNER)  # where the user can replace names (only root can in a root-owned venv)

    def replace() -> None:
        os.rename(tree / "venv" / "file", tree / "venv" / "file.moved")  # kept, so its inode is not reused
        (tree / "venv" / "file").write_text("another inode, made by root meanwhile")

    after_listing(tree / "venv", replace)
    report = repair.repair(str(tree), *OWNER)
    assert owner(tree / "venv" / "file") == (0, 0)  # not the inode the listing saw
    assert report.raced == 1 and report.errors == []
    assert repair.repair(str(tree), *OWNER).changed == 2  # the next repair sees both names as they are now


@needs_root
def test_a_root_replaced_by_a_symlink_after_it_was_checked_is_not_followed(hostile, monkeypatch):
    tree, outside = hostile
    chown_tree(tree, 0, 0)
    real = repair.check_root

    def check_then_swap(root: str) -> os.stat_result:
        st = real(root)
        os.rename(tree, str(tree) + ".real")
        os.symlink(outside, tree)
        return st

    monkeypatch.setattr(repair, "check_root", check_then_swap)
    with pytest.raises(UvUserError) as caught:
        repair.repair(str(tree), *OWNER)
    assert caught.value.line().startswith("uv-user: {} changed while it was being opened".format(tree))
    assert owner(outside) == (0, 0) and owner(outside / "dir") == (0, 0) and owner(outside / "shadow") == (0, 0)


@needs_root
def test_a_venv_that_is_a_symlink_out_of_the_tree_is_re_owned_as_a_link_only(hostile):
    tree, outside = hostile
    os.rename(tree / "venv", tree / "venv.old")
    os.symlink(outside / "dir", tree / "venv")
    chown_tree(tree, 0, 0)
    report = repair.repair(str(tree), *OWNER)
    assert report.errors == []
    assert owner(tree / "venv") == OWNER
    assert owner(outside / "dir") == (0, 0) and owner(outside / "dir" / "child") == (0, 0)


@needs_root
def test_two_repairs_at_once_both_succeed_and_the_tree_is_right(hostile, cli_env, run_uv_user):
    tree, _ = hostile
    for i in range(300):
        (tree / "venv" / "lib" / "m{}.py".format(i)).write_text("")
    chown_tree(tree, *OWNER)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two processes, started together
        done = list(pool.map(lambda _: run_uv_user(["repair", "--user", "root", "--root", str(tree)], cli_env()),
                             range(2)))
    assert [(result.returncode, result.stderr) for result in done] == [(0, ""), (0, "")]
    assert all(owner(Path(b) / n) == (0, 0) for b, ds, fs in os.walk(tree) for n in ds + fs)


# ============================================================================ hostile text in messages

# What a hostile index, option value or file name may carry: a newline that would start a forged
# "uv-user:" line, terminal escapes, a byte that is not UTF-8 (print raises on it under a UTF-8 locale).
FORGED = "\nuv-user: done, all fine\x1b[2J\x1b]0;title\x07"
NOT_UTF8 = os.fsdecode(b"\xff")


def one_printable_line(line: str) -> bool:
    return all(32 <= ord(c) < 127 for c in line)


def test_an_http_reason_phrase_cannot_forge_a_line_or_reach_the_terminal(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(404, reason="Not Found\ruv-user: fine\x1b[2J\xff")]
    with pytest.raises(UvUserError) as caught:
        fetch_project(no_sleep_fetcher(), local_index.url + "/simple")
    line = caught.value.line()
    assert one_printable_line(line), line
    assert "answered HTTP 404 Not Found\\ruv-user: fine\\x1b[2J\\xff; check indexUrl" in line


def test_a_redirect_location_with_escapes_reaches_the_message_percent_encoded(local_index):
    # urllib percent-encodes a Location before anything sees it; this keeps it that way.
    local_index.routes["/simple/uv/"] = [local_index.reply(302, headers={"Location": "ftp://evil.example/\x1b[2J\xff"})]
    with pytest.raises(UvUserError) as caught:
        fetch_project(no_sleep_fetcher(), local_index.url + "/simple")
    line = caught.value.line()
    assert one_printable_line(line), line
    assert "redirects to ftp://evil.example/%1B[2J%FF, which uv-user refuses" in line


def test_a_wheel_url_with_escapes_is_shown_escaped():
    page = '<a href="http://127.0.0.1:9/p/\x1b[31m\u2028/{}#sha256={}">x</a>'.format(X86, "a" * 64)
    with pytest.raises(UvUserError) as caught:
        fetch_project(_Served(page, "text/html", "https://mirror.example/simple/uv/"), "https://mirror.example/simple")
    line = caught.value.line()
    assert one_printable_line(line), line
    assert "(http://127.0.0.1:9/p/\\x1b[31m\\u2028/{})".format(X86) in line


@pytest.mark.parametrize("env, shown_value", [
    ({"VERSION": "0.13" + FORGED}, "version '0.13\\nuv-user: done, all fine\\x1b[2J\\x1b]0;title\\x07' is not"),
    ({"USERNAME": "bad" + NOT_UTF8}, "username 'bad\\xff' is not a valid user name"),
    ({"SYSTEMCERTS": "caf\u00e9"}, "systemCerts 'caf\\xe9' is not a boolean"),
    ({"AUTOSYNC": "lock" + FORGED}, "autoSync 'lock\\nuv-user: done"),
    ({"INDEXURL": "ftp://x/" + NOT_UTF8}, "indexUrl 'ftp://x/\\xff' is not an http(s) URL"),
])
def test_an_option_value_is_shown_escaped_on_one_line(env, shown_value):
    with pytest.raises(UvUserError) as caught:
        users.resolve(options.read(env).username, "", [])
    line = caught.value.line()
    assert one_printable_line(line), line
    assert shown_value in line


def test_the_hidden_timeout_variable_is_shown_escaped():
    with pytest.raises(UvUserError) as caught:
        net.timeout_from({net.TIMEOUT_ENV: "1" + FORGED})
    assert one_printable_line(caught.value.line())
    assert "_UV_USER_HTTP_TIMEOUT='1\\nuv-user: done" in caught.value.line()


def test_any_message_prints_as_one_line_whatever_it_carries():
    # The last line of defence, for a value some future message forgets to pass through shown().
    line = UvUserError("index says" + FORGED + NOT_UTF8).line()
    assert one_printable_line(line), line
    assert line.startswith("uv-user: index says\\nuv-user: done")


# ============================================================================ a racing user (real files, as root)
#
# The dev user owns the tree and can rename, relink and swap anything in it while root repairs it.
# Each attacker below runs as that (non-root) uid in a forked child, looping one attack for a few
# seconds while root repairs again and again; the root-owned file outside the tree must never change
# owner. Before the fd walk and the exact-inode change, each of these handed the file over within a
# few hundred repairs.

ATTACK_SECONDS = 3.0


@contextlib.contextmanager
def racing_user(workdir: Path, steps: Callable[[], None], who: Tuple[int, int] = OWNER,
                groups: Tuple[int, ...] = ()) -> Iterator[None]:
    """A child running ``steps`` in a loop as ``who`` (OWNER: the dev user), with supplementary ``groups``,
    in ``workdir`` (failed steps are ignored)."""
    pid = os.fork()
    if pid == 0:  # the attacker: never returns into pytest
        try:
            os.chdir(str(workdir))  # as root: the pytest tmp dirs above are not the user's to search
            os.setgroups(list(groups))
            os.setgid(who[1])
            os.setuid(who[0])
            end = time.monotonic() + ATTACK_SECONDS + 5
            while time.monotonic() < end:
                try:
                    steps()
                except OSError:
                    pass
        finally:
            os._exit(0)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def repair_while_racing(tree: Path, target: Path, before_each: Callable[[], None] = lambda: None) -> int:
    """Repair ``tree`` for OWNER until ATTACK_SECONDS pass; ``target`` must stay root's. Returns the rounds."""
    rounds, end = 0, time.monotonic() + ATTACK_SECONDS
    while time.monotonic() < end:
        before_each()
        repair.repair(str(tree), *OWNER)
        rounds += 1
        assert owner(target) == (0, 0), "round {}: {} was handed to the user".format(rounds, target)
    return rounds


def user_tree(tmp_path: Path, *dirs: str) -> Tuple[Path, Path]:
    """tmp/tree owned by OWNER (so OWNER can race in it) with ``dirs``, and tmp/outside/secret (root's, 0600)."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    for name in dirs:
        (tree / name).mkdir(parents=True)
    tree.mkdir(exist_ok=True)
    outside.mkdir()
    (outside / "secret").write_text("root's secret")
    os.chmod(outside / "secret", 0o600)
    chown_tree(tree, *OWNER)
    return tree, outside


def swap_dir_for_link(outside: Path) -> Callable[[], None]:
    def steps() -> None:
        os.rename("B", "B.real")
        os.symlink(str(outside), "B")
        os.unlink("B")
        os.rename("B.real", "B")
    return steps


def move_name(src: str, dst: str) -> Callable[[], None]:
    def steps() -> None:
        os.rename(src, dst)
        os.rename(dst, src)
    return steps


@needs_root
@pytest.mark.parametrize("attack", ["swap a directory for a link to outside", "move the link between directories",
                                    "move its directory between directories"])
def test_a_racing_user_cannot_make_a_hard_link_to_outside_count_as_inside(tmp_path, attack):
    # One of the secret's two names is in the tree (planted by root, or where protected_hardlinks
    # is off): it must be left alone however the user shuffles the tree while it is counted.
    tree, outside = user_tree(tmp_path, "A/D", "B")
    os.link(outside / "secret", tree / "A" / "D" / "x")
    steps = {"swap a directory for a link to outside": swap_dir_for_link(outside),
             "move the link between directories": move_name("A/D/x", "B/x"),
             "move its directory between directories": move_name("A/D", "B/D")}[attack]
    with racing_user(tree, steps):
        rounds = repair_while_racing(tree, outside / "secret")
    assert rounds > 50
    assert os.stat(outside / "secret").st_nlink == 2


@needs_root
def test_a_racing_user_cannot_swap_an_outside_file_in_between_the_check_and_the_change(tmp_path):
    # y is a root-owned file of the tree (a `sudo uv` left it): re-owning it is right. k is a name of
    # the secret (refused as a hard link to outside). The user swaps k's inode in under y's new name.
    tree, outside = user_tree(tmp_path)
    (tree / "y").write_text("")
    os.link(outside / "secret", tree / "k")
    held = os.open(str(tree / "y"), os.O_RDONLY)  # y's inode, whatever its name at the time
    steps = [("y", "f"), ("f", "y"), ("k", "f"), ("f", "k")]

    def attack() -> None:
        for src, dst in steps:
            os.rename(src, dst)

    try:
        with racing_user(tree, attack):
            rounds = repair_while_racing(tree, outside / "secret", before_each=lambda: os.fchown(held, 0, 0))
    finally:
        os.close(held)
    assert rounds > 50


@pytest.fixture
def bind_mounts():
    """bind(source, target): mount --bind, undone at teardown (skips when mount is unavailable)."""
    made: List[Path] = []

    def bind(source: Path, target: Path) -> None:
        result = run(["mount", "--bind", str(source), str(target)], check=False)
        if result.returncode != 0:
            pytest.skip("mount --bind is not available here: " + (result.stdout + result.stderr).strip())
        made.append(target)

    yield bind
    for target in reversed(made):
        run(["umount", "-l", str(target)], check=False)


@needs_root
def test_a_bind_mount_from_the_same_filesystem_inside_the_tree_is_not_crossed(hostile, bind_mounts):
    tree, outside = hostile
    (tree / "venv" / "mnt").mkdir()
    (tree / "venv" / "lib" / "mod.py").write_text("")
    chown_tree(tree, 12345, 12345)
    bind_mounts(outside / "dir", tree / "venv" / "mnt")  # same st_dev as the tree: only the mount table tells
    report = repair.repair(str(tree), *OWNER)
    assert owner(outside / "dir") == (0, 0) and owner(outside / "dir" / "child") == (0, 0)
    assert owner(tree / "venv" / "lib" / "mod.py") == OWNER and owner(tree / "venv") == OWNER
    assert str(tree / "venv" / "mnt") in report.skipped_mounts


@needs_root
def test_a_single_file_bind_mount_inside_the_tree_is_not_re_owned(hostile, bind_mounts):
    tree, outside = hostile
    (tree / "venv" / "shadow").write_text("")
    (tree / "venv" / "lib" / "mod.py").write_text("")
    chown_tree(tree, 12345, 12345)
    bind_mounts(outside / "shadow", tree / "venv" / "shadow")
    report = repair.repair(str(tree), *OWNER)
    assert owner(outside / "shadow") == (0, 0)
    assert owner(tree / "venv" / "lib" / "mod.py") == OWNER
    assert str(tree / "venv" / "shadow") in report.skipped_mounts


@pytest.fixture
def planted(tmp_path: Path):
    """tree/D/x: a second name of outside/secret (root's), and tree/z, a file of the user's."""
    tree, outside = user_tree(tmp_path, "D")
    os.link(str(outside / "secret"), str(tree / "D" / "x"))
    (tree / "z").write_text("")
    os.lchown(str(tree / "z"), *OWNER)
    return tree, outside


@needs_root
@pytest.mark.parametrize("how", ["unlink", "overwrite"])
def test_a_name_removed_right_after_it_was_counted_makes_the_count_doubtful(planted, monkeypatch, how):
    # Counted: x. Then x goes (unlinked, or replaced by rename onto it, which inotify reports as a
    # name moving in, not out): the secret's link count drops to the 1 name counted, yet that
    # name is gone and the one left is outside. Re-owning it then would hand over the secret.
    tree, outside = planted
    real, done = repair._Walk.count_names, []

    def count_then_remove(walk, link):
        counted = real(walk, link)
        if not done:
            done.append(True)
            if how == "unlink":
                os.unlink(str(tree / "D" / "x"))
            else:
                os.rename(str(tree / "z"), str(tree / "D" / "x"))  # from another directory: only "moved in" for D
        return counted

    monkeypatch.setattr(repair._Walk, "count_names", count_then_remove)
    report = repair.repair(str(tree), *OWNER)
    assert owner(outside / "secret") == (0, 0)
    assert report.errors == [] and report.raced >= 1


@needs_root
def test_a_name_removed_after_the_last_look_at_the_events_cannot_lower_the_link_count_seen(planted, monkeypatch):
    # After the events were read for the last time, the link count used must be the one read
    # before: read later, it would count only the names left, and x is gone.
    tree, outside = planted
    real, done = repair._Walk.settle, []

    def remove_then_settle(walk, *args):
        if not done:
            done.append(True)
            os.unlink(str(tree / "D" / "x"))
        return real(walk, *args)

    monkeypatch.setattr(repair._Walk, "settle", remove_then_settle)
    report = repair.repair(str(tree), *OWNER)
    assert owner(outside / "secret") == (0, 0)
    assert len(report.errors) == 1 and "a hard link with 1 of its 2 names outside" in report.errors[0]


# ============================================================================ a racing user against locked directories
#
# A directory to re-own that is not the user's and has no group or other write is made root's, its
# entries re-owned by name and hard links counted as listed (repair.py: "Locked directories"). Each
# attacker below races in such a directory, or in one that only looks like it. The rounds reset the
# directory to what it was before a repair (the old owner's), so every repair locks it again.

OLD_OWNER = (4343, 4343)  # the uid the user had before a remap: a setuid program of it, left on the volume, runs as it


def swap_steps() -> None:
    for src, dst in (("y", "f"), ("f", "y"), ("k", "f"), ("f", "k")):
        os.rename(src, dst)


def swap_tree(tmp_path: Path, owner: Tuple[int, int], mode: int) -> Tuple[Path, Path, Path, int]:
    """tree/D (``owner``, ``mode``) holding y, a file of the old owner's that a repair re-owns, and k, a
    name of outside/secret (root's, 0600), which a repair leaves alone. Returns tree, D, secret, an fd of y."""
    tree, outside = user_tree(tmp_path, "D")
    directory = tree / "D"
    (directory / "y").write_text("")
    os.link(str(outside / "secret"), str(directory / "k"))
    os.lchown(str(directory / "y"), *OLD_OWNER)
    os.lchown(str(directory), *owner)
    os.chmod(str(directory), mode)
    return tree, directory, outside / "secret", os.open(str(directory / "y"), os.O_RDONLY)


def race_in(directory: Path, secret: Path, held: int, owner: Tuple[int, int], mode: int, tree: Path,
            attacker: Tuple[int, int], groups: Tuple[int, ...] = (), steps: Callable[[], None] = swap_steps) -> int:
    def before_each() -> None:  # as before a repair: y the old owner's, the directory as it was
        os.fchown(held, *OLD_OWNER)
        os.lchown(str(directory), *owner)
        os.chmod(str(directory), mode)

    try:
        with racing_user(directory, steps, who=attacker, groups=groups):
            return repair_while_racing(tree, secret, before_each)
    finally:
        os.close(held)


@needs_root
def test_the_old_owner_cannot_swap_names_in_a_directory_being_re_owned_by_name(tmp_path):
    # After a remap the tree is the old uid's, 0755: lockable. Were the directory not made root's
    # before its listing, a process of the old uid (a setuid program the user left) could swap k in
    # under y's name between the listing and the change by name, and the secret would be handed over.
    tree, directory, secret, held = swap_tree(tmp_path, OLD_OWNER, 0o755)
    assert race_in(directory, secret, held, OLD_OWNER, 0o755, tree, attacker=OLD_OWNER) > 50
    assert owner(directory) == OWNER and owner(secret) == (0, 0)


def as_user(who: Tuple[int, int], workdir: Path, action: Callable[[], None], groups: Tuple[int, ...] = ()) -> bool:
    """Run ``action`` in a child as ``who`` in ``workdir``; True when it went through, False when
    permission was denied."""
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            os.chdir(str(workdir))  # as root: the pytest tmp dirs above are not the user's to search
            os.setgroups(list(groups))
            os.setgid(who[1])
            os.setuid(who[0])
            action()
            code = 0
        except PermissionError:
            code = 1
        finally:
            os._exit(code)
    status_code = os.waitpid(pid, 0)[1]
    assert os.WIFEXITED(status_code) and os.WEXITSTATUS(status_code) in (0, 1), status_code
    return os.WEXITSTATUS(status_code) == 0


@needs_root
@pytest.mark.parametrize("owner_before, mode, attacker, locked", [
    (OLD_OWNER, 0o755, OLD_OWNER, True),  # after a remap: a setuid program of the old uid's races
    ((0, 0), 0o755, OWNER, True),  # a fresh volume: root's already
    ((OLD_OWNER[0], OWNER[1]), 0o775, OWNER, False),  # the user's group may write: the careful way
])
def test_between_a_listing_and_the_changes_only_an_unlocked_directory_lets_a_name_be_swapped(
        tmp_path, after_listing, owner_before, mode, attacker, locked):
    # Deterministic: right after D's listing (y a plain file, k a name of the secret), the attacker
    # puts k under y's name. In a locked directory it cannot; elsewhere the handle notices the swap.
    tree, directory, secret, held = swap_tree(tmp_path, owner_before, mode)
    os.close(held)

    def swap() -> None:
        os.rename("y", "f")
        os.rename("k", "y")

    went_through = []
    after_listing(directory, lambda: went_through.append(as_user(attacker, directory, swap)))
    report = repair.repair(str(tree), *OWNER)
    assert went_through == [not locked]
    assert owner(secret) == (0, 0) and os.stat(str(secret)).st_nlink == 2
    assert report.refused == 1 or report.raced >= 1


@needs_root
def test_a_directory_a_group_of_the_users_can_write_is_not_locked(tmp_path):
    # The old owner's, but group-writable for a supplementary group of the user's: the user can swap names.
    mode, group = 0o775, 4545
    tree, directory, secret, held = swap_tree(tmp_path, (OLD_OWNER[0], group), mode)
    assert race_in(directory, secret, held, (OLD_OWNER[0], group), mode, tree, attacker=OWNER, groups=(group,)) > 50


@needs_root
def test_a_directory_the_user_owns_with_mode_0555_is_not_locked(tmp_path):
    # Read-only, but the user's: it can chmod it back, swap, and chmod it again.
    tree, directory, secret, held = swap_tree(tmp_path, OWNER, 0o555)

    def steps() -> None:
        os.chmod(".", 0o755)
        swap_steps()
        os.chmod(".", 0o555)

    assert race_in(directory, secret, held, OWNER, 0o555, tree, attacker=OWNER, steps=steps) > 50


def posix_acl(*entries: Tuple[int, int, int]) -> bytes:
    """system.posix_acl_access as the kernel reads it: version 2, then (tag, perm, id) entries."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries)


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, NO_ID = 0x01, 0x02, 0x04, 0x10, 0x20, 0xFFFFFFFF


def grant_user_write(directory: Path, mask: int) -> None:
    try:
        os.setxattr(str(directory), "system.posix_acl_access", posix_acl(
            (ACL_USER_OBJ, 7, NO_ID), (ACL_USER, 7, OWNER[0]), (ACL_GROUP_OBJ, 5, NO_ID), (ACL_MASK, mask, NO_ID),
            (ACL_OTHER, 5, NO_ID)))
    except OSError as exc:
        pytest.skip("no POSIX ACLs here: {}".format(exc))


@needs_root
def test_a_directory_an_acl_lets_the_user_write_is_not_locked(tmp_path):
    # The old owner's, 0755 before the ACL; the ACL names the user with rwx. Its mask (rwx) is what
    # the mode's group bits show: 0775, not lockable. The user swaps names through the ACL.
    tree, directory, secret, held = swap_tree(tmp_path, OLD_OWNER, 0o755)
    grant_user_write(directory, mask=7)
    assert stat.S_IMODE(os.lstat(str(directory)).st_mode) == 0o775
    assert race_in(directory, secret, held, OLD_OWNER, 0o775, tree, attacker=OWNER) > 50


@needs_root
def test_an_acl_whose_mask_takes_write_away_leaves_the_directory_locked_and_the_user_out(tmp_path):
    tree, directory, secret, held = swap_tree(tmp_path, OLD_OWNER, 0o755)
    grant_user_write(directory, mask=5)  # user:OWNER:rwx, but the mask caps it to r-x
    assert stat.S_IMODE(os.lstat(str(directory)).st_mode) == 0o755
    os.close(held)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(OWNER[1])
            os.setuid(OWNER[0])
            os.rename(str(directory / "y"), str(directory / "f"))
            os._exit(1)
        except PermissionError:
            os._exit(0)
        finally:
            os._exit(2)
    assert os.waitpid(pid, 0)[1] == 0  # the kernel agrees: the user cannot change names in it
    used = []
    real = repair._chown_at

    def chown_at(name, uid, gid, dir_fd, follow_symlinks):
        used.append(name)
        real(name, uid, gid, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repair, "_chown_at", chown_at)
        report = repair.repair(str(tree), *OWNER)
    assert "y" in used and owner(directory / "y") == OWNER and owner(directory) == OWNER
    assert owner(secret) == (0, 0) and report.refused == 1


def move_between(first: str, second: str, name: str) -> Callable[[], None]:
    def steps() -> None:
        os.rename(os.path.join(first, name), os.path.join(second, name))
        os.rename(os.path.join(second, name), os.path.join(first, name))
    return steps


@needs_root
def test_the_old_owner_cannot_make_a_hard_link_to_outside_count_twice_in_locked_directories(tmp_path):
    # A/x is a name of the secret (whose other name is outside). Were A and B not made root's before
    # their listings, the old uid could move x from A to B between the two listings: counted twice,
    # it would match the secret's link count of 2.
    tree, outside = user_tree(tmp_path, "A", "B")
    os.link(str(outside / "secret"), str(tree / "A" / "x"))
    secret = outside / "secret"

    def before_each() -> None:
        for name in ("A", "B"):
            os.lchown(str(tree / name), *OLD_OWNER)
            os.chmod(str(tree / name), 0o755)

    with racing_user(tree, move_between("A", "B", "x"), who=OLD_OWNER):
        rounds = repair_while_racing(tree, secret, before_each)
    assert rounds > 50 and os.stat(str(secret)).st_nlink == 2


@needs_root
def test_a_directory_whose_mode_changed_before_it_was_made_roots_is_not_locked(tmp_path, monkeypatch):
    # Entered as the old owner's 0755 (lockable); then, before it is made root's, the old owner makes it
    # 0777. The fstat after taking it shows that: given to the user at once, its entries the careful way.
    tree, directory, secret, held = swap_tree(tmp_path, OLD_OWNER, 0o755)
    os.close(held)
    real_lock, by_name = repair._Walk.lock, []

    def lock(walk, node):
        if node.lockable and node.name == "D":
            os.chmod(str(directory), 0o777)
        return real_lock(walk, node)

    monkeypatch.setattr(repair._Walk, "lock", lock)
    monkeypatch.setattr(repair, "_chown_at", lambda name, *a, **k: by_name.append(name))
    report = repair.repair(str(tree), *OWNER)
    assert by_name == [] and owner(directory / "y") == OWNER and owner(directory) == OWNER
    assert stat.S_IMODE(os.lstat(str(directory)).st_mode) == 0o777 and owner(secret) == (0, 0)
    assert report.refused == 1 and report.error_count == 1


KILL_PRELUDE = """\
import os, signal, sys
sys.path.insert(0, {feature!r})
from uv_user import repair
calls = [0]
real = repair._chown_at
def chown_at(*args, **kwargs):
    calls[0] += 1
    if calls[0] == {after}:
        os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the walk: no finally runs
    real(*args, **kwargs)
repair._chown_at = chown_at
repair.repair({tree!r}, {uid}, {gid}, state={state!r})
"""


@needs_root
@pytest.mark.parametrize("after", [1, 30, 70, 110])  # of 120: the env's bin, then the cache's half of the links
def test_a_repair_killed_midway_leaves_nothing_worse_and_the_next_one_finishes(tmp_path, after):
    # A uv-shaped tree of the old owner's: the env's files hard-linked into the cache (their directories
    # stay root's until both names are counted), plain files, a name of the secret. Killed after
    # ``after`` changes by name: the secret is untouched, every mode is as it was, every owner is the
    # old one, the user's, or (directories only) root's with the old group; the next repair finishes.
    tree, outside = user_tree(tmp_path, "venv/lib/pkg", "cache/archive/pkg", "venv/bin")
    for i in range(60):
        (tree / "cache" / "archive" / "pkg" / "m{}.py".format(i)).write_text("")
        os.link(str(tree / "cache" / "archive" / "pkg" / "m{}.py".format(i)),
                str(tree / "venv" / "lib" / "pkg" / "m{}.py".format(i)))
        (tree / "venv" / "bin" / "t{}".format(i)).write_text("")
    chown_tree(tree, *OLD_OWNER)
    os.link(str(outside / "secret"), str(tree / "venv" / "k"))  # after: chown_all would re-own the secret
    modes = {path: os.lstat(path).st_mode for path in walk_names(tree)}
    state = tmp_path / "state" / "repair.json"
    code = KILL_PRELUDE.format(feature=str(FEATURE_DIR), after=after, tree=str(tree), uid=OWNER[0], gid=OWNER[1],
                               state=str(state))
    killed = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert owner(outside / "secret") == (0, 0)
    taken = []
    del modes[str(tree / "venv" / "k")]  # the secret's name
    for path, mode in modes.items():
        st = os.lstat(path)
        assert st.st_mode == mode, path
        if (st.st_uid, st.st_gid) == (0, OLD_OWNER[1]):
            assert stat.S_ISDIR(st.st_mode), path
            taken.append(path)
        else:
            assert (st.st_uid, st.st_gid) in (OLD_OWNER, OWNER), path
    assert taken, "killed after the walk: nothing was under way"
    report = repair.repair(str(tree), *OWNER, state=str(state))  # the lock died with the process
    assert report.refused == 1 and report.error_count == 1 and not report.incomplete
    assert [path for path in walk_names(tree) if owner(Path(path)) != OWNER] == [str(tree / "venv" / "k")]
    assert owner(outside / "secret") == (0, 0)


def walk_names(tree: Path) -> List[str]:
    return [str(tree)] + [os.path.join(base, name) for base, dirs, files in os.walk(str(tree))
                          for name in dirs + files]


@needs_root
def test_repairs_take_turns_and_one_that_cannot_wait_changes_nothing(tmp_path):
    import fcntl

    tree, _ = user_tree(tmp_path, "venv/lib")
    (tree / "venv" / "lib" / "mod.py").write_text("")
    chown_tree(tree, *OLD_OWNER)
    state = tmp_path / "state" / "repair.json"
    other_repair = status.lock(repair.lock_path(str(state)))  # what another repair holds while it works
    lock_file = Path(repair.lock_path(str(state)))
    assert stat.S_IMODE(os.lstat(str(lock_file)).st_mode) == 0o600 and owner(lock_file) == (0, 0)
    try:
        fcntl.flock(other_repair, fcntl.LOCK_EX)
        report = repair.repair(str(tree), *OWNER, deadline=time.monotonic() + 0.3, state=str(state))
        assert report.incomplete and report.changed == 0 and owner(tree) == OLD_OWNER
    finally:
        os.close(other_repair)
    report = repair.repair(str(tree), *OWNER, state=str(state))
    assert report.complete and report.changed == 4 and owner(tree / "venv" / "lib" / "mod.py") == OWNER


@needs_root
def test_without_a_lock_file_root_alone_can_hold_no_directory_is_locked(tmp_path, monkeypatch):
    tree, outside = user_tree(tmp_path, "venv/lib")
    (tree / "venv" / "lib" / "mod.py").write_text("")
    chown_tree(tree, *OLD_OWNER)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(str(shared), 0o777)  # anyone could plant or hold a lock file here
    monkeypatch.setattr(repair, "_chown_at", lambda *a, **k: pytest.fail("changed by name without the lock"))
    report = repair.repair(str(tree), *OWNER, state=str(shared / "repair.json"))
    assert report.complete and [p for p in walk_names(tree) if owner(Path(p)) != OWNER] == []
    assert not os.path.lexists(str(shared / "repair.lock"))
