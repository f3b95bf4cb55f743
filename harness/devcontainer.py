"""Drive the pinned devcontainers CLI and Docker from tests, the demo and the benchmarks, and clean up after them.

Everything a run creates (containers, volumes, images, the dev containers the CLI makes for a workspace
folder) is removed afterwards, and only that (Owned, docker_cleanup): disk is finite, and several test
runs, benchmark runs and demos can share one engine. Examples and scenarios are copied with the local
feature and the harness's stand-ins for the public images they name (make_workspace, standin_project).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from .common import run
from .images import RECIPES, STAND_INS

REPO = Path(__file__).resolve().parents[1]
FEATURE_SRC = REPO / "src" / "uv-user"
CLI = REPO / "node_modules" / ".bin" / "devcontainer"
PUBLISHED_REF = "ghcr.io/uv-user/features/uv-user:1"


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


class Owned:
    """The Docker objects one run makes (a test module, a test, a benchmark run, the demo), and their removal:
    cleanup() removes exactly these and nothing else, so runs can share one engine; nothing is pruned.

    - containers and volumes: made with ``label`` (create_args(), volume()), found by it at cleanup, so one
      that a failed command left behind goes too; or named with container() for a `docker run --name`;
    - images: tags (tag()) and ids (image()) it records, removed newest first;
    - dev containers the devcontainers CLI made for a workspace folder (add()), with their volume, compose
      network and vsc-* images (remove_dev_containers).
    """

    def __init__(self, prefix: str = "uvuser-test", key: str = "uvuser.owner", run_id: Optional[str] = None) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:10]
        self.prefix = prefix
        self.label = "{}={}".format(key, self.run_id)
        self.containers: List[str] = []
        self.images: List[str] = []
        self.folders: List[str] = []

    def name(self, what: str) -> str:
        """A container or volume name of this run's: <prefix>-<run id>-<what>."""
        return "{}-{}-{}".format(self.prefix, self.run_id, what)

    def container(self, what: str) -> str:
        """The name for a container the caller makes (`docker run --name`); removed at cleanup."""
        self.containers.append(self.name(what))
        return self.containers[-1]

    def create_args(self, what: str) -> List[str]:
        """`docker run`/`docker create` arguments naming and labelling a container of this run."""
        return ["--name", self.container(what), "--label", self.label]

    def volume(self, what: str) -> str:
        name = self.name(what)
        run(["docker", "volume", "create", "--label", self.label, name])
        return name

    def tag(self, name: str) -> str:
        """An image tag of this run's: <prefix>/<name>:<run id>."""
        return self.image("{}/{}:{}".format(self.prefix, name, self.run_id))

    def image(self, ref: str) -> str:
        """An image (tag or id) this run made, e.g. one a rebuild replaced: removed at cleanup."""
        if ref not in self.images:
            self.images.append(ref)
        return ref

    def add(self, folder: os.PathLike) -> None:
        """A workspace folder whose dev containers (made by the devcontainers CLI) go at cleanup."""
        self.folders.append(str(folder))

    def cleanup(self) -> None:
        labelled = _lines(["docker", "ps", "-aq", "--no-trunc", "--filter", "label=" + self.label])
        if labelled or self.containers:
            run(["docker", "rm", "-f", "-v"] + self.containers + labelled, check=False)
        volumes = _lines(["docker", "volume", "ls", "-q", "--filter", "label=" + self.label])
        if volumes:
            run(["docker", "volume", "rm", "-f"] + volumes, check=False)
        for ref in reversed(self.images):
            run(["docker", "image", "rm", ref], check=False)
        for folder in self.folders:
            remove_dev_containers(folder)


@contextlib.contextmanager
def docker_cleanup(*folders: os.PathLike) -> Iterator[Owned]:
    """An Owned for the block, with the dev containers of ``folders`` (and any added): all removed after it."""
    owned = Owned()
    for folder in folders:
        owned.add(folder)
    try:
        yield owned
    finally:
        owned.cleanup()


