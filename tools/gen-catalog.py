#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-catalog.py - writes the realistic test catalogs under tests/data/catalog/.

Deterministic (fixed seed, standard library only): running it again gives byte-identical files.

  tests/data/catalog/updates.xml         legacy vendor catalog (the format XenCenter's
                                          DownloadCfuAction reads): 14 server versions from
                                          XenServer 6.5 SP1 to Citrix Hypervisor 8.2 CU1, 400+
                                          patches with requires / conflicts chains, cumulative
                                          updates with their own minimal lists, live patches and
                                          mixed guidance.
  tests/data/catalog/cdn-updates.json    XenServer 8 `GET /updates` answer, xapi's form (guidance
                                          objects {mandatory, recommended, full, livepatch}).
  tests/data/catalog/cdn-updates-xc.json the same pool in the form XenCenter reads
                                          (recommended-guidance / absolute-guidance arrays).

Features the unit tests rely on (test_catalog.c "generated data set" checks):
  - 14 versions; 12 carry build numbers, 2 (6.5 SP1, 7.0) match on product version only;
  - 7.0 and 6.5 SP1 have no <minimalpatches> (automated updates unsupported);
  - 8.2.0's minimal list ends with the 8.2 CU1 patch, whose version (present-as-update) has its own
    minimal list; 7.1.0 and 7.1 CU1 chain to 7.1 CU2 (a CU shown as a new version);
  - latest on 8.2 CU1, latestcr on 8.2 CU1 and on 8.1 (the highest wins);
  - one patch (XS82E020) requires a uuid the catalog does not define: never installable;
  - some patches require patches that come later in catalog order; some conflict.

