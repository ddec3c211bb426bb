#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fleet_plan.sh - the fleet plan served pool by pool (issue 17: POST /plans is written into the
# answer from each pool's text, never one tree): a detail=full plan of five pools is one valid
# JSON document with a Content-Length equal to its bytes, every pool of the simulator exactly
# once, each pool's entry equal to that pool's own plan asked for alone, the fleet totals the
# sum (window: the longest) of the pools', the hosts the simulator's; the summary's counts are the
# full plan's lists.  And GET /pools agrees with /sim/state for every pool (hosts, master,
# version, running VMs, HA, live patching), read while the daemon watches five pools.
. "$(dirname "$0")/lib.sh"

# demo.json's "prod" pool five times (prod-p000 .. prod-p004), on 127.0.63.x
python3 - "$SRCDIR" >"$E2E_TMP/fleet.json" <<'PY'
import json, sys
with open(sys.argv[1] + "/scenarios/demo.json") as f:
    demo = json.load(f)
prod = [p for p in demo["pools"] if p["name"] == "prod"][0]
names = {o["name"] for k in ("hosts", "srs", "vms") for o in prod[k]}


def renamed(v, sfx):
    """Every host, SR and VM name in the pool (wherever it is referred to) with sfx."""
    if isinstance(v, dict):
        return {k: renamed(x, sfx) for k, x in v.items()}
    if isinstance(v, list):
        return [renamed(x, sfx) for x in v]
    return v + sfx if isinstance(v, str) and v in names else v


pools = []
for i in range(5):
    p = renamed(prod, "-p%03d" % i)
    p["name"] = "prod-p%03d" % i
    pools.append(p)
json.dump(dict(demo, pools=pools, base_address="127.0.63.10"), sys.stdout)
PY
start_sim "$E2E_TMP/fleet.json" --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
POOLS=$(awk '$1 == "pool" { print $2 }' "$SIM_OUT" | sort -u)
assert_eq 5 "$(wc -l <<<"$POOLS")" "the simulator serves five pools"
for p in $POOLS; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
STATE=$(sim_state)

# -- the full fleet plan: one valid document, its length announced, every pool exactly once
code=$(curl -sS --max-time 120 -D "$E2E_TMP/full.hdr" -o "$E2E_TMP/full.json" -w '%{http_code}' \
    -X POST -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" -H 'Content-Type: application/json' \
    --data '{"detail":"full"}' "$SERVE_URL/api/v1/plans")
assert_eq 200 "$code" "POST /plans detail=full: $(head -c 300 "$E2E_TMP/full.json")"
jq -e . "$E2E_TMP/full.json" >/dev/null || fail "the full fleet plan is not valid JSON"
len=$(tr -d '\r' <"$E2E_TMP/full.hdr" | awk -F': ' 'tolower($1) == "content-length" { print $2 }')
assert_eq "$(wc -c <"$E2E_TMP/full.json")" "$len" "Content-Length = the bytes sent"
FULL=$(cat "$E2E_TMP/full.json")
assert_eq full "$(jq -r .detail <<<"$FULL")" "detail full"
assert_eq "$(jq -c '[.pools[].name] | sort' <<<"$STATE")" "$(jq -c '[.pools[].name] | sort' \
    <<<"$FULL")" "every pool of the simulator once (none missing, none twice)"
assert_eq "$(jq -c '[.pools[] | {p: .name, h: ([.hosts[].name] | sort)}] | sort' <<<"$STATE")" \
    "$(jq -c '[.pools[] | {p: .name, h: ([.hosts[].name] | sort)}] | sort' <<<"$FULL")" \
    "each pool's hosts = the simulator's"
total=$(jq '[.pools[].hosts[].migrations | length] | add' <<<"$FULL")
[ "$total" -gt 0 ] || fail "the fleet plan moves no VM"
pass "the full fleet plan: valid JSON, Content-Length right, every pool and host once"

# -- each pool's entry = that pool's plan asked for alone (the same snapshot state: nothing moves)
for p in $POOLS; do
    api POST /api/v1/plans "{\"pools\":[\"$p\"],\"detail\":\"full\"}"
    assert_eq 200 "$API_CODE" "the plan of $p alone"
    assert_eq "$(jq -S -c '.pools[0]' <<<"$API_BODY")" \
        "$(jq -S -c --arg p "$p" '.pools[] | select(.name == $p)' <<<"$FULL")" \
        "$p in the fleet plan = its own plan"
done
assert_eq "$(jq -c '[.pools[].totals.migrations] | add' <<<"$FULL")" \
    "$(jq -c .totals.migrations <<<"$FULL")" "fleet migrations = the pools' sum"
assert_eq "$(jq -c '[.pools[].totals.reboots] | add' <<<"$FULL")" \
    "$(jq -c .totals.reboots <<<"$FULL")" "fleet reboots = the pools' sum"
assert_eq "$(jq -c '[.pools[].totals.window_s] | max' <<<"$FULL")" \
    "$(jq -c .totals.window_s <<<"$FULL")" "fleet window = the longest pool's"
pass "each pool's entry is its own plan; the fleet totals are the pools'"

# -- the summary (the default beyond 10 pools; asked for here): counts = the full lists
api POST /api/v1/plans '{"detail":"summary"}'
assert_eq 200 "$API_CODE" "the summary fleet plan"
SUM=$API_BODY
assert_eq "$(jq -c '[.pools[] | .name as $p | .hosts[] | {p: $p, h: .name,
    n: (.migrations | length), a: [.actions[] | (.migrations // [] | length)]}]' <<<"$FULL")" \
    "$(jq -c '[.pools[] | .name as $p | .hosts[] | {p: $p, h: .name, n: .migration_count,
    a: [.actions[] | (.migration_count // 0)]}]' <<<"$SUM")" \
    "summary migration_count = the full plan's lists, per host and action"
assert_eq 0 "$(jq '[.pools[].hosts[] | (., .actions[]) | select(has("migrations"))] | length' \
    <<<"$SUM")" "no migration list in the summary"
pass "the summary fleet plan: counts = the full lists"

# -- GET /pools agrees with the simulator, pool by pool
api GET /api/v1/pools
assert_eq 200 "$API_CODE" "GET /pools"
want=$(jq -c '[.pools[] | {name, master, hosts: (.hosts | length),
    version: .hosts[0].product_version, running: ([.hosts[].resident_vms | length] | add),
    ha: .ha_enabled, lp: .live_patching_disabled}] | sort_by(.name)' <<<"$STATE")
got=$(jq -c '[.pools[] | {name, master, hosts, version, running: .vms_running,
    ha: .ha_enabled, lp: .live_patching_disabled}] | sort_by(.name)' <<<"$API_BODY")
assert_eq "$want" "$got" "GET /pools = /sim/state"
assert_eq 5 "$(jq '[.pools[] | select(.connected and .state == "ready")] | length' \
    <<<"$API_BODY")" "every pool connected"
pass "GET /pools agrees with /sim/state for five pools"
stop_serve
