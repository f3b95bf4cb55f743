"""A uv tool reinstall avoided: after a rebuild, the tool runs at once with uv-user, or is installed again.

Runs in the containers rebuild.py has just rebuilt (it calls these probes after each timed rebuild,
outside the ready time), as the remote user, timed inside the container (benchmarks/incontainer/
timer.py: no `docker exec` overhead):

- feature: the tool was installed once (`uv tool install`, before the timed rounds) into
  /opt/uv-user/tools, its command into /opt/uv-user/bin, both on the volume. After each rebuild the
  command runs from PATH at once: timed is `<tool> --version`.
- recipe (no feature, no volume): uv's tool directory ($HOME/.local/share/uv/tools) and its cache
  ($HOME/.cache/uv) are in the container, so after each rebuild both are gone: timed is
  `uv tool install <tool>` with that cold cache (downloads from PyPI, through whatever proxy the
  machine has), then the same `<tool> --version`.

Reported: the medians, the time saved per rebuild (reinstall and run, minus run) and their ratio.
"""

from __future__ import annotations

from typing import Dict, List

from .docker import BenchError, exec_json, median
from .rebuild import received

TOOL = "ruff"
PIN = "ruff==0.12.12"  # a realistic uv tool, pinned so every run downloads the same wheel
HOME_BIN = "/home/vscode/.local/bin"  # uv's tool bin directory for vscode without the feature
USER = "vscode"


class Probes:
    """What rebuild.run calls: ``setup`` once after a variant's first up, ``probe`` after each rebuild."""

    def __init__(self) -> None:
        self.samples: Dict[str, List[float]] = {"feature_run": [], "recipe_install": [], "recipe_run": [],
                                                "recipe_received_bytes": []}
        self.version = ""

    def check(self, outcome: dict) -> None:
        words = outcome["output"].split()
        if "==".join(words[:2]) != PIN:
            raise BenchError("{} --version printed {!r}, expected {}".format(TOOL, outcome["output"][-500:], PIN))
        self.version = " ".join(words[:2])

    def setup(self, variant: str, container: str) -> None:
        if variant == "feature":
            exec_json(container, ["--", "uv", "tool", "install", "-q", PIN], user=USER)
            self.check(exec_json(container, ["--", TOOL, "--version"], user=USER))

    def probe(self, variant: str, container: str) -> None:
        if variant == "feature":
            found = exec_json(container, ["--", "sh", "-c", "command -v " + TOOL], user=USER)["output"].strip()
            if found != "/opt/uv-user/bin/" + TOOL:
                raise BenchError("after a rebuild {} is {!r}, not the one on the volume".format(TOOL, found))
            ran = exec_json(container, ["--", TOOL, "--version"], user=USER)
            self.check(ran)
            self.samples["feature_run"].append(ran["seconds"])
        elif variant == "recipe":
            before = received(container)
            installed = exec_json(container, ["--", "uv", "tool", "install", "-q", PIN], user=USER)
            self.samples["recipe_received_bytes"].append(received(container) - before)
            ran = exec_json(container, ["--", HOME_BIN + "/" + TOOL, "--version"], user=USER)
            self.check(ran)
            self.samples["recipe_install"].append(installed["seconds"])
            self.samples["recipe_run"].append(ran["seconds"])

    def result(self) -> Dict[str, object]:
        if not self.samples["feature_run"] or not self.samples["recipe_install"]:
            raise BenchError("the tool probes did not run in both the feature and the recipe variant")
        kept = median(self.samples["feature_run"])
        again = median([i + r for i, r in zip(self.samples["recipe_install"], self.samples["recipe_run"])])
        return {
            "tool": PIN, "version": self.version, "rounds": len(self.samples["feature_run"]),
            "kept_run_s": kept,
            "reinstall_s": median(self.samples["recipe_install"]),
            "reinstall_and_run_s": again,
            "saved_s": again - kept,
            "reinstall_over_kept": again / kept,
            "reinstall_received_mb": median(self.samples["recipe_received_bytes"]) / 1_000_000,
            "samples": self.samples,
        }
