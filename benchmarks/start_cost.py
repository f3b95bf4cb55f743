"""Start cost: what the feature's entrypoint adds to a container start, and what repair costs.

Three containers of the same image (the one with the feature) share one volume at /opt/uv-user
holding a uv-shaped tree of N files, already owned by the feature's user. Each runs the wrapper
the devcontainers CLI puts around feature entrypoints (`/bin/sh -c 'echo Container started; trap
...; <entrypoints>; exec "$@"'`) with `true` as the main command, so `docker start -a` returns once
the entrypoint has handed over and the marker command has run:

- bare: no entrypoint line;
- feature: the feature's real entrypoint, read from the image's devcontainer.metadata;
- naive: `chown -R <user> /opt/uv-user`, the usual hand-written alternative.

With alternatives (the full run), four more variants show where the feature's time goes and what a
faster entrypoint could look like: `python3 -S -c pass` (Python's start alone), incontainer/walk.py
(the least a Python check can do), `find -xdev` as a pre-check before the real entrypoint, and the
real entrypoint in the background. They share the interleaved rounds; they do not change the others.

Starts are interleaved (a different variant first each round) after one untimed warm-up each.
Repair is timed inside a container (no `docker exec` overhead): `uv-user repair` after `chown -R`
to another uid, `uv-user repair` with nothing to do, and `chown -R` of the already-right tree.
"""

from __future__ import annotations

import json
from typing import Dict, List

from .docker import INCONTAINER, BenchError, Session, exec_json, exec_sh, median, rotated, sh, timed

ROOT = "/opt/uv-user"
OTHER = "2000:2000"
WRAPPER = 'echo Container started\ntrap "exit 0" 15\n{line}exec "$@"\n'  # the CLI's, minus its keep-alive
ALTERNATIVES = {  # entrypoint lines; {entrypoint} and {user} are filled in
    "python_start": "python3 -E -s -S -c pass",
    "python_walk": "python3 -E -s -S /bench/walk.py " + ROOT + " {user} || {entrypoint}",
    "find_precheck": 'if [ -n "$(find ' + ROOT + ' -xdev \\( ! -user {user} -o ! -group {user} \\) -print -quit)" ]; '
                     'then {entrypoint}; fi',
    "background": "{entrypoint} &",
}


def populate(session: Session, image: str, volume: str, files: int) -> Dict[str, object]:
    """Fill the volume and hand it to the feature's user; returns the helper container and counts."""
    helper = session.daemon("start-helper", image, ["--mount", "type=volume,src={},dst={}".format(volume, ROOT)])
    user = json.loads(exec_sh(helper, "cat /usr/local/share/uv-user/install.json").stdout)["username"]
    owner = exec_sh(helper, 'echo "$(id -u {0}):$(id -g {0})"'.format(user)).stdout.strip()
    counts = json.loads(exec_sh(helper, "python3 -E -s /bench/populate.py {} {} {}".format(ROOT, files, owner)).stdout)
    left = exec_sh(helper, "uv-user repair --dry-run").stdout.strip()
    if left:
        raise BenchError("the populated tree is not owned by {}: {}".format(user, left))
    return {"helper": helper, "user": user, "owner": owner, **counts}


