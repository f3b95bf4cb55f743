#!/bin/bash
# Shared as-the-user checks for every uv-user scenario. Sourced by test.sh and
# the scenario scripts after dev-container-features-test-lib, so each check is
# reported with the library's `check`.
#
# Usage: uvuser_core_checks EXPECTED_USER
# The project is synced where the user works (the workspace when it is
# writable, else $HOME), and must leave no .venv there.

# The layout, as src/uv-user/uv_user/paths.py has it (tests/unit/test_layout.py checks these three
# against it, and that no script here spells a path below them out).
UVU_ROOT=/opt/uv-user
UVU_ENV=/opt/uv-user/venv
UVU_CACHE=/opt/uv-user/cache

uvuser_project_dir() {
    local base
    for base in "${PWD}" "${HOME}" /tmp; do
        if [ -w "${base}" ]; then
            mktemp -d "${base}/uvuser-check.XXXXXX"
            return
        fi
    done
}

uvuser_write_project() {
    cat > "$1/pyproject.toml" <<'TOML'
[project]
name = "uvuser-check"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = ["iniconfig"]
TOML
}

# Everything under the env, cache and managed Pythons belongs to the user.
uvuser_all_owned() {
    [ -z "$(find "${UVU_ROOT}" \( ! -user "$(id -u)" -o ! -group "$(id -g)" \) -print -quit 2>/dev/null)" ]
}

uvuser_core_checks() {
    local expected_user="$1" proj
    proj=$(uvuser_project_dir)
    uvuser_write_project "${proj}"

    check "runs as ${expected_user}" test "$(id -un)" = "${expected_user}"
    check "uv runs" uv --version
    check "uvx runs" uvx --version
    check "UV_PROJECT_ENVIRONMENT is the user env" test "${UV_PROJECT_ENVIRONMENT}" = "${UVU_ENV}"
    check "VIRTUAL_ENV agrees with it" test "${VIRTUAL_ENV}" = "${UVU_ENV}"
    check "env owned by the user before sync" uvuser_all_owned
    check "python on PATH is the env's" test "$(command -v python)" = "${UVU_ENV}/bin/python"
    check "login shell python is the env's" bash -lc "test \"\$(command -v python)\" = ${UVU_ENV}/bin/python"
    check "a fresh login (su -, ssh) gets the env and uv's settings" env -i HOME="${HOME}" PATH=/usr/bin:/bin bash -lc "test \"\$(command -v python)\" = ${UVU_ENV}/bin/python && test \"\${UV_PROJECT_ENVIRONMENT}:\${VIRTUAL_ENV}:\${UV_CACHE_DIR}\" = ${UVU_ENV}:${UVU_ENV}:${UVU_CACHE}"
    check "uv sync in the project" bash -c "cd '${proj}' && uv sync"
    check "no .venv in the project" test ! -e "${proj}/.venv"
    check "synced package lands in the env" python -c "import iniconfig, sys; assert sys.prefix == '${UVU_ENV}', sys.prefix; assert iniconfig.__file__.startswith('${UVU_ENV}/')"
    check "uv pip install targets the same env" bash -c "cd '${proj}' && uv pip install six && python -c 'import six; assert six.__file__.startswith(\"${UVU_ENV}/\")'"
    check "no hardlink fallback warning" bash -c "cd '${proj}' && ! uv sync --reinstall 2>&1 | grep -i 'failed to hardlink'"
    check "every file in the env owned by the user" uvuser_all_owned
    check "uv-user command is installed" uv-user --version
    check "uv-user doctor is happy" uv-user doctor
    rm -rf "${proj}"
}
