/* SPDX-License-Identifier: MIT */
/*
 * http.c - the simulator's HTTP server (sim_http.h).  Request bodies are bounded (xapi's
 * 300 KiB for RPC, 64 KiB for control documents); uploads keep only the head of the image and
 * count the rest.  Malformed RPC bodies get HTTP 500 as from xapi.  A host that is down closes
 * connections without answering, like a machine that is rebooting.
 */
#include "sim/sim_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "sim/internal.h"

#define RPC_BODY_MAX     (300u * 1024)
#define CONTROL_BODY_MAX (64u * 1024)
#define UPLOAD_HEAD_MAX  (64u * 1024)

struct listener {
    struct sim_server *srv;
    char address[64];
    struct MHD_Daemon *d;
};

struct sim_server {
    struct sim *s;
    uint16_t port;
    struct listener *ls;
    size_t nls;
    pthread_t timer;
    bool timer_started;
    bool stop;
};

struct req {
    struct buf body;
    int64_t total;
    bool too_big;
    bool is_put;
    bool answered;    /* the request reached its handler (a PUT whose body ended early did not) */
    char *put_target; /* PUT: path and query, for sim_put_cut_short */
};

static bool host_reachable(struct sim *s, const char *addr)
{
    pthread_mutex_lock(&s->mu);
    struct hostx *hx = hmap_get(&s->addrs, addr);
    bool ok = hx && hx->o && hx->up && !(hx->w->partitioned && hx->w->cut == hx->o);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype,
                             const char *data, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_500(struct MHD_Connection *c, const char *why)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<html><body><h1>HTTP 500 internal server error</h1>");
    str_xml_escape(&b, why);
    buf_puts(&b, "</body></html>");
    enum MHD_Result r = reply(c, 500, "text/html", b.data, b.len);
    buf_cleanup(&b);
    return r;
}

static enum MHD_Result do_rpc(struct listener *l, struct MHD_Connection *c, bool json,
                              struct req *rq)
{
    struct xapi_limits lim;
    struct xapi_call call;
    struct err e;
    err_clear(&e);
    memset(&call, 0, sizeof(call));
    xapi_limits_request(&lim);
    int rc = json ? xapi_jsonrpc_decode_call(rq->body.data ? rq->body.data : "", rq->body.len, &lim,
                                             &call, &e)
                  : xapi_xmlrpc_decode_call(rq->body.data ? rq->body.data : "", rq->body.len, &lim,
                                            &call, &e);
    if (rc != 0) {
        xapi_call_cleanup(&call);
        return reply_500(c, e.msg);
    }
    struct xapi_response resp;
    bool pre = false;
    rc = sim_call_blocking(l->srv->s, l->address, call.method, call.params, &resp, &pre, &e);
    if (rc != 0) {
        xapi_call_cleanup(&call);
        return MHD_NO; /* the host went away: drop the connection */
    }
    struct buf out;
    buf_init(&out);
    if (json) {
        if (pre && !resp.ok)
            xapi_jsonrpc_encode_predispatch_error(&out, resp.error);
        else
            xapi_jsonrpc_encode_response(&out, call.proto, call.id, &resp);
    } else if (resp.ok && strcmp(call.method, "system.listMethods") == 0) {
        /* xapi answers system.listMethods with the bare array (api_server.ml) */
        buf_puts(&out, "<?xml version=\"1.0\"?><methodResponse><params><param>");
        xapi_xmlrpc_encode_value(&out, resp.value);
        buf_puts(&out, "</param></params></methodResponse>");
    } else {
        xapi_xmlrpc_encode_response(&out, &resp);
    }
    enum MHD_Result r =
        reply(c, 200, json ? "application/json" : "text/xml", buf_str(&out), out.len);
    buf_cleanup(&out);
    xapi_response_cleanup(&resp);
    xapi_call_cleanup(&call);
    return r;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct buf *b = cls;
    (void)kind;
    buf_putc(b, b->len ? '&' : '?');
    buf_puts(b, key);
    buf_putc(b, '=');
    for (const char *p = value ? value : ""; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == ':')
            buf_putc(b, *p);
        else
            buf_printf(b, "%%%02X", (unsigned char)*p);
    }
    return MHD_YES;
}

