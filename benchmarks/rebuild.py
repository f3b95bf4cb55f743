"""Rebuild → locked project importable (issue #15), with and without uv-user, side by side.

What a developer waits for after "Rebuild Container": from `devcontainer up --remove-existing-container`
(the image rebuilt from Docker's cache, a new container, its lifecycle commands) until
`python -c 'import <the locked packages>'` succeeds as the remote user. Each variant is its own
workspace: a copy of benchmarks/project (18 pinned dependencies, 40 packages in its uv.lock) with a
devcontainer.json on the same base image and `remoteUser: vscode`:

- feature: uv-user (this checkout). Its volume keeps /opt/uv-user (environment, uv's cache, uv tools)
  across rebuilds, and its autoSync (updateContentCommand `uv-user sync --lifecycle`: `uv sync --frozen`)
  finds every package installed: it audits, downloads and installs nothing.
- recipe: the baseline without the feature, i.e. what uv's maintainers suggest doing by hand, minus
  the volume. The same uv binary is copied into the image by a Dockerfile (as astral's docs do from
  ghcr.io/astral-sh/uv); UV_PROJECT_ENVIRONMENT=/home/vscode/.venv keeps the environment out of the
  workspace, in the container, with uv's cache in $HOME/.cache/uv: a rebuild loses both. It gets its
  best case: the same automation (updateContentCommand `uv sync --frozen`), so the only difference
  is what the sync finds: nothing, and it downloads and installs all 40 packages again.
- workspace_venv (full runs only): the same image and command with uv's default `.venv` in the
  bind-mounted workspace. The host keeps that `.venv` across rebuilds (it is in the workspace), so
  this baseline does not re-install either; it shows what the volume buys over a workspace .venv on
  a native Linux bind mount (on macOS and Windows mounts, see the sync benchmark, the .venv is slower).

Every variant imports with its environment's interpreter by absolute path. One untimed `up` per
variant builds its image and fills what it keeps (the feature's volume, the workspace's .venv);
then rounds of rebuilds are interleaved, a different variant first each round, and each rebuild's
log is checked for what the sync installed. Optional probes (run's `probes`) then time more, in
the freshly rebuilt containers, outside the ready time.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from harness.cli import cli_env
from harness.devcontainer import FEATURE_SRC, chown_tree, remove_dev_containers

from .docker import INCONTAINER, BenchError, Session, median, rotated, sh
from .install_cost import check_content
from .sync_speed import IMPORTS, PROJECT

USER = "vscode"
WORKSPACE = "/workspaces/project"
RECIPE_ENV = "/home/vscode/.venv"
VARIANTS: Dict[str, str] = {
    "feature": "uv-user: env, cache and tools on its volume",
    "recipe": "no feature: env and uv's cache in the container (lost at rebuild)",
    "workspace_venv": "no feature: .venv in the bind-mounted workspace (kept by the host)",
}
QUICK_VARIANTS = ("feature", "recipe")
PYTHON = {"feature": "/opt/uv-user/venv/bin/python", "recipe": RECIPE_ENV + "/bin/python",
          "workspace_venv": WORKSPACE + "/.venv/bin/python"}
UV_DOCKERFILE = """\
# The baseline's image: the base image plus the same uv binary the feature installed.
FROM {uv_image} AS uv
FROM {base}
COPY --from=uv /usr/local/bin/uv /usr/local/bin/uvx /usr/local/bin/
"""
INSTALLED = re.compile(r"Installed (\d+) packages?")
READY_TIMEOUT = 120.0
MB = 1_000_000

# A probe runs in a variant's container after each timed rebuild: probe(variant, container) -> None.
Probe = Callable[[str, str], None]


def workspace(into: Path, variant: str, session: Session, base: str, uv_image: str) -> Path:
    """benchmarks/project with the variant's devcontainer.json (and the feature, or a Dockerfile)."""
    ws = into / variant / "project"
    devcontainer = ws / ".devcontainer"
    devcontainer.mkdir(parents=True)
    for item in ("pyproject.toml", "uv.lock"):
        shutil.copy2(PROJECT / item, ws / item)
    config: Dict[str, object] = {
        "name": "uv-user bench: " + variant, "remoteUser": USER,  # the workspace: /workspaces/project
        # The in-container timer, for the probes; the run's label, so Session.cleanup finds the containers.
        "mounts": [{"source": str(INCONTAINER), "target": "/bench", "type": "bind"}],
        "runArgs": ["--label", session.label],
    }
    if variant == "feature":
        shutil.copytree(FEATURE_SRC, devcontainer / "uv-user", ignore=shutil.ignore_patterns("__pycache__"))
        config.update(image=base, features={"./uv-user": {}})
    else:
        (devcontainer / "Dockerfile").write_text(UV_DOCKERFILE.format(uv_image=uv_image, base=base))
        config.update(build={"dockerfile": "Dockerfile"}, updateContentCommand="uv sync --frozen")
        if variant == "recipe":
            config["containerEnv"] = {"UV_PROJECT_ENVIRONMENT": RECIPE_ENV}
    (devcontainer / "devcontainer.json").write_text(json.dumps(config, indent=2))
    chown_tree(ws.parent)  # vscode (1000) owns the checkout, as on a developer's machine (root: no remap)
    return ws


