"""The small POSIX shell scripts the feature installs, generated from the layout.

Why they matter for safety: the container's PATH starts with the dev user's
``/opt/uv-user/venv/bin`` for every process, root's included (containerEnv is
static). The dev user can put any program there, so whatever runs as root at
start or in a root shell must not look programs up through that PATH:

- ``entrypoint.sh`` runs at every start (usually as root): it calls programs
  from the system's directories only, and hands over (``exec "$@"``, when used
  as an image's ENTRYPOINT or chained by a tool) without the dev user's tree on
  PATH when it is root.
- ``start-shell.sh`` is *sourced* by the devcontainers CLI's start shell through
  the feature's ``entrypoint`` line. That shell goes on to ``exec "$@"`` (the
  image's command) and a keep-alive loop that runs ``sleep`` from PATH; a script
  it merely ran could not change its PATH, a sourced one can.
- ``/etc/profile.d/uv-user.sh`` puts the environment first in login shells,
  wherever other profile scripts put it, and leaves it off root's PATH unless
  the environment is root's own.

Every function takes the layout as arguments (defaults: :mod:`paths`), so the
unit tests run the real scripts against a scratch tree.
"""

from __future__ import annotations

import shlex

from . import paths


def _q(value: str) -> str:
    return shlex.quote(value)


def path_without(pattern: str, indent: str = "") -> str:
    """Shell that rebuilds PATH without the entries a ``case`` ``pattern`` matches (order otherwise kept)."""
    lines = [
        'uv_user_rest="${PATH}:"',
        "PATH=",
        'while [ -n "${uv_user_rest}" ]; do',
        '    uv_user_dir="${uv_user_rest%%:*}"',
        '    uv_user_rest="${uv_user_rest#*:}"',
        '    case "${{uv_user_dir}}" in {}) ;; *) PATH="${{PATH:+${{PATH}}:}}${{uv_user_dir}}" ;; esac'.format(pattern),
        "done",
        "export PATH",
        "unset uv_user_rest uv_user_dir",
    ]
    return "".join(indent + line + "\n" for line in lines)


def drop_user_tree(root: str = paths.ROOT, indent: str = "    ") -> str:
    """Shell that rebuilds PATH without ``root`` and anything below it (order otherwise kept)."""
    return path_without("{0}|{0}/*".format(_q(root)), indent)


def root_on_user_tree(root: str = paths.ROOT, env: str = paths.VENV) -> str:
    """Shell condition: this shell is root and the tree is not root's own.

    Commands by absolute path only (PATH is not trusted yet); a failing ``id`` counts as root,
    so a broken image errs on the safe side. With remoteUser root the tree is root's, and root
    keeps its environment."""
    return ('[ "$(/usr/bin/id -u 2>/dev/null || /bin/id -u 2>/dev/null || echo 0)" = 0 ] '
            "&& ! {{ [ -O {0} ] && [ -O {1} ]; }}".format(_q(root), _q(env + "/bin")))


def profile(root: str = paths.ROOT, env: str = paths.VENV, cache: str = paths.CACHE,
            pythons: str = paths.PYTHONS, tools: str = paths.TOOLS, tool_bin: str = paths.TOOL_BIN) -> str:
    """/etc/profile.d/uv-user.sh: the environment, then uv tools' commands, first in every login shell
    (root: see above)."""
    return """\
# Installed by the uv-user dev container feature.
# Login shells lose or reorder the container's PATH: Debian's /etc/profile resets it, other
# profile scripts (the devcontainers python feature's 00-restore-env.sh) put their own
# directories first, and `su -` or an ssh login start without the container's environment.
# So the project environment's bin, then uv tools' commands, move to the front here, wherever
# they were, and uv gets the same settings the container's environment gives it (values
# already set win). Root gets them only when the tree is root's own: the dev user can write
# every program in it, so a root login shell must not find them first.
{without_ours}if {root_on_user_tree}; then
{drop}else
    PATH={bin}:{tool_bin}"${{PATH:+:${{PATH}}}}"
    : "${{UV_PROJECT_ENVIRONMENT:={env}}}" "${{VIRTUAL_ENV:={env}}}"
    : "${{UV_CACHE_DIR:={cache}}}" "${{UV_PYTHON_INSTALL_DIR:={pythons}}}"
    : "${{UV_TOOL_DIR:={tools}}}" "${{UV_TOOL_BIN_DIR:={tool_bin}}}"
    export UV_PROJECT_ENVIRONMENT VIRTUAL_ENV UV_CACHE_DIR UV_PYTHON_INSTALL_DIR UV_TOOL_DIR UV_TOOL_BIN_DIR
fi
""".format(bin=_q(env + "/bin"), tool_bin=_q(tool_bin), root_on_user_tree=root_on_user_tree(root, env),
           without_ours=path_without("{}|{}".format(_q(env + "/bin"), _q(tool_bin))),
           drop=drop_user_tree(root), env=env, cache=cache, pythons=pythons, tools=tools)


