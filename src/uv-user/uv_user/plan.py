"""The install plan: a pure function of options, image facts and index contents.

Nothing here touches the disk or the network, so every decision is unit-tested
without Docker and ``--dry-run`` can print exactly what would happen. Every refusal
is made here, before the first write: :func:`preflight` holds those that need no
network, so ``uv-user install`` makes them before it asks the index; apply only
carries the plan out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from . import paths, users, versions, wheels
from .errors import UvUserError
from .facts import Facts, Tree
from .options import Options
from .text import shown
from .uvtoml import candidates

# uv renamed native-tls to system-certs (0.11 era): the plan carries the uv.toml text with each, and
# apply writes the first the installed uv accepts (only it can tell, and it refuses unknown keys).
CERT_KEYS = ("system-certs", "native-tls")


@dataclass
class UvStep:
    """How uv gets there: download a verified wheel, keep the same version, or reuse the image's."""

    action: str  # download | keep | reuse
    version: str
    binary: str
    wheel: Optional[wheels.WheelFile] = None


@dataclass
class Plan:
    user: users.Account
    uv: UvStep
    python: str
    venv: str  # create | keep | recreate
    dirs: List[str]
    #: /etc/uv/uv.toml as it should be, once per spelling of uv's keys (CERT_KEYS): apply tries them in order
    uv_toml_texts: List[str]
    uv_toml_changed: bool
    notes: List[str] = field(default_factory=list)
    completions: bool = True
    record: Dict[str, object] = field(default_factory=dict)

    @property
    def uv_toml(self) -> str:
        """The text for the current uv, the one the plan compares with the file."""
        return self.uv_toml_texts[0]

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)


def needs_index(options: Options, facts: Facts) -> bool:
    """Only ask the network when the installed uv cannot already be the answer."""
    if options.version.kind == "none":
        return False
    if options.version.kind == "exact" and facts.installed_version:
        installed = versions.parse_release(facts.installed_version)
        return not (installed and versions.matches(options.version, installed))
    return True


def plan_uv(options: Options, facts: Facts, files: Sequence[wheels.WheelFile], available: Sequence[str]) -> UvStep:
    ours = paths.BIN_DIR + "/uv"
    if options.version.kind == "none":
        if not facts.uv_on_path or not facts.uv_on_path_version:
            raise UvUserError("version is none but no working uv is on PATH in the image",
                              "install uv first or set version to latest")
        return UvStep("reuse", facts.uv_on_path_version, facts.uv_on_path)
    if not available and facts.installed_version and not needs_index(options, facts):
        return UvStep("keep", facts.installed_version, ours)
    target = versions.choose(options.version, available)
    if facts.installed_version == target:
        return UvStep("keep", target, ours)
    wheel = wheels.select(files, target, facts.platform)
    if not wheel.sha256:
        raise UvUserError("the index gives no sha256 for {}".format(shown(wheel.filename)),
                          "uv-user only installs verified files: use an index that publishes hashes")
    return UvStep("download", target, ours, wheel)


def preflight(options: Options, facts: Facts) -> users.Account:
    """Every refusal that needs no network; returns the owner. Offline, a failed fetch would hide them."""
    user = users.resolve(options.username, facts.remote_user, facts.accounts)
    if not facts.python:
        raise UvUserError("no python3 interpreter found for the environment", "install python3 in the image")
    for directory in paths.managed_dirs():
        reason = paths.refusal(directory)
        if reason:  # guards the constants against an edit that would hand out a system dir
            raise UvUserError("refusing to manage {}: {}".format(directory, reason))
    refuse_tree(facts.tree, user)
    return user