static enum MHD_Result do_put(struct listener *l, struct MHD_Connection *c, const char *url,
                              struct req *rq)
{
    struct buf q;
    buf_init(&q);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    char *pq = xasprintf("%s%s", url, buf_str(&q));
    buf_cleanup(&q);
    struct err e;
    err_clear(&e);
    struct sim *s = l->srv->s;
    pthread_mutex_lock(&s->mu);
    int rc = sim_put_locked(s, l->address, pq, rq->body.data ? rq->body.data : "", rq->body.len,
                            rq->total, &e);
    pthread_mutex_unlock(&s->mu);
    free(pq);
    if (rc == PP_ETRANSPORT)
        return MHD_NO;
    if (rc == PP_ENOTFOUND)
        return reply(c, 404, "text/plain", "not found\n", 10);
    if (rc != 0)
        return reply(c, 500, "text/plain", e.msg, strlen(e.msg));
    return reply(c, 200, "text/plain", "", 0);
}

static enum MHD_Result do_updates(struct listener *l, struct MHD_Connection *c)
{
    struct buf q;
    buf_init(&q);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    json_t *doc = NULL;
    struct err e;
    err_clear(&e);
    int rc = sim_get_updates(l->srv->s, l->address, q.len ? buf_str(&q) + 1 : "", &doc, &e);
    buf_cleanup(&q);
    if (rc == PP_ETRANSPORT)
        return MHD_NO;
    if (rc == PP_ENOTFOUND)
        return reply(c, 404, "text/plain", "not found\n", 10);
    if (rc != 0)
        return reply(c, strcmp(e.xapi_code, "SESSION_INVALID") == 0 ? 401 : 500, "text/plain",
                     e.msg, strlen(e.msg));
    struct buf out;
    buf_init(&out);
    jsonx_dump(&out, doc, 0);
    json_decref(doc);
    enum MHD_Result r = reply(c, 200, "application/json", buf_str(&out), out.len);
    buf_cleanup(&out);
    return r;
}

