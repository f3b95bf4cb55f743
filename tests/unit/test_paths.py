"""The guard that keeps ownership repair and the environment out of system directories."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from uv_user import paths
from uv_user.paths import FORBIDDEN, is_within, refusal


@pytest.mark.parametrize("path", sorted(FORBIDDEN) + ["/usr/", "/etc/.", "/opt/uv-user/..", "/usr/local/../bin",
                                                      "/home/vscode/../", "/workspaces//"])
def test_system_directories_are_refused(path):
    assert refusal(path) == "it is a system directory"


@pytest.mark.parametrize("path", ["", "opt/uv-user", "./opt/uv-user", "~/venv", "."])
def test_relative_paths_are_refused(path):
    assert refusal(path) == "it is not an absolute path"


@pytest.mark.parametrize("path", ["/uv-user", "/data", "/mnt/"])
def test_top_level_directories_are_refused(path):
    assert refusal(path) == "it is a top-level directory"


@pytest.mark.parametrize("path, workspace", [
    ("/workspaces/proj/.venv", "/workspaces/proj"),
    ("/workspaces/proj", "/workspaces/proj/"),
    ("/srv/app", "/srv/app/src"),  # the path contains the workspace
    ("/opt/uv-user", "/opt/uv-user/project"),
])
def test_paths_overlapping_the_workspace_are_refused(path, workspace):
    assert refusal(path, workspace).startswith("it overlaps the workspace ")


@pytest.mark.parametrize("path", ["/opt/uv-user", "/opt/uv-user/venv", "/opt/uv-user/cache/", "/srv/data/env"])
def test_our_own_tree_is_accepted(path):
    assert refusal(path) == ""
    assert refusal(path, "/workspaces/proj") == ""


def test_the_fixed_layout_is_inside_root_and_accepted():
    for directory in (paths.ROOT, paths.VENV, paths.CACHE, paths.PYTHONS):
        assert refusal(directory, "/workspaces/anything") == ""
        assert is_within(directory, paths.ROOT)


def test_is_within_compares_whole_components():
    assert is_within("/opt/uv-user/venv", "/opt/uv-user")
    assert is_within("/opt/uv-user", "/opt/uv-user/")
    assert not is_within("/opt/uv-user-other", "/opt/uv-user")
    assert not is_within("/opt", "/opt/uv-user")
    assert not is_within("relative/path", "relative")


# ----------------------------------------------------------------------------- properties

_SEGMENT = st.sampled_from(["etc", "usr", "opt", "home", "local", "bin", "lib", "uv-user", "workspaces", "tmp",
                            "x", "..", ".", ""])


def lexical_components(path: str):
    """Path components after resolving . and .. by hand (the reference, independent of posixpath)."""
    stack = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if stack:
                stack.pop()
        else:
            stack.append(part)
    return stack


def _assert_never_accepts_system_or_shallow(path: str):
    if refusal(path) == "":
        components = lexical_components(path)
        assert "/" + "/".join(components) not in FORBIDDEN
        assert len(components) >= 2


@settings(deadline=None, max_examples=500)
@given(st.lists(_SEGMENT, max_size=6).map(lambda parts: "/" + "/".join(parts)).filter(lambda p: not p.startswith("//")))
def test_refusal_never_accepts_a_system_or_top_level_directory(path):
    _assert_never_accepts_system_or_shallow(path)


@settings(deadline=None)
@given(st.text(alphabet="/.a", max_size=12).map(lambda p: "/" + p).filter(lambda p: not p.startswith("//")))
def test_refusal_handles_arbitrary_slash_dot_soup(path):
    # A single leading slash here; the next test covers "//".
    _assert_never_accepts_system_or_shallow(path)


@settings(deadline=None)
@given(st.lists(_SEGMENT, max_size=6).map(lambda parts: "//" + "/".join(parts)))
@example("//etc")
def test_refusal_never_accepts_a_system_directory_spelled_with_a_leading_double_slash(path):
    _assert_never_accepts_system_or_shallow(path)
