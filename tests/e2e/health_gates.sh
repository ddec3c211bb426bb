#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/health_gates.sh - health gates (docs/health-gates.md) through the real binaries over
# HTTP (`poolpatch sim --time-scale 300`, `poolpatch serve`, the CLI), judged from GET /sim/state:
#   1. bad gate settings are refused naming what is wrong (both command and url, unknown pool,
#      a timeout out of range);
#   2. a pool's hook command that fails after the first host (the master) came back from its
#      toolstack restart (XS82ECU1002, restartXAPI) halts the
#      rollout with HEALTH_HOOK_FAILED and the hook's output (truncated to the output limit) in
#      the report: the master updated, the next hosts not begun (enabled, updates unchanged);
#      the hook saw the host's facts in POOLPATCH_* variables (pool, host, its uuid from the
#      pool, rollout, restarted);
#   3. the hook fixed, `retry` runs the gate again on the master and the rollout ends done with
#      every host updated, the hook run once on each other host;
#   4. the built-in gate: the PBD of the master's local SR detached after its reboot (simulator
#      fault pbd_detached armed by host.enable) halts the next rollout with HEALTH_CHECK_FAILED
#      naming the PBD, the next hosts not begun; the fault cleared, `retry` ends done.
. "$(dirname "$0")/lib.sh"

SCALE=300
HOOK="$E2E_TMP/hook"
mkdir -p "$HOOK"

sim_fault() { # JSON
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' --data "$1" \
        "$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")sim/fault" >/dev/null ||
        fail "POST /sim/fault $1"
}

wait_state() { # ID STATE SECONDS
    _end=$((SECONDS + $3))
    while [ $SECONDS -lt $_end ]; do
        _st=$(pp rollout "$1" --json | jq -r .state)
        [ "$_st" = "$2" ] && return 0
        case "$_st" in done | halted | cancelled | cancel_failed) break ;; esac
        sleep 0.3
    done
    pp rollout "$1" --json >&2 || true
    fail "rollout $1 is $_st, expected $2"
}

# host_has HOST UPDATE: "yes" when the simulator shows the update on the host
host_has() {
    sim_state | jq -r --arg h "$1" --arg u "$2" \
        'if [.pools[].hosts[] | select(.name == $h) | .updates[] | select(. == $u)] | length > 0
         then "yes" else "no" end'
}

host_enabled() { # HOST
    sim_state | jq -r --arg h "$1" '.pools[].hosts[] | select(.name == $h) | .enabled'
}

# the hook: records its environment and each run; fails (long output) while $HOOK/fail exists
cat >"$HOOK/hook.sh" <<'EOF'
env | grep '^POOLPATCH_' | sort >"$HOOKDIR/env-$POOLPATCH_HOST"
echo "$POOLPATCH_HOST" >>"$HOOKDIR/runs"
if [ -e "$HOOKDIR/fail" ]; then
    echo "failing-marker: the application check on $POOLPATCH_HOST failed"
    head -c 900 /dev/zero | tr '\0' x
    exit 3
fi
echo "application ok on $POOLPATCH_HOST"
EOF

echo xenroot >"$E2E_TMP/pw"
start_sim "$SRCDIR/scenarios/small.json" --time-scale "$SCALE"
start_serve
pp_ok pool add small-pool --url "$(sim_master_url small-pool)" --user root \
    --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
MASTER=$(sim_state | jq -r '.pools[0].master')
assert_eq small-1 "$MASTER" "the scenario's master"

# ---- 1. bad settings
pp_fails 1 gate set --command true --url http://127.0.0.1:9/
assert_contains "$PP_ERR" "not both" "command and url together are refused"
pp_fails 1 gate set --pool nosuch --command true
assert_contains "$PP_ERR" "no pool named 'nosuch'" "an unknown pool is named"
pp_fails 1 gate set --command true --timeout 0
assert_contains "$PP_ERR" "timeout_s" "a zero timeout is named"
api PUT /api/v1/health-gates '{"comand": "true"}'
assert_eq 400 "$API_CODE" "an unknown key"
assert_contains "$API_BODY" "comand" "the unknown key is named"
pp_ok gate list --json
assert_eq 0 "$(jq '.gates | length' <<<"$PP_OUT")" "nothing was stored"
pass "bad gate settings refused"

# ---- 2. a failing hook halts before the next host
touch "$HOOK/fail"
pp_ok gate set --pool small-pool --command "HOOKDIR=$HOOK sh $HOOK/hook.sh" --timeout 30 \
    --output-limit 256
pp_ok gate list
assert_contains "$PP_OUT" "small-pool" "the pool's gate is listed"
pp_ok apply small-pool --update XS82ECU1002 --policy return --max-parallel 1 --yes --no-follow \
    --json
