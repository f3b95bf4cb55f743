"""uv-user doctor: each check's pure logic (doctor_checks) on hand-built facts, gathering (doctor) on real
files, then the command on a tmp tree."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

import pytest

from uv_user import doctor, privilege, repair
from uv_user.doctor_checks import (FAIL, OK, WARN, DoctorFacts, Finding, Interpreter, Mount, Ownership, Tool,
                                   Workspace, check_all, check_interpreter, check_link_mode, check_login_path,
                                   check_ownership, check_path, check_project_env, check_root_exposure, check_tools,
                                   check_uv, check_virtual_env, check_volume, check_workspace, markers, mount_at,
                                   parse_mountinfo, pyvenv_home, render, summary)
from uv_user.errors import UvUserError

FEATURE_DIR = Path(__file__).resolve().parents[2] / "src" / "uv-user"
ENV = "/opt/uv-user/venv"


def healthy(**overrides: object) -> DoctorFacts:
    """A container where everything is right: the facts a fresh dev container with the feature shows."""
    facts = DoctorFacts(
        root="/opt/uv-user",
        env={"UV_PROJECT_ENVIRONMENT": ENV, "VIRTUAL_ENV": ENV, "UV_CACHE_DIR": "/opt/uv-user/cache",
             "PATH": ENV + "/bin:/opt/uv-user/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/home/vscode",
             "UV_TOOL_DIR": "/opt/uv-user/tools", "UV_TOOL_BIN_DIR": "/opt/uv-user/bin"},
        python_on_path=ENV + "/bin/python",
        login_python=ENV + "/bin/python",
        user="vscode",
        uid=1000,
        ownership=Ownership(owner="vscode", uid=1000, gid=1000, scanned=812),
        env_dev=42,
        cache_dir="/opt/uv-user/cache",
        cache_dev=42,
        interpreter=Interpreter(ENV, exists=True, python=ENV + "/bin/python", target="/usr/bin/python3.11",
                                resolves=True, has_cfg=True, home="/usr/bin", home_exists=True),
        uv_path="/usr/local/bin/uv",
        uv_version="0.9.30",
        record={"username": "vscode", "uv_version": "0.9.30", "uv": "/usr/local/bin/uv",
                "options": {"version": "latest"}},
        mount=Mount("/opt/uv-user", "ext4", "/dev/sda1"),
        workspaces=[Workspace("/workspaces/app")],
    )
    for name, value in overrides.items():
        setattr(facts, name, value)
    return facts


def with_env(**variables: str) -> DoctorFacts:
    """Healthy facts with some variables changed ("" removes one)."""
    facts = healthy()
    for name, value in variables.items():
        if value:
            facts.env[name] = value
        else:
            facts.env.pop(name, None)
    return facts


def assert_one_line(finding) -> None:
    assert "\n" not in finding.message and "\n" not in finding.fix
    assert finding.message
    if finding.status != OK:
        assert finding.fix, finding


# ----------------------------------------------------------------------------- the whole picture


def test_a_healthy_container_passes_every_check():
    findings = check_all(healthy())
    assert [(f.check, f.status) for f in findings if f.status != OK] == []
    assert [f.check for f in findings] == ["env", "VIRTUAL_ENV", "PATH", "login PATH", "ownership", "link mode",
                                           "interpreter", "uv", "volume", "workspace", "tools", "security"]
    assert summary(findings) == "uv-user: doctor: no problems"


def test_every_finding_is_one_line_with_a_fix_unless_ok():
    broken = healthy(python_on_path="/usr/bin/python", login_python="", uv_path="", mount=None,
                     ownership=Ownership(owner="vscode", uid=1000, gid=1000, mismatches=2, examples=["/a (0:0)"]),
                     workspaces=[Workspace("/w", "dir")], env_dev=1, cache_dev=2)
    broken.env.pop("VIRTUAL_ENV")
    findings = check_all(broken)
    assert {f.status for f in findings} == {OK, WARN, FAIL}
    for finding in findings:
        assert_one_line(finding)


# ----------------------------------------------------------------------------- where the env is


def test_unset_project_environment_fails_and_says_where_uv_would_put_it():
    finding = check_project_env(with_env(UV_PROJECT_ENVIRONMENT=""))
    assert finding.status == FAIL
    assert ".venv in the project" in finding.message
    assert "export UV_PROJECT_ENVIRONMENT=/opt/uv-user/venv" in finding.fix


def test_relative_project_environment_fails_naming_the_value():
    finding = check_project_env(with_env(UV_PROJECT_ENVIRONMENT=".venv-dev"))
    assert finding.status == FAIL
    assert "UV_PROJECT_ENVIRONMENT=.venv-dev is relative" in finding.message


@pytest.mark.parametrize("value", [ENV, ENV + "/", "/opt/uv-user//venv"])
def test_the_default_env_is_ok_however_it_is_spelled(value):
    assert check_project_env(with_env(UV_PROJECT_ENVIRONMENT=value)).status == OK


def test_a_second_env_under_the_root_is_a_warning_pointing_at_uv_run():
    finding = check_project_env(with_env(UV_PROJECT_ENVIRONMENT="/opt/uv-user/envs/api"))
    assert finding.status == WARN
    assert "/opt/uv-user/envs/api" in finding.message and "uv run" in finding.fix


def test_an_env_outside_the_root_warns_it_is_not_on_the_volume():
    finding = check_project_env(with_env(UV_PROJECT_ENVIRONMENT="/home/vscode/venv"))
    assert finding.status == WARN
    assert "not on the volume" in finding.message
    assert "/opt/uv-user/envs/NAME" in finding.fix


def test_virtual_env_agreeing_with_uv_is_ok():
    assert check_virtual_env(healthy()).status == OK
    both = with_env(UV_PROJECT_ENVIRONMENT="/opt/uv-user/envs/api", VIRTUAL_ENV="/opt/uv-user/envs/api/")
    assert check_virtual_env(both).status == OK


def test_virtual_env_pointing_elsewhere_fails_naming_both_paths():
    finding = check_virtual_env(with_env(VIRTUAL_ENV="/workspaces/app/.venv"))
    assert finding.status == FAIL
    assert "VIRTUAL_ENV=/workspaces/app/.venv but uv syncs /opt/uv-user/venv" in finding.message
    assert "deactivate" in finding.fix and "export VIRTUAL_ENV=/opt/uv-user/venv" in finding.fix


def test_unset_virtual_env_is_a_warning():
    finding = check_virtual_env(with_env(VIRTUAL_ENV=""))
    assert finding.status == WARN
    assert finding.fix == "export VIRTUAL_ENV=/opt/uv-user/venv"


# ----------------------------------------------------------------------------- PATH order


def test_another_python_first_on_path_fails_naming_it():
    finding = check_path(healthy(python_on_path="/usr/local/bin/python"))
    assert finding.status == FAIL
    assert "/usr/local/bin/python, not /opt/uv-user/venv/bin/python" in finding.message
    assert "export PATH=/opt/uv-user/venv/bin:$PATH" in finding.fix


def test_a_python_feature_installed_after_uv_user_is_named_with_the_install_order_fix():
    """The devcontainers python feature's ENV PATH lands in front when it installs later."""
    facts = healthy(python_on_path="/usr/local/python/current/bin/python")
    facts.env["PATH"] = "/usr/local/python/current/bin:/usr/local/py-utils/bin:" + facts.env["PATH"]
    finding = check_path(facts)
    assert finding.status == FAIL
    assert ("/usr/local/python/current/bin comes before /opt/uv-user/venv/bin on PATH (the devcontainers python "
            "feature or image)") in finding.message
    assert '"overrideFeatureInstallOrder"' in finding.fix and "export PATH=/opt/uv-user/venv/bin:$PATH" in finding.fix


