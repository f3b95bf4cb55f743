#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "python3 was installed by the feature" test -x /usr/bin/python3
check "apt lists were cleaned" bash -c 'test -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)"'

reportResults
