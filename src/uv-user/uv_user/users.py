"""Which account owns the environment: the dev container's remote user.

The user may not exist yet when uv-user installs: features install in rounds, and
a feature that creates the user (common-utils) can land after uv-user (a local
``./uv-user``, a namespace that sorts first, a republished common-utils that
``installsAfter`` does not name). Handing the environment to root then would
break every ``uv sync`` as that user, so the name is kept as a *deferred* owner
and the start-time repair, which runs when the user exists, gives it the tree.
"""

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
    #: False for a deferred owner: named by remoteUser or the username option, created later.
    exists: bool = True


def deferred(name: str) -> Account:
    """An owner that does not exist yet: no uid or gid until the container starts."""
    return Account(name, -1, -1, exists=False)


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _by_name(accounts: Sequence[Account], name: str) -> Optional[Account]:
    return next((a for a in accounts if a.name == name), None)


def resolve(option: str, remote_user: str, accounts: Iterable[Account]) -> Account:
    """``automatic``: _REMOTE_USER, else vscode/node/codespace, else uid 1000, else root.

    A user that is named (the option, or the remote user) but missing is returned as
    :func:`deferred`, never swapped for another account: the dev container will run as
    that name, so the environment must become theirs once they exist.
    """
    accounts = list(accounts)
    wanted = option.strip()
    if wanted and wanted != "automatic":
        if not valid_name(wanted):
            raise UvUserError("username {} is not a valid user name".format(quoted(option)),
                              "use automatic or an existing user such as vscode")
        return _by_name(accounts, wanted) or deferred(wanted)
    remote = remote_user.strip()
    if remote.isdigit() and len(remote) < 11:  # remoteUser may be a UID
        found = next((a for a in accounts if a.uid == int(remote)), None)
        if found is not None:
            return found
    elif remote and valid_name(remote):
        return _by_name(accounts, remote) or deferred(remote)
    for name in CONVENTIONAL:
        found = _by_name(accounts, name)
        if found is not None:
            return found
    found = next((a for a in accounts if a.uid == 1000), None) or _by_name(accounts, "root")
    if found is None:
        raise UvUserError("no user to own the environment was found (not even root)", "set username")
    return found
