"""The test images: one table of recipes and one builder.

No container registry is reachable, so every image starts as a Debian rootfs made by debootstrap
(one per suite/arch) and loaded into Docker; the rest are `docker build`s of
harness/images/*.Dockerfile on top. Each image carries a label with a hash of its recipe
(chained through its parent's), so an image is rebuilt exactly when its recipe, the host CA
bundle or the harness version changes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Union

from .common import (VERSION, ProvisionError, command_env, ensure_tools, exclusive, is_root, log, log_path, run,
                     which)
from .engine import ensure_engine

IMAGES_DIR = Path(__file__).resolve().parent / "images"
LABEL = "uvuser.recipe"
# Corporate proxies intercept TLS: images trust whatever the host trusts, via this bundle.
HOST_CA = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA = "/etc/ssl/certs/ca-certificates.crt"
MIRROR = os.environ.get("UVUSER_DEBIAN_MIRROR")  # None: debootstrap's default, Debian's archive
QEMU_ARCH = {"arm64": "aarch64", "amd64": "x86_64"}


@dataclasses.dataclass(frozen=True)
class Rootfs:
    """A minimal Debian made by debootstrap, with the host CA bundle added, loaded as an image."""
    tag: str
    suite: str
    arch: str | None = None  # None: the host's; another arch runs under qemu-user-static
    include: tuple[str, ...] = ("ca-certificates",)
    check: str = f"test -s {IMAGE_CA}"


@dataclasses.dataclass(frozen=True)
class Derived:
    """An image built from harness/images/<dockerfile> with FROM set to the parent recipe's tag."""
    tag: str
    dockerfile: str
    parent: str
    args: tuple[tuple[str, str], ...] = ()
    check: str = "true"  # shell run in a throw-away container: proves the image is what tests expect


Recipe = Union[Rootfs, Derived]

_VSCODE = ('test "$(id -un)" = root && test "$(id -u vscode):$(id -g vscode)" = 1000:1000 '
           '&& test "$(getent passwd vscode | cut -d: -f6-)" = /home/vscode:/bin/bash '
           '&& test -d /home/vscode && sudo -u vscode sudo -n true')
_DEVPYTHON = "/usr/local/python/current/bin/python"
_PYPI = ('python3 -c "import urllib.request as u; '
         'u.urlopen(\'https://pypi.org/simple/uv/\', timeout=60).read(1)"')

RECIPES: dict[str, Recipe] = {
    "rootfs-bookworm": Rootfs("uvuser-test/rootfs:bookworm", "bookworm"),
    "rootfs-trixie": Rootfs("uvuser-test/rootfs:trixie", "trixie"),
    # Under emulation every dpkg call is slow: install everything in the one debootstrap run.
    "rootfs-bookworm-arm64": Rootfs("uvuser-test/rootfs-arm64:bookworm", "bookworm", arch="arm64",
                                    include=("ca-certificates", "python3", "sudo")),
    "base": Derived("uvuser-test/base:bookworm", "devuser.Dockerfile", "rootfs-bookworm",
                    (("PACKAGES", "python3 sudo"),),
                    check=f"{_VSCODE} && python3 --version && {_PYPI}"),
    "trixie": Derived("uvuser-test/base:trixie", "devuser.Dockerfile", "rootfs-trixie",
                      (("PACKAGES", "python3 sudo"),), check=f"{_VSCODE} && python3 --version"),
    "python": Derived("uvuser-test/python:bookworm", "python.Dockerfile", "rootfs-bookworm",
                      check='test "$(id -un)" = root && python --version && ! command -v sudo'),
    # mcr.microsoft.com/devcontainers/python:3's stand-in (see the Dockerfile for what it reproduces).
    "devpython": Derived("uvuser-test/devcontainers-python:3", "devpython.Dockerfile", "rootfs-bookworm",
                         check=f"{_VSCODE} && test \"$(command -v python)\" = {_DEVPYTHON} "
                               f"&& test \"$(su vscode -lc 'command -v python')\" = {_DEVPYTHON} "
                               f"&& {_DEVPYTHON} -m venv --without-pip /tmp/v && {_PYPI}"),
    "arm64": Derived("uvuser-test/base-arm64:bookworm", "devuser.Dockerfile", "rootfs-bookworm-arm64",
                     (("PACKAGES", ""),),  # all in the rootfs already
                     check=f'{_VSCODE} && python3 --version && test "$(uname -m)" = aarch64'),
}
# Public images that examples/ and test/*/scenarios.json name, and the recipe standing in for each where no
# registry can serve them (harness.devcontainer.public_images, make_workspace, standin_project). The real
# devcontainers base images have no python3 (the feature installs it); their stand-ins have Debian's, so
# the no_python scenario removes it in its own Dockerfile, wherever it runs.
STAND_INS: dict[str, str] = {
    "python:3.12-bookworm": "python",
    "mcr.microsoft.com/devcontainers/base:bookworm": "base",
    "mcr.microsoft.com/devcontainers/base:trixie": "trixie",
    "mcr.microsoft.com/devcontainers/python:3": "devpython",
}
# What tests use; arm64 only on request (minutes under emulation). Rootfs images come as parents.
DEFAULT_IMAGES: tuple[str, ...] = ("base", "python", "trixie", "devpython")
PUBLIC_IMAGES: tuple[str, ...] = (*DEFAULT_IMAGES, "arm64")


