/* SPDX-License-Identifier: MIT */
/*
 * api_server.c - libmicrohttpd in front of the engine: request bodies with limits, Bearer auth,
 * the /api/v1 handlers (engine JSON passed through), the SSE progress stream with bounded
 * per-client queues and heartbeats, and the web assets with ETag / 304.
 *
 * Threads: MHD runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION), because every
 * engine_* request blocks its caller until the engine thread answers and an SSE stream waits
 * for events; each of those waits then holds only its own connection's thread.  The number of
 * threads is bounded by the connection limit, and SSE clients by half of it.  The engine's
 * event callback only copies the event into each client's queue under srv->lock.
 */
#include "api/api.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOD            "api"
#define BODY_MAX_DEPTH 16
#define LIST_MAX       1024 /* items in pools / updates / ids arrays */
#define WEB_FILE_MAX   (8u * 1024 * 1024)

struct sse_event {
    uint64_t id;
    char *json;
};

struct sse_client {
    struct api_server *srv;
    struct sse_client *next;
    pthread_cond_t cond;
    struct sse_event *q; /* ring of srv->sse_queue events */
    size_t head, count;
    struct buf out; /* framed bytes not yet handed to MHD */
    size_t out_off;
    bool dropped;
};

struct api_server {
    struct MHD_Daemon *d;
    struct engine *eng;
    char token[API_TOKEN_MAX];
    char *web_root;
    size_t max_body;
    unsigned heartbeat_ms;
    unsigned sse_queue;
    unsigned sse_max;
    uint16_t port;
    int sub_id;
    pthread_mutex_t lock; /* guards everything below */
    struct sse_client *clients;
    unsigned n_clients;
    uint64_t next_event_id;
    bool stopping;
};

/* Per-request state (MHD's con_cls). */
struct req {
    struct buf body;
    bool too_large;
};

/* ---------------------------------------------------------------- responses */

static void add_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
}

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                  char *text_take, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text_take, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!r) {
        free(text_take);
        return MHD_NO;
    }
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    add_common_headers(r);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_error_ex(struct MHD_Connection *c, unsigned status, const char *code,
                                      const char *msg, const char *xapi, const char *allow)
{
    struct buf b;
    struct MHD_Response *r;
    enum MHD_Result ret;

    buf_init(&b);
    api_error_json(&b, code, msg, xapi);
    size_t len = b.len;
    r = MHD_create_response_from_buffer(len, buf_take(&b), MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    add_common_headers(r);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"poolpatch\"");
    if (allow)
        MHD_add_response_header(r, "Allow", allow);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return queue_error_ex(c, status, api_error_code((int)status, 0), msg, NULL, NULL);
}

/* Map an engine failure to its status and body. */
static enum MHD_Result queue_err(struct MHD_Connection *c, int rc, const struct err *e)
{
    int status = api_status_for(rc);
    const char *msg = e->msg[0] ? e->msg : err_code_name(rc);

    if (status >= 500)
        log_warn(MOD, "request failed (%d): %s", status, msg);
    return queue_error_ex(c, (unsigned)status, api_error_code(status, rc), msg,
                          rc == PP_EXAPI ? e->xapi_code : NULL, NULL);
}

static enum MHD_Result queue_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);

    if (!text)
        return queue_error(c, 500, "could not encode the engine's answer as JSON");
    return queue_text(c, status, "application/json", text, strlen(text));
}

static enum MHD_Result queue_empty(struct MHD_Connection *c, unsigned status)
{
    return queue_text(c, status, NULL, xstrdup(""), 0);
}

/* ---------------------------------------------------------------- request parsing */

struct qctx {
    const char *const *allowed;
    const char *bad;
    const char *view;
    const char *sort;
};

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct qctx *q = cls;
    (void)kind;
    for (const char *const *a = q->allowed; *a; a++) {
        if (str_eq(*a, key)) {
            if (str_eq(key, "view"))
                q->view = value ? value : "";
            else if (str_eq(key, "sort"))
                q->sort = value ? value : "";
            return MHD_YES;
        }
    }
    if (!q->bad)
        q->bad = key;
    return MHD_YES;
}

