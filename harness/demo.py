"""The main job, end to end: build examples/basic with the local feature, sync, show where it went.

Runs the pinned devcontainers CLI exactly as a user's editor would (`up`, then
`exec` as the remote user), then prints the evidence: the environment's path
and owner, the `python` on PATH, and that the workspace has no `.venv`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

from . import provision
from .common import ProvisionError, log
from .devcontainer import REPO, chown_tree, docker_cleanup, exec_, make_workspace, temp_dir, up

EXAMPLE = REPO / "examples" / "basic"
REPORT = r"""
set -e
cd "$1"
echo "== ready on open: autoSync ran uv sync --frozen when the container was created"
python -c 'import packaging; print("packaging", packaging.__version__, "is importable before any command")'
echo
echo "\$ uv sync"
uv sync 2>&1
echo
echo "== where the environment went"
echo "UV_PROJECT_ENVIRONMENT = $UV_PROJECT_ENVIRONMENT"
echo "VIRTUAL_ENV            = $VIRTUAL_ENV"
echo "owner of the env       = $(stat -c '%U (uid %u)' "$UV_PROJECT_ENVIRONMENT")"
echo "entries not owned by $(id -un) = $(find /opt/uv-user ! -user "$(id -u)" | wc -l)"
echo "python on PATH         = $(command -v python)"
echo "volume mounted at      = $(awk '$2 == "/opt/uv-user" {print $2 " (" $3 ")"}' /proc/mounts)"
if [ -e .venv ]; then echo "workspace .venv        = PRESENT (unexpected)"; exit 1; fi
echo "workspace .venv        = none (the workspace stays clean)"
echo
echo "\$ python hello.py"
python hello.py
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m harness demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the dev container running afterwards")
    args = parser.parse_args(argv)
    try:
        provision.ensure_engine()
        provision.ensure_cli()
        images = provision.ensure_images(["base"])
        ghcr = provision.ensure_ghcr()  # the CLI resolves the feature's installsAfter references there
    except ProvisionError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    workdir = temp_dir("uv-user-demo-")
    workspace = make_workspace(EXAMPLE, workdir, image=images["base"])
    chown_tree(workdir)  # like a host user's checkout, so vscode can write uv.lock there
    try:
        with contextlib.nullcontext() if args.keep else docker_cleanup(workspace):
            return _run(workspace, images["base"], args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        if ghcr.started:  # a kept container runs without it; only builds need it
            provision.stop_ghcr()


def _run(workspace: Path, image: str, keep: bool) -> int:
    """Bring the example up, run the report as the remote user, print the evidence."""
    log(f"devcontainer up {workspace} (image {image}, feature from src/uv-user)")
    outcome = up(workspace)
    log(f"container {outcome['containerId'][:12]} is up; remote user {outcome.get('remoteUser')}")
    result = exec_(workspace, REPORT + "\n", check=False, extra_args=[outcome["remoteWorkspaceFolder"]])
    print(result.stdout)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        print("demo: FAILED (see above)", file=sys.stderr)
        return 1
    print("demo: OK: uv sync put the project's environment in /opt/uv-user/venv, owned by the user, "
          "outside the workspace")
    if keep:
        print(f"demo: kept; try: {REPO}/node_modules/.bin/devcontainer exec --workspace-folder {workspace} bash")
    return 0
