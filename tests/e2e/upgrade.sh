#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/upgrade.sh - rolling pool upgrades through the real binaries over HTTP
# (`poolpatch upgrade` -> `poolpatch serve` -> `poolpatch sim`, scenarios/upgrade.json), judged
# from the simulator's state:
#   1. By Update's new-release row names the upgrade command (and choosing it as an update
#      says so); the 4-host pool `rpu`, automatic mode from the release's URL on the vendor file service:
#      sampled while it runs, no supporter is disabled before the master is back on 8.4.0; at
#      the end every host runs 8.4.0, the master booted first, the pool left rolling-upgrade
#      mode, every VM that ran runs exactly once, and the guest-tools list is in the plan and
#      the rollout report; the Updates views (REST By Update / By Server, CLI) list, from the
#      pool's state, the VMs whose tools are older than their server (before the upgrade: older
#      than 8.2.1; after: than 8.4.0), host rows naming those running on them, after a daemon
#      restart too, and drop them once their tools are upgraded (POST /sim/upgrade {"vm"});
#   2. the standalone host `solo`: solo-web suspended (sampled: never while its CD is in; the CD
#      inserted again after), solo-db shut down as chosen (--shutdown; never suspended), both
#      running on it after the upgrade, the guest-tools list in the plan and the report text;
#   3. manual mode: the rollout waits for the operator's boot (POST /sim/upgrade) and ends once
#      the host is back on 8.4.0 ("reboot again" reboots it and the wait goes on; the master
#      cannot be skipped); re-running the upgrade then has nothing to do (skips it).
. "$(dirname "$0")/lib.sh"

setup() { # TIME_SCALE
    start_sim "$SRCDIR/scenarios/upgrade.json" --time-scale "$1"
    SERVE_DIR="$E2E_TMP/serve-$RANDOM"
    start_serve
    echo xenroot >"$E2E_TMP/pw"
    pp_ok pool add rpu --url "$(sim_master_url rpu)" --user root --password-file "$E2E_TMP/pw"
    pp_ok pool add solo --url "$(sim_master_url solo)" --user root --password-file "$E2E_TMP/pw"
    URL=$(sim_state | jq -r '.releases[] | select(.product_version == "8.4.0") | .url')
    [ -n "$URL" ] && [ "$URL" != null ] || fail "the simulator serves no 8.4.0 installer"
}

teardown() {
    stop_serve
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
}

running() { # POOL: the names of the VMs resident on its hosts, one a line, sorted
    sim_state | jq -r --arg p "$1" '.pools[] | select(.name == $p) | .hosts[].resident_vms[]' |
        sort
}

versions() { # POOL: "name version" per host
    sim_state | jq -r --arg p "$1" '.pools[] | select(.name == $p) | .hosts[] |
        "\(.name) \(.product_version)"'
}

sample_loop() { # FILE: per sample, the master's version and whether a supporter is disabled
    while :; do
        sim_state 2>/dev/null | jq -c '.pools[] | select(.name == "rpu") |
            {m: (.hosts[] | select(.master) | .product_version),
             s: ([.hosts[] | select(.master | not) | .enabled == false] | any)}' \
            >>"$1" 2>/dev/null
        sleep 0.1
    done
}

# ---- 1. the pool, automatic ----
# 500x (installers ~2 s, reboots 0.4 s real): the order checks are on samples every ~0.1 s and
# fail when no sample saw a supporter at work, the solo checks when none saw solo-web suspended
setup 500
# By Update: a new release row says how to install it (CLI command, REST request for a button)
pp_ok updates check
row=$(pp updates --json | jq -c '[.updates[] | select(.upgrade)] | .[0]')
[ "$row" != null ] || fail "By Update has no new-release row with an upgrade: $(pp updates --json |
    jq -c '[.updates[] | {name, kind}]')"