def test_a_profile_file_that_puts_another_python_first_is_named_in_the_message_and_the_fix():
    facts = healthy(python_on_path="/opt/conda/bin/python",
                    path_sources={"/opt/conda/bin": ["/etc/profile.d/zz-conda.sh", "/home/vscode/.bashrc"]})
    facts.env["PATH"] = "/opt/conda/bin:" + facts.env["PATH"]
    finding = check_path(facts)
    assert ("/opt/conda/bin comes before /opt/uv-user/venv/bin on PATH (conda (the devcontainers conda feature or "
            "a conda image); named in /etc/profile.d/zz-conda.sh, /home/vscode/.bashrc)") in finding.message
    assert finding.fix.startswith("/etc/profile.d/zz-conda.sh, /home/vscode/.bashrc put it first")


def test_an_unknown_directory_is_said_to_be_unknown():
    facts = healthy(python_on_path="/srv/py/bin/python")
    facts.env["PATH"] = "/usr/bin:/bin:/srv/py/bin"
    finding = check_path(facts)
    assert "/srv/py/bin is on PATH and the env's bin is not (not set by any profile file uv-user knows" \
        in finding.message


def test_a_login_shell_reordered_by_a_dotfile_names_it():
    facts = healthy(login_python="/home/vscode/.pyenv/shims/python",
                    login_path="/home/vscode/.pyenv/shims:/opt/uv-user/venv/bin:/usr/bin",
                    path_sources={"/home/vscode/.pyenv/shims": ["/home/vscode/.bashrc"]})
    finding = check_login_path(facts)
    assert finding.status == FAIL
    assert "/home/vscode/.pyenv/shims comes before /opt/uv-user/venv/bin on PATH (pyenv; named in " \
        "/home/vscode/.bashrc)" in finding.message
    assert finding.fix == ("/home/vscode/.bashrc puts it first after /etc/profile.d/uv-user.sh: end it with "
                           "export PATH=/opt/uv-user/venv/bin:$PATH")


def test_a_hostile_python_path_is_shown_escaped():
    facts = healthy(python_on_path="/tmp/x\nuv-user: forged/python")
    facts.env["PATH"] = "/tmp/x\nuv-user: forged:" + facts.env["PATH"]
    finding = check_path(facts)
    assert "\n" not in finding.message and "\\n" in finding.message


def test_no_python_on_path_fails():
    finding = check_path(healthy(python_on_path=""))
    assert finding.status == FAIL and "no `python` on PATH" in finding.message


def test_the_project_envs_python_first_is_fine_too():
    facts = with_env(UV_PROJECT_ENVIRONMENT="/opt/uv-user/envs/api")
    facts.python_on_path = "/opt/uv-user/envs/api/bin/python"
    assert check_path(facts).status == OK


def test_a_broken_env_python_is_blamed_rather_than_path():
    it = replace(healthy().interpreter, resolves=False, target="/usr/bin/python3.99")
    finding = check_path(healthy(python_on_path="", interpreter=it))
    assert finding.status == FAIL
    assert finding.message == "`python` on PATH is missing: the env's own bin/python is broken"
    assert "interpreter" in finding.fix


def test_login_shell_not_checked_without_bash():
    finding = check_login_path(healthy(login_python=None))
    assert finding.status == OK and "not checked" in finding.message


def test_login_shell_reset_by_a_profile_points_at_the_users_profile():
    finding = check_login_path(healthy(login_python="/usr/bin/python"))
    assert finding.status == FAIL
    assert "in a login shell" in finding.message
    assert "~/.bash_profile" in finding.fix


def test_login_shell_without_the_profile_script_says_rebuild():
    finding = check_login_path(healthy(login_python="/usr/bin/python", profile_script=False))
    assert finding.status == FAIL
    assert finding.fix.startswith("rebuild the container") and "/etc/profile.d/uv-user.sh" in finding.fix


# ----------------------------------------------------------------------------- uv tools


def test_tools_on_the_volume_and_on_path_are_listed():
    facts = healthy(tools=[Tool("ruff", "/usr/bin/python3.11", True, "3.11", "3.11"),
                           Tool("pycowsay", "/usr/bin/python3.11", True, "3.11", "3.11")])
    finding = check_tools(facts)
    assert finding.status == OK
    assert finding.message == "2 uv tools in /opt/uv-user/tools, commands on PATH: ruff, pycowsay"


