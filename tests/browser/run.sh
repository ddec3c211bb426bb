#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/browser/run.sh - the web UI's real-browser test: starts `poolpatch sim` (scenarios/demo.json)
# and `poolpatch serve` (embedded web assets) as tests/e2e/lib.sh does, registers the three demo
# pools and the client ID with the CLI, then runs ui.test.mjs (headless Debian Chromium driven by
# playwright-core, axe-core; both from tools/deps.sh's `npm ci`, nothing downloaded here).
# Environment: POOLPATCH, SRCDIR (meson), ARTIFACTS (screenshots folder, default $E2E_TMP/shots),
# BROWSER_SCALE (the simulator's --time-scale, default 120).
. "$SRCDIR/tests/e2e/lib.sh"

HERE="$SRCDIR/tests/browser"
[ -d "$HERE/node_modules/playwright-core" ] && [ -d "$HERE/node_modules/axe-core" ] ||
    fail "tests/browser/node_modules is missing: run 'make deps' (tools/deps.sh runs npm ci there)"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM is missing: run 'make deps' (Debian package chromium)"
command -v node >/dev/null || fail "node is missing: run 'make deps'"

start_sim "$SRCDIR/scenarios/demo.json" --time-scale "${BROWSER_SCALE:-120}"
# the shortest host-return timeout the daemon takes (30 s): the cancel that fails gives up on a
# host that never comes back within the step (the demo's reboots take seconds)
printf 'host_return_timeout = 30\n' >"$E2E_TMP/serve.conf"
start_serve --config "$E2E_TMP/serve.conf" ${BROWSER_WEB_ROOT:+--web-root "$BROWSER_WEB_ROOT"}
echo xenroot >"$E2E_TMP/pw"
for p in prod lab edge-standalone; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"

# An https pool (its own simulator, --tls, a self-signed certificate per host) for the add-pool
# form's fingerprint question and the cancel of a running rollout; --time-scale 60 keeps its
# rollout running long enough to be cancelled mid-way.
TLS_DIR="$E2E_TMP/sim2-tls"
"$POOLPATCH" sim --scenario "$SRCDIR/scenarios/small.json" --port 0 --tls --tls-dir "$TLS_DIR" \
    --base-address 127.0.47.10 --time-scale 60 >"$E2E_TMP/sim2.out" 2>"$E2E_TMP/sim2.err" &
E2E_PIDS="$E2E_PIDS $!"
wait_for_line "$E2E_TMP/sim2.out" '^ready$' 30 || { cat "$E2E_TMP/sim2.err" >&2; fail "the https simulator did not start"; }
TLS_POOL_URL=$(awk '$1 == "pool" && $3 == "master" { print $4 }' "$E2E_TMP/sim2.out")
TLS_POOL_PEM="$TLS_DIR/$(sed -E 's#https://([^:/]+).*#\1#' <<<"$TLS_POOL_URL").pem"
TLS_POOL_FP=$(openssl x509 -in "$TLS_POOL_PEM" -noout -fingerprint -sha256 | cut -d= -f2)
[ -n "$TLS_POOL_FP" ] || fail "no certificate at $TLS_POOL_PEM"
export TLS_POOL_URL TLS_POOL_PEM TLS_POOL_FP

# extra_sim VAR NAME SCENARIO BASE-ADDRESS TIME-SCALE: one more plain-http simulator; exports
# VAR = its first pool's master URL.  Registered by the step that uses it (POST /pools), so the
# earlier steps see the demo pools only.
extra_sim() {
    "$POOLPATCH" sim --scenario "$3" --port 0 --base-address "$4" --time-scale "$5" \
        >"$E2E_TMP/$2.out" 2>"$E2E_TMP/$2.err" &
    E2E_PIDS="$E2E_PIDS $!"
    wait_for_line "$E2E_TMP/$2.out" '^ready$' 30 || { cat "$E2E_TMP/$2.err" >&2; fail "simulator $2 did not start"; }
    printf -v "$1" '%s' "$(awk '$1 == "pool" && $3 == "master" { print $4; exit }' "$E2E_TMP/$2.out")"
    [ -n "${!1}" ] || fail "simulator $2 named no pool master"
    export "${1?}"
}
# scenarios/small.json for the cancel that fails (a host that never returns from its reboot)
extra_sim CF_POOL_URL sim-cf "$SRCDIR/scenarios/small.json" 127.0.47.30 60
# scenarios/small.json for a rollout with the default policy set to minimal in Settings
extra_sim POL_POOL_URL sim-pol "$SRCDIR/scenarios/small.json" 127.0.47.40 120
# scenarios/upgrade.json twice, for the Rolling Pool Upgrade wizard: automated (UPG_A_URL, its
# pool rpu renamed rpu-a) and manual with a host skipped (UPG_M_URL, rpu-m); the views name pools
# by their XAPI name, so each pool is registered under that name
for m in a m; do
    jq --arg n "rpu-$m" '.pools |= map(if .name == "rpu" then .name = $n else . end)' \
        "$SRCDIR/scenarios/upgrade.json" >"$E2E_TMP/upgrade-$m.json" || fail "jq on scenarios/upgrade.json"
done
extra_sim UPG_A_URL sim-upa "$E2E_TMP/upgrade-a.json" 127.0.47.50 200
extra_sim UPG_M_URL sim-upm "$E2E_TMP/upgrade-m.json" 127.0.47.70 200

export SERVE_URL CHROMIUM
export SERVE_TOKEN_VALUE
SERVE_TOKEN_VALUE=$(cat "$SERVE_TOKEN")
export SIM_MASTERS
SIM_MASTERS=$(awk '$1 == "pool" { printf "%s=%s ", $2, $4 }' "$SIM_OUT")
export ARTIFACTS=${ARTIFACTS:-$E2E_TMP/shots}
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png
export BROWSER_TMP="$E2E_TMP"
node "$HERE/ui.test.mjs" || {
    echo "--- poolpatch serve log (tail)" >&2
    tail -30 "$SERVE_LOG" >&2
    fail "browser test failed (screenshots in $ARTIFACTS)"
}
pass "browser suite (screenshots in $ARTIFACTS)"
