"""Drive the pinned devcontainers CLI and Docker from tests, and clean up after them.

Tests remove the containers, volumes and images they create (disk is finite),
and only those, found by the workspace folder the CLI labels them with, so
several test runs can share one engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .cli import cli_env
from .images import RECIPES, STAND_INS

REPO = Path(__file__).resolve().parents[1]
FEATURE_SRC = REPO / "src" / "uv-user"
CLI = REPO / "node_modules" / ".bin" / "devcontainer"
PUBLISHED_REF = "ghcr.io/uv-user/features/uv-user:1"


def run(cmd: Sequence[str], *, check: bool = True, timeout: float = 1800, user: Optional[str] = None,
        env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run a command capturing text output; on failure the assertion shows both streams.

    Every command gets the devcontainers CLI's environment (harness.cli.cli_env: env, or ours, plus the
    ghcr.io stand-in's CA while it is up), so no CLI run can miss it; docker ignores it."""
    argv = list(cmd)
    if user:  # as a host user, with that user's HOME (the CLI keeps state there)
        argv = ["runuser", "-u", user, "--", "env", "HOME=" + pwd.getpwnam(user).pw_dir] + argv
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=timeout, env=cli_env(env), cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError("command failed ({}): {}\n--- stdout\n{}\n--- stderr\n{}".format(
            result.returncode, " ".join(argv), result.stdout[-6000:], result.stderr[-6000:]))
    return result


def _lines(cmd: Sequence[str]) -> List[str]:
    return run(cmd, check=False).stdout.split()


def remove_dev_containers(folder: str) -> None:
    """Remove what the CLI made for one workspace folder: containers, their uv-user volumes,
    their compose networks and the vsc-* images built for them. Nothing else is touched, so
    tests (and developers' helpers) can share one engine."""
    containers = _lines(["docker", "ps", "-aq", "--no-trunc", "--filter", "label=devcontainer.local_folder=" + folder])
    if not containers:
        return
    details = json.loads(run(["docker", "inspect"] + containers).stdout)
    # The feature's volume, whatever prefix compose gave its name.
    volumes = sorted({m["Name"] for d in details for m in d.get("Mounts", [])
                      if m.get("Type") == "volume" and m.get("Destination") == "/opt/uv-user"})
    images = sorted({d["Config"]["Image"] for d in details if d["Config"]["Image"].startswith("vsc-")})
    networks = sorted({d["Config"]["Labels"].get("com.docker.compose.project", "") for d in details} - {""})
    run(["docker", "rm", "-f"] + containers, check=False)
    if volumes:
        run(["docker", "volume", "rm", "-f"] + volumes, check=False)
    for project in networks:
        run(["docker", "network", "rm", project + "_default"], check=False)
    for image in images:  # the -uid image first, then the -features image it was built on
        run(["docker", "rmi", image], check=False)
        if image.endswith("-uid"):
            run(["docker", "rmi", image[: -len("-uid")]], check=False)


class Cleanup:
    """Workspace folders whose dev containers must go when the block ends."""

    def __init__(self) -> None:
        self.folders: List[str] = []

    def add(self, folder: os.PathLike) -> None:
        self.folders.append(str(folder))


@contextlib.contextmanager
def docker_cleanup(*folders: os.PathLike) -> Iterator[Cleanup]:
    """Remove the dev containers (and their volumes and images) of the given or added folders."""
    cleanup = Cleanup()
    for folder in folders:
        cleanup.add(folder)
    try:
        yield cleanup
    finally:
        for folder in cleanup.folders:
            remove_dev_containers(folder)