assert_contains "$(echo "$row" | jq -r .upgrade.command)" "poolpatch upgrade" "the release row's command"
assert_eq /api/v1/upgrades "$(echo "$row" | jq -r .upgrade.request.path)" "the release row's request"
pp_run apply rpu --update "$(echo "$row" | jq -r .id)" --yes
assert_contains "$PP_ERR" "poolpatch upgrade" "choosing the release as an update tells the command"
before=$(running rpu)
[ -n "$before" ] || fail "pool rpu runs no VM: the check proves nothing"
pp_ok upgrade rpu --to 8.4.0 --url "$URL" --plan
assert_contains "$PP_OUT" "rolling pool upgrade to 8.4.0" "the dry run's title"
assert_contains "$PP_OUT" "upgrade the guest tools of" "the dry run's guest-tools list"
# each evacuation migration is one line (the REST shape carries it per host and per action)
migr_lines=$(echo "$PP_OUT" | grep -E '^ +VM .* -> ' || true)
[ -n "$migr_lines" ] || fail "the dry run lists no migration: the duplicate check proves nothing"
assert_eq "" "$(echo "$migr_lines" | sort | uniq -d)" "migration lines printed twice by the dry run"
plan=$(pp upgrade rpu --to 8.4.0 --url "$URL" --plan --json)
echo "$plan" | jq -e '.pools[0].hosts[0].master and (.pools[0].hosts | map(.order) == [0,1,2,3])
    and ([.pools[0].hosts[].actions[].kind] | index("upgrade") != null)' >/dev/null ||
    fail "the dry run does not put the master first: $(echo "$plan" | jq -c '.pools[0].hosts')"
# the guest-tools list: exactly the VMs whose PV drivers (VM_guest_metrics.PV_drivers_version,
# read from the simulator over XAPI) are older than 8.4.0 — not every VM
xc() { "$POOLPATCH" xapi call --url "$(sim_master_url rpu)" --password-file "$E2E_TMP/pw" "$@"; }
want_tools=$(jq -rn --argjson vms "$(xc VM.get_all_records)" \
    --argjson gm "$(xc VM_guest_metrics.get_all_records)" '$vms | to_entries[] | .value |
    select((.is_a_template or .is_control_domain) | not) | . as $v | $gm[$v.guest_metrics] |
    select(. != null and .PV_drivers_version.major != null) | .PV_drivers_version |
    select([.major, .minor, .micro | tonumber] < [8, 4, 0]) | $v.name_label' | sort)
[ -n "$want_tools" ] || fail "no VM of rpu has old tools: the tools check proves nothing"
assert_eq "$want_tools" "$(echo "$plan" | jq -r '.pools[0].upgrade.tools_vm_names[]' | sort)" \
    "the guest-tools list (VMs with PV drivers older than 8.4.0)"
[ "$(echo "$before" | wc -l)" -gt "$(echo "$want_tools" | wc -l)" ] ||
    fail "every running VM has old tools: the filter proves nothing"
# the Updates views list, from the pool's state, the VMs whose tools are older than their
# server's version: before the upgrade only those older than 8.2.1
old_tools() { # MAJOR MINOR MICRO: rpu's VMs (from XAPI) with PV drivers older than that
    jq -rn --argjson vms "$(xc VM.get_all_records)" --argjson want "[$1, $2, $3]" \
        --argjson gm "$(xc VM_guest_metrics.get_all_records)" '$vms | to_entries[] | .value |
        select((.is_a_template or .is_control_domain) | not) | . as $v | $gm[$v.guest_metrics] |
        select(. != null and .PV_drivers_version.major != null) | .PV_drivers_version |
        select([.major, .minor, .micro | tonumber] < $want) | $v.name_label' | sort
}
gt_names() { # VIEW: the VM names of the REST view's guest_tools list for pool rpu, sorted
    api GET "/api/v1/updates?view=$1"
    [ "$API_CODE" = 200 ] || fail "GET /api/v1/updates?view=$1: $API_CODE $API_BODY"
    echo "$API_BODY" | jq -r '.guest_tools[] | select(.pool == "rpu") | .vm' | sort
}
want_old=$(old_tools 8 2 1)
[ -n "$want_old" ] || fail "no VM of rpu has tools older than 8.2.1: the check proves nothing"
assert_eq "$want_old" "$(gt_names by-update)" "By Update's guest tools before the upgrade"
samples="$E2E_TMP/samples"
: >"$samples"
sample_loop "$samples" &
mon=$!
E2E_PIDS="$E2E_PIDS $mon"
pp_run upgrade rpu --to 8.4.0 --url "$URL" --yes
kill "$mon" 2>/dev/null || true
wait "$mon" 2>/dev/null || true
[ "$PP_RC" = 0 ] || fail "upgrade exited $PP_RC: $(echo "$PP_OUT" | tail -8) $PP_ERR"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
report=$(pp rollout "$id" --json)
assert_eq done "$(echo "$report" | jq -r .state)" "the upgrade's state"
assert_eq "$(printf 'rpu-1 8.4.0\nrpu-2 8.4.0\nrpu-3 8.4.0\nrpu-4 8.4.0')" "$(versions rpu)" \
    "versions after the upgrade"
state=$(sim_state)
assert_eq false "$(echo "$state" | jq '.pools[] | select(.name == "rpu") | .rolling_upgrade')" \
    "rolling-upgrade mode after the upgrade"
echo "$state" | jq -e '.pools[] | select(.name == "rpu") | (.hosts[] | select(.master) |
    .boot_time | tonumber) as $m | [.hosts[] | select(.master | not) | .boot_time | tonumber]
    | all(. > $m)' >/dev/null || fail "a supporter booted before the master"
