/* SPDX-License-Identifier: MIT */
/*
 * api_server.c - libmicrohttpd in front of the engine: connections, limits, Bearer auth with an
 * admin and a read-only role, the Host check, request bodies with limits, the worker threads
 * that run the handlers of api_routes.c, the audit log, the SSE progress stream with bounded
 * per-client queues and heartbeats, and the web assets with ETag / 304.
 *
 * Threads (docs/rest-api.md, "Threads"; docs/security.md): MHD runs one event-loop thread
 * (epoll) for every connection, so a slow or idle client costs a socket, not a thread.  A request
 * whose handler may block on the engine is suspended (MHD_suspend_connection) and handed to a
 * small pool of worker threads; the worker builds the answer and resumes the connection, and the
 * MHD thread sends it.  SSE streams suspend while they have nothing to send and are resumed by
 * the engine's event callback or the timer thread (heartbeats).  The timer thread also closes
 * connections whose request headers did not arrive in time (slowloris).  Per-client-address
 * connection counts are kept here: over the limit a request gets a 503 JSON answer.
 */
#include "api/api_int.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jparts.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine.h"
#include "store/store.h"
#include "store/store_audit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOD          "api"
#define WEB_FILE_MAX (8u * 1024 * 1024)
#define SSE_MAX      64  /* event streams at once */
#define TIMER_MS     100 /* the timer thread's period */
/* A connection whose client has half-closed is cut only once it is this old (the timer wakes
 * for that moment): libmicrohttpd may have read the request already (the peek then sees the
 * end) and be about to answer it itself (an HTTP version it does not speak: 505).  The timer
 * wakes at each new connection, so without a grace it raced that answer and cut it (unit-api
 * test_mhd_errors_json); before, the first look came at a random point of the 100 ms period. */
#define HALF_CLOSE_GRACE_MS 50

struct sse_event {
    uint64_t id;
    char *json;
};

struct sse_client {
    struct api_server *srv;
    struct sse_client *next;
    struct MHD_Connection *conn;
    struct sse_event *q; /* ring of srv->sse_queue events */
    size_t head, count;
    struct buf out; /* framed bytes not yet handed to MHD */
    size_t out_off;
    int64_t next_beat_ms;
    bool suspended; /* waiting for an event, a heartbeat or the end */
    bool dropped;
};

/* One TCP connection (MHD's socket context): its address and when its headers began. */
struct conn_info {
    struct conn_info *prev, *next;
    int fd;
    char client[64];
    int64_t since_ms;  /* start of the request being read */
    bool headers_done; /* the request line and headers are in */
    bool cut;          /* shut down by the timer (headers too slow) */
};

struct api_server {
    struct MHD_Daemon *d;
    struct engine *eng;
    char token[API_TOKEN_MAX];
    char read_token[API_TOKEN_MAX];
    char *server_names;
    char *web_root;
    size_t max_body;
    unsigned heartbeat_ms;
    unsigned sse_queue;
    unsigned max_per_ip;
    unsigned max_conns;
    unsigned header_timeout_ms;
    uint16_t port;
    int sub_id;
    pthread_mutex_t lock; /* guards the SSE clients, the connections and stopping */
    struct sse_client *clients;
    unsigned n_clients;
    uint64_t next_event_id;
    struct conn_info *conns;
    unsigned n_conns;
    bool stopping;
    /* workers */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct api_call *qhead, *qtail;
    pthread_t *workers;
    unsigned n_workers;
    bool qstop;
    /* timer thread */
    pthread_t timer;
    pthread_cond_t tcond;
    bool timer_started;
    /* the audit log (its own connection to the database) */
    pthread_mutex_t alock;
    struct store *audit;
};

/* ---------------------------------------------------------------- answers */

void api_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
}

static struct MHD_Response *text_response(const char *ctype, char *text_take, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text_take, MHD_RESPMEM_MUST_FREE);

    if (!r) {
        free(text_take);
        return NULL;
    }
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    api_common_headers(r);
    return r;
}

static struct MHD_Response *error_response(unsigned status, const char *code, const char *msg,
                                           const char *xapi, enum api_took took)
{
    struct buf b;
    struct MHD_Response *r;

    buf_init(&b);
    api_error_json_ex(&b, code, msg, xapi, took);
    size_t len = b.len;
    r = text_response("application/json", buf_take(&b), len);
    if (r && status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"poolpatch\"");
    return r;
}

/* 409 fingerprint_unconfirmed: {"error":{code, message, fingerprint, took_effect:false}}. */
static struct MHD_Response *fingerprint_response(unsigned status, const char *msg, const char *fp)
{
    json_t *v = json_pack("{s:{s:s,s:s,s:s,s:b}}", "error", "code", "fingerprint_unconfirmed",
                          "message", msg, "fingerprint", fp, "took_effect", 0);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

    (void)status;
    json_decref(v);
    return text ? text_response("application/json", text, strlen(text)) : NULL;
}

