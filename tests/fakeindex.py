"""The tests' PyPI simple index: one server, canned answers, stdlib only (Python 3.8+).

Two uses, one server (LocalIndex, a threaded http.server on 127.0.0.1 that records every request):

- In the unit suite (tests/unit/conftest.py: the local_index and tls_index fixtures) each test sets
  ``routes``: path -> the replies it serves in order (the last repeats), or a function of the request
  headers. Replies can hang, stall after the headers or trickle (see Reply).
- In a container, for the hardening tests (tests/integration/test_hardening.py), as a script:
  ``python3 fakeindex.py --wheel /srv/uv-....whl [--port 8080]`` serves one real uv wheel through
  scenarios picked by the first path segment, ``/<scenario>[.<tag>]/simple/uv/``:

    json        PEP 691 JSON, relative links (../../files/...)    -> installs
    json-abs    PEP 691 JSON, absolute links (http://<Host>/...)  -> installs
    html        PEP 503 HTML only, whatever Accept says            -> installs
    flaky       HTTP 500 twice, then JSON; each wheel URL 503 once -> installs after retries
    hang        accepts the connection and never answers           -> timeout
    badsha      JSON whose sha256 for the wheel is wrong           -> refused
    noplatform  JSON listing only wheels for other platforms       -> refused
    anything else: 404

  Files are at ``/<scenario>[.<tag>]/files/<name>``. Counters (for ``flaky``) are per path, so a test
  that needs fresh ones uses a new ``.<tag>``. Every request is printed to stdout as ``<path> <status>``
  (``<path> hang``) for the test to read with ``docker logs``.

On the host, ``ensure_wheel(cache_dir, version)`` downloads the real manylinux x86_64 wheel once from
PyPI and checks its sha256 against PyPI's PEP 691 page.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import ssl
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Dict, List, Optional, Tuple, Union

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
PYPI_PAGE = "https://pypi.org/simple/uv/"
OTHER_PLATFORMS = ("manylinux_2_17_aarch64.manylinux2014_aarch64", "musllinux_1_1_x86_64", "macosx_10_12_x86_64",
                   "win_amd64")


# ----------------------------------------------------------------------------- the server


@dataclass
class Reply:
    """One canned answer. ``hang`` stalls before the status line, ``hang_body`` after the headers.

    ``trickle`` sends the body one byte every that many seconds, after the headers (with
    ``trickle_headers``, the status line and headers too): every read gets a byte long before a socket
    timeout, so only a deadline on the whole fetch ends it. ``length`` replaces the Content-Length
    header ("" sends none, so the body ends when the connection closes).
    """

    status: int = 200
    body: bytes = b""
    ctype: str = "text/html"
    headers: Dict[str, str] = field(default_factory=dict)
    hang: bool = False
    hang_body: bool = False
    trickle: float = 0.0
    trickle_headers: bool = False
    length: Optional[str] = None
    reason: Optional[str] = None  # the status line's reason phrase (default: the standard one)


# A route is a list of replies served in order (the last one repeats), or a function of the
# request headers returning a reply.
Route = Union[List[Reply], Callable[[Dict[str, str]], Reply]]
# What answers a path no route names: a function of the path and the request headers (default: 404).
Router = Callable[[str, Dict[str, str]], Reply]
NOT_FOUND = Reply(404, b"not found\n", "text/plain")


class LocalIndex:
    """A threaded http.server on 127.0.0.1 (port 0: any free one) with routes, recording every request.

    ``hang_seconds``: how long a hanging reply holds its connection unless stop() comes first.
    ``print_requests``: print ``<path> <status>`` for each request (the container's log)."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None, port: int = 0, router: Optional[Router] = None,
                 hang_seconds: float = 10.0, print_requests: bool = False) -> None:
        self.routes: Dict[str, Route] = {}
        self.router = router
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        self.release = threading.Event()  # set at teardown so hanging handlers end
        self.hang_seconds = hang_seconds
        self.print_requests = print_requests
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                headers = {k.lower(): v for k, v in self.headers.items()}
                index.requests.append((self.path, headers))
                reply = index._reply(self.path, headers)
                index._note(self.path, "hang" if reply.hang else str(reply.status))
                if reply.hang:
                    index.release.wait(index.hang_seconds)
                    return
                reason = self.responses.get(reply.status, ("",))[0] if reply.reason is None else reply.reason
                head = ["{} {} {}".format(self.protocol_version, reply.status, reason), "Content-Type: " + reply.ctype]
                length = str(len(reply.body)) if reply.length is None else reply.length
                head += ["Content-Length: " + length] if length else []
                head += ["{}: {}".format(key, value) for key, value in reply.headers.items()]
                raw_head = "".join(line + "\r\n" for line in head + [""]).encode("latin-1")
                if reply.trickle_headers:
                    index.trickle(self.wfile, raw_head + reply.body, reply.trickle)
                    return
                self.wfile.write(raw_head)
                if reply.hang_body:
                    self.wfile.flush()
                    index.release.wait(index.hang_seconds)
                    return
                if reply.trickle:
                    index.trickle(self.wfile, reply.body, reply.trickle)
                    return
                try:
                    self.wfile.write(reply.body)
                except OSError:  # the client gave up (a size cap)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = "{}://127.0.0.1:{}".format("https" if tls else "http", self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def trickle(self, out: BinaryIO, data: bytes, interval: float) -> None:
        """``data`` a byte at a time, ``interval`` seconds apart, until done, the client leaves or teardown."""
        for i in range(len(data)):
            try:
                out.write(data[i:i + 1])
                out.flush()
            except OSError:
                return
            if self.release.wait(interval):
                return

    def _reply(self, path: str, headers: Dict[str, str]) -> Reply:
        route = self.routes.get(path)
        if route is None:
            return self.router(path, headers) if self.router is not None else NOT_FOUND
        if callable(route):
            return route(headers)
        return route.pop(0) if len(route) > 1 else route[0]

    def _note(self, path: str, outcome: str) -> None:
        if self.print_requests:
            print("{} {}".format(path, outcome), flush=True)

    @staticmethod
    def reply(status: int = 200, body: bytes = b"", ctype: str = "text/html", **more: object) -> Reply:
        """A canned answer for ``routes`` (see Reply for the fields)."""
        return Reply(status, body, ctype, **more)  # type: ignore[arg-type]

    def paths_requested(self) -> List[str]:
        return [p for p, _ in self.requests]

    def start(self) -> "LocalIndex":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------- one real wheel, in scenarios


