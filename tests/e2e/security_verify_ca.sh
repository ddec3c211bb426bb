#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# security_verify_ca.sh - `pool add --verify-ca` (issue 13): the pool's certificate must verify
# against the system CA bundle (chain and host name), pinning on top.  Against `poolpatch sim
# --tls` (self-signed host certificates): with the daemon's default bundle (Debian's
# ca-certificates) the pool is refused and nothing is registered nor logged into (the simulator's
# call counter stays 0); with `--ca-bundle` naming the pool's certificate (standing in for a
# system bundle that holds the pool's CA) it is added without a fingerprint question and its
# fingerprint stored; --verify-ca with --ca-file is refused; a missing bundle stops the daemon.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --tls --base-address 127.0.48.10 --time-scale 60
prod=$(sim_master_url prod)
echo xenroot >"$E2E_TMP/pw"
prod_pem="$SIM_TLS_DIR/127.0.48.10.pem"
prod_fp=$(openssl x509 -in "$prod_pem" -noout -fingerprint -sha256 | cut -d= -f2)
calls() { curl -sS --cacert "$prod_pem" "${prod%/}/sim/state" | jq .counters.calls; }

# -- the system bundle does not hold the pool's (self-signed) certificate: refused
start_serve
pp_fails 1 pool add prod --url "$prod" --user root --password-file "$E2E_TMP/pw" --verify-ca
assert_contains "$PP_ERR" "not signed by a CA of the system CA bundle" "refusal names the system bundle"
assert_contains "$PP_ERR" "SHA-256 $prod_fp" "refusal names the certificate"
pp_ok pool list --json
assert_eq 0 "$(jq '.pools | length' <<<"$PP_OUT")" "pools after the refusal"
assert_eq 0 "$(calls)" "XAPI calls at the pool (no password sent)"
pp_fails 1 pool add prod --url "$prod" --user root --password-file "$E2E_TMP/pw" --verify-ca \
    --ca-file "$prod_pem"
assert_contains "$PP_ERR" "not both" "--verify-ca with --ca-file"
pass "--verify-ca: a certificate the system bundle does not vouch for is refused"

# -- a bundle that holds the pool's certificate: added, no fingerprint question, pinned
stop_serve
start_serve --ca-bundle "$prod_pem"
pp_ok pool add prod --url "$prod" --user root --password-file "$E2E_TMP/pw" --verify-ca </dev/null
assert_contains "$PP_OUT" "SHA256:$prod_fp" "pool add names the pinned fingerprint"
pp_ok pool list --json
assert_eq "$prod_fp" "$(jq -r '.pools[] | select(.name == "prod") | .tls_fingerprint' <<<"$PP_OUT")" \
    "the fingerprint stored"
[ "$(calls)" -gt 0 ] || fail "the daemon did not talk to the pool after a verified add"
i=0
until pp_ok pool list --json && [ "$(jq -r '.pools[0].connected' <<<"$PP_OUT")" = true ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "prod never connected: $PP_OUT"
    sleep 0.3
done
pass "--verify-ca with a bundle that holds the pool's CA: added and pinned without a question"

# -- a bundle that cannot be read stops the daemon with a clear message
stop_serve
if "$POOLPATCH" serve --listen 127.0.0.1:0 --db "$E2E_TMP/x.db" --token-file "$E2E_TMP/x.tok" \
    --ca-bundle "$E2E_TMP/no-such.pem" >"$E2E_TMP/x.out" 2>"$E2E_TMP/x.err"; then
    fail "serve started with a missing --ca-bundle"
fi
assert_contains "$(cat "$E2E_TMP/x.err")" "ca_bundle: $E2E_TMP/no-such.pem" "the missing bundle named"
pass "a missing --ca-bundle is refused at start"
