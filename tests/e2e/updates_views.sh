#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# updates_views.sh - `poolpatch updates` views against the simulated demo fleet and its vendor
# catalog: By Update (default, --by-update) and By Server, --sort date|pool, --json, the tables,
# --export-csv FILE / - checked byte for byte (BOM, header, quoting with a description holding
# quotes and commas, CR LF, local-time TimeStamp) and row for row against the JSON view, the
# REST export's bytes, and `updates web-page ID`.  Every row is cross-checked with what the
# simulator's hosts really have installed (GET /sim/state).
. "$(dirname "$0")/lib.sh"

# a description with quotes and commas, to see the CSV quoting
# (lab on legacy hotfixes XS84E001/E002: tests/e2e/legacy_lab.jq)
jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" "$SRCDIR/scenarios/demo.json" |
    jq '.vendor.patches |= map(if .name_label == "XS84E001"
    then .description = "Toolstack fixes: \"quoted\" words, commas, and more" else . end)' \
    >"$E2E_TMP/scen.json" || fail "building the scenario"
start_sim "$E2E_TMP/scen.json" --base-address 127.0.23.10 --time-scale 600
FS=$(sim_fileservice_url)
# the CSV's TimeStamp is the daemon's local time: a zone with a half-hour offset and no DST
export TZ=Asia/Kolkata
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok updates check
STATE=$(sim_state)
installed() { # POOL HOST -> names joined with ","
    jq -r --arg p "$1" --arg h "$2" \
        '[.pools[] | select(.name == $p) | .hosts[] | select(.name == $h) | .updates[]] | sort |
         join(",")' <<<"$STATE"
}

# -- By Update as JSON
pp_ok updates --json
BU="$PP_OUT"
echo "$BU" >"$E2E_TMP/by-update.json"
assert_eq by-update "$(jq -r .view <<<"$BU")" "default view"
assert_eq date "$(jq -r .sort <<<"$BU")" "default sort"
pp_ok updates --by-update --json
assert_eq "$(jq -c .updates <<<"$BU")" "$(jq -c .updates <<<"$PP_OUT")" "--by-update = default"
row() { jq -c --arg n "$1" '.updates[] | select(.name == $n)' <<<"$BU"; }
servers() { jq -r '[.servers[] | .pool + "/" + .server] | join(",")' <<<"$1"; }
r=$(row XS84E001)
assert_eq hotfix "$(jq -r .kind <<<"$r")" "XS84E001 kind"
assert_eq e1c3a5b7-9d2f-4e6a-8c0b-4d6f8a0c2e06 "$(jq -r .id <<<"$r")" "XS84E001 id (its uuid)"
assert_eq 2026-08-01T00:00:00Z "$(jq -r .date <<<"$r")" "XS84E001 date"
assert_eq '["restartXAPI"]' "$(jq -c .guidance <<<"$r")" "XS84E001 guidance"
assert_eq "false false" "$(jq -r '"\(.livepatch) \(.restricted)"' <<<"$r")" "XS84E001 flags"
assert_eq "lab/lab-1,lab/lab-2" "$(servers "$r")" "XS84E001 servers"
assert_eq "$FS/kb/XS84E001" "$(jq -r .url <<<"$r")" "XS84E001 web page from the catalog"
assert_eq true "$(row XS84E002 | jq .livepatch)" "XS84E002 carries a live patch"
assert_eq true "$(row XS82ECU1005 | jq .restricted)" "XS82ECU1005 needs a support contract"
# requires XS82ECU1002, which only prod-1 and prod-2 have
assert_eq "prod/prod-1,prod/prod-2" "$(servers "$(row XS82ECU1004)")" "XS82ECU1004 servers"
assert_eq "prod/prod-3,prod/prod-4" "$(servers "$(row XS82ECU1002)")" "XS82ECU1002 servers"
assert_eq "" "$(row XS82ECU1001)" "XS82ECU1001 is applied everywhere: no row"
r=$(jq -c '.updates[0]' <<<"$BU")
assert_eq "release XenServer 8 prod" \
    "$(jq -r '"\(.kind) \(.name) \(.pools | join(","))"' <<<"$r")" \
    "new release first"
# no hotfix row names a host that already has the update (the simulator's truth)
jq -r '.updates[] | select(.kind == "hotfix") | .name as $n | .servers[] |
    "\($n) \(.pool) \(.server)"' <<<"$BU" >"$E2E_TMP/pairs"
[ -s "$E2E_TMP/pairs" ] || fail "no hotfix rows"
while read -r n p h; do
    case ",$(installed "$p" "$h")," in
        *",$n,"*) fail "$n offered to $p/$h, which has it installed" ;;
    esac
