#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/torture/fault_matrix.sh - issue 12's fault matrix through the real binaries over HTTP:
# per cell of tests/torture/fault_cells.json a fresh `poolpatch sim` (the pool "prod" of
# scenarios/demo.json) and `poolpatch serve`, the cell's fault posted to /sim/fault, an automated
# rollout (`poolpatch apply`); the test acts itself at the cell's step (SIGKILL of the daemon and
# a restart on the same database, or `poolpatch cancel`) once the simulator has seen the step's
# first XAPI call (a sentinel fault armed by it, GET /sim/state "faults_waiting") or the report
# shows the named host at that step.  The rollout must end in the cell's named state and code;
# the pool read from the simulator (fault_check.py) must agree with the report; then the fault
# cleared, `poolpatch retry` / `cancel` must end done / cancelled with nothing left behind.
#
#   FAULT_CELLS=all | N[,N...] | COUNT (a seeded sample of COUNT cells; default 3)
#   FAULT_SEED=N (the sample's seed; printed), FAULT_SCALE (simulated seconds per second, 300),
#   FAULT_STUCK_S (90: a rollout still running that long after the fault ends the first phase),
#   FAULT_END_S (300: the bound on the second phase)
#   FAULT_OUT=FILE (the cell lines, for tools/fault-table.py), FAULT_DOC=FILE (docs/engine.md: each
#   cell's verdict must be its HTTP column's)
# Prints "cell N<TAB>fault<TAB>step<TAB>then<TAB>want<TAB>result<TAB>verdict[: why]" per cell and
#   fault-matrix-http: C cells, P pass, X known failures, F failures
. "$(dirname "$0")/../e2e/lib.sh"

CELLS_JSON="$SRCDIR/tests/torture/fault_cells.json"
CHECK="$SRCDIR/tests/torture/fault_check.py"
SEED=${FAULT_SEED:-$(($(date +%s) % 100000))}
SCALE=${FAULT_SCALE:-300}
WANT=${FAULT_CELLS:-3}
STUCK=${FAULT_STUCK_S:-90} # a rollout still running this long after the fault has no end state
END_S=${FAULT_END_S:-300}  # how long Retry / Cancel (the fault cleared) may take to end
LP_UUID=c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03 # XS82ECU1003, the live patch
RANDOM=$SEED
ncells=$(jq '.cells | length' "$CELLS_JSON")
case "$WANT" in
    all) chosen=$(seq 1 "$ncells") ;;
    *,* | [0-9]*,*) chosen=$(echo "$WANT" | tr ',' ' ') ;;
    *)
        # a seeded sample: WANT distinct cells, leaving out those the doc shows without an end
        # state over HTTP (each costs FAULT_STUCK_S + FAULT_END_S)
        chosen=$(for i in $(seq 1 "$ncells"); do
            if [ -n "${FAULT_DOC:-}" ] && grep -E "^\| $i \|" "$FAULT_DOC" | grep -q 'no end after'; then
                continue
            fi
            echo "$((RANDOM % 1000)) $i"
        done | sort -n | head -n "$WANT" | awk '{ print $2 }' | sort -n)
        ;;
esac
[ "$WANT" = all ] || case "$WANT" in *,*) ;; *) echo "# fault-matrix-http: seed $SEED (replay: FAULT_SEED=$SEED FAULT_CELLS=$WANT), cells $(echo $chosen)" ;; esac
# the pool prod; its reboot updates' images move the build number (a host back on the old
# version shows it)
make_scenario "$E2E_TMP/prod.json" '.pools |= map(select(.name == "prod")) |
    .vendor.patches |= map(if (.after_apply_guidance | index("restartHost"))
        then . + {build_number: "release/yangtze/master/59"} else . end)'
printf 'host_return_timeout = 30\n' >"$E2E_TMP/serve.conf"

cell() { jq -c ".cells[$(($1 - 1))]" "$CELLS_JSON"; }
field() { echo "$CELL" | jq -r ".$1 // empty"; }

