#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# security_master_change.sh - issue 13: TLS trust across a master change, against
# `poolpatch sim --tls` (every host its own self-signed certificate, and its Certificate record).
# The pool is added with its master's fingerprint confirmed; the daemon reads the pool's host
# certificates over that trusted connection.  The master moves (pool.designate_new_master) to
# prod-2: followed without a question.  Then prod-3's address answers with a certificate the
# pool does not vouch for, and the master moves there: the daemon must send it nothing: the pool
# goes to state "certificate_unconfirmed" naming prod-3 and its fingerprint (REST and `pool
# list`), and the simulator counts no login at prod-3.  A wrong fingerprint confirms nothing; the
# right one (`pool trust`) lets the daemon log in to the new master, and after a restart the
# confirmation holds.  Judged from the simulator's own state (GET /sim/state: master, per-host
# logins).
. "$(dirname "$0")/lib.sh"

scen="$E2E_TMP/noha.json"
make_scenario "$scen" '.pools[0].ha_enabled = false' # designate_new_master is refused under HA
start_sim "$scen" --tls --base-address 127.0.46.10 --time-scale 60
start_serve
prod=$(sim_master_url prod)
echo xenroot >"$E2E_TMP/pw"
fp_of() { openssl x509 -in "$SIM_TLS_DIR/$1.pem" -noout -fingerprint -sha256 | cut -d= -f2; }
host_addr() { sim_state | jq -r --arg h "$1" '.pools[] | .hosts[] | select(.name == $h) | .address'; }
logins_at() { sim_state | jq -r --arg h "$1" '.pools[] | .hosts[] | select(.name == $h) | .logins'; }
# wait_pool_state NAME STATE: poll GET /pools (at most 60 s); PP_OUT holds the last answer
wait_pool_state() {
    i=0
    while [ $i -lt 300 ]; do
        pp_ok pool list --json
        [ "$(jq -r --arg n "$1" '.pools[] | select(.name == $n) | .state' <<<"$PP_OUT")" = "$2" ] &&
            return 0
        sleep 0.2
        i=$((i + 1))
    done
    fail "pool $1 did not reach state $2: $PP_OUT"
}

old_addr=$(host_addr prod-1)
addr2=$(host_addr prod-2)
new_addr=$(host_addr prod-3)
port=$(sed -E 's#https://[^:/]+:([0-9]+).*#\1#' <<<"$prod")
url_of() { echo "https://$1:$port/"; }
pp_ok pool add prod --url "$prod" --user root --password-file "$E2E_TMP/pw" \
    --fingerprint "SHA256:$(fp_of "$old_addr")"
wait_pool_state prod ready
assert_eq 0 "$(logins_at prod-3)" "logins at prod-3 before the master change"
# the daemon reads the pool's host certificates (Certificate records) over the trusted channel
kh="$SERVE_DIR/known_hosts"
i=0
until grep -q "^$addr2 $(fp_of "$addr2")\$" "$kh" 2>/dev/null; do
    [ $i -lt 300 ] || fail "prod-2's certificate was not read from the pool: $(cat "$kh" 2>&1)"
    sleep 0.2
    i=$((i + 1))
done
pass "pool added with its master's confirmed fingerprint; its hosts' certificates read from it"

# designate HOST_NAME MASTER_URL: pool.designate_new_master, then wait for the simulator
designate() {
    _s=$(xapi_login "$2")
    _h=$(xapi_json "$2" host.get_by_name_label "[\"$_s\",\"$1\"]" | jq -er '.result[0]')
    xapi_json "$2" pool.designate_new_master "[\"$_s\",\"$_h\"]" | jq -e 'has("result")' \
        >/dev/null || fail "pool.designate_new_master $1"
    i=0
    while [ "$(sim_state | jq -r '.pools[] | select(.name == "prod") | .master')" != "$1" ]; do
        [ $i -lt 300 ] || fail "the simulator did not make $1 the master"
        sleep 0.2
        i=$((i + 1))
    done
}

# -- the master moves to prod-2, whose certificate the pool vouched for: followed, no question
designate prod-2 "$prod"
i=0
while :; do
    pp_ok pool list --json
    p=$(jq -c '.pools[] | select(.name == "prod")' <<<"$PP_OUT")
    [ "$(jq -r .state <<<"$p")" = ready ] && [ "$(jq -r .master_address <<<"$p")" = "$addr2" ] &&
        break
    [ "$(jq -r .state <<<"$p")" != certificate_unconfirmed ] ||
        fail "a master whose certificate the pool vouched for needs a confirmation: $p"
    [ $i -lt 300 ] || fail "the daemon did not follow the master to prod-2: $p"
    sleep 0.2
    i=$((i + 1))
