# The seed project's Dockerfile (uv issue #12291), verbatim from the RUN useradd on, on the
# python:3.12-bookworm stand-in.
ARG FROM
FROM ${FROM}
RUN useradd -m moby -u 1000 -s /usr/bin/bash
USER moby
WORKDIR /home/moby
ENV PATH=/home/moby/.local/bin:$PATH
