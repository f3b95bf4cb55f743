"""uv-user's ownership repair against `chown -R` of the same tree, side by side in one run (host, as root).

Why: the repair must stay within 2x of `chown -R` when everything needs re-owning (a fresh volume,
a UID remap), and a repair with nothing to change (beside every start) must stay cheap next to
`find -xdev` of the same tree. Timing each alone on another day proves nothing: this builds one
uv-shaped scratch tree (benchmarks/incontainer/populate.py: a cache whose files are hard-linked
into the env's site-packages), then times, alternately and several rounds, each against the
other on the very same tree, and prints the medians and the ratios. The command is run as installed
(the /usr/local/bin/uv-user wrapper scripts.command writes, on this interpreter), start and imports
included; the Python API for root and for a non-root uid (whose directories are made root's while
their entries are re-owned, then given: one more call per directory).

Usage (as root): python3 benchmarks/repair_vs_chown.py [--files 30000] [--rounds 7] [--tmpfs]
  --tmpfs  build the tree on a fresh tmpfs mount (as a named volume is: its own mount, so the
           repair reads no mount id per directory) instead of a temp dir on the host's filesystem.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src" / "uv-user"))

from uv_user import repair, scripts  # noqa: E402

# Who the tree must belong to: root, so the command (which takes a user name) needs no account made
# for the run; what is timed is the same for any uid. Before each timed re-owning it is OTHER's.
OWNER, OWNER_NAME = (0, 0), "root"
OTHER = (4343, 4343)
# The same repair for a non-root owner (the API needs no account): a non-root user's directories are
# made root's while their entries are re-owned, then given to the user (root's need no second step).
USER = (4242, 4242)
FEATURE = HERE.parent / "src" / "uv-user"


def chown_r(root: Path, owner: tuple) -> None:
    subprocess.run(["chown", "-hR", "{}:{}".format(*owner), str(root)], check=True)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def mount_mode(root: Path) -> str:
    """How the repair tells mounts here: st_dev alone, pinned mount points, or a mount id per entry."""
    fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY)
    try:
        found = repair._Mounts(fd)
    finally:
        os.close(fd)
    if found.per_entry:
        return "a mount id per directory and per entry changed"
    pinned = sum(map(len, found.points.values()))
    return "{} same-filesystem mount point(s) pinned at the start".format(pinned) if pinned \
        else "st_dev alone (no same-filesystem mount below)"


def measure(root: Path, rounds: int) -> Dict[str, List[float]]:
    samples: Dict[str, List[float]] = {"chown_r": [], "repair_api": [], "repair_api_user": [], "repair_command": [],
                                       "noop_repair": [], "noop_scan": [], "find_xdev": [], "find_owner": []}
    state = root.parent / "state" / "repair.json"  # the status file's directory holds the repairs' lock

    def repair_api(owner: tuple = OWNER) -> None:
        report = repair.repair(str(root), *owner, state=str(state))
        assert report.error_count == 0 and not report.incomplete, report.errors

    # The command as installed (/usr/local/bin/uv-user: a sh script exec'ing the interpreter, this one,
    # on the feature's code), what the entrypoint runs; the interpreter's start and imports included.
    command = root.parent / "uv-user-command"
    command.write_text(scripts.command(sys.executable, share=str(FEATURE)))

    def repair_command() -> None:
        subprocess.run(["sh", str(command), "repair", "--user", OWNER_NAME, "--root", str(root), "--state",
                        str(state)], check=True, stdout=subprocess.DEVNULL)

    for number in range(rounds):
        order = ["chown_r", "repair_api", "repair_api_user", "repair_command"]
        if number % 2:
            order.reverse()
        for name in order:
            chown_r(root, OTHER)  # untimed: everything is someone else's again
            action = {"chown_r": lambda: chown_r(root, OWNER), "repair_api": repair_api,
                      "repair_api_user": lambda: repair_api(USER), "repair_command": repair_command}[name]
            samples[name].append(timed(action))
        chown_r(root, OWNER)
        for name, action in (("noop_repair", lambda: repair.repair(str(root), *OWNER, state=str(state))),
                             ("noop_scan", lambda: repair.scan(str(root), *OWNER)),
                             ("find_xdev", lambda: subprocess.run(["find", str(root), "-xdev"], check=True,
                                                                  stdout=subprocess.DEVNULL)),
                             # the same question the no-op repair asks of every entry (find must stat each)
                             ("find_owner", lambda: subprocess.run(
                                 ["find", str(root), "-xdev", "(", "!", "-uid", str(OWNER[0]), "-o", "!", "-gid",
                                  str(OWNER[1]), ")"], check=True, stdout=subprocess.DEVNULL))):
            samples[name].append(timed(action))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30000, help="file entries in the tree (default 30000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each measurement (default 7)")
    parser.add_argument("--tmpfs", action="store_true", help="build the tree on its own tmpfs mount")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("repair_vs_chown: run as root (it re-owns a scratch tree to other uids)", file=sys.stderr)
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="uvuser-bench-"))
    mounted = False
    try:
        if args.tmpfs:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "uvuser-bench", str(scratch)], check=True)
            mounted = True
        root = scratch / "uv-user"
        built = json.loads(subprocess.run(
            [sys.executable, str(HERE / "incontainer" / "populate.py"), str(root), str(args.files),
             "{}:{}".format(*OWNER)], check=True, stdout=subprocess.PIPE).stdout)
        mode = mount_mode(root)
        samples = measure(root, args.rounds)
        median = {name: statistics.median(values) for name, values in samples.items()}
        print("tree: {entries:,} entries ({files:,} files, half of them hard links cache<->env) on {where}; "
              "mounts told by {mode}; median of {rounds} rounds".format(
                  where="a tmpfs mount" if args.tmpfs else str(scratch), mode=mode, rounds=args.rounds, **built))
        rows = [("chown -hR (every entry to another uid)", "chown_r"),
                ("repair.repair() (every entry), Python API", "repair_api"),
                ("the same, for a non-root uid", "repair_api_user"),
                ("uv-user repair (every entry), the command", "repair_command"),
                ("repair.repair(), nothing to change", "noop_repair"),
                ("repair.scan(), nothing to change", "noop_scan"),
                ("find -xdev", "find_xdev"),
                ("find -xdev ! -uid U -o ! -gid G (stats each)", "find_owner")]
        for label, name in rows:
            print("  {:<44} {:8.3f} s   (min {:.3f}, max {:.3f})".format(
                label, median[name], min(samples[name]), max(samples[name])))
        print("ratios: repair API / chown -R = {:.2f} (non-root uid: {:.2f}); command / chown -R = {:.2f}; "
              "no-op repair / find -xdev = {:.2f}; no-op repair / find checking owners = {:.2f}".format(
                  median["repair_api"] / median["chown_r"], median["repair_api_user"] / median["chown_r"],
                  median["repair_command"] / median["chown_r"],
                  median["noop_repair"] / median["find_xdev"], median["noop_repair"] / median["find_owner"]))
    finally:
        if mounted:
            subprocess.run(["umount", str(scratch)], check=False)
        shutil.rmtree(str(scratch), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
