#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/rollout_demo.sh - automated updates of the whole demo fleet (scenarios/demo.json: an
# HA pool of 4, a pool of 2, a standalone host) through the real binaries over HTTP: `poolpatch
# apply --automated --yes` against `poolpatch serve` against `poolpatch sim`.  Afterwards every
# host has its version's whole minimal set, is enabled and live, every VM that ran runs exactly
# once, HA is on again where it was, and the rollout's counters agree with the simulator's.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --time-scale 300
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab edge-standalone; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
before=$(sim_state)
running_before=$(echo "$before" | jq '[.pools[].hosts[].resident_vms[]] | length')
[ "$running_before" -gt 0 ] || fail "the demo fleet runs no VM"
echo "$before" | jq -e '.pools[] | select(.name == "prod") | .ha_enabled' >/dev/null ||
    fail "prod should start with HA on"

pp_run apply --automated --yes
[ "$PP_RC" = 0 ] || fail "apply exited $PP_RC: $(echo "$PP_OUT" | tail -5) $PP_ERR"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
r=$(pp rollout "$id" --json)
assert_eq done "$(echo "$r" | jq -r .state)" "rollout state"
# not a terminal: plain progress lines, each "HH:MM:SS SHORTID POOL/HOST STEP ..." with the
# rollout's first 8 hex digits, never its whole uuid (which "Rollout ID started." gives once)
short=${id:0:8}
echo "$PP_OUT" | grep -q "^[0-2][0-9]:[0-5][0-9]:[0-5][0-9] $short " ||
    fail "apply printed no progress line with the short id $short: $(echo "$PP_OUT" | head -5)"
if echo "$PP_OUT" | grep "^[0-2][0-9]:[0-5][0-9]:[0-5][0-9] " | grep -q "$id"; then
    fail "apply's progress lines repeat the whole rollout id $id"
fi
pass "automated rollout of 3 pools done; plain progress lines with the short rollout id"

after=$(sim_state)
# every host enabled, live, with its version's minimal set (8.2.1: XS82ECU1001..1005)
bad=$(echo "$after" | jq -r '.pools[].hosts[] | select(.enabled != true or .live != true) | .name')
assert_eq "" "$bad" "hosts not enabled or not live"
for h in $(echo "$after" | jq -r '.pools[].hosts[] | select(.product_version == "8.2.1") | .name'); do
    n=$(echo "$after" | jq --arg h "$h" '[.pools[].hosts[] | select(.name == $h) | .updates[]
        | select(startswith("XS82ECU"))] | length')
    assert_eq 5 "$n" "updates on $h"
done
# the XenServer 8 pool (lab) was updated from its repository: host.apply_updates recorded the
# hash on every host and no guidance is left pending
lab=$(sim_master_url lab)
ls=$(xapi_login "$lab")
for h in $(xapi_json "$lab" host.get_all "[\"$ls\"]" | jq -r '.result[]'); do
    hash=$(xapi_json "$lab" host.get_last_update_hash "[\"$ls\",\"$h\"]" | jq -r .result)
    [ -n "$hash" ] && [ "$hash" != null ] ||
        fail "lab host $h has no last_update_hash; lab in the rollout: $(echo "$r" | jq -c '.pools[] | select(.name == "lab")'); lab plan: $(echo "$r" | jq -c '.plan.pools[]? | select(.pool == "lab") | {hosts: [.hosts[]? | {name, updates, actions: [.actions[]?.kind]}], checks}')"
    pend=$(xapi_json "$lab" host.get_pending_guidances "[\"$ls\",\"$h\"]" | jq -c .result)
    assert_eq "[]" "$pend" "pending guidances on lab host $h"
done
pass "every host up to date, enabled and live (lab through host.apply_updates)"
# every VM that ran runs exactly once
dups=$(echo "$after" | jq -r '[.pools[].hosts[].resident_vms[]] | group_by(.) | map(select(length > 1)) | flatten | .[]')
assert_eq "" "$dups" "VMs resident on two hosts"
running_after=$(echo "$after" | jq '[.pools[].hosts[].resident_vms[]] | length')
assert_eq "$running_before" "$running_after" "running VMs"
pass "$running_after VMs running, each exactly once"
echo "$after" | jq -e '.pools[] | select(.name == "prod") | .ha_enabled' >/dev/null ||
    fail "HA not restored on prod"
pass "HA restored on prod"
# counters agree with the simulator
assert_eq "$(echo "$after" | jq .counters.reboots)" "$(echo "$r" | jq .counters.reboots)" "reboots"
assert_eq "$(echo "$after" | jq .counters.migrations)" "$(echo "$r" | jq .counters.migrations)" \
    "migrations"
pass "counters: $(echo "$r" | jq -c .counters)"