done
[ "$(logins_at prod-2)" -ge 1 ] || fail "no login at prod-2"
pass "a new master whose certificate was read from the trusted pool is followed without a prompt"

# -- prod-3's address now answers with a certificate the pool does not know (another machine:
# the pool's Certificate record keeps the old one); the master moves to prod-3
old3_fp=$(fp_of "$new_addr")
# shellcheck disable=SC2046 # sim_ca prints two words or none
out=$(curl -sS --max-time 30 $(sim_ca "$(url_of "$new_addr")") \
    --data "{\"address\":\"$new_addr\",\"record\":false}" "$(url_of "$new_addr")sim/tls")
assert_eq '{"ok": true}' "$out" "POST /sim/tls for prod-3"
new_fp=$(fp_of "$new_addr")
[ "$new_fp" != "$old3_fp" ] || fail "prod-3's certificate did not change"
other_fp=$(fp_of "$addr2")
designate prod-3 "$(url_of "$addr2")"
wait_pool_state prod certificate_unconfirmed
p=$(jq -c '.pools[] | select(.name == "prod")' <<<"$PP_OUT")
assert_eq "$new_addr" "$(jq -r .certificate.host <<<"$p")" "the host waiting for confirmation"
assert_eq "$new_fp" "$(jq -r .certificate.fingerprint <<<"$p")" "its fingerprint"
assert_eq "$old3_fp" "$(jq -r .certificate.confirmed_before <<<"$p")" \
    "the fingerprint the pool had vouched for"
assert_eq false "$(jq -r .connected <<<"$p")" "not connected meanwhile"
assert_contains "$(jq -r .error <<<"$p")" "$new_addr" "the error names the new master"
pp_ok pool list
assert_contains "$PP_OUT" "certificate unconfirmed: $new_addr presents SHA256:$new_fp" \
    "pool list shows what waits for confirmation"
sleep 3 # the daemon keeps trying meanwhile, if it does
assert_eq 0 "$(logins_at prod-3)" "logins (credentials) sent to the unconfirmed new master"
pass "a new master with an unconfirmed certificate gets nothing; the pool says why"

# -- a wrong fingerprint confirms nothing; no terminal: the command names the fingerprint
pp_fails 1 pool trust prod --fingerprint "SHA256:$other_fp"
assert_contains "$PP_ERR" "not the confirmed" "a wrong fingerprint is refused"
pp_fails 1 pool trust prod </dev/null
assert_contains "$PP_ERR" "SHA256:$new_fp" "without --fingerprint the command names it"
pp_ok pool list --json
assert_eq certificate_unconfirmed "$(jq -r '.pools[] | select(.name == "prod") | .state' <<<"$PP_OUT")" \
    "still waiting after the refusals"
assert_eq 0 "$(logins_at prod-3)" "logins at prod-3 after the refusals"
api POST /api/v1/pools/prod/trust '{"fingerprint":"nonsense"}'
assert_eq 400 "$API_CODE" "REST: a malformed fingerprint"
pass "a wrong or missing confirmation changes nothing"

# -- the right fingerprint: the daemon logs in to the new master and reads the pool again
pp_ok pool trust prod --fingerprint "SHA256:$(tr -d : <<<"$new_fp" | tr A-F a-f)"
i=0
while :; do # ready, and the inventory read again from prod-3 names it the master
    pp_ok pool list --json
    p=$(jq -c '.pools[] | select(.name == "prod")' <<<"$PP_OUT")
    [ "$(jq -r .state <<<"$p")" = ready ] && [ "$(jq -r .master <<<"$p")" = prod-3 ] && break
    [ $i -lt 300 ] || fail "the daemon did not follow the master to prod-3: $p"
    sleep 0.2
    i=$((i + 1))
done
assert_eq "$new_addr" "$(jq -r .master_address <<<"$p")" "the daemon's master address"
assert_eq prod-3 "$(jq -r .master <<<"$p")" "the daemon's master"
assert_eq null "$(jq -r .certificate <<<"$p")" "nothing waits for confirmation"
[ "$(logins_at prod-3)" -ge 1 ] || fail "no login at the confirmed new master"
pass "after confirming, the daemon follows the pool to its new master"

# -- the confirmation is kept: a restarted daemon logs in to prod-3 without asking
before=$(logins_at prod-3)
stop_serve
start_serve
wait_pool_state prod ready
[ "$(logins_at prod-3)" -gt "$before" ] || fail "the restarted daemon did not log in to prod-3"
pass "the confirmed certificate is kept across a restart"
