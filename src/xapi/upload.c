/* SPDX-License-Identifier: MIT */
/*
 * upload.c - PUT of an update image to the master (see upload.h).  Over HTTP the upload is a
 * wire request of the client's loop: a curl easy handle added to the loop's multi, completed
 * through the loop's done queue like every call, with CURLOPT_UPLOAD, a read callback and the
 * exact length (xapi's import_raw_vdi needs a Content-Length: `xe update-upload` in
 * ocaml/xapi-cli-server/cli_operations.ml does the same).  The request is marked XML-RPC so
 * the transport never retries it as a protocol fallback; its status line is captured here.
 */
#include "xapi/upload.h"

#include <curl/curl.h>
#include <stddef.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

#define INPROC_MAX_BODY (512LL * 1024 * 1024)
#define STALL_SECONDS   300L

struct xapi_upload {
    struct wreq w; /* first: the loop completes &w */
    xapi_upload_read_fn read;
    xapi_upload_progress_fn progress;
    xapi_upload_done_fn done;
    void *ctx;
    int64_t length, sent;
    long status;
    bool read_failed;
    struct err read_err;
    char *path_and_query;
};

static struct xapi_upload *of_wreq(struct wreq *w)
{
    return (struct xapi_upload *)((char *)w - offsetof(struct xapi_upload, w));
}

static void up_free(struct xapi_upload *u)
{
    xapi__wreq_cleanup(&u->w);
    free(u->path_and_query);
    free(u);
}

static void up_done(struct wreq *w)
{
    struct xapi_upload *u = of_wreq(w);
    struct err e = {0};
    int rc = 0;
    if (u->read_failed) {
        e = u->read_err;
        rc = e.code ? e.code : PP_EIO;
    } else if (u->status == 200 && u->sent == u->length) {
        rc = 0;
    } else if (u->status != 0 && u->status != 200) {
        size_t n = u->w.in.len > 200 ? 200 : u->w.in.len;
        rc = err_set(&e, PP_ETRANSPORT, "upload to %s refused: HTTP %ld %.*s", u->w.host, u->status,
                     (int)n, u->w.in.data ? u->w.in.data : "");
    } else if (u->w.rc != 0 && u->status == 0) {
        e = u->w.err;
        rc = e.code ? e.code : PP_ETRANSPORT;
        if (u->w.err.code == 0)
            err_set(&e, rc, "upload to %s failed", u->w.host);
    } else {
        rc = err_set(&e, PP_ETRANSPORT, "upload to %s ended after %lld of %lld bytes", u->w.host,
                     (long long)u->sent, (long long)u->length);
    }
    if (rc == 0 && u->progress)
        u->progress(u->ctx, u->sent, u->length);
    if (u->done)
        u->done(u->ctx, rc, rc ? &e : NULL);
    up_free(u);
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xapi_upload *u = ud;
    size_t n = size * nitems;
    if (u->sent >= u->length)
        return 0;
    if ((int64_t)n > u->length - u->sent)
        n = (size_t)(u->length - u->sent);
    ssize_t got = u->read(u->ctx, buf, n, &u->read_err);
    if (got <= 0) {
        u->read_failed = true;
        if (!u->read_err.code)
            err_set(&u->read_err, PP_EIO, "upload: the body ended early");
        return CURL_READFUNC_ABORT;
    }
    u->sent += got;
    if (u->progress)
        u->progress(u->ctx, u->sent, u->length);
    return (size_t)got;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xapi_upload *u = ud;
    size_t n = size * nitems;
    xapi__http_status_line(buf, n, &u->status);
    return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct xapi_upload *u = ud;
    size_t n = size * nmemb;
    if (u->w.in.len < 4096)
        buf_append(&u->w.in, ptr, n > 4096 ? 4096 : n);
    return n;
}

