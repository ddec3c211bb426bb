#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sim_fleet.py - the simulator's own cost at fleet scale (issue 17): one `poolpatch sim` process
serving 100 pools x 16 hosts (bench-16's shape: 1,600 hosts, 32,000 VMs).  Measures the start
(time to `ready`), threads and resident memory, then with one event.from long-poll held open on
every pool (as a daemon watching the fleet does) the CPU used while idle, and the rate of
simple calls from 16 concurrent clients.  Prints the figures and one summary line.

usage: sim_fleet.py POOLPATCH SCENARIO [POOLS]   (SCENARIO: scenarios/bench-16.json)
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def fleet(base, pools):
    """bench-16's pool repeated: pool i on 127.0.(i+1).1 .. .16."""
    doc = dict(base)
    doc["base_address"] = "127.0.1.1"
    doc["pools"] = []
    for i in range(pools):
        p = json.loads(json.dumps(base["pools"][0]))
        suffix = "-p%03d" % i
        p["name"] = p["name"] + suffix
        for h in p["hosts"]:
            h["name"] += suffix
            h["address"] = "127.0.%d.%d" % (i + 1, p["hosts"].index(h) + 1)
        for vm in p["vms"]:
            vm["name"] += suffix
            vm["host"] += suffix
        for sr in p["srs"]:
            sr["name"] += suffix
            if "host" in sr:
                sr["host"] += suffix
        for vm in p["vms"]:
            for d in vm.get("disks", []):
                d["sr"] += suffix
        if "default_sr" in p:
            p["default_sr"] += suffix
        doc["pools"].append(p)
    return doc


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    status = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.strip()
    return cpu, int(status["Threads"]), int(status["VmRSS"].split()[0]) // 1024, \
        int(status["VmHWM"].split()[0]) // 1024


def call(host, port, method, params, timeout=60):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
    c.request("POST", "/jsonrpc", body, {"Content-Type": "application/json"})
    r = json.loads(c.getresponse().read())
    c.close()
    if "error" in r:
        raise RuntimeError("%s: %s" % (method, r["error"]))
    return r["result"]


def main():
    exe, scen = sys.argv[1], sys.argv[2]
    pools = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    with open(scen) as f:
        doc = fleet(json.load(f), pools)
    tmp = tempfile.mkdtemp(prefix="pp-bench-sim.")
    path = os.path.join(tmp, "fleet.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    t0 = time.monotonic()
    sim = subprocess.Popen([exe, "sim", "--scenario", path, "--port", "0", "--time-scale", "60"],
                           stdout=subprocess.PIPE, text=True)
    masters = []
    for line in sim.stdout:
        w = line.split()
        if w and w[0] == "pool":
            hp = w[3].split("//")[1].rstrip("/")
            masters.append((hp.split(":")[0], int(hp.split(":")[1])))
        if line.strip() == "ready":
            break
    ready_s = time.monotonic() - t0
    try:
        nhosts = sum(len(p["hosts"]) for p in doc["pools"])
        nvms = sum(len(p["vms"]) for p in doc["pools"])
        _, th0, rss0, _ = proc_stat(sim.pid)
        sessions = [call(h, p, "session.login_with_password", ["root", "xenroot"])
                    for h, p in masters]
        tokens = [call(h, p, "event.from", [s, ["*"], "", 0])["token"]
                  for (h, p), s in zip(masters, sessions)]
        # One long-poll per pool, held open (nothing changes while idle).
        polls = []
        for (h, p), s, tok in zip(masters, sessions, tokens):
            th = threading.Thread(target=lambda h=h, p=p, s=s, tok=tok:
                                  call(h, p, "event.from", [s, ["vm"], tok, 30.0], timeout=60),
                                  daemon=True)
            th.start()
            polls.append(th)
        time.sleep(1.0)
        cpu0, th1, rss1, _ = proc_stat(sim.pid)
        idle_s = 10.0
        time.sleep(idle_s)
        cpu1, th2, _, _ = proc_stat(sim.pid)
        idle_pct = 100.0 * (cpu1 - cpu0) / idle_s
        # Throughput: 16 clients each calling host.get_all on masters in turn.
        ncalls = 0
        lock = threading.Lock()
        stop = time.monotonic() + 5.0

        def worker(k):
            nonlocal ncalls
            i = k
            while time.monotonic() < stop:
                h, p = masters[i % len(masters)]
                call(h, p, "host.get_all", [sessions[i % len(masters)]])
                with lock:
                    ncalls += 1
                i += 1
        ws = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
        c0 = proc_stat(sim.pid)[0]
        for w in ws:
            w.start()
        for w in ws:
            w.join()
        c1, th3, _, hwm = proc_stat(sim.pid)
        rate = ncalls / 5.0
        print("hosts %d, VMs %d, pools %d, one process" % (nhosts, nvms, len(masters)))
        print("start to ready: %.1f s" % ready_s)
        print("threads: %d at ready, %d with %d long-polls open, %d under load"
              % (th0, th1, len(polls), th3))
        print("RSS: %d MiB at ready, %d MiB with long-polls, peak %d MiB" % (rss0, rss1, hwm))
        print("idle CPU with %d long-polls open: %.2f%% of a core (%.0f s)"
              % (len(polls), idle_pct, idle_s))
        print("host.get_all from 16 clients (new connection each): %.0f calls/s, %.2f CPU s"
              % (rate, c1 - c0))
        print("sim-fleet: %d hosts, ready %.1f s, threads %d, peak RSS %d MiB, idle %.2f%%, "
              "%.0f calls/s" % (nhosts, ready_s, max(th1, th3), hwm, idle_pct, rate))
    finally:
        sim.terminate()
        sim.wait(timeout=60)
        os.unlink(path)
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
