#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/demo.sh BUILD - the main job on simulated pools, as `make demo` runs it:
#   1. `poolpatch sim` serves the demo fleet (scenarios/demo.json: two pools at different versions
#      and a standalone host, HA on one pool, a VM on local storage, a CD from a local ISO SR) and
#      the emulated vendor file service, at a time scale that makes the rollout last about a
#      minute;
#   2. `poolpatch serve` starts the daemon; the CLI registers the pools, imports the client ID,
#      checks for updates and shows By Server;
#   3. `poolpatch plan` shows the dry run, `poolpatch apply --automated --yes` rolls the updates
#      out to every pool with live progress;
#   4. a summary per pool: updates applied, reboots, live patches, migrations, the window in
#      simulated time, and whether every host is up to date and every VM still running.
# Environment: DEMO_TIME_SCALE (default 20), DEMO_KEEP=1 keeps the state folder.
set -euo pipefail
B="${1:-build}"
P="$(cd "$B" && pwd)/poolpatch"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
SCALE="${DEMO_TIME_SCALE:-20}"
D=$(mktemp -d "${TMPDIR:-/tmp}/poolpatch-demo.XXXXXX")
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "state kept in $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

wait_for() { # FILE PATTERN SECONDS
    for _ in $(seq 1 $(($3 * 10))); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: timed out waiting for '$2' in $1" >&2
    cat "$1" >&2
    return 1
}

say "Simulated fleet (scenarios/demo.json, time x$SCALE)"
"$P" sim --scenario "$SRC/scenarios/demo.json" --port 0 --time-scale "$SCALE" \
    >"$D/sim.out" 2>"$D/sim.err" &
PIDS="$PIDS $!"
wait_for "$D/sim.out" '^ready$' 30
cat "$D/sim.out"
FS=$(awk '$1 == "fileservice" { print $2 }' "$D/sim.out")
STATE_URL="$(awk '$1 == "pool" { print $4; exit }' "$D/sim.out")sim/state"

say "Daemon"
"$P" serve --listen 127.0.0.1:0 --db "$D/state/poolpatch.db" --token-file "$D/state/api-token" \
    --catalog-url "$FS/updates.xml" --vendor-origin "$FS" --check-interval 0 --log-level warn \
    >"$D/serve.out" 2>"$D/serve.err" &
PIDS="$PIDS $!"
wait_for "$D/serve.err" 'web UI and API on http' 30
SERVER=$(sed -n 's/.*web UI and API on \(http:[^ ]*\)\/ .*/\1/p' "$D/serve.err" | head -n 1)
echo "web UI and REST API on $SERVER/ (token in $D/state/api-token)"
export POOLPATCH_SERVER="$SERVER"
pp() { "$P" "$@" --token-file "$D/state/api-token"; }

say "Register the pools"
printf 'xenroot\n' >"$D/password"
chmod 600 "$D/password"
while read -r _ name _ url; do
    pp pool add "$name" --url "$url" --user root --password-file "$D/password"
done < <(awk '$1 == "pool"' "$D/sim.out")
pp client-id import "$SRC/scenarios/demo-client-id.json"
pp pool list

say "Check for updates"
pp updates check
pp updates --by-server
curl -sS "$STATE_URL" >"$D/before.json"

say "Dry run"
pp plan

say "Apply automated updates to every pool"
start=$(date +%s.%N)
pp apply --automated --yes | tee "$D/apply.out"
end=$(date +%s.%N)
ID=$(pp rollouts --json | jq -r '.rollouts[0].id')
pp rollout "$ID" --json >"$D/rollout.json"
curl -sS "$STATE_URL" >"$D/after.json"

say "Updates afterwards (By Server)"
pp updates --by-server | tee "$D/after-by-server.txt"

say "Summary"
jq -n --slurpfile b "$D/before.json" --slurpfile a "$D/after.json" \
    --slurpfile r "$D/rollout.json" --arg real "$(awk "BEGIN { print $end - $start }")" \
    --arg scale "$SCALE" -r '
  ($b[0]) as $before | ($a[0]) as $after | ($r[0]) as $ro |
  def hosts(s; p): s.pools[] | select(.name == p) | .hosts;
  ["POOL", "HOSTS", "UPDATES APPLIED", "REBOOTS", "VMS RUNNING", "HA", "HOSTS ENABLED"],
  ($after.pools[] | .name as $p |
    (hosts($before; $p)) as $hb | (.hosts) as $ha |
    [ $p, ($ha | length),
      ([range(0; $ha | length)] | map(($ha[.].updates | length) - ($hb[.].updates | length)) | add),
      ($ha | map(.reboots) | add) - ($hb | map(.reboots) | add),
      ([$ha[].resident_vms | length] | add),
      (if .ha_enabled then "on" else "off" end),
      (($ha | map(select(.enabled)) | length | tostring) + "/" + ($ha | length | tostring)) ]),
  [],
  ["fleet: \($after.counters.migrations - $before.counters.migrations) live migrations, \($after.counters.reboots - $before.counters.reboots) reboots, rollout \($ro.state), window \(($real | tonumber) * ($scale | tonumber) / 60 | floor) min simulated (\($real | tonumber | floor) s real)"]
  | @tsv' | awk -F'\t' 'NF > 1 { printf "%-18s %-6s %-16s %-8s %-12s %-4s %s\n", $1, $2, $3, $4, $5, $6, $7; next } { print }'

state=$(jq -r .state "$D/rollout.json")
behind=$(grep -c 'Out of date' "$D/after-by-server.txt" || true)
running_before=$(jq '[.pools[].hosts[].resident_vms | length] | add' "$D/before.json")
running_after=$(jq '[.pools[].hosts[].resident_vms | length] | add' "$D/after.json")
echo
if [ "$state" = done ] && [ "$behind" = 0 ] && [ "$running_before" = "$running_after" ]; then
    echo "Every host is up to date and all $running_after running VMs are still running."
else
    echo "demo: rollout $state, $behind rows out of date, VMs running before $running_before, after $running_after" >&2
    exit 1
fi
