/* SPDX-License-Identifier: MIT */
/*
 * transport_http.c - XAPI over HTTP(S) with libcurl's multi interface: one multi handle per loop,
 * one easy handle per wire request in flight (reset and reused for the next one, http_io.c),
 * non-blocking.  JSON-RPC 2.0 POSTs go to /jsonrpc; when a host
 * answers 404 or something that is not JSON, the client switches to XML-RPC at / and the request
 * is re-sent (the host did not execute it).  Responses are bounded by the pool's size limit,
 * requests by their deadline (long-polls: server timeout + margin, set by the caller).
 */
#include <curl/curl.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

/*
 * A connection left idle this long is closed instead of reused (CURLOPT_MAXAGE_CONN; curl's
 * default is 118 s).  A pool's event.from connection is reused at once; the others (the calls
 * made beside the long-poll while a pool connects or a rollout moves) otherwise stay open two
 * minutes after their last call, and curl checks every idle connection with a poll() whenever a
 * transfer starts (several times a second with 100 pools): 100 pools just connected held ~260
 * idle connections and cost the daemon ~1% of a core until they aged out (docs/performance.md,
 * "Idle").  A connection reopened after 20 s costs one connect (and a TLS handshake).
 */
#define IDLE_CONN_MAX_S 20L

int xapi__http_global_init(struct err *e)
{
    static int done;
    if (done)
        return 0;
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cc != CURLE_OK)
        return err_set(e, PP_ETRANSPORT, "curl_global_init: %s", curl_easy_strerror(cc));
    done = 1;
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct wreq *w = userp;
    size_t n = size * nmemb;
    size_t lim = xapi__client_opts(w->c)->max_response_bytes;
    if (w->in.len + n > lim) {
        w->over_limit = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    buf_append(&w->in, ptr, n);
    return n;
}

static void fail_now(struct xapi_loop *loop, struct wreq *w, int code, const char *msg)
{
    xapi__http_release(loop, w); /* never added to the multi */
    w->rc = err_set(&w->err, code, "%s", msg);
    xapi__loop_wreq_complete(loop, w);
}

static void encode(struct wreq *w)
{
    buf_reset(&w->out);
    if (w->proto == XAPI_PREF_XMLRPC) {
        xapi_xmlrpc_encode_call(&w->out, w->method, w->params);
    } else {
        json_t *id = json_integer(1);
        xapi_jsonrpc_encode_call(&w->out, XAPI_PROTO_JSONRPC_V2, w->method, w->params, id);
        json_decref(id);
    }
}

/*
 * The connect timeout curl gets for w.  curl arms it when a transfer starts and, on a reused
 * connection, never disarms it (7.88), so a transfer still running then wakes the loop for
 * nothing.  Calls end sooner; an idle pool's event.from long-poll (30 s) did not: every turn
 * was two wakeups, the answer and the connect timeout 10 s in (a poll() of the idle socket, and
 * a whole engine turn over every pool: docs/performance.md, "Idle at fleet scale, session 10").
 * A long-poll goes out on the connection its previous turn or the login just used; should it
 * have to connect, its whole deadline (server-side timeout + margin) bounds the connect, as it
 * bounds a long-poll whose master falls silent once the request is out: a silent master is
 * noticed by the same deadline as before.
 */
static long connect_timeout_ms(const struct wreq *w, const struct xapi_client_opts *o)
{
    if (w->long_poll && w->timeout_ms > o->connect_timeout_ms)
        return (long)w->timeout_ms;
    return (long)o->connect_timeout_ms;
}

void xapi__http_start(struct xapi_loop *loop, struct wreq *w)
{
    const struct xapi_client_opts *o = xapi__client_opts(w->c);
    CURL *h = xapi__http_easy_take(xapi__loop_int(loop)->multi);
    if (!h) {
        fail_now(loop, w, PP_ETRANSPORT, "curl_easy_init failed");
        return;
    }
    w->easy = h;
    buf_reset(&w->in);
    w->over_limit = false;
    encode(w);
    const char *path = w->proto == XAPI_PREF_XMLRPC ? "/" : "/jsonrpc";
    char *url = xapi_url_build(xapi__client_scheme(w->c), w->host, xapi__client_port(w->c), path);
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, w->proto == XAPI_PREF_XMLRPC ? "Content-Type: text/xml"
                                                            : "Content-Type: application/json");
    hd = curl_slist_append(hd, "Expect:");
    w->hdrs = hd;
    CURLcode cc = CURLE_OK;
    cc |= curl_easy_setopt(h, CURLOPT_URL, url);
    cc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cc |= curl_easy_setopt(h, CURLOPT_POST, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, w->out.data);
    cc |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->out.len);
    cc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    cc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    cc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
    cc |= curl_easy_setopt(h, CURLOPT_PRIVATE, w);
    cc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    cc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms(w, o));
    cc |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_response_bytes);
    cc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, IDLE_CONN_MAX_S);
    cc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "poolpatch");
    /*
     * libcurl silently re-sends a request whose reused connection died before any answer
     * byte.  The host may have executed it already, so a mutation (host.reboot, VM.migrate...)
     * gets a connection of its own, where curl never retries.
     */
    if (w->fresh_connect)
        cc |= curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    free(url);
    if (cc != CURLE_OK) {
        fail_now(loop, w, PP_ETRANSPORT, "curl_easy_setopt failed");
        return;
    }
    if (strcmp(xapi__client_scheme(w->c), "https") == 0) {
        w->tls.pins = xapi__client_pins(w->c);
        w->tls.host = w->host;
        w->tls.tofu = o->tofu;
        struct err e = {0};
        if (xapi_tls_setup_easy(h, o->ca_file, &w->tls, &e) != 0) {
            fail_now(loop, w, PP_ETLS, e.msg);
            return;
        }
    }
    struct err ae = {0};
    if (xapi__http_add(loop, w, &ae) != 0)
        fail_now(loop, w, ae.code, ae.msg);
}

