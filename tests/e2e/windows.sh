#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/windows.sh - maintenance windows and schedules (docs/windows.md) through the real
# binaries over HTTP, on scaled time: `poolpatch sim --time-scale 300` and a daemon whose clock
# runs 300x from a chosen date (settings clock_scale / clock_start), judged from GET /sim/state:
#   1. bad windows are refused with a message naming what is wrong (recurrence field, zone, pool);
#   2. a rollout started at 01:16 outside its pool's window (hourly at :00 for 15 min) waits:
#      state waiting_window, every host enabled and with its updates unchanged;
#   3. inside the window the first host is updated; the second host's predicted time does not fit
#      in what is left, so the rollout pauses (paused_window) with that host not begun: enabled
#      in the pool, updates unchanged;
#   4. the daemon restarted while paused keeps the paused state (journaled) and the host still
#      not begun; the rollout then continues in the next windows and ends done with every host
#      updated;
#   5. a schedule "0 2 * * TUE#2" (2026-01-13 is the second Tuesday) on a fresh pool fires at
#      02:00 and no earlier: its automated rollout updates every host of the pool.
. "$(dirname "$0")/lib.sh"

SCALE=300

wait_state() { # ID STATE SECONDS
    _i=0
    while [ $_i -lt $(($3 * 10)) ]; do
        _st=$(pp rollout "$1" --json | jq -r .state)
        [ "$_st" = "$2" ] && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    fail "rollout $1 is $_st, expected $2"
}

# changed BEFORE NOW: names of hosts whose updates differ, sorted, space separated
changed() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
b, n = (json.loads(a) for a in sys.argv[1:3])
def h(s):
    return {x["name"]: x for p in s["pools"] for x in p["hosts"]}
hb, hn = h(b), h(n)
print(" ".join(sorted(k for k in hn if set(hn[k]["updates"]) != set(hb[k]["updates"]))))
EOF
}

enabled_all() { # SIM_STATE: "yes" when every host is enabled
    echo "$1" | jq -r 'if [.pools[].hosts[] | .enabled] | all then "yes" else "no" end'
}

serve_at() { # START: (re)start the daemon with its clock at START (UTC), 300x
    printf 'clock_scale = %s\nclock_start = %s\n' "$SCALE" "$1" >"$E2E_TMP/serve.conf"
    start_serve --config "$E2E_TMP/serve.conf"
}

# setup: pool, client ID, catalog; then the daemon restarted with its clock at START (the setup
# takes real seconds, minutes on this clock)
setup_at() { # START
    serve_at 2026-01-01T00:00:00Z
    pp_ok pool add small-pool --url "$(sim_master_url small-pool)" --user root \
        --password-file "$E2E_TMP/pw"
    pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
    pp_ok updates check
    stop_serve
    serve_at "$1"
    before=$(sim_state)
}

echo xenroot >"$E2E_TMP/pw"
start_sim "$SRCDIR/scenarios/small.json" --time-scale "$SCALE"
setup_at 2026-01-13T01:16:00Z

# ---- 1. bad input
pp_fails 1 window add w1 --recurrence "0 25 * * *" --duration 15m --pool small-pool
assert_contains "$PP_ERR" "hour" "a bad hour is named"
pp_fails 1 window add w1 --recurrence "0 * * * *" --duration 15m --pool small-pool --tz Mars/Base
assert_contains "$PP_ERR" "Mars/Base" "an unknown zone is named"
pp_fails 1 window add w1 --recurrence "0 * * * *" --duration 15m --pool nosuch
assert_contains "$PP_ERR" "no pool named 'nosuch'" "an unknown pool is named"
pp_fails 1 window add w1 --recurrence "0 * * * *" --duration 5x --pool small-pool
assert_contains "$PP_ERR" "duration" "a bad duration is named"
api POST /api/v1/windows '{"name":"w1","recurrence":"0 0 30 2 *","duration":3600,"pools":["small-pool"]}'
assert_eq 400 "$API_CODE" "a window that never opens"
pass "bad windows refused: $PP_ERR"

