#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/torture/fault_check.py - the fault matrix's judge over HTTP (tests/torture/fault_matrix.sh),
# the same rules as fault_matrix.c in-process.  The pool is read from the simulator only
# (GET /sim/state and XAPI JSON-RPC calls to the pool's master), never from the daemon.
#
#   fault_check.py facts MASTER_URL [HOST_URL...] -> the pool's facts as JSON on stdout (the
#       state from the first host that answers, the records from the master)
#   fault_check.py check BEFORE NOW ROLLOUT [--clean]
#       prints one problem a line: the rollout's report against the pool (NOW), and with
#       --clean the pool against BEFORE (done / cancelled: nothing left behind); exit 0 always
import json
import sys
import urllib.request

OLD_BUILD = "release/yangtze/master/58"
TIMEOUT = 30


def get(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        return json.loads(r.read(1 << 24))


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    req = urllib.request.Request(url.rstrip("/") + "/jsonrpc", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return json.loads(r.read(1 << 26)).get("result")


def facts(master, others):
    st = None
    for u in [master] + others:  # any host answers /sim/state; a partitioned one does not
        try:
            st = get(u.rstrip("/") + "/sim/state")
            break
        except OSError:
            continue
    if st is None:
        raise OSError("no simulated host answered GET /sim/state")
    p = st["pools"][0]
    f = {"ha": p["ha_enabled"], "hosts": {}, "resident": {}, "vms": {}, "cds": {},
         "vdis": 0, "updates": {}}
    for h in p["hosts"]:
        f["hosts"][h["name"]] = {"enabled": h["enabled"], "live": h["live"],
                                 "emergency": h["emergency"], "updates": h["updates"],
                                 "reboot_pending": bool(h["updates_requiring_reboot"]),
                                 "build": h["build_number"]}
        for vm in h["resident_vms"]:
            f["resident"][vm] = f["resident"].get(vm, 0) + 1
    try:
        s = rpc(master, "session.login_with_password", ["root", "xenroot"])
        for v in (rpc(master, "VM.get_all_records", [s]) or {}).values():
            if not (v["is_control_domain"] or v["is_a_template"] or v["is_a_snapshot"]):
                f["vms"][v["name_label"]] = v["power_state"]
        for v in (rpc(master, "VBD.get_all_records", [s]) or {}).values():
            if v["type"] == "CD":
                f["cds"][v["uuid"]] = v["empty"]
        f["vdis"] = len(rpc(master, "VDI.get_all_records", [s]) or {})
        for u in (rpc(master, "pool_update.get_all_records", [s]) or {}).values():
            f["updates"][u["name_label"]] = len(u["hosts"])
    except OSError as e:  # the master unreachable (a partition): the records stay empty
        f["unreachable"] = str(e)
    return f


def check_report(ro, before, now, out):
    when = ro.get("state") or "?"
    if when == "cancel_failed" and not ro.get("findings"):
        out.append("cancel_failed without findings naming what is left")
    for h in ro["pools"][0]["hosts"]:
        hn = h["name"]
        ph, bh = now["hosts"].get(hn, {}), before["hosts"].get(hn, {})
        names = [u.get("name") or u.get("uuid") for u in h.get("updates_applied") or []]
        for un in names:
            if un not in ph.get("updates", []):
                out.append(f"{when}: report: {un} applied on {hn}, the pool says not")
        for un in ph.get("updates", []):
            unconfirmed = [u.get("name") or u.get("uuid")
                           for u in h.get("updates_unconfirmed") or []]
            if un not in bh.get("updates", []) and un not in names and un not in unconfirmed:
                out.append(f"{when}: pool: {hn} has {un}, the report does not say so")
        # never done with a reboot pending: a live patch that did not take is rebooted by the
        # rollout (a second re-plan with the fixes the reboot needs)
        if when == "done" and ph.get("reboot_pending"):
            out.append(f"done: {hn} still needs its reboot")
        rp = h.get("reboot_pending")
        # while halted the pool may be unreachable: the facts are those last read
        if isinstance(rp, bool) and when != "halted" and rp != ph.get("reboot_pending"):
            out.append(f"{when}: report: {hn} reboot_pending {str(rp).lower()}, "
                       f"the pool {str(ph.get('reboot_pending')).lower()}")
        if h.get("state") != "done":
            continue
        named = any(f.get("object") == hn for f in ro.get("findings") or [])
        if not (ph.get("enabled") and ph.get("live")) and not named:
            out.append(f"{when}: report: {hn} done, the pool has it "
                       f"{'disabled' if ph.get('live') else 'not live'}")
        if ph.get("reboot_pending"):
            out.append(f"{when}: report: {hn} done, the pool says it still needs its reboot")
        if (h.get("predicted") or {}).get("reboot") and ph.get("build") == OLD_BUILD:
            out.append(f"{when}: report: {hn} done, the pool has it on the old build")


def check_clean(before, now, out):
    if before["ha"] != now["ha"]:
        out.append("HA not as before")
    for hn, h in now["hosts"].items():
        if not h["live"]:
            out.append(f"host {hn} left not live")
        elif h["emergency"]:
            out.append(f"host {hn} left in emergency mode")
        elif not h["enabled"]:
            out.append(f"host {hn} left disabled")
    for vm, ps in before["vms"].items():
        if now["vms"].get(vm) != ps:
            out.append(f"VM {vm} {now['vms'].get(vm)}, was {ps}")
    for vm, n in now["resident"].items():
        if n != 1:
            out.append(f"VM {vm} resident {n} times")
    if before["cds"] != now["cds"]:
        out.append("CD drives not as before")
    if now["vdis"] > before["vdis"]:
        out.append(f"{now['vdis']} VDIs, {before['vdis']} before (image left on the SR)")
    for un, n in now["updates"].items():
        if un not in before["updates"] and n == 0:
            out.append(f"pool_update {un} left (0 hosts)")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "facts":
        print(json.dumps(facts(sys.argv[2], sys.argv[3:])))
        return
    if len(sys.argv) >= 5 and sys.argv[1] == "check":
        load = [json.load(open(p, encoding="utf-8")) for p in sys.argv[2:5]]
        before, now, ro = load
        out = []
        check_report(ro, before, now, out)
        if "--clean" in sys.argv[5:]:
            check_clean(before, now, out)
        print("\n".join(out))
        return
    sys.exit("usage: fault_check.py facts URL [URL...] | check BEFORE NOW ROLLOUT [--clean]")


if __name__ == "__main__":
    main()