def test_no_tools_yet_is_fine():
    assert check_tools(healthy()).status == OK


def test_the_tool_bin_missing_from_path_is_a_warning_with_the_export():
    facts = healthy()
    facts.env["PATH"] = ENV + "/bin:/usr/bin:/bin"
    finding = check_tools(facts)
    assert finding.status == WARN and "/opt/uv-user/bin (where `uv tool install` puts commands)" in finding.message
    assert finding.fix.startswith("export PATH=/opt/uv-user/bin:$PATH")


def test_tools_broken_by_a_new_base_image_are_named_with_the_commands_that_fix_them():
    """bookworm (3.11) -> trixie (3.13) with the volume kept: /usr/bin/python3 is another version now."""
    facts = healthy(tools=[Tool("pycowsay", "/usr/bin/python3.13", True, "3.11", "3.13"),
                           Tool("ruff", "/usr/local/bin/python3.12", False, "3.12", "", options=True),
                           Tool("ok", "/usr/bin/python3.13", True, "3.13", "3.13")])
    finding = check_tools(facts)
    assert finding.status == WARN
    assert finding.message == ("2 of 3 uv tools no longer run: pycowsay (made with Python 3.11, its python is now "
                               "3.13), ruff (its python /usr/local/bin/python3.12 is gone)")
    assert finding.fix == ("uv tool uninstall pycowsay && uv tool install pycowsay; uv tool uninstall ruff && "
                           "uv tool install ruff (repeat the --with/--python options you installed them with)")


def test_gather_tools_reads_receipts_and_links_without_running_anything(tmp_path):
    tools = tmp_path / "tools"
    good = tools / "good"
    (good / "bin").mkdir(parents=True)
    os.symlink(os.path.realpath(sys.executable), str(good / "bin" / "python"))
    major, minor = sys.version_info[:2]
    (good / "pyvenv.cfg").write_text("home = /x\nversion_info = {}.{}.1\n".format(major, minor))
    (good / "uv-receipt.toml").write_text('[tool]\nrequirements = [{ name = "good" }]\n')
    gone = tools / "gone"
    (gone / "bin").mkdir(parents=True)
    os.symlink("/nonexistent/python3.11", str(gone / "bin" / "python"))
    (gone / "pyvenv.cfg").write_text("version = 3.11.2\n")
    (gone / "uv-receipt.toml").write_text('[tool]\nrequirements = [{ name = "gone" }, { name = "six" }]\n')
    (tools / "not-a-tool").mkdir()
    found = doctor.gather_tools(str(tools))
    assert [t.name for t in found] == ["gone", "good"]
    assert (found[0].resolves, found[0].python, found[0].made_with, found[0].options) == (
        False, "/nonexistent/python3.11", "3.11", True)
    expected_now = "{}.{}".format(major, minor) if doctor._VERSION_NAME.search(found[1].python) else ""
    assert (found[1].resolves, found[1].made_with, found[1].now, found[1].options) == (
        True, "{}.{}".format(major, minor), expected_now, False)
    assert doctor.gather_tools(str(tmp_path / "missing")) == []


# ----------------------------------------------------------------------------- root and the dev user's bin


def test_a_dev_user_without_sudo_in_a_root_container_is_warned_where_root_shells_look():
    finding = check_root_exposure(healthy(pid1_uid=0, can_sudo=False))
    assert finding.status == WARN
    assert "has no sudo" in finding.message and "/opt/uv-user/venv/bin" in finding.message
    assert "-e PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in finding.fix
    assert "Security" in finding.fix


@pytest.mark.parametrize("overrides", [
    {"pid1_uid": 0, "can_sudo": True},   # the user can become root anyway: nothing to gain
    {"pid1_uid": 1000, "can_sudo": False},  # the container runs as the user (the seed's USER moby)
    {"pid1_uid": None, "can_sudo": False},  # unknown
])
def test_no_security_warning_where_it_does_not_matter(overrides):
    assert check_root_exposure(healthy(**overrides)).status == OK


def test_root_with_the_dev_users_bin_on_path_is_warned():
    facts = healthy(uid=0, user="root")
    finding = check_root_exposure(facts)
    assert finding.status == WARN
    assert finding.message.startswith("you are root and PATH starts with /opt/uv-user/venv/bin, which vscode can")
    assert "`uv-user sync` runs uv as vscode" in finding.fix and "-e PATH=" in finding.fix


def test_root_with_its_own_env_or_a_clean_path_is_fine():
    own = healthy(uid=0, user="root", ownership=Ownership(owner="root", uid=0, gid=0, scanned=3))
    assert check_root_exposure(own).status == OK
    clean = healthy(uid=0, user="root")
    clean.env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    assert check_root_exposure(clean).status == OK


def test_a_uv_root_did_not_run_is_a_warning_not_a_failure():
    finding = check_uv(healthy(uid=0, uv_path="/opt/uv-user/venv/bin/uv", uv_version="", uv_not_run=True))
    assert finding.status == WARN and "does not run it as root" in finding.message


# ----------------------------------------------------------------------------- ownership


def mismatched(count: int, **more: object) -> DoctorFacts:
    examples = ["/opt/uv-user/venv/f{} (0:0)".format(i) for i in range(min(count, 3))]
    return healthy(ownership=Ownership(owner="vscode", uid=1000, gid=1000, scanned=900, mismatches=count,
                                       examples=examples), **more)


def test_mismatches_fail_with_the_count_and_first_examples():
    finding = check_ownership(mismatched(7, can_sudo=True))
    assert finding.status == FAIL
    assert finding.message.startswith("7 entries under /opt/uv-user are not owned by vscode (1000:1000), e.g. ")
    assert "/opt/uv-user/venv/f0 (0:0), /opt/uv-user/venv/f1 (0:0), /opt/uv-user/venv/f2 (0:0)" in finding.message
    assert "uv-user doctor --fix" in finding.fix and "sudo -n" in finding.fix
    assert finding.repairable


def test_one_mismatch_reads_in_the_singular():
    assert check_ownership(mismatched(1)).message.startswith("1 entry under /opt/uv-user is not owned")


