#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/crash_resume.sh - the daemon killed with SIGKILL in the middle of a rollout, at up to
# CRASH_POINTS points chosen from the journal's progress (steps started + steps done from 50 to 96
# of about 110) until CRASH_WANT different points were hit (at least CRASH_MIN required; make check:
# 10 / 4 / 3, about 18 s a point; make torture: 40 / 22 / 20),
# then restarted on the same database: every rollout must complete by itself with every host
# updated and enabled, every VM running exactly once, and exactly the reboots and migrations the
# plan has (the simulator's counters: no second reboot, no double migration).
# Real binaries over HTTP: `poolpatch sim` (scenarios/small.json with its vendor service) and
# `poolpatch serve`, the CLI for the requests.
. "$(dirname "$0")/lib.sh"

SCALE=${CRASH_SCALE:-200}
POINTS=${CRASH_POINTS:-10}
DISTINCT=""

start_daemon() { # DIR
    "$POOLPATCH" serve --listen 127.0.0.1:0 --db "$1/state.db" --token-file "$1/token" \
        --catalog-url "$FS/updates.xml" --vendor-origin "$FS" --check-interval 0 --log-level info \
        >>"$1/serve.out" 2>>"$1/serve.err" &
    DPID=$!
    E2E_PIDS="$E2E_PIDS $DPID"
    local n m
    n=$(grep -c "listening on" "$1/serve.err" 2>/dev/null || true)
    i=0
    while [ $i -lt 300 ]; do
        m=$(grep -c "listening on" "$1/serve.err" 2>/dev/null || true)
        [ "${m:-0}" -gt "${n:-0}" ] && break
        sleep 0.1
        i=$((i + 1))
    done
    PORT=$(grep -o "listening on 127.0.0.1 port [0-9]*" "$1/serve.err" | tail -1 | awk '{print $NF}')
    [ -n "$PORT" ] || fail "daemon did not start: $(tail -3 "$1/serve.err")"
    export POOLPATCH_SERVER="http://127.0.0.1:$PORT"
}

# For a failure, in DSAID (in this shell: only it can wait for the daemon): whether the daemon is
# alive or how it died (exit status, signal), and the end of its log (a fatal signal's report with its backtrace: src/cli/crash_report.c).  CI once saw it
# die of SIGSEGV right after POST /rollouts answered, reported only as the next call's "cannot
# reach the poolpatch daemon".
daemon_said() {
    local s st
    s=$(cat "/proc/$DPID/stat" 2>/dev/null) || s=""
    s=${s##*) }
    case "${s%% *}" in
        "" | Z)
            st=0
            wait "$DPID" 2>/dev/null || st=$?
            if [ "$st" -gt 128 ]; then
                st="died: exit status $st, signal $((st - 128))"
            else
                st="died: exit status $st"
            fi
            ;;
        *) st="alive" ;;
    esac
    DSAID=$(printf 'daemon %s; the end of its log:\n%s' "$st" "$(tail -40 "$DIR/serve.err" 2>/dev/null)")
}

# journal progress of rollout ID: steps started (intent written) + steps done, straight from
# the API (fast enough to poll every few ms)
journal_point() {
    curl -sS --max-time 5 -H "Authorization: Bearer $(cat "$DIR/token")" \
        "$POOLPATCH_SERVER/api/v1/rollouts/$1" 2>/dev/null |
        jq -r '.counters | if (.steps_started | type) == "number"
               then .steps_started + .steps_done else empty end' 2>/dev/null ||
        true # the rollout's counters only: each host record has its own steps_done
}

rollout_field() { # ID PYTHON-EXPR-ON-d
    "$POOLPATCH" rollout "$1" --json --token-file "$DIR/token" 2>/dev/null |
        python3 -c "import json,sys
try:
    d=json.load(sys.stdin)
except Exception:
    print(''); sys.exit(0)
print($2)"
}

