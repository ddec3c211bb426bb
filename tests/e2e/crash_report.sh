#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# crash_report.sh - `poolpatch serve` dying of a fatal signal says so on stderr before it dies:
# the signal, who sent it (or the faulting address), the thread, and the stack as module(+offset)
# frames that addr2line turns into functions and lines (src/cli/crash_report.c).  Then the
# signal's default action still runs (exit status 139 for SIGSEGV).  CI once saw the daemon die
# of SIGSEGV in crash_resume with nothing in its log (session 10).  Under AddressSanitizer or
# ThreadSanitizer their own report is kept instead (checked here too).
. "$(dirname "$0")/lib.sh"

"$POOLPATCH" serve --listen 127.0.0.1:0 --db "$E2E_TMP/state.db" --token-file "$E2E_TMP/token" \
    --check-interval 0 >/dev/null 2>"$E2E_TMP/serve.err" &
DPID=$!
E2E_PIDS="$E2E_PIDS $DPID"
wait_for_line "$E2E_TMP/serve.err" 'web UI and API on http://127\.0\.0\.1:[0-9]+/' 30 ||
    fail "serve did not start: $(cat "$E2E_TMP/serve.err")"
kill -SEGV "$DPID"
st=0
wait "$DPID" 2>/dev/null || st=$?
err=$(cat "$E2E_TMP/serve.err")
if ldd "$POOLPATCH" 2>/dev/null | grep -qE 'lib(asan|tsan)\.'; then
    # the sanitizer ends the process its own way (ASAN_OPTIONS abort_on_error: 134, else 1)
    [ "$st" -ne 0 ] || fail "serve exited 0 after SIGSEGV"
    assert_contains "$err" "Sanitizer:DEADLYSIGNAL" "the sanitizer's own report"
    pass "sanitized build: the sanitizer's SIGSEGV report is kept"
    exit 0
fi
assert_eq 139 "$st" "exit status after SIGSEGV (the default action after the report)"
assert_contains "$err" "poolpatch: fatal signal 11 (SIGSEGV), code 0, sent by pid $$, thread " \
    "the report's first line"
assert_contains "$err" "poolpatch: end of backtrace" "the report's end"
frame=$(grep -oE '/poolpatch\(\+0x[0-9a-f]+\)' "$E2E_TMP/serve.err" | head -1)
[ -n "$frame" ] || fail "no frame of the poolpatch binary in the backtrace: $err"
pass "SIGSEGV: signal, sender, thread and backtrace on stderr, exit status 139"
# the first frame is the handler itself: addr2line names it from the printed offset
if command -v addr2line >/dev/null; then
    off=${frame##*+}
    off=${off%)}
    fn=$(addr2line -f -e "$POOLPATCH" "$off" | head -1)
    assert_eq on_fatal "$fn" "addr2line of the first frame ($off)"
    pass "the frames' offsets resolve with addr2line -f -e poolpatch OFFSET"
fi
