#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/rollout_faults.sh - rollouts through the real binaries over HTTP (`poolpatch apply`
# -> `poolpatch serve` -> `poolpatch sim`), each on a fresh simulator and daemon:
#   1. a live-patch-only update: no evacuation, no reboot, every host updated;
#   2. a live migration that fails (POST /sim/fault): the rollout halts at that VM with XAPI's
#      code and an explanation; `poolpatch retry` continues and completes it;
#   3. an xapi precheck that fails on one host of the HA pool "prod": halted with
#      UPDATE_PRECHECK_FAILED_OUT_OF_SPACE; `poolpatch cancel` turns HA back on, re-inserts the
#      CD Resolve All ejected, enables every host and removes the uploaded update.
# (A host that never returns is covered in-process, tests/unit/test_exec_sim.c: the daemon waits
# 20 real minutes for it.)
. "$(dirname "$0")/lib.sh"

SCALE=300
LP_UUID=c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03 # XS82ECU1003, a live patch (scenarios/*.json)

setup() { # NAME SCENARIO POOL...
    _name=$1
    _scen=$2
    shift 2
    rm -f "$E2E_TMP/sim.out"
    start_sim "$_scen" --time-scale "$SCALE"
    SERVE_DIR="$E2E_TMP/serve-$_name"
    start_serve
    echo xenroot >"$E2E_TMP/pw"
    for p in "$@"; do
        pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
    done
    pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
    pp_ok updates check
    MASTER=$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")
}

teardown() {
    stop_serve
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
}

sim_fault() { # JSON
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' --data "$1" \
        "${MASTER%/}/sim/fault" >/dev/null || fail "POST /sim/fault $1"
}

last_rollout() {
    pp rollouts --json | jq -r '.rollouts[0].id'
}

wait_state() { # ID STATE...: wait (60 s) until the rollout is in one of the states
    _i=0
    while [ $_i -lt 600 ]; do
        _st=$(pp rollout "$1" --json | jq -r .state)
        for s in "${@:2}"; do [ "$_st" = "$s" ] && return 0; done
        sleep 0.1
        _i=$((_i + 1))
    done
    fail "rollout $1 is $_st, expected $*"
}

# ---- 1. live patch only
setup lp "$SRCDIR/scenarios/small.json" small-pool
pp_run apply small-pool --update "$LP_UUID" --yes
[ "$PP_RC" = 0 ] || fail "live-patch apply exited $PP_RC: $(echo "$PP_OUT" | tail -5) $PP_ERR"
r=$(pp rollout "$(last_rollout)" --json)
assert_eq done "$(echo "$r" | jq -r .state)" "live-patch rollout"
st=$(sim_state)
assert_eq 0 "$(echo "$st" | jq .counters.reboots)" "reboots of a live patch"
assert_eq 0 "$(echo "$st" | jq .counters.migrations)" "migrations of a live patch"
assert_eq 3 "$(echo "$st" | jq '[.pools[0].hosts[] | select(.updates | index("XS82ECU1003"))] | length')" \
    "hosts with XS82ECU1003"
assert_eq 3 "$(echo "$r" | jq .counters.live_patched)" "live_patched counter"
assert_eq "" "$(echo "$st" | jq -r '.pools[0].hosts[] | select(.enabled != true) | .name')" \
    "disabled hosts"
pass "live patch: 3 hosts updated, no evacuation, no reboot"
teardown

