#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# settings_api.sh - the update-check interval set through the REST API (issue 16: "settings (check
# interval) in the UI"): PUT /api/v1/settings on a daemon started with checking off makes it check
# the catalog by itself (seen on the wire by tests/e2e/catalog_proxy.py, not in the daemon's
# word), 0 turns checking off again, the value is stored (a restart without --check-interval
# keeps it), bad values are refused naming the field, the read-only token is refused; the default
# policy (PUT {"default_policy"}) is what plans without a policy get (REST and the CLI), stored
# across a restart, and a default_policy in the settings file wins at a start.
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

# -- the default policy: plans that name none use it; stored; the settings file wins at a start
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add small-pool --url "$(sim_master_url small-pool)" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
api GET /api/v1/settings
assert_eq return "$(jq -r .default_policy <<<"$API_BODY")" "the default policy at first"
back() { jq '[.pools[].hosts[].actions[] | select(.kind == "migrate_back")] | length' <<<"$1"; }
api POST /api/v1/plans '{}'
assert_eq return "$(jq -r .policy <<<"$API_BODY")" "a plan without a policy, default return"
[ "$(back "$API_BODY")" -gt 0 ] || fail "policy return plans no migrate_back: the checks below prove nothing"
for body in '{"default_policy":"fast"}' '{"default_policy":true}' '{"check_interval_s":60,"default_policy":"x"}'; do
    api PUT /api/v1/settings "$body"
    assert_eq 400 "$API_CODE" "PUT /settings $body"
    assert_contains "$(jq -r .error.message <<<"$API_BODY")" "default_policy" "the refusal of $body names the field"
done
api GET /api/v1/settings
assert_eq "43200 return" "$(jq -r '"\(.check_interval_s) \(.default_policy)"' <<<"$API_BODY")" "nothing changed by the refusals"
api PUT /api/v1/settings '{"default_policy":"minimal"}'
assert_eq 200 "$API_CODE" "PUT /settings default_policy minimal"
assert_eq "43200 minimal" "$(jq -r '"\(.check_interval_s) \(.default_policy)"' <<<"$API_BODY")" "the answer"
api POST /api/v1/plans '{}'
assert_eq minimal "$(jq -r .policy <<<"$API_BODY")" "a plan without a policy after the change"
assert_eq 0 "$(back "$API_BODY")" "migrations home planned with the default minimal"
pp_ok plan --json
assert_eq minimal "$(jq -r .policy <<<"$PP_OUT")" "poolpatch plan without --policy"
pp_ok plan --policy return --json
assert_eq return "$(jq -r .policy <<<"$PP_OUT")" "poolpatch plan --policy return wins over the default"
stop_serve
SERVE_CHECK_INTERVAL='' start_serve --catalog-url "$CAT"
api GET /api/v1/settings
assert_eq minimal "$(jq -r .default_policy <<<"$API_BODY")" "the default policy after a restart"
printf 'default_policy = return\n' >"$E2E_TMP/policy.conf"
stop_serve
SERVE_CHECK_INTERVAL='' start_serve --catalog-url "$CAT" --config "$E2E_TMP/policy.conf"
api GET /api/v1/settings
assert_eq return "$(jq -r .default_policy <<<"$API_BODY")" "the settings file's default_policy wins at a start"
pass "the default policy: used by plans without one (REST and CLI), stored, refused when bad, the settings file wins"

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
