"""The feature's options as the devcontainers CLI hands them to install.sh.

The CLI exports each option as an upper-cased environment variable (indexUrl →
INDEXURL). It writes the values into a file it sources with sh without escaping,
so nothing here trusts a value: each is validated before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .autosync import AUTO_SYNC_MODES, DEFAULT_MODE
from .errors import UvUserError
from .index import DEFAULT_INDEX, validate_index_url
from .text import quoted
from .versions import VersionSpec, parse_spec

# Must equal the defaults in devcontainer-feature.json (a unit test checks).
DEFAULTS = {
    "version": "latest",
    "username": "automatic",
    "indexUrl": DEFAULT_INDEX,
    "systemCerts": True,
    "compileBytecode": False,
    "shellCompletion": True,
    "autoSync": DEFAULT_MODE,
}


@dataclass(frozen=True)
class Options:
    version: VersionSpec
    username: str
    index_url: str
    system_certs: bool
    compile_bytecode: bool
    shell_completion: bool
    auto_sync: str


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise UvUserError("{} {} is not a boolean".format(name, quoted(raw)), "use true or false")


def read(env: Mapping[str, str]) -> Options:
    """Options from the environment; a missing option takes its documented default."""

    def raw(name: str) -> str:
        value = env.get(name.upper())
        return str(DEFAULTS[name]).lower() if value is None else value

    username = raw("username").strip() or "automatic"
    return Options(
        version=parse_spec(raw("version")),
        username=username,
        index_url=validate_index_url(raw("indexUrl") or DEFAULT_INDEX),
        system_certs=_flag("systemCerts", raw("systemCerts")),
        compile_bytecode=_flag("compileBytecode", raw("compileBytecode")),
        shell_completion=_flag("shellCompletion", raw("shellCompletion")),
        auto_sync=_auto_sync(raw("autoSync")),
    )


def _auto_sync(raw: str) -> str:
    value = raw.strip().lower()
    if value not in AUTO_SYNC_MODES:
        raise UvUserError("autoSync {} is not one of {}".format(quoted(raw), ", ".join(AUTO_SYNC_MODES)),
                          "use lock (default), all, always or never")
    return value
