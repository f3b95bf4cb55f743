"""The one error type users ever see from uv-user."""

from __future__ import annotations

import os

from .text import one_line

# Set by install.sh when it had to install python3 with the image's package manager before uv-user
# could check anything: from then on "nothing was changed" would not be true.
PYTHON3_INSTALLED = "_UV_USER_PYTHON3_INSTALLED"


class UvUserError(Exception):
    """A failure the user can cause or fix.

    The CLI catches it once and prints a single ``uv-user: ...`` line instead of
    a traceback, so every message must name the bad value and the way out.
    """

    def __init__(self, message: str, *, changed: bool = False) -> None:
        super().__init__(message)
        #: False while nothing on disk was touched: the CLI then says so.
        self.changed = changed

    def line(self) -> str:
        if self.changed:
            suffix = ""
        elif os.environ.get(PYTHON3_INSTALLED) == "1":
            suffix = " (only python3 was installed, by the package manager; nothing else was changed)"
        else:
            suffix = " (nothing was changed)"
        return "uv-user: " + one_line(str(self)) + suffix
