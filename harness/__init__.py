"""uv-user's provisioning layer: the Docker engine, the pinned devcontainers CLI, ghcr.io for it (a local
stand-in when the real one is unreachable) and the test images.

The demo, the pytest suite and CI all call this one package (stdlib only, so it runs first), so
they test against the same engine, CLI version and images. See harness.provision for the API and
`python3 -m harness --help` for the command line.
"""

from .common import VERSION, ProvisionError
from .provision import (DEFAULT_IMAGES, PUBLIC_IMAGES, Provisioned, ensure_all, ensure_cli, ensure_engine,
                        ensure_ghcr, ensure_images, ensure_tools, image_tag, stop_engine, stop_ghcr)

__all__ = ["VERSION", "ProvisionError", "DEFAULT_IMAGES", "PUBLIC_IMAGES", "Provisioned", "ensure_all",
           "ensure_cli", "ensure_engine", "ensure_ghcr", "ensure_images", "ensure_tools", "image_tag", "stop_engine",
           "stop_ghcr"]
