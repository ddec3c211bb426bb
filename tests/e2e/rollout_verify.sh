#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/rollout_verify.sh - verified end states through the real binaries over HTTP
# (`poolpatch apply` -> `poolpatch serve` -> `poolpatch sim`), judged from the simulator:
#   a cancel whose undo fails (a host that never comes back from its reboot) ends `cancel_failed`
#   with findings naming what is left (the host disabled and down, by name); once the fault is
#   cleared (the host boots), Retry of the cancel ends `cancelled` with every VM that ran running
#   once, no host disabled, HA back on, the ejected CD back in and no update image left;
#   a live patch that does not take on one host (it needs its reboot after all), seen at the
#   precheck or only after the apply: the re-plan applies what the reboot needs under the
#   Resolve All rules (HA off, the VM on local storage suspended) and restores it: done, that
#   host rebooted once and no reboot pending anywhere, HA on, every VM running once.
. "$(dirname "$0")/lib.sh"

SCALE=300

sim_fault() { # JSON
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' --data "$1" \
        "${MASTER%/}/sim/fault" >/dev/null || fail "POST /sim/fault $1"
}

wait_state() { # ID SECONDS STATE...: wait until the rollout is in one of the states
    _n=$(($2 * 10))
    _i=0
    while [ $_i -lt "$_n" ]; do
        _st=$(pp rollout "$1" --json | jq -r .state)
        for s in "${@:3}"; do [ "$_st" = "$s" ] && return 0; done
        sleep 0.1
        _i=$((_i + 1))
    done
    fail "rollout $1 is $_st, expected ${*:3}"
}

# every VM resident once, sorted by name (the running VMs)
running_vms() {
    sim_state | jq -r '[.pools[0].hosts[].resident_vms[]] | sort | join(" ")'
}

images() { # the VDIs of pool_updates (an image still on an SR), one per line
    _s=$(xapi_login "$MASTER")
    xapi_json "$MASTER" pool_update.get_all_records "[\"$_s\"]" |
        jq -r '.result | to_entries[] | select(.value.vdi != "OpaqueRef:NULL") | .value.name_label'
}

vdi_count() {
    _s=$(xapi_login "$MASTER")
    xapi_json "$MASTER" VDI.get_all "[\"$_s\"]" | jq '.result | length'
}

make_scenario "$E2E_TMP/prod.json" '.pools |= map(select(.name == "prod"))'
start_sim "$E2E_TMP/prod.json" --time-scale "$SCALE"
MASTER=$(sim_master_url prod)
# The daemon's clock runs as fast as the simulator's (settings clock_scale, as in windows.sh), so
# the host-return timeout is waited on simulated time like the reboots it bounds: 1200 s (the
# default, 5x demo.json's 240 s reboot) is 4 s of real time, not the 30 s a real-time daemon's
# shortest allowed timeout took for each of the two waits below (the halt, the cancel's undo).
printf 'clock_scale = %s\nhost_return_timeout = 1200\n' "$SCALE" >"$E2E_TMP/serve.conf"
start_serve --config "$E2E_TMP/serve.conf"
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add prod --url "$MASTER" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

vms_before=$(running_vms)
vdis_before=$(vdi_count)
[ -n "$vms_before" ] || fail "no running VM in prod"
assert_eq true "$(sim_state | jq .pools[0].ha_enabled)" "HA before"

sim_fault '{"type": "reboot_never_returns", "host": "prod-3"}'
pp_run apply prod --automated --yes
[ "$PP_RC" != 0 ] || fail "apply with a host that never returns exited 0"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
wait_state "$id" 120 halted
r=$(pp rollout "$id" --json)
assert_eq HOST_RETURN_TIMEOUT "$(jq -r .error.code <<<"$r")" "halt code"
assert_contains "$(jq -r '[.findings[].code] | join(" ")' <<<"$r")" HOST_NOT_LIVE \
    "findings of the halt"
pass "a host that never returns halts the rollout; the halt's findings name it"

pp_ok cancel "$id"
wait_state "$id" 180 cancel_failed cancelled
r=$(pp rollout "$id" --json)
assert_eq cancel_failed "$(jq -r .state <<<"$r")" "state after a cancel whose undo failed"
assert_eq CANCEL_FAILED "$(jq -r .error.code <<<"$r")" "error code"
msg=$(jq -r .error.message <<<"$r")
assert_contains "$msg" "host prod-3 is disabled" "error names the disabled host"
assert_not_contains "$msg" "OpaqueRef" "error names, not refs"
codes=$(jq -r '[.findings[] | select(.object == "prod-3") | .code] | join(" ")' <<<"$r")
assert_contains "$codes" HOST_DISABLED "findings on prod-3"
assert_contains "$codes" HOST_NOT_LIVE "findings on prod-3"
[ "$(jq -r '.findings[0].action' <<<"$r")" != "" ] || fail "a finding without an action"
# the simulator agrees: prod-3 disabled and down
st=$(sim_state)
assert_eq "false false" "$(jq -r '.pools[0].hosts[] | select(.name == "prod-3") | "\(.enabled) \(.live)"' <<<"$st")" \
    "prod-3 in the simulator"
