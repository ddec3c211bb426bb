#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# updates_offline.sh - a registered pool that loses its master (the simulator's partition fault:
# supporters in emergency mode): `pool list`, `updates check` and the views all say it is not
# connected instead of showing its last, stale inventory; once the fault is cleared it
# reconnects and its servers come back.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.31.10 --time-scale 60
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok updates check
pp_ok updates --by-server --json
assert_eq '["lab","prod"]' "$(jq -c '[.servers[].pool] | unique' <<<"$PP_OUT")" "pools before"

fault() {
    r=$(curl -sS --max-time 10 -X POST --data "$1" "$(sim_master_url prod)sim/fault")
    assert_eq true "$(jq .ok <<<"$r")" "sim fault $1 ($r)"
}
fault '{"type": "partition", "pool": "lab"}'
i=0
until [ "$(pp pool list --json | jq '.pools[] | select(.name == "lab") | .connected')" = false ]; do
    [ $i -lt 200 ] || fail "lab still connected 20 s after the partition"
    sleep 0.1
    i=$((i + 1))
done
pp_ok pool list
assert_contains "$(grep '^lab ' <<<"$PP_OUT")" "error" "pool list shows lab's error"

pp_ok updates check --json
le=$(jq -r '.pools[] | select(.name == "lab") | .error' <<<"$PP_OUT")
[ "$le" != null ] && [ -n "$le" ] || fail "check result without lab's error: $PP_OUT"
assert_eq null "$(jq '.pools[] | select(.name == "prod") | .error' <<<"$PP_OUT")" "prod's error"
pp_ok updates check
assert_contains "$PP_OUT" "pool lab:" "check in words names the offline pool"
pp_ok updates --by-server --json
assert_eq '["prod"]' "$(jq -c '[.servers[].pool] | unique' <<<"$PP_OUT")" \
    "By Server leaves the offline pool's stale rows out"
assert_eq '["lab"]' "$(jq -c '[.offline_pools[].name]' <<<"$PP_OUT")" "offline_pools"
pp_ok updates --json
assert_eq "" "$(jq -r '.updates[] | select(.pools | index("lab")) | .name' <<<"$PP_OUT")" \
    "By Update offers nothing to the offline pool"
pass "a pool without a master is shown offline, not stale"

fault '{"type": "clear", "pool": "lab"}'
i=0
until [ "$(pp updates --by-server --json | jq -c '[.servers[].pool] | unique')" = '["lab","prod"]' ]
do
    [ $i -lt 300 ] || fail "lab's servers not back 30 s after the fault was cleared"
    sleep 0.1
    i=$((i + 1))
done
pp_ok pool list --json
assert_eq true "$(jq '.pools[] | select(.name == "lab") | .connected' <<<"$PP_OUT")" "lab back"
pass "the pool comes back when its master is reachable again"

# a check right after the partition, before anything else noticed it: its read of lab is the
# first call to reach the cut coordinator, and ends with lab's error at once (it waited for lab's
# reconnect before: 150 s, and the check did not say that lab's read failed)
fault '{"type": "partition", "pool": "lab"}'
pp_ok updates check --json
jq -e '.pools[] | select(.name == "lab") | .error != null and .repository_error != null' \
    <<<"$PP_OUT" >/dev/null || fail "check right after the partition without lab's error: $PP_OUT"
assert_eq null "$(jq '.pools[] | select(.name == "prod") | .error' <<<"$PP_OUT")" "prod's error"
pass "a check during a partition answers with the lost pool's error"

# the tables say which pools are missing and why (render.c does not show offline_pools yet)
i=0
until [ "$(pp updates --by-server --json | jq -c '[.offline_pools[].name]')" = '["lab"]' ]; do
    [ $i -lt 200 ] || fail "lab not offline again"
    sleep 0.1
    i=$((i + 1))
done
pp_ok updates --by-server
assert_contains "$PP_OUT" "lab" "By Server table mentions the offline pool"
pp_ok updates
assert_contains "$PP_OUT" "lab" "By Update table mentions the offline pool"
pass "the tables name offline pools"

# the daemon restarts while lab's master is still cut off: lab stays connecting (its client keeps
# trying for 20 min), and a check answers for prod and says that lab is not connected once lab's
# first login round found no master (before: the check waited for lab's login, 152 s, and its
# repository_error was null)
stop_serve
start_serve
i=0
until [ "$(pp pool list --json | jq '.pools[] | select(.name == "prod") | .connected')" = true ]; do
    [ $i -lt 200 ] || fail "prod not connected 20 s after the restart"
    sleep 0.1
    i=$((i + 1))
done
pp_ok updates check --json
jq -e '.pools[] | select(.name == "lab") | .error != null and
    (.repository_error | test("not connected"))' <<<"$PP_OUT" >/dev/null ||
    fail "check with lab's master down at start without lab's error: $PP_OUT"
assert_eq null "$(jq '.pools[] | select(.name == "prod") | .error' <<<"$PP_OUT")" "prod's error"
assert_eq true "$(sim_state | jq '[.pools[] | select(.name == "lab") | .partitioned] | any')" \
    "lab still partitioned in the simulator"
pp_ok pool list --json
assert_contains "$(jq -r '.pools[] | select(.name == "lab") | .state + " " + .error' \
    <<<"$PP_OUT")" "connecting no master found yet" "pool list says why lab is connecting"
pass "a check after a start with a pool's master down answers with that pool's error"

stop_serve
