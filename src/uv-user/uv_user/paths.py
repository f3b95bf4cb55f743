"""Fixed locations and the rules that keep uv-user inside its own tree.

The layout is fixed because devcontainer-feature.json's containerEnv is static:
it cannot depend on options, so neither can these paths.
"""

from __future__ import annotations

import posixpath

TYPE_CHECKING = False  # typing is for type checkers: importing it costs every start milliseconds
if TYPE_CHECKING:
    from typing import Dict, Tuple

ROOT = "/opt/uv-user"
VENV = ROOT + "/venv"
CACHE = ROOT + "/cache"
PYTHONS = ROOT + "/python"
# uv tools (`uv tool install ruff`): their environments, and the commands they put on PATH. The bin
# directory must not be inside the tool directory: uv takes every directory there for a tool.
TOOLS = ROOT + "/tools"
TOOL_BIN = ROOT + "/bin"


def managed_dirs() -> Tuple[str, ...]:
    """Every directory uv-user creates and keeps the dev user's, the tree's root first (read when
    called, so a test that points the layout at a scratch tree moves them all)."""
    return (ROOT, VENV, CACHE, PYTHONS, TOOLS, TOOL_BIN)

SHARE = "/usr/local/share/uv-user"
RECORD = SHARE + "/install.json"
ENTRYPOINT = SHARE + "/entrypoint.sh"
# Sourced by the container's start shell through the feature's "entrypoint" line (scripts.entrypoint_line).
START_SHELL = SHARE + "/start-shell.sh"
BIN_DIR = "/usr/local/bin"
COMMAND = BIN_DIR + "/uv-user"
UV_TOML = "/etc/uv/uv.toml"
PROFILE_SCRIPT = "/etc/profile.d/uv-user.sh"
# What the last ownership repair did or is still doing (status.py): root's, outside the user's tree.
REPAIR_STATE = "/var/lib/uv-user/repair.json"

# Where anything uv-user runs as root looks for programs. /opt/uv-user/venv/bin comes first on
# every process's PATH (containerEnv) and belongs to the dev user, so root never searches PATH
# as it finds it: only these root-owned system directories.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Where shells look for system-wide completions, by shell.
COMPLETION_FILES = {
    "bash": ("/usr/share/bash-completion/completions/uv", "/usr/share/bash-completion/completions/uvx"),
    "zsh": ("/usr/local/share/zsh/site-functions/_uv", "/usr/local/share/zsh/site-functions/_uvx"),
    "fish": ("/usr/share/fish/vendor_completions.d/uv.fish", "/usr/share/fish/vendor_completions.d/uvx.fish"),
}

# Directories no environment, cache or repair may ever be pointed at: re-owning
# any of them for a user would hand that user the system.
FORBIDDEN = frozenset(
    ["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
     "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local",
     "/usr/local/bin", "/usr/local/lib", "/usr/sbin", "/var", "/workspaces"]
)

# Trees whose every subdirectory is the system's or another user's (/usr/local/share/uv-user holds
# the code root runs at each start; /workspaces/<project> is the user's bind-mounted checkout).
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                "/root", "/run", "/sbin", "/sys", "/usr", "/var", "/workspaces")


def normalize(path: str) -> str:
    """Absolute, without ``..``/``.``/duplicate slashes; symlinks are not resolved."""
    # normpath keeps a leading "//" (POSIX leaves it implementation-defined); Linux reads it as "/".
    return "/" + posixpath.normpath(path).lstrip("/") if path.startswith("/") else ""


def is_within(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or below it, compared lexically."""
    path, root = normalize(path), normalize(root)
    return bool(path) and bool(root) and (path == root or path.startswith(root.rstrip("/") + "/"))


def refusal(path: str, workspace: str = "") -> str:
    """Why uv-user must not manage ``path`` as a user-owned tree, or "" if it may.

    Ownership repair re-owns everything below the path for the dev container user,
    so system directories, home roots and the bind-mounted workspace are refused.
    """
    norm = normalize(path)
    if not norm:
        return "it is not an absolute path"
    if norm in FORBIDDEN:
        return "it is a system directory"
    if workspace and (is_within(norm, workspace) or is_within(workspace, norm)):
        return "it overlaps the workspace " + normalize(workspace)
    inside = next((tree for tree in SYSTEM_TREES if is_within(norm, tree)), "")
    if inside:
        return "it is inside " + inside
    if norm.count("/") < 2:
        return "it is a top-level directory"
    return ""



def relocated(base: str) -> Dict[str, object]:
    """Every place uv-user installs to, or reads at start, moved below ``base`` (like a DESTDIR): name →
    new value. SYSTEM_PATH stays: it says where programs are, not where uv-user writes."""
    base = base.rstrip("/")
    moved: Dict[str, object] = {name: base + value for name, value in globals().items()
                                if name.isupper() and isinstance(value, str) and value.startswith("/")
                                and ":" not in value}
    moved["COMPLETION_FILES"] = {shell: tuple(base + path for path in files)
                                 for shell, files in COMPLETION_FILES.items()}
    return moved


def relocate(base: str) -> None:
    """Apply :func:`relocated`. Only the hidden ``install --prefix`` does, so the tests can run a real
    install into a scratch directory (or a tiny file system) without rewriting this module from outside."""
    globals().update(relocated(base))
