"""Entry point for ``install.sh`` and the installed ``uv-user`` command (stdlib only)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if sys.version_info < (3, 8):
    sys.stderr.write("uv-user: python3 {}.{} is too old; the image needs python3 3.8 or newer\n".format(
        *sys.version_info[:2]))
    sys.exit(1)

from uv_user.cli import main  # noqa: E402

sys.exit(main())
