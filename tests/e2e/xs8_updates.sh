#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/xs8_updates.sh - XenServer 8 repository updates end to end: the demo fleet's lab pool
# (8.4.0) has a repository (XS8-2025-0041 needs a reboot but has a live patch on lab-2;
# XS8-2025-0042 needs a toolstack restart).  Through the daemon: `updates check` syncs it, By
# Update and By Server show its updates next to prod's legacy hotfixes, the plan for lab uses
# host.apply_updates (no upload, no download), and `apply lab --automated --yes` installs them:
# lab-1 (coordinator, first) evacuated and rebooted once, lab-2 live-patched (no reboot) with a
# toolstack restart, every VM still running, no host left disabled (checked in GET /sim/state).
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --base-address 127.0.40.10 --time-scale 1200
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok updates check --json
assert_eq "true false" "$(jq -r '[.pools[] | {(.name): .repository}] | add |
    "\(.lab) \(.prod)"' <<<"$PP_OUT")" "lab is a repository pool, prod not"

# ---- By Update: the repository updates with the legacy ones
pp_ok updates --json
row() { jq -c --arg n "$1" '.updates[] | select(.id == $n)' <<<"$PP_OUT"; }
r=$(row XS8-2025-0041)
[ -n "$r" ] || fail "By Update without XS8-2025-0041: $PP_OUT"
assert_eq "Xen hypervisor security update" "$(jq -r .name <<<"$r")" "0041 name is its title"
assert_eq "Fixes two guest-to-host escalation issues" "$(jq -r .description <<<"$r")" \
    "0041 description is its summary"
assert_eq "hotfix repository true" "$(jq -r '"\(.kind) \(.source) \(.livepatch)"' <<<"$r")" \
    "0041 kind, source, live patch"
assert_eq '["restartHost"]' "$(jq -c .guidance <<<"$r")" "0041 guidance"
assert_eq "2025-11-04T09:00:00Z" "$(jq -r .date <<<"$r")" "0041 date"
assert_eq '["lab"]' "$(jq -c .pools <<<"$r")" "0041 pools"
assert_eq '["lab-1","lab-2"]' "$(jq -c '[.servers[].server] | sort' <<<"$r")" "0041 servers"
r=$(row XS8-2025-0042)
assert_eq "xapi bug fixes false" "$(jq -r '"\(.name) \(.livepatch)"' <<<"$r")" "0042"
assert_eq '["restartXAPI"]' "$(jq -c .guidance <<<"$r")" "0042 guidance"
assert_eq '["lab"]' "$(jq -c .pools <<<"$r")" "0042 pools"
# the legacy catalog still serves prod, and offers lab nothing of its own
assert_contains "$(jq -c '[.updates[].name]' <<<"$PP_OUT")" "XS82ECU1003" "prod's hotfixes"
assert_eq "" "$(jq -r '.updates[] | select(.source != "repository") |
    select(.pools | index("lab")) | .name' <<<"$PP_OUT")" "no legacy update for lab"
pp_ok updates
assert_contains "$PP_OUT" "Xen hypervisor security update" "By Update in words"

# dismissing a repository update hides it (XenCenter.IgnorePatches of the pool), restore shows it
pp_ok updates dismiss XS8-2025-0042
assert_contains "$(sim_pool_other_config lab)" "XS8-2025-0042" "the dismissal is in lab's other_config"
i=0
until [ -z "$(pp updates --json | jq -r '.updates[] | select(.id == "XS8-2025-0042") | .id')" ]; do
    [ $i -lt 100 ] || fail "XS8-2025-0042 still shown 10 s after it was dismissed"
    sleep 0.1
    i=$((i + 1))
done
pp_ok updates restore
i=0
until [ -n "$(pp updates --json | jq -r '.updates[] | select(.id == "XS8-2025-0042") | .id')" ]; do
    [ $i -lt 100 ] || fail "XS8-2025-0042 not back 10 s after restore"
    sleep 0.1
    i=$((i + 1))
done

# ---- By Server: lab's hosts out of date with the repository updates
pp_ok updates --by-server --json
for h in lab-1 lab-2; do
    r=$(jq -c --arg h "$h" '.servers[] | select(.server == $h and (.is_pool | not))' <<<"$PP_OUT")
    assert_eq "Out of date false true" "$(jq -r '"\(.status) \(.up_to_date) \(.repository)"' \
        <<<"$r")" "$h status"
    assert_eq '["XS8-2025-0041","XS8-2025-0042"]' "$(jq -c '[.required[].id]' <<<"$r")" \
        "$h required"
done

# ---- the plan: host.apply_updates, nothing to upload or download
pp_ok plan lab --automated --json
pl=$(jq -c '.pools[] | select(.pool == "lab" or .name == "lab")' <<<"$PP_OUT")
[ -n "$pl" ] || fail "no plan for lab: $PP_OUT"
assert_eq "true" "$(jq -r .cdn <<<"$pl")" "the plan is a repository plan"
assert_eq '[]' "$(jq -c .upload.updates <<<"$pl")" "nothing to upload"
assert_eq "lab-1 lab-2" "$(jq -r '[.hosts[] | select(.order >= 0) | .name] | join(" ")' \
    <<<"$pl")" "the coordinator first"
