#!/bin/sh
# tools/test-summary.sh BUILD - print "N passed, N failed" from meson's test log.
log="$1/meson-logs/testlog.json"
[ -f "$log" ] || { echo "0 passed, 0 failed"; exit 0; }
python3 - "$log" <<'PY' 2>/dev/null || awk 'BEGIN{p=0;f=0} /"result": "OK"/{p++} /"result": "(FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS)"/{f++} END{printf "%d passed, %d failed\n", p, f}' "$log"
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r != "SKIP":
        f += 1
print(f"{p} passed, {f} failed")
PY