static void set_answer(struct api_call *x, unsigned status, struct MHD_Response *r)
{
    if (x->resp)
        MHD_destroy_response(x->resp);
    x->status = status;
    x->resp = r;
}

void api_answer_json(struct api_call *x, unsigned status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);

    if (!text) {
        api_answer_error(x, 500, "could not encode the engine's answer as JSON");
        return;
    }
    set_answer(x, status, text_response("application/json", text, strlen(text)));
}

void api_answer_json_text(struct api_call *x, unsigned status, char *text, size_t len,
                          long long age_s)
{
    struct MHD_Response *r = text_response("application/json", text, len);
    char age[32];

    if (r && age_s >= 0) {
        snprintf(age, sizeof age, "%lld", age_s);
        MHD_add_response_header(r, "Age", age);
    }
    set_answer(x, status, r);
}

static ssize_t parts_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    size_t n = jparts_read(cls, buf, max);

    (void)pos; /* the parts are read in order, once */
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void parts_free(void *cls)
{
    jparts_free(cls);
}

void api_answer_json_parts(struct api_call *x, unsigned status, struct jparts *parts)
{
    struct MHD_Response *r = MHD_create_response_from_callback(jparts_size(parts), 64 * 1024,
                                                               parts_reader, parts, parts_free);

    if (!r) {
        jparts_free(parts);
        api_answer_error(x, 500, "could not start the answer");
        return;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    api_common_headers(r);
    set_answer(x, status, r);
}

void api_answer_empty(struct api_call *x, unsigned status)
{
    set_answer(x, status, text_response(NULL, xstrdup(""), 0));
}

static enum api_took took_for(const struct api_call *x, int rc, const char *msg)
{
    if (!api_method_mutates(x->method))
        return API_TOOK_NONE;
    if (rc == PP_ESTATE && strstr(msg, "may take effect"))
        return API_TOOK_UNKNOWN;
    return API_TOOK_NO;
}

void api_answer_error(struct api_call *x, unsigned status, const char *msg)
{
    enum api_took took = api_method_mutates(x->method) ? API_TOOK_NO : API_TOOK_NONE;

    str_lcpy(x->detail, msg, sizeof x->detail);
    set_answer(x, status, error_response(status, api_error_code((int)status, 0), msg, NULL, took));
}

void api_answer_err(struct api_call *x, int rc, const struct err *e)
{
    int status = api_status_for(rc);
    const char *msg = e->msg[0] ? e->msg : err_code_name(rc);
    enum api_took took = took_for(x, rc, msg);

    if (status >= 500)
        log_warn(MOD, "request failed (%d): %s", status, msg);
    str_lcpy(x->detail, msg, sizeof x->detail);
    x->outcome = rc == PP_ETIMEOUT ? "withdrawn" : took == API_TOOK_UNKNOWN ? "unknown" : "failed";
    set_answer(x, (unsigned)status,
               x->fingerprint ? fingerprint_response((unsigned)status, msg, x->fingerprint)
                              : error_response((unsigned)status, api_error_code(status, rc), msg,
                                               rc == PP_EXAPI ? e->xapi_code : NULL, took));
}

/* Queue a finished answer on the MHD thread (consumes r). */
static enum MHD_Result queue_response(struct MHD_Connection *c, unsigned status,
                                      struct MHD_Response *r)
{
    enum MHD_Result ret;

    if (!r)
        return MHD_NO;
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_error_ex(struct MHD_Connection *c, unsigned status, const char *code,
                                      const char *msg, const char *allow)
{
    struct MHD_Response *r = error_response(status, code, msg, NULL, API_TOOK_NONE);

    if (r && allow)
        MHD_add_response_header(r, "Allow", allow);
    if (r && status == 503)
        MHD_add_response_header(r, "Connection", "close");
    return queue_response(c, status, r);
}

static enum MHD_Result queue_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return queue_error_ex(c, status, api_error_code((int)status, 0), msg, NULL);
}

struct engine *api_server_engine(struct api_server *srv)
{
    return srv->eng;
}

size_t api_server_max_body(struct api_server *srv)
{
    return srv->max_body;
}

/* ---------------------------------------------------------------- audit */

int api_server_audit_list(struct api_server *srv, int limit, json_t **out, struct err *e)
{
    int rc;

    if (!srv->audit)
        return err_set(e, PP_ESTATE, "this server keeps no audit log (no database)");
    pthread_mutex_lock(&srv->alock);
    rc = store_audit_list(srv->audit, limit, out, e);
    pthread_mutex_unlock(&srv->alock);
    return rc;
}

void api_server_pool_fingerprint_set(struct api_server *srv, const char *pool, const char *fp)
{
    struct store_pool p = {0};
    struct err e = {0};

    if (!srv->audit || !pool || !fp || !*fp)
        return;
    pthread_mutex_lock(&srv->alock);
    if (store_pool_get_by_name(srv->audit, pool, &p, &e) != 0 ||
        store_pool_set_fingerprint(srv->audit, p.id, fp, &e) != 0)
        log_warn(MOD, "pool %s: recording its TLS fingerprint: %s", pool, e.msg);
    pthread_mutex_unlock(&srv->alock);
    store_pool_cleanup(&p);
}

void api_server_pool_fingerprints(struct api_server *srv, json_t *answer)
{
    struct store_pool_list l = {0};
    struct err e = {0};
    json_t *pools = json_object_get(answer, "pools"), *it;
    size_t i;

    if (!srv->audit)
        return;
    pthread_mutex_lock(&srv->alock);
    int rc = store_pool_list(srv->audit, &l, &e);
    pthread_mutex_unlock(&srv->alock);
    if (rc != 0)
        return;
    json_array_foreach(pools, i, it)
    {
        for (size_t k = 0; k < l.n; k++) {
            const char *fp = l.items[k].tls_fingerprint;
            if (str_eq(l.items[k].name, json_string_value(json_object_get(it, "name"))))
                json_object_set_new(it, "tls_fingerprint",
                                    fp && *fp ? json_string(fp) : json_null());
        }
    }
    store_pool_list_cleanup(&l);
}

static void audit_record(struct api_call *x)
{
    struct api_server *srv = x->srv;
    struct err e = {0};
    struct store_audit_entry a = {
        .role = x->role == API_ROLE_ADMIN ? "admin" : "read",
        .token_id = x->token_id,
        .client = x->client,
        .method = x->method,
        .path = x->path,
        .status = (int)x->status,
        .outcome = x->outcome ? x->outcome : (x->status < 300 ? "done" : "failed"),
        .detail = x->status < 300 ? "" : x->detail,
    };

    log_info(MOD, "audit: %s %s by %s token %s from %s: %u %s", x->method, x->path, a.role,
             x->token_id, x->client, x->status, a.outcome);
    if (!srv->audit)
        return;
    pthread_mutex_lock(&srv->alock);
    if (store_audit_add(srv->audit, &a, &e) != 0)
        log_warn(MOD, "recording an audit entry: %s", e.msg);
    pthread_mutex_unlock(&srv->alock);
}

/* The first 16 hex digits of the token's SHA-256: names a token without revealing it. */
static void token_id_of(const char *authorization, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const char *t = authorization ? authorization + strlen("Bearer ") : "";

    while (*t == ' ')
        t++;
    EVP_Digest(t, strlen(t), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
/* ---------------------------------------------------------------- workers */

/* Run a call's handler (worker thread), then hand the answer back to the MHD thread. */
static void run_call(struct api_call *x)
{
    const struct api_handler *h = api_handler_find(x->m.route, x->method);
    bool audited = h && h->write && api_method_mutates(x->method);

    if (!h) {
        api_answer_error(x, 404, "no such route");
    } else if (h->write && x->role != API_ROLE_ADMIN) {
        api_answer_error(x, 403,
                         "the read-only API token cannot change anything; use the admin token");
        x->outcome = "refused";
    } else if (x->deadline_ms && clock_mono_ms() >= x->deadline_ms) {
        /* no ghost requests: the caller has given up, so it is not carried out */
        api_answer_error(x, 504,
                         "the request waited longer than its X-Request-Timeout and was withdrawn "
                         "without being carried out");
        x->outcome = "withdrawn";
    } else {
        h->fn(x);
    }
    if (!x->resp)
        api_answer_error(x, 500, "the handler gave no answer");
    if (audited)
        audit_record(x);
}

static void *worker_main(void *arg)
{
    struct api_server *srv = arg;

    for (;;) {
        struct api_call *x;
        pthread_mutex_lock(&srv->qlock);
        while (!srv->qhead && !srv->qstop)
            pthread_cond_wait(&srv->qcond, &srv->qlock);
        x = srv->qhead;
        if (x) {
            srv->qhead = x->next;
            if (!srv->qhead)
                srv->qtail = NULL;
        }
        bool stop = srv->qstop;
        pthread_mutex_unlock(&srv->qlock);
        if (!x)
            break;
        if (stop)
            api_answer_error(x, 503, "the daemon is stopping");
        else
            run_call(x);
        x->answered = true;
        MHD_resume_connection(x->conn);
    }
    return NULL;
}

static void enqueue(struct api_server *srv, struct api_call *x)
{
    pthread_mutex_lock(&srv->qlock);
    x->next = NULL;
    if (srv->qtail)
        srv->qtail->next = x;
    else
        srv->qhead = x;
    srv->qtail = x;
    pthread_cond_signal(&srv->qcond);
    pthread_mutex_unlock(&srv->qlock);
}

/* ---------------------------------------------------------------- SSE */

static void sse_wake(struct sse_client *cl)
{
    if (cl->suspended) {
        cl->suspended = false;
        MHD_resume_connection(cl->conn);
    }
}

static void on_engine_event(void *ud, const char *event_json)
{
    struct api_server *srv = ud;

    pthread_mutex_lock(&srv->lock);
    uint64_t id = ++srv->next_event_id;
    for (struct sse_client *cl = srv->clients; cl; cl = cl->next) {
        if (cl->dropped)
            continue;
        if (cl->count == srv->sse_queue) {
            cl->dropped = true;
            log_warn(MOD, "SSE client dropped: %u events queued and not read (slow client)",
                     srv->sse_queue);
        } else {
            size_t slot = (cl->head + cl->count) % srv->sse_queue;
            cl->q[slot].id = id;
            cl->q[slot].json = xstrdup(event_json);
            cl->count++;
        }
        sse_wake(cl);
    }
    pthread_mutex_unlock(&srv->lock);
}

/* MHD thread: hand out framed bytes; with none, suspend until an event or heartbeat. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct sse_client *cl = cls;
    struct api_server *srv = cl->srv;
    ssize_t ret;

    (void)pos;
    pthread_mutex_lock(&srv->lock);
    for (;;) {
        if (cl->out_off < cl->out.len) {
            size_t n = cl->out.len - cl->out_off;
            if (n > max)
                n = max;
            memcpy(out, cl->out.data + cl->out_off, n);
            cl->out_off += n;
            if (cl->out_off == cl->out.len) {
                buf_reset(&cl->out);
                cl->out_off = 0;
            }
            ret = (ssize_t)n;
            break;
        }
        if (srv->stopping || cl->dropped) {
            ret = MHD_CONTENT_READER_END_OF_STREAM;
            break;
        }
        if (cl->count) {
            struct sse_event *ev = &cl->q[cl->head];
            api_sse_format(&cl->out, ev->id, "progress", ev->json);
            free(ev->json);
            ev->json = NULL;
            cl->head = (cl->head + 1) % srv->sse_queue;
            cl->count--;
            continue;
        }
        cl->suspended = true;
        MHD_suspend_connection(cl->conn);
        ret = 0;
        break;
    }
    pthread_mutex_unlock(&srv->lock);
    return ret;
}

static void sse_client_free(void *cls)
{
    struct sse_client *cl = cls;
    struct api_server *srv = cl->srv;

    pthread_mutex_lock(&srv->lock);
    for (struct sse_client **pp = &srv->clients; *pp; pp = &(*pp)->next) {
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    }
    srv->n_clients--;
    pthread_mutex_unlock(&srv->lock);
    for (size_t i = 0; i < cl->count; i++)
        free(cl->q[(cl->head + i) % srv->sse_queue].json);
    free(cl->q);
    buf_cleanup(&cl->out);
    free(cl);
}

static enum MHD_Result serve_events(struct api_server *srv, struct MHD_Connection *c)
{
    struct sse_client *cl;
    struct MHD_Response *r;

    pthread_mutex_lock(&srv->lock);
    if (srv->n_clients >= SSE_MAX || srv->stopping) {
        pthread_mutex_unlock(&srv->lock);
        return queue_error(c, 503, "too many event streams are open; close one and retry");
    }
    cl = xcalloc(1, sizeof *cl);
    cl->srv = srv;
    cl->conn = c;
    cl->q = xcalloc(srv->sse_queue, sizeof *cl->q);
    cl->next_beat_ms = clock_mono_ms() + srv->heartbeat_ms;
    buf_init(&cl->out);
    buf_puts(&cl->out, "retry: 3000\n: connected\n\n");
    cl->next = srv->clients;
    srv->clients = cl;
    srv->n_clients++;
    pthread_cond_signal(&srv->tcond); /* its heartbeats */
    pthread_mutex_unlock(&srv->lock);

    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, cl, sse_client_free);
    if (!r) {
        sse_client_free(cl);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    /* A stream that ends (dropped client, shutdown) ends its connection too. */
    MHD_add_response_header(r, "Connection", "close");
    api_common_headers(r);
    return queue_response(c, 200, r);
}

/* ---------------------------------------------------------------- connections and the timer */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct api_server *srv = cls;
    struct conn_info *ci = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        ci = xcalloc(1, sizeof *ci);
        ci->fd = fd ? fd->connect_fd : -1;
        ci->since_ms = clock_mono_ms();
        str_lcpy(ci->client, "?", sizeof ci->client);
        if (ad && ad->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ad->client_addr)->sin_addr, ci->client,
                      sizeof ci->client);
        else if (ad && ad->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ad->client_addr)->sin6_addr,
                      ci->client, sizeof ci->client);
        pthread_mutex_lock(&srv->lock);
        ci->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = ci;
        srv->conns = ci;
        srv->n_conns++;
        pthread_cond_signal(&srv->tcond); /* the timer watches its headers */
        pthread_mutex_unlock(&srv->lock);
        *socket_context = ci;
    } else if (ci) {
        pthread_mutex_lock(&srv->lock);
        if (ci->prev)
            ci->prev->next = ci->next;
        else
            srv->conns = ci->next;
        if (ci->next)
            ci->next->prev = ci->prev;
        srv->n_conns--;
        pthread_mutex_unlock(&srv->lock);
        free(ci);
        *socket_context = NULL;
    }
}

