#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# client_id.sh - `poolpatch client-id import FILE` and what it is for: downloading updates from
# the simulator's vendor file service (token exchange, then the zip with the client's
# authorization).  Without a client ID, with a revoked key (401) and with an account without a
# support contract for a restricted update (403) nothing is applied and the error says what to
# do; with the demo client ID the update is downloaded (checked zip in the download cache) and
# really installed on the pool's hosts (GET /sim/state).  Bad files are refused naming the field.
. "$(dirname "$0")/lib.sh"

# lab on legacy hotfixes (XS84E001/E002), as before demo.json made it a XenServer 8 pool
jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" "$SRCDIR/scenarios/demo.json" >"$E2E_TMP/legacy.json"
start_sim "$E2E_TMP/legacy.json" --base-address 127.0.25.10 --time-scale 1200
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok updates check
U84E001=e1c3a5b7-9d2f-4e6a-8c0b-4d6f8a0c2e06
U1005=a5f0b3d2-1c7e-4a9b-8d6f-3e2b1a0c9d05
assert_eq "" "$(sim_host_updates lab lab-1)" "lab-1's updates before"
nothing_applied() { # WHAT
    assert_eq "" "$(sim_host_updates lab lab-1)$(sim_host_updates lab lab-2)" "lab after $1"
    assert_eq XS82ECU1001 "$(sim_host_updates prod prod-3 | paste -sd,)" "prod-3 after $1"
    assert_eq "" "$(find "$SERVE_DIR" -name '*.zip')" "downloaded files after $1"
}

# -- no client ID yet: a download cannot happen, and the error says how to fix it
pp_fails 1 updates download XS84E001
assert_contains "$PP_ERR" "client-id import" "download without a client ID"
pp_fails 1 apply lab --update "$U84E001" --yes
assert_contains "$PP_ERR" "client-id import" "apply without a client ID"
nothing_applied "no client ID"
pass "no client ID: clear error, nothing applied"

# -- a revoked / wrong key: the token exchange answers 401
printf '{"username": "demo@example.com", "apikey": "revoked-key", "createdDate": "2026-01-05"}\n' \
    >"$E2E_TMP/revoked.json"
pp_ok client-id import "$E2E_TMP/revoked.json"
pp_fails 1 updates download "$U84E001"
assert_contains "$PP_ERR" "401" "download with a revoked key"
assert_contains "$PP_ERR" "client-id import" "the 401 error of download says what to do"
pp_fails 1 apply lab --update "$U84E001" --yes
assert_contains "$PP_ERR" "401" "apply with a revoked key"
assert_contains "$PP_ERR" "client-id import" "the 401 error says what to do"
nothing_applied "a 401"
pass "revoked client ID: HTTP 401 explained, nothing applied"

# -- an account without a support contract and a restricted update: 403
printf '{"username": "free@example.com", "apikey": "free-apikey-0002"}\n' >"$E2E_TMP/free.json"
pp_ok client-id import "$E2E_TMP/free.json"
pp_fails 1 updates download XS82ECU1005
assert_contains "$PP_ERR" "support contract" "download of a restricted update without a contract"
pp_fails 1 apply prod --update "$U1005" --yes
assert_contains "$PP_ERR" "support contract" "apply of a restricted update without a contract"
assert_contains "$PP_ERR" "403" "the 403 is named"
nothing_applied "a 403"
pass "no support contract: HTTP 403 explained, nothing applied"

# -- the demo client ID: downloaded, checked, cached, installed
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
assert_contains "$PP_OUT" "imported" "client-id import"
want_size=$(curl -sS --max-time 20 "$(sim_fileservice_url)/updates.xml" |
    grep -o "name-label=\"XS84E001\"[^>]*" | grep -o 'download-size="[0-9]*"' | tr -dc 0-9)
[ -n "$want_size" ] || fail "no download-size for XS84E001 in the catalog"
pp_ok updates download XS84E001 --json
d=$(jq -c '.downloads[0]' <<<"$PP_OUT")
assert_eq "$U84E001" "$(jq -r .uuid <<<"$d")" "download by name: uuid"
assert_eq false "$(jq .cached <<<"$d")" "first download is not from the cache"
assert_eq "$want_size" "$(jq .size <<<"$d")" "download size = the catalog's download-size"
zip=$(jq -r .path <<<"$d")
assert_eq "$want_size" "$(stat -c %s "$zip")" "downloaded file's size"
assert_eq "504b0304" "$(head -c 4 "$zip" | od -An -tx1 | tr -d ' \n')" "zip signature"
grep -aq "XS84E001.iso" "$zip" || fail "the zip does not hold XS84E001.iso"
pp_ok updates download "$U84E001" --json
assert_eq "true $zip" "$(jq -r '.downloads[0] | "\(.cached) \(.path)"' <<<"$PP_OUT")" \
    "second download (by uuid) comes from the cache"
