"""`python3 -m benchmarks [--quick]` from the repository root (as root, or in the docker group once the
harness has provisioned the engine, the base image and ghcr.io for the CLI).

Builds examples/basic with the local feature through the pinned devcontainers CLI, then measures,
in real containers and side by side in this one run: install cost, container start cost and
ownership repair, `uv sync` speed in four layouts, and dev container rebuilds (devcontainer up) until
the locked project imports, with uv-user and without, and a uv tool kept or installed again after
each of them. Prints the table, writes results.json,
results.md and chart.png (chart only with matplotlib: `bash benchmarks/run.sh` provides it)
to --out, and removes every container, volume and image it made (its Session).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import provision
from harness.common import ProvisionError, command_env

from . import install_cost, rebuild, report, start_cost, sync_speed, tool_reinstall
from .docker import HERE, BenchError, Session, sh


def log(message: str) -> None:
    print("bench: " + message, file=sys.stderr, flush=True)


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: 1 repetition, 2,000 files, no cold sync, no pip comparison, "
                             "no alternative entrypoints, no workspace-.venv rebuild variant")
    parser.add_argument("--files", type=int, help="files in the start/repair tree (default 30000; quick 2000)")
    parser.add_argument("--reps", type=int, help="repetitions of starts, repairs and warm syncs (default 9)")
    parser.add_argument("--cold-reps", type=int, help="cold-cache syncs per layout (default 5; quick 0)")
    parser.add_argument("--build-reps", type=int, help="image builds of each kind (default 3; quick 1)")
    parser.add_argument("--rebuild-reps", type=int, help="interleaved dev container rebuilds per variant "
                                                         "(default 5; quick 1)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where results go (default: %(default)s)")
    parser.add_argument("--no-chart", action="store_true", help="skip chart.png")
    args = parser.parse_args(argv)
    quick = args.quick
    args.files = args.files or (2000 if quick else 30000)
    args.reps = args.reps or (1 if quick else 9)
    args.cold_reps = args.cold_reps if args.cold_reps is not None else (0 if quick else 5)
    args.build_reps = args.build_reps or (1 if quick else 3)
    args.rebuild_reps = args.rebuild_reps or (1 if quick else 5)
    args.layouts = sync_speed.QUICK_LAYOUTS if quick else tuple(sync_speed.LAYOUTS)
    args.rebuild_variants = rebuild.QUICK_VARIANTS if quick else tuple(rebuild.VARIANTS)
    return args


def pip_image(session: Session, feature: str) -> str:
    tag = session.tag("pip")
    sh(["docker", "build", "--force-rm", "--label", session.label, "--build-arg", "FROM=" + feature, "-t", tag, "-"],
       stdin=HERE / "images" / "pip.Dockerfile", env=command_env(DOCKER_BUILDKIT="0"), timeout=900)
    return tag


def main(argv=None) -> int:
    args = parse(argv)
    started = time.monotonic()
    try:
        provision.ensure_engine()
        cli = provision.ensure_cli()
        base = provision.ensure_images(["base"])["base"]
        ghcr = provision.ensure_ghcr()  # the CLI resolves the feature's installsAfter references there
    except ProvisionError as exc:
        print("bench: cannot provision Docker, the devcontainers CLI, ghcr.io for it or the base image: {}".format(
            exc), file=sys.stderr)
        return 1
    session = Session()
    workdir = Path(tempfile.mkdtemp(prefix="uv-user-bench-"))
    results = {"mode": "quick" if args.quick else "full", "run_id": session.run_id,
               "params": {"files": args.files, "reps": args.reps, "cold_reps": args.cold_reps,
                          "build_reps": args.build_reps, "layouts": list(args.layouts),
                          "rebuild_reps": args.rebuild_reps, "rebuild_variants": list(args.rebuild_variants)}}
    try:
        log("run {}: machine".format(session.run_id))
        results["machine"] = report.machine()
        log("install cost: devcontainer build of examples/basic with the feature (x{} uncached + cached)".format(
            args.build_reps))
        results["install"], feature = install_cost.run(session, cli, base, workdir / "build", args.build_reps)
        sync_image = feature
        if "pip_user" in args.layouts:
            log("building the pip variant of the feature image for the pip install --user layout")
            sync_image = pip_image(session, feature)
        log("start cost: {:,} files, {} interleaved starts per variant".format(args.files, args.reps))
        results.update(start_cost.run(session, feature, results["install"]["entrypoint"], args.files, args.reps,
                                      alternatives=not args.quick))
        log("sync speed: {} ({} warm, {} cold each)".format(", ".join(args.layouts), args.reps, args.cold_reps))
        results["sync"] = sync_speed.run(session, sync_image, workdir / "sync", args.reps, args.cold_reps,
                                         args.layouts)
        log("rebuild: {} ({} interleaved rebuilds each), then {} kept vs reinstalled".format(
            ", ".join(args.rebuild_variants), args.rebuild_reps, tool_reinstall.PIN))
        tools = tool_reinstall.Probes()
        results["rebuild"] = rebuild.run(session, cli, base, feature, workdir / "rebuild", args.rebuild_reps,
                                         args.rebuild_variants, setup={"feature": tools.setup},
                                         probes={"feature": tools.probe, "recipe": tools.probe})
        results["tool"] = tools.result()
        results["seconds_total"] = time.monotonic() - started
        results["targets"] = report.check_targets(results)
        written = report.write(results, args.out, draw=not args.no_chart)
    except (BenchError, ProvisionError) as exc:  # ProvisionError: a harness helper's command failed
        print("bench: error: {}".format(exc), file=sys.stderr)
        return 1
    finally:
        log("removing this run's containers, volumes and images")
        session.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        if ghcr.started:
            provision.stop_ghcr()
    print(report.markdown(results))
    if results.get("chart") not in (None, "chart.png"):
        log("chart skipped: {}".format(results["chart"]))
    for kind, path in written.items():
        log("{}: {}".format(kind, path))
    missed = [t["what"] for t in results["targets"] if not t["met"]]
    log("done in {:.0f} s; {}".format(results["seconds_total"],
                                     "targets missed: " + "; ".join(missed) if missed else "all targets met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
