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
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Set

from . import facts, paths
from .text import shown

# When the container is created: sync from uv.lock only, whenever there is a pyproject.toml, or not at all.
# Here rather than in options.py so the start-time path (cli → autosync) imports nothing network-related.
AUTO_SYNC_MODES = ("lock", "always", "never")


@dataclass(frozen=True)
class Decision:
    args: Optional[List[str]]  # uv arguments, or None for "nothing to do"
    reason: str


def decide(mode: str, present: Set[str]) -> Decision:
    """What autoSync does for a workspace holding the files in ``present``."""
    if mode == "never":
        return Decision(None, "autoSync is never: not syncing")
    if mode == "lock":
        if "uv.lock" in present:
            return Decision(["sync", "--frozen"], "uv.lock found: installing exactly what it pins")
        return Decision(None, "no uv.lock in the workspace: not syncing (run `uv sync`, or set autoSync to always)")
    if "pyproject.toml" in present:
        return Decision(["sync"], "pyproject.toml found: syncing (autoSync always)")
    return Decision(None, "no pyproject.toml in the workspace: nothing to sync")


def recorded_mode(record: Dict[str, object]) -> str:
    options = record.get("options")
    mode = options.get("autoSync") if isinstance(options, dict) else None
    return mode if mode in AUTO_SYNC_MODES else "lock"


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


def run(workspace: str, mode: Optional[str], lifecycle: bool, log) -> int:
    record = facts.read_record()
    chosen = mode or recorded_mode(record)
    present = {name for name in ("uv.lock", "pyproject.toml") if os.path.isfile(os.path.join(workspace, name))}
    decision = decide(chosen, present)
    log(decision.reason)
    if decision.args is None:
        return 0
    uv = str(record.get("uv") or "uv")
    command = " ".join(["uv"] + decision.args)
    log("running `{}` in {}".format(command, shown(workspace)))
    sys.stdout.flush()
    try:
        code = subprocess.run([uv] + decision.args, cwd=workspace).returncode
    except OSError as exc:
        code = 127
        print("uv-user: cannot run {}: {}".format(shown(uv), shown(str(exc))), file=sys.stderr)
    if code == 0:
        log("the project environment {} is in sync".format(paths.VENV))
        return 0
    for line in failure_block(command, workspace, code):
        print(line, file=sys.stderr)
    sys.stderr.flush()
    return 0 if lifecycle else code