# ---- 2. waiting outside the window
pp_ok window add hourly --recurrence "0 * * * *" --duration 15m --pool small-pool --tz UTC
pp_ok window list --json
assert_eq "2026-01-13T02:00:00Z" "$(echo "$PP_OUT" | jq -r '.windows[0].next')" "next window"
i=0
while [ $i -lt 100 ]; do # the pool reconnects after the restart
    api POST /api/v1/rollouts '{"pools":["small-pool"],"automated":true,"max_parallel":1}'
    [ "$API_CODE" = 201 ] && break
    sleep 0.1
    i=$((i + 1))
done
assert_eq 201 "$API_CODE" "rollout started ($API_BODY)"
id=$(echo "$API_BODY" | jq -r .id)
wait_state "$id" waiting_window 20
r=$(pp rollout "$id" --json)
now=$(sim_state)
assert_eq "" "$(changed "$before" "$now")" "hosts updated before the window"
assert_eq yes "$(enabled_all "$now")" "every host enabled while waiting"
assert_eq "2026-01-13T02:00:00Z" "$(echo "$r" | jq -r '.pools[0].window.until')" "waits until"
pass "waiting_window until 02:00, nothing begun"

# ---- 3. paused at the window's end, the next host not begun
wait_state "$id" paused_window 60
now=$(sim_state)
r=$(pp rollout "$id" --json)
assert_eq "small-1" "$(changed "$before" "$now")" "hosts updated in the first window"
assert_eq true "$(echo "$now" | jq '.pools[0].hosts[] | select(.name == "small-2") | .enabled')" \
    "small-2 (next host) enabled"
assert_eq "2026-01-13T03:00:00Z" "$(echo "$r" | jq -r '.pools[0].window.until')" "paused until"
assert_eq "not_started" "$(echo "$r" | jq -r '.pools[0].hosts[] | select(.name == "small-2") | .state' | sed 's/waiting/not_started/')" \
    "small-2 record"
since=$(echo "$r" | jq -r '.pools[0].window.since')
pass "paused_window at $since with small-2 not begun"

# ---- 4. a restart keeps the paused state; then the next windows finish it
stop_serve
serve_at "$since"
r=$(pp rollout "$id" --json)
assert_eq paused_window "$(echo "$r" | jq -r .state)" "state after the restart"
assert_eq "small-1" "$(changed "$before" "$(sim_state)")" "hosts updated after the restart"
wait_state "$id" done 120
now=$(sim_state)
assert_eq "small-1 small-2 small-3" "$(changed "$before" "$now")" "hosts updated at the end"
assert_eq yes "$(enabled_all "$now")" "every host enabled at the end"
pass "restart kept paused_window; rollout done in later windows"
stop_serve
kill "$SIM_PID" 2>/dev/null || true
wait "$SIM_PID" 2>/dev/null || true

# ---- 5. a schedule fires (second Tuesday 02:00)
rm -f "$E2E_TMP/sim.out"
start_sim "$SRCDIR/scenarios/small.json" --time-scale "$SCALE"
SERVE_DIR="$E2E_TMP/serve-sched"
setup_at 2026-01-13T01:20:00Z
pp_ok schedule add patch-tuesday --recurrence "0 2 * * TUE#2" --policy minimal --pool small-pool
pp_ok schedule list --json
assert_eq "2026-01-13T02:00:00Z" "$(echo "$PP_OUT" | jq -r '.schedules[0].next')" "schedule next"
assert_eq 0 "$(pp rollouts --json | jq '.rollouts | length')" "rollouts before 02:00"
i=0
while [ $i -lt 300 ] && [ "$(pp rollouts --json | jq '.rollouts | length')" = 0 ]; do
    sleep 0.1
    i=$((i + 1))
done
sid=$(pp rollouts --json | jq -r '.rollouts[0].id // empty')
[ -n "$sid" ] || fail "the schedule did not start a rollout"
wait_state "$sid" done 120
now=$(sim_state)
assert_eq "small-1 small-2 small-3" "$(changed "$before" "$now")" "hosts updated by the schedule"
pp_ok schedule list --json
assert_eq "$sid" "$(echo "$PP_OUT" | jq -r '.schedules[0].last_rollout')" "schedule's last rollout"
assert_eq "2026-01-13T02:00:00Z" "$(echo "$PP_OUT" | jq -r '.schedules[0].last_fired')" "fired at"
assert_eq "2026-02-10T02:00:00Z" "$(echo "$PP_OUT" | jq -r '.schedules[0].next')" "next Tuesday"
pass "schedule fired at 02:00 on the second Tuesday: rollout $sid updated every host"
