# shellcheck shell=bash
# Sourced by the documented commands (scripts/test.sh, scripts/demo.sh, benchmarks/run.sh), so each
# works as typed, `bash scripts/test.sh`, whether or not the user is root and whether or not sudo exists:
#
#   as_root WHY SCRIPT [ARGS...]
#
# As root: returns at once. Otherwise: says WHY root is needed and runs SCRIPT again with sudo, with the
# caller's environment (CI, proxies, SSL_CERT_FILE, UVUSER_*; sudo's own PATH and root's HOME); without
# sudo, says what to run instead and exits 1.
as_root() {
    local why=$1 script=$2
    shift 2
    if [ "$(id -u)" = 0 ]; then
        return 0
    fi
    if ! command -v sudo >/dev/null 2>&1; then
        local command="bash $script"
        if [ $# -gt 0 ]; then
            command="$command$(printf ' %q' "$@")"
        fi
        echo "$script: $why, so it needs root, and there is no sudo here: run it as root (su root -c '$command')" >&2
        exit 1
    fi
    echo "$script: $why: running it again as root (sudo)" >&2
    exec sudo -E -H bash "$script" "$@"
}
