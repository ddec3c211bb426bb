#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/upgrade_ha.sh - HA around rolling pool upgrades, through the real binaries over HTTP
# (scenarios/upgrade.json with HA on in pool `rpu`, manual mode: the operator's boot is
# POST /sim/upgrade), judged from the simulator's state:
#   1. a supporter skipped by the operator (upgrade-host skip) is left out and the others are
#      upgraded; xapi refuses pool.enable_ha while the pool's hosts run different platform
#      versions (xapi_pool.ml enable_ha), so HA stays pending and the rollout says so; once the
#      left-out host is forgotten (poolpatch host forget, after it went away) HA is back on;
#      every VM that ran runs exactly once and no remaining host is disabled;
#   2. the upgrade cancelled mid-way (the master evacuated and waiting for the operator's
#      boot): the rollout ends cancelled, HA is on again, every VM runs exactly once, no host
#      is disabled and the master still runs the old version.
. "$(dirname "$0")/lib.sh"

setup() {
    jq '(.pools[] | select(.name == "rpu")) |= . + {"ha_enabled": true}' \
        "$SRCDIR/scenarios/upgrade.json" >"$E2E_TMP/scenario.json"
    start_sim "$E2E_TMP/scenario.json" --time-scale 200
    SERVE_DIR="$E2E_TMP/serve-$RANDOM"
    start_serve
    echo xenroot >"$E2E_TMP/pw"
    pp_ok pool add rpu --url "$(sim_master_url rpu)" --user root --password-file "$E2E_TMP/pw"
    SIMU=$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")
    assert_eq true "$(ha)" "HA at the start"
}

teardown() {
    stop_serve
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
}

ha() { sim_state | jq -r '.pools[] | select(.name == "rpu") | .ha_enabled'; }

sim_post() { # PATH JSON
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' --data "$2" \
        "${SIMU}sim/$1" | jq -e .ok >/dev/null || fail "POST /sim/$1 $2"
}

running() {
    sim_state | jq -r '.pools[] | select(.name == "rpu") | .hosts[].resident_vms[]' | sort
}

host() { # NAME FIELD
    sim_state | jq -r --arg h "$1" --arg f "$2" '.pools[].hosts[] | select(.name == $h) | .[$f]'
}

disabled() { # the hosts of rpu that are disabled, one a line
    sim_state | jq -r '.pools[] | select(.name == "rpu") | .hosts[] | select(.enabled | not) |
        .name'
}

wait_upgrade_step() { # ID HOST: until HOST's current step is its upgrade (waiting for the boot)
    _i=0
    until pp rollout "$1" --json | jq -e --arg h "$2" '.pools[0].hosts[] | select(.name == $h) |
        .step == "upgrade" and .state == "running"' >/dev/null; do
        _i=$((_i + 1))
        [ $_i -lt 600 ] || fail "host $2 never reached its upgrade step: $(pp rollout "$1" --json |
            jq -c '{state, pools: [.pools[] | {state, message, hosts: [.hosts[] |
            {name, state, step, message}]}]}')"
        sleep 0.1
    done
}

wait_state() { # ID SECONDS STATE...
    _id=$1 _t=$2
    shift 2
    _i=0
    while :; do
        _s=$(pp rollout "$_id" --json | jq -r .state)
        for w in "$@"; do [ "$_s" = "$w" ] && return 0; done
        _i=$((_i + 1))
        [ "$_s" != halted ] && [ $_i -lt $((_t * 10)) ] || fail "rollout $_id is $_s after $_t s, expected $*"
        sleep 0.1
    done
}

# ---- 1. a supporter skipped: left out; HA restored once it is forgotten ----
setup
before=$(running)
pp_ok upgrade rpu --to 8.4.0 --manual --yes --no-follow
ID=$(pp rollouts --json | jq -r '.rollouts[0].id')
order=$(pp rollout "$ID" --json | jq -r '.pools[0].hosts[].name')
assert_eq rpu-1 "$(echo "$order" | head -1)" "the master first"
for h in $order; do
    wait_upgrade_step "$ID" "$h"
    [ "$h" = rpu-1 ] && assert_eq false "$(ha)" "HA while the master is upgraded"
    if [ "$h" = rpu-3 ]; then
        pp_ok upgrade-host "$ID" rpu-3 skip
    else
        sim_post upgrade "{\"host\": \"$h\", \"release\": \"8.4.0\"}"
    fi
done
wait_state "$ID" 120 done
r=$(pp rollout "$ID" --json)
assert_eq left_out "$(echo "$r" | jq -r '.pools[0].hosts[] | select(.name == "rpu-3") | .state')" \
    "the skipped supporter's state"
for h in rpu-1 rpu-2 rpu-4; do
    assert_eq 8.4.0 "$(host $h product_version)" "$h after the upgrade"
done
assert_eq 8.2.1 "$(host rpu-3 product_version)" "the skipped supporter"
assert_eq false "$(ha)" "HA while rpu-3 (8.2.1) is still in the pool (xapi refuses it)"
assert_contains "$(echo "$r" | jq -r '.findings[] | select(.code == "HA_OFF") | .action')" \
    "once the host left out is forgotten" "the verification tells how HA comes back"
assert_eq "$before" "$(running)" "the VMs after the upgrade (each running once)"
# the recovery: rpu-3 goes away (cut off: not live), then is forgotten; HA comes back
sim_post fault '{"type": "partition", "host": "rpu-3"}'
i=0
until [ "$(host rpu-3 live)" = false ]; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "rpu-3 is still live"
    sleep 0.1
done
pp_ok host forget rpu rpu-3 --yes
i=0
until [ "$(ha)" = true ]; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "HA not back on after rpu-3 was forgotten"
    sleep 0.1
done
assert_eq "" "$(disabled)" "hosts disabled after the recovery"
assert_eq "" "$(running | uniq -d)" "VMs resident twice"
pass "a skipped supporter left out; HA back on once it was forgotten; VMs running once"
teardown

# ---- 2. cancelled mid-way ----
setup
before=$(running)
pp_ok upgrade rpu --to 8.4.0 --manual --yes --no-follow
ID=$(pp rollouts --json | jq -r '.rollouts[0].id')
wait_upgrade_step "$ID" rpu-1
assert_eq false "$(ha)" "HA while the master waits for its boot"
assert_eq false "$(host rpu-1 enabled)" "the master disabled for its upgrade"
pp_ok cancel "$ID"
wait_state "$ID" 120 cancelled cancel_failed
st=$(pp rollout "$ID" --json | jq -r .state)
assert_eq cancelled "$st" "the cancelled upgrade's state ($(pp rollout "$ID" --json |
    jq -c '.findings // .verification // empty'))"
assert_eq true "$(ha)" "HA after the cancel"
assert_eq "" "$(disabled)" "hosts disabled after the cancel"
assert_eq "$before" "$(running)" "the VMs after the cancel (each running once)"
assert_eq 8.2.1 "$(host rpu-1 product_version)" "the master after the cancel"
pass "an upgrade cancelled mid-way: cancelled, HA on, no host disabled, VMs running once"
teardown
