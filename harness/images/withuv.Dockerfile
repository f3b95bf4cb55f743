# base plus a uv that the image itself put at /usr/local/bin/uv (and uvx), as a team's own
# Dockerfile might: the feature must cope with a uv it did not install. pip is removed afterwards.
ARG FROM
FROM ${FROM}
ARG UV_VERSION
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3-pip; \
    PIP_CERT="$SSL_CERT_FILE" pip install --no-cache-dir --break-system-packages "uv==${UV_VERSION}"; \
    apt-get purge -y --auto-remove python3-pip; \
    rm -rf /var/lib/apt/lists/*; \
    /usr/local/bin/uv --version