def test_without_sudo_the_fix_says_what_to_run_as_root():
    finding = check_ownership(mismatched(2, can_sudo=False))
    assert "vscode has no sudo" in finding.fix
    assert "docker exec -u root <container> uv-user repair" in finding.fix
    assert not finding.repairable  # --fix would need sudo


def test_as_root_the_fix_is_the_repair_itself():
    finding = check_ownership(mismatched(2, uid=0, user="root"))
    assert finding.fix == "run `uv-user doctor --fix` (or `uv-user repair`)"
    assert finding.repairable


def test_a_tree_that_cannot_be_scanned_fails_with_its_own_fix():
    facts = healthy(ownership=Ownership(problem="/opt/uv-user is a symlink (to /etc)",
                                        problem_fix="remove it and rebuild"))
    finding = check_ownership(facts)
    assert (finding.status, finding.message, finding.fix) == (FAIL, "/opt/uv-user is a symlink (to /etc)",
                                                              "remove it and rebuild")


def test_an_unfinished_scan_is_a_warning():
    facts = healthy(ownership=Ownership(owner="vscode", uid=1000, gid=1000, scanned=50000, incomplete=True))
    finding = check_ownership(facts)
    assert finding.status == WARN and "50000 entries" in finding.message
    assert "uv-user repair --dry-run" in finding.fix


def test_entries_the_scan_could_not_read_are_a_warning_naming_the_first():
    own = Ownership(owner="vscode", uid=1000, gid=1000, scanned=812, unreadable=2,
                    unreadable_example="/opt/uv-user/venv/secret: Permission denied")
    finding = check_ownership(healthy(ownership=own))
    assert finding.status == WARN
    assert finding.message == ("checked 812 entries under /opt/uv-user, all owned by vscode (1000:1000), but 2 could "
                               "not be read, e.g. /opt/uv-user/venv/secret: Permission denied")
    assert finding.fix.startswith("as root, `uv-user repair --dry-run` checks them too")
    assert check_ownership(healthy(ownership=own, uid=0, user="root")).fix == \
        "run `uv-user repair --dry-run` to check them again"


def test_the_scan_is_summarised_with_every_error_counted(monkeypatch):
    report = repair.Report("/opt/uv-user", 0, 0, scanned=40, mismatched=5, error_count=25,
                           errors=["/opt/uv-user/a\\n: Permission denied"] + ["x: y"] * 19,
                           mismatches=[repair.Mismatch("/opt/uv-user/f{}".format(i), 0, 0) for i in range(5)])
    monkeypatch.setattr(repair, "scan", lambda *args: report)
    own = doctor.gather_ownership("/opt/uv-user", {"username": pwd.getpwuid(os.geteuid()).pw_name})
    assert (own.scanned, own.mismatches, own.unreadable) == (40, 5, 25)
    assert own.unreadable_example == "/opt/uv-user/a\\n: Permission denied"
    assert own.examples == ["/opt/uv-user/f0 (0:0)", "/opt/uv-user/f1 (0:0)", "/opt/uv-user/f2 (0:0)"]


def test_working_as_another_user_than_the_owner_is_a_warning():
    finding = check_ownership(healthy(user="node", uid=1001))
    assert finding.status == WARN
    assert "you are node (1001) but /opt/uv-user belongs to vscode (1000:1000)" in finding.message
    assert '"username": "node"' in finding.fix


def test_root_may_look_at_a_tree_it_does_not_own():
    assert check_ownership(healthy(user="root", uid=0)).status == OK


# ----------------------------------------------------------------------------- hardlinks


def test_env_and_cache_on_different_filesystems_warn_about_the_copy_fallback():
    finding = check_link_mode(healthy(cache_dir="/home/vscode/.cache/uv", cache_dev=7))
    assert finding.status == WARN
    assert "different filesystems" in finding.message and "Failed to hardlink" in finding.message
    assert "UV_CACHE_DIR=/opt/uv-user/cache" in finding.fix and "UV_LINK_MODE=copy" in finding.fix


@pytest.mark.parametrize("variables", [{"UV_LINK_MODE": "copy"}, {"UV_LINK_MODE": "clone"}, {"UV_NO_CACHE": "1"}])
def test_no_hardlinks_wanted_means_nothing_to_warn_about(variables):
    facts = with_env(**variables)
    facts.cache_dev = 7
    assert check_link_mode(facts).status == OK


def test_an_explicit_hardlink_mode_is_still_checked():
    facts = with_env(UV_LINK_MODE="hardlink")
    facts.cache_dev = 7
    assert check_link_mode(facts).status == WARN


# ----------------------------------------------------------------------------- interpreter link


def test_a_dangling_interpreter_link_fails_naming_its_target():
    it = Interpreter(ENV, exists=True, python=ENV + "/bin/python", target="/usr/local/bin/python3.12",
                     resolves=False, has_cfg=True, home="/usr/local/bin", home_exists=False)
    finding = check_interpreter(healthy(interpreter=it))
    assert finding.status == FAIL
    assert "points to /usr/local/bin/python3.12, which is gone" in finding.message
    assert "uv sync" in finding.fix and "uv venv --clear /opt/uv-user/venv" in finding.fix


def test_a_missing_pyvenv_cfg_or_home_fails():
    base = healthy().interpreter
    assert "pyvenv.cfg is missing" in check_interpreter(healthy(interpreter=replace(base, has_cfg=False))).message
    finding = check_interpreter(healthy(interpreter=replace(base, home="/gone", home_exists=False)))
    assert finding.status == FAIL and "names home /gone" in finding.message


def test_no_env_yet_is_only_a_warning():
    finding = check_interpreter(healthy(interpreter=Interpreter(ENV)))
    assert finding.status == WARN and "uv sync" in finding.fix


# ----------------------------------------------------------------------------- uv


def test_uv_as_installed_is_ok_and_names_the_version_option():
    finding = check_uv(healthy())
    assert finding.status == OK
    assert finding.message == "uv 0.9.30 at /usr/local/bin/uv, as installed (version option: latest)"


