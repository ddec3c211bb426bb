#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/metrics.sh - GET /metrics of a real `poolpatch serve` after a rollout on
# `poolpatch sim`, parsed by the Prometheus project's text-format parser (python3-prometheus-
# client, Debian's python: /usr/bin/python3).  The figures are checked against the pool's own
# state: migrations and reboots against the simulator's counters, hosts up to date against the
# simulator's hosts; a token is required.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
$PY -c 'import prometheus_client.parser' 2>/dev/null ||
    fail "python3-prometheus-client is missing (tools/deps.sh installs it)"
start_sim "$SRCDIR/scenarios/small.json" --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add small --url "$(sim_master_url small-pool)" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

code=$(curl -sS -o /dev/null -w '%{http_code}' "$SERVE_URL/metrics")
assert_eq 401 "$code" "metrics without a token"

scrape() {
    curl -sS -D "$E2E_TMP/m.head" -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" \
        "$SERVE_URL/metrics" >"$E2E_TMP/m.txt" || fail "GET /metrics"
    grep -qi '^content-type: text/plain; version=0.0.4' "$E2E_TMP/m.head" ||
        fail "content type: $(grep -i content-type "$E2E_TMP/m.head")"
}
metric() { # NAME LABELS-JSON: the sample's value, via the real parser
    $PY - "$E2E_TMP/m.txt" "$1" "$2" <<'PY'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
want, labels = sys.argv[2], json.loads(sys.argv[3])
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        if s.name == want and all(s.labels.get(k) == v for k, v in labels.items()):
            print(int(s.value) if s.value == int(s.value) else s.value)
            sys.exit(0)
print("missing")
PY
}

scrape
assert_eq 1 "$(metric poolpatch_pools '{}')" "pools before"
assert_eq 1 "$(metric poolpatch_pool_connected '{"pool":"small"}')" "pool connected"
n_hosts=$(sim_state | jq '[.pools[] | select(.name == "small-pool") | .hosts[]] | length')
assert_eq "$n_hosts" "$(metric poolpatch_hosts '{"pool":"small","status":"out_of_date"}')" \
    "hosts out of date before the rollout"
assert_eq 0 "$(metric poolpatch_rollouts '{"state":"done"}')" "no rollout done yet"
[ "$(metric poolpatch_updates_available '{}')" -ge 1 ] || fail "updates available before"

pp_ok apply small --automated --yes
scrape
state=$(sim_state)
sim_migr=$(echo "$state" | jq '.counters.migrations')
sim_reboots=$(echo "$state" | jq '.counters.reboots')
assert_eq 1 "$(metric poolpatch_rollouts '{"state":"done"}')" "rollouts done"
assert_eq "$sim_migr" "$(metric poolpatch_migrations_total '{}')" "migrations = the simulator's"
assert_eq "$sim_reboots" "$(metric poolpatch_reboots_total '{}')" "reboots = the simulator's"
assert_eq "$n_hosts" "$(metric poolpatch_hosts '{"pool":"small","status":"up_to_date"}')" \
    "hosts up to date after"
assert_eq "$n_hosts" "$(metric poolpatch_host_duration_seconds_count '{}')" "host durations"
[ "$(metric poolpatch_updates_applied_total '{}')" -ge "$n_hosts" ] || fail "updates applied"
[ "$(metric process_resident_memory_bytes '{}')" -gt 1000000 ] || fail "RSS"
# XAPI calls by method: what the pool received (the simulator counts the calls it executed)
sim_mfail=$(echo "$state" | jq '.counters.migrations_failed')
assert_eq "$((sim_migr + sim_mfail))" "$(metric poolpatch_xapi_calls_total '{"method":"Async.VM.pool_migrate"}')" \
    "Async.VM.pool_migrate calls = the simulator's migrations"
assert_eq "$sim_reboots" "$(metric poolpatch_xapi_calls_total '{"method":"host.reboot"}')" \
    "host.reboot calls = the simulator's reboots"
[ "$(metric poolpatch_xapi_logins_total '{}')" -ge 1 ] || fail "logins counted"
[ "$(metric poolpatch_xapi_reconnects_total '{}')" != missing ] || fail "reconnects series"
[ "$(metric poolpatch_xapi_errors_total '{}')" != missing ] || fail "errors series"
# the same per rollout, in its report
rid=$(curl -sS -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" "$SERVE_URL/api/v1/rollouts" |
    jq -r '.rollouts[0].id')
ro=$(curl -sS -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" "$SERVE_URL/api/v1/rollouts/$rid")
assert_eq "$((sim_migr + sim_mfail))" "$(echo "$ro" | jq '.counters.xapi_calls["Async.VM.pool_migrate"]')" \
    "the rollout's Async.VM.pool_migrate calls (counters $(echo "$ro" | jq -c .counters))"
assert_eq "$sim_reboots" "$(echo "$ro" | jq '.counters.xapi_calls["host.reboot"]')" \
    "the rollout's host.reboot calls"
echo "$ro" | jq -e '.counters.xapi_calls_total >= .counters.xapi_calls["event.from"] and
    .counters.xapi_calls_per_host_update > 0' >/dev/null || fail "rollout call totals: $(echo "$ro" | jq -c .counters)"
pass "metrics parsed by Prometheus' parser; figures match the simulator (migrations $sim_migr, reboots $sim_reboots, hosts $n_hosts)"
stop_serve
