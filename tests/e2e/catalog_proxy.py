#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""catalog_proxy.py - an HTTP proxy in front of the simulator's vendor file service for the e2e
tests: it forwards GET /updates.xml (with the conditional headers the daemon sends) and logs what
went over the wire, or breaks the catalog on demand, so a test can see a 304 happen and the
daemon's handling of a failing catalog.

usage: catalog_proxy.py UPSTREAM_URL MODE_FILE LOG_FILE
  Listens on 127.0.0.1, a free port; prints "listening PORT" once ready.
  MODE_FILE holds one word, read on every request:
    pass     forward to UPSTREAM_URL + path, status and ETag / Last-Modified passed back
    500      answer HTTP 500
    garbage  answer 200 with a document that is not XML
    truncated  answer 200 with the upstream catalog cut in half (malformed XML)
  LOG_FILE gets one line per request:
    "<path> status=<code> inm=<If-None-Match or -> ims=<If-Modified-Since or ->"
"""
import http.server
import sys
import urllib.error
import urllib.request

UPSTREAM, MODE_FILE, LOG_FILE = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test reads LOG_FILE
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        inm = self.headers.get("If-None-Match") or "-"
        ims = self.headers.get("If-Modified-Since") or "-"
        with open(LOG_FILE, "a") as f:
            f.write(f"{self.path} status={status} inm={inm} ims={ims}\n")

    def do_GET(self):
        m = mode()
        if m == "500":
            return self.answer(500, b"internal error\n", [("Content-Type", "text/plain")])
        if m == "garbage":
            return self.answer(200, b"this is not a catalog\n", [("Content-Type", "text/xml")])
        req = urllib.request.Request(UPSTREAM + self.path)
        for h in ("If-None-Match", "If-Modified-Since", "User-Agent"):
            if m == "truncated" and h != "User-Agent":
                continue  # always a full (then truncated) body
            if self.headers.get(h):
                req.add_header(h, self.headers.get(h))
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                status, body, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, body, hdrs = e.code, e.read(), e.headers
        if m == "truncated" and status == 200:
            body = body[: len(body) // 2]
        keep = [(k, hdrs[k]) for k in ("Content-Type", "ETag", "Last-Modified") if hdrs.get(k)]
        if m == "truncated":
            keep = [(k, v) for k, v in keep if k == "Content-Type"]
        return self.answer(status, body if status != 304 else b"", keep)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