bad=$(jq -c 'select(.s and .m != "8.4.0")' "$samples" | head -3)
assert_eq "" "$bad" "samples with a supporter disabled before the master was back on 8.4.0"
[ "$(jq -c 'select(.s)' "$samples" | wc -l)" -gt 0 ] ||
    fail "no sample saw a supporter at work: the order check proves nothing"
assert_eq "$before" "$(running rpu)" "the VMs running before and after (each exactly once)"
assert_eq "" "$(running rpu | uniq -d)" "VMs resident twice"
echo "$report" | jq -e '.pools[0].upgrade.to == "8.4.0" and
    (.pools[0].upgrade.tools_vm_names | length) > 0' >/dev/null ||
    fail "the rollout report has no guest-tools list: $(echo "$report" | jq -c .pools[0].upgrade)"
pass "pool rpu upgraded to 8.4.0, master first ($(wc -l <"$samples") samples), $(echo "$before" |
    wc -l) VMs running once, guest tools listed"

# ---- 1b. the guest tools in the Updates views (seed step 12), from the pool's own state ----
wait_tools() { # WANT WHAT: poll both REST views until their rpu guest_tools names are WANT
    local i=0
    until [ "$(gt_names by-update)" = "$1" ] && [ "$(gt_names by-server)" = "$1" ]; do
        i=$((i + 1))
        [ $i -lt 300 ] || assert_eq "$1" "$(gt_names by-server)" "$2"
        sleep 0.1
    done
}
wait_tools "$want_tools" "the views' guest tools after the upgrade (PV drivers older than 8.4.0)"
# By Server: each host row names the VMs running on it (read from the simulator); the pool row all
api GET "/api/v1/updates?view=by-server"
srv=$API_BODY
bad=$(jq -rn --argjson srv "$srv" --argjson st "$(sim_state)" '$st.pools[] | select(.name == "rpu")
    | .hosts[] as $h | ($srv.servers[] | select(.pool == "rpu" and .server == $h.name and
    (.is_pool | not)) | .tools_upgrade) as $t | $h.resident_vms[] |
    select(. as $n | $srv.guest_tools | any(.vm == $n)) | select(. as $n | $t | index($n) | not)')
assert_eq "" "$bad" "running VMs with old tools missing from their host's By Server row"
assert_eq "$want_tools" "$(echo "$srv" | jq -r '.servers[] | select(.pool == "rpu" and .is_pool) |
    .tools_upgrade[]' | sort)" "the pool row's guest tools"
pp_ok updates --by-server
assert_contains "$PP_OUT" "Guest tools to upgrade" "the CLI's By Server guest-tools section"
pp_ok updates
for vm in $want_tools; do
    assert_contains "$PP_OUT" ": $vm (tools " "the CLI's By Update guest-tools line of $vm"
done
# the operator upgrades the tools of all but one VM inside the guests (the simulator's control)
sim_tools() { # VM VERSION
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' \
        --data "{\"vm\": \"$1\", \"tools\": \"$2\"}" \
        "$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")sim/upgrade" | jq -e .ok >/dev/null ||
        fail "POST /sim/upgrade tools of $1"
}
keep=$(echo "$want_tools" | head -1)
for vm in $want_tools; do
    [ "$vm" = "$keep" ] || sim_tools "$vm" 8.4.0-410
done
assert_eq "$keep" "$(old_tools 8 4 0)" "VMs with old tools in the simulator after the upgrades"
wait_tools "$keep" "the views' guest tools after upgrading all but $keep"
# a daemon restart: the list comes from the pool, not from the rollout's memory
stop_serve
start_serve
wait_tools "$keep" "the views' guest tools after a daemon restart"
sim_tools "$keep" 8.4.0
wait_tools "" "the views' guest tools once every VM's tools are upgraded"
pp_ok updates --by-server
assert_not_contains "$PP_OUT" "Guest tools to upgrade" "the CLI's By Server once tools are upgraded"
pass "the Updates views list the VMs with old guest tools, across a restart, until upgraded"

# ---- 2. the standalone host ----
# seed 7.2.1: its VMs suspended (the CD of one ejected and emptied first) or, as the user chooses
# per VM (--shutdown), shut down; upgraded; then resumed / started on it. Sampled over XAPI.
xs() { "$POOLPATCH" xapi call --url "$(sim_master_url solo)" --password-file "$E2E_TMP/pw" "$@"; }
# xrpc METHOD PARAMS: one JSON-RPC call to solo's master with curl (a sample costs ~10 ms
# whatever the build: the poolpatch CLI under ASan takes ~0.6 s a call, too slow to see the
# suspension); prints the result, fails when there is none (e.g. the session died in a reboot).
xrpc() {
    local r
    r=$(curl -sS --max-time 5 -H 'Content-Type: application/json' \
        -d "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":[$2],\"id\":1}" \
        "$(sim_master_url solo)jsonrpc" 2>/dev/null) &&
        r=$(echo "$r" | jq -c '.result // empty' 2>/dev/null) && [ -n "$r" ] && echo "$r"
}
solo_loop() { # FILE: per sample, solo-web's and solo-db's power states and solo-web's CD
    sess=""
    while :; do
        [ -n "$sess" ] || sess=$(xrpc session.login_with_password '"root","xenroot","1.0","e2e"' |
            jq -r . 2>/dev/null) || sess=""
        # The VBDs are read before and after the VMs (the reads are not one snapshot): the CD
        # counts as in only if both reads saw it in. A correct run (eject, suspend ... resume,
        # insert) cannot show a suspended VM between two "in" reads unless its whole suspension
        # fitted between them; a run that suspends with the CD in shows it in both.
        if [ -n "$sess" ] && b1=$(xrpc VBD.get_all_records "\"$sess\"") &&
            v=$(xrpc VM.get_all_records "\"$sess\"") && b2=$(xrpc VBD.get_all_records "\"$sess\""); then
            jq -cn --argjson vms "$v" --argjson b1 "$b1" --argjson b2 "$b2" '($vms | to_entries) as $e |
                ($e[] | select(.value.name_label == "solo-web")) as $w |
                def cd($b): [$b[] | select(.type == "CD" and .VM == $w.key) | .empty][0];
                {web: $w.value.power_state,
                 db: ($e[] | select(.value.name_label == "solo-db") | .value.power_state),
                 cd_empty: (cd($b1) or cd($b2))}' >>"$1" 2>/dev/null || true
        else
            sess=""
        fi
        sleep 0.05
    done
}
before=$(running solo)
pp_ok upgrade solo --to 8.4.0 --url "$URL" --shutdown solo-db --plan
assert_contains "$PP_OUT" "Suspend VM solo-web" "solo-web suspended for the upgrade"
assert_contains "$PP_OUT" "Shut VM solo-db down" "solo-db shut down, as chosen"
assert_contains "$PP_OUT" "Eject the CD of VM solo-web" "solo-web's CD ejected first"
assert_contains "$PP_OUT" "upgrade the guest tools of" "the standalone host's guest-tools list"
ssamples="$E2E_TMP/solo-samples"
: >"$ssamples"
solo_loop "$ssamples" &
mon=$!
E2E_PIDS="$E2E_PIDS $mon"
pp_run upgrade solo --to 8.4.0 --url "$URL" --shutdown solo-db --yes
kill "$mon" 2>/dev/null || true
wait "$mon" 2>/dev/null || true
[ "$PP_RC" = 0 ] || fail "upgrade solo exited $PP_RC: $(echo "$PP_OUT" | tail -8) $PP_ERR"
assert_eq "solo-1 8.4.0" "$(versions solo)" "the standalone host's version"
assert_eq "$before" "$(running solo)" "solo's VMs running again after the upgrade"
sim_state | jq -e '[.pools[] | select(.name == "solo") | .hosts[0].reboots] | .[0] >= 1' \
    >/dev/null || fail "solo-1 was not rebooted"
[ "$(jq -c 'select(.web == "Suspended")' "$ssamples" | wc -l)" -gt 0 ] ||
    fail "no sample saw solo-web suspended ($(wc -l <"$ssamples") samples): the check proves nothing"
assert_eq "" "$(jq -c 'select(.web == "Suspended" and .cd_empty != true)' "$ssamples" | head -3)" \
    "samples with solo-web suspended while its CD was still in"
assert_eq "" "$(jq -c 'select(.db == "Suspended")' "$ssamples" | head -3)" \
    "samples with solo-db suspended (it was to be shut down)"
[ "$(jq -c 'select(.db == "Halted")' "$ssamples" | wc -l)" -gt 0 ] ||
    fail "no sample saw solo-db shut down"
v=$(xs VM.get_all_records) && b=$(xs VBD.get_all_records) || fail "reading solo over XAPI"
assert_eq false "$(jq -n --argjson vms "$v" --argjson vbds "$b" '($vms | to_entries[] |
    select(.value.name_label == "solo-web") | .key) as $w |
    [$vbds[] | select(.type == "CD" and .VM == $w) | .empty][0]')" "solo-web's CD after the upgrade (inserted again)"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
