"""The install plan as a pure function of options, image facts and index contents (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uv_user import paths
from uv_user.errors import UvUserError
from uv_user.facts import Stranger, Tree
from uv_user.plan import describe, make_plan, needs_index, plan_uv, preflight
from uv_user.users import Account
from uv_user.uvtoml import MARKER
from uv_user.wheels import Platform

AVAILABLE = ["0.13.8", "0.13.9", "0.14.0rc1"]
FEATURE_OPTIONS = json.loads((Path(__file__).resolve().parents[2] / "src" / "uv-user" / "devcontainer-feature.json")
                             .read_text(encoding="utf-8"))["options"]
OURS = paths.BIN_DIR + "/uv"
X86_WHEEL = "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


# ----------------------------------------------------------------------------- needs_index


@pytest.mark.parametrize("version, installed, expected", [
    ("none", "", False),
    ("none", "0.13.9", False),
    ("0.13.9", "0.13.9", False),
    ("0.13.9", "0.13.8", True),
    ("0.13.9", "", True),
    ("0.13.9", "0.13.9rc1", True),
    ("0.13", "0.13.9", True),  # a newer patch may exist
    ("latest", "0.13.9", True),
])
def test_needs_index_only_when_the_installed_uv_cannot_be_the_answer(make_options, make_facts, version, installed,
                                                                    expected):
    assert needs_index(make_options(version=version), make_facts(installed_version=installed)) is expected


# ----------------------------------------------------------------------------- plan_uv


def test_latest_with_no_uv_downloads_the_newest_release_wheel(make_options, make_facts, index_files):
    step = plan_uv(make_options(), make_facts(), index_files, AVAILABLE)
    assert (step.action, step.version, step.binary) == ("download", "0.13.9", OURS)
    assert step.wheel is not None and step.wheel.filename == X86_WHEEL
    assert len(step.wheel.sha256) == 64


def test_same_version_already_installed_is_kept(make_options, make_facts, index_files):
    step = plan_uv(make_options(), make_facts(installed_version="0.13.9"), index_files, AVAILABLE)
    assert (step.action, step.version, step.binary, step.wheel) == ("keep", "0.13.9", OURS, None)


def test_older_version_installed_is_replaced(make_options, make_facts, index_files):
    step = plan_uv(make_options(version="0.13"), make_facts(installed_version="0.13.8"), index_files, AVAILABLE)
    assert (step.action, step.version) == ("download", "0.13.9")


def test_exact_version_already_installed_is_kept_without_the_index(make_options, make_facts):
    step = plan_uv(make_options(version="0.13.8"), make_facts(installed_version="0.13.8"), [], [])
    assert (step.action, step.version, step.binary) == ("keep", "0.13.8", OURS)


def test_exact_pin_downloads_that_version_even_when_newer_exist(make_options, make_facts, index_files):
    step = plan_uv(make_options(version="0.13.8"), make_facts(installed_version="0.13.9"), index_files, AVAILABLE)
    assert step.action == "download"
    assert step.wheel is not None and step.wheel.filename.startswith("uv-0.13.8-")


def test_musl_image_gets_the_musllinux_wheel(make_options, make_facts, index_files):
    step = plan_uv(make_options(), make_facts(platform=Platform("x86_64", "musl", (1, 2))), index_files, AVAILABLE)
    assert step.wheel is not None and step.wheel.filename == "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl"


def test_version_none_reuses_the_images_uv(make_options, make_facts):
    facts = make_facts(uv_on_path="/usr/bin/uv", uv_on_path_version="0.9.30", installed_version="0.13.9")
    step = plan_uv(make_options(version="none"), facts, [], [])
    assert (step.action, step.version, step.binary, step.wheel) == ("reuse", "0.9.30", "/usr/bin/uv", None)


@pytest.mark.parametrize("uv_on_path, uv_version", [("", ""), ("/usr/bin/uv", "")])
def test_version_none_without_a_working_uv_is_an_error(make_options, make_facts, uv_on_path, uv_version):
    facts = make_facts(uv_on_path=uv_on_path, uv_on_path_version=uv_version)
    with pytest.raises(UvUserError) as caught:
        plan_uv(make_options(version="none"), facts, [], [])
    assert caught.value.line().startswith("uv-user: version is none but no working uv is on PATH")


def test_a_wheel_without_sha256_is_refused(make_options, make_facts, make_wheel):
    files = [make_wheel("0.13.9", "manylinux_2_17_x86_64.manylinux2014_x86_64", sha="")]
    with pytest.raises(UvUserError) as caught:
        plan_uv(make_options(), make_facts(), files, ["0.13.9"])
    assert caught.value.line().startswith("uv-user: the index gives no sha256 for " + X86_WHEEL)


def test_a_version_missing_from_the_index_is_an_error(make_options, make_facts, index_files):
    with pytest.raises(UvUserError, match=r"uv version 0\.12\.\* is not on the index \(newest there: 0\.13\.9\)"):
        plan_uv(make_options(version="0.12"), make_facts(), index_files, AVAILABLE)


# ----------------------------------------------------------------------------- make_plan


@pytest.mark.parametrize("state, action", [("absent", "create"), ("valid", "keep"), ("broken", "recreate")])
def test_venv_state_decides_create_keep_or_recreate(make_options, make_facts, index_files, state, action):
    plan = make_plan(make_options(), make_facts(venv_state=state), index_files, AVAILABLE)
    assert plan.venv == action


def test_plan_owner_dirs_and_record(make_options, make_facts, index_files):
    plan = make_plan(make_options(version="0.13", compileBytecode="true"), make_facts(), index_files, AVAILABLE)
    assert plan.user == Account("vscode", 1000, 1000)
    assert plan.dirs == [paths.ROOT, paths.CACHE, paths.PYTHONS, paths.TOOLS, paths.TOOL_BIN]
    assert plan.python == "/usr/bin/python3"
    assert plan.record == {
        "username": "vscode",
        "user_existed_at_build": True,
        "python": "/usr/bin/python3",
        "uv_version": "0.13.9",
        "uv": OURS,
        "options": {"version": "0.13.*", "indexUrl": "https://pypi.org/simple", "systemCerts": True,
                    "compileBytecode": True, "shellCompletion": True, "autoSync": "lock"},
    }
    # Every option of the JSON is recorded; username as the owner it resolved to.
    assert set(plan.record["options"]) | {"username"} == set(FEATURE_OPTIONS)


def test_plan_uv_toml_gets_our_keys_and_reports_a_change(make_options, make_facts, index_files):
    plan = make_plan(make_options(compileBytecode="true"), make_facts(uv_toml=""), index_files, AVAILABLE)
    assert plan.uv_toml == "system-certs = true  {m}\ncompile-bytecode = true  {m}\n".format(m=MARKER)
    assert plan.uv_toml_changed is True
    # For a uv from before system-certs, the same with native-tls, tried second (apply writes what uv accepts).
    assert plan.uv_toml_texts == [plan.uv_toml,
                                  "native-tls = true  {m}\ncompile-bytecode = true  {m}\n".format(m=MARKER)]


def test_plan_never_respells_a_key_the_user_wrote(make_options, make_facts, index_files):
    """The native-tls text came from str.replace on the whole file: it renamed the user's own line."""
    plan = make_plan(make_options(compileBytecode="true"), make_facts(uv_toml="system-certs = false\n"), index_files,
                     AVAILABLE)
    assert plan.uv_toml_texts == ["compile-bytecode = true  {}\nsystem-certs = false\n".format(MARKER)]


