"""HTTPS downloads the way corporate networks need them: proxies, custom CAs, retries.

urllib already honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment; the
TLS context is built from SSL_CERT_FILE/SSL_CERT_DIR when set, so an intercepting
proxy's CA that the image trusts is trusted here too.

Every fetch is bounded in time and size (see PAGE and WHEEL): a socket timeout
only bounds each read, so a server that sends a byte now and then, or never stops
sending, would otherwise hold the build forever or fill its memory or disk.

Which URLs may be fetched at all is one rule, :func:`url_problem`, for indexUrl and
for every link and redirect an index hands out. Its answer is data (a code and a
reason): callers branch on the code, and the refusals carry it as UvUserError.code.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import math
import os
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from typing import BinaryIO, Callable, Iterator, List, Mapping, Optional, Tuple, TypeVar

from .errors import UvUserError
from .text import quoted, shown

USER_AGENT = "uv-user (dev container feature)"
RETRYABLE_STATUS = frozenset([408, 425, 429, 500, 502, 503, 504])
# Seconds a read may wait for the next byte before the attempt counts as timed out.
DEFAULT_TIMEOUT = 30.0
# Undocumented: only tests set it, so a hanging index fails in seconds there instead of minutes. It
# replaces DEFAULT_TIMEOUT and scales every time limit below by the same factor.
TIMEOUT_ENV = "_UV_USER_HTTP_TIMEOUT"
T = TypeVar("T")
_CHUNK = 1 << 16
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Limits:
    """How long one kind of fetch may take (each attempt, and all attempts with their pauses) and how
    many bytes it may read."""

    what: str  # for messages: "the index page"
    attempt_seconds: float
    total_seconds: float
    max_bytes: int

    def scaled(self, factor: float) -> "Limits":
        return replace(self, attempt_seconds=self.attempt_seconds * factor, total_seconds=self.total_seconds * factor)


# The index page: PyPI's uv page is a few MB, so a minute is ample on any link that can build an image;
# three minutes leave room for retries. 64 MiB is over ten times the largest such page, yet bounded
# memory (the page is parsed in memory) on even a small build machine.
PAGE = Limits("the index page", attempt_seconds=60.0, total_seconds=180.0, max_bytes=64 << 20)
# The wheel: uv wheels are about 20 MB. Ten minutes fit a 50 MB wheel at under 1 Mbit/s (a slow
# corporate proxy), twenty minutes two such attempts. 256 MiB is far above any uv wheel but refuses an
# endless stream long before it fills the disk.
WHEEL = Limits("the uv wheel", attempt_seconds=600.0, total_seconds=1200.0, max_bytes=256 << 20)
_LONG_PORT = re.compile(r":[0-9]{6,}$")  # a netloc ending in a port no 16-bit number can be


def is_loopback_host(host: str) -> bool:
    """Only literal loopback addresses and ``localhost``: ``127.evil.example`` is not loopback."""
    host = (host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages that end up in build logs."""
    try:
        parsed = urllib.parse.urlsplit(url)
        password = parsed.password
    except ValueError:
        return url
    if password is None:
        return url
    user, _, host = parsed.netloc.rpartition("@")
    return urllib.parse.urlunsplit(parsed._replace(netloc=user.split(":", 1)[0] + ":***@" + host))


# The kinds of URL uv-user will not fetch (UrlProblem.code): callers branch on these, never on the words.
CONTROL_CHARACTERS = "control-characters"
INVALID_URL = "invalid-url"
NOT_HTTP = "not-http"
CREDENTIALS = "credentials"
PORT_ZERO = "port-0"
BAD_HOST = "bad-host"
PLAIN_HTTP = "plain-http"
DOWNGRADE = "downgrade"


@dataclass(frozen=True)
class UrlProblem:
    """Why uv-user will not fetch a URL: ``code`` (one of the kinds above) for code, ``reason`` for people."""

    code: str
    reason: str  # "it is plain HTTP to a host other than localhost"


