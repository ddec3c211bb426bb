#!/bin/sh
# tools/check-banned.sh - reject functions banned by shared/DESIGN.md in project sources.
cd "$(dirname "$0")/.." || exit 2
hits=$(grep -nE '\b(strcpy|sprintf|strcat|atoi|gets)[[:space:]]*\(' \
    $(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'fuzz/*.c' 'bench/*.c' 2>/dev/null; \
      find src tests fuzz bench -name '*.[ch]' 2>/dev/null) 2>/dev/null | sort -u)
if [ -n "$hits" ]; then
    echo "banned functions used (strcpy, sprintf, strcat, atoi, gets):"
    echo "$hits"
    exit 1
fi
exit 0
