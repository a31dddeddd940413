#!/usr/bin/env bash
# `make image`: install the host tools, make the local Debian base, build the provemu image with podman.
# The build reaches the Python package index the way this host's pip does (index URLs and CA bundle).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${PROVEMU_IMAGE:-localhost/provemu:latest}
BASE_IMAGE=${PROVEMU_BASE_IMAGE:-localhost/provemu-base:bookworm}
VENV=${VENV:-.venv}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}
export PROVEMU_BASE_IMAGE=$BASE_IMAGE

container/setup-host.sh
container/build-base.sh

# The host's pip settings: `pip config list` (files and PIP_* environment). Only http(s) indexes carry
# over into the build; file:// mirrors on this disk are not visible there.
pip_setting() {
    local key=$1 value=
    if [ -x "$VENV/bin/pip" ]; then
        value=$("$VENV/bin/pip" config list 2>/dev/null \
            | sed -n "s/^[^.]*\.$key='\(.*\)'$/\1/p" | tail -n 1)
    fi
    printf '%s' "$value"
}
http_only() { tr ' ' '\n' | grep -E '^https?://' | paste -sd ' ' - || true; }

index_url=$(pip_setting index-url | http_only)
extra_index_url=$(pip_setting extra-index-url | http_only)
cert=${PIP_CERT:-$(pip_setting cert)}
cert=${cert:-/etc/ssl/certs/ca-certificates.crt}

build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[ -n "$index_url" ] && build_args+=(--build-arg "PIP_INDEX_URL=$index_url")
[ -n "$extra_index_url" ] && build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra_index_url")
secret_args=()
[ -s "$cert" ] && secret_args+=(--secret "id=pip-cert,src=$cert")

# Pin the image's dependencies to the versions the test suite ran with, when that environment exists.
mkdir -p build/container
if [ -x "$VENV/bin/pip" ]; then
    "$VENV/bin/pip" freeze --exclude-editable 2>/dev/null | grep -v -E '^(-e |provemu[ =@])' \
        >build/container/constraints.txt || true
else
    : >build/container/constraints.txt
fi

previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
echo "build-image: building $IMAGE from $BASE_IMAGE" >&2
podman build --pull=never --network host --format docker --layers \
    "${build_args[@]}" "${secret_args[@]}" -f Containerfile -t "$IMAGE" .
current=$(podman image inspect --format '{{.Id}}' "$IMAGE")
# The image this build replaced is now untagged; drop it unless a container still uses it.
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
fi
podman image inspect --format 'build-image: {{.Id}} {{.Size}} bytes' "$IMAGE" >&2
