"""Start-time ownership repair on a real tree in tmp_path (the chown tests need root)."""

from __future__ import annotations

import json
import os
import pwd
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.common import run
from harness.devcontainer import chown_tree
from uv_user import mounts, privilege, repair, status
from uv_user.errors import UvUserError

needs_root = pytest.mark.root  # chown to other uids; tests/conftest.py skips or fails it when not root

OWNER = (4242, 4242)  # the dev container user the tree must belong to
STRANGER = (12345, 12345)


@dataclass
class Tree:
    root: Path
    outside_file: Path
    outside_dir: Path
    outside_child: Path
    entries: Dict[str, Tuple[int, int]]  # relative path (root is ".") → owner set up
    mismatched: List[str]  # absolute paths expected in the scan

    def owner(self, path: Path) -> Tuple[int, int]:
        st = os.lstat(path)
        return st.st_uid, st.st_gid


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """/…/tree with dirs, files, links out of the tree and a hard link, some owned by strangers.

    Outside the tree: a root-owned file and dir (link targets) that must never change owner.
    """
    outside_file = tmp_path / "outside" / "secret.txt"
    outside_dir = tmp_path / "outside" / "dir"
    outside_dir.mkdir(parents=True)
    outside_file.write_text("root's")
    outside_child = outside_dir / "child"
    outside_child.write_text("also root's")
    for p in (outside_file, outside_dir, outside_child):
        os.lchown(p, 0, 0)

    root = tmp_path / "tree"
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "venv" / "bin" / "python").write_text("#!")
    (root / "cache" / "wheels").mkdir(parents=True)
    (root / "cache" / "wheels" / "data").write_text("x")
    (root / "cache" / "gid-only").write_text("x")
    os.symlink(outside_file, root / "link-to-file")
    os.symlink(outside_dir, root / "link-to-dir")
    os.symlink("venv/bin/python", root / "link-inside")
    os.link(root / "venv" / "bin" / "python", root / "hard-python")

    entries = {
        ".": OWNER,
        "venv": STRANGER,
        "venv/bin": OWNER,
        "venv/bin/python": STRANGER,  # and therefore hard-python too (same inode)
        "hard-python": STRANGER,
        "cache": (0, 0),
        "cache/wheels": OWNER,
        "cache/wheels/data": OWNER,
        "cache/gid-only": (OWNER[0], STRANGER[1]),
        "link-to-file": STRANGER,
        "link-to-dir": OWNER,
        "link-inside": (0, OWNER[1]),
    }
    for rel, (uid, gid) in entries.items():
        os.lchown(root / rel, uid, gid)
    mismatched = sorted(str(root / rel) if rel != "." else str(root)
                        for rel, owner in entries.items() if owner != OWNER)
    return Tree(root, outside_file, outside_dir, outside_child, entries, mismatched)


@needs_root
def test_scan_lists_exactly_the_entries_with_another_owner(tree):
    report = repair.scan(str(tree.root), *OWNER)
    assert sorted(m.path for m in report.mismatches) == tree.mismatched
    assert report.scanned == len(tree.entries)
    assert report.changed == 0 and report.errors == [] and not report.incomplete
    by_path = {m.path: (m.uid, m.gid) for m in report.mismatches}
    assert by_path[str(tree.root / "cache" / "gid-only")] == (OWNER[0], STRANGER[1])
    assert by_path[str(tree.root / "link-to-file")] == STRANGER


@needs_root
def test_scan_changes_nothing(tree):
    repair.scan(str(tree.root), *OWNER)
    assert tree.owner(tree.root / "venv") == STRANGER


@needs_root
def test_scan_does_not_walk_into_a_symlinked_directory(tree):
    os.lchown(tree.outside_child, *STRANGER)
    report = repair.scan(str(tree.root), *OWNER)
    assert not any(m.path.startswith(str(tree.outside_dir)) for m in report.mismatches)
    assert str(tree.root / "link-to-dir" / "child") not in [m.path for m in report.mismatches]


@needs_root
def test_repair_re_owns_every_entry_and_never_follows_links(tree):
    report = repair.repair(str(tree.root), *OWNER)
    # hard-python is venv/bin/python's inode: re-owned with it, so it is not counted twice.
    assert report.changed == len(tree.mismatched) - 1 and report.errors == []
    for rel in tree.entries:
        assert tree.owner(tree.root / rel) == OWNER, rel
    assert tree.owner(tree.outside_file) == (0, 0)
    assert tree.owner(tree.outside_dir) == (0, 0)
    assert tree.owner(tree.outside_child) == (0, 0)


