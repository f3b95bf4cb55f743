"""``uv-user doctor``: say, one line per check, why uv or python misbehaves here and how to fix it.

Why it exists: everything uv-user guards against (root-owned files, another
python first on PATH, VIRTUAL_ENV disagreeing with uv, the cache on another
filesystem, a dangling interpreter link, a missing volume, a stray .venv) reaches
the user as a puzzling uv or import error far from its cause. The doctor gathers
the facts once (``gather``, the only part that touches the system), then every
check is a pure function of those facts returning a Finding, so each one is
unit-tested with hand-built facts. It changes nothing, except with ``--fix``,
which runs the same ownership repair as ``uv-user repair``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

from . import __version__, mounts, paths, privilege, repair, status
from .errors import UvUserError
from .facts import uv_version
from .paths import is_within, normalize
from .text import shown

OK, WARN, FAIL = "ok", "warn", "fail"

# The variables the checks read; only these are kept in the facts (and in --json).
VARIABLES = ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV", "UV_CACHE_DIR", "UV_NO_CACHE", "UV_LINK_MODE",
             "XDG_CACHE_HOME", "HOME", "PATH")
SCAN_SECONDS = 20.0  # the doctor must answer quickly even on a huge environment
EXAMPLES = 3


@dataclass
class Finding:
    """One check's verdict: a one-line message and, unless ok, a one-line fix."""

    check: str
    status: str  # ok | warn | fail
    message: str
    fix: str = ""


@dataclass
class Ownership:
    """What repair.scan found under the root, summarised (the doctor itself never re-owns)."""

    owner: str = ""  # the user recorded at install: who repair makes the owner
    uid: int = -1
    gid: int = -1
    scanned: int = 0
    mismatches: int = 0
    examples: List[str] = field(default_factory=list)  # "path (uid:gid)"
    unreadable: int = 0
    incomplete: bool = False
    problem: str = ""  # why nothing could be scanned ...
    problem_fix: str = ""  # ... and the way out
    # The last repair, from its status file (paths.REPAIR_STATE): "" (none recorded), running (still
    # at work, e.g. the start's continuation in the background), stopped (its process is gone before
    # it finished), complete, incomplete (finished, leaving what it could not change), failed.
    repair_state: str = ""
    repair_pid: int = 0
    repair_started: float = 0.0
    repair_note: str = ""  # its first error line, escaped


@dataclass
class Interpreter:
    """The project environment's own interpreter link and pyvenv.cfg."""

    env: str
    exists: bool = False
    python: str = ""  # <env>/bin/python
    target: str = ""  # what it resolves to, or its dangling link text
    resolves: bool = False
    has_cfg: bool = False
    home: str = ""  # pyvenv.cfg's home
    home_exists: bool = False


@dataclass
class Mount:
    mount_point: str
    fstype: str
    source: str


@dataclass
class Workspace:
    path: str
    venv: str = "absent"  # absent | dir | file | link
    link_target: str = ""


@dataclass
class DoctorFacts:
    """Everything the checks look at, gathered once; tests build it by hand."""

    root: str = paths.ROOT
    env: Dict[str, str] = field(default_factory=dict)
    python_on_path: str = ""
    login_python: Optional[str] = None  # None: not checked (no bash, or it hung)
    profile_script: bool = True
    user: str = ""
    uid: int = 0
    ownership: Ownership = field(default_factory=Ownership)
    can_sudo: bool = False
    env_dev: Optional[int] = None
    cache_dir: str = ""
    cache_dev: Optional[int] = None
    interpreter: Interpreter = field(default_factory=lambda: Interpreter(paths.VENV))
    uv_path: str = ""
    uv_version: str = ""
    record: Dict[str, object] = field(default_factory=dict)
    record_problem: str = ""
    mountinfo_read: bool = True
    mount: Optional[Mount] = None
    workspaces: List[Workspace] = field(default_factory=list)
    now: float = 0.0  # time.time() when gathered (how long ago the last repair started)

    @property
    def default_env(self) -> str:
        return normalize(self.root) + "/venv"


# --------------------------------------------------------------------------- pure helpers


