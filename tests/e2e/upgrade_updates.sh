#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/upgrade_updates.sh - `poolpatch upgrade --apply-updates`: the new version's automated
# updates in the same rollout, through the real binaries over HTTP (scenarios/upgrade.json: the
# 4-host pool `rpu` on 8.2.1, whose update repository is enabled once it runs XenServer 8),
# judged from the simulator's state:
#   1. the dry run says the updates follow (text and the plan's upgrade.apply_updates);
#   2. the upgrade with --apply-updates ends `done` with every host on 8.4.0 AND every update of
#      the 8.4.0 repository applied on every host (GET /sim/state repository_updates), the
#      pool out of rolling-upgrade mode, no host disabled, every VM running exactly once, and
#      the rollout report showing per host its upgrade and then its updates applied;
#   2b. the standalone host `solo`, whose 8.4.0 has no update list: done, the reason given;
#   3. the same with `poolpatch serve` SIGKILLed once the updates phase has begun (a host
#      applying): restarted on the same database it resumes and ends the same way, no update
#      applied twice (each host's repository_updates without duplicates).
. "$(dirname "$0")/lib.sh"

setup() {
    start_sim "$SRCDIR/scenarios/upgrade.json" --time-scale 200
    SERVE_DIR="$E2E_TMP/serve-$RANDOM"
    start_serve
    echo xenroot >"$E2E_TMP/pw"
    pp_ok pool add rpu --url "$(sim_master_url rpu)" --user root --password-file "$E2E_TMP/pw"
    URL=$(sim_state | jq -r '.releases[] | select(.product_version == "8.4.0") | .url')
    [ -n "$URL" ] && [ "$URL" != null ] || fail "the simulator serves no 8.4.0 installer"
}

teardown() {
    stop_serve
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
}

running() {
    sim_state | jq -r '.pools[] | select(.name == "rpu") | .hosts[].resident_vms[]' | sort
}

rpu() { # JQ filter over the pool rpu of GET /sim/state
    sim_state | jq -c ".pools[] | select(.name == \"rpu\") | $1"
}

WANT='["XS8-2026-0007","XS8-2026-0012"]'

check_end() { # ID WHAT
    r=$(pp rollout "$1" --json)
    assert_eq done "$(echo "$r" | jq -r .state)" "the rollout's state ($2)"
    assert_eq '["8.4.0","8.4.0","8.4.0","8.4.0"]' "$(rpu '[.hosts[].product_version]')" \
        "versions ($2)"
    rpu '.hosts | map(.repository_updates | sort) | all(. == '"$WANT"')' | grep -qx true ||
        fail "the 8.4.0 updates are not applied on every host ($2): $(rpu '[.hosts[] |
            {name, repository_updates}]')"
    assert_eq '[]' "$(rpu '[.hosts[] | select(.repository_updates | length != (unique | length))
        | .name]')" "hosts with an update applied twice ($2)"
    assert_eq false "$(rpu .rolling_upgrade)" "rolling-upgrade mode ($2)"
    assert_eq '[]' "$(rpu '[.hosts[] | select(.enabled | not) | .name]')" "disabled hosts ($2)"
    assert_eq "$before" "$(running)" "the VMs running before and after, each once ($2)"
    # the report: per host its upgrade and then the updates applied (the apply step done)
    assert_eq '[]' "$(echo "$r" | jq -c '[.pools[0].hosts[] | select(([.log[] | select(.step ==
        "apply" and .state == "done")] | length) == 0 or (.updates_applied | length) == 0
        or ([.log[] | .step] | index("upgrade")) == null) | .name]')" \
        "hosts whose report lacks the upgrade or the applied updates ($2)"
    [ "$(echo "$r" | jq .counters.updates_applied)" -ge 4 ] ||
        fail "the report counts $(echo "$r" | jq .counters.updates_applied) updates applied ($2)"
}

# ---- 1 + 2: the dry run, then the upgrade and its updates ----
setup
before=$(running)
[ -n "$before" ] || fail "pool rpu runs no VM: the check proves nothing"
assert_eq '[]' "$(rpu '[.hosts[].repository_updates[]]')" "repository updates before the upgrade"
pp_ok upgrade rpu --to 8.4.0 --url "$URL" --apply-updates --plan
assert_contains "$PP_OUT" "then its automated updates" "the dry run's title"
plan=$(pp upgrade rpu --to 8.4.0 --url "$URL" --apply-updates --plan --json)
assert_eq true "$(echo "$plan" | jq .pools[0].upgrade.apply_updates)" "the plan's apply_updates"
pp_run upgrade rpu --to 8.4.0 --url "$URL" --apply-updates --yes
[ "$PP_RC" = 0 ] || fail "upgrade exited $PP_RC: $(echo "$PP_OUT" | tail -8) $PP_ERR"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
check_end "$id" "upgrade with --apply-updates"
pass "rpu upgraded to 8.4.0 and its updates applied in the same rollout, VMs running once"
# a standalone host whose new version has no update list (no repository): the upgrade ends done,
# the chained step says why, nothing halts
pp_ok pool add solo --url "$(sim_master_url solo)" --user root --password-file "$E2E_TMP/pw"
pp_run upgrade solo --to 8.4.0 --url "$URL" --apply-updates --yes
[ "$PP_RC" = 0 ] || fail "upgrade solo exited $PP_RC: $(echo "$PP_OUT" | tail -8) $PP_ERR"
sid=$(pp rollouts --json | jq -r '.rollouts[0].id')
assert_eq done "$(pp rollout "$sid" --json | jq -r .state)" "solo's upgrade with --apply-updates"
assert_eq 8.4.0 "$(sim_state | jq -r '.pools[] | select(.name == "solo") | .hosts[0].product_version')" \
    "solo-1's version"
assert_contains "$PP_OUT" "are not applied" "the chained step says why no update is applied"
pass "solo upgraded with --apply-updates and no update list for 8.4.0: done, the reason given"
teardown

# ---- 3: SIGKILL during the updates phase ----
setup
before=$(running)
api POST /api/v1/upgrades "{\"pools\": [\"rpu\"], \"to\": \"8.4.0\", \"url\": \"$URL\",
    \"apply_updates\": true}"
assert_eq 201 "$API_CODE" "POST /upgrades with apply_updates: $API_BODY"
id=$(echo "$API_BODY" | jq -r .id)
i=0
until pp rollout "$id" --json | jq -e 'any(.pools[0].hosts[].log[]; .step == "apply")' \
    >/dev/null; do
    i=$((i + 1))
    [ $i -lt 1200 ] || fail "the updates phase never began: $(pp rollout "$id" --json | jq -c .)"
    sleep 0.1
done
kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
start_serve
wait_rollout "$id"
check_end "$id" "SIGKILL during the updates"
pass "SIGKILL during the new version's updates: resumed, every host on 8.4.0 with its updates"
teardown
