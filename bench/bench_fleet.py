#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_fleet.py - one `poolpatch serve` watching a fleet (issue 17): POOLS pools in bench-16's
shape (16 hosts, 320 VMs each; default 100 = 1,600 hosts) served by one `poolpatch sim` on a
scaled clock.  Prints the daemon's RSS connected and idle, its idle CPU (the utime + stime it used
over three 30 s windows from 30 s after the last pool connected, each printed and their mean,
divided by the time: other load does not count), then runs one automated rollout over MOVING of the pools (default 10) with policy return,
then one over the next MOVING pools with policy minimal (issue 17's baseline was measured with
minimal), and prints each one's XAPI calls per host-update and by method (the rollout's own
report: counters.xapi_calls), the latency of GET /api/v1/rollouts/{id} sampled
while its pools move, and the daemon's peak RSS (VmHWM): connected, after a restart (the same
database: every pool's snapshot read again at once), over the plans and views, and over the
rollouts (VmHWM reset in between through /proc/PID/clear_refs), run by the restarted daemon.  Before the rollout it times a plan of
every pool (POST /api/v1/plans: the default, summarised per host, and detail=full, with their
sizes), the two Updates views, and a request the engine thread answers (the retry of an unknown
rollout: 404) while a full fleet plan is being built (views and plans are built off that thread), and
GET /api/v1/pools, 20 reads with the same engine request timed meanwhile.  Asserts nothing about time; the last
line is the summary.

