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
#   4. legacy updates (updates.xml) of the new release: the pool on 8.2.0 upgraded to 8.2.1 whose
#      catalog version lists a minimal set: their files are downloaded before the rollout starts
#      and, once every host runs 8.2.1, uploaded and applied by the same minimal-set rules as an
#      automated rollout (every host ends on 8.2.1 with exactly the minimal set applied, in the
#      same rollout, every VM running once, out of rolling-upgrade mode).
. "$(dirname "$0")/lib.sh"

# setup [SCALE]: the simulator at SCALE simulated seconds a second (500: its installers take
# about 2 s)
setup() {
    start_sim "$SRCDIR/scenarios/upgrade.json" --time-scale "${1:-500}"
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
# at 500x too: the updates phase (per host an evacuation, apply 60 s, a reboot 180 s) lasts a few
# real seconds, and the kill is checked to have come inside it (a host still without its updates)
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
# the kill came during the updates phase, not after it: some host still lacks an update
[ "$(rpu '[.hosts[] | select((.repository_updates | sort) != '"$WANT"')] | length')" -gt 0 ] ||
    fail "every host had its updates before the kill: the resume is not tested"
start_serve
wait_rollout "$id"
check_end "$id" "SIGKILL during the updates"
pass "SIGKILL during the new version's updates: resumed, every host on 8.4.0 with its updates"
teardown

# ---- 4: the new release's legacy (updates.xml) updates chained ----
# scenarios/upgrade.json's pool rpu on 8.2.0 without a repository; the release 8.2.1, whose
# catalog version lists two hotfixes as its minimal set (the second requires the first)
P1=3f9c1a52-6a4e-4c1e-9a57-0d6a5f7f2a01
P2=9d1a7d9e-2b9b-4f0f-a3a4-6e1d5b0c4b12
P3=5b2c0d4e-7f11-4e55-8a0b-2c9d6e1f0a33
jq --arg p1 "$P1" --arg p2 "$P2" --arg p3 "$P3" '
    .pools = [.pools[] | select(.name == "rpu") | del(.repository) | .updates = [] |
        .version = {"product_version": "8.2.0", "platform_version": "3.2.0",
                    "build_number": "release/yangtze/master/33", "xapi": "1.200"}] |
    .releases = [{"name": "Citrix Hypervisor 8.2 CU1", "product_version": "8.2.1",
        "platform_version": "3.2.1", "build_number": "release/yangtze/master/58",
        "xapi": "1.249", "product_brand": "Citrix Hypervisor"}] |
    .vendor.versions = [
        {"value": "8.2.0", "name": "Citrix Hypervisor 8.2", "build_number": "release/yangtze/master/33",
         "hotfix_eligibility": "all", "timestamp": "2020-06-01T00:00:00Z", "patches": [], "minimal": []},
        {"value": "8.2.1", "name": "Citrix Hypervisor 8.2 CU1", "build_number": "release/yangtze/master/58",
         "latest": true, "hotfix_eligibility": "all", "timestamp": "2022-01-20T00:00:00Z",
         "patches": ["XS82ECU1001", "XS82ECU1002", "XS82ECU1003"],
         "minimal": ["XS82ECU1002", "XS82ECU1001"]}] |
    .vendor.patches = [
        {"uuid": $p1, "name_label": "XS82ECU1001", "description": "hypervisor fixes",
         "installation_size": 104857600, "after_apply_guidance": ["restartHost"], "priority": 1,
         "timestamp": "2026-03-10T00:00:00Z"},
        {"uuid": $p2, "name_label": "XS82ECU1002", "description": "toolstack fixes",
         "installation_size": 52428800, "after_apply_guidance": ["restartXAPI"], "priority": 2,
         "timestamp": "2026-05-02T00:00:00Z", "requires": [$p1]},
        {"uuid": $p3, "name_label": "XS82ECU1003", "description": "optional",
         "installation_size": 52428800, "after_apply_guidance": [], "priority": 3,
         "timestamp": "2026-06-02T00:00:00Z"}]' \
    "$SRCDIR/scenarios/upgrade.json" >"$E2E_TMP/legacy.json" || fail "writing the legacy scenario"
start_sim "$E2E_TMP/legacy.json" --time-scale 500
SERVE_DIR="$E2E_TMP/serve-$RANDOM"
start_serve
pp_ok pool add rpu --url "$(sim_master_url rpu)" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
URL=$(sim_state | jq -r '.releases[] | select(.product_version == "8.2.1") | .url')
[ -n "$URL" ] && [ "$URL" != null ] || fail "the simulator serves no 8.2.1 installer"
before=$(running)
assert_eq '["8.2.0","8.2.0","8.2.0","8.2.0"]' "$(rpu '[.hosts[].product_version]')" \
    "versions before the legacy upgrade"
pp_run upgrade rpu --to 8.2.1 --url "$URL" --apply-updates --yes
[ "$PP_RC" = 0 ] || fail "upgrade to 8.2.1 exited $PP_RC: $(echo "$PP_OUT" | tail -8) $PP_ERR"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
r=$(pp rollout "$id" --json)
assert_eq done "$(echo "$r" | jq -r .state)" "the legacy upgrade's state: $(echo "$r" | jq -c .error)"
assert_eq '["8.2.1","8.2.1","8.2.1","8.2.1"]' "$(rpu '[.hosts[].product_version]')" \
    "versions after the legacy upgrade"
for h in $(rpu '.hosts[].name' | tr -d '"'); do
    assert_eq "$(printf 'XS82ECU1001\nXS82ECU1002')" "$(sim_host_updates rpu "$h")" \
        "the 8.2.1 minimal set applied on $h (not the optional XS82ECU1003)"
done
assert_eq false "$(rpu .rolling_upgrade)" "rolling-upgrade mode after the legacy upgrade"
assert_eq '[]' "$(rpu '[.hosts[] | select(.enabled | not) | .name]')" "disabled hosts (legacy)"
assert_eq "$before" "$(running)" "the VMs running before and after, each once (legacy)"
[ "$(echo "$r" | jq .counters.updates_applied)" -ge 8 ] ||
    fail "the report counts $(echo "$r" | jq .counters.updates_applied) updates applied (legacy)"
pass "rpu upgraded 8.2.0 -> 8.2.1 and the release's legacy minimal set applied in the same rollout"
teardown
