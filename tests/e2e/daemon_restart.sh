#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# daemon_restart.sh - `poolpatch apply` keeps following its rollout while the daemon is killed
# with SIGKILL mid-rollout and started again on the same address: the daemon resumes the rollout
# from its journal, the CLI reconnects to the event stream, and both end with the rollout done.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --time-scale 120
FS=$(sed -n 's/^fileservice //p' "$SIM_OUT")
[ -n "$FS" ] || fail "sim printed no fileservice line"

export POOLPATCH_HOME="$E2E_TMP/home"
start_serve() { # LISTEN LOG
    "$POOLPATCH" serve --listen "$1" --check-interval 0 --catalog-url "$FS/updates.xml" --vendor-origin "$FS" \
        >/dev/null 2>"$2" &
    SERVE_PID=$!
    E2E_PIDS="$E2E_PIDS $SERVE_PID"
    wait_for_line "$2" 'web UI and API on http://127\.0\.0\.1:[0-9]+/' 30 ||
        fail "serve did not start: $(cat "$2")"
}
start_serve 127.0.0.1:0 "$E2E_TMP/serve1.err"
export POOLPATCH_SERVER=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$E2E_TMP/serve1.err" | head -1)

echo xenroot >"$E2E_TMP/pw"
"$POOLPATCH" pool add lab --url "$(sed -n 's/^pool lab master //p' "$SIM_OUT")" --user root \
    --password-file "$E2E_TMP/pw" >/dev/null
"$POOLPATCH" client-id import "$SRCDIR/scenarios/demo-client-id.json" >/dev/null
"$POOLPATCH" updates check >/dev/null

"$POOLPATCH" apply lab --automated --yes >"$E2E_TMP/apply.out" 2>"$E2E_TMP/apply.err" &
APPLY_PID=$!
E2E_PIDS="$E2E_PIDS $APPLY_PID"
# kill the daemon once the rollout has visibly started on a host
wait_for_line "$E2E_TMP/apply.out" ' lab/lab-1 ' 60 || fail "the rollout did not start"
kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
start_serve "${POOLPATCH_SERVER#http://}" "$E2E_TMP/serve2.err"
pass "daemon killed mid-rollout and restarted"

i=0
while kill -0 "$APPLY_PID" 2>/dev/null && [ $i -lt 1200 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -0 "$APPLY_PID" 2>/dev/null && fail "apply still running after 120 s"
set +e
wait "$APPLY_PID"
rc=$?
set -e
[ "$rc" = 0 ] || fail "apply exited $rc: $(cat "$E2E_TMP/apply.err"; tail -15 "$E2E_TMP/apply.out")"
assert_contains "$(cat "$E2E_TMP/apply.out")" ": done" "apply saw the rollout end"
assert_contains "$(cat "$E2E_TMP/apply.err")" "lost the daemon" "apply noticed the restart"
out=$("$POOLPATCH" updates --by-server | grep '^lab ')
case "$out" in *"Out of date"*) fail "lab still out of date: $out" ;; esac
pass "apply followed the resumed rollout to done"
