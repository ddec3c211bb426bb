#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# file_install.sh - `poolpatch apply --file UPDATE.zip` (issue 12 item 4): the CLI streams the file
# to the daemon (POST /api/v1/files), which identifies the update from the update.xml inside the
# image and plans exactly that update for the hosts that need it, uploaded once and introduced
# once.  Files that are not a valid update, hold an update no host needs or one for another
# version, or are over the size limit are refused before anything touches the pool: judged from
# the simulator's state (no host disabled, HA unchanged, no image VDI, no upload, nothing applied).
. "$(dirname "$0")/lib.sh"

# prod (8.2.1): XS82ECU1001 on every host, XS82ECU1002 on prod-1 and prod-2 only
jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" "$SRCDIR/scenarios/demo.json" >"$E2E_TMP/legacy.json"
start_sim "$E2E_TMP/legacy.json" --base-address 127.0.31.10 --time-scale 600
FS=$(sim_fileservice_url)
mkdir -p "$E2E_TMP/drop"
printf 'max_upload = 4194304\nupdate_file_dir = %s\n' "$E2E_TMP/drop" >"$E2E_TMP/serve.conf"
start_serve --config "$E2E_TMP/serve.conf"
echo xenroot >"$E2E_TMP/pw"
pp_ok pool add prod --url "$(sim_master_url prod)" --user root --password-file "$E2E_TMP/pw"
pp_ok updates check

# the vendor's zips, fetched as XenCenter does (client ID -> token -> download)
tok=$(curl -sS --max-time 20 -X POST -u demo@example.com:demo-apikey-0001 "$FS/api/session/token")
t=$(jq -er .token <<<"$tok") && sid=$(jq -er .session_id <<<"$tok") || fail "token: $tok"
for u in XS82ECU1001 XS82ECU1002 XS84E001; do
    curl -sS --max-time 20 -f -u "demo@example.com_$sid:$t" -o "$E2E_TMP/$u.zip" \
        "$FS/direct/v2/download/$u.zip" || fail "download of $u.zip"
done

# the pool as it is before anything: every refusal below must leave it exactly so
calm() { # what must not change: hosts enabled, HA, updates applied, images, counters
    sim_state | jq -c '{ha: [.pools[] | .ha_enabled],
        hosts: [.pools[].hosts[] | {name, enabled, updates, reboots, toolstack_restarts}],
        images: [.pools[] | .update_images], pool_updates: [.pools[] | .pool_updates],
        c: (.counters | {uploads, introduces, applies, migrations, reboots, toolstack_restarts})}'
}
before=$(calm)
assert_eq "[true,false,false]" "$(jq -c .ha <<<"$before")" "HA before (prod on)"

refused() { # WHAT NEEDLE: the last pp_run was refused with NEEDLE and nothing changed
    [ "$PP_RC" != 0 ] || fail "$1: exited 0: $PP_OUT"
    assert_contains "$PP_ERR" "$2" "$1: the error"
    assert_eq "$before" "$(calm)" "$1: the pool after the refusal"
    assert_eq 0 "$(pp rollouts --json | jq '.rollouts | length')" "$1: rollouts started"
    assert_eq 0 "$(pp_files | jq ".files | length")" "$1: files kept by the daemon ($PP_ERR)"
}
pp_files() { pp_run_quiet; }
pp_run_quiet() {
    curl -sS --max-time 20 -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" "$SERVE_URL/api/v1/files"
}

# ---- 1. an update no host needs: XS82ECU1001 is applied everywhere
pp_run apply prod --file "$E2E_TMP/XS82ECU1001.zip" --yes --no-follow
refused "update applied everywhere" "XS82ECU1001.zip: not installed: no host needs update XS82ECU1001"
assert_contains "$PP_ERR" "already applied on every host of pool prod" "the reason"
pass "an update applied on every host is refused, naming the file and why"

# ---- 2. the wrong file: a XenServer 8 update (8.4.0) for an 8.2.1 pool, under a 8.2.1 name
cp "$E2E_TMP/XS84E001.zip" "$E2E_TMP/XS82ECU1004.zip"
pp_run apply prod --file "$E2E_TMP/XS82ECU1004.zip" --yes --no-follow
refused "the wrong file" "XS82ECU1004.zip: not installed: no host needs update XS84E001"
assert_contains "$PP_ERR" "not an update for version 8.2.1" "the reason"
pass "a file holding another version's update is identified as what it is and refused"

