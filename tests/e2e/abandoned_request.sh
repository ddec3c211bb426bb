#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# abandoned_request.sh - issue 12 item 7, no ghost requests, through the real binaries: while
# every API worker of `poolpatch serve` is held (8 `POST /pools` to a pool URL that accepts
# connections and never answers), a `POST /api/v1/rollouts` sent with `X-Request-Timeout: 2`
# is answered 504 "withdrawn" with "took_effect": false, and it is never carried out: judged from
# the simulator (no host disabled, HA still on, no update introduced or applied, no migration)
# after the workers are free again, and no rollout exists.  First, on a fresh simulator and daemon,
# the same request without the header starts a rollout that the simulator sees (so the checks can
# fail).
. "$(dirname "$0")/lib.sh"

make_scenario "$E2E_TMP/prod.json" '.pools |= map(select(.name == "prod"))'
printf 'request_timeout = 2\n' >"$E2E_TMP/serve.conf"

setup() { # NAME: a fresh simulator and daemon with the pool prod registered
    rm -f "$E2E_TMP/sim.out"
    start_sim "$E2E_TMP/prod.json" --time-scale 100
    SERVE_DIR="$E2E_TMP/serve-$1"
    start_serve --config "$E2E_TMP/serve.conf"
    MASTER=$(sim_master_url prod)
    echo xenroot >"$E2E_TMP/pw"
    pp_ok pool add prod --url "$MASTER" --user root --password-file "$E2E_TMP/pw"
    pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
    pp_ok updates check
}

n_updates() {
    s=$(xapi_login "$MASTER")
    xapi_json "$MASTER" pool_update.get_all "[\"$s\"]" | jq '.result | length'
}

# ---- the request, not abandoned, takes effect: the simulator sees it (the checks below can fail)
setup control
before_updates=$(n_updates)
api POST /api/v1/rollouts '{"pools": ["prod"], "automated": true}'
assert_eq 201 "$API_CODE" "POST /rollouts ($API_BODY)"
i=0
while [ $i -lt 300 ]; do
    [ "$(sim_state | jq .pools[0].ha_enabled)" = false ] && [ "$(n_updates)" -gt "$before_updates" ] && break
    sleep 0.1
    i=$((i + 1))
done
[ $i -lt 300 ] || fail "a rollout that was not abandoned changed nothing in the pool"
pass "POST /rollouts: the simulator sees HA turned off and the updates introduced within 30 s"
stop_serve
kill "$SIM_PID" 2>/dev/null || true
wait "$SIM_PID" 2>/dev/null || true

# ---- the same request abandoned by its caller
setup ghost
# a "pool" that accepts connections and closes them after 4 s without a word
SILENT_PORT_FILE="$E2E_TMP/silent.port"
python3 -c '
import socket, sys, threading, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
with open(sys.argv[1], "w") as f:
    f.write(str(s.getsockname()[1]) + "\n")
def hold(c):
    time.sleep(4); c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=hold, args=(c,), daemon=True).start()
' "$SILENT_PORT_FILE" &
E2E_PIDS="$E2E_PIDS $!"
wait_for_line "$SILENT_PORT_FILE" '^[0-9]+$' 10 || fail "the silent server did not start"
SILENT="http://127.0.0.1:$(head -1 "$SILENT_PORT_FILE")/"
before_updates=$(n_updates)
before=$(sim_state)

# hold all 8 workers (each waits for the engine, at most 5 x request_timeout)
held=""
for i in 1 2 3 4 5 6 7 8; do
    curl -sS --max-time 60 -o /dev/null -X POST -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" \
        -H 'Content-Type: application/json' \
        --data "{\"name\": \"silent-$i\", \"url\": \"$SILENT\", \"username\": \"root\", \"password\": \"x\", \"insecure_http\": true}" \
        "$SERVE_URL/api/v1/pools" &
    E2E_PIDS="$E2E_PIDS $!"
    held="$held $!"
done
sleep 1
code=$(curl -sS --max-time 60 -o "$E2E_TMP/ghost.body" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" -H 'Content-Type: application/json' \
    -H 'X-Request-Timeout: 2' --data '{"pools": ["prod"], "automated": true}' \
    "$SERVE_URL/api/v1/rollouts")
assert_eq 504 "$code" "the abandoned POST /rollouts ($(cat "$E2E_TMP/ghost.body"))"
assert_contains "$(jq -r .error.message "$E2E_TMP/ghost.body")" "withdrawn" "its answer"
assert_eq false "$(jq -r .error.took_effect "$E2E_TMP/ghost.body")" "took_effect"
for p in $held; do wait "$p" 2>/dev/null || true; done
sleep 3 # 300 simulated seconds: a rollout would have turned HA off and introduced the updates
after=$(sim_state)
assert_eq "$(jq -c '[.pools[0].hosts[] | {name, enabled}]' <<<"$before")" \
    "$(jq -c '[.pools[0].hosts[] | {name, enabled}]' <<<"$after")" "hosts enabled as before"
assert_eq true "$(jq .pools[0].ha_enabled <<<"$after")" "HA still on"
assert_eq 0 "$(jq '.counters.applies + .counters.migrations + .counters.reboots' <<<"$after")" \
    "applies, migrations and reboots"
assert_eq "$before_updates" "$(n_updates)" "pool_updates in the pool"
pp_ok rollouts --json
assert_eq 0 "$(jq '.rollouts | length' <<<"$PP_OUT")" "rollouts after the abandoned request"
pass "a request abandoned by its caller (X-Request-Timeout) is answered 504 and never carried out"
