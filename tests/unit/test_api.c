/* SPDX-License-Identifier: MIT */
/*
 * test_api.c - unit tests of the api module: routing, auth, error mapping, JSON bodies and
 * limits, SSE framing and streaming, CSV passthrough, static assets with ETag / 304, the
 * settings file and the token file.  HTTP tests run a real server on 127.0.0.1 (port 0) in
 * front of the engine test double (engine_seam.c) and talk to it over raw sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/str.h"
#include "engine_seam.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

struct fx {
    struct api_server *srv;
    uint16_t port;
};

static int setup_cfg(void **state, const struct api_config *over)
{
    struct fx *fx = xcalloc(1, sizeof *fx);
    struct api_config cfg = {0};
    struct err e = {0};
    struct engine *eng;

    seam_reset();
    if (over)
        cfg = *over;
    cfg.bind_addr = "127.0.0.1";
    cfg.port = 0;
    cfg.token = TOKEN;
    if (!cfg.max_body)
        cfg.max_body = 4096;
    engine_new(NULL, &eng, NULL);
    if (api_server_new(&cfg, eng, &fx->srv, &e) != 0) {
        fprintf(stderr, "api_server_new: %s\n", e.msg);
        free(fx);
        return -1;
    }
    fx->port = api_server_port(fx->srv);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_cfg(state, NULL);
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    api_server_free(fx->srv);
    free(fx);
    seam_reset();
    return 0;
}

static int dial(uint16_t port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may close early (413); the reply is still readable */
        p += w;
        n -= (size_t)w;
    }
}

/* Read until the peer closes or `until` appears (NULL = close); 5 s safety timeout. */
static void read_until(int fd, struct buf *b, const char *until)
{
    char tmp[4096];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (until && b->len && strstr(buf_str(b), until))
            return;
        if (poll(&p, 1, 5000) <= 0)
            return;
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            return;
        buf_append(b, tmp, (size_t)n);
    }
}

struct resp {
    int status;
    struct buf raw;
    const char *body; /* into raw */
};

/* One request with Connection: close; auth NULL omits the header. */
static void http(struct fx *fx, const char *method, const char *path, const char *auth,
                 const char *body, const char *extra_headers, struct resp *r)
{
    struct buf req;
    int fd = dial(fx->port);

    buf_init(&req);
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n", method, path,
               fx->port);
    if (auth)
        buf_printf(&req, "Authorization: %s\r\n", auth);
    if (extra_headers)
        buf_puts(&req, extra_headers);
    if (body)
        buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(body), body);
    else
        buf_puts(&req, "\r\n");
    send_all(fd, req.data, req.len);
    buf_cleanup(&req);
    buf_init(&r->raw);
    read_until(fd, &r->raw, NULL);
    close(fd);
    r->status = 0;
    sscanf(buf_str(&r->raw), "HTTP/1.1 %d", &r->status);
    const char *p = strstr(buf_str(&r->raw), "\r\n\r\n");
    r->body = p ? p + 4 : "";
}

static const char *bearer(void)
{
    return "Bearer " TOKEN;
}

static bool has_header(const struct resp *r, const char *line)
{
    return strstr(buf_str(&r->raw), line) != NULL;
}

/* The body is {"error":{"code":code,...}} and the message contains needle. */
static void assert_error(const struct resp *r, int status, const char *code, const char *needle)
{
    json_error_t je;
    json_t *v = json_loads(r->body, 0, &je);

    if (r->status != status)
        fprintf(stderr, "unexpected reply:\n%s\n", buf_str(&r->raw));
    assert_int_equal(r->status, status);
    assert_non_null(v);
    json_t *err = json_object_get(v, "error");
    assert_non_null(err);
    assert_string_equal(json_string_value(json_object_get(err, "code")), code);
    const char *msg = json_string_value(json_object_get(err, "message"));
    assert_non_null(msg);
    if (needle && !strstr(msg, needle)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", msg, needle);
        fail();
    }
    json_decref(v);
}

static void resp_free(struct resp *r)
{
    buf_cleanup(&r->raw);
}

/* ------------------------------------------------------------------ pure */

static void test_route_table(void **state)
{
    struct api_match m;
    (void)state;

    assert_int_equal(api_route("GET", "/api/v1/pools", &m), 200);
    assert_int_equal(m.route, API_R_POOLS);
    assert_int_equal(api_route("POST", "/api/v1/pools", &m), 200);
    assert_int_equal(api_route("DELETE", "/api/v1/pools/lab%201", &m), 200);
    assert_int_equal(m.route, API_R_POOL);
    assert_string_equal(m.param, "lab%201");
    assert_int_equal(api_route("GET", "/api/v1/pools/x", &m), 405);
    assert_string_equal(m.allow, "PATCH, DELETE");
    assert_int_equal(api_route("PATCH", "/api/v1/pools/x", &m), 200);
    assert_int_equal(m.route, API_R_POOL);
    assert_int_equal(api_route("DELETE", "/api/v1/pools/", &m), 404);
    assert_int_equal(api_route("DELETE", "/api/v1/pools/a/b", &m), 404);
    assert_int_equal(api_route("GET", "/api/v1/updates", &m), 200);
    assert_int_equal(api_route("HEAD", "/api/v1/updates", &m), 200);
    assert_int_equal(api_route("POST", "/api/v1/updates", &m), 405);
    assert_int_equal(api_route("POST", "/api/v1/updates/check", &m), 200);
    assert_int_equal(m.route, API_R_UPDATES_CHECK);
    assert_int_equal(api_route("GET", "/api/v1/updates/export.csv", &m), 200);
    assert_int_equal(m.route, API_R_UPDATES_CSV);
    assert_int_equal(api_route("POST", "/api/v1/updates/dismiss", &m), 200);
    assert_int_equal(api_route("POST", "/api/v1/updates/restore", &m), 200);
    assert_int_equal(api_route("POST", "/api/v1/plans", &m), 200);
    assert_int_equal(api_route("GET", "/api/v1/plans", &m), 405);
    assert_int_equal(api_route("GET", "/api/v1/rollouts", &m), 200);
    assert_int_equal(api_route("POST", "/api/v1/rollouts", &m), 200);
    assert_int_equal(api_route("GET", "/api/v1/rollouts/r-1", &m), 200);
    assert_int_equal(m.route, API_R_ROLLOUT);
    assert_string_equal(m.param, "r-1");
    assert_int_equal(api_route("POST", "/api/v1/rollouts/r-1/retry", &m), 200);
    assert_int_equal(m.route, API_R_ROLLOUT_RETRY);
    assert_string_equal(m.param, "r-1");
    assert_int_equal(api_route("POST", "/api/v1/rollouts/r-1/cancel", &m), 200);
    assert_int_equal(m.route, API_R_ROLLOUT_CANCEL);
    assert_int_equal(api_route("POST", "/api/v1/rollouts/r-1/explode", &m), 404);
    assert_int_equal(api_route("GET", "/api/v1/rollouts/r-1/retry", &m), 405);
    assert_int_equal(api_route("GET", "/api/v1/events", &m), 200);
    assert_int_equal(m.route, API_R_EVENTS);
    assert_int_equal(api_route("POST", "/api/v1/client-id", &m), 200);
    assert_int_equal(m.route, API_R_CLIENT_ID);
    assert_int_equal(api_route("GET", "/api/v1/client-id", &m), 405);
    assert_int_equal(api_route("GET", "/api/v1/nope", &m), 404);
    assert_int_equal(api_route("GET", "/api/v2/pools", &m), 404);
    assert_int_equal(api_route("GET", "/api/v1/pools/", &m), 404);
    assert_int_equal(api_route("GET", "/", &m), 200);
    assert_int_equal(m.route, API_R_STATIC);
    assert_int_equal(api_route("POST", "/index.html", &m), 405);
    assert_int_equal(api_route("GET", "relative", &m), 404);
    assert_true(api_method_mutates("POST"));
    assert_true(api_method_mutates("DELETE"));
    assert_false(api_method_mutates("GET"));
    assert_false(api_method_mutates("HEAD"));
}