def test_plan_uv_toml_unchanged_when_already_merged(make_options, make_facts, index_files):
    first = make_plan(make_options(), make_facts(), index_files, AVAILABLE)
    again = make_plan(make_options(), make_facts(uv_toml=first.uv_toml), index_files, AVAILABLE)
    assert again.uv_toml == first.uv_toml and again.uv_toml_changed is False


def test_plan_with_every_setting_off_leaves_no_uv_toml(make_options, make_facts, index_files):
    plan = make_plan(make_options(systemCerts="false"), make_facts(), index_files, AVAILABLE)
    assert plan.uv_toml == "" and plan.uv_toml_changed is False


def test_plan_without_python_is_an_error(make_options, make_facts, index_files):
    with pytest.raises(UvUserError, match="no python3 interpreter found"):
        make_plan(make_options(), make_facts(python=""), index_files, AVAILABLE)


def test_plan_for_root_only_images_says_so_in_a_note(make_options, make_facts, index_files):
    facts = make_facts(accounts=[Account("root", 0, 0)], remote_user="")
    plan = make_plan(make_options(), facts, index_files, AVAILABLE)
    assert plan.user.name == "root"
    assert any("owned by root" in note for note in plan.notes)


def test_plan_defers_a_user_created_later_and_never_hands_the_tree_to_root(make_options, make_facts, index_files):
    plan = make_plan(make_options(username="ghost"), make_facts(), index_files, AVAILABLE)
    assert (plan.user.name, plan.user.exists) == ("ghost", False)
    assert plan.record["username"] == "ghost" and plan.record["user_existed_at_build"] is False
    assert "owner: ghost (not created yet: given the tree at start)" in describe(plan)
    assert any(n.startswith("user ghost does not exist yet") for n in plan.notes)
    assert not any("owned by root" in n for n in plan.notes)


