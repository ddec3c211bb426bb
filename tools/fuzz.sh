#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/fuzz.sh - build the libFuzzer harnesses in fuzz/ with clang (ASan + UBSan + libFuzzer)
# in build-fuzz/ and run each for FUZZ_SECONDS (default 60).  New inputs that add coverage are
# merged into fuzz/corpus/<name>/ (commit them); crashes land in build-fuzz/artifacts-<name>/ and
# make the script fail.  Usage: tools/fuzz.sh [harness...]   (default: all of fuzz/fuzz_*.c)
set -eu
cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang}
OUT=${FUZZ_OUT:-build-fuzz}
SECONDS_PER=${FUZZ_SECONDS:-60}
MAX_LEN=${FUZZ_MAX_LEN:-16384}

command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (apt-get install clang libfuzzer-14-dev)"; exit 2; }
mkdir -p "$OUT"

# Sources: the files listed in the meson.build of the pure modules the harnesses use, plus the
# xapi codecs (the rest of xapi - client, transports - links libcurl and is not fuzzed here).
module_files() {
    sed -n "/files(/,/)/p" "src/$1/meson.build" | grep -o "'[^']*\.c'" | tr -d "'" |
        sed "s|^|src/$1/|"
}
SRCS="$(module_files base) src/xapi/codec.c src/xapi/jsonrpc.c src/xapi/value.c src/xapi/xmlrpc.c"
for m in catalog plan; do
    [ -f "src/$m/meson.build" ] && SRCS="$SRCS $(module_files $m)"
done
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -DPP_HAVE_EXPAT_BLA -Isrc -Ifuzz
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        $(pkg-config --cflags jansson expat)"
LIBS="$(pkg-config --libs jansson expat) -lm -lpthread"

if [ $# -gt 0 ]; then
    names="$*"
else
    names=$(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||')
fi

status=0
for name in $names; do
    bin="$OUT/fuzz_$name"
    echo "== building $bin"
    # shellcheck disable=SC2086
    $CC $CFLAGS -o "$bin" "fuzz/fuzz_$name.c" $SRCS $LIBS
    mkdir -p "$OUT/new-$name" "$OUT/artifacts-$name" "fuzz/corpus/$name"
    dict=""
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    echo "== fuzzing $name for ${SECONDS_PER}s"
    # new finds go to $OUT/new-$name; the seed corpus is read-only here
    if ! "$bin" -max_total_time="$SECONDS_PER" -max_len="$MAX_LEN" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 $dict \
            -artifact_prefix="$OUT/artifacts-$name/" "$OUT/new-$name" "fuzz/corpus/$name"; then
        echo "fuzz.sh: $name found a failure; see $OUT/artifacts-$name/"
        status=1
    fi
    echo "== merging new coverage into fuzz/corpus/$name"
    "$bin" -merge=1 -max_len="$MAX_LEN" "fuzz/corpus/$name" "$OUT/new-$name" 2>&1 | tail -n 2
done
exit $status
