#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/upgrade_faults.sh - each upgrade fault of the simulator ends in the seed's named
# outcome, and a SIGKILL of the daemon while the master is in the installer resumes correctly,
# through the real binaries over HTTP (scenarios/upgrade.json, pool `rpu`), judged from the
# simulator's state:
#   1. the master's preparation fails (prepare_fails): the upgrade halts before any supporter is
#      touched, and says to restore the master (never continue);
#   2. the install URL is unreachable from the master (install_url_unreachable): halts likewise
#      with the plugin's INVALID_URL; so do the master's installer failing (upgrade_fails, then
#      the master restored on its old version) and the master coming back on its old version
#      (returns_old_version); in both, once the master is restored and the cause cleared, Retry
#      ends done: every host on 8.4.0 and enabled, the master rebooted again and booted before
#      every supporter, out of rolling-upgrade mode, every VM running exactly once;
#   3. a supporter comes back on its old version (returns_old_version): it is left out with the
#      seed's recovery (host-forget, reinstall, pool-join), the other hosts are upgraded;
#   4. a supporter's installer fails (upgrade_fails; cleared later, it comes back old): left out;
#   5. `poolpatch serve` SIGKILLed while the master is in the installer (supporters in emergency
#      mode): restarted on the same database, the upgrade finishes with every host on 8.4.0,
#      the master rebooted exactly once, every VM running once.
. "$(dirname "$0")/lib.sh"

setup() {
    start_sim "$SRCDIR/scenarios/upgrade.json" --time-scale 500
    SETUPS=$((${SETUPS:-0} + 1)) # a fresh daemon directory per section (never one used before)
    SERVE_DIR="$E2E_TMP/serve-$SETUPS"
    start_serve
    echo xenroot >"$E2E_TMP/pw"
    pp_ok pool add rpu --url "$(sim_master_url rpu)" --user root --password-file "$E2E_TMP/pw"
    URL=$(sim_state | jq -r '.releases[] | select(.product_version == "8.4.0") | .url')
    SIMU=$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")
}

teardown() {
    stop_serve
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
}

sim_post() { # PATH JSON
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' --data "$2" \
        "${SIMU}sim/$1" | jq -e .ok >/dev/null || fail "POST /sim/$1 $2"
}

running() {
    sim_state | jq -r '.pools[] | select(.name == "rpu") | .hosts[].resident_vms[]' | sort
}

host() { # NAME FIELD
    sim_state | jq -r --arg h "$1" --arg f "$2" '.pools[].hosts[] | select(.name == $h) | .[$f]'
}

wait_state() { # ID SECONDS STATE...: wait until the rollout is in one of the states
    _id=$1 _t=$2
    shift 2
    _i=0
    while :; do
        _s=$(pp rollout "$_id" --json | jq -r .state)
        for w in "$@"; do [ "$_s" = "$w" ] && return 0; done
        _i=$((_i + 1))
        [ $_i -lt $((_t * 10)) ] || fail "rollout $_id is $_s after $_t s, expected $*"
        sleep 0.1
    done
}

start_upgrade() {
    pp_ok upgrade rpu --to 8.4.0 --url "$URL" --yes --no-follow
    ID=$(pp rollouts --json | jq -r '.rollouts[0].id')
}

# ---- 1, 2: the master fails: halt, restore the master, supporters untouched ----
for f in prepare_fails install_url_unreachable; do
    setup
    sim_post fault "{\"type\": \"$f\", \"host\": \"rpu-1\"}"
    start_upgrade
    wait_state "$ID" 60 halted
    r=$(pp rollout "$ID" --json)
    assert_contains "$(echo "$r" | jq -c .)" "Restore the master" "the halt's explanation ($f)"
    pp_run rollout "$ID"
    assert_contains "$PP_OUT" "Restore the master" "the CLI's report ($f)"
    for h in rpu-2 rpu-3 rpu-4; do
        assert_eq "true 8.2.1" "$(host $h enabled) $(host $h product_version)" "$h after $f"
    done
    assert_eq 8.2.1 "$(host rpu-1 product_version)" "the master after $f"
    pass "$f on the master: halted, 'restore the master', no supporter touched"
    teardown
done

