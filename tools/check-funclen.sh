#!/bin/sh
# tools/check-funclen.sh - reject functions longer than 120 lines (shared/DESIGN.md; issue #10).
# Sources are clang-formatted with Linux braces, so a function body opens with "{" alone in column
# 0 and closes with "}" in column 0; the length counted is from the line after the signature's
# last line to the closing brace.  Generated tables (src/sim/spec_tables.c) are left out.
# FUNCLEN_MAX overrides the limit.
cd "$(dirname "$0")/.." || exit 2
max=${FUNCLEN_MAX:-120}
files=$( (git ls-files 'src/*.c' 'tests/*.c' 'fuzz/*.c' 'bench/*.c' 2>/dev/null;
          find src tests fuzz bench -name '*.c' 2>/dev/null) | sort -u | grep -v '^src/sim/spec_tables\.c$')
out=$(awk -v max="$max" '
    FNR == 1 { name = ""; start = 0 }
    /^[A-Za-z_].*\(/ && !/;[[:space:]]*$/ { sig = $0 }
    /^\{/ { start = FNR; name = sig }
    /^\}/ && start { n = FNR - start - 1
        if (n > max) { fn = name; sub(/\(.*/, "", fn); sub(/.*[ *]/, "", fn)
                       printf "%s:%d: %s is %d lines (limit %d)\n", FILENAME, start, fn, n, max }
        start = 0 }' $files)
if [ -n "$out" ]; then
    echo "functions longer than $max lines:"
    echo "$out"
    exit 1
fi
exit 0
