"""apply: carrying out a plan, with uv a script and the layout in a scratch directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from uv_user import apply, paths
from uv_user.errors import UvUserError
from uv_user.plan import make_plan
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
