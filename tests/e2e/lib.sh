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

# e2e_ours PID: true while PID is still a child of this shell.  A recorded PID whose process has
# ended (a daemon killed with -9, a simulator stopped) can be recycled by anyone (pid_max is
# 32768 here and the tests fork thousands of curl / jq): the parallel browser test's Chromium
# was killed by another test's cleanup that way.
e2e_ours() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) } # after "(comm) ": state, ppid, ...
    set -- $s
    [ "${2:-}" = "$$" ]
}

e2e_cleanup() {
    for p in $E2E_PIDS; do
        ! e2e_ours "$p" || kill "$p" 2>/dev/null || true
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
# With --tls, each host's certificate is written to $SIM_TLS_DIR/ADDRESS.pem (see sim_ca).
start_sim() {
    scen="$1"
    shift
    SIM_OUT="$E2E_TMP/sim.out"
    SIM_TLS_DIR="$E2E_TMP/sim-tls"
    _tls=""
    case " $* " in *" --tls-dir "*) ;; *" --tls "*) _tls="--tls-dir $SIM_TLS_DIR" ;; esac
    # A second start_sim in one test: the old output goes first, else wait_for_line could find
    # its "ready" before the new process truncates the file (seen under load: no pool line).
    rm -f "$SIM_OUT" "$E2E_TMP/sim.err"
    # shellcheck disable=SC2086 # _tls is two words or none
    "$POOLPATCH" sim --scenario "$scen" --port 0 $_tls "$@" >"$SIM_OUT" 2>"$E2E_TMP/sim.err" &
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
    # shellcheck disable=SC2046 # sim_ca prints two words or none
    curl -sS --max-time 30 $(sim_ca "$1") -H 'Content-Type: application/json' \
        --data "{\"jsonrpc\":\"2.0\",\"method\":\"$2\",\"params\":$3,\"id\":1}" "${1%/}/jsonrpc"
}

# ---- more assertions ----

assert_not_contains() { # haystack needle what
    case "$1" in
        *"$2"*) fail "$3: '$2' must not appear in: $1" ;;
        *) ;;
    esac
}

# ---- the simulator ----

# sim_fileservice_url: the vendor file service's base URL printed by start_sim ("fileservice URL").
sim_fileservice_url() {
    awk '$1 == "fileservice" { print $2 }' "$SIM_OUT"
}

