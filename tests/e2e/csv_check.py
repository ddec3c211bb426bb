#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""csv_check.py - byte-level and row-level checks of an exported updates CSV against the same view
as JSON (tests/e2e/updates_views.sh).

usage: csv_check.py by-update|by-server CSV_FILE VIEW_JSON_FILE TZ_NAME

Format (XenCenter's, docs/reference/xencenter.md section 4, src/plan/csv.h): UTF-8 with a BOM,
an unquoted header line, every data field quoted with embedded quotes doubled, lists joined with
", ", every line ended by CR LF; By Update TimeStamp is local time "MMM d, yyyy h:mm tt"; By Server
has host rows only.  Prints what differs and exits 1, or prints "ok" and exits 0.
"""
import csv
import datetime
import io
import json
import sys
import zoneinfo

HEADERS = {
    "by-update": "Title,Description,Applies To,TimeStamp,Web Page",
    "by-server": "Pool,Server,Version,Status,Required Updates,Installed Updates",
}


def fail(msg):
    print("csv_check: " + msg)
    sys.exit(1)


def quoted(field):
    return '"' + field.replace('"', '""') + '"'


def local_time(iso, tz):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    t = t.astimezone(zoneinfo.ZoneInfo(tz))
    h12 = t.hour % 12 or 12
    ampm = "AM" if t.hour < 12 else "PM"
    return f"{t.strftime('%b')} {t.day}, {t.year} {h12}:{t.minute:02d} {ampm}"


def main():
    view, csv_path, json_path, tz = sys.argv[1:5]
    raw = open(csv_path, "rb").read()
    doc = json.load(open(json_path))
    if not raw.startswith(b"\xef\xbb\xbf"):
        fail("no UTF-8 byte order mark")
    text = raw[3:].decode("utf-8")
    if not text.endswith("\r\n"):
        fail("the last line does not end with CR LF")
    if text.count("\n") != text.count("\r\n") or text.count("\r") != text.count("\r\n"):
        fail("a line end that is not CR LF")
    header = text.split("\r\n", 1)[0]
    if header != HEADERS[view]:
        fail(f"header {header!r}")

    if view == "by-update":
        want = [
            [u["title"], u["description"], u["applies_to"], local_time(u["date"], tz), u["url"]]
            for u in doc["updates"]
        ]
    else:
        want = [
            [s["pool"], s["server"], s["version"], s["status"],
             ", ".join(r["name"] for r in s["required"]),
             ", ".join(r["name"] for r in s["installed"])]
            for s in doc["servers"] if not s.get("is_pool")
        ]
    # byte-exact: every field quoted, quotes doubled, CR LF
    expect = "\r\n".join([HEADERS[view]] + [",".join(quoted(f) for f in row) for row in want])
    expect += "\r\n"
    if text != expect:
        got_rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
        for i, (g, w) in enumerate(zip(got_rows, want)):
            if g != w:
                fail(f"row {i + 1}: got {g!r}, want {w!r}")
        if len(got_rows) != len(want):
            fail(f"{len(got_rows)} rows, want {len(want)}")
        fail("same fields, different bytes (quoting or line ends):\n"
             f"got  {text!r}\nwant {expect!r}")
    print(f"ok {len(want)} rows")


if __name__ == "__main__":
    main()