def project_env(facts: DoctorFacts) -> str:
    """The environment uv syncs: an absolute UV_PROJECT_ENVIRONMENT, else the feature's default."""
    value = facts.env.get("UV_PROJECT_ENVIRONMENT", "")
    return normalize(value) if value.startswith("/") else facts.default_env


def parse_mountinfo(text: str) -> List[Mount]:
    """The mounts of /proc/self/mountinfo: where each is mounted, its fstype and source."""
    return [Mount(row.mount_point, row.fstype, row.source) for row in mounts.parse(text)]


def mount_at(mounts: List[Mount], path: str) -> Optional[Mount]:
    """The mount whose mount point is exactly ``path`` (the last one wins: it hides earlier ones)."""
    found = None
    for mount in mounts:
        if normalize(mount.mount_point) == normalize(path):
            found = mount
    return found


def pyvenv_home(text: str) -> str:
    """``home`` from pyvenv.cfg text: the directory of the interpreter the env was made from."""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "home":
            return value.strip()
    return ""


def _is_python_of(found: str, env: str) -> bool:
    return bool(found) and normalize(found) == env + "/bin/python"


# --------------------------------------------------------------------------- the checks


def check_project_env(facts: DoctorFacts) -> Finding:
    """Where uv syncs: UV_PROJECT_ENVIRONMENT must be set, absolute, and under the feature's root."""
    value = facts.env.get("UV_PROJECT_ENVIRONMENT", "")
    default, root = facts.default_env, normalize(facts.root)
    if not value:
        return Finding("env", FAIL, "UV_PROJECT_ENVIRONMENT is not set: `uv sync` creates .venv in the project "
                       "(the workspace) instead of using " + default,
                       "export UV_PROJECT_ENVIRONMENT={} (a `su -` or ssh login drops the container's "
                       "environment), or rebuild the container with the feature".format(default))
    if not value.startswith("/"):
        return Finding("env", FAIL, "UV_PROJECT_ENVIRONMENT={} is relative: uv puts the env inside the project "
                       "(the workspace)".format(value),
                       "export UV_PROJECT_ENVIRONMENT={} (or another absolute path under {})".format(default, root))
    env = normalize(value)
    if env == default:
        return Finding("env", OK, "uv syncs {} (UV_PROJECT_ENVIRONMENT)".format(env))
    if is_within(env, root):
        return Finding("env", WARN, "uv syncs {}, not the default {}; `python` on PATH stays the default "
                       "env's".format(env, default),
                       "run this project's commands with `uv run` (or unset UV_PROJECT_ENVIRONMENT for the "
                       "default env)")
    return Finding("env", WARN, "uv syncs {}, outside {}: not on the volume (lost on rebuild) and not re-owned "
                   "at start".format(env, root),
                   "export UV_PROJECT_ENVIRONMENT={}/envs/NAME (any path under {})".format(root, root))


def check_virtual_env(facts: DoctorFacts) -> Finding:
    """VIRTUAL_ENV must name the same env, or `uv pip install`/`python` and `uv sync` part ways."""
    env, value = project_env(facts), facts.env.get("VIRTUAL_ENV", "")
    if not value:
        return Finding("VIRTUAL_ENV", WARN, "VIRTUAL_ENV is not set: `uv pip install` finds no environment "
                       "outside a project", "export VIRTUAL_ENV=" + env)
    if normalize(value) == env:
        return Finding("VIRTUAL_ENV", OK, "VIRTUAL_ENV agrees: `uv pip install` and `uv sync` use the same env")
    return Finding("VIRTUAL_ENV", FAIL, "VIRTUAL_ENV={} but uv syncs {}: `uv pip install` goes to one, `uv sync` "
                   "to the other (uv warns it \"does not match the project environment path\")".format(value, env),
                   "run `deactivate` if you activated another env, else export VIRTUAL_ENV=" + env)