static enum MHD_Result do_control(struct listener *l, struct MHD_Connection *c, const char *url,
                                  const char *method, struct req *rq)
{
    struct sim *s = l->srv->s;
    struct buf out;
    buf_init(&out);
    enum MHD_Result r;
    if (strcmp(url, "/sim/state") == 0 && strcmp(method, "GET") == 0) {
        json_t *j = sim_state_json(s);
        jsonx_dump(&out, j, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(j);
        r = reply(c, 200, "application/json", buf_str(&out), out.len);
    } else if (strcmp(url, "/sim/fault") == 0 && strcmp(method, "POST") == 0) {
        json_t *j = NULL;
        struct err e;
        err_clear(&e);
        int rc = rq->too_big ? err_set(&e, PP_ELIMIT, "fault document over 64 KiB")
                             : jsonx_load(rq->body.data ? rq->body.data : "", rq->body.len,
                                          CONTROL_BODY_MAX, 16, "fault", &j, &e);
        if (rc == 0)
            rc = sim_fault_apply(s, j, &e);
        json_decref(j);
        json_t *res = rc == 0 ? json_pack("{s:b}", "ok", 1) : json_pack("{s:s}", "error", e.msg);
        jsonx_dump(&out, res, 0);
        json_decref(res);
        r = reply(c, rc == 0 ? 200 : 400, "application/json", buf_str(&out), out.len);
    } else {
        r = reply(c, 404, "text/plain", "not found\n", 10);
    }
    buf_cleanup(&out);
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    struct listener *l = cls;
    struct req *rq = *con_cls;
    (void)version;
    if (!rq) {
        /* The simulator's own endpoints answer on every address, even a host that is down. */
        if (!str_has_prefix(url, "/sim/") && !host_reachable(l->srv->s, l->address))
            return MHD_NO;
        rq = xcalloc(1, sizeof(*rq));
        buf_init(&rq->body);
        rq->is_put = strcmp(method, "PUT") == 0;
        if (rq->is_put) {
            struct buf q;
            buf_init(&q);
            MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
            rq->put_target = xasprintf("%s%s", url, buf_str(&q));
            buf_cleanup(&q);
        }
        *con_cls = rq;
        return MHD_YES;
    }
    if (*data_size) {
        size_t limit = rq->is_put                     ? UPLOAD_HEAD_MAX
                       : str_has_prefix(url, "/sim/") ? CONTROL_BODY_MAX
                                                      : RPC_BODY_MAX;
        size_t room = rq->body.len < limit ? limit - rq->body.len : 0;
        size_t take = *data_size < room ? *data_size : room;
        if (take)
            buf_append(&rq->body, data, take);
        if (take < *data_size && !rq->is_put)
            rq->too_big = true;
        rq->total += (int64_t)*data_size;
        *data_size = 0;
        return MHD_YES;
    }
    rq->answered = true;
    if (str_has_prefix(url, "/sim/"))
        return do_control(l, c, url, method, rq);
    if (strcmp(method, "PUT") == 0)
        return do_put(l, c, url, rq);
    if (strcmp(method, "GET") == 0 && strcmp(url, "/updates") == 0)
        return do_updates(l, c);
    if (strcmp(method, "OPTIONS") == 0 && strcmp(url, "/jsonrpc") == 0) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "content-type");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(method, "POST") != 0)
        return reply(c, 404, "text/plain", "not found\n", 10);
    if (rq->too_big)
        return reply_500(c, "request body over 300 KiB");
    if (strcmp(url, "/jsonrpc") == 0)
        return do_rpc(l, c, true, rq);
    if (strcmp(url, "/") == 0 || strcmp(url, "/RPC2") == 0)
        return do_rpc(l, c, false, rq);
    return reply(c, 404, "text/plain", "not found\n", 10);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct listener *l = cls;
    struct req *rq = *con_cls;
    (void)c;
    if (rq) {
        /* A PUT cut short: xapi fails the upload's task (sim_put_cut_short). */
        if (rq->is_put && !rq->answered && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            sim_put_cut_short(l->srv->s, l->address, rq->put_target, rq->total);
        free(rq->put_target);
        buf_cleanup(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

static void *timer_main(void *arg)
{
    struct sim_server *srv = arg;
    struct sim *s = srv->s;
    pthread_mutex_lock(&s->mu);
    while (!srv->stop) {
        int64_t now = sim_now(s);
        run_due(s, now);
        int64_t wait_ms = 1000;
        if (s->nheap) {
            int64_t w = clock_real_ms_for(s->clock, s->heap[0].t - now);
            wait_ms = w < 1 ? 1 : (w < 1000 ? w : 1000);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("sim", "http: %s", msg); /* e.g. connections dropped by a down host */
}

static struct MHD_Daemon *listen_on(struct listener *l, uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, l->address, &sa.sin_addr) != 1)
        return NULL;
    return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_ERROR_LOG,
                            port, NULL, NULL, handler, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, completed, l,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
}

/* Bind every host address on port (0: the first picks one, the others follow); no threads. */
static int bind_all(struct sim_server *srv, uint16_t port, struct err *e)
{
    struct sim *s = srv->s;
    for (size_t i = 0; i < s->nhosts; i++) {
        struct listener *l = &srv->ls[i];
        l->srv = srv;
        str_lcpy(l->address, s->hosts[i]->address, sizeof(l->address));
        l->d = listen_on(l, port);
        if (!l->d)
            return err_set(e, PP_EIO, "cannot listen on %s:%u (in use, or not a local address)",
                           l->address, (unsigned)port);
        srv->nls = i + 1;
        if (port == 0) {
            const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
            port = di ? di->port : 0;
            if (!port)
                return err_set(e, PP_EIO, "cannot learn the port bound on %s", l->address);
        }
    }
    srv->port = port;
    return 0;
}

static void unbind_all(struct sim_server *srv)
{
    for (size_t i = 0; i < srv->nls; i++) {
        if (srv->ls[i].d)
            MHD_stop_daemon(srv->ls[i].d);
        srv->ls[i].d = NULL;
    }
    srv->nls = 0;
}

int sim_server_start(struct sim *s, uint16_t port, struct sim_server **out, struct err *e)
{
    *out = NULL;
    if (s->virtual_clock)
        return err_set(e, PP_EINVAL, "serving over HTTP needs a scaled clock (time scale > 0)");
    struct sim_server *srv = xcalloc(1, sizeof(*srv));
    srv->s = s;
    srv->ls = xcalloc(s->nhosts ? s->nhosts : 1, sizeof(*srv->ls));
    s->stopping = false;
    /* With port 0 the port the first address got may be taken on another one: try again. */
    int rc = bind_all(srv, port, e);
    for (int attempt = 1; rc != 0 && port == 0 && attempt < 8; attempt++) {
        unbind_all(srv);
        err_clear(e);
        rc = bind_all(srv, port, e);
    }
    if (rc != 0) {
        sim_server_stop(srv);
        return rc;
    }
    if (pthread_create(&srv->timer, NULL, timer_main, srv) != 0) {
        sim_server_stop(srv);
        return err_set(e, PP_EIO, "cannot start the timer thread");
    }
    srv->timer_started = true;
    *out = srv;
    return 0;
}

uint16_t sim_server_port(const struct sim_server *srv)
{
    return srv->port;
}

void sim_server_stop(struct sim_server *srv)
{
    if (!srv)
        return;
    struct sim *s = srv->s;
    pthread_mutex_lock(&s->mu);
    srv->stop = true;
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < srv->nls; i++) {
        if (srv->ls[i].d)
            MHD_stop_daemon(srv->ls[i].d);
    }
    if (srv->timer_started)
        pthread_join(srv->timer, NULL);
    free(srv->ls);
    free(srv);
}
