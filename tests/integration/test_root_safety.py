"""Root trusts nothing the dev user can write: attacks from a remote user without sudo, in real containers.

The container runs as root; the remote user ``dev`` has no sudo and owns /opt/uv-user, whose
venv/bin is first on every process's PATH. ``dev`` plants programs there named like the ones a
start runs (``id``, ``stat``, ``sleep``, ...), each logging the uid it ran as, then the container
restarts. Nothing may run as root.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest

from harness.devcontainer import REPO, example_workspace, exec_, keepalive_sleeps, run, up

pytestmark = pytest.mark.docker

# Programs the CLI's start shell, the entrypoint, the repair and root shells call by name.
PLANTED = ("id", "stat", "sleep", "sh", "env", "uv-user", "uv", "bash", "chown", "find", "cat", "readlink")
LOG = "/opt/uv-user/ran.log"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKERFILE = """\
FROM {base}
RUN useradd --create-home --shell /bin/bash dev
"""


@pytest.fixture
def no_sudo_workspace(provisioned) -> Iterator[Path]:
    """examples/basic on an image that runs as root, with a remote user `dev` who has no sudo."""
    with example_workspace(REPO / "examples" / "basic", "uv-user-root-safety-") as ws:
        devcontainer = ws / ".devcontainer"
        (devcontainer / "Dockerfile").write_text(DOCKERFILE.format(base=provisioned["base"]))
        config = {"build": {"dockerfile": "Dockerfile"}, "features": {"./uv-user": {}}, "remoteUser": "dev"}
        (devcontainer / "devcontainer.json").write_text(json.dumps(config, indent=2))
        yield ws


PLANTED_SCRIPT = """#!/bin/sh
echo "{name} $(/usr/bin/id -u)" >> {log}
for d in $(echo {system} | /usr/bin/tr : ' '); do [ -x "$d/{name}" ] && exec "$d/{name}" "$@"; done
exit 127
"""


def plant(workspace: Path) -> None:
    """Each planted program logs who ran it, then runs the real one from the system's directories."""
    # rm first: bin/python and friends may be links, and `cat >` would write through them.
    script = "".join(
        "rm -f {0}; cat > {0} <<'EOF'\n{1}EOF\nchmod 755 {0}\n".format(
            "/opt/uv-user/venv/bin/" + name, PLANTED_SCRIPT.format(name=name, log=LOG, system=SYSTEM_PATH))
        for name in PLANTED)
    exec_(workspace, "set -e\ntouch {0}\n{1}".format(LOG, script))


def test_a_dev_user_without_sudo_cannot_make_root_run_their_programs_at_start(no_sudo_workspace: Path) -> None:
    outcome = up(no_sudo_workspace)
    container = outcome["containerId"]
    assert exec_(no_sudo_workspace, "id -un; sudo -n true 2>/dev/null && echo has-sudo; true").stdout.split() == \
        ["dev"]
    plant(no_sudo_workspace)
    run(["docker", "restart", container])
    deadline = time.monotonic() + 60
    seen: Dict[str, str] = {}
    while time.monotonic() < deadline and len(seen) < 3:  # three keep-alive rounds after the start
        seen.update(keepalive_sleeps(container))
        time.sleep(0.3)
    assert len(seen) >= 3 and set(seen.values()) <= {"/usr/bin/sleep", "/bin/sleep"}, seen
    ran = run(["docker", "exec", "-u", "root", container, "/bin/cat", LOG]).stdout.splitlines()
    as_root = [line for line in ran if line.endswith(" 0")]
    assert as_root == [], "at start, root ran the dev user's programs: {}".format(as_root)
    # By hand, as README's Security section says: a root shell with a clean PATH, the repair, the doctor.
    clean = ["docker", "exec", "-u", "root", "-e", "PATH=" + SYSTEM_PATH, container]
    repaired = run(clean + ["uv-user", "repair", "--dry-run"])
    assert repaired.stdout == "" and repaired.stderr == ""
    root_login = run(clean + ["bash", "-lc", "command -v id; command -v python; uv-user doctor >/dev/null; "
                                             "uv-user sync --mode never >/dev/null; true"]).stdout.split()
    assert root_login[0] in ("/usr/bin/id", "/bin/id") and not any("/opt/uv-user" in p for p in root_login)
    ran = run(["docker", "exec", "-u", "root", container, "/bin/cat", LOG]).stdout.splitlines()
    assert [line for line in ran if line.endswith(" 0")] == [], ran
    # The dev user still gets the environment first, and is told where root shells stand.
    assert exec_(no_sudo_workspace, "command -v python").stdout.strip() == "/opt/uv-user/venv/bin/python"
    doctor = exec_(no_sudo_workspace, "uv-user doctor", check=False)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "security: this container's processes run as root and dev has no sudo" in doctor.stdout
