#!/bin/sh
# tools/deps.sh - install the Debian 12 packages poolpatch needs, if any are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# Usage: tools/deps.sh [extra-package...]
set -eu
PKGS="meson ninja-build pkg-config gcc make libcurl4-openssl-dev libexpat1-dev libjansson-dev
libmicrohttpd-dev libsqlite3-dev libcmocka-dev libarchive-dev clang-format curl openssl
jq python3 libssl-dev dpkg-dev man-db groff-base systemd passwd"
PKGS="$PKGS $*"
missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        *"install ok installed"* | *"install ok triggers-"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq $missing >&2
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: run: sudo apt-get install -y$missing" >&2
    exit 1
fi
