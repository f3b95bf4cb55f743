"""Sync speed: installing benchmarks/project (41 pinned packages from its uv.lock) into a fresh
environment, in four layouts, each in its own container of the same image (the feature's, plus
python3-pip for the last one), as the feature's user:

- feature: env and cache on the feature's volume (/opt/uv-user): uv hardlinks from its cache;
- workspace: `.venv` in the bind-mounted workspace, uv's default cache in $HOME (the container's
  layer): different filesystems, so uv warns "Failed to hardlink" and copies;
- volume_copy: env on a volume, cache in $HOME, UV_LINK_MODE unset: uv warns and copies;
- pip_user: the seed project's workaround, `pip install --user -r` requirements exported from the
  same lock (Debian's pip, so PIP_BREAK_SYSTEM_PACKAGES=1; pip compiles bytecode by default, uv not).

Warm: the cache already holds every package (pip: its HTTP and wheel cache). Cold: the cache is
emptied first, so everything comes from PyPI through whatever proxy the machine has. The environment
is deleted before every timed run; runs are interleaved, a different layout first each round.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .docker import HERE, BenchError, Session, exec_json, exec_sh, median, rotated

PROJECT = HERE / "project"
WORKSPACE = "/workspaces/project"
VOLUME = "/opt/uv-user"
IMPORTS = ("requests, httpx, rich, pydantic, click, jinja2, attrs, dateutil, yaml, jsonschema, pytest, tqdm, "
           "platformdirs, filelock, tabulate, structlog, dotenv, typer")
UV_SYNC = ("uv", "sync", "--locked")
UV_VARS = ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV", "UV_CACHE_DIR", "UV_LINK_MODE")
ALWAYS = {"UV_PYTHON": "/usr/bin/python3", "UV_PYTHON_DOWNLOADS": "never"}  # the image's 3.11, never a download


@dataclasses.dataclass(frozen=True)
class Layout:
    title: str
    env: Dict[str, str]
    reset: str        # shell, as the user: delete the environment
    clean_cache: str  # shell, as the user: empty the cache (the env vars above apply)
    python: str       # the interpreter that sees the installed packages
    command: Tuple[str, ...] = UV_SYNC
    done: str = r"Installed (\d+) packages? in ([\d.]+)(ms|s)"  # uv's own count and link/copy step

    def installed(self, output: str) -> Tuple[int, float]:
        """How many packages it installed, and the seconds of uv's install (link or copy) step (0 for pip)."""
        found = re.search(self.done, output)
        if not found:
            raise BenchError("{} did not report what it installed:\n{}".format(self.title, output))
        if not found.groups():  # pip: "Successfully installed a-1 b-2 ..."
            return len(found.group(0).split()) - 2, 0.0
        return int(found.group(1)), float(found.group(2)) / (1000 if found.group(3) == "ms" else 1)

    def env_args(self) -> List[str]:
        args = ["--cwd", WORKSPACE]
        for name in UV_VARS:
            args += ["--unset", name]
        for name, value in {**ALWAYS, **self.env}.items():
            args += ["--env", "{}={}".format(name, value)]
        return args


