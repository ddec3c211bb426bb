#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/e2e/openapi_check.py SERVE_URL TOKEN SRCDIR POOL_URL CLIENT_ID_FILE - the OpenAPI
# conformance test (run by tests/e2e/openapi.sh against a real `poolpatch serve` and
# `poolpatch sim`):
#   1. GET /api/v1/openapi.json is the document in the tree (docs/openapi.json), OpenAPI 3.1;
#   2. every route and method of the daemon's route table (src/api) is documented, and every
#      documented one exists (the daemon answers it, not 404);
#   3. a user's whole session (register a pool, check, both views, CSV, dismiss / restore,
#      client ID, download, plan, rollout with its event stream, retry / cancel refusals, audit,
#      webhooks, windows, schedules, health gates, pool removal) and bad requests (unknown fields, wrong types) are sent; every
#      answer's status must be documented for its operation and its body must match the
#      documented schema (errors: the Error schema); every request body sent must match the
#      documented request schema; every SSE data line must match ProgressEvent.
# Uses only the standard library: a JSON Schema validator for the subset the document uses.
import io, json, os, re, sys, threading, time, urllib.error, urllib.request, zipfile

SERVE, TOKEN, SRC, POOL_URL, CLIENT_ID = sys.argv[1:6]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


# ---------------------------------------------------------------- schema validation (subset)
def resolve(doc, s):
    while isinstance(s, dict) and "$ref" in s:
        parts = s["$ref"].lstrip("#/").split("/")
        s = doc
        for p in parts:
            s = s[p]
    return s


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def type_ok(v, t):
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, TYPES[t])