def remove_build_leftovers(output: str, images_before: Optional[Set[str]] = None) -> None:
    """What a failed `docker build` (classic builder, also under `devcontainer build`) leaves: the failed
    step's container and the untagged layers before it. Removes exactly those its output names, and a
    vsc-* image it tagged (a build that unexpectedly succeeded). Layers only when ``images_before`` (the
    ids of `docker images -aq --no-trunc` before the build) says which are new: never one that existed."""
    for image in set(re.findall(r"Successfully tagged (vsc-\S+)", output)):
        run(["docker", "rmi", image], check=False)
    containers = sorted(set(re.findall(r"Running in ([0-9a-f]{12})", output)))
    if containers:
        run(["docker", "rm", "-f"] + containers, check=False)
    if images_before is None:
        return
    for layer in reversed(list(dict.fromkeys(re.findall(r"---> ([0-9a-f]{12})\b", output)))):
        found = run(["docker", "image", "inspect", "--format", "{{.Id}} {{len .RepoTags}}", layer], check=False)
        fields = found.stdout.split()
        if found.returncode == 0 and fields[0] not in images_before and fields[1] == "0":
            run(["docker", "rmi", layer], check=False)  # also removes its untagged parents


def docker_exec(container: str, script: str, *, user: str = "root", shell: str = "sh", check: bool = True,
                **run_args: object) -> subprocess.CompletedProcess:
    """Run a shell script in a running container, as ``user`` (plain `docker exec`; exec_ goes through the
    devcontainers CLI as the remote user). ``run_args`` go to harness.common.run (timeout, error, ...)."""
    return run(["docker", "exec", "-u", user, container, shell, "-c", script], check=check,
               **run_args)  # type: ignore[arg-type]


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


def keepalive_sleeps(container: str) -> Dict[str, str]:
    """pid -> executable of the `sleep` processes the start shell (PID 1) runs right now: the devcontainers
    CLI's keep-alive loop, reached once the start went past the feature's entrypoint. Only programs from
    the system's directories are used, never one found on the container's PATH (the dev user's first)."""
    script = ('for p in /proc/[0-9]*; do [ "$(/bin/cat $p/comm 2>/dev/null)" = sleep ] && '
              '[ "$(/usr/bin/cut -d" " -f4 $p/stat)" = 1 ] && echo "${p#/proc/} $(/bin/readlink $p/exe)"; done; true')
    lines = docker_exec(container, script, shell="/bin/sh").stdout.splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)


def wait_repaired(container: str, user: str = "vscode", timeout: float = 60) -> None:
    """The CLI does not wait for the feature's entrypoint, whose repair may go on beside the start: poll,
    as root in the container, until `uv-user repair --dry-run` finds nothing left to give ``user``."""
    deadline = time.monotonic() + timeout
    while True:
        result = run(["docker", "exec", "-u", "root", container, "uv-user", "repair", "--dry-run", "--user", user],
                     check=False)
        if result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip():
            return
        assert time.monotonic() < deadline, "ownership was not repaired in time: " + result.stdout + result.stderr
        time.sleep(1)


def chown_tree(path: Path, uid: int = 1000, gid: int = 1000) -> None:
    """Give a tree to uid:gid, every entry at any depth, links themselves (never what they point to).

    A copied workspace, as a host user's own checkout would be: as root the CLI does not remap UIDs,
    so the image's vscode (1000) must own the copy to write uv.lock there; the UID-remap tests give it
    to their host user. Also the unit tests' scratch trees."""
    run(["chown", "-hR", "{}:{}".format(uid, gid), str(path)])


@contextlib.contextmanager
def example_workspace(example: Path, prefix: str, uid: int = 1000, gid: int = 1000, parent: Optional[Path] = None,
                      **make_args: object) -> Iterator[Path]:
    """A temp copy of an example with the local feature (make_workspace(**make_args)), owned by uid:gid like
    that user's checkout, in a new folder under ``parent`` (default: the temp dir); its dev containers,
    volume and images and the copy itself are removed afterwards."""
    workdir = temp_dir(prefix, parent)
    try:
        ws = make_workspace(example, workdir, **make_args)  # type: ignore[arg-type]
        chown_tree(workdir, uid, gid)
        with docker_cleanup(ws):
            yield ws
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def temp_dir(prefix: str, parent: Optional[Path] = None) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