/* Collect the known query arguments; 0 or a 400 message in e naming the unknown parameter. */
static int parse_query(struct MHD_Connection *c, const char *const *allowed, struct qctx *q,
                       struct err *e)
{
    memset(q, 0, sizeof *q);
    q->allowed = allowed;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_iter, q);
    if (q->bad)
        return err_set(e, PP_EINVAL, "unknown query parameter '%s'", q->bad);
    return 0;
}

static int parse_view(const char *s, enum engine_view *v, struct err *e)
{
    if (!s || str_eq(s, "by-update"))
        *v = ENGINE_VIEW_BY_UPDATE;
    else if (str_eq(s, "by-server"))
        *v = ENGINE_VIEW_BY_SERVER;
    else
        return err_set(e, PP_EINVAL, "view: '%s' is not by-update or by-server", s);
    return 0;
}

/*
 * Parse the request body as one JSON object (empty body -> empty object when allow_empty).
 * On error returns NULL with e filled (400/413 codes mapped by caller via e->code).
 */
static json_t *parse_body(struct api_server *srv, struct req *rq, bool allow_empty, struct err *e)
{
    json_t *v = NULL;

    if (rq->body.len == 0) {
        if (allow_empty)
            return json_object();
        err_set(e, PP_EINVAL, "request body: a JSON object is required");
        return NULL;
    }
    if (jsonx_load(rq->body.data, rq->body.len, srv->max_body, BODY_MAX_DEPTH, "request body", &v,
                   e) != 0) {
        /* syntax, and nesting over the depth limit (size was checked already): bad input */
        if (e->code == PP_EPARSE || e->code == PP_ELIMIT)
            e->code = PP_EINVAL;
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        err_set(e, PP_EINVAL, "request body: expected a JSON object");
        return NULL;
    }
    return v;
}

/* Turn jansson's unpack failure into a message naming the key(s). */
static int unpack_failed(const json_error_t *je, struct err *e)
{
    const char *t = je->text;
    const char *p = strstr(t, "left unpacked: ");

    if (p)
        return err_set(e, PP_EINVAL, "request body: unknown field(s): %s",
                       p + strlen("left unpacked: "));
    return err_set(e, PP_EINVAL, "request body: %s", t);
}

static int want_string(const char *field, json_t *v, bool required, const char **out, struct err *e)
{
    if (!v) {
        *out = NULL;
        if (required)
            return err_set(e, PP_EINVAL, "%s: required", field);
        return 0;
    }
    if (json_is_null(v) && !required) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return err_set(e, PP_EINVAL, "%s: expected a string", field);
    *out = json_string_value(v);
    if (required && !**out)
        return err_set(e, PP_EINVAL, "%s: must not be empty", field);
    if (strlen(*out) != json_string_length(v))
        return err_set(e, PP_EINVAL, "%s: must not contain NUL bytes", field);
    return 0;
}

static int want_bool(const char *field, json_t *v, bool def, bool *out, struct err *e)
{
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(e, PP_EINVAL, "%s: expected true or false", field);
    *out = json_is_true(v);
    return 0;
}

/* max_parallel: an integer 0 (as capacity allows) .. 64 (XenServer's most hosts in a pool). */
static int want_max_parallel(json_t *v, int *out, struct err *e)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 64)
        return err_set(e, PP_EINVAL,
                       "max_parallel: expected an integer from 0 (as capacity allows) to 64");
    *out = (int)json_integer_value(v);
    return 0;
}

