#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/rollout_hosts.sh - the per-host record of GET /rollouts/{id} tells the truth, judged
# from the simulator's state (GET /sim/state), through the real binaries over HTTP:
#   1. a rollout halted by a failed migration on a supporter: hosts reported `done` are exactly the
#      hosts whose updates changed in the pool (with the updates they list, enabled, no reboot
#      pending); the host whose step failed is `failed`; the others `not_started` / `stopped`
#      with their updates unchanged; the VMs the records say moved are the pool's migrations;
#   2. the same rollout cancelled: never "all done" — the failed host becomes `skipped`, and the
#      `done` hosts are still exactly those the pool shows updated;
#   3. GET /rollouts and GET /rollouts/{id} answer while the engine thread is busy planning a
#      400-host pool (the plan request is still running when the reads come back).
. "$(dirname "$0")/lib.sh"

SCALE=300

sim_fault() { # JSON
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' --data "$1" \
        "$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")sim/fault" >/dev/null ||
        fail "POST /sim/fault $1"
}

wait_state() { # ID STATE: wait (60 s) until the rollout is in that state
    _i=0
    while [ $_i -lt 600 ]; do
        _st=$(pp rollout "$1" --json | jq -r .state)
        [ "$_st" = "$2" ] && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    fail "rollout $1 is $_st, expected $2"
}