@functools.cache
def host_arch() -> str:
    """Debian's name for this machine's architecture."""
    if which("dpkg"):
        return run(["dpkg", "--print-architecture"]).stdout.strip()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


@functools.cache
def recipe_hash(name: str) -> str:
    """What the image's label must say: hashes everything its content depends on."""
    recipe = RECIPES[name]
    parts = [VERSION, json.dumps(dataclasses.asdict(recipe), sort_keys=True)]
    if isinstance(recipe, Rootfs):
        files = sorted((path, mode, hashlib.sha256(data).hexdigest())
                       for path, (data, mode) in _rootfs_files().items())
        parts += [_arch(name), json.dumps(files)]
    else:
        parts += [(IMAGES_DIR / recipe.dockerfile).read_text(), recipe_hash(recipe.parent)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _inspect(tag: str, fmt: str) -> str | None:
    result = run(["docker", "image", "inspect", "--format", fmt, tag], check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _arch(name: str) -> str:
    """The Debian architecture an image runs as: its rootfs's."""
    recipe = RECIPES[name]
    if isinstance(recipe, Derived):
        return _arch(recipe.parent)
    return recipe.arch or host_arch()


def _binfmt(entry: Path) -> dict[str, str]:
    """A binfmt_misc entry as {"interpreter": ..., "flags": ..., "magic": ...}; {} if absent."""
    try:
        lines = entry.read_text().splitlines()[1:]
    except OSError:
        return {}
    return {key.rstrip(":"): value for key, _, value in (line.partition(" ") for line in lines)}


def _hex_escape(hex_text: str) -> str:
    """binfmt_misc's register syntax for bytes: 7f45 -> \\x7f\\x45."""
    return "".join(f"\\x{hex_text[i:i + 2]}" for i in range(0, len(hex_text), 2))


def _ensure_binfmt(arch: str) -> None:
    """Run foreign-arch binaries through qemu-user-static: in debootstrap's chroot, builds and tests.
    Needs flag F (interpreter usable inside containers) and C (setuid honoured: else `sudo` fails
    in emulated containers); Debian registers PF only, so we re-register with C added."""
    qemu = f"qemu-{QEMU_ARCH[arch]}"
    misc = Path("/proc/sys/fs/binfmt_misc")
    if {"F", "C"} <= set(_binfmt(misc / qemu).get("flags", "")):
        return
    if not is_root():
        raise ProvisionError(f"{arch} images need {misc / qemu} registered with flags F and C; "
                             "run `sudo python3 -m harness provision --images arm64` once")
    ensure_tools(f"{qemu}-static", "update-binfmts")
    if not (misc / "register").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)], check=False)
    if not (misc / qemu).exists():
        run(["update-binfmts", "--enable", qemu], check=False)
    entry = _binfmt(misc / qemu)
    if entry and "C" not in entry["flags"]:
        (misc / qemu).write_text("-1")
        magic, mask = _hex_escape(entry["magic"]), _hex_escape(entry["mask"])
        (misc / "register").write_text(f":{qemu}:M:{entry['offset']}:{magic}:{mask}:"
                                       f"{entry['interpreter']}:{entry['flags']}C")
    if not {"F", "C"} <= set(_binfmt(misc / qemu).get("flags", "")):
        raise ProvisionError(f"cannot run {arch} binaries: {misc / qemu} is not registered with flags F "
                             "and C (needs binfmt_misc and qemu-user-static on the host)")


