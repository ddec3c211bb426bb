#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# daemon_api.sh - the daemon and the CLI's daemon commands over HTTP: `poolpatch sim` (the demo
# fleet and its vendor file service), `poolpatch serve` (token file, auth, shutdown), and pool,
# client-id, updates (check, views, CSV, dismiss, restore), plan, apply (follows the event
# stream until done), rollouts, rollout, retry; outputs and exit statuses are checked.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --time-scale 3600
FS=$(sed -n 's/^fileservice //p' "$SIM_OUT")
[ -n "$FS" ] || fail "sim printed no fileservice line"
master() { sed -n "s/^pool $1 master //p" "$SIM_OUT"; }

export POOLPATCH_HOME="$E2E_TMP/home"
"$POOLPATCH" serve --listen 127.0.0.1:0 --check-interval 0 --catalog-url "$FS/updates.xml" --vendor-origin "$FS" \
    >"$E2E_TMP/serve.out" 2>"$E2E_TMP/serve.err" &
SERVE_PID=$!
E2E_PIDS="$E2E_PIDS $SERVE_PID"
wait_for_line "$E2E_TMP/serve.err" 'web UI and API on http://127\.0\.0\.1:[0-9]+/' 30 ||
    fail "serve did not start: $(cat "$E2E_TMP/serve.err")"
export POOLPATCH_SERVER=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$E2E_TMP/serve.err" | head -1)
[ "$(stat -c %a "$POOLPATCH_HOME/api-token")" = 600 ] || fail "token file is not 0600"
pass "serve started, token 0600"

# auth: no token -> 401 JSON error; static UI without token
code=$(curl -s -o "$E2E_TMP/b" -w '%{http_code}' "$POOLPATCH_SERVER/api/v1/pools")
assert_eq 401 "$code" "GET without token"
assert_contains "$(cat "$E2E_TMP/b")" '"code":"unauthorized"' "401 body"
code=$(curl -s -o /dev/null -w '%{http_code}' "$POOLPATCH_SERVER/")
assert_eq 200 "$code" "web UI without token"
etag=$(curl -s -D - -o /dev/null "$POOLPATCH_SERVER/app.js" | sed -n 's/^ETag: *//Ip' | tr -d '\r')
[ -n "$etag" ] || fail "no ETag on app.js"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$POOLPATCH_SERVER/app.js")
assert_eq 304 "$code" "app.js revalidated"
pass "auth, web assets with ETag / 304"

echo xenroot >"$E2E_TMP/pw"
for p in prod lab edge-standalone; do
    "$POOLPATCH" pool add "$p" --url "$(master "$p")" --user root --password-file "$E2E_TMP/pw" \
        >/dev/null || fail "pool add $p"
done
out=$("$POOLPATCH" pool list)
assert_contains "$out" "connected" "pool list"
set +e
"$POOLPATCH" pool add bad --url "$(master prod)" --user root --password-file /dev/null \
    2>"$E2E_TMP/err"
rc=$?
set -e
assert_eq 1 "$rc" "pool add with an empty password file"
pass "pools"

"$POOLPATCH" client-id import "$SRCDIR/scenarios/demo-client-id.json" >/dev/null
"$POOLPATCH" updates check >/dev/null
out=$("$POOLPATCH" updates --by-server --sort pool)
assert_contains "$out" "Out of date" "By Server before"
"$POOLPATCH" updates --export-csv "$E2E_TMP/by-update.csv"
[ -s "$E2E_TMP/by-update.csv" ] || fail "empty CSV"
"$POOLPATCH" updates dismiss --all >/dev/null
"$POOLPATCH" updates restore >/dev/null
pass "updates"

"$POOLPATCH" plan --automated --json >"$E2E_TMP/plan.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$E2E_TMP/plan.json" ||
    fail "plan --json is not JSON"
# apply unattended: plain lines (stdout is not a terminal), exit 0 only when done
set +e
# the event stream, read while the rollout runs
curl -sN -H "Authorization: Bearer $(cat "$POOLPATCH_HOME/api-token")" \
    "$POOLPATCH_SERVER/api/v1/events" >"$E2E_TMP/events" &
E2E_PIDS="$E2E_PIDS $!"
wait_for_line "$E2E_TMP/events" '^: connected' 10 || fail "no event stream"
# lab only for now: prod and edge-standalone halt in restore on the sim's missing VM.resume_on
timeout 300 "$POOLPATCH" apply lab --automated --yes >"$E2E_TMP/apply.out" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || fail "apply exited $rc: $(tail -20 "$E2E_TMP/apply.out")"
assert_contains "$(cat "$E2E_TMP/apply.out")" ": done" "apply ends done"
id=$("$POOLPATCH" rollouts --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rollouts"][0]["id"])')
assert_eq done "$("$POOLPATCH" rollout "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" "rollout state"
out=$("$POOLPATCH" updates --by-server | grep '^lab ')
case "$out" in *"Out of date"*) fail "lab still out of date after apply: $out" ;; esac
pass "automated apply of pool lab"
grep -q '^event: progress$' "$E2E_TMP/events" || fail "no progress event on the stream"
grep -q "^data: {.*\"rollout\":\"$id\"" "$E2E_TMP/events" || fail "no event of rollout $id"
pass "progress events over SSE"
out=$("$POOLPATCH" rollout "$id")
assert_contains "$out" "Rollout $id: done" "rollout ID"

set +e
"$POOLPATCH" retry "$id" 2>"$E2E_TMP/err"
rc=$?
set -e
assert_eq 1 "$rc" "retry of a finished rollout"
set +e
"$POOLPATCH" cancel "$id" 2>"$E2E_TMP/err"
rc=$?
set -e
assert_eq 1 "$rc" "cancel of a finished rollout"
pass "retry and cancel refused on a done rollout"

kill "$SERVE_PID"
wait "$SERVE_PID" || fail "serve did not exit 0 on SIGTERM"
set +e
"$POOLPATCH" rollouts 2>"$E2E_TMP/err"
rc=$?
set -e
assert_eq 1 "$rc" "CLI without daemon"
assert_contains "$(cat "$E2E_TMP/err")" "poolpatch serve" "daemon-not-running message"
pass "stop and the not-running message"