Usage: tools/gen-catalog.py [OUTDIR]   (default: tests/data/catalog next to this script)
"""

import json
import os
import random
import sys
import uuid
from xml.sax.saxutils import quoteattr

SEED = 20231213
GUIDANCE = ["restartHost"] * 10 + ["restartXAPI"] * 4 + ["restartHVM"] * 2 + ["restartPV"] * 1


def det_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def day_ms(y, m, d):
    return "%04d-%02d-%02dT00:00:00Z" % (y, m, d)


def add_days(date, n):
    import datetime
    t = datetime.date(*date) + datetime.timedelta(days=n)
    return (t.year, t.month, t.day)


# (value, name, build-number, short name prefix, hotfix count, first release date, eligibility,
#  premium date, none date, eol, livepatch capable)
VERSIONS = [
    ("6.5.0", "XenServer 6.5 SP1", "", "XS65ESP1", 16, (2015, 5, 12), "none", None,
     (2018, 6, 30), (2018, 6, 30), False),
    ("7.0.0", "XenServer 7.0", "", "XS70E", 30, (2016, 5, 24), "none", None,
     (2019, 12, 31), (2019, 12, 31), False),
    ("7.1.0", "XenServer 7.1", "137272c", "XS71E", 40, (2017, 2, 23), "premium",
     (2017, 8, 1), None, (2022, 8, 1), True),
    ("7.1.1", "XenServer 7.1 Cumulative Update 1", "137335c", "XS71ECU1", 22, (2017, 12, 13),
     "premium", None, None, (2022, 8, 1), True),
    ("7.1.2", "Citrix Hypervisor 7.1 Cumulative Update 2", "137478c", "XS71ECU2", 38,
     (2019, 4, 1), "premium", None, None, (2022, 8, 1), True),
    ("7.2.0", "XenServer 7.2", "125244c", "XS72E", 22, (2017, 5, 16), "none", None,
     (2018, 3, 1), (2018, 3, 1), True),
    ("7.3.0", "XenServer 7.3", "125266c", "XS73E", 20, (2017, 12, 12), "none", None,
     (2018, 7, 1), (2018, 7, 1), True),
    ("7.4.0", "XenServer 7.4", "125325c", "XS74E", 18, (2018, 2, 28), "none", None,
     (2018, 10, 1), (2018, 10, 1), True),
    ("7.5.0", "XenServer 7.5", "125379c", "XS75E", 18, (2018, 5, 30), "none", None,
     (2019, 1, 1), (2019, 1, 1), True),
    ("7.6.0", "XenServer 7.6", "125380c", "XS76E", 20, (2018, 9, 4), "cu", None,
     (2019, 8, 1), (2019, 8, 1), True),
    ("8.0.0", "Citrix Hypervisor 8.0", "2510c", "XS80E", 24, (2019, 5, 8), "premium",
     (2019, 9, 1), (2020, 9, 30), (2020, 9, 30), True),
    ("8.1.0", "Citrix Hypervisor 8.1", "1050c", "XS81E", 26, (2019, 12, 18), "premium",
     (2020, 3, 1), (2021, 4, 1), (2021, 4, 1), True),
    ("8.2.0", "Citrix Hypervisor 8.2", "1090c", "XS82E", 46, (2020, 6, 18), "premium",
     (2020, 9, 1), None, (2025, 6, 25), True),
    ("8.2.1", "Citrix Hypervisor 8.2 Cumulative Update 1", "1151c", "XS82ECU1", 64,
     (2022, 1, 10), "premium", (2022, 6, 1), None, (2025, 6, 25), True),
]

# The patch that installs version index -> the version indices it applies to.
CU_TARGETS = {3: [2], 4: [2, 3], 13: [12]}
PRESENT_AS_UPDATE = {13}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data",
                                                                "catalog")
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(SEED)
    kb = [18000]

    def next_kb():
        kb[0] += rng.randint(3, 40)
        return kb[0]

    patches = []          # dicts, catalog order
    by_version = {}       # version index -> list of patch dicts (hotfixes)
    cu_patch = {}         # version index -> CU patch dict that installs it

    # CU patches first get their uuids so version elements can name them.
    for vi in CU_TARGETS:
        cu_patch[vi] = {"uuid": det_uuid(rng)}

    for vi, v in enumerate(VERSIONS):
        value, name, build, prefix, count, start, *_rest = v
        livepatch_ok = v[10]
        lst = []
        date = start
        for i in range(1, count + 1):
            date = add_days(date, rng.randint(9, 45))
            g = rng.choice(GUIDANCE)
            n = next_kb()
            pname = "%s%03d" % (prefix, i)
            p = {
                "uuid": det_uuid(rng),
                "name-label": pname,
                "name-description": "%s hotfix %d: %s" % (
                    name, i, rng.choice([
                        "security fixes for the hypervisor",
                        "fixes for storage and networking",
                        "toolstack reliability fixes",
                        "kernel and driver updates",
                        "fixes for live migration of \"large\" VMs",
                        "Xen security advisories <XSA> & stability fixes",
                    ])),
                "version": "1.0",
                "url": "https://support.citrix.com/article/CTX%d" % n,
                "patch-url": "https://fileservice.citrix.com/direct/v2/download/secured/support/"
                             "article/CTX%d/downloads/%s.zip" % (n, pname),
                "timestamp": day_ms(*date),
                "after-apply-guidance": g,
                "guidance-mandatory": "true" if rng.random() < 0.15 else "false",
                "priority": str(rng.choice([1, 1, 2, 2, 2, 3, 4])),
                "installation-size": str(rng.randint(2, 400) * 1048576 + rng.randint(0, 9999)),
                "download-size": str(rng.randint(1, 300) * 1048576 + rng.randint(0, 9999)),
                "required": [],
                "conflicting": [],
                "vi": vi,
            }
            if livepatch_ok and g == "restartHost" and rng.random() < 0.3:
                p["contains-livepatch"] = "true"
            elif livepatch_ok and rng.random() < 0.2:
                p["contains-livepatch"] = "false"
            lst.append(p)
        by_version[vi] = lst

    # Requirement chains inside each version: mostly on earlier patches, some on later ones (out
    # of catalog order, kept acyclic); a few conflicts between otherwise unrelated patches.
    def needs(a, b, lst):
        """True when patch a (transitively) requires patch b."""
        seen, todo = set(), [a]
        idx = {q["uuid"]: q for q in lst}
        while todo:
            x = todo.pop()
            for u in x["required"]:
                if u == b["uuid"]:
                    return True
                if u not in seen and u in idx:
                    seen.add(u)
                    todo.append(idx[u])
        return False

    for vi, lst in by_version.items():
        for i, p in enumerate(lst):
            if i > 0 and rng.random() < 0.45:
                k = rng.randint(1, 2)
                for q in rng.sample(lst[max(0, i - 8):i], min(k, i)):
                    if q["uuid"] not in p["required"]:
                        p["required"].append(q["uuid"])
        for i, p in enumerate(lst):
            if i + 3 < len(lst) and rng.random() < 0.08:
                later = lst[rng.randint(i + 1, len(lst) - 1)]
                if not needs(later, p, lst) and later["uuid"] not in p["required"]:
                    p["required"].append(later["uuid"])
        required = set()
        for p in lst:
            required.update(p["required"])
        for i, p in enumerate(lst):
            if i > 2 and p["uuid"] not in required and rng.random() < 0.25:
                q = lst[rng.randint(0, i - 1)]
                if q["uuid"] not in required and not q["conflicting"] and \
                        q["uuid"] not in p["required"]:
                    p["conflicting"].append(q["uuid"])
                    q["superseded"] = True

    # One unmeetable requirement: XS82E020 needs a patch that is not in the catalog.
    unmeetable = by_version[12][19]
    unmeetable["required"].append(det_uuid(rng))
    unmeetable["name-description"] += " (requires a withdrawn hotfix)"

    # The cumulative updates.
    cu_names = {3: ("XS71ECU1", "XenServer 7.1 Cumulative Update 1"),
                4: ("XS71ECU2", "Citrix Hypervisor 7.1 Cumulative Update 2"),
                13: ("XS82ECU1", "Citrix Hypervisor 8.2 Cumulative Update 1")}
    for vi, (pname, desc) in cu_names.items():
        n = next_kb()
        start = VERSIONS[vi][5]
        cu_patch[vi].update({
            "name-label": pname,
            "name-description": desc,
            "version": "1.0",
            "url": "https://support.citrix.com/article/CTX%d" % n,
            "patch-url": "https://fileservice.citrix.com/direct/v2/download/secured/support/"
                         "article/CTX%d/downloads/%s.iso" % (n, pname),
            "timestamp": day_ms(*start),
            "after-apply-guidance": "restartHost",
            "guidance-mandatory": "true",
            "priority": "1",
            "installation-size": str(rng.randint(900, 1400) * 1048576),
            "download-size": str(rng.randint(600, 900) * 1048576),
            "required": [],
            "conflicting": [],
            "vi": CU_TARGETS[vi][0],
        })
    # 7.1 CU2 must follow CU1 when both apply (a CU1 host goes straight to CU2 too).
    cu_patch[4]["conflicting"] = []

    # Catalog order: per version its hotfixes, with CU patches after the hotfixes of the version
    # they apply to.
    for vi in range(len(VERSIONS)):
        patches.extend(by_version[vi])
        for cvi, targets in CU_TARGETS.items():
            if targets[-1] == vi:
                patches.append(cu_patch[cvi])

    # Minimal lists: the newest patch of each requirement "family" - here every patch that no
    # later patch of the same version requires, capped, plus the chained CU at the end.
    minimal = {}
    for vi, lst in by_version.items():
        if vi in (0, 1):
            continue  # no <minimalpatches>: automated updates unsupported
        required_by_later = set()
        for p in lst:
            required_by_later.update(p["required"])
        mins = [p["uuid"] for p in lst if p["uuid"] not in required_by_later
                and p is not unmeetable and not p.get("superseded")][-12:]
        for cvi, targets in CU_TARGETS.items():
            if vi in targets:
                mins.append(cu_patch[cvi]["uuid"])
                break
        minimal[vi] = mins

    # ---- updates.xml ----
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<patchdata>", "  <patches>"]
    attr_order = ["uuid", "name-label", "name-description", "version", "url", "patch-url",
                  "timestamp", "after-apply-guidance", "guidance-mandatory", "priority",
                  "installation-size", "download-size", "contains-livepatch"]
    for p in patches:
        attrs = " ".join("%s=%s" % (a, quoteattr(p[a])) for a in attr_order if a in p)
        if not p["required"] and not p["conflicting"]:
            out.append("    <patch %s />" % attrs)
            continue
        out.append("    <patch %s>" % attrs)
        for tag, child, key in (("conflictingpatches", "conflictingpatch", "conflicting"),
                                ("requiredpatches", "requiredpatch", "required")):
            if p[key]:
                out.append("      <%s>" % tag)
                for u in p[key]:
                    out.append('        <%s uuid="%s" />' % (child, u))
                out.append("      </%s>" % tag)
        out.append("    </patch>")
    out.append("  </patches>")
    out.append("  <serverversions>")
    for vi, v in enumerate(VERSIONS):
        value, name, build, prefix, count, start, elig, prem, none, eol, _lp = v
        a = [("value", value), ("name", name)]
        if vi == 13:
            a += [("latest", "true"), ("latestcr", "true")]
        if vi == 11:
            a += [("latestcr", "true")]
        a += [("url", "https://www.citrix.com/downloads/citrix-hypervisor/"),
              ("timestamp", day_ms(*start))]
        if build:
            a.append(("build-number", build))
        if vi in cu_patch:
            a.append(("patch-uuid", cu_patch[vi]["uuid"]))
        if vi in PRESENT_AS_UPDATE:
            a.append(("present-as-update", "true"))
        if vi >= 10:
            a.append(("minimum-xc-version", "8.2.%d" % (vi - 9)))
        a.append(("hotfix-eligibility", elig))
        if prem:
            a.append(("hotfix-eligibility-premium-date", day_ms(*prem)))
        if none:
            a.append(("hotfix-eligibility-none-date", day_ms(*none)))
        a.append(("eol-date", day_ms(*eol)))
        out.append("    <version %s>" % " ".join("%s=%s" % (k, quoteattr(x)) for k, x in a))
        for p in by_version[vi]:
            out.append('      <patch uuid="%s" />' % p["uuid"])
        for cvi, targets in CU_TARGETS.items():
            if vi in targets:
                out.append('      <patch uuid="%s" />' % cu_patch[cvi]["uuid"])
        if vi in minimal:
            out.append("      <minimalpatches>")
            for u in minimal[vi]:
                out.append('        <patch uuid="%s" />' % u)
            out.append("      </minimalpatches>")
        out.append("    </version>")
    out.append("  </serverversions>")
    out.append("</patchdata>")
    with open(os.path.join(outdir, "updates.xml"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")

    # ---- cdn-updates.json (XenServer 8) ----
    types = ["SecurityFix", "Bugfix", "Improvement", "NewFeature", "PreviewFeature",
             "Foundational"]
    updates = []
    for i in range(1, 25):
        t = rng.choice(types)
        rec = rng.choice([["RebootHost"], ["RestartToolstack"], ["RestartDeviceModel"],
                          ["RebootHost", "EvacuateHost"], []])
        lp = []
        if rec and rec[0] == "RebootHost" and rng.random() < 0.5:
            lp = [{"component": "kernel", "base-buildid": "%040x" % rng.getrandbits(160),
                   "base": "4.19.19-8.0.%d.xs8" % (20 + i), "to": "4.19.19-8.0.%d.xs8" % (21 + i)}]
        updates.append({
            "id": "XS8-%04d-%03d" % (2023 + i // 12, i),
            "title": "XenServer 8 update %d" % i,
            "summary": rng.choice(["Security fixes", "Bug fixes", "New feature"]),
            "description": "This update %s." % rng.choice([
                "fixes CVE-2024-%04d in Xen" % rng.randint(1000, 9999),
                "improves live migration \"downtime\"",
                "adds <new> & improved toolstack features"]),
            "special-info": "" if rng.random() < 0.8 else "Restart the pool coordinator first.",
            "url": "https://docs.xenserver.com/en-us/xenserver/8/update/%d.html" % i,
            "type": t,
            "issued": "2024%02d%02dT%02d:%02d:00Z" % (1 + i % 12, 1 + i % 28, i % 24, i % 60),
            "severity": "High" if t == "SecurityFix" else "None",
            "guidance": {"mandatory": [], "recommended": rec,
                         "full": rec + (["RestartVM"] if rng.random() < 0.3 else []),
                         "livepatch": ["RestartToolstack"] if lp else []},
            "livepatches": lp,
        })
    hosts = []
    for h in range(3):
        ids = [u["id"] for u in updates if rng.random() < 0.7]
        rec = set()
        full = set()
        lps = []
        for u in updates:
            if u["id"] in ids:
                rec.update(u["guidance"]["recommended"])
                full.update(u["guidance"]["full"])
                lps.extend(u["livepatches"])
        hosts.append({
            "ref": "OpaqueRef:%s" % det_uuid(rng),
            "guidance": {"mandatory": [], "recommended": sorted(rec), "full": sorted(full),
                         "livepatch": ["RestartToolstack"] if lps else []},
            "RPMS": ["xen-hypervisor-4.17.3-%d.xs8.x86_64.rpm" % (h + 3),
                     "xapi-core-24.%d.0-1.xs8.x86_64.rpm" % (10 + h)],
            "updates": ids,
            "livepatches": lps,
        })
    doc = {"hosts": hosts, "updates": updates, "hash": "%064x" % rng.getrandbits(256)}
    with open(os.path.join(outdir, "cdn-updates.json"), "w", encoding="utf-8",
              newline="\n") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")

    # The form XenCenter's Cdn.cs reads: guidance as arrays beside each host and update.
    xc_hosts = []
    for h in hosts:
        x = {k: v for k, v in h.items() if k != "guidance"}
        x["recommended-guidance"] = h["guidance"]["recommended"]
        x["absolute-guidance"] = h["guidance"]["full"]
        xc_hosts.append(x)
    xc_updates = []
    for u in updates:
        x = {k: v for k, v in u.items() if k != "guidance"}
        x["recommended-guidance"] = u["guidance"]["recommended"]
        x["absolute-guidance"] = u["guidance"]["full"]
        x["livepatch-guidance"] = (u["guidance"]["livepatch"] or ["None"])[0]
        xc_updates.append(x)
    xc = {"hosts": xc_hosts, "updates": xc_updates, "hash": doc["hash"]}
    with open(os.path.join(outdir, "cdn-updates-xc.json"), "w", encoding="utf-8",
              newline="\n") as f:
        json.dump(xc, f, indent=2, sort_keys=True)
        f.write("\n")

    n_req = sum(1 for p in patches if p["required"])
    n_conf = sum(1 for p in patches if p["conflicting"])
    print("wrote %d versions, %d patches (%d with requirements, %d with conflicts), "
          "%d XS8 updates, %d XS8 hosts to %s" % (len(VERSIONS), len(patches), n_req, n_conf,
                                                   len(updates), len(hosts), outdir))


if __name__ == "__main__":
    main()
