"""Hardening in real containers: bad options, a misbehaving index, hostile trees, races, odd starts.

How it runs, to stay fast:

- The install cases run the real ``install.sh`` in a throwaway container of the base image with
  src/uv-user bind-mounted read-only, one container per case, and look in that same container
  afterwards for anything the failed run wrote (``find / -xdev -newer <mark>``).
- The index is tests/fakeindex.py serving the real uv wheel (downloaded once into
  build/cache and checked against PyPI's sha256). It runs in a container with ``--network none``;
  install containers join its network namespace (``--network container:<index>``), so the index is
  http://127.0.0.1:8080 (loopback, as the feature requires for plain HTTP) and nothing else is
  reachable at all.
- The start-time cases use an image committed from one good install, with the feature's
  containerEnv, started the way the devcontainers CLI starts containers (its ``/bin/sh -c`` script
  that runs feature entrypoints, plus a line recording the entrypoint's exit code and duration).
- One case goes through the real CLI (``devcontainer build``) to show what the user sees.

Everything this module creates (containers, volumes, one image, build leftovers) is named or
recorded and removed at the end; nothing is pruned.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

import fakeindex  # tests/fakeindex.py: it serves the index in a container here
from harness.devcontainer import (CLI, FEATURE_SRC, REPO, Owned, docker_exec, keepalive_sleeps,
                                  remove_build_leftovers, run)

pytestmark = pytest.mark.docker

UV_VERSION = "0.9.30"
PORT = 8080
INDEX = "http://127.0.0.1:{}".format(PORT)
TOKEN = uuid.uuid4().hex[:8]  # this run's: its Docker objects' names, a fresh flaky scenario
FEATURE_JSON = json.loads((FEATURE_SRC / "devcontainer-feature.json").read_text())
# Written by a failed install: none of it may exist afterwards.
INSTALL_TARGETS = ("/usr/local/bin/uv", "/usr/local/bin/uvx", "/usr/local/bin/uv-user", "/opt/uv-user",
                   "/etc/uv/uv.toml", "/usr/local/share/uv-user", "/etc/profile.d/uv-user.sh")
# The devcontainers CLI's container command (dist/spec-node: "echo Container started ..."), with one
# extra line after the feature entrypoint that records its exit code and how long it took.
CLI_START = """echo Container started
trap "exit 0" 15
uvh_t0=$(date +%s%N)
/usr/local/share/uv-user/entrypoint.sh
echo "entrypoint-exit=$? ms=$(( ($(date +%s%N) - uvh_t0) / 1000000 ))"
exec "$@"
while sleep 1 & wait $!; do :; done"""


# ============================================================================ docker objects we own


@pytest.fixture(scope="module")
def made(provisioned) -> Iterator[Owned]:
    """Every container, volume and image this module creates, removed at the end (and only those)."""
    objects = Owned(prefix="uvuser-hardening", run_id=TOKEN)
    try:
        yield objects
    finally:
        objects.cleanup()


@pytest.fixture(scope="module")
def base(provisioned) -> str:
    return provisioned["base"]


@pytest.fixture(scope="module")
def fake_index(made: Owned, base: str) -> str:
    """The fake index's container: join it with --network container:<name> to reach 127.0.0.1:8080."""
    wheel = fakeindex.ensure_wheel(str(REPO / "build" / "cache"), UV_VERSION)
    name = made.container("index")
    run(["docker", "run", "-d", "--name", name, "--network", "none",
         "-v", "{}:/srv/fakeindex.py:ro".format(Path(fakeindex.__file__).resolve()),
         "-v", "{}:/srv/{}:ro".format(wheel, os.path.basename(wheel)),
         base, "python3", "/srv/fakeindex.py", "--wheel", "/srv/" + os.path.basename(wheel), "--port", str(PORT)])
    deadline = time.monotonic() + 30
    while "serving " not in run(["docker", "logs", name], check=False).stdout:
        assert time.monotonic() < deadline, run(["docker", "logs", name], check=False)
        time.sleep(0.2)
    return name


def index_log(fake_index: str) -> List[str]:
    return run(["docker", "logs", fake_index]).stdout.splitlines()


# ============================================================================ install in a throwaway container