/* An array of non-empty strings -> a new array of borrowed pointers (caller frees). */
static int want_strings(const char *field, json_t *v, const char ***out, size_t *n, struct err *e)
{
    size_t i;
    json_t *x;

    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return err_set(e, PP_EINVAL, "%s: expected an array of strings", field);
    if (json_array_size(v) > LIST_MAX)
        return err_set(e, PP_EINVAL, "%s: more than %d items", field, LIST_MAX);
    *out = xcalloc(json_array_size(v) + 1, sizeof **out);
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x) || json_string_length(x) == 0 ||
            strlen(json_string_value(x)) != json_string_length(x)) {
            free(*out);
            *out = NULL;
            return err_set(e, PP_EINVAL, "%s[%zu]: expected a non-empty string", field, i);
        }
        (*out)[i] = json_string_value(x);
    }
    *n = json_array_size(v);
    return 0;
}

/* Body of POST /plans and /rollouts.  Strings stay borrowed from body. */
static int parse_plan_req(json_t *body, struct engine_plan_req *req, struct err *e)
{
    json_t *pools = NULL, *automated = NULL, *updates = NULL, *file = NULL, *policy = NULL,
           *stay = NULL, *maxp = NULL;
    json_error_t je;
    const char *pol = NULL;
    const char **pl = NULL, **ul = NULL;
    bool has_auto;
    int rc;

    memset(req, 0, sizeof *req);
    if (json_unpack_ex(body, &je, 0, "{s?o s?o s?o s?o s?o s?o s?o !}", "pools", &pools,
                       "automated", &automated, "updates", &updates, "file", &file, "policy",
                       &policy, "stay_on_release", &stay, "max_parallel", &maxp) != 0)
        return unpack_failed(&je, e);
    if ((rc = want_strings("pools", pools, &pl, &req->n_pools, e)) != 0)
        return rc;
    if ((rc = want_strings("updates", updates, &ul, &req->n_updates, e)) != 0)
        goto fail;
    req->pools = pl;
    req->updates = ul;
    if ((rc = want_string("file", file, false, &req->file, e)) != 0)
        goto fail;
    if ((rc = want_string("policy", policy, false, &pol, e)) != 0)
        goto fail;
    if (!pol || str_eq(pol, "return")) /* the default: VMs back home */
        req->policy = ENGINE_POLICY_RETURN;
    else if (str_eq(pol, "minimal"))
        req->policy = ENGINE_POLICY_MINIMAL;
    else {
        rc = err_set(e, PP_EINVAL, "policy: '%s' is not minimal or return", pol);
        goto fail;
    }
    if ((rc = want_bool("stay_on_release", stay, false, &req->stay_on_release, e)) != 0)
        goto fail;
    if ((rc = want_max_parallel(maxp, &req->max_parallel, e)) != 0)
        goto fail;
    has_auto = automated && !json_is_null(automated);
    if ((rc = want_bool("automated", automated, false, &req->automated, e)) != 0)
        goto fail;
    if (req->automated && (req->n_updates || req->file)) {
        rc = err_set(e, PP_EINVAL, "automated: cannot be combined with updates or file");
        goto fail;
    }
    if (req->n_updates && req->file) {
        rc = err_set(e, PP_EINVAL, "file: cannot be combined with updates");
        goto fail;
    }
    if (!has_auto && !req->n_updates && !req->file)
        req->automated = true; /* nothing chosen: the minimal set per host */
    if (!req->automated && !req->n_updates && !req->file) {
        rc = err_set(e, PP_EINVAL, "updates: choose updates, a file, or automated: true");
        goto fail;
    }
    return 0;
fail:
    free(pl);
    free(ul);
    req->pools = req->updates = NULL;
    return rc;
}

/* ---------------------------------------------------------------- SSE */

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
        pthread_cond_signal(&cl->cond);
    }
    pthread_mutex_unlock(&srv->lock);
}

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
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += srv->heartbeat_ms / 1000;
        ts.tv_nsec += (long)(srv->heartbeat_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&cl->cond, &srv->lock, &ts) == ETIMEDOUT && cl->count == 0 &&
            !srv->stopping && !cl->dropped)
            api_sse_heartbeat(&cl->out);
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
    pthread_cond_destroy(&cl->cond);
    free(cl);
}