# check_hosts ROLLOUT_JSON SIM_BEFORE SIM_NOW LABEL: every host record against the pool.
check_hosts() {
    python3 - "$1" "$2" "$3" "$4" <<'EOF' || fail "$4: host records disagree with the pool"
import json, sys
ro, before, now, label = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
def hosts(st):
    return {h["name"]: h for p in st["pools"] for h in p["hosts"]}
hb, hn = hosts(before), hosts(now)
bad = []
n = {"done": 0, "total": 0}
for p in ro["pools"]:
    for h in p["hosts"]:
        n["total"] += 1
        name, state = h["name"], h["state"]
        changed = set(hn[name]["updates"]) != set(hb[name]["updates"])
        applied = [u["name"] or u["uuid"] for u in h["updates_applied"]]
        if state == "done":
            n["done"] += 1
            if not changed:
                bad.append(f"{name} reported done but its updates did not change")
            if not hn[name]["enabled"]:
                bad.append(f"{name} reported done but is disabled")
            if h["reboot_pending"] is not False:
                bad.append(f"{name} done with reboot_pending {h['reboot_pending']}")
            if h["percent"] != 100 or h["steps_done"] != h["steps_total"]:
                bad.append(f"{name} done at {h['percent']}%")
            missing = [a for a in applied if a not in hn[name]["updates"]]
            if not applied or missing:
                bad.append(f"{name}: applied {applied}, pool has {hn[name]['updates']}")
            if not h["log"] or any(e["state"] != "done" for e in h["log"]):
                bad.append(f"{name}: log {h['log']}")
        else:
            if changed and state in ("not_started", "waiting"):
                bad.append(f"{name} is {state} but its updates changed")
            if state != "failed" and h["percent"] == 100:
                bad.append(f"{name} is {state} with a full bar")
        if state in ("failed", "skipped", "stopped") and not h["message"]:
            bad.append(f"{name} is {state} without a message")
c = ro["counters"]
if c["hosts_done"] != n["done"] or c["hosts_total"] != n["total"]:
    bad.append(f"counters {c} vs {n}")
nchanged = sum(1 for k in hn if set(hn[k]["updates"]) != set(hb[k]["updates"]))
if n["done"] != nchanged:
    bad.append(f"{n['done']} hosts done, {nchanged} changed in the pool")
if n["done"] == n["total"]:
    bad.append("every host reported done")
for b in bad:
    print(f"{label}: {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

start_sim "$SRCDIR/scenarios/small.json" --time-scale "$SCALE"
start_serve
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add small-pool --url "$(sim_master_url small-pool)" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
before=$(sim_state)

# ---- 1. halted: web-2's migration off small-2 fails
sim_fault '{"type": "migration_fails", "vm": "web-2", "count": 1}'
pp_run apply small-pool --automated --yes
[ "$PP_RC" != 0 ] || fail "apply with a failing migration exited 0"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
wait_state "$id" halted
r=$(pp rollout "$id" --json)
now=$(sim_state)
check_hosts "$r" "$before" "$now" halted
assert_eq failed "$(echo "$r" | jq -r '.pools[0].hosts[] | select(.name == "small-2") | .state')" \
    "small-2 (its evacuation failed)"
assert_eq "$(echo "$now" | jq .counters.migrations)" \
    "$(echo "$r" | jq '[.pools[].hosts[].vms | length] | add')" "VMs the records say moved"
assert_eq "$(echo "$r" | jq .counters.migrations)" \
    "$(echo "$r" | jq '[.pools[].hosts[].vms | length] | add')" "migrations counter"
pass "halted: $(echo "$r" | jq -c '[.pools[].hosts[] | {name, state, percent}]')"

# ---- 2. cancelled
pp_ok cancel "$id"
wait_state "$id" cancelled
r=$(pp rollout "$id" --json)
now=$(sim_state)
check_hosts "$r" "$before" "$now" cancelled
assert_eq skipped "$(echo "$r" | jq -r '.pools[0].hosts[] | select(.name == "small-2") | .state')" \
    "small-2 after Cancel"
s=$(pp rollouts --json | jq -c --arg id "$id" '.rollouts[] | select(.id == $id) | .counters')
assert_eq "$(echo "$r" | jq .counters.hosts_done)" "$(echo "$s" | jq .hosts_done)" \
    "hosts_done in the list and in the rollout"
pass "cancelled: $(echo "$r" | jq -c '[.pools[].hosts[] | {name, state, percent, message}]')"
stop_serve
kill "$SIM_PID" 2>/dev/null || true
wait "$SIM_PID" 2>/dev/null || true

# ---- 3. reads while the engine thread plans a 400-host pool
python3 - "$SRCDIR/scenarios/small.json" "$E2E_TMP/big.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["pools"][0]
n = 400
p["name"] = "big"
p["hosts"] = [dict({"name": f"big-{i}", "memory_gib": 256}, **({"master": True} if i == 0 else {}))
              for i in range(n)]
p["srs"] = [s for s in p["srs"] if s.get("shared")]
p["vms"] = [{"name": f"vm-{i}", "memory_gib": 4, "host": f"big-{i % n}",
             "disks": [{"sr": "nfs-shared", "size_gib": 10}]} for i in range(8 * n)]
for u in p.get("updates", []):
    if "applied_on" in u:
        u["applied_on"] = ["big-0"]
d["pools"] = [p]
json.dump(d, open(sys.argv[2], "w"))
EOF
rm -f "$E2E_TMP/sim.out"
start_sim "$E2E_TMP/big.json" --time-scale "$SCALE"
SERVE_DIR="$E2E_TMP/serve-big"
start_serve
pp_ok pool add big --url "$(sim_master_url big)" --user root --password-file "$E2E_TMP/pw"
pp_ok updates check
i=0
while [ $i -lt 300 ]; do # the pool's first snapshot
    api POST /api/v1/plans '{"pools":["big"],"automated":true}'
    [ "$API_CODE" = 200 ] && break
    sleep 0.5
    i=$((i + 1))
done
assert_eq 200 "$API_CODE" "plan of the big pool"
busy_seen=0
for try in 1 2 3 4 5; do
    curl -sS --max-time 120 -o /dev/null -X POST -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" \
        -H 'Content-Type: application/json' --data '{"pools":["big"],"automated":true}' \
        "$SERVE_URL/api/v1/plans" &
    plan_pid=$!
    sleep 0.05
    api GET /api/v1/rollouts
    assert_eq 200 "$API_CODE" "GET /rollouts while planning"
    list_code=$API_CODE
    api GET /api/v1/rollouts/no-such-rollout
    assert_eq 404 "$API_CODE" "GET /rollouts/{unknown} while planning"
    if [ "$list_code" = 200 ] && kill -0 "$plan_pid" 2>/dev/null; then
        busy_seen=1
    fi
    wait "$plan_pid" || fail "the plan request failed"
    [ $busy_seen = 1 ] && break
done
[ $busy_seen = 1 ] || fail "GET /rollouts never came back while a plan kept the engine busy"
pass "GET /rollouts answered while the engine thread was planning 400 hosts (try $try)"