pp_ok rollout "$id"
assert_contains "$PP_OUT" "Upgrade the guest tools of: solo-" "the report's guest-tools list"
pass "standalone host solo upgraded; solo-web suspended (CD ejected first), solo-db shut down as chosen, both back running"
teardown

# ---- 3. manual mode ----
setup 500
before=$(running solo)
pp_ok upgrade solo --to 8.4.0 --manual --yes --no-follow
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
i=0
until pp rollout "$id" --json | jq -e '.pools[0].hosts[0].step == "upgrade"' >/dev/null; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "the manual upgrade never reached its upgrade step"
    sleep 0.1
done
sleep 1
assert_eq "solo-1 8.2.1" "$(versions solo)" "the host waits for the operator in manual mode"
assert_eq running "$(pp rollout "$id" --json | jq -r .state)" "the rollout waits"
# the operator's choices: the master cannot be skipped; "reboot again" reboots it
pp_fails 1 upgrade-host "$id" solo-1 skip
assert_contains "$PP_ERR" "master" "skipping the master is refused"
r0=$(sim_state | jq '.pools[] | select(.name == "solo") | .hosts[0].reboots')
pp_ok upgrade-host "$id" solo-1 reboot
i=0
until [ "$(sim_state | jq '.pools[] | select(.name == "solo") | .hosts[0].reboots')" -gt "$r0" ]; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "upgrade-host reboot did not reboot solo-1"
    sleep 0.1
