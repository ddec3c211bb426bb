#!/bin/sh
# tools/test-summary.sh BUILD - print "N passed, N failed" from meson's test log, counting the
# cases inside each test program: cmocka's "[ RUN      ]" and "[       OK ]" lines,
# and the "ok - " lines of the end-to-end scripts.  A program that failed without reporting
# cases counts as one failure; one that passed without reporting cases counts as one pass.
log="$1/meson-logs/testlog.json"
[ -f "$log" ] || { echo "0 passed, 0 failed"; exit 0; }
exec python3 - "$log" <<'PY'
import json, re, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    res = t.get("result")
    if res == "SKIP":
        continue
    ok = res in ("OK", "EXPECTEDFAIL")
    out = t.get("stdout") or ""
    run = len(re.findall(r"^\[ RUN      \] ", out, re.M))
    p = len(re.findall(r"^\[       OK \] ", out, re.M))
    sk = len(re.findall(r"^\[  SKIPPED \] ", out, re.M))
    skipped += sk
    f = max(run - p - sk, 0)
    p += len(re.findall(r"^ok - ", out, re.M))
    f += len(re.findall(r"^not ok - ", out, re.M))
    if p == 0 and f == 0:
        p, f = (1, 0) if ok else (0, 1)
    elif not ok and f == 0:
        f = 1
    passed += p
    failed += f
if skipped:
    print(f"{skipped} skipped (see the test logs for why)")
print(f"{passed} passed, {failed} failed")
PY
