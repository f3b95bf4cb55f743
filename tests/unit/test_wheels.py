"""Wheel selection against the real file list of uv 0.13.9 on PyPI."""

from __future__ import annotations

import pytest

from uv_user.errors import UvUserError
from uv_user.wheels import Platform, WheelFile, normalize_arch, parse_wheel_name, select

UV_0_13_9 = [
    "uv-0.13.9-py3-none-linux_armv6l.whl",
    "uv-0.13.9-py3-none-macosx_10_12_x86_64.whl",
    "uv-0.13.9-py3-none-macosx_11_0_arm64.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_armv7l.manylinux2014_armv7l.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_i686.manylinux2014_i686.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_ppc64le.manylinux2014_ppc64le.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_s390x.manylinux2014_s390x.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "uv-0.13.9-py3-none-manylinux_2_28_aarch64.whl",
    "uv-0.13.9-py3-none-manylinux_2_31_riscv64.musllinux_1_1_riscv64.whl",
    "uv-0.13.9-py3-none-manylinux_2_31_riscv64.whl",
    "uv-0.13.9-py3-none-musllinux_1_1_i686.whl",
    "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl",
    "uv-0.13.9-py3-none-win32.whl",
    "uv-0.13.9-py3-none-win_amd64.whl",
    "uv-0.13.9-py3-none-win_arm64.whl",
    "uv-0.13.9.tar.gz",
]
PREFIX = "uv-0.13.9-py3-none-"


def files(names=UV_0_13_9, yanked=()):
    return [WheelFile(n, "https://files.example/" + n, "0" * 64, n in yanked) for n in names]


def pick(platform, names=UV_0_13_9, yanked=()):
    return select(files(names, yanked), "0.13.9", platform).filename[len(PREFIX):]


ARMV7_GLIBC = {"manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l.whl",
               "manylinux_2_17_armv7l.manylinux2014_armv7l.whl"}
RISCV_GLIBC = {"manylinux_2_31_riscv64.musllinux_1_1_riscv64.whl", "manylinux_2_31_riscv64.whl"}


@pytest.mark.parametrize("platform, expected", [
    (Platform("x86_64", "glibc", (2, 36)), {"manylinux_2_17_x86_64.manylinux2014_x86_64.whl"}),
    (Platform("aarch64", "glibc", (2, 36)), {"manylinux_2_28_aarch64.whl"}),
    (Platform("aarch64", "glibc", (2, 28)), {"manylinux_2_28_aarch64.whl"}),
    (Platform("aarch64", "glibc", (2, 17)),
     {"manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl"}),
    (Platform("x86_64", "musl", (1, 2)), {"musllinux_1_1_x86_64.whl"}),
    (Platform("aarch64", "musl", (1, 2)),
     {"manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl"}),
    (Platform("armv7l", "glibc", (2, 36)), ARMV7_GLIBC),
    (Platform("armv7l", "musl", (1, 2)),
     {"manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l.whl"}),
    (Platform("i686", "glibc", (2, 36)), {"manylinux_2_17_i686.manylinux2014_i686.whl"}),
    (Platform("i686", "musl", (1, 2)), {"musllinux_1_1_i686.whl"}),
    (Platform("ppc64le", "glibc", (2, 36)), {"manylinux_2_17_ppc64le.manylinux2014_ppc64le.whl"}),
    (Platform("s390x", "glibc", (2, 36)), {"manylinux_2_17_s390x.manylinux2014_s390x.whl"}),
    (Platform("riscv64", "glibc", (2, 31)), RISCV_GLIBC),
    (Platform("riscv64", "musl", (1, 2)), {"manylinux_2_31_riscv64.musllinux_1_1_riscv64.whl"}),
], ids=lambda v: v.describe() if isinstance(v, Platform) else "")
def test_select_picks_the_wheel_for_each_supported_platform(platform, expected):
    assert pick(platform) in expected


