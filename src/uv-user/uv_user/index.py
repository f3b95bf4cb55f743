"""Read a PyPI-compatible simple index page for uv: PEP 691 JSON, else PEP 503 HTML.

Mirrors serve relative file links (``../../packages/...``), so every link is
resolved against the URL of the page it came from. indexUrl itself obeys net's
fetch rule; :func:`validate_index_url` only words its refusal for the option.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from html.parser import HTMLParser
from typing import List, Optional, Set, Tuple

from .errors import UvUserError
from .net import CREDENTIALS, NOT_HTTP, PLAIN_HTTP, Fetcher, downgrades, redact, url_problem
from .text import quoted, shown
from .wheels import WheelFile, parse_wheel_name

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = JSON_TYPE + ", text/html;q=0.1"
DEFAULT_INDEX = "https://pypi.org/simple"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# A decimal character reference of nine or more digits names no character (Unicode ends at 1114111):
# html.unescape would read it as U+FFFD anyway, but only after int() on all its digits, which raises
# past 4300 digits (3.11+) or takes quadratic time on a page-sized number (3.8-3.10).
_LONG_CHARREF = re.compile(r"&#[0-9]{9,};?")
# The same for a JSON number: no field uv-user reads is one, so an absurd one is read as absent.
_MAX_INT_DIGITS = 18
# indexUrl's own kind of refusal, beside net's (UvUserError.code): quotes, $, ` or ; in the value.
SHELL_TEXT = "shell-text"


def validate_index_url(raw: str) -> str:
    """The normalized base URL; non-HTTPS is allowed only for loopback test indexes.

    The fetch rules are net.url_problem's; this only words them for the option, by the problem's code.
    Shell metacharacters are refused too: the value was in a file the devcontainers CLI sourced."""
    value = raw.strip()
    problem = url_problem(value)
    code = problem.code if problem else (SHELL_TEXT if any(c in value for c in "'\"`$;\\") else "")
    if code == PLAIN_HTTP:
        raise UvUserError("indexUrl {} is plain HTTP".format(quoted(raw)),
                          "use https:// (plain HTTP is only accepted for localhost)", code=code)
    if code == CREDENTIALS:
        raise UvUserError("indexUrl {} carries credentials, which uv-user does not send (and would print in build "
                          "logs)".format(quoted(redact(raw.strip()))), "use an index reachable without them",
                          code=code)
    if code:
        what = "cannot be used: " + problem.reason if problem and code != NOT_HTTP else "is not an http(s) URL"
        raise UvUserError("indexUrl {} {}".format(quoted(raw), shown(what)),
                          "use a simple index such as " + DEFAULT_INDEX, code=code)
    return value.rstrip("/")


def project_url(index_url: str) -> str:
    return index_url.rstrip("/") + "/uv/"


def _sha256_of(hashes: object) -> str:
    value = hashes.get("sha256", "") if isinstance(hashes, dict) else ""
    return value if isinstance(value, str) and _HEX64.fullmatch(value) else ""


def _bounded_int(digits: str) -> Optional[int]:
    return int(digits) if len(digits.lstrip("-")) <= _MAX_INT_DIGITS else None


def _join(base: str, link: str) -> str:
    """``link`` resolved against ``base``; "" for one urllib cannot even parse (``http://[::1``)."""
    try:
        return urllib.parse.urljoin(base, link)
    except ValueError:
        return ""


def parse_json(text: str, page_url: str) -> Tuple[List[WheelFile], Set[str]]:
    """Files and versions from a PEP 691 page (``versions`` is PEP 700, optional)."""
    try:
        data = json.loads(text, parse_int=_bounded_int)
        entries = data["files"]
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: nested past the parser's depth
        raise UvUserError("{} is not a valid PEP 691 JSON page".format(shown(redact(page_url))), "check indexUrl")
    files = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            continue
        filename, url = entry.get("filename"), _join(page_url, entry["url"])
        if not isinstance(filename, str) or not url:
            continue
        files.append(WheelFile(
            filename=filename,
            url=url,
            sha256=_sha256_of(entry.get("hashes")),
            yanked=bool(entry.get("yanked")),
        ))
    versions = data.get("versions") if isinstance(data, dict) else None
    found = set(v for v in versions if isinstance(v, str)) if isinstance(versions, list) else set()
    return files, found | _versions_of(files)


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: Optional[str] = None
        self.links: List[Tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        found = dict(attrs)
        if tag == "base" and found.get("href") and self.base is None:
            self.base = found["href"]
        elif tag == "a" and found.get("href"):
            self.links.append((found["href"] or "", "data-yanked" in found))


def parse_html(text: str, page_url: str) -> Tuple[List[WheelFile], Set[str]]:
    """Files from a PEP 503 page; the hash comes from the ``#sha256=`` fragment."""
    parser = _Anchors()
    parser.feed(_LONG_CHARREF.sub("\ufffd", text))
    parser.close()
    base = (_join(page_url, parser.base) if parser.base else "") or page_url  # browsers ignore a bad <base>
    files = []
    for href, yanked in parser.links:
        url, _, fragment = _join(base, href).partition("#")
        if not url:
            continue
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        algo, _, digest = fragment.partition("=")
        files.append(WheelFile(name, url, digest if algo == "sha256" and _HEX64.fullmatch(digest) else "", yanked))
    return files, _versions_of(files)


def _versions_of(files: List[WheelFile]) -> Set[str]:
    return {p[1] for p in (parse_wheel_name(f.filename) for f in files) if p and p[0] == "uv"}


def fetch_project(fetcher: Fetcher, index_url: str) -> Tuple[List[WheelFile], Set[str]]:
    """Ask for JSON, accept HTML; the page's own URL (after redirects) anchors relative links."""
    url = project_url(index_url)
    body, ctype, final_url = fetcher.text(url, ACCEPT)
    if JSON_TYPE in ctype or ctype.startswith("application/json"):
        files, versions = parse_json(body, final_url)
    else:
        files, versions = parse_html(body, final_url)
    if not files:
        raise UvUserError("{} lists no uv files".format(shown(redact(url))),
                          "check that indexUrl is a simple index that mirrors uv")
    refuse_downgrades(files, final_url)
    return files, versions


def refuse_downgrades(files: List[WheelFile], page_url: str) -> None:
    """An HTTPS page may not send a uv wheel over plain HTTP, even to localhost. The sha256 still guards
    the bytes, but the docs promise HTTPS from end to end once indexUrl is HTTPS, and a page that does
    this is misconfigured or hostile. Links to other files (sdists, other projects) are never fetched."""
    for wheel in files:
        parsed = parse_wheel_name(wheel.filename)
        if parsed and parsed[0] == "uv" and downgrades(page_url, wheel.url):
            raise UvUserError(
                "{} links {} over plain HTTP ({})".format(
                    shown(redact(page_url)), shown(wheel.filename), shown(redact(wheel.url))),
                "uv-user never downgrades from HTTPS: fix the index's links or use another indexUrl")
