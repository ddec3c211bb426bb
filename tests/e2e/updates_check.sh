#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# updates_check.sh - `poolpatch updates check` and the checking status of the views, against the
# simulator's vendor file service seen through tests/e2e/catalog_proxy.py (which logs the wire
# and breaks the catalog on demand): the first check fetches (200), the second is a conditional
# GET answered 304 and reported unchanged; an HTTP 500, a non-XML body, a truncated catalog and a
# dead server each give a clear error while the last good catalog stays in the views (also after
# a daemon restart); a file:// catalog; periodic checking off (the views say so and how to check
# now), on by default, and really checking by itself when an interval is set.
. "$(dirname "$0")/lib.sh"

# lab on legacy hotfixes (XS84E001/E002), as before demo.json made it a XenServer 8 pool
jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" "$SRCDIR/scenarios/demo.json" >"$E2E_TMP/legacy.json"
start_sim "$E2E_TMP/legacy.json" --base-address 127.0.22.10 --time-scale 600
FS=$(sim_fileservice_url)
[ -n "$FS" ] || fail "the simulator printed no fileservice line"
MODE="$E2E_TMP/proxy.mode"
PLOG="$E2E_TMP/proxy.log"
echo pass >"$MODE"
: >"$PLOG"
python3 "$SRCDIR/tests/e2e/catalog_proxy.py" "$FS" "$MODE" "$PLOG" >"$E2E_TMP/proxy.out" &
PROXY_PID=$!
E2E_PIDS="$E2E_PIDS $PROXY_PID"
wait_for_line "$E2E_TMP/proxy.out" '^listening [0-9]+$' 20 || fail "catalog proxy did not start"
CAT="http://127.0.0.1:$(awk '{print $2}' "$E2E_TMP/proxy.out")/updates.xml"

start_serve --catalog-url "$CAT"
echo xenroot >"$E2E_TMP/pw"

# -- before any check: checking is off, and the views say how to check now
pp_ok updates --json
assert_eq false "$(jq .checking.automatic <<<"$PP_OUT")" "checking.automatic with interval 0"
assert_eq null "$(jq .checking.last_check <<<"$PP_OUT")" "last_check before any check"
assert_eq "$CAT" "$(jq -r .checking.catalog_url <<<"$PP_OUT")" "checking.catalog_url"
pp_ok updates
assert_contains "$PP_OUT" "Automatic checking is off" "By Update text with checking off"
assert_contains "$PP_OUT" "poolpatch updates check" "By Update text says how to check now"
pp_ok updates --by-server
assert_contains "$PP_OUT" "Automatic checking is off" "By Server text with checking off"
assert_contains "$PP_OUT" "poolpatch updates check" "By Server text says how to check now"
assert_eq 0 "$(wc -l <"$PLOG")" "catalog requests before any check"
pass "checking off: the views say so and how to check now"

for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done

# -- first check: a full fetch
pp_ok updates check
assert_contains "$PP_OUT" "the catalog changed" "first check"
assert_eq 1 "$(wc -l <"$PLOG")" "catalog requests after the first check"
assert_contains "$(sed -n 1p "$PLOG")" "GET /updates.xml status=200 inm=- ims=-" "first fetch"
pp_ok updates --json
n=$(jq '.updates | length' <<<"$PP_OUT")
# demo: XenServer 8 for prod, XS82ECU1002..1005 on prod, XS84E001/E002 on lab
assert_eq 7 "$n" "updates after the first check"
assert_contains "$(pp updates check)" "$n updates available" "the check counts the view's rows"
assert_eq null "$(jq .checking.last_error <<<"$PP_OUT")" "last_error after a good check"
[ "$(jq -r .checking.last_check <<<"$PP_OUT")" != null ] || fail "last_check not set"
pass "first check fetches the catalog"

# -- the next check is conditional: 304, reported as unchanged
: >"$PLOG"
pp_ok updates check --json
assert_eq false "$(jq .catalog_changed <<<"$PP_OUT")" "catalog_changed on a 304"
assert_eq "$n" "$(jq .updates <<<"$PP_OUT")" "update count on a 304"
line=$(cat "$PLOG")
assert_contains "$line" "status=304" "second fetch"
etag=$(curl -sS -D - -o /dev/null "$FS/updates.xml" | sed -n 's/^ETag: *//Ip' | tr -d '\r')
[ -n "$etag" ] || fail "the file service sends no ETag"
assert_contains "$line" "inm=$etag" "If-None-Match carries the ETag"
pp_ok updates check
assert_contains "$PP_OUT" "unchanged" "second check in words"
pass "second check is a 304 and says unchanged"

