#!/bin/bash
# Default options on the --base-image the harness passes (the vscode-style image).
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "uv.toml trusts system certs by default" grep -q '^system-certs = true' /etc/uv/uv.toml
check "bash completion installed" test -s /usr/share/bash-completion/completions/uv
check "zsh completion installed" test -s /usr/local/share/zsh/site-functions/_uv
check "fish completion installed" test -s /usr/share/fish/vendor_completions.d/uv.fish

reportResults
