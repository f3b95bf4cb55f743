"""apply: carrying out a plan, with uv a script and the layout in a scratch directory."""

from __future__ import annotations

import errno
import hashlib
import os
import pwd
import stat
from pathlib import Path

import pytest

from uv_user import apply, paths
from uv_user.errors import UvUserError
from uv_user.net import Fetcher
from uv_user.plan import make_plan
from uv_user.users import Account
from uv_user.uvtoml import MARKER


def old_uv(tmp_path: Path) -> str:
    """A uv from before system-certs: it refuses a config file naming that key, accepts any other."""
    script = tmp_path / "old-uv"
    script.write_text('#!/bin/sh\n[ "$1" = --config-file ] && grep -q "^system-certs" "$2" && '
                      '{ echo "error: unknown field \\`system-certs\\`" >&2; exit 2; }\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_uv_toml_is_written_in_the_first_spelling_the_installed_uv_accepts(tmp_path, monkeypatch, make_options,
                                                                         make_facts):
    monkeypatch.setattr(paths, "UV_TOML", str(tmp_path / "etc-uv" / "uv.toml"))
    plan = make_plan(make_options(version="none"), make_facts(uv_on_path=old_uv(tmp_path), uv_on_path_version="0.4.0"))
    apply.write_uv_toml(plan, lambda message: None)
    assert Path(paths.UV_TOML).read_text() == "native-tls = true  {}\n".format(MARKER) == plan.uv_toml_texts[1]


def test_uv_toml_that_no_spelling_makes_acceptable_is_one_line(tmp_path, monkeypatch, make_options, make_facts):
    monkeypatch.setattr(paths, "UV_TOML", str(tmp_path / "etc-uv" / "uv.toml"))
    plan = make_plan(make_options(version="none"), make_facts(uv_on_path=old_uv(tmp_path), uv_on_path_version="0.4.0",
                                                              uv_toml="system-certs = true\n"))
    assert plan.uv_toml_texts == ["system-certs = true\n"] and not plan.uv_toml_changed
    facts = make_facts(uv_on_path=old_uv(tmp_path), uv_on_path_version="0.4.0", uv_toml="system-certs = true\n")
    plan = make_plan(make_options(version="none", compileBytecode="true"), facts)
    with pytest.raises(UvUserError) as caught:
        apply.write_uv_toml(plan, lambda message: None)
    assert caught.value.what == "uv 0.4.0 rejects the merged {} (error: unknown field `system-certs`)".format(
        paths.UV_TOML)
    assert caught.value.fix == "fix or remove the existing file"
    assert not Path(paths.UV_TOML).exists()


# ----------------------------------------------------------------------------- whether anything was changed


def me() -> Account:
    """This process's own account: the owner a test can give a scratch tree to without root."""
    return Account(pwd.getpwuid(os.geteuid()).pw_name, os.geteuid(), os.getegid())


def plan_reusing(uv: str, make_options, make_facts, **options: str):
    """A plan that reuses ``uv`` (version none) for this process's own account."""
    owner = me()
    found = make_facts(accounts=[owner], remote_user=owner.name, uv_on_path=uv, uv_on_path_version="0.9.30")
    return make_plan(make_options(version="none", **options), found)


def refusing(monkeypatch, name: str, path: str, code: int, named: bool = True) -> None:
    """os.<name> fails with ``code`` for ``path`` (its last path argument), as a full or read-only disk would;
    ``named`` False: the error names no file, as a failed write() does."""
    real = getattr(os, name)

    def call(*args, **kwargs):
        if args[-1] == path:
            raise OSError(code, os.strerror(code), *((path,) if named else ()))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, call)


def test_a_whole_install_in_a_scratch_layout(tmp_path, layout_at, make_options, make_facts, fake_uv):
    layout_at(tmp_path)
    said = []
    apply.apply(plan_reusing(str(fake_uv.path), make_options, make_facts), None, said.append)
    for path in (paths.UV_TOML, paths.COMMAND, paths.ENTRYPOINT, paths.START_SHELL, paths.RECORD,
                 paths.PROFILE_SCRIPT, paths.COMPLETION_FILES["bash"][0], paths.SHARE + "/uv_user/cli.py"):
        assert os.path.isfile(path), path
    assert all(os.path.isdir(d) for d in paths.managed_dirs() if d != paths.VENV)  # the fake uv makes no venv
    assert "venv --no-config --python /usr/bin/python3 " + paths.VENV in fake_uv.recorded_calls()
    assert said[-1].endswith("entries under {} owned by {}".format(paths.ROOT, me().name))


