/* SPDX-License-Identifier: MIT */
/*
 * client_util.c - the XAPI client's pure decisions: backoff schedule, which errors mean
 * emergency mode, which calls may be replayed, ErrorDescription -> struct err, address parsing,
 * credential-free call descriptions for logs, and what an HTTP reply means (including the
 * JSON-RPC -> XML-RPC fallback).  No I/O; unit-tested in tests/unit/test_xapi_client.c.
 */
#include "xapi/cache_int.h"
#include "xapi/client_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"

int64_t xapi_backoff_delay(unsigned attempt, int64_t base_ms, int64_t max_ms, struct rng *r)
{
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    int64_t d = base_ms;
    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms)
        d = max_ms;
    int64_t half = d / 2;
    int64_t v = half + (int64_t)rng_below(r, (uint64_t)(d - half) + 1);
    return v < 1 ? 1 : v;
}

/*
 * Codes a host answers with while it is not (yet) a working pool member: emergency mode and
 * start-up.  From xapi's ocaml/idl/datamodel_errors.ml and xapi.md section 3.
 */
bool xapi_is_emergency_code(const char *code)
{
    static const char *const codes[] = {
        "HOST_STILL_BOOTING",
        "HOST_HAS_NO_MANAGEMENT_IP",
        "HOST_MASTER_CANNOT_TALK_BACK",
        "HOST_UNKNOWN_TO_MASTER",
        "HOST_XAPI_VERSION_HIGHER_THAN_COORDINATOR",
        "HOST_BROKEN",
        /* not HOST_NOT_LIVE: xapi raises it about a call's *target* host (VM.start_on onto a
         * rebooting host), not about the one answering */
    };
    if (!code)
        return false;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

static const char *method_tail(const char *method)
{
    if (str_has_prefix(method, "Async."))
        return NULL; /* starts a task: a replay would start a second one */
    const char *dot = strrchr(method, '.');
    return dot ? dot + 1 : method;
}

bool xapi_method_idempotent(const char *method)
{
    if (!method)
        return false;
    const char *tail = method_tail(method);
    if (!tail)
        return false;
    if (str_has_prefix(method, "event.") || str_has_prefix(method, "session."))
        return true;
    return str_has_prefix(tail, "get_") || strcmp(tail, "compute_free_memory") == 0 ||
           str_has_prefix(tail, "assert_") || strcmp(tail, "get_vms_which_prevent_evacuation") == 0;
}

bool xapi_method_takes_session(const char *method)
{
    return !(str_has_prefix(method, "session.login") ||
             str_has_prefix(method, "session.slave_local_login"));
}

bool xapi_method_is_long_poll(const char *method)
{
    return str_eq(method, "event.from") || str_eq(method, "event.next") ||
           str_eq(method, "event_from");
}

int xapi_err_from_description(const struct xapi_value *desc, struct err *e)
{
    const char *code = xapi_value_str(xapi_array_get(desc, 0));
    if (!desc || desc->type != XAPI_ARRAY || !code)
        return err_set(e, PP_EPARSE, "malformed XAPI error description");
    struct buf b;
    buf_init(&b);
    buf_puts(&b, code);
    size_t n = xapi_array_len(desc);
    if (n > 1) {
        buf_puts(&b, " [");
        for (size_t i = 1; i < n; i++) {
            const struct xapi_value *p = xapi_array_get(desc, i);
            if (i > 1)
                buf_puts(&b, ", ");
            if (xapi_value_str(p))
                buf_puts(&b, xapi_value_str(p));
            else
                xapi_value_dump(&b, p);
        }
        buf_puts(&b, "]");
    }
    int rc = err_set(e, PP_EXAPI, "%s", buf_str(&b));
    if (e)
        str_lcpy(e->xapi_code, code, sizeof(e->xapi_code));
    buf_cleanup(&b);
    return rc;
}

int xapi_url_split(const char *addr, char **scheme, char **host, int *port)
{
    *scheme = NULL;
    *host = NULL;
    *port = 0;
    if (!addr || !*addr)
        return PP_EINVAL;
    /* libcurl's URL parser (the one our transfers use): a bare host gets https:// */
    CURLU *u = curl_url();
    char *sch = NULL, *h = NULL, *pt = NULL;
    int rc = PP_EINVAL;
    if (!u || curl_url_set(u, CURLUPART_URL, addr, CURLU_DEFAULT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &sch, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
        goto out;
    if (strcmp(sch, "http") != 0 && strcmp(sch, "https") != 0)
        goto out;
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') /* IPv6: no brackets */
        *host = xstrndup(h + 1, n - 2);
    else
        *host = xstrdup(h);
    if (!**host)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &pt, 0) == CURLUE_OK) {
        int64_t v;
        if (str_to_int64(pt, &v) != 0 || v < 1 || v > 65535)
            goto out;
        *port = (int)v;
    }
    *scheme = xstrdup(sch);
    rc = 0;
out:
    if (rc != 0) {
        free(*host);
        *host = NULL;
    }
    curl_free(sch);
    curl_free(h);
    curl_free(pt);
    curl_url_cleanup(u);
    return rc;
}

char *xapi_url_build(const char *scheme, const char *host, int port, const char *path)
{
    bool v6 = strchr(host, ':') != NULL;
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s://%s%s%s", scheme, v6 ? "[" : "", host, v6 ? "]" : "");
    if (port > 0)
        buf_printf(&b, ":%d", port);
    buf_puts(&b, path && *path ? path : "/");
    return buf_take(&b);
}

static bool method_has_secret(const char *method, size_t *idx)
{
    if (str_has_prefix(method, "session.login") ||
        str_has_prefix(method, "session.slave_local_login") ||
        str_has_prefix(method, "session.change_password")) {
        *idx = 1;
        return true;
    }
    if (str_eq(method, "pool.join") || str_eq(method, "pool.join_force") ||
        str_eq(method, "Async.pool.join") || str_eq(method, "Async.pool.join_force")) {
        *idx = 3;
        return true;
    }
    return false;
}

void xapi_call_describe(struct buf *b, const char *method, const struct xapi_value *params)
{
    size_t secret = SIZE_MAX;
    bool has_secret = method_has_secret(method, &secret);
    buf_puts(b, method);
    buf_putc(b, '(');
    size_t n = xapi_array_len(params);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        bool sync_secret =
            (str_eq(method, "pool.sync_updates") || str_eq(method, "Async.pool.sync_updates")) &&
            (i == 3 || i == 6);
        /* a session ref is a credential: never logged */
        bool session = i == 0 && !str_has_prefix(method, "session.login") &&
                       !str_has_prefix(method, "session.slave_local_login");
        if (session || sync_secret ||
            (has_secret && (i == secret || (secret == 1 && i == 2 &&
                                            str_has_prefix(method, "session.change_password")))))
            buf_puts(b, "***");
        else
            xapi_value_dump(b, xapi_array_get(params, i));
    }
    buf_putc(b, ')');
}