def wheel_name(version: str) -> str:
    return "uv-{}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl".format(version)


class Scenarios:
    """The router of the container's index: the scenarios in the module docstring, for one wheel."""

    KNOWN = ("json", "json-abs", "html", "flaky", "hang", "badsha", "noplatform")

    def __init__(self, wheel: str) -> None:
        self.name = os.path.basename(wheel)
        self.version = self.name.split("-")[1]
        with open(wheel, "rb") as handle:
            self.data = handle.read()
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.hits: Dict[str, int] = {}
        self.lock = threading.Lock()

    def count(self, path: str) -> int:
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            return self.hits[path]

    def files(self, scenario: str, host: str) -> list:
        if scenario == "noplatform":
            names = [self.name.replace("manylinux_2_17_x86_64.manylinux2014_x86_64", tag) for tag in OTHER_PLATFORMS]
        else:
            names = [self.name]
        sha = "0" * 64 if scenario == "badsha" else self.sha256
        base = "http://{}/{}/files/".format(host, scenario) if scenario == "json-abs" else "../../files/"
        return [{"filename": n, "url": base + n, "hashes": {"sha256": sha}} for n in names]

    def page(self, scenario: str, host: str, accept: str) -> Reply:
        files = self.files(scenario, host)
        if scenario == "html" or JSON_TYPE not in accept:
            links = "".join('<a href="{url}#sha256={sha}">{name}</a><br>\n'.format(
                url=f["url"], sha=f["hashes"]["sha256"], name=f["filename"]) for f in files)
            return Reply(200, "<!DOCTYPE html><html><body>\n{}</body></html>\n".format(links).encode(), "text/html")
        body = {"meta": {"api-version": "1.1"}, "name": "uv", "versions": [self.version], "files": files}
        return Reply(200, json.dumps(body).encode(), JSON_TYPE)

    def __call__(self, path: str, headers: Dict[str, str]) -> Reply:
        parts = path.split("?")[0].split("/")
        scenario = parts[1].split(".")[0] if len(parts) > 1 else ""
        if path == "/ready":
            return Reply(200, b"ready\n", "text/plain")
        if scenario not in self.KNOWN:
            return NOT_FOUND
        if scenario == "hang":
            return Reply(hang=True)
        if parts[2:5] == ["simple", "uv", ""]:
            if scenario == "flaky" and self.count(path) <= 2:
                return Reply(500, b"internal error\n", "text/plain")
            return self.page(scenario, headers.get("host", ""), headers.get("accept", ""))
        if parts[2:3] == ["files"] and len(parts) == 4 and parts[3] == self.name:
            if scenario == "flaky" and self.count(path) <= 1:
                return Reply(503, b"busy\n", "text/plain")
            return Reply(200, self.data, "application/octet-stream")
        return NOT_FOUND


# ----------------------------------------------------------------------------- host side


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_wheel(cache_dir: str, version: str) -> str:
    """The real x86_64 manylinux uv wheel in ``cache_dir``, downloaded once and checked against the
    sha256 on PyPI's PEP 691 page (``<wheel>.sha256`` remembers the check, so later runs are offline)."""
    name = wheel_name(version)
    path = os.path.join(cache_dir, name)
    verified = path + ".sha256"
    if os.path.exists(path) and os.path.exists(verified):
        with open(verified) as handle:
            if handle.read().strip() == _sha256_file(path):
                return path
    request = urllib.request.Request(PYPI_PAGE, headers={"Accept": JSON_TYPE})
    with urllib.request.urlopen(request, timeout=60) as response:
        page = json.load(response)
        page_url = response.geturl()
    entry = next(f for f in page["files"] if f["filename"] == name)
    expected = entry["hashes"]["sha256"]
    os.makedirs(cache_dir, exist_ok=True)
    if not (os.path.exists(path) and _sha256_file(path) == expected):
        url = urllib.request.urljoin(page_url, entry["url"])
        partial = path + ".part"
        with urllib.request.urlopen(url, timeout=300) as response, open(partial, "wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        if _sha256_file(partial) != expected:
            os.unlink(partial)
            raise RuntimeError("{} from {} does not have the sha256 PyPI lists ({})".format(name, url, expected))
        os.replace(partial, path)
    with open(verified, "w") as handle:
        handle.write(expected + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description="serve one uv wheel through the scenarios of tests/fakeindex.py")
    parser.add_argument("--wheel", required=True)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    index = LocalIndex(port=args.port, router=Scenarios(args.wheel), hang_seconds=3600, print_requests=True)
    print("serving {} on {}".format(os.path.basename(args.wheel), index.url), flush=True)
    index.server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