def time_starts(session: Session, image: str, volume: str, entrypoint: str, user: str,
                reps: int, alternatives: bool) -> Dict[str, List[float]]:
    lines = {"bare": "", "feature": entrypoint + "\n", "naive": "chown -R {0}:{0} {1}\n".format(user, ROOT)}
    if alternatives:
        lines.update({name: line.format(entrypoint=entrypoint, user=user) + "\n"
                      for name, line in ALTERNATIVES.items()})
    mount = ["--mount", "type=volume,src={},dst={}".format(volume, ROOT), "-v", "{}:/bench:ro".format(INCONTAINER),
             "--entrypoint", "/bin/sh"]
    containers = {variant: session.create("start-" + variant, image, mount,
                                          ["-c", WRAPPER.format(line=line), "-", "true"])
                  for variant, line in lines.items()}
    for name in containers.values():  # warm-up: page cache, dentries, the engine's first-start work
        sh(["docker", "start", "-a", name])
    logs = sh(["docker", "logs", containers["feature"]]).stdout + sh(["docker", "logs", containers["feature"]]).stderr
    if "uv-user" in logs:  # it repaired something: that is not the start this measures
        raise BenchError("the feature's entrypoint had work to do on a tree that should be right:\n" + logs)
    samples: Dict[str, List[float]] = {variant: [] for variant in containers}
    for rep in range(reps):
        for variant in rotated(list(containers), rep):
            samples[variant].append(timed(["docker", "start", "-a", containers[variant]]))
    return samples


def time_repair(helper: str, user: str, reps: int) -> Dict[str, List[float]]:
    samples: Dict[str, List[float]] = {"chown_r_to_other": [], "repair_mismatched": [], "repair_noop": [],
                                       "chown_r_noop": []}
    for _ in range(reps):
        samples["chown_r_to_other"].append(exec_json(helper, ["--", "chown", "-R", OTHER, ROOT])["seconds"])
        repaired = exec_json(helper, ["--", "uv-user", "repair"])
        if "re-owned" not in repaired["output"]:
            raise BenchError("uv-user repair did not re-own the tree:\n" + repaired["output"])
        samples["repair_mismatched"].append(repaired["seconds"])
        noop = exec_json(helper, ["--", "uv-user", "repair"])
        if noop["output"].strip():
            raise BenchError("a second uv-user repair still had work to do:\n" + noop["output"])
        samples["repair_noop"].append(noop["seconds"])
        samples["chown_r_noop"].append(
            exec_json(helper, ["--", "chown", "-R", "{0}:{0}".format(user), ROOT])["seconds"])
    foreign = exec_sh(helper, "find {} ! -user {} | wc -l".format(ROOT, user)).stdout.strip()
    if foreign != "0":
        raise BenchError("{} entries are still not owned by {} after repair".format(foreign, user))
    return samples


def run(session: Session, image: str, entrypoint: str, files: int, reps: int,
        alternatives: bool = False) -> Dict[str, Dict[str, object]]:
    volume = session.volume("start")
    tree = populate(session, image, volume, files)
    helper, user = str(tree["helper"]), str(tree["user"])
    sh(["docker", "stop", "-t", "0", helper])  # nothing else running in our containers while starts are timed
    starts = time_starts(session, image, volume, entrypoint, user, reps, alternatives)
    sh(["docker", "start", helper])
    repairs = time_repair(helper, user, reps)
    sh(["docker", "rm", "-f", helper])
    bare, feature, naive = (median(starts[v]) for v in ("bare", "feature", "naive"))
    start = {
        "files": tree["files"], "entries": tree["entries"], "reps": reps, "entrypoint": entrypoint,
        "bare_s": bare, "feature_s": feature, "naive_chown_s": naive,
        "feature_over_bare": feature / bare, "naive_over_bare": naive / bare,
        "feature_added_ms": (feature - bare) * 1000, "samples": starts,
    }
    if alternatives:
        start["alternatives"] = {name: {"s": median(starts[name]), "over_bare": median(starts[name]) / bare,
                                        "line": ALTERNATIVES[name].format(entrypoint=entrypoint, user=user)}
                                 for name in ALTERNATIVES}
    repair = {
        "entries": tree["entries"], "reps": reps,
        **{key + "_s": median(values) for key, values in repairs.items()},
        "samples": repairs,
    }
    repair["noop_over_chown_r"] = repair["repair_noop_s"] / repair["chown_r_noop_s"]
    # Both change every entry of the same tree, alternately in this run (issue #13: within 2x).
    repair["repair_over_chown_r"] = repair["repair_mismatched_s"] / repair["chown_r_to_other_s"]
    return {"start": start, "repair": repair}
