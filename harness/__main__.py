"""Command line: `python3 -m harness provision [--images base,python,...]` from the repo root."""

from __future__ import annotations

import argparse
import sys
import time

from .common import ProvisionError, log
from .provision import DEFAULT_IMAGES, PUBLIC_IMAGES, ensure_all, stop_engine, stop_ghcr


def _image_list(text: str) -> list[str]:
    """'default', 'all' (adds arm64), 'none', or a comma-separated list of names."""
    aliases = {"default": list(DEFAULT_IMAGES), "all": list(PUBLIC_IMAGES), "none": []}
    names: list[str] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        names += aliases.get(item, [item])
    return names


def _provision(images: list[str], cli: bool) -> int:
    started = time.monotonic()
    try:
        done = ensure_all(images=images, cli=cli)
    except ProvisionError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 1
    log(f"ready in {time.monotonic() - started:.1f} s: cli={done.cli} compose={done.compose}")
    if done.ghcr is not None and done.ghcr.standin:
        log("the ghcr.io stand-in stays up for CLI runs by the harness (`python3 -m harness stop-ghcr` removes it)")
    for name, tag in done.images.items():
        print(f"{name}\t{tag}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prov = sub.add_parser("provision", help="engine, docker-compose, devcontainer CLI, ghcr.io for it, test images")
    prov.add_argument("--images", type=_image_list, default=list(DEFAULT_IMAGES),
                      help=f"comma-separated: {', '.join(PUBLIC_IMAGES)}, or default/all/none "
                           f"(default: {','.join(DEFAULT_IMAGES)})")
    prov.add_argument("--no-cli", action="store_true", help="skip the devcontainer CLI")
    sub.add_parser("stop-engine", help="stop the dockerd this harness started (never another)")
    sub.add_parser("stop-ghcr", help="remove the ghcr.io stand-in (registry, /etc/hosts entry, CA) unless a "
                                     "running test session or demo still uses it")
    sub.add_parser("demo", help="the end-to-end demo (harness/demo.py; see `demo --help`)", add_help=False)
    record = sub.add_parser("release-record", help="after a release: record each feature's version and files "
                                                   "in release/<id>.json (--check: only verify)")
    record.add_argument("--check", action="store_true",
                        help="exit 1 if a feature changed since its record but its version was not bumped")
    tags = sub.add_parser("release-tags", help="print the repo tag (feature_<id>_<version>) for each version "
                                               "in the JSON `devcontainer features publish` printed")
    tags.add_argument("file", help="the publish command's standard output")
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from .demo import main as demo_main  # imported only when asked: it is the demo's own module
        return demo_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "release-record":
        from .release import record_command
        return record_command(check=args.check)
    if args.command == "release-tags":
        from .release import tags_command
        return tags_command(args.file)
    stops = {"stop-engine": stop_engine, "stop-ghcr": stop_ghcr}
    if args.command in stops:
        try:
            stops[args.command]()
        except ProvisionError as exc:
            print(f"harness: error: {exc}", file=sys.stderr)
            return 1
        return 0
    return _provision(args.images, cli=not args.no_cli)


if __name__ == "__main__":
    sys.exit(main())
