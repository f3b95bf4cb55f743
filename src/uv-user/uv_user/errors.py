"""The one error type users ever see from uv-user."""

from __future__ import annotations

from .text import one_line


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
        suffix = "" if self.changed else " (nothing was changed)"
        return "uv-user: " + one_line(str(self)) + suffix