done <"$E2E_TMP/pairs"
# date order: releases and cumulative updates on top, then newest first
jq -e '[.updates[] | select(.kind == "hotfix") | .date] as $d | $d == ($d | sort | reverse)' \
    <<<"$BU" >/dev/null || fail "By Update not newest first: $(jq -c '[.updates[].date]' <<<"$BU")"
jq -e '[.updates[].kind] | (map(. != "hotfix") | index(false)) as $f |
    .[$f:] | all(. == "hotfix")' <<<"$BU" >/dev/null ||
    fail "releases not on top: $(jq -c '[.updates[].kind]' <<<"$BU")"
pass "By Update JSON matches the catalog and the pools"

# -- --sort pool
pp_ok updates --sort pool --json
assert_eq pool "$(jq -r .sort <<<"$PP_OUT")" "--sort pool"
assert_eq "$(jq '.updates | length' <<<"$BU")" "$(jq '.updates | length' <<<"$PP_OUT")" \
    "same rows sorted by pool"
assert_eq release "$(jq -r '.updates[0].kind' <<<"$PP_OUT")" "release on top by pool too"
jq -e '[.updates[] | select(.kind == "hotfix") | .pools[0]] as $p | $p == ($p | sort)' \
    <<<"$PP_OUT" >/dev/null || fail "not sorted by pool: $(jq -c '[.updates[].pools]' <<<"$PP_OUT")"
assert_eq lab "$(jq -r '[.updates[] | select(.kind == "hotfix")][0].pools[0]' <<<"$PP_OUT")" \
    "lab's updates first by pool"
pp_ok updates --sort pool
first=$(sed -n 2p <<<"$PP_OUT")
assert_contains "$first" "XenServer 8" "table by pool: release first"
third=$(sed -n 3p <<<"$PP_OUT")
assert_contains "$third" "lab/lab-1" "table by pool: then lab"
pp_fails 2 updates --sort size
pass "--sort pool"

# -- the By Update table
pp_ok updates
hdr=$(sed -n 1p <<<"$PP_OUT")
for c in UPDATE KIND DATE "APPLIES TO"; do assert_contains "$hdr" "$c" "By Update header"; done
line=$(grep '^XS84E001 ' <<<"$PP_OUT") || fail "no XS84E001 line: $PP_OUT"
for w in hotfix 2026-08-01 restartXAPI "lab/lab-1, lab/lab-2"; do
    assert_contains "$line" "$w" "XS84E001 line"
done
assert_contains "$(grep '^XS82ECU1005' <<<"$PP_OUT")" "support contract" "restricted update marked"
assert_eq "$(jq '.updates | length' <<<"$BU")" "$(($(wc -l <<<"$PP_OUT") - 2 -
    $(jq '[.updates[] | select(.upgrade)] | length' <<<"$BU")))" \
    "one table line per update (+ header, checking line, and a 'To install' line per new release)"
assert_contains "$PP_OUT" "To install XenServer 8: poolpatch upgrade" "the new release's command"
pass "By Update table"

# -- By Server, JSON and table, against the hosts' real updates
pp_ok updates --by-server --json
BS="$PP_OUT"
echo "$BS" >"$E2E_TMP/by-server.json"
assert_eq by-server "$(jq -r .view <<<"$BS")" "--by-server view"
jq -r '.servers[] | select(.is_pool | not) | "\(.pool) \(.server)"' <<<"$BS" >"$E2E_TMP/hosts"
assert_eq "lab lab-1,lab lab-2,prod prod-1,prod prod-2,prod prod-3,prod prod-4" \
    "$(paste -sd, "$E2E_TMP/hosts")" "By Server hosts in pool order"
while read -r p h; do
    s=$(jq -c --arg p "$p" --arg h "$h" '.servers[] | select(.pool == $p and .server == $h)' \
        <<<"$BS")
    assert_eq "$(installed "$p" "$h")" "$(jq -r '[.installed[].name] | sort | join(",")' <<<"$s")" \
        "installed updates of $p/$h"
    want_v=$(jq -r --arg p "$p" --arg h "$h" \
        '.pools[] | select(.name == $p) | .hosts[] | select(.name == $h) | .product_version' \
        <<<"$STATE")
    assert_eq "$want_v" "$(jq -r .version <<<"$s")" "version of $p/$h"
    want="Up to date"
    [ "$(jq '.required | length' <<<"$s")" = 0 ] || want="Out of date"
    assert_eq "$want" "$(jq -r .status <<<"$s")" "status of $p/$h"
