#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# security_secrets.sh - issue 13 finding 5: pool passwords, the vendor API key and the download
# token are not in the database file's bytes (nor its WAL); they are sealed with a key kept in a
# separate 0600 file; `serve --rotate-key` re-seals them with a new key and the daemon still logs
# in to the pools and downloads afterwards (read from the simulator); the log file is 0600.
. "$(dirname "$0")/lib.sh"

PW="pw-sec-$RANDOM-Qw83Ld"
KEY="apikey-sec-$RANDOM-Zm19"
jq --arg pw "$PW" --arg key "$KEY" '.credentials.password = $pw |
    .vendor.client_ids[0].apikey = $key' "$SRCDIR/scenarios/demo.json" |
    jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" >"$E2E_TMP/scen.json"
export SIM_PASSWORD="$PW"
start_sim "$E2E_TMP/scen.json" --base-address 127.0.41.10 --time-scale 1200
printf 'log_file = %s\n' "$E2E_TMP/serve-file.log" >"$E2E_TMP/serve.conf"
start_serve --config "$E2E_TMP/serve.conf"
printf '%s\n' "$PW" >"$E2E_TMP/pw"
printf '{"username": "demo@example.com", "apikey": "%s"}\n' "$KEY" >"$E2E_TMP/client-id.json"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok client-id import "$E2E_TMP/client-id.json"
pp_ok updates check
pp_ok updates download XS84E001 --json
assert_eq false "$(jq '.downloads[0].cached' <<<"$PP_OUT")" "first download (token requested)"
DB="$SERVE_DIR/pp.db"

db_query() { # SQL: one value per line
    python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True)
for r in c.execute(sys.argv[2]): print(r[0])' "$DB" "$1"
}
check_sealed() { # WHEN
    for f in "$DB" "$DB-wal"; do
        [ -f "$f" ] || continue
        for secret in "$PW" "$KEY"; do
            if grep -aq -- "$secret" "$f"; then fail "$1: a secret is in the bytes of $f"; fi
        done
    done
    tok=$(db_query "SELECT token FROM client_id")
    sess=$(db_query "SELECT session_id FROM client_id")
    assert_contains "$tok" "ppenc1:" "$1: the cached token is sealed"
    assert_contains "$sess" "ppenc1:" "$1: the token's session id is sealed"
    for pw in $(db_query "SELECT password FROM pools"); do
        assert_contains "$pw" "ppenc1:" "$1: a pool password is sealed"
    done
    assert_contains "$(db_query "SELECT apikey FROM client_id")" "ppenc1:" "$1: the API key"
    assert_eq 600 "$(stat -c %a "$DB.key")" "$1: the key file's mode"
}
check_sealed "after pool add, client-id import and a download"
assert_eq 600 "$(stat -c %a "$E2E_TMP/serve-file.log")" "the log file's mode"
grep -q "pool add\|POST /api/v1/pools" "$E2E_TMP/serve-file.log" || fail "the log file is not written"
pass "secrets sealed in the database; key file and log file 0600"

# -- a copy of the database without its key yields nothing: wrong key, clear error
stop_serve
old_key=$(sha256sum <"$DB.key")
old_tok=$(db_query "SELECT token FROM client_id")
"$POOLPATCH" serve --db "$DB" --token-file "$SERVE_TOKEN" --rotate-key 2>"$E2E_TMP/rotate.err" ||
    fail "serve --rotate-key failed: $(cat "$E2E_TMP/rotate.err")"
assert_contains "$(cat "$E2E_TMP/rotate.err")" "new key" "rotate-key says what it did"
[ "$old_key" != "$(sha256sum <"$DB.key")" ] || fail "--rotate-key left the key file unchanged"
[ "$old_tok" != "$(db_query "SELECT token FROM client_id")" ] || fail "the token was not re-sealed"
assert_eq 1 "$(grep -c '^ppkey1 ' "$DB.key")" "one key after rotation"
check_sealed "after --rotate-key"

# -- after rotation the daemon still logs in to the pools and uses the client ID
start_serve
for _ in $(seq 1 100); do
    pp_ok pool list --json
    [ "$(jq '[.pools[] | select(.connected)] | length' <<<"$PP_OUT")" = 2 ] && break
    sleep 0.2
done
assert_eq 2 "$(jq '[.pools[] | select(.connected)] | length' <<<"$PP_OUT")" \
    "pools connected with the re-sealed passwords"
pp_ok apply lab --update e1c3a5b7-9d2f-4e6a-8c0b-4d6f8a0c2e06 --yes
assert_eq XS84E001 "$(sim_host_updates lab lab-1)" "the update is on lab-1 after rotation"
pass "after --rotate-key the pools log in and the update is installed"

# -- a wrong key file: a clear error, not garbage
stop_serve
cp "$DB.key" "$E2E_TMP/good.key"
"$POOLPATCH" serve --db "$DB" --token-file "$SERVE_TOKEN" --rotate-key 2>/dev/null
cp "$E2E_TMP/good.key" "$DB.key" # the database now needs the newer key
"$POOLPATCH" serve --db "$DB" --token-file "$SERVE_TOKEN" --listen 127.0.0.1:0 \
    --check-interval 0 2>"$E2E_TMP/wrong.err" &
E2E_PIDS="$E2E_PIDS $!"
for _ in $(seq 1 100); do
    grep -q "secrets key file" "$E2E_TMP/wrong.err" && break
    sleep 0.1
done
assert_contains "$(cat "$E2E_TMP/wrong.err")" "not in the secrets key file" "wrong key file"
pass "a database opened with the wrong key file is refused, naming the key"