def errors(doc, v, s, path="$"):
    s = resolve(doc, s)
    out = []
    if not isinstance(s, dict) or not s:
        return out
    if "type" in s:
        ts = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not any(type_ok(v, t) for t in ts):
            return ["%s: %r is not %s" % (path, v if len(repr(v)) < 80 else "...", "/".join(ts))]
    if "const" in s and v != s["const"]:
        out.append("%s: %r is not %r" % (path, v, s["const"]))
    if "enum" in s and v not in s["enum"]:
        out.append("%s: %r not in %s" % (path, v, s["enum"]))
    for key, sub in (("oneOf", s.get("oneOf")), ("anyOf", s.get("anyOf"))):
        if sub:
            ok = [i for i, alt in enumerate(sub) if not errors(doc, v, alt, path)]
            if key == "oneOf" and len(ok) != 1 or key == "anyOf" and not ok:
                out.append("%s: matches %d of the %s alternatives" % (path, len(ok), key))
    if isinstance(v, str):
        if "minLength" in s and len(v) < s["minLength"]:
            out.append("%s: shorter than %d" % (path, s["minLength"]))
        if "maxLength" in s and len(v) > s["maxLength"]:
            out.append("%s: longer than %d" % (path, s["maxLength"]))
        if "pattern" in s and not re.search(s["pattern"], v):
            out.append("%s: %r does not match %s" % (path, v, s["pattern"]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in s and v < s["minimum"]:
            out.append("%s: %r < %r" % (path, v, s["minimum"]))
        if "maximum" in s and v > s["maximum"]:
            out.append("%s: %r > %r" % (path, v, s["maximum"]))
    if isinstance(v, list):
        if "minItems" in s and len(v) < s["minItems"]:
            out.append("%s: fewer than %d items" % (path, s["minItems"]))
        if "maxItems" in s and len(v) > s["maxItems"]:
            out.append("%s: more than %d items" % (path, s["maxItems"]))
        if "items" in s:
            for i, item in enumerate(v):
                out += errors(doc, item, s["items"], "%s[%d]" % (path, i))
    if isinstance(v, dict):
        props = s.get("properties", {})
        for r in s.get("required", []):
            if r not in v:
                out.append("%s: required field %s missing" % (path, r))
        for k, item in v.items():
            if k in props:
                out += errors(doc, item, props[k], path + "." + k)
            elif s.get("additionalProperties") is False:
                out.append("%s: field %s not in the schema" % (path, k))
    return out


# ---------------------------------------------------------------- the document
with open(os.path.join(SRC, "docs", "openapi.json")) as f:
    DOC = json.load(f)


def http(method, path, body=None, raw_body=None, headers=None):
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(SERVE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def template_of(path):
    """The documented path template a concrete path matches, or None."""
    p = path.split("?")[0]
    for t in DOC["paths"]:
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$"
        if re.match(rx, p):
            return t
    return None


seen_ops = set()


def call(method, path, body=None, want=None, raw_body=None, check_request=True, headers=None):
    """Send; check the request body, the status and the answer against the document."""
    t = template_of(path)
    if t is None:
        fail("%s %s: path not documented" % (method, path))
        return None, None
    o = DOC["paths"][t].get(method.lower())
    if o is None:
        fail("%s %s: method not documented" % (method, t))
        return None, None
    seen_ops.add((method, t))
    if body is not None and check_request and "requestBody" in o:
        schema = o["requestBody"]["content"]["application/json"]["schema"]
        for er in errors(DOC, body, schema):
            fail("%s %s: the test's own request does not match the document: %s" % (method, t, er))
    status, hdrs, raw = http(method, path, body, raw_body, headers)
    if want is not None and status != want:
        fail("%s %s: status %d, the test expected %d: %s" % (method, path, status, want, raw[:300]))
    r = o["responses"].get(str(status))
    if r is None:
        fail("%s %s: status %d is not documented (%s)" % (method, t, status, sorted(o["responses"])))
        return status, None
    r = resolve(DOC, r)
    content = r.get("content")
    if not content:
        if raw.strip():
            fail("%s %s: %d documented without a body, got %r" % (method, t, status, raw[:100]))
        return status, None
    ctype, media = next(iter(content.items()))
    got_type = (hdrs.get("Content-Type") or "").split(";")[0].strip()
    if got_type != ctype:
        fail("%s %s: Content-Type %s, documented %s" % (method, t, got_type, ctype))
    if ctype != "application/json":
        return status, raw
    try:
        j = json.loads(raw)
    except ValueError:
        fail("%s %s: %d body is not JSON: %r" % (method, t, status, raw[:100]))
        return status, None
    for er in errors(DOC, j, media["schema"]):
        fail("%s %s (%d): %s" % (method, t, status, er))
    return status, j


# ---------------------------------------------------------------- 1. the document served
st, _, raw = http("GET", "/api/v1/openapi.json")
if st != 200 or json.loads(raw) != DOC:
    fail("GET /api/v1/openapi.json is not docs/openapi.json (status %d)" % st)
if not str(DOC.get("openapi", "")).startswith("3.1"):
    fail("not an OpenAPI 3.1 document")
for name, s in DOC["components"]["schemas"].items():  # every $ref resolves
    for m in re.finditer(r'"\$ref": "#/components/(\w+)/(\w+)"', json.dumps(s)):
        if m.group(2) not in DOC["components"].get(m.group(1), {}):
            fail("schema %s: dangling $ref %s" % (name, m.group(0)))

# ---------------------------------------------------------------- 2. route table vs document
table = {}
for fn in os.listdir(os.path.join(SRC, "src", "api")):
    if fn.endswith(".c"):
        text = open(os.path.join(SRC, "src", "api", fn)).read()
        for m in re.finditer(r'\{"([a-z0-9./*_-]+)",\s*API_R_\w+,\s*"([A-Z, ]+)"', text):
            table["/api/v1/" + m.group(1)] = {x.strip() for x in m.group(2).split(",")}
if not table:
    fail("no route table found in src/api")
doc_ops = {}
for t, item in DOC["paths"].items():
    doc_ops[re.sub(r"\{[^}]+\}", "*", t)] = {k.upper() for k in item if k != "parameters"}
for path, methods in table.items():
    documented = doc_ops.get(path)
    if documented is None:
        fail("route %s (%s) is not in the document" % (path, ", ".join(sorted(methods))))
    elif methods - {"HEAD"} != documented:
        fail("route %s: methods %s in the daemon, %s in the document" % (path, sorted(methods), sorted(documented)))
for path in doc_ops:
    if path not in table and not path.endswith("openapi.json"):
        fail("documented %s is not a route of the daemon" % path)

# ---------------------------------------------------------------- 3. a session, validated
events, stop = [], threading.Event()


def follow():
    req = urllib.request.Request(SERVE + "/api/v1/events")
    req.add_header("Authorization", "Bearer " + TOKEN)
    with urllib.request.urlopen(req, timeout=300) as r:
        while not stop.is_set():
            line = r.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                events.append(line[5:].strip().decode())


th = threading.Thread(target=follow, daemon=True)
th.start()
call("GET", "/api/v1/pools", want=200)
call("POST", "/api/v1/pools", {"name": "small", "url": POOL_URL, "username": "root", "password": "xenroot"}, want=201)
call("POST", "/api/v1/pools", {"name": "x", "url": POOL_URL, "username": "root", "password": "p", "colour": 1}, want=400, check_request=False)
call("POST", "/api/v1/pools", {"url": 5, "username": "root", "password": "p"}, want=400, check_request=False)
call("POST", "/api/v1/pools", raw_body=b"{not json", want=400)
call("GET", "/api/v1/pools", want=200)
call("POST", "/api/v1/client-id", json.load(open(CLIENT_ID)), want=204)
call("GET", "/api/v1/settings", want=200)
call("PUT", "/api/v1/settings", {"check_interval_s": 86400}, want=200)
call("PUT", "/api/v1/settings", {"check_interval_s": -1}, want=400, check_request=False)
_, chk = call("POST", "/api/v1/updates/check", {}, want=200)
_, view = call("GET", "/api/v1/updates?view=by-update&sort=date", want=200)
call("GET", "/api/v1/updates?view=by-server&sort=pool", want=200)
call("GET", "/api/v1/updates?view=sideways", want=400)
call("GET", "/api/v1/updates/export.csv?view=by-server", want=200)
ids = [u["id"] for u in (view or {}).get("updates", [])]
if ids:
    call("POST", "/api/v1/updates/dismiss", {"ids": ids[:1]}, want=204)
    call("POST", "/api/v1/updates/restore", {}, want=204)
    call("POST", "/api/v1/updates/download", {"ids": ids[:1]})
else:
    fail("the By Update view shows no updates to exercise dismiss / download with")
call("POST", "/api/v1/updates/dismiss", {"ids": []}, want=400, check_request=False)
# the update file intake: a zip holding an image with its update.xml, streamed, listed, deleted
zbuf = io.BytesIO()
with zipfile.ZipFile(zbuf, "w") as z:
    z.writestr("EXAMPLE.iso", '<?xml version="1.0"?>\n<update uuid="0b5d2a3c-1e4f-4a6b-8c7d-9e0f1a2b3c4d" '
               'name-label="EXAMPLE" version="1.0" after-apply-guidance="restartXAPI"/>\n' + "\0" * 512)
_, fr = call("POST", "/api/v1/files?name=EXAMPLE.zip", raw_body=zbuf.getvalue(),
             headers={"Content-Type": "application/zip"}, want=201)
call("POST", "/api/v1/files", {"name": "EXAMPLE.zip"}, want=409)  # no update_file_dir configured
call("GET", "/api/v1/files", want=200)
call("DELETE", "/api/v1/files/%s" % (fr or {}).get("id", "none"), want=204)
call("DELETE", "/api/v1/files/no-such-file", want=404)
call("POST", "/api/v1/plans", {"pools": ["small"], "automated": True, "policy": "return"}, want=200)
call("POST", "/api/v1/plans", {"policy": "fast"}, want=400, check_request=False)
call("POST", "/api/v1/plans", {"max_parallel": 1000}, want=400, check_request=False)
call("POST", "/api/v1/upgrades", {"pools": ["small"], "to": "8.4.0", "url": "http://media.example/xs84/",
                                  "dry_run": True}, want=200)
call("POST", "/api/v1/upgrades", {"pools": ["small"], "url": "http://media.example/xs84/"}, want=400,
     check_request=False)
_, started = call("POST", "/api/v1/rollouts", {"pools": ["small"], "automated": True, "max_parallel": 1}, want=201)
rid = (started or {}).get("id", "none")
call("GET", "/api/v1/rollouts", want=200)
state = None
for _ in range(1200):
    _, r = call("GET", "/api/v1/rollouts/" + rid, want=200)
    state = (r or {}).get("state")
    if state in ("done", "halted", "cancelled", "failed"):
        break
    time.sleep(0.25)
if state != "done":
    fail("the rollout ended %s" % state)
call("POST", "/api/v1/rollouts/%s/retry" % rid, {}, want=409)
call("POST", "/api/v1/rollouts/%s/cancel" % rid, {}, want=409)
call("GET", "/api/v1/rollouts/no-such-rollout", want=404)
call("POST", "/api/v1/rollouts/%s/upgrade-host" % rid, {"host": "small-1", "action": "skip"}, want=404)
call("POST", "/api/v1/pools/small/forget-host", {"host": "no-such-host"}, want=404)
_, p = call("PATCH", "/api/v1/pools/small", {"live_patching_disabled": True}, want=200)
if (p or {}).get("live_patching_disabled") is not True:
    fail("PATCH /pools/small: the answer says live_patching_disabled %r" % (p or {}).get("live_patching_disabled"))
call("PATCH", "/api/v1/pools/small", {"live_patching_disabled": "yes"}, want=400, check_request=False)
call("PATCH", "/api/v1/pools/small", {"live_patching_disabled": False}, want=200)
call("PATCH", "/api/v1/pools/no-such-pool", {"live_patching_disabled": False}, want=404)
# an http pool waits for no certificate confirmation (security_master_change.sh confirms one)
call("POST", "/api/v1/pools/small/trust", {"fingerprint": "SHA256:" + "AB" * 32}, want=409)
call("GET", "/api/v1/audit?limit=5", want=200)
_, hook = call("POST", "/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef!",
                                             "events": ["rollout.done"]}, want=201)
call("POST", "/api/v1/webhooks", {"url": "ftp://x/", "secret": "0123456789abcdef!"}, want=400)
call("GET", "/api/v1/webhooks", want=200)
call("GET", "/api/v1/webhook-deliveries?webhook=0&limit=10", want=200)
call("DELETE", "/api/v1/webhooks/%s" % (hook or {}).get("id", 0), want=204)
call("DELETE", "/api/v1/webhooks/999999", want=404)
for kind, spec, bad in (
        ("windows", {"name": "nightly", "recurrence": "0 2 * * TUE#2", "tz": "Europe/Paris",
                     "duration": "4h", "pools": ["small"]},
         {"name": "w", "recurrence": "0 25 * * *", "duration": 60, "pools": ["small"]}),
        ("schedules", {"name": "nightly", "recurrence": "0 2 * * TUE#2", "pools": ["small"],
                       "policy": "minimal"},
         {"name": "s", "recurrence": "0 2 * * *", "policy": "fast"})):
    call("POST", "/api/v1/" + kind, spec, want=201)
    call("POST", "/api/v1/" + kind, spec, want=409)
    call("POST", "/api/v1/" + kind, bad, want=400, check_request=False)
    call("GET", "/api/v1/" + kind, want=200)
    call("DELETE", "/api/v1/%s/nightly" % kind, want=204)
    call("DELETE", "/api/v1/%s/nightly" % kind, want=404)
call("PUT", "/api/v1/health-gates", {"command": "true", "timeout_s": 5}, want=200)
call("PUT", "/api/v1/health-gates", {"pool": "small", "url": "http://127.0.0.1:9/gate"}, want=200)
call("PUT", "/api/v1/health-gates", {"command": "a", "url": "http://x/"}, want=400, check_request=False)
call("PUT", "/api/v1/health-gates", {"pool": "nosuch", "command": "true"}, want=404)
call("GET", "/api/v1/health-gates", want=200)
call("DELETE", "/api/v1/health-gates/small", want=204)
call("DELETE", "/api/v1/health-gates/small", want=404)
call("DELETE", "/api/v1/health-gates", want=204)
call("DELETE", "/api/v1/pools/small", want=204)
call("DELETE", "/api/v1/pools/small", want=404)
stop.set()

if not events:
    fail("the event stream carried no events during the rollout")
schema = DOC["components"]["schemas"]["ProgressEvent"]
bad = 0
for i, ev in enumerate(events):
    ers = errors(DOC, json.loads(ev), schema, "event[%d]" % i)
    for er in ers[:3] if bad < 3 else []:
        fail("SSE: %s in %s" % (er, ev))
    bad += 1 if ers else 0
if bad:
    fail("SSE: %d of %d events do not match ProgressEvent" % (bad, len(events)))
kinds = {(json.loads(e)["pool"] is None, json.loads(e)["host"] is None) for e in events}
if (True, True) not in kinds or (False, False) not in kinds:
    fail("the events lack rollout-level or host-level events: %s" % kinds)

missing = {(m, t) for t, item in DOC["paths"].items() for m in (k.upper() for k in item if k != "parameters")} - seen_ops
for m, t in sorted(missing):
    if not t.endswith("openapi.json") and t != "/api/v1/events":
        fail("documented %s %s was never exercised by this test" % (m, t))

print("ok - %d operations exercised, %d SSE events validated, %d routes in the table" %
      (len(seen_ops), len(events), len(table)))
sys.exit(1 if failures else 0)
