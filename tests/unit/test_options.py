"""Options as the devcontainers CLI exports them, and the one source of truth for their defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import uv_user
from uv_user import options
from uv_user.errors import UvUserError
from uv_user.users import valid_name
from uv_user.versions import VersionSpec, parse_spec

FEATURE_JSON = Path(__file__).resolve().parents[2] / "src" / "uv-user" / "devcontainer-feature.json"
FEATURE = json.loads(FEATURE_JSON.read_text(encoding="utf-8"))
JSON_OPTIONS = FEATURE["options"]


def field_of(option: str) -> str:
    """indexUrl → index_url: the Options attribute an option lands in."""
    return re.sub(r"([A-Z])", r"_\1", option).lower()


# ----------------------------------------------------------------------------- read


def exported(value: object) -> str:
    """An option value as the devcontainers CLI exports it (a JSON boolean as true or false)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_no_environment_means_every_default():
    got = options.read({})
    # Exactly what the CLI exports when devcontainer.json sets nothing: the JSON's defaults.
    assert got == options.read({name.upper(): exported(spec["default"]) for name, spec in JSON_OPTIONS.items()})
    assert got == options.Options(
        version=VersionSpec("latest"),
        username="automatic",
        index_url="https://pypi.org/simple",
        system_certs=True,
        compile_bytecode=False,
        shell_completion=True,
        auto_sync="lock",
    )
    assert set(vars(got)) == {field_of(name) for name in JSON_OPTIONS}  # a field per option, and no other


def test_options_are_read_from_upper_cased_names():
    env = {
        "VERSION": "0.13.9",
        "USERNAME": " node ",
        "INDEXURL": "https://mirror.example/simple/",
        "SYSTEMCERTS": "false",
        "COMPILEBYTECODE": "true",
        "SHELLCOMPLETION": "false",
        "AUTOSYNC": "all",
    }
    assert set(env) == {name.upper() for name in JSON_OPTIONS}  # every option of the JSON, set at once
    assert options.read(env) == options.Options(VersionSpec("exact", (0, 13, 9)), "node",
                                                "https://mirror.example/simple", False, True, False, "all")


def test_json_spelled_names_are_not_what_the_cli_exports_and_are_ignored():
    got = options.read({"indexUrl": "http://example.com/simple", "systemCerts": "nope", "version": "$(id)"})
    assert got == options.read({})


def test_empty_index_url_and_username_fall_back_to_defaults():
    got = options.read({"INDEXURL": "", "USERNAME": "  "})
    assert got.index_url == "https://pypi.org/simple"
    assert got.username == "automatic"


@pytest.mark.parametrize("raw, value", [
    ("true", True), ("TRUE", True), (" True\n", True), ("1", True), ("yes", True), ("on", True),
    ("false", False), ("False", False), ("0", False), ("no", False), ("off", False),
])
def test_booleans_accept_the_usual_spellings(raw, value):
    assert options.read({"SYSTEMCERTS": raw}).system_certs is value


@pytest.mark.parametrize("name, raw", [
    ("SYSTEMCERTS", "maybe"), ("COMPILEBYTECODE", ""), ("SHELLCOMPLETION", "2"), ("SYSTEMCERTS", "true; id"),
])
def test_bad_booleans_are_refused_naming_the_option_and_value(name, raw):
    option = next(o for o in JSON_OPTIONS if o.upper() == name)
    with pytest.raises(UvUserError) as caught:
        options.read({name: raw})
    assert caught.value.line().startswith("uv-user: {} {!r} is not a boolean".format(option, raw))


@pytest.mark.parametrize("env", [{"VERSION": "$(id)"}, {"INDEXURL": "http://example.com/simple"}])
def test_bad_strings_are_refused_before_anything_else(env):
    with pytest.raises(UvUserError) as caught:
        options.read(env)
    assert caught.value.line().endswith("(nothing was changed)")


# ----------------------------------------------------------------------------- one source of truth


def test_json_options_and_their_defaults_equal_options_defaults():
    assert {name: spec["default"] for name, spec in JSON_OPTIONS.items()} == options.DEFAULTS


def test_json_option_types_match_the_python_defaults():
    for name, spec in JSON_OPTIONS.items():
        expected = bool if spec["type"] == "boolean" else str
        assert type(options.DEFAULTS[name]) is expected, name


def test_package_version_equals_the_feature_json_version():
    assert uv_user.__version__ == FEATURE["version"]


NON_DEFAULT = {"version": "0.13", "username": "node", "indexUrl": "https://mirror.example/simple", "autoSync": "never"}


@pytest.mark.parametrize("name", sorted(JSON_OPTIONS))
def test_every_json_option_is_read_from_its_upper_cased_name(name):
    default = options.read({})
    if JSON_OPTIONS[name]["type"] == "boolean":
        raw = str(not JSON_OPTIONS[name]["default"]).lower()
    else:
        raw = NON_DEFAULT[name]
    changed = options.read({name.upper(): raw})
    assert getattr(changed, field_of(name)) != getattr(default, field_of(name))
    others = [f for f in vars(default) if f != field_of(name)]
    assert [getattr(changed, f) for f in others] == [getattr(default, f) for f in others]


def test_json_proposals_are_all_accepted():
    for proposal in JSON_OPTIONS["version"]["proposals"]:
        parse_spec(proposal)
    assert all(valid_name(p) for p in JSON_OPTIONS["username"]["proposals"])
