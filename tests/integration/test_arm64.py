"""aarch64 for real: most dev containers on Macs are arm64. Runs under qemu user-mode emulation on
an x86_64 host (natively on arm64), so it is one slow test; `-m "not emulated"` leaves it out."""

from __future__ import annotations

import pytest

from harness import provision
from harness.devcontainer import REPO, example_workspace, exec_, up

pytestmark = [pytest.mark.docker, pytest.mark.emulated]

ELF_MACHINE = r"""
import struct, sys
with open(sys.argv[1], "rb") as f:
    head = f.read(20)
assert head[:4] == b"\x7fELF", head[:4]
print({183: "aarch64", 62: "x86_64"}.get(struct.unpack("<H", head[18:20])[0], "other"))
"""


def test_feature_on_an_arm64_image(provisioned) -> None:
    image = provision.ensure_images(["arm64"])["arm64"]
    with example_workspace(REPO / "examples" / "basic", "uv-user-arm64-", image=image) as ws:
        outcome = up(ws)
        folder = outcome["remoteWorkspaceFolder"]
        result = exec_(ws, "uname -m; python3 -c \"$2\" /usr/local/bin/uv; uv --version; cd \"$1\" && "
                       "uv sync --frozen >/dev/null 2>&1 && python -c 'import packaging, sys; print(sys.prefix)' && "
                       "test ! -e .venv && find /opt/uv-user ! -user vscode | wc -l",
                       extra_args=[folder, ELF_MACHINE], check=True)
        lines = result.stdout.split("\n")
        assert lines[0] == "aarch64", result.stdout
        assert lines[1] == "aarch64", "the installed uv must be the aarch64 wheel's binary: " + result.stdout
        assert lines[2].startswith("uv ") and "aarch64" in lines[2], result.stdout
        assert lines[3] == "/opt/uv-user/venv", result.stdout
        assert lines[4] == "0", "entries under /opt/uv-user not owned by vscode: " + lines[4]
