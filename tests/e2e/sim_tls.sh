#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sim_tls.sh - `poolpatch sim --tls`: every host serves HTTPS with its own self-signed
# certificate.  Proves, over the wire with curl (OpenSSL): a host's certificate as the CA file
# lets the handshake and an XAPI call (JSON-RPC and XML-RPC) succeed; no CA file, or another
# host's certificate, fails the handshake; GET /sim/tls lists each host's SHA-256 fingerprint
# (that of the certificate file); POST /sim/tls gives a host a new certificate, after which the
# old one is refused and the new one accepted; certificates given in --tls-dir are used as is.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --tls --time-scale 60
prod=$(sim_master_url prod)
lab=$(sim_master_url lab)
assert_contains "$prod" "https://127.0.0.10:" "prod's URL is https"
port=${prod##*:}
port=${port%/}
ca10="$SIM_TLS_DIR/127.0.0.10.pem"
ca14="$SIM_TLS_DIR/127.0.0.14.pem"
[ -s "$ca10" ] && [ -s "$ca14" ] || fail "certificates not written to --tls-dir"
[ "$(stat -c %a "$SIM_TLS_DIR/127.0.0.10.key")" = 600 ] || fail "private key not mode 0600"

# Trusted with the host's own certificate: both protocols answer.
sess=$(xapi_login "$prod") || fail "JSON-RPC login over https with the host's certificate"
assert_contains "$sess" "OpaqueRef:" "session over https"
xml='<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params><param><value>root</value></param><param><value>xenroot</value></param></params></methodCall>'
out=$(curl -sS --max-time 30 --cacert "$ca14" --data "$xml" "${lab}RPC2")
assert_contains "$out" "<value>Success</value>" "XML-RPC login over https"
pass "handshake and calls succeed with the host's own certificate as CA"

# Not trusted: no CA file, or the certificate of another host.
rc=0
curl -sS --max-time 30 --data '{}' "${prod}jsonrpc" >/dev/null 2>&1 || rc=$?
assert_eq 60 "$rc" "curl without a CA file (peer certificate cannot be verified)"
rc=0
curl -sS --max-time 30 --cacert "$ca14" --data '{}' "${prod}jsonrpc" >/dev/null 2>&1 || rc=$?
assert_eq 60 "$rc" "curl with another host's certificate as CA"
pass "handshake refused without the host's certificate"

# Fingerprints: one per host, distinct, equal to the files' SHA-256 fingerprints.
tlsdoc=$(curl -sS --max-time 30 --cacert "$ca10" "${prod}sim/tls")
nhosts=$(sim_state | jq '[.pools[].hosts[]] | length')
assert_eq "$nhosts" "$(jq '.hosts | length' <<<"$tlsdoc")" "one certificate per host"
assert_eq "$nhosts" "$(jq '[.hosts[].fingerprint] | unique | length' <<<"$tlsdoc")" \
    "distinct fingerprints"
fp10=$(jq -r '.hosts[] | select(.address == "127.0.0.10") | .fingerprint' <<<"$tlsdoc")
want=$(openssl x509 -in "$ca10" -noout -fingerprint -sha256 | cut -d= -f2)
assert_eq "$want" "$fp10" "fingerprint of 127.0.0.10 in GET /sim/tls"
served=$(openssl s_client -connect "127.0.0.10:$port" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)
assert_eq "$want" "$served" "certificate presented by 127.0.0.10"
pass "GET /sim/tls names each host's fingerprint"

# A changed certificate: the old one no longer verifies, the new one does.
cp "$ca10" "$E2E_TMP/old10.pem"
out=$(curl -sS --max-time 30 --cacert "$ca10" --data '{"address":"127.0.0.10"}' "${prod}sim/tls")
assert_eq '{"ok": true}' "$out" "POST /sim/tls"
fpnew=$(curl -sS --max-time 30 --cacert "$ca10" "${prod}sim/tls" |
    jq -r '.hosts[] | select(.address == "127.0.0.10") | .fingerprint')
[ "$fpnew" != "$fp10" ] || fail "the fingerprint did not change"
rc=0
curl -sS --max-time 30 --cacert "$E2E_TMP/old10.pem" --data '{}' "${prod}jsonrpc" \
    >/dev/null 2>&1 || rc=$?
assert_eq 60 "$rc" "the replaced certificate is refused"
xapi_login "$prod" >/dev/null || fail "the new certificate (rewritten in --tls-dir) is accepted"
out=$(curl -sS --max-time 30 --cacert "$ca10" --data '{"address":"127.0.0.99"}' "${prod}sim/tls")
assert_contains "$out" "no simulated host at 127.0.0.99" "rotation of an unknown host"
pass "a host's certificate can be replaced while serving"

# Certificates given in the directory are served as they are.
kill "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
given=$(openssl x509 -in "$SIM_TLS_DIR/127.0.0.14.pem" -noout -fingerprint -sha256 | cut -d= -f2)
start_sim "$SRCDIR/scenarios/demo.json" --tls --time-scale 60
served=$(openssl s_client -connect "127.0.0.14:$(sim_master_url lab | sed 's|.*:\([0-9]*\)/$|\1|')" \
    </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)
assert_eq "$given" "$served" "certificate read from --tls-dir"
pass "certificates in --tls-dir are reused"
