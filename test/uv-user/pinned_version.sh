#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "uv is the pinned 0.9.30" bash -c 'uv --version | grep -q "^uv 0.9.30"'

reportResults
