#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# plan_detail.sh - POST /plans "detail" (issue 17: a fleet's plan summarised per host): "summary"
# gives each host and action a migration_count instead of its migrations list, "full" the lists;
# absent, a plan of up to 10 pools is full.  The summary's counts equal the full plan's lists,
# every host of the simulator's pools is in both, a master's evacuation moves exactly the VMs
# the simulator has resident on it, and a bad value is 400 naming the field.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.61.10 --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
STATE=$(sim_state)

api POST /api/v1/plans '{"pools":["prod","lab"]}'
assert_eq 200 "$API_CODE" "the default plan: $API_BODY"
FULL=$API_BODY
assert_eq full "$(jq -r .detail <<<"$FULL")" "two pools: full by default"
api POST /api/v1/plans '{"pools":["prod","lab"],"detail":"full"}'
assert_eq full "$(jq -r .detail <<<"$API_BODY")" "detail full"
api POST /api/v1/plans '{"pools":["prod","lab"],"detail":"summary"}'
assert_eq 200 "$API_CODE" "the summary plan: $API_BODY"
SUM=$API_BODY
assert_eq summary "$(jq -r .detail <<<"$SUM")" "detail summary"

# the same hosts as the simulator's pools, in both
for plan in "$FULL" "$SUM"; do
    assert_eq "$(jq -c '[.pools[] | select(.name == "prod" or .name == "lab") | .hosts[].name] | sort' \
        <<<"$STATE")" "$(jq -c '[.pools[].hosts[].name] | sort' <<<"$plan")" "the plan's hosts"
done
# no migration list left in the summary; counts = the full plan's lists
assert_eq 0 "$(jq '[.pools[].hosts[] | (., .actions[]) | select(has("migrations"))] | length' \
    <<<"$SUM")" "no migrations list in the summary"
full_counts=$(jq -c '[.pools[].hosts[] | {h: .name, n: (.migrations | length),
    a: [.actions[] | (.migrations // [] | length)]}]' <<<"$FULL")
sum_counts=$(jq -c '[.pools[].hosts[] | {h: .name, n: .migration_count,
    a: [.actions[] | (.migration_count // 0)]}]' <<<"$SUM")
assert_eq "$full_counts" "$sum_counts" "per host and action: migration_count = the full lists"
total=$(jq '[.pools[].hosts[].migration_count] | add' <<<"$SUM")
[ "$total" -gt 0 ] || fail "the demo's plan moves no VM (summary counts $total)"
assert_eq "$(jq -c .totals <<<"$FULL")" "$(jq -c .totals <<<"$SUM")" "the same fleet totals"
# the master's evacuation (it goes first, alone) moves the VMs the simulator has resident on it
checked=0
for p in prod lab; do
    m=$(jq -r --arg p "$p" '.pools[] | select(.name == $p) | (.hosts[] | select(.master) | .name) //
        .hosts[0].name' <<<"$STATE" | head -1)
    want=$(jq -c --arg p "$p" --arg h "$m" '[.pools[] | select(.name == $p) | .hosts[] |
        select(.name == $h) | .resident_vms[]] | sort' <<<"$STATE")
    got=$(jq -c --arg p "$p" --arg h "$m" '[.pools[] | select(.name == $p) | .hosts[] |
        select(.name == $h) | .actions[] | select(.kind == "evacuate") | .migrations[]?.vm] |
        sort' <<<"$FULL")
    [ "$want" = "[]" ] && continue
    assert_eq "$want" "$got" "evacuation of $p's master $m = its resident VMs"
    checked=$((checked + 1))
done
[ "$checked" -gt 0 ] || fail "no master with running VMs to check"
pass "detail: summary counts = full lists, the simulator's hosts in both; two pools full by default"

api POST /api/v1/plans '{"detail":"brief"}'
assert_eq 400 "$API_CODE" "a bad detail"
assert_contains "$API_BODY" "detail" "the error names the field"
pass "a bad detail is 400 naming it"
stop_serve