BENCH_ONLY=idle stops after the idle windows and prints them alone (the quick before / after of
the idle daemon's CPU; fewer pools are fine: `BENCH_ONLY=idle bench_fleet.py build/poolpatch . 20`).
BENCH_ONLY=connect stops after the restart and prints the connected and restarted RSS alone.
BENCH_ONLY=rollout runs, right after the pools connected, the policy-return rollout alone with its
reads timed (p50/p95/p99/max), the CPU the daemon and the simulator used meanwhile and its XAPI
calls per host-update (BENCH_POLICY=minimal for the other policy: a quick A/B of the calls);
BENCH_KEEP_LOG=FILE then keeps the daemon's log.

usage: bench_fleet.py POOLPATCH SRCDIR [POOLS] [MOVING] [TIME_SCALE]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_fleet import fleet, proc_stat  # noqa: E402


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm(pid):
    """Set pid's VmHWM back to its current RSS (writing 5 to /proc/PID/clear_refs, Linux 4.0+),
    so that the next phase's peak is its own.  False when the kernel or permissions refuse."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Daemon:
    def __init__(self, exe, tmp, fs, log="serve.log"):
        self.exe, self.tmp = exe, tmp
        self.token_file = os.path.join(tmp, "token")
        self.log = open(os.path.join(tmp, log), "w+")
        self.proc = subprocess.Popen(
            [exe, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "pp.db"),
             "--token-file", self.token_file, "--check-interval", "0",
             "--catalog-url", fs + "/updates.xml", "--vendor-origin", fs],
            stdout=subprocess.DEVNULL, stderr=self.log, stdin=subprocess.DEVNULL)
        self.url = None
        for _ in range(600):
            self.log.seek(0)
            m = re.search(r"web UI and API on (http://127\.0\.0\.1:\d+)", self.log.read())
            if m:
                self.url = m.group(1)
                break
            time.sleep(0.1)
        if not self.url:
            raise RuntimeError("poolpatch serve did not listen")
        with open(self.token_file) as f:
            self.token = f.read().split()[0]

    def cli(self, *args):
        r = subprocess.run([self.exe, args[0], "--server", self.url, "--token-file",
                            self.token_file] + list(args[1:]), capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr

    def api(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read() or b"null")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def start_sim(exe, doc, tmp, scale):
    path = os.path.join(tmp, "fleet.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    sim = subprocess.Popen([exe, "sim", "--scenario", path, "--port", "0", "--time-scale",
                            str(scale)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    masters, fs = {}, None
    for line in sim.stdout:
        w = line.split()
        if w and w[0] == "pool":
            masters[w[1]] = w[3]
        elif w and w[0] == "fileservice":
            fs = w[1].rstrip("/")
        if line.strip() == "ready":
            break
    return sim, masters, fs


def wait_connected(d, n):
    for _ in range(1200):  # every pool connected (first snapshot read)
        pools = d.api("GET", "/api/v1/pools")["pools"]
        if len(pools) == n and all(p.get("connected") for p in pools):
            return
        time.sleep(0.5)
    raise RuntimeError("pools not connected in 10 min")


def connect_all(d, masters, pw):
    for name, url in masters.items():
        for _ in range(3):
            rc, _, err = d.cli("pool", "add", name, "--url", url, "--user", "root",
                               "--password-file", pw)
            if rc == 0:
                break
        if rc != 0:
            raise RuntimeError("pool add %s: %s" % (name, err))
    wait_connected(d, len(masters))


def switches(pid):
    """Voluntary + involuntary context switches of every thread of pid (its wakeups)."""
    n = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except OSError:
            pass  # a thread that ended meanwhile
    return n


def cpu_ns(pid):
    """Nanoseconds pid's live threads ran (/proc/PID/task/*/schedstat), None without
    schedstat.  Finer than utime + stime (10 ms ticks: an idle window is a dozen of them)."""
    n = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    n += int(f.read().split()[0])
            except OSError:
                pass  # a thread that ended meanwhile
    except OSError:
        return None
    return n


def cpu_window(pid, window):
    """CPU time pid used over window seconds (the nanoseconds its threads ran, from schedstat;
    utime + stime of /proc/PID/stat without it), divided by the window: other load on the
    machine does not count in it, unlike a sampled %CPU.  Returns (% of a core, seconds of CPU,
    window, wakeups, load average)."""
    c0, n0, s0, t0 = proc_stat(pid)[0], cpu_ns(pid), switches(pid), time.monotonic()
    time.sleep(window)
    c1, n1, s1, t1 = proc_stat(pid)[0], cpu_ns(pid), switches(pid), time.monotonic()
    cpu = (n1 - n0) / 1e9 if n0 is not None and n1 is not None else c1 - c0
    return 100.0 * cpu / (t1 - t0), cpu, t1 - t0, s1 - s0, os.getloadavg()[0]


def idle_cpu(pid):
    """The daemon's CPU over the BENCH_IDLE_SECONDS (default 30) right after the last pool
    connected (the connect's tail: the calls made beside the first long-polls, their
    connections closing), then over BENCH_IDLE_WINDOWS (default 3) windows one after the other,
    when only the event.from long-polls remain: a 30 s window is 3,000 clock ticks and a
    burst of other work on the machine could decide a single one.  Returns (settling, windows,
    idle): cpu_window tuples, idle their sum (% over the whole span, seconds, span, wakeups,
    last load average)."""
    window = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
    n = int(os.environ.get("BENCH_IDLE_WINDOWS", "3"))
    settling = cpu_window(pid, window)
    wins = [cpu_window(pid, window) for _ in range(max(n, 1))]
    cpu_s = sum(w[1] for w in wins)
    span = sum(w[2] for w in wins)
    return settling, wins, (100.0 * cpu_s / span, cpu_s, span, sum(w[3] for w in wins),
                            wins[-1][4])


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, (time.monotonic() - t0) * 1000.0


def raw(d, method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + d.token, "Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(d.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers=h)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def engine_probe(d):
    """A request the engine thread answers at once: retry of a rollout that does not exist."""
    try:
        raw(d, "POST", "/api/v1/rollouts/00000000-0000-0000-0000-000000000000/retry", {})
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise


def plans_and_views(d):
    """The fleet's plan (summary, full), the views, and engine-thread requests during a plan."""
    out = {}
    body, out["plan_ms"] = timed(lambda: raw(d, "POST", "/api/v1/plans", {}))
    out["plan_kib"] = len(body) // 1024
    out["plan_detail"] = json.loads(body).get("detail")
    done, lat = [], []

    def full():
        b, ms = timed(lambda: raw(d, "POST", "/api/v1/plans", {"detail": "full"}))
        done.append((len(b) // 1024, ms))
    th = threading.Thread(target=full)
    th.start()
    while th.is_alive():  # a cheap request the engine thread answers, while the plan is built
        lat.append(timed(lambda: engine_probe(d))[1])
        time.sleep(0.05)
    th.join()
    out["full_kib"], out["full_ms"] = done[0] if done else (0, 0)
    out["pools_during_plan"] = sorted(lat)
    for v in ("by-update", "by-server"):
        out[v] = timed(lambda: raw(d, "GET", "/api/v1/updates?view=" + v))[1]
    out["pools_ms"], out["engine_during_pools"] = pools_reads(d)
    return out


def pct(sorted_ms, q):
    """The q-quantile (0..1) of a sorted list of times, 0 when empty."""
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))] if sorted_ms else 0