/* Connections from the same address as ci (lock held). */
static unsigned same_client(struct api_server *srv, const struct conn_info *ci)
{
    unsigned n = 0;

    for (struct conn_info *o = srv->conns; o; o = o->next)
        n += str_eq(o->client, ci->client);
    return n;
}

/* Timer thread: cut connections whose headers trickle; SSE heartbeats.  With neither a
 * connection still reading its headers nor an event stream it sleeps until one appears
 * (on_connection and serve_events signal tcond): an idle daemon takes no wakeups here. */
static void *timer_main(void *arg)
{
    struct api_server *srv = arg;
    struct timespec ts;

    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping) {
        int64_t now = clock_mono_ms(), wait_ms = TIMER_MS;
        bool pending = srv->clients != NULL;
        for (struct conn_info *ci = srv->conns; ci; ci = ci->next) {
            char peek;
            if (ci->headers_done || ci->cut || ci->fd < 0)
                continue;
            pending = true;
            if (now - ci->since_ms < HALF_CLOSE_GRACE_MS) { /* look again once it is old enough */
                int64_t left = ci->since_ms + HALF_CLOSE_GRACE_MS - now;
                wait_ms = left < wait_ms ? left : wait_ms;
                continue;
            }
            /* headers too slow, or the client hung up half-way (MHD would wait for more) */
            if (now - ci->since_ms > (int64_t)srv->header_timeout_ms ||
                recv(ci->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
                ci->cut = true;
                shutdown(ci->fd, SHUT_RDWR); /* MHD sees the end and closes it */
            }
        }
        for (struct sse_client *cl = srv->clients; cl; cl = cl->next) {
            if (now >= cl->next_beat_ms) {
                cl->next_beat_ms = now + srv->heartbeat_ms;
                if (!cl->dropped && cl->count == 0)
                    api_sse_heartbeat(&cl->out);
                sse_wake(cl);
            }
        }
        if (!pending && !srv->stopping) {
            pthread_cond_wait(&srv->tcond, &srv->lock);
            continue;
        }
        ts = clock_deadline_ts(CLOCK_MONOTONIC, wait_ms);
        pthread_cond_timedwait(&srv->tcond, &srv->lock, &ts);
    }
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}
/* ---------------------------------------------------------------- static assets */

