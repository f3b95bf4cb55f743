"""``uv-user doctor``: say, one line per check, why uv or python misbehaves here and how to fix it.

Why it exists: everything uv-user guards against (root-owned files, another
python first on PATH, VIRTUAL_ENV disagreeing with uv, the cache on another
filesystem, a dangling interpreter link, a missing volume, a stray .venv) reaches
the user as a puzzling uv or import error far from its cause.

This module is the doctor's side that touches the system. ``gather`` reads, once,
everything the checks look at (the variables, PATH and a login shell's PATH, the
tree's ownership, the install record, the last repair's status file, mounts, the
environment's interpreter, uv, uv tools, the workspace) and writes nothing; the
pure checks of doctor_checks judge those facts; ``run`` prints their lines (or
``--json``). It changes nothing, except with ``--fix``, which runs the same
ownership repair as ``uv-user repair``, then gathers and checks again. Where it
looks comes in as arguments (the root, InstallFiles, whether to start a login
shell: the CLI's hidden options), never from module state, so tests point it at
a scratch tree.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from . import __version__, mounts, paths, privilege, repair, status, trust
from .doctor_checks import (FAIL, SCAN_SECONDS, VARIABLES, DoctorFacts, Interpreter, Ownership, Tool, Workspace,
                            check_all, is_python_of, markers, mount_at, parse_mountinfo, project_env, pyvenv_home,
                            render, summary, tool_dirs)
from .errors import UvUserError
from .facts import load_record, uv_version
from .paths import is_within, normalize
from .text import shown

EXAMPLES = 3  # mismatched entries the ownership line names


@dataclass
class InstallFiles:
    """What the install wrote that the doctor reads, besides the tree: the install record, the login
    shells' profile script, and the last repair's status file (which ``--fix``'s repair writes)."""

    record: str
    profile_script: str
    repair_state: str

    @classmethod
    def installed(cls) -> "InstallFiles":
        """Where the feature puts them (the CLI's hidden options name others, for tests)."""
        return cls(paths.RECORD, paths.PROFILE_SCRIPT, paths.REPAIR_STATE)


# Files a shell reads that may reorder PATH, relative to $HOME when they start with "~/".
PROFILE_FILES = ("/etc/environment", "/etc/profile", "/etc/profile.d/*.sh", "/etc/bash.bashrc", "/etc/zsh/zshenv",
                 "/etc/zsh/zprofile", "/etc/zsh/zshrc", "~/.profile", "~/.bash_profile", "~/.bash_login",
                 "~/.bashrc", "~/.zshenv", "~/.zprofile", "~/.zshrc")


def _nearest_dev(path: str) -> Optional[int]:
    """st_dev of ``path`` or its nearest existing parent (the cache may not exist yet)."""
    path = normalize(path)
    while path:
        try:
            return os.stat(path).st_dev
        except OSError:
            if path == "/":
                return None
            path = os.path.dirname(path)
    return None


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def cache_dir(env: Dict[str, str]) -> str:
    """Where uv caches: UV_CACHE_DIR, else $XDG_CACHE_HOME/uv, else ~/.cache/uv (uv's own order)."""
    if env.get("UV_CACHE_DIR"):
        return env["UV_CACHE_DIR"]
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "uv")


LOGIN_MARK = "uv-user-doctor:"


