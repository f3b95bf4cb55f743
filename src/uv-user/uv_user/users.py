"""Which account owns the environment: the dev container's remote user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from .errors import UvUserError
from .text import quoted

# The users dev container images conventionally create, in the order people expect.
CONVENTIONAL = ("vscode", "node", "codespace")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str = ""


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _by_name(accounts: Sequence[Account], name: str) -> Optional[Account]:
    return next((a for a in accounts if a.name == name), None)


def resolve(option: str, remote_user: str, accounts: Iterable[Account]) -> Account:
    """``automatic``: _REMOTE_USER, else vscode/node/codespace, else uid 1000, else root."""
    accounts = list(accounts)
    wanted = option.strip()
    if wanted and wanted != "automatic":
        if not valid_name(wanted):
            raise UvUserError(
                "username {} is not a valid user name; use automatic or an existing user such as vscode".format(
                    quoted(option))
            )
        found = _by_name(accounts, wanted)
        if found is None:
            raise UvUserError(
                "username {} does not exist in the image; create it first (e.g. in the Dockerfile) "
                "or use automatic".format(quoted(wanted))
            )
        return found
    candidates = [remote_user] if remote_user and valid_name(remote_user) else []
    for name in candidates + list(CONVENTIONAL):
        found = _by_name(accounts, name)
        if found is not None:
            return found
    found = next((a for a in accounts if a.uid == 1000), None) or _by_name(accounts, "root")
    if found is None:
        raise UvUserError("no user to own the environment was found (not even root); set username")
    return found