static enum MHD_Result queue_asset(struct MHD_Connection *c, const char *mime, const char *etag,
                                   const void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    bool not_modified = api_etag_matches(inm, etag);
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (not_modified) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free((void *)data);
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(len, (void *)data, mode);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    if (!not_modified)
        MHD_add_response_header(r, "Content-Type", mime);
    api_common_headers(r);
    ret = MHD_queue_response(c, not_modified ? 304 : 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Development mode: read web_root/<path> (no dot segments, no hidden files). */
static enum MHD_Result serve_disk(struct api_server *srv, struct MHD_Connection *c, const char *url)
{
    const char *p = url;
    char path[2048], etag[32];
    struct stat st;
    int fd;

    while (*p == '/')
        p++;
    if (*p == '\0')
        p = "index.html";
    if (strstr(p, "/.") || p[0] == '.' || strchr(p, '\\'))
        return queue_error(c, 404, "no such page");
    if ((size_t)snprintf(path, sizeof path, "%s/%s", srv->web_root, p) >= sizeof path)
        return queue_error(c, 404, "no such page");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return queue_error(c, 404, "no such page");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > WEB_FILE_MAX) {
        close(fd);
        return queue_error(c, 404, "no such page");
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *data = xmalloc(len + 1);
    while (got < len) {
        ssize_t n = read(fd, data + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    api_etag_for(data, got, etag, sizeof etag);
    return queue_asset(c, api_mime_for(p), etag, data, got, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_static(struct api_server *srv, struct MHD_Connection *c,
                                    const char *url)
{
    const struct api_asset *a;

    if (srv->web_root)
        return serve_disk(srv, c, url);
    a = api_asset_find(url);
    if (!a)
        return queue_error(c, 404, "no such page");
    return queue_asset(c, a->mime, a->etag, a->data, a->len, MHD_RESPMEM_PERSISTENT);
}

/* ---------------------------------------------------------------- requests */

struct qscan {
    const char *const *allowed;
    const char *bad;
    struct api_query *q;
};

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct qscan *s = cls;

    (void)kind;
    for (const char *const *a = s->allowed; *a; a++) {
        if (str_eq(*a, key)) {
            const char **slot = str_eq(key, "view")      ? &s->q->view
                                : str_eq(key, "sort")    ? &s->q->sort
                                : str_eq(key, "raw")     ? &s->q->raw
                                : str_eq(key, "webhook") ? &s->q->webhook
                                : str_eq(key, "name")    ? &s->q->name
                                                         : &s->q->limit;
            *slot = value ? value : "";
            return MHD_YES;
        }
    }
    if (!s->bad)
        s->bad = key;
    return MHD_YES;
}

static struct conn_info *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return i ? i->socket_context : NULL;
}

/* Refuse browser requests from other origins (cross-site forms). */
static bool origin_ok(struct MHD_Connection *c)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    const char *p;

    if (!origin)
        return true;
    p = strstr(origin, "://");
    return p && host && strcmp(p + 3, host) == 0;
}

/* Over the per-address or total limits?  Lock-free reads of counters are fine as a hint. */
static bool over_limits(struct api_server *srv, struct conn_info *ci, char *msg, size_t msgsz)
{
    unsigned same = 0, total;

    pthread_mutex_lock(&srv->lock);
    if (ci) {
        ci->headers_done = true;
        same = same_client(srv, ci);
    }
    total = srv->n_conns;
    pthread_mutex_unlock(&srv->lock);
    if (ci && same > srv->max_per_ip) {
        snprintf(msg, msgsz, "too many connections from %s (%u, limit %u); retry later", ci->client,
                 same, srv->max_per_ip);
        return true;
    }
    if (total + 4 > srv->max_conns) {
        snprintf(msg, msgsz, "the server is at its connection limit (%u); retry later",
                 srv->max_conns);
        return true;
    }
    return false;
}

static bool json_body(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    return ct && str_has_prefix(ct, "application/json");
}

/* POST /files with the update file as the body: refuse at once what is over the size limit (or
 * not the admin), else stream the body to the engine's file store as it arrives. */
static enum MHD_Result upload_start(struct api_server *srv, struct MHD_Connection *c,
                                    struct api_call *x, const char *cl)
{
    struct err e = {0};
    uint64_t n = 0;
    int64_t declared =
        cl && str_to_uint64(cl, &n) == 0 ? (int64_t)(n > INT64_MAX ? INT64_MAX : n) : -1;

    if (x->role != API_ROLE_ADMIN)
        return queue_error(c, 403,
                           "the read-only API token cannot change anything; use the admin token");
    if (engine_file_upload_begin(srv->eng, x->q.name, declared, &x->upload, &e) != 0)
        return queue_error(c, (unsigned)api_status_for(e.code), e.msg);
    x->streaming = true;
    return MHD_YES;
}

/* A piece of a streamed update file (MHD thread).  Over the limit the rest is read and
 * dropped, and the answer is 413. */
static void upload_chunk(struct api_call *x, const char *data, size_t n)
{
    struct err e = {0};

    if (!x->upload || x->upload_rc)
        return;
    if (engine_file_upload_write(x->upload, data, n, &e) != 0) {
        x->upload_rc = e.code;
        str_lcpy(x->upload_msg, e.msg, sizeof x->upload_msg);
        engine_file_upload_abort(x->upload);
        x->upload = NULL;
    }
}

/* First call of a request: headers only.  Refuse early what needs no body. */
static enum MHD_Result request_start(struct api_server *srv, struct MHD_Connection *c,
                                     const char *url, const char *method, struct api_call *x)
{
    struct conn_info *ci = conn_of(c);
    char msg[160];
    int st = api_route(method, url, &x->m);

    if (ci)
        str_lcpy(x->client, ci->client, sizeof x->client);
    if (over_limits(srv, ci, msg, sizeof msg))
        return queue_error(c, 503, msg);
    if (!api_host_allowed(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
                          srv->server_names))
        return queue_error(c, 421,
                           "the Host header names neither this server's address nor a "
                           "configured server name (setting server_names)");
    if (st == 404)
        return queue_error(c, 404, "no such route");
    if (st == 405)
        return queue_error_ex(c, 405, "method_not_allowed", "method not allowed here", x->m.allow);
    if (x->m.route != API_R_STATIC) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        struct qscan qs = {.allowed = api_route_query_args(x->m.route), .q = &x->q};
        if (!origin_ok(c))
            return queue_error(c, 403, "cross-origin requests are refused");
        x->role = api_auth_role(srv->token, srv->read_token, auth);
        if (x->role == API_ROLE_NONE)
            return queue_error(c, 401,
                               auth ? "the API token is wrong"
                                    : "an API token is required (Authorization: Bearer "
                                      "<token>; the daemon's token file holds it)");
        token_id_of(auth, x->token_id);
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_iter, &qs);
        if (qs.bad) {
            snprintf(msg, sizeof msg, "unknown query parameter '%.100s'", qs.bad);
            return queue_error(c, 400, msg);
        }
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    const char *rt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Timeout");
    uint64_t n;
    if (x->m.route == API_R_FILES && str_eq(method, "POST") && !json_body(c))
        return upload_start(srv, c, x, cl);
    if (cl && str_to_uint64(cl, &n) == 0 && n > srv->max_body) {
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", srv->max_body);
        return queue_error(c, 413, msg);
    }
    /* the caller's own timeout, in seconds: after it, the request is never carried out */
    if (rt && str_to_uint64(rt, &n) == 0 && n > 0 && n < 86400)
        x->deadline_ms = clock_mono_ms() + (int64_t)n * 1000 - 250;
    if (str_eq(method, "GET"))
        x->max_age_ms =
            api_cache_max_age_ms(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cache-Control"));
    return MHD_YES;
}

/* Last call of a request: the body is in.  Static and SSE here; the rest to a worker. */
static enum MHD_Result request_ready(struct api_server *srv, struct MHD_Connection *c,
                                     const char *url, struct api_call *x)
{
    if (x->streaming && x->upload_rc)
        return queue_error(c, (unsigned)api_status_for(x->upload_rc), x->upload_msg);
    if (x->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", srv->max_body);
        return queue_error(c, 413, msg);
    }
    if (x->m.route == API_R_STATIC)
        return serve_static(srv, c, url);
    if (!api_method_mutates(x->method) && x->body.len)
        return queue_error(c, 400, "a GET request has no body");
    if (api_method_mutates(x->method) && x->body.len && !x->streaming) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || !str_has_prefix(ct, "application/json"))
            return queue_error(c, 415, "request bodies must be application/json");
    }
    if (x->m.route == API_R_EVENTS)
        return serve_events(srv, c);
    x->path = xstrdup(url);
    x->queued = true;
    MHD_suspend_connection(c);
    enqueue(srv, x);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api_server *srv = cls;
    struct api_call *x = *con_cls;

    (void)version;
    if (!x) {
        x = xcalloc(1, sizeof *x);
        x->srv = srv;
        x->conn = c;
        x->method = method;
        buf_init(&x->body);
        *con_cls = x;
        return request_start(srv, c, url, method, x);
    }
    if (x->answered) {
        struct MHD_Response *r = x->resp;
        x->resp = NULL;
        return queue_response(c, x->status, r);
    }
    if (x->queued)
        return MHD_YES; /* resumed without an answer: cannot happen, wait */
    if (*upload_data_size && x->streaming) {
        upload_chunk(x, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!x->too_large && x->body.len + *upload_data_size <= srv->max_body)
            buf_append(&x->body, upload_data, *upload_data_size);
        else
            x->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return request_ready(srv, c, url, x);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    struct api_call *x = *con_cls;
    struct conn_info *ci = conn_of(c);

    (void)toe;
    if (ci) { /* the next request on this connection gets its own header deadline */
        pthread_mutex_lock(&srv->lock);
        ci->headers_done = false;
        ci->since_ms = clock_mono_ms();
        pthread_cond_signal(&srv->tcond);
        pthread_mutex_unlock(&srv->lock);
    }
    if (x) {
        if (x->resp)
            MHD_destroy_response(x->resp);
        engine_file_upload_abort(x->upload); /* the client went away half-way */
        buf_cleanup(&x->body);
        free(x->path);
        free(x);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_warn(MOD, "httpd: %s", line);
}
/* ---------------------------------------------------------------- lifecycle */

static int sockaddr_for(const char *addr, uint16_t port, struct sockaddr_storage *ss,
                        unsigned *flags, struct err *e)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            return err_set(e, PP_EINVAL, "listen: '%s' is not a numeric IPv6 address", addr);
        *flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            return err_set(e, PP_EINVAL, "listen: '%s' is not a numeric IPv4 address", addr);
    }
    return 0;
}

static struct api_server *server_alloc(const struct api_config *cfg, struct engine *eng)
{
    struct api_server *srv = xcalloc(1, sizeof *srv);
    pthread_condattr_t ca;

    srv->eng = eng;
    str_lcpy(srv->token, cfg->token, sizeof srv->token);
    if (cfg->read_token)
        str_lcpy(srv->read_token, cfg->read_token, sizeof srv->read_token);
    srv->server_names = xstrdup(cfg->server_names ? cfg->server_names : "");
    srv->web_root = cfg->web_root && *cfg->web_root ? xstrdup(cfg->web_root) : NULL;
    srv->max_body = cfg->max_body ? cfg->max_body : API_DEFAULT_MAX_BODY;
    srv->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : API_DEFAULT_HEARTBEAT_MS;
    srv->sse_queue = cfg->sse_queue ? cfg->sse_queue : API_DEFAULT_SSE_QUEUE;
    srv->max_conns = cfg->max_connections ? cfg->max_connections : API_DEFAULT_MAX_CONNECTIONS;
    srv->max_per_ip = cfg->max_per_ip ? cfg->max_per_ip : API_DEFAULT_MAX_PER_IP;
    srv->header_timeout_ms =
        1000 * (cfg->header_timeout_s ? cfg->header_timeout_s : API_DEFAULT_HEADER_TIMEOUT_S);
    srv->n_workers = cfg->workers ? cfg->workers : API_DEFAULT_WORKERS;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->qlock, NULL);
    pthread_mutex_init(&srv->alock, NULL);
    pthread_cond_init(&srv->qcond, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->tcond, &ca);
    pthread_condattr_destroy(&ca);
    return srv;
}

