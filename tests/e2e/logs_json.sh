#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/logs_json.sh - `poolpatch serve --log-format json`: every line the daemon logs while a
# pool (whose host names carry a terminal escape, a quote and a newline, set through XAPI) is added,
# checked and updated is one JSON object with time, level, module, msg and pid that jq parses, and
# no raw control byte reaches the log.  A bad value is refused naming the setting.
. "$(dirname "$0")/lib.sh"

out=$("$POOLPATCH" serve --log-format xml --db "$E2E_TMP/x.db" --token-file "$E2E_TMP/x.tok" 2>&1) &&
    fail "serve --log-format xml started"
assert_contains "$out" "log_format" "the refusal names the setting"

start_sim "$SRCDIR/scenarios/small.json" --time-scale 600
u=$(sim_master_url small-pool)
s=$(xapi_login "$u")
h=$(xapi_json "$u" host.get_all "[\"$s\"]" | jq -r '.result[0]')
evil=$(printf 'h\033]0;owned\007"q\nline2')
xapi_json "$u" host.set_name_label "$(jq -cn --arg s "$s" --arg h "$h" --arg n "$evil" '[$s,$h,$n]')" |
    jq -e 'has("error") | not' >/dev/null || fail "host.set_name_label"

start_serve --log-format json --log-level debug
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add small --url "$u" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
pp_ok apply small --automated --yes
stop_serve

lines=$(wc -l <"$SERVE_LOG")
[ "$lines" -ge 10 ] || fail "only $lines log lines"
while IFS= read -r l; do
    printf '%s\n' "$l" | jq -e . >/dev/null 2>&1 || fail "not one JSON object: $l"
done <"$SERVE_LOG"
shape=$(jq -c 'select((.time|type)=="string" and (.level|type)=="string" and
                       (.module|type)=="string" and (.msg|type)=="string" and
                       (.pid|type)=="number") | 1' "$SERVE_LOG" | wc -l)
assert_eq "$lines" "$shape" "lines with time, level, module, msg and pid"
jq -r 'select(.msg | test("web UI and API on http://127.0.0.1:")) | .level' "$SERVE_LOG" |
    grep -qx info || fail "the listen line is missing"
[ "$(jq -r .level "$SERVE_LOG" | sort -u | grep -c -E '^(debug|info)$')" -ge 1 ] ||
    fail "no debug/info lines at --log-level debug"
if LC_ALL=C grep -q "$(printf '\033')" "$SERVE_LOG"; then
    fail "a raw ESC byte reached the log"
fi
pass "json logs: $lines lines, each one object"
