#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/webhooks.sh - webhooks through the real binaries: `poolpatch webhook add` against
# `poolpatch serve`, a rollout on `poolpatch sim`, and a receiver (webhook_recv.py) that fails
# the first two requests.  Checks: bad webhooks refused with the field named; every delivery is
# signed (HMAC verified by the receiver with the secret); the events are rollout.started, one
# host.done per host of the pool (hosts read from the simulator) and rollout.done, each once;
# the failed deliveries were retried and the log shows their attempts; a webhook subscribed only
# to rollout.halted got only the halt; removing a webhook removes it.  Before that rollout: one
# waiting for its maintenance window (rollout.waiting_window) and one halted by a failing health
# hook (host.health_gate_failed carrying the hook's output).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed"
SECRET=whsec-0123456789abcdef-e2e
RECV_LOG="$E2E_TMP/recv.log"
python3 "$SRCDIR/tests/e2e/webhook_recv.py" "$E2E_TMP/recv.port" "$RECV_LOG" "$SECRET" 2 \
    2>"$E2E_TMP/recv.err" &
E2E_PIDS="$E2E_PIDS $!"
wait_for_line "$E2E_TMP/recv.port" '^[0-9]+$' 10 || fail "receiver did not start"
HOOK_URL="http://127.0.0.1:$(cat "$E2E_TMP/recv.port")/hook"

start_sim "$SRCDIR/scenarios/small.json" --time-scale 300
# retries 1 s, 3 s, ... so that the test sees them within its run
echo 'webhook_retry_base = 1' >"$E2E_TMP/serve.conf"
start_serve --config "$E2E_TMP/serve.conf"
printf '%s\n' "$SECRET" >"$E2E_TMP/secret"
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add small --url "$(sim_master_url small-pool)" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

# ---- bad webhooks are refused, naming the field
printf 'short\n' >"$E2E_TMP/short"
pp_fails 1 webhook add "$HOOK_URL" --secret-file "$E2E_TMP/short"
assert_contains "$PP_ERR" "secret" "short secret refused"
pp_fails 1 webhook add "file:///etc/passwd" --secret-file "$E2E_TMP/secret"
assert_contains "$PP_ERR" "url" "file URL refused"
pp_fails 1 webhook add "http://u:p@127.0.0.1/x" --secret-file "$E2E_TMP/secret"
assert_contains "$PP_ERR" "password" "userinfo refused"
pp_fails 1 webhook add "$HOOK_URL" --secret-file "$E2E_TMP/secret" --events rollout.exploded
assert_contains "$PP_ERR" "events[0]" "unknown event refused"
pp_fails 2 webhook add "$HOOK_URL"
api POST /api/v1/webhooks '{"url":"http://127.0.0.1:1/","secret":"0123456789abcdefXX","colour":1}'
assert_eq 400 "$API_CODE" "unknown field"
pass "bad webhooks refused with the field named"

# ---- one webhook for everything, one only for halts
pp_ok webhook add "$HOOK_URL" --secret-file "$E2E_TMP/secret"
ALL_ID=$(pp webhook list --json | jq -r '.webhooks[0].id')
pp_ok webhook add "http://127.0.0.1:9/never" --secret-file "$E2E_TMP/secret" --events rollout.halted
pp_ok webhook list
assert_contains "$PP_OUT" "$HOOK_URL" "webhook list"
assert_not_contains "$(pp webhook list --json)" "$SECRET" "the secret is never listed"

wait_state() { # ID STATE SECONDS
    _end=$((SECONDS + $3))
    while [ $SECONDS -lt $_end ]; do
        _st=$(pp rollout "$1" --json | jq -r .state)
        [ "$_st" = "$2" ] && return 0
        sleep 0.3
    done
    fail "rollout $1 is $_st, expected $2"
}