# ---- 3. not a zip, not an update image
head -c 70000 /dev/urandom >"$E2E_TMP/notes.zip"
pp_run apply prod --file "$E2E_TMP/notes.zip" --yes --no-follow
refused "not a zip" "notes.zip: not a valid update"
printf '<?xml version="1.0"?>\n<patch uuid="1"/>\n' >"$E2E_TMP/meta.iso"
(cd "$E2E_TMP" && python3 -c "
import zipfile; z = zipfile.ZipFile('badmeta.zip', 'w'); z.write('meta.iso'); z.close()")
pp_run apply prod --file "$E2E_TMP/badmeta.zip" --yes --no-follow
refused "wrong metadata" "badmeta.zip: not a valid update: update.xml: the root element is <patch>"
pass "a non-zip and a zip with wrong metadata are refused as not valid updates"

# ---- 4. over the size limit (max_upload = 4 MiB): the CLI says so, the daemon answers 413
head -c 5000000 /dev/zero >"$E2E_TMP/huge.zip"
pp_run apply prod --file "$E2E_TMP/huge.zip" --yes --no-follow
refused "oversized" "over the daemon's limit of 4194304 bytes (setting max_upload)"
code=$(curl -sS --max-time 30 -o "$E2E_TMP/413.json" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$E2E_TMP/huge.zip" "$SERVE_URL/api/v1/files?name=huge.zip")
assert_eq 413 "$code" "POST /files over the limit: $(cat "$E2E_TMP/413.json")"
assert_contains "$(cat "$E2E_TMP/413.json")" "4194304" "the 413 names the limit"
code=$(curl -sS --max-time 30 -o "$E2E_TMP/413.json" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" -H 'Content-Type: application/octet-stream' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$E2E_TMP/huge.zip" \
    "$SERVE_URL/api/v1/files?name=huge.zip")
assert_eq 413 "$code" "chunked POST /files over the limit: $(cat "$E2E_TMP/413.json")"
assert_eq "$before" "$(calm)" "the pool after the oversized uploads"
assert_eq "" "$(find "$SERVE_DIR/files" -type f 2>/dev/null)" "bytes left in the state directory"
pass "an oversized file is refused with 413 naming the limit, nothing kept"

# ---- 5. the configured directory: a plain name only, never a path
cp "$E2E_TMP/XS82ECU1002.zip" "$E2E_TMP/drop/"
api POST /api/v1/files '{"name": "../legacy.json"}'
assert_eq 400 "$API_CODE" "a path instead of a name: $API_BODY"
api POST /api/v1/files '{"name": "/etc/passwd"}'
assert_eq 400 "$API_CODE" "an absolute path: $API_BODY"
ln -s /etc/passwd "$E2E_TMP/drop/passwd.zip"
api POST /api/v1/files '{"name": "passwd.zip"}'
assert_eq 400 "$API_CODE" "a symbolic link out of the directory: $API_BODY"
api POST /api/v1/files '{"name": "XS82ECU1002.zip"}'
assert_eq 201 "$API_CODE" "a file of the directory by name: $API_BODY"
assert_eq 9d1a7d9e-2b9b-4f0f-a3a4-6e1d5b0c4b12 "$(jq -r .update.uuid <<<"$API_BODY")" \
    "the update identified from the file"
id=$(jq -r .id <<<"$API_BODY")
api DELETE "/api/v1/files/$id"
assert_eq 204 "$API_CODE" "DELETE /files/{id}"
assert_eq 0 "$(pp_files | jq '.files | length')" "files after the delete"
pass "files are taken by plain name from update_file_dir only"

# ---- 6. the real thing: XS82ECU1003 (requires XS82ECU1001, applied everywhere) is new to prod;
# the automated set would also bring XS82ECU1002 to prod-3/4 and XS82ECU1004: neither may happen
for u in XS82ECU1003; do
    curl -sS --max-time 20 -f -u "demo@example.com_$sid:$t" -o "$E2E_TMP/$u.zip" \
        "$FS/direct/v2/download/$u.zip" || fail "download of $u.zip"
done
pp_ok plan prod --file "$E2E_TMP/XS82ECU1003.zip" --json
assert_eq '["c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03"]' \
    "$(jq -c '[.pools[0].hosts[].updates[]?] | unique' <<<"$PP_OUT")" "the only update planned"
assert_eq 4 "$(jq '[.pools[0].hosts[] | select((.updates // []) | length > 0)] | length' \
    <<<"$PP_OUT")" "hosts the plan updates"
assert_eq 0 "$(pp_files | jq '.files | length')" "a plan leaves no file behind"
pp_ok apply prod --file "$E2E_TMP/XS82ECU1003.zip" --yes
assert_contains "$PP_OUT" "holds update XS82ECU1003 (c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03)" \
    "the CLI says what the file holds"
after=$(sim_state)
for h in prod-1 prod-2; do
    assert_eq "XS82ECU1001 XS82ECU1002 XS82ECU1003" \
        "$(sim_host_updates prod $h | tr '\n' ' ' | sed 's/ $//')" "updates on $h"
done
for h in prod-3 prod-4; do
    assert_eq "XS82ECU1001 XS82ECU1003" "$(sim_host_updates prod $h | tr '\n' ' ' | sed 's/ $//')" \
        "updates on $h (XS82ECU1002 not brought along)"
done
assert_eq 1 "$(jq .counters.uploads <<<"$after")" "uploads (once for the pool)"
assert_eq 1 "$(jq .counters.introduces <<<"$after")" "pool_update.introduce calls"
assert_eq 4 "$(jq .counters.applies <<<"$after")" "applies (one per host)"
assert_eq 0 "$(jq '.pools[] | select(.name == "prod") | .update_images' <<<"$after")" \
    "update image VDIs left on the SR"
assert_eq true "$(jq '.pools[] | select(.name == "prod") | .ha_enabled' <<<"$after")" "HA after"
assert_eq "[]" "$(jq -c '[.pools[].hosts[] | select(.enabled | not) | .name]' <<<"$after")" \
    "hosts left disabled"
r=$(pp rollouts --json | jq -r '.rollouts[0].id')
assert_eq done "$(pp rollout "$r" --json | jq -r .state)" "the rollout's state"
pass "exactly the file's update applied on the hosts that needed it, uploaded and introduced once"

# ---- 7. an update the pool already knows (XS82ECU1002, on prod-1/2): only prod-3/4, no upload
pp_ok apply prod --file "$E2E_TMP/XS82ECU1002.zip" --yes
after=$(sim_state)
for h in prod-3 prod-4; do
    assert_eq "XS82ECU1001 XS82ECU1002 XS82ECU1003" \
        "$(sim_host_updates prod $h | tr '\n' ' ' | sed 's/ $//')" "updates on $h"
done
assert_eq 6 "$(jq .counters.applies <<<"$after")" "applies (prod-3 and prod-4 only)"
assert_eq 1 "$(jq .counters.uploads <<<"$after")" "uploads (the pool had the update already)"
pass "an update the pool already holds is applied to the hosts that lack it, without an upload"

stop_serve