def entrypoint(user: str, python: str, root: str = paths.ROOT, env: str = paths.VENV,
               command: str = paths.COMMAND, system_path: str = paths.SYSTEM_PATH) -> str:
    """entrypoint.sh: the start-time repair, then ``exec "$@"`` (root: without the user's tree)."""
    return """\
#!/bin/sh
# uv-user: at every container start, give {root} back to the dev container user.
# Never fails a start, and keeps it fast: a fresh volume or a UID remap (the tree's root is
# not the user's) is repaired before the start goes on, bounded in time; otherwise the
# whole-tree check (for what a `sudo uv ...` left) runs beside the start. `uv-user sync`
# (autoSync), `uv-user doctor --fix` and `uv-user repair` repair in the foreground too.
# The container's PATH starts with the dev user's {env}/bin: every program here comes from the
# system's directories, and what this hands over to ("$@") gets PATH without the dev user's
# tree when it runs as root.
uv_user_path="${{PATH}}"
PATH={system_path}
export PATH
want="$(id -u {user} 2>/dev/null):$(id -g {user} 2>/dev/null)"
have="$(stat -c %u:%g {root} 2>/dev/null)"
if [ ! -x {python} ]; then
    echo "uv-user: "{python}" is missing from the image, so ownership of {root} cannot be repaired at start; rebuild the container" >&2
elif [ "${{have}}" != "${{want}}" ]; then
    {command} repair --entrypoint </dev/null
else
    {command} repair --entrypoint </dev/null &
fi
PATH="${{uv_user_path}}"
unset uv_user_path want have
if {root_on_user_tree}; then
{drop}fi
[ "$#" -eq 0 ] || exec "$@"
exit 0
""".format(root=_q(root), env=env, system_path=_q(system_path), user=_q(user), python=_q(python),
           command=_q(command), root_on_user_tree=root_on_user_tree(root, env), drop=drop_user_tree(root))


def start_shell(root: str = paths.ROOT, env: str = paths.VENV, entrypoint_path: str = paths.ENTRYPOINT) -> str:
    """start-shell.sh: sourced by the container's main shell; never exits, fails or leaks variables."""
    return """\
# uv-user: sourced by the dev container's start shell (the feature's "entrypoint" line), which
# then runs the image's command (exec "$@") and a keep-alive `sleep` found on PATH. PATH starts
# with the dev user's {env}/bin: when this shell is root, take the dev user's tree off it.
{entrypoint}
if {root_on_user_tree}; then
{drop}fi
""".format(env=env, entrypoint=_q(entrypoint_path), root_on_user_tree=root_on_user_tree(root, env),
           drop=drop_user_tree(root))


def entrypoint_line(start_shell_path: str = paths.START_SHELL) -> str:
    """The feature's ``entrypoint`` (devcontainer-feature.json): a line of the CLI's start shell.

    The CLI pastes it between its other lines, so it is shell, not a path: it sources
    start-shell.sh, and is a no-op when the file is gone (a failed ``.`` would end the
    container's main shell). No ``$`` or ``"``: the CLI pastes it into compose YAML as well."""
    return "[ ! -r {0} ] || . {0}".format(_q(start_shell_path))


def command(python: str, share: str = paths.SHARE) -> str:
    """/usr/local/bin/uv-user: the image's own python3 by absolute path, never one found on PATH.

    -S: uv-user is stdlib-only, so the image's site-packages (and the code their .pth files run at
    each interpreter start, as root at every container start) are never loaded."""
    return """\
#!/bin/sh
# uv-user command (doctor, repair, sync): runs on the image's own python3, without its site-packages.
exec {python} -E -s -S {script} "$@"
""".format(python=_q(python), script=_q(share + "/uv-user.py"))
