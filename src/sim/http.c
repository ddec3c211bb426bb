/* SPDX-License-Identifier: MIT */
/*
 * http.c - the simulator's HTTP(S) server (sim_http.h).  Request bodies are bounded (xapi's
 * 300 KiB for RPC, 64 KiB for control documents); uploads keep only the head of the image and
 * count the rest, and an upload whose connection drops mid-body fails its task as xapi does.
 * Malformed RPC bodies get HTTP 500 as from xapi.  A host that is down closes connections
 * without answering, like a machine that is rebooting.
 *
 * One libmicrohttpd daemon (poll, a bounded thread pool, no listening socket of its own)
 * serves every host: an acceptor thread accepts on the hosts' sockets and hands connections
 * over; the host a request is for is the connection's local address.  Calls that wait never
 * hold a worker: event.from long-polls are suspended and answered by the timer thread, and a
 * synchronous long call runs on a thread of its own.
 */
#include "sim/sim_http.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "sim/internal.h"
#include "sim/net.h"
#include "sim/tls.h"

#define RPC_BODY_MAX     (300u * 1024)
#define CONTROL_BODY_MAX (64u * 1024)
#define UPLOAD_HEAD_MAX  (64u * 1024)
/* event.from timeouts are capped at a day (xapi takes any float). */
#define EVENT_TIMEOUT_MAX_S 86400.0

struct sim_server {
    struct sim *s;
    uint16_t port;
    struct MHD_Daemon *d;
    int *lfd; /* one listening socket per host */
    size_t nls;
    int epfd, wakefd;
    pthread_t acceptor, timer;
    bool acceptor_started, timer_started;
    bool stop;           /* under s->mu */
    struct req *waiters; /* suspended event.from calls, under s->mu */
    size_t nhelpers;     /* threads running a synchronous long call, under s->mu */
    struct sim_tls *tls; /* NULL: plain HTTP */
};

enum rq_state { RQ_NEW, RQ_WAIT, RQ_READY, RQ_DONE };

struct req {
    struct sim_server *srv;
    struct MHD_Connection *c;
    char addr[64]; /* the host: the connection's local address */
    char *pq;      /* PUT: path and query (for a cut upload) */
    struct buf body;
    int64_t total;
    bool too_big, is_put;
    enum rq_state state;
    /* An RPC answered later (event.from, synchronous long call). */
    struct xapi_call call;
    bool json, suspended, drop;
    bool held; /* event.from: not read yet, xapi's delay_before runs until not_before_ms */
    int64_t deadline_ms, not_before_ms;
    uint64_t seen_gen;
    struct buf out;
    struct req *next;
};

/* ---- answers ---- */

