#!/bin/sh
# uv-user feature installer. The work happens in stdlib-only Python (uv-user.py);
# this shim only makes sure a python3 exists to run it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

# Never pick up the interpreter of uv-user's own environment (a second install
# runs with /opt/uv-user/venv/bin first on PATH). /opt/uv-user is paths.ROOT:
# this shim runs before any python3 can be asked (tests/unit/test_layout.py checks).
find_python() {
    saved_ifs=$IFS
    IFS=:
    for dir in $PATH; do
        case "$dir" in
            ""|/opt/uv-user/*) continue ;;
        esac
        if [ -x "$dir/python3" ]; then
            IFS=$saved_ifs
            printf '%s\n' "$dir/python3"
            return 0
        fi
    done
    IFS=$saved_ifs
}

install_python() {
    echo "uv-user: python3 not found; installing it with the image's package manager"
    if command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -y && apt-get install -y --no-install-recommends python3 ca-certificates || return 1
        rm -rf /var/lib/apt/lists/*
    elif command -v apk >/dev/null 2>&1; then
        apk add --no-cache python3 ca-certificates || return 1
    elif command -v dnf >/dev/null 2>&1; then
        dnf install -y python3 ca-certificates && dnf clean all || return 1
    elif command -v microdnf >/dev/null 2>&1; then
        microdnf install -y python3 ca-certificates && microdnf clean all || return 1
    elif command -v zypper >/dev/null 2>&1; then
        zypper --non-interactive install python3 ca-certificates && zypper clean --all || return 1
    else
        echo "uv-user: python3 is missing and no known package manager (apt-get, apk, dnf, microdnf, zypper) was found; install python3 3.8+ in the image first (nothing was changed)" >&2
        exit 1
    fi
}

# Options are checked by uv-user itself, in one place, and it needs python3 for that. So when
# python3 has to be installed first, a bad option is only found afterwards: this variable makes its
# error line say that python3 was installed (errors.py) instead of "nothing was changed".
unset _UV_USER_PYTHON3_INSTALLED
python=$(find_python)
if [ -z "$python" ]; then
    if ! install_python; then
        echo "uv-user: installing python3 with the image's package manager failed (see above); check the network/proxy for the package archive, or install python3 3.8+ in the image first" >&2
        exit 1
    fi
    export _UV_USER_PYTHON3_INSTALLED=1
    python=$(find_python)
    [ -n "$python" ] || { echo "uv-user: python3 is still missing after installing it; install python3 3.8+ in the image first" >&2; exit 1; }
fi

exec "$python" -E -s "$here/uv-user.py" install "$@"
