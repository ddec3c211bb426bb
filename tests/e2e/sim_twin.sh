#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sim_twin.sh - the rehearsal twin round trip: `poolpatch sim --from-pool URL` reads a pool (here
# demo.json's `prod`, served by the simulator, over HTTP through the XAPI client) and prints a
# scenario; a simulator started from that scenario must answer the same records: hosts (master,
# enabled, memory, free memory, versions, installed updates, resident VMs), VMs (power state,
# memory, vCPUs, placement, affinity, HA priority, disks, CD), SRs (shared / local, sizes), HA.
# The pool's password never appears in the twin.
. "$(dirname "$0")/lib.sh"

secret="Tw1n-secret-$$"
make_scenario "$E2E_TMP/orig.json" ".credentials.password = \"$secret\""
echo "$secret" >"$E2E_TMP/pw"
export SIM_PASSWORD="$secret"

# The facts compared, read from the pool named $1 over XAPI and /sim/state.
facts() {
    _u=$(sim_master_url "$1")
    _s=$(xapi_login "$_u") || fail "login on $1"
    _hosts=$(xapi_json "$_u" host.get_all_records "[\"$_s\"]" | jq -c '.result')
    _vms=$(xapi_json "$_u" VM.get_all_records "[\"$_s\"]" | jq -c '.result')
    _srs=$(xapi_json "$_u" SR.get_all_records "[\"$_s\"]" | jq -c '.result')
    _vbds=$(xapi_json "$_u" VBD.get_all_records "[\"$_s\"]" | jq -c '.result')
    _vdis=$(xapi_json "$_u" VDI.get_all_records "[\"$_s\"]" | jq -c '.result')
    _pool=$(xapi_json "$_u" pool.get_all_records "[\"$_s\"]" | jq -c '.result | to_entries[0].value')
    jq -n --argjson h "$_hosts" --argjson v "$_vms" --argjson s "$_srs" --argjson b "$_vbds" \
        --argjson d "$_vdis" --argjson p "$_pool" --argjson st "$(sim_state)" --arg pool "$1" '
      def hn(r): ($h[r].name_label // "");
      def srn(r): ($s[r].name_label // "");
      {ha: $p.ha_enabled, master: hn($p.master),
       hosts: ($st.pools[] | select(.name == $pool) | .hosts | map({name, master, enabled, live,
               product_version, build_number, updates, free_memory,
               resident_vms: (.resident_vms | sort)}) | sort_by(.name)),
       host_sw: ($h | map({name: .name_label, sw: .software_version, api: .API_version_minor})
                 | sort_by(.name)),
       vms: ($v | to_entries | map(.value) | map(select(.is_control_domain | not)) | map({
               name: .name_label, power_state, memory_static_max, memory_dynamic_max,
               VCPUs_max, host: hn(.resident_on), affinity: hn(.affinity),
               ha_restart_priority, blocked_operations,
               disks: ([.VBDs[] | $b[.] | select(.type == "Disk") | $d[.VDI] |
                        {sr: srn(.SR), virtual_size}] | sort_by(.sr)),
               cd: ([.VBDs[] | $b[.] | select(.type == "CD") |
                     if .empty then "empty" else $d[.VDI].name_label end])}) | sort_by(.name)),
       srs: ($s | to_entries | map(.value) | map({name: .name_label, type, shared,
               physical_size, physical_utilisation, content_type}) | sort_by(.name))}'
}

start_sim "$E2E_TMP/orig.json" --time-scale 60
url=$(sim_master_url prod)
"$POOLPATCH" sim --from-pool "$url" --user root --password-file "$E2E_TMP/pw" \
    >"$E2E_TMP/twin.json" 2>"$E2E_TMP/twin.err" || fail "twin: $(cat "$E2E_TMP/twin.err")"
assert_not_contains "$(cat "$E2E_TMP/twin.json")" "$secret" "the twin scenario"
[ "$(jq '.pools | length' "$E2E_TMP/twin.json")" = 1 ] || fail "the twin has one pool"
orig=$(facts prod)
[ "$(jq '.vms | length' <<<"$orig")" -ge 5 ] || fail "too few VMs read from the original"
kill "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
pass "the twin of prod was written without the pool's password"

export SIM_PASSWORD=xenroot
start_sim "$E2E_TMP/twin.json" --time-scale 60
twin=$(facts prod)
for part in ha master hosts host_sw vms srs; do
    a=$(jq -cS ".$part" <<<"$orig")
    b=$(jq -cS ".$part" <<<"$twin")
    [ "$a" = "$b" ] || fail "twin differs in $part:
original: $a
twin:     $b"
done
pass "the twin's records match the original's (hosts, memory, versions, updates, VMs, placement, SRs, HA)"

bad=$("$POOLPATCH" sim --from-pool "$url" --user root --password-file "$E2E_TMP/none" 2>&1) &&
    fail "a missing password file was accepted"
assert_contains "$bad" "--password-file $E2E_TMP/none" "error names the password file"
pass "a missing password file is refused by name"
