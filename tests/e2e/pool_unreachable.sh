#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pool_unreachable.sh - `poolpatch pool add` with a master URL where nothing answers: the daemon
# itself answers (not a request timeout) with an error naming the URL, nothing is registered, and
# nothing gets registered later either when a pool does come up at that address (the user was
# told the add failed).
. "$(dirname "$0")/lib.sh"

# a short request timeout, so that "the engine did not answer" cannot pass for an answer
printf 'request_timeout = 15\n' >"$E2E_TMP/serve.conf"
start_serve --config "$E2E_TMP/serve.conf"
ADDR=127.0.27.10
PORT=$(python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0));
print(s.getsockname()[1])' "$ADDR")
URL="http://$ADDR:$PORT/"
echo xenroot >"$E2E_TMP/pw"

start=$(date +%s)
pp_fails 1 pool add prod --url "$URL" --user root --password-file "$E2E_TMP/pw"
took=$(($(date +%s) - start))
assert_contains "$PP_ERR" "$URL" "pool add of an unreachable URL names it"
assert_not_contains "$PP_ERR" "did not answer" "the daemon answers (no request timeout)"
[ "$took" -lt 15 ] || fail "pool add of an unreachable URL took ${took} s"
pp_ok pool list --json
assert_eq 0 "$(jq '.pools | length' <<<"$PP_OUT")" "pools after a failed add"
pass "unreachable URL: clear error at once, nothing registered"

# a pool appears at that address afterwards: it must not be registered behind the user's back
start_sim "$SRCDIR/scenarios/demo.json" --base-address "$ADDR" --port "$PORT" --time-scale 600
assert_eq "$URL" "$(sim_master_url prod)" "the simulated prod answers at the URL that failed"
i=0
while [ $i -lt 40 ]; do
    n=$(pp pool list --json | jq '.pools | length')
    [ "$n" = 0 ] || fail "a pool was registered after its add failed: $(pp pool list)"
    sleep 0.5
    i=$((i + 1))
done
pp_ok pool add prod --url "$URL" --user root --password-file "$E2E_TMP/pw"
pass "a failed add leaves nothing behind; adding again once reachable works"

# the daemon stops cleanly (exit 0; sanitizer builds: no leaks)
stop_serve
