#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""catalog_proxy.py - an HTTP proxy in front of the simulator's vendor file service for the e2e
tests: it forwards requests (the catalog with the conditional headers the daemon sends, the token
exchange, update zips with Range and Authorization) and logs what went over the wire, or breaks
things on demand, so a test can see a 304 happen, a download resume, and the daemon's handling of
failures.

usage: catalog_proxy.py UPSTREAM_URL MODE_FILE LOG_FILE
  Listens on 127.0.0.1, a free port; prints "listening PORT" once ready.
  MODE_FILE holds one word, read on every request:
    pass       forward to UPSTREAM_URL + path, status and headers passed back
    500        /updates.xml answers HTTP 500
    garbage    /updates.xml answers 200 with a document that is not XML
    truncated  /updates.xml answers 200 with the upstream catalog cut in half (malformed XML)
    cut-once   the next .zip answer announces its full length, sends half and closes the
               connection; the mode then goes back to pass
    404-zip    .zip requests answer 404
    pad-zip    .zip answers carry 10 bytes more than the upstream file
  LOG_FILE gets one line per request:
    "<METHOD> <path> status=<code> inm=<If-None-Match> ims=<If-Modified-Since> range=<Range>"
    ("-" for an absent header)
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
        self.log_line(status)

    def log_line(self, status):
        inm = self.headers.get("If-None-Match") or "-"
        ims = self.headers.get("If-Modified-Since") or "-"
        rng = self.headers.get("Range") or "-"
        with open(LOG_FILE, "a") as f:
            f.write(f"{self.command} {self.path} status={status} inm={inm} ims={ims} "
                    f"range={rng}\n")

    def forward(self, method, body=None, skip=()):
        req = urllib.request.Request(UPSTREAM + self.path, data=body, method=method)
        for h in ("If-None-Match", "If-Modified-Since", "User-Agent", "Range",
                  "Authorization", "Content-Type"):
            if h not in skip and self.headers.get(h):
                req.add_header(h, self.headers.get(h))
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        status, body, hdrs = self.forward("POST", self.rfile.read(n))
        keep = [(k, hdrs[k]) for k in ("Content-Type",) if hdrs.get(k)]
        return self.answer(status, body, keep)

    def do_DELETE(self):
        status, body, hdrs = self.forward("DELETE")
        return self.answer(status, body, [])

    def zip_get(self, m):
        if m == "404-zip":
            return self.answer(404, b"not found\n", [("Content-Type", "text/plain")])
        status, body, hdrs = self.forward("GET")
        keep = [(k, hdrs[k]) for k in ("Content-Type", "Content-Range", "Accept-Ranges")
                if hdrs.get(k)]
        if m == "pad-zip" and status == 200:
            body += b"\0" * 10
        if m == "cut-once" and status == 200:
            with open(MODE_FILE, "w") as f:
                f.write("pass\n")
            self.send_response(status)
            for k, v in keep:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.log_line(f"{status}-cut")
            return None
        return self.answer(status, body, keep)

    def do_GET(self):
        m = mode()
        if self.path.endswith(".zip"):
            return self.zip_get(m)
        if not self.path.startswith("/updates.xml"):
            status, body, hdrs = self.forward("GET")
            return self.answer(status, body, [(k, hdrs[k]) for k in ("Content-Type",)
                                              if hdrs.get(k)])
        if m == "500":
            return self.answer(500, b"internal error\n", [("Content-Type", "text/plain")])
        if m == "garbage":
            return self.answer(200, b"this is not a catalog\n", [("Content-Type", "text/xml")])
        # truncated: always a full (then truncated) body, never a 304
        skip = ("If-None-Match", "If-Modified-Since") if m == "truncated" else ()
        status, body, hdrs = self.forward("GET", skip=skip)
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