/* Stop threads (workers answer what is queued), resume every suspended connection, stop MHD. */
static void server_stop(struct api_server *srv)
{
    pthread_mutex_lock(&srv->qlock);
    srv->qstop = true;
    pthread_cond_broadcast(&srv->qcond);
    pthread_mutex_unlock(&srv->qlock);
    for (unsigned i = 0; i < srv->n_workers && srv->workers; i++) {
        if (srv->workers[i])
            pthread_join(srv->workers[i], NULL);
    }
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    for (struct sse_client *cl = srv->clients; cl; cl = cl->next)
        sse_wake(cl);
    pthread_cond_signal(&srv->tcond);
    pthread_mutex_unlock(&srv->lock);
    if (srv->timer_started)
        pthread_join(srv->timer, NULL);
    if (srv->d)
        MHD_stop_daemon(srv->d);
}

static void server_release(struct api_server *srv)
{
    store_close(srv->audit);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->qlock);
    pthread_mutex_destroy(&srv->alock);
    pthread_cond_destroy(&srv->qcond);
    pthread_cond_destroy(&srv->tcond);
    explicit_bzero(srv->token, sizeof srv->token);
    explicit_bzero(srv->read_token, sizeof srv->read_token);
    free(srv->workers);
    free(srv->server_names);
    free(srv->web_root);
    free(srv);
}