# installer_fails_then_restored HOST: wait (60 s at most) until HOST is in its failing installer
# (or down), then clear the upgrade_fails fault: the operator restored it on its old version.
installer_fails_then_restored() {
    i=0
    until [ "$(host "$1" installing)" = true ] || [ "$(host "$1" live)" = false ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || fail "$1 never went into the installer"
        sleep 0.1
    done
    sleep 2
    sim_post fault '{"type": "clear", "code": "upgrade_fails"}'
}

# ---- 1b: the master's installer fails, or it comes back on its old version: halt likewise ----
# then the operator deals with the cause (the fault cleared: the master restored and its media
# fixed) and chooses Retry: the upgrade goes on from the master and ends done
for f in upgrade_fails returns_old_version; do
    setup
    before=$(running)
    sim_post fault "{\"type\": \"$f\", \"host\": \"rpu-1\"}"
    start_upgrade
    # the installer failed: the operator restores the master (it comes back on 8.2.1)
    [ "$f" != upgrade_fails ] || installer_fails_then_restored rpu-1
    wait_state "$ID" 120 halted
    r=$(pp rollout "$ID" --json)
    assert_contains "$(echo "$r" | jq -c .)" "Restore the master" "the halt's explanation ($f, master)"
    assert_eq 8.2.1 "$(host rpu-1 product_version)" "the master after $f"
    for h in rpu-2 rpu-3 rpu-4; do
        assert_eq "true 8.2.1" "$(host $h enabled) $(host $h product_version)" "$h after $f on the master"
    done
    pass "$f on the master: halted, 'restore the master', no supporter touched"
    # Retry once the master is restored on its old version and the cause is gone
    sim_post fault '{"type": "clear"}'
    i=0
    until [ "$(host rpu-1 live)" = true ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || fail "the master is not live before the retry ($f)"
        sleep 0.1
    done
    boots=$(host rpu-1 reboots)
    pp_ok retry "$ID"
    wait_state "$ID" 180 done
    for h in rpu-1 rpu-2 rpu-3 rpu-4; do
        assert_eq "true 8.4.0" "$(host $h enabled) $(host $h product_version)" "$h after the retry ($f)"
    done
    [ "$(host rpu-1 reboots)" -gt "$boots" ] || fail "the retry did not reboot the master ($f)"
    sim_state | jq -e '.pools[] | select(.name == "rpu") | (.hosts[] | select(.master) |
        .boot_time | tonumber) as $m | [.hosts[] | select(.master | not) | .boot_time |
        tonumber] | all(. > $m)' >/dev/null || fail "a supporter booted before the master ($f)"
    assert_eq false "$(sim_state | jq '.pools[] | select(.name == "rpu") | .rolling_upgrade')" \
        "rolling-upgrade mode after the retry ($f)"
    assert_eq "$before" "$(running)" "the VMs after the retry (each running once, $f)"
    assert_eq "" "$(running | uniq -d)" "VMs resident twice after the retry ($f)"
    pass "$f on the master, then restored: Retry upgraded the master then the supporters, VMs once"
    teardown
done

# ---- 3, 4: a supporter fails: left out, the others go on ----
for f in returns_old_version upgrade_fails; do
    setup
    before=$(running)
    sim_post fault "{\"type\": \"$f\", \"host\": \"rpu-3\"}"
    start_upgrade
    [ "$f" != upgrade_fails ] || installer_fails_then_restored rpu-3
    wait_state "$ID" 120 done
    r=$(pp rollout "$ID" --json)
    h3=$(echo "$r" | jq -c '.pools[0].hosts[] | select(.name == "rpu-3")')
    assert_eq left_out "$(echo "$h3" | jq -r .state)" "rpu-3's state ($f)"
    assert_contains "$(echo "$h3" | jq -r .message)" "host-forget" "rpu-3's recovery ($f)"
    assert_contains "$(echo "$h3" | jq -r .message)" "pool-join" "rpu-3's recovery ($f)"
    for h in rpu-1 rpu-2 rpu-4; do
        assert_eq 8.4.0 "$(host $h product_version)" "$h after $f on rpu-3"
    done
    assert_eq 8.2.1 "$(host rpu-3 product_version)" "rpu-3 after $f"
    assert_eq "$before" "$(running)" "the VMs after $f (each running once)"
    # the recovery's first step: xapi refuses to forget a host that is live
    pp_fails 1 host forget rpu rpu-3 --yes
    assert_contains "$PP_ERR" "HOST_IS_LIVE" "host forget of a live host ($f)"
    pass "$f on supporter rpu-3: left out with host-forget / reinstall / pool-join, the rest upgraded"
    teardown
done

# ---- 5: SIGKILL while the master is in the installer ----
setup
before=$(running)
start_upgrade
i=0
until [ "$(host rpu-1 installing)" = true ]; do
    i=$((i + 1))
    [ $i -lt 600 ] || fail "the master never went into the installer"
    sleep 0.05
done
kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
sim_state | jq -e '[.pools[] | select(.name == "rpu") | .hosts[] | select(.master | not) |
    .emergency] | any' >/dev/null || echo "note: no supporter in emergency mode at the kill"
start_serve
wait_state "$ID" 180 done
for h in rpu-1 rpu-2 rpu-3 rpu-4; do
    assert_eq 8.4.0 "$(host $h product_version)" "$h after the resumed upgrade"
done
assert_eq 1 "$(host rpu-1 reboots)" "the master's reboots (installer once)"
assert_eq "$before" "$(running)" "the VMs after the resumed upgrade (each running once)"
sim_state | jq -e '[.pools[] | select(.name == "rpu") | .hosts[] | .emergency or (.live | not)]
    | any | not' >/dev/null || fail "a host is left in emergency mode or not live"
pass "SIGKILL while the master was in the installer: resumed, every host on 8.4.0, master rebooted once"
teardown
