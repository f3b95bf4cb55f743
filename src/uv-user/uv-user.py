"""Entry point for ``install.sh`` and the installed ``uv-user`` command (stdlib only)."""

import os
import sys

# Never write bytecode beside the code: at build time it runs from the CLI's copy of the feature (and
# from a source checkout in tests); the installed copy is compiled once by the install itself.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if sys.version_info < (3, 8):
    sys.stderr.write("uv-user: python3 {}.{} is too old; the image needs python3 3.8 or newer\n".format(
        *sys.version_info[:2]))
    sys.exit(1)

from uv_user.cli import main  # noqa: E402

sys.exit(main())