# ---- 2. a migration fails, Retry completes
setup mig "$SRCDIR/scenarios/small.json" small-pool
sim_fault '{"type": "migration_fails", "vm": "db-1", "count": 1}'
pp_run apply small-pool --automated --yes
[ "$PP_RC" != 0 ] || fail "apply with a failing migration exited 0"
id=$(last_rollout)
r=$(pp rollout "$id" --json)
assert_eq halted "$(echo "$r" | jq -r .state)" "state after the failed migration"
assert_eq evacuate "$(echo "$r" | jq -r .error.step)" "failed step"
code=$(echo "$r" | jq -r .error.code)
[ -n "$code" ] && [ "$code" != null ] || fail "no error code: $(echo "$r" | jq -c .error)"
[ -n "$(echo "$r" | jq -r .error.explanation)" ] || fail "no explanation"
pass "migration failure halts with $code: $(echo "$r" | jq -r .error.message)"
pp_ok retry "$id"
wait_state "$id" done halted
r=$(pp rollout "$id" --json)
assert_eq done "$(echo "$r" | jq -r .state)" "state after Retry ($(echo "$r" | jq -c .error))"
st=$(sim_state)
assert_eq 3 "$(echo "$st" | jq '[.pools[0].hosts[] | select(.enabled and .live)] | length')" \
    "enabled live hosts"
assert_eq "" "$(echo "$st" | jq -r '[.pools[0].hosts[].resident_vms[]] | group_by(.) | map(select(length > 1)) | flatten | .[]')" \
    "VMs resident twice"
assert_eq 3 "$(echo "$st" | jq .counters.reboots)" "reboots after Retry"
pass "Retry after the migration failure completes (3 reboots, each VM once)"
teardown

# ---- 3. an xapi precheck fails on the HA pool, Cancel reverts
make_scenario "$E2E_TMP/prod.json" '.pools |= map(select(.name == "prod"))'
setup prec "$E2E_TMP/prod.json" prod
sim_fault '{"type": "precheck_fails", "host": "prod-3", "code": "UPDATE_PRECHECK_FAILED_OUT_OF_SPACE", "params": ["x", "1000", "2000"]}'
pp_run apply prod --automated --yes
[ "$PP_RC" != 0 ] || fail "apply with a failing precheck exited 0"
id=$(last_rollout)
r=$(pp rollout "$id" --json)
assert_eq halted "$(echo "$r" | jq -r .state)" "state after the failed precheck"
assert_eq UPDATE_PRECHECK_FAILED_OUT_OF_SPACE "$(echo "$r" | jq -r .error.code)" "error code"
assert_contains "$(echo "$r" | jq -r .error.explanation)" "space" "explanation"
st=$(sim_state)
assert_eq false "$(echo "$st" | jq .pools[0].ha_enabled)" "HA while halted (Resolve All)"
s=$(xapi_login "$MASTER")
nup=$(xapi_json "$MASTER" pool_update.get_all "[\"$s\"]" | jq '.result | length')
[ "$nup" -gt 1 ] || fail "no update was uploaded before the precheck ($nup)"
pp_ok cancel "$id"
wait_state "$id" cancelled
st=$(sim_state)
assert_eq true "$(echo "$st" | jq .pools[0].ha_enabled)" "HA after Cancel"
assert_eq 4 "$(echo "$st" | jq '[.pools[0].hosts[] | select(.enabled)] | length')" \
    "enabled hosts after Cancel"
s=$(xapi_login "$MASTER")
nafter=$(xapi_json "$MASTER" pool_update.get_all "[\"$s\"]" | jq '.result | length')
# only the updates installed before the rollout remain (the scenario's applied ones)
napplied=$(jq '[.pools[] | select(.name == "prod") | .updates // [] | .[]] | length' "$E2E_TMP/prod.json")
assert_eq "$napplied" "$nafter" "pool_updates after Cancel"
vm=$(xapi_json "$MASTER" VM.get_by_name_label "[\"$s\",\"win-jump\"]" | jq -r '.result[0]')
empty=$(for vbd in $(xapi_json "$MASTER" VM.get_VBDs "[\"$s\",\"$vm\"]" | jq -r '.result[]'); do
    t=$(xapi_json "$MASTER" VBD.get_type "[\"$s\",\"$vbd\"]" | jq -r .result)
    [ "$t" = CD ] && xapi_json "$MASTER" VBD.get_empty "[\"$s\",\"$vbd\"]" | jq -r .result
done)
assert_eq false "$empty" "win-jump's CD re-inserted"
pass "precheck failure halts; Cancel restores HA and the CD, enables hosts, removes the update"
teardown
