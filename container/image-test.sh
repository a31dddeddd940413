#!/usr/bin/env bash
# `make image-test`: build the image (container/build-image.sh), then run it with podman on host networking
# and provision through it from outside: tests/suite/test_image.py (AWS fleet flow with awsiotsdk, ESP
# SoftAP flow with the fake app, healthcheck, volume, SIGTERM exit code) and tests/suite/test_testcontainers.py
# (the testcontainers module, through podman's Docker-compatible API on a unix socket started here).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
export PROVEMU_IMAGE=${PROVEMU_IMAGE:-localhost/provemu:latest}
export PROVEMU_BASE_IMAGE=${PROVEMU_BASE_IMAGE:-localhost/provemu-base:bookworm}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}

container/build-image.sh

# podman's Docker API on a private unix socket (no TCP listener), for testcontainers; Ryuk, the reaper container
# testcontainers would pull from a registry, is off: the tests remove their own containers.
api_dir=$(mktemp -d)
podman system service --time=0 "unix://$api_dir/podman.sock" &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; rm -rf "$api_dir"' EXIT
for _ in $(seq 100); do [ -S "$api_dir/podman.sock" ] && break; sleep 0.1; done
[ -S "$api_dir/podman.sock" ] || { echo "image-test: podman system service did not start" >&2; exit 1; }
export DOCKER_HOST="unix://$api_dir/podman.sock" TESTCONTAINERS_RYUK_DISABLED=true

"$VENV/bin/python" -m pytest -q -p no:cacheprovider -o addopts="" \
    tests/suite/test_image.py tests/suite/test_testcontainers.py "$@"
