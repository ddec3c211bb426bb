#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pools.sh - `poolpatch pool add | list | remove` against `poolpatch serve` and the simulated demo
# fleet: a refused password names SESSION_AUTHENTICATION_FAILED and stores nothing, duplicate names
# and URLs are refused, a supporter's address is followed to the master (HOST_IS_SLAVE), removing
# an unknown pool fails, what is registered survives a daemon restart, the store is owner-only.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.21.10 --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
echo not-the-password >"$E2E_TMP/badpw"
PROD=$(sim_master_url prod)
LAB=$(sim_master_url lab)

# -- a refused password: a clear error, nothing stored
pp_fails 1 pool add prod --url "$PROD" --user root --password-file "$E2E_TMP/badpw"
assert_contains "$PP_ERR" "SESSION_AUTHENTICATION_FAILED" "pool add with a bad password"
assert_contains "$PP_ERR" "$PROD" "the error names the URL"
pp_ok pool list --json
assert_eq 0 "$(jq '.pools | length' <<<"$PP_OUT")" "pools after a refused login"
pp_fails 1 pool add prod --url "$PROD" --user nobody --password-file "$E2E_TMP/pw"
assert_contains "$PP_ERR" "SESSION_AUTHENTICATION_FAILED" "pool add with an unknown user"
pp_fails 1 pool add prod --url "$PROD" --user root --password-file /dev/null
assert_contains "$PP_ERR" "empty" "pool add with an empty password file"
pp_fails 2 pool add prod --user root --password-file "$E2E_TMP/pw"
assert_contains "$PP_ERR" "--url" "pool add without --url"
pp_ok pool list --json
assert_eq 0 "$(jq '.pools | length' <<<"$PP_OUT")" "pools after failed adds"
pass "refused logins store nothing"

# -- a good add: the answer and the list describe the pool as the simulator has it
pp_ok pool add prod --url "$PROD" --user root --password-file "$E2E_TMP/pw" --json
assert_eq prod "$(jq -r .name <<<"$PP_OUT")" "pool add --json name"
assert_eq "$PROD" "$(jq -r .url <<<"$PP_OUT")" "pool add --json url"
assert_eq root "$(jq -r .username <<<"$PP_OUT")" "pool add --json username"
assert_eq false "$(jq 'has("password")' <<<"$PP_OUT")" "pool add answer carries no password"
state=$(sim_state)
pp_ok pool list --json
p=$(jq -c '.pools[] | select(.name == "prod")' <<<"$PP_OUT")
[ -n "$p" ] || fail "prod not listed: $PP_OUT"
assert_eq true "$(jq .connected <<<"$p")" "prod connected"
assert_eq "$(jq -r '.pools[] | select(.name == "prod") | .master' <<<"$state")" \
    "$(jq -r .master <<<"$p")" "prod master"
assert_eq "$(jq '.pools[] | select(.name == "prod") | .hosts | length' <<<"$state")" \
    "$(jq .hosts <<<"$p")" "prod host count"
assert_eq "$(jq -r '.pools[] | select(.name == "prod") | .hosts[0].product_version' <<<"$state")" \
    "$(jq -r .version <<<"$p")" "prod version"
pp_ok pool list
line=$(grep '^prod ' <<<"$PP_OUT") || fail "no prod line in: $PP_OUT"
for w in "$PROD" prod-1 4 8.2.1 connected; do
    assert_contains "$line" "$w" "pool list table"
done
pass "pool add and list"

# -- duplicates are refused and change nothing
pp_fails 1 pool add prod --url "$LAB" --user root --password-file "$E2E_TMP/pw"
assert_contains "$PP_ERR" "a pool named 'prod' is already registered" "duplicate name"
pp_fails 1 pool add prod-again --url "$PROD" --user root --password-file "$E2E_TMP/pw"
assert_contains "$PP_ERR" "already registered as pool 'prod'" "duplicate URL"
pp_ok pool list --json
assert_eq '["prod"]' "$(jq -c '[.pools[].name]' <<<"$PP_OUT")" "pools after duplicates"
assert_eq "$PROD" "$(jq -r '.pools[0].url' <<<"$PP_OUT")" "prod's URL after duplicates"
pass "duplicates refused"

# -- a supporter's address: xapi answers HOST_IS_SLAVE there, the client follows it to the master
state=$(sim_state)
sup_addr=$(jq -r '.pools[] | select(.name == "lab") | .hosts[] | select(.master | not) | .address' \
    <<<"$state" | head -1)
lab_master_addr=$(jq -r '.pools[] | select(.name == "lab") | .master_address' <<<"$state")
[ -n "$sup_addr" ] && [ "$sup_addr" != "$lab_master_addr" ] || fail "no lab supporter in $state"
port=${LAB##*:}
port=${port%/}
SUP="http://$sup_addr:$port/"
r=$(xapi_json "$SUP" session.login_with_password '["root","xenroot"]')
assert_eq HOST_IS_SLAVE "$(jq -r '.error.message // .error[0] // empty' <<<"$r")" \
    "a login at the supporter $SUP ($r)"
pp_ok pool add lab --url "$SUP" --user root --password-file "$E2E_TMP/pw" --json
assert_eq "$SUP" "$(jq -r .url <<<"$PP_OUT")" "lab registered with the URL given"
pp_ok pool list --json
p=$(jq -c '.pools[] | select(.name == "lab")' <<<"$PP_OUT")
assert_eq true "$(jq .connected <<<"$p")" "lab connected through its supporter"
assert_eq lab-1 "$(jq -r .master <<<"$p")" "lab's master found"
assert_eq "$lab_master_addr" "$(jq -r .master_address <<<"$p")" "lab's master address"
assert_eq 2 "$(jq .hosts <<<"$p")" "lab hosts"
pass "login through a supporter follows HOST_IS_SLAVE"

# -- remove: unknown names fail, a removed pool leaves the views
pp_fails 1 pool remove no-such-pool
assert_contains "$PP_ERR" "no-such-pool" "removing an unknown pool names it"
pp_fails 2 pool remove
pp_ok updates check
pp_ok updates --by-server --json
assert_eq '["lab","prod"]' "$(jq -c '[.servers[].pool] | unique' <<<"$PP_OUT")" \
    "pools in By Server before remove"
pp_ok pool remove prod
assert_contains "$PP_OUT" "Pool prod removed" "pool remove"
pp_ok pool list --json
assert_eq '["lab"]' "$(jq -c '[.pools[].name]' <<<"$PP_OUT")" "pools after remove"
pp_ok updates --by-server --json
assert_eq '["lab"]' "$(jq -c '[.servers[].pool] | unique' <<<"$PP_OUT")" \
    "pools in By Server after remove"
pp_fails 1 pool remove prod
pass "pool remove"

# -- what is registered survives a restart; the store is owner-only
stop_serve
assert_eq 600 "$(stat -c %a "$SERVE_DIR/pp.db")" "the store's mode"
start_serve
pp_ok pool list --json
assert_eq '["lab"]' "$(jq -c '[.pools[].name]' <<<"$PP_OUT")" "pools after a restart"
i=0
until [ "$(pp pool list --json | jq '.pools[0].connected')" = true ]; do
    [ $i -lt 100 ] || fail "lab did not reconnect after the restart: $(pp pool list --json)"
    sleep 0.2
    i=$((i + 1))
done
pass "pools persist across a restart (stored password reused)"
