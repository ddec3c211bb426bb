#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench_idle.sh - what an idle `poolpatch serve` costs: CPU (% of one core over 30 s, from the
# nanoseconds on CPU of every thread, /proc/PID/task/*/schedstat; the utime + stime ticks of
# /proc/PID/stat are printed beside it: 10 ms each, too coarse for 0.1 s of CPU in 30 s), wakeups (context switches of all its threads, from
# /proc/PID/task/*/status) and, when strace may attach, its poll() family calls in 10 s.  Two
# cases: no pool registered, and 100 idle simulated pools (one `poolpatch sim` serving 100
# one-host pools made from scenarios/small.json).  Issue 17's goal: idle < 0.5% of a core.
# With pools it measures BENCH_IDLE_WINDOWS (default 3) windows of BENCH_IDLE_SECONDS (default
# 30) one after the other, prints each and their mean: one window is 30 s x 100 clock ticks, and
# a window that a burst of other work on the machine slowed should not decide the figure alone.
# Run by `make bench` (bench/meson.build); prints its figures, asserts nothing about time.
. "$SRCDIR/tests/e2e/lib.sh"

WINDOW=${BENCH_IDLE_SECONDS:-30}
TCK=$(getconf CLK_TCK)

ticks() { # PID: utime + stime of the whole process
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

cpu_ns() { # PID: nanoseconds its live threads ran (schedstat), or 0 when the kernel has none
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ n += $1 } END { printf "%.0f\n", n }'
}

switches() { # PID: voluntary + involuntary context switches of every thread
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

polls() { # PID: poll/ppoll/epoll_wait calls in WINDOW seconds, or "n/a" when strace cannot attach
    if ! command -v strace >/dev/null 2>&1; then
        echo n/a
        return
    fi
    timeout -s INT "$WINDOW" strace -f -c -e trace=poll,ppoll,epoll_wait,epoll_pwait \
        -p "$1" -o "$E2E_TMP/strace.out" >/dev/null 2>&1 || true
    awk '$NF ~ /^(poll|ppoll|epoll_wait|epoll_pwait)$/ { n += $4 } END { print n + 0 }' \
        "$E2E_TMP/strace.out" 2>/dev/null || echo n/a
}

WINDOWS=${BENCH_IDLE_WINDOWS:-3}

cpu_window() { # LABEL: CPU and wakeups of $SERVE_PID over WINDOW seconds; sets NS and TICKS
    t0=$(ticks "$SERVE_PID")
    n0=$(cpu_ns "$SERVE_PID")
    s0=$(switches "$SERVE_PID")
    sleep "$WINDOW"
    t1=$(ticks "$SERVE_PID")
    n1=$(cpu_ns "$SERVE_PID")
    s1=$(switches "$SERVE_PID")
    TICKS=$((t1 - t0))
    NS=$((n1 - n0))
    awk -v l="$1" -v d="$TICKS" -v ns="$NS" -v hz="$TCK" -v w="$WINDOW" -v s=$((s1 - s0)) \
        -v la="$(cut -d' ' -f1 /proc/loadavg)" \
        'BEGIN { printf "idle %s: CPU %.3f%% of a core (%.1f ms of CPU in %d s; %d ticks), %d wakeups, load average %s\n",
                 l, ns / (w * 1e7), ns / 1e6, w, d, s, la }'
}

measure() { # LABEL [N]: N (default 1) CPU windows, their mean when N > 1, then the poll calls
    n=${2:-1}
    total=0
    for i in $(seq 1 "$n"); do
        if [ "$n" -gt 1 ]; then cpu_window "$1, window $i of $n"; else cpu_window "$1"; fi
        total=$((total + NS))
    done
    if [ "$n" -gt 1 ]; then
        awk -v l="$1" -v ns="$total" -v w="$WINDOW" -v n="$n" \
            'BEGIN { printf "idle %s: mean CPU %.3f%% of a core over %d x %d s (%.1f ms of CPU)\n",
                     l, ns / (w * n * 1e7), n, w, ns / 1e6 }'
    fi
    echo "idle $1: $(polls "$SERVE_PID") poll calls in $WINDOW s"
}

# -- no pools
SERVE_DIR=$E2E_TMP/serve0 start_serve
sleep 2
measure "serve, no pools"
stop_serve

# -- 100 idle pools (one host each), served by one simulator
jq '.pools = [range(100) as $i | .pools[0]
      | .name = "idle-\($i)"
      | .hosts = [{"name": "idle-\($i)-h", "memory_gib": 64, "master": true}]
      | .srs = [.srs[0]] | .vms = [] | del(.updates)]' \
    "$SRCDIR/scenarios/small.json" >"$E2E_TMP/idle100.json"
start_sim "$E2E_TMP/idle100.json" --base-address 127.0.61.10 --time-scale 1
SERVE_DIR=$E2E_TMP/serve100 start_serve
echo xenroot >"$E2E_TMP/pw"
for i in $(seq 0 99); do
    for _try in 1 2 3; do # a loaded machine may refuse a connection now and then
        pp_run pool add "idle-$i" --url "$(sim_master_url "idle-$i")" --user root \
            --password-file "$E2E_TMP/pw"
        [ "$PP_RC" = 0 ] && break
    done
    [ "$PP_RC" = 0 ] || fail "pool add idle-$i: $PP_ERR"
done
sleep 5 # every pool's first snapshot; then only their event.from long-polls remain
measure "serve, 100 pools" "$WINDOWS"
stop_serve
