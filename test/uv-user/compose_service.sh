#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "the feature's volume is mounted" bash -c 'grep -q " /opt/uv-user " /proc/mounts'

reportResults
