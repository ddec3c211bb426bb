#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rollout_select_hosts.sh - single-host selection (issue 16: Select Servers picks individual
# hosts): the plan request's "hosts" (name-label, uuid or ref; the CLI's
# plan / apply --host NAME, repeatable) limits the plan and the rollout to
# those hosts, judged from the simulator's pool state: after a rollout of prod-2 alone, prod-2
# has the new updates and prod-1/3/4 are exactly as before (all enabled); pools with none of the
# chosen hosts are left out; an unknown host is refused naming it; a XenServer 8 pool (lab),
# which xapi updates as a whole, gets a blocking all_hosts_selected check for a partial choice.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.49.10 --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

# -- the plan: only prod, only prod-2 does anything
api POST /api/v1/plans '{"hosts":["prod-2"]}'
assert_eq 200 "$API_CODE" "POST /plans with hosts"
assert_eq '["prod"]' "$(jq -c '[.pools[].name]' <<<"$API_BODY")" "pools of the plan (lab has none of the hosts)"
assert_eq '["prod-2"]' "$(jq -c '.hosts' <<<"$API_BODY")" "the plan states the chosen hosts"
busy=$(jq -c '[.pools[0].hosts[] | select((.actions | length) > 0) | .name]' <<<"$API_BODY")
assert_eq '["prod-2"]' "$busy" "hosts with actions in the plan"
uuid=$(sim_state | jq -r '.pools[] | select(.name == "prod") | .hosts[] | select(.name == "prod-3") | .uuid // empty')
if [ -n "$uuid" ]; then
    api POST /api/v1/plans "{\"hosts\":[\"$uuid\"]}"
    assert_eq '["prod-3"]' "$(jq -c '[.pools[0].hosts[] | select((.actions | length) > 0) | .name]' <<<"$API_BODY")" \
        "a host chosen by uuid"
fi
# the CLI's --host (repeatable) sends the same request
pp_ok plan --host prod-2 --json
assert_eq '["prod-2"]' "$(jq -c '.hosts' <<<"$PP_OUT")" "poolpatch plan --host prod-2: the plan's hosts"
assert_eq '["prod-2"]' "$(jq -c '[.pools[] | .hosts[] | select((.actions | length) > 0) | .name]' <<<"$PP_OUT")" \
    "poolpatch plan --host prod-2: hosts with actions"
pp_ok plan prod --host prod-2 --host prod-4 --json
assert_eq '["prod-2","prod-4"]' "$(jq -c '[.pools[] | .hosts[] | select((.actions | length) > 0) | .name] | sort' <<<"$PP_OUT")" \
    "poolpatch plan --host prod-2 --host prod-4"
pp_ok plan --host prod-3
assert_contains "$PP_OUT" "prod-3" "the text plan names the chosen host"
pass "a plan of one host: only that host has work, other pools left out (REST and CLI --host)"

# -- refusals and XenServer 8's rule
api POST /api/v1/plans '{"hosts":["prod-2","no-such-host"]}'
assert_eq 400 "$API_CODE" "an unknown host"
assert_contains "$(jq -r .error.message <<<"$API_BODY")" "'no-such-host' is not a host of the chosen pools" "names it"
api POST /api/v1/plans '{"pools":["lab"],"hosts":["prod-2"]}'
assert_eq 400 "$API_CODE" "a host outside the chosen pools"
api POST /api/v1/plans '{"pools":["lab"],"hosts":["lab-1"]}'
assert_eq 200 "$API_CODE" "a part of the XenServer 8 pool"
jq -e '[.pools[0].prechecks[] | select(.id == "all_hosts_selected")] | length > 0' <<<"$API_BODY" >/dev/null ||
    fail "lab with lab-1 alone lacks the all_hosts_selected check: $(jq -c '[.pools[0].prechecks[].id]' <<<"$API_BODY")"
pp_fails 1 plan --host prod-2 --host no-such-host
assert_contains "$PP_ERR" "'no-such-host' is not a host of the chosen pools" "the CLI names the unknown host"
pp_fails 2 plan --host ""
assert_contains "$PP_ERR" "--host takes a host's name-label" "an empty --host"
pp_fails 2 upgrade prod --to 8.4.0 --manual --host prod-2 --plan
assert_contains "$PP_ERR" "are for updates, not upgrades" "--host is refused with an upgrade"
pass "unknown hosts refused by name (REST and CLI); a XenServer 8 pool must be updated whole"

# -- the rollout of prod-2 alone, judged from the pool
before=$(sim_state)
# started from the CLI: apply --host (the same request as POST /rollouts {"hosts": ["prod-2"]})
pp_ok apply --host prod-2 --yes --no-follow --json
id=$(jq -r .id <<<"$PP_OUT")
[ -n "$id" ] && [ "$id" != null ] || fail "poolpatch apply --host prod-2 printed no rollout id: $PP_OUT"
wait_rollout "$id"
st=$ROLLOUT_STATE
assert_eq done "$st" "the rollout of prod-2"
now=$(sim_state)
for h in prod-1 prod-2 prod-3 prod-4; do
    b=$(jq -c --arg h "$h" '.pools[] | select(.name == "prod") | .hosts[] | select(.name == $h) | .updates | sort' <<<"$before")
    a=$(jq -c --arg h "$h" '.pools[] | select(.name == "prod") | .hosts[] | select(.name == $h) | .updates | sort' <<<"$now")
    en=$(jq -r --arg h "$h" '.pools[] | select(.name == "prod") | .hosts[] | select(.name == $h) | .enabled' <<<"$now")
    assert_eq true "$en" "$h enabled after the rollout"
    if [ "$h" = prod-2 ]; then
        [ "$a" != "$b" ] || fail "prod-2 was not updated: $a"
    else
        assert_eq "$b" "$a" "$h's updates untouched"
    fi
done
assert_eq '["prod-2"]' "$(pp rollout "$id" --json | jq -c '[.pools[].hosts[] | select(.state == "done") | .name]')" \
    "the rollout's done hosts"
pass "a rollout of prod-2 alone updates prod-2 and leaves prod-1, prod-3 and prod-4 as they were"
