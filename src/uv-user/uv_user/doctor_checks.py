"""What ``uv-user doctor`` concludes: pure checks over gathered facts, and how their verdicts are shown.

Each check is a function of DoctorFacts (built by doctor.gather, or by hand in tests) that
returns one Finding: a status, a one-line message, unless ok a one-line fix, and whether
``--fix`` repairs it. Nothing here reads the system or runs anything; summary, markers and
render turn findings into the lines ``uv-user doctor`` prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from . import mounts, paths
from .paths import is_within, normalize
from .text import shown

OK, WARN, FAIL = "ok", "warn", "fail"

# The variables the checks read; only these are kept in the facts (and in --json).
VARIABLES = ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV", "UV_CACHE_DIR", "UV_NO_CACHE", "UV_LINK_MODE",
             "XDG_CACHE_HOME", "HOME", "PATH", "UV_TOOL_DIR", "UV_TOOL_BIN_DIR")
SCAN_SECONDS = 20.0  # the ownership scan's bound: the doctor must answer quickly even on a huge environment


@dataclass
class Finding:
    """One check's verdict: a one-line message and, unless ok, a one-line fix."""

    check: str
    status: str  # ok | warn | fail
    message: str
    fix: str = ""
    repairable: bool = False  # `uv-user doctor --fix` repairs it


@dataclass
class Ownership:
    """What repair.scan found under the root, summarised (the doctor itself never re-owns)."""

    owner: str = ""  # the user recorded at install: who repair makes the owner
    uid: int = -1
    gid: int = -1
    scanned: int = 0
    mismatches: int = 0
    examples: List[str] = field(default_factory=list)  # "path (uid:gid)"
    unreadable: int = 0  # entries the scan could not read (a directory it could not list, ...)
    unreadable_example: str = ""  # the first of them: "path: why", escaped
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

    env: str = ""  # where gather looked: the env uv syncs ("" in hand-built facts: project_env)
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
class Tool:
    """One `uv tool install` environment, read without running anything in it."""

    name: str
    python: str = ""  # where its bin/python leads, or the dangling link's text
    resolves: bool = True
    made_with: str = ""  # X.Y from pyvenv.cfg: the Python it was created with
    now: str = ""  # X.Y of the interpreter its link leads to today ("" when unknown)
    options: bool = False  # the receipt has --with, --python or extras: a reinstall must repeat them


@dataclass
class Workspace:
    path: str
    venv: str = "absent"  # absent | dir | file | link
    link_target: str = ""


@dataclass
class DoctorFacts:
    """Everything the checks look at, gathered once; tests build it by hand."""

    root: str  # the feature's tree (paths.ROOT, or the CLI's hidden --root)
    env: Dict[str, str] = field(default_factory=dict)
    python_on_path: str = ""
    login_python: Optional[str] = None  # None: not checked (no bash, or it hung)
    login_path: str = ""  # PATH in that login shell
    # Profile and rc files that name a directory which puts another python before the env's.
    path_sources: Dict[str, List[str]] = field(default_factory=dict)
    pid1_uid: Optional[int] = None  # who the container's main process runs as (None: unknown)
    uv_not_run: bool = False  # doctor runs as root and the uv on PATH is not root's alone: not run
    profile_script: bool = True
    user: str = ""
    uid: int = 0
    ownership: Ownership = field(default_factory=Ownership)
    can_sudo: bool = False
    env_dev: Optional[int] = None
    cache_dir: str = ""
    cache_dev: Optional[int] = None
    interpreter: Interpreter = field(default_factory=Interpreter)
    uv_path: str = ""
    uv_version: str = ""
    record: Dict[str, object] = field(default_factory=dict)
    record_problem: str = ""
    mountinfo_read: bool = True
    mount: Optional[Mount] = None
    workspaces: List[Workspace] = field(default_factory=list)
    tools: List[Tool] = field(default_factory=list)
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


def is_python_of(found: str, env: str) -> bool:
    """Whether ``found`` (a `command -v python` answer) is ``env``'s own bin/python."""
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
                       "(the workspace)".format(shown(value)),
                       "export UV_PROJECT_ENVIRONMENT={} (or another absolute path under {})".format(default, root))
    env = normalize(value)
    if env == default:
        return Finding("env", OK, "uv syncs {} (UV_PROJECT_ENVIRONMENT)".format(env))
    if is_within(env, root):
        return Finding("env", WARN, "uv syncs {}, not the default {}; `python` on PATH stays the default "
                       "env's".format(shown(env), default),
                       "run this project's commands with `uv run` (or unset UV_PROJECT_ENVIRONMENT for the "
                       "default env)")
    return Finding("env", WARN, "uv syncs {}, outside {}: not on the volume (lost on rebuild) and not re-owned "
                   "at start".format(shown(env), root),
                   "export UV_PROJECT_ENVIRONMENT={}/envs/NAME (any path under {})".format(root, root))


