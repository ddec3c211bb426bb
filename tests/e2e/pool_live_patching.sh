#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/pool_live_patching.sh - a pool's live-patching switch (issue 12, item 11: the seed's
# "Live patching is enabled by default ... see Change Pool Properties") through the real binaries
# over HTTP: `poolpatch pool set prod --live-patching off` and PATCH /api/v1/pools/prod change
# pool.live_patching_disabled on the simulated pool itself (read back over XAPI and from GET
# /sim/state), after which `poolpatch plan` reboots every host for XS82ECU1003 (a live patch that
# would otherwise cover them: "No action required"), and switching it back restores "no reboot".
# A change made outside poolpatch (as XenCenter would) reaches the plan through the pool's event
# stream.  Bad input (not a bool, unknown field, unknown pool, a value the CLI does not know) is
# refused with the field named and leaves the pool as it was.
. "$(dirname "$0")/lib.sh"

LP_UUID=c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03 # XS82ECU1003, a live patch (scenarios/demo.json)

make_scenario "$E2E_TMP/prod.json" '.pools |= map(select(.name == "prod"))'
start_sim "$E2E_TMP/prod.json" --time-scale 300
MASTER=$(sim_master_url prod)
start_serve
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add prod --url "$MASTER" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

# the pool's own value: pool.get_live_patching_disabled over XAPI, and GET /sim/state
S=$(xapi_login "$MASTER")
POOL_REF=$(xapi_json "$MASTER" pool.get_all "[\"$S\"]" | jq -er '.result[0]')
pool_lp() {
    xapi_json "$MASTER" pool.get_live_patching_disabled "[\"$S\",\"$POOL_REF\"]" | jq -r .result
}
state_lp() {
    sim_state | jq -r '.pools[] | select(.name == "prod") | .live_patching_disabled'
}
# the plan for XS82ECU1003: "HOST MODE REBOOT LIVEPATCHED" per host
plan_modes() {
    pp_ok plan prod --update "$LP_UUID" --json
    jq -r '.pools[0].hosts[] | "\(.name) \(.update_mode) \(.reboot) \(.livepatched)"' <<<"$PP_OUT"
}
NO_REBOOT=$'prod-1 No action required false true\nprod-2 No action required false true\nprod-3 No action required false true\nprod-4 No action required false true'
REBOOT=$'prod-1 Reboot true false\nprod-2 Reboot true false\nprod-3 Reboot true false\nprod-4 Reboot true false'

assert_eq false "$(pool_lp)" "live patching on by default (pool.live_patching_disabled)"
assert_eq "$NO_REBOOT" "$(plan_modes)" "plan with live patching on"
pass "live patching on: XS82ECU1003 is live-patched everywhere, no reboot"

# -- the CLI turns it off: the pool has it, the plan reboots every host and says why
pp_ok pool set prod --live-patching off
assert_contains "$PP_OUT" "live patching is off" "pool set's answer"
assert_eq true "$(pool_lp)" "pool.live_patching_disabled after pool set --live-patching off"
assert_eq true "$(state_lp)" "GET /sim/state live_patching_disabled"
assert_eq "$REBOOT" "$(plan_modes)" "plan with live patching off"
pp_ok plan prod --update "$LP_UUID" --json
assert_eq "4 0" "$(jq -r '.pools[0].totals | "\(.reboots) \(.live_patched)"' <<<"$PP_OUT")" \
    "planned reboots and live patches"
assert_eq 4 "$(jq '[.pools[0].prechecks[] | select(.id == "livepatch_disabled")] | length' \
    <<<"$PP_OUT")" "livepatch_disabled prechecks, one per host"
pp_ok plan prod --update "$LP_UUID"
assert_contains "$PP_OUT" "Live patching is disabled on pool prod" "the plan in words"
pp_ok pool list
assert_contains "$PP_OUT" "prod: live patching is off" "pool list"
pp_ok pool set prod --live-patching off # already so: nothing to change, same answer
assert_eq true "$(pool_lp)" "pool.live_patching_disabled after a repeat"
pass "pool set --live-patching off: the pool has it, the plan reboots all 4 hosts"