def refuse_tree(tree: Tree, user: users.Account) -> None:
    """What apply would meet halfway: a link or a non-directory among the managed directories, or a
    file the ownership repair leaves alone that is not the owner's yet. (A user created later gets
    the tree at start, from the same repair: nothing to refuse now.)"""
    linked = dict(tree.linked)
    for directory in paths.managed_dirs():
        if directory in linked:  # `uv venv --clear` empties what a linked venv points to; the repair stops at links
            raise UvUserError("{} is a symlink (to {})".format(directory, shown(linked[directory])),
                              "uv-user never writes through links: remove it from the image and rebuild")
        if directory in tree.not_dirs:
            raise UvUserError("{} is not a directory".format(directory), "remove it from the image and rebuild")
    if not user.exists:
        return
    fix = "remove the link from the image (a copy of the file will do) and rebuild"
    for stranger in tree.strangers:
        if (stranger.uid, stranger.gid) != (user.uid, user.gid):
            raise UvUserError("{} cannot be given to {}: {}: {}".format(
                paths.ROOT, user.name, shown(stranger.path), stranger.why), fix)
    if tree.unlisted:
        raise UvUserError("{} cannot be given to {}: {} of its hard-linked files have names outside it (too "
                          "many entries to list them)".format(paths.ROOT, user.name, tree.unlisted), fix)


def make_plan(options: Options, facts: Facts, files: Sequence[wheels.WheelFile] = (),
              available: Sequence[str] = ()) -> Plan:
    """Everything apply will do, or the one refusal that stops it: preflight's first, then uv's (which may
    need the index's ``files`` and ``available`` versions)."""
    user = preflight(options, facts)
    uv = plan_uv(options, facts, files, available)
    venv = {"absent": "create", "valid": "keep", "broken": "recreate"}[facts.venv_state]
    wanted = {
        CERT_KEYS[0]: "true" if options.system_certs else None,
        "compile-bytecode": "true" if options.compile_bytecode else None,
    }
    texts, notes = candidates(facts.uv_toml, wanted, aliases=[CERT_KEYS])
    if not user.exists:
        notes.append("user {} does not exist yet (a feature that creates it, such as common-utils, installs "
                     "later): {} stays root's until the container starts, when the start-time repair gives it to "
                     "{}".format(user.name, paths.ROOT, user.name))
    elif user.name == "root":
        notes.append("the environment is owned by root: no non-root user was found (set username to choose one)")
    record = {
        "username": user.name,
        # False: the user was created after uv-user installed; the start-time repair resolves the name.
        "user_existed_at_build": user.exists,
        "python": facts.python,
        "uv_version": uv.version,
        "uv": uv.binary,
        "options": {
            "version": options.version.describe(),
            "indexUrl": options.index_url,
            "systemCerts": options.system_certs,
            "compileBytecode": options.compile_bytecode,
            "shellCompletion": options.shell_completion,
            "autoSync": options.auto_sync,
        },
    }
    return Plan(
        user=user,
        uv=uv,
        python=facts.python,
        venv=venv,
        dirs=[d for d in paths.managed_dirs() if d != paths.VENV],  # uv venv makes the env
        uv_toml_texts=texts,
        uv_toml_changed=texts[0] != facts.uv_toml,
        notes=notes,
        completions=options.shell_completion,
        record=record,
    )


def describe(plan: Plan) -> List[str]:
    """The plan as the short list of lines the build log shows."""
    uv = plan.uv
    how = {
        "download": "download {} (sha256 {}...)".format(shown(uv.wheel.filename) if uv.wheel else "?",
                                                        shown(uv.wheel.sha256[:12]) if uv.wheel else ""),
        "keep": "already installed at " + uv.binary,
        "reuse": "reuse the image's " + uv.binary,
    }[uv.action]
    lines = [
        "uv {}: {}".format(uv.version, how),
        "owner: {}".format("{} (uid {}, gid {})".format(plan.user.name, plan.user.uid, plan.user.gid)
                           if plan.user.exists else plan.user.name + " (not created yet: given the tree at start)"),
        "environment {}: {} with {}".format(paths.VENV, plan.venv, plan.python),
        "cache {}, managed Pythons {}, uv tools {} (commands in {})".format(
            paths.CACHE, paths.PYTHONS, paths.TOOLS, paths.TOOL_BIN),
        "uv.toml {}: {}".format(paths.UV_TOML, "update" if plan.uv_toml_changed else "unchanged"),
        "shell completion: {}".format("bash, zsh, fish" if plan.completions else "off"),
        "start-time ownership repair: {}".format(paths.ENTRYPOINT),
    ]
    return lines + ["note: " + n for n in plan.notes]
