#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# downloads.sh - `poolpatch updates download ID` over a flaky wire: the catalog (file://) points
# the update zips at tests/e2e/catalog_proxy.py in front of the simulator's file service.  A
# connection cut mid-file is retried and resumed with a Range request (byte-identical result), a
# 404 and a size that disagrees with the catalog are explained and leave nothing in the cache, the
# client ID's token is requested once and reused, and a cached file is not fetched again.
. "$(dirname "$0")/lib.sh"

# lab on legacy hotfixes (XS84E001/E002), as before demo.json made it a XenServer 8 pool
jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" "$SRCDIR/scenarios/demo.json" >"$E2E_TMP/legacy.json"
start_sim "$E2E_TMP/legacy.json" --base-address 127.0.30.10 --time-scale 600
FS=$(sim_fileservice_url)
MODE="$E2E_TMP/proxy.mode"
PLOG="$E2E_TMP/proxy.log"
echo pass >"$MODE"
: >"$PLOG"
python3 "$SRCDIR/tests/e2e/catalog_proxy.py" "$FS" "$MODE" "$PLOG" >"$E2E_TMP/proxy.out" &
E2E_PIDS="$E2E_PIDS $!"
wait_for_line "$E2E_TMP/proxy.out" '^listening [0-9]+$' 20 || fail "proxy did not start"
PROXY="http://127.0.0.1:$(awk '{print $2}' "$E2E_TMP/proxy.out")"
curl -sS --max-time 20 "$FS/updates.xml" | sed "s#$FS/direct/#$PROXY/direct/#g" \
    >"$E2E_TMP/updates.xml"
grep -q "$PROXY/direct/v2/download/XS84E001.zip" "$E2E_TMP/updates.xml" ||
    fail "catalog not rewritten: $(head -c 600 "$E2E_TMP/updates.xml")"

start_serve --catalog-url "file://$E2E_TMP/updates.xml" --vendor-origin "$PROXY" # the proxy is the vendor here
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add lab --url "$(sim_master_url lab)" --user root --password-file "$E2E_TMP/pw"
pp_ok updates check
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"

# the reference bytes, fetched directly as the vendor's protocol says (xencenter.md section 5)
tok=$(curl -sS --max-time 20 -X POST -u demo@example.com:demo-apikey-0001 \
    "$FS/api/session/token")
t=$(jq -er .token <<<"$tok") && sid=$(jq -er .session_id <<<"$tok") ||
    fail "token exchange with the file service: $tok"
curl -sS --max-time 20 -f -u "demo@example.com_$sid:$t" -o "$E2E_TMP/ref.zip" \
    "$FS/direct/v2/download/XS84E001.zip" || fail "direct download of XS84E001.zip"
size=$(stat -c %s "$E2E_TMP/ref.zip")
[ "$size" -gt 1000 ] || fail "reference zip is $size bytes"
pass "reference download straight from the file service"

# -- cut mid-file: retried, resumed from where it stopped, identical bytes
echo cut-once >"$MODE"
pp_ok updates download XS84E001 --json
zip=$(jq -r '.downloads[0].path' <<<"$PP_OUT")
cmp -s "$zip" "$E2E_TMP/ref.zip" || fail "the resumed download differs from the file service's"
gets=$(grep -c '^GET /direct/v2/download/XS84E001.zip ' "$PLOG")
assert_eq 2 "$gets" "requests for XS84E001.zip (cut, then resumed): $(cat "$PLOG")"
assert_contains "$(grep XS84E001.zip "$PLOG" | sed -n 1p)" "status=200-cut inm=- ims=- range=-" \
    "first request"
assert_contains "$(grep XS84E001.zip "$PLOG" | sed -n 2p)" \
    "status=206 inm=- ims=- range=bytes=$((size / 2))-" "second request resumes at the cut"
pass "a cut download is retried and resumed with Range"

# -- 404: explained, nothing cached
echo 404-zip >"$MODE"
pp_fails 1 updates download XS84E002
assert_contains "$PP_ERR" "404" "download answered 404"
assert_contains "$PP_ERR" "not on the file service" "404 explained"
assert_eq "" "$(find "$SERVE_DIR" -name 'f2d4b6c8*')" "files left after a 404"
pass "404 explained, nothing cached"

# -- a size that disagrees with the catalog: refused, nothing cached
echo pad-zip >"$MODE"
pp_fails 1 updates download XS84E002
assert_contains "$PP_ERR" "the catalog" "size mismatch explained"
assert_eq "" "$(find "$SERVE_DIR" -name 'f2d4b6c8*')" "files left after a size mismatch"
pass "a file whose size disagrees with the catalog is refused"

# -- good again: downloaded; then served from the cache without a request
echo pass >"$MODE"
pp_ok updates download XS84E002 --json
assert_eq false "$(jq '.downloads[0].cached' <<<"$PP_OUT")" "XS84E002 downloaded"
before=$(wc -l <"$PLOG")
pp_ok updates download XS84E002 XS84E001 --json
assert_eq "true true" "$(jq -r '[.downloads[].cached] | map(tostring) | join(" ")' <<<"$PP_OUT")" \
    "both from the cache"
assert_eq "$before" "$(wc -l <"$PLOG")" "no request for cached files"
assert_eq 1 "$(grep -c '^POST /api/session/token ' "$PLOG")" \
    "token requests (one, reused until it expires): $(grep token "$PLOG")"
pass "cache and token reuse"

stop_serve