# the simulator's host URLs (any host answers /sim/*; a partitioned one does not)
sim_urls() {
    _p=${MASTER##*:}
    _p=${_p%/}
    _a=${MASTER#http://}
    _a=${_a%%:*}
    for k in 0 1 2 3; do echo "http://${_a%.*}.$((${_a##*.} + k)):$_p"; done
}

sim_fault() { # JSON: POST /sim/fault to the first host that answers
    for u in $(sim_urls); do
        curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' --data "$1" \
            "$u/sim/fault" 2>/dev/null | grep -q '"ok"' && return 0
    done
    fail "POST /sim/fault $1: no simulated host answered"
}

state_of() { pp rollout "$1" --json 2>/dev/null | jq -r '.state // empty' 2>/dev/null || true; }

# The XAPI call that starts each step (a sentinel fault armed by it shows the step began).
first_call() {
    case "$1" in
        resolve) echo pool.disable_ha ;; upload) echo task.create ;;
        introduce) echo pool_update.introduce ;; precheck) echo pool_update.precheck ;;
        evacuate) echo VM.pool_migrate ;; apply) echo pool_update.apply ;;
        reboot) echo host.reboot ;; return) echo host.enable ;; restore) echo pool.enable_ha ;;
    esac
}

# wait until the cell's step is reached: the named host at that step in the report, or the
# sentinel armed (60 s at most); 0 when reached.  The rollout's state is read before the step's
# sign: read after it, a short last step (restore: pool.enable_ha) could arm the sentinel and the
# rollout end between the two reads, and a reached step looked "never reached" (cell 35 under
# load).
wait_step() { # ID AT AT_HOST
    for _ in $(seq 1 600); do
        st=$(state_of "$1")
        if [ -n "$3" ]; then
            s=$(pp rollout "$1" --json 2>/dev/null |
                jq -r --arg h "$3" '.pools[0].hosts[] | select(.name == $h) | .step // empty')
            [ "$s" = "$2" ] && return 0
        elif [ "$(sim_state | jq .faults_waiting)" = 0 ]; then
            return 0
        fi
        case "$st" in done | halted | cancelled | cancel_failed) return 1 ;; esac
        sleep 0.1
    done
    return 1
}

wait_final() { # ID [SECONDS]: the rollout's final state (default 10 min at most), else its state
    _end=$((SECONDS + ${2:-600}))
    while :; do
        s=$(state_of "$1")
        case "$s" in done | halted | cancelled | cancel_failed | failed) echo "$s" && return 0 ;; esac
        [ "$SECONDS" -lt "$_end" ] || break
        sleep 0.2
    done
    echo "$s"
}

outcome() { # ID -> "state[ CODE]"
    pp rollout "$1" --json | jq -r '.state + (if .error.code then " " + .error.code else "" end)'
}

judge() { # ID FILE_BEFORE [--clean]: problems, one a line
    fc_now="$E2E_TMP/now.json"
    fc_ro="$E2E_TMP/ro.json"
    python3 "$CHECK" facts $(sim_urls) >"$fc_now" || fail "fault_check.py facts"
    pp rollout "$1" --json >"$fc_ro" || fail "rollout $1"
    python3 "$CHECK" check "$2" "$fc_now" "$fc_ro" "${@:3}"
}