def _path_finding(name: str, found: str, facts: DoctorFacts, where: str, fix: str) -> Finding:
    env, default = project_env(facts), facts.default_env
    if _is_python_of(found, env) or _is_python_of(found, default):
        return Finding(name, OK, "`python` {} is the env's ({})".format(where, normalize(found)))
    if facts.interpreter.exists and not facts.interpreter.resolves:
        # PATH may be right: lookups just skip the env's dangling bin/python.
        return Finding(name, FAIL, "`python` {} is {}: the env's own bin/python is broken".format(
            where, found or "missing"), "repair the interpreter (see the interpreter check)")
    if not found:
        return Finding(name, FAIL, "no `python` {}".format(where), fix)
    return Finding(name, FAIL, "`python` {} is {}, not {}/bin/python: it does not see what `uv sync` "
                   "installs".format(where, found, default), fix)


def check_path(facts: DoctorFacts) -> Finding:
    """`python` must be the env's, or imports miss what uv synced."""
    return _path_finding("PATH", facts.python_on_path, facts, "on PATH",
                         "export PATH={}/bin:$PATH (something put another python first), or use "
                         "`uv run python`".format(facts.default_env))


def check_login_path(facts: DoctorFacts) -> Finding:
    """Login shells too: Debian's /etc/profile resets PATH; /etc/profile.d/uv-user.sh puts the env back."""
    if facts.login_python is None:
        return Finding("login PATH", OK, "login shells not checked (no bash)")
    if not facts.profile_script:
        fix = "rebuild the container: {} (which puts the env first again) is missing".format(paths.PROFILE_SCRIPT)
    else:
        fix = ("your ~/.bash_profile or ~/.profile resets PATH after {}: end it with "
               "export PATH={}/bin:$PATH".format(paths.PROFILE_SCRIPT, facts.default_env))
    return _path_finding("login PATH", facts.login_python, facts, "in a login shell (bash -l)", fix)


def check_ownership(facts: DoctorFacts) -> Finding:
    """Everything under the root must belong to the recorded user, or the next `uv sync` fails."""
    own, root = facts.ownership, normalize(facts.root)
    if own.problem:
        return Finding("ownership", FAIL, own.problem, own.problem_fix)
    who = "{} ({}:{})".format(own.owner, own.uid, own.gid)
    last = last_repair(own, facts.now)
    if own.mismatches:
        one = own.mismatches == 1
        message = "{} {} under {} {} not owned by {}, e.g. {}".format(
            own.mismatches, "entry" if one else "entries", root, "is" if one else "are", who, ", ".join(own.examples))
        if own.repair_state == "running":
            return Finding("ownership", WARN, message + "; " + last,
                           "wait for it to finish, then run `uv-user doctor` again")
        if facts.uid == 0:
            fix = "run `uv-user doctor --fix` (or `uv-user repair`)"
        elif facts.can_sudo:
            fix = "run `uv-user doctor --fix` (it runs `sudo -n uv-user repair`), or restart the container"
        else:
            fix = ("{} has no sudo: restart the container (its start-time repair fixes this) or as root run "
                   "`uv-user repair` (docker exec -u root <container> uv-user repair)".format(facts.user))
        return Finding("ownership", FAIL, message + ("; " + last if last else ""), fix)
    if own.incomplete:
        return Finding("ownership", WARN, "checked {} entries under {} in {:.0f} s, all owned by {}, then "
                       "stopped{}".format(own.scanned, root, SCAN_SECONDS, who, "; " + last if last else ""),
                       "run `uv-user repair --dry-run` to check the rest")
    if facts.uid not in (0, own.uid):
        return Finding("ownership", WARN, "you are {} ({}) but {} belongs to {}: `uv sync` as {} cannot write "
                       "the env".format(facts.user, facts.uid, root, who, facts.user),
                       "work as {} (remoteUser), or rebuild with the feature option \"username\": \"{}\"".format(
                           own.owner, facts.user))
    return Finding("ownership", OK, "all {} entries under {} belong to {}{}".format(
        own.scanned, root, who, " ({})".format(last) if own.repair_state == "running" else ""))


def last_repair(own: Ownership, now: float) -> str:
    """The status file's news worth a line: a repair still at work, or one that did not finish."""
    since = " {:.0f} s ago".format(max(0.0, now - own.repair_started)) if own.repair_started else ""
    if own.repair_state == "running":
        return "a repair {}is still running in the background (pid {})".format(
            "started{} ".format(since) if since else "", own.repair_pid)
    if own.repair_state == "stopped":
        return "the last repair (pid {}, started{}) stopped before it finished".format(own.repair_pid, since)
    if own.repair_state in ("incomplete", "failed"):
        return "the last repair (started{}) left {}".format(since, own.repair_note or "entries it could not change")
    return ""


