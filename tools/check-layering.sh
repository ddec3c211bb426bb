#!/bin/sh
# tools/check-layering.sh - a lower module never includes a higher one (shared/DESIGN.md).
# Each module lists the modules it may include; anything else under src/ is a violation.
set -u
cd "$(dirname "$0")/.." || exit 2
allowed() {
    case "$1" in
        base) echo "base" ;;
        xapi) echo "base xapi" ;;
        catalog) echo "base catalog" ;;
        plan) echo "base catalog plan" ;;
        store) echo "base store" ;;
        sim) echo "base xapi sim" ;;
        engine) echo "base catalog plan xapi store engine" ;;
        api) echo "base catalog plan xapi store engine api" ;;
        cli) echo "base catalog plan xapi store engine api sim cli" ;;
        *) echo "" ;;
    esac
}
bad=0
for dir in src/*/; do
    mod=$(basename "$dir")
    ok=$(allowed "$mod")
    for f in "$dir"*.c "$dir"*.h; do
        [ -f "$f" ] || continue
        for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/.*".*/\1/p' "$f"); do
            case " $ok " in
                *" $inc "*) ;;
                *) echo "layering: $f includes $inc/ (module $mod may include: $ok)"; bad=1 ;;
            esac
        done
    done
done
exit $bad
