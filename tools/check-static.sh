#!/bin/sh
# tools/check-static.sh [BUILD] - the static analyzers over src/: cppcheck (warnings, portability)
# and clang-tidy (the checks in .clang-tidy, using BUILD/compile_commands.json; default build).
# Any finding fails.  src/sim/spec_tables.c (generated tables) is left out.  Part of make lint.
cd "$(dirname "$0")/.." || exit 2
build=${1:-build}
files=$(git ls-files 'src/*.c' | grep -v '^src/sim/spec_tables\.c$')
status=0
# json_array_foreach and friends are jansson's macros; cppcheck is not given the system headers
cppcheck --quiet --std=c11 --enable=warning,portability --inline-suppr --error-exitcode=1 \
    --suppress=unknownMacro -I src $files || status=1
if [ -f "$build/compile_commands.json" ]; then
    echo "$files" | xargs -P 2 -n 8 clang-tidy -p "$build" --quiet 2>/dev/null | \
        grep -E 'warning:|error:' | sort -u | grep . && status=1
else
    echo "check-static: no $build/compile_commands.json (make build first)" >&2
    status=1
fi
[ $status -eq 0 ] || echo "check-static: findings above" >&2
exit $status