void xapi__http_abort(struct xapi_loop *loop, struct wreq *w)
{
    xapi__http_release(loop, w);
}

/* The URL w went to (new string): error messages name it. */
static char *request_url(const struct wreq *w)
{
    return xapi_url_build(xapi__client_scheme(w->c), w->host, xapi__client_port(w->c),
                          w->proto == XAPI_PREF_XMLRPC ? "/" : "/jsonrpc");
}

static bool is_tls_error(CURLcode cc)
{
    return cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
           cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CACERT_BADFILE ||
           cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH || cc == CURLE_SSL_ISSUER_ERROR;
}

static void finish(struct xapi_loop *loop, struct wreq *w, CURLcode cc)
{
    CURL *h = w->easy;
    long status = 0, connected = 0;
    curl_off_t sent = 0;
    char *ctype = NULL;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &connected);
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &sent);
    char *ctype_copy = xstrdup(ctype);
    char *url = NULL; /* for the messages: built when one is needed */
    /* Pin learned on first use: record it once the handshake passed. */
    if (w->tls.pins && w->tls.checked && w->tls.verdict == PIN_LEARN && !is_tls_error(cc)) {
        struct err pe = {0};
        if (!xapi_pins_get(w->tls.pins, w->host)) {
            if (xapi_pins_set(w->tls.pins, w->host, w->tls.presented, &pe) != 0)
                log_warn("xapi", "%s", pe.msg);
            log_info("xapi", "pinned %s: SHA-256 %s (trust on first use)", w->host,
                     w->tls.presented);
            const struct xapi_client_opts *o = xapi__client_opts(w->c);
            if (o->on_pin)
                o->on_pin(o->pin_ctx, w->host, w->tls.presented);
        }
    }
    xapi__http_release(loop, w);
    w->maybe_delivered = connected > 0 || sent > 0;
    if (cc != CURLE_OK) {
        url = request_url(w);
        if (w->over_limit || cc == CURLE_FILESIZE_EXCEEDED)
            w->rc = err_set(&w->err, PP_ELIMIT, "%s: response larger than %zu bytes", url,
                            xapi__client_opts(w->c)->max_response_bytes);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            w->rc = err_set(&w->err, PP_ETIMEOUT, "%s: no answer within %lld ms (%s)", url,
                            (long long)w->timeout_ms, curl_easy_strerror(cc));
        else if (is_tls_error(cc))
            w->rc = xapi_tls_explain(&w->tls, curl_easy_strerror(cc), &w->err);
        else
            w->rc = err_set(&w->err, PP_ETRANSPORT, "%s: %s", url, curl_easy_strerror(cc));
        goto out;
    }
    struct xapi_limits lim;
    xapi_limits_response(&lim);
    if (lim.max_doc_bytes > xapi__client_opts(w->c)->max_response_bytes)
        lim.max_doc_bytes = xapi__client_opts(w->c)->max_response_bytes;
    int r = w->want_events
                ? xapi_classify_events_reply(w->proto, status, ctype_copy,
                                             w->in.data ? w->in.data : "", w->in.len, &lim,
                                             &w->resp, &w->ev_raw, &w->ev_off, &w->ev_len, &w->err)
                : xapi_classify_reply(w->proto, status, ctype_copy, w->in.data ? w->in.data : "",
                                      w->in.len, &lim, &w->resp, &w->err);
    if (r != XREPLY_OK)
        url = request_url(w);
    if (r == XREPLY_FALLBACK && xapi__client_pref(w->c) != XAPI_PREF_JSONRPC) {
        log_info("xapi", "%s: no JSON-RPC (HTTP %ld, %s); using XML-RPC", url, status,
                 ctype_copy ? ctype_copy : "no content type");
        xapi__client_set_proto(w->c, XAPI_PREF_XMLRPC);
        w->proto = XAPI_PREF_XMLRPC;
        free(url);
        free(ctype_copy);
        xapi__http_start(loop, w);
        return;
    }
    if (r == XREPLY_FALLBACK)
        w->rc = err_set(&w->err, PP_ETRANSPORT, "%s: HTTP %ld, not a JSON-RPC reply", url, status);
    else if (r < 0)
        w->rc = err_prefix(&w->err, "%s: ", url);
    else
        w->rc = 0;
out:
    free(url);
    free(ctype_copy);
    xapi__loop_wreq_complete(loop, w);
}

/* Complete the transfers curl reports as done; returns how many. */
static int collect(struct xapi_loop *loop)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    CURLMsg *m;
    int left, n = 0;
    while ((m = curl_multi_info_read(xapi__http_curlm(li->multi), &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct wreq *w = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&w);
        CURLcode cc = m->data.result;
        if (w) {
            finish(loop, w, cc);
            n++;
        }
    }
    return n;
}

/*
 * Act on what is due, and wait (poll, up to wait_ms; 0 = just look) only when nothing finished:
 * waiting with a finished transfer pending would add the whole wait to its latency.  The wait
 * happens even without transfers, until wait_ms or xapi__http_wakeup: that is how an idle loop
 * sleeps (http_io.c).
 */
void xapi__http_run(struct xapi_loop *loop, int wait_ms)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    xapi__http_act(li->multi);
    if (collect(loop) > 0)
        return;
    xapi__http_wait(li->multi, wait_ms > 0 ? wait_ms : 0);
    collect(loop);
}

bool xapi__http_busy(const struct xapi_loop *loop)
{
    return xapi__loop_int_c(loop)->running > 0;
}
