"""The one error type users ever see from uv-user, as data rather than a finished sentence.

Why data: the CLI prints it as one line, ``uv-user: <what>; <fix>`` plus whether anything was
changed; the doctor shows ``what`` and ``fix`` on lines of its own; and a caller that must tell one
kind of failure from another reads ``code``, never the wording, which is free to improve.

Why ``changed`` is not a constructor argument: whoever raises cannot know whether the install has
written anything yet, and a default would be a guess. ``apply.apply()`` knows, and marks every
error raised after its first write; everything raised before it (options, facts, the plan, the
download) changed nothing.
"""

from __future__ import annotations

import os

from .text import one_line

# Set by install.sh when it had to install python3 with the image's package manager before uv-user
# could check anything: from then on "nothing was changed" would not be true.
PYTHON3_INSTALLED = "_UV_USER_PYTHON3_INSTALLED"


class UvUserError(Exception):
    """A failure the user can cause or fix.

    ``what`` names what failed and the bad value; ``fix`` says what to do ("" where the way out is
    already part of ``what``). ``code`` is set where a caller branches on the kind of failure.
    ``str(exc)`` is ``what; fix``. The CLI catches it once and prints :meth:`line` instead of a
    traceback.
    """

    def __init__(self, what: str, fix: str = "", *, code: str = "") -> None:
        super().__init__(what + "; " + fix if fix else what)
        self.what = what
        self.fix = fix
        self.code = code
        #: False while nothing on disk was touched, so the line can say so; set by apply.apply().
        self.changed = False

    def line(self) -> str:
        """The one line the user sees: every value in it already escaped, the whole made one line."""
        if self.changed:
            suffix = ""
        elif os.environ.get(PYTHON3_INSTALLED) == "1":
            suffix = " (only python3 was installed, by the package manager; nothing else was changed)"
        else:
            suffix = " (nothing was changed)"
        return "uv-user: " + one_line(str(self)) + suffix
