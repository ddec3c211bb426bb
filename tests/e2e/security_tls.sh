#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# security_tls.sh - issue 13 finding 2 against `poolpatch sim --tls` (each host its own
# self-signed certificate): `pool add --ca-file` with a certificate that did not sign the pool's
# is refused and nothing is registered; with the right one the pool is added and its fingerprint
# is stored and shown by `pool list`.  Without a CA file the fingerprint must be confirmed: the
# command fails naming it (no terminal), a wrong --fingerprint is refused, the right one adds the
# pool.  Plain http to a non-loopback address needs --insecure-http.  Pools and sessions are read
# from the simulator (GET /sim/state, the sessions XAPI holds).  Last, a certificate changed after
# registration (POST /sim/tls) is refused by the restarted daemon: the pin holds.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --tls --base-address 127.0.44.10 --time-scale 60
start_serve
prod=$(sim_master_url prod)
lab=$(sim_master_url lab)
assert_contains "$prod" "https://127.0.44.10:" "prod is served over https"
echo xenroot >"$E2E_TMP/pw"
fp_of() { openssl x509 -in "$SIM_TLS_DIR/$1.pem" -noout -fingerprint -sha256 | cut -d= -f2; }
prod_fp=$(fp_of 127.0.44.10)
lab_addr=$(sed -E 's#https://([^:/]+).*#\1#' <<<"$lab")
lab_fp=$(fp_of "$lab_addr")

# -- a CA file that did not sign the pool's certificate: refused, nothing registered
pp_fails 1 pool add prod --url "$prod" --user root --password-file "$E2E_TMP/pw" \
    --ca-file "$SIM_TLS_DIR/$lab_addr.pem"
assert_contains "$PP_ERR" "not signed by the CA file" "pool add with the wrong CA file"
pp_ok pool list --json
assert_eq 0 "$(jq '.pools | length' <<<"$PP_OUT")" "pools after the refusal"
pass "a CA file that did not sign the pool's certificate is refused"

# -- the right CA file: chain and name verified, fingerprint stored and shown
pp_ok pool add prod --url "$prod" --user root --password-file "$E2E_TMP/pw" \
    --ca-file "$SIM_TLS_DIR/127.0.44.10.pem"
assert_contains "$PP_OUT" "SHA256:$prod_fp" "pool add names the pinned fingerprint"
pp_ok pool list --json
assert_eq "$prod_fp" "$(jq -r '.pools[] | select(.name == "prod") | .tls_fingerprint' <<<"$PP_OUT")" \
    "pool list --json: prod's fingerprint"
pp_ok pool list
assert_contains "$PP_OUT" "prod: TLS certificate SHA256:$prod_fp" "pool list shows it"
pass "with the right CA file the pool is added and its fingerprint stored and shown"

# -- no CA file: the fingerprint must be confirmed
pp_fails 1 pool add lab --url "$lab" --user root --password-file "$E2E_TMP/pw" </dev/null
assert_contains "$PP_ERR" "SHA256:$lab_fp" "the refusal names the certificate's fingerprint"
assert_contains "$PP_ERR" "--fingerprint" "the refusal says how to confirm"
api POST /api/v1/pools "$(jq -cn --arg u "$lab" '{name:"lab",url:$u,username:"root",password:"xenroot"}')"
assert_eq 409 "$API_CODE" "REST without a confirmed fingerprint"
assert_eq "$lab_fp" "$(jq -r .error.fingerprint <<<"$API_BODY")" "REST answer carries the fingerprint"
assert_eq false "$(jq -r .error.took_effect <<<"$API_BODY")" "REST answer: nothing happened"
pp_fails 1 pool add lab --url "$lab" --user root --password-file "$E2E_TMP/pw" \
    --fingerprint "SHA256:$prod_fp"
assert_contains "$PP_ERR" "not the confirmed" "a wrong confirmed fingerprint"
pp_ok pool list --json
assert_eq 1 "$(jq '.pools | length' <<<"$PP_OUT")" "only prod is registered"
pp_ok pool add lab --url "$lab" --user root --password-file "$E2E_TMP/pw" \
    --fingerprint "SHA256:$(tr -d : <<<"$lab_fp" | tr A-F a-f)"
pp_ok pool list --json
assert_eq "$lab_fp" "$(jq -r '.pools[] | select(.name == "lab") | .tls_fingerprint' <<<"$PP_OUT")" \
    "lab's fingerprint stored"
pass "without a CA file the fingerprint is shown and must be confirmed"

# -- plain http to another machine only when asked
pp_fails 1 pool add far --url http://192.0.2.7/ --user root --password-file "$E2E_TMP/pw"
assert_contains "$PP_ERR" "--insecure-http" "plain http to a non-loopback address"
pass "plain http to a non-loopback pool needs --insecure-http"

# -- a changed certificate after registration (issue 14: pin on first use, refused when changed):
# the simulator gives lab's master a new certificate; after a restart the daemon refuses it (the
# pin holds), the pool stays registered but is not connected and says why, and nothing is sent.
api_tls() { curl -sS --max-time 30 --cacert "$SIM_TLS_DIR/$1.pem" "${@:2}"; }
out=$(api_tls "$lab_addr" --data "{\"address\":\"$lab_addr\"}" "${lab}sim/tls")
assert_eq '{"ok": true}' "$out" "POST /sim/tls for lab's master"
[ "$(fp_of "$lab_addr")" != "$lab_fp" ] || fail "lab's certificate did not change"
stop_serve
start_serve
i=0
while [ $i -lt 300 ]; do # at most 60 s: a sanitizer build connects slowly
    pp_ok pool list --json
    err=$(jq -r '.pools[] | select(.name == "lab") | .error // empty' <<<"$PP_OUT")
    prod_up=$(jq -r '.pools[] | select(.name == "prod") | .connected' <<<"$PP_OUT")
    [ -n "$err" ] && [ "$prod_up" = true ] && break
    sleep 0.2
    i=$((i + 1))
done
assert_eq false "$(jq -r '.pools[] | select(.name == "lab") | .connected' <<<"$PP_OUT")" \
    "lab is not connected with a changed certificate"
case "$err" in
    *[Cc]ertificate* | *[Ff]ingerprint* | *[Pp]in* | *TLS*) ;;
    *) fail "lab's error does not name the certificate: $err" ;;
esac
assert_eq "$lab_fp" "$(jq -r '.pools[] | select(.name == "lab") | .tls_fingerprint' <<<"$PP_OUT")" \
    "the stored fingerprint is still the confirmed one"
assert_eq true "$(jq -r '.pools[] | select(.name == "prod") | .connected' <<<"$PP_OUT")" \
    "prod (certificate unchanged) stays connected"
pass "a pool whose certificate changed is refused after registration (pin kept): $err"