# -- REST turns it on again: the answer is the pool's state; the plan needs no reboot again
api PATCH /api/v1/pools/prod '{"live_patching_disabled": false}'
assert_eq 200 "$API_CODE" "PATCH live_patching_disabled false ($API_BODY)"
assert_eq false "$(jq .live_patching_disabled <<<"$API_BODY")" "the PATCH answer"
assert_eq prod "$(jq -r .name <<<"$API_BODY")" "the PATCH answer names the pool"
assert_eq false "$(pool_lp)" "pool.live_patching_disabled after PATCH false"
assert_eq false "$(state_lp)" "GET /sim/state after PATCH false"
assert_eq "$NO_REBOOT" "$(plan_modes)" "plan after switching back on"
api PATCH /api/v1/pools/prod '{"live_patching_disabled": true}'
assert_eq 200 "$API_CODE" "PATCH live_patching_disabled true ($API_BODY)"
assert_eq true "$(jq .live_patching_disabled <<<"$API_BODY")" "the PATCH true answer"
assert_eq true "$(pool_lp)" "pool.live_patching_disabled after PATCH true"
assert_eq "$REBOOT" "$(plan_modes)" "plan after PATCH true"
pp_ok pool set prod --live-patching on
assert_contains "$PP_OUT" "live patching is on" "pool set on's answer"
assert_eq false "$(pool_lp)" "pool.live_patching_disabled after pool set --live-patching on"
assert_eq "$NO_REBOOT" "$(plan_modes)" "plan after pool set on"
pass "PATCH /pools/prod and pool set --live-patching on: back to no reboot"

# -- bad input: refused, naming the field; the pool unchanged
api PATCH /api/v1/pools/prod '{"live_patching_disabled": "yes"}'
assert_eq 400 "$API_CODE" "a string ($API_BODY)"
assert_contains "$(jq -r .error.message <<<"$API_BODY")" "live_patching_disabled: expected true" \
    "the error names the field"
assert_eq false "$(jq .error.took_effect <<<"$API_BODY")" "took_effect"
api PATCH /api/v1/pools/prod '{"live_patching": true}'
assert_eq 400 "$API_CODE" "an unknown field ($API_BODY)"
assert_contains "$(jq -r .error.message <<<"$API_BODY")" "unknown field 'live_patching'" "unknown"
api PATCH /api/v1/pools/prod '{}'
assert_eq 400 "$API_CODE" "nothing to change ($API_BODY)"
api PATCH /api/v1/pools/nowhere '{"live_patching_disabled": true}'
assert_eq 404 "$API_CODE" "an unknown pool ($API_BODY)"
pp_fails 1 pool set prod --live-patching maybe
assert_contains "$PP_ERR" "--live-patching: 'maybe' is neither on nor off" "CLI bad value"
pp_fails 2 pool set prod
assert_contains "$PP_ERR" "--live-patching on|off" "CLI without the option"
assert_eq false "$(pool_lp)" "pool.live_patching_disabled after refused requests"
pass "bad input refused with the field named; the pool unchanged"

# -- a change made outside poolpatch (XenCenter's pool properties): the daemon sees it through
# the pool's event stream, not from its own memory
r=$(xapi_json "$MASTER" pool.set_live_patching_disabled "[\"$S\",\"$POOL_REF\",true]")
assert_eq false "$(jq 'has("error")' <<<"$r")" "pool.set_live_patching_disabled over XAPI ($r)"
for _ in $(seq 1 100); do
    pp_ok pool list --json
    [ "$(jq '.pools[0].live_patching_disabled' <<<"$PP_OUT")" = true ] && break
    sleep 0.1
done
assert_eq true "$(jq '.pools[0].live_patching_disabled' <<<"$PP_OUT")" "pool list after the outside change"
assert_eq "$REBOOT" "$(plan_modes)" "plan after the outside change"
pass "a change made over XAPI by another tool reaches the plan"
stop_serve
