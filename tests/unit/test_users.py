"""Which account owns the environment."""

from __future__ import annotations

import pytest

from uv_user.errors import UvUserError
from uv_user.users import Account, deferred, resolve

ROOT = Account("root", 0, 0)
DAEMON = Account("daemon", 1, 1)
VSCODE = Account("vscode", 1001, 1001)
NODE = Account("node", 1000, 1000)
CODESPACE = Account("codespace", 1002, 1002)
ALICE = Account("alice", 2000, 2000)
DEV = Account("dev", 1000, 1000)


def test_automatic_takes_the_remote_user_when_it_exists():
    assert resolve("automatic", "alice", [ROOT, VSCODE, ALICE]) == ALICE


def test_automatic_takes_a_remote_root_user_as_asked():
    assert resolve("automatic", "root", [ROOT, VSCODE]) == ROOT


@pytest.mark.parametrize("remote", ["", "x;rm", "$(id)", "4711"])
def test_automatic_without_a_usable_remote_user_prefers_vscode(remote):
    assert resolve("automatic", remote, [ROOT, CODESPACE, NODE, VSCODE]) == VSCODE


def test_automatic_prefers_node_over_codespace():
    assert resolve("automatic", "", [ROOT, CODESPACE, NODE]) == NODE


def test_automatic_takes_codespace_when_it_is_the_only_conventional_user():
    assert resolve("automatic", "", [ROOT, DAEMON, CODESPACE]) == CODESPACE


def test_automatic_falls_back_to_the_uid_1000_user():
    assert resolve("automatic", "", [ROOT, DAEMON, ALICE, DEV]) == DEV


def test_automatic_falls_back_to_root_when_nothing_else_fits():
    assert resolve("automatic", "", [DAEMON, ALICE, ROOT]) == ROOT


@pytest.mark.parametrize("option", ["", "  ", " automatic "])
def test_blank_or_padded_option_means_automatic(option):
    assert resolve(option, "", [ROOT, VSCODE]) == VSCODE


def test_no_accounts_at_all_is_an_error():
    with pytest.raises(UvUserError, match="not even root"):
        resolve("automatic", "", [])


def test_a_remote_user_created_later_is_deferred_not_swapped_for_another():
    """common-utils may create remoteUser after uv-user installed: the tree is theirs at start."""
    found = resolve("automatic", "ghost", [ROOT, VSCODE, DEV])
    assert (found.name, found.exists) == ("ghost", False)
    assert found == deferred("ghost")


def test_a_remote_user_given_as_a_uid_is_found_by_uid():
    assert resolve("automatic", "1000", [ROOT, VSCODE, DEV]) == DEV


def test_explicit_user_wins_over_remote_user_and_conventions():
    assert resolve("alice", "vscode", [ROOT, VSCODE, ALICE]) == ALICE


def test_explicit_root_is_allowed():
    assert resolve("root", "vscode", [ROOT, VSCODE]) == ROOT


def test_explicit_user_missing_from_the_image_is_deferred_to_the_start():
    found = resolve("bob", "vscode", [ROOT, VSCODE])
    assert (found.name, found.uid, found.gid, found.exists) == ("bob", -1, -1, False)


@pytest.mark.parametrize("option", ["bad name", "x;rm", "$(id)", "-rf", "a" * 40, "name\nroot", "../root"])
def test_explicit_invalid_name_is_refused_naming_it(option):
    with pytest.raises(UvUserError) as caught:
        resolve(option, "", [ROOT, VSCODE, Account(option, 5, 5)])
    line = caught.value.line()
    assert line.startswith("uv-user: username ")
    assert repr(option) in line
    assert "is not a valid user name" in line