static int start_threads(struct api_server *srv, struct err *e)
{
    srv->workers = xcalloc(srv->n_workers, sizeof *srv->workers);
    for (unsigned i = 0; i < srv->n_workers; i++) {
        if (pthread_create(&srv->workers[i], NULL, worker_main, srv) != 0)
            return err_set(e, PP_ENOMEM, "cannot start the API's worker threads");
    }
    if (pthread_create(&srv->timer, NULL, timer_main, srv) != 0)
        return err_set(e, PP_ENOMEM, "cannot start the API's timer thread");
    srv->timer_started = true;
    return 0;
}

int api_server_new(const struct api_config *cfg, struct engine *eng, struct api_server **out,
                   struct err *e)
{
    struct api_server *srv;
    struct sockaddr_storage ss;
    const char *addr = cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    int rc;

    *out = NULL;
    if (!cfg->token || !*cfg->token)
        return err_set(e, PP_EINVAL, "the API needs a token");
    if (cfg->read_token && api_token_equal(cfg->token, cfg->read_token))
        return err_set(e, PP_EINVAL, "the read-only token must differ from the admin token");
    if ((rc = sockaddr_for(addr, cfg->port, &ss, &flags, e)) != 0)
        return rc;
    srv = server_alloc(cfg, eng);
    if (cfg->db_path && (rc = store_open(cfg->db_path, NULL, &srv->audit, e)) != 0) {
        err_prefix(e, "the audit log: ");
        server_release(srv);
        return rc;
    }
    srv->sub_id = engine_subscribe(eng, on_engine_event, srv);
    if (srv->sub_id <= 0) {
        rc = srv->sub_id < 0 ? srv->sub_id : PP_ESTATE;
        server_release(srv);
        return err_set(e, rc, "cannot subscribe to the engine's progress events");
    }
    if ((rc = start_threads(srv, e)) == 0) {
        srv->d = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
            srv->max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->max_per_ip + 16,
            MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)(cfg->conn_timeout_s ? cfg->conn_timeout_s : API_DEFAULT_CONN_TIMEOUT_S),
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_END);
        if (!srv->d)
            rc = err_set(e, PP_EIO, "cannot listen on %s port %u: %s", addr, cfg->port,
                         strerror(errno));
    }
    if (rc != 0) {
        engine_unsubscribe(eng, srv->sub_id);
        server_stop(srv);
        server_release(srv);
        return rc;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    log_info(MOD, "listening on %s port %u", addr, srv->port);
    *out = srv;
    return 0;
}

uint16_t api_server_port(const struct api_server *srv)
{
    return srv->port;
}

unsigned api_server_sse_clients(struct api_server *srv)
{
    unsigned n;

    pthread_mutex_lock(&srv->lock);
    n = srv->n_clients;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

void api_server_free(struct api_server *srv)
{
    if (!srv)
        return;
    engine_unsubscribe(srv->eng, srv->sub_id);
    server_stop(srv);
    server_release(srv);
}
