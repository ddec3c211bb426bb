#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/rollout_pci_vm.sh - a VM with a PCI passthrough device (it can be neither
# live-migrated nor suspended, issue 12 item 8) on a host that needs its reboot, through the real
# binaries over HTTP (`poolpatch apply` -> `poolpatch serve` -> `poolpatch sim`), judged from the
# simulator: the VM is shut down cleanly before its host goes down (never suspended, never
# migrated: seen Halted while the host has not rebooted yet), started again after the host came
# back (seen Halted after the reboot too), and ends Running exactly once on its own host; the
# host rebooted once; the rollout is done without findings and the plan asked for the consent.
. "$(dirname "$0")/lib.sh"

SCALE=120
VM=gpu-render
HOST=prod-3

# the pool prod of the demo fleet with one more VM: a PCI device passed through, on prod-3
make_scenario "$E2E_TMP/prod.json" '.pools |= map(select(.name == "prod")) |
    .pools[0].vms += [{"name": "gpu-render", "memory_gib": 4, "host": "prod-3",
                       "pci": "0000:3b:00.0", "disks": [{"sr": "prod-nfs", "size_gib": 20}]}]'
start_sim "$E2E_TMP/prod.json" --time-scale "$SCALE"
MASTER=$(sim_master_url prod)
start_serve
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add prod --url "$MASTER" --user root --password-file "$E2E_TMP/pw"
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check

s=$(xapi_login "$MASTER")
vm=$(xapi_json "$MASTER" VM.get_by_name_label "[\"$s\",\"$VM\"]" | jq -r '.result[0]')
[ -n "$vm" ] && [ "$vm" != null ] || fail "no VM $VM in the simulator"
power() { # the VM's power state; a new session each time (the master's reboot ends sessions)
    _s=$(xapi_login "$MASTER" 2>/dev/null) || return 0
    xapi_json "$MASTER" VM.get_power_state "[\"$_s\",\"$vm\"]" 2>/dev/null | jq -r .result
}
reboots() { sim_state | jq --arg h "$HOST" '.pools[0].hosts[] | select(.name == $h) | .reboots'; }
assert_eq Running "$(power)" "$VM before"
assert_eq 0 "$(reboots)" "$HOST reboots before"
migrations_before=$(sim_state | jq .counters.migrations)

# the plan names the VM and asks to shut it down (not suspend it) with the user's consent
api POST /api/v1/plans '{"pools":["prod"]}'
assert_eq 200 "$API_CODE" "the plan"
assert_contains "$API_BODY" "$VM" "the plan names the PCI VM"
assert_contains "$API_BODY" "shut it down cleanly" "the plan's fix for the PCI VM"

# the rollout (Resolve All consented with --yes), watched from the simulator while it runs
pp apply prod --automated --yes >"$E2E_TMP/apply.out" 2>&1 &
APPLY=$!
seen=""
for _ in $(seq 1 2400); do
    seen="$seen $(power)/$(reboots)"
    kill -0 "$APPLY" 2>/dev/null || break
    sleep 0.1
done
wait "$APPLY" || fail "apply exited non-zero: $(cat "$E2E_TMP/apply.out")"
id=$(pp rollouts --json | jq -r '.rollouts[0].id')
r=$(pp rollout "$id" --json)
assert_eq done "$(jq -r .state <<<"$r")" "rollout ($(jq -c .error <<<"$r"))"
assert_eq 0 "$(jq '.findings | length' <<<"$r")" "findings ($(jq -c .findings <<<"$r"))"

# judged from the simulator
case "$seen" in *Suspended*) fail "$VM was suspended (seen: $seen)" ;; esac
case "$seen" in *" Halted/0"*) ;; *) fail "$VM never seen shut down before $HOST's reboot (seen: $seen)" ;; esac
case "$seen" in *" Halted/1"*) ;; *) fail "$VM never seen shut down after $HOST's reboot (seen: $seen)" ;; esac
assert_eq Running "$(power)" "$VM after the rollout"
st=$(sim_state)
assert_eq 1 "$(jq --arg h "$HOST" '.pools[0].hosts[] | select(.name == $h) | .reboots' <<<"$st")" \
    "$HOST rebooted once"
assert_eq "$HOST" "$(jq -r --arg v "$VM" '[.pools[0].hosts[] | select(.resident_vms | index($v)) | .name] | join(" ")' <<<"$st")" \
    "$VM resident once, on $HOST"
# it never moved: the migrations are the other VMs' (none of them is this one)
moved=$(jq -r --arg v "$VM" '[.pools[].hosts[].vms[]? | select(.vm == $v)] | length' <<<"$r")
assert_eq 0 "$moved" "migrations of $VM in the rollout's host records"
[ "$(sim_state | jq .counters.migrations)" -ge "$migrations_before" ] || fail "migration counter"
assert_eq 4 "$(jq '[.pools[0].hosts[] | select(.enabled and .live)] | length' <<<"$st")" \
    "enabled live hosts"
pass "$VM (PCI) shut down before $HOST's reboot, started after it, running once on $HOST"
stop_serve