def check_virtual_env(facts: DoctorFacts) -> Finding:
    """VIRTUAL_ENV must name the same env, or `uv pip install`/`python` and `uv sync` part ways."""
    env, value = project_env(facts), facts.env.get("VIRTUAL_ENV", "")
    if not value:
        return Finding("VIRTUAL_ENV", WARN, "VIRTUAL_ENV is not set: `uv pip install` finds no environment "
                       "outside a project", "export VIRTUAL_ENV=" + shown(env))
    if normalize(value) == env:
        return Finding("VIRTUAL_ENV", OK, "VIRTUAL_ENV agrees: `uv pip install` and `uv sync` use the same env")
    return Finding("VIRTUAL_ENV", FAIL, "VIRTUAL_ENV={} but uv syncs {}: `uv pip install` goes to one, `uv sync` "
                   "to the other (uv warns it \"does not match the project environment path\")".format(
                       shown(value), shown(env)),
                   "run `deactivate` if you activated another env, else export VIRTUAL_ENV=" + shown(env))


# Directories that commonly come before the environment's bin with a python of their own, and who puts
# them there. Attribution helps: the fix differs for a feature, a profile script and a dotfile.
KNOWN_PYTHON_DIRS = {
    "/usr/local/python/current/bin": "the devcontainers python feature or image",
    "/usr/local/py-utils/bin": "the devcontainers python feature (pipx tools)",
    "/usr/local/conda/bin": "the devcontainers anaconda feature",
    "/opt/conda/bin": "conda (the devcontainers conda feature or a conda image)",
    "/usr/local/pyenv/shims": "pyenv",
    "/usr/local/bin": "the image (the official python images install python there)",
}

def _is_env_bin(directory: str, facts: DoctorFacts) -> bool:
    return normalize(directory) in (project_env(facts) + "/bin", facts.default_env + "/bin")


def origin(directory: str, facts: DoctorFacts) -> str:
    """Who put ``directory`` on PATH, as far as can be told: a known feature or tool, the files naming it."""
    directory = normalize(directory)
    known = KNOWN_PYTHON_DIRS.get(directory, "pyenv" if directory.endswith("/.pyenv/shims") else "")
    found = facts.path_sources.get(directory, [])
    parts = ([known] if known else []) + (["named in " + ", ".join(found)] if found else [])
    return "; ".join(parts) or "not set by any profile file uv-user knows: the image's own PATH or your shell"


def _shadow(found: str, path: str, facts: DoctorFacts) -> str:
    """Why ``found`` wins: its directory comes before the environment's bin (or the bin is missing)."""
    directory = os.path.dirname(normalize(found))
    entries = [normalize(e) for e in path.split(os.pathsep) if e.startswith("/")]
    where = ("comes before {}/bin on PATH".format(facts.default_env)
             if any(_is_env_bin(e, facts) for e in entries) else "is on PATH and the env's bin is not")
    return "{} {} ({})".format(shown(directory), where, origin(directory, facts))


def _path_finding(name: str, found: str, path: str, facts: DoctorFacts, where: str, fix: str) -> Finding:
    env, default = project_env(facts), facts.default_env
    if is_python_of(found, env) or is_python_of(found, default):
        return Finding(name, OK, "`python` {} is the env's ({})".format(where, shown(normalize(found))))
    if facts.interpreter.exists and not facts.interpreter.resolves:
        # PATH may be right: lookups just skip the env's dangling bin/python.
        return Finding(name, FAIL, "`python` {} is {}: the env's own bin/python is broken".format(
            where, shown(found) or "missing"), "repair the interpreter (see the interpreter check)")
    if not found:
        return Finding(name, FAIL, "no `python` {}".format(where), fix)
    return Finding(name, FAIL, "`python` {} is {}, not {}/bin/python: it does not see what `uv sync` installs; "
                   "{}".format(where, shown(found), default, _shadow(found, path, facts)), fix)


def _files_naming(found: str, facts: DoctorFacts) -> List[str]:
    return facts.path_sources.get(os.path.dirname(normalize(found)), []) if found else []


