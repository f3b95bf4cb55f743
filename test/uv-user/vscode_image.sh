#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "vscode keeps uid 1000 (the CLI ran as root: no remap)" test "$(id -u)" = 1000
check "start-time repair finds nothing to do" bash -c 'test -z "$(uv-user repair --dry-run 2>&1)"'
check "uv trusts the system store without SSL_CERT_FILE (systemCerts)" bash -c 'env -u SSL_CERT_FILE uv pip install --reinstall --no-cache iniconfig'

reportResults