# -- broken catalogs: a clear error, the last good catalog kept
check_broken() { # MODE EXPECTED-IN-ERROR
    echo "$1" >"$MODE"
    pp_fails 1 updates check
    assert_contains "$PP_ERR" "$2" "check with a $1 catalog"
    assert_contains "$PP_ERR" "$CAT" "the error names the catalog URL ($1)"
    pp_ok updates --json
    assert_eq "$n" "$(jq '.updates | length' <<<"$PP_OUT")" "updates kept after a $1 catalog"
    le=$(jq -r .checking.last_error <<<"$PP_OUT")
    [ "$le" != null ] || fail "checking.last_error not set after a $1 catalog"
    assert_contains "$le" "$2" "checking.last_error after a $1 catalog"
    pp_ok updates
    assert_contains "$PP_OUT" "XS84E001" "By Update text after a $1 catalog"
    assert_contains "$PP_OUT" "last error:" "By Update text shows the failed check ($1)"
    pp_ok updates --by-server --json
    assert_eq "XS84E001,XS84E002" \
        "$(jq -r '[.servers[] | select(.server == "lab-1") | .required[].name] | join(",")' \
            <<<"$PP_OUT")" "By Server after a $1 catalog"
}
check_broken 500 "HTTP 500"
check_broken garbage "line 1, column 1"
check_broken garbage "catalog was not accepted (the last good one is kept)"
check_broken truncated "line "
pass "HTTP 500, non-XML and truncated catalogs: clear errors, last good catalog kept"

# the good catalog's validators were kept too: the next good check is a 304 again
echo pass >"$MODE"
: >"$PLOG"
pp_ok updates check --json
assert_eq false "$(jq .catalog_changed <<<"$PP_OUT")" "check after the failures"
assert_contains "$(cat "$PLOG")" "status=304 inm=$etag" "conditional GET after the failures"
pp_ok updates --json
assert_eq null "$(jq .checking.last_error <<<"$PP_OUT")" "last_error cleared by a good check"
pass "a good check after failures is conditional and clears the error"

# -- the catalog server is gone: connection refused
kill "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
pp_fails 1 updates check
assert_contains "$PP_ERR" "$CAT" "check against a dead server names the URL"
pp_ok updates --json
assert_eq "$n" "$(jq '.updates | length' <<<"$PP_OUT")" "updates kept with the server gone"
pass "unreachable catalog server: error, views kept"

# -- the last good catalog survives a restart even when the catalog URL is broken
stop_serve
start_serve --catalog-url "$CAT"
i=0
until [ "$(pp updates --json | jq '.updates | length')" = "$n" ]; do
    [ $i -lt 100 ] || fail "updates after a restart: $(pp updates --json)"
    sleep 0.2
    i=$((i + 1))
done
pp_fails 1 updates check
pp_ok updates --json
assert_eq "$n" "$(jq '.updates | length' <<<"$PP_OUT")" "updates after a restart and a failed check"
pass "last good catalog kept across a restart"

# -- a file:// catalog: a changed file is read again
curl -sS --max-time 20 -o "$E2E_TMP/updates.xml" "$FS/updates.xml"
stop_serve
start_serve --catalog-url "file://$E2E_TMP/updates.xml"
pp_ok updates check # right after the start: the pools still logging in and reading are waited for
assert_not_contains "$PP_OUT" "still being read" "a check right after serve started"
assert_not_contains "$PP_OUT" "not connected" "a check right after serve started"
pp_ok updates --json
assert_eq "$n" "$(jq '.updates | length' <<<"$PP_OUT")" "updates from a file:// catalog"
# drop XS84E002 from the file: lab then needs XS84E001 only
grep -v 'name-label="XS84E002"' "$E2E_TMP/updates.xml" >"$E2E_TMP/u2.xml"
mv "$E2E_TMP/u2.xml" "$E2E_TMP/updates.xml"
pp_ok updates check
pp_ok updates --json
assert_eq "$((n - 1))" "$(jq '.updates | length' <<<"$PP_OUT")" "updates after the file changed"
assert_eq "" "$(jq -r '.updates[] | select(.name == "XS84E002") | .name' <<<"$PP_OUT")" \
    "XS84E002 gone with the file's change"
pass "file:// catalog"

# -- periodic checking: on by default (daily); with an interval it checks by itself
stop_serve
SERVE_CHECK_INTERVAL="" start_serve --catalog-url "file://$E2E_TMP/updates.xml"
pp_ok updates --json
assert_eq true "$(jq .checking.automatic <<<"$PP_OUT")" "automatic checking by default"
assert_eq 86400 "$(jq .checking.interval_s <<<"$PP_OUT")" "default interval"
pp_ok updates
assert_contains "$PP_OUT" "Automatic checking is on" "text with checking on"
stop_serve
start_serve --catalog-url "file://$E2E_TMP/updates.xml" --check-interval 1
first=$(pp updates --json | jq -r .checking.last_check)
i=0
while :; do
    now=$(pp updates --json | jq -r .checking.last_check)
    [ "$now" != null ] && [ "$now" != "$first" ] && break
    [ $i -lt 100 ] || fail "no automatic check within 10 s (last_check stays $now)"
    sleep 0.1
    i=$((i + 1))
done
pp_ok updates --json
assert_eq 1 "$(jq .checking.interval_s <<<"$PP_OUT")" "interval_s"
[ "$(jq -r .checking.next_check <<<"$PP_OUT")" != null ] || fail "next_check not set"
pass "periodic checking on by default; an interval checks by itself"
