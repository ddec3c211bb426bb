/* SPDX-License-Identifier: MIT */
/*
 * api_util.c - the pure parts of the HTTP face: route matching, error mapping and error bodies,
 * Bearer token checks in constant time, SSE framing, MIME types and ETags of web assets.
 */
#include "api/api.h"
#include "api/api_mime.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <strings.h>
#include <string.h>

#define API_PREFIX "/api/v1/"

bool api_method_mutates(const char *method)
{
    return !(str_eq(method, "GET") || str_eq(method, "HEAD"));
}

/* Copy one path segment (no '/') into m->param; 0 on success, -1 when empty/too long/bad. */
static int take_param(struct api_match *m, const char *seg, size_t len)
{
    if (len == 0 || len >= sizeof m->param || memchr(seg, '/', len))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)seg[i] < 0x20)
            return -1;
    }
    memcpy(m->param, seg, len);
    m->param[len] = '\0';
    return 0;
}

static int method_in(const char *method, const char *allow)
{
    /* allow is a list like "GET, POST"; HEAD is accepted wherever GET is. */
    const char *want = str_eq(method, "HEAD") ? "GET" : method;
    size_t n = strlen(want);
    const char *p = allow;

    while (p && *p) {
        if (strncmp(p, want, n) == 0 && (p[n] == '\0' || p[n] == ','))
            return 1;
        p = strchr(p, ',');
        if (p)
            p += 2;
    }
    return 0;
}

/* The REST API below /api/v1/: a pattern ('*' = one path parameter segment) per route. */
static const struct {
    const char *pattern;
    enum api_route_id id;
    const char *allow;
} api_routes[] = {
    {"pools", API_R_POOLS, "GET, POST"},
    {"pools/*", API_R_POOL, "PATCH, DELETE"},
    {"updates", API_R_UPDATES, "GET"},
    {"updates/check", API_R_UPDATES_CHECK, "POST"},
    {"updates/export.csv", API_R_UPDATES_CSV, "GET"},
    {"updates/dismiss", API_R_UPDATES_DISMISS, "POST"},
    {"updates/restore", API_R_UPDATES_RESTORE, "POST"},
    {"updates/download", API_R_UPDATES_DOWNLOAD, "POST"},
    {"plans", API_R_PLANS, "POST"},
    {"rollouts", API_R_ROLLOUTS, "GET, POST"},
    {"rollouts/*", API_R_ROLLOUT, "GET"},
    {"rollouts/*/retry", API_R_ROLLOUT_RETRY, "POST"},
    {"rollouts/*/cancel", API_R_ROLLOUT_CANCEL, "POST"},
    {"upgrades", API_R_UPGRADES, "POST"},
    {"rollouts/*/upgrade-host", API_R_UPGRADE_HOST, "POST"},
    {"pools/*/forget-host", API_R_HOST_FORGET, "POST"},
    {"pools/*/trust", API_R_POOL_TRUST, "POST"},
    {"events", API_R_EVENTS, "GET"},
    {"client-id", API_R_CLIENT_ID, "POST"},
    {"audit", API_R_AUDIT, "GET"},
    {"webhooks", API_R_WEBHOOKS, "GET, POST"},
    {"webhooks/*", API_R_WEBHOOK, "DELETE"},
    {"webhook-deliveries", API_R_WEBHOOK_LOG, "GET"},
    {"openapi.json", API_R_OPENAPI, "GET"},
    {"settings", API_R_SETTINGS, "GET, PUT"},
    {"files", API_R_FILES, "GET, POST"},
    {"files/*", API_R_FILE, "DELETE"},
    {"windows", API_R_WINDOWS, "GET, POST"},
    {"windows/*", API_R_WINDOW, "DELETE"},
    {"schedules", API_R_SCHEDULES, "GET, POST"},
    {"schedules/*", API_R_SCHEDULE, "DELETE"},
    {"health-gates", API_R_GATES, "GET, PUT, DELETE"},
    {"health-gates/*", API_R_GATE, "DELETE"},
};

/* Match path (below the prefix) against pattern; the '*' segment goes to m->param. */
static bool pattern_match(const char *pattern, const char *path, struct api_match *m)
{
    const char *p = pattern, *s = path;

    while (*p) {
        if (*p == '*') {
            size_t len = strcspn(s, "/");
            if (take_param(m, s, len) != 0)
                return false;
            s += len;
            p++;
        } else if (*p++ != *s++) {
            return false;
        }
    }
    return *s == '\0';
}

