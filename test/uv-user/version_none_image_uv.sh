#!/bin/bash
# version none: the image's own uv is used, nothing is downloaded.
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "uv is the image's preinstalled version" bash -c 'test "$(uv --version | cut -d" " -f2)" = "$(cat /etc/uvuser-test-preinstalled-uv-version)"'
check "install record says reuse" grep -q '"uv_version"' /usr/local/share/uv-user/install.json

reportResults
