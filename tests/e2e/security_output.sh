#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# security_output.sh - issue 13 finding 4: a host name set through XAPI to hold terminal escape
# sequences, CR/LF, a C1 control and a right-to-left override reaches `updates --by-server`,
# `plan` and `pool list` only escaped; no raw control byte reaches the terminal.  The CSV export
# neutralises formula cells unless --raw.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.43.10 --time-scale 1200
start_serve
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add prod --url "$(sim_master_url prod)" --user root --password-file "$E2E_TMP/pw"
pp_ok updates check

# rename prod-1 over XAPI, as anyone with pool access could
u=$(sim_master_url prod)
s=$(xapi_login "$u")
h=$(xapi_json "$u" host.get_all "[\"$s\"]" | jq -er '.result[0]')
evil=$(printf 'evil\033]0;pwned\007\033[2J\r\nFIXED, nothing to do\302\233\342\200\256gnp.exe')
xapi_json "$u" host.set_name_label "$(jq -cn --arg s "$s" --arg h "$h" --arg n "$evil" '[$s,$h,$n]')" |
    jq -e 'has("error") | not' >/dev/null || fail "host.set_name_label"
assert_eq "$evil" "$(xapi_json "$u" host.get_name_label "[\"$s\",\"$h\"]" | jq -r .result)" \
    "the simulator holds the hostile name"

no_raw_controls() { # FILE WHAT: no C0 control but LF, no C1, no bidi override
    if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1"; then fail "$2: a raw control byte"; fi
    if grep -q $'\xc2\x9b' "$1"; then fail "$2: a raw C1 control"; fi
    if grep -q $'\xe2\x80\xae' "$1"; then fail "$2: a raw right-to-left override"; fi
}
for _ in $(seq 1 100); do
    pp_ok updates --by-server
    case $PP_OUT in *'evil\x1b]0;pwned'*) break ;; esac
    sleep 0.2
done
printf '%s\n' "$PP_OUT" >"$E2E_TMP/by-server.out"
assert_contains "$PP_OUT" 'evil\x1b]0;pwned\x07\x1b[2J\x0d\x0aFIXED, nothing to do\u{9b}\u{202e}gnp.exe' \
    "the host name, escaped, on one line"
no_raw_controls "$E2E_TMP/by-server.out" "updates --by-server"
pp_ok plan prod --automated
printf '%s\n' "$PP_OUT" >"$E2E_TMP/plan.out"
assert_contains "$PP_OUT" 'evil\x1b]0;pwned' "plan shows the escaped name"
no_raw_controls "$E2E_TMP/plan.out" "plan"
pp_ok updates --by-server --json
printf '%s\n' "$PP_OUT" >"$E2E_TMP/json.out"
no_raw_controls "$E2E_TMP/json.out" "updates --by-server --json"
pass "control, C1 and bidi characters from XAPI reach the terminal only escaped"

# a formula as a host name: neutralised in the CSV unless --raw
h2=$(xapi_json "$u" host.get_all "[\"$s\"]" | jq -er '.result[1]')
xapi_json "$u" host.set_name_label "$(jq -cn --arg s "$s" --arg h "$h2" '[$s,$h,"=1+2"]')" |
    jq -e 'has("error") | not' >/dev/null || fail "host.set_name_label (formula)"
for _ in $(seq 1 100); do
    pp_ok updates --by-server --export-csv "$E2E_TMP/servers.csv"
    grep -q "1+2" "$E2E_TMP/servers.csv" && break
    sleep 0.2
done
grep -q "\"'=1+2\"" "$E2E_TMP/servers.csv" || fail "the formula cell is not neutralised: $(grep 1+2 "$E2E_TMP/servers.csv")"
pp_ok updates --by-server --export-csv "$E2E_TMP/raw.csv" --raw
grep -q '"=1+2"' "$E2E_TMP/raw.csv" || fail "--raw changed the formula cell"
pass "a formula cell is neutralised in the CSV, kept with --raw"
