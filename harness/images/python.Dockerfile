# Stand-in for python:3.12-bookworm, which no registry here can serve: a python3 that also answers to
# `python` (as the official image's /usr/local/bin/python does), no sudo, no users, runs as root.
ARG FROM
FROM ${FROM}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python-is-python3 \
    && rm -rf /var/lib/apt/lists/*
