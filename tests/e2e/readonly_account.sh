#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# readonly_account.sh - the daemon with a read-only XAPI account (the simulator's RBAC, xapi's
# roles): the views work (updates found, listed), while a dismissal and a rollout are refused
# with a message that names the role needed; the pool is left as it was (read back from the
# simulator: no dismissal in other_config, every host enabled, nothing rebooted or migrated);
# the pool's live-patching switch is refused the same way.
. "$(dirname "$0")/lib.sh"

make_scenario "$E2E_TMP/ro.json" \
    '.users = [{"name": "viewer", "password": "viewpass", "role": "read-only"}]'
start_sim "$E2E_TMP/ro.json" --base-address 127.0.26.10 --time-scale 600
start_serve
echo viewpass >"$E2E_TMP/pw"
pp_ok pool add prod --url "$(sim_master_url prod)" --user viewer --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"

# -- views work with the read-only account
pp_ok updates check
pp_ok updates --json
n=$(jq '.updates | length' <<<"$PP_OUT")
[ "$n" -gt 0 ] || fail "no updates seen with the read-only account: $PP_OUT"
U=$(jq -r '.updates[0].id' <<<"$PP_OUT")
pass "views work with a read-only account ($n updates)"

# -- a dismissal is refused, naming the role it needs; other_config untouched
pp_run updates dismiss "$U"
[ "$PP_RC" != 0 ] || fail "dismiss with a read-only account succeeded"
assert_contains "$PP_OUT$PP_ERR" "Pool Operator" "dismiss refusal names the role needed"
assert_eq false "$(sim_pool_other_config prod | jq 'has("XenCenter.IgnorePatches")')" \
    "prod's other_config after the refused dismissal"
pass "dismiss refused with a clear message; nothing written"

# -- a rollout is refused; the pool is as it was
pp_run apply --automated --yes
[ "$PP_RC" != 0 ] || fail "a rollout with a read-only account succeeded: $PP_OUT"
assert_contains "$PP_OUT$PP_ERR" "Pool Operator role" "rollout refusal names the role needed"
st=$(sim_state)
assert_eq 0 "$(jq '.counters.reboots + .counters.migrations' <<<"$st")" "reboots and migrations"
assert_eq '[]' "$(jq -c '[.pools[] | select(.name == "prod") | .hosts[] |
    select(.enabled | not) | .name]' <<<"$st")" "hosts disabled in prod"
pass "rollout refused with a clear message; pool untouched"

# -- the pool's live-patching switch is refused (pool.set_live_patching_disabled is for Pool
# Operator and up), naming the role; the pool keeps live patching on
pp_fails 1 pool set prod --live-patching off
assert_contains "$PP_ERR" "RBAC_PERMISSION_DENIED" "pool set refusal names the XAPI error"
assert_contains "$PP_ERR" "Pool Operator role" "pool set refusal names the role needed"
assert_eq false "$(sim_state | jq '.pools[] | select(.name == "prod") | .live_patching_disabled')" \
    "prod's live_patching_disabled after the refused pool set"
pass "pool set --live-patching refused with a clear message; the pool keeps live patching on"
