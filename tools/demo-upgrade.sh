#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/demo-upgrade.sh BUILD - the rolling pool upgrade on simulated pools, as `make
# demo-upgrade` runs it (docs/upgrade.md), with the end-to-end tests' helpers (tests/e2e/lib.sh:
# `poolpatch sim` and `poolpatch serve` on 127.0.0.1, stopped at the end):
#   1. scenarios/upgrade.json: a 4-host pool `rpu` and a standalone host `solo` on 8.2.1, the
#      8.4.0 installer on the emulated vendor file service;
#   2. the pools registered, updates checked: By Update's "XenServer 8" row names the command;
#   3. `poolpatch upgrade rpu solo --to 8.4.0 --url URL --plan`: the dry run (per host:
#      evacuation, upgrade, reboot, VMs that cannot move, window, prechecks), then the upgrade
#      with live progress — the masters first and alone, the standalone host's VMs suspended and
#      resumed — then (--apply-updates) the 8.4.0 repository's updates of `rpu` in the same run;
#   4. the result read from the simulator: versions, VMs running, rolling-upgrade mode.
# Environment: DEMO_TIME_SCALE (default 60).
B="${1:-build}"
POOLPATCH="$(cd "$B" && pwd)/poolpatch"
SRCDIR="$(cd "$(dirname "$0")/.." && pwd)"
export POOLPATCH SRCDIR
# shellcheck source=tests/e2e/lib.sh
. "$SRCDIR/tests/e2e/lib.sh"

title() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

title "Simulated pools (scenarios/upgrade.json, time x${DEMO_TIME_SCALE:-60})"
start_sim "$SRCDIR/scenarios/upgrade.json" --time-scale "${DEMO_TIME_SCALE:-60}"
cat "$SIM_OUT"
start_serve
echo "web UI and REST API on $SERVE_URL/ (token in $SERVE_TOKEN)"
echo xenroot >"$E2E_TMP/pw"
for pool in rpu solo; do
    pp pool add "$pool" --url "$(sim_master_url "$pool")" --user root \
        --password-file "$E2E_TMP/pw" >/dev/null
done
pp updates check >/dev/null
title "By Update: the new release and how to install it"
pp updates
URL=$(sim_state | jq -r '.releases[] | select(.product_version == "8.4.0") | .url')

title "Dry run: poolpatch upgrade rpu solo --to 8.4.0 --url $URL --apply-updates --plan"
pp upgrade rpu solo --to 8.4.0 --url "$URL" --apply-updates --plan

title "Upgrade, then the new version's updates (the masters first and alone; live progress)"
pp upgrade rpu solo --to 8.4.0 --url "$URL" --apply-updates --yes

title "Result, read from the simulator"
sim_state | jq -r '.pools[] | "pool \(.name): " + ([.hosts[] |
    "\(.name) \(.product_version)" + (if (.repository_updates | length) > 0
    then " +\(.repository_updates | length) updates" else "" end)] | join(", ")) + "; VMs running: " +
    ([.hosts[].resident_vms[]] | length | tostring) + "; rolling upgrade: \(.rolling_upgrade)"'
