#!/bin/bash
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks root
check "env owned by root" test "$(stat -c %u "${UVU_ENV}")" = 0

reportResults
