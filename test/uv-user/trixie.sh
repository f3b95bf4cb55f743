#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "running on trixie" grep -q trixie /etc/os-release

reportResults
