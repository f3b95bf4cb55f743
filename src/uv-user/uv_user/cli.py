"""``uv-user`` subcommands: install (build time), repair (every start), sync (the lifecycle hook, or
by hand) and doctor (by hand).

install reads as the plan it carries out: read options → inspect the image → the
plan's refusals that need no network → ask the index (only when the installed uv
cannot be the answer) → make the plan (pure) → print it → apply it. Expected
failures end in one ``uv-user:`` line, printed here from the error's data; only a
bug prints a traceback.
"""

from __future__ import annotations

import os
import sys

from . import __version__, paths, repair
from .errors import UvUserError
from .text import shown

# `uv-user repair --entrypoint` runs at every container start: what only the other commands need
# (argparse, autosync, json, typing) is imported where they use it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Dict, List, Optional


def log(message: str) -> None:
    print("uv-user: " + message, flush=True)


def cmd_install(args: argparse.Namespace) -> int:
    import json

    from . import apply, facts, index, net, options, plan

    chosen = options.read(os.environ)
    found = facts.gather(dict(os.environ))
    if not found.is_root and not args.dry_run:
        raise UvUserError("install must run as root (the devcontainers CLI does this)", "use --dry-run to preview")
    # What the user must fix is said before the index is asked (offline, a failed fetch would hide it).
    plan.preflight(chosen, found)
    fetcher: Optional[net.Fetcher] = None
    files: list = []
    available: list = []
    if plan.needs_index(chosen, found):
        fetcher = net.Fetcher()
        files, versions = index.fetch_project(fetcher, chosen.index_url)
        available = sorted(versions)
    the_plan = plan.make_plan(chosen, found, files, available)
    for line in plan.describe(the_plan):
        log(line)
    if args.dry_run:
        print(json.dumps(the_plan.as_dict(), indent=2, sort_keys=True, default=str))
        return 0
    apply.apply(the_plan, fetcher, log)
    log("done: uv {} for {}; the project environment is {}".format(
        the_plan.uv.version, the_plan.user.name, paths.VENV))
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    """Formats what repair.for_user did (the decisions are the repair module's) and picks the exit code."""
    if getattr(args, "resume", False):  # the detached continuation: nobody reads its output
        repair.wait_for_go()
        repair.for_user(args.user, args.root, repair.BACKGROUND_SECONDS, state=args.state, background=False,
                        continuing=True)
        return 0
    report = repair.for_user(args.user, args.root, args.max_seconds or None, dry_run=args.dry_run,
                             state=getattr(args, "state", paths.REPAIR_STATE))
    line = describe(report, args.max_seconds, getattr(args, "state", paths.REPAIR_STATE))
    if line:
        log(line)
    if report.delegated is not None:  # `sudo -n uv-user repair` said it all
        return 0 if args.entrypoint else report.delegated
    return 1 if report.error_count and not report.dry_run and not args.entrypoint else 0


def describe(report: repair.Report, seconds: Optional[float], state: str = paths.REPAIR_STATE) -> str:
    """The one line `uv-user repair` prints ("" when all was already right); every name escaped."""
    who = "{} ({}:{})".format(shown(report.user), report.uid, report.gid)
    root = shown(report.root)
    stopped = "stopped after {:g} s".format(seconds or 0)
    if report.delegated is not None:
        return ""
    if report.dry_run:
        if report.mismatched:
            first = report.mismatches[0]
            return "{} entries under {} are not owned by {}, e.g. {} ({}:{}){}".format(
                report.mismatched, root, who, shown(first.path), first.uid, first.gid,
                "; the check {}".format(stopped) if report.incomplete else "")
        return "ownership check of {} {}; run `uv-user repair`".format(root, stopped) if report.incomplete else ""
    if not report.mismatched and not report.incomplete and not report.error_count:
        return ""
    parts = ["re-owned {} of {} entries under {} for {}".format(report.changed, report.scanned, root, who)]
    if report.error_count:
        parts.append("{} could not be changed, e.g. {}".format(report.error_count, report.errors[0]))
    if report.incomplete and report.background_pid:
        parts.append("{}: the rest continues in the background (pid {}; {})".format(
            stopped, report.background_pid, shown(state)))
    elif report.incomplete:
        parts.append("{}: run `uv-user repair` for the rest".format(stopped))
    return "; ".join(parts)


