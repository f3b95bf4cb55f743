# STAND-IN for mcr.microsoft.com/devcontainers/python:3, which no registry here can serve. The real image
# is built by the devcontainers CLI from python:3 with the common-utils and python features; what this
# reproduces is what the devcontainer sees:
# - a python3 at /usr/local/python/current/bin/python, first on PATH through ENV. Here it is a symlink
#   tree to Debian bookworm's python3 (with pip and venv), not a CPython build of its own;
# - the python feature's containerEnv as ENV, and its /etc/profile.d/00-restore-env.sh, which puts that
#   PATH back in login shells (Debian's /etc/profile resets PATH);
# - user vscode (uid/gid 1000, /home/vscode, bash) with passwordless sudo; the image runs as root;
# - a devcontainer.metadata label in the CLI's shape: one entry per feature (id + customizations), then
#   the image's own devcontainer.json (customizations, remoteUser: vscode).
# Not reproduced: git, zsh, Oh My Zsh, node, the py-utils tools (pipx, black, ...), a newer CPython.
ARG FROM
FROM ${FROM}
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 python3-pip python3-venv sudo; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --gid 1000 vscode; \
    useradd --uid 1000 --gid 1000 --create-home --home-dir /home/vscode --shell /bin/bash vscode; \
    mkdir -p /etc/sudoers.d; \
    echo 'vscode ALL=(root) NOPASSWD:ALL' > /etc/sudoers.d/vscode; \
    chmod 0440 /etc/sudoers.d/vscode; \
    version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
    mkdir -p "/usr/local/python/$version/bin"; \
    ln -s "$version" /usr/local/python/current; \
    for name in python python3 "python$version"; do ln -s "/usr/bin/python$version" "/usr/local/python/$version/bin/$name"; done; \
    for name in pip pip3; do ln -s /usr/bin/pip3 "/usr/local/python/$version/bin/$name"; done; \
    echo 'export PATH=/usr/local/python/current/bin:/usr/local/py-utils/bin:/usr/local/jupyter:$PATH' \
        > /etc/profile.d/00-restore-env.sh; \
    chmod +x /etc/profile.d/00-restore-env.sh
ENV PYTHON_PATH=/usr/local/python/current \
    PIPX_HOME=/usr/local/py-utils \
    PIPX_BIN_DIR=/usr/local/py-utils/bin \
    PATH=/usr/local/python/current/bin:/usr/local/py-utils/bin:/usr/local/jupyter:${PATH}
LABEL devcontainer.metadata='[{"id":"ghcr.io/devcontainers/features/common-utils:2"},{"id":"ghcr.io/devcontainers/features/python:1","customizations":{"vscode":{"extensions":["ms-python.python","ms-python.vscode-pylance","ms-python.autopep8"],"settings":{"python.defaultInterpreterPath":"/usr/local/python/current/bin/python","[python]":{"editor.defaultFormatter":"ms-python.autopep8"}}}}},{"customizations":{"vscode":{"extensions":["ms-python.python","ms-python.vscode-pylance"],"settings":{"python.defaultInterpreterPath":"/usr/local/python/current/bin/python"}}},"remoteUser":"vscode"}]'