def pools_reads(d, n=20):
    """GET /api/v1/pools n times in a row (each pool's fields read from its cache), with a
    request the engine thread answers timed meanwhile: returns both latency lists, sorted."""
    reads, lat = [], []

    def reader():
        for _ in range(n):
            reads.append(timed(lambda: raw(d, "GET", "/api/v1/pools"))[1])
    th = threading.Thread(target=reader)
    th.start()
    while th.is_alive():
        lat.append(timed(lambda: engine_probe(d))[1])
        time.sleep(0.02)
    th.join()
    return sorted(reads), sorted(lat)


def run_rollout(d, names, policy, aged=None):
    """aged: a list to time a second read of each poll into, with Cache-Control: max-age=1 (a
    poller that accepts one-second-old data: served from the published snapshot)."""
    rid = d.api("POST", "/api/v1/rollouts",
                {"pools": names, "automated": True, "policy": policy})["id"]
    lat, hwm, ro = [], 0, None
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        t0 = time.monotonic()  # the answer's time, not Python's parse of it
        body = raw(d, "GET", "/api/v1/rollouts/" + rid)
        lat.append((time.monotonic() - t0) * 1000.0)
        ro = json.loads(body)
        if aged is not None:
            t0 = time.monotonic()
            raw(d, "GET", "/api/v1/rollouts/" + rid, headers={"Cache-Control": "max-age=1"})
            aged.append((time.monotonic() - t0) * 1000.0)
        hwm = max(hwm, status_kib(d.proc.pid, "VmHWM"))
        if ro["state"] in ("done", "halted", "cancelled", "failed"):
            break
        time.sleep(0.5)
    return ro, lat, hwm


