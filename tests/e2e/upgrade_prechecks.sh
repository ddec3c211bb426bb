#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/upgrade_prechecks.sh - the upgrade prechecks XenCenter runs that read the guests and
# the licence, through the real binaries over HTTP (scenarios/upgrade.json with a PV guest in
# pool `rpu` and the standalone host `solo-1` on the free edition), judged from the simulator:
#   1. a PV guest (VM.domain_type pv, no HVM_boot_policy; XenCenter's PVGuestsCheck): the plan
#      has the blocking upgrade_pv_guest naming it, the upgrade is refused and no host is
#      touched; once the guest is converted to HVM over XAPI the check is gone;
#   2. a host on the free edition (host.edition; XenCenter's Host.RestrictRpu): the plan has the
#      blocking upgrade_licence, the upgrade is refused and the host is not touched.
. "$(dirname "$0")/lib.sh"

jq '(.pools[] | select(.name == "rpu") | .vms) += [{"name": "pv-1", "memory_gib": 2,
        "host": "rpu-2", "domain_type": "pv", "tools": "8.2.1",
        "disks": [{"sr": "rpu-nfs", "size_gib": 10}]}] |
    (.pools[] | select(.name == "solo") | .hosts[0]) += {"edition": "free"}' \
    "$SRCDIR/scenarios/upgrade.json" >"$E2E_TMP/scenario.json"
start_sim "$E2E_TMP/scenario.json" --time-scale 200
start_serve
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add rpu --url "$(sim_master_url rpu)" --user root --password-file "$E2E_TMP/pw"
pp_ok pool add solo --url "$(sim_master_url solo)" --user root --password-file "$E2E_TMP/pw"
URL=$(sim_state | jq -r '.releases[] | select(.product_version == "8.4.0") | .url')
xc() { "$POOLPATCH" xapi call --url "$(sim_master_url rpu)" --password-file "$E2E_TMP/pw" "$@"; }

untouched() { # POOL: every host on 8.2.1, enabled, never rebooted
    sim_state | jq -r --arg p "$1" '.pools[] | select(.name == $p) | .hosts[] |
        select(.product_version != "8.2.1" or (.enabled | not) or .reboots > 0) | .name'
}

# ---- 1. a PV guest ----
assert_eq pv "$(xc VM.get_domain_type "$(xc VM.get_by_name_label pv-1 | jq -er '.[0]')" |
    jq -r .)" "the simulator's PV guest"
pp_ok upgrade rpu --to 8.4.0 --url "$URL" --plan --json
k=$(echo "$PP_OUT" | jq -c '[.pools[0].checks[] | select(.id == "upgrade_pv_guest")]')
assert_eq 1 "$(echo "$k" | jq length)" "upgrade_pv_guest checks: $k"
assert_eq blocking "$(echo "$k" | jq -r '.[0].severity')" "upgrade_pv_guest's severity"
assert_contains "$(echo "$k" | jq -r '.[0].message')" "pv-1" "the check names the guest"
pp_run upgrade rpu --to 8.4.0 --url "$URL" --yes
[ "$PP_RC" != 0 ] || fail "the upgrade of a pool with a PV guest started"
assert_contains "$PP_ERR" "pv-1 is a PV guest" "the refusal names the guest"
sleep 1
assert_eq "" "$(untouched rpu)" "hosts of rpu touched despite the PV guest"
vm=$(xc VM.get_by_name_label pv-1 | jq -er '.[0]')
xc VM.set_domain_type "$vm" hvm >/dev/null
assert_eq '"BIOS order"' "$(xc VM.get_HVM_boot_policy "$vm")" "HVM_boot_policy after set_domain_type"
i=0
until pp upgrade rpu --to 8.4.0 --url "$URL" --plan --json |
    jq -e '[.pools[0].checks[] | select(.id == "upgrade_pv_guest")] | length == 0' >/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the PV check stays after the guest was converted to HVM"
    sleep 0.1
done
pass "a PV guest blocks the upgrade (upgrade_pv_guest), no host touched; converted, the check is gone"

# ---- 2. the free edition ----
pp_ok upgrade solo --to 8.4.0 --url "$URL" --plan --json
k=$(echo "$PP_OUT" | jq -c '[.pools[0].checks[] | select(.id == "upgrade_licence")]')
assert_eq 1 "$(echo "$k" | jq length)" "upgrade_licence checks: $k"
assert_eq blocking "$(echo "$k" | jq -r '.[0].severity')" "upgrade_licence's severity"
assert_contains "$(echo "$k" | jq -r '.[0].message')" "free" "the check names the edition"
pp_run upgrade solo --to 8.4.0 --url "$URL" --yes
[ "$PP_RC" != 0 ] || fail "the upgrade of an unlicensed host started"
assert_contains "$PP_ERR" "not licensed for rolling pool upgrade" "the refusal says why"
sleep 1
assert_eq "" "$(untouched solo)" "solo-1 touched despite its licence"
pass "a host on the free edition blocks the upgrade (upgrade_licence), the host untouched"
