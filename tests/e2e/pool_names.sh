#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/pool_names.sh - pools are addressed as users see them: by registered name, by the
# pool's name-label or by its uuid; the Updates views name each pool by its registered name, the
# name-label beside it (pool_label); a name-label two registered pools share is refused naming both; the same pool cannot be registered twice, not even through one of its
# supporters' URLs (the error names the existing entry).  Real `poolpatch serve` + `sim`.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
PROD=$(sim_master_url prod)
LAB=$(sim_master_url lab)
EDGE=$(sim_master_url edge-standalone)
# the lab pool renamed "prod" through XAPI (as XenCenter would): two pools share a name-label
_s=$(xapi_login "$LAB")
_p=$(xapi_json "$LAB" pool.get_all "[\"$_s\"]" | jq -r '.result[0]')
xapi_json "$LAB" pool.set_name_label "[\"$_s\",\"$_p\",\"prod\"]" | jq -e 'has("error") | not' \
    >/dev/null || fail "pool.set_name_label"
pp_ok pool add main --url "$PROD" --user root --password-file "$E2E_TMP/pw"
pp_ok pool add second --url "$LAB" --user root --password-file "$E2E_TMP/pw"
pp_ok pool add edge --url "$EDGE" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

# ---- the same pool again, through a supporter's address
SUPPORTER=$(sim_state | jq -r --arg m "$PROD" \
    '.pools[] | select(any(.hosts[]; .master and ("http://" + .address + "/") == ($m | sub(":[0-9]+/$"; "/")))) | .hosts[] | select(.master | not) | .address' | head -1)
[ -n "$SUPPORTER" ] || fail "no supporter address in the simulator's state"
PORT=$(echo "$PROD" | sed -E 's#.*:([0-9]+)/$#\1#')
pp_fails 1 pool add again --url "http://$SUPPORTER:$PORT/" --user root --password-file "$E2E_TMP/pw"
assert_contains "$PP_ERR" "already registered as 'main'" "supporter URL refused, naming the entry"
pp_fails 1 pool add again2 --url "$PROD" --user root --password-file "$E2E_TMP/pw"
assert_contains "$PP_ERR" "main" "master URL twice refused"
assert_eq 3 "$(pp pool list --json | jq '.pools | length')" "still three pools"
pass "a pool is registered once, even through a supporter's URL (error names 'main')"

# ---- addressing: name-label, uuid, registered name
pp_ok plan edge-standalone --json
assert_eq edge "$(echo "$PP_OUT" | jq -r '.pools[0].name // .pools[0].pool')" "plan by name-label"
EDGE_UUID=$(xapi_json "$EDGE" pool.get_all_records "[\"$(xapi_login "$EDGE")\"]" |
    jq -r '.result | to_entries[0].value.uuid')
pp_ok plan "$EDGE_UUID" --json
assert_eq edge "$(echo "$PP_OUT" | jq -r '.pools[0].name // .pools[0].pool')" "plan by uuid"
pp_ok plan edge --json
pp_fails 1 plan prod
assert_contains "$PP_ERR" "'main'" "ambiguous name-label names the first pool"
assert_contains "$PP_ERR" "'second'" "ambiguous name-label names the second pool"
pp_fails 1 plan nosuchpool
assert_contains "$PP_ERR" "no pool named 'nosuchpool'" "unknown pool"
pp_ok pool remove "$EDGE_UUID"
assert_eq 2 "$(pp pool list --json | jq '.pools | length')" "removed by uuid"
pass "pools addressed by registered name, name-label or uuid; a shared name-label is refused naming both"

# ---- the views name pools by registered name (two pools labelled "prod" stay apart), label beside
pp_ok updates --by-server --json
hosts_of() { # REGISTERED-NAME -> its hosts in the By Server view, as "label/server"
    jq -r --arg p "$1" '[.servers[] | select(.pool == $p and (.is_pool | not)) |
        .pool_label + "/" + .server] | sort | join(",")' <<<"$PP_OUT"
}
sim_hosts() { # SIM-POOL -> its hosts as the simulator has them
    sim_state | jq -r --arg p "$1" '[.pools[] | select(.name == $p) | .hosts[].name |
        "prod/" + .] | sort | join(",")'
}
assert_eq "$(sim_hosts prod)" "$(hosts_of main)" "By Server: pool 'main' = the simulator's prod hosts"
assert_eq "$(sim_hosts lab)" "$(hosts_of second)" "By Server: pool 'second' = the simulator's lab hosts"
assert_eq "main,second" "$(jq -r '[.servers[].pool] | unique | join(",")' <<<"$PP_OUT")" \
    "By Server names only registered pools"
pp_ok updates --json
jq -e '.updates | length > 0' <<<"$PP_OUT" >/dev/null || fail "no updates to check: $PP_OUT"
jq -e 'all(.updates[]; (.pools | length) == (.pool_labels | length) and
        all(.pools[]; . == "main" or . == "second") and all(.pool_labels[]; . == "prod") and
        all(.servers[]; (.pool == "main" or .pool == "second") and .pool_label == "prod"))' \
    <<<"$PP_OUT" >/dev/null || fail "By Update pools: $(jq -c '[.updates[] | {pools, pool_labels}]' <<<"$PP_OUT")"
pass "the Updates views name pools by registered name, with the pool's name-label beside it"
stop_serve