def rollout_only(d, src, sim, names, moving):
    """BENCH_ONLY=rollout: right after the pools connected (no idle windows, restart, plans or
    second rollout), the policy-return rollout over MOVING pools with its reads timed, and the CPU
    the daemon and the simulator used meanwhile (schedstat: their own time, not the load's)."""
    d.cli("client-id", "import", os.path.join(src, "scenarios", "demo-client-id.json"))
    rc, _, err = d.cli("updates", "check")
    if rc != 0:
        raise RuntimeError("updates check: " + err)
    aged = []
    policy = os.environ.get("BENCH_POLICY", "return")
    n0, s0, t0, l0 = cpu_ns(d.proc.pid), cpu_ns(sim.pid), time.monotonic(), os.getloadavg()[0]
    ro, lat, _ = run_rollout(d, names[:moving], policy, aged)
    n1, s1, t1, l1 = cpu_ns(d.proc.pid), cpu_ns(sim.pid), time.monotonic(), os.getloadavg()[0]
    span = t1 - t0
    print("rollout over %d pools: %s in %.0f s; CPU meanwhile: daemon %.1f%% of a core, "
          "simulator %.1f%%; load average %.1f -> %.1f" %
          (moving, ro["state"], span, 100.0 * (n1 - n0) / 1e9 / span,
           100.0 * (s1 - s0) / 1e9 / span, l0, l1))
    k = ro["counters"]
    calls = sorted((k.get("xapi_calls") or {}).items(), key=lambda kv: -kv[1])
    print("policy %s: window %.0f s simulated; XAPI calls: %d, %.2f per host-update; by method: %s"
          % (policy, ro.get("window_s") or 0, k.get("xapi_calls_total") or 0,
             k.get("xapi_calls_per_host_update") or 0, ", ".join("%s %d" % kv for kv in calls)))
    for what, v in (("current", sorted(lat)), ("max-age=1", sorted(aged))):
        print("GET /api/v1/rollouts/{id} %s: %d samples, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, "
              "max %.1f ms" % (what, len(v), pct(v, 0.5), pct(v, 0.95), pct(v, 0.99),
                               v[-1] if v else 0))
    keep = os.environ.get("BENCH_KEEP_LOG")
    if keep:
        shutil.copy(os.path.join(d.tmp, "serve.log"), keep)
    return 0 if ro["state"] == "done" else 1