static bool host_reachable(struct sim *s, const char *addr)
{
    pthread_mutex_lock(&s->mu);
    struct hostx *hx = sim_hmap_get(&s->addrs, addr);
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

static enum MHD_Result reply_404(struct MHD_Connection *c)
{
    return reply(c, 404, "text/plain", "not found\n", 10);
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned code, json_t *j, size_t flags)
{
    struct buf out;
    buf_init(&out);
    jsonx_dump(&out, j, flags);
    json_decref(j);
    enum MHD_Result r = reply(c, code, "application/json", buf_str(&out), out.len);
    buf_cleanup(&out);
    return r;
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

/* Encode resp for rq's protocol into rq->out. */
static void encode_answer(struct req *rq, const struct xapi_response *resp, bool pre)
{
    buf_reset(&rq->out);
    if (!rq->json && resp->ok && strcmp(rq->call.method, "system.listMethods") == 0) {
        /* xapi answers system.listMethods with the bare array (api_server.ml) */
        buf_puts(&rq->out, "<?xml version=\"1.0\"?><methodResponse><params><param>");
        xapi_xmlrpc_encode_value(&rq->out, resp->value);
        buf_puts(&rq->out, "</param></params></methodResponse>");
    } else if (!rq->json)
        xapi_xmlrpc_encode_response(&rq->out, resp);
    else if (pre && !resp->ok)
        xapi_jsonrpc_encode_predispatch_error(&rq->out, resp->error);
    else
        xapi_jsonrpc_encode_response(&rq->out, rq->call.proto, rq->call.id, resp);
}

static enum MHD_Result send_answer(struct req *rq)
{
    rq->state = RQ_DONE;
    if (rq->drop)
        return MHD_NO; /* the host went away: drop the connection */
    return reply(rq->c, 200, rq->json ? "application/json" : "text/xml", buf_str(&rq->out),
                 rq->out.len);
}

/* ---- event.from long-polls (answered by the timer thread) ---- */

static bool is_event_from(const char *m)
{
    return strcmp(m, "event.from") == 0 || strcmp(m, "event_from") == 0;
}

static bool no_events(const struct xapi_response *r)
{
    const struct xapi_value *evs = r->ok ? xapi_struct_get(r->value, "events") : NULL;
    return evs && xapi_array_len(evs) == 0;
}

/*
 * Ask again, without waiting (caller holds s->mu).  Returns true when rq has its answer in
 * rq->out (events, an error, the timeout, the host gone, the server stopping).  A re-poll is
 * not a call of the client's: the call counter is left as it was.  Before rq->not_before_ms
 * (xapi's delay_before, sim_event_from_delay_ms) only an error is an answer: the call was checked
 * (session, token) but reads the events once the delay has run, as xapi does.
 */
static bool poll_event_from(struct sim_server *srv, struct req *rq, bool first)
{
    struct sim *s = srv->s;
    struct xapi_response resp;
    struct err e;
    bool pre = false;
    err_clear(&e);
    uint64_t calls = s->n_calls;
    int rc = sim_dispatch(s, rq->addr, rq->call.method, rq->call.params, &resp, false, &pre, &e);
    if (!first)
        s->n_calls = calls;
    struct hostx *hx = sim_hmap_get(&s->addrs, rq->addr);
    int64_t now = clock_mono_ms();
    rq->held = rc == 0 && resp.ok && now < rq->not_before_ms;
    bool done =
        rc != 0 || srv->stop || (!rq->held && (!no_events(&resp) || now >= rq->deadline_ms));
    if (rc != 0)
        rq->drop = true;
    else if (done)
        encode_answer(rq, &resp, pre);
    else
        rq->seen_gen = hx->w->gen;
    if (rc == 0)
        xapi_response_cleanup(&resp);
    return done;
}

/* event.from: answer after xapi's delay_before (real time, like the timeout), or suspend until
 * something changes or `timeout` real seconds pass.  Over the wire xapi counts the timeout in
 * real seconds (ocaml/xapi/xapi_event.ml, from), and the batching delays on the same clock. */
static enum MHD_Result rpc_event_from(struct req *rq)
{
    struct sim_server *srv = rq->srv;
    struct sim *s = srv->s;
    double timeout = 0;
    xapi_value_as_double(xapi_array_get(rq->call.params, 3), &timeout);
    if (!(timeout > 0))
        timeout = 0;
    if (timeout > EVENT_TIMEOUT_MAX_S)
        timeout = EVENT_TIMEOUT_MAX_S;
    rq->deadline_ms = clock_mono_ms() + (int64_t)(timeout * 1000.0);
    rq->not_before_ms =
        clock_mono_ms() + sim_event_from_delay_ms(xapi_array_get(rq->call.params, 1));
    pthread_mutex_lock(&s->mu);
    bool done = poll_event_from(srv, rq, true);
    if (!done) {
        rq->state = RQ_WAIT;
        rq->next = srv->waiters;
        srv->waiters = rq;
    }
    pthread_mutex_unlock(&s->mu);
    if (done)
        return send_answer(rq);
    MHD_suspend_connection(rq->c);
    pthread_mutex_lock(&s->mu);
    rq->suspended = true; /* only now may the timer thread resume it */
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return MHD_YES;
}

/* Caller holds s->mu: move the waiters that have their answer to *ready (resumed unlocked). */
static void collect_ready(struct sim_server *srv, struct req **ready, int64_t *next_deadline)
{
    struct req **pp = &srv->waiters;
    while (*pp) {
        struct req *rq = *pp;
        struct hostx *hx = sim_hmap_get(&srv->s->addrs, rq->addr);
        int64_t now = clock_mono_ms();
        bool changed = !hx || !hx->up || hx->w->gen != rq->seen_gen;
        bool due = rq->held ? now >= rq->not_before_ms : changed || now >= rq->deadline_ms;
        if (rq->suspended && (due || srv->stop) && poll_event_from(srv, rq, false)) {
            *pp = rq->next;
            rq->state = RQ_READY;
            rq->next = *ready;
            *ready = rq;
            continue;
        }
        if (rq->deadline_ms < *next_deadline)
            *next_deadline = rq->deadline_ms;
        if (rq->held && rq->not_before_ms < *next_deadline)
            *next_deadline = rq->not_before_ms;
        pp = &rq->next;
    }
}

/* ---- synchronous long calls (one short-lived thread each) ---- */

static void *long_call_main(void *arg)
{
    struct req *rq = arg;
    struct sim_server *srv = rq->srv;
    struct xapi_response resp;
    struct err e;
    bool pre = false;
    err_clear(&e);
    int rc = sim_call_blocking(srv->s, rq->addr, rq->call.method, rq->call.params, &resp, &pre, &e);
    if (rc != 0) {
        rq->drop = true;
    } else {
        encode_answer(rq, &resp, pre);
        xapi_response_cleanup(&resp);
    }
    rq->state = RQ_READY;
    MHD_resume_connection(rq->c); /* rq may be gone from here on */
    pthread_mutex_lock(&srv->s->mu);
    srv->nhelpers--;
    pthread_cond_broadcast(&srv->s->cond);
    pthread_mutex_unlock(&srv->s->mu);
    return NULL;
}

static enum MHD_Result rpc_long_call(struct req *rq)
{
    struct sim *s = rq->srv->s;
    pthread_attr_t at;
    pthread_t th;
    pthread_mutex_lock(&s->mu);
    rq->srv->nhelpers++;
    pthread_mutex_unlock(&s->mu);
    rq->state = RQ_WAIT;
    MHD_suspend_connection(rq->c);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    if (pthread_create(&th, &at, long_call_main, rq) != 0)
        long_call_main(rq); /* no thread: wait here */
    pthread_attr_destroy(&at);
    return MHD_YES;
}

static enum MHD_Result do_rpc(struct req *rq, bool json)
{
    struct xapi_limits lim;
    struct err e;
    err_clear(&e);
    xapi_limits_request(&lim);
    rq->json = json;
    const char *body = rq->body.data ? rq->body.data : "";
    int rc = json ? xapi_jsonrpc_decode_call(body, rq->body.len, &lim, &rq->call, &e)
                  : xapi_xmlrpc_decode_call(body, rq->body.len, &lim, &rq->call, &e);
    if (rc != 0)
        return reply_500(rq->c, e.msg);
    if (is_event_from(rq->call.method))
        return rpc_event_from(rq);
    /* Calls that wait for their task, and the legacy event.next that blocks until an event. */
    if (sim_dispatch_may_block(rq->call.method) || strcmp(rq->call.method, "event.next") == 0 ||
        strcmp(rq->call.method, "event_next") == 0)
        return rpc_long_call(rq);
    struct xapi_response resp;
    bool pre = false;
    if (sim_call_blocking(rq->srv->s, rq->addr, rq->call.method, rq->call.params, &resp, &pre,
                          &e) != 0)
        return MHD_NO; /* the host went away: drop the connection */
    encode_answer(rq, &resp, pre);
    xapi_response_cleanup(&resp);
    return send_answer(rq);
}

/* ---- uploads, updates, control ---- */

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

static char *query_of(struct MHD_Connection *c)
{
    struct buf q;
    buf_init(&q);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    char *s = xstrdup(q.len ? buf_str(&q) + 1 : "");
    buf_cleanup(&q);
    return s;
}

static enum MHD_Result do_put(struct req *rq)
{
    struct err e;
    err_clear(&e);
    struct sim *s = rq->srv->s;
    rq->state = RQ_DONE;
    pthread_mutex_lock(&s->mu);
    int rc = sim_put_locked(s, rq->addr, rq->pq, rq->body.data ? rq->body.data : "", rq->body.len,
                            rq->total, &e);
    pthread_mutex_unlock(&s->mu);
    if (rc == PP_ETRANSPORT)
        return MHD_NO;
    if (rc == PP_ENOTFOUND)
        return reply_404(rq->c);
    if (rc != 0)
        return reply(rq->c, 500, "text/plain", e.msg, strlen(e.msg));
    return reply(rq->c, 200, "text/plain", "", 0);
}

static enum MHD_Result do_updates(struct req *rq)
{
    json_t *doc = NULL;
    struct err e;
    err_clear(&e);
    char *q = query_of(rq->c);
    int rc = sim_get_updates(rq->srv->s, rq->addr, q, &doc, &e);
    free(q);
    if (rc == PP_ETRANSPORT)
        return MHD_NO;
    if (rc == PP_ENOTFOUND)
        return reply_404(rq->c);
    if (rc != 0)
        return reply(rq->c, strcmp(e.xapi_code, "SESSION_INVALID") == 0 ? 401 : 500, "text/plain",
                     e.msg, strlen(e.msg));
    return reply_json(rq->c, 200, doc, 0);
}

/* Each host's Certificate record names the certificate it serves, as xapi's database does
 * (issue 13: a client may learn a pool's host certificates over a trusted connection). */
static void tls_publish(struct sim_server *srv)
{
    json_t *j = sim_tls_json(srv->tls), *h;
    size_t i;
    json_array_foreach(json_object_get(j, "hosts"), i, h)
    {
        const char *a = json_string_value(json_object_get(h, "address"));
        const char *fp = json_string_value(json_object_get(h, "fingerprint"));
        if (a && fp)
            (void)sim_host_certificate_set(srv->s, a, fp, NULL);
    }
    json_decref(j);
}

/* POST /sim/tls {"address": A[, "certificate": PEM, "key": PEM]}: give A a new certificate. */
static int tls_rotate(struct sim_server *srv, const json_t *j, struct err *e)
{
    const char *addr = NULL, *cert = NULL, *key = NULL;
    int record = 1; /* false: an impostor at that address; the pool's records keep the old one */
    json_error_t je;
    if (!srv->tls)
        return err_set(e, PP_ESTATE, "the simulator serves plain HTTP (start it with --tls)");
    if (json_unpack_ex((json_t *)j, &je, JSON_STRICT, "{s:s, s?s, s?s, s?b}", "address", &addr,
                       "certificate", &cert, "key", &key, "record", &record) != 0)
        return err_set(e, PP_EINVAL, "tls: %s", je.text);
    if (!cert != !key)
        return err_set(e, PP_EINVAL, "tls: give both \"certificate\" and \"key\", or neither");
    struct sim_tls_pem pem = {(char *)cert, (char *)key};
    int rc = sim_tls_rotate(srv->tls, addr, cert ? &pem : NULL, e);
    if (rc == 0 && record)
        tls_publish(srv);
    return rc;
}

static enum MHD_Result do_control_post(struct req *rq, const char *url)
{
    json_t *j = NULL;
    struct err e;
    err_clear(&e);
    bool fault = strcmp(url, "/sim/fault") == 0, upgrade = strcmp(url, "/sim/upgrade") == 0;
    const char *what = fault ? "fault" : upgrade ? "upgrade" : "tls";
    int rc = rq->too_big ? err_set(&e, PP_ELIMIT, "document over 64 KiB")
                         : jsonx_load(rq->body.data ? rq->body.data : "", rq->body.len,
                                      CONTROL_BODY_MAX, 16, what, &j, &e);
    if (rc == 0 && fault)
        rc = sim_fault_apply(rq->srv->s, j, &e);
    else if (rc == 0 && upgrade)
        rc = sim_upgrade_host(rq->srv->s, j, &e);
    else if (rc == 0)
        rc = tls_rotate(rq->srv, j, &e);
    json_decref(j);
    json_t *res = rc == 0 ? json_pack("{s:b}", "ok", 1) : json_pack("{s:s}", "error", e.msg);
    return reply_json(rq->c, rc == 0 ? 200 : 400, res, 0);
}

static enum MHD_Result do_control(struct req *rq, const char *url, const char *method)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/sim/state") == 0 && get)
        return reply_json(rq->c, 200, sim_state_json(rq->srv->s), JSON_INDENT(1) | JSON_SORT_KEYS);
    if (strcmp(url, "/sim/tls") == 0 && get) {
        if (!rq->srv->tls)
            return reply_404(rq->c);
        return reply_json(rq->c, 200, sim_tls_json(rq->srv->tls), JSON_INDENT(1));
    }
    if ((strcmp(url, "/sim/fault") == 0 || strcmp(url, "/sim/tls") == 0 ||
         strcmp(url, "/sim/upgrade") == 0) &&
        post)
        return do_control_post(rq, url);
    return reply_404(rq->c);
}

static enum MHD_Result do_cors(struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "content-type");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- the request handler ---- */

static struct req *req_new(struct sim_server *srv, struct MHD_Connection *c, const char *url,
                           const char *method)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    char addr[64];
    if (!ci || sim_net_local_address(ci->connect_fd, addr, sizeof(addr)) != 0)
        return NULL;
    /* The simulator's own endpoints answer on every address, even a host that is down. */
    if (!str_has_prefix(url, "/sim/") && !host_reachable(srv->s, addr))
        return NULL;
    struct req *rq = xcalloc(1, sizeof(*rq));
    rq->srv = srv;
    rq->c = c;
    str_lcpy(rq->addr, addr, sizeof(rq->addr));
    buf_init(&rq->body);
    buf_init(&rq->out);
    rq->is_put = strcmp(method, "PUT") == 0;
    if (rq->is_put) {
        char *q = query_of(c);
        rq->pq = xasprintf("%s%s%s", url, *q ? "?" : "", q);
        free(q);
    }
    return rq;
}