def test_a_full_disk_in_the_middle_of_the_install_is_one_line_that_says_something_changed(
        tmp_path, layout_at, make_options, make_facts, fake_uv, monkeypatch):
    layout_at(tmp_path)
    refusing(monkeypatch, "replace", paths.UV_TOML, errno.ENOSPC, named=False)
    with pytest.raises(UvUserError) as caught:
        apply.apply(plan_reusing(str(fake_uv.path), make_options, make_facts), None, lambda message: None)
    assert caught.value.line() == "uv-user: {}: No space left on device; free disk space where the image is built " \
                                  "(e.g. docker system prune), then rebuild".format(paths.UV_TOML)
    assert os.listdir(os.path.dirname(paths.UV_TOML)) == []  # the temp file beside it is gone


def test_a_read_only_file_system_at_the_first_write_is_reported_as_changed_never_guessed_unchanged(
        tmp_path, layout_at, make_options, make_facts, fake_uv, monkeypatch):
    layout_at(tmp_path)
    refusing(monkeypatch, "makedirs", paths.ROOT, errno.EROFS)
    with pytest.raises(UvUserError) as caught:
        apply.apply(plan_reusing(str(fake_uv.path), make_options, make_facts), None, lambda message: None)
    assert caught.value.line() == "uv-user: {}: Read-only file system; that file system is read-only while the image " \
                                  "is built: make it writable, then rebuild".format(paths.ROOT)


def test_a_failure_raised_after_the_first_write_says_so(tmp_path, layout_at, make_options, make_facts):
    layout_at(tmp_path)
    uv = tmp_path / "failing-uv"
    uv.write_text('#!/bin/sh\n[ "$1" = venv ] && { echo "error: no space for the venv" >&2; exit 2; }\nexit 0\n')
    uv.chmod(0o755)
    with pytest.raises(UvUserError) as caught:
        apply.apply(plan_reusing(str(uv), make_options, make_facts), None, lambda message: None)
    assert caught.value.line() == "uv-user: uv venv failed (2): error: no space for the venv"
    assert os.path.isdir(paths.CACHE)  # written before it failed


@pytest.mark.parametrize("failing, changed", [
    ("sha256", False),
    ("read-only bin", False),
    ("not a wheel", False),
    ("not a wheel, bin made", True),  # an image without /usr/local/bin: making it was a change
])
def test_a_failure_while_uv_is_staged_changed_nothing_unless_it_made_the_bin_dir(
        tmp_path, layout_at, make_options, make_facts, make_wheel, local_index, monkeypatch, failing, changed):
    layout_at(tmp_path)
    if failing == "not a wheel":
        os.makedirs(paths.BIN_DIR)
    before = sorted(os.listdir(str(tmp_path)))
    body = b"PK not a wheel, but its sha256 is right"
    wheel = make_wheel("0.13.9", "manylinux_2_17_x86_64.manylinux2014_x86_64",
                       sha="0" * 64 if failing == "sha256" else hashlib.sha256(body).hexdigest(),
                       base=local_index.url + "/p/")
    local_index.routes["/p/" + wheel.filename] = [local_index.reply(body=body, ctype="application/zip")]
    if failing == "read-only bin":
        refusing(monkeypatch, "makedirs", paths.BIN_DIR, errno.EROFS)
    owner = me()
    plan = make_plan(make_options(version="0.13.9"), make_facts(accounts=[owner], remote_user=owner.name),
                     [wheel], ["0.13.9"])
    with pytest.raises(UvUserError) as caught:
        apply.apply(plan, Fetcher(sleep=lambda seconds: None), lambda message: None)
    line = caught.value.line()
    assert line.endswith("(nothing was changed)") is not changed, line
    assert line.startswith({"sha256": "uv-user: sha256 of ",
                            "read-only bin": "uv-user: {}: Read-only file system;".format(paths.BIN_DIR)}.get(
        failing, "uv-user: {} is not a valid wheel; check indexUrl".format(wheel.filename))), line
    assert not os.path.lexists(paths.ROOT)
    if failing in ("sha256", "read-only bin"):
        assert sorted(os.listdir(str(tmp_path))) == before  # not even the bin dir was made
    else:
        assert os.listdir(paths.BIN_DIR) == []  # the staging went with the failure
