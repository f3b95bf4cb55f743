#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "the feature's volume is mounted" grep -q " ${UVU_ROOT} " /proc/mounts

reportResults
