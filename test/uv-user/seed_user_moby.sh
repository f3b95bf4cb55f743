#!/bin/bash
# The seed's image, built from its own Dockerfile (seed_user_moby/Dockerfile): `useradd -m moby -u 1000`,
# `USER moby`, no sudo.
set -e
source dev-container-features-test-lib
source ./checks.sh

uvuser_core_checks moby
check "no sudo in this image" bash -c '! command -v sudo'
check "the seed's ~/.local/bin stays on PATH" bash -c 'case ":$PATH:" in *:/home/moby/.local/bin:*) true;; *) false;; esac'
check "the env comes before ~/.local/bin" bash -c "case \"\$PATH\" in ${UVU_ENV}/bin:*) true;; *) false;; esac"

reportResults