def login_python(env: Dict[str, str]) -> Optional[Tuple[str, str]]:
    """(`command -v python`, PATH) in a login bash, as a new terminal would see them; None when bash is
    missing or hangs. As root, bash itself comes from the system's directories only."""
    bash = trust.which_for("bash", env.get("PATH", os.defpath), os.geteuid())
    if not bash:
        return None
    script = 'printf "{0}%s\\n" "$(command -v python)" "$PATH"'.format(LOGIN_MARK)
    try:
        out = subprocess.run([bash, "-lc", script], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=15, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    # Profile scripts may print too: only the last two marked lines are ours.
    lines = [line[len(LOGIN_MARK):] for line in os.fsdecode(out).splitlines() if line.startswith(LOGIN_MARK)]
    return (lines[-2], lines[-1]) if len(lines) >= 2 else ("", "")


def gather_path_sources(directories: List[str], home: str, profile_script: str) -> Dict[str, List[str]]:
    """Which profile and rc files name each directory (literally, or under ~ or $HOME), except uv-user's own
    ``profile_script``, which puts the env first."""
    files: List[str] = []
    for pattern in PROFILE_FILES:
        pattern = os.path.join(home, pattern[2:]) if pattern.startswith("~/") and home else pattern
        files += sorted(glob.glob(pattern)) if "*" in pattern else [pattern]
    texts = {}
    for name in files:
        if name == profile_script or name.startswith("~"):
            continue
        try:
            with open(name, "rb") as handle:
                texts[name] = os.fsdecode(handle.read(1 << 18))
        except OSError:
            continue
    found: Dict[str, List[str]] = {}
    for directory in directories:
        spellings = {directory}
        if home and is_within(directory, home) and directory != home:
            rest = directory[len(normalize(home)):]
            spellings |= {"~" + rest, "$HOME" + rest, "${HOME}" + rest}
        found[directory] = [shown(n) for n, text in texts.items() if any(s in text for s in spellings)]
    return {d: names for d, names in found.items() if names}


def pid1_uid() -> Optional[int]:
    """The effective uid of the container's main process (its start shell), from /proc/1/status."""
    for line in (_read("/proc/1/status") or "").splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            return int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None
    return None


def gather_ownership(root: str, record: Dict[str, object]) -> Ownership:
    """Scan like `uv-user repair --dry-run` does, bounded in time, for the owner ``record`` names. When it
    names nobody: Ownership() (no owner, nothing scanned), which gather explains (it knows where the record is)."""
    name = str(record.get("username", ""))
    if not name:
        return Ownership()
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        if record.get("user_existed_at_build") is False:  # named before it existed, and never created
            return Ownership(owner=name, problem="the environment is for user {0}, named at build (remoteUser or "
                             "the username option) before any feature created it, and {0} still does not exist: "
                             "{1} stays root's".format(shown(name), shown(root)),
                             problem_fix="create {0} (e.g. common-utils with \"username\": \"{0}\", or in your "
                             "Dockerfile), or set remoteUser to an existing user, then rebuild".format(shown(name)))
        return Ownership(owner=name, problem="user {} recorded at install no longer exists".format(shown(name)),
                         problem_fix="rebuild the container")
    own = Ownership(owner=name, uid=account.pw_uid, gid=account.pw_gid)
    try:
        report = repair.scan(root, own.uid, own.gid, time.monotonic() + SCAN_SECONDS)
    except UvUserError as exc:  # the root is refused, missing or changed: the error says what, and the way out
        own.problem = getattr(exc, "what", "") or str(exc)
        own.problem_fix = getattr(exc, "fix", "") or "rebuild the container"
        return own
    own.scanned, own.mismatches, own.incomplete = report.scanned, report.mismatched, report.incomplete
    own.unreadable = report.error_count
    own.unreadable_example = report.errors[0] if report.errors else ""
    own.examples = ["{} ({}:{})".format(shown(m.path), m.uid, m.gid) for m in report.mismatches[:EXAMPLES]]
    return own


_VERSION_CFG = re.compile(r"^\s*version(?:_info)?\s*=\s*(\d{1,3})\.(\d{1,3})", re.M)
_VERSION_NAME = re.compile(r"python(\d{1,3})\.(\d{1,3})$")


def gather_tools(tool_dir: str) -> List[Tool]:
    """Every directory of ``tool_dir`` with a uv receipt; nothing in them is run (the doctor may be root)."""
    try:
        names = sorted(os.listdir(tool_dir))
    except OSError:
        return []
    tools = []
    for name in names:
        env = os.path.join(tool_dir, name)
        receipt = _read(os.path.join(env, "uv-receipt.toml"))
        if receipt is None:
            continue
        python = os.path.join(env, "bin", "python")
        tool = Tool(name, resolves=os.path.exists(python))
        tool.python = os.path.realpath(python) if tool.resolves else (
            os.readlink(python) if os.path.islink(python) else "")
        found = _VERSION_CFG.search(_read(os.path.join(env, "pyvenv.cfg")) or "")
        tool.made_with = "{}.{}".format(*found.groups()) if found else ""
        now = _VERSION_NAME.search(os.path.basename(tool.python)) if tool.resolves else None
        tool.now = "{}.{}".format(*now.groups()) if now else ""
        # More than the tool itself in the receipt: --with packages, extras, a pinned --python.
        tool.options = receipt.count("name =") > 1 or "python =" in receipt or "extras" in receipt
        tools.append(tool)
    return tools


def gather_repair_state(own: Ownership, path: str) -> None:
    """What the status file says about the last repair (written by root; readable by everyone)."""
    state = status.read(path)
    if state is None:
        return
    recorded = str(state.get("state", ""))
    own.repair_pid = status.running_pid(state)
    own.repair_state = recorded if recorded not in status.RUNNING else \
        "running" if status.alive(own.repair_pid) else "stopped"
    started = state.get("started")
    own.repair_started = float(started) if isinstance(started, (int, float)) else 0.0
    errors = state.get("errors")
    if isinstance(errors, list) and errors:
        own.repair_note = shown(str(errors[0]))


def gather_interpreter(env_dir: str) -> Interpreter:
    it = Interpreter(env_dir, exists=os.path.isdir(env_dir), python=os.path.join(env_dir, "bin", "python"))
    if not it.exists:
        return it
    it.resolves = os.path.exists(it.python)
    if it.resolves:
        it.target = os.path.realpath(it.python)
    elif os.path.islink(it.python):
        it.target = os.readlink(it.python)
    cfg = _read(os.path.join(env_dir, "pyvenv.cfg"))
    it.has_cfg = cfg is not None
    it.home = pyvenv_home(cfg or "")
    it.home_exists = bool(it.home) and os.path.isdir(it.home)
    return it


def workspace_candidates(explicit: str, env: Dict[str, str], cwd: str) -> List[str]:
    """--workspace, else $CONTAINER_WORKSPACE_FOLDER or the cwd, plus the uv project the cwd is in."""
    if explicit:
        return [os.path.abspath(explicit)]
    found = [env.get("CONTAINER_WORKSPACE_FOLDER") or cwd]
    here = cwd
    while True:
        if os.path.isfile(os.path.join(here, "pyproject.toml")):
            if here not in found:
                found.append(here)
            break
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return found


def gather_workspace(path: str) -> Workspace:
    venv = os.path.join(path, ".venv")
    if os.path.islink(venv):
        return Workspace(path, "link", os.path.realpath(venv))
    if os.path.isdir(venv):
        return Workspace(path, "dir")
    return Workspace(path, "file" if os.path.lexists(venv) else "absent")


def gather(root: str, environ: Dict[str, str], workspaces: List[str], files: Optional[InstallFiles] = None,
           login_shell: bool = True) -> DoctorFacts:
    """Read everything the checks need; writes nothing. ``files``: where the install's files are (default:
    InstallFiles.installed()); ``login_shell`` False leaves login shells unchecked (no `bash -l`)."""
    files = files or InstallFiles.installed()
    facts = DoctorFacts(root=root, env={k: environ[k] for k in VARIABLES if k in environ}, now=time.time())
    search = environ.get("PATH", os.defpath)
    facts.python_on_path = shutil.which("python", path=search) or ""
    login = login_python(environ) if login_shell else None
    if login is not None:
        facts.login_python, facts.login_path = login
    facts.profile_script = os.path.exists(files.profile_script)
    facts.uid = os.geteuid()
    try:
        facts.user = pwd.getpwuid(facts.uid).pw_name
    except KeyError:
        facts.user = str(facts.uid)
    facts.record, why = load_record(files.record)
    if why:
        facts.record_problem = "{} is {}".format(shown(files.record), why)
    facts.ownership = gather_ownership(root, facts.record)
    if not facts.ownership.owner:
        facts.ownership.problem = "no owner recorded in " + shown(files.record)
        facts.ownership.problem_fix = "rebuild the container, or as root run `uv-user repair --user NAME`"
    gather_repair_state(facts.ownership, files.repair_state)
    facts.pid1_uid = pid1_uid()
    if facts.uid != 0 and (facts.ownership.mismatches or facts.pid1_uid == 0):
        facts.can_sudo = privilege.sudo_works()  # the same test `uv-user repair` uses before it escalates
    env_dir = project_env(facts)
    facts.env_dev = _nearest_dev(env_dir)
    facts.cache_dir = cache_dir(environ)
    facts.cache_dev = _nearest_dev(facts.cache_dir)
    facts.interpreter = gather_interpreter(env_dir)
    facts.uv_path = shutil.which("uv", path=search) or ""
    facts.uv_not_run = bool(facts.uv_path) and facts.uid == 0 and not trust.root_may_run(facts.uv_path)
    facts.uv_version = uv_version(facts.uv_path) if facts.uv_path and not facts.uv_not_run else ""
    shadows = {os.path.dirname(normalize(p)) for p in (facts.python_on_path, facts.login_python or "")
               if p and not is_python_of(p, env_dir) and not is_python_of(p, facts.default_env)}
    facts.path_sources = gather_path_sources(sorted(shadows), environ.get("HOME", ""), files.profile_script)
    mountinfo = mounts.read()
    facts.mountinfo_read = mountinfo is not None
    facts.mount = mount_at(parse_mountinfo(mountinfo or ""), root)
    facts.workspaces = [gather_workspace(w) for w in workspaces]
    facts.tools = gather_tools(tool_dirs(facts)[0])
    return facts


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Keep --json's stdout pure while the repair (and the sudo child it may start) logs."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(args: argparse.Namespace, repair_command: Callable[[argparse.Namespace], int]) -> int:
    """gather → check → (--fix: repair ownership, check again) → report; exit 1 when a check fails.

    ``args``: fix, json, workspace, and where to look (root, record, profile_script, state, login_shell:
    the hidden options' defaults are the feature's own locations)."""
    environ = dict(os.environ)
    workspaces = workspace_candidates(args.workspace, environ, os.getcwd())
    files = InstallFiles(args.record, args.profile_script, args.state)

    def look() -> DoctorFacts:
        return gather(args.root, environ, workspaces, files, args.login_shell)

    facts = look()
    findings = check_all(facts)
    if args.fix and facts.ownership.mismatches:
        repair_args = argparse.Namespace(user=facts.ownership.owner, root=args.root, dry_run=False,
                                         entrypoint=False, max_seconds=0.0, state=files.repair_state, resume=False)
        with stdout_to_stderr() if args.json else contextlib.nullcontext():
            try:
                repair_command(repair_args)
            except UvUserError as exc:
                print(exc.line(), file=sys.stderr, flush=True)
        facts = look()
        findings = check_all(facts)
    failed = any(f.status == FAIL for f in findings)
    if args.json:
        print(json.dumps({"ok": not failed, "version": __version__, "findings": [asdict(f) for f in findings],
                          "facts": asdict(facts)}, indent=2, sort_keys=True, default=str))
        if failed:
            print(summary(findings), file=sys.stderr, flush=True)
        return 1 if failed else 0
    for line in render(findings, markers(getattr(sys.stdout, "encoding", None))):
        print(line)
    sys.stdout.flush()
    print(summary(findings), file=sys.stderr if failed else sys.stdout, flush=True)
    return 1 if failed else 0