static void take_body(struct req *rq, const char *url, const char *data, size_t *data_size)
{
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
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    struct req *rq = *con_cls;
    (void)version;
    if (!rq) {
        *con_cls = req_new(cls, c, url, method);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        take_body(rq, url, data, data_size);
        return MHD_YES;
    }
    if (rq->state == RQ_READY)
        return send_answer(rq);
    if (rq->state != RQ_NEW)
        return MHD_YES; /* resumed early by the library: still waiting */
    if (str_has_prefix(url, "/sim/"))
        return do_control(rq, url, method);
    if (rq->is_put)
        return do_put(rq);
    if (strcmp(method, "GET") == 0 && strcmp(url, "/updates") == 0)
        return do_updates(rq);
    if (strcmp(method, "OPTIONS") == 0 && strcmp(url, "/jsonrpc") == 0)
        return do_cors(c);
    if (strcmp(method, "POST") != 0)
        return reply_404(c);
    if (rq->too_big)
        return reply_500(c, "request body over 300 KiB");
    /* xapi: JSON-RPC on /jsonrpc; XML-RPC is the handler of "/", and the longest registered
     * prefix wins (ocaml/libs/http-lib/http_svr.ml), so any other POST path is XML-RPC. */
    return do_rpc(rq, strcmp(url, "/jsonrpc") == 0);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;
    struct sim_server *srv = cls;
    (void)c;
    if (!rq)
        return;
    /* An upload cut short: xapi fails the import's task (sim_put_cut_short). */
    if (rq->is_put && rq->state == RQ_NEW && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        sim_put_cut_short(srv->s, rq->addr, rq->pq, rq->total);
    xapi_call_cleanup(&rq->call);
    buf_cleanup(&rq->body);
    buf_cleanup(&rq->out);
    free(rq->pq);
    free(rq);
    *con_cls = NULL;
}

/* ---- the timer thread: scheduled changes and long-polls ---- */

static void timedwait_ms(struct sim *s, int64_t wait_ms)
{
    struct timespec ts = clock_deadline_ts(CLOCK_MONOTONIC, wait_ms);
    pthread_cond_timedwait(&s->cond, &s->mu, &ts);
}

static void resume_all(struct req *ready)
{
    while (ready) {
        struct req *next = ready->next;
        MHD_resume_connection(ready->c); /* ready may be freed from here on */
        ready = next;
    }
}

static void *timer_main(void *arg)
{
    struct sim_server *srv = arg;
    struct sim *s = srv->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        int64_t now = sim_now(s);
        sim_run_due(s, now);
        struct req *ready = NULL;
        int64_t wake = clock_mono_ms() + 1000;
        collect_ready(srv, &ready, &wake);
        if (ready) {
            pthread_mutex_unlock(&s->mu);
            resume_all(ready);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        if (srv->stop && !srv->waiters)
            break;
        int64_t wait_ms = wake - clock_mono_ms();
        if (s->nheap) {
            int64_t w = clock_real_ms_for(s->clock, s->heap[0].t - now);
            wait_ms = w < wait_ms ? w : wait_ms;
        }
        timedwait_ms(s, wait_ms < 1 ? 1 : wait_ms);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- TLS: each host's certificate, chosen by the connection's local address ---- */

/* The certificate callback has no argument of its own: the servers with TLS, for lookups. */
static pthread_mutex_t tls_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sim_tls *tls_reg[16];

static void tls_register(struct sim_tls *t, bool add)
{
    pthread_mutex_lock(&tls_reg_mu);
    for (size_t i = 0; i < sizeof(tls_reg) / sizeof(tls_reg[0]); i++) {
        if (add ? !tls_reg[i] : tls_reg[i] == t) {
            tls_reg[i] = add ? t : NULL;
            break;
        }
    }
    pthread_mutex_unlock(&tls_reg_mu);
}

static int cert_for_connection(gnutls_session_t sess, const gnutls_datum_t *req_ca_dn, int nreqs,
                               const gnutls_pk_algorithm_t *algos, int nalgos,
                               gnutls_pcert_st **pcert, unsigned int *pcert_length,
                               gnutls_privkey_t *pkey)
{
    char addr[64];
    void *pc = NULL, *pk = NULL;
    (void)req_ca_dn, (void)nreqs, (void)algos, (void)nalgos;
    /* libmicrohttpd gives GnuTLS the connection's socket as its transport. */
    if (sim_net_local_address(gnutls_transport_get_int(sess), addr, sizeof(addr)) != 0)
        return -1;
    int rc = PP_ENOTFOUND;
    pthread_mutex_lock(&tls_reg_mu);
    for (size_t i = 0; rc != 0 && i < sizeof(tls_reg) / sizeof(tls_reg[0]); i++) {
        if (tls_reg[i])
            rc = sim_tls_lookup(tls_reg[i], addr, &pc, &pk);
    }
    pthread_mutex_unlock(&tls_reg_mu);
    if (rc != 0)
        return -1;
    *pcert = pc;
    *pcert_length = 1;
    *pkey = pk;
    return 0;
}

/* ---- accepting: every host's socket, one epoll, connections handed to the daemon ---- */

static void accept_ready(struct sim_server *srv, int lfd)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int fd = accept4(lfd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_debug("sim", "http: accept: %s", strerror(errno));
            return;
        }
        if (MHD_add_connection(srv->d, fd, (struct sockaddr *)&sa, len) != MHD_YES)
            log_debug("sim", "http: connection refused by the server (limit)"); /* fd closed */
    }
}

static void *acceptor_main(void *arg)
{
    struct sim_server *srv = arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(srv->epfd, evs, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == UINT32_MAX)
                return NULL; /* woken to stop */
            accept_ready(srv, srv->lfd[evs[i].data.u32]);
        }
    }
    return NULL;
}