def check_link_mode(facts: DoctorFacts) -> Finding:
    """Env and cache on one filesystem let uv hardlink; otherwise it copies and warns every sync."""
    env = project_env(facts)
    mode = facts.env.get("UV_LINK_MODE", "").strip().lower()
    if facts.env.get("UV_NO_CACHE", "").strip().lower() in ("1", "true", "yes", "on"):
        return Finding("link mode", OK, "uv's cache is off (UV_NO_CACHE): nothing to link")
    if mode and mode != "hardlink":
        return Finding("link mode", OK, "UV_LINK_MODE={}: uv does not try to hardlink".format(mode))
    if facts.env_dev is None or facts.cache_dev is None:
        return Finding("link mode", OK, "not checked: neither {} nor a parent exists".format(
            env if facts.env_dev is None else facts.cache_dir))
    if facts.env_dev == facts.cache_dev:
        return Finding("link mode", OK, "the env and uv's cache ({}) share a filesystem: uv hardlinks".format(
            facts.cache_dir))
    return Finding("link mode", WARN, "the env ({}) and uv's cache ({}) are on different filesystems: uv falls "
                   "back to copying, slower and with a \"Failed to hardlink files\" warning".format(
                       env, facts.cache_dir),
                   "export UV_CACHE_DIR={}/cache (next to the env), or UV_LINK_MODE=copy to silence it".format(
                       normalize(facts.root)))


def check_interpreter(facts: DoctorFacts) -> Finding:
    """The env's bin/python and pyvenv.cfg home must exist; a rebuild on a new base image can orphan them."""
    it = facts.interpreter
    fix = "run `uv sync` in your project (uv recreates an env whose interpreter is gone), or `uv venv --clear {}`"
    if not it.exists:
        return Finding("interpreter", WARN, "no environment at {} yet".format(it.env),
                       "run `uv sync` in your project (it creates the env)")
    if not it.resolves:
        return Finding("interpreter", FAIL, "{} is broken (it points to {}, which is gone): the python it was "
                       "made from no longer exists".format(it.python, it.target or "nothing"), fix.format(it.env))
    if not it.has_cfg:
        return Finding("interpreter", FAIL, "{}/pyvenv.cfg is missing: not a virtual environment".format(it.env),
                       fix.format(it.env))
    if not it.home_exists:
        return Finding("interpreter", FAIL, "{}/pyvenv.cfg names home {}, which does not exist".format(
            it.env, it.home or "(none)"), fix.format(it.env))
    return Finding("interpreter", OK, "{} -> {} (home {})".format(it.python, it.target, it.home))


def check_uv(facts: DoctorFacts) -> Finding:
    """The uv on PATH should be the one the feature installed (a second uv earlier on PATH is a classic)."""
    if not facts.uv_path:
        return Finding("uv", FAIL, "no `uv` on PATH", "rebuild the container (the feature installs {}/uv)".format(
            paths.BIN_DIR))
    if not facts.uv_version:
        return Finding("uv", FAIL, "{} does not run (`uv --version` failed)".format(facts.uv_path),
                       "rebuild the container")
    here = "uv {} at {}".format(facts.uv_version, facts.uv_path)
    if facts.record_problem:
        return Finding("uv", WARN, "{}; {}".format(here, facts.record_problem), "rebuild the container")
    recorded, binary = str(facts.record.get("uv_version", "")), str(facts.record.get("uv", ""))
    if recorded and recorded != facts.uv_version:
        if binary and normalize(binary) != normalize(facts.uv_path):
            fix = "another uv comes first on PATH: remove {} or call {}".format(facts.uv_path, binary)
        else:
            fix = ("it was replaced after the build; rebuild the container to get {} back, or set the "
                   "feature's \"version\" option".format(recorded))
        return Finding("uv", WARN, "{}, but the feature installed uv {} at {}".format(here, recorded, binary), fix)
    options = facts.record.get("options")
    option = options.get("version", "") if isinstance(options, dict) else ""
    return Finding("uv", OK, "{}, as installed{}".format(here, " (version option: {})".format(option)
                                                        if option else ""))


