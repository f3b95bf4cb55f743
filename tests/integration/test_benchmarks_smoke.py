"""The benchmark command still runs end to end (its --quick mode) and reports every number.

No timing is asserted: this machine is shared and noisy. What must hold is the shape of
results.json, that every measured number is positive, and that the run removed its containers
and volumes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.cli import cli_env
from harness.common import command_env, run
from harness.devcontainer import REPO

pytestmark = pytest.mark.docker

EXPECTED = {
    "start": ("entries", "bare_s", "feature_s", "naive_chown_s", "feature_over_bare", "naive_over_bare"),
    "repair": ("entries", "repair_mismatched_s", "repair_noop_s", "chown_r_noop_s", "chown_r_to_other_s",
               "repair_over_chown_r"),
    "sync": ("packages", "feature_over_fastest_warm"),
    "install": ("build_uncached_s", "build_cached_s", "build_without_feature_s", "base_size_mb",
                "feature_size_mb", "size_delta_mb"),
    "rebuild": ("ready_s", "up_s", "over_feature", "installed_per_rebuild"),
    "tool": ("kept_run_s", "reinstall_s", "reinstall_and_run_s", "saved_s", "reinstall_over_kept"),
    "machine": ("nproc", "docker", "date"),
}
QUICK_LAYOUTS = ("feature", "workspace", "volume_copy")


def test_quick_benchmark_writes_every_number(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "benchmarks", "--quick", "--no-chart", "--out", str(tmp_path)], cwd=REPO,
                 check=False, timeout=600, env=cli_env(command_env(PYTHONDONTWRITEBYTECODE="1")))
    assert result.returncode == 0, result.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "quick"
    for section, keys in EXPECTED.items():
        missing = [key for key in keys if key not in results[section]]
        assert not missing, "results.json lacks {}.{}".format(section, missing)
        for key in keys:
            if isinstance(results[section][key], (int, float)):
                assert results[section][key] > 0, "{}.{} = {}".format(section, key, results[section][key])
    assert results["start"]["entries"] >= 2000
    assert results["sync"]["packages"] > 30
    for table in ("warm_s", "warm_over_feature"):
        assert sorted(results["sync"][table]) == sorted(QUICK_LAYOUTS)
        assert all(value > 0 for value in results["sync"][table].values())
    for table in ("ready_s", "up_s", "over_feature"):
        assert sorted(results["rebuild"][table]) == ["feature", "recipe"]
        assert all(value > 0 for value in results["rebuild"][table].values())
    # With its volume kept the feature's autoSync installs nothing; the baseline installs the whole lock again.
    assert results["rebuild"]["installed_per_rebuild"] == {"feature": [0], "recipe": [results["sync"]["packages"]]}
    assert {t["key"] for t in results["targets"]} >= {"start.feature_over_bare", "repair.repair_mismatched_s",
                                                      "sync.feature_over_fastest_warm", "install.size_delta_mb"}
    assert "| feature: env + cache on one volume |" in (tmp_path / "results.md").read_text()
    assert "## Targets" in result.stdout
    assert "## Rebuild with what is kept" in result.stdout and "## A uv tool after a rebuild" in result.stdout
    label = "label=uvuser.bench=" + results["run_id"]
    for kind in ("container", "volume"):
        listed = run(["docker", kind, "ls", "-q", "--filter", label] + (["-a"] if kind == "container" else []))
        left = listed.stdout.split()
        assert left == [], "the benchmark left {}s behind: {}".format(kind, left)
    # The rebuild benchmark's dev container volume is named by the CLI, not labelled: gone too.
    assert results["rebuild"]["volumes"]
    for volume in results["rebuild"]["volumes"]:
        assert run(["docker", "volume", "inspect", volume], check=False).returncode != 0, \
            "the benchmark left " + volume