FEATURE_ENV = {"UV_PROJECT_ENVIRONMENT": VOLUME + "/venv", "VIRTUAL_ENV": VOLUME + "/venv"}
LAYOUTS: Dict[str, Layout] = {
    "feature": Layout("feature: env + cache on one volume",
                      {**FEATURE_ENV, "UV_CACHE_DIR": VOLUME + "/cache"},
                      "rm -rf /opt/uv-user/venv", "UV_CACHE_DIR=/opt/uv-user/cache uv cache clean -q",
                      VOLUME + "/venv/bin/python"),
    "workspace": Layout(".venv in the bind-mounted workspace",
                        {}, "rm -rf {}/.venv".format(WORKSPACE), 'rm -rf "$HOME/.cache/uv"',
                        WORKSPACE + "/.venv/bin/python"),
    "volume_copy": Layout("env on a volume, cache elsewhere (copy)",
                          FEATURE_ENV, "rm -rf /opt/uv-user/venv", 'rm -rf "$HOME/.cache/uv"',
                          VOLUME + "/venv/bin/python"),
    "pip_user": Layout("pip install --user (seed's workaround)",
                       {"PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                        "PIP_NO_WARN_SCRIPT_LOCATION": "1", "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt"},
                       'rm -rf "$HOME/.local/lib" "$HOME/.local/bin"', 'rm -rf "$HOME/.cache/pip"',
                       "/usr/bin/python3",
                       ("/usr/bin/python3", "-m", "pip", "install", "--user", "-r", "/tmp/requirements.txt"),
                       r"Successfully installed [^\n]*"),
}
QUICK_LAYOUTS = ("feature", "workspace", "volume_copy")


def prepare(session: Session, image: str, workdir: Path, names: Sequence[str]) -> Tuple[Dict[str, str], str]:
    """One running container per layout with its own workspace copy and volume; returns them and the user."""
    containers: Dict[str, str] = {}
    user = ""
    for name in names:
        project = workdir / name / "project"
        project.mkdir(parents=True)
        for item in ("pyproject.toml", "uv.lock"):
            shutil.copy2(PROJECT / item, project / item)
        volume = session.volume("sync-" + name)
        container = session.daemon("sync-" + name, image, [
            "--mount", "type=volume,src={},dst={}".format(volume, VOLUME),
            "--mount", "type=bind,src={},dst={}".format(project, WORKSPACE)])
        exec_sh(container, "uv-user repair")  # what the entrypoint does at a real start
        user = exec_sh(container, "python3 -c 'import json; print(json.load(open("
                                  "\"/usr/local/share/uv-user/install.json\"))[\"username\"])'").stdout.strip()
        exec_sh(container, "chown -R {0}:{0} {1}".format(user, WORKSPACE))
        if name == "pip_user":
            exec_sh(container, "cd {} && uv export --locked --no-hashes --no-emit-project -q "
                               "-o /tmp/requirements.txt".format(WORKSPACE), user=user)
        containers[name] = container
    return containers, user


def sync_once(container: str, layout: Layout, user: str, cold: bool) -> Tuple[float, Tuple[int, float], bool]:
    """Seconds of one sync into a fresh environment, (packages installed, seconds of uv's link/copy step),
    and whether uv fell back to copying."""
    if cold:
        exec_json(container, layout.env_args() + ["--", "sh", "-c", layout.clean_cache], user=user)
    exec_sh(container, layout.reset, user=user)
    outcome = exec_json(container, layout.env_args() + ["--", *layout.command], user=user)
    return outcome["seconds"], layout.installed(outcome["output"]), "Failed to hardlink" in outcome["output"]


def run(session: Session, image: str, workdir: Path, warm_reps: int, cold_reps: int,
        names: Sequence[str]) -> Dict[str, object]:
    containers, user = prepare(session, image, workdir, names)
    warm: Dict[str, List[float]] = {name: [] for name in names}
    cold: Dict[str, List[float]] = {name: [] for name in names}
    copied: Dict[str, bool] = {}
    installed: Dict[str, set] = {name: set() for name in names}
    linking: Dict[str, List[float]] = {name: [] for name in names if name != "pip_user"}
    for rep in range(max(cold_reps, 1)):  # cold rounds; without any, one untimed round fills the caches
        for name in rotated(list(names), rep):
            seconds, (count, _), copied[name] = sync_once(containers[name], LAYOUTS[name], user, cold=cold_reps > 0)
            installed[name].add(count)
            if cold_reps:
                cold[name].append(seconds)
    for rep in range(warm_reps):
        for name in rotated(list(names), rep):
            seconds, (count, link), copied[name] = sync_once(containers[name], LAYOUTS[name], user, cold=False)
            installed[name].add(count)
            warm[name].append(seconds)
            if name in linking:
                linking[name].append(link)
    counts = set().union(*installed.values())
    if len(counts) != 1:  # every layout, every run: the same packages, or the comparison is void
        raise BenchError("the layouts installed different numbers of packages: {}".format(installed))
    packages = counts.pop()
    for name in names:  # the packages really are importable by the layout's interpreter, as the user
        exec_sh(containers[name], "cd / && {} -c 'import {}'".format(LAYOUTS[name].python, IMPORTS), user=user)
    warm_s = {name: median(values) for name, values in warm.items()}
    result: Dict[str, object] = {
        "packages": packages, "warm_reps": warm_reps, "cold_reps": cold_reps,
        "layouts": {name: LAYOUTS[name].title for name in names},
        "warm_s": warm_s,
        "warm_over_feature": {name: value / warm_s["feature"] for name, value in warm_s.items()},
        "feature_over_fastest_warm": warm_s["feature"] / min(warm_s.values()),
        "warm_install_step_s": {name: median(values) for name, values in linking.items()},
        "copy_fallback_warning": copied,
        "samples": {"warm": warm, "cold": cold if cold_reps else {}, "warm_install_step": linking},
    }
    if "pip_user" in warm_s:
        result["pip_user_over_feature_warm"] = warm_s["pip_user"] / warm_s["feature"]
    if cold_reps:
        cold_s = {name: median(values) for name, values in cold.items()}
        result["cold_s"] = cold_s
        result["cold_over_feature"] = {name: value / cold_s["feature"] for name, value in cold_s.items()}
    return result
