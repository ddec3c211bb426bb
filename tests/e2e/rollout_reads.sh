#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/rollout_reads.sh - GET /rollouts/{id} while the rollout moves (served from published
# snapshots, docs/engine.md "Reads"), through the real binaries over HTTP against the simulator:
# reads with and without Cache-Control: max-age, interleaved, never go back in time (every
# counter of each answer is at least the one of the answer before, whatever its kind); an
# answer to max-age=1 says its Age (at most 1 s), a current one has none; once the rollout is
# done the first read of either kind is the final report (state done, the same counters), and
# its counters are the simulator's (reboots, migrations, hosts done, updates on legacy hosts).
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/demo.json" --time-scale 300
start_serve
echo xenroot >"$E2E_TMP/pw"
for p in prod lab edge-standalone; do
    pp_ok pool add "$p" --url "$(sim_master_url "$p")" --user root --password-file "$E2E_TMP/pw"
done
pp_ok client-id import "$SRCDIR/scenarios/demo-client-id.json"
pp_ok updates check
before=$(sim_state)

api POST /api/v1/rollouts '{"automated":true}'
assert_eq 201 "$API_CODE" "POST /rollouts: $API_BODY"
id=$(echo "$API_BODY" | jq -r .id)

python3 - "$SERVE_URL" "$(cat "$SERVE_TOKEN")" "$id" >"$E2E_TMP/reads.out" <<'PY' ||
import json, sys, time, urllib.request
url, token, rid = sys.argv[1:4]
KEYS = ("hosts_done", "updates_applied", "steps_started", "steps_done", "migrations", "reboots")
def get(max_age):
    h = {"Authorization": "Bearer " + token}
    if max_age:
        h["Cache-Control"] = "max-age=%d" % max_age
    req = urllib.request.Request(url + "/api/v1/rollouts/" + rid, headers=h)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read()), r.headers.get("Age")
def ended():  # from GET /rollouts (the list is built from the journal, not from the snapshots)
    req = urllib.request.Request(url + "/api/v1/rollouts", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=60) as r:
        st = [x["state"] for x in json.loads(r.read())["rollouts"] if x["id"] == rid]
    return st[0] in ("done", "halted", "cancelled", "failed", "cancel_failed")
last, n, kinds, bad = None, 0, {0: 0, 1: 0}, []
deadline = time.monotonic() + 600
while time.monotonic() < deadline and not ended():
    for max_age in (0, 1, 0, 1, 1):
        ro, age = get(max_age)
        n += 1
        kinds[max_age] += 1
        c = ro["counters"]
        if max_age and (age is None or not 0 <= int(age) <= 1):
            bad.append("read %d (max-age=1): Age %r" % (n, age))
        if not max_age and age is not None:
            bad.append("read %d (current) has an Age header %r" % (n, age))
        if last:
            back = [k for k in KEYS if c[k] < last[k]]
            if back:
                bad.append("read %d (max-age=%d) went back in time: %s" %
                           (n, max_age, ", ".join("%s %d < %d" % (k, c[k], last[k]) for k in back)))
        last = {k: c[k] for k in KEYS}
    time.sleep(0.2)  # mostly here when it ends: the last snapshot is then one from before
final = {}
for max_age in (60, 0):  # the first reads after the end: the final report, whatever the kind
    ro, _ = get(max_age)
    final[max_age] = ro
if json.dumps(final[60]["counters"], sort_keys=True) != json.dumps(final[0]["counters"], sort_keys=True):
    bad.append("max-age=60 after the end: %s, current: %s" % (final[60]["counters"], final[0]["counters"]))
if final[60]["state"] != final[0]["state"]:
    bad.append("max-age=60 after the end says %s, current %s" % (final[60]["state"], final[0]["state"]))
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
print(json.dumps({"reads": n, "current": kinds[0], "aged": kinds[1], "final": final[0]}))
PY
    fail "reads of rollout $id while it moved"
summary=$(cat "$E2E_TMP/reads.out")
r=$(echo "$summary" | jq -c .final)
assert_eq done "$(echo "$r" | jq -r .state)" "rollout state after the reads"
reads=$(echo "$summary" | jq .reads)
[ "$reads" -ge 8 ] || fail "only $reads reads while the rollout moved"
pass "$reads reads while it moved ($(echo "$summary" | jq .current) current, $(echo "$summary" | jq .aged) with max-age=1): no counter went back, Age only on max-age reads"

after=$(sim_state)
assert_eq "$(echo "$after" | jq .counters.reboots)" "$(echo "$r" | jq .counters.reboots)" "reboots"
assert_eq "$(echo "$after" | jq .counters.migrations)" "$(echo "$r" | jq .counters.migrations)" \
    "migrations"
# every host is done in the report; each legacy (8.2.1) host has updates added in the pool
python3 - "$r" "$before" "$after" <<'PY' || fail "final report disagrees with the simulator"
import json, sys
ro, b, a = (json.loads(x) for x in sys.argv[1:4])
def ups(st):
    return {h["name"]: set(h["updates"]) for p in st["pools"] for h in p["hosts"]}
ub, ua = ups(b), ups(a)
legacy = {h["name"] for p in a["pools"] for h in p["hosts"] if h["product_version"] == "8.2.1"}
bad = []
for p in ro["pools"]:
    for h in p["hosts"]:
        added = ua[h["name"]] - ub[h["name"]]  # legacy updates; XenServer 8 hosts: their hash
        if h["state"] != "done" or (h["name"] in legacy and not added):
            bad.append("%s: %s, %d updates added" % (h["name"], h["state"], len(added)))
if ro["counters"]["hosts_done"] != sum(len(p["hosts"]) for p in a["pools"]):
    bad.append("hosts_done %d" % ro["counters"]["hosts_done"])
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
pass "final report (state done, counters $(echo "$r" | jq -c '{reboots: .counters.reboots, migrations: .counters.migrations, hosts_done: .counters.hosts_done}')) agrees with the simulator"
