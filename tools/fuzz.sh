#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/fuzz.sh - build every libFuzzer harness in fuzz/ (fuzz/meson.build's list) with clang,
# ASan + UBSan + libFuzzer, in build-fuzz/ (meson -Dfuzzing=true: every module instrumented, so the
# harnesses of the daemon's inputs - api, settings, scenario, zip - link the real api, sim and
# engine code) and run each for FUZZ_SECONDS (default 60).  New inputs that add coverage are
# merged into fuzz/corpus/<name>/ (commit them); crashes land in build-fuzz/artifacts-<name>/ and
# make the script fail.  Usage: tools/fuzz.sh [harness...]   (default: all of fuzz/fuzz_*.c)
set -eu
cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang}
OUT=${FUZZ_OUT:-build-fuzz}
SECONDS_PER=${FUZZ_SECONDS:-60}
MAX_LEN=${FUZZ_MAX_LEN:-16384}

command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (apt-get install clang libfuzzer-14-dev)"; exit 2; }

if [ $# -gt 0 ]; then
    names="$*"
else
    names=$(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||')
fi
for name in $names; do
    grep -q "'$name':" fuzz/meson.build ||
        { echo "fuzz.sh: fuzz/fuzz_$name.c is not listed in fuzz/meson.build"; exit 2; }
done

if [ ! -f "$OUT/build.ninja" ]; then
    log=$(mktemp)
    CC="$CC" meson setup "$OUT" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debugoptimized -Dwerror=false >"$log" 2>&1 || { cat "$log"; rm -f "$log"; exit 2; }
    rm -f "$log"
fi
targets=""
for name in $names; do targets="$targets fuzz/fuzz_$name"; done
echo "== building$targets in $OUT"
# shellcheck disable=SC2086
ninja -C "$OUT" $targets

status=0
for name in $names; do
    bin="$OUT/fuzz/fuzz_$name"
    mkdir -p "$OUT/new-$name" "$OUT/artifacts-$name" "fuzz/corpus/$name"
    dict=""
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    echo "== fuzzing $name for ${SECONDS_PER}s"
    # new finds go to $OUT/new-$name; the seed corpus is read-only here
    # shellcheck disable=SC2086
    if ! "$bin" -max_total_time="$SECONDS_PER" -max_len="$MAX_LEN" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 $dict \
            -artifact_prefix="$OUT/artifacts-$name/" "$OUT/new-$name" "fuzz/corpus/$name"; then
        echo "fuzz.sh: $name found a failure; see $OUT/artifacts-$name/"
        status=1
    fi
    echo "== merging new coverage into fuzz/corpus/$name"
    "$bin" -merge=1 -max_len="$MAX_LEN" "fuzz/corpus/$name" "$OUT/new-$name" 2>&1 | tail -n 2
done
# shellcheck disable=SC2086
[ $status -eq 0 ] && echo "fuzz.sh: every harness built and ran:" $names
exit $status