@needs_root
def test_a_second_scan_after_repair_finds_nothing(tree):
    repair.repair(str(tree.root), *OWNER)
    again = repair.scan(str(tree.root), *OWNER)
    assert again.mismatches == []
    assert again.scanned == len(tree.entries)


@needs_root
def test_repair_of_a_tree_already_owned_changes_nothing(tree):
    repair.repair(str(tree.root), *OWNER)
    report = repair.repair(str(tree.root), *OWNER)
    assert (report.changed, report.mismatches, report.errors) == (0, [], [])


# ----------------------------------------------------------------------------- no root needed


def test_a_deadline_in_the_past_marks_the_report_incomplete(tmp_path):
    (tmp_path / "tree" / "a" / "b").mkdir(parents=True)
    report = repair.scan(str(tmp_path / "tree"), os.geteuid(), os.getegid(), deadline=time.monotonic() - 1)
    assert report.incomplete is True
    assert report.scanned == 1  # only the root itself was looked at


def test_no_deadline_means_a_complete_walk(tmp_path):
    (tmp_path / "tree" / "a" / "b").mkdir(parents=True)
    report = repair.scan(str(tmp_path / "tree"), os.geteuid(), os.getegid())
    assert report.incomplete is False and report.scanned == 3


def test_check_root_refuses_a_root_that_is_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(UvUserError) as caught:
        repair.check_root(str(tmp_path / "link"))
    line = caught.value.line()
    assert line.startswith("uv-user: {} is a symlink (to {})".format(tmp_path / "link", tmp_path / "real"))


def test_check_root_refuses_a_missing_root(tmp_path):
    with pytest.raises(UvUserError, match="does not exist; rebuild the container"):
        repair.check_root(str(tmp_path / "missing"))


def test_check_root_refuses_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UvUserError, match="is not a directory"):
        repair.check_root(str(tmp_path / "file"))


@pytest.mark.parametrize("root", ["/", "/etc", "/usr/", "/opt", "relative/tree", "/data"])
def test_check_root_refuses_system_and_top_level_directories(root):
    with pytest.raises(UvUserError) as caught:
        repair.scan(root, 1000, 1000)
    assert caught.value.line().startswith("uv-user: refusing to repair ownership of " + root)


