#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# updates_dismiss.sh - `poolpatch updates dismiss ID... | --all` and `updates restore` against the
# simulated demo fleet: dismissals are written where XenCenter keeps them (the pool's other_config
# XenCenter.IgnorePatches / XenCenter.LastSeenServerVersion, read back over XAPI), the views hide
# them at once and count them, a dismissal written by another tool shows up here, restore removes
# the keys and brings the updates back; unknown ids and bad usage are refused.
. "$(dirname "$0")/lib.sh"

# lab on legacy hotfixes (XS84E001/E002), as before demo.json made it a XenServer 8 pool
jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" "$SRCDIR/scenarios/demo.json" >"$E2E_TMP/legacy.json"
start_sim "$E2E_TMP/legacy.json" --base-address 127.0.24.10 --time-scale 600
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok updates check
pp_ok updates --json
ALL=$(jq -c '[.updates[].name]' <<<"$PP_OUT")
assert_eq 7 "$(jq length <<<"$ALL")" "updates before dismissing"
uuid() { pp updates --json | jq -r --arg n "$1" '.updates[] | select(.name == $n) | .id'; }
U1004=7e4d2c19-8a3b-4f6e-b1d0-2c9e8f7a6b04
U1002=9d1a7d9e-2b9b-4f0f-a3a4-6e1d5b0c4b12
U1005=a5f0b3d2-1c7e-4a9b-8d6f-3e2b1a0c9d05
U84E001=e1c3a5b7-9d2f-4e6a-8c0b-4d6f8a0c2e06
assert_eq "$U1004" "$(uuid XS82ECU1004)" "XS82ECU1004's id"
ignore_list() { # POOL -> the uuids of XenCenter.IgnorePatches, sorted, comma-joined
    sim_pool_other_config "$1" | jq -r '(.["XenCenter.IgnorePatches"] // "") | split(",") |
        map(select(. != "")) | sort | join(",")'
}
has_key() { sim_pool_other_config "$1" | jq --arg k "$2" 'has($k)'; }
names() { pp updates --json | jq -c '[.updates[].name]'; }
assert_eq false "$(has_key prod XenCenter.IgnorePatches)" "prod's other_config before"

# -- dismiss one update: stored in the pool's other_config, hidden at once, counted
pp_ok updates dismiss "$U1004"
assert_contains "$PP_OUT" "restore" "dismiss says how to bring them back"
pp_ok updates --json
assert_eq '["XenServer 8","XS82ECU1005","XS84E002","XS84E001","XS82ECU1003","XS82ECU1002"]' \
    "$(jq -c '[.updates[].name]' <<<"$PP_OUT")" "view right after dismissing XS82ECU1004"
assert_eq 1 "$(jq .dismissed <<<"$PP_OUT")" "dismissed count"
assert_eq "$U1004" "$(ignore_list prod)" "prod's XenCenter.IgnorePatches"
pp_ok updates
assert_not_contains "$PP_OUT" "XS82ECU1004" "By Update table after dismiss"
pass "dismiss ID: written to other_config, hidden at once"

# -- dismiss two more at once, in two pools; earlier dismissals are kept
pp_ok updates dismiss "$U1002" "$U84E001"
assert_eq '["XenServer 8","XS82ECU1005","XS84E002","XS82ECU1003"]' "$(names)" \
    "view right after dismissing two more"
assert_eq "$(printf '%s\n' "$U1004" "$U1002" | sort | paste -sd,)" \
    "$(ignore_list prod | tr , '\n' | grep -E "$U1004|$U1002" | paste -sd,)" \
    "prod keeps both dismissals"
case ",$(ignore_list lab)," in
    *",$U84E001,"*) ;;
    *) fail "lab's IgnorePatches: $(ignore_list lab)" ;;
esac
pass "dismiss ID ID: both pools, list grows"

# -- a dismissal written by another tool (XenCenter) shows here too
cur=$(sim_pool_other_config prod | jq -r '.["XenCenter.IgnorePatches"]')
sim_pool_set_other_config prod XenCenter.IgnorePatches "$cur,$U1005"
i=0
until [ "$(names)" = '["XenServer 8","XS84E002","XS82ECU1003"]' ]; do
    [ $i -lt 100 ] || fail "XenCenter's dismissal of XS82ECU1005 not seen: $(names)"
    sleep 0.1
    i=$((i + 1))
done
pass "a dismissal made in XenCenter shows in poolpatch"

# -- restore: keys removed, everything back at once
pp_ok updates restore
assert_eq "$ALL" "$(names)" "view right after restore"
assert_eq 0 "$(pp updates --json | jq .dismissed)" "dismissed count after restore"
for p in prod lab; do
    assert_eq false "$(has_key "$p" XenCenter.IgnorePatches)" "$p's IgnorePatches after restore"
    assert_eq false "$(has_key "$p" XenCenter.LastSeenServerVersion)" "$p's versions after restore"
done
pass "restore: keys gone, updates back"

# -- dismiss --all: hotfixes and the new release (XenCenter.LastSeenServerVersion)
pp_ok updates dismiss --all
assert_eq '[]' "$(names)" "view right after dismiss --all"
assert_eq 7 "$(pp updates --json | jq .dismissed)" "dismissed count after --all"
assert_eq "$(printf '%s\n' "$U1002" c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03 "$U1004" "$U1005" | sort |
    paste -sd,)" "$(ignore_list prod | tr , '\n' | grep -E '^(9d1a|c2b8|7e4d|a5f0)' | sort |
    paste -sd,)" "prod's hotfixes dismissed"
assert_contains "$(sim_pool_other_config prod | jq -r '.["XenCenter.LastSeenServerVersion"]')" \
    "8.4.0" "the new release dismissed on prod"
pp_ok updates --by-update
assert_not_contains "$PP_OUT" "XS8" "By Update table after --all"
pp_ok updates restore
assert_eq "$ALL" "$(names)" "view after the second restore"
for p in prod lab; do
    assert_eq "{}" "$(sim_pool_other_config "$p" | jq -c 'with_entries(select(.key |
        startswith("XenCenter.")))')" "$p's XenCenter keys after the second restore"
done
pass "dismiss --all and restore"

# -- refused: bad usage, unknown ids
pp_fails 2 updates dismiss
pp_fails 2 updates dismiss "$U1004" --all
pp_fails 2 updates restore extra
pp_fails 1 updates dismiss no-such-update
assert_contains "$PP_ERR" "no-such-update" "dismissing an unknown id names it"
assert_eq false "$(has_key prod XenCenter.IgnorePatches)" "nothing stored for an unknown id"
assert_eq "$ALL" "$(names)" "view after refused dismissals"
pass "bad dismissals refused"

# -- names work as ids; a new release row is dismissed by its version
pp_ok updates dismiss XS82ECU1003 8.4.0
assert_eq '["XS82ECU1005","XS84E002","XS82ECU1004","XS84E001","XS82ECU1002"]' "$(names)" \
    "view after dismissing XS82ECU1003 by name and the release by version"
case ",$(ignore_list prod)," in
    *,c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03,*) ;;
    *) fail "a name must be stored as its uuid: $(ignore_list prod)" ;;
esac
assert_eq 8.4.0 "$(sim_pool_other_config prod | jq -r '.["XenCenter.LastSeenServerVersion"]')" \
    "prod's XenCenter.LastSeenServerVersion"
pp_ok updates restore
assert_eq "$ALL" "$(names)" "view after the last restore"
pass "dismiss by name and by version"

# the daemon stops cleanly (exit 0; sanitizer builds: no leaks)
stop_serve
