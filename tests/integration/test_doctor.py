"""uv-user doctor in a real dev container: break things from outside, the doctor names them, --fix repairs.

examples/basic comes up with the local feature; then, as root from outside, a file
in the env is given to root and a .venv is left in the workspace. The remote user
(vscode, with passwordless sudo) runs the doctor, then `uv-user doctor --fix`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.devcontainer import docker_exec, exec_, up

pytestmark = pytest.mark.docker

def doctor(workspace: Path, remote: str, *args: str):
    return exec_(workspace, 'cd "$1" && shift && uv-user doctor "$@"', check=False,
                 extra_args=[remote] + list(args))


def test_doctor_names_what_was_broken_and_fix_repairs_ownership(workspace: Path) -> None:
    outcome = up(workspace)
    container, remote = outcome["containerId"], outcome["remoteWorkspaceFolder"]

    healthy = doctor(workspace, remote)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "\u2713 volume: /opt/uv-user is a mount" in healthy.stdout

    # Broken from outside, as root: a root-owned file in the env, a stray .venv in the workspace.
    docker_exec(container, "touch /opt/uv-user/venv/bin/stray && chown 0:0 /opt/uv-user/venv/bin/stray "
                           "&& mkdir -p {0}/.venv && chown 1000:1000 {0}/.venv".format(remote))
    broken = doctor(workspace, remote)
    assert broken.returncode == 1, broken.stdout
    assert ("\u2717 ownership: 1 entry under /opt/uv-user is not owned by vscode (1000:1000), "
            "e.g. /opt/uv-user/venv/bin/stray (0:0)") in broken.stdout
    assert "fix: run `uv-user doctor --fix` (it runs `sudo -n uv-user repair`)" in broken.stdout
    assert "! workspace: {}/.venv exists".format(remote) in broken.stdout
    assert broken.stderr.strip().startswith("uv-user: ownership: 1 entry under /opt/uv-user")

    fixed = doctor(workspace, remote, "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "re-owned 1 of" in fixed.stdout
    assert "\u2713 ownership: all" in fixed.stdout
    assert fixed.stdout.rstrip().endswith("uv-user: doctor: no problems (1 warning: workspace)")
    assert docker_exec(container, "stat -c %U /opt/uv-user/venv/bin/stray").stdout.strip() == "vscode"

    report = json.loads(doctor(workspace, remote, "--json").stdout)
    statuses = {f["check"]: f["status"] for f in report["findings"]}
    assert report["ok"] is True and statuses["workspace"] == "warn"
    assert [s for s in statuses.values() if s != "ok"] == ["warn"]
