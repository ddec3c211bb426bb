/* SPDX-License-Identifier: MIT */
/*
 * api_mhd_errors.c - libmicrohttpd's own error answers in the API's JSON error shape.
 *
 * libmicrohttpd answers some requests itself, before any handler of ours runs: a request line or
 * header it cannot parse (400), headers larger than the connection's memory (431 / 413), a bad
 * Content-Length or chunked encoding, an HTTP version it does not speak (505).  Version 0.9.75
 * (Debian 12) has no hook for those answers: it builds each from a fixed HTML page with
 * MHD_create_response_from_buffer(), called through the library's PLT.  This file defines that
 * function in the daemon, so the dynamic linker binds the library's call here (ELF symbol
 * interposition, as for malloc); it recognises the library's own pages (they all begin with
 * "<html><head><title>"; nothing of ours does: the web assets start with "<!DOCTYPE") and
 * replaces the body with {"error":{"code","message"}} and Content-Type application/json.  Every
 * other call, ours included, goes unchanged to the library's function (dlsym RTLD_NEXT).
 * docs/security.md, "libmicrohttpd's own errors".  Thread: any (MHD's threads and ours).
 */
#include "api/api.h"
#include "api/api_int.h"

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"

#include <dlfcn.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MHD_PAGE_PREFIX "<html><head><title>"

typedef struct MHD_Response *(*create_fn)(size_t, void *, enum MHD_ResponseMemoryMode);

static create_fn real_create;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real(void)
{
    real_create = (create_fn)(uintptr_t)dlsym(RTLD_NEXT, "MHD_create_response_from_buffer");
}

/* One of libmicrohttpd's pages: its title, a stable code, our words. */
static const struct {
    const char *title, *code, *message;
} pages[] = {
    {"Request too big", "request_too_large",
     "the request's headers are larger than the server accepts"},
    {"Request malformed", "bad_request", "the HTTP request is malformed"},
    {"Requested HTTP version is not supported", "http_version_not_supported",
     "this HTTP version is not supported (use HTTP/1.1)"},
    {"&quot;Host:&quot; header required", "bad_request",
     "an HTTP/1.1 request must carry a Host header"},
    {"Request content too large", "payload_too_large", "the request body is too large"},
    {"Internal server error", "internal", "internal server error"},
};

/* Text of an HTML fragment: tags dropped, &quot; as '"'. */
static void html_text(struct buf *out, const char *s, const char *end)
{
    while (s < end && *s) {
        if (*s == '<') {
            const char *gt = memchr(s, '>', (size_t)(end - s));
            s = gt ? gt + 1 : end;
        } else if (str_has_prefix(s, "&quot;")) {
            buf_putc(out, '"');
            s += 6;
        } else {
            buf_putc(out, *s++);
        }
    }
}

/*
 * The JSON error body for one of libmicrohttpd's HTML pages, or NULL when page is not one of
 * them.  Pure; the result is malloc'd (the caller frees it).  Exposed for the unit tests.
 */
char *api_mhd_error_json(const char *page, size_t len)
{
    size_t plen = strlen(MHD_PAGE_PREFIX);
    if (!page || len <= plen || memcmp(page, MHD_PAGE_PREFIX, plen) != 0)
        return NULL;
    const char *end = page + len;
    const char *t = page + plen;
    const char *te = strstr(t, "</title>");
    if (!te || te >= end)
        return NULL;
    const char *code = "bad_request", *message = NULL;
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        if ((size_t)(te - t) == strlen(pages[i].title) && memcmp(t, pages[i].title, te - t) == 0) {
            code = pages[i].code;
            message = pages[i].message;
            break;
        }
    }
    struct buf detail, out;
    buf_init(&detail);
    buf_init(&out);
    const char *body = strstr(te, "<body>");
    if (body && body < end)
        html_text(&detail, body + 6, end);
    else
        html_text(&detail, t, te);
    char *msg = xasprintf("%s%s%s", message ? message : "", message ? ": " : "",
                          detail.data ? detail.data : "");
    api_error_json(&out, code, msg, NULL);
    free(msg);
    buf_cleanup(&detail);
    return buf_take(&out);
}

/*
 * The interposed libmicrohttpd function (see the file comment).  Same contract as
 * libmicrohttpd's: a response or NULL; buffer handled as mode says.
 */
struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    pthread_once(&real_once, find_real);
    if (!real_create)
        return NULL;
    char *json = api_mhd_error_json(buffer, size);
    if (!json)
        return real_create(size, buffer, mode);
    if (mode == MHD_RESPMEM_MUST_FREE)
        free(buffer);
    struct MHD_Response *r = real_create(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(json);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return r;
}
