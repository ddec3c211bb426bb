#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/master_first.sh - the pool master first and alone, and --max-parallel 1, through the
# real binaries over HTTP (`poolpatch apply` -> `poolpatch serve` -> `poolpatch sim`), judged
# from the simulator's state sampled while the rollout runs: no supporter of the 4-host pool
# "prod" is disabled or rebooted before the master has rebooted and is back enabled, live and
# on the new updates; the master's boot time precedes every supporter's; with --max-parallel 1
# never more than one host is down (disabled or unreachable) at a time.  The plan states its
# policy (return by default) and the other policy's cost.
. "$(dirname "$0")/lib.sh"

# sample_loop FILE: append one compact line per sample of pool prod's hosts until killed.
sample_loop() {
    while :; do
        sim_state 2>/dev/null | jq -c '.pools[] | select(.name == "prod") | [.hosts[] |
            {name, master, enabled, live, reachable, reboots, boot_time,
             n: ([.updates[] | select(startswith("XS82ECU"))] | length)}]' >>"$1" 2>/dev/null
        sleep 0.1
    done
}

# run_phase NAME [APPLY_ARGS...]: a fresh simulator and daemon, a rollout of prod, sampled.
run_phase() {
    name="$1"
    shift
    # 250x: a sample (~0.2 s real) is ~50 simulated s, a reboot (240 s) ~5 samples; the checks
    # below fail with fewer than 10 samples or none of a supporter at work
    start_sim "$SRCDIR/scenarios/demo.json" --time-scale 250
    SERVE_DIR="$E2E_TMP/serve-$name"
    start_serve
    echo xenroot >"$E2E_TMP/pw"
    pp_ok pool add prod --url "$(sim_master_url prod)" --user root --password-file "$E2E_TMP/pw"
    pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
    pp_ok updates check
    plan=$(pp plan prod --json "$@")
    assert_eq return "$(echo "$plan" | jq -r .policy)" "the default policy ($name)"
    echo "$plan" | jq -e '.pools[0].totals.other_policy | .policy == "minimal" and
        (.migrations | type == "number") and (.window_s > 0)' >/dev/null ||
        fail "the plan does not state the other policy's cost: $(echo "$plan" | jq -c .pools[0].totals)"
    samples="$E2E_TMP/samples-$name"
    : >"$samples"
    sample_loop "$samples" &
    mon=$!
    E2E_PIDS="$E2E_PIDS $mon"
    pp_run apply prod --automated --yes "$@"
    kill "$mon" 2>/dev/null || true
    wait "$mon" 2>/dev/null || true
    [ "$PP_RC" = 0 ] || fail "apply ($name) exited $PP_RC: $(echo "$PP_OUT" | tail -5) $PP_ERR"
    id=$(pp rollouts --json | jq -r '.rollouts[0].id')
    assert_eq done "$(pp rollout "$id" --json | jq -r .state)" "rollout state ($name)"
    n=$(wc -l <"$samples")
    [ "$n" -ge 10 ] || fail "only $n samples of the simulator's state ($name)"
    final=$(sim_state | jq -c '.pools[] | select(.name == "prod") | .hosts')
}

# check_master_first NAME: judged from the samples and the final state.
check_master_first() {
    # a sample where a supporter is touched (disabled or rebooted) while the master has not yet
    # rebooted, or is not back enabled, live and on all five updates
    bad=$(jq -c '(map(select(.master)) | .[0]) as $m
        | select(any(.[]; (.master | not) and (.enabled == false or .reboots > 0))
                 and ($m.reboots < 1 or ($m.enabled | not) or ($m.live | not) or $m.n < 5))' \
        "$samples" | head -3)
    assert_eq "" "$bad" "samples with a supporter touched before the master was back ($1)"
    touched=$(jq -c 'select(any(.[]; (.master | not) and .enabled == false))' "$samples" | wc -l)
    [ "$touched" -gt 0 ] || fail "no sample saw a supporter at work ($1): the check proves nothing"
    m_boot=$(echo "$final" | jq -r '.[] | select(.master) | .boot_time | tonumber | floor')
    s_boot=$(echo "$final" | jq -r '[.[] | select(.master | not) | .boot_time | tonumber] | min
        | floor')
    [ "$(echo "$final" | jq '[.[] | select(.reboots < 1)] | length')" = 0 ] ||
        fail "a host did not reboot ($1): $final"
    [ "$m_boot" -lt "$s_boot" ] ||
        fail "the master booted at $m_boot, a supporter at $s_boot ($1)"
    pass "$1: master rebooted and back on the new version before any supporter was touched ($n samples)"
}

run_phase default
check_master_first default
kill "$SERVE_PID" "$SIM_PID" 2>/dev/null || true
wait "$SERVE_PID" "$SIM_PID" 2>/dev/null || true

run_phase sequential --max-parallel 1
check_master_first sequential
many=$(jq -c 'select([.[] | select(.enabled == false or (.reachable | not))] | length > 1)' \
    "$samples" | head -3)
assert_eq "" "$many" "samples with two hosts down at once under --max-parallel 1"
echo "$plan" | jq -e '[.pools[0].hosts[] | select(.batch >= 0) | .batch] | group_by(.)
    | all(length == 1)' >/dev/null || fail "--max-parallel 1 planned a batch of several hosts"
pass "--max-parallel 1: one host down at a time"