def test_missing_or_broken_uv_fails():
    assert check_uv(healthy(uv_path="")).status == FAIL
    finding = check_uv(healthy(uv_version=""))
    assert finding.status == FAIL and "does not run" in finding.message


def test_another_uv_first_on_path_is_named():
    finding = check_uv(healthy(uv_path="/home/vscode/.local/bin/uv", uv_version="0.4.0"))
    assert finding.status == WARN
    assert "uv 0.4.0 at /home/vscode/.local/bin/uv, but the feature installed uv 0.9.30" in finding.message
    assert "remove /home/vscode/.local/bin/uv" in finding.fix


def test_a_uv_replaced_in_place_suggests_a_rebuild_or_pinning():
    finding = check_uv(healthy(uv_version="0.9.31"))
    assert finding.status == WARN and "rebuild" in finding.fix and '"version"' in finding.fix


def test_a_missing_install_record_is_a_warning():
    finding = check_uv(healthy(record={}, record_problem="/usr/local/share/uv-user/install.json is missing"))
    assert finding.status == WARN and "install.json is missing" in finding.message


# ----------------------------------------------------------------------------- volume


def test_no_mount_warns_that_a_rebuild_loses_the_env():
    finding = check_volume(healthy(mount=None))
    assert finding.status == WARN and "lost on rebuild" in finding.message


def test_a_tmpfs_warns_that_a_stop_empties_it():
    finding = check_volume(healthy(mount=Mount("/opt/uv-user", "tmpfs", "tmpfs")))
    assert finding.status == WARN and "postStartCommand" in finding.fix


def test_unreadable_mountinfo_is_not_a_problem():
    assert check_volume(healthy(mount=None, mountinfo_read=False)).status == OK


MOUNTINFO = """\
22 1 0:21 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/x
35 22 8:1 /var/lib/docker/volumes/uv-user-abc/_data /opt/uv-user rw,relatime - ext4 /dev/sda1 rw
36 22 8:1 /home/me/my\\040project /workspaces/my\\040project rw - ext4 /dev/sda1 rw
37 22 0:50 / /opt/uv-user rw - tmpfs tmpfs rw
garbage line
"""


def test_mountinfo_is_parsed_with_escapes_and_the_last_mount_wins():
    mounts = parse_mountinfo(MOUNTINFO)
    assert len(mounts) == 4
    assert mounts[2].mount_point == "/workspaces/my project"
    assert mount_at(mounts, "/opt/uv-user/") == Mount("/opt/uv-user", "tmpfs", "tmpfs")
    assert mount_at(mounts[:2], "/opt/uv-user").fstype == "ext4"
    assert mount_at(mounts, "/opt") is None


def test_pyvenv_home_is_read_from_the_cfg_text():
    assert pyvenv_home("home = /usr/local/bin\nversion_info = 3.12.1\n") == "/usr/local/bin"
    assert pyvenv_home("HOME=/usr/bin") == "/usr/bin"
    assert pyvenv_home("version = 3.8\n") == ""


# ----------------------------------------------------------------------------- stray .venv


def test_a_stray_venv_dir_is_a_warning_with_the_command_to_remove_it():
    finding = check_workspace(healthy(workspaces=[Workspace("/workspaces/app", "dir")]))
    assert finding.status == WARN
    assert finding.message.startswith("/workspaces/app/.venv exists: uv ignores it")
    assert "rm -rf /workspaces/app/.venv" in finding.fix


def test_a_venv_link_to_the_env_is_deliberate_and_fine():
    link = Workspace("/workspaces/app", "link", "/opt/uv-user/venv")
    assert check_workspace(healthy(workspaces=[link])).status == OK
    elsewhere = Workspace("/workspaces/app", "link", "/home/me/venvs/app")
    assert check_workspace(healthy(workspaces=[elsewhere])).status == WARN


def test_every_stray_venv_is_named():
    finding = check_workspace(healthy(workspaces=[Workspace("/w", "dir"), Workspace("/w/api", "file"),
                                                  Workspace("/w/web")]))
    assert "/w/.venv, /w/api/.venv exists" in finding.message


# ----------------------------------------------------------------------------- output


def test_a_single_failure_summary_names_the_problem_and_its_fix():
    findings = check_all(healthy(python_on_path="/usr/bin/python"))
    line = summary(findings)
    assert line.startswith("uv-user: PATH: `python` on PATH is /usr/bin/python")
    assert "; fix: " in line and "`export PATH=/opt/uv-user/venv/bin:$PATH`" in line
    assert "\n" not in line


def test_several_failures_are_listed_and_fix_is_offered_only_when_it_helps():
    findings = check_all(mismatched(3, python_on_path="", can_sudo=True))
    line = summary(findings)
    assert line.startswith("uv-user: 2 checks failed (PATH, ownership)")
    assert "`uv-user doctor --fix` repairs ownership" in line
    no_repair = summary(check_all(healthy(python_on_path="", uv_path="")))
    assert "doctor --fix" not in no_repair


def test_the_summary_offers_fix_for_repairable_findings_whatever_their_text():
    said_only = [Finding("a", FAIL, "broken", "run `uv-user doctor --fix`"), Finding("b", FAIL, "broken", "x")]
    assert "doctor --fix" not in summary(said_only)
    flagged = [Finding("a", FAIL, "broken", "x", repairable=True), Finding("b", FAIL, "broken", "x")]
    assert summary(flagged).endswith("apply each fix shown above (`uv-user doctor --fix` repairs ownership)")


def test_warnings_alone_pass_and_are_counted():
    line = summary(check_all(healthy(mount=None, workspaces=[Workspace("/w", "dir")])))
    assert line == "uv-user: doctor: no problems (2 warnings: volume, workspace)"


def test_markers_fall_back_to_ascii():
    assert markers("utf-8")[OK] == "\u2713"
    assert markers("ascii") == {OK: "ok", WARN: "!!", FAIL: "XX"}
    assert markers(None) == markers("ascii")