def url_problem(url: str) -> Optional[UrlProblem]:
    """Why uv-user will not fetch ``url`` (None when it may): the rules for indexUrl, and for every
    link and redirect the index hands out, so a page cannot send the download elsewhere."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return UrlProblem(CONTROL_CHARACTERS, "it contains whitespace or control characters")
    try:
        parsed = urllib.parse.urlsplit(url)
        if _LONG_PORT.search(parsed.netloc):  # before int() sees it: past 4300 digits it raises oddly
            raise ValueError("Port out of range 0-65535")
        port = parsed.port  # raises for a port that is not a number in 0-65535
    except ValueError as exc:
        return UrlProblem(INVALID_URL, "it is not a valid URL: {}".format(exc))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return UrlProblem(NOT_HTTP, "it is not an http(s) URL")
    if "@" in parsed.netloc:
        return UrlProblem(CREDENTIALS, "it carries credentials, which uv-user does not send")
    if port == 0:
        return UrlProblem(PORT_ZERO, "it names port 0")
    try:
        parsed.hostname.encode("idna")
    except UnicodeError:
        return UrlProblem(BAD_HOST, "its host name '{}' is not a valid DNS name".format(parsed.hostname))
    if parsed.scheme == "http" and not is_loopback_host(parsed.hostname):
        return UrlProblem(PLAIN_HTTP, "it is plain HTTP to a host other than localhost")
    return None


def downgrades(from_url: str, to_url: str) -> bool:
    """True when going from ``from_url`` to ``to_url`` leaves HTTPS for plain HTTP, whatever the host:
    what came over TLS must not hand the download to anyone who can answer on a plain port."""
    return _scheme(from_url) == "https" and _scheme(to_url) == "http"


def _scheme(url: str) -> str:
    try:
        return urllib.parse.urlsplit(url).scheme
    except ValueError:
        return ""


def timeout_from(env: Mapping[str, str]) -> float:
    raw = env.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise UvUserError("{}={} is not a positive number of seconds".format(TIMEOUT_ENV, quoted(raw)), "unset it")
    return value


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL uv-user would fetch itself, and never from HTTPS to plain HTTP."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        # urllib reads a redirect's whole body (into memory) before following it: never let it.
        fp.close()
        problem = url_problem(newurl) or (
            UrlProblem(DOWNGRADE, "it would downgrade HTTPS to plain HTTP") if downgrades(req.full_url, newurl)
            else None)
        if problem:
            raise UvUserError("{} redirects to {}, which uv-user refuses: {}".format(
                shown(redact(req.full_url)), shown(redact(newurl)), shown(problem.reason)), "check indexUrl",
                code=problem.code)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:  # the next hop counts against the same deadline
            new.deadline = getattr(req, "deadline", None)
        return new


class _Deadline:
    """Cuts an attempt's connections when its time is up.

    A socket timeout bounds each read, not the whole: a server that sends a byte now and then (in its
    headers, its body, or a TLS handshake) is never cut off by one. A timer shuts the sockets down
    instead, which ends any blocked read at once; shutting down a duplicate of each socket works
    before and after TLS wraps it, and after urllib drops its own reference.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets = []

    def watch(self, sock: socket.socket) -> socket.socket:
        """Called with each socket the attempt opens (a redirect opens another)."""
        with self._lock:
            if self.expired:
                _shut(sock)
            else:
                self._sockets.append(sock.dup())
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other side


class _WatchedConnections:
    """Mixin for urllib's HTTP(S) handlers: each connection hands its socket to the request's deadline
    the moment it exists, before any proxy tunnel or TLS handshake. ``_create_connection`` is
    http.client's own hook for making that socket (3.8 to 3.13); test_net's trickle tests fail if it
    ever stops being called."""

    def do_open(self, http_class, req, **kwargs):  # type: ignore[no-untyped-def]
        deadline = getattr(req, "deadline", None)
        if deadline is None:
            return super().do_open(http_class, req, **kwargs)  # type: ignore[misc]

        def connection(*args, **kw):  # type: ignore[no-untyped-def]
            conn = http_class(*args, **kw)
            create = conn._create_connection
            conn._create_connection = lambda *a, **k: deadline.watch(create(*a, **k))
            return conn

        return super().do_open(connection, req, **kwargs)  # type: ignore[misc]


