#!/usr/bin/env bash
# Install the Debian packages the test suite and benchmarks use, listed one per line in
# tools/system-deps.d/*.txt (one file per feature, `#` starts a comment). Idempotent: when every package is
# already installed it changes nothing and touches no package index.
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=()
for list in tools/system-deps.d/*.txt; do
    [ -e "$list" ] || continue
    while read -r pkg _; do
        case "$pkg" in ''|'#'*) continue ;; esac
        wanted+=("$pkg")
    done <"$list"
done

missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-system-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