run_cell() { # N: writes the cell's line to $E2E_TMP/line
    CELL=$(cell "$1")
    rm -f "$E2E_TMP/sim.out"
    SERVE_DIR="$E2E_TMP/serve-$1"
    start_sim "$E2E_TMP/prod.json" --time-scale "$SCALE"
    start_serve --config "$E2E_TMP/serve.conf"
    MASTER=$(sim_master_url prod)
    echo xenroot >"$E2E_TMP/pw"
    pp_ok pool add prod --url "$MASTER" --user root --password-file "$E2E_TMP/pw"
    pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
    pp_ok updates check
    python3 "$CHECK" facts $(sim_urls) >"$E2E_TMP/before.json" || fail "fault_check.py facts"
    at=$(field at)
    at_host=$(field at_host)
    [ -z "$(field sim)" ] || sim_fault "$(field sim)"
    [ -z "$at" ] || [ -n "$at_host" ] ||
        sim_fault "{\"type\": \"migration_fails\", \"vm\": \"no-such-vm\", \"armed_by\": \"$(first_call "$at")\"}"
    if [ "$(field livepatch_only)" = true ]; then
        pp_ok apply prod --update "$LP_UUID" --yes --no-follow
    else
        pp_ok apply prod --automated --yes --no-follow
    fi
    id=$(pp rollouts --json | jq -r '.rollouts[0].id')
    why=""
    if [ -n "$at" ]; then
        if wait_step "$id" "$at" "$at_host"; then
            [ "$(field cancel)" != true ] || pp_ok cancel "$id"
            if [ "$(field kill)" = true ]; then
                kill -9 "$SERVE_PID"
                wait "$SERVE_PID" 2>/dev/null || true
                start_serve --config "$E2E_TMP/serve.conf"
            fi
        else
            why="the step $at was never reached"
        fi
    fi
    st=$(wait_final "$id" "$STUCK")
    o1=$(outcome "$id")
    case "$st" in running | cancelling) o1="$st (no end after $STUCK s)" ;; esac
    want=$(field want)
    code=$(field code)
    [ "$st" = "$want" ] || why="${why:+$why; }ended $o1, want $want"
    if [ "$st" = "$want" ] && [ -n "$code" ] && [ "$o1" != "$st $code" ]; then
        why="${why:+$why; }ended $o1, want code $code"
    fi
    [ "$st" != halted ] || [ "$o1" != halted ] || why="${why:+$why; }halted without an error code"
    clean=()
    case "$st" in done | cancelled) clean=(--clean) ;; esac
    p=$(judge "$id" "$E2E_TMP/before.json" "${clean[@]}" | paste -sd ';' -)
    [ -z "$p" ] || why="${why:+$why; }$p"
    result="$o1"
    case "$st" in
        done | cancelled) ;;
        *)
            sim_fault '{"type": "clear"}'
            then=$(field then)
            act=retry
            [ "$then" != cancel ] || [ "$st" = cancel_failed ] || act=cancel
            want2=done
            { [ "$act" = cancel ] || [ "$st" = cancel_failed ]; } && want2=cancelled
            if [ "$st" = running ] || [ "$st" = cancelling ]; then
                act=wait # still going: the cleared fault must let it end by itself
                [ "$st" = running ] || want2=cancelled
                [ "$(field cancel)" != true ] || want2=cancelled
            else
                pp_run "$act" "$id"
                [ "$PP_RC" = 0 ] || why="${why:+$why; }$act refused: $PP_ERR"
            fi
            st2=$(wait_final "$id" "$END_S")
            o2=$(outcome "$id")
            [ "$st2" = "$want2" ] || why="${why:+$why; }after $act: $o2, want $want2"
            p=$(judge "$id" "$E2E_TMP/before.json" --clean | paste -sd ';' -)
            [ -z "$p" ] || why="${why:+$why; }$p"
            result="$o1 → $act → $o2"
            ;;
    esac
    xfail=$(echo "$CELL" | jq -r '.xfail // .xfail_http // empty')
    if [ -n "$why" ]; then
        verdict=FAIL
        [ -z "$xfail" ] || verdict=xfail
    else
        verdict=pass
        [ -z "$xfail" ] || verdict=XPASS
    fi
    printf 'cell %s\t%s\t%s\t%s\t%s\t%s\t%s%s\n' "$1" "$(field fault)" "$(field step)" \
        "$(field then)" "$want${code:+ $code}" "$result" "$verdict" "${why:+: $why}" >"$E2E_TMP/line"
    stop_serve
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
}

npass=0
nx=0
nf=0
n=0
: >"${FAULT_OUT:-$E2E_TMP/cells.out}"
for cn in $chosen; do
    run_cell "$cn"
    line=$(cat "$E2E_TMP/line")
    echo "$line" | tee -a "${FAULT_OUT:-$E2E_TMP/cells.out}"
    n=$((n + 1))
    verdict=$(echo "$line" | cut -f7 | sed "s/ *|\$//" | cut -d: -f1)
    case "$verdict" in
        pass) npass=$((npass + 1)) ;; xfail) nx=$((nx + 1)) ;; *) nf=$((nf + 1)) ;;
    esac
    if [ -n "${FAULT_DOC:-}" ]; then # the doc's HTTP column must give this verdict
        doc=$(grep -E "^\| $cn \|" "$FAULT_DOC" | awk -F' \\| ' '{ print $7 }' | sed "s/ *|\$//" | cut -d: -f1)
        if [ -n "$doc" ] && [ "$doc" != "not run" ] && [ "$doc" != "$verdict" ]; then
            echo "fault-matrix-http: $FAULT_DOC says $doc for cell $cn, this run $verdict (make faults regenerates it)" >&2
            nf=$((nf + 1))
        fi
    fi
done
echo "fault-matrix-http: $n cells, $npass pass, $nx known failures, $nf failures"
[ "$nf" = 0 ]