@needs_root
def test_an_entry_that_cannot_be_changed_is_reported_and_the_rest_is_changed(tree, monkeypatch):
    stuck = os.lstat(tree.root / "cache" / "gid-only").st_ino
    real = repair._chown_fd

    def chown_fd(fd, st, uid, gid):
        if st.st_ino == stuck:
            raise PermissionError(1, "Operation not permitted")
        real(fd, st, uid, gid)

    real_at = repair._chown_at

    def chown_at(name, uid, gid, dir_fd, follow_symlinks):  # cache is root's: locked, changed by name
        if os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_ino == stuck:
            raise PermissionError(1, "Operation not permitted")
        real_at(name, uid, gid, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(repair, "_chown_fd", chown_fd)
    monkeypatch.setattr(repair, "_chown_at", chown_at)
    report = repair.repair(str(tree.root), *OWNER)
    assert report.errors == ["{}: Operation not permitted".format(tree.root / "cache" / "gid-only")]
    assert report.error_count == 1 and report.changed == len(tree.mismatched) - 2
    assert tree.owner(tree.root / "cache" / "gid-only") == (OWNER[0], STRANGER[1])
    assert tree.owner(tree.root / "venv" / "bin" / "python") == OWNER


# ----------------------------------------------------------------------------- deep trees, few fds, a deadline


def make_chain(parent: Path, depth: int, name: str = "d", sibling: bool = False) -> None:
    """``depth`` nested directories under ``parent``, each with a file; made through fds, so deeper than PATH_MAX."""
    fd = os.open(str(parent), os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
            if sibling:  # entered after the chain below it: its parent's fd must be there again
                os.mkdir("z-" + name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


@pytest.fixture
def deep(tmp_path: Path) -> Iterator[Path]:
    """tmp/tree for chains deeper than shutil.rmtree's recursion (pytest's cleanup) can remove: rm -rf does."""
    yield tmp_path / "tree"
    run(["rm", "-rf", str(tmp_path / "tree")])


def not_owned_by(root: Path, owner: Tuple[int, int]) -> List[str]:
    """find, not os.walk: any depth."""
    return run(["find", str(root), "(", "!", "-uid", str(owner[0]), "-o", "!", "-gid", str(owner[1]), ")"]
               ).stdout.splitlines()


@needs_root
def test_a_tree_deeper_than_path_max_is_repaired_fully(deep):
    root = deep
    root.mkdir()
    make_chain(root, 250, name="n" * 20)  # 250 × 21 bytes of path: over PATH_MAX (4096)
    chown_tree(root, *STRANGER)
    report = repair.repair(str(root), *OWNER)
    assert (report.errors, report.incomplete) == ([], False)
    assert report.changed == 501 and report.scanned == 501
    assert not_owned_by(root, OWNER) == []


@needs_root
def test_with_few_fds_left_ancestors_are_reached_again_through_dotdot(deep, monkeypatch):
    root = deep
    (root / "cache").mkdir(parents=True)
    (root / "venv").mkdir()
    make_chain(root / "venv", 120, sibling=True)
    for i in range(40):
        (root / "cache" / "g{}".format(i)).write_text("")
    # Hard links between the cache and deep in the chain: counted again with few fds too.
    os.link(str(root / "cache" / "g0"), str(root / "venv" / "d" / "g0"))
    os.link(str(root / "cache" / "g1"), str(root / "venv" / "d" / "d" / "d" / "g1"))
    chown_tree(root, *STRANGER)
    monkeypatch.setattr(repair, "_fd_budget", lambda: (8, None))
    report = repair.repair(str(root), *OWNER)
    assert (report.errors, report.incomplete) == ([], False)
    assert not_owned_by(root, OWNER) == []


@needs_root
def test_a_directory_moved_away_while_its_fd_was_given_back_is_reported_not_followed(deep, monkeypatch,
                                                                                      after_listing):
    root = deep
    (root / "venv").mkdir(parents=True)
    make_chain(root / "venv", 30, sibling=True)
    chown_tree(root, *STRANGER)
    monkeypatch.setattr(repair, "_fd_budget", lambda: (8, None))
    deep = root / "venv" / "d" / "d" / "d" / "d" / "d" / "d" / "d" / "d" / "d" / "d"

    def move_an_ancestor() -> None:
        # venv/d/d's fd was given back to stay in budget. Its child moves out (so the child's ".." is
        # another directory) and it moves too (so its names from the root lead nowhere).
        os.rename(str(root / "venv" / "d" / "d" / "d"), str(root / "venv" / "other"))
        os.rename(str(root / "venv" / "d" / "d"), str(root / "venv" / "gone"))

    after_listing(deep, move_an_ancestor)
    report = repair.repair(str(root), *OWNER)
    assert any("moved while it was being repaired; left for the next repair" in e for e in report.errors), report
    assert repair.repair(str(root), *OWNER).errors == []
    assert not_owned_by(root, OWNER) == []


class FakeClock:
    """What repair sees as time.monotonic(): one second more at each look, so a deadline counts looks."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def uv_shaped(root: Path, chains: int = 6, depth: int = 1000) -> None:
    """An env, a cache with uv's lock files and deep chains (what stalled starts), managed Pythons."""
    site = root / "venv" / "lib" / "python3.11" / "site-packages" / "pkg"
    site.mkdir(parents=True)
    for name in ("__init__.py", "mod.py"):
        (site / name).write_text("")
    (root / "venv" / "pyvenv.cfg").write_text("")
    (root / "venv" / ".lock").write_text("")
    for bucket in ("wheels-v5", "sdists-v9"):
        (root / "cache" / bucket).mkdir(parents=True)
        (root / "cache" / bucket / ".lock").write_text("")
    (root / "cache" / ".lock").write_text("")
    (root / "cache" / "CACHEDIR.TAG").write_text("")
    (root / "python").mkdir()
    (root / "python" / ".lock").write_text("")
    for i in range(chains):
        (root / "cache" / "chain{}".format(i)).mkdir()
        make_chain(root / "cache" / "chain{}".format(i), depth)


@needs_root
def test_at_the_deadline_what_uv_needs_is_already_repaired(deep, monkeypatch):
    root = deep
    uv_shaped(root)
    chown_tree(root, *STRANGER)
    clock = FakeClock()
    monkeypatch.setattr(repair, "time", clock)
    report = repair.repair(str(root), *OWNER, deadline=200.0)  # far too few looks for the chains
    assert report.incomplete
    needed = [root, root / "venv", root / "cache", root / "python", root / "cache" / ".lock",
              root / "cache" / "CACHEDIR.TAG", root / "python" / ".lock"]
    needed += [root / "cache" / b / n for b in ("wheels-v5", "sdists-v9") for n in ("", ".lock")]
    needed += [Path(base) / n for base, dirs, files in os.walk(str(root / "venv")) for n in [""] + dirs + files]
    assert [str(p) for p in needed if os.lstat(str(p))[4:6] != OWNER] == []
    assert not_owned_by(root / "cache" / "chain0", OWNER) != []  # the bound held: the rest was left
    clock.now = -1e9
    assert repair.repair(str(root), *OWNER, deadline=0.0).incomplete is False  # ... for the next repair
    assert not_owned_by(root, OWNER) == []


# ----------------------------------------------------------------------------- which mounts need a look


MOUNTINFO = """\
22 27 0:21 / /proc rw,nosuid - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
45 27 254:0 /var/lib/docker /var/lib/docker rw,relatime - ext4 /dev/vda rw
50 27 0:50 / /opt/uv-user/venv/mnt rw - tmpfs tmpfs rw
51 50 254:0 /srv /opt/uv-user/venv/mnt/srv rw - ext4 /dev/vda rw
100 27 8:1 /volumes/x/_data /opt/uv-user rw - ext4 /dev/sdb1 rw
101 100 0:60 / /opt/uv-user/cache/tmp rw - tmpfs tmpfs rw
102 27 8:1 /volumes/x/_data /srv/same\\040volume rw - ext4 /dev/sdb1 rw
"""


def test_only_bind_mounts_of_the_trees_own_filesystem_below_its_mount_need_each_directory_checked():
    rows = mounts.parse(MOUNTINFO)
    # The tree on a volume (its own mount): a tmpfs below it has another st_dev; a bind of the same
    # volume elsewhere is not below it. Nothing to read per directory.
    assert mounts.same_device_below(rows, 100) == []
    # The tree on the root filesystem: binds of it below, also one stacked on a tmpfs.
    assert [(r.ident, r.mount_point) for r in mounts.same_device_below(rows, 27)] == [
        (45, "/var/lib/docker"), (51, "/opt/uv-user/venv/mnt/srv")]
    assert rows[-1].mount_point == "/srv/same volume"


def linked_tree(tmp_path) -> Path:
    """tree/cache/mod.py hard-linked as tree/mod.py (as uv links its cache into an env), a stranger's."""
    root = tmp_path / "tree"
    (root / "cache").mkdir(parents=True)
    (root / "cache" / "mod.py").write_text("")
    os.link(str(root / "cache" / "mod.py"), str(root / "mod.py"))
    chown_tree(root, *STRANGER)
    return root


@needs_root
def test_without_inotify_hard_links_are_left_alone_and_said_so(tmp_path, monkeypatch):
    root = linked_tree(tmp_path)
    for directory in (root, root / "cache"):  # group-writable: names someone may move, counted the careful way
        os.chmod(str(directory), 0o775)

    class NoInotify:
        def __init__(self) -> None:
            raise OSError(24, "Too many open files")

    monkeypatch.setattr(repair, "_Watcher", NoInotify)
    report = repair.repair(str(root), *OWNER)
    assert (report.changed, report.refused) == (2, 1)  # the root and the cache; not the linked file
    assert report.errors == ["{}: its names could not be counted safely (inotify: Too many open files)".format(
        root / "cache" / "mod.py")] or report.errors == [
        "{}: its names could not be counted safely (inotify: Too many open files)".format(root / "mod.py")]
    assert tuple(os.lstat(str(root / "mod.py"))[4:6]) == STRANGER


@needs_root
def test_hard_links_in_locked_directories_need_no_inotify(tmp_path, monkeypatch):
    # The same tree with its directories 0755 (a remap's): no one but root can move a name while they
    # are root's, so the names are counted as listed.
    root = linked_tree(tmp_path)

    class NoInotify:
        def __init__(self) -> None:
            raise AssertionError("inotify was asked for")

    monkeypatch.setattr(repair, "_Watcher", NoInotify)
    report = repair.repair(str(root), *OWNER)
    assert (report.changed, report.refused, report.errors) == (3, 0, [])
    assert not_owned_by(root, OWNER) == []


# ----------------------------------------------------------------------------- for a user, with a status file


def test_for_a_user_that_does_not_exist_one_line_says_so():
    with pytest.raises(UvUserError) as caught:
        repair.for_user("no-such-user\n", "/opt/uv-user")
    assert caught.value.line() == "uv-user: user 'no-such-user\\n' does not exist in this container (yet, or any " \
                                  "more): create it, rebuild the container, or pass --user NAME (nothing was changed)"


@needs_root
def test_for_user_repairs_with_the_current_uid_and_records_a_plain_status(tmp_path):
    root = tmp_path / "tree"
    (root / "venv").mkdir(parents=True)
    os.lchown(str(root / "venv"), *STRANGER)
    state = tmp_path / "lib" / "uv-user" / "repair.json"
    report = repair.for_user("root", str(root), seconds=5.0, state=str(state))
    assert (report.user, report.uid, report.gid, report.changed, report.complete) == ("root", 0, 0, 1, True)
    assert json.loads(json.dumps(report.as_dict()))["changed"] == 1  # plain data
    recorded = json.loads(state.read_text())
    assert {k: recorded[k] for k in ("state", "pid", "background_pid", "user", "uid", "root", "changed", "scanned",
                                     "error_count", "deadline_seconds", "version")} == {
        "state": "complete", "pid": os.getpid(), "background_pid": 0, "user": "root", "uid": 0, "root": str(root),
        "changed": 1, "scanned": 2, "error_count": 0, "deadline_seconds": 5.0, "version": 1}
    assert os.stat(str(state)).st_uid == 0 and os.stat(str(state.parent)).st_mode & 0o777 == 0o755


@needs_root
def test_the_status_file_is_never_written_through_a_link(tmp_path):
    precious = tmp_path / "precious"
    precious.write_text("keep")
    (tmp_path / "lib").mkdir()
    os.symlink(str(precious), str(tmp_path / "lib" / "repair.json"))
    assert status.write(str(tmp_path / "lib" / "repair.json"), {"state": "complete"}) == ""
    assert precious.read_text() == "keep" and not os.path.islink(str(tmp_path / "lib" / "repair.json"))
    os.symlink(str(tmp_path / "lib"), str(tmp_path / "linked-dir"))
    why = status.write(str(tmp_path / "linked-dir" / "repair.json"), {"state": "complete"})
    assert why.startswith(str(tmp_path / "linked-dir") + ": ")  # ELOOP or ENOTDIR: the link was not followed
    assert sorted(os.listdir(str(tmp_path / "lib"))) == ["repair.json"]
    assert json.loads((tmp_path / "lib" / "repair.json").read_text())["state"] == "complete"
    (tmp_path / "theirs").mkdir()
    os.chown(str(tmp_path / "theirs"), *STRANGER)
    assert status.write(str(tmp_path / "theirs" / "repair.json"), {}) == \
        "{} is not root's alone (owner {}, mode 755)".format(tmp_path / "theirs", STRANGER[0])
    assert os.listdir(str(tmp_path / "theirs")) == []


_PLAIN = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=4), max_leaves=12)


@settings(deadline=None, max_examples=400)
@given(st.dictionaries(st.text(max_size=12), _PLAIN, max_size=8))
@example({"errors": ["bad\udcff\nname", "\x7f\U0001f600"], "seconds": float("inf"), "x": float("nan")})
def test_the_status_file_is_written_as_json_would_write_it(state):
    # status.dumps stands in for json.dumps at every start (json imports re: milliseconds).
    assert status.dumps(state) == json.dumps(state, sort_keys=True)


_JSON_TEXT = st.one_of(_PLAIN.map(lambda value: json.dumps(value, indent=2, sort_keys=True)),
                      _PLAIN.map(json.dumps), st.text(max_size=30),
                      st.text(alphabet='{}[]",: \t\n01eE.-+truefalsnNIiy\\u', max_size=30))


def same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN included


@settings(deadline=None, max_examples=600)
@given(_JSON_TEXT)
@example(json.dumps({"username": "vscode", "options": {"autoSync": "lock"}}, indent=2, sort_keys=True))
@example("\ufeff{}")
@example('{"a": 1} {"b": 2}')
def test_the_install_record_is_read_as_json_loads_reads_it(text):
    # repair.json_loads stands in for json.loads at every start (the json package imports re).
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            repair.json_loads(text)
        return
    assert same(repair.json_loads(text), expected)


def test_not_root_without_sudo_the_repair_says_what_to_run(tmp_path, monkeypatch):
    root = tmp_path / "tree"
    (root / "venv").mkdir(parents=True)
    me = pwd.getpwuid(os.geteuid())
    monkeypatch.setattr(repair, "account", lambda name: (me.pw_uid + 1, me.pw_gid))  # the tree is not "theirs"
    monkeypatch.setattr(repair.os, "geteuid", lambda: me.pw_uid + 1 if me.pw_uid == 0 else me.pw_uid)
    monkeypatch.setattr(privilege, "sudo_works", lambda: False)
    with pytest.raises(UvUserError) as caught:
        repair.for_user("someone", str(root))
    assert "2 entries under {} are not owned by someone".format(root) in caught.value.line()
    assert "without sudo; as root run: uv-user repair" in caught.value.line()
    monkeypatch.setattr(privilege, "sudo_works", lambda: True)
    monkeypatch.setattr(privilege, "as_root", lambda args: [sys.executable, "-c", "import sys; sys.exit(3)"] + args)
    assert repair.for_user("someone", str(root)).delegated == 3
