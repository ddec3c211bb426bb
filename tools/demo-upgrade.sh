#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/demo-upgrade.sh BUILD - the rolling pool upgrade on simulated pools, as `make
# demo-upgrade` runs it (docs/upgrade.md):
#   1. `poolpatch sim` serves scenarios/upgrade.json (a 4-host pool `rpu` and a standalone host
#      `solo` on 8.2.1, the 8.4.0 installer on the emulated vendor file service);
#   2. `poolpatch serve` starts the daemon; the CLI registers the pools and checks for updates:
#      By Update's "XenServer 8" row names the upgrade command;
#   3. `poolpatch upgrade rpu solo --to 8.4.0 --url URL --plan` shows the dry run (per host:
#      evacuation, upgrade, reboot, VMs that cannot move, window, prechecks), then the upgrade
#      runs with live progress: the masters first and alone, the standalone host's VMs
#      suspended and resumed;
#   4. a summary from the simulator: every host's version, VMs running, the guest tools to
#      upgrade.
# Environment: DEMO_TIME_SCALE (default 60), DEMO_KEEP=1 keeps the state folder.
set -euo pipefail
B="${1:-build}"
P="$(cd "$B" && pwd)/poolpatch"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
SCALE="${DEMO_TIME_SCALE:-60}"
D=$(mktemp -d "${TMPDIR:-/tmp}/poolpatch-demo-upgrade.XXXXXX")
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "state kept in $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

until_line() { # FILE PATTERN SECONDS
    for _ in $(seq 1 $(($3 * 10))); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo-upgrade: no '$2' in $1 after $3 s" >&2
    cat "$1" >&2
    return 1
}

say "Simulated pools (scenarios/upgrade.json, time x$SCALE)"
"$P" sim --scenario "$SRC/scenarios/upgrade.json" --port 0 --time-scale "$SCALE" \
    >"$D/sim.out" 2>"$D/sim.err" &
PIDS="$PIDS $!"
until_line "$D/sim.out" '^ready$' 30
cat "$D/sim.out"
FS=$(awk '$1 == "fileservice" { print $2 }' "$D/sim.out")
STATE_URL="$(awk '$1 == "pool" { print $4; exit }' "$D/sim.out")sim/state"

say "Daemon"
"$P" serve --listen 127.0.0.1:0 --db "$D/state/poolpatch.db" --token-file "$D/state/api-token" \
    --catalog-url "$FS/updates.xml" --vendor-origin "$FS" --check-interval 0 --log-level warn \
    >"$D/serve.out" 2>"$D/serve.err" &
PIDS="$PIDS $!"
until_line "$D/serve.err" 'web UI and API on http' 30
SERVER=$(sed -n 's/.*web UI and API on \(http:[^ ]*\)\/ .*/\1/p' "$D/serve.err" | head -n 1)
echo "web UI and REST API on $SERVER/ (token in $D/state/api-token)"
export POOLPATCH_SERVER="$SERVER"
pp() { "$P" "$@" --token-file "$D/state/api-token"; }
echo xenroot >"$D/pw"
for pool in rpu solo; do
    pp pool add "$pool" --url "$(awk -v n="$pool" '$1 == "pool" && $2 == n { print $4 }' \
        "$D/sim.out")" --user root --password-file "$D/pw" --insecure-http >/dev/null
done
pp updates check >/dev/null
say "By Update: the new release and how to install it"
pp updates
URL=$(curl -sS "$STATE_URL" | jq -r '.releases[] | select(.product_version == "8.4.0") | .url')

say "Dry run: poolpatch upgrade rpu solo --to 8.4.0 --url $URL --plan"
pp upgrade rpu solo --to 8.4.0 --url "$URL" --plan

say "Upgrade (the masters first and alone; live progress)"
pp upgrade rpu solo --to 8.4.0 --url "$URL" --yes

say "Result, read from the simulator"
curl -sS "$STATE_URL" | jq -r '.pools[] | "pool \(.name): " + ([.hosts[] |
    "\(.name) \(.product_version)"] | join(", ")) + "; VMs running: " +
    ([.hosts[].resident_vms[]] | length | tostring) + "; rolling upgrade: \(.rolling_upgrade)"'