static void test_token_compare(void **state)
{
    (void)state;
    assert_true(api_token_equal("abcdef", "abcdef"));
    assert_false(api_token_equal("abcdef", "abcdeg"));
    assert_false(api_token_equal("abcdef", "abcde"));
    assert_false(api_token_equal("abcdef", "abcdefg"));
    assert_false(api_token_equal("abcdef", ""));
    assert_false(api_token_equal("abcdef", NULL));
    assert_false(api_token_equal("", ""));
    assert_int_equal(api_check_auth("tok-12345", "Bearer tok-12345"), 0);
    assert_int_equal(api_check_auth("tok-12345", "bearer tok-12345"), 0);
    assert_int_equal(api_check_auth("tok-12345", "Basic tok-12345"), 401);
    assert_int_equal(api_check_auth("tok-12345", "Bearer tok-1234"), 401);
    assert_int_equal(api_check_auth("tok-12345", NULL), 401);
    assert_int_equal(api_check_auth("tok-12345", "Bearer"), 401);
}

static void test_error_mapping(void **state)
{
    struct buf b;
    (void)state;
    assert_int_equal(api_status_for(PP_EINVAL), 400);
    assert_int_equal(api_status_for(PP_EPARSE), 400);
    assert_int_equal(api_status_for(PP_ENOTFOUND), 404);
    assert_int_equal(api_status_for(PP_ESTATE), 409);
    assert_int_equal(api_status_for(PP_ELIMIT), 413);
    assert_int_equal(api_status_for(PP_EXAPI), 502);
    assert_int_equal(api_status_for(PP_ETRANSPORT), 502);
    assert_int_equal(api_status_for(PP_ETIMEOUT), 504);
    assert_int_equal(api_status_for(PP_EDB), 500);
    assert_string_equal(api_error_code(502, PP_EXAPI), "xapi_error");
    assert_string_equal(api_error_code(404, PP_ENOTFOUND), "not_found");
    assert_string_equal(api_error_code(401, 0), "unauthorized");
    buf_init(&b);
    api_error_json(&b, "xapi_error", "say \"hi\"\n", "HOST_OFFLINE");
    assert_string_equal(buf_str(&b), "{\"error\":{\"code\":\"xapi_error\",\"message\":\"say "
                                     "\\\"hi\\\"\\n\",\"xapi_code\":\"HOST_OFFLINE\"}}");
    buf_reset(&b);
    api_error_json(&b, "not_found", "\xff bad utf8", NULL);
    assert_non_null(strstr(buf_str(&b), "not valid UTF-8"));
    buf_cleanup(&b);
}

static void test_sse_framing(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b);
    api_sse_format(&b, 7, "progress", "{\"a\":1}");
    assert_string_equal(buf_str(&b), "id: 7\nevent: progress\ndata: {\"a\":1}\n\n");
    buf_reset(&b);
    api_sse_format(&b, 0, "progress", "line1\nline2\r\nline3\rline4");
    assert_string_equal(buf_str(&b), "event: progress\ndata: line1\ndata: line2\ndata: line3\n"
                                     "data: line4\n\n");
    buf_reset(&b);
    api_sse_format(&b, 1, NULL, "");
    assert_string_equal(buf_str(&b), "id: 1\ndata: \n\n");
    buf_reset(&b);
    api_sse_heartbeat(&b);
    assert_string_equal(buf_str(&b), ": keepalive\n\n");
    buf_cleanup(&b);
}

static void test_etag_helpers(void **state)
{
    char t1[32], t2[32];
    (void)state;
    api_etag_for("abc", 3, t1, sizeof t1);
    api_etag_for("abd", 3, t2, sizeof t2);
    assert_int_equal(strlen(t1), 18);
    assert_int_equal(t1[0], '"');
    assert_string_not_equal(t1, t2);
    assert_true(api_etag_matches(t1, t1));
    assert_false(api_etag_matches(t2, t1));
    char list[80];
    snprintf(list, sizeof list, "%s, W/%s", t2, t1);
    assert_true(api_etag_matches(list, t1));
    assert_true(api_etag_matches("*", t1));
    assert_false(api_etag_matches(NULL, t1));
    assert_string_equal(api_mime_for("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(api_mime_for("x.bin"), "application/octet-stream");
    /* The embedded table holds the web UI with ETags computed by the same function. */
    const struct api_asset *a = api_asset_find("/");
    assert_non_null(a);
    assert_string_equal(a->path, "index.html");
    api_etag_for(a->data, a->len, t1, sizeof t1);
    assert_string_equal(a->etag, t1);
    assert_non_null(api_asset_find("/app.js"));
    assert_non_null(api_asset_find("/style.css"));
    assert_non_null(api_asset_find("/api.js"));
    assert_null(api_asset_find("/../meson.build"));
}

/* ------------------------------------------------------------------ settings and token */

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void test_settings_file(void **state)
{
    char dir[] = "/tmp/pp-api-XXXXXX";
    char path[128];
    struct api_settings s;
    struct err e = {0};
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/poolpatch.conf", dir);
    write_file(path,
               "# poolpatch daemon\n\nlisten = 127.0.0.2:9000\n  db=/tmp/x.db  \n"
               "check_interval = 0\nmax_body = 2048\nlog_level = info\n"
               "default_policy = minimal\n",
               0600);
    api_settings_defaults(&s);
    assert_string_equal(s.default_policy, "");
    assert_int_equal(api_settings_load(&s, path, &e), 0);
    assert_string_equal(s.default_policy, "minimal");
    assert_string_equal(s.listen, "127.0.0.2:9000");
    assert_string_equal(s.db, "/tmp/x.db");
    assert_int_equal(s.check_interval_s, 0);
    assert_int_equal(s.max_body, 2048);
    assert_string_equal(s.log_level, "info");

    write_file(path, "listen = 127.0.0.1:7480\nbogus = 1\n", 0600);
    assert_int_equal(api_settings_load(&s, path, &e), PP_EPARSE);
    char want[160];
    snprintf(want, sizeof want, "%s:2: unknown setting 'bogus'", path);
    assert_non_null(strstr(e.msg, want));

    write_file(path, "default_policy = fast\n", 0600);
    assert_int_equal(api_settings_load(&s, path, &e), PP_EPARSE);
    assert_non_null(strstr(e.msg, ":1: default_policy: 'fast' is not one of return, minimal"));

    write_file(path, "max_body = lots\n", 0600);
    assert_int_equal(api_settings_load(&s, path, &e), PP_EPARSE);
    assert_non_null(strstr(e.msg, ":1: max_body"));

    write_file(path, "\n\njust words\n", 0600);
    assert_int_equal(api_settings_load(&s, path, &e), PP_EPARSE);
    assert_non_null(strstr(e.msg, ":3: expected 'key = value'"));

    write_file(path, "listen = 127.0.0.1:99999\n", 0600);
    assert_int_equal(api_settings_load(&s, path, &e), PP_EPARSE);
    assert_non_null(strstr(e.msg, ":1: listen"));

    assert_int_equal(api_settings_load(&s, "/nonexistent/pp.conf", &e), PP_EIO);
    unlink(path);
    rmdir(dir);
}

/* PATCH /pools/{name}'s body: exactly {"live_patching_disabled": bool}; anything else is refused
 * with the field named. */
static void test_pool_settings_body(void **state)
{
    static const struct {
        const char *body;
        int want; /* live_patching_disabled, or -1: refused */
        const char *needle;
    } cases[] = {
        {"{\"live_patching_disabled\": true}", 1, NULL},
        {"{\"live_patching_disabled\": false}", 0, NULL},
        {"{\"live_patching_disabled\": \"yes\"}", -1, "live_patching_disabled: expected true"},
        {"{\"live_patching_disabled\": 1}", -1, "live_patching_disabled: expected true"},
        {"{\"live_patching_disabled\": null}", -1, "live_patching_disabled: expected true"},
        {"{\"live_patching\": true}", -1, "unknown field 'live_patching'"},
        {"{\"live_patching_disabled\": true, \"ha\": false}", -1, "unknown field 'ha'"},
        {"{}", -1, "nothing to change; give live_patching_disabled"},
        {"[true]", -1, "expected a JSON object"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct engine_pool_settings s = {.live_patching_disabled = 7};
        struct err e = {0};
        json_t *v = json_loads(cases[i].body, 0, NULL);
        assert_non_null(v);
        int rc = api_pool_settings_parse(v, &s, &e);
        json_decref(v);
        if (cases[i].want >= 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(s.live_patching_disabled, cases[i].want);
        } else {
            assert_int_equal(rc, PP_EINVAL);
            if (!strstr(e.msg, cases[i].needle))
                fail_msg("%s: '%s' lacks '%s'", cases[i].body, e.msg, cases[i].needle);
        }
    }
}

/* PATCH /api/v1/pools/{name} over HTTP: a bad body never reaches the engine; a good one is
 * the engine's pool object; the route allows PATCH and DELETE only. */
static void test_pool_patch_route(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    http(fx, "PATCH", "/api/v1/pools/lab", bearer(), "{\"live_patching_disabled\":\"off\"}", NULL,
         &r);
    assert_error(&r, 400, "bad_request", "live_patching_disabled");
    resp_free(&r);
    assert_int_equal(seam_calls(), 0);
    seam_set_answer(json_pack("{s:s s:b}", "name", "lab", "live_patching_disabled", 1));
    http(fx, "PATCH", "/api/v1/pools/lab", bearer(), "{\"live_patching_disabled\":true}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"live_patching_disabled\":true"));
    resp_free(&r);
    assert_string_equal(seam.last_call, "pool_set");
    assert_string_equal(seam.last_id, "lab");
    assert_int_equal(seam.last_int, 1);
    /* the engine's refusal, with took_effect false */
    seam.rc = PP_EXAPI;
    str_lcpy(seam.msg, "pool lab: the account may not change the pool's properties",
             sizeof seam.msg);
    str_lcpy(seam.xapi_code, "RBAC_PERMISSION_DENIED", sizeof seam.xapi_code);
    http(fx, "PATCH", "/api/v1/pools/lab", bearer(), "{\"live_patching_disabled\":false}", NULL,
         &r);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.body, "RBAC_PERMISSION_DENIED"));
    assert_non_null(strstr(r.body, "\"took_effect\":false"));
    resp_free(&r);
    seam.rc = 0;
    http(fx, "PUT", "/api/v1/pools/lab", bearer(), "{}", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(buf_str(&r.raw), "PATCH, DELETE"));
    resp_free(&r);
}

