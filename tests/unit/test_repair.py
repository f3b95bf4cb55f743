"""Start-time ownership repair on a real tree in tmp_path (the chown tests need root)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from uv_user import repair
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
def test_apply_re_owns_every_entry_and_never_follows_links(tree):
    report = repair.apply(repair.scan(str(tree.root), *OWNER))
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


def test_apply_re_owns_exactly_the_mismatches_with_the_wanted_owner(tmp_path):
    root = tmp_path / "uv-user"
    for name in ("a", "b", "c"):
        (root / name).mkdir(parents=True)
    report = repair.Report(str(root), 1000, 1001, scanned=4,
                           mismatches=[repair.Mismatch(str(root / "a"), 0, 0),
                                       repair.Mismatch(str(root / "b"), 5, 5)])
    calls = []
    repair.apply(report, chown_at=lambda fd, name, uid, gid: calls.append((name, uid, gid)))
    assert calls == [("a", 1000, 1001), ("b", 1000, 1001)]
    assert report.changed == 2


def test_apply_tolerates_entries_removed_since_the_scan_and_records_other_failures(tmp_path):
    root = tmp_path / "uv-user"
    for name in ("ro", "ok"):
        (root / name).mkdir(parents=True)
    report = repair.Report(str(root), 1000, 1000,
                           mismatches=[repair.Mismatch(str(root / "gone"), 0, 0),
                                       repair.Mismatch(str(root / "ro"), 0, 0),
                                       repair.Mismatch(str(root / "ok"), 0, 0)])

    def chown_at(fd, name, uid, gid):
        if name == "ro":
            raise PermissionError(1, "Operation not permitted")

    repair.apply(report, chown_at=chown_at)
    assert report.changed == 1
    assert report.errors == ["{}: Operation not permitted".format(root / "ro")]
