#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sim_upgrade.sh - upgrades in `poolpatch sim` over HTTP (issue 15), driven with
# `poolpatch xapi call` as a client would (scenarios/upgrade.json, time scale 300: the 900 s installer lasts 3 s):
#  - the release's install media is served by the vendor file service at the URL /sim/state
#    gives, and prepare_host_upgrade.py's testUrl / getVersion / main answer for it;
#  - the coordinator prepared and rebooted goes into the installer (supporters in emergency
#    mode meanwhile), comes back on 8.4.0 and the pool is in rolling-upgrade mode, where a
#    migration onto an older host is refused NOT_SUPPORTED_DURING_UPGRADE;
#  - faults: the install URL unreachable from one host (INVALID_URL); a supporter's installer
#    failing (it never comes back, and host.destroy = host-forget then works);
#  - manual mode (POST /sim/upgrade): a supporter that comes back on its old version, and the
#    standalone host upgraded.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/upgrade.json" --time-scale 300
url=$(sim_master_url rpu)
solo=$(sim_master_url solo)
pw="$E2E_TMP/pw"
echo xenroot >"$pw"
xc() { "$POOLPATCH" xapi call --url "$url" --password-file "$pw" "$@"; }
host_state() { # HOST FIELD: from GET /sim/state
    sim_state | jq -r --arg h "$1" --arg f "$2" '.pools[].hosts[] | select(.name == $h) | .[$f]'
}
wait_state() { # HOST FIELD VALUE SECONDS
    i=0
    while [ "$(host_state "$1" "$2")" != "$3" ]; do
        [ $i -lt $(($4 * 10)) ] || fail "$1: $2 is not $3 after $4 s ($(host_state "$1" "$2"))"
        sleep 0.1
        i=$((i + 1))
    done
}
post_sim() { # PATH JSON: POST a control document; prints the answer
    curl -sS --max-time 30 -H 'Content-Type: application/json' --data "$2" "${url}sim/$1"
}
post_ok() { # PATH JSON: POST a control document that must be accepted
    _a=$(post_sim "$1" "$2")
    [ "$(jq -r .ok <<<"$_a")" = true ] || fail "POST /sim/$1 $2: $_a"
}

# ---- install media and the plugin ----
media=$(sim_state | jq -er '.releases[0].url')
fs=$(sim_fileservice_url)
assert_eq "$fs/installers/8.4.0/" "$media" "the release's URL is on the vendor file service"
for f in .treeinfo install.img boot/vmlinuz boot/xen.gz boot/isolinux/isolinux.cfg; do
    code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$media$f")
    assert_eq 200 "$code" "GET $f of the install media"
done
code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$fs/installers/9.9.9/install.img")
assert_eq 404 "$code" "no install media for a release the scenario does not have"
h1=$(xc host.get_by_name_label rpu-1 | jq -er '.[0]')
args=$(jq -cn --arg u "$media" '{url: $u}')
assert_eq '"true"' "$(xc host.call_plugin "$h1" prepare_host_upgrade.py testUrl "$args")" "testUrl"
ver=$(xc host.call_plugin "$h1" prepare_host_upgrade.py getVersion "$args" | jq -r .)
assert_eq 8.4.0 "$(jq -r '."product-version"' <<<"$ver")" "getVersion product-version"
assert_eq 3.4.0 "$(jq -r '."platform-version"' <<<"$ver")" "getVersion platform-version"
if out=$(xc host.call_plugin "$h1" prepare_host_upgrade.py testUrl '{"url":"http://127.0.0.2:1/none/"}' 2>&1); then
    fail "testUrl of an unknown repository succeeded: $out"
fi
assert_contains "$out" "XENAPI_PLUGIN_FAILURE [testUrl, Exception, INVALID_URL]" "unknown URL"
pass "install media served; testUrl / getVersion answer as prepare_host_upgrade.py does"

# ---- the coordinator through the installer ----
xc host.evacuate "$h1" >/dev/null
xc host.disable "$h1" >/dev/null
assert_eq '"true"' "$(xc host.call_plugin "$h1" prepare_host_upgrade.py main "$args")" "main"
assert_eq 8.4.0 "$(host_state rpu-1 prepared)" "main prepared the next boot"
xc host.reboot "$h1" >/dev/null
assert_eq true "$(host_state rpu-1 installing)" "the coordinator is in the installer"
wait_state rpu-2 emergency true 30
wait_state rpu-1 product_version 8.4.0 60
wait_state rpu-2 emergency false 60
sw=$(xc host.get_software_version "$h1")
assert_eq 3.4.0 "$(jq -r .platform_version <<<"$sw")" "platform_version after the upgrade"
assert_eq release/nile/master/112 "$(jq -r .build_number <<<"$sw")" "build_number after the upgrade"
pool=$(xc pool.get_all | jq -er '.[0]')
assert_eq true "$(xc pool.get_other_config "$pool" | jq -r .rolling_upgrade_in_progress)" \
    "rolling_upgrade_in_progress"
xc host.enable "$h1" >/dev/null
vm=$(xc VM.get_by_name_label app-1 | jq -er '.[0]')
h2=$(xc host.get_by_name_label rpu-2 | jq -er '.[0]')
xc VM.pool_migrate "$vm" "$h1" '{}' >/dev/null
if out=$(xc VM.pool_migrate "$vm" "$h2" '{}' 2>&1); then
    fail "migration onto an older host during the upgrade succeeded"
fi
assert_contains "$out" NOT_SUPPORTED_DURING_UPGRADE "migration onto an older host"
pass "the coordinator came back on 8.4.0 from the installer; rolling-upgrade mode refuses a downhill migration"

# ---- faults ----
post_ok fault '{"type":"install_url_unreachable","host":"rpu-2"}'
if out=$(xc host.call_plugin "$h2" prepare_host_upgrade.py main "$args" 2>&1); then
    fail "main with the URL unreachable succeeded"
fi
assert_contains "$out" INVALID_URL "main with the URL unreachable"
post_ok fault '{"type":"upgrade_fails","host":"rpu-3"}'
h3=$(xc host.get_by_name_label rpu-3 | jq -er '.[0]')
xc host.evacuate "$h3" >/dev/null
xc host.disable "$h3" >/dev/null
xc host.call_plugin "$h3" prepare_host_upgrade.py main "$args" >/dev/null
xc host.reboot "$h3" >/dev/null
wait_state rpu-3 stuck true 30
sleep 6 # two install times at this scale: it does not come back
assert_eq false "$(host_state rpu-3 reachable)" "a failed installer keeps the host away"
xc host.destroy "$h3" >/dev/null
assert_eq 3 "$(xc host.get_all | jq length)" "host-forget of the failed supporter"
pass "faults: install URL unreachable (INVALID_URL), a supporter's failed installer, then host-forget"

# ---- manual mode ----
post_ok upgrade '{"host":"rpu-4","outcome":"old_version"}'
wait_state rpu-4 installing true 10
wait_state rpu-4 installing false 60
assert_eq 8.2.1 "$(host_state rpu-4 product_version)" "came back on the old version"
out=$(post_sim upgrade '{"host":"rpu-9"}')
assert_contains "$out" 'upgrade.host: no host' "an unknown host is named"
post_ok upgrade '{"host":"solo-1","release":"8.4.0"}'
wait_state solo-1 product_version 8.4.0 60
sw=$("$POOLPATCH" xapi call --url "$solo" --password-file "$pw" host.get_all_records |
    jq -r '.[].software_version.product_version')
assert_eq 8.4.0 "$sw" "the standalone host over XAPI"
pass "manual mode: a host booted from the media comes back on the old or the new version"
