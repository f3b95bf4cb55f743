"""HTTPS downloads the way corporate networks need them: proxies, custom CAs, retries.

urllib already honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment; the
TLS context is built from SSL_CERT_FILE/SSL_CERT_DIR when set, so an intercepting
proxy's CA that the image trusts is trusted here too.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO, Callable, Tuple, TypeVar

from .errors import UvUserError

USER_AGENT = "uv-user (dev container feature)"
RETRYABLE_STATUS = frozenset([408, 425, 429, 500, 502, 503, 504])
T = TypeVar("T")


def is_loopback_host(host: str) -> bool:
    """Only literal loopback addresses and ``localhost``: ``127.evil.example`` is not loopback."""
    host = (host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context() -> ssl.SSLContext:
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile and not os.path.isfile(cafile):
        raise UvUserError("SSL_CERT_FILE={} does not exist; point it at a PEM bundle or unset it".format(cafile))
    return ssl.create_default_context(cafile=cafile, capath=capath)


class Fetcher:
    """GET with timeouts and bounded retries with backoff; errors name the URL and a fix."""

    def __init__(self, timeout: float = 30.0, attempts: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(), urllib.request.HTTPSHandler(context=tls_context())
        )

    def _attempt(self, url: str, accept: str, consume: Callable[[object], T]) -> T:
        """Open and consume inside one retry loop, so a mirror that stalls mid-body is retried too."""
        request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": USER_AGENT})
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return consume(response)
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
        raise UvUserError(
            "could not reach {} after {} attempts ({}); check the network, HTTPS_PROXY/NO_PROXY "
            "and indexUrl".format(url, self.attempts, last)
        )

    def text(self, url: str, accept: str) -> Tuple[str, str, str]:
        """(body, content type, final URL after redirects)."""

        def consume(response) -> Tuple[str, str, str]:
            body = response.read()
            charset = response.headers.get_content_charset() or "utf-8"
            return body.decode(charset, errors="replace"), response.headers.get("Content-Type", ""), response.geturl()

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