assert_eq "disable evacuate apply_updates reboot enable migrate_back" \
    "$(jq -r '.hosts[0].actions | map(.kind) | join(" ")' <<<"$pl")" "lab-1's actions (policy return)"
assert_eq "disable apply_updates restart_toolstack enable" \
    "$(jq -r '.hosts[1].actions | map(.kind) | join(" ")' <<<"$pl")" "lab-2's actions (live patch)"
assert_eq "$(jq -r .cdn_hash <<<"$pl")" \
    "$(jq -r '[.hosts[].actions[] | select(.kind == "apply_updates") | .hash] | unique | .[]' \
    <<<"$pl")" "host.apply_updates with the pool's hash"
pp_ok plan lab --automated
assert_contains "$PP_OUT" "2. lab-2 [batch 1]: disable, apply_updates, restart_toolstack, enable" \
    "plan in words"

# ---- apply
set +e
timeout 400 "$POOLPATCH" apply lab --automated --yes --server "$SERVE_URL" \
    --token-file "$SERVE_TOKEN" >"$E2E_TMP/apply.out" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || fail "apply lab exited $rc: $(tail -20 "$E2E_TMP/apply.out")"
assert_not_contains "$(cat "$E2E_TMP/apply.out")" "upload" "apply uploaded nothing"
assert_not_contains "$(cat "$E2E_TMP/apply.out")" "download" "apply downloaded nothing"
# ---- what the pool says afterwards (GET /sim/state, and xapi itself)
st=$(sim_state)
hostq() { jq -r --arg h "$1" ".pools[] | select(.name == \"lab\") | .hosts[] |
    select(.name == \$h) | $2" <<<"$st"; }
# 2 updates x 2 hosts applied in the whole fleet (prod and edge were not touched)
assert_eq 4 "$(jq -r .counters.applies <<<"$st")" "host.apply_updates applied 4 updates"
assert_eq "1 0 true" "$(hostq lab-1 '"\(.reboots) \(.toolstack_restarts) \(.enabled)"')" \
    "lab-1 rebooted once, enabled"
assert_eq "0 1 true" "$(hostq lab-2 '"\(.reboots) \(.toolstack_restarts) \(.enabled)"')" \
    "lab-2 live-patched (no reboot), toolstack restarted, enabled"
assert_eq "" "$(jq -r '.pools[].hosts[] | select(.enabled | not) | .name' <<<"$st")" \
    "no host disabled"
assert_eq "lab-gpu lab-k8s-1 lab-k8s-2" "$(jq -r '[.pools[] | select(.name == "lab") |
    .hosts[].resident_vms[]] | sort | join(" ")' <<<"$st")" "every lab VM still resident"
url=$(sim_master_url lab)
sess=$(xapi_login "$url")
assert_eq "Running Running Running" "$(xapi_json "$url" VM.get_all_records "[\"$sess\"]" |
    jq -r '[.result[] | select((.is_a_template or .is_control_domain or .is_a_snapshot) | not) |
    .power_state] | join(" ")')" "every lab VM still running"
hash=$(jq -r .cdn_hash <<<"$pl")
for h in $(xapi_json "$url" host.get_all "[\"$sess\"]" | jq -r '.result[]'); do
    rec=$(xapi_json "$url" host.get_record "[\"$sess\",\"$h\"]" | jq -c .result)
    n=$(jq -r .name_label <<<"$rec")
    assert_eq "$hash yes []" "$(jq -r '"\(.last_update_hash) \(.latest_synced_updates_applied) " +
        (.pending_guidances | tojson)' <<<"$rec")" "$n: the repository's hash, no guidance left"
done
# the pool's /updates: nothing left to apply on either host
curl -sS --max-time 30 "${url%/}/updates?session_id=$sess" >"$E2E_TMP/updates.json"
assert_eq "[]" "$(jq -c '[.hosts[].updates[]]' "$E2E_TMP/updates.json")" "/updates: nothing left"

# ---- the views follow (the daemon reads /updates again after the rollout)
i=0
until pp updates --by-server --json | jq -e '[.servers[] | select(.pool == "lab") |
    .status] | unique == ["Up to date"]' >/dev/null; do
    [ $i -lt 100 ] || fail "lab not Up to date in By Server 10 s after the rollout"
    sleep 0.1
    i=$((i + 1))
done
pp_ok updates --json
assert_eq "" "$(jq -r '.updates[] | select(.source == "repository") | .id' <<<"$PP_OUT")" \
    "no repository update offered any more"
pp_ok updates check --json
assert_eq "true" "$(jq -r '.pools[] | select(.name == "lab") | .repository' <<<"$PP_OUT")" \
    "lab still a repository pool after the check"
pass "XenServer 8 repository updates: views, plan and rollout of lab"