static int start_http(struct xapi_upload *u, struct err *e)
{
    struct xapi_client *c = u->w.c;
    const struct xapi_client_opts *o = xapi__client_opts(c);
    CURL *h = curl_easy_init();
    if (!h)
        return err_set(e, PP_ETRANSPORT, "curl_easy_init failed");
    char *url =
        xapi_url_build(xapi__client_scheme(c), u->w.host, xapi__client_port(c), u->path_and_query);
    struct curl_slist *hd = curl_slist_append(NULL, "Expect:");
    hd = curl_slist_append(hd, "Content-Type: application/octet-stream");
    CURLcode cc = CURLE_OK;
    cc |= curl_easy_setopt(h, CURLOPT_URL, url);
    cc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cc |= curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u->length);
    cc |= curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    cc |= curl_easy_setopt(h, CURLOPT_READDATA, u);
    cc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    cc |= curl_easy_setopt(h, CURLOPT_HEADERDATA, u);
    cc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    cc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, u);
    cc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    cc |= curl_easy_setopt(h, CURLOPT_PRIVATE, &u->w);
    cc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    cc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    cc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    cc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "poolpatch");
    free(url);
    u->w.hdrs = hd;
    u->w.easy = h;
    if (cc != CURLE_OK)
        return err_set(e, PP_ETRANSPORT, "curl_easy_setopt failed");
    if (strcmp(xapi__client_scheme(c), "https") == 0) {
        u->w.tls.pins = xapi__client_pins(c);
        u->w.tls.host = u->w.host;
        u->w.tls.tofu = o->tofu;
        if (xapi_tls_setup_easy(h, o->ca_file, &u->w.tls, e) != 0)
            return e ? e->code : PP_ETLS;
    }
    return 0;
}

/*
 * Start an upload (see upload.h).  Ownership: u belongs to the loop until done ran (or cancel).
 */
int xapi_upload_start(struct xapi_client *c, const char *path, const char *query, int64_t length,
                      xapi_upload_read_fn read, xapi_upload_progress_fn progress,
                      xapi_upload_done_fn done, void *ctx, struct xapi_upload **out, struct err *e)
{
    if (out)
        *out = NULL;
    if (!c || !path || !read || length < 0)
        return err_set(e, PP_EINVAL, "upload: bad arguments");
    struct xapi_upload *u = xcalloc(1, sizeof(*u));
    u->path_and_query = xapi__transfer_init(&u->w, c, "PUT", path, query, up_done, e);
    if (!u->path_and_query) {
        up_free(u);
        return e ? e->code : PP_ESTATE;
    }
    u->read = read;
    u->progress = progress;
    u->done = done;
    u->ctx = ctx;
    u->length = length;
    const struct xapi_client_opts *o = xapi__client_opts(c);
    struct xapi_loop *loop = xapi__client_loop(c);
    if (o->inproc) {
        if (!o->inproc->put) {
            up_free(u);
            return err_set(e, PP_EINVAL, "upload: the in-process handler takes no uploads");
        }
        if (length > INPROC_MAX_BODY) {
            up_free(u);
            return err_set(e, PP_ELIMIT, "upload: %lld bytes is too large in-process",
                           (long long)length);
        }
        char *body = xmalloc(length > 0 ? (size_t)length : 1);
        while (u->sent < length) {
            ssize_t got = read(ctx, body + u->sent, (size_t)(length - u->sent), &u->read_err);
            if (got <= 0) {
                u->read_failed = true;
                if (!u->read_err.code)
                    err_set(&u->read_err, PP_EIO, "upload: the body ended early");
                break;
            }
            u->sent += got;
        }
        if (!u->read_failed) {
            u->w.rc = o->inproc->put(o->inproc->ctx, u->w.host, u->path_and_query, body,
                                     (size_t)length, &u->w.err);
            if (u->w.rc == 0)
                u->status = 200;
        }
        free(body);
        xapi__loop_wreq_complete(loop, &u->w);
    } else {
        int rc = start_http(u, e);
        if (rc == 0)
            rc = xapi__http_add(loop, &u->w, e);
        if (rc) {
            xapi__http_release(loop, &u->w); /* the easy handle was never added */
            up_free(u);
            return rc;
        }
    }
    log_info("xapi", "uploading %lld bytes to %s", (long long)length, u->w.host);
    if (out)
        *out = u;
    return 0;
}

/* Abort (see upload.h); done does not run. */
void xapi_upload_cancel(struct xapi_upload *u)
{
    if (!u)
        return;
    xapi__http_cancel(xapi__client_loop(u->w.c), &u->w);
    up_free(u);
}