/* ---- start and stop ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("sim", "http: %s", msg); /* e.g. connections dropped by a down host */
}

/* Bind every host address on port (0: the first picks one, the others follow); no threads. */
static int bind_all(struct sim_server *srv, uint16_t port, struct err *e)
{
    struct sim *s = srv->s;
    for (size_t i = 0; i < s->nhosts; i++) {
        uint16_t got = 0;
        int rc = sim_net_listen(s->hosts[i]->address, port, &srv->lfd[i], &got, e);
        if (rc != 0)
            return rc;
        srv->nls = i + 1;
        port = got;
    }
    srv->port = port;
    return 0;
}

static void unbind_all(struct sim_server *srv)
{
    for (size_t i = 0; i < srv->nls; i++)
        close(srv->lfd[i]);
    srv->nls = 0;
}

/* Room for a socket per host and per connection: the soft descriptor limit up to the hard. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int start_daemon(struct sim_server *srv, const struct sim_server_opts *o, struct err *e)
{
    /* poll(), not epoll: with libmicrohttpd 0.9.75's epoll mode, connections handed over by
     * MHD_add_connection sometimes missed their peer's close (a cut upload went unnoticed). */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    unsigned threads = o->threads ? o->threads : 4;
    struct rlimit rl;
    unsigned limit = 4096;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > srv->nls + 256)
        limit =
            (unsigned)(rl.rlim_cur - srv->nls - 128 < 65536 ? rl.rlim_cur - srv->nls - 128 : 65536);
    if (o->tls) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
            return err_set(e, PP_ETLS, "this libmicrohttpd has no TLS support");
        srv->d = MHD_start_daemon(
            flags | MHD_USE_TLS, 0, NULL, NULL, handler, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
            NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, srv, MHD_OPTION_THREAD_POOL_SIZE, threads,
            MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
            MHD_OPTION_HTTPS_CERT_CALLBACK, cert_for_connection, MHD_OPTION_END);
    } else {
        srv->d =
            MHD_start_daemon(flags, 0, NULL, NULL, handler, srv, MHD_OPTION_EXTERNAL_LOGGER,
                             mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
                             MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                             limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
    }
    return srv->d ? 0 : err_set(e, PP_EIO, "cannot start the HTTP server (libmicrohttpd)");
}

