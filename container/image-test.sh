#!/usr/bin/env bash
# `make image-test`: build the image (container/build-image.sh), then run it with podman on host networking
# and provision through it from outside: tests/suite/test_image.py (AWS fleet flow with awsiotsdk, ESP
# SoftAP flow with the fake app, healthcheck, volume, SIGTERM exit code).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
export PROVEMU_IMAGE=${PROVEMU_IMAGE:-localhost/provemu:latest}
export PROVEMU_BASE_IMAGE=${PROVEMU_BASE_IMAGE:-localhost/provemu-base:bookworm}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}

container/build-image.sh
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -o addopts="" tests/suite/test_image.py "$@"
