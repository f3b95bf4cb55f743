# The image with the feature, plus Debian's pip: only the pip-install-user layout of the sync
# benchmark uses pip, but every layout runs in this one image so they differ only in layout.
ARG FROM
FROM ${FROM}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-pip \
    && rm -rf /var/lib/apt/lists/*