done <"$E2E_TMP/hosts"
assert_eq "XS82ECU1002,XS82ECU1003,XS82ECU1004,XS82ECU1005" \
    "$(jq -r '.servers[] | select(.server == "prod-3") | [.required[].name] | sort | join(",")' \
        <<<"$BS")" "prod-3 required"
assert_eq "XS82ECU1003,XS82ECU1004,XS82ECU1005" \
    "$(jq -r '.servers[] | select(.server == "prod-1") | [.required[].name] | sort | join(",")' \
        <<<"$BS")" "prod-1 required"
pp_ok updates --by-server
line=$(grep -E '^prod +prod-3 ' <<<"$PP_OUT") || fail "no prod-3 line: $PP_OUT"
for w in 8.2.1 "Out of date" "XS82ECU1002, XS82ECU1003, XS82ECU1004, XS82ECU1005" XS82ECU1001; do
    assert_contains "$line" "$w" "By Server prod-3 line"
done
pass "By Server JSON and table match the pools"

# -- CSV export: bytes and rows
pp_ok updates --export-csv "$E2E_TMP/by-update.csv"
assert_contains "$PP_ERR" "by-update.csv" "export says where it wrote"
python3 "$SRCDIR/tests/e2e/csv_check.py" by-update "$E2E_TMP/by-update.csv" \
    "$E2E_TMP/by-update.json" "$TZ" || fail "By Update CSV"
grep -q '""quoted"" words, commas' "$E2E_TMP/by-update.csv" || fail "quotes not doubled in the CSV"
grep -q '"Aug 1, 2026 5:30 AM"' "$E2E_TMP/by-update.csv" ||
    fail "XS84E001's TimeStamp is not local time (UTC+5:30)"
pp_ok updates --by-server --export-csv "$E2E_TMP/by-server.csv"
python3 "$SRCDIR/tests/e2e/csv_check.py" by-server "$E2E_TMP/by-server.csv" \
    "$E2E_TMP/by-server.json" "$TZ" || fail "By Server CSV"
pp updates --by-server --export-csv - >"$E2E_TMP/stdout.csv"
cmp -s "$E2E_TMP/stdout.csv" "$E2E_TMP/by-server.csv" || fail "--export-csv - differs from the file"
curl -sS --max-time 30 -D "$E2E_TMP/h" -o "$E2E_TMP/rest.csv" \
    -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" \
    "$SERVE_URL/api/v1/updates/export.csv?view=by-update"
cmp -s "$E2E_TMP/rest.csv" "$E2E_TMP/by-update.csv" ||
    fail "REST export differs from the CLI's file"
grep -qi '^Content-Disposition: attachment; filename="updates-by-update.csv"' "$E2E_TMP/h" ||
    fail "Content-Disposition: $(cat "$E2E_TMP/h")"
pass "CSV export: BOM, header, quoting, CR LF, local time, rows = JSON view"

# -- web-page ID
pp_ok updates web-page e1c3a5b7-9d2f-4e6a-8c0b-4d6f8a0c2e06
assert_eq "$FS/kb/XS84E001" "$PP_OUT" "web-page by id"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 "$PP_OUT")
assert_eq 200 "$code" "the web page is served by the file service"
pp_ok updates web-page XS82ECU1004
assert_eq "$(jq -r '.updates[] | select(.name == "XS82ECU1004") | .url' <<<"$BU")" "$PP_OUT" \
    "web-page by name"
pp_fails 1 updates web-page 00000000-0000-0000-0000-000000000000
assert_contains "$PP_ERR" "00000000-0000-0000-0000-000000000000" "web-page of an unknown id"
pp_fails 2 updates web-page
pass "updates web-page"

# -- local time follows the date's own offset (DST), as .NET's ToLocalTime does
stop_serve
export TZ=Europe/Berlin
start_serve
pp_ok updates --json
echo "$PP_OUT" >"$E2E_TMP/by-update.json"
pp_ok updates --export-csv "$E2E_TMP/by-update-berlin.csv"
grep -q '"Aug 1, 2026 2:00 AM"' "$E2E_TMP/by-update-berlin.csv" ||
    fail "XS84E001 (2026-08-01T00:00Z) in Europe/Berlin summer time should be 2:00 AM:" \
        "$(grep -a XS84E001 "$E2E_TMP/by-update-berlin.csv")"
python3 "$SRCDIR/tests/e2e/csv_check.py" by-update "$E2E_TMP/by-update-berlin.csv" \
    "$E2E_TMP/by-update.json" "$TZ" || fail "By Update CSV in Europe/Berlin"
pass "CSV TimeStamp with daylight saving time"

# the daemon stops cleanly (exit 0; sanitizer builds: no leaks)
stop_serve
