#!/bin/bash
# The CLI installs the feature twice: first with non-default options (flipped
# booleans, version 0.13 from the proposals), then with the defaults. The second
# install must win cleanly: its options in uv.toml, one copy of every managed
# line, a working env that still belongs to the user.
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "uv.toml has the defaults of the second install" grep -q '^system-certs = true' /etc/uv/uv.toml
check "compile-bytecode from the first install was removed" bash -c '! grep -q compile-bytecode /etc/uv/uv.toml'
check "each managed line appears once" bash -c 'test "$(grep -c "managed by uv-user" /etc/uv/uv.toml)" = 1'
check "completion back on after the second install" test -s /usr/share/bash-completion/completions/uv
check "one entrypoint script" test -x /usr/local/share/uv-user/entrypoint.sh

reportResults