def test_plan_defers_a_remote_user_created_later(make_options, make_facts, index_files):
    facts = make_facts()
    facts.remote_user = "dev"
    plan = make_plan(make_options(), facts, index_files, AVAILABLE)
    assert (plan.user.name, plan.user.exists) == ("dev", False)


# ----------------------------------------------------------------------------- describe


def test_describe_a_download_plan(make_options, make_facts, index_files):
    plan = make_plan(make_options(), make_facts(), index_files, AVAILABLE)
    sha = plan.uv.wheel.sha256
    assert describe(plan) == [
        "uv 0.13.9: download {} (sha256 {}...)".format(X86_WHEEL, sha[:12]),
        "owner: vscode (uid 1000, gid 1000)",
        "environment {}: create with /usr/bin/python3".format(paths.VENV),
        "cache {}, managed Pythons {}, uv tools {} (commands in {})".format(paths.CACHE, paths.PYTHONS, paths.TOOLS,
                                                                           paths.TOOL_BIN),
        "uv.toml {}: update".format(paths.UV_TOML),
        "shell completion: bash, zsh, fish",
        "start-time ownership repair: " + paths.ENTRYPOINT,
    ]


def test_describe_keep_and_reuse_and_notes(make_options, make_facts):
    kept = make_plan(make_options(version="0.13.9", shellCompletion="false"),
                     make_facts(installed_version="0.13.9", venv_state="valid"))
    lines = describe(kept)
    assert lines[0] == "uv 0.13.9: already installed at " + OURS
    assert "environment {}: keep with /usr/bin/python3".format(paths.VENV) in lines
    assert "shell completion: off" in lines

    facts = make_facts(uv_on_path="/usr/bin/uv", uv_on_path_version="0.9.30", uv_toml="native-tls = false\n")
    reused = make_plan(make_options(version="none"), facts)
    lines = describe(reused)
    assert lines[0] == "uv 0.9.30: reuse the image's /usr/bin/uv"
    assert "uv.toml {}: unchanged".format(paths.UV_TOML) in lines
    assert lines[-1].startswith("note: kept native-tls")


# ----------------------------------------------------------------------------- what apply would meet halfway

LINK_WHY = "a hard link with 1 of its 2 names outside {}: left alone, since re-owning it would re-own them too".format(
    paths.ROOT)


@pytest.mark.parametrize("tree, line", [
    (Tree(linked=((paths.CACHE, "/srv/cache"),)),
     "{} is a symlink (to /srv/cache); uv-user never writes through links: remove it from the image and rebuild"
     .format(paths.CACHE)),
    (Tree(not_dirs=(paths.TOOL_BIN,)), "{} is not a directory; remove it from the image and rebuild".format(
        paths.TOOL_BIN)),
    (Tree(strangers=(Stranger(paths.VENV + "/x", 0, 0, LINK_WHY),)),
     "{} cannot be given to vscode: {}/x: {}; remove the link from the image (a copy of the file will do) and "
     "rebuild".format(paths.ROOT, paths.VENV, LINK_WHY)),
    (Tree(unlisted=3), "{} cannot be given to vscode: 3 of its hard-linked files have names outside it"
     .format(paths.ROOT)),
])
def test_the_plan_refuses_what_apply_would_meet_halfway(make_options, make_facts, index_files, tree, line):
    with pytest.raises(UvUserError) as caught:
        make_plan(make_options(), make_facts(tree=tree), index_files, AVAILABLE)
    assert caught.value.line().startswith("uv-user: " + line)
    assert caught.value.line().endswith("(nothing was changed)")
    with pytest.raises(UvUserError):
        preflight(make_options(), make_facts(tree=tree))  # the same refusal, with no index at all


def test_the_first_managed_directory_in_the_layout_is_named_first(make_options, make_facts):
    tree = Tree(linked=((paths.TOOLS, "/a"), (paths.VENV, "/b")), not_dirs=(paths.CACHE,))
    with pytest.raises(UvUserError) as caught:
        preflight(make_options(), make_facts(tree=tree))
    assert caught.value.what == "{} is a symlink (to /b)".format(paths.VENV)


def test_a_hard_link_already_the_owners_or_for_a_user_made_later_is_no_reason_to_refuse(make_options, make_facts,
                                                                                       index_files):
    mine = Tree(strangers=(Stranger(paths.VENV + "/x", 1000, 1000, LINK_WHY),))
    assert make_plan(make_options(), make_facts(tree=mine), index_files, AVAILABLE).user.name == "vscode"
    theirs = Tree(strangers=(Stranger(paths.VENV + "/x", 0, 0, LINK_WHY),), unlisted=2)
    later = make_plan(make_options(username="ghost"), make_facts(tree=theirs), index_files, AVAILABLE)
    assert (later.user.name, later.user.exists) == ("ghost", False)  # the start-time repair meets it, not the build