def _mounts_under(root: Path) -> list[str]:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True)


def _remove_tree(root: Path) -> None:
    """Delete a build dir, first unmounting whatever a failed debootstrap left mounted in it
    (its /proc, /sys), so deleting never reaches outside it."""
    for point in _mounts_under(root):
        run(["umount", "-l", point], check=False)
    if _mounts_under(root):
        raise ProvisionError(f"{root} still has mounts; not deleting it, remove it by hand")
    shutil.rmtree(root, ignore_errors=True)


def _rootfs_files() -> dict[str, tuple[bytes, int]]:
    """Files written into every rootfs: the host's CA bundle, where TLS clients look and where
    update-ca-certificates keeps it; and, as in Debian's official images, apt config that keeps
    caches out of layers and a policy-rc.d that stops packages starting services in builds."""
    try:
        ca = HOST_CA.read_bytes()
    except OSError as exc:
        raise ProvisionError(f"cannot read the host CA bundle {HOST_CA} ({exc.strerror}); "
                             "set SSL_CERT_FILE to the bundle this machine trusts") from None
    clean = "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"
    apt_conf = (f'DPkg::Post-Invoke {{ "{clean}"; }};\nAPT::Update::Post-Invoke {{ "{clean}"; }};\n'
                'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\nAcquire::Languages "none";\n')
    return {IMAGE_CA: (ca, 0o644),
            "/usr/local/share/ca-certificates/uvuser-host-ca.crt": (ca, 0o644),
            "/etc/apt/apt.conf.d/docker-clean": (apt_conf.encode(), 0o644),
            "/usr/sbin/policy-rc.d": (b"#!/bin/sh\nexit 101\n", 0o755)}


def _write_files(root: Path) -> None:
    for rel, (data, mode) in _rootfs_files().items():
        target = root / rel.lstrip("/")
        if target.is_symlink():  # never follow a link in the rootfs out onto the host
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)


