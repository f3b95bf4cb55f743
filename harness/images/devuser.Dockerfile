# A dev-container base image in the shape of mcr.microsoft.com/devcontainers/base: it runs as root
# (no USER line) and has user vscode (uid/gid 1000, /home/vscode, bash) with passwordless sudo.
# FROM is a debootstrap rootfs imported by the harness; PACKAGES is what each variant adds.
ARG FROM
FROM ${FROM}
ARG PACKAGES="python3 sudo"
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eu; \
    if [ -n "$PACKAGES" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends $PACKAGES; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --gid 1000 vscode; \
    useradd --uid 1000 --gid 1000 --create-home --home-dir /home/vscode --shell /bin/bash vscode; \
    mkdir -p /etc/sudoers.d; \
    echo 'vscode ALL=(root) NOPASSWD:ALL' > /etc/sudoers.d/vscode; \
    chmod 0440 /etc/sudoers.d/vscode
