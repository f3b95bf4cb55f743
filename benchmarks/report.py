"""Turn one run's numbers into results.json, results.md (the table the command prints) and chart.png."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .docker import REPO, sh

# (where in the results, how it compares, the bound, what the README promises)
TARGETS: List[Tuple[Tuple[str, str], str, float, str]] = [
    (("start", "feature_over_bare"), "<=", 1.15, "container start with the feature / bare start"),
    (("repair", "repair_mismatched_s"), "<", 1.0, "uv-user repair of every entry, seconds"),
    (("repair", "repair_over_chown_r"), "<=", 2.0, "uv-user repair of every entry / chown -R of the same tree"),
    (("sync", "feature_over_fastest_warm"), "<=", 1.05, "warm uv sync, feature layout / fastest layout"),
    (("sync", "pip_user_over_feature_warm"), ">=", 5.0, "warm pip install --user / warm feature uv sync"),
    (("install", "size_delta_mb"), "<", 60.0, "image size added by the feature, MB"),
]


# Targets stated for a tree of at least this many entries (issue #13: 30k): a smaller tree (--quick)
# measures mostly the interpreter's start, so the target is not checked there.
AT_SCALE = {("repair", "repair_over_chown_r"): 30000}


def machine() -> Dict[str, object]:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    docker = sh(["docker", "version", "--format", "{{.Server.Version}}"], check=False).stdout.strip()
    driver = sh(["docker", "info", "--format", "{{.Driver}}"], check=False).stdout.strip()
    git = ["git", "-C", str(REPO)]
    commit = sh(git + ["rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    if commit and sh(git + ["status", "--porcelain", "--", "src"], check=False).stdout.strip():
        commit += " with uncommitted changes in src/"  # what was measured is not exactly that commit
    commit = commit or "an unknown commit (not a git checkout)"
    return {"nproc": os.cpu_count(), "cpu": cpu or platform.processor(), "memory_gib": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "docker": docker, "storage_driver": driver, "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def check_targets(results: Dict[str, dict]) -> List[Dict[str, object]]:
    checked = []
    for (section, key), op, bound, what in TARGETS:
        value = results.get(section, {}).get(key)
        if value is None or results[section].get("entries", 0) < AT_SCALE.get((section, key), 0):
            continue
        met = {"<=": value <= bound, "<": value < bound, ">=": value >= bound}[op]
        checked.append({"what": what, "key": section + "." + key, "value": value, "target": "{} {}".format(op, bound),
                        "met": met})
    return checked


def _s(value: float) -> str:
    return "{:.3f} s".format(value) if value < 10 else "{:.1f} s".format(value)


def markdown(results: Dict[str, dict]) -> str:
    m, start, repair, sync, install, rebuild, tool = (results.get(k, {}) for k in (
        "machine", "start", "repair", "sync", "install", "rebuild", "tool"))
    out = ["# uv-user benchmarks ({})".format(results["mode"]), "",
           "{date}; {nproc} cores ({cpu}), {memory_gib} GiB, kernel {kernel}, Docker {docker} ({storage_driver}); "
           "uv-user at {commit}. Medians; every ratio compares runs interleaved in this one run.".format(**m), ""]
    if start:
        out += ["## Container start ({entries:,} entries under /opt/uv-user, right owner; median of {reps})".format(
                    **start), "",
                "| start | seconds | × bare |", "| --- | ---: | ---: |",
                "| bare (no entrypoint) | {} | 1.00 |".format(_s(start["bare_s"])),
                "| feature's entrypoint (`uv-user repair --entrypoint`) | {} | {:.2f} |".format(
                    _s(start["feature_s"]), start["feature_over_bare"]),
                "| naive `chown -R` at every start | {} | {:.2f} |".format(
                    _s(start["naive_chown_s"]), start["naive_over_bare"])]
        for name, alt in start.get("alternatives", {}).items():
            out.append("| alternative `{}`: `{}` | {} | {:.2f} |".format(
                name, alt["line"].replace("|", "\\|"), _s(alt["s"]), alt["over_bare"]))
        out.append("")
    if repair:
        out += ["## Ownership repair inside the container ({entries:,} entries; median of {reps})".format(**repair), "",
                "| action | seconds |", "| --- | ---: |",
                "| `uv-user repair`, every entry owned by another uid | {} |".format(_s(repair["repair_mismatched_s"])),
                "| `uv-user repair`, nothing to do | {} |".format(_s(repair["repair_noop_s"])),
                "| `chown -R` of the already-right tree (naive, every start) | {} |".format(
                    _s(repair["chown_r_noop_s"])),
                "| `chown -R` to another uid (how the mismatch was made) | {} |".format(
                    _s(repair["chown_r_to_other_s"]))]
        if "repair_over_chown_r" in repair:
            out.append("| repair of every entry / `chown -R` of every entry (alternately, same tree) "
                       "| {:.2f}× |".format(repair["repair_over_chown_r"]))
        out.append("")
    if sync:
        cold = sync.get("cold_s", {})
        out += ["## `uv sync` of {packages} locked packages into a fresh environment "
                "(median of {warm_reps} warm, {cold_reps} cold)".format(**sync), "",
                "| layout | warm | × feature | of which uv's link/copy step | cold | × feature "
                "| uv copied (hardlink warning) |",
                "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for name, title in sync["layouts"].items():
            cold_cells = ("{} | {:.2f}".format(_s(cold[name]), sync["cold_over_feature"][name]) if name in cold
                          else "– | –")
            warned = "n/a (pip)" if name == "pip_user" else ("yes" if sync["copy_fallback_warning"][name] else "no")
            step = sync["warm_install_step_s"].get(name)
            out.append("| {} | {} | {:.2f} | {} | {} | {} |".format(
                title, _s(sync["warm_s"][name]), sync["warm_over_feature"][name],
                "{:.0f} ms".format(step * 1000) if step is not None else "–", cold_cells, warned))
        out.append("")
    if rebuild:
        out += ["## Rebuild with what is kept → the locked packages import (median of {} interleaved "
                "rebuilds)".format(rebuild["rounds"]), "",
                "From `devcontainer up --remove-existing-container` until `python -c 'import ...'` succeeds as "
                "the remote user; baselines defined in benchmarks/rebuild.py.", "",
                "| variant | ready | × feature | of which `devcontainer up` | sync installed | received |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for name, title in rebuild["variants"].items():
            out.append("| {} | {} | {:.2f} | {} | {} | {:.1f} MB |".format(
                title, _s(rebuild["ready_s"][name]), rebuild["over_feature"][name], _s(rebuild["up_s"][name]),
                "/".join(str(n) for n in rebuild["installed_per_rebuild"][name]), rebuild["received_mb"][name]))
        out.append("")
    if tool:
        out += ["## A uv tool after a rebuild: kept on the volume, or installed again (`{tool}`; median of {rounds})"
                .format(**tool), "",
                "| | seconds |", "| --- | ---: |",
                "| with the feature: the kept command runs (`{} --version`) | {} |".format(
                    tool["version"].split()[0], _s(tool["kept_run_s"])),
                "| without: `uv tool install` with a cold cache, then the same | {} ({:.1f} MB received) |".format(
                    _s(tool["reinstall_and_run_s"]), tool["reinstall_received_mb"]),
                "| saved per rebuild | {} ({:.0f}×) |".format(_s(tool["saved_s"]), tool["reinstall_over_kept"]), ""]
    if install:
        out += ["## Install cost (`devcontainer build` of examples/basic; median of {reps})".format(**install), "",
                "| | value |", "| --- | ---: |",
                "| build with the feature, uncached (`--no-cache`, downloads uv) | {} |".format(
                    _s(install["build_uncached_s"])),
                "| build with the feature, second build (cached) | {} |".format(_s(install["build_cached_s"])),
                "| same build without the feature, uncached | {} |".format(_s(install["build_without_feature_s"])),
                "| image size: base → with the feature | {:.1f} MB → {:.1f} MB (+{:.1f} MB) |".format(
                    install["base_size_mb"], install["feature_size_mb"], install["size_delta_mb"]),
                "| uv installed | {} |".format(install["uv_version"]), ""]
    out += ["## Targets", "", "| target | measured | met |", "| --- | ---: | --- |"]
    for item in results["targets"]:
        out.append("| {} {} | {:.3g} | {} |".format(item["what"], item["target"], item["value"],
                                                     "yes" if item["met"] else "**no**"))
    return "\n".join(out) + "\n"


def chart(results: Dict[str, dict], path: Path) -> Optional[str]:
    """The README's figure; None (and a reason) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (benchmarks/run.sh installs it in .venv-bench)"
    start, repair, sync = results["start"], results["repair"], results["sync"]
    rebuild, tool = results.get("rebuild"), results.get("tool")
    rows = 3 if rebuild and tool else 2
    fig, axes = plt.subplots(rows, 2, figsize=(12.5, 3.75 * rows))
    fig.suptitle("uv-user benchmarks — {nproc} cores, Docker {docker}, {date}; image +{delta:.0f} MB".format(
        delta=results["install"]["size_delta_mb"], **results["machine"]))

    def bars(ax, labels, values, title, notes, highlight=0, log=False):
        colours = ["#4c72b0" if i != highlight else "#dd8452" for i in range(len(values))]
        ax.barh(labels[::-1], values[::-1], color=colours[::-1])
        for y, (value, note) in enumerate(zip(values[::-1], notes[::-1])):
            ax.text(value, y, " " + note, va="center", fontsize=9)
        ax.set_title(title, fontsize=10)
        if log:  # pip is two orders of magnitude slower: a linear axis would hide the uv layouts
            ax.set_xscale("log")
            ax.set_xlim(min(values) / 2, max(values) * 8)
            ax.set_xlabel("seconds (median, log scale)")
        else:
            ax.set_xlim(0, max(values) * 1.35)
            ax.set_xlabel("seconds (median)")

    bars(axes[0][0], ["bare", "feature entrypoint", "naive chown -R"],
         [start["bare_s"], start["feature_s"], start["naive_chown_s"]],
         "container start, {:,} entries on the volume".format(start["entries"]),
         ["1.00×", "{:.2f}×".format(start["feature_over_bare"]), "{:.2f}×".format(start["naive_over_bare"])], 1)
    repair_rows = [("uv-user repair (all mismatched)", repair["repair_mismatched_s"]),
                   ("uv-user repair (nothing to do)", repair["repair_noop_s"]),
                   ("chown -R (already right)", repair["chown_r_noop_s"]),
                   ("chown -R (every entry changed)", repair["chown_r_to_other_s"])]
    bars(axes[0][1], [r[0] for r in repair_rows], [r[1] for r in repair_rows],
         "repair inside the container, {:,} entries".format(repair["entries"]),
         ["{:.0f} ms".format(r[1] * 1000) for r in repair_rows])
    names = list(sync["layouts"])
    labels = [sync["layouts"][n].replace(" (seed's workaround)", "").replace(", cache elsewhere (copy)",
                                                                             ", cache elsewhere") for n in names]
    for ax, key, ratio_key, title in ((axes[1][0], "warm_s", "warm_over_feature", "warm cache"),
                                      (axes[1][1], "cold_s", "cold_over_feature", "cold cache")):
        if key not in sync:
            ax.set_axis_off()
            ax.set_title("uv sync, {}: skipped in this mode".format(title), fontsize=10)
            continue
        bars(ax, labels, [sync[key][n] for n in names],
             "sync {} locked packages, {}".format(sync["packages"], title),
             ["{:.2f}×".format(sync[ratio_key][n]) for n in names], log=True)
    if rows == 3:
        names = list(rebuild["variants"])
        labels = ["uv-user (volume kept)" if n == "feature" else rebuild["variants"][n].split(": ", 1)[1]
                  .replace(" (lost at rebuild)", ", lost").replace(" (kept by the host)", ", kept") for n in names]
        bars(axes[2][0], labels, [rebuild["ready_s"][n] for n in names],
             "rebuild until the locked packages import",
             ["{:.2f}×".format(rebuild["over_feature"][n]) for n in names])
        bars(axes[2][1], ["uv-user: {} kept".format(tool["version"].split()[0]), "without: uv tool install again"],
             [tool["kept_run_s"], tool["reinstall_and_run_s"]],
             "a uv tool after a rebuild ({})".format(tool["version"]),
             ["{:.0f} ms".format(tool["kept_run_s"] * 1000),
              "{:.0f} ms ({:.0f}×)".format(tool["reinstall_and_run_s"] * 1000, tool["reinstall_over_kept"])],
             log=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write(results: Dict[str, dict], out: Path, draw: bool) -> Dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = {"json": out / "results.json", "markdown": out / "results.md"}
    if draw:
        reason = chart(results, out / "chart.png")
        if reason is None:
            written["chart"] = out / "chart.png"
        results["chart"] = reason or "chart.png"
    written["json"].write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    written["markdown"].write_text(markdown(results))
    return written
