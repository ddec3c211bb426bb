#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# no_secrets.sh - pool passwords (right and wrong) and the client ID's API key never appear in
# the daemon's log (at debug level), its stdout, any CLI output or any API answer, through every
# daemon command of issue 5 plus plan / apply / rollouts; they are kept only in the owner-only
# store.
. "$(dirname "$0")/lib.sh"

PW="pw-e2e-$RANDOM-Zq81xV"
BADPW="wrongpw-e2e-$RANDOM-Hs04"
KEY="apikey-e2e-$RANDOM-Kp27"
jq --arg pw "$PW" --arg key "$KEY" '.credentials.password = $pw |
    .vendor.client_ids[0].apikey = $key' "$SRCDIR/scenarios/demo.json" |
    jq -f "$SRCDIR/tests/e2e/legacy_lab.jq" >"$E2E_TMP/scen.json" # lab on legacy hotfixes
export SIM_PASSWORD="$PW"
start_sim "$E2E_TMP/scen.json" --base-address 127.0.26.10 --time-scale 1200
start_serve --log-level debug
printf '%s\n' "$PW" >"$E2E_TMP/pw"
printf '%s\n' "$BADPW" >"$E2E_TMP/badpw"
printf '{"username": "demo@example.com", "apikey": "%s"}\n' "$KEY" >"$E2E_TMP/client-id.json"

pp_fails 1 pool add prod --url "$(sim_master_url prod)" --user root --password-file "$E2E_TMP/badpw"
assert_contains "$PP_ERR" "SESSION_AUTHENTICATION_FAILED" "bad password refused"
for p in prod lab; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
    pp_fails 1 pool add "$p" --url "$(sim_master_url "$p")" --user root \
        --password-file "$E2E_TMP/pw" --json
done
pp_ok pool list
pp_ok pool list --json
pp_ok client-id import "$E2E_TMP/client-id.json"
pp_ok updates check
pp_ok updates check --json
pp_ok updates
pp_ok updates --by-server --json
pp_ok updates --export-csv -
pp_ok updates dismiss --all
pp_ok updates restore
pp_ok updates web-page XS84E001
pp_ok plan lab --automated
pp_ok plan --automated --json
pp_run apply lab --update e1c3a5b7-9d2f-4e6a-8c0b-4d6f8a0c2e06 --yes
[ "$PP_RC" = 0 ] || fail "apply lab exited $PP_RC: $PP_ERR"
assert_eq XS84E001 "$(sim_host_updates lab lab-1)" "the download with the API key worked"
pp_ok rollouts --json
pp_ok rollout "$(jq -r '.rollouts[0].id' <<<"$PP_OUT")" --json
pp_ok pool remove prod
# every API answer a web client would read
for path in /api/v1/pools "/api/v1/updates?view=by-server" /api/v1/rollouts; do
    api GET "$path"
    assert_eq 200 "$API_CODE" "GET $path"
    echo "$API_BODY" >>"$E2E_TMP/transcript"
done
stop_serve
grep -q " debug " "$SERVE_LOG" || fail "the daemon logged nothing at debug level"

grep -q "POST /api/v1/pools" "$SERVE_LOG" || fail "the daemon's log is not the one written"
[ "$(wc -l <"$E2E_TMP/transcript")" -gt 50 ] || fail "the transcript is too short to mean anything"
for secret in "$PW" "$BADPW" "$KEY"; do
    for f in "$SERVE_LOG" "$SERVE_DIR/serve.out" "$E2E_TMP/transcript"; do
        if grep -aq -- "$secret" "$f"; then
            fail "a secret appears in $f: $(grep -a -- "$secret" "$f" | head -3)"
        fi
    done
done
pass "no password or API key in the daemon's log, CLI output or API answers"

for f in "$SERVE_DIR"/*; do
    case $(stat -c %a "$f") in
        600 | 700) ;;
        *) grep -aq -- "$PW" "$f" && fail "$f holds the password and is mode $(stat -c %a "$f")" ;;
    esac
done
assert_eq 600 "$(stat -c %a "$SERVE_DIR/pp.db")" "the store's mode"
pass "secrets only in owner-only files"
