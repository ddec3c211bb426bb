#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# settings_api.sh - the update-check interval set through the REST API (issue 16: "settings (check
# interval) in the UI"): PUT /api/v1/settings on a daemon started with checking off makes it check
# the catalog by itself (seen on the wire by tests/e2e/catalog_proxy.py, not in the daemon's
# word), 0 turns checking off again, the value is stored (a restart without --check-interval
# keeps it), bad values are refused naming the field, the read-only token is refused.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/small.json" --base-address 127.0.46.10 --time-scale 600
FS=$(sim_fileservice_url)
MODE="$E2E_TMP/proxy.mode"
PLOG="$E2E_TMP/proxy.log"
echo pass >"$MODE"
: >"$PLOG"
python3 "$SRCDIR/tests/e2e/catalog_proxy.py" "$FS" "$MODE" "$PLOG" >"$E2E_TMP/proxy.out" &
E2E_PIDS="$E2E_PIDS $!"
wait_for_line "$E2E_TMP/proxy.out" '^listening [0-9]+$' 20 || fail "catalog proxy did not start"
CAT="http://127.0.0.1:$(awk '{print $2}' "$E2E_TMP/proxy.out")/updates.xml"
fetches() { grep -c '^GET /updates.xml' "$PLOG" || true; }

start_serve --catalog-url "$CAT" # --check-interval 0: checking off
api GET /api/v1/settings
assert_eq 200 "$API_CODE" "GET /settings"
assert_eq 0 "$(jq .check_interval_s <<<"$API_BODY")" "interval with checking off"
assert_eq false "$(jq .automatic_checks <<<"$API_BODY")" "automatic_checks off"
assert_eq 0 "$(fetches)" "catalog fetches before any check"

# -- bad values: refused, naming the field; nothing changes
for body in '{"check_interval_s":-5}' '{"check_interval_s":"daily"}' '{}' '{"interval":60}'; do
    api PUT /api/v1/settings "$body"
    assert_eq 400 "$API_CODE" "PUT /settings $body"
    assert_contains "$(jq -r .error.message <<<"$API_BODY")" "interval" "the refusal of $body names the field"
done
api GET /api/v1/settings
assert_eq 0 "$(jq .check_interval_s <<<"$API_BODY")" "interval after the refusals"
pass "bad check intervals are refused naming the field"

# -- on: the daemon fetches the catalog by itself, again and again
api PUT /api/v1/settings '{"check_interval_s":1}'
assert_eq 200 "$API_CODE" "PUT /settings 1"
assert_eq true "$(jq .automatic_checks <<<"$API_BODY")" "automatic_checks on"
i=0
while [ "$(fetches)" -lt 3 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(fetches)" -ge 3 ] || fail "the daemon fetched the catalog $(fetches) time(s) after the interval was set to 1 s"
pp_ok updates --json
assert_eq 1 "$(jq .checking.interval_s <<<"$PP_OUT")" "the views' checking.interval_s"
pass "PUT /settings turns automatic checks on: the catalog is fetched by itself ($(fetches) GETs)"

# -- off again: at most the check under way finishes
api PUT /api/v1/settings '{"check_interval_s":0}'
assert_eq 200 "$API_CODE" "PUT /settings 0"
n=$(fetches)
sleep 4 # an interval of 1 s would fetch 3+ times in this span
[ "$(fetches)" -le $((n + 1)) ] || fail "checks went on after they were turned off ($n, then $(fetches))"
pass "check_interval_s 0 turns automatic checks off"

# -- stored: a restart without --check-interval keeps the API's value
api PUT /api/v1/settings '{"check_interval_s":43200}'
assert_eq 200 "$API_CODE" "PUT /settings 43200"
stop_serve
SERVE_CHECK_INTERVAL='' start_serve --catalog-url "$CAT"
api GET /api/v1/settings
assert_eq 43200 "$(jq .check_interval_s <<<"$API_BODY")" "interval after a restart"
pp_ok updates --json
assert_eq 43200 "$(jq .checking.interval_s <<<"$PP_OUT")" "the views' interval after a restart"
pass "the interval set through the API is stored"

# -- the read-only token may read it, not change it
echo "read-only-token-for-settings-0123456789" >"$E2E_TMP/ro"
chmod 600 "$E2E_TMP/ro"
stop_serve
start_serve --catalog-url "$CAT" --read-token-file "$E2E_TMP/ro"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $(cat "$E2E_TMP/ro")" \
    -H 'Content-Type: application/json' --data '{"check_interval_s":60}' "$SERVE_URL/api/v1/settings")
assert_eq 403 "$code" "PUT /settings with the read-only token"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$E2E_TMP/ro")" \
    "$SERVE_URL/api/v1/settings")
assert_eq 200 "$code" "GET /settings with the read-only token"
pass "the read-only token reads the settings, cannot change them"