pp_ok updates download XS82ECU1005
assert_contains "$PP_OUT" "$U1005" "a restricted update with a support contract"
pp_fails 1 updates download no-such-update
assert_contains "$PP_ERR" "no-such-update" "download of an unknown update names it"
pp_fails 2 updates download
pp_run apply lab --update "$U84E001" --yes
[ "$PP_RC" = 0 ] || fail "apply lab XS84E001 exited $PP_RC: $PP_ERR $(tail -5 <<<"$PP_OUT")"
assert_eq XS84E001 "$(sim_host_updates lab lab-1)" "lab-1 has XS84E001"
assert_eq XS84E001 "$(sim_host_updates lab lab-2)" "lab-2 has XS84E001"
pp_ok updates --json
assert_eq "" "$(jq -r '.updates[] | select(.name == "XS84E001") | .name' <<<"$PP_OUT")" \
    "XS84E001 no longer offered after it was installed"
pass "demo client ID: downloaded, checked, cached and installed on lab"

# -- bad files are refused, naming the field; the good client ID stays
bad() { # NAME CONTENT EXPECTED
    printf '%s' "$2" >"$E2E_TMP/$1.json"
    pp_fails 1 client-id import "$E2E_TMP/$1.json"
    assert_contains "$PP_ERR" "$3" "client-id import of $1"
}
bad no-apikey '{"username": "demo@example.com"}' '"apikey"'
bad no-username '{"apikey": "demo-apikey-0001"}' '"username"'
bad apikey-number '{"username": "demo@example.com", "apikey": 12345}' '"apikey"'
bad not-json '{"username": "demo@example.com",' "line "
bad array '["demo@example.com", "demo-apikey-0001"]' "JSON object"
pp_fails 1 client-id import "$E2E_TMP/does-not-exist.json"
assert_contains "$PP_ERR" "does-not-exist.json" "client-id import of a missing file"
pp_fails 2 client-id import
pp_fails 2 client-id export "$E2E_TMP/free.json"
api POST /api/v1/client-id '{"apikey": "k"}'
assert_eq 400 "$API_CODE" "REST client-id without username"
assert_contains "$API_BODY" "username" "REST error names the field"
# the demo client ID is still in force: a 403-free download of another update works
pp_run apply lab --update f2d4b6c8-0e3a-4f7b-9d1c-5e7a9b1d3f07 --yes
[ "$PP_RC" = 0 ] || fail "apply lab XS84E002 after bad imports exited $PP_RC: $PP_ERR"
assert_eq "XS84E001,XS84E002" "$(sim_host_updates lab lab-1 | paste -sd,)" "lab-1 after XS84E002"
pass "bad client ID files refused naming the field; the imported one kept"

# lab has every update now: By Server (JSON, table, CSV) says so
pp_ok updates --by-server --json
for h in lab-1 lab-2; do
    s=$(jq -c --arg h "$h" '.servers[] | select(.server == $h)' <<<"$PP_OUT")
    assert_eq "Up to date true 0 XS84E001,XS84E002" "$(jq -r '"\(.status) \(.up_to_date) " +
        "\(.required | length) \([.installed[].name] | sort | join(","))"' <<<"$s")" \
        "$h after both updates"
done
pp_ok updates --by-server
assert_contains "$(grep -E '^lab +lab-1 ' <<<"$PP_OUT")" "Up to date" "By Server table"
pp updates --by-server --export-csv - >"$E2E_TMP/s.csv"
grep -q '^"lab","lab-2","8.4.0","Up to date","","XS84E001, XS84E002"' "$E2E_TMP/s.csv" ||
    fail "By Server CSV for the updated lab-2: $(grep lab-2 "$E2E_TMP/s.csv")"
pass "an updated pool is Up to date in By Server"

bad empty-username '{"username": "", "apikey": "demo-apikey-0001"}' '"username"'
pass "an empty username is named"

# the daemon stops cleanly (exit 0; sanitizer builds: no leaks)
stop_serve
