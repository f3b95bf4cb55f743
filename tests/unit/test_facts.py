"""What facts.gather reads of uv-user's own tree: links, non-directories and files the repair leaves alone."""

from __future__ import annotations

import os

from uv_user import facts, paths


def test_a_linked_venv_is_linked_never_valid_through_the_link(tmp_path, tree_at):
    moved = tree_at(tmp_path / "uv-user")
    real = tmp_path / "elsewhere"
    (real / "bin").mkdir(parents=True)
    (real / "pyvenv.cfg").write_text("home = /usr/bin\n")
    os.symlink("/usr/bin/python3", str(real / "bin" / "python"))
    os.mkdir(moved["ROOT"])
    assert facts.venv_state() == "absent"
    os.symlink(str(real), moved["VENV"])
    assert facts.venv_state() == "linked"
    assert facts.venv_state(str(real)) == "valid"


def test_the_tree_facts_name_links_and_non_directories_in_layout_order(tmp_path, tree_at):
    moved = tree_at(tmp_path / "uv-user")
    os.mkdir(moved["ROOT"])
    os.symlink("/srv/somewhere", moved["TOOLS"])
    os.symlink("/srv/other", moved["CACHE"])
    open(moved["TOOL_BIN"], "w").close()
    tree = facts.tree()
    assert tree.linked == ((moved["CACHE"], "/srv/other"), (moved["TOOLS"], "/srv/somewhere"))
    assert tree.not_dirs == (moved["TOOL_BIN"],)
    assert facts.linked_dirs() == tree.linked


def test_a_file_hard_linked_from_outside_is_a_stranger_with_its_owner(tmp_path, tree_at):
    moved = tree_at(tmp_path / "uv-user")
    os.makedirs(moved["VENV"])
    (tmp_path / "outside").write_text("theirs")
    os.link(str(tmp_path / "outside"), os.path.join(moved["VENV"], "x"))
    os.link(os.path.join(moved["VENV"], "x"), os.path.join(moved["ROOT"], "also-x"))
    os.makedirs(moved["CACHE"])
    os.link(os.path.join(moved["ROOT"], "also-x"), os.path.join(moved["CACHE"], "y"))  # three of its four names inside
    open(os.path.join(moved["CACHE"], "z"), "w").close()
    os.link(os.path.join(moved["CACHE"], "z"), os.path.join(moved["VENV"], "z"))  # every name inside: fine
    tree = facts.tree()
    assert (tree.linked, tree.not_dirs, tree.unlisted) == ((), (), 0)
    st = os.stat(str(tmp_path / "outside"))
    assert sorted(s.path for s in tree.strangers) == sorted([
        os.path.join(moved["VENV"], "x"), os.path.join(moved["ROOT"], "also-x"), os.path.join(moved["CACHE"], "y")])
    assert {(s.uid, s.gid) for s in tree.strangers} == {(st.st_uid, st.st_gid)}
    assert all(s.why.startswith("a hard link with 1 of its 4 names outside " + paths.ROOT) for s in tree.strangers)


def test_a_tree_that_is_not_there_yet_has_nothing_to_say(tmp_path, tree_at):
    tree_at(tmp_path / "uv-user")
    assert facts.tree() == facts.Tree()
