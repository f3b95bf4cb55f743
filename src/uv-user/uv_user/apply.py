"""The imperative shell: carry out a Plan. Every write is staged, verified, then moved in.

Nothing here decides whether to go ahead: the plan refused everything it could see. What apply
decides is only what it alone can know: whether anything was changed when something fails. The
download and its checks stage the new uv where the image does not keep it; every failure up to
there says "nothing was changed". From the first write into the image on (:func:`apply`), every
failure is reported as changed, and an OSError (a full disk, a read-only file system) is one
``uv-user:`` line naming the path and the system's words for it, not a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from typing import Callable, Dict, Iterator, Optional, Sequence

from . import paths, repair, scripts
from .errors import UvUserError
from .net import Fetcher
from .plan import Plan
from .facts import linked_dirs, uv_version
from .text import shown

HERE = os.path.dirname(os.path.abspath(__file__))
Log = Callable[[str], None]

# What to do about a failed write, by errno; the line names the path and the system's own words.
_OS_FIXES = {
    errno.ENOSPC: "free disk space where the image is built (e.g. docker system prune), then rebuild",
    errno.EDQUOT: "free disk space where the image is built (e.g. docker system prune), then rebuild",
    errno.EROFS: "that file system is read-only while the image is built: make it writable, then rebuild",
    errno.EACCES: "the build may not write there (permissions, or a security policy): allow it, then rebuild",
    errno.EPERM: "the build may not write there (permissions, an immutable file, or a security policy): allow "
                 "it, then rebuild",
}


@contextlib.contextmanager
def reported(changed: bool) -> Iterator[None]:
    """Failures inside say whether the image was changed (``changed``); an OSError becomes one line."""
    try:
        yield
    except UvUserError as exc:
        exc.changed = exc.changed or changed
        raise
    except OSError as exc:
        where, why, number = _os_failure(exc)
        error = UvUserError("{}{}".format(shown(where) + ": " if where is not None else "", why),
                            _OS_FIXES.get(number, "fix that, then rebuild"))
        error.changed = changed
        raise error from exc


def _os_failure(exc: OSError):  # -> Tuple[Optional[str], str, int]
    """(path, the system's words, errno) of a failed write. shutil.copytree gathers its failures into a
    shutil.Error of (source, target, "[Errno N] words: 'path'") rows instead: the first row says it."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        _source, target, text = (list(exc.args[0][0]) + ["", "", ""])[:3]
        found = re.match(r"\[Errno (\d+)\] ([^:]+)", str(text))
        if found:
            return str(target), found.group(2), int(found.group(1))
        return str(target), str(text), 0
    where = exc.filename2 if exc.filename2 is not None else exc.filename  # a rename: its target
    return where, exc.strerror or "{}: {}".format(type(exc).__name__, exc), exc.errno or 0


@contextlib.contextmanager
def naming(path: str) -> Iterator[None]:
    """An OSError inside names ``path``: what the user knows, not a temp file beside it or nothing at all
    (a failed write() names no file)."""
    try:
        yield
    except OSError as exc:
        exc.filename, exc.filename2 = path, None
        raise


def write_atomic(path: str, content: str, mode: int = 0o644) -> None:
    """Write beside the target, fsync-free but atomic for readers: os.replace."""
    directory = os.path.dirname(path)
    with naming(path):
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".uv-user-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def run(cmd: Sequence[str], env: Optional[Dict[str, str]] = None, what: str = "") -> None:
    """Run ``cmd``; when it fails, its last lines of output go into the error (the build log keeps the line)."""
    result = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        output = result.stdout.decode("utf-8", "replace")
        last = [line for line in output.splitlines() if line.strip()][-3:]
        raise UvUserError("{} failed ({}): {}".format(what or cmd[0], result.returncode, " | ".join(last)))


@contextlib.contextmanager
def staged_uv(plan: Plan, fetcher: Optional[Fetcher], log: Log) -> Iterator[Dict[str, str]]:
    """uv and uvx downloaded, sha256-verified, extracted beside their targets and run: name → staged path
    ({} when the plan downloads nothing). Nothing the image keeps: the staging goes when the block ends."""
    wheel = plan.uv.wheel
    if plan.uv.action != "download":
        yield {}
        return
    assert fetcher is not None and wheel is not None
    # The download goes to a private temp dir, so a refused one (wrong sha256, stalled mirror) leaves
    # the image untouched; only verified binaries are staged next to their targets.
    download = tempfile.mkdtemp(prefix="uv-user-")
    staging = ""
    try:
        archive = os.path.join(download, "uv.whl")  # never the index's file name: it is not a path
        log("downloading " + shown(wheel.url))
        with open(archive, "wb") as out:
            fetcher.download(wheel.url, out, wheel.sha256)
        existed = os.path.isdir(paths.BIN_DIR)  # in every image; where it is not, making it changes the image
        with naming(paths.BIN_DIR):
            os.makedirs(paths.BIN_DIR, exist_ok=True)
        with reported(changed=not existed):
            with naming(paths.BIN_DIR):
                staging = tempfile.mkdtemp(prefix=".uv-user-", dir=paths.BIN_DIR)
                staged = extract_binaries(archive, plan.uv.version, staging, wheel.filename)
            got = uv_version(staged["uv"])
            if got != plan.uv.version:
                raise UvUserError("the downloaded uv reports version {!r}, expected {}".format(
                    got, plan.uv.version), "check indexUrl")
        yield staged
    finally:
        shutil.rmtree(download, ignore_errors=True)
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def put_uv(staged: Dict[str, str]) -> None:
    """The staged binaries moved into place: the install's first write into the image, when there is one."""
    for name, path in staged.items():
        os.replace(path, os.path.join(paths.BIN_DIR, name))


def extract_binaries(archive: str, version: str, into: str, filename: str = "") -> Dict[str, str]:
    """uv and uvx from the wheel's data/scripts, with safe names and exec bits."""
    wanted = {"uv-{}.data/scripts/{}".format(version, name): name for name in ("uv", "uvx")}
    found = {}
    try:
        with zipfile.ZipFile(archive) as wheel:
            for member in wheel.namelist():
                name = wanted.get(member)
                if name is None:
                    continue
                target = os.path.join(into, name)
                with wheel.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.chmod(target, 0o755)
                found[name] = target
    except zipfile.BadZipFile:
        raise UvUserError("{} is not a valid wheel".format(shown(filename or os.path.basename(archive))),
                          "check indexUrl")
    if "uv" not in found:
        raise UvUserError("{} has no uv binary".format(shown(filename or os.path.basename(archive))), "check indexUrl")
    return found


def build_env() -> Dict[str, str]:
    """The environment uv venv runs in: no cache, no downloads, and not the container's env variables
    (a second install runs with VIRTUAL_ENV and UV_PROJECT_ENVIRONMENT pointing at the env it recreates)."""
    env = dict(os.environ)
    env.update({
        "UV_NO_CACHE": "1",
        "UV_PYTHON_INSTALL_DIR": paths.PYTHONS,
        "UV_PYTHON_DOWNLOADS": "never",
    })
    for key in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"):
        env.pop(key, None)
    return env


def create_venv(plan: Plan, log: Log) -> None:
    if plan.venv == "keep":
        return
    cmd = [plan.uv.binary, "venv", "--no-config", "--python", plan.python]
    if plan.venv == "recreate":
        cmd.append("--clear")
    log("creating {} with {}".format(paths.VENV, plan.python))
    run(cmd + [paths.VENV], env=build_env(), what="uv venv")


def write_uv_toml(plan: Plan, log: Log) -> None:
    """Write the first of the plan's texts the installed uv accepts (it rejects unknown keys)."""
    if not plan.uv_toml_changed:
        return
    problem = ""
    for text in plan.uv_toml_texts:
        problem = validate_uv_toml(plan.uv.binary, text)
        if not problem:
            write_atomic(paths.UV_TOML, text)
            log("wrote " + paths.UV_TOML)
            return
    raise UvUserError("uv {} rejects the merged {} ({})".format(plan.uv.version, paths.UV_TOML, problem),
                      "fix or remove the existing file")


def validate_uv_toml(uv: str, text: str) -> str:
    with tempfile.TemporaryDirectory(prefix="uv-user-") as tmp:
        candidate = os.path.join(tmp, "uv.toml")
        with open(candidate, "w", encoding="utf-8") as handle:
            handle.write(text)
        result = subprocess.run([uv, "--config-file", candidate, "cache", "dir"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, check=False)
    if result.returncode == 0:
        return ""
    lines = [l.strip() for l in result.stderr.decode("utf-8", "replace").splitlines() if l.strip()]
    return lines[-1] if lines else "exit {}".format(result.returncode)


def write_completions(plan: Plan, log: Log) -> None:
    uvx = os.path.join(os.path.dirname(plan.uv.binary), "uvx")
    for shell, (uv_file, uvx_file) in sorted(paths.COMPLETION_FILES.items()):
        for binary, args, target in ((plan.uv.binary, ["generate-shell-completion", shell], uv_file),
                                     (uvx, ["--generate-shell-completion", shell], uvx_file)):
            if not os.path.exists(binary):
                continue
            result = subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
            if result.returncode == 0 and result.stdout:
                write_atomic(target, result.stdout.decode("utf-8", "replace"))
            else:
                log("note: {} cannot generate {} completion; skipped".format(binary, shell))
    log("installed shell completion for bash, zsh and fish")


def install_command(plan: Plan, log: Log) -> None:
    """Copy this package to the share dir and put ``uv-user`` and the entrypoint in place."""
    staging = ""
    try:
        with naming(paths.SHARE):  # not the staging directory's name, which is gone when the line prints
            os.makedirs(os.path.dirname(paths.SHARE), exist_ok=True)
            staging = tempfile.mkdtemp(prefix=".uv-user-", dir=os.path.dirname(paths.SHARE))
            shutil.copytree(HERE, os.path.join(staging, "uv_user"),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            shutil.copy2(os.path.join(os.path.dirname(HERE), "uv-user.py"), os.path.join(staging, "uv-user.py"))
            with open(os.path.join(staging, "entrypoint.sh"), "w", encoding="utf-8") as handle:
                handle.write(scripts.entrypoint(plan.user.name, plan.python))
            with open(os.path.join(staging, os.path.basename(paths.START_SHELL)), "w", encoding="utf-8") as handle:
                handle.write(scripts.start_shell())
            with open(os.path.join(staging, "install.json"), "w", encoding="utf-8") as handle:
                json.dump(plan.record, handle, indent=2, sort_keys=True)
            for root, dirs, files in os.walk(staging):
                os.chmod(root, 0o755)
                for name in files:
                    os.chmod(os.path.join(root, name), 0o755 if name.endswith(".sh") else 0o644)
        command = scripts.command(plan.python)
        replace_tree(staging, paths.SHARE)
        write_atomic(paths.COMMAND, command, 0o755)
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    # Bytecode for the start-time repair: non-root users cannot write it later.
    subprocess.run([plan.python, "-m", "compileall", "-q", paths.SHARE], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    write_atomic(paths.PROFILE_SCRIPT, scripts.profile())
    log("installed {} and the start-time repair {}".format(paths.COMMAND, paths.ENTRYPOINT))


def replace_tree(staging: str, target: str) -> None:
    """Move staged files over ``target`` one by one, then drop files the new tree no longer has.

    File by file because a directory rename fails with EXDEV on overlayfs when the
    old directory lives in a lower image layer (a second install of the feature).
    """
    wanted = set()
    for root, dirs, files in os.walk(staging):
        relative = os.path.relpath(root, staging)
        destination = os.path.normpath(os.path.join(target, relative))
        os.makedirs(destination, mode=0o755, exist_ok=True)
        for name in files:
            wanted.add(os.path.join(destination, name))
            os.replace(os.path.join(root, name), os.path.join(destination, name))
    for root, dirs, files in os.walk(target, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            if path not in wanted:
                os.unlink(path)
        if root != target and not os.listdir(root):
            os.rmdir(root)


def make_dirs(plan: Plan) -> None:
    for directory in plan.dirs:  # the plan refused linked ones and non-directories (plan.refuse_tree)
        os.makedirs(directory, exist_ok=True)
    os.chmod(paths.ROOT, 0o755)


def own_tree(plan: Plan, log: Log) -> None:
    if not plan.user.exists:  # created by a later feature: the start-time repair hands the tree over
        log("{} stays root's until {} exists (the start-time repair gives it over)".format(paths.ROOT, plan.user.name))
        return
    report = repair.repair(paths.ROOT, plan.user.uid, plan.user.gid)
    if report.errors:
        raise UvUserError("could not give {} to {}: {}".format(paths.ROOT, plan.user.name, report.errors[0]))
    log("{} entries under {} owned by {}".format(report.scanned, paths.ROOT, plan.user.name))


def apply(plan: Plan, fetcher: Optional[Fetcher], log: Log) -> None:
    """Carry ``plan`` out: stage what changes nothing, then write, reporting failures as the module says."""
    # The plan refused a tree with links in it (`uv venv --clear` would empty what one points to): an
    # assertion, not a second decision; nothing at build time makes a link between the facts and here.
    assert not linked_dirs(), "a link appeared in the tree after the plan was made"
    with reported(changed=False), staged_uv(plan, fetcher, log) as staged:
        # The first write into the image is next. From here on a failure may have changed something: a
        # failed first write may not have, but "nothing was changed" must never be a guess.
        with reported(changed=True):
            put_uv(staged)
            make_dirs(plan)
            create_venv(plan, log)
            write_uv_toml(plan, log)
            if plan.completions:
                write_completions(plan, log)
            install_command(plan, log)
            own_tree(plan, log)