static enum MHD_Result serve_events(struct api_server *srv, struct MHD_Connection *c)
{
    struct sse_client *cl;
    struct MHD_Response *r;
    pthread_condattr_t ca;
    enum MHD_Result ret;

    pthread_mutex_lock(&srv->lock);
    if (srv->n_clients >= srv->sse_max || srv->stopping) {
        pthread_mutex_unlock(&srv->lock);
        return queue_error(c, 503, "too many event streams are open; close one and retry");
    }
    cl = xcalloc(1, sizeof *cl);
    cl->srv = srv;
    cl->q = xcalloc(srv->sse_queue, sizeof *cl->q);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cl->cond, &ca);
    pthread_condattr_destroy(&ca);
    buf_init(&cl->out);
    buf_puts(&cl->out, "retry: 3000\n: connected\n\n");
    cl->next = srv->clients;
    srv->clients = cl;
    srv->n_clients++;
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
    add_common_headers(r);
    ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
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
    add_common_headers(r);
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

/* ---------------------------------------------------------------- API handlers */

static enum MHD_Result handle_api(struct api_server *srv, struct MHD_Connection *c,
                                  const struct api_match *m, const char *method, struct req *rq)
{
    static const char *const no_args[] = {NULL};
    static const char *const view_sort[] = {"view", "sort", NULL};
    static const char *const view_only[] = {"view", NULL};
    struct err e = {0};
    json_t *out = NULL, *body = NULL;
    struct qctx q;
    enum MHD_Result ret;
    int rc;

    const char *const *args = m->route == API_R_UPDATES       ? view_sort
                              : m->route == API_R_UPDATES_CSV ? view_only
                                                              : no_args;
    if (parse_query(c, args, &q, &e) != 0)
        return queue_err(c, PP_EINVAL, &e);
    if (!api_method_mutates(method) && rq->body.len)
        return queue_error(c, 400, "a GET request has no body");
    if (api_method_mutates(method) && rq->body.len) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || !str_has_prefix(ct, "application/json"))
            return queue_error(c, 415, "request bodies must be application/json");
    }

    switch (m->route) {
    case API_R_POOLS:
        if (str_eq(method, "POST")) {
            struct engine_pool_spec spec = {0};
            json_t *jn = NULL, *ju = NULL, *jus = NULL, *jp = NULL, *jc = NULL;
            json_error_t je;
            if (!(body = parse_body(srv, rq, false, &e)))
                return queue_err(c, e.code, &e);
            if (json_unpack_ex(body, &je, 0, "{s?o s?o s?o s?o s?o !}", "name", &jn, "url", &ju,
                               "username", &jus, "password", &jp, "ca_file", &jc) != 0)
                rc = unpack_failed(&je, &e);
            else if ((rc = want_string("name", jn, false, &spec.name, &e)) == 0 &&
                     (rc = want_string("url", ju, true, &spec.url, &e)) == 0 &&
                     (rc = want_string("username", jus, true, &spec.username, &e)) == 0 &&
                     (rc = want_string("password", jp, true, &spec.password, &e)) == 0)
                rc = want_string("ca_file", jc, false, &spec.ca_file, &e);
            if (rc == 0 && !str_has_prefix(spec.url, "http://") &&
                !str_has_prefix(spec.url, "https://"))
                rc = err_set(&e, PP_EINVAL, "url: '%s' must start with https:// or http://",
                             spec.url);
            if (rc == 0)
                rc = engine_pool_add(srv->eng, &spec, &out, &e);
            ret = rc ? queue_err(c, rc, &e) : queue_json(c, 201, out);
            break;
        }
        rc = engine_pools(srv->eng, &out, &e);
        ret = rc ? queue_err(c, rc, &e) : queue_json(c, 200, out);
        break;
    case API_R_POOL:
        rc = engine_pool_remove(srv->eng, m->param, &e);
        ret = rc ? queue_err(c, rc, &e) : queue_empty(c, 204);
        break;
    case API_R_UPDATES: {
        enum engine_view view = ENGINE_VIEW_BY_UPDATE;
        enum engine_sort sort = ENGINE_SORT_DATE;
        if ((rc = parse_view(q.view, &view, &e)) == 0) {
            if (q.sort && str_eq(q.sort, "pool"))
                sort = ENGINE_SORT_POOL;
            else if (q.sort && !str_eq(q.sort, "date"))
                rc = err_set(&e, PP_EINVAL, "sort: '%s' is not date or pool", q.sort);
        }
        if (rc == 0)
            rc = engine_updates_view(srv->eng, view, sort, &out, &e);
        ret = rc ? queue_err(c, rc, &e) : queue_json(c, 200, out);
        break;
    }
    case API_R_UPDATES_CSV: {
        enum engine_view view = ENGINE_VIEW_BY_UPDATE;
        char *csv = NULL;
        if ((rc = parse_view(q.view, &view, &e)) == 0)
            rc = engine_updates_csv(srv->eng, view, &csv, &e);
        if (rc) {
            ret = queue_err(c, rc, &e);
            break;
        }
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(csv), csv, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(csv);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/csv; charset=utf-8");
        MHD_add_response_header(r, "Content-Disposition",
                                view == ENGINE_VIEW_BY_SERVER
                                    ? "attachment; filename=\"updates-by-server.csv\""
                                    : "attachment; filename=\"updates-by-update.csv\"");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        add_common_headers(r);
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        break;
    }
    case API_R_UPDATES_CHECK:
    case API_R_UPDATES_RESTORE:
    case API_R_ROLLOUT_RETRY:
    case API_R_ROLLOUT_CANCEL:
        if (!(body = parse_body(srv, rq, true, &e)))
            return queue_err(c, e.code, &e);
        if (json_object_size(body)) {
            err_set(&e, PP_EINVAL, "request body: unknown field(s): %s",
                    json_object_iter_key(json_object_iter(body)));
            ret = queue_err(c, PP_EINVAL, &e);
            break;
        }
        if (m->route == API_R_UPDATES_CHECK) {
            rc = engine_updates_check(srv->eng, &out, &e);
            ret = rc ? queue_err(c, rc, &e) : queue_json(c, 200, out);
            break;
        }
        if (m->route == API_R_UPDATES_RESTORE)
            rc = engine_updates_restore(srv->eng, &e);
        else if (m->route == API_R_ROLLOUT_RETRY)
            rc = engine_rollout_retry(srv->eng, m->param, &e);
        else
            rc = engine_rollout_cancel(srv->eng, m->param, &e);
        ret = rc ? queue_err(c, rc, &e) : queue_empty(c, 204);
        break;
    case API_R_UPDATES_DISMISS: {
        json_t *ids = NULL, *all = NULL;
        json_error_t je;
        const char **idv = NULL;
        size_t n = 0;
        bool all_b = false;
        if (!(body = parse_body(srv, rq, false, &e)))
            return queue_err(c, e.code, &e);
        if (json_unpack_ex(body, &je, 0, "{s?o s?o !}", "ids", &ids, "all", &all) != 0)
            rc = unpack_failed(&je, &e);
        else if ((rc = want_strings("ids", ids, &idv, &n, &e)) == 0 &&
                 (rc = want_bool("all", all, false, &all_b, &e)) == 0) {
            if (all_b && n)
                rc = err_set(&e, PP_EINVAL, "all: cannot be combined with ids");
            else if (!all_b && !n)
                rc = err_set(&e, PP_EINVAL, "ids: give at least one update id, or all: true");
        }
        if (rc == 0)
            rc = engine_updates_dismiss(srv->eng, idv, n, all_b, &e);
        free(idv);
        ret = rc ? queue_err(c, rc, &e) : queue_empty(c, 204);
        break;
    }
    case API_R_PLANS:
    case API_R_ROLLOUTS:
        /* only POST starts anything: GET and HEAD list (HEAD is allowed wherever GET is) */
        if (m->route == API_R_ROLLOUTS && !str_eq(method, "POST")) {
            rc = engine_rollouts(srv->eng, &out, &e);
            ret = rc ? queue_err(c, rc, &e) : queue_json(c, 200, out);
            break;
        } else {
            struct engine_plan_req req;
            char *id = NULL;
            if (!(body = parse_body(srv, rq, true, &e)))
                return queue_err(c, e.code, &e);
            if ((rc = parse_plan_req(body, &req, &e)) != 0) {
                ret = queue_err(c, rc, &e);
                break;
            }
            if (m->route == API_R_PLANS)
                rc = engine_plan(srv->eng, &req, &out, &e);
            else
                rc = engine_rollout_start(srv->eng, &req, &id, &e);
            free((void *)req.pools);
            free((void *)req.updates);
            if (rc) {
                ret = queue_err(c, rc, &e);
            } else if (m->route == API_R_PLANS) {
                ret = queue_json(c, 200, out);
            } else {
                out = json_pack("{s:s}", "id", id);
                char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
                struct MHD_Response *r =
                    text
                        ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
                        : NULL;
                if (!r) {
                    free(text);
                    free(id);
                    ret = MHD_NO;
                    break;
                }
                char loc[API_PARAM_MAX + 32];
                snprintf(loc, sizeof loc, "/api/v1/rollouts/%s", id);
                MHD_add_response_header(r, "Content-Type", "application/json");
                MHD_add_response_header(r, "Location", loc);
                MHD_add_response_header(r, "Cache-Control", "no-store");
                add_common_headers(r);
                ret = MHD_queue_response(c, 201, r);
                MHD_destroy_response(r);
                free(id);
            }
        }
        break;
    case API_R_ROLLOUT:
        rc = engine_rollout_get(srv->eng, m->param, &out, &e);
        ret = rc ? queue_err(c, rc, &e) : queue_json(c, 200, out);
        break;
    case API_R_EVENTS:
        ret = serve_events(srv, c);
        break;
    case API_R_UPDATES_DOWNLOAD: {
        /* {"ids": [...]}: download update files into the daemon's cache */
        json_t *ids = NULL;
        json_error_t je;
        const char **idv = NULL;
        size_t n = 0;
        if (!(body = parse_body(srv, rq, false, &e)))
            return queue_err(c, e.code, &e);
        if (json_unpack_ex(body, &je, 0, "{s:o !}", "ids", &ids) != 0)
            rc = unpack_failed(&je, &e);
        else if ((rc = want_strings("ids", ids, &idv, &n, &e)) == 0 && n == 0)
            rc = err_set(&e, PP_EINVAL, "ids: give at least one update id or name");
        if (rc == 0)
            rc = engine_updates_download(srv->eng, idv, n, &out, &e);
        free(idv);
        ret = rc ? queue_err(c, rc, &e) : queue_json(c, 200, out);
        break;
    }
    case API_R_CLIENT_ID:
        /* the client ID file as uploaded; the engine checks its fields */
        if (!(body = parse_body(srv, rq, false, &e)))
            return queue_err(c, e.code, &e);
        rc = engine_client_id_import(srv->eng, rq->body.data, rq->body.len, &e);
        ret = rc ? queue_err(c, rc, &e) : queue_empty(c, 204);
        break;
    default:
        ret = queue_error(c, 404, "no such route");
        break;
    }
    json_decref(out);
    json_decref(body);
    return ret;
}

