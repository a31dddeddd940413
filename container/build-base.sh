#!/usr/bin/env bash
# Make the base image `localhost/provemu-base:bookworm` from Debian packages: debootstrap a minimal bookworm
# rootfs with Python from the same mirror this host's apt uses, strip docs and caches, import it into podman.
# Public image registries are unreachable from our machines, so the image build starts from this.
# Cached: an existing image is kept; an existing rootfs tarball (build/container/) is re-imported.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${PROVEMU_BASE_IMAGE:-localhost/provemu-base:bookworm}
SUITE=bookworm
CACHE_DIR=${PROVEMU_CACHE_DIR:-build/container}
TARBALL=$CACHE_DIR/provemu-base-$SUITE.tar
PACKAGES=python3,python3-venv
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}

if [ "${PROVEMU_REBUILD_BASE:-0}" != 1 ] && podman image exists "$BASE_IMAGE"; then
    echo "build-base: $BASE_IMAGE exists (PROVEMU_REBUILD_BASE=1 rebuilds it)" >&2
    exit 0
fi

# The first non-security Debian mirror in this host's apt sources (deb822 or one-line format).
apt_mirror() {
    local files=() f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 0
    awk -v suite="$SUITE" '
        /^[[:space:]]*#/ { next }
        /^deb[[:space:]]/ {           # one-line format: deb [options] URI suite components
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) { print $i; exit }
            next
        }
        /^URIs:/   { uri = $2 }
        /^Suites:/ { for (j = 2; j <= NF; j++) if ($j == suite) found = 1 }
        /^[[:space:]]*$/ { if (found && uri != "") { print uri; exit } uri = ""; found = 0 }
        END { if (found && uri != "") print uri }
    ' "${files[@]}" 2>/dev/null | head -n 1
}

if [ "${PROVEMU_REBUILD_BASE:-0}" = 1 ] || [ ! -s "$TARBALL" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "build-base: debootstrap needs root; run \`make image\` as root (or with sudo)" >&2
        exit 1
    fi
    MIRROR=${DEBIAN_MIRROR:-$(apt_mirror)}
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    mkdir -p "$CACHE_DIR"
    ROOTFS=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    trap 'rm -rf "$ROOTFS"' EXIT
    echo "build-base: debootstrap $SUITE from $MIRROR" >&2
    debootstrap --variant=minbase --include="$PACKAGES" \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || { tail -n 30 "$CACHE_DIR/debootstrap.log" >&2; echo "build-base: debootstrap failed" >&2; exit 1; }
    # Keep the image small: no documentation, translations, package lists or debootstrap leftovers.
    rm -rf "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
        "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
        "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/log/*.log \
        "$ROOTFS"/debootstrap
    tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
fi

echo "build-base: importing $TARBALL as $BASE_IMAGE" >&2
podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
    "$TARBALL" "$BASE_IMAGE" >/dev/null
