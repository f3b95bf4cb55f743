"""``uv-user sync``: the project environment is ready when the container opens.

The feature's updateContentCommand runs this as the remote user in the
workspace folder, at creation and in Codespaces prebuilds. Lifecycle commands
cannot read feature options, so the autoSync mode comes from the install record.

Exit-code policy: from the lifecycle hook (``--lifecycle``) a failed sync is
loud but exits 0, because a non-zero exit would stop the user's own
postCreateCommand and fail the whole container creation over a dependency
problem the user can fix from inside. Run by hand, it exits with uv's code.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set

from . import facts, paths
from .errors import UvUserError
from .text import shown

# When the container is created: sync from uv.lock only, whenever there is a pyproject.toml, or not at all.
# Here rather than in options.py so the start-time path (cli → autosync) imports nothing network-related.
# "all": like lock, for every member of a uv workspace (`--all-packages`); plain `uv sync` at a root with a
# [project] installs that project only (a virtual root, without [project], already syncs every member).
AUTO_SYNC_MODES = ("lock", "all", "always", "never")
# The option's default (options.DEFAULTS and devcontainer-feature.json), and the mode of a record from an
# install that predates the option.
DEFAULT_MODE = "lock"


@dataclass(frozen=True)
class Decision:
    args: Optional[List[str]]  # uv arguments, or None for "nothing to do"
    reason: str


def decide(mode: str, present: Set[str]) -> Decision:
    """What autoSync does for a workspace holding the files in ``present``."""
    if mode == "never":
        return Decision(None, "autoSync is never: not syncing")
    if mode in ("lock", "all"):
        if "uv.lock" not in present:
            return Decision(None, "no uv.lock in the workspace: not syncing (run `uv sync`, or set autoSync to "
                                  "always)")
        if mode == "all":
            return Decision(["sync", "--frozen", "--all-packages"],
                            "uv.lock found: installing every workspace member exactly as it pins (autoSync all)")
        return Decision(["sync", "--frozen"], "uv.lock found: installing exactly what it pins")
    if "pyproject.toml" in present:
        return Decision(["sync"], "pyproject.toml found: syncing (autoSync always)")
    return Decision(None, "no pyproject.toml in the workspace: nothing to sync")


def recorded_mode(record: Dict[str, object]) -> str:
    options = record.get("options")
    mode = options.get("autoSync") if isinstance(options, dict) else None
    return mode if mode in AUTO_SYNC_MODES else DEFAULT_MODE


def failure_block(command: str, workspace: str, code: int) -> List[str]:
    """The loud report of a failed sync; the workspace is the user's folder name, so it is shown escaped."""
    return [
        "uv-user: " + "-" * 68,
        "uv-user: autoSync FAILED: `{}` exited {} in {}".format(command, code, shown(workspace)),
        "uv-user: the environment {} may be incomplete; uv's output is above.".format(paths.VENV),
        "uv-user: the container was still created and your own lifecycle commands still run.",
        "uv-user: diagnose: uv-user doctor",
        "uv-user: " + "-" * 68,
        "uv-user: fix the project, then rerun: cd {} && {}".format(shown(shlex.quote(workspace)), command),
    ]


@dataclass(frozen=True)
class RunAs:
    """Who runs uv: ``None`` fields mean the caller itself."""

    name: str = ""
    preexec: Optional[Callable[[], None]] = None
    env: Optional[Dict[str, str]] = None


def run_as(record: Dict[str, object], euid: int) -> RunAs:
    """Root syncing the environment of another user runs uv as that user.

    Other clients run lifecycle hooks as root (Zed runs onCreateCommand and
    updateContentCommand as root): uv would leave root-owned files in the user's
    environment and cache, and run the environment's python, which the user can
    rewrite, as root."""
    name = str(record.get("username") or "")
    if euid != 0 or not name or name == "root":
        return RunAs()
    try:
        owner = pwd.getpwnam(name)
    except KeyError:
        raise UvUserError("the environment belongs to user {}, who does not exist in this container, and "
                          "uv-user never syncs it as root".format(shown(name)), "run `uv-user doctor`")

    def drop() -> None:
        os.initgroups(owner.pw_name, owner.pw_gid)
        os.setgid(owner.pw_gid)
        os.setuid(owner.pw_uid)

    env = dict(os.environ, HOME=owner.pw_dir, USER=owner.pw_name, LOGNAME=owner.pw_name)
    return RunAs(owner.pw_name, drop, env)


def uv_binary(record: Dict[str, object], euid: int) -> str:
    """The uv the feature recorded; else one from PATH, searched only in system directories as root."""
    recorded = str(record.get("uv") or "")
    if recorded.startswith("/"):
        return recorded
    return shutil.which("uv", path=paths.SYSTEM_PATH if euid == 0 else None) or "uv"


def run(workspace: str, mode: Optional[str], lifecycle: bool, log) -> int:
    record = facts.read_record()
    chosen = mode or recorded_mode(record)
    present = {name for name in ("uv.lock", "pyproject.toml") if os.path.isfile(os.path.join(workspace, name))}
    decision = decide(chosen, present)
    log(decision.reason)
    if decision.args is None:
        return 0
    euid = os.geteuid()
    uv = uv_binary(record, euid)
    command = " ".join(["uv"] + decision.args)
    try:
        who = run_as(record, euid)
    except UvUserError as exc:
        print(exc.line(), file=sys.stderr, flush=True)
        return 0 if lifecycle else 1
    log("running `{}` in {}{}".format(command, shown(workspace), " as " + who.name if who.name else ""))
    sys.stdout.flush()
    try:
        code = subprocess.run([uv] + decision.args, cwd=workspace, preexec_fn=who.preexec, env=who.env).returncode
    except (OSError, subprocess.SubprocessError) as exc:
        code = 127
        print("uv-user: cannot run {}: {}".format(shown(uv), shown(str(exc))), file=sys.stderr)
    if code == 0:
        log("the project environment {} is in sync".format(paths.VENV))
        return 0
    for line in failure_block(command, workspace, code):
        print(line, file=sys.stderr)
    sys.stderr.flush()
    return 0 if lifecycle else code
