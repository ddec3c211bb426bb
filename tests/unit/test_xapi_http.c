/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_http.c - the XAPI client's HTTP(S) transport against a small libmicrohttpd server
 * defined here, bound to 127.0.0.1 on a free port: JSON-RPC by default, fallback to XML-RPC at /
 * when /jsonrpc is missing, per-call timeouts, the response size limit, refused connections,
 * the replay rule after a dropped connection (reads replayed, mutations not), and TLS: a
 * throwaway self-signed certificate made with `openssl req -x509` is refused by default,
 * accepted through a per-pool CA file, pinned on first use, and refused with both fingerprints
 * named once the server's certificate changes; curl easy handles reused from request to request,
 * through a dropped connection and a master change.  (Over HTTP against `poolpatch sim`:
 * tests/sim/test_client_sim.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client.h"
#include "xapi/client_int.h"
#include "xapi/codec.h"
#include "xapi/tls.h"

#define PASSWORD "http-Secret-77"

struct srv {
    struct MHD_Daemon *d;
    int port;
    bool xml_only;        /* no /jsonrpc: 404 */
    const char *slave_of; /* answer logins HOST_IS_SLAVE [slave_of] */
    pthread_mutex_t mu;
    int calls[9]; /* per method kind, see kind_of */
    int requests;
    int drop_left;          /* drop this many more get_drop calls */
    int active, max_active; /* concurrent test.hold calls */
    /* event.from: the bodies answered in turn (verbatim), then empty batches; the tokens asked */
    const char *const *ev_script;
    int ev_n;
    char ev_tokens[8][16];
};

enum { K_LOGIN, K_ECHO, K_SLOW, K_BIG, K_DROP_MUT, K_DROP_READ, K_HOLD, K_EVENTS, K_OTHER };

static int kind_of(const char *m)
{
    if (str_has_prefix(m, "session.login"))
        return K_LOGIN;
    if (strcmp(m, "test.echo") == 0)
        return K_ECHO;
    if (strcmp(m, "test.slow") == 0)
        return K_SLOW;
    if (strcmp(m, "test.big") == 0)
        return K_BIG;
    if (strcmp(m, "host.reboot") == 0)
        return K_DROP_MUT;
    if (strcmp(m, "host.get_drop") == 0)
        return K_DROP_READ;
    if (strcmp(m, "test.hold") == 0)
        return K_HOLD;
    if (strcmp(m, "event.from") == 0)
        return K_EVENTS;
    return K_OTHER;
}

struct conn {
    struct buf body;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             struct buf *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->data ? b->data : (char *)"",
                                                             MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* event.from: the next body of s's script (the fourth answered late), then empty batches. */
static enum MHD_Result reply_events(struct srv *s, struct MHD_Connection *conn,
                                    struct xapi_call *call, struct buf *out)
{
    pthread_mutex_lock(&s->mu);
    int i = s->calls[K_EVENTS] - 1;
    if (i < 8)
        str_lcpy(s->ev_tokens[i], xapi_value_str(xapi_array_get(call->params, 2)),
                 sizeof(s->ev_tokens[i]));
    const char *body = i < s->ev_n ? s->ev_script[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    usleep(i == 3 ? 300 * 1000 : body ? 0 : 200 * 1000);
    if (body)
        buf_puts(out, body);
    else
        buf_printf(out,
                   "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[],\"token\":\"%s\"},"
                   "\"id\":1}",
                   xapi_value_str(xapi_array_get(call->params, 2)));
    xapi_call_cleanup(call);
    enum MHD_Result r = reply(conn, 200, "application/json", out);
    buf_cleanup(out);
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct srv *s = cls;
    (void)version;
    if (!*con_cls) {
        struct conn *c = xcalloc(1, sizeof(*c));
        buf_init(&c->body);
        *con_cls = c;
        return MHD_YES;
    }
    struct conn *c = *con_cls;
    if (*upload_size) {
        buf_append(&c->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    struct buf out;
    buf_init(&out);
    bool json = strcmp(url, "/jsonrpc") == 0;
    if (strcmp(method, "POST") != 0 || (json && s->xml_only) || (!json && strcmp(url, "/") != 0)) {
        buf_puts(&out, "<html>not found</html>");
        enum MHD_Result r = reply(conn, 404, "text/html", &out);
        buf_cleanup(&out);
        return r;
    }
    struct xapi_limits lim;
    xapi_limits_request(&lim);
    struct xapi_call call;
    memset(&call, 0, sizeof(call));
    struct err e = {0};
    int rc = json ? xapi_jsonrpc_decode_call(buf_str(&c->body), c->body.len, &lim, &call, &e)
                  : xapi_xmlrpc_decode_call(buf_str(&c->body), c->body.len, &lim, &call, &e);
    if (rc != 0) {
        buf_puts(&out, "<html>bad request</html>");
        enum MHD_Result r = reply(conn, 500, "text/html", &out);
        buf_cleanup(&out);
        return r;
    }
    int k = kind_of(call.method);
    bool drop = false;
    pthread_mutex_lock(&s->mu);
    s->requests++;
    s->calls[k]++;
    if (k == K_DROP_MUT || (k == K_DROP_READ && s->drop_left > 0)) {
        drop = true;
        if (k == K_DROP_READ)
            s->drop_left--;
    }
    pthread_mutex_unlock(&s->mu);
    if (drop) {
        xapi_call_cleanup(&call);
        buf_cleanup(&out);
        return MHD_NO; /* close the connection without an answer */
    }
    if (k == K_EVENTS) /* the script's bodies, verbatim */
        return reply_events(s, conn, &call, &out);
    struct xapi_response resp;
    memset(&resp, 0, sizeof(resp));
    resp.ok = true;
    pthread_mutex_lock(&s->mu);
    const char *slave_of = s->slave_of;
    pthread_mutex_unlock(&s->mu);
    if (slave_of) { /* a supporter answers every call so (the master moved) */
        const char *ps[1] = {slave_of};
        xapi_response_set_error(&resp, "HOST_IS_SLAVE", ps, 1);
    } else if (k == K_LOGIN) {
        const char *pw = xapi_value_str(xapi_array_get(call.params, 1));
        if (str_eq(pw, PASSWORD)) {
            resp.value = xapi_value_new_string("OpaqueRef:session-http");
        } else {
            const char *ps[2] = {"root", "Authentication failure"};
            xapi_response_set_error(&resp, "SESSION_AUTHENTICATION_FAILED", ps, 2);
        }
    } else if (k == K_ECHO || k == K_DROP_READ) {
        resp.value = xapi_value_dup(xapi_array_get(call.params, 1));
    } else if (k == K_HOLD) {
        pthread_mutex_lock(&s->mu);
        if (++s->active > s->max_active)
            s->max_active = s->active;
        pthread_mutex_unlock(&s->mu);
        usleep(100 * 1000);
        pthread_mutex_lock(&s->mu);
        s->active--;
        pthread_mutex_unlock(&s->mu);
        resp.value = xapi_value_new_string("held");
    } else if (k == K_SLOW) {
        usleep(1500 * 1000);
        resp.value = xapi_value_new_string("late");
    } else if (k == K_BIG) {
        size_t n = 2u << 20;
        char *big = xmalloc(n + 1);
        memset(big, 'x', n);
        big[n] = '\0';
        resp.value = xapi_value_new_string(big);
        free(big);
    } else {
        const char *ps[1] = {call.method};
        xapi_response_set_error(&resp, "MESSAGE_METHOD_UNKNOWN", ps, 1);
    }
    if (json)
        xapi_jsonrpc_encode_response(&out, call.proto, call.id, &resp);
    else
        xapi_xmlrpc_encode_response(&out, &resp);
    xapi_response_cleanup(&resp);
    xapi_call_cleanup(&call);
    enum MHD_Result r = reply(conn, 200, json ? "application/json" : "text/xml", &out);
    buf_cleanup(&out);
    return r;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct conn *c = *con_cls;
    if (c) {
        buf_cleanup(&c->body);
        free(c);
        *con_cls = NULL;
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    struct buf b;
    buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    return buf_take(&b);
}

/* Start a server on ip (127.x.y.z), on a free port, or on `port` when not 0. */
static struct srv *srv_start_at(const char *ip, bool xml_only, const char *cert_pem,
                                const char *key_pem, int port)
{
    struct srv *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->xml_only = xml_only;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    if (cert_pem) {
        flags |= MHD_USE_TLS;
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                                MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
                                key_pem, MHD_OPTION_END);
    } else {
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    }
    assert_non_null(s->d);
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(i);
    s->port = i->port;
    assert_true(s->port > 0);
    return s;
}

/* Start a server on 127.0.0.1, on a free port, or on `port` when not 0. */
static struct srv *srv_start(bool xml_only, const char *cert_pem, const char *key_pem, int port)
{
    return srv_start_at("127.0.0.1", xml_only, cert_pem, key_pem, port);
}

static void srv_stop(struct srv *s)
{
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int srv_count(struct srv *s, int k)
{
    pthread_mutex_lock(&s->mu);
    int n = k < 0 ? s->requests : s->calls[k];
    pthread_mutex_unlock(&s->mu);
    return n;
}

struct cl {
    struct xapi_loop *loop;
    struct xapi_client *c;
    char url[128];
    char learned[XAPI_FP_LEN];
};

static void on_pin(void *ctx, const char *host, const char *fp)
{
    struct cl *c = ctx;
    assert_string_equal(host, "127.0.0.1");
    str_lcpy(c->learned, fp, sizeof(c->learned));
}

static int64_t cl_connect_timeout_ms; /* the next cl_new's connect timeout; 0 = the default */

static struct cl *cl_new(const char *scheme, int port, enum xapi_proto_pref proto,
                         const char *ca_file, const char *known_hosts, bool tofu,
                         int64_t timeout_ms, size_t max_bytes)
{
    struct cl *c = xcalloc(1, sizeof(*c));
    struct err e = {0};
    c->loop = xapi_loop_new(NULL, &e);
    assert_non_null(c->loop);
    snprintf(c->url, sizeof(c->url), "%s://127.0.0.1:%d/", scheme, port);
    const char *addrs[1] = {c->url};
    struct xapi_client_opts o;
    xapi_client_opts_init(&o);
    o.addresses = addrs;
    o.n_addresses = 1;
    o.user = "root";
    o.password = PASSWORD;
    o.proto = proto;
    o.ca_file = ca_file;
    o.known_hosts = known_hosts;
    o.tofu = tofu;
    o.on_pin = on_pin;
    o.pin_ctx = c;
    o.call_timeout_ms = timeout_ms;
    o.max_response_bytes = max_bytes;
    o.reconnect_budget_ms = -1; /* one round: tests want answers, not patience */
    o.connect_timeout_ms = cl_connect_timeout_ms;
    c->c = xapi_client_new(c->loop, &o, &e);
    assert_non_null(c->c);
    return c;
}

static void cl_free(struct cl *c)
{
    xapi_client_free(c->c);
    xapi_loop_free(c->loop);
    free(c);
}

static struct xapi_value *one_string(const char *s)
{
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, s);
    return p;
}

static void test_jsonrpc_and_errors(void **state)
{
    (void)state;
    struct srv *s = srv_start(false, NULL, NULL, 0);
    struct cl *c = cl_new("http", s->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    struct xapi_value *r = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("héllo \"json\""), NULL, &r, &e),
                     0);
    assert_string_equal(xapi_value_str(r), "héllo \"json\"");
    xapi_value_free(r);
    assert_int_equal(xapi_client_proto(c->c), XAPI_PREF_JSONRPC);
    assert_int_equal(xapi_call_sync(c->c, "VM.nothing", NULL, NULL, &r, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "MESSAGE_METHOD_UNKNOWN");
    assert_string_equal(e.msg, "MESSAGE_METHOD_UNKNOWN [VM.nothing]");
    assert_int_equal(srv_count(s, K_LOGIN), 1);
    cl_free(c);
    srv_stop(s);
}

/* The event stream over HTTP JSON-RPC, answers decoded straight into the cache (evjson.c): an
 * answer with a name given twice is a parse error retried from the same token, an answer whose
 * second event lacks its ref is refused whole (the first event's change is not applied) and a
 * fresh snapshot is asked for; the cache holds what the good answers said. */
static void test_event_stream_bodies(void **state)
{
    (void)state;
#define EVS(evs, tok)                                                                              \
    "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[" evs "],\"token\":\"" tok "\"},\"id\":1}"
#define VM(op, ref, name)                                                                          \
    "{\"class\":\"vm\",\"operation\":\"" op "\",\"ref\":\"OpaqueRef:" ref "\","                    \
    "\"snapshot\":{\"name_label\":\"" name "\"}}"
    static const char *const script[] = {
        EVS(VM("add", "a", "first"), "1"),
        EVS("{\"class\":\"vm\",\"operation\":\"mod\",\"ref\":\"OpaqueRef:a\",\"snapshot\":{"
            "\"name_label\":\"x\",\"name_label\":\"y\"}}",
            "2"),
        EVS(VM("mod", "a", "second") ",{\"class\":\"vm\",\"operation\":\"del\"}", "3"),
        EVS(VM("add", "a", "third") "," VM("add", "b", "bee"), "4"),
    };
#undef VM
#undef EVS
    struct srv *s = srv_start(false, NULL, NULL, 0);
    s->ev_script = script;
    s->ev_n = 4;
    struct cl *c = cl_new("http", s->port, XAPI_PREF_JSONRPC, NULL, NULL, false, 0, 0);
    const char *classes[] = {"vm", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(c->c, classes, &e), 0);
    for (int t = 0; t < 200 && srv_count(s, K_EVENTS) < 4; t++)
        xapi_loop_run(c->loop, 50);
    assert_int_equal(srv_count(s, K_EVENTS), 4);
    /* the fresh snapshot is on its way (answered 300 ms late): the refused batches left the
     * first answer's record */
    const struct xapi_value *a = xapi_cache_get(c->c, "vm", "OpaqueRef:a");
    assert_non_null(a);
    assert_string_equal(xapi_struct_str(a, "name_label", ""), "first");
    assert_null(xapi_cache_get(c->c, "vm", "OpaqueRef:b"));
    for (int t = 0; t < 200 && !xapi_cache_get(c->c, "vm", "OpaqueRef:b"); t++)
        xapi_loop_run(c->loop, 50);
    assert_non_null(xapi_cache_get(c->c, "vm", "OpaqueRef:b"));
    a = xapi_cache_get(c->c, "vm", "OpaqueRef:a");
    assert_string_equal(xapi_struct_str(a, "name_label", ""), "third");
    pthread_mutex_lock(&s->mu);
    assert_string_equal(s->ev_tokens[0], "");
    assert_string_equal(s->ev_tokens[1], "1"); /* the parse error: the same token again */
    assert_string_equal(s->ev_tokens[2], "1");
    assert_string_equal(s->ev_tokens[3], ""); /* the refused batch: a fresh snapshot */
    pthread_mutex_unlock(&s->mu);
    uint64_t straight = 0, decoded = 0;
    xapi__stream_routes(c->c, &straight, &decoded);
    assert_int_equal(straight, 3); /* the answers the scan took (the one with the duplicate: no) */
    assert_int_equal(decoded, 0);
    cl_free(c);
    srv_stop(s);
}

static void test_xmlrpc_fallback(void **state)
{
    (void)state;
    struct srv *s = srv_start(true, NULL, NULL, 0);
    struct cl *c = cl_new("http", s->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    struct xapi_value *r = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("<xml & co>"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "<xml & co>");
    xapi_value_free(r);
    assert_int_equal(xapi_client_proto(c->c), XAPI_PREF_XMLRPC);
    assert_int_equal(xapi_call_sync(c->c, "VM.nothing", NULL, NULL, &r, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "MESSAGE_METHOD_UNKNOWN");
    cl_free(c);
    /* A client told to speak JSON-RPC only does not fall back. */
    c = cl_new("http", s->port, XAPI_PREF_JSONRPC, NULL, NULL, false, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("x"), NULL, &r, &e),
                     PP_ETRANSPORT);
    assert_non_null(strstr(e.msg, "404"));
    cl_free(c);
    srv_stop(s);
}

static void test_timeout_limit_refused(void **state)
{
    (void)state;
    struct srv *s = srv_start(false, NULL, NULL, 0);
    struct cl *c = cl_new("http", s->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 1u << 20);
    struct err e = {0};
    struct xapi_call_opts o = {.flags = 0, .timeout_ms = 300};
    assert_int_equal(xapi_call_sync(c->c, "test.slow", NULL, &o, NULL, &e), PP_ETIMEOUT);
    assert_string_equal(e.xapi_code, "");
    assert_int_equal(xapi_call_sync(c->c, "test.big", NULL, NULL, NULL, &e), PP_ELIMIT);
    assert_int_equal(srv_count(s, K_SLOW), 1); /* a timed-out mutation is not replayed */
    int port = s->port;
    cl_free(c);
    srv_stop(s);
    /* Nothing listens any more: refused is a transport error, not an XAPI one. */
    c = cl_new("http", port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("x"), NULL, NULL, &e),
                     PP_ETRANSPORT);
    assert_string_equal(e.xapi_code, "");
    assert_int_equal(xapi_client_state(c->c), XAPI_CONN_FAILED);
    cl_free(c);
}

static void test_dropped_connection_replay_rules(void **state)
{
    (void)state;
    struct srv *s = srv_start(false, NULL, NULL, 0);
    struct cl *c = cl_new("http", s->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    struct err e = {0};
    struct xapi_value *r = NULL;
    /* A read dropped once is replayed (after a re-login) and succeeds. */
    s->drop_left = 1;
    assert_int_equal(xapi_call_sync(c->c, "host.get_drop", one_string("v"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "v");
    xapi_value_free(r);
    assert_int_equal(srv_count(s, K_DROP_READ), 2);
    /* A mutation dropped after it reached the host is reported, never sent twice. */
    assert_int_equal(xapi_call_sync(c->c, "host.reboot", one_string("h"), NULL, NULL, &e),
                     PP_ETRANSPORT);
    assert_int_equal(srv_count(s, K_DROP_MUT), 1);
    cl_free(c);
    srv_stop(s);
}

struct cnt {
    int done, ok;
};

static void cnt_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct cnt *c = ctx;
    (void)result;
    (void)e;
    c->done++;
    c->ok += rc == 0;
}

static void test_connection_cap(void **state)
{
    (void)state;
    struct srv *s = srv_start(false, NULL, NULL, 0);
    struct cl *c = cl_new("http", s->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    struct cnt n = {0};
    /* 12 calls at once on a pool capped at 4 connections (the default). */
    for (int i = 0; i < 12; i++)
        assert_int_equal(xapi_call_async(c->c, "test.hold", NULL, NULL, cnt_done, &n, NULL, NULL),
                         0);
    while (n.done < 12)
        assert_true(xapi_loop_run(c->loop, 100) >= 0);
    assert_int_equal(n.ok, 12);
    assert_int_equal(srv_count(s, K_HOLD), 12);
    pthread_mutex_lock(&s->mu);
    int max = s->max_active;
    pthread_mutex_unlock(&s->mu);
    assert_true(max <= 4); /* never more than the cap */
    assert_true(max >= 2); /* but concurrent: one thread drives several transfers */
    cl_free(c);
    srv_stop(s);
}

/*
 * Sequential requests on one client reuse one curl easy handle (reset between requests, see
 * http_io.c): 20 calls, a dropped connection (the read replayed after a re-login), and a master
 * change (the old master answers HOST_IS_SLAVE, the client logs in to the new one on another
 * address) all succeed, and the loop made exactly one handle for all of them.
 */
static void test_easy_handle_reuse(void **state)
{
    (void)state;
    struct srv *a = srv_start_at("127.0.0.1", false, NULL, NULL, 0);
    struct srv *b = srv_start_at("127.0.0.2", false, NULL, NULL, a->port);
    struct cl *c = cl_new("http", a->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    struct err e = {0};
    struct xapi_value *r = NULL;
    for (int i = 0; i < 20; i++) {
        char arg[16];
        snprintf(arg, sizeof(arg), "n%d", i);
        assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string(arg), NULL, &r, &e), 0);
        assert_string_equal(xapi_value_str(r), arg);
        xapi_value_free(r);
    }
    assert_int_equal(srv_count(a, K_ECHO), 20);
    assert_int_equal(xapi__http_handles_made(c->loop), 1);
    /* a transport error: the connection dropped without an answer, the read replayed */
    a->drop_left = 1;
    assert_int_equal(xapi_call_sync(c->c, "host.get_drop", one_string("d"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "d");
    xapi_value_free(r);
    assert_int_equal(srv_count(a, K_DROP_READ), 2);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("after"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "after");
    xapi_value_free(r);
    /* the master moves to 127.0.0.2: the same handle logs in there and carries the call */
    pthread_mutex_lock(&a->mu);
    a->slave_of = "127.0.0.2";
    pthread_mutex_unlock(&a->mu);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("b"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "b");
    xapi_value_free(r);
    assert_string_equal(xapi_client_master(c->c), "127.0.0.2");
    assert_int_equal(srv_count(b, K_LOGIN), 1);
    assert_int_equal(srv_count(b, K_ECHO), 1);
    assert_int_equal(xapi__http_handles_made(c->loop), 1);
    cl_free(c);
    srv_stop(a);
    srv_stop(b);
}

/*
 * A long-poll on a reused connection leaves curl no timeout before its own deadline: curl arms
 * the connect timeout at every transfer's start and does not disarm it on a reused connection,
 * so an idle pool's 30 s event.from woke the loop 10 s in for nothing (docs/performance.md,
 * "Idle at fleet scale, session 10").  Here the connect timeout is 300 ms and the long-poll
 * (the server answers it 200 ms later) is in the server's hands: curl's next timeout must be its
 * deadline (1 s + the 30 s margin), not the connect timeout.  A call keeps the connect timeout.
 */
static void test_long_poll_leaves_no_connect_timer(void **state)
{
    (void)state;
    struct srv *s = srv_start(false, NULL, NULL, 0);
    cl_connect_timeout_ms = 300;
    struct cl *c = cl_new("http", s->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    cl_connect_timeout_ms = 0;
    struct err e = {0};
    struct xapi_value *r = NULL;
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("login"), NULL, &r, &e), 0);
    xapi_value_free(r);
    struct xapi_value *p = xapi_value_new_array();
    struct xapi_value *cls = xapi_value_new_array();
    xapi_array_append_string(cls, "vm");
    xapi_array_append_take(p, cls);
    xapi_array_append_string(p, "");
    xapi_array_append_take(p, xapi_value_new_double(1.0));
    struct cnt n = {0};
    assert_int_equal(xapi_call_async(c->c, "event.from", p, NULL, cnt_done, &n, NULL, &e), 0);
    for (int i = 0; i < 2000 && srv_count(s, K_EVENTS) == 0; i++)
        assert_true(xapi_loop_run(c->loop, 5) >= 0);
    assert_int_equal(srv_count(s, K_EVENTS), 1); /* sent: the server holds it */
    int64_t next = xapi__http_next_timeout_ms(c->loop);
    assert_true(next > 5000); /* its deadline, ~31 s away; was the 300 ms connect timeout */
    while (!n.done)
        assert_true(xapi_loop_run(c->loop, 100) >= 0);
    assert_int_equal(n.ok, 1);
    /* a call that outlives the connect timeout still has curl's connect timer armed */
    assert_int_equal(xapi_call_async(c->c, "test.slow", NULL, NULL, cnt_done, &n, NULL, &e), 0);
    for (int i = 0; i < 2000 && srv_count(s, K_SLOW) == 0; i++)
        assert_true(xapi_loop_run(c->loop, 5) >= 0);
    assert_true(xapi__http_next_timeout_ms(c->loop) <= 300);
    while (n.done < 2)
        assert_true(xapi_loop_run(c->loop, 100) >= 0);
    cl_free(c);
    srv_stop(s);
}

/* ---- TLS ---- */

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void make_cert(const char *dir, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-days 1 -subj /CN=xapi-test-%s -addext subjectAltName=IP:127.0.0.1 "
             "-keyout %s/%s.key -out %s/%s.pem >/dev/null 2>&1",
             name, dir, name, dir, name);
    assert_int_equal(run(cmd), 0);
}

static void test_tls_pinning(void **state)
{
    (void)state;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES || run("openssl version >/dev/null "
                                                                    "2>&1") != 0) {
        skip();
        return;
    }
    char dir[] = "/tmp/pp-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], kh[512], capath[512];
    make_cert(dir, "a");
    make_cert(dir, "b");
    snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
    snprintf(capath, sizeof(capath), "%s/a.pem", dir);
    snprintf(path, sizeof(path), "%s/a.pem", dir);
    char *cert_a = slurp(path);
    snprintf(path, sizeof(path), "%s/a.key", dir);
    char *key_a = slurp(path);
    snprintf(path, sizeof(path), "%s/b.pem", dir);
    char *cert_b = slurp(path);
    snprintf(path, sizeof(path), "%s/b.key", dir);
    char *key_b = slurp(path);
    char fp_a[XAPI_FP_LEN], fp_b[XAPI_FP_LEN];
    struct err e = {0};
    snprintf(path, sizeof(path), "%s/a.pem", dir);
    assert_int_equal(xapi_tls_fp_of_pem_file(path, fp_a, &e), 0);
    snprintf(path, sizeof(path), "%s/b.pem", dir);
    assert_int_equal(xapi_tls_fp_of_pem_file(path, fp_b, &e), 0);
    assert_string_not_equal(fp_a, fp_b);

    struct srv *s = srv_start(false, cert_a, key_a, 0);
    struct xapi_value *r = NULL;

    /* Default: verification against the system CAs refuses a self-signed host. */
    struct cl *c = cl_new("https", s->port, XAPI_PREF_AUTO, NULL, NULL, false, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("x"), NULL, NULL, &e), PP_ETLS);
    cl_free(c);
    assert_int_equal(srv_count(s, -1), 0); /* nothing was sent, the password included */

    /* A per-pool CA file that holds the certificate: verified, host name (IP SAN) checked. */
    c = cl_new("https", s->port, XAPI_PREF_AUTO, capath, NULL, false, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("ca"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "ca");
    xapi_value_free(r);
    cl_free(c);

    /* Pinning without trust on first use: an unknown host is refused. */
    c = cl_new("https", s->port, XAPI_PREF_AUTO, NULL, kh, false, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("x"), NULL, NULL, &e), PP_ETLS);
    assert_non_null(strstr(e.msg, fp_a));
    cl_free(c);

    /* Trust on first use: the fingerprint is recorded, the call goes through. */
    int before = srv_count(s, -1);
    c = cl_new("https", s->port, XAPI_PREF_AUTO, NULL, kh, true, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("tofu"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "tofu");
    xapi_value_free(r);
    assert_string_equal(c->learned, fp_a);
    cl_free(c);
    assert_true(srv_count(s, -1) > before);
    struct xapi_pins *p = xapi_pins_new(kh, &e);
    assert_non_null(p);
    assert_string_equal(xapi_pins_get(p, "127.0.0.1"), fp_a);
    xapi_pins_free(p);

    /* The pin is then accepted on later connections, trust on first use or not. */
    c = cl_new("https", s->port, XAPI_PREF_AUTO, NULL, kh, false, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("again"), NULL, &r, &e), 0);
    xapi_value_free(r);
    assert_string_equal(c->learned, "");
    cl_free(c);
    srv_stop(s);

    /* The host's certificate changes: refused, both fingerprints named, nothing sent. */
    s = srv_start(false, cert_b, key_b, 0);
    c = cl_new("https", s->port, XAPI_PREF_AUTO, NULL, kh, true, 0, 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("x"), NULL, NULL, &e), PP_ETLS);
    assert_non_null(strstr(e.msg, fp_a));
    assert_non_null(strstr(e.msg, fp_b));
    assert_non_null(strstr(e.msg, "changed"));
    assert_null(strstr(e.msg, PASSWORD));
    assert_int_equal(xapi_client_state(c->c), XAPI_CONN_UNTRUSTED); /* waits for a confirmation */
    cl_free(c);
    assert_int_equal(srv_count(s, -1), 0);
    p = xapi_pins_new(kh, &e);
    assert_string_equal(xapi_pins_get(p, "127.0.0.1"), fp_a); /* the pin was not replaced */
    xapi_pins_free(p);
    srv_stop(s);

    free(cert_a);
    free(key_a);
    free(cert_b);
    free(key_b);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(run(cmd), 0);
}

/*
 * Issue 13, trust across a master change: the master (A, pinned) hands over to B, whose
 * certificate nobody confirmed.  The client follows HOST_IS_SLAVE to B but sends it nothing (the
 * handshake is refused before any request byte), waits in XAPI_CONN_UNTRUSTED naming B and its
 * fingerprint, fails further calls without trying again, and logs in to B once B is confirmed;
 * both pins end up in the known-hosts file.
 */
static void test_tls_master_change_needs_confirmation(void **state)
{
    (void)state;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES || run("openssl version >/dev/null "
                                                                    "2>&1") != 0) {
        skip();
        return;
    }
    char dir[] = "/tmp/pp-tlsm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], kh[512], fp_a[XAPI_FP_LEN], fp_b[XAPI_FP_LEN];
    struct err e = {0};
    make_cert(dir, "a");
    make_cert(dir, "b");
    snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
    snprintf(path, sizeof(path), "%s/a.pem", dir);
    assert_int_equal(xapi_tls_fp_of_pem_file(path, fp_a, &e), 0);
    char *cert_a = slurp(path);
    snprintf(path, sizeof(path), "%s/b.pem", dir);
    assert_int_equal(xapi_tls_fp_of_pem_file(path, fp_b, &e), 0);
    char *cert_b = slurp(path);
    snprintf(path, sizeof(path), "%s/a.key", dir);
    char *key_a = slurp(path);
    snprintf(path, sizeof(path), "%s/b.key", dir);
    char *key_b = slurp(path);
    struct srv *a = srv_start_at("127.0.0.1", false, cert_a, key_a, 0);
    struct srv *b = srv_start_at("127.0.0.2", false, cert_b, key_b, a->port);
    struct xapi_pins *p = xapi_pins_new(kh, &e);
    assert_int_equal(xapi_pins_set(p, "127.0.0.1", fp_a, &e), 0); /* A was confirmed */
    xapi_pins_free(p);

    struct cl *c = cl_new("https", a->port, XAPI_PREF_AUTO, NULL, kh, false, 0, 0);
    struct xapi_value *r = NULL;
    struct xapi_untrusted u;
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("a"), NULL, &r, &e), 0);
    xapi_value_free(r);
    assert_false(xapi_client_untrusted(c->c, &u));

    pthread_mutex_lock(&a->mu);
    a->slave_of = "127.0.0.2"; /* pool.designate_new_master B */
    pthread_mutex_unlock(&a->mu);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("x"), NULL, NULL, &e), PP_ETLS);
    assert_int_equal(xapi_client_state(c->c), XAPI_CONN_UNTRUSTED);
    assert_true(xapi_client_untrusted(c->c, &u));
    assert_string_equal(u.host, "127.0.0.2");
    assert_string_equal(u.presented, fp_b);
    assert_string_equal(u.pinned, "");
    assert_non_null(strstr(e.msg, fp_b));
    assert_int_equal(srv_count(b, -1), 0); /* nothing reached B: no login, no password */
    int a_before = srv_count(a, -1);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("y"), NULL, NULL, &e), PP_ETLS);
    assert_int_equal(srv_count(a, -1), a_before); /* waiting: no new attempt anywhere */
    assert_int_equal(srv_count(b, -1), 0);

    /* confirmed: the client logs in to B */
    assert_int_equal(xapi_client_trust(c->c, u.host, fp_b, &e), 0);
    assert_int_equal(xapi_call_sync(c->c, "test.echo", one_string("b"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "b");
    xapi_value_free(r);
    assert_int_equal(srv_count(b, K_LOGIN), 1);
    assert_string_equal(xapi_client_master(c->c), "127.0.0.2");
    /* every request above ran on one easy handle, reset in between: B's unknown certificate was
     * refused on it all the same (the pins are set again for each request) */
    assert_int_equal(xapi__http_handles_made(c->loop), 1);
    cl_free(c);
    p = xapi_pins_new(kh, &e);
    assert_string_equal(xapi_pins_get(p, "127.0.0.1"), fp_a);
    assert_string_equal(xapi_pins_get(p, "127.0.0.2"), fp_b);
    xapi_pins_free(p);

    srv_stop(a);
    srv_stop(b);
    free(cert_a);
    free(key_a);
    free(cert_b);
    free(key_b);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(run(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonrpc_and_errors),
        cmocka_unit_test(test_event_stream_bodies),
        cmocka_unit_test(test_xmlrpc_fallback),
        cmocka_unit_test(test_timeout_limit_refused),
        cmocka_unit_test(test_dropped_connection_replay_rules),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_easy_handle_reuse),
        cmocka_unit_test(test_long_poll_leaves_no_connect_timer),
        cmocka_unit_test(test_tls_pinning),
        cmocka_unit_test(test_tls_master_change_needs_confirmation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