int api_route(const char *method, const char *path, struct api_match *m)
{
    memset(m, 0, sizeof *m);
    if (!method || !path || path[0] != '/')
        return 404;
    if (str_eq(path, "/metrics")) { /* Prometheus' usual path; an API read like the others */
        m->route = API_R_METRICS;
        m->allow = "GET";
    } else if (!str_has_prefix(path, "/api/")) {
        m->route = API_R_STATIC;
        m->allow = "GET, HEAD";
    } else if (!str_has_prefix(path, API_PREFIX)) {
        return 404;
    } else {
        const char *r = path + strlen(API_PREFIX);
        for (size_t i = 0; i < sizeof api_routes / sizeof api_routes[0]; i++) {
            m->param[0] = '\0';
            if (pattern_match(api_routes[i].pattern, r, m)) {
                m->route = api_routes[i].id;
                m->allow = api_routes[i].allow;
                break;
            }
        }
        if (m->route == API_R_NONE) {
            m->param[0] = '\0';
            return 404;
        }
    }
    if (!method_in(method, m->allow))
        return 405;
    return 200;
}

int api_status_for(int pp_code)
{
    switch (pp_code) {
    case PP_OK:
        return 200;
    case PP_EINVAL:
    case PP_EPARSE:
        return 400;
    case PP_ENOTFOUND:
        return 404;
    case PP_ESTATE:
        return 409;
    case PP_ELIMIT:
        return 413;
    case PP_EXAPI:
    case PP_ETRANSPORT:
    case PP_ETLS:
    case PP_EAUTH:
        return 502;
    case PP_ETIMEOUT:
        return 504;
    case PP_ECANCELLED:
        return 409;
    default:
        return 500;
    }
}

const char *api_error_code(int status, int pp_code)
{
    switch (pp_code) {
    case PP_EXAPI:
        return "xapi_error";
    case PP_ETRANSPORT:
        return "pool_unreachable";
    case PP_ETLS:
        return "pool_tls";
    case PP_EAUTH:
        return "pool_auth";
    default:
        break;
    }
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 413:
        return "too_large";
    case 415:
        return "unsupported_media_type";
    case 502:
        return "bad_gateway";
    case 421:
        return "misdirected";
    case 503:
        return "unavailable";
    case 504:
        return "timeout";
    default:
        return "internal";
    }
}

void api_error_json(struct buf *out, const char *code, const char *message, const char *xapi_code)
{
    api_error_json_ex(out, code, message, xapi_code, API_TOOK_NONE);
}

void api_error_json_ex(struct buf *out, const char *code, const char *message,
                       const char *xapi_code, enum api_took took)
{
    json_t *inner = json_object();
    json_t *root = json_object();
    char *text;

    json_object_set_new(inner, "code", json_string(code ? code : "internal"));
    /* Messages may carry bytes from pools or clients; json_string rejects invalid UTF-8. */
    json_t *msg = json_string(message ? message : "");
    json_object_set_new(inner, "message", msg ? msg : json_string("(message not valid UTF-8)"));
    if (xapi_code && *xapi_code) {
        json_t *x = json_string(xapi_code);
        if (x)
            json_object_set_new(inner, "xapi_code", x);
    }
    if (took == API_TOOK_NO || took == API_TOOK_YES)
        json_object_set_new(inner, "took_effect", json_boolean(took == API_TOOK_YES));
    else if (took == API_TOOK_UNKNOWN)
        json_object_set_new(inner, "took_effect", json_string("unknown"));
    json_object_set_new(root, "error", inner);
    text = json_dumps(root, JSON_COMPACT);
    buf_puts(out, text ? text : "{\"error\":{\"code\":\"internal\",\"message\":\"\"}}");
    free(text);
    json_decref(root);
}

bool api_token_equal(const char *expected, const char *presented)
{
    size_t n, m;
    unsigned char diff;

    if (!expected || !presented || !*expected)
        return false;
    n = strlen(expected);
    m = strnlen(presented, API_TOKEN_MAX);
    diff = (unsigned char)(n != m);
    /* Always walk the expected length; read presented only within its own bounds. */
    for (size_t i = 0; i < n; i++) {
        unsigned char p = i < m ? (unsigned char)presented[i] : 0;
        diff |= (unsigned char)(expected[i] ^ p);
    }
    return diff == 0;
}

int api_check_auth(const char *expected, const char *authorization)
{
    const char *p;

    if (!authorization || strlen(authorization) < 7)
        return 401;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return 401;
    p = authorization + 7;
    while (*p == ' ')
        p++;
    return api_token_equal(expected, p) ? 0 : 401;
}

/* A field that a spreadsheet would run as a formula: = + - @ (or tab / CR) then more. */
static bool csv_formula(const char *f, size_t len)
{
    return len > 1 && strchr("=+-@\t\r", f[0]) != NULL;
}