def up(session: Session, cli: Path, ws: Path, *extra: str) -> Dict[str, object]:
    """One `devcontainer up`: its outcome, the log, and the image it ran (removed with the run)."""
    result = sh([str(cli), "up", "--workspace-folder", str(ws), "--log-format", "json", *extra], check=False,
                timeout=900, env=cli_env())
    lines = result.stdout.strip().splitlines()
    outcome = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if result.returncode != 0 or outcome.get("outcome") != "success":
        raise BenchError("devcontainer up of {} failed ({}):\n{}".format(
            ws, result.returncode, (result.stdout + result.stderr)[-3000:]))
    container = str(outcome["containerId"])
    details = json.loads(sh(["docker", "inspect", container]).stdout)[0]
    image = details["Config"]["Image"]
    volume = next((m["Name"] for m in details["Mounts"] if m.get("Type") == "volume"
                   and m.get("Destination") == "/opt/uv-user"), "")
    if image not in session.images:
        session.forget_image(image)
    installed = [int(n) for n in INSTALLED.findall(lifecycle_output(result.stdout + result.stderr))]
    return {"container": container, "image": image, "installed": sum(installed), "volume": volume}


def lifecycle_output(log: str) -> str:
    """What the lifecycle commands printed, from the CLI's JSON log (it splits their output into chunks
    anywhere, even inside a line: joined again here)."""
    chunks = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("type") == "raw" and entry.get("channel"):
            chunks.append(str(entry.get("text", "")))
    return "".join(chunks)


def importable(container: str, variant: str) -> int:
    """Poll until the locked packages import as the remote user; returns the attempts it took."""
    deadline = time.monotonic() + READY_TIMEOUT
    attempts = 0
    while True:
        attempts += 1
        result = sh(["docker", "exec", "-u", USER, "-w", "/", container, PYTHON[variant], "-c",
                     "import " + IMPORTS], check=False)
        if result.returncode == 0:
            return attempts
        if time.monotonic() > deadline:
            raise BenchError("{}: the locked packages did not import within {:.0f} s:\n{}".format(
                variant, READY_TIMEOUT, (result.stdout + result.stderr)[-2000:]))
        time.sleep(0.1)


def received(container: str) -> int:
    """Bytes the container's network interface has received since it started: what its rebuild downloaded."""
    result = sh(["docker", "exec", container, "cat", "/sys/class/net/eth0/statistics/rx_bytes"], check=False)
    return int(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip().isdigit() else 0


def run(session: Session, cli: Path, base: str, uv_image: str, workdir: Path, rounds: int,
        variants: Sequence[str], setup: Optional[Dict[str, Probe]] = None,
        probes: Optional[Dict[str, Probe]] = None) -> Dict[str, object]:
    """Time `rounds` interleaved rebuilds per variant. ``setup`` runs once per variant after its first
    (untimed) up; ``probes`` after every timed rebuild. Removes the variants' containers and volumes."""
    spaces = {variant: workspace(workdir, variant, session, base, uv_image) for variant in variants}
    ready: Dict[str, List[float]] = {v: [] for v in variants}
    up_s: Dict[str, List[float]] = {v: [] for v in variants}
    installed: Dict[str, List[int]] = {v: [] for v in variants}
    attempts: Dict[str, List[int]] = {v: [] for v in variants}
    rx: Dict[str, List[int]] = {v: [] for v in variants}
    volumes: List[str] = []  # the feature's, kept across its rebuilds (the CLI names it; removed at the end)
    try:
        for variant in variants:  # untimed: build the image, make and fill what the variant keeps
            first = up(session, cli, spaces[variant])
            volumes += [str(first["volume"])] if first["volume"] else []
            if variant == "feature":
                check_content(str(first["image"]))
            importable(str(first["container"]), variant)
            if setup and variant in setup:
                setup[variant](variant, str(first["container"]))
        for rep in range(rounds):
            for variant in rotated(list(variants), rep):
                started = time.perf_counter()
                outcome = up(session, cli, spaces[variant], "--remove-existing-container")
                up_s[variant].append(time.perf_counter() - started)
                attempts[variant].append(importable(str(outcome["container"]), variant))
                ready[variant].append(time.perf_counter() - started)
                installed[variant].append(int(outcome["installed"]))
                rx[variant].append(received(str(outcome["container"])))
                if variant == "feature":  # untimed: a concurrent build can swap the CLI's feature content
                    check_content(str(outcome["image"]))
                if probes and variant in probes:
                    probes[variant](variant, str(outcome["container"]))
    finally:
        for ws in spaces.values():
            remove_dev_containers(str(ws))
    if any(installed["feature"]):
        raise BenchError("the feature's autoSync installed packages after a rebuild with its volume kept: {}".format(
            installed["feature"]))
    ready_s = {v: median(values) for v, values in ready.items()}
    return {
        "rounds": rounds, "variants": {v: VARIANTS[v] for v in variants}, "imports": IMPORTS,
        "ready_s": ready_s, "up_s": {v: median(values) for v, values in up_s.items()},
        "over_feature": {v: value / ready_s["feature"] for v, value in ready_s.items()},
        "saved_s": {v: value - ready_s["feature"] for v, value in ready_s.items()},
        "volumes": volumes,
        "installed_per_rebuild": {v: sorted(set(values)) for v, values in installed.items()},
        "received_mb": {v: median(values) / MB for v, values in rx.items()},
        "samples": {"ready": ready, "up": up_s, "import_attempts": attempts, "received_bytes": rx,
                    "installed": installed},
    }
