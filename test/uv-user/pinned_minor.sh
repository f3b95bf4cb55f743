#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "uv is the newest 0.8 patch" bash -c 'uv --version | grep -q "^uv 0\.8\.[0-9]"'

reportResults
