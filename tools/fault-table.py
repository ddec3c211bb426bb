#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tools/fault-table.py - regenerate docs/engine.md's fault matrix table (issue 12) from the fault
# matrix runs: the in-process one (build/tests/torture/fault_matrix, every cell) and the one over
# HTTP (tests/torture/fault_matrix.sh, every cell with FAULT_CELLS=all).  `make faults` runs both
# and calls this (the doc's HTTP column stays for cells not run over HTTP this time).  Reads "cell N<TAB>fault<TAB>step<TAB>then<TAB>want<TAB>result<TAB>verdict[: why]"
# lines; writes the table between the doc's "<!-- fault-matrix:begin -->" and
# "<!-- fault-matrix:end -->" markers.
#
#   fault-table.py --cells tests/torture/fault_cells.json --inproc FILE [--http FILE...] --doc FILE
import argparse
import json
import sys

BEGIN = "<!-- fault-matrix:begin -->"
END = "<!-- fault-matrix:end -->"


def read_runs(paths, cells, mode):
    """cell number -> (result, verdict word) from runs' output (later files win).  The verdict is
    judged again against the cells' current known-failure marks for this mode: a cell that failed
    is "xfail" when marked, "FAIL" otherwise; one that passed is "XPASS" when marked."""
    out = {}
    for path in paths or []:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("cell "):
                    continue
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 7:
                    continue
                n = int(parts[0].split()[1])
                failed = parts[6].split(":", 1)[0] in ("FAIL", "xfail")
                c = cells[n - 1] if 0 < n <= len(cells) else {}
                marked = bool(c.get("xfail") or c.get("xfail_" + mode))
                verdict = ("xfail" if marked else "FAIL") if failed else ("XPASS" if marked else "pass")
                out[n] = (parts[5], verdict)
    return out


def column(runs, n):
    if n not in runs:
        return "not run"
    result, verdict = runs[n]
    return f"{verdict}: {result}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", required=True)
    ap.add_argument("--inproc", required=True)
    ap.add_argument("--http", action="append", help="may be given several times (later wins)")
    ap.add_argument("--doc", required=True)
    a = ap.parse_args()
    with open(a.cells, encoding="utf-8") as f:
        cells = json.load(f)["cells"]
    inproc = read_runs([a.inproc], cells, "inproc")
    if len(inproc) != len(cells):
        sys.exit(f"fault-table: {a.inproc} has {len(inproc)} cells, {a.cells} {len(cells)}")
    with open(a.doc, encoding="utf-8") as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"fault-table: {a.doc} has no {BEGIN} / {END} markers")
    head, rest = doc.split(BEGIN, 1)
    old, tail = rest.split(END, 1)
    # the doc's HTTP column stays for the cells not run over HTTP now (make faults FAULT_HTTP=0,
    # or a run of some cells: FAULT_CELLS=2,12), its verdicts judged again against the cells'
    # current known-failure marks; the runs given override it
    http = {}
    for line in old.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) == 9 and cols[1].isdigit() and cols[7] != "not run":
            result = cols[7].split(": ", 1)
            n = int(cols[1])
            if len(result) == 2 and 0 < n <= len(cells):
                failed = result[0] in ("FAIL", "xfail")
                marked = bool(cells[n - 1].get("xfail") or cells[n - 1].get("xfail_http"))
                http[n] = (result[1], ("xfail" if marked else "FAIL") if failed
                           else ("XPASS" if marked else "pass"))
    http.update(read_runs(a.http, cells, "http"))
    rows = ["| # | fault | step | then | expected (known failure: bug) | in-process | HTTP |",
            "|---|---|---|---|---|---|---|"]
    for i, c in enumerate(cells, 1):
        want = c["want"] + (" " + c["code"] if c.get("code") else "")
        for key, where in (("xfail", ""), ("xfail_inproc", " in-process"), ("xfail_http", " over HTTP")):
            if c.get(key):
                want += f" (known failure{where}: {c[key]})"
        rows.append(f"| {i} | {c['fault']} | {c['step']} | {c.get('then', '-')} | {want} | "
                    f"{column(inproc, i)} | {column(http, i)} |")
    counts = {}
    for runs, name in ((inproc, "in-process"), (http, "HTTP")):
        v = [runs[k][1] for k in runs]
        counts[name] = (len(v), v.count("pass"), v.count("xfail"),
                        len(v) - v.count("pass") - v.count("xfail"))
    summary = "; ".join(f"{k}: {n} cells, {p} pass, {x} known failures, {f} failures"
                        for k, (n, p, x, f) in counts.items() if n)
    table = "\n".join(rows) + f"\n\n{summary}.\n"
    with open(a.doc, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n" + table + END + tail)
    print(f"fault-table: {a.doc}: {summary}")


if __name__ == "__main__":
    main()