def _load_image(root: Path, work: Path, tag: str, arch: str, config: dict[str, object],
                log_file: Path) -> None:
    """Turn a root directory into a one-layer image with `docker load`, not `docker import`:
    import (engine 20.10) stamps the host's architecture on the image; this says the real one."""
    layer = work / "layer.tar"
    run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(layer), "."], log_file=log_file, what=f"tar of {root}")
    digest = hashlib.sha256()
    with layer.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    image_config = {"architecture": arch, "os": "linux", "created": created, "config": config,
                    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest.hexdigest()}"]},
                    "history": [{"created": created, "created_by": f"harness {VERSION}: debootstrap"}]}
    (work / "config.json").write_text(json.dumps(image_config))
    manifest = [{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]
    (work / "manifest.json").write_text(json.dumps(manifest))
    run(["bash", "-o", "pipefail", "-c", 'tar -C "$1" -c manifest.json config.json layer.tar | docker load', "load",
         str(work)], log_file=log_file, what=f"docker load {tag}")


def _build_rootfs(name: str, recipe: Rootfs, label: str, log_file: Path) -> None:
    if not is_root():
        raise ProvisionError(f"building {recipe.tag} needs root (debootstrap); "
                             "run `sudo python3 -m harness provision` once")
    ensure_tools("debootstrap")
    arch = _arch(name)
    work = Path(tempfile.mkdtemp(prefix=f"uvuser-{name}-", dir="/var/tmp"))
    root = work / "rootfs"
    try:
        run(["debootstrap", "--variant=minbase", f"--arch={arch}", f"--include={','.join(recipe.include)}",
             recipe.suite, str(root), *([MIRROR] if MIRROR else [])],
            log_file=log_file, what=f"debootstrap {recipe.suite} ({arch})", retries=1, timeout=None,
            before_retry=lambda: _remove_tree(root))
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        _write_files(root)
        _load_image(root, work, recipe.tag, arch, {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    f"SSL_CERT_FILE={IMAGE_CA}"],
            "Cmd": ["bash"], "Labels": {LABEL: label}}, log_file)
    finally:
        _remove_tree(work)


def _build_derived(recipe: Derived, label: str, log_file: Path) -> None:
    args = [f"--build-arg={k}={v}" for k, v in (("FROM", RECIPES[recipe.parent].tag), *recipe.args)]
    # The classic builder (no buildx here): FROM a local tag never reaches for a registry.
    # The Dockerfile comes on stdin with no context: the recipes COPY nothing.
    run(["docker", "build", "--force-rm", f"--label={LABEL}={label}", f"--tag={recipe.tag}", *args, "-"],
        log_file=log_file, what=f"docker build {recipe.tag}", retries=1, stdin=IMAGES_DIR / recipe.dockerfile,
        env=command_env(DOCKER_BUILDKIT="0"))


def _ensure_one(name: str, done: set[str], replaced: list[str]) -> None:
    """Build name (after its parent) unless an image with the right label already exists."""
    if name in done:
        return
    recipe = RECIPES[name]
    if _arch(name) != host_arch():
        _ensure_binfmt(_arch(name))
    if isinstance(recipe, Derived):
        _ensure_one(recipe.parent, done, replaced)
    want = recipe_hash(name)
    have = _inspect(recipe.tag, f'{{{{index .Config.Labels "{LABEL}"}}}}')
    if have == want:
        log(f"{recipe.tag} is up to date")
    else:
        old_id = _inspect(recipe.tag, "{{.Id}}")
        log(f"building {recipe.tag} ({'recipe changed' if old_id else 'not built yet'}; "
            f"log: {log_path(name)})")
        started = time.monotonic()
        if isinstance(recipe, Rootfs):
            _build_rootfs(name, recipe, want, log_path(name))
        else:
            _build_derived(recipe, want, log_path(name))
        try:
            run(["docker", "run", "--rm", "--entrypoint", "sh", recipe.tag, "-euc", recipe.check],
                log_file=log_path(name), what=f"checking {recipe.tag}")
        except ProvisionError:  # its label would pass it as current next time
            run(["docker", "image", "rm", recipe.tag], check=False)
            raise
        log(f"built {recipe.tag} in {time.monotonic() - started:.1f} s")
        if old_id and old_id != _inspect(recipe.tag, "{{.Id}}"):
            replaced.append(old_id)
    done.add(name)


def ensure_images(names: Iterable[str] = DEFAULT_IMAGES) -> dict[str, str]:
    """Make sure the named test images exist and are current; returns logical name -> tag."""
    names = list(names)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise ProvisionError(f"unknown image(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    ensure_engine()
    done: set[str] = set()
    replaced: list[str] = []
    with exclusive("images"):
        for name in names:
            _ensure_one(name, done, replaced)
        for old_id in reversed(replaced):  # children first; one still in use elsewhere just stays
            run(["docker", "image", "rm", old_id], check=False)
    return {name: RECIPES[name].tag for name in names}
