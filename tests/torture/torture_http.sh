#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/torture/torture_http.sh - the random-kill torture with real processes over HTTP:
# `poolpatch sim` (scenarios/demo.json: an HA pool of 4, a XenServer 8 pool of 2, a standalone
# host) and `poolpatch serve`, SIGKILLed at seeded random moments of an automated rollout of the
# whole fleet and restarted on the same database, KILLS times per rollout, ROUNDS rollouts.
# Never a halt (the rollout's state is polled between kills), and afterwards, read from the
# simulator: every host enabled, live, not in emergency mode, rebooted at most once; every VM
# that ran runs exactly once; HA as before.  Prints its seed (TORTURE_SEED=N replays it) and
#   torture-http: R rollouts, K kills, H halts, V violations
. "$(dirname "$0")/../e2e/lib.sh"

SEED=${TORTURE_SEED:-$(($(date +%s) % 100000))}
KILLS=${TORTURE_KILLS:-8}
ROUNDS=${TORTURE_ROUNDS:-1}
SCALE=${TORTURE_SCALE:-100}
RANDOM=$SEED
echo "# torture-http: seed $SEED (replay: TORTURE_SEED=$SEED), $KILLS kills x $ROUNDS rollouts"

state_of() { # ID
    pp rollout "$1" --json 2>/dev/null | jq -r '.state // empty' 2>/dev/null || true
}

kills=0
halts=0
viol=0
for round in $(seq 1 "$ROUNDS"); do
    rm -f "$E2E_TMP/sim.out"
    SERVE_DIR="$E2E_TMP/serve$round"
    start_sim "$SRCDIR/scenarios/demo.json" --time-scale "$SCALE"
    start_serve
    echo xenroot >"$E2E_TMP/pw"
    for p in prod lab edge-standalone; do
        pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
    done
    pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
    pp_ok updates check
    before=$(sim_state)
    pp_ok apply --automated --yes --no-follow
    id=$(pp rollouts --json | jq -r '.rollouts[0].id')
    k=0
    st=running
    while [ "$k" -lt "$KILLS" ] && [ "$st" = running ]; do
        # a random moment: 0.1 .. 3 s of real time (30 .. 900 simulated seconds)
        sleep "$(printf '0.%02d' $((RANDOM % 100)))"
        sleep $((RANDOM % 2))
        st=$(state_of "$id")
        [ "$st" = running ] || break
        kill -9 "$SERVE_PID"
        wait "$SERVE_PID" 2>/dev/null || true
        k=$((k + 1))
        start_serve
        st=$(state_of "$id")
        [ -n "$st" ] || st=running
    done
    kills=$((kills + k))
    i=0
    while [ $i -lt 1800 ]; do
        st=$(state_of "$id")
        case "$st" in done | halted | cancelled) break ;; esac
        sleep 0.1
        i=$((i + 1))
    done
    if [ "$st" != done ]; then
        halts=$((halts + 1))
        echo "# round $round: rollout '$st' after $k kills: $(pp rollout "$id" --json | jq -c .error)"
        tail -20 "$SERVE_LOG"
    fi
    after=$(sim_state)
    v=$(python3 - "$before" "$after" <<'PY'
import json, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
bad = []
ran = sorted(vm for p in b["pools"] for h in p["hosts"] for vm in h["resident_vms"])
now = sorted(vm for p in a["pools"] for h in p["hosts"] for vm in h["resident_vms"])
if ran != now:
    bad.append("VMs running before %s, after %s" % (ran, now))
for pb, pa in zip(b["pools"], a["pools"]):
    if pb["ha_enabled"] != pa["ha_enabled"]:
        bad.append("pool %s HA %s -> %s" % (pa["name"], pb["ha_enabled"], pa["ha_enabled"]))
    for h in pa["hosts"]:
        if not (h["enabled"] and h["live"]) or h.get("emergency"):
            bad.append("host %s enabled %s live %s emergency %s" % (h["name"], h["enabled"], h["live"], h.get("emergency")))
        if h["reboots"] > 1:
            bad.append("host %s rebooted %d times" % (h["name"], h["reboots"]))
for x in bad:
    print("VIOLATION: " + x, file=sys.stderr)
print(len(bad))
PY
)
    viol=$((viol + v))
    stop_serve
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
    echo "# round $round: $k kills, rollout $st"
done
echo "torture-http: $ROUNDS rollouts, $kills kills, $halts halts, $viol violations (seed $SEED)"
[ "$halts" = 0 ] && [ "$viol" = 0 ] || fail "torture-http: $halts halts, $viol violations (seed $SEED)"
pass "torture-http: $kills kills, no halt, no violation"
