#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# security_api.sh - issue 13 findings 3 and 6 and the roles, against the real daemon: 70 clients
# (from 127.0.0.5) dripping request headers while the CLI (127.0.0.1) is answered every time; the
# read-only token reads but is refused on every changing command, and nothing changes on the
# pool (read from the simulator); each change and refusal is in the audit log; a foreign Host
# header is refused (DNS rebinding).
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.42.10 --time-scale 1200
start_serve --read-token-file "$E2E_TMP/serve/read-token"
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add prod --url "$(sim_master_url prod)" --user root --password-file "$E2E_TMP/pw"
pp_ok updates check

# -- 70 slow clients hold connections open, dripping one header byte every 2 s
cat >"$E2E_TMP/slow.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.5", 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/v1/pools HTTP/1.1\r\n")
        socks.append(s)
    except OSError:
        s.close()
print("open", len(socks), flush=True)
for _ in range(15):
    for s in socks:
        try:
            s.send(b"X")
        except OSError:
            pass
    time.sleep(2)
PY
port=${SERVE_URL##*:}
port=${port%/}
python3 "$E2E_TMP/slow.py" "$port" 70 >"$E2E_TMP/slow.out" &
SLOW=$!
E2E_PIDS="$E2E_PIDS $SLOW"
wait_for_line "$E2E_TMP/slow.out" '^open' 30 || fail "the slow clients did not start"
answered=0
for _ in 1 2 3 4 5; do
    pp_run pool list --json
    [ "$PP_RC" = 0 ] && [ "$(jq -r '.pools[0].name' <<<"$PP_OUT")" = prod ] &&
        answered=$((answered + 1))
    sleep 0.3
done
assert_eq 5 "$answered" "pool list answers while 70 slow clients hold connections"
pp_ok rollouts --json
kill "$SLOW" 2>/dev/null || true
pass "70 slow clients do not keep the CLI from an answer ($(cat "$E2E_TMP/slow.out"))"

# -- the read-only token
ro() { "$POOLPATCH" "$@" --server "$SERVE_URL" --token-file "$E2E_TMP/serve/read-token"; }
[ -s "$E2E_TMP/serve/read-token" ] || fail "the read-only token file was not created"
assert_eq 600 "$(stat -c %a "$E2E_TMP/serve/read-token")" "the read-only token's mode"
ro pool list --json >"$E2E_TMP/ro.out" || fail "pool list with the read-only token"
assert_eq prod "$(jq -r '.pools[0].name' "$E2E_TMP/ro.out")" "a read with the read-only token"
ro plan prod --automated >/dev/null || fail "a plan with the read-only token"
before=$(sim_state | jq -c '[.pools[].hosts[] | {name, enabled, updates}]')
refused=0
for cmd in "pool remove prod" "updates check" "updates dismiss --all" "updates restore" \
    "apply prod --automated --yes" "client-id import $SRCDIR/scenarios/demo-client-id.json"; do
    # shellcheck disable=SC2086
    if ro $cmd >"$E2E_TMP/ro.out" 2>"$E2E_TMP/ro.err"; then
        fail "'$cmd' succeeded with the read-only token"
    fi
    assert_contains "$(cat "$E2E_TMP/ro.err")" "read-only" "'$cmd' refused with the read-only token"
    refused=$((refused + 1))
done
assert_eq "$before" "$(sim_state | jq -c '[.pools[].hosts[] | {name, enabled, updates}]')" \
    "the pool after the read-only token's attempts"
pp_ok pool list --json
assert_eq prod "$(jq -r '.pools[0].name' <<<"$PP_OUT")" "the pool is still registered"
pass "the read-only token reads and plans, and is refused on $refused changing commands"

# -- the audit log
api GET "/api/v1/audit?limit=100"
assert_eq 200 "$API_CODE" "GET /audit with the admin token"
assert_eq "$refused" "$(jq '[.entries[] | select(.role == "read" and .outcome == "refused" and .status == 403)] | length' <<<"$API_BODY")" \
    "refusals in the audit log"
assert_eq 1 "$(jq '[.entries[] | select(.role == "admin" and .method == "POST" and .path == "/api/v1/pools" and .status == 201 and .outcome == "done")] | length' <<<"$API_BODY")" \
    "the pool add in the audit log"
assert_not_contains "$API_BODY" "$(cat "$SERVE_TOKEN")" "the audit log never holds a token"
code=$(curl -sS -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $(cat "$E2E_TMP/serve/read-token")" "$SERVE_URL/api/v1/audit")
assert_eq 403 "$code" "the audit log with the read-only token"
pass "changes and refusals are in the audit log (admin only)"

# -- DNS rebinding: a page on another name reaches the daemon with its own Host header
code=$(curl -sS -o "$E2E_TMP/host.body" -w '%{http_code}' -H "Host: rebind.example:$port" \
    -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" "$SERVE_URL/api/v1/pools")
assert_eq 421 "$code" "a foreign Host header"
assert_eq misdirected "$(jq -r .error.code "$E2E_TMP/host.body")" "the 421 body is the API's JSON"
pass "a foreign Host header is refused with the API's JSON error"