def check_path(facts: DoctorFacts) -> Finding:
    """`python` must be the env's, or imports miss what uv synced."""
    bin_dir = facts.default_env + "/bin"
    files = _files_naming(facts.python_on_path, facts)
    if files:
        fix = "{} put it first: change that, or add `export PATH={}:$PATH` after it".format(", ".join(files), bin_dir)
    elif facts.python_on_path:
        fix = ("a feature that installed after uv-user put it first: name that feature before uv-user in "
               "\"overrideFeatureInstallOrder\" (devcontainer.json) and rebuild; meanwhile `export PATH={}:$PATH`, "
               "or `uv run python`".format(bin_dir))
    else:
        fix = "export PATH={}:$PATH, or use `uv run python`".format(bin_dir)
    return _path_finding("PATH", facts.python_on_path, facts.env.get("PATH", ""), facts, "on PATH", fix)


def check_login_path(facts: DoctorFacts) -> Finding:
    """Login shells too: Debian's /etc/profile resets PATH; /etc/profile.d/uv-user.sh puts the env back."""
    if facts.login_python is None:
        return Finding("login PATH", OK, "login shells not checked (no bash)")
    files = [f for f in _files_naming(facts.login_python, facts) if f != paths.PROFILE_SCRIPT]
    if not facts.profile_script:
        fix = "rebuild the container: {} (which puts the env first again) is missing".format(paths.PROFILE_SCRIPT)
    elif files:
        fix = "{} put{} it first after {}: end {} with export PATH={}/bin:$PATH".format(
            ", ".join(files), "s" if len(files) == 1 else "", paths.PROFILE_SCRIPT,
            "it" if len(files) == 1 else "the last one", facts.default_env)
    else:
        fix = ("your ~/.bash_profile or ~/.profile resets PATH after {}: end it with "
               "export PATH={}/bin:$PATH".format(paths.PROFILE_SCRIPT, facts.default_env))
    return _path_finding("login PATH", facts.login_python, facts.login_path, facts, "in a login shell (bash -l)", fix)


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
        return Finding("ownership", FAIL, message + ("; " + last if last else ""), fix,
                       repairable=facts.uid == 0 or facts.can_sudo)
    if own.incomplete:
        return Finding("ownership", WARN, "checked {} entries under {} in {:.0f} s, all owned by {}, then "
                       "stopped{}".format(own.scanned, root, SCAN_SECONDS, who, "; " + last if last else ""),
                       "run `uv-user repair --dry-run` to check the rest")
    if facts.uid not in (0, own.uid):
        return Finding("ownership", WARN, "you are {} ({}) but {} belongs to {}: `uv sync` as {} cannot write "
                       "the env".format(facts.user, facts.uid, root, who, facts.user),
                       "work as {} (remoteUser), or rebuild with the feature option \"username\": \"{}\"".format(
                           own.owner, facts.user))
    if own.unreadable:
        return Finding("ownership", WARN, "checked {} entries under {}, all owned by {}, but {} could not be read, "
                       "e.g. {}{}".format(own.scanned, root, who, own.unreadable, own.unreadable_example,
                                          "; " + last if last else ""),
                       "run `uv-user repair --dry-run` to check them again" if facts.uid == 0 else
                       "as root, `uv-user repair --dry-run` checks them too (sudo, or docker exec -u root "
                       "<container> uv-user repair --dry-run)")
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
        return Finding("link mode", OK, "UV_LINK_MODE={}: uv does not try to hardlink".format(shown(mode)))
    if facts.env_dev is None or facts.cache_dev is None:
        return Finding("link mode", OK, "not checked: neither {} nor a parent exists".format(
            shown(env if facts.env_dev is None else facts.cache_dir)))
    if facts.env_dev == facts.cache_dev:
        return Finding("link mode", OK, "the env and uv's cache ({}) share a filesystem: uv hardlinks".format(
            shown(facts.cache_dir)))
    return Finding("link mode", WARN, "the env ({}) and uv's cache ({}) are on different filesystems: uv falls "
                   "back to copying, slower and with a \"Failed to hardlink files\" warning".format(
                       shown(env), shown(facts.cache_dir)),
                   "export UV_CACHE_DIR={}/cache (next to the env), or UV_LINK_MODE=copy to silence it".format(
                       normalize(facts.root)))


