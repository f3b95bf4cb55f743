"""The public API: everything the end-to-end tests need, each step idempotent and cheap when done.

    from harness import provision
    provision.ensure_engine()                    # docker info works (or ProvisionError)
    cli = provision.ensure_cli()                 # Path to the pinned devcontainer CLI
    tags = provision.ensure_images(["base"])     # {"base": "uvuser-test/base:bookworm"}
    ghcr = provision.ensure_ghcr()               # ghcr.io for the CLI: the real one, or the stand-in
    everything = provision.ensure_all()          # all of the above, plus docker-compose
    if everything.ghcr.started: provision.stop_ghcr()   # the stand-in, when done (not the engine)

Every failure raises ProvisionError; the caller decides whether that is a skip or a failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from .cli import ensure_cli
from .common import ProvisionError, ensure_tools, log
from .engine import ensure_engine, stop_engine
from .ghcr import Ghcr, ensure_ghcr, stop_ghcr
from .images import DEFAULT_IMAGES, PUBLIC_IMAGES, RECIPES, ensure_images

__all__ = ["DEFAULT_IMAGES", "PUBLIC_IMAGES", "Ghcr", "Provisioned", "ProvisionError", "ensure_all", "ensure_cli",
           "ensure_engine", "ensure_ghcr", "ensure_images", "ensure_tools", "image_tag", "stop_engine", "stop_ghcr"]


@dataclasses.dataclass(frozen=True)
class Provisioned:
    """What ensure_all made ready."""
    cli: Path | None
    compose: Path  # Debian's docker-compose v1: this engine has no `docker compose` plugin
    images: dict[str, str]
    ghcr: Ghcr | None  # with the CLI: builds resolve installsAfter references on ghcr.io


def image_tag(name: str) -> str:
    """The local tag of a logical image name, without building anything."""
    if name not in RECIPES:
        raise ProvisionError(f"unknown image {name}; known: {', '.join(RECIPES)}")
    return RECIPES[name].tag


def ensure_all(images: Iterable[str] = DEFAULT_IMAGES, cli: bool = True) -> Provisioned:
    """Engine, docker-compose, the CLI (unless cli=False), the named images and ghcr.io for the CLI."""
    ensure_engine()
    log("docker engine is up")
    compose = ensure_tools("docker-compose")["docker-compose"]
    cli_path = ensure_cli() if cli else None
    tags = ensure_images(images)
    ghcr = ensure_ghcr() if cli else None  # last: nothing after it can fail and leave it behind
    return Provisioned(cli=cli_path, compose=compose, images=tags, ghcr=ghcr)
