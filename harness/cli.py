"""The devcontainers CLI, pinned in package.json and installed from package-lock.json with `npm ci`.

Pinning means the demo, the tests and CI all drive the same CLI version a user would run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from .common import REPO_ROOT, ProvisionError, exclusive, log, log_path, run, which

PACKAGE = "@devcontainers/cli"
MIN_NODE_MAJOR = 20  # the CLI's package.json: "engines": {"node": ">=20.0.0"}


def cli_path() -> Path:
    return REPO_ROOT / "node_modules" / ".bin" / "devcontainer"


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every devcontainers CLI run (harness, tests, demo, benchmarks): env (default:
    this process's) plus, while the harness's ghcr.io stand-in is up (harness.ghcr), its CA in
    NODE_EXTRA_CA_CERTS and ghcr.io in NO_PROXY (a proxy would resolve ghcr.io itself, to the real one)."""
    from .ghcr import HOSTNAME, node_ca_bundle  # ghcr publishes through this module: imported when used

    result = dict(os.environ if env is None else env)
    bundle = node_ca_bundle()
    if bundle is not None:
        result["NODE_EXTRA_CA_CERTS"] = str(bundle)
        # Tools read one or the other spelling: both get the union, so neither loses an entry.
        hosts = [h.strip() for name in ("no_proxy", "NO_PROXY") for h in result.get(name, "").split(",")]
        merged = list(dict.fromkeys(h for h in hosts + [HOSTNAME] if h))
        result["no_proxy"] = result["NO_PROXY"] = ",".join(merged)
    return result


def pinned_version() -> str:
    """The exact version package.json pins (no ranges: the lock file must agree)."""
    manifest = json.loads((REPO_ROOT / "package.json").read_text())
    return str(manifest["devDependencies"][PACKAGE])


def installed_version() -> str | None:
    try:
        manifest = REPO_ROOT / "node_modules" / PACKAGE / "package.json"
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _check_node() -> None:
    if which("node") is None or which("npm") is None:
        raise ProvisionError(f"node and npm are needed for {PACKAGE}; install Node.js >= {MIN_NODE_MAJOR} "
                             "(Debian bookworm's nodejs 18 is too old)")
    version = run(["node", "--version"], check=False).stdout.strip()
    major = int(version.lstrip("v").split(".")[0] or 0)
    if major < MIN_NODE_MAJOR:
        raise ProvisionError(f"{PACKAGE} needs Node.js >= {MIN_NODE_MAJOR}, found {version}")


def ensure_cli() -> Path:
    """Path to the pinned devcontainer CLI, running `npm ci` only if it is missing or another version."""
    want = pinned_version()
    with exclusive("cli"):
        if cli_path().exists() and installed_version() == want:
            log(f"devcontainer CLI {want} is installed")
            return cli_path()
        if not (REPO_ROOT / "package-lock.json").exists():
            raise ProvisionError("package-lock.json is missing; run `npm install` once and commit it")
        _check_node()
        log(f"npm ci ({PACKAGE} {want})")
        run(["npm", "ci", "--no-audit", "--no-fund"], log_file=log_path("npm"), what="npm ci", retries=1,
            cwd=REPO_ROOT)
        if installed_version() != want or not cli_path().exists():
            raise ProvisionError(f"npm ci did not install {PACKAGE} {want} (found {installed_version()}); "
                                 "package.json and package-lock.json disagree? run `npm install` and commit")
    return cli_path()