# sim_ca URL: curl's "--cacert FILE" for an https:// URL of the simulator (the host's own
# self-signed certificate, from $SIM_TLS_DIR); nothing for http://.
sim_ca() {
    case "$1" in
        https://*)
            _h=${1#https://}
            printf -- '--cacert %s/%s.pem' "$SIM_TLS_DIR" "${_h%%:*}"
            ;;
    esac
}

# sim_state: GET /sim/state from the simulator (any host answers it); prints the JSON.
sim_state() {
    _u=$(awk '$1 == "pool" { print $4; exit }' "$SIM_OUT")
    # shellcheck disable=SC2046 # sim_ca prints two words or none
    curl -sS --max-time 30 $(sim_ca "$_u") "${_u}sim/state"
}

# sim_host_updates POOL HOST: the update name-labels applied on that host, one a line, sorted.
sim_host_updates() {
    sim_state | jq -r --arg p "$1" --arg h "$2" \
        '.pools[] | select(.name == $p) | .hosts[] | select(.name == $h) | .updates[]' | sort
}

# xapi_login URL [USER PASSWORD]: log in (default $SIM_USER / $SIM_PASSWORD, else root / xenroot);
# prints the session ref.
xapi_login() {
    xapi_json "$1" session.login_with_password \
        "$(jq -cn --arg u "${2:-${SIM_USER:-root}}" --arg p "${3:-${SIM_PASSWORD:-xenroot}}" \
            '[$u, $p]')" | jq -er .result
}

# sim_pool_other_config POOLNAME: the pool object's other_config as JSON, read over XAPI from
# that pool's master (what XenCenter would see).
sim_pool_other_config() {
    _u=$(sim_master_url "$1")
    _s=$(xapi_login "$_u") || fail "cannot log in to pool $1 at $_u"
    _p=$(xapi_json "$_u" pool.get_all "[\"$_s\"]" | jq -er '.result[0]') ||
        fail "pool.get_all on $1"
    xapi_json "$_u" pool.get_other_config "[\"$_s\",\"$_p\"]" | jq -ec .result ||
        fail "pool.get_other_config on $1"
}

# sim_pool_set_other_config POOLNAME KEY VALUE: write one other_config key over XAPI (as another
# tool such as XenCenter would).
sim_pool_set_other_config() {
    _u=$(sim_master_url "$1")
    _s=$(xapi_login "$_u") || fail "cannot log in to pool $1 at $_u"
    _p=$(xapi_json "$_u" pool.get_all "[\"$_s\"]" | jq -er '.result[0]') ||
        fail "pool.get_all on $1"
    xapi_json "$_u" pool.remove_from_other_config "[\"$_s\",\"$_p\",\"$2\"]" >/dev/null
    xapi_json "$_u" pool.add_to_other_config "$(jq -cn --arg s "$_s" --arg p "$_p" --arg k "$2" \
        --arg v "$3" '[$s, $p, $k, $v]')" | jq -e 'has("error") | not' >/dev/null ||
        fail "pool.add_to_other_config on $1"
}

# make_scenario OUT JQ_FILTER: write scenarios/demo.json transformed by a jq filter to OUT.
make_scenario() {
    jq "$2" "$SRCDIR/scenarios/demo.json" >"$1" || fail "make_scenario: jq filter failed"
}

# ---- the daemon ----

# start_serve [ARGS...]: start `poolpatch serve` on 127.0.0.1, port chosen by the system
# (--listen 127.0.0.1:0; the port is read from the line it prints), with its database and token
# in $SERVE_DIR (default $E2E_TMP/serve), --check-interval $SERVE_CHECK_INTERVAL (default 0; set
# it empty for the daemon's default) and the simulator's catalog unless ARGS say otherwise (later
# options win).  Sets SERVE_PID, SERVE_URL, SERVE_TOKEN, SERVE_LOG (its
# stderr, appended across restarts).  Fails the test if it does not listen within 30 s.
start_serve() {
    SERVE_DIR=${SERVE_DIR:-$E2E_TMP/serve}
    SERVE_LOG="$SERVE_DIR/serve.log"
    SERVE_TOKEN="$SERVE_DIR/token"
    mkdir -p "$SERVE_DIR"
    _fs=""
    [ -z "${SIM_OUT:-}" ] || _fs=$(sim_fileservice_url)
    _ci=(--check-interval "${SERVE_CHECK_INTERVAL-0}")
    [ -n "${SERVE_CHECK_INTERVAL-0}" ] || _ci=()
    _mark=0
    [ -f "$SERVE_LOG" ] && _mark=$(wc -l <"$SERVE_LOG")
    "$POOLPATCH" serve --listen 127.0.0.1:0 --db "$SERVE_DIR/pp.db" --token-file "$SERVE_TOKEN" \
        "${_ci[@]}" ${_fs:+--catalog-url "$_fs/updates.xml"} ${_fs:+--vendor-origin "$_fs"} "$@" \
        >>"$SERVE_DIR/serve.out" 2>>"$SERVE_LOG" </dev/null &
    SERVE_PID=$!
    E2E_PIDS="$E2E_PIDS $SERVE_PID"
    _i=0
    SERVE_URL=""
    while [ $_i -lt 300 ] && [ -z "$SERVE_URL" ]; do
        SERVE_URL=$(tail -n +"$((_mark + 1))" "$SERVE_LOG" 2>/dev/null |
            grep -oE 'web UI and API on http://127\.0\.0\.1:[0-9]+' | head -1 | sed 's/.* on //')
        [ -n "$SERVE_URL" ] && break
        kill -0 "$SERVE_PID" 2>/dev/null || { cat "$SERVE_LOG" >&2; fail "poolpatch serve exited"; }
        sleep 0.1
        _i=$((_i + 1))
    done
    [ -n "$SERVE_URL" ] || { cat "$SERVE_LOG" >&2; fail "poolpatch serve did not listen in 30 s"; }
}

# stop_serve: SIGTERM the daemon and wait (at most 30 s) for it to exit 0.
stop_serve() {
    kill "$SERVE_PID" 2>/dev/null || true
    _i=0
    while kill -0 "$SERVE_PID" 2>/dev/null && [ $_i -lt 300 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    kill -0 "$SERVE_PID" 2>/dev/null && fail "poolpatch serve did not stop within 30 s"
    wait "$SERVE_PID" || {
        _rc=$?
        tail -40 "$SERVE_LOG" >&2
        fail "poolpatch serve exited with status $_rc on SIGTERM"
    }
}

# pp COMMAND [ARGS...]: the CLI against the daemon of start_serve (--server, --token-file).
pp() {
    _c=$1
    shift
    "$POOLPATCH" "$_c" --server "$SERVE_URL" --token-file "$SERVE_TOKEN" "$@"
}

# pp_run COMMAND [ARGS...]: run pp, never failing; sets PP_RC, PP_OUT (stdout), PP_ERR (stderr),
# and appends both to $E2E_TMP/transcript (every CLI output a test saw).
pp_run() {
    set +e
    pp "$@" >"$E2E_TMP/pp.out" 2>"$E2E_TMP/pp.err"
    PP_RC=$?
    set -e
    PP_OUT=$(cat "$E2E_TMP/pp.out")
    PP_ERR=$(cat "$E2E_TMP/pp.err")
    cat "$E2E_TMP/pp.out" "$E2E_TMP/pp.err" >>"$E2E_TMP/transcript"
}

# pp_ok COMMAND [ARGS...]: pp_run that fails the test unless the exit status is 0.
pp_ok() {
    pp_run "$@"
    [ "$PP_RC" = 0 ] || fail "poolpatch $* exited $PP_RC: $PP_ERR"
}

# pp_fails STATUS COMMAND [ARGS...]: pp_run that fails the test unless the exit status is STATUS.
pp_fails() {
    _want=$1
    shift
    pp_run "$@"
    [ "$PP_RC" = "$_want" ] || fail "poolpatch $* exited $PP_RC, expected $_want: $PP_OUT $PP_ERR"
}

# api METHOD PATH [BODY]: a raw REST call with the token; sets API_CODE and API_BODY.
api() {
    API_CODE=$(curl -sS --max-time 60 -o "$E2E_TMP/api.body" -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $(cat "$SERVE_TOKEN")" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$SERVE_URL$2")
    API_BODY=$(cat "$E2E_TMP/api.body")
}

# wait_rollout ID: poll `poolpatch rollout ID` until it reaches an end state (done, halted,
# cancelled, cancel_failed, failed); sets ROLLOUT_STATE.  Fails the test after 300 s of polls.
wait_rollout() {
    local _i=0
    while :; do
        ROLLOUT_STATE=$(pp rollout "$1" --json | jq -r .state)
        case "$ROLLOUT_STATE" in done | halted | cancelled | cancel_failed | failed) return 0 ;; esac
        _i=$((_i + 1))
        [ $_i -lt 1200 ] || fail "rollout $1 still $ROLLOUT_STATE"
        sleep 0.25
    done
}