char *api_csv_neutralise(const char *csv)
{
    struct buf b;
    const char *p = csv;

    buf_init(&b);
    if (strncmp(p, "\xEF\xBB\xBF", 3) == 0) {
        buf_append(&b, p, 3);
        p += 3;
    }
    while (*p) { /* one field per turn */
        if (*p == '"') {
            const char *q = p + 1;
            while (*q && !(q[0] == '"' && q[1] != '"'))
                q += q[0] == '"' ? 2 : 1;
            buf_putc(&b, '"');
            if (csv_formula(p + 1, (size_t)(q - p - 1)))
                buf_putc(&b, '\'');
            buf_append(&b, p + 1, (size_t)(q - p - 1));
            p = *q ? q + 1 : q;
            if (*q)
                buf_putc(&b, '"');
        } else {
            size_t len = strcspn(p, ",\r\n");
            if (csv_formula(p, len))
                buf_putc(&b, '\'');
            buf_append(&b, p, len);
            p += len;
        }
        size_t sep = strspn(p, ",\r\n");
        if (sep > 1 && *p == ',')
            sep = 1; /* an empty field follows: handle it as a field */
        buf_append(&b, p, sep);
        p += sep;
    }
    return buf_take(&b);
}

enum api_role api_auth_role(const char *admin, const char *read, const char *authorization)
{
    if (api_check_auth(admin, authorization) == 0)
        return API_ROLE_ADMIN;
    if (read && *read && api_check_auth(read, authorization) == 0)
        return API_ROLE_READ;
    return API_ROLE_NONE;
}

/* Is h (no port) an IPv4 or IPv6 literal? */
static bool is_ip_literal(const char *h, size_t n)
{
    char tmp[64];
    unsigned char bin[16];

    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
        if (n >= sizeof tmp)
            return false;
        memcpy(tmp, h, n);
        tmp[n] = '\0';
        return inet_pton(AF_INET6, tmp, bin) == 1;
    }
    if (n >= sizeof tmp)
        return false;
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET, tmp, bin) == 1;
}

bool api_host_allowed(const char *host, const char *names)
{
    size_t n;
    const char *colon;

    if (!host)
        return true; /* HTTP/1.0 without Host: no browser sends that */
    n = strlen(host);
    colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']'))
        n = (size_t)(colon - host);
    if (n == 0)
        return false;
    if (is_ip_literal(host, n) || (n == 9 && strncasecmp(host, "localhost", 9) == 0))
        return true;
    for (const char *p = names ? names : ""; *p;) {
        size_t len = strcspn(p, ", ");
        if (len == n && strncasecmp(p, host, n) == 0)
            return true;
        p += len;
        p += strspn(p, ", ");
    }
    return false;
}

void api_sse_format(struct buf *out, uint64_t id, const char *event, const char *data)
{
    const char *p = data ? data : "";

    if (id)
        buf_printf(out, "id: %llu\n", (unsigned long long)id);
    if (event && *event)
        buf_printf(out, "event: %s\n", event);
    for (;;) {
        size_t n = strcspn(p, "\r\n");
        buf_puts(out, "data: ");
        buf_append(out, p, n);
        buf_putc(out, '\n');
        p += n;
        if (*p == '\0')
            break;
        if (p[0] == '\r' && p[1] == '\n')
            p += 2;
        else
            p++;
        if (*p == '\0')
            break;
    }
    buf_putc(out, '\n');
}

void api_sse_heartbeat(struct buf *out)
{
    buf_puts(out, ": keepalive\n\n");
}

const char *api_mime_for(const char *name)
{
    for (size_t i = 0; i < sizeof api_mime_table / sizeof api_mime_table[0]; i++) {
        if (str_has_suffix(name, api_mime_table[i].ext))
            return api_mime_table[i].mime;
    }
    return "application/octet-stream";
}

void api_etag_for(const void *data, size_t len, char *out, size_t outsz)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    snprintf(out, outsz, "\"%016llx\"", (unsigned long long)h);
}

bool api_etag_matches(const char *inm, const char *etag)
{
    size_t elen;
    const char *p = inm;

    if (!inm || !etag)
        return false;
    elen = strlen(etag);
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' '))
            return true;
        p = strchr(p, ',');
        if (!p)
            break;
    }
    return false;
}

const struct api_asset *api_asset_find(const char *url_path)
{
    const char *p = url_path;

    if (!p)
        return NULL;
    while (*p == '/')
        p++;
    if (*p == '\0')
        p = "index.html";
    for (size_t i = 0; i < api_embedded_assets_count; i++) {
        if (strcmp(api_embedded_assets[i].path, p) == 0)
            return &api_embedded_assets[i];
    }
    return NULL;
}

int64_t api_cache_max_age_ms(const char *cc)
{
    int64_t age = 0;
    const char *p = cc;

    while (p && *p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t n = strcspn(p, ",");
        if ((n == 8 && strncasecmp(p, "no-cache", 8) == 0) ||
            (n == 8 && strncasecmp(p, "no-store", 8) == 0))
            return 0;
        if (n > 8 && n < 20 && strncasecmp(p, "max-age=", 8) == 0) {
            char num[16];
            uint64_t v;
            memcpy(num, p + 8, n - 8);
            num[n - 8] = '\0';
            for (size_t k = strlen(num); k > 0 && num[k - 1] == ' '; k--)
                num[k - 1] = '\0';
            if (str_to_uint64(num, &v) == 0)
                age = v > 3600 ? 3600000 : (int64_t)v * 1000;
        }
        p += n;
    }
    return age;
}
