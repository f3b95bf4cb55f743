"""A misbehaving PyPI simple index for the hardening tests (stdlib only, Python 3.8+).

Runs inside a container (``python3 fakeindex.py --wheel /srv/uv-....whl``) and serves one real uv
wheel through scenarios picked by the first path segment, ``/<scenario>[.<tag>]/simple/uv/``:

    json        PEP 691 JSON, relative links (../../files/...)    -> installs
    json-abs    PEP 691 JSON, absolute links (http://<Host>/...)  -> installs
    html        PEP 503 HTML only, whatever Accept says            -> installs
    flaky       HTTP 500 twice, then JSON; each wheel URL 503 once -> installs after retries
    hang        accepts the connection and never answers           -> timeout
    badsha      JSON whose sha256 for the wheel is wrong           -> refused
    noplatform  JSON listing only wheels for other platforms       -> refused
    anything else: 404

Files are served at ``/<scenario>[.<tag>]/files/<name>``. Counters (for ``flaky``) are per path, so
a test that needs fresh ones uses a new ``.<tag>``. Every request is printed to stdout as
``<path> <status>`` for the test to read with ``docker logs``.

On the host, ``ensure_wheel(cache_dir, version)`` downloads the real manylinux x86_64 wheel once
from PyPI and checks its sha256 against PyPI's PEP 691 page.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.request
from typing import Dict, Tuple

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
PYPI_PAGE = "https://pypi.org/simple/uv/"
OTHER_PLATFORMS = ("manylinux_2_17_aarch64.manylinux2014_aarch64", "musllinux_1_1_x86_64", "macosx_10_12_x86_64",
                   "win_amd64")


# ----------------------------------------------------------------------------- host side


def wheel_name(version: str) -> str:
    return "uv-{}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl".format(version)


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


# ----------------------------------------------------------------------------- server side


class Index:
    def __init__(self, wheel: str) -> None:
        self.wheel = wheel
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

    def page(self, scenario: str, host: str, accept: str) -> Tuple[bytes, str]:
        files = self.files(scenario, host)
        if scenario == "html" or JSON_TYPE not in accept:
            links = "".join('<a href="{url}#sha256={sha}">{name}</a><br>\n'.format(
                url=f["url"], sha=f["hashes"]["sha256"], name=f["filename"]) for f in files)
            return "<!DOCTYPE html><html><body>\n{}</body></html>\n".format(links).encode(), "text/html"
        body = {"meta": {"api-version": "1.1"}, "name": "uv", "versions": [self.version], "files": files}
        return json.dumps(body).encode(), JSON_TYPE


def make_handler(index: Index):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            parts = self.path.split("?")[0].split("/")
            scenario = parts[1].split(".")[0] if len(parts) > 1 else ""
            status, body, ctype = self.route(scenario, parts)
            if status == 0:  # hang: keep the connection open, say nothing
                print("{} hang".format(self.path), flush=True)
                time.sleep(3600)
                return
            print("{} {}".format(self.path, status), flush=True)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def route(self, scenario: str, parts: list) -> Tuple[int, bytes, str]:
            known = ("json", "json-abs", "html", "flaky", "hang", "badsha", "noplatform")
            if self.path == "/ready":
                return 200, b"ready\n", "text/plain"
            if scenario not in known:
                return 404, b"not found\n", "text/plain"
            if scenario == "hang":
                return 0, b"", ""
            if parts[2:5] == ["simple", "uv", ""]:
                if scenario == "flaky" and index.count(self.path) <= 2:
                    return 500, b"internal error\n", "text/plain"
                body, ctype = index.page(scenario, self.headers.get("Host", ""), self.headers.get("Accept", ""))
                return 200, body, ctype
            if parts[2:3] == ["files"] and len(parts) == 4 and parts[3] == index.name:
                if scenario == "flaky" and index.count(self.path) <= 1:
                    return 503, b"busy\n", "text/plain"
                return 200, index.data, "application/octet-stream"
            return 404, b"not found\n", "text/plain"

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", required=True)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(Index(args.wheel)))
    server.daemon_threads = True
    print("serving {} on 127.0.0.1:{}".format(os.path.basename(args.wheel), args.port), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
