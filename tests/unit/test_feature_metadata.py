"""devcontainer-feature.json against the project's own invariants, the code and the README (the layout in it:
test_layout.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from uv_user.options import DEFAULTS

REPO = Path(__file__).resolve().parents[2]
FEATURE = json.loads((REPO / "src" / "uv-user" / "devcontainer-feature.json").read_text())
SCHEMA = json.loads((REPO / "schemas" / "feature-invariants.schema.json").read_text())
README = (REPO / "README.md").read_text()


def test_feature_json_meets_the_invariants_schema() -> None:
    jsonschema.validate(FEATURE, SCHEMA)


@pytest.mark.parametrize("mutation", [
    lambda f: f.update(id="uv"),
    lambda f: f.update(version="1.0"),
    lambda f: f["options"]["version"].update(default=1),
    lambda f: f["options"]["systemCerts"].update(default="true"),
    lambda f: f["options"].pop("username"),
    lambda f: f["containerEnv"].update(VIRTUAL_ENV="/opt/uv-user/other"),
    lambda f: f["mounts"][0].update(source="uv-user"),
    lambda f: f.update(installsAfter=["ghcr.io/devcontainers/features/common-utils"]),
    lambda f: f.pop("installsAfter"),
])
def test_the_schema_rejects_broken_metadata(mutation) -> None:
    broken = json.loads(json.dumps(FEATURE))
    mutation(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


OFFICIAL = "ghcr.io/devcontainers/features/"
STANDIN_FEATURES = REPO / "harness" / "standin-features" / "devcontainers"


def test_installs_after_the_official_features_that_make_the_user_or_put_a_python_first() -> None:
    # common-utils creates the user; python, anaconda and conda put their python first on PATH through
    # containerEnv. Installed after them, our containerEnv PATH comes later in the image, i.e. first.
    assert FEATURE["installsAfter"] == [OFFICIAL + "common-utils", OFFICIAL + "python", OFFICIAL + "anaconda",
                                        OFFICIAL + "conda"]


@pytest.mark.parametrize("reference", FEATURE["installsAfter"])
def test_every_installs_after_reference_is_served_by_the_ghcr_stand_in(reference: str) -> None:
    """The CLI fetches each reference's metadata at every build: without ghcr.io, builds need the
    harness's stand-in to serve it (harness/ghcr.py publishes harness/standin-features/devcontainers)."""
    assert reference.startswith(OFFICIAL), reference
    meta = json.loads((STANDIN_FEATURES / reference[len(OFFICIAL):] / "devcontainer-feature.json").read_text())
    assert meta["id"] == reference[len(OFFICIAL):]
    if meta["id"] != "common-utils":
        first = meta["containerEnv"]["PATH"].split(":")[0]
        assert first.startswith("/") and meta["containerEnv"]["PATH"].endswith("${PATH}"), meta["containerEnv"]


def readme_options() -> dict:
    """Option rows of the README's Options table: name → (type, default)."""
    rows = re.findall(r"^\| `(\w+)` \| (string|boolean) \| `([^`]*)` \|", README, re.M)
    return {name: (kind, default) for name, kind, default in rows}


def test_every_option_is_documented_in_the_readme_with_its_default() -> None:
    documented = readme_options()
    assert set(documented) == set(FEATURE["options"])
    for name, option in FEATURE["options"].items():
        default = option["default"]
        expected = str(default).lower() if isinstance(default, bool) else default
        assert documented[name] == (option["type"], expected), name


def test_every_container_env_variable_is_in_the_readme_with_its_value() -> None:
    """The "What you get" table: one row per containerEnv variable, value as in the JSON."""
    rows = dict(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| `([^`]*)` \|", README, re.M))
    assert set(rows) == set(FEATURE["containerEnv"])
    for name, value in FEATURE["containerEnv"].items():
        assert rows[name] == value.replace("${PATH}", "$PATH"), name


def test_proposals_are_safe_for_the_clis_duplicate_test() -> None:
    # The CLI's duplicate test installs the proposal after the default first: it must install on any image.
    proposals = FEATURE["options"]["version"]["proposals"]
    assert proposals[0] == DEFAULTS["version"]
    assert proposals[1] != "none"