def cmd_sync(args: argparse.Namespace) -> int:
    """autoSync from the lifecycle hook (or by hand): ownership first, then uv sync."""
    import argparse

    from . import autosync

    # The CLI does not wait for the start-time repair: what uv needs comes first, bounded like a start.
    repair_args = argparse.Namespace(user="", root=args.root, dry_run=False, entrypoint=True,
                                     max_seconds=repair.START_SECONDS, state=args.state, resume=False)
    try:
        cmd_repair(repair_args)
    except UvUserError as exc:
        print(exc.line(), file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - a failed repair must not stop the sync or fail the lifecycle hook
        print("uv-user: ownership repair hit an unexpected error ({}: {}); run `uv-user repair` to see it".format(
            type(exc).__name__, shown(str(exc))), file=sys.stderr, flush=True)
    workspace = args.workspace or os.environ.get("CONTAINER_WORKSPACE_FOLDER") or os.getcwd()
    return autosync.run(workspace, args.mode, args.lifecycle, log)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the setup one line per problem; --fix re-owns through cmd_repair (same sudo logic)."""
    from . import doctor

    return doctor.run(args, cmd_repair)


def parser() -> argparse.ArgumentParser:
    import argparse

    from .autosync import AUTO_SYNC_MODES

    top = argparse.ArgumentParser(prog="uv-user", description="uv with a user-owned project environment.")
    top.add_argument("--version", action="version", version="uv-user " + __version__)
    sub = top.add_subparsers(dest="command")
    install = sub.add_parser("install", help="install the feature (build time, as root)")
    install.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    install.add_argument("--prefix", default="", help=argparse.SUPPRESS)  # tests: install below a scratch dir
    install.set_defaults(func=cmd_install)
    rep = sub.add_parser("repair", help="give " + paths.ROOT + " back to the dev container user")
    rep.add_argument("--dry-run", action="store_true", help="report mismatches and change nothing")
    rep.add_argument("--entrypoint", action="store_true",
                     help="container start: always exit 0, and return within {:.0f} s (the rest continues in "
                          "the background)".format(repair.START_SECONDS))
    rep.add_argument("--user", default="", help="owner to enforce (default: the user recorded at install)")
    rep.add_argument("--root", default=paths.ROOT, help=argparse.SUPPRESS)
    rep.add_argument("--max-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    rep.add_argument("--state", default=paths.REPAIR_STATE, help=argparse.SUPPRESS)
    rep.add_argument("--record", default="", help=argparse.SUPPRESS)
    rep.add_argument("--continue", dest="resume", action="store_true", help=argparse.SUPPRESS)
    rep.set_defaults(func=cmd_repair)
    doc = sub.add_parser("doctor", help="explain what is wrong with the environment, one line per check")
    doc.add_argument("--fix", action="store_true",
                     help="repair ownership (as `uv-user repair` does), then check again")
    doc.add_argument("--json", action="store_true", help="print the findings and the facts behind them as JSON")
    doc.add_argument("--workspace", default="", help="folder to check for a stray .venv (default: "
                     "$CONTAINER_WORKSPACE_FOLDER or the current directory, and its uv project)")
    # Where to look, for tests: the tree, the install record, the profile script, the repair's status
    # file; --no-login-shell skips the `bash -l` that reads a login shell's PATH.
    doc.add_argument("--root", default=paths.ROOT, help=argparse.SUPPRESS)
    doc.add_argument("--record", default=paths.RECORD, help=argparse.SUPPRESS)
    doc.add_argument("--profile-script", default=paths.PROFILE_SCRIPT, help=argparse.SUPPRESS)
    doc.add_argument("--state", default=paths.REPAIR_STATE, help=argparse.SUPPRESS)
    doc.add_argument("--no-login-shell", dest="login_shell", action="store_false", help=argparse.SUPPRESS)
    doc.set_defaults(func=cmd_doctor)
    syn = sub.add_parser("sync", help="sync the workspace's project into the environment (autoSync)")
    syn.add_argument("--workspace", default="", help="project folder (default: the current directory)")
    syn.add_argument("--mode", choices=AUTO_SYNC_MODES, default=None,
                     help="override the autoSync mode recorded at install")
    syn.add_argument("--lifecycle", action="store_true",
                     help="run from the feature's updateContentCommand: report failures loudly but exit 0")
    syn.add_argument("--root", default=paths.ROOT, help=argparse.SUPPRESS)
    syn.add_argument("--state", default=paths.REPAIR_STATE, help=argparse.SUPPRESS)
    syn.add_argument("--record", default="", help=argparse.SUPPRESS)
    syn.set_defaults(func=cmd_sync)
    return top


# `uv-user repair`'s options as the parser defines them (parser() below): flags, and options with a value.
_REPAIR_FLAGS = {"--entrypoint": "entrypoint", "--dry-run": "dry_run", "--continue": "resume"}
_REPAIR_VALUES = {"--user": "user", "--root": "root", "--state": "state", "--max-seconds": "max_seconds",
                  "--record": "record"}


def repair_args(argv: List[str]) -> Optional[argparse.Namespace]:
    """What the parser makes of a plain ``repair`` command line (entrypoint.sh's ``repair
    --entrypoint``, the detached continuation's), read by hand: importing argparse takes longer than
    starting Python does, and every container start runs one. None for anything else (``--opt=value``,
    abbreviations, values starting with "-", --help, mistakes): the parser reads those, and says what
    is wrong. A test holds the two to the same result."""
    if argv[:1] != ["repair"]:
        return None
    found: Dict[str, object] = dict(command="repair", func=cmd_repair, dry_run=False, entrypoint=False, user="",
                                    root=paths.ROOT, max_seconds=0.0, state=paths.REPAIR_STATE, resume=False,
                                    record="")
    rest = argv[1:]
    while rest:
        option = rest.pop(0)
        if option in _REPAIR_FLAGS:
            found[_REPAIR_FLAGS[option]] = True
        elif option in _REPAIR_VALUES and rest and not rest[0].startswith("-"):
            value: object = rest.pop(0)
            if option == "--max-seconds":
                try:
                    value = float(str(value))  # what the parser's type=float does
                except ValueError:
                    return None
            found[_REPAIR_VALUES[option]] = value
        else:
            return None
    import types

    return types.SimpleNamespace(**found)  # type: ignore[return-value]


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = repair_args(argv) or parser().parse_args(argv)
    if not getattr(args, "func", None):
        parser().print_help()
        return 2
    if getattr(args, "prefix", ""):  # hidden install --prefix: every location below a scratch dir (tests)
        paths.relocate(args.prefix)
    if getattr(args, "record", None):  # hidden --record: the install record to read instead (tests)
        paths.RECORD = args.record
    if getattr(args, "entrypoint", False) and not args.max_seconds:
        args.max_seconds = repair.START_SECONDS
    try:
        return args.func(args)
    except UvUserError as exc:
        print(exc.line(), file=sys.stderr, flush=True)
        return 0 if getattr(args, "entrypoint", False) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the entrypoint must never fail a start
        if getattr(args, "entrypoint", False):
            print("uv-user: start-time repair hit an unexpected error ({}: {}); run `uv-user repair` to see it".format(
                type(exc).__name__, shown(str(exc))), file=sys.stderr, flush=True)
            return 0
        raise