one_run() { # RUN POINT (steps done before the kill)
    point=$2
    DIR="$E2E_TMP/run$1"
    mkdir -p "$DIR"
    rm -f "$E2E_TMP/sim.out" # start_sim must not see the previous run's "ready"
    start_sim "$SRCDIR/scenarios/small.json" --time-scale "$SCALE"
    FS=$(awk '$1 == "fileservice" { print $2 }' "$SIM_OUT")
    MASTER=$(sim_master_url small-pool)
    [ -n "$MASTER" ] && [ -n "$FS" ] ||
        fail "point $point: sim printed no master: $(cat "$SIM_OUT" "$E2E_TMP/sim.err")"
    start_daemon "$DIR"
    echo xenroot >"$DIR/pw"
    "$POOLPATCH" pool add small --url "$MASTER" --user root --password-file "$DIR/pw" \
        --token-file "$DIR/token" >/dev/null || { daemon_said; fail "pool add: $DSAID"; }
    "$POOLPATCH" client-id import "$SRCDIR/scenarios/demo-client-id.json" \
        --token-file "$DIR/token" >/dev/null || { daemon_said; fail "client-id import: $DSAID"; }
    "$POOLPATCH" updates check --token-file "$DIR/token" >/dev/null ||
        { daemon_said; fail "updates check: $DSAID"; }
    "$POOLPATCH" apply small --automated --yes --no-follow --token-file "$DIR/token" \
        >"$DIR/apply.out" 2>&1 ||
        { daemon_said; fail "apply: $(cat "$DIR/apply.out"); $DSAID"; }
    ID=$("$POOLPATCH" rollouts --json --token-file "$DIR/token" |
        python3 -c "import json,sys; print(json.load(sys.stdin)['rollouts'][0]['id'])") ||
        { daemon_said; fail "point $point: no rollout listed after apply: $DSAID"; }
    # wait for the journal to reach the point, then SIGKILL
    i=0
    while [ $i -lt 3000 ]; do
        done_n=$(journal_point "$ID")
        [ -n "$done_n" ] && [ "$done_n" -ge "$point" ] && break
        sleep 0.01
        i=$((i + 1))
    done
    st=$(rollout_field "$ID" "d['state']")
    if [ "$st" != "running" ]; then
        # the last steps can all complete between two polls: not a crash point
        echo "# point $point: rollout already $st before the kill; not counted"
        kill "$DPID" "$SIM_PID" 2>/dev/null || true
        wait "$DPID" "$SIM_PID" 2>/dev/null || true
        return 0
    fi
    kill -9 "$DPID"
    wait "$DPID" 2>/dev/null || true
    killed_at=$done_n
    start_daemon "$DIR"
    i=0
    while [ $i -lt 1200 ]; do
        st=$(rollout_field "$ID" "d['state']")
        case "$st" in done | halted | cancelled) break ;; esac
        sleep 0.1
        i=$((i + 1))
    done
    if [ "$st" != "done" ]; then
        alive=no
        kill -0 "$DPID" 2>/dev/null && alive=yes
        fail "point $point: rollout '$st' after restart (daemon alive: $alive): $(rollout_field "$ID" "d.get('error')"); daemon log: $(tail -15 "$DIR/serve.err")"
    fi
    # invariants from the simulator
    curl -sS --max-time 10 "${MASTER%/}/sim/state" >"$DIR/state.json"
    python3 - "$DIR/state.json" <<'EOF' || fail "point $point: invariants"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["pools"][0]
seen = {}
for h in p["hosts"]:
    assert h["enabled"] and h["live"], "host %s not enabled/live" % h["name"]
    assert len(h["updates"]) == 5, "host %s has %s" % (h["name"], h["updates"])
    for vm in h["resident_vms"]:
        seen[vm] = seen.get(vm, 0) + 1
for vm in ("web-1", "web-2", "db-1", "cache-1"):
    assert seen.get(vm) == 1, "VM %s resident %s times" % (vm, seen.get(vm))
c = d["counters"]
assert c["reboots"] == 3, "reboots %d" % c["reboots"]
# policy return (the default): each of the 4 VMs leaves its host and comes back once
assert c["migrations"] == 8, "migrations %d" % c["migrations"]
EOF
    kill "$DPID" "$SIM_PID" 2>/dev/null || true
    wait "$DPID" "$SIM_PID" 2>/dev/null || true
    case " $DISTINCT " in *" $killed_at "*) ;; *) DISTINCT="$DISTINCT $killed_at" ;; esac
    pass "SIGKILL at journal point $killed_at (steps started + done; aimed at $point): resumed and completed"
}

FROM=${CRASH_FROM:-50} # the daemon's first answer comes after ~55 (uploads, prechecks, the master)
LAST=${CRASH_LAST:-96} # small.json's rollout: 55 steps (policy return), 110 intents and dones; the last ones come together
WANT=${CRASH_WANT:-4} # stop once this many different points were crashed at (the strided
MIN=${CRASH_MIN:-3}   # aims: 50, 85, 70, 55 first), and fail with fewer; make torture: 22 / 20
# aims spread over the journal in a strided order (k * 7 mod POINTS), so the first kills already
# cover the whole rollout and the loop can stop early
for j in $(seq 0 $((POINTS - 1))); do
    k=$(((j * 7) % POINTS))
    one_run "$j" $((FROM + k * (LAST - FROM) / (POINTS > 1 ? POINTS - 1 : 1)))
    [ "$(echo $DISTINCT | wc -w)" -ge "$WANT" ] && break
done
n=$(echo $DISTINCT | wc -w)
[ "$n" -ge "$MIN" ] || fail "only $n different crash points (at least $MIN wanted):$DISTINCT"
pass "$n different crash points (journal points when killed:$DISTINCT)"
