#!/bin/bash
# version none: the image's own uv is used, nothing is downloaded.
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks vscode
check "uv is the image's preinstalled 0.9.30" bash -c 'uv --version | grep -q "^uv 0.9.30"'
check "install record names the reused uv" grep -q "\"uv\": \"/usr/local/bin/uv\"" /usr/local/share/uv-user/install.json

reportResults
