#!/bin/sh
# tools/deps.sh - install the Debian 12 packages poolpatch needs, if any are missing, and the
# browser tests' npm packages (tests/browser: playwright-core, axe-core; `npm ci` from the committed
# package-lock.json, only when tests/browser/node_modules does not match it).  Chromium comes from
# Debian (/usr/bin/chromium); nothing is downloaded at test time.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# Usage: tools/deps.sh [extra-package...]
set -eu
PKGS="meson ninja-build pkg-config gcc make libcurl4-openssl-dev libexpat1-dev libjansson-dev
libmicrohttpd-dev libsqlite3-dev libcmocka-dev libarchive-dev clang-format clang-tidy cppcheck curl openssl
jq python3 libssl-dev dpkg-dev man-db groff-base systemd passwd chromium
python3-prometheus-client"
# Node.js and npm: Debian's unless the machine already has them (some carry a newer Node.js).
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
PKGS="$PKGS $*"
missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        *"install ok installed"* | *"install ok triggers-"*) ;;
        *) missing="$missing $p" ;;
    esac
done
npm_deps() {
    _d=$(dirname "$0")/../tests/browser
    [ -f "$_d/package-lock.json" ] || return 0
    # npm ci records what it installed in node_modules/.package-lock.json: skip when it matches.
    if [ -f "$_d/node_modules/.package-lock.json" ] &&
        node -e 'const a=require(process.argv[1]),b=require(process.argv[2]);
            const k=(x)=>JSON.stringify(Object.entries(x.packages).filter(([p])=>p).map(([p,v])=>[p,v.version]).sort());
            process.exit(k(a)===k(b)?0:1)' "$(cd "$_d" && pwd)/package-lock.json" \
            "$(cd "$_d" && pwd)/node_modules/.package-lock.json" 2>/dev/null; then
        return 0
    fi
    echo "deps: npm ci in tests/browser (playwright-core, axe-core)" >&2
    (cd "$_d" && npm ci --no-audit --no-fund --loglevel=error >&2)
}
if [ -z "$missing" ]; then
    npm_deps
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq $missing >&2
    npm_deps
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: run: sudo apt-get install -y$missing" >&2
    exit 1
fi