def check_interpreter(facts: DoctorFacts) -> Finding:
    """The env's bin/python and pyvenv.cfg home must exist; a rebuild on a new base image can orphan them."""
    it = facts.interpreter
    env, python, target, home = (shown(it.env or project_env(facts)), shown(it.python), shown(it.target),
                                 shown(it.home))
    fix = "run `uv sync` in your project (uv recreates an env whose interpreter is gone), or `uv venv --clear {}`"
    if not it.exists:
        return Finding("interpreter", WARN, "no environment at {} yet".format(env),
                       "run `uv sync` in your project (it creates the env)")
    if not it.resolves:
        return Finding("interpreter", FAIL, "{} is broken (it points to {}, which is gone): the python it was "
                       "made from no longer exists".format(python, target or "nothing"), fix.format(env))
    if not it.has_cfg:
        return Finding("interpreter", FAIL, "{}/pyvenv.cfg is missing: not a virtual environment".format(env),
                       fix.format(env))
    if not it.home_exists:
        return Finding("interpreter", FAIL, "{}/pyvenv.cfg names home {}, which does not exist".format(
            env, home or "(none)"), fix.format(env))
    return Finding("interpreter", OK, "{} -> {} (home {})".format(python, target, home))


def check_uv(facts: DoctorFacts) -> Finding:
    """The uv on PATH should be the one the feature installed (a second uv earlier on PATH is a classic)."""
    if not facts.uv_path:
        return Finding("uv", FAIL, "no `uv` on PATH", "rebuild the container (the feature installs {}/uv)".format(
            paths.BIN_DIR))
    if facts.uv_not_run:
        return Finding("uv", WARN, "{} comes first on PATH, but someone other than root can replace it: the doctor "
                       "does not run it as root".format(shown(facts.uv_path)),
                       "run `uv-user doctor` as the dev user; as root, call {}/uv".format(paths.BIN_DIR))
    if not facts.uv_version:
        return Finding("uv", FAIL, "{} does not run (`uv --version` failed)".format(shown(facts.uv_path)),
                       "rebuild the container")
    here = "uv {} at {}".format(shown(facts.uv_version), shown(facts.uv_path))
    if facts.record_problem:
        return Finding("uv", WARN, "{}; {}".format(here, facts.record_problem), "rebuild the container")
    recorded, binary = str(facts.record.get("uv_version", "")), str(facts.record.get("uv", ""))
    shown_recorded, shown_binary = shown(recorded), shown(binary)
    if recorded and recorded != facts.uv_version:
        if binary and normalize(binary) != normalize(facts.uv_path):
            fix = "another uv comes first on PATH: remove {} or call {}".format(shown(facts.uv_path), shown_binary)
        else:
            fix = ("it was replaced after the build; rebuild the container to get {} back, or set the "
                   "feature's \"version\" option".format(shown_recorded))
        return Finding("uv", WARN, "{}, but the feature installed uv {} at {}".format(
            here, shown_recorded, shown_binary), fix)
    options = facts.record.get("options")
    option = options.get("version", "") if isinstance(options, dict) else ""
    return Finding("uv", OK, "{}, as installed{}".format(here, " (version option: {})".format(shown(str(option)))
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
        root, shown(facts.mount.fstype)))


def check_workspace(facts: DoctorFacts) -> Finding:
    """A .venv in the workspace is ignored by uv but found by editors and by habit (`source .venv/...`)."""
    if not facts.workspaces:
        return Finding("workspace", OK, "no workspace to check")
    env = project_env(facts)
    stray = [w for w in facts.workspaces if w.venv != "absent"
             and not (w.venv == "link" and normalize(w.link_target) in (env, facts.default_env))]
    if not stray:
        return Finding("workspace", OK, "no stray .venv in {}".format(
            ", ".join(shown(w.path) for w in facts.workspaces)))
    where = ", ".join(shown(os.path.join(w.path, ".venv")) for w in stray)
    return Finding("workspace", WARN, "{} exists: uv ignores it (it syncs {}), but editors and `source "
                   ".venv/bin/activate` pick it up".format(where, shown(env)),
                   "remove it (rm -rf {}), unless it is the host's own env".format(where))


def tool_dirs(facts: DoctorFacts) -> Tuple[str, str]:
    """(UV_TOOL_DIR, UV_TOOL_BIN_DIR) as set, else the feature's defaults under the root."""
    root = normalize(facts.root)
    return (normalize(facts.env.get("UV_TOOL_DIR", "")) or root + "/tools",
            normalize(facts.env.get("UV_TOOL_BIN_DIR", "")) or root + "/bin")


