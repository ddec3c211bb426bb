# SPDX-License-Identifier: MIT
# tests/e2e/lib.sh - shared helpers for end-to-end tests: the real `poolpatch` binary against
# `poolpatch sim` (and `poolpatch serve`) on 127.0.0.1.  Sourced by each tests/e2e/*.sh.
#
# Environment (set by tests/e2e/meson.build): POOLPATCH (the binary), SRCDIR (source root).
# Every process started here is killed on exit; every wait is bounded.
set -eu
: "${POOLPATCH:?POOLPATCH must name the poolpatch binary}"
: "${SRCDIR:?SRCDIR must name the source root}"

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pp-e2e.XXXXXX")
E2E_PIDS=""

e2e_cleanup() {
    for p in $E2E_PIDS; do
        kill "$p" 2>/dev/null || true
    done
    for p in $E2E_PIDS; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

pass() {
    echo "ok - $*"
}

assert_eq() { # expected actual what
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

assert_contains() { # haystack needle what
    case "$1" in
        *"$2"*) ;;
        *) fail "$3: '$2' not found in: $1" ;;
    esac
}

# wait_for_line FILE PATTERN SECONDS: wait until FILE has a line matching PATTERN (grep -E).
wait_for_line() {
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# start_sim SCENARIO [ARGS...]: start `poolpatch sim` on a free port; sets SIM_PID and SIM_OUT
# (whose "pool NAME master URL" lines name the masters).  Fails the test if not ready in 30 s.
start_sim() {
    scen="$1"
    shift
    SIM_OUT="$E2E_TMP/sim.out"
    "$POOLPATCH" sim --scenario "$scen" --port 0 "$@" >"$SIM_OUT" 2>"$E2E_TMP/sim.err" &
    SIM_PID=$!
    E2E_PIDS="$E2E_PIDS $SIM_PID"
    wait_for_line "$SIM_OUT" '^ready$' 30 || {
        cat "$E2E_TMP/sim.err" >&2
        fail "poolpatch sim did not print 'ready' within 30 s"
    }
}

# sim_master_url POOLNAME: the master URL printed by start_sim for that pool.
sim_master_url() {
    awk -v n="$1" '$1 == "pool" && $2 == n && $3 == "master" { print $4 }' "$SIM_OUT"
}

# xapi_json URL METHOD PARAMS_JSON: one JSON-RPC v2 call; prints the response body.
xapi_json() {
    curl -sS --max-time 30 -H 'Content-Type: application/json' \
        --data "{\"jsonrpc\":\"2.0\",\"method\":\"$2\",\"params\":$3,\"id\":1}" "${1%/}/jsonrpc"
}