def check_volume(facts: DoctorFacts) -> Finding:
    """The root should be a mount (the feature's named volume) so a rebuild keeps the synced env."""
    root = normalize(facts.root)
    if not facts.mountinfo_read:
        return Finding("volume", OK, "not checked (/proc/self/mountinfo is unreadable)")
    if facts.mount is None:
        return Finding("volume", WARN, "{} is not a mount: the env lives in the container and is lost on "
                       "rebuild".format(root),
                       "keep the feature's volume (don't replace the {} mount), or mount your own volume "
                       "there".format(root))
    if facts.mount.fstype == "tmpfs":
        return Finding("volume", WARN, "{} is a tmpfs: the env is emptied at every stop".format(root),
                       "run `uv sync` in postStartCommand, or mount a volume at {}".format(root))
    return Finding("volume", OK, "{} is a mount ({}): the env and cache survive rebuilds".format(
        root, facts.mount.fstype))


def check_workspace(facts: DoctorFacts) -> Finding:
    """A .venv in the workspace is ignored by uv but found by editors and by habit (`source .venv/...`)."""
    if not facts.workspaces:
        return Finding("workspace", OK, "no workspace to check")
    env = project_env(facts)
    stray = [w for w in facts.workspaces if w.venv != "absent"
             and not (w.venv == "link" and normalize(w.link_target) in (env, facts.default_env))]
    if not stray:
        return Finding("workspace", OK, "no stray .venv in {}".format(", ".join(w.path for w in facts.workspaces)))
    where = ", ".join(os.path.join(w.path, ".venv") for w in stray)
    return Finding("workspace", WARN, "{} exists: uv ignores it (it syncs {}), but editors and `source "
                   ".venv/bin/activate` pick it up".format(where, env),
                   "remove it (rm -rf {}), unless it is the host's own env".format(where))


CHECKS: List[Callable[[DoctorFacts], Finding]] = [
    check_project_env, check_virtual_env, check_path, check_login_path, check_ownership, check_link_mode,
    check_interpreter, check_uv, check_volume, check_workspace,
]


def check_all(facts: DoctorFacts) -> List[Finding]:
    return [check(facts) for check in CHECKS]


def summary(findings: List[Finding]) -> str:
    """The closing ``uv-user:`` line: the single problem and its fix, or which checks failed."""
    failed = [f for f in findings if f.status == FAIL]
    warned = [f for f in findings if f.status == WARN]
    if not failed:
        return "uv-user: doctor: no problems{}".format(
            " ({} warning{}: {})".format(len(warned), "" if len(warned) == 1 else "s",
                                         ", ".join(f.check for f in warned)) if warned else "")
    if len(failed) == 1:
        return "uv-user: {}: {}; fix: {}".format(failed[0].check, failed[0].message, failed[0].fix)
    return "uv-user: {} checks failed ({}); apply each fix shown above{}".format(
        len(failed), ", ".join(f.check for f in failed),
        " (`uv-user doctor --fix` repairs ownership)" if any("doctor --fix" in f.fix for f in failed) else "")


def markers(encoding: Optional[str]) -> Dict[str, str]:
    """✓ ! ✗ where the terminal can show them, ASCII otherwise."""
    fancy = {OK: "\u2713", WARN: "!", FAIL: "\u2717"}
    try:
        "".join(fancy.values()).encode(encoding or "ascii")
        return fancy
    except (UnicodeEncodeError, LookupError):
        return {OK: "ok", WARN: "!!", FAIL: "XX"}


def render(findings: List[Finding], marks: Dict[str, str]) -> List[str]:
    lines = []
    for finding in findings:
        lines.append("{} {}: {}".format(marks[finding.status], finding.check, finding.message))
        if finding.status != OK and finding.fix:
            lines.append("    fix: " + finding.fix)
    return lines


# --------------------------------------------------------------------------- gathering (the shell)


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


