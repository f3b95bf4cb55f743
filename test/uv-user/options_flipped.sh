#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "compile-bytecode written" grep -q '^compile-bytecode = true' /etc/uv/uv.toml
check "system certs not forced" bash -c '! grep -q -e system-certs -e native-tls /etc/uv/uv.toml'
check "no completion files" bash -c 'test ! -e /usr/share/bash-completion/completions/uv && test ! -e /usr/local/share/zsh/site-functions/_uv'
check "bytecode compiled in the env" bash -c "ls ${UVU_ENV}/lib/python3*/site-packages/iniconfig/__pycache__/*.pyc"

reportResults
