/* SPDX-License-Identifier: MIT */
/*
 * http_get.c - GET of a document from the master (see http_get.h).  Like upload.c, over HTTP the
 * request is a wire request of the client's loop: a curl easy handle on the loop's multi,
 * completed through the loop's done queue.  The status line and the body are captured here (the
 * body up to the caller's limit); the loop's own reply decoding of the wire request is ignored.
 * The request is marked XML-RPC so the transport never retries it as a protocol fallback.
 */
#include "xapi/http_get.h"

#include <curl/curl.h>
#include <stddef.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

struct xapi_http_get {
    struct wreq w; /* first: the loop completes &w */
    xapi_http_get_done_fn done;
    void *ctx;
    size_t max_bytes;
    long status;
    bool over_limit;
    struct buf body;
    char *path_and_query;
};

static struct xapi_http_get *of_wreq(struct wreq *w)
{
    return (struct xapi_http_get *)((char *)w - offsetof(struct xapi_http_get, w));
}

static void get_free(struct xapi_http_get *g)
{
    xapi__wreq_cleanup(&g->w);
    buf_cleanup(&g->body);
    free(g->path_and_query);
    free(g);
}

/* The path without the session (for messages: the session id is a credential). */
static void path_only(const char *pq, char *out, size_t n)
{
    size_t k = strcspn(pq, "?");
    snprintf(out, n, "%.*s", (int)k, pq);
}

static void get_done(struct wreq *w)
{
    struct xapi_http_get *g = of_wreq(w);
    struct err e = {0};
    char path[256];
    int rc = 0;

    path_only(g->path_and_query, path, sizeof(path));
    if (g->over_limit) {
        rc = err_set(&e, PP_ELIMIT, "GET %s from %s: the answer is larger than %zu bytes", path,
                     g->w.host, g->max_bytes);
    } else if (g->status == 200 && g->w.rc != PP_ETRANSPORT && g->w.rc != PP_ETIMEOUT &&
               g->w.rc != PP_ETLS) {
        rc = 0; /* (the loop's reply decoding of the empty wire body is not ours: ignored) */
    } else if (g->status == 404) {
        rc = err_set(&e, PP_ENOTFOUND, "GET %s from %s: HTTP 404 (not found)", path, g->w.host);
    } else if (g->status != 0 && g->status != 200) {
        size_t n = g->body.len > 200 ? 200 : g->body.len;
        rc = err_set(&e, PP_ETRANSPORT, "GET %s from %s: HTTP %ld %.*s", path, g->w.host, g->status,
                     (int)n, g->body.data ? g->body.data : "");
    } else {
        e = g->w.err;
        rc = e.code ? e.code : PP_ETRANSPORT;
        if (e.code == 0)
            err_set(&e, rc, "GET %s from %s failed", path, g->w.host);
    }
    if (g->done) {
        if (rc == 0)
            g->done(g->ctx, 0, g->status, buf_str(&g->body), g->body.len, NULL);
        else
            g->done(g->ctx, rc, g->status, NULL, 0, &e);
    }
    get_free(g);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xapi_http_get *g = ud;
    size_t n = size * nitems;
    if (xapi__http_status_line(buf, n, &g->status))
        buf_reset(&g->body); /* a new response (after a 100 Continue, say) */
    return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct xapi_http_get *g = ud;
    size_t n = size * nmemb;
    if (g->body.len + n > g->max_bytes) {
        g->over_limit = true;
        return 0; /* aborts the transfer */
    }
    buf_append(&g->body, ptr, n);
    return n;
}

static int start_http(struct xapi_http_get *g, struct err *e)
{
    struct xapi_client *c = g->w.c;
    const struct xapi_client_opts *o = xapi__client_opts(c);
    CURL *h = curl_easy_init();
    if (!h)
        return err_set(e, PP_ETRANSPORT, "curl_easy_init failed");
    char *url =
        xapi_url_build(xapi__client_scheme(c), g->w.host, xapi__client_port(c), g->path_and_query);
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: application/json");
    long timeout = (long)(o->call_timeout_ms > 0 ? o->call_timeout_ms : 120000);
    CURLcode cc = CURLE_OK;
    cc |= curl_easy_setopt(h, CURLOPT_URL, url);
    cc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cc |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    cc |= curl_easy_setopt(h, CURLOPT_HEADERDATA, g);
    cc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    cc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, g);
    cc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    cc |= curl_easy_setopt(h, CURLOPT_PRIVATE, &g->w);
    cc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                           (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000));
    cc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    cc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "poolpatch");
    free(url);
    g->w.hdrs = hd;
    g->w.easy = h;
    g->w.timeout_ms = timeout;
    if (cc != CURLE_OK)
        return err_set(e, PP_ETRANSPORT, "curl_easy_setopt failed");
    if (strcmp(xapi__client_scheme(c), "https") == 0) {
        g->w.tls.pins = xapi__client_pins(c);
        g->w.tls.host = g->w.host;
        g->w.tls.tofu = o->tofu;
        if (xapi_tls_setup_easy(h, o->ca_file, &g->w.tls, e) != 0)
            return e ? e->code : PP_ETLS;
    }
    return 0;
}

/* Start a GET (see http_get.h).  Ownership: g belongs to the loop until done ran (or cancel). */
int xapi_http_get_start(struct xapi_client *c, const char *path, const char *query,
                        size_t max_bytes, xapi_http_get_done_fn done, void *ctx,
                        struct xapi_http_get **out, struct err *e)
{
    if (out)
        *out = NULL;
    if (!c || !path || path[0] != '/' || !done)
        return err_set(e, PP_EINVAL, "GET: bad arguments");
    struct xapi_http_get *g = xcalloc(1, sizeof(*g));
    buf_init(&g->body);
    g->path_and_query = xapi__transfer_init(&g->w, c, "GET", path, query, get_done, e);
    if (!g->path_and_query) {
        get_free(g);
        return e ? e->code : PP_ESTATE;
    }
    g->done = done;
    g->ctx = ctx;
    g->max_bytes = max_bytes ? max_bytes : XAPI_HTTP_GET_DEFAULT_MAX;
    const struct xapi_client_opts *o = xapi__client_opts(c);
    struct xapi_loop *loop = xapi__client_loop(c);
    if (o->inproc) {
        if (!o->inproc->get) {
            get_free(g);
            return err_set(e, PP_EINVAL, "GET %s: the in-process handler serves no documents",
                           path);
        }
        g->w.rc = o->inproc->get(o->inproc->ctx, g->w.host, g->path_and_query, &g->body, &g->status,
                                 &g->w.err);
        if (g->w.rc != 0)
            g->status = 0;
        else if (g->body.len > g->max_bytes)
            g->over_limit = true;
        xapi__loop_wreq_complete(loop, &g->w);
    } else {
        int rc = start_http(g, e);
        if (rc == 0)
            rc = xapi__http_add(loop, &g->w, e);
        if (rc) {
            xapi__http_release(loop, &g->w); /* the easy handle was never added */
            get_free(g);
            return rc;
        }
    }
    log_debug("xapi", "GET %s from %s", path, g->w.host);
    if (out)
        *out = g;
    return 0;
}

/* Abort (see http_get.h); done does not run. */
void xapi_http_get_cancel(struct xapi_http_get *g)
{
    if (!g)
        return;
    xapi__http_cancel(xapi__client_loop(g->w.c), &g->w);
    get_free(g);
}
