#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/e2e/webhook_recv.py PORTFILE LOGFILE SECRET FAIL_FIRST - a webhook receiver for
# tests/e2e/webhooks.sh: listens on 127.0.0.1 (port written to PORTFILE), answers 500 to the first
# FAIL_FIRST requests and 204 afterwards, and appends one JSON line per request to LOGFILE:
# {"n", "status", "event", "delivery", "sig_ok", "age_s", "body"} where sig_ok says whether
# X-Poolpatch-Signature verifies over the raw body with SECRET (HMAC-SHA256 of "t.body").
import hashlib, hmac, json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile, logfile, secret, fail_first = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
count = 0

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        count += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        sig = self.headers.get("X-Poolpatch-Signature", "")
        parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
        t = parts.get("t", "0")
        want = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(parts.get("v1", ""), want)
        status = 500 if count <= fail_first else 204
        with open(logfile, "a") as f:
            f.write(json.dumps({"n": count, "status": status,
                                "event": self.headers.get("X-Poolpatch-Event"),
                                "delivery": self.headers.get("X-Poolpatch-Delivery"),
                                "sig_ok": ok, "age_s": abs(time.time() - int(t)),
                                "body": json.loads(body)}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