ID=$(jq -r '.id // .rollout.id // empty' <<<"$PP_OUT")
[ -n "$ID" ] || ID=$(pp rollouts --json | jq -r '.rollouts[0].id')
wait_state "$ID" halted 240
pp_ok rollout "$ID" --json
R=$PP_OUT
assert_eq HEALTH_HOOK_FAILED "$(jq -r .error.code <<<"$R")" "the halt's code"
assert_eq health_gate "$(jq -r .error.step <<<"$R")" "the step that halted"
assert_eq "$MASTER" "$(jq -r .error.host <<<"$R")" "the host whose gate failed"
MSG=$(jq -r .error.message <<<"$R")
assert_contains "$MSG" "failing-marker: the application check on $MASTER failed" "hook output"
assert_contains "$MSG" "exited with status 3" "the hook's exit status"
assert_contains "$MSG" "truncated" "the output is truncated to the limit"
[ "${#MSG}" -lt 700 ] || fail "the message holds more than the output limit: ${#MSG} bytes"
assert_eq yes "$(host_has "$MASTER" XS82ECU1002)" "the master was updated"
for h in small-2 small-3; do
    assert_eq no "$(host_has "$h" XS82ECU1002)" "$h not begun: update not applied"
    assert_eq true "$(host_enabled "$h")" "$h not begun: still enabled"
done
assert_eq "$MASTER" "$(cat "$HOOK/runs")" "the hook ran once, on the master"
ENVF="$HOOK/env-$MASTER"
assert_contains "$(cat "$ENVF")" "POOLPATCH_POOL=small-pool" "the hook's pool"
assert_contains "$(cat "$ENVF")" "POOLPATCH_ROLLOUT=$ID" "the hook's rollout"
assert_contains "$(cat "$ENVF")" "POOLPATCH_RESTARTED=toolstack" "the toolstack restarted"
URL=$(sim_master_url small-pool)
S=$(xapi_login "$URL")
HREF=$(xapi_json "$URL" host.get_by_name_label "[\"$S\",\"$MASTER\"]" | jq -r '.result[0]')
HUUID=$(xapi_json "$URL" host.get_uuid "[\"$S\",\"$HREF\"]" | jq -r .result)
assert_contains "$(cat "$ENVF")" "POOLPATCH_HOST_UUID=$HUUID" "the hook's host uuid (the pool's)"
pass "a failing hook halted the rollout before the next host, its output in the report"

# ---- 3. fixed: retry runs the gate again, a passing hook lets the rollout finish
rm "$HOOK/fail"
pp_ok retry "$ID"
wait_state "$ID" done 400
for h in small-1 small-2 small-3; do
    assert_eq yes "$(host_has "$h" XS82ECU1002)" "$h updated after the retry"
    assert_eq true "$(host_enabled "$h")" "$h enabled after the retry"
done
assert_eq 2 "$(grep -c "^$MASTER\$" "$HOOK/runs")" "the master's gate ran again on retry"
assert_eq 1 "$(grep -c '^small-2$' "$HOOK/runs")" "small-2's gate ran once"
assert_eq 1 "$(grep -c '^small-3$' "$HOOK/runs")" "small-3's gate ran once"
pp_ok rollout "$ID" --json
assert_eq "done" "$(jq -r --arg h "$MASTER" \
    '.pools[0].hosts[] | select(.name == $h) | .log[] | select(.step == "health_gate") | .state' \
    <<<"$PP_OUT" | tail -1)" "the master's health gate is in its step log, done"
pass "retry re-ran the gate; the passing hook let the rollout finish"

# ---- 4. the built-in gate: a PBD detached after the host came back
pp_ok gate remove --pool small-pool
pp_ok gate set --wait 3
pp_ok gate list --json
assert_eq "null" "$(jq -c '[.gates[] | .pool] | .[0]' <<<"$PP_OUT")" "only the global gate is left"
sim_fault "{\"type\":\"pbd_detached\",\"host\":\"$MASTER\",\"sr\":\"local-$MASTER\",\"armed_by\":\"host.enable\"}"
pp_ok apply small-pool --update XS82ECU1004 --policy return --max-parallel 1 --yes --no-follow \
    --json
ID2=$(pp rollouts --json | jq -r '.rollouts[0].id')
[ "$ID2" != "$ID" ] || fail "no second rollout"
wait_state "$ID2" halted 240
pp_ok rollout "$ID2" --json
assert_eq HEALTH_CHECK_FAILED "$(jq -r .error.code <<<"$PP_OUT")" "the built-in gate's code"
assert_contains "$(jq -r .error.message <<<"$PP_OUT")" "is not attached" "the PBD is named"
for h in small-2 small-3; do
    assert_eq no "$(host_has "$h" XS82ECU1004)" "$h not begun after the built-in gate failed"
    assert_eq true "$(host_enabled "$h")" "$h still enabled"
done
assert_eq 4 "$(wc -l <"$HOOK/runs")" "no hook ran (the pool's gate was removed)"
sim_fault '{"type":"clear","code":"pbd_detached"}'
pp_ok retry "$ID2"
wait_state "$ID2" done 400
for h in small-1 small-2 small-3; do
    assert_eq yes "$(host_has "$h" XS82ECU1004)" "$h updated after the PBD came back"
done
pass "a detached PBD halted the rollout at the built-in gate; retry after the fix finished it"