# ---- a rollout waiting for its window (rollout.waiting_window), cancelled; then a health gate
# that fails on the first host (host.health_gate_failed with the hook's output), retried
pp_ok window add later --recurrence "0 3 1 1 *" --duration 1h --pool small
pp_ok apply small --update XS82ECU1002 --max-parallel 1 --yes --no-follow
RID1=$(pp rollouts --json | jq -r '.rollouts[0].id')
wait_state "$RID1" waiting_window 60
pp_ok cancel "$RID1"
wait_state "$RID1" cancelled 120
pp_ok window remove later
pp_ok gate set --pool small --command 'echo gate-output-marker; exit 1' --wait 5
pp_ok apply small --update XS82ECU1002 --max-parallel 1 --yes --no-follow
RID2=$(pp rollouts --json | jq -r '.rollouts[0].id')
[ "$RID2" != "$RID1" ] || fail "no second rollout"
wait_state "$RID2" halted 240
MASTER=$(sim_state | jq -r '.pools[] | select(.name == "small-pool") | .master')
i=0
while [ $i -lt 300 ] && ! grep -q '"host.health_gate_failed"' "$RECV_LOG" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
python3 - "$RECV_LOG" "$RID1" "$RID2" "$MASTER" <<'PY' || fail "window and health gate webhooks"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
rid1, rid2, master = sys.argv[2:5]
ok = lambda ev: [r for r in reqs if r["event"] == ev and r["sig_ok"]]
w = [r for r in ok("rollout.waiting_window") if r["body"]["data"]["rollout"] == rid1]
assert w, "no rollout.waiting_window for %s" % rid1
assert w[0]["body"]["data"]["pool"] == "small", w[0]["body"]["data"]
assert "next window opens" in w[0]["body"]["data"]["message"], w[0]["body"]["data"]
g = [r for r in ok("host.health_gate_failed") if r["body"]["data"]["rollout"] == rid2]
assert len({r["delivery"] for r in g}) == 1, "one host.health_gate_failed delivery: %s" % g
d = g[0]["body"]["data"]
assert d["host"] == master and d["step"] == "health_gate" and d["state"] == "failed", d
assert "gate-output-marker" in d["message"], d["message"]
print("ok - rollout.waiting_window and host.health_gate_failed delivered, signed")
PY
pp_ok gate remove --pool small
pp_ok retry "$RID2"
wait_state "$RID2" done 400
pass "webhooks for a window wait and a failed health gate (with the hook's output)"

pp_ok apply small --automated --yes
ID=$(pp rollouts --json | jq -r '.rollouts[0].id')
assert_eq done "$(pp rollout "$ID" --json | jq -r .state)" "rollout state"

# ---- deliveries: wait until the receiver got rollout.done with a 2xx
i=0
while [ $i -lt 300 ]; do
    grep -q '"event": "rollout.done", .*"status": 204\|"status": 204, "event": "rollout.done"' \
        "$RECV_LOG" 2>/dev/null && break
    sleep 0.1
    i=$((i + 1))
done
python3 - "$RECV_LOG" "$ID" "$(sim_state | jq -c '[.pools[] | select(.name == "small-pool") | .hosts[].name]')" <<'PY' || fail "webhook deliveries"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
rid, hosts = sys.argv[2], json.loads(sys.argv[3])
assert all(r["sig_ok"] for r in reqs), "a request's signature did not verify"
assert all(r["age_s"] < 600 for r in reqs), "a signature timestamp is far from now"
assert all(r["body"]["event"] == r["event"] for r in reqs), "header and body events differ"
ok = [r for r in reqs if r["status"] == 204 and r["body"]["data"].get("rollout") == rid]
events = sorted(r["event"] for r in ok)
want = sorted(["rollout.started", "rollout.done"] + ["host.done"] * len(hosts))
assert events == want, "delivered %s, want %s" % (events, want)
got_hosts = sorted(r["body"]["data"]["host"] for r in ok if r["event"] == "host.done")
assert len(set(got_hosts)) == len(hosts), "host.done per host: %s vs %s" % (got_hosts, hosts)
assert all(r["body"]["data"]["rollout"] == rid for r in ok), "rollout id"
failed = [r for r in reqs if r["status"] == 500]
assert len(failed) == 2, "the first two requests were answered 500"
for f in failed:  # each failed delivery was retried and then delivered
    assert any(r["delivery"] == f["delivery"] and r["status"] == 204 for r in reqs), f["delivery"]
print("ok - %d requests, %d delivered, 2 retried" % (len(reqs), len(ok)))
PY
pass "signed deliveries: rollout.started, one host.done per host, rollout.done; retried after 500s"

pp_ok webhook deliveries "$ALL_ID" --json
log=$PP_OUT
assert_eq 0 "$(echo "$log" | jq '[.deliveries[] | select(.state != "delivered")] | length')" \
    "every delivery of the first webhook delivered"
[ "$(echo "$log" | jq '[.deliveries[] | select(.attempts > 1)] | length')" -ge 1 ] ||
    fail "the log shows no retried delivery: $log"
HALT_ID=$(pp webhook list --json | jq -r '.webhooks[1].id')
assert_eq 0 "$(pp webhook deliveries "$HALT_ID" --json |
    jq '[.deliveries[] | select(.event != "rollout.halted")] | length')" \
    "the rollout.halted webhook got only halts"
pp_ok webhook deliveries
assert_contains "$PP_OUT" "rollout.done" "deliveries table"
pass "delivery log: states, attempts; a webhook for other events got nothing"

pp_ok webhook remove "$HALT_ID"
assert_eq 1 "$(pp webhook list --json | jq '.webhooks | length')" "one webhook left"
pp_fails 1 webhook remove "$HALT_ID"
pass "webhook removed; removing it again is an error"
stop_serve