def idle_only(d, pools, connect_s, settling, wins, idle):
    """BENCH_ONLY=idle: the connected fleet's idle windows alone (no restart, plans or
    rollouts), with the daemon's threads' wakeups each; BENCH_KEEP_LOG=FILE keeps its log."""
    print("daemon connected to %d pools in %.1f s: RSS %d MiB" %
          (pools, connect_s, status_kib(d.proc.pid, "VmRSS") // 1024))
    for label, w in [("the first %.0f s after the last pool connected" % settling[2], settling)] + \
            [("idle, window %d of %d (%.0f s)" % (i + 1, len(wins), w[2]), w)
             for i, w in enumerate(wins)]:
        print("daemon CPU, %s: %.3f%% of a core (%.1f ms of its own CPU time, %d wakeups; load "
              "average %.1f)" % (label, w[0], w[1] * 1000.0, w[3], w[4]))
    print("bench-fleet idle: %d pools x 16 hosts, idle CPU %.3f%% of a core (mean of own CPU "
          "time over %.0f s, %d wakeups, load %.1f)" % (pools, idle[0], idle[2], idle[3], idle[4]))
    keep = os.environ.get("BENCH_KEEP_LOG")
    if keep:
        shutil.copy(os.path.join(d.tmp, "serve.log"), keep)
    return 0


def main():
    exe, src = sys.argv[1], sys.argv[2]
    pools = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    moving = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    scale = float(sys.argv[5]) if len(sys.argv) > 5 else 60
    with open(os.path.join(src, "scenarios", "bench-16.json")) as f:
        doc = fleet(json.load(f), pools)
    with open(os.path.join(src, "scenarios", "demo.json")) as f:
        doc["vendor"] = json.load(f)["vendor"]  # the catalog and client ids the rollout uses
    tmp = tempfile.mkdtemp(prefix="pp-bench-fleet.")
    sim, d = None, None
    try:
        sim, masters, fs = start_sim(exe, doc, tmp, scale)
        d = Daemon(exe, tmp, fs)
        pw = os.path.join(tmp, "pw")
        with open(pw, "w") as f:
            f.write("xenroot\n")
        t0 = time.monotonic()
        connect_all(d, masters, pw)
        connect_s = time.monotonic() - t0
        rss_conn = status_kib(d.proc.pid, "VmRSS") // 1024
        hwm_conn = status_kib(d.proc.pid, "VmHWM") // 1024
        settling, idle_wins, (cpu, cpu_s, cpu_win, wakeups, load) = idle_cpu(d.proc.pid)
        if os.environ.get("BENCH_ONLY") == "rollout":
            return rollout_only(d, src, sim, sorted(masters), moving)
        if os.environ.get("BENCH_ONLY") == "idle":
            return idle_only(d, pools, connect_s, settling, idle_wins,
                             (cpu, cpu_s, cpu_win, wakeups, load))
        rss_idle = status_kib(d.proc.pid, "VmRSS") // 1024
        # Restart: every pool's snapshot read again at once (the snapshot bound's case).
        d.stop()
        t0 = time.monotonic()
        d = Daemon(exe, tmp, fs, "serve2.log")
        wait_connected(d, len(masters))
        restart_s = time.monotonic() - t0
        rss_re = status_kib(d.proc.pid, "VmRSS") // 1024
        hwm_re = status_kib(d.proc.pid, "VmHWM") // 1024
        if os.environ.get("BENCH_ONLY") == "connect":
            # the connected and restarted figures alone (a quick before / after of the caches)
            print("bench-fleet connect: %d pools: connected in %.1f s, RSS %d MiB (peak %d MiB), "
                  "idle %d MiB; restarted and connected again in %.1f s, RSS %d MiB (peak %d MiB)"
                  % (pools, connect_s, rss_conn, hwm_conn, rss_idle, restart_s, rss_re, hwm_re))
            return
        d.cli("client-id", "import", os.path.join(src, "scenarios", "demo-client-id.json"))
        rc, _, err = d.cli("updates", "check")
        if rc != 0:
            raise RuntimeError("updates check: " + err)
        pv = plans_and_views(d)
        hwm_plans = status_kib(d.proc.pid, "VmHWM") // 1024
        apart = reset_hwm(d.proc.pid)  # the rollouts' own peak, not the full plan's
        names = sorted(masters)
        aged = []
        ro, lat, hwm = run_rollout(d, names[:moving], "return", aged)
        # The same on the next MOVING pools with policy minimal: issue 17's baseline (112-162
        # calls per host-update) was measured with minimal, then the default.
        rm, _, hwm_m = run_rollout(d, names[moving:2 * moving], "minimal")
        hwm_ro = max(hwm, hwm_m) // 1024
        hwm = max(hwm_ro, hwm_plans, hwm_re)
        peak = max(hwm_conn, hwm)
        k, km = ro["counters"], rm["counters"]

        def migr_host(kk):  # VM migrations a host-update: the policy's floor on the calls
            n = (kk.get("xapi_calls") or {}).get("Async.VM.pool_migrate", 0)
            return n / kk["hosts_total"] if kk.get("hosts_total") else 0
        lat.sort()
        p50 = lat[len(lat) // 2] if lat else 0
        hosts = sum(len(p["hosts"]) for p in doc["pools"])
        print("fleet: %d pools, %d hosts, %d VMs; sim time scale %g" %
              (pools, hosts, sum(len(p["vms"]) for p in doc["pools"]), scale))
        print("daemon connected to every pool in %.1f s: RSS %d MiB (peak %d MiB); idle %d MiB"
              % (connect_s, rss_conn, hwm_conn, rss_idle))
        print("daemon CPU, the first %.0f s after the last pool connected: %.2f%% of a core "
              "(%.2f s of its own CPU time, %d wakeups; load average %.1f)" %
              (settling[2], settling[0], settling[1], settling[3], settling[4]))
        for i, w in enumerate(idle_wins):
            print("daemon CPU idle, window %d of %d (%.0f s): %.2f%% of a core (%.2f s of its own "
                  "CPU time, %d wakeups; load average %.1f)"
                  % (i + 1, len(idle_wins), w[2], w[0], w[1], w[3], w[4]))
        print("daemon CPU idle, mean over the %d windows (%.0f s): %.2f%% of a core (%.2f s of its "
              "own CPU time, %d wakeups)" % (len(idle_wins), cpu_win, cpu, cpu_s, wakeups))
        print("daemon restarted, every pool connected again in %.1f s: RSS %d MiB (peak %d MiB)"
              % (restart_s, rss_re, hwm_re))
        for pol, r, kk in (("return", ro, k), ("minimal", rm, km)):
            calls = kk.get("xapi_calls") or {}
            top = sorted(calls.items(), key=lambda kv: -kv[1])
            print("policy %s over %d pools (%d hosts): %s, %d hosts done, window %.0f s "
                  "simulated; XAPI calls: %d, %.1f per host-update; by method: %s" %
                  (pol, moving, kk["hosts_total"], r["state"], kk["hosts_done"],
                   r.get("window_s") or 0, kk.get("xapi_calls_total") or 0,
                   kk.get("xapi_calls_per_host_update") or 0,
                   ", ".join("%s %d" % kv for kv in top)))
        print("GET /api/v1/rollouts/{id} while its pools move: %d samples, p50 %.1f ms, p95 %.1f "
              "ms, max %.1f ms" % (len(lat), p50, pct(lat, 0.95), lat[-1] if lat else 0))
        aged.sort()
        print("the same with Cache-Control: max-age=1 (the published snapshot): %d samples, p50 "
              "%.1f ms, p95 %.1f ms, max %.1f ms" % (len(aged), pct(aged, 0.5), pct(aged, 0.95),
                                                     aged[-1] if aged else 0))
        lp = pv["pools_during_plan"]
        print("plan of every pool: %.0f ms, %d KiB (%s); detail=full %.0f ms, %d KiB; an engine "
              "request during the full plan: %d samples, max %.1f ms" %
              (pv["plan_ms"], pv["plan_kib"], pv["plan_detail"], pv["full_ms"], pv["full_kib"],
               len(lp), lp[-1] if lp else 0))
        print("views: by-update %.0f ms, by-server %.0f ms" % (pv["by-update"], pv["by-server"]))
        pr, pe = pv["pools_ms"], pv["engine_during_pools"]
        print("GET /api/v1/pools: %d reads, p50 %.1f ms, max %.1f ms; an engine request meanwhile: "
              "%d samples, p50 %.1f ms, max %.1f ms" %
              (len(pr), pr[len(pr) // 2] if pr else 0, pr[-1] if pr else 0, len(pe),
               pe[len(pe) // 2] if pe else 0, pe[-1] if pe else 0))
        print("daemon peak RSS (VmHWM) %d MiB: connected %d, after restart %d, plans and views %d, "
              "rollouts %d%s" % (peak, hwm_conn, hwm_re, hwm_plans, hwm_ro,
                                 "" if apart else " (with the plans: VmHWM could not be reset)"))
        print("bench-fleet: %d pools x 16 hosts, peak RSS %d MiB (connected %d, after restart %d, "
              "plans %d, rollouts %d), idle CPU %.2f%% of a core (mean of own CPU time over %.0f s, load "
              "%.1f), calls per host-update minimal %.1f (%.0f migrations a host) return %.1f (%.0f), "
              "GET rollout p50 %.1f ms "
              "p95 %.1f ms max %.1f ms, plan %.0f ms (%s), full plan %.0f ms, GET pools p50 %.1f "
              "ms, by-update view %.0f ms" %
              (pools, peak, hwm_conn, hwm_re, hwm_plans, hwm_ro, cpu, cpu_win, load,
               km.get("xapi_calls_per_host_update") or 0, migr_host(km),
               k.get("xapi_calls_per_host_update") or 0, migr_host(k),
               p50, pct(lat, 0.95), lat[-1] if lat else 0, pv["plan_ms"], pv["plan_detail"],
               pv["full_ms"], pr[len(pr) // 2] if pr else 0, pv["by-update"]))
        return 0 if ro["state"] == "done" and rm["state"] == "done" else 1
    finally:
        if d:
            d.stop()
        if sim:
            sim.terminate()
            sim.wait(timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