static bool ctype_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    size_t n = strlen(want);
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Whether a 200 reply to a JSON-RPC request is JSON (else the host has no JSON-RPC). */
static bool looks_json(const char *content_type, const char *body, size_t len)
{
    if (ctype_is(content_type, "application/json"))
        return true;
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    return i < len && body[i] == '{' && !ctype_is(content_type, "text/xml") &&
           !ctype_is(content_type, "text/html");
}

int xapi_classify_reply(enum xapi_proto_pref proto, long http_status, const char *content_type,
                        const char *body, size_t len, const struct xapi_limits *lim,
                        struct xapi_response *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    bool json = proto != XAPI_PREF_XMLRPC;
    if (json && http_status == 404)
        return XREPLY_FALLBACK;
    if (http_status != 200)
        return err_set(e, PP_ETRANSPORT, "HTTP status %ld", http_status);
    if (json) {
        if (!looks_json(content_type, body, len))
            return XREPLY_FALLBACK;
        return xapi_jsonrpc_decode_response(body, len, lim, out, NULL, e);
    }
    return xapi_xmlrpc_decode_response(body, len, lim, out, e);
}

/* See client_int.h. */
int xapi_classify_events_reply(enum xapi_proto_pref proto, long http_status,
                               const char *content_type, const char *body, size_t len,
                               const struct xapi_limits *lim, struct xapi_response *out, bool *raw,
                               size_t *off, size_t *rlen, struct err *e)
{
    *raw = false;
    if (proto != XAPI_PREF_XMLRPC && http_status == 200 && looks_json(content_type, body, len)) {
        struct err se = {0}; /* a body the scan refuses gets the ordinary decoder's verdict */
        if (xapi__evjson_scan(body, len, lim, off, rlen, &se) == 0) {
            memset(out, 0, sizeof(*out));
            out->ok = true;
            *raw = true;
            return XREPLY_OK;
        }
    }
    return xapi_classify_reply(proto, http_status, content_type, body, len, lim, out, e);
}