done
i=0
until [ "$(sim_state | jq -r '.pools[] | select(.name == "solo") | .hosts[0].live')" = true ]; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "solo-1 did not come back from the reboot"
    sleep 0.1
done
assert_eq running "$(pp rollout "$id" --json | jq -r .state)" "still waiting after the reboot again"
_u=$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")
curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' \
    --data '{"host": "solo-1", "release": "8.4.0"}' "${_u}sim/upgrade" | jq -e .ok >/dev/null ||
    fail "POST /sim/upgrade"
i=0
until [ "$(pp rollout "$id" --json | jq -r .state)" = done ]; do
    i=$((i + 1))
    [ $i -lt 600 ] || fail "the manual upgrade did not finish after the operator's boot"
    sleep 0.1
done
assert_eq "solo-1 8.4.0" "$(versions solo)" "the host after the operator's boot"
assert_eq "$before" "$(running solo)" "solo's VMs running again after the manual upgrade"
pp_ok upgrade solo --to 8.4.0 --manual --plan --json
echo "$PP_OUT" | jq -e '[.pools[0].hosts[] | select(.order >= 0)] | length == 0' >/dev/null ||
    fail "an upgraded host is planned again"
pass "manual mode: waited for the operator's boot, then finished; an upgraded host is skipped"
teardown