static int start_acceptor(struct sim_server *srv, struct err *e)
{
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->epfd < 0 || srv->wakefd < 0)
        return err_set(e, PP_EIO, "epoll: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->wakefd, &ev);
    for (size_t i = 0; i < srv->nls; i++) {
        ev.data.u32 = (uint32_t)i;
        if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd[i], &ev) != 0)
            return err_set(e, PP_EIO, "epoll: %s", strerror(errno));
    }
    if (pthread_create(&srv->acceptor, NULL, acceptor_main, srv) != 0)
        return err_set(e, PP_EIO, "cannot start the acceptor thread");
    srv->acceptor_started = true;
    return 0;
}

static int start_tls(struct sim_server *srv, const struct sim_server_opts *o, struct err *e)
{
    struct sim *s = srv->s;
    const char **addrs = xcalloc(s->nhosts ? s->nhosts : 1, sizeof(*addrs));
    for (size_t i = 0; i < s->nhosts; i++)
        addrs[i] = s->hosts[i]->address;
    int rc = sim_tls_new(addrs, s->nhosts, o->tls_dir, &srv->tls, e);
    free(addrs);
    if (rc == 0) {
        tls_register(srv->tls, true);
        tls_publish(srv);
    }
    return rc;
}

int sim_server_start_opts(struct sim *s, const struct sim_server_opts *o, struct sim_server **out,
                          struct err *e)
{
    *out = NULL;
    if (s->virtual_clock)
        return err_set(e, PP_EINVAL, "serving over HTTP needs a scaled clock (time scale > 0)");
    raise_fd_limit();
    struct sim_server *srv = xcalloc(1, sizeof(*srv));
    srv->s = s;
    srv->epfd = srv->wakefd = -1;
    srv->lfd = xcalloc(s->nhosts ? s->nhosts : 1, sizeof(*srv->lfd));
    s->stopping = false;
    /* With port 0 the port the first address got may be taken on another one: try again. */
    int rc = bind_all(srv, o->port, e);
    for (int attempt = 1; rc != 0 && o->port == 0 && attempt < 8; attempt++) {
        unbind_all(srv);
        err_clear(e);
        rc = bind_all(srv, o->port, e);
    }
    if (rc == 0 && o->tls)
        rc = start_tls(srv, o, e);
    if (rc == 0)
        rc = start_daemon(srv, o, e);
    if (rc == 0 && pthread_create(&srv->timer, NULL, timer_main, srv) != 0)
        rc = err_set(e, PP_EIO, "cannot start the timer thread");
    srv->timer_started = rc == 0;
    if (rc == 0)
        rc = start_acceptor(srv, e);
    if (rc != 0) {
        sim_server_stop(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int sim_server_start(struct sim *s, uint16_t port, struct sim_server **out, struct err *e)
{
    struct sim_server_opts o = {.port = port};
    return sim_server_start_opts(s, &o, out, e);
}

uint16_t sim_server_port(const struct sim_server *srv)
{
    return srv->port;
}

const char *sim_server_scheme(const struct sim_server *srv)
{
    return srv->tls ? "https" : "http";
}

void sim_server_stop(struct sim_server *srv)
{
    if (!srv)
        return;
    struct sim *s = srv->s;
    if (srv->acceptor_started) {
        uint64_t one = 1;
        if (write(srv->wakefd, &one, sizeof(one)) < 0)
            log_debug("sim", "http: cannot wake the acceptor");
        pthread_join(srv->acceptor, NULL);
    }
    /* Long-polls answer and blocked calls give up; wait until none is left. */
    pthread_mutex_lock(&s->mu);
    srv->stop = true;
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    while (srv->nhelpers || (srv->timer_started && srv->waiters))
        timedwait_ms(s, 50);
    pthread_mutex_unlock(&s->mu);
    if (srv->timer_started)
        pthread_join(srv->timer, NULL);
    if (srv->d)
        MHD_stop_daemon(srv->d);
    unbind_all(srv);
    if (srv->epfd >= 0)
        close(srv->epfd);
    if (srv->wakefd >= 0)
        close(srv->wakefd);
    if (srv->tls) {
        tls_register(srv->tls, false);
        sim_tls_free(srv->tls);
    }
    free(srv->lfd);
    free(srv);
}