def public_images(tags: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Public image -> the local stand-in's tag (harness.images.STAND_INS), for make_workspace(images=...)
    and standin_project. ``tags`` is what provisioning returned (logical name -> tag): only images it built
    are mapped. Without it, every stand-in's tag (nothing is built)."""
    if tags is None:
        tags = {name: RECIPES[name].tag for name in STAND_INS.values()}
    return {public: tags[name] for public, name in STAND_INS.items() if name in tags}


def make_workspace(example: Path, into: Path, image: Optional[str] = None,
                   images: Optional[Dict[str, str]] = None, name: Optional[str] = None,
                   feature: Optional[str] = None, features: Optional[Dict[str, dict]] = None) -> Path:
    """Copy an example workspace and put the local feature where the CLI accepts it.

    Examples reference the published feature; the CLI only takes local features
    from inside .devcontainer (no symlinks), so the copy points at ./uv-user.
    ``feature`` is a reference to use instead (e.g. harness.ghcr.publish_feature(...).ref:
    the current src/ published to the ghcr.io stand-in); then nothing is copied.
    ``features`` adds more features (reference -> options), e.g. the official
    ghcr.io/devcontainers/features/python:1, which the ghcr.io stand-in serves.
    ``image`` replaces devcontainer.json's image outright; ``images`` maps public
    images the harness cannot pull to local stand-ins, wherever the example names
    them (devcontainer.json "image", Dockerfile FROM lines, compose "image:" lines).
    ``name`` renames the copy (compose derives its project name from it).
    """
    workspace = into / (name or example.name)
    shutil.copytree(example, workspace)
    devcontainer = workspace / ".devcontainer"
    if feature is None:
        shutil.copytree(FEATURE_SRC, devcontainer / "uv-user", ignore=shutil.ignore_patterns("__pycache__"))
    config_path = devcontainer / "devcontainer.json"
    text = config_path.read_text().replace('"' + PUBLISHED_REF + '"', '"' + (feature or "./uv-user") + '"')
    if image or images or features:
        config = json.loads(strip_jsonc(text))
        replacement = image or (images or {}).get(config.get("image", ""))
        if replacement:
            config["image"] = replacement
        if features:
            config["features"] = {**features, **config.get("features", {})}
        if replacement or features:
            text = json.dumps(config, indent=2)
    config_path.write_text(text)
    if images:
        substitute_images(workspace, images, skip=devcontainer / "uv-user")
    return workspace


_FROM = re.compile(r"^(?P<pre>[ \t]*FROM[ \t]+(?:--\S+[ \t]+)*)(?P<image>[^\s]+)", re.I | re.M)
_COMPOSE_IMAGE = re.compile(r"^(?P<pre>[ \t]*image:[ \t]*[\"']?)(?P<image>[^\s\"'#]+)", re.M)


def _image_lines(folder: Path, skip: Optional[Path] = None) -> Iterator[Tuple[Path, "re.Pattern[str]"]]:
    """Every file below folder that names images on lines of its own: Dockerfiles (FROM) and compose
    files (image:), each with the pattern that finds them."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or (skip is not None and skip in path.parents):
            continue
        if path.name == "Dockerfile" or path.name.startswith("Dockerfile.") or path.name.endswith(".Dockerfile"):
            yield path, _FROM
        elif path.suffix in (".yml", ".yaml") and "compose" in path.name:
            yield path, _COMPOSE_IMAGE


def image_references(folder: Path) -> List[str]:
    """The images that Dockerfile FROM lines and compose image: lines below folder name, in file order."""
    return [m.group("image") for path, pattern in _image_lines(folder) for m in pattern.finditer(path.read_text())]


def substitute_images(workspace: Path, images: Dict[str, str], skip: Optional[Path] = None) -> None:
    """Rewrite Dockerfile FROM and compose image: lines that name a key of ``images``."""
    for path, pattern in _image_lines(workspace, skip):
        text = path.read_text()
        new = pattern.sub(lambda m: m.group("pre") + images.get(m.group("image"), m.group("image")), text)
        if new != text:
            path.write_text(new)


def standin_project(project: Path, into: Path, images: Dict[str, str]) -> Path:
    """A copy of a feature collection (its src/ and test/) for `devcontainer features test --project-folder`
    in which the scenarios name local stand-ins instead of the public images in ``images``: the "image" of
    each scenario in test/*/scenarios.json, and the FROM and compose image: lines in the scenarios'
    folders. The repository names public images, as users write them; nothing is tagged under a public
    name here, so a real image of that name on the machine is neither shadowed nor touched."""
    copy = into / project.name
    for part in ("src", "test"):
        shutil.copytree(project / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted((copy / "test").glob("*/scenarios.json")):
        scenarios = json.loads(strip_jsonc(path.read_text()))
        for config in scenarios.values():
            if config.get("image") in images:
                config["image"] = images[config["image"]]
        path.write_text(json.dumps(scenarios, indent=4) + "\n")
    substitute_images(copy / "test", images)
    return copy


def strip_jsonc(text: str) -> str:
    """devcontainer.json allows // comments; drop whole-line ones (the examples use only those)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def up(workspace: Path, *extra: str, user: Optional[str] = None) -> dict:
    result = run([str(CLI), "up", "--workspace-folder", str(workspace), "--log-format", "json"] + list(extra),
                 user=user)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome.get("outcome") == "success", outcome
    return outcome


def exec_(workspace: Path, script: str, *, user: Optional[str] = None, check: bool = True,
          extra_args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run a bash script in the dev container as its remote user (login-interactive env, like a terminal).

    ``extra_args`` become the script's $1, $2, ...
    """
    return run([str(CLI), "exec", "--workspace-folder", str(workspace), "bash", "-c", script, "uv-user-test"]
               + list(extra_args), user=user, check=check)


def chown_tree(path: Path, uid: int = 1000, gid: int = 1000) -> None:
    """Give a copied workspace to a host user, as their own checkout would be.

    As root the CLI does not remap UIDs, so the image's vscode (1000) must own the
    copy to write uv.lock there; the UID-remap test gives it to its host user.
    """
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.lchown(name, uid, gid)


@contextlib.contextmanager
def example_workspace(example: Path, prefix: str, uid: int = 1000, gid: int = 1000,
                      **make_args: object) -> Iterator[Path]:
    """A temp copy of an example with the local feature, owned by uid:gid; its dev containers,
    volume and images and the copy itself are removed afterwards."""
    workdir = temp_dir(prefix)
    try:
        ws = make_workspace(example, workdir, **make_args)  # type: ignore[arg-type]
        chown_tree(workdir, uid, gid)
        with docker_cleanup(ws):
            yield ws
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