def test_render_prints_fix_lines_only_for_problems():
    lines = render(check_all(healthy(python_on_path="/usr/bin/python")), markers("ascii"))
    assert lines[2].startswith("XX PATH: ")
    assert lines[3].startswith("    fix: ") and "export PATH=" in lines[3]
    assert sum(1 for line in lines if "fix:" in line) == 1


# ----------------------------------------------------------------------------- gathering on real files


def test_workspace_candidates(tmp_path):
    project = tmp_path / "proj"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname='p'\n")
    deep = str(project / "src" / "pkg")
    assert doctor.workspace_candidates("rel", {}, deep) == [os.path.abspath("rel")]
    assert doctor.workspace_candidates("", {}, deep) == [deep, str(project)]
    assert doctor.workspace_candidates("", {"CONTAINER_WORKSPACE_FOLDER": str(tmp_path)}, str(project)) == [
        str(tmp_path), str(project)]


def test_gather_workspace_tells_dirs_files_and_links_apart(tmp_path):
    kinds = {}
    for name, make in (("none", None), ("dir", "dir"), ("file", "file"), ("link", "link")):
        ws = tmp_path / name
        ws.mkdir()
        if make == "dir":
            (ws / ".venv").mkdir()
        elif make == "file":
            (ws / ".venv").write_text("")
        elif make == "link":
            os.symlink(str(tmp_path), str(ws / ".venv"))
        found = doctor.gather_workspace(str(ws))
        kinds[name] = (found.venv, found.link_target)
    assert kinds == {"none": ("absent", ""), "dir": ("dir", ""), "file": ("file", ""),
                     "link": ("link", os.path.realpath(str(tmp_path)))}


def test_gather_interpreter_sees_a_dangling_link(tmp_path):
    env = tmp_path / "venv"
    (env / "bin").mkdir(parents=True)
    os.symlink("/nonexistent/python3.12", str(env / "bin" / "python"))
    (env / "pyvenv.cfg").write_text("home = /nonexistent\n")
    it = doctor.gather_interpreter(str(env))
    assert (it.exists, it.resolves, it.target, it.has_cfg, it.home, it.home_exists) == (
        True, False, "/nonexistent/python3.12", True, "/nonexistent", False)
    assert check_interpreter(healthy(interpreter=it)).status == FAIL


