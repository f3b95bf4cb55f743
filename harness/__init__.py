"""uv-user's provisioning layer: the Docker engine, the pinned devcontainers CLI, ghcr.io for it (a local
stand-in when the real one is unreachable) and the test images (local stand-ins for the public images
the examples and scenarios name).

The demo, the pytest suite, the benchmarks and CI all call this one package (stdlib only, so it runs
first), so they test against the same engine, CLI version and images. It also holds what they share:

- harness.common.run: the one command runner (captured output or a log, retries, another host user);
- harness.devcontainer: copies of examples and of src/ + test/ that name the stand-ins (make_workspace,
  standin_project), the devcontainers CLI and containers driven from tests (up, exec_, docker_exec,
  wait_repaired), and Owned, the owner of the Docker objects a run makes (docker_cleanup);
- harness.registry / harness.ghcr: local OCI registries, and the ghcr.io stand-in.

See harness.provision for the provisioning API and `python3 -m harness --help` for the command line.
"""

from .common import VERSION, ProvisionError
from .provision import (DEFAULT_IMAGES, PUBLIC_IMAGES, Provisioned, ensure_all, ensure_cli, ensure_engine,
                        ensure_ghcr, ensure_images, ensure_tools, image_tag, stop_engine, stop_ghcr)

__all__ = ["VERSION", "ProvisionError", "DEFAULT_IMAGES", "PUBLIC_IMAGES", "Provisioned", "ensure_all",
           "ensure_cli", "ensure_engine", "ensure_ghcr", "ensure_images", "ensure_tools", "image_tag", "stop_engine",
           "stop_ghcr"]