def login_python(env: Dict[str, str]) -> Optional[str]:
    """`command -v python` in a login bash, as a new terminal would see it; None when bash is missing."""
    bash = shutil.which("bash", path=env.get("PATH", os.defpath))
    if not bash:
        return None
    try:
        out = subprocess.run([bash, "-lc", "command -v python || true"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=15, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in out.decode("utf-8", "replace").splitlines() if line.strip().startswith("/")]
    return lines[-1] if lines else ""


def gather_ownership(root: str, record: Dict[str, object]) -> Ownership:
    """Scan like `uv-user repair --dry-run` does, bounded in time."""
    name = str(record.get("username", ""))
    if not name:
        return Ownership(problem="no owner recorded in " + paths.RECORD,
                         problem_fix="rebuild the container, or as root run `uv-user repair --user NAME`")
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return Ownership(owner=name, problem="user {} recorded at install no longer exists".format(shown(name)),
                         problem_fix="rebuild the container")
    own = Ownership(owner=name, uid=account.pw_uid, gid=account.pw_gid)
    try:
        report = repair.scan(root, own.uid, own.gid, time.monotonic() + SCAN_SECONDS)
    except UvUserError as exc:
        # repair's messages read "<what>; <way out>".
        what, _, way_out = str(exc).partition("; ")
        own.problem, own.problem_fix = what, way_out or "rebuild the container"
        return own
    own.scanned, own.mismatches, own.incomplete = report.scanned, report.mismatched, report.incomplete
    own.unreadable = len(report.errors)
    own.examples = ["{} ({}:{})".format(shown(m.path), m.uid, m.gid) for m in report.mismatches[:EXAMPLES]]
    return own


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


def gather(root: str, environ: Dict[str, str], workspaces: List[str]) -> DoctorFacts:
    """Read everything the checks need; writes nothing."""
    facts = DoctorFacts(root=root, env={k: environ[k] for k in VARIABLES if k in environ}, now=time.time())
    search = environ.get("PATH", os.defpath)
    facts.python_on_path = shutil.which("python", path=search) or ""
    facts.login_python = login_python(environ)
    facts.profile_script = os.path.exists(paths.PROFILE_SCRIPT)
    facts.uid = os.geteuid()
    try:
        facts.user = pwd.getpwuid(facts.uid).pw_name
    except KeyError:
        facts.user = str(facts.uid)
    text = _read(paths.RECORD)
    try:
        record = json.loads(text) if text is not None else None
    except ValueError:
        record = None
    if isinstance(record, dict):
        facts.record = record
    else:
        facts.record_problem = "{} is {}".format(paths.RECORD, "missing" if text is None else "unreadable")
    facts.ownership = gather_ownership(root, facts.record)
    gather_repair_state(facts.ownership, paths.REPAIR_STATE)
    if facts.ownership.mismatches and facts.uid != 0:
        facts.can_sudo = privilege.sudo_works()  # the same test `uv-user repair` uses before it escalates
    env_dir = project_env(facts)
    facts.env_dev = _nearest_dev(env_dir)
    facts.cache_dir = cache_dir(environ)
    facts.cache_dev = _nearest_dev(facts.cache_dir)
    facts.interpreter = gather_interpreter(env_dir)
    facts.uv_path = shutil.which("uv", path=search) or ""
    facts.uv_version = uv_version(facts.uv_path) if facts.uv_path else ""
    mountinfo = mounts.read()
    facts.mountinfo_read = mountinfo is not None
    facts.mount = mount_at(parse_mountinfo(mountinfo or ""), root)
    facts.workspaces = [gather_workspace(w) for w in workspaces]
    return facts


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
    """gather → check → (--fix: repair ownership, check again) → report; exit 1 when a check fails."""
    environ = dict(os.environ)
    workspaces = workspace_candidates(args.workspace, environ, os.getcwd())
    facts = gather(args.root, environ, workspaces)
    findings = check_all(facts)
    if args.fix and facts.ownership.mismatches:
        repair_args = argparse.Namespace(user=facts.ownership.owner, root=args.root, dry_run=False,
                                         entrypoint=False, max_seconds=0.0, state=paths.REPAIR_STATE, resume=False)
        with stdout_to_stderr() if args.json else contextlib.nullcontext():
            try:
                repair_command(repair_args)
            except UvUserError as exc:
                print(exc.line(), file=sys.stderr, flush=True)
        facts = gather(args.root, environ, workspaces)
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