@pytest.mark.parametrize("platform", [
    Platform("x86_64", "glibc", (2, 36)), Platform("aarch64", "glibc", (2, 36)),
    Platform("aarch64", "glibc", (2, 17)), Platform("i686", "musl", (1, 2)),
], ids=Platform.describe)
def test_select_does_not_depend_on_the_order_the_index_lists_files(platform):
    assert pick(platform, list(reversed(UV_0_13_9))) == pick(platform)


@pytest.mark.parametrize("platform", [
    Platform("riscv64", "glibc", (2, 28)),
    Platform("ppc64le", "musl", (1, 2)),
    Platform("s390x", "musl", (1, 2)),
    Platform("x86_64", "glibc", (2, 16)),
    Platform("armv6l", "glibc", (2, 36)),
    Platform("x86_64", "musl", (1, 0)),
], ids=Platform.describe)
def test_select_refuses_unsupported_platforms_naming_them(platform):
    with pytest.raises(UvUserError) as caught:
        select(files(), "0.13.9", platform)
    line = caught.value.line()
    assert line.startswith("uv-user: no uv 0.13.9 wheel fits this image")
    assert "({})".format(platform.describe()) in line
    assert "18 wheel(s) for that version were on the index" in line  # 18 wheels; the sdist is not one


def test_select_skips_yanked_wheels():
    platform = Platform("aarch64", "glibc", (2, 36))
    yanked = {PREFIX + "manylinux_2_28_aarch64.whl"}
    assert pick(platform, yanked=yanked) == "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl"


def test_select_refuses_when_the_only_fitting_wheel_is_yanked():
    platform = Platform("x86_64", "musl", (1, 2))
    with pytest.raises(UvUserError, match="no uv 0.13.9 wheel fits"):
        pick(platform, yanked={PREFIX + "musllinux_1_1_x86_64.whl"})


def test_select_ignores_other_versions_and_other_projects():
    names = ["uv-0.13.8-py3-none-musllinux_1_1_x86_64.whl", "uvx-0.13.9-py3-none-musllinux_1_1_x86_64.whl",
             "uv-0.13.9.tar.gz"]
    with pytest.raises(UvUserError, match=r"0 wheel\(s\) for that version were on the index: none"):
        select(files(names), "0.13.9", Platform("x86_64", "musl", (1, 2)))


@pytest.mark.parametrize("machine, arch", [
    ("amd64", "x86_64"), ("AMD64", "x86_64"), ("x86_64", "x86_64"), ("arm64", "aarch64"),
    ("aarch64", "aarch64"), (" arm64\n", "aarch64"), ("armv8l", "armv7l"), ("i386", "i686"),
    ("riscv64", "riscv64"), ("ppc64le", "ppc64le"),
])
def test_normalize_arch_folds_uname_spellings_onto_wheel_tags(machine, arch):
    assert normalize_arch(machine) == arch


# ----------------------------------------------------------------------------- names from a hostile index

HUGE = "9" * 5000  # past Python's int-conversion limit (4300 digits): int() raises ValueError


@pytest.mark.parametrize("tag", [
    "manylinux_{}_17_x86_64".format(HUGE),
    "musllinux_1_{}_x86_64".format(HUGE),
    "manylinux_1234567890_17_x86_64",  # ten digits: no libc is numbered like that
])
def test_a_tag_with_an_absurd_libc_version_is_ignored_not_a_crash(tag):
    with pytest.raises(UvUserError, match="no uv 0.13.9 wheel fits"):
        select(files([PREFIX + tag + ".whl"]), "0.13.9", Platform("x86_64", "glibc", (2, 36)))


@pytest.mark.parametrize("name", [
    PREFIX + "manylinux_2_17_x86_64\n.whl",  # a newline would forge a second line in the plan
    PREFIX + "manylinux_2_17_x86_64\x1b[31m.whl",
    PREFIX + "manylinux_2_17_x86_64 .whl",
    "uv-0.13.9\u00e9-py3-none-manylinux_2_17_x86_64.whl",
])
def test_a_file_name_with_characters_no_wheel_name_has_is_not_a_wheel(name):
    assert parse_wheel_name(name) is None
