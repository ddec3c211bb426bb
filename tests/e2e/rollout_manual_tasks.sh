#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rollout_manual_tasks.sh - XenCenter's "I will carry out the post-update tasks myself" (issue
# 16): with "manual_post_tasks": true (CLI: plan / apply --manual-tasks) the plan marks reboots and toolstack restarts `manual`,
# counts none and evacuates no VM for them; the rollout applies the updates and leaves the
# reboot to the user: judged from the simulator, the hosts got the updates, were not rebooted,
# are enabled, their VMs did not move, and the pool reports the reboot pending (which the
# rollout's host record repeats as reboot_pending).  Without the option the same plan reboots.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.50.10 --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add prod --url "$(sim_master_url prod)" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

# -- the plans: with and without the option
api POST /api/v1/plans '{"pools":["prod"]}'
assert_eq 200 "$API_CODE" "the ordinary plan"
auto_reboots=$(jq '.pools[0].totals.reboots' <<<"$API_BODY")
[ "$auto_reboots" -gt 0 ] || fail "the demo's prod needs reboots (got $auto_reboots)"
api POST /api/v1/plans '{"pools":["prod"],"manual_post_tasks":true}'
assert_eq 200 "$API_CODE" "the plan with manual post-update tasks"
assert_eq true "$(jq .manual_post_tasks <<<"$API_BODY")" "the plan states the mode"
assert_eq 0 "$(jq '.pools[0].totals.reboots' <<<"$API_BODY")" "reboots the rollout would do"
assert_eq 0 "$(jq '.pools[0].totals.migrations' <<<"$API_BODY")" "migrations"
manual=$(jq '[.pools[0].hosts[].actions[] | select(.kind == "reboot" or .kind == "restart_toolstack")] | map(.manual) | unique' <<<"$API_BODY")
assert_eq '[true]' "$(jq -c . <<<"$manual")" "every reboot / restart is the user's (manual)"
# the CLI's --manual-tasks sends the same request
pp_ok plan prod --manual-tasks --json
assert_eq true "$(jq .manual_post_tasks <<<"$PP_OUT")" "poolpatch plan --manual-tasks: the plan states the mode"
assert_eq 0 "$(jq '.pools[0].totals.reboots' <<<"$PP_OUT")" "poolpatch plan --manual-tasks: reboots"
assert_eq 0 "$(jq '.pools[0].totals.migrations' <<<"$PP_OUT")" "poolpatch plan --manual-tasks: migrations"
pp_ok plan prod --json
[ "$(jq '.pools[0].totals.reboots' <<<"$PP_OUT")" -gt 0 ] || fail "poolpatch plan without --manual-tasks plans no reboot"
pp_fails 2 upgrade prod --to 8.4.0 --manual --manual-tasks --plan
assert_contains "$PP_ERR" "are for updates, not upgrades" "--manual-tasks is refused with an upgrade"
pass "manual post-update tasks: reboots planned as the user's, no evacuation, none counted (REST and CLI)"

# -- the rollout, judged from the pool
before=$(sim_state)
# started from the CLI: apply --manual-tasks (= POST /rollouts {"manual_post_tasks": true})
pp_ok apply prod --manual-tasks --yes --no-follow --json
id=$(jq -r .id <<<"$PP_OUT")
[ -n "$id" ] && [ "$id" != null ] || fail "poolpatch apply --manual-tasks printed no rollout id: $PP_OUT"
wait_rollout "$id"
st=$ROLLOUT_STATE
assert_eq done "$st" "the rollout ended"
now=$(sim_state)
ro=$(pp rollout "$id" --json)
python3 - "$before" "$now" "$ro" <<'PY' || fail "the pool does not show updates applied and reboots left to the user"
import json, sys
before, now, ro = (json.loads(a) for a in sys.argv[1:4])
hb = {h["name"]: h for p in before["pools"] if p["name"] == "prod" for h in p["hosts"]}
hn = {h["name"]: h for p in now["pools"] if p["name"] == "prod" for h in p["hosts"]}
rec = {h["name"]: h for p in ro["pools"] for h in p["hosts"]}
bad = []
for name, h in hn.items():
    b = hb[name]
    if set(h["updates"]) == set(b["updates"]):
        bad.append(f"{name}: no update applied")
    if h.get("reboots", 0) != b.get("reboots", 0):
        bad.append(f"{name}: rebooted ({b.get('reboots')} -> {h.get('reboots')})")
    if not h["enabled"]:
        bad.append(f"{name}: left disabled")
    if not h.get("updates_requiring_reboot"):
        bad.append(f"{name}: the pool shows no reboot pending")
    if sorted(h.get("resident_vms", [])) != sorted(b.get("resident_vms", [])):
        bad.append(f"{name}: its VMs moved")
    if rec[name].get("reboot_pending") is not True:
        bad.append(f"{name}: the rollout's record says reboot_pending {rec[name].get('reboot_pending')}")
if ro["counters"].get("reboots", 0) != 0 or ro["counters"].get("migrations", 0) != 0:
    bad.append(f"counters: {ro['counters']}")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
pass "the rollout applied the updates, rebooted nothing, moved no VM; the reboots are pending"