def test_gather_path_sources_finds_files_naming_a_directory(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text('export PATH="$HOME/.pyenv/shims:$PATH"\n')
    (home / ".profile").write_text("# nothing\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "00-restore-env.sh").write_text("export PATH=/usr/local/python/current/bin:$PATH\n")
    (etc / "uv-user.sh").write_text("export PATH=/opt/uv-user/venv/bin:/usr/local/python/current/bin:$PATH\n")
    monkeypatch.setattr(doctor, "PROFILE_FILES", (str(etc / "*.sh"), "~/.profile", "~/.bashrc"))
    found = doctor.gather_path_sources([str(home / ".pyenv/shims"), "/usr/local/python/current/bin", "/srv"],
                                       str(home), str(etc / "uv-user.sh"))
    assert found == {str(home / ".pyenv/shims"): [str(home / ".bashrc")],
                     "/usr/local/python/current/bin": [str(etc / "00-restore-env.sh")]}


def test_the_install_record_is_read_or_said_to_be_missing_or_unreadable(tmp_path, monkeypatch):
    monkeypatch.setattr(privilege, "sudo_works", lambda: False)
    (tmp_path / "root").mkdir()
    record = tmp_path / "install.json"
    files = doctor.InstallFiles(str(record), str(tmp_path / "uv-user.sh"), str(tmp_path / "repair.json"))

    def gathered() -> DoctorFacts:
        return doctor.gather(str(tmp_path / "root"), {"PATH": str(tmp_path)}, [], files, login_shell=False)

    assert (gathered().record, gathered().record_problem) == ({}, "{} is missing".format(record))
    assert gathered().ownership.problem == "no owner recorded in {}".format(record)
    for text in (b"[]", b"{", b'{"username": "\xff"}'):
        record.write_bytes(text)
        assert (gathered().record, gathered().record_problem) == ({}, "{} is unreadable".format(record))
    record.write_text(json.dumps({"username": "nobody-here", "uv_version": "0.9.30"}))
    facts = gathered()
    assert (facts.record["uv_version"], facts.record_problem) == ("0.9.30", "")
    assert facts.login_python is None and facts.profile_script is False


def test_login_python_reads_python_and_path_from_a_login_bash(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    (tmp_path / ".bash_profile").write_text('echo noise; PATH="/srv/first:$PATH"\n')
    python, path = doctor.login_python(env)
    assert path.startswith("/srv/first:")
    assert python in ("", "/usr/bin/python", "/bin/python")


def test_cache_dir_follows_uvs_order():
    assert doctor.cache_dir({"UV_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}) == "/c"
    assert doctor.cache_dir({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == "/x/uv"
    assert doctor.cache_dir({"HOME": "/h"}) == "/h/.cache/uv"


def test_nearest_dev_uses_the_closest_existing_parent(tmp_path):
    assert doctor._nearest_dev(str(tmp_path / "not" / "yet")) == os.stat(str(tmp_path)).st_dev


# ----------------------------------------------------------------------------- the command on a tmp tree


def make_tree(tmp_path: Path, fake_uv) -> Dict[str, object]:
    """/…/root with a working venv (linked to this python), a record naming the current user, a profile
    script, a place for the repair's status file, a workspace."""
    root = tmp_path / "root"
    env = root / "venv"
    (env / "bin").mkdir(parents=True)
    (root / "cache").mkdir()
    real = os.path.realpath(sys.executable)
    os.symlink(real, str(env / "bin" / "python"))
    (env / "pyvenv.cfg").write_text("home = {}\n".format(os.path.dirname(real)))
    record = tmp_path / "install.json"
    record.write_text(json.dumps({"username": pwd.getpwuid(os.geteuid()).pw_name, "uv_version": "0.9.30",
                                  "uv": str(fake_uv.path), "options": {"version": "latest"}}))
    profile = tmp_path / "profile.d" / "uv-user.sh"
    profile.parent.mkdir()
    profile.write_text("")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    environ.update(UV_PROJECT_ENVIRONMENT=str(env), VIRTUAL_ENV=str(env), UV_CACHE_DIR=str(root / "cache"),
                   UV_TOOL_DIR=str(root / "tools"), UV_TOOL_BIN_DIR=str(root / "bin"),
                   PATH=os.pathsep.join([str(env / "bin"), str(root / "bin"), str(fake_uv.bin_dir), "/usr/bin", "/bin"]))
    return {"root": root, "env": env, "record": record, "profile": profile, "workspace": workspace,
            "state": tmp_path / "state" / "repair.json", "environ": environ}


def run_doctor(tree: Dict[str, object], *extra: str) -> subprocess.CompletedProcess:
    """`uv-user doctor` with the hidden options pointing it at the tree (no /opt, no /usr/local/share, no
    /var/lib) and no login shell (no bash -l)."""
    args: List[str] = ["doctor", "--root", str(tree["root"]), "--record", str(tree["record"]), "--profile-script",
                       str(tree["profile"]), "--state", str(tree["state"]), "--no-login-shell",
                       "--workspace", str(tree["workspace"])] + list(extra)
    return subprocess.run([sys.executable, str(FEATURE_DIR / "uv-user.py")] + args, env=tree["environ"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


def test_doctor_on_a_healthy_tree_exits_0(tmp_path, fake_uv):
    tree = make_tree(tmp_path, fake_uv)
    result = run_doctor(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 14  # twelve checks, the volume warning's fix, the summary
    assert "uv syncs {} (UV_PROJECT_ENVIRONMENT)".format(tree["env"]) in lines[0]
    assert "uv 0.9.30 at {}, as installed".format(fake_uv.path) in result.stdout
    assert "is not a mount" in result.stdout  # a tmp dir is no volume: a warning only
    assert lines[-1] == "uv-user: doctor: no problems (1 warning: volume)"
    assert fake_uv.recorded_calls() == ["--version"]


def test_doctor_names_each_problem_and_exits_1(tmp_path, fake_uv):
    tree = make_tree(tmp_path, fake_uv)
    (tree["workspace"] / ".venv").mkdir()
    tree["environ"]["VIRTUAL_ENV"] = str(tree["workspace"] / ".venv")
    os.unlink(str(tree["env"] / "bin" / "python"))
    os.symlink("/nonexistent/python9", str(tree["env"] / "bin" / "python"))
    result = run_doctor(tree)
    assert result.returncode == 1
    assert "VIRTUAL_ENV={}/.venv but uv syncs".format(tree["workspace"]) in result.stdout
    assert "points to /nonexistent/python9, which is gone" in result.stdout
    assert "{}/.venv exists".format(tree["workspace"]) in result.stdout
    assert "Traceback" not in result.stderr
    summary = result.stderr.splitlines()
    assert len(summary) == 1 and summary[0].startswith("uv-user: ")
    assert "checks failed" in summary[0] and "VIRTUAL_ENV" in summary[0] and "interpreter" in summary[0]


def test_doctor_json_is_machine_readable(tmp_path, fake_uv):
    tree = make_tree(tmp_path, fake_uv)
    result = run_doctor(tree, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert {f["check"]: f["status"] for f in report["findings"]}["volume"] == "warn"
    assert report["facts"]["interpreter"]["resolves"] is True


@pytest.mark.root  # chown to another uid
def test_doctor_fix_repairs_ownership_then_passes(tmp_path, fake_uv):
    tree = make_tree(tmp_path, fake_uv)
    stray = tree["env"] / "bin" / "tool"
    stray.write_text("")
    os.lchown(str(stray), 12345, 12345)
    before = run_doctor(tree)
    assert before.returncode == 1
    assert "1 entry under {} is not owned by root (0:0), e.g. {} (12345:12345)".format(
        tree["root"], stray) in before.stdout
    fixed = run_doctor(tree, "--fix", "--json")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert json.loads(fixed.stdout)["ok"] is True  # the repair's own line went to stderr
    assert "re-owned 1 of" in fixed.stderr
    assert os.lstat(str(stray)).st_uid == 0
    assert run_doctor(tree).returncode == 0


# ----------------------------------------------------------------------------- hostile values

# Environment values, link targets, pyvenv.cfg and file names are the user's (or a cloned repository's):
# a newline would forge a line, escapes would reach the terminal, a byte that is not UTF-8 crashes print.
H = "/x\nuv-user: doctor: no problems\x1b[2J" + os.fsdecode(b"\xff")


def hostile_facts() -> List[DoctorFacts]:
    """One set of facts per way a hostile value reaches a message."""
    outside = with_env(UV_PROJECT_ENVIRONMENT=H, VIRTUAL_ENV=H + "2", UV_LINK_MODE="copy" + H)
    outside.cache_dir, outside.cache_dev = H, 7
    relative = with_env(UV_PROJECT_ENVIRONMENT=H[1:], UV_CACHE_DIR=H)
    relative.cache_dir, relative.cache_dev, relative.env_dev = H, 1, 2
    return [
        outside,
        relative,
        healthy(python_on_path=H, login_python=H),
        healthy(interpreter=Interpreter(ENV, exists=True, python=ENV + "/bin/python", target=H)),
        healthy(interpreter=Interpreter(ENV, exists=True, python=ENV + "/bin/python", target=H, resolves=True,
                                        has_cfg=True, home=H)),
        healthy(interpreter=Interpreter(ENV, exists=True, python=ENV + "/bin/python", target=H, resolves=True,
                                        has_cfg=True, home=H, home_exists=True)),
        healthy(uv_path=H, record={"uv_version": "0.1.0", "uv": H}),
        healthy(uv_path=H, record={"uv_version": "0.9.30", "uv": H, "options": {"version": H}}),
        healthy(uv_path=H, uv_version=""),
        healthy(mount=Mount("/opt/uv-user", H, H)),
        healthy(workspaces=[Workspace(H, "link", H), Workspace(H + "2", "dir")]),
    ]


@pytest.mark.parametrize("facts", hostile_facts())
def test_hostile_values_are_shown_escaped_on_one_printable_line(facts):
    findings = [f for f in check_all(facts) if f.check != "ownership"]  # repair's own, rewritten elsewhere
    for line in render(findings, markers("ascii")) + [summary(findings)]:
        assert line.isascii() and line.isprintable(), line
    assert any("\\nuv-user: doctor: no problems\\x1b[2J\\xff" in f.message + f.fix for f in findings)


@pytest.mark.root
def test_ownership_examples_show_hostile_names_escaped_on_one_line(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    bad = os.path.join(os.fsencode(str(root)), b"x\xff\ny")
    open(bad, "w").close()
    os.lchown(bad, 12345, 12345)
    own = doctor.gather_ownership(str(root), {"username": "root"})
    assert own.examples == ["{}/x\\xff\\ny (12345:12345)".format(root)]


def test_a_user_named_at_build_who_never_appeared_is_explained():
    own = doctor.gather_ownership("/nonexistent-root", {"username": "no-such-user", "user_existed_at_build": False})
    assert own.problem.startswith("the environment is for user no-such-user, named at build (remoteUser or the "
                                  "username option) before any feature created it, and no-such-user still does not")
    assert 'common-utils with "username": "no-such-user"' in own.problem_fix
    vanished = doctor.gather_ownership("/nonexistent-root", {"username": "no-such-user"})
    assert vanished.problem == "user no-such-user recorded at install no longer exists"


def test_a_tree_the_scan_refuses_is_explained_by_the_errors_own_parts(tmp_path, monkeypatch):
    me = {"username": pwd.getpwuid(os.geteuid()).pw_name}
    os.symlink("/etc", str(tmp_path / "root"))
    own = doctor.gather_ownership(str(tmp_path / "root"), me)
    assert own.problem.startswith("{} is a symlink (to /etc)".format(tmp_path / "root"))
    assert "remove it and rebuild" in own.problem + own.problem_fix and own.mismatches == 0

    refused = UvUserError("/opt/uv-user is a symlink (to /etc); remove it and rebuild")
    refused.what, refused.fix = "/opt/uv-user is a symlink (to /etc)", "remove it and rebuild"
    unexplained = UvUserError("/opt/uv-user changed while it was being opened")
    for error, problem, fix in ((refused, refused.what, refused.fix),
                                (unexplained, str(unexplained), "rebuild the container")):
        def scan(*args: object, error: UvUserError = error) -> None:
            raise error

        monkeypatch.setattr(repair, "scan", scan)
        own = doctor.gather_ownership("/opt/uv-user", me)
        assert (own.problem, own.problem_fix) == (problem, fix)


# ----------------------------------------------------------------------------- the last repair, from its status file


def test_a_repair_still_running_in_the_background_turns_mismatches_into_a_wait():
    facts = mismatched(40, now=1000.0)
    facts.ownership.repair_state, facts.ownership.repair_pid, facts.ownership.repair_started = "running", 77, 988.0
    finding = check_ownership(facts)
    assert finding.status == WARN
    assert finding.message.endswith("; a repair started 12 s ago is still running in the background (pid 77)")
    assert finding.fix == "wait for it to finish, then run `uv-user doctor` again"
    clean = healthy(now=1000.0)
    clean.ownership.repair_state, clean.ownership.repair_pid = "running", 77
    finding = check_ownership(clean)  # nothing left to see: fine, and says why the status file says running
    assert finding.status == OK
    assert finding.message.endswith("(a repair is still running in the background (pid 77))")


def test_a_repair_that_stopped_before_it_finished_is_named_with_the_fix():
    facts = mismatched(40, can_sudo=False, now=1000.0)
    facts.ownership.repair_state, facts.ownership.repair_pid, facts.ownership.repair_started = "stopped", 77, 400.0
    finding = check_ownership(facts)
    assert finding.status == FAIL
    assert finding.message.endswith("; the last repair (pid 77, started 600 s ago) stopped before it finished")
    assert "restart the container" in finding.fix and "uv-user repair" in finding.fix


def test_a_repair_that_left_something_says_what():
    facts = mismatched(1, uid=0, user="root", now=1000.0)
    facts.ownership.repair_state, facts.ownership.repair_started = "incomplete", 990.0
    facts.ownership.repair_note = "/opt/uv-user/venv/x: a hard link with 1 of its 2 names outside /opt/uv-user"
    finding = check_ownership(facts)
    assert finding.message.endswith("; the last repair (started 10 s ago) left /opt/uv-user/venv/x: a hard link "
                                    "with 1 of its 2 names outside /opt/uv-user")


def test_the_status_file_is_read_and_a_dead_pid_means_stopped(tmp_path):
    state = tmp_path / "repair.json"
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "repair"])
    try:
        for pid, expected in ((alive.pid, "running"), (2 ** 22 + 1, "stopped")):
            state.write_text(json.dumps({"version": 1, "state": "continuing", "pid": 1, "background_pid": pid,
                                         "started": 123.0, "errors": ["x\ny"]}))
            own = Ownership()
            doctor.gather_repair_state(own, str(state))
            assert (own.repair_state, own.repair_pid, own.repair_started) == (expected, pid, 123.0)
            assert own.repair_note == "x\\ny"
        state.write_text(json.dumps({"version": 1, "state": "running", "pid": alive.pid}))
        alive.kill()  # killed before it finished, and not reaped (as under a PID 1 that never reaps)
        time.sleep(0.2)
        own = Ownership()
        doctor.gather_repair_state(own, str(state))
        assert (own.repair_state, own.repair_pid) == ("stopped", alive.pid)
    finally:
        alive.kill()
        alive.wait()
    state.write_text(json.dumps({"version": 1, "state": "complete", "pid": 5}))
    own = Ownership()
    doctor.gather_repair_state(own, str(state))
    assert (own.repair_state, own.repair_pid) == ("complete", 0)
    state.write_text("not json")
    own = Ownership()
    doctor.gather_repair_state(own, str(state))
    assert own.repair_state == ""
