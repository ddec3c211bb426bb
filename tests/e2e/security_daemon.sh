#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# security_daemon.sh - issue 12 item 6: one daemon per database.  A second `poolpatch serve` on
# the same database refuses to start and names the first one's pid; the first keeps serving; once
# the first is killed (SIGKILL: the kernel drops its lock) a new daemon starts on that database.
. "$(dirname "$0")/lib.sh"

start_serve
pp_ok pool list
set +e
timeout 30 "$POOLPATCH" serve --listen 127.0.0.1:0 --db "$SERVE_DIR/pp.db" \
    --token-file "$SERVE_TOKEN" --check-interval 0 >"$E2E_TMP/second.out" 2>"$E2E_TMP/second.err"
rc=$?
set -e
assert_eq 1 "$rc" "the second daemon's exit status"
assert_contains "$(cat "$E2E_TMP/second.err")" "another poolpatch daemon (pid $SERVE_PID)" \
    "the refusal names the holder"
assert_contains "$(cat "$E2E_TMP/second.err")" "$SERVE_DIR/pp.db" "the refusal names the database"
pp_ok pool list
pass "a second daemon on the same database is refused, naming the first"

kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
start_serve
pp_ok pool list
pass "after the first daemon died (SIGKILL) a new one takes the database"