PROBE = r"""
import json, os, sys
new = [l for l in open("/tmp/.uvh-new").read().splitlines() if l]
print(json.dumps({
    "rc": int(sys.argv[1]),
    "stdout": open("/tmp/.uvh-out").read(),
    "stderr": open("/tmp/.uvh-err").read(),
    "written": new,
    "tmp": sorted(n for n in os.listdir("/tmp") if not n.startswith(".uvh-")),
    "present": [p for p in sys.argv[2:] if os.path.lexists(p)],
    "extra": open("/tmp/.uvh-extra").read() if os.path.exists("/tmp/.uvh-extra") else "",
}))
"""


def install(image: str, env: Dict[str, str], fake_index: str, *, before: str = "", after: str = "",
            extra: Sequence[str] = ()) -> dict:
    """Run the real install.sh once in a new container; report what it said and what it wrote.

    ``before`` runs first (as root, not counted as the install's writes), ``after`` runs once the
    install has exited and its output goes to ``extra``.
    """
    script = "\n".join([
        before,
        "touch /tmp/.uvh-mark && sleep 0.02",
        "sh /feature/install.sh >/tmp/.uvh-out 2>/tmp/.uvh-err; rc=$?",
        # Everything modified or re-owned since the mark, outside /tmp and other filesystems.
        "find / -xdev \\( -newer /tmp/.uvh-mark -o -cnewer /tmp/.uvh-mark \\) ! -path '/tmp/*' ! -path /tmp "
        "> /tmp/.uvh-new",
        "{{ {} ; }} > /tmp/.uvh-extra 2>&1".format(after) if after else "",
        "python3 -c '{}' \"$rc\" {}".format(PROBE.replace("'", "'\"'\"'"), " ".join(INSTALL_TARGETS)),
    ])
    args = ["docker", "run", "--rm", "--network", "container:" + fake_index,
            "-v", "{}:/feature:ro".format(FEATURE_SRC)] + list(extra)
    for key, value in env.items():
        args += ["-e", "{}={}".format(key, value)]
    result = run(args + [image, "sh", "-c", script], timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_refused(outcome: dict, fragment: str) -> None:
    """Exit != 0, exactly one stderr line, a uv-user: line naming the value, nothing written anywhere."""
    everything = outcome["stdout"] + outcome["stderr"]
    assert outcome["rc"] != 0, everything
    assert "Traceback" not in everything, everything
    errors = [line for line in outcome["stderr"].splitlines() if line.strip()]
    assert len(errors) == 1, outcome["stderr"]
    assert errors[-1].startswith("uv-user: "), errors
    assert fragment in errors[-1], errors[-1]
    assert outcome["present"] == [], "a failed install left {}".format(outcome["present"])
    assert outcome["written"] == [], "a failed install wrote {}".format(outcome["written"])
    assert outcome["tmp"] == [], "a failed install left {} in /tmp".format(outcome["tmp"])


WHEEL_URL = "{}/{{}}/files/{}".format(INDEX, fakeindex.wheel_name(UV_VERSION))

BAD = [
    # (id, options, a fragment of the one uv-user: line: the value and what is wrong with it)
    ("version-bogus", {"VERSION": "9.9.bogus"}, "version '9.9.bogus' is not valid; use latest, none, X.Y"),
    ("version-shell", {"VERSION": "latest; rm -rf /"}, "version 'latest; rm -rf /' is not valid; use latest"),
    ("version-subst", {"VERSION": "$(id)"}, "version '$(id)' is not valid; use latest"),
    ("version-empty", {"VERSION": ""}, "version '' is not valid; use latest"),
    ("version-absent", {"VERSION": "0.0.1", "INDEXURL": INDEX + "/json/simple"},
     "uv version 0.0.1 is not on the index (newest there: {}); pick a published version".format(UV_VERSION)),
    ("version-none-without-uv", {"VERSION": "none"},
     "version is none but no working uv is on PATH in the image; install uv first or set version to latest"),
    ("username-odd", {"USERNAME": "vs code;id"}, "username 'vs code;id' is not a valid user name; use automatic"),
    ("index-malformed", {"INDEXURL": "pypi.org/simple"}, "indexUrl 'pypi.org/simple' is not an http(s) URL; use"),
    ("index-broken-ipv6", {"INDEXURL": "http://[::1/simple"},
     "indexUrl 'http://[::1/simple' cannot be used: it is not a valid URL"),
    ("index-plain-http", {"INDEXURL": "http://pypi.org/simple"},
     "indexUrl 'http://pypi.org/simple' is plain HTTP; use https://"),
    ("index-unreachable", {"VERSION": UV_VERSION, "INDEXURL": "http://127.0.0.1:9/simple"},
     "could not fetch the index page http://127.0.0.1:9/simple/uv/ after 4 attempts ("),
    ("index-404", {"VERSION": UV_VERSION, "INDEXURL": INDEX + "/no-such-index/simple"},
     INDEX + "/no-such-index/simple/uv/ answered HTTP 404 Not Found; check indexUrl"),
    ("index-hangs", {"VERSION": UV_VERSION, "INDEXURL": INDEX + "/hang/simple", "_UV_USER_HTTP_TIMEOUT": "1"},
     # 1 s instead of 30 s scales the page's limits to 2 s an attempt and 6 s in all: the backoff
     # (1 s, then 2 s) leaves time for three attempts, then the 6 s are up.
     INDEX + "/hang/simple/uv/ after 3 attempts (timed out: "),
    ("sha256-mismatch", {"VERSION": UV_VERSION, "INDEXURL": INDEX + "/badsha/simple"},
     "sha256 of {} is ".format(WHEEL_URL.format("badsha"))),
    ("no-wheel-for-this-platform", {"VERSION": UV_VERSION, "INDEXURL": INDEX + "/noplatform/simple"},
     "no uv {} wheel fits this image (x86_64 glibc 2.36); 4 wheel(s)".format(UV_VERSION)),
]


@pytest.mark.parametrize("case, env, fragment", BAD, ids=[c[0] for c in BAD])
def test_a_bad_option_or_index_fails_the_install_with_one_line_and_writes_nothing(
        case: str, env: Dict[str, str], fragment: str, base: str, fake_index: str) -> None:
    outcome = install(base, dict({"_REMOTE_USER": "vscode"}, **env), fake_index)
    assert_refused(outcome, fragment)
    if case == "sha256-mismatch":  # the bytes were fetched, checked and thrown away
        assert "but the index says " + "0" * 64 in outcome["stderr"]
        assert WHEEL_URL.format("badsha")[len(INDEX):] + " 200" in index_log(fake_index)


def test_a_symlinked_venv_in_the_image_is_refused_and_its_target_kept(installed: str, fake_index: str) -> None:
    # `uv venv --clear` through the link would empty /srv/precious.
    outcome = install(installed, {"VERSION": UV_VERSION, "INDEXURL": INDEX + "/json/simple"}, fake_index,
                      before="mkdir -p /srv/precious && echo mine > /srv/precious/keep && "
                             "rm -rf /opt/uv-user/venv && ln -s /srv/precious /opt/uv-user/venv",
                      after="cat /srv/precious/keep")
    assert outcome["rc"] == 1
    assert outcome["stderr"] == ("uv-user: /opt/uv-user/venv is a symlink (to /srv/precious); uv-user never writes "
                                 "through links: remove it from the image and rebuild (nothing was changed)\n")
    assert outcome["written"] == []
    assert outcome["extra"] == "mine\n"


GOOD = [
    ("json-relative-links", "json"),
    ("json-absolute-links", "json-abs"),
    ("html-only", "html"),
    ("500-500-200-and-a-503-wheel", "flaky.{}".format(TOKEN)),
]


@pytest.mark.parametrize("case, scenario", GOOD, ids=[c[0] for c in GOOD])
def test_an_index_that_works_installs_uv_and_a_second_install_keeps_it(
        case: str, scenario: str, base: str, fake_index: str) -> None:
    env = {"VERSION": UV_VERSION, "INDEXURL": "{}/{}/simple".format(INDEX, scenario), "_REMOTE_USER": "vscode"}
    started = time.monotonic()
    outcome = install(base, env, fake_index, after="uv --version && stat -c '%U' /opt/uv-user/venv/bin/python && "
                                                    "sh /feature/install.sh 2>&1 | tail -n 3")
    elapsed = time.monotonic() - started
    assert outcome["rc"] == 0, outcome["stdout"] + outcome["stderr"]
    assert outcome["stderr"] == ""
    assert "uv-user: done: uv {} for vscode".format(UV_VERSION) in outcome["stdout"]
    lines = outcome["extra"].splitlines()
    assert lines[0].startswith("uv {}".format(UV_VERSION)) and lines[1] == "vscode", outcome["extra"]
    assert "uv-user: done: uv {} for vscode".format(UV_VERSION) in lines[-1], outcome["extra"]
    if scenario.startswith("flaky"):
        served = [line for line in index_log(fake_index) if line.startswith("/" + scenario + "/")]
        page, wheel = "/{}/simple/uv/".format(scenario), "/{}/files/{}".format(scenario,
                                                                                fakeindex.wheel_name(UV_VERSION))
        assert served[:5] == [page + " 500", page + " 500", page + " 200", wheel + " 503", wheel + " 200"], served
        assert elapsed > 1 + 2 + 1  # backed off 1 s, 2 s (page) and 1 s (wheel) before the successes


# ============================================================================ through the devcontainers CLI


def test_the_cli_build_shows_the_uv_user_line_for_a_bad_option(base: str, tmp_path: Path) -> None:
    """What a user sees. The CLI sources VERSION="$(id)" with sh, so the value arrives expanded."""
    workspace = tmp_path / "ws"
    shutil.copytree(FEATURE_SRC, workspace / ".devcontainer" / "uv-user", ignore=shutil.ignore_patterns("__pycache__"))
    (workspace / ".devcontainer" / "devcontainer.json").write_text(json.dumps({
        "image": base, "remoteUser": "vscode", "features": {"./uv-user": {"version": "$(id)"}}}))
    before = set(run(["docker", "images", "-aq", "--no-trunc"]).stdout.split())
    result = run([str(CLI), "build", "--workspace-folder", str(workspace), "--log-level", "info"], check=False,
                 timeout=600)
    output = result.stdout + result.stderr
    try:
        # Concurrent CLI builds on one engine share the dev_container_feature_content_temp tag and can
        # build each other's feature content: make that visible instead of a puzzling failure.
        assert 'VERSION="$(id)"' in output, "this build ran another build's feature content:\n" + output[-3000:]
        assert result.returncode != 0
        assert "uv-user: version 'uid=0(root) gid=0(root) groups=0(root)' is not valid; use latest, none" in output
        assert "Traceback" not in output
    finally:
        remove_build_leftovers(output, before)


# ============================================================================ the installed image, started like the CLI does


@pytest.fixture(scope="module")
def installed(made: Owned, base: str, fake_index: str) -> str:
    """The base image after one good install, with the feature's containerEnv, as an image."""
    name = made.container("installer")
    run(["docker", "run", "--name", name, "--network", "container:" + fake_index,
         "-v", "{}:/feature:ro".format(FEATURE_SRC), "-e", "VERSION=" + UV_VERSION,
         "-e", "INDEXURL={}/json/simple".format(INDEX), "-e", "_REMOTE_USER=vscode", base, "sh", "/feature/install.sh"],
        timeout=300)
    base_path = next(e.split("=", 1)[1] for e in json.loads(run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Env}}", base]).stdout) if e.startswith("PATH="))
    changes = []
    for key, value in FEATURE_JSON["containerEnv"].items():
        changes += ["--change", "ENV {}={}".format(key, value.replace("${PATH}", base_path))]
    image = made.tag("installed")
    run(["docker", "commit"] + changes + [name, image])
    return image


def start(made: Owned, image: str, label: str, *docker_args: str, prelude: str = "") -> str:
    """A detached container started like `devcontainer up` starts one (``prelude`` runs before the CLI's script)."""
    name = made.container(label)
    script = (prelude + "\n" if prelude else "") + CLI_START
    run(["docker", "run", "-d", "--name", name] + list(docker_args) + ["--entrypoint", "/bin/sh", image, "-c",
                                                                       script, "-"])
    return name


def repair_running(container: str) -> bool:
    """Whether a `uv-user repair` (e.g. the entrypoint's background whole-tree check) still runs."""
    out = run(["docker", "exec", container, "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"],
              check=False).stdout
    return "uv-user.py repair" in out


def entrypoint_runs(container: str, count: int = 1, timeout: float = 60) -> List[Tuple[int, int, List[str]]]:
    """(exit code, milliseconds, uv-user: lines) of each entrypoint run so far, once ``count`` have ended.

    The entrypoint may leave its whole-tree check running beside the start: wait for that too, and
    count its lines with the run that started it.
    """
    deadline = time.monotonic() + timeout
    while True:
        text = container_log(container)
        ends = re.findall(r"entrypoint-exit=(\d+) ms=(\d+)", text)
        if len(ends) >= count and not (is_running(container) and repair_running(container)):
            break
        assert time.monotonic() < deadline, "the entrypoint did not finish in {} s:\n{}".format(timeout, text)
        time.sleep(0.2)
    text = container_log(container)
    runs = []
    for chunk in text.split("Container started")[1:]:
        done = re.search(r"entrypoint-exit=(\d+) ms=(\d+)", chunk)
        if done:
            said = [l for l in chunk.splitlines() if l.startswith("uv-user:")]
            runs.append((int(done.group(1)), int(done.group(2)), said))
    return runs


def container_log(container: str) -> str:
    """stdout and stderr interleaved as the container wrote them (docker logs keeps them apart)."""
    result = run(["docker", "logs", "--timestamps", container], check=False)
    lines = []
    for stream, text in enumerate((result.stdout, result.stderr)):
        for number, line in enumerate(text.splitlines()):
            stamp, _, rest = line.partition(" ")
            seconds, _, fraction = stamp.rstrip("Z").partition(".")
            lines.append(((seconds, fraction.ljust(9, "0")), stream, number, rest))
    return "\n".join(rest for *_, rest in sorted(lines)) + "\n"


def is_running(container: str) -> bool:
    return run(["docker", "inspect", "--format", "{{.State.Running}}", container]).stdout.strip() == "true"


def not_vscodes(container: str, but: str = "") -> str:
    """Entries under /opt/uv-user (this filesystem only, and not ``but``) not owned by vscode:vscode."""
    skip = "! -path {} ".format(but) if but else ""
    return docker_exec(container, "find /opt/uv-user -xdev {}\\( ! -user vscode -o ! -group vscode \\) | head -5"
                       .format(skip)).stdout


STAT = "stat -c '%n %u:%g %a %Z' /etc/shadow /etc /usr /usr/local/share/uv-user " \
       "/usr/local/share/uv-user/entrypoint.sh /home / /srv/outside /srv/outside/f"
HOSTILE = """
set -e
mkdir -p /srv/outside && echo root-only > /srv/outside/f && chmod 600 /srv/outside/f
cd /opt/uv-user/venv
ln -s /etc/shadow shadow-link
ln -s /usr/local/share/uv-user share-link
ln -s /srv/outside outside-link
ln -s ../../../../etc dotdot-link
mkdir -p lib/deep/er && touch lib/deep/er/file
# the tmpfs at venv/mnt: another filesystem, whose contents belong to someone else
touch mnt/theirs && mkdir mnt/dir && touch mnt/dir/file && chown -R 4242:4242 mnt/theirs mnt/dir
# what `sudo uv ...` and a remap leave behind, everywhere but the tmpfs
find /opt/uv-user -xdev -exec chown -h root:root {} +
"""


def test_a_hostile_tree_is_repaired_without_following_links_or_crossing_mounts(made: Owned, installed: str) -> None:
    volume = made.volume("hostile")
    box = start(made, installed, "hostile", "-v", volume + ":/opt/uv-user",
                "--mount", "type=tmpfs,destination=/opt/uv-user/venv/mnt")
    assert entrypoint_runs(box)[0][0] == 0
    docker_exec(box, HOSTILE)
    before = docker_exec(box, STAT).stdout
    mount_before = docker_exec(box, "stat -c '%n %u:%g' /opt/uv-user/venv/mnt /opt/uv-user/venv/mnt/theirs "
                                    "/opt/uv-user/venv/mnt/dir /opt/uv-user/venv/mnt/dir/file").stdout
    assert not_vscodes(box) != ""
    # What runs at every start, run again now (a restart would empty the tmpfs).
    said = docker_exec(box, "/usr/local/share/uv-user/entrypoint.sh; echo rc=$?")
    assert said.stdout.splitlines()[-1] == "rc=0" and said.stderr == ""
    assert re.match(r"uv-user: re-owned \d+ of \d+ entries under /opt/uv-user for vscode \(1000:1000\)$",
                    said.stdout.splitlines()[0]), said.stdout
    assert not_vscodes(box, but="/opt/uv-user/venv/mnt") == ""  # the mount point is the tmpfs's root
    assert docker_exec(box, STAT).stdout == before  # nothing a link points at changed, not even its ctime
    assert docker_exec(box, "stat -c '%n %u:%g' /opt/uv-user/venv/mnt /opt/uv-user/venv/mnt/theirs "
                            "/opt/uv-user/venv/mnt/dir /opt/uv-user/venv/mnt/dir/file").stdout == mount_before
    links = docker_exec(box, "stat -c '%U %F' /opt/uv-user/venv/*-link").stdout.splitlines()
    assert links == ["vscode symbolic link"] * 4
    assert docker_exec(box, "cat /etc/shadow", user="vscode", check=False).returncode != 0


def test_a_venv_replaced_by_a_symlink_is_re_owned_as_a_link_and_its_target_kept(made: Owned, installed: str) -> None:
    volume = made.volume("venvlink")
    box = start(made, installed, "venvlink", "-v", volume + ":/opt/uv-user")
    assert entrypoint_runs(box)[0][0] == 0
    # The user owns /opt/uv-user, so the user can do this; root then leaves a root-owned file too.
    docker_exec(box, "mv /opt/uv-user/venv /opt/uv-user/venv.mine && ln -s /usr/local/share/uv-user /opt/uv-user/venv",
       user="vscode")
    docker_exec(box, "chown -h root:root /opt/uv-user/venv && touch /opt/uv-user/cache/by-root")
    before = docker_exec(box, "stat -c '%n %u:%g %Z' /usr/local/share/uv-user /usr/local/share/uv-user/*").stdout
    run(["docker", "restart", box])
    runs = entrypoint_runs(box, count=2)
    assert runs[1][0] == 0 and len(runs[1][2]) == 1, runs
    after = docker_exec(box, "stat -c '%n %u:%g %Z' /usr/local/share/uv-user /usr/local/share/uv-user/*").stdout
    assert after == before
    assert docker_exec(box, "stat -c '%U %F' /opt/uv-user/venv").stdout == "vscode symbolic link\n"
    assert not_vscodes(box) == ""


def test_hard_links_cannot_hand_over_a_file_outside_the_tree(made: Owned, installed: str) -> None:
    # 1. The user cannot plant one: across the volume it is another filesystem, and on the image's
    #    own filesystem the kernel's fs.protected_hardlinks=1 refuses a link to a file the user
    #    neither owns nor may write.
    volume = made.volume("hardlink")
    box = start(made, installed, "hardlink", "-v", volume + ":/opt/uv-user")
    assert entrypoint_runs(box)[0][0] == 0
    in_volume = docker_exec(box, "ln /etc/shadow /opt/uv-user/x", user="vscode", check=False)
    assert in_volume.returncode != 0 and "Invalid cross-device link" in in_volume.stderr
    plain = start(made, installed, "hardlink-novolume")  # /opt/uv-user on the image's overlay, like /etc
    assert entrypoint_runs(plain)[0][0] == 0
    on_overlay = docker_exec(plain, "ln /etc/shadow /opt/uv-user/venv/x", user="vscode", check=False)
    # Debian's and Docker hosts' default: protected_hardlinks = 1
    if docker_exec(plain, "cat /proc/sys/fs/protected_hardlinks").stdout.strip() == "1":
        assert on_overlay.returncode != 0 and "Operation not permitted" in on_overlay.stderr
    else:  # a kernel that allows it: then only the guard below stands between the user and /etc/shadow
        assert on_overlay.returncode == 0
        docker_exec(plain, "rm /opt/uv-user/venv/x")
    # 2. Planted anyway (by root, or where the kernel allows it), repair leaves it alone and says so.
    docker_exec(plain, "ln /etc/shadow /opt/uv-user/venv/x && "
                       "find /opt/uv-user ! -samefile /etc/shadow -exec chown -h 0:0 {} +")
    before = docker_exec(plain, "stat -c '%u:%g %a %Z' /etc/shadow").stdout  # after ln, which sets its ctime
    said = docker_exec(plain, "/usr/local/share/uv-user/entrypoint.sh; echo rc=$?")
    assert said.stdout.splitlines()[-1] == "rc=0"
    assert "1 could not be changed, e.g. /opt/uv-user/venv/x: a hard link with 1 of its 2 names outside " \
           "/opt/uv-user: left alone" in said.stdout.splitlines()[0], said.stdout
    assert docker_exec(plain, "stat -c '%u:%g %a %Z' /etc/shadow").stdout == before
    assert docker_exec(plain, "find /opt/uv-user \\( ! -user vscode -o ! -group vscode \\) "
                              "! -samefile /etc/shadow").stdout == ""


def test_repair_refuses_roots_outside_its_tree_and_ignores_uv_variables(made: Owned, installed: str) -> None:
    box = start(made, installed, "roots")
    assert entrypoint_runs(box)[0][0] == 0
    refused = docker_exec(box, "for r in / /usr /etc /home /home/vscode /workspaces/project "
                               "/usr/local/share/uv-user; do uv-user repair --root $r; echo rc=$?; done", check=False)
    lines = refused.stderr.splitlines()
    assert len(lines) == 7 and all(l.startswith("uv-user: refusing to repair ownership of /") for l in lines), lines
    assert refused.stdout.split() == ["rc=1"] * 7
    docker_exec(box, "chown -R root:root /opt/uv-user/venv/lib")  # (copies /opt up the overlay: ctime of / changes)
    before = docker_exec(box, STAT.replace(" /srv/outside /srv/outside/f", "")).stdout
    repaired = run(["docker", "exec", "-u", "root", "-e", "UV_PROJECT_ENVIRONMENT=/", "-e", "VIRTUAL_ENV=/etc",
                    "-e", "UV_CACHE_DIR=/usr", "-e", "UV_PYTHON_INSTALL_DIR=/home", "-e", "HOME=/",
                    box, "uv-user", "repair"])
    assert repaired.stdout.startswith("uv-user: re-owned ") and repaired.stderr == ""
    assert not_vscodes(box) == ""
    assert docker_exec(box, STAT.replace(" /srv/outside /srv/outside/f", "")).stdout == before


# ============================================================================ idempotency and concurrency


def test_two_repairs_at_once_both_succeed(made: Owned, installed: str) -> None:
    box = start(made, installed, "parallel")
    assert entrypoint_runs(box)[0][0] == 0
    docker_exec(box, "mkdir -p /opt/uv-user/venv/lib/many && cd /opt/uv-user/venv/lib/many && "
                     "for d in $(seq 1 40); do mkdir d$d && for f in $(seq 1 50); do : > d$d/f$f; done; done && "
                     "chown -R root:root /opt/uv-user")
    both = docker_exec(box, "(uv-user repair > /tmp/a 2>&1; echo a=$? >> /tmp/rc) & (uv-user repair > /tmp/b 2>&1; "
                            "echo b=$? >> /tmp/rc) & wait; sort /tmp/rc; cat /tmp/a /tmp/b")
    lines = both.stdout.splitlines()
    assert lines[:2] == ["a=0", "b=0"], both.stdout
    assert all(l.startswith("uv-user: re-owned ") for l in lines[2:]) and len(lines) <= 4, both.stdout
    assert not_vscodes(box) == ""


TINY_WHEEL = r"""
import base64, hashlib, zipfile
files = {"uvh_tiny.py": b"VALUE = 42\n",
         "uvh_tiny-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: uvh-tiny\nVersion: 0.1\n",
         "uvh_tiny-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
record = "".join("{},sha256={},{}\n".format(n, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode(),
                 len(d)) for n, d in files.items()) + "uvh_tiny-0.1.dist-info/RECORD,,\n"
with zipfile.ZipFile("/tmp/uvh_tiny-0.1-py3-none-any.whl", "w") as whl:
    for n, d in files.items():
        whl.writestr(n, d)
    whl.writestr("uvh_tiny-0.1.dist-info/RECORD", record)
"""


def test_two_containers_share_one_volume_and_a_restart_repairs_what_the_other_broke(made: Owned,
                                                                                      installed: str) -> None:
    volume = made.volume("shared")
    first = start(made, installed, "shared-a", "-v", volume + ":/opt/uv-user")
    second = start(made, installed, "shared-b", "-v", volume + ":/opt/uv-user")
    for box in (first, second):
        assert entrypoint_runs(box)[0][0] == 0
        docker_exec(box, "python3 -c '{}'".format(TINY_WHEEL.replace("'", "'\"'\"'")), user="vscode")
    docker_exec(first, "uv pip install --offline /tmp/uvh_tiny-0.1-py3-none-any.whl", user="vscode")
    # In the other container, as root (a `sudo uv pip install`): root-owned files in the shared env.
    docker_exec(second, "uv pip install --offline --reinstall /tmp/uvh_tiny-0.1-py3-none-any.whl && "
                        "chown -R root:root /opt/uv-user/venv/lib")
    assert not_vscodes(first) != ""
    run(["docker", "restart", first])
    runs = entrypoint_runs(first, count=2)
    assert runs[1][0] == 0 and len(runs[1][2]) == 1 and runs[1][2][0].startswith("uv-user: re-owned "), runs
    assert not_vscodes(first) == "" and not_vscodes(second) == ""
    for box in (first, second):  # the env is the user's, and usable, from both
        out = docker_exec(box, "uv pip install --offline --reinstall /tmp/uvh_tiny-0.1-py3-none-any.whl "
                               ">/dev/null 2>&1 && python -c 'import uvh_tiny, sys; print(uvh_tiny.VALUE, sys.prefix)'",
                          user="vscode")
        assert out.stdout == "42 /opt/uv-user/venv\n"


# ============================================================================ the entrypoint never blocks or fails a start


def broken_volume(made: Owned, installed: str, label: str, setup: str) -> str:
    """A volume holding an installed tree that ``setup`` (as root) then damages."""
    volume = made.volume(label)
    run(["docker", "run", "--rm", "-v", volume + ":/opt/uv-user", installed, "sh", "-c", setup])
    return volume


UNREADABLE = ("mkdir /opt/uv-user/venv/locked && touch /opt/uv-user/venv/locked/f && "
              "chown -R root:root /opt/uv-user && chmod 000 /opt/uv-user/venv/locked")
BREAK = "chown -R root:root /opt/uv-user"

STARTS = [
    # (id, volume setup or None, docker run arguments ({volume}: the set-up volume, mounted at /opt/uv-user
    #  unless the arguments say how), prelude before the CLI's script, repaired?)
    ("unreadable-dir-root", UNREADABLE, [], "", True),
    ("unreadable-dir-root-without-dac-and-chown-caps", UNREADABLE,
     ["--cap-drop", "DAC_OVERRIDE", "--cap-drop", "DAC_READ_SEARCH", "--cap-drop", "CHOWN", "--cap-drop", "FOWNER"],
     "", False),
    ("unreadable-dir-as-vscode-without-sudo", UNREADABLE,
     ["--user", "vscode", "--security-opt", "no-new-privileges"], "", False),
    ("recorded-user-deleted", BREAK, [], "userdel vscode", False),
    ("read-only-volume", BREAK, ["-v", "{volume}:/opt/uv-user:ro"], "", False),
    ("read-only-tmpfs", None, ["--mount", "type=tmpfs,destination=/opt/uv-user,readonly"], "", False),
]


@pytest.mark.parametrize("case, setup, args, prelude, repaired", STARTS, ids=[s[0] for s in STARTS])
def test_the_entrypoint_never_blocks_or_fails_a_start(case: str, setup: Optional[str], args: List[str], prelude: str,
                                                      repaired: bool, made: Owned, installed: str) -> None:
    docker_args = list(args)
    if setup is not None:
        volume = broken_volume(made, installed, case, setup)
        if not any("{volume}" in a for a in docker_args):
            docker_args += ["-v", "{volume}:/opt/uv-user"]
        docker_args = [a.format(volume=volume) for a in docker_args]
    box = start(made, installed, case, *docker_args, prelude=prelude)
    (code, ms, said), = entrypoint_runs(box)
    assert code == 0
    assert len(said) <= 1, said
    assert ms < 10000, "the entrypoint took {} ms".format(ms)
    deadline = time.monotonic() + 30
    while not keepalive_sleeps(box):  # the start went on past the entrypoint, to the CLI's keep-alive loop
        assert time.monotonic() < deadline, "the start did not go on:\n" + container_log(box)
        time.sleep(0.2)
    assert is_running(box)
    logs = container_log(box)
    assert "Traceback" not in logs
    if repaired:
        assert not_vscodes(box) == ""
    else:
        assert len(said) == 1, "a start that could not repair says so in one line: {}".format(logs)
    print("{}: entrypoint exit {} in {} ms: {}".format(case, code, ms, said[0] if said else "(silent)"))