static void test_parse_listen(void **state)
{
    char host[64];
    uint16_t port;
    (void)state;
    assert_int_equal(api_parse_listen("127.0.0.1:7480", host, sizeof host, &port, NULL), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7480);
    assert_int_equal(api_parse_listen("[::1]:80", host, sizeof host, &port, NULL), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 80);
    assert_int_equal(api_parse_listen("8080", host, sizeof host, &port, NULL), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(api_parse_listen("host:", host, sizeof host, &port, NULL), PP_EINVAL);
    assert_int_equal(api_parse_listen("[::1]80", host, sizeof host, &port, NULL), PP_EINVAL);
    assert_int_equal(api_parse_listen("", host, sizeof host, &port, NULL), PP_EINVAL);
}

static void test_token_file(void **state)
{
    char dir[] = "/tmp/pp-tok-XXXXXX";
    char path[128], t1[API_TOKEN_MAX], t2[API_TOKEN_MAX];
    struct err e = {0};
    struct stat st;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/api-token", dir);
    assert_int_equal(api_token_load(path, false, t1, sizeof t1, &e), PP_ENOTFOUND);
    assert_int_equal(api_token_load(path, true, t1, sizeof t1, &e), 0);
    assert_int_equal(strlen(t1), 64);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(api_token_load(path, true, t2, sizeof t2, &e), 0);
    assert_string_equal(t1, t2);
    chmod(path, 0644);
    assert_int_equal(api_token_load(path, false, t2, sizeof t2, &e), PP_EAUTH);
    assert_non_null(strstr(e.msg, "chmod 600"));
    write_file(path, "short\n", 0600);
    assert_int_equal(api_token_load(path, false, t2, sizeof t2, &e), PP_EPARSE);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------ over HTTP */

static void test_http_auth(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    seam.answer = json_pack("{s:[{s:s}]}", "pools", "name", "lab");
    http(fx, "GET", "/api/v1/pools", NULL, NULL, NULL, &r);
    assert_error(&r, 401, "unauthorized", "token is required");
    assert_true(has_header(&r, "WWW-Authenticate: Bearer"));
    resp_free(&r);
    http(fx, "GET", "/api/v1/pools", "Bearer wrong-token-wrong-token", NULL, NULL, &r);
    assert_error(&r, 401, "unauthorized", "wrong");
    resp_free(&r);
    http(fx, "POST", "/api/v1/updates/check", NULL, NULL, NULL, &r);
    assert_error(&r, 401, "unauthorized", NULL);
    resp_free(&r);
    assert_int_equal(seam.calls, 0); /* nothing reached the engine */
    http(fx, "GET", "/api/v1/pools", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"pools\":[{\"name\":\"lab\"}]}");
    assert_true(has_header(&r, "Content-Type: application/json"));
    resp_free(&r);
    /* A browser page from another origin is refused even with the token. */
    http(fx, "POST", "/api/v1/updates/check", bearer(), NULL, "Origin: http://evil.example\r\n",
         &r);
    assert_error(&r, 403, "forbidden", "cross-origin");
    resp_free(&r);
    /* Static assets need no token. */
    http(fx, "GET", "/", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_http_routes(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    http(fx, "GET", "/api/v1/nothing", bearer(), NULL, NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    http(fx, "PUT", "/api/v1/pools", bearer(), NULL, NULL, &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    assert_true(has_header(&r, "Allow: GET, POST"));
    resp_free(&r);
    http(fx, "DELETE", "/api/v1/pools/lab", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(seam.last_call, "pool_remove");
    assert_string_equal(seam.last_id, "lab");
    resp_free(&r);
    http(fx, "GET", "/api/v1/updates?view=by-server&sort=pool", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(seam.last_view, ENGINE_VIEW_BY_SERVER);
    assert_int_equal(seam.last_sort, ENGINE_SORT_POOL);
    resp_free(&r);
    http(fx, "GET", "/api/v1/updates?view=sideways", bearer(), NULL, NULL, &r);
    assert_error(&r, 400, "bad_request", "view");
    resp_free(&r);
    http(fx, "GET", "/api/v1/updates?colour=red", bearer(), NULL, NULL, &r);
    assert_error(&r, 400, "bad_request", "unknown query parameter 'colour'");
    resp_free(&r);
    http(fx, "POST", "/api/v1/rollouts/r-9/retry", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(seam.last_call, "rollout_retry");
    assert_string_equal(seam.last_id, "r-9");
    resp_free(&r);
    http(fx, "POST", "/api/v1/rollouts/r-9/cancel", bearer(), "{}", NULL, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(seam.last_call, "rollout_cancel");
    resp_free(&r);
    http(fx, "POST", "/api/v1/rollouts/r-9/cancel", bearer(), "{\"force\":true}", NULL, &r);
    assert_error(&r, 400, "bad_request", "force");
    resp_free(&r);
    seam.answer = json_pack("{s:s s:s}", "id", "r-9", "state", "running");
    http(fx, "GET", "/api/v1/rollouts/r-9", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"id\":\"r-9\",\"state\":\"running\"}");
    assert_int_equal(seam.last_max_age_ms, 0);
    assert_false(has_header(&r, "Age:"));
    resp_free(&r);
    /* the age of data a client accepts reaches the engine; the answer then says its Age */
    seam_set_answer(json_pack("{s:s}", "id", "r-9"));
    http(fx, "GET", "/api/v1/rollouts/r-9", bearer(), NULL, "Cache-Control: max-age=2\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(seam.last_max_age_ms, 2000);
    assert_true(has_header(&r, "Age: 0"));
    resp_free(&r);
}

/* Cache-Control request directives: max-age in seconds (capped), no-cache / no-store current. */
static void test_cache_max_age(void **state)
{
    (void)state;
    assert_int_equal(api_cache_max_age_ms(NULL), 0);
    assert_int_equal(api_cache_max_age_ms(""), 0);
    assert_int_equal(api_cache_max_age_ms("max-age=1"), 1000);
    assert_int_equal(api_cache_max_age_ms("Max-Age=3, no-transform"), 3000);
    assert_int_equal(api_cache_max_age_ms("no-transform,max-age=10"), 10000);
    assert_int_equal(api_cache_max_age_ms("max-age=99999999"), 3600000);
    assert_int_equal(api_cache_max_age_ms("max-age=0"), 0);
    assert_int_equal(api_cache_max_age_ms("max-age=-5"), 0);
    assert_int_equal(api_cache_max_age_ms("max-age=1x"), 0);
    assert_int_equal(api_cache_max_age_ms("max-age="), 0);
    assert_int_equal(api_cache_max_age_ms("max-age=5, no-cache"), 0);
    assert_int_equal(api_cache_max_age_ms("no-store, max-age=5"), 0);
    assert_int_equal(api_cache_max_age_ms("max-age=123456789012345678901234567890"), 0);
}

static void test_http_errors_mapped(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    seam.rc = PP_EXAPI;
    str_lcpy(seam.msg, "HOST_OFFLINE(OpaqueRef:1): the host is unreachable", sizeof seam.msg);
    str_lcpy(seam.xapi_code, "HOST_OFFLINE", sizeof seam.xapi_code);
    http(fx, "POST", "/api/v1/updates/check", bearer(), NULL, NULL, &r);
    assert_error(&r, 502, "xapi_error", "unreachable");
    assert_non_null(strstr(r.body, "\"xapi_code\":\"HOST_OFFLINE\""));
    resp_free(&r);
    seam.xapi_code[0] = '\0';
    seam.rc = PP_ESTATE;
    http(fx, "POST", "/api/v1/rollouts/r-1/retry", bearer(), NULL, NULL, &r);
    assert_error(&r, 409, "conflict", NULL);
    resp_free(&r);
    seam.rc = PP_ETIMEOUT;
    http(fx, "GET", "/api/v1/pools", bearer(), NULL, NULL, &r);
    assert_error(&r, 504, "timeout", NULL);
    resp_free(&r);
    seam.rc = PP_ENOTFOUND;
    str_lcpy(seam.msg, "no rollout r-404", sizeof seam.msg);
    http(fx, "GET", "/api/v1/rollouts/r-404", bearer(), NULL, NULL, &r);
    assert_error(&r, 404, "not_found", "no rollout r-404");
    resp_free(&r);
    seam.rc = PP_EDB;
    http(fx, "GET", "/api/v1/rollouts", bearer(), NULL, NULL, &r);
    assert_error(&r, 500, "internal", NULL);
    resp_free(&r);
}

static void test_http_json_bodies(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    http(fx, "POST", "/api/v1/plans", bearer(),
         "{\"pools\":[\"a\",\"b\"],\"updates\":[\"XS82E001\"],\"policy\":\"return\","
         "\"stay_on_release\":true}",
         NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(seam.last_call, "plan");
    char *got = json_dumps(seam.last_req, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, "{\"automated\":false,\"file\":null,\"policy\":\"return\","
                             "\"pools\":[\"a\",\"b\"],\"stay_on_release\":true,"
                             "\"updates\":[\"XS82E001\"]}");
    free(got);
    resp_free(&r);
    /* An empty request is the automated minimal set on every pool. */
    http(fx, "POST", "/api/v1/rollouts", bearer(), "{}", NULL, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"id\":\"r-0001\"}");
    assert_true(has_header(&r, "Location: /api/v1/rollouts/r-0001"));
    assert_true(json_is_true(json_object_get(seam.last_req, "automated")));
    /* return is the default policy; max_parallel is 0 (as capacity allows) unless given */
    assert_string_equal(json_string_value(json_object_get(seam.last_req, "policy")), "return");
    assert_null(json_object_get(seam.last_req, "max_parallel"));
    resp_free(&r);
    http(fx, "POST", "/api/v1/rollouts", bearer(), "{\"max_parallel\":1,\"policy\":\"minimal\"}",
         NULL, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(seam.last_req, "max_parallel")), 1);
    assert_string_equal(json_string_value(json_object_get(seam.last_req, "policy")), "minimal");
    resp_free(&r);
    const char *bad_maxp[] = {"{\"max_parallel\":-1}", "{\"max_parallel\":65}",
                              "{\"max_parallel\":\"2\"}", "{\"max_parallel\":1.5}"};
    for (size_t i = 0; i < sizeof(bad_maxp) / sizeof(bad_maxp[0]); i++) {
        http(fx, "POST", "/api/v1/plans", bearer(), bad_maxp[i], NULL, &r);
        assert_error(&r, 400, "bad_request", "max_parallel: expected an integer");
        resp_free(&r);
    }
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"pools\":[\"a\"],\"polcy\":\"return\"}", NULL,
         &r);
    assert_error(&r, 400, "bad_request", "unknown field(s): polcy");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"pools\":\"a\"}", NULL, &r);
    assert_error(&r, 400, "bad_request", "pools: expected an array");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"policy\":\"fast\"}", NULL, &r);
    assert_error(&r, 400, "bad_request", "policy: 'fast'");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"automated\":true,\"updates\":[\"x\"]}", NULL,
         &r);
    assert_error(&r, 400, "bad_request", "automated");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"pools\":[\"a\"", NULL, &r);
    assert_error(&r, 400, "bad_request", "line");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "[1,2]", NULL, &r);
    assert_error(&r, 400, "bad_request", "JSON object");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"a\":1,\"a\":2}", NULL, &r);
    assert_error(&r, 400, "bad_request", NULL);
    resp_free(&r);
    /* pools */
    seam.answer = json_pack("{s:s s:b}", "name", "lab", "connected", 1);
    http(fx, "POST", "/api/v1/pools", bearer(),
         "{\"name\":\"lab\",\"url\":\"http://127.0.0.1:9/\",\"username\":\"root\","
         "\"password\":\"s3cret\"}",
         NULL, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(seam.last_pool_name, "lab");
    assert_string_equal(seam.last_password, "s3cret");
    assert_string_equal(r.body, "{\"name\":\"lab\",\"connected\":true}");
    resp_free(&r);
    http(fx, "POST", "/api/v1/pools", bearer(), "{\"url\":\"https://x/\",\"username\":\"root\"}",
         NULL, &r);
    assert_error(&r, 400, "bad_request", "password: required");
    resp_free(&r);
    http(fx, "POST", "/api/v1/pools", bearer(),
         "{\"url\":\"ftp://x/\",\"username\":\"root\",\"password\":\"p\"}", NULL, &r);
    assert_error(&r, 400, "bad_request", "url:");
    resp_free(&r);
    /* dismiss */
    http(fx, "POST", "/api/v1/updates/dismiss", bearer(), "{\"ids\":[\"u1\",\"u2\"]}", NULL, &r);
    assert_int_equal(r.status, 204);
    got = json_dumps(seam.last_req, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, "{\"all\":false,\"ids\":[\"u1\",\"u2\"]}");
    free(got);
    resp_free(&r);
    http(fx, "POST", "/api/v1/updates/dismiss", bearer(), "{\"all\":true}", NULL, &r);
    assert_int_equal(r.status, 204);
    assert_true(json_is_true(json_object_get(seam.last_req, "all")));
    resp_free(&r);
    http(fx, "POST", "/api/v1/updates/dismiss", bearer(), "{}", NULL, &r);
    assert_error(&r, 400, "bad_request", "ids");
    resp_free(&r);
    http(fx, "POST", "/api/v1/updates/dismiss", bearer(), "{\"ids\":[\"\"]}", NULL, &r);
    assert_error(&r, 400, "bad_request", "ids[0]");
    resp_free(&r);
    /* client ID: the uploaded text goes to the engine as is */
    http(fx, "POST", "/api/v1/client-id", bearer(), "{\"username\":\"u\",\"apikey\":\"k\"}", NULL,
         &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(seam.last_id, "{\"username\":\"u\",\"apikey\":\"k\"}");
    resp_free(&r);
    http(fx, "POST", "/api/v1/client-id", bearer(), "[]", NULL, &r);
    assert_error(&r, 400, "bad_request", "JSON object");
    resp_free(&r);
    /* a body must be JSON */
    http(fx, "POST", "/api/v1/updates/dismiss", bearer(), NULL,
         "Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc", &r);
    assert_error(&r, 415, "unsupported_media_type", NULL);
    resp_free(&r);
}

static void test_http_body_limit(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    struct buf big;
    int fd;

    /* Declared too large: refused from the headers. */
    http(fx, "POST", "/api/v1/plans", bearer(), NULL,
         "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n", &r);
    assert_error(&r, 413, "too_large", "4096");
    resp_free(&r);
    /* Chunked and too large: refused after reading. */
    buf_init(&big);
    buf_printf(&big,
               "POST /api/v1/plans HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               "Authorization: %s\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n",
               bearer());
    for (int i = 0; i < 6; i++) {
        buf_printf(&big, "400\r\n");
        for (int k = 0; k < 1024; k++)
            buf_putc(&big, ' ');
        buf_puts(&big, "\r\n");
    }
    buf_puts(&big, "0\r\n\r\n");
    fd = dial(fx->port);
    send_all(fd, big.data, big.len);
    buf_init(&r.raw);
    read_until(fd, &r.raw, NULL);
    close(fd);
    sscanf(buf_str(&r.raw), "HTTP/1.1 %d", &r.status);
    r.body = strstr(buf_str(&r.raw), "\r\n\r\n") + 4;
    assert_error(&r, 413, "too_large", NULL);
    resp_free(&r);
    buf_cleanup(&big);
    assert_int_equal(seam.calls, 0);
}

/* Hostile input: deep nesting, garbage requests; the server keeps serving. */
static void test_http_hostile(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    struct buf deep;
    struct rng g;

    buf_init(&deep);
    buf_puts(&deep, "{\"pools\":");
    for (int i = 0; i < 100; i++)
        buf_putc(&deep, '[');
    for (int i = 0; i < 100; i++)
        buf_putc(&deep, ']');
    buf_putc(&deep, '}');
    http(fx, "POST", "/api/v1/plans", bearer(), buf_str(&deep), NULL, &r);
    assert_error(&r, 400, "bad_request", "deeper"); /* jsonx: nesting over the limit */
    resp_free(&r);
    buf_cleanup(&deep);

    rng_seed(&g, 42);
    for (int n = 0; n < 200; n++) {
        char junk[300];
        size_t len = 1 + rng_below(&g, sizeof junk - 1);
        for (size_t i = 0; i < len; i++)
            junk[i] = (char)rng_below(&g, 256);
        if (n % 3 == 0) /* a plausible start, then junk */
            memcpy(junk, "POST /api/v1/plans HTTP/1.1\r\n", len < 29 ? len : 29);
        int fd = dial(fx->port);
        send_all(fd, junk, len);
        shutdown(fd, SHUT_WR);
        struct buf got;
        buf_init(&got);
        read_until(fd, &got, NULL);
        close(fd);
        buf_cleanup(&got);
    }
    assert_int_equal(seam.calls, 0);
    http(fx, "GET", "/api/v1/pools", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_http_csv(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    seam.csv = "\"Pool\",\"Server\"\r\n\"lab\",\"h1\"\r\n";
    http(fx, "GET", "/api/v1/updates/export.csv?view=by-server", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(seam.last_view, ENGINE_VIEW_BY_SERVER);
    assert_string_equal(r.body, seam.csv);
    assert_true(has_header(&r, "Content-Type: text/csv; charset=utf-8"));
    assert_true(has_header(&r, "filename=\"updates-by-server.csv\""));
    resp_free(&r);
    http(fx, "GET", "/api/v1/updates/export.csv?sort=pool", bearer(), NULL, NULL, &r);
    assert_error(&r, 400, "bad_request", "sort");
    resp_free(&r);
}

static void test_http_static_etag(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    char hdr[128];
    const struct api_asset *a = api_asset_find("/app.js");

    http(fx, "GET", "/app.js", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(hdr, sizeof hdr, "ETag: %s", a->etag);
    assert_true(has_header(&r, hdr));
    assert_true(has_header(&r, "Content-Type: text/javascript"));
    assert_int_equal(strlen(r.body), a->len);
    assert_memory_equal(r.body, a->data, a->len);
    resp_free(&r);
    snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", a->etag);
    http(fx, "GET", "/app.js", NULL, NULL, hdr, &r);
    assert_int_equal(r.status, 304);
    assert_string_equal(r.body, "");
    resp_free(&r);
    http(fx, "GET", "/app.js", NULL, NULL, "If-None-Match: \"0000\"\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    http(fx, "GET", "/missing.js", NULL, NULL, NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
}

static void test_http_web_root(void **state)
{
    char dir[] = "/tmp/pp-web-XXXXXX", path[128];
    struct api_config cfg = {0};
    struct fx *fx;
    struct resp r;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/index.html", dir);
    write_file(path, "<p>dev</p>", 0644);
    cfg.web_root = dir;
    assert_int_equal(setup_cfg((void **)&fx, &cfg), 0);
    http(fx, "GET", "/", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<p>dev</p>");
    char etag[32], hdr[80];
    api_etag_for("<p>dev</p>", 10, etag, sizeof etag);
    snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
    resp_free(&r);
    http(fx, "GET", "/index.html", NULL, NULL, hdr, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    http(fx, "GET", "/../../etc/passwd", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    http(fx, "GET", "/.hidden", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    teardown((void **)&fx);
    unlink(path);
    rmdir(dir);
}

static void test_listen_errors(void **state)
{
    struct fx *fx = *state;
    struct api_config cfg = {.bind_addr = "127.0.0.1", .port = fx->port, .token = TOKEN};
    struct api_server *second = NULL;
    struct engine *eng;
    struct err e = {0};

    engine_new(NULL, &eng, NULL);
    /* the port is taken by the fixture's server */
    assert_int_equal(api_server_new(&cfg, eng, &second, &e), PP_EIO);
    assert_null(second);
    assert_non_null(strstr(e.msg, "cannot listen on 127.0.0.1 port"));
    cfg.port = 0;
    cfg.bind_addr = "localhost"; /* numeric addresses only */
    assert_int_equal(api_server_new(&cfg, eng, &second, &e), PP_EINVAL);
    cfg.bind_addr = "127.0.0.1";
    cfg.token = "";
    assert_int_equal(api_server_new(&cfg, eng, &second, &e), PP_EINVAL);
}

static int setup_sse(void **state)
{
    struct api_config cfg = {0};
    cfg.heartbeat_ms = 100;
    cfg.sse_queue = 4;
    return setup_cfg(state, &cfg);
}

/* Open an SSE stream and wait until the server registered it. */
static int open_events(struct fx *fx, struct buf *got)
{
    char req[256];
    int fd = dial(fx->port);

    snprintf(req, sizeof req,
             "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n\r\n",
             bearer());
    send_all(fd, req, strlen(req));
    read_until(fd, got, ": connected");
    assert_non_null(strstr(buf_str(got), "HTTP/1.1 200"));
    assert_non_null(strstr(buf_str(got), "Content-Type: text/event-stream"));
    assert_non_null(strstr(buf_str(got), "retry: 3000"));
    return fd;
}

static void test_sse_stream(void **state)
{
    struct fx *fx = *state;
    struct buf got;
    int fd;

    buf_init(&got);
    fd = open_events(fx, &got);
    assert_int_equal(api_server_sse_clients(fx->srv), 1);
    seam_emit("{\"rollout\":\"r-1\",\"host\":\"h1\",\"percent\":50}");
    seam_emit("{\"rollout\":\"r-1\",\"host\":\"h2\",\"percent\":10}");
    read_until(fd, &got, "\"h2\"");
    assert_non_null(strstr(buf_str(&got), "id: 1\nevent: progress\ndata: {\"rollout\":\"r-1\","
                                          "\"host\":\"h1\",\"percent\":50}\n\n"));
    assert_non_null(strstr(buf_str(&got), "id: 2\nevent: progress\ndata: "));
    /* Heartbeats keep an idle stream alive (100 ms in this fixture). */
    read_until(fd, &got, ": keepalive");
    assert_non_null(strstr(buf_str(&got), ": keepalive\n\n"));
    close(fd);
    buf_cleanup(&got);
    /* Without a token there is no stream. */
    struct resp r;
    http(fx, "GET", "/api/v1/events", NULL, NULL, NULL, &r);
    assert_error(&r, 401, "unauthorized", NULL);
    resp_free(&r);
}

static void test_sse_slow_client_dropped(void **state)
{
    struct fx *fx = *state;
    struct buf got;
    int fd;

    buf_init(&got);
    fd = open_events(fx, &got);
    /* Queue of 4 in this fixture: the 5th unread event drops the client.  The reader thread
     * may take some events off the queue while we emit, so emit many. */
    for (int i = 0; i < 2000 && api_server_sse_clients(fx->srv) > 0; i++) {
        /* 4 KiB events: 2000 of them overflow any socket buffer, so the stream must block
         * and the queue overflow, however fast its thread runs */
        char ev[4200];
        snprintf(ev, sizeof ev, "{\"n\":%d,\"pad\":\"%0*d\"}", i, 4096, 0);
        seam_emit(ev);
    }
    /* The stream ends (the server closes it) and the client is unregistered. */
    read_until(fd, &got, NULL);
    close(fd);
    for (int i = 0; i < 200 && api_server_sse_clients(fx->srv) > 0; i++)
        usleep(10000);
    assert_int_equal(api_server_sse_clients(fx->srv), 0);
    buf_cleanup(&got);
}

static void test_sse_ends_on_stop(void **state)
{
    struct fx *fx = *state;
    struct buf got;
    int fd;

    buf_init(&got);
    fd = open_events(fx, &got);
    api_server_free(fx->srv); /* must not hang on the open stream */
    fx->srv = NULL;
    assert_int_equal(seam.unsubscribed, 1);
    read_until(fd, &got, NULL);
    close(fd);
    buf_cleanup(&got);
}

/* ---------------------------------------------------------------- security (issue 13) */

#define READ_TOKEN "feedfacefeedfacefeedfacefeedface"

static char sec_dir[64];

static int setup_sec(void **state)
{
    static char db[128];
    struct api_config c = {.read_token = READ_TOKEN,
                           .server_names = "pp.example, ops.example",
                           .header_timeout_s = 1,
                           .max_per_ip = 40,
                           .workers = 2};
    snprintf(sec_dir, sizeof sec_dir, "/tmp/pp-apisec-XXXXXX");
    if (!mkdtemp(sec_dir))
        return -1;
    snprintf(db, sizeof db, "%s/pp.db", sec_dir);
    c.db_path = db;
    return setup_cfg(state, &c);
}

static int teardown_sec(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", sec_dir);
    teardown(state);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", sec_dir);
    free(cmd);
    return 0;
}

/* A request path for every API route (the table in api_util.c must map it back). */
static const char *sample_path(enum api_route_id r)
{
    static const char *const paths[] = {
        [API_R_POOLS] = "/api/v1/pools",
        [API_R_POOL] = "/api/v1/pools/lab",
        [API_R_UPDATES] = "/api/v1/updates",
        [API_R_UPDATES_CHECK] = "/api/v1/updates/check",
        [API_R_UPDATES_CSV] = "/api/v1/updates/export.csv",
        [API_R_UPDATES_DISMISS] = "/api/v1/updates/dismiss",
        [API_R_UPDATES_RESTORE] = "/api/v1/updates/restore",
        [API_R_PLANS] = "/api/v1/plans",
        [API_R_ROLLOUTS] = "/api/v1/rollouts",
        [API_R_ROLLOUT] = "/api/v1/rollouts/r-1",
        [API_R_ROLLOUT_RETRY] = "/api/v1/rollouts/r-1/retry",
        [API_R_ROLLOUT_CANCEL] = "/api/v1/rollouts/r-1/cancel",
        [API_R_EVENTS] = "/api/v1/events",
        [API_R_CLIENT_ID] = "/api/v1/client-id",
        [API_R_UPDATES_DOWNLOAD] = "/api/v1/updates/download",
        [API_R_AUDIT] = "/api/v1/audit",
        [API_R_WEBHOOKS] = "/api/v1/webhooks",
        [API_R_WEBHOOK] = "/api/v1/webhooks/1",
        [API_R_WEBHOOK_LOG] = "/api/v1/webhook-deliveries",
        [API_R_OPENAPI] = "/api/v1/openapi.json",
        [API_R_METRICS] = "/metrics",
        [API_R_SETTINGS] = "/api/v1/settings",
        [API_R_FILES] = "/api/v1/files",
        [API_R_FILE] = "/api/v1/files/1",
        [API_R_UPGRADES] = "/api/v1/upgrades",
        [API_R_UPGRADE_HOST] = "/api/v1/rollouts/r-1/upgrade-host",
        [API_R_HOST_FORGET] = "/api/v1/pools/lab/forget-host",
        [API_R_POOL_TRUST] = "/api/v1/pools/lab/trust",
        [API_R_WINDOWS] = "/api/v1/windows",
        [API_R_WINDOW] = "/api/v1/windows/nightly",
        [API_R_SCHEDULES] = "/api/v1/schedules",
        [API_R_SCHEDULE] = "/api/v1/schedules/patch-tuesday",
        [API_R_GATES] = "/api/v1/health-gates",
        [API_R_GATE] = "/api/v1/health-gates/lab",
    };
    return (size_t)r < sizeof paths / sizeof paths[0] ? paths[r] : NULL;
}

/* The read-only token is refused on every route that changes anything; nothing reaches the
 * engine; every refusal and every admin change is in the audit log. */
static void test_read_only_role_and_audit(void **state)
{
    struct fx *fx = *state;
    static const char *const methods[] = {"POST", "DELETE", "PUT", "PATCH"};
    struct resp r;
    int refused = 0;

    for (int id = API_R_NONE + 1; id < API_R_STATIC; id++) {
        const char *path = sample_path((enum api_route_id)id);
        struct api_match m;
        assert_non_null(path);
        assert_int_not_equal(api_route("GET", path, &m), 404);
        assert_int_equal(m.route, id);
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
            if (api_route(methods[i], path, &m) != 200)
                continue;
            http(fx, methods[i], path, "Bearer " READ_TOKEN, "{\"ids\":[\"x\"]}", NULL, &r);
            if (id == API_R_PLANS) { /* computing a plan changes nothing: allowed */
                assert_int_not_equal(r.status, 403);
            } else {
                assert_error(&r, 403, "forbidden", "read-only");
                refused++;
            }
            resp_free(&r);
        }
    }
    /* every mutating route (webhooks, windows, schedules: 2 each; settings, upgrades: 3,
     * files: 2; health gates: PUT and DELETE, and DELETE of a pool's; pool trust: 1; PATCH of a
     * pool: 1) */
    assert_int_equal(refused, 27);
    assert_int_equal(seam_calls(), 0); /* nothing reached the engine (the plan body is bad) */
    /* reads work with it; the audit log is for the admin */
    http(fx, "GET", "/api/v1/pools", "Bearer " READ_TOKEN, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    http(fx, "GET", "/api/v1/audit", "Bearer " READ_TOKEN, NULL, NULL, &r);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    /* an admin change, then the log */
    http(fx, "POST", "/api/v1/updates/restore", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    http(fx, "GET", "/api/v1/audit?limit=1000", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *v = json_loads(r.body, 0, NULL), *entries = json_object_get(v, "entries"), *it;
    size_t i, n_refused = 0;
    assert_int_equal(json_array_size(entries), (size_t)refused + 1);
    it = json_array_get(entries, 0); /* newest first */
    assert_string_equal(json_string_value(json_object_get(it, "role")), "admin");
    assert_string_equal(json_string_value(json_object_get(it, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(it, "path")), "/api/v1/updates/restore");
    assert_int_equal(json_integer_value(json_object_get(it, "status")), 204);
    assert_string_equal(json_string_value(json_object_get(it, "outcome")), "done");
    assert_string_equal(json_string_value(json_object_get(it, "client")), "127.0.0.1");
    assert_int_equal(strlen(json_string_value(json_object_get(it, "token"))), 16);
    assert_null(strstr(r.body, TOKEN)); /* the token itself is never recorded */
    assert_null(strstr(r.body, READ_TOKEN));
    json_array_foreach(entries, i, it)
    {
        if (i && str_eq(json_string_value(json_object_get(it, "outcome")), "refused") &&
            str_eq(json_string_value(json_object_get(it, "role")), "read"))
            n_refused++;
    }
    assert_int_equal(n_refused, (size_t)refused);
    json_decref(v);
    resp_free(&r);
}

/* DNS rebinding: a Host that is not an address or a configured name is refused. */
static void test_host_header_check(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    static const char *const hosts[] = {"evil.example:7480", "pp.example", "localhost"};
    static const int want[] = {421, 200, 200};
    for (int i = 0; i < 3; i++) {
        char req[300];
        int fd = dial(fx->port);
        int len = snprintf(req, sizeof req,
                           "GET /api/v1/pools HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer " TOKEN
                           "\r\nConnection: close\r\n\r\n",
                           hosts[i]);
        send_all(fd, req, (size_t)len);
        buf_init(&r.raw);
        read_until(fd, &r.raw, NULL);
        close(fd);
        r.status = 0;
        sscanf(buf_str(&r.raw), "HTTP/1.1 %d", &r.status);
        r.body = strstr(buf_str(&r.raw), "\r\n\r\n") ? strstr(buf_str(&r.raw), "\r\n\r\n") + 4 : "";
        if (want[i] == 421)
            assert_error(&r, 421, "misdirected", "Host");
        else
            assert_int_equal(r.status, want[i]);
        resp_free(&r);
    }
    assert_false(api_host_allowed("rebind.attacker.example", NULL));
    assert_false(api_host_allowed("127.0.0.1.evil.example:80", "pp.example"));
    assert_true(api_host_allowed("127.0.0.1:7480", NULL));
    assert_true(api_host_allowed("[::1]:7480", NULL));
    assert_true(api_host_allowed("LOCALHOST", NULL));
    assert_true(api_host_allowed("ops.example:443", "pp.example, ops.example"));
    assert_false(api_host_allowed("", NULL));
}

/* Issue 13 finding 3: 70 clients dripping headers do not keep another client from an answer,
 * and their connections are closed once the header deadline passes. */
static void test_slow_clients_do_not_block(void **state)
{
    struct fx *fx = *state;
    enum { SLOW = 70 };
    int fds[SLOW], n_open = 0, answered = 0, closed = 0;

    for (int i = 0; i < SLOW; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(fx->port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) == 0) {
            send_all(fds[i], "GET /api/v1/pools HTTP/1.1\r\nHost: 12", 36);
            n_open++;
        }
    }
    assert_true(n_open >= 64);
    /* another client (another address: the per-address limit is a separate defence) */
    for (int k = 0; k < 5; k++) {
        struct sockaddr_in me = {.sin_family = AF_INET}, sa = {.sin_family = AF_INET};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct buf got;
        inet_pton(AF_INET, "127.0.0.2", &me.sin_addr);
        sa.sin_port = htons(fx->port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        char req[200];
        int len = snprintf(req, sizeof req,
                           "GET /api/v1/pools HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: "
                           "Bearer " TOKEN "\r\nConnection: close\r\n\r\n",
                           fx->port);
        send_all(fd, req, (size_t)len);
        buf_init(&got);
        read_until(fd, &got, NULL);
        answered += str_has_prefix(buf_str(&got), "HTTP/1.1 200");
        buf_cleanup(&got);
        close(fd);
    }
    assert_int_equal(answered, 5);
    /* the slow ones are cut at the header deadline (1 s here) */
    for (int i = 0; i < SLOW; i++) {
        struct buf got;
        buf_init(&got);
        read_until(fds[i], &got, NULL);
        char c;
        closed += recv(fds[i], &c, 1, MSG_DONTWAIT) == 0;
        buf_cleanup(&got);
        close(fds[i]);
    }
    assert_int_equal(closed, SLOW);
}

/* Over the per-address limit the answer is a 503 in the API's JSON error shape. */
static void test_per_address_limit_503(void **state)
{
    struct fx *fx = *state;
    int idle[45];
    struct resp r;

    for (int i = 0; i < 45; i++)
        idle[i] = dial(fx->port);
    usleep(100 * 1000);
    http(fx, "GET", "/api/v1/pools", bearer(), NULL, NULL, &r);
    assert_error(&r, 503, "unavailable", "too many connections from 127.0.0.1");
    assert_true(has_header(&r, "Connection: close"));
    resp_free(&r);
    for (int i = 0; i < 45; i++)
        close(idle[i]);
}

/* No ghost requests: a request still queued when its caller's X-Request-Timeout passes is
 * never carried out, and the answer says so. */
static void test_abandoned_request_not_run(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    int fds[2];

    seam.delay_ms = 1500; /* both workers busy for 1.5 s */
    for (int i = 0; i < 2; i++) {
        fds[i] = dial(fx->port);
        char req[200];
        int len = snprintf(req, sizeof req,
                           "GET /api/v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                           "Bearer " TOKEN "\r\nConnection: close\r\n\r\n");
        send_all(fds[i], req, (size_t)len);
    }
    usleep(200 * 1000);
    http(fx, "POST", "/api/v1/rollouts/r-7/cancel", bearer(), NULL, "X-Request-Timeout: 1\r\n", &r);
    assert_error(&r, 504, "timeout", "withdrawn");
    json_t *v = json_loads(r.body, 0, NULL);
    assert_true(json_is_false(json_object_get(json_object_get(v, "error"), "took_effect")));
    json_decref(v);
    resp_free(&r);
    for (int i = 0; i < 2; i++) {
        struct buf got;
        buf_init(&got);
        read_until(fds[i], &got, NULL);
        buf_cleanup(&got);
        close(fds[i]);
    }
    assert_int_equal(seam_calls(), 2); /* the cancel never reached the engine */
    assert_string_equal(seam.last_call, "pools");
    seam.delay_ms = 0;
    /* a failed change says it did not take effect */
    seam.rc = PP_ESTATE;
    http(fx, "POST", "/api/v1/rollouts/r-7/cancel", bearer(), NULL, NULL, &r);
    v = json_loads(r.body, 0, NULL);
    assert_int_equal(r.status, 409);
    assert_true(json_is_false(json_object_get(json_object_get(v, "error"), "took_effect")));
    json_decref(v);
    resp_free(&r);
}

/* CSV cells that a spreadsheet would run are neutralised, unless raw=1. */
static void test_csv_formulas_neutralised(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    char *out;

    out =
        api_csv_neutralise("\xEF\xBB\xBF\"Pool\",\"Server\"\r\n\"=HYPERLINK(\"\"x\"\")\",\"+1\"\r\n"
                           "-,@SUM(A1),ok,\"-2\",\r\n");
    assert_string_equal(out,
                        "\xEF\xBB\xBF\"Pool\",\"Server\"\r\n\"'=HYPERLINK(\"\"x\"\")\",\"'+1\"\r\n"
                        "-,'@SUM(A1),ok,\"'-2\",\r\n");
    free(out);
    seam.csv = "\"Pool\",\"Server\"\r\n\"lab\",\"=cmd|' /C calc'!A0\"\r\n";
    http(fx, "GET", "/api/v1/updates/export.csv?view=by-server", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "\"Pool\",\"Server\"\r\n\"lab\",\"'=cmd|' /C calc'!A0\"\r\n");
    resp_free(&r);
    http(fx, "GET", "/api/v1/updates/export.csv?view=by-server&raw=1", bearer(), NULL, NULL, &r);
    assert_string_equal(r.body, seam.csv);
    resp_free(&r);
}

/* Plain http to a pool on another machine is refused unless insecure_http (the password would
 * cross the network in clear); nothing reaches the engine. */
static void test_pool_add_plain_http(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    http(fx, "POST", "/api/v1/pools", bearer(),
         "{\"name\":\"far\",\"url\":\"http://192.0.2.7/\",\"username\":\"root\","
         "\"password\":\"pw\"}",
         NULL, &r);
    assert_error(&r, 400, "bad_request", "insecure-http");
    assert_int_equal(seam_calls(), 0);
    resp_free(&r);
    http(fx, "POST", "/api/v1/pools", bearer(),
         "{\"name\":\"far\",\"url\":\"http://192.0.2.7/\",\"username\":\"root\","
         "\"password\":\"pw\",\"insecure_http\":true}",
         NULL, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(seam.last_url, "http://192.0.2.7/");
    resp_free(&r);
}

/* libmicrohttpd's own error answers (sent before any handler runs) are the API's JSON errors,
 * not its HTML pages: headers too large (431), an HTTP version it does not speak (505), a bad
 * Content-Length (400).  Before api_mhd_errors.c each of these came back as text/html. */
static void test_mhd_errors_json(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *start, *status, *code;
        size_t pad; /* bytes of one long header */
    } cases[] = {
        {"GET /api/v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ", " 431 ", "request_too_large",
         70000},
        {"GET /api/v1/pools HTTP/2.5\r\nHost: 127.0.0.1\r\n", " 505 ", "http_version_not_supported",
         0},
        {"POST /api/v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n", " 400 ",
         "bad_request", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf req, got;
        buf_init(&req);
        buf_init(&got);
        buf_puts(&req, cases[i].start);
        for (size_t k = 0; k < cases[i].pad; k++)
            buf_putc(&req, 'a');
        buf_puts(&req, cases[i].pad ? "\r\n\r\n" : "\r\n");
        int fd = dial(fx->port);
        send_all(fd, buf_str(&req), req.len);
        shutdown(fd, SHUT_WR);
        read_until(fd, &got, NULL);
        close(fd);
        const char *t = buf_str(&got);
        if (!strstr(t, cases[i].status) || !strstr(t, "Content-Type: application/json") ||
            strstr(t, "<html>") || !strstr(t, cases[i].code))
            fail_msg("case %zu: not a JSON %s error: %.600s", i, cases[i].code, t);
        const char *body = strstr(t, "{\"error\"");
        assert_non_null(body);
        json_t *v = json_loads(body, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(v);
        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")),
                            cases[i].code);
        json_decref(v);
        buf_cleanup(&req);
        buf_cleanup(&got);
    }
    assert_int_equal(seam_calls(), 0);
    /* the pure mapping: every page of libmicrohttpd 0.9.75, and nothing else */
    static const char *const page =
        "<html><head><title>&quot;Host:&quot; header required</title></head><body>In HTTP 1.1, "
        "requests must include a &quot;Host:&quot; header.</body></html>";
    char *j = api_mhd_error_json(page, strlen(page));
    assert_non_null(j);
    assert_non_null(strstr(j, "\"code\":\"bad_request\""));
    assert_non_null(strstr(j, "must include a \\\"Host:\\\" header"));
    free(j);
    assert_null(api_mhd_error_json("<!doctype html><html><head><title>x</title>", 40));
    assert_null(api_mhd_error_json("{\"error\":{}}", 12));
    assert_null(api_mhd_error_json(NULL, 0));
}

/* The plan request's hosts and manual_post_tasks reach the engine; bad ones are refused here. */
static void test_plan_body_hosts_and_manual(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    char *got;

    /* single-host selection: the host list reaches the engine; a bad one is refused here */
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"pools\":[\"a\"],\"hosts\":[\"h2\",\"h3\"]}",
         NULL, &r);
    assert_int_equal(r.status, 200);
    got = json_dumps(json_object_get(seam.last_req, "hosts"), JSON_COMPACT);
    assert_string_equal(got, "[\"h2\",\"h3\"]");
    free(got);
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"manual_post_tasks\":true}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(seam.last_req, "manual_post_tasks")));
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"manual_post_tasks\":\"yes\"}", NULL, &r);
    assert_error(&r, 400, "bad_request", "manual_post_tasks");
    resp_free(&r);
    http(fx, "POST", "/api/v1/rollouts", bearer(), "{\"hosts\":\"h2\"}", NULL, &r);
    assert_error(&r, 400, "bad_request", "hosts: expected an array");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"hosts\":[\"\"]}", NULL, &r);
    assert_error(&r, 400, "bad_request", "hosts[0]: expected a non-empty string");
    resp_free(&r);
}

/* GET / PUT /settings: the check interval goes to the engine and comes back; bad values are
 * refused naming the field and never reach the engine. */
static void test_settings_route(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    static const struct {
        const char *body, *words;
    } bad[] = {
        {"{\"check_interval_s\":-1}", "out of range"},
        {"{\"check_interval_s\":2592001}", "out of range"},
        {"{\"check_interval_s\":\"3600\"}", "whole seconds"},
        {"{\"check_interval_s\":1.5}", "whole seconds"},
        {"{}", "give check_interval_s and / or default_policy"},
        {"{\"check_interval_s\":60,\"color\":1}", "unknown field(s): color"},
        {"{\"default_policy\":\"fast\"}", "default_policy: expected \"return\" or \"minimal\""},
        {"{\"default_policy\":1}", "default_policy: expected"},
        /* checked whole: a bad policy keeps a good interval from being applied */
        {"{\"check_interval_s\":60,\"default_policy\":\"all\"}", "default_policy"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http(fx, "PUT", "/api/v1/settings", bearer(), bad[i].body, NULL, &r);
        assert_error(&r, 400, "bad_request", bad[i].words);
        resp_free(&r);
    }
    assert_int_equal(seam_calls(), 0);
    http(fx, "PUT", "/api/v1/settings", bearer(), "{\"check_interval_s\":7200}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "7200"));
    resp_free(&r);
    assert_int_equal(seam_calls(), 1);
    http(fx, "GET", "/api/v1/settings", bearer(), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *v = json_loads(r.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "check_interval_s")), 7200);
    assert_true(json_is_true(json_object_get(v, "automatic_checks")));
    json_decref(v);
    resp_free(&r);
    http(fx, "PUT", "/api/v1/settings", bearer(), "{\"check_interval_s\":0}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "false"));
    resp_free(&r);
    /* the default policy: stored by the engine, answered by GET, used by plan requests without
     * a policy of their own */
    http(fx, "PUT", "/api/v1/settings", bearer(), "{\"default_policy\":\"minimal\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    v = json_loads(r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "default_policy")), "minimal");
    json_decref(v);
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"pools\":[\"p\"]}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(seam.last_req, "policy")), "minimal");
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"pools\":[\"p\"],\"policy\":\"return\"}", NULL,
         &r);
    assert_string_equal(json_string_value(json_object_get(seam.last_req, "policy")), "return");
    resp_free(&r);
    http(fx, "PUT", "/api/v1/settings", bearer(), "{\"default_policy\":\"return\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    http(fx, "POST", "/api/v1/plans", bearer(), "{\"pools\":[\"p\"]}", NULL, &r);
    assert_string_equal(json_string_value(json_object_get(seam.last_req, "policy")), "return");
    resp_free(&r);
}
/* A test against the server of setup(): started before, stopped after. */
#define HTTP_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define SSE_TEST(f)  cmocka_unit_test_setup_teardown(f, setup_sse, teardown)
#define SEC_TEST(f)  cmocka_unit_test_setup_teardown(f, setup_sec, teardown_sec)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),
        cmocka_unit_test(test_token_compare),
        cmocka_unit_test(test_pool_settings_body),
        cmocka_unit_test(test_cache_max_age),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_sse_framing),
        cmocka_unit_test(test_etag_helpers),
        cmocka_unit_test(test_settings_file),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_token_file),
        HTTP_TEST(test_http_auth),
        HTTP_TEST(test_http_routes),
        HTTP_TEST(test_pool_patch_route),
        HTTP_TEST(test_settings_route),
        HTTP_TEST(test_plan_body_hosts_and_manual),
        HTTP_TEST(test_mhd_errors_json),
        HTTP_TEST(test_http_errors_mapped),
        HTTP_TEST(test_http_json_bodies),
        HTTP_TEST(test_http_body_limit),
        HTTP_TEST(test_http_hostile),
        HTTP_TEST(test_http_csv),
        HTTP_TEST(test_http_static_etag),
        cmocka_unit_test(test_http_web_root),
        HTTP_TEST(test_listen_errors),
        SSE_TEST(test_sse_stream),
        SSE_TEST(test_sse_slow_client_dropped),
        SSE_TEST(test_sse_ends_on_stop),
        SEC_TEST(test_read_only_role_and_audit),
        SEC_TEST(test_host_header_check),
        SEC_TEST(test_slow_clients_do_not_block),
        SEC_TEST(test_per_address_limit_503),
        SEC_TEST(test_abandoned_request_not_run),
        SEC_TEST(test_csv_formulas_neutralised),
        SEC_TEST(test_pool_add_plain_http),
    };
    log_set_level(LOG_LVL_OFF);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