# and the CLI shows the findings and the way out
pp_ok rollout "$id"
assert_contains "$PP_OUT" "HOST_DISABLED" "CLI lists the findings"
assert_contains "$PP_OUT" "retries the cancel" "CLI says how to retry the cancel"
# the pool is not free for a new rollout while something is left
pp_run apply prod --automated --yes
[ "$PP_RC" != 0 ] || fail "a new rollout on a pool whose cancel failed was accepted"
pass "cancel with a host that never returns: cancel_failed, what is left named ($codes)"

# the host is power-cycled: it comes back; Retry of the cancel completes and is verified
sim_fault '{"type": "clear"}'
pp_ok retry "$id"
wait_state "$id" 180 cancelled cancel_failed
r=$(pp rollout "$id" --json)
assert_eq cancelled "$(jq -r .state <<<"$r")" "state after Retry of the cancel ($(jq -c .findings <<<"$r"))"
assert_eq 0 "$(jq '.findings | length' <<<"$r")" "findings after Retry of the cancel"
assert_eq null "$(jq -c .error <<<"$r")" "error after Retry of the cancel"
st=$(sim_state)
assert_eq true "$(jq .pools[0].ha_enabled <<<"$st")" "HA after Retry of the cancel"
assert_eq 4 "$(jq '[.pools[0].hosts[] | select(.enabled and .live)] | length' <<<"$st")" \
    "enabled live hosts"
assert_eq "$vms_before" "$(running_vms)" "running VMs (each once) after Retry of the cancel"
assert_eq "" "$(images)" "update images left on an SR"
assert_eq "$vdis_before" "$(vdi_count)" "VDIs after Retry of the cancel"
s=$(xapi_login "$MASTER")
vm=$(xapi_json "$MASTER" VM.get_by_name_label "[\"$s\",\"win-jump\"]" | jq -r '.result[0]')
empty=$(for vbd in $(xapi_json "$MASTER" VM.get_VBDs "[\"$s\",\"$vm\"]" | jq -r '.result[]'); do
    t=$(xapi_json "$MASTER" VBD.get_type "[\"$s\",\"$vbd\"]" | jq -r .result)
    [ "$t" = CD ] && xapi_json "$MASTER" VBD.get_empty "[\"$s\",\"$vbd\"]" | jq -r .result
done)
assert_eq false "$empty" "win-jump's CD re-inserted"
pass "Retry of the cancel: cancelled, verified (HA on, hosts enabled, VMs once, CD in, no image)"
stop_serve
kill "$SIM_PID" 2>/dev/null || true
wait "$SIM_PID" 2>/dev/null || true

# ---- a live patch that does not take on prod-2: the re-plan resolves what its reboot needs.
# ARMED_BY "": the precheck already says so (the re-plan after the prechecks); "pool_update.apply":
# the precheck says the live patch covers it, the apply leaves a reboot pending (a second re-plan
# at the pool's end)
LP_UUID=c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03 # XS82ECU1003, a live patch (scenarios/*.json)
lp_case() { # ARMED_BY
rm -f "$E2E_TMP/sim.out"
start_sim "$E2E_TMP/prod.json" --time-scale "$SCALE"
MASTER=$(sim_master_url prod)
SERVE_DIR="$E2E_TMP/serve-lp${1:+-apply}"
start_serve
pp_ok pool add prod --url "$MASTER" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
vms_before=$(running_vms)
assert_contains "$(sim_state | jq -r '.pools[0].hosts[] | select(.name == "prod-2") | .resident_vms | join(" ")')" \
    build-cache "build-cache (local disk) on prod-2 before"
sim_fault "{\"type\": \"livepatch_fails\", \"host\": \"prod-2\"${1:+, \"armed_by\": \"$1\"}}"
pp_run apply prod --update "$LP_UUID" --yes
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
r=$(pp rollout "$id" --json)
assert_eq done "$(jq -r .state <<<"$r")" "live patch that does not take ($(jq -c .error <<<"$r"))"
assert_eq 0 "$(jq '.findings | length' <<<"$r")" "findings ($(jq -c .findings <<<"$r"))"
st=$(sim_state)
assert_eq 1 "$(jq .counters.reboots <<<"$st")" "reboots (prod-2 only)"
assert_eq 1 "$(jq '.pools[0].hosts[] | select(.name == "prod-2") | .reboots' <<<"$st")" "prod-2 rebooted"
assert_eq true "$(jq .pools[0].ha_enabled <<<"$st")" "HA restored after the re-plan's fixes"
assert_eq 4 "$(jq '[.pools[0].hosts[] | select(.enabled and .live)] | length' <<<"$st")" \
    "enabled live hosts"
assert_eq 4 "$(jq '[.pools[0].hosts[] | select(.updates | index("XS82ECU1003"))] | length' <<<"$st")" \
    "hosts with XS82ECU1003"
assert_eq "$vms_before" "$(running_vms)" "running VMs (each once; build-cache resumed)"
assert_eq 0 "$(jq '[.pools[0].hosts[] | select(.updates_requiring_reboot | length > 0)] | length' <<<"$st")" \
    "hosts still needing their reboot"
assert_eq 3 "$(jq .counters.live_patched <<<"$r")" "live-patched hosts"
pass "a live patch that does not take${1:+ (at the apply)}: the re-plan turns HA off and suspends build-cache, restores both"
stop_serve
kill "$SIM_PID" 2>/dev/null || true
wait "$SIM_PID" 2>/dev/null || true
}
lp_case ""
lp_case pool_update.apply