/* Refuse browser requests from other origins (DNS rebinding, cross-site forms). */
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api_server *srv = cls;
    struct req *rq = *con_cls;
    struct api_match m;
    int st;

    (void)version;
    if (!rq) {
        /* First call: headers only.  Refuse early what needs no body. */
        rq = xcalloc(1, sizeof *rq);
        buf_init(&rq->body);
        *con_cls = rq;
        st = api_route(method, url, &m);
        if (st == 404)
            return queue_error(c, 404, "no such route");
        if (st == 405)
            return queue_error_ex(c, 405, "method_not_allowed", "method not allowed here", NULL,
                                  m.allow);
        if (m.route != API_R_STATIC) {
            const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
            if (!origin_ok(c))
                return queue_error(c, 403, "cross-origin requests are refused");
            if (api_check_auth(srv->token, auth) != 0)
                return queue_error(c, 401,
                                   auth ? "the API token is wrong"
                                        : "an API token is required (Authorization: Bearer "
                                          "<token>; the daemon's token file holds it)");
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t n;
        if (cl && str_to_uint64(cl, &n) == 0 && n > srv->max_body) {
            char msg[96];
            snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", srv->max_body);
            return queue_error(c, 413, msg);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->too_large && rq->body.len + *upload_data_size <= srv->max_body)
            buf_append(&rq->body, upload_data, *upload_data_size);
        else
            rq->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", srv->max_body);
        return queue_error(c, 413, msg);
    }
    api_route(method, url, &m);
    if (m.route == API_R_STATIC)
        return serve_static(srv, c, url);
    if (api_method_mutates(method))
        log_info(MOD, "%s %s", method, url); /* an audit trail of changes (bodies not logged) */
    return handle_api(srv, c, &m, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (rq) {
        buf_cleanup(&rq->body);
        free(rq);
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

int api_server_new(const struct api_config *cfg, struct engine *eng, struct api_server **out,
                   struct err *e)
{
    struct api_server *srv;
    struct sockaddr_storage ss;
    const char *addr = cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    unsigned maxc = cfg->max_connections ? cfg->max_connections : API_DEFAULT_MAX_CONNECTIONS;

    *out = NULL;
    if (!cfg->token || !*cfg->token)
        return err_set(e, PP_EINVAL, "the API needs a token");
    memset(&ss, 0, sizeof ss);
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(cfg->port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            return err_set(e, PP_EINVAL, "listen: '%s' is not a numeric IPv6 address", addr);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(cfg->port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            return err_set(e, PP_EINVAL, "listen: '%s' is not a numeric IPv4 address", addr);
    }
    srv = xcalloc(1, sizeof *srv);
    srv->eng = eng;
    str_lcpy(srv->token, cfg->token, sizeof srv->token);
    srv->web_root = cfg->web_root && *cfg->web_root ? xstrdup(cfg->web_root) : NULL;
    srv->max_body = cfg->max_body ? cfg->max_body : API_DEFAULT_MAX_BODY;
    srv->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : API_DEFAULT_HEARTBEAT_MS;
    srv->sse_queue = cfg->sse_queue ? cfg->sse_queue : API_DEFAULT_SSE_QUEUE;
    srv->sse_max = maxc / 2 ? maxc / 2 : 1;
    pthread_mutex_init(&srv->lock, NULL);

    srv->sub_id = engine_subscribe(eng, on_engine_event, srv);
    if (srv->sub_id <= 0) {
        int rc = srv->sub_id < 0 ? srv->sub_id : PP_ESTATE;
        pthread_mutex_destroy(&srv->lock);
        free(srv->web_root);
        free(srv);
        return err_set(e, rc, "cannot subscribe to the engine's progress events");
    }
    srv->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, maxc,
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(cfg->conn_timeout_s ? cfg->conn_timeout_s : API_DEFAULT_CONN_TIMEOUT_S),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_END);
    if (!srv->d) {
        int saved = errno;
        engine_unsubscribe(eng, srv->sub_id);
        pthread_mutex_destroy(&srv->lock);
        free(srv->web_root);
        free(srv);
        return err_set(e, PP_EIO, "cannot listen on %s port %u: %s", addr, cfg->port,
                       strerror(saved));
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
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    for (struct sse_client *cl = srv->clients; cl; cl = cl->next)
        pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&srv->lock);
    MHD_stop_daemon(srv->d);
    pthread_mutex_destroy(&srv->lock);
    free(srv->web_root);
    free(srv);
}