class _HTTPHandler(_WatchedConnections, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_WatchedConnections, urllib.request.HTTPSHandler):
    pass


def _opener(proxies: Optional[dict]) -> urllib.request.OpenerDirector:
    """HTTP(S) only: build_opener would add file:, ftp: and data: handlers an index link could use."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(proxies), urllib.request.UnknownHandler(),
                    _HTTPHandler(), _HTTPSHandler(context=tls_context()),
                    urllib.request.HTTPDefaultErrorHandler(), _CheckedRedirects(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def tls_context() -> ssl.SSLContext:
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile and not os.path.isfile(cafile):
        raise UvUserError("SSL_CERT_FILE={} does not exist".format(shown(cafile)),
                          "point it at a PEM bundle or unset it")
    return ssl.create_default_context(cafile=cafile, capath=capath)


class Fetcher:
    """GET with time and size limits and bounded retries with backoff; errors name the URL and a fix."""

    def __init__(self, timeout: Optional[float] = None, attempts: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, page: Optional[Limits] = None,
                 wheel: Optional[Limits] = None) -> None:
        self.timeout = timeout_from(os.environ) if timeout is None else timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        # A shorter read timeout (the tests' hidden variable) shortens every limit alike.
        self.page = page or PAGE.scaled(self.timeout / DEFAULT_TIMEOUT)
        self.wheel = wheel or WHEEL.scaled(self.timeout / DEFAULT_TIMEOUT)
        self._opener = _opener(None)
        # A loopback index is this machine's: never hand its URL to a proxy from the environment.
        self._direct = _opener({})

    def _attempt(self, url: str, accept: str, limits: Limits,
                 consume: Callable[[object, Iterator[bytes]], T]) -> T:
        """Open and consume inside one retry loop, so a mirror that stalls mid-body is retried too."""
        problem = url_problem(url)
        if problem:
            raise UvUserError("refusing to fetch {}: {}".format(shown(redact(url)), shown(problem.reason)),
                              "check indexUrl", code=problem.code)
        opener = self._direct if is_loopback_host(urllib.parse.urlsplit(url).hostname or "") else self._opener
        end = time.monotonic() + limits.total_seconds
        last, gave_up = "", ""
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": USER_AGENT})
            with _Deadline(min(limits.attempt_seconds, end - time.monotonic())) as deadline:
                request.deadline = deadline  # type: ignore[attr-defined]
                try:
                    with opener.open(request, timeout=self.timeout) as response:
                        return consume(response, _body(response, deadline, limits, url))
                # URLError, socket.timeout and ssl.SSLError are OSErrors; ValueError: see _failure.
                except (ValueError, OverflowError, http.client.HTTPException, OSError) as exc:
                    last = self._failure(exc, url, deadline)
            if attempt == self.attempts:
                break
            pause = self.backoff * 2 ** (attempt - 1)
            if time.monotonic() + pause >= end:
                gave_up = "; gave up at the {} s limit for {}".format(_seconds(limits.total_seconds), limits.what)
                break
            self.sleep(pause)
        raise UvUserError(
            "could not fetch {} {} after {} attempt{} ({}{})".format(
                limits.what, shown(redact(url)), attempt, "" if attempt == 1 else "s", shown(last), gave_up),
            "check the network, HTTPS_PROXY/NO_PROXY and indexUrl")

    def _failure(self, exc: Exception, url: str, deadline: _Deadline) -> str:
        """Why one attempt failed, when another may succeed; raises for what a retry cannot fix."""
        if deadline.expired:  # whatever the cut-off connection raised
            return "timed out: still incomplete after {} s".format(_seconds(deadline.seconds))
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()
            if exc.code not in RETRYABLE_STATUS:
                raise UvUserError("{} answered HTTP {} {}".format(shown(redact(url)), exc.code, shown(str(exc.reason))),
                                  "check indexUrl")
            return "HTTP {}".format(exc.code)
        if isinstance(exc, (ValueError, OverflowError)):  # a URL or header http.client cannot send
            raise UvUserError("cannot request {} ({})".format(shown(redact(url)), shown(str(exc))), "check indexUrl")
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError) and not isinstance(reason, ssl.SSLEOFError):
            raise UvUserError(
                "TLS to {} failed ({})".format(shown(redact(url)),
                                               shown(str(getattr(reason, "reason", None) or reason))),
                "if a proxy intercepts TLS, add its CA to the image and set SSL_CERT_FILE")
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return "timed out: no data for {} s".format(_seconds(self.timeout))
        return str(reason) or type(exc).__name__

    def text(self, url: str, accept: str) -> Tuple[str, str, str]:
        """(body, content type, final URL after redirects)."""

        def consume(response, chunks: Iterator[bytes]) -> Tuple[str, str, str]:  # type: ignore[no-untyped-def]
            body = b"".join(chunks)
            charset = response.headers.get_content_charset() or "utf-8"
            try:
                text = body.decode(charset, errors="replace")
            except LookupError:  # a charset Python does not know: the page is still mostly ASCII
                text = body.decode("utf-8", errors="replace")
            return text, response.headers.get("Content-Type", ""), response.geturl()

        return self._attempt(url, accept, self.page, consume)

    def download(self, url: str, out: BinaryIO, expected_sha256: str) -> None:
        """Stream into ``out`` and refuse the bytes unless their sha256 matches."""

        def consume(response, chunks: Iterator[bytes]) -> str:  # type: ignore[no-untyped-def]
            out.seek(0)
            out.truncate()
            digest = hashlib.sha256()
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
            return digest.hexdigest()

        check_sha256(url, self._attempt(url, "*/*", self.wheel, consume), expected_sha256)


def _body(response, deadline: _Deadline, limits: Limits, url: str) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    """The response body in chunks, within the deadline and the size cap. Content-Length is only
    trusted to refuse early: the count of bytes that actually arrive is what is enforced."""
    declared = response.headers.get("Content-Length", "").strip()
    if "chunked" in response.headers.get("Transfer-Encoding", "").lower() or not _DIGITS.fullmatch(declared):
        declared = ""  # absent, not a number (isdigit() would take "\xb2"), or one HTTP says to ignore
    if declared and (len(declared) > 18 or int(declared) > limits.max_bytes):
        _too_large(limits, url, "Content-Length: " + (declared if len(declared) <= 18 else
                                                      "a {}-digit number".format(len(declared))))
    total = 0
    while True:
        chunk = response.read(_CHUNK)
        if deadline.expired:  # the cut connection reads as a short or empty body
            raise socket.timeout("deadline")
        if not chunk:
            break
        total += len(chunk)
        if total > limits.max_bytes:
            _too_large(limits, url, "more arrived")
        yield chunk
    if declared and total < int(declared):
        raise http.client.IncompleteRead(b"", int(declared) - total)


def _seconds(value: float) -> str:
    return "{:g}".format(round(value, 3))


def _too_large(limits: Limits, url: str, how: str) -> None:
    size = limits.max_bytes
    cap = "{} MiB".format(size >> 20) if size >= 1 << 20 and size % (1 << 20) == 0 else "{} bytes".format(size)
    raise UvUserError("{} {} is larger than {}, the most uv-user reads for it ({})".format(
        limits.what, shown(redact(url)), cap, how), "check indexUrl")


def check_sha256(url: str, actual: str, expected: str) -> None:
    if actual.lower() != expected.lower():
        raise UvUserError(
            "sha256 of {} is {} but the index says {}".format(shown(redact(url)), actual, shown(expected)),
            "the download or the index is corrupt or tampered with: check indexUrl and any proxy")
