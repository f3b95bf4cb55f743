"""HTTPS downloads the way corporate networks need them: proxies, custom CAs, retries.

urllib already honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment; the
TLS context is built from SSL_CERT_FILE/SSL_CERT_DIR when set, so an intercepting
proxy's CA that the image trusts is trusted here too.
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
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO, Callable, Mapping, Optional, Tuple, TypeVar

from .errors import UvUserError

USER_AGENT = "uv-user (dev container feature)"
RETRYABLE_STATUS = frozenset([408, 425, 429, 500, 502, 503, 504])
DEFAULT_TIMEOUT = 30.0
# Seconds each attempt may wait for the index. Undocumented: only the hardening tests set it,
# so a hanging index fails in seconds there instead of minutes.
TIMEOUT_ENV = "_UV_USER_HTTP_TIMEOUT"
T = TypeVar("T")
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


def url_problem(url: str) -> str:
    """Why uv-user will not fetch ``url`` ("" when it may): the rules for indexUrl, and for every
    link and redirect the index hands out, so a page cannot send the download elsewhere."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "it contains whitespace or control characters"
    try:
        parsed = urllib.parse.urlsplit(url)
        if _LONG_PORT.search(parsed.netloc):  # before int() sees it: past 4300 digits it raises oddly
            raise ValueError("Port out of range 0-65535")
        port = parsed.port  # raises for a port that is not a number in 0-65535
    except ValueError as exc:
        return "it is not a valid URL: {}".format(exc)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "it is not an http(s) URL"
    if "@" in parsed.netloc:
        return "it carries credentials, which uv-user does not send"
    if port == 0:
        return "it names port 0"
    try:
        parsed.hostname.encode("idna")
    except UnicodeError:
        return "its host name {!r} is not a valid DNS name".format(parsed.hostname)
    if parsed.scheme == "http" and not is_loopback_host(parsed.hostname):
        return "it is plain HTTP to a host other than localhost"
    return ""


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
        raise UvUserError("{}={!r} is not a positive number of seconds; unset it".format(TIMEOUT_ENV, raw))
    return value


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL uv-user would fetch itself, and never from HTTPS to plain HTTP."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        problem = url_problem(newurl) or (
            "it would downgrade HTTPS to plain HTTP" if downgrades(req.full_url, newurl) else "")
        if problem:
            raise UvUserError("{} redirects to {}, which uv-user refuses: {}; check indexUrl".format(
                redact(req.full_url), redact(newurl), problem))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(proxies: Optional[dict]) -> urllib.request.OpenerDirector:
    """HTTP(S) only: build_opener would add file:, ftp: and data: handlers an index link could use."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(proxies), urllib.request.UnknownHandler(),
                    urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(context=tls_context()),
                    urllib.request.HTTPDefaultErrorHandler(), _CheckedRedirects(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def tls_context() -> ssl.SSLContext:
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile and not os.path.isfile(cafile):
        raise UvUserError("SSL_CERT_FILE={} does not exist; point it at a PEM bundle or unset it".format(cafile))
    return ssl.create_default_context(cafile=cafile, capath=capath)


class Fetcher:
    """GET with timeouts and bounded retries with backoff; errors name the URL and a fix."""

    def __init__(self, timeout: Optional[float] = None, attempts: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout = timeout_from(os.environ) if timeout is None else timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self._opener = _opener(None)
        # A loopback index is this machine's: never hand its URL to a proxy from the environment.
        self._direct = _opener({})

    def _attempt(self, url: str, accept: str, consume: Callable[[object], T]) -> T:
        """Open and consume inside one retry loop, so a mirror that stalls mid-body is retried too."""
        problem = url_problem(url)
        if problem:
            raise UvUserError("refusing to fetch {}: {}; check indexUrl".format(redact(url), problem))
        request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": USER_AGENT})
        opener = self._direct if is_loopback_host(urllib.parse.urlsplit(url).hostname or "") else self._opener
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    return consume(response)
            except (ValueError, OverflowError) as exc:  # a URL or header http.client cannot send
                raise UvUserError("cannot request {} ({}); check indexUrl".format(redact(url), exc))
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code not in RETRYABLE_STATUS:
                    raise UvUserError("{} answered HTTP {} {}; check indexUrl".format(url, exc.code, exc.reason))
                last = "HTTP {}".format(exc.code)
            except (urllib.error.URLError, socket.timeout, ssl.SSLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, ssl.SSLError) and not isinstance(reason, ssl.SSLEOFError):
                    raise UvUserError(
                        "TLS to {} failed ({}); if a proxy intercepts TLS, add its CA to the image and set "
                        "SSL_CERT_FILE".format(url, getattr(reason, "reason", None) or reason)
                    )
                timed_out = isinstance(reason, (socket.timeout, TimeoutError))
                last = "timed out" if timed_out else str(reason) or type(exc).__name__
            if attempt < self.attempts:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        waited = "; no answer within {:g} s per attempt".format(self.timeout) if last == "timed out" else ""
        raise UvUserError(
            "could not reach {} after {} attempts ({}){}; check the network, HTTPS_PROXY/NO_PROXY "
            "and indexUrl".format(url, self.attempts, last, waited)
        )

    def text(self, url: str, accept: str) -> Tuple[str, str, str]:
        """(body, content type, final URL after redirects)."""

        def consume(response) -> Tuple[str, str, str]:
            body = response.read()
            charset = response.headers.get_content_charset() or "utf-8"
            try:
                text = body.decode(charset, errors="replace")
            except LookupError:  # a charset Python does not know: the page is still mostly ASCII
                text = body.decode("utf-8", errors="replace")
            return text, response.headers.get("Content-Type", ""), response.geturl()

        return self._attempt(url, accept, consume)

    def download(self, url: str, out: BinaryIO, expected_sha256: str) -> None:
        """Stream into ``out`` and refuse the bytes unless their sha256 matches."""

        def consume(response) -> str:
            out.seek(0)
            out.truncate()
            digest = hashlib.sha256()
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    return digest.hexdigest()
                digest.update(chunk)
                out.write(chunk)

        check_sha256(url, self._attempt(url, "*/*", consume), expected_sha256)


def check_sha256(url: str, actual: str, expected: str) -> None:
    if actual.lower() != expected.lower():
        raise UvUserError(
            "sha256 of {} is {} but the index says {}; the download or the index is corrupt or "
            "tampered with: check indexUrl and any proxy".format(url, actual, expected)
        )
