"""Talking to an index for real: a threaded http.server on 127.0.0.1 plays the mirror."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time

import pytest

from uv_user import net
from uv_user.errors import UvUserError
from uv_user.index import JSON_TYPE, fetch_project
from uv_user.net import Fetcher, check_sha256

X86 = "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
MUSL = "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl"
SHA = "c" * 64


def json_body(versions=("0.12.0", "0.13.9")):
    return json.dumps({
        "meta": {"api-version": "1.1"},
        "name": "uv",
        "versions": list(versions),
        "files": [{"filename": X86, "url": "../../packages/" + X86, "hashes": {"sha256": SHA}}],
    }).encode()


HTML_BODY = '<a href="../../packages/{m}#sha256={s}">{m}</a>'.format(m=MUSL, s=SHA).encode()


def no_sleep_fetcher(**kwargs):
    slept = []
    return Fetcher(sleep=slept.append, **kwargs), slept


# ----------------------------------------------------------------------------- fetch_project


def test_fetch_project_asks_for_json_and_reads_it_when_served(local_index):
    def negotiate(headers):
        if JSON_TYPE in headers.get("accept", ""):
            return local_index.reply(body=json_body(), ctype=JSON_TYPE)
        return local_index.reply(body=HTML_BODY)

    local_index.routes["/simple/uv/"] = negotiate
    fetcher, _ = no_sleep_fetcher()
    files, versions = fetch_project(fetcher, local_index.url + "/simple")
    assert [f.filename for f in files] == [X86]
    assert files[0].url == local_index.url + "/packages/" + X86
    assert files[0].sha256 == SHA
    assert versions == {"0.12.0", "0.13.9"}
    accept = local_index.requests[0][1]["accept"]
    assert accept.startswith(JSON_TYPE) and "text/html" in accept


def test_fetch_project_falls_back_to_html_when_the_index_only_speaks_html(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(body=HTML_BODY, ctype="text/html; charset=utf-8")]
    fetcher, _ = no_sleep_fetcher()
    files, versions = fetch_project(fetcher, local_index.url + "/simple/")
    assert [(f.filename, f.url, f.sha256) for f in files] == [(MUSL, local_index.url + "/packages/" + MUSL, SHA)]
    assert versions == {"0.13.9"}
    assert local_index.paths_requested() == ["/simple/uv/"]


def test_fetch_project_anchors_relative_links_at_the_page_it_was_redirected_to(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(301, headers={"Location": "/mirror/simple/uv/"})]
    local_index.routes["/mirror/simple/uv/"] = [local_index.reply(body=json_body(), ctype=JSON_TYPE)]
    fetcher, _ = no_sleep_fetcher()
    files, _ = fetch_project(fetcher, local_index.url + "/simple")
    assert files[0].url == local_index.url + "/mirror/packages/" + X86


def test_fetch_project_refuses_a_page_with_no_files(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(body=b"<html><body>nothing here</body></html>")]
    fetcher, _ = no_sleep_fetcher()
    with pytest.raises(UvUserError, match=r"/simple/uv/ lists no uv files"):
        fetch_project(fetcher, local_index.url + "/simple")


def test_fetch_project_retries_a_500_then_succeeds(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(500, b"oops"),
                                         local_index.reply(body=json_body(), ctype=JSON_TYPE)]
    fetcher, slept = no_sleep_fetcher()
    files, _ = fetch_project(fetcher, local_index.url + "/simple")
    assert [f.filename for f in files] == [X86]
    assert local_index.paths_requested() == ["/simple/uv/", "/simple/uv/"]
    assert slept == [1.0]


def test_fetch_project_gives_up_after_the_configured_attempts_of_503(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(503, b"busy")]
    fetcher, slept = no_sleep_fetcher(attempts=3)
    with pytest.raises(UvUserError) as caught:
        fetch_project(fetcher, local_index.url + "/simple")
    assert "after 3 attempts (HTTP 503)" in caught.value.line()
    assert len(local_index.requests) == 3
    assert slept == [1.0, 2.0]  # exponential backoff, no sleep after the last attempt


def test_fetch_project_404_fails_at_once_naming_the_url(local_index):
    fetcher, slept = no_sleep_fetcher()
    with pytest.raises(UvUserError) as caught:
        fetch_project(fetcher, local_index.url + "/simple")
    line = caught.value.line()
    assert line.startswith("uv-user: {}/simple/uv/ answered HTTP 404".format(local_index.url))
    assert len(local_index.requests) == 1 and slept == []


def test_fetch_project_unreachable_port_fails_after_all_attempts(closed_port):
    url = "http://127.0.0.1:{}/simple".format(closed_port)
    fetcher, slept = no_sleep_fetcher(attempts=2)
    with pytest.raises(UvUserError) as caught:
        fetch_project(fetcher, url)
    line = caught.value.line()
    assert line.startswith("uv-user: could not fetch the index page {}/uv/ after 2 attempts".format(url))
    assert "refused" in line.lower()
    assert slept == [1.0]


def test_fetch_project_times_out_on_a_server_that_never_answers(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(hang=True)]
    fetcher, _ = no_sleep_fetcher(timeout=0.5, attempts=1)
    with pytest.raises(UvUserError) as caught:
        fetch_project(fetcher, local_index.url + "/simple")
    assert "after 1 attempt (timed out: no data for 0.5 s); check the network" in caught.value.line()


def test_fetch_project_times_out_on_a_server_that_stalls_after_its_headers(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(body=json_body(), ctype=JSON_TYPE, hang_body=True)]
    fetcher, _ = no_sleep_fetcher(timeout=0.5, attempts=1)
    with pytest.raises(UvUserError, match=r"after 1 attempt \(timed out: no data for 0\.5 s\)"):
        fetch_project(fetcher, local_index.url + "/simple")


def test_fetcher_sends_a_user_agent(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(body=HTML_BODY)]
    fetcher, _ = no_sleep_fetcher()
    fetch_project(fetcher, local_index.url + "/simple")
    assert local_index.requests[0][1]["user-agent"].startswith("uv-user")


# ----------------------------------------------------------------------------- download

PAYLOAD = b"PK\x03\x04 pretend this is a wheel " * 1000


def test_download_with_matching_sha256_writes_the_bytes(local_index):
    local_index.routes["/packages/uv.whl"] = [local_index.reply(body=PAYLOAD, ctype="application/octet-stream")]
    fetcher, _ = no_sleep_fetcher()
    out = io.BytesIO()
    fetcher.download(local_index.url + "/packages/uv.whl", out, hashlib.sha256(PAYLOAD).hexdigest().upper())
    assert out.getvalue() == PAYLOAD


def test_download_with_mismatching_sha256_raises_naming_both_hashes(local_index):
    local_index.routes["/packages/uv.whl"] = [local_index.reply(body=PAYLOAD, ctype="application/octet-stream")]
    fetcher, _ = no_sleep_fetcher()
    wrong = "0" * 64
    with pytest.raises(UvUserError) as caught:
        fetcher.download(local_index.url + "/packages/uv.whl", io.BytesIO(), wrong)
    line = caught.value.line()
    assert hashlib.sha256(PAYLOAD).hexdigest() in line
    assert wrong in line
    assert local_index.url + "/packages/uv.whl" in line


def test_download_404_names_the_url(local_index):
    fetcher, _ = no_sleep_fetcher()
    with pytest.raises(UvUserError, match=r"/packages/missing\.whl answered HTTP 404"):
        fetcher.download(local_index.url + "/packages/missing.whl", io.BytesIO(), SHA)


def test_check_sha256_compares_case_insensitively_and_refuses_an_empty_expectation():
    check_sha256("u", "ab" * 32, "AB" * 32)
    with pytest.raises(UvUserError, match="the index says ;"):
        check_sha256("u", "ab" * 32, "")


# ----------------------------------------------------------------------------- time limits

def test_a_page_that_trickles_in_is_cut_off_at_the_deadline_for_one_attempt(local_index):
    # A byte every 20 ms: no read ever waits near the 0.5 s socket timeout, so only a deadline on the
    # whole fetch ends it (the page would take 4 s).
    local_index.routes["/simple/uv/"] = [local_index.reply(body=HTML_BODY[:200].ljust(200), trickle=0.02)]
    fetcher, _ = no_sleep_fetcher(timeout=0.5, attempts=1)
    start = time.monotonic()
    with pytest.raises(UvUserError) as caught:
        fetch_project(fetcher, local_index.url + "/simple")
    assert time.monotonic() - start < 2.5
    assert caught.value.line() == (
        "uv-user: could not fetch the index page {}/simple/uv/ after 1 attempt (timed out: still incomplete after "
        "1 s); check the network, HTTPS_PROXY/NO_PROXY and indexUrl (nothing was changed)".format(local_index.url))


@pytest.mark.parametrize("server, headers_too", [("local_index", True), ("tls_index", False), ("tls_index", True)])
def test_trickling_headers_and_tls_bodies_are_cut_off_too(request, server, headers_too):
    index = request.getfixturevalue(server)
    index.routes["/simple/uv/"] = [index.reply(body=HTML_BODY, trickle=0.02, trickle_headers=headers_too)]
    fetcher, _ = no_sleep_fetcher(timeout=0.5, attempts=1)
    start = time.monotonic()
    with pytest.raises(UvUserError, match=r"after 1 attempt \(timed out: still incomplete after 1 s\)"):
        fetch_project(fetcher, index.url + "/simple")
    assert time.monotonic() - start < 2.5


def test_a_wheel_that_trickles_in_is_cut_off_and_retried_within_the_overall_limit(local_index):
    local_index.routes["/packages/uv.whl"] = [local_index.reply(body=PAYLOAD, trickle=0.02)]
    wheel = net.Limits("the uv wheel", attempt_seconds=0.4, total_seconds=1.0, max_bytes=1 << 20)
    fetcher, _ = no_sleep_fetcher(attempts=5, wheel=wheel, backoff=0.0)
    start = time.monotonic()
    with pytest.raises(UvUserError) as caught:
        fetcher.download(local_index.url + "/packages/uv.whl", io.BytesIO(), SHA)
    assert time.monotonic() - start < 2.0
    line = caught.value.line()
    assert line.startswith("uv-user: could not fetch the uv wheel {}/packages/uv.whl after ".format(local_index.url))
    # The last attempt gets what is left of the second.
    assert re.search(r"\(timed out: still incomplete after 0\.[0-9]+ s; gave up at the 1 s limit for the uv wheel\); ",
                     line), line
    assert len(local_index.requests) in (2, 3)  # 0.4 + 0.4 + what is left: never all 5


def test_the_time_limits_default_to_the_documented_ones_and_the_hidden_variable_scales_them(monkeypatch):
    monkeypatch.delenv(net.TIMEOUT_ENV, raising=False)
    fetcher = net.Fetcher()
    assert (fetcher.timeout, fetcher.page, fetcher.wheel) == (30.0, net.PAGE, net.WHEEL)
    assert (net.PAGE.attempt_seconds, net.PAGE.total_seconds) == (60.0, 180.0)
    assert (net.WHEEL.attempt_seconds, net.WHEEL.total_seconds) == (600.0, 1200.0)
    monkeypatch.setenv(net.TIMEOUT_ENV, "1.5")
    fetcher = net.Fetcher()
    assert fetcher.timeout == 1.5
    assert (fetcher.page.attempt_seconds, fetcher.page.total_seconds, fetcher.page.max_bytes) == (
        3.0, 9.0, net.PAGE.max_bytes)
    assert (fetcher.wheel.attempt_seconds, fetcher.wheel.total_seconds) == (30.0, 60.0)


# ----------------------------------------------------------------------------- size caps


def test_a_page_larger_than_the_cap_is_refused_by_what_actually_arrives(local_index):
    # No Content-Length: the body ends when the connection closes, so only counting can refuse it.
    local_index.routes["/simple/uv/"] = [local_index.reply(body=HTML_BODY + b" " * 5000, length="")]
    page = net.Limits("the index page", 5.0, 5.0, max_bytes=1000)
    fetcher, _ = no_sleep_fetcher(page=page)
    with pytest.raises(UvUserError) as caught:
        fetch_project(fetcher, local_index.url + "/simple")
    assert caught.value.line() == (
        "uv-user: the index page {}/simple/uv/ is larger than 1000 bytes, the most uv-user reads for it (more "
        "arrived); check indexUrl (nothing was changed)".format(local_index.url))
    assert len(local_index.requests) == 1  # not retried: the same page would be as large


@pytest.mark.parametrize("length, shown", [("2000", "Content-Length: 2000"),
                                           ("9" * 5000, "Content-Length: a 5000-digit number")])
def test_a_wheel_whose_content_length_exceeds_the_cap_is_refused_before_reading(local_index, length, shown):
    local_index.routes["/packages/uv.whl"] = [local_index.reply(body=b"x", length=length, hang_body=True)]
    wheel = net.Limits("the uv wheel", 5.0, 5.0, max_bytes=1000)
    fetcher, _ = no_sleep_fetcher(wheel=wheel)
    start = time.monotonic()
    with pytest.raises(UvUserError) as caught:
        fetcher.download(local_index.url + "/packages/uv.whl", io.BytesIO(), SHA)
    assert time.monotonic() - start < 2.0  # the body (that never comes) was not waited for
    assert caught.value.line() == (
        "uv-user: the uv wheel {}/packages/uv.whl is larger than 1000 bytes, the most uv-user reads for it ({}); "
        "check indexUrl (nothing was changed)".format(local_index.url, shown))


def test_the_default_caps_are_generous_for_uv():
    assert net.PAGE.max_bytes == 64 << 20  # PyPI's uv page is a few MB
    assert net.WHEEL.max_bytes == 256 << 20  # uv wheels are about 20 MB


def test_a_body_shorter_than_its_content_length_is_retried(local_index):
    local_index.routes["/simple/uv/"] = [local_index.reply(body=HTML_BODY, length=str(len(HTML_BODY) + 10)),
                                         local_index.reply(body=HTML_BODY)]
    fetcher, slept = no_sleep_fetcher()
    files, _ = fetch_project(fetcher, local_index.url + "/simple")
    assert [f.filename for f in files] == [MUSL]
    assert len(local_index.requests) == 2



@pytest.mark.parametrize("length", ["\u00b2", "12abc", "-5", "1e9"])  # "\u00b2".isdigit() is True, int() refuses it
def test_a_content_length_that_is_not_a_number_is_ignored(local_index, length):
    local_index.routes["/simple/uv/"] = [local_index.reply(body=HTML_BODY, length=length)]
    fetcher, _ = no_sleep_fetcher()
    files, _ = fetch_project(fetcher, local_index.url + "/simple")
    assert [f.filename for f in files] == [MUSL]