def broken_why(tool: Tool) -> str:
    """Why a tool environment no longer runs, or "": a rebuild onto another image can take its Python away
    (a link to nothing) or swap it for another version at the same path (its packages are then missing)."""
    if not tool.resolves:
        return "its python {} is gone".format(shown(tool.python) or "link")
    if tool.made_with and tool.now and tool.made_with != tool.now:
        return "made with Python {}, its python is now {}".format(tool.made_with, tool.now)
    return ""


def check_tools(facts: DoctorFacts) -> Finding:
    """uv tools live on the volume and their commands on PATH; a changed base image can break their envs."""
    tool_dir, tool_bin = tool_dirs(facts)
    entries = [normalize(e) for e in facts.env.get("PATH", "").split(os.pathsep) if e.startswith("/")]
    broken = [(t, broken_why(t)) for t in facts.tools if broken_why(t)]
    if broken:
        fixes = ["uv tool uninstall {0} && uv tool install {0}".format(shown(t.name)) for t, _ in broken]
        again = " (repeat the --with/--python options you installed {} with)".format(
            "it" if len(broken) == 1 else "them") if any(t.options for t, _ in broken) else ""
        return Finding("tools", WARN, "{} of {} uv tool{} no longer run{}: {}".format(
            len(broken), len(facts.tools), "" if len(facts.tools) == 1 else "s", "s" if len(broken) == 1 else "",
            ", ".join("{} ({})".format(shown(t.name), why) for t, why in broken)),
            "; ".join(fixes) + again)
    if tool_bin not in entries:
        return Finding("tools", WARN, "{} (where `uv tool install` puts commands) is not on PATH".format(
            shown(tool_bin)), "export PATH={}:$PATH (after {}/bin)".format(shown(tool_bin), facts.default_env))
    if not facts.tools:
        return Finding("tools", OK, "no uv tools yet (`uv tool install` keeps them in {}, on the volume)".format(
            shown(tool_dir)))
    return Finding("tools", OK, "{} uv tool{} in {}, commands on PATH: {}".format(
        len(facts.tools), "" if len(facts.tools) == 1 else "s", shown(tool_dir),
        ", ".join(shown(t.name) for t in facts.tools)))


def check_root_exposure(facts: DoctorFacts) -> Finding:
    """The env's bin is first on every process's PATH, root's too, and the dev user writes it.

    uv-user's own start and root's login shells keep it off root's PATH; what remains is
    root typing commands in a shell with the image's PATH (``docker exec -u root``). That
    matters where the dev user cannot become root anyway: no sudo, processes run as root."""
    bin_dir = shown(project_env(facts) + "/bin")
    owner, uid = shown(facts.ownership.owner or "the dev user"), facts.ownership.uid
    user = shown(facts.user)
    entries = [normalize(e) for e in facts.env.get("PATH", "").split(os.pathsep) if e.startswith("/")]
    exposed = [e for e in entries if is_within(e, facts.root)]
    if facts.uid == 0:
        if uid in (0, -1) or not exposed:
            return Finding("security", OK, "root's PATH has no directory of another user's environment")
        return Finding("security", WARN, "you are root and PATH starts with {}, which {} can write: a command "
                       "typed here may run {}'s program as root".format(shown(exposed[0]), owner, owner),
                       "start root shells with a clean PATH (docker exec -u root -e PATH={} ...) or use full "
                       "paths; to sync as root, `uv-user sync` runs uv as {}".format(paths.SYSTEM_PATH, owner))
    if facts.pid1_uid == 0 and not facts.can_sudo and uid == facts.uid and exposed:
        return Finding("security", WARN, "this container's processes run as root and {} has no sudo, but a root "
                       "shell with the image's PATH (`docker exec -u root`) finds {} first, which {} can "
                       "write".format(user, bin_dir, user),
                       "start root shells with a clean PATH: docker exec -u root -e PATH={} -it <container> bash "
                       "(README: Security)".format(paths.SYSTEM_PATH))
    return Finding("security", OK, "root runs nothing from {} at start or in login shells".format(bin_dir))


CHECKS: List[Callable[[DoctorFacts], Finding]] = [
    check_project_env, check_virtual_env, check_path, check_login_path, check_ownership, check_link_mode,
    check_interpreter, check_uv, check_volume, check_workspace, check_tools, check_root_exposure,
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
        " (`uv-user doctor --fix` repairs ownership)" if any(f.repairable for f in failed) else "")


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
