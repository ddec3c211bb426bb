/* SPDX-License-Identifier: MIT */
/* rest.c - the CLI's REST client of the daemon (see rest.h). */
#include "cli/rest.h"
#include "cli/render.h"

#include "base/err.h"
#include "base/jsonx.h"
#include "base/str.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REST_MAX_RESPONSE (64u * 1024 * 1024)
#define SSE_LINE_MAX      (1024u * 1024)

int rest_init(struct rest_client *rc, const char *server, const char *token_file, struct err *e)
{
    char dir[900];
    int rc_;

    memset(rc, 0, sizeof *rc);
    if (!server || !*server)
        server = getenv("POOLPATCH_SERVER");
    if (!server || !*server)
        server = REST_DEFAULT_SERVER;
    if (!str_has_prefix(server, "http://") && !str_has_prefix(server, "https://"))
        return err_set(e, PP_EINVAL, "--server: '%s' must start with http:// or https://", server);
    if (str_lcpy(rc->base, server, sizeof rc->base) >= sizeof rc->base)
        return err_set(e, PP_EINVAL, "--server: URL too long");
    size_t n = strlen(rc->base);
    while (n && rc->base[n - 1] == '/')
        rc->base[--n] = '\0';
    if (token_file && *token_file) {
        str_lcpy(rc->token_path, token_file, sizeof rc->token_path);
    } else {
        if ((rc_ = api_state_dir(dir, sizeof dir, e)) != 0)
            return rc_;
        snprintf(rc->token_path, sizeof rc->token_path, "%s/api-token", dir);
    }
    rc_ = api_token_load(rc->token_path, false, rc->token, sizeof rc->token, e);
    if (rc_ == PP_ENOTFOUND)
        return err_set(e, rc_,
                       "no API token at %s: the daemon writes it when it first starts "
                       "('poolpatch serve'); pass --token-file if it uses another path",
                       rc->token_path);
    if (rc_)
        return rc_;
    rc->curl = curl_easy_init();
    if (!rc->curl)
        return err_set(e, PP_ENOMEM, "curl_easy_init failed");
    rc->timeout_s = 300;
    return 0;
}

void rest_cleanup(struct rest_client *rc)
{
    if (rc->curl)
        curl_easy_cleanup(rc->curl);
    rc->curl = NULL;
    memset(rc->token, 0, sizeof rc->token);
}

int rest_code_for_status(long status, bool xapi)
{
    switch (status) {
    case 400:
        return PP_EINVAL;
    case 401:
    case 403:
        return PP_EAUTH;
    case 404:
        return PP_ENOTFOUND;
    case 405:
        return PP_EINVAL;
    case 409:
        return PP_ESTATE;
    case 413:
        return PP_ELIMIT;
    case 502:
        return xapi ? PP_EXAPI : PP_ETRANSPORT;
    case 504:
        return PP_ETIMEOUT;
    default:
        return PP_EIO;
    }
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;

    if (b->len + len > REST_MAX_RESPONSE)
        return 0;
    buf_append(b, p, len);
    return len;
}

static struct curl_slist *headers(struct rest_client *rc, bool json_body, const char *accept)
{
    char auth[API_TOKEN_MAX + 32];
    struct curl_slist *h = NULL;

    snprintf(auth, sizeof auth, "Authorization: Bearer %s", rc->token);
    h = curl_slist_append(h, auth);
    memset(auth, 0, sizeof auth);
    if (json_body)
        h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, accept);
    h = curl_slist_append(h, "Expect:");
    if (rc->timeout_s > 0) { /* the daemon never carries out a request after we gave up */
        char t[48];
        snprintf(t, sizeof t, "X-Request-Timeout: %ld", rc->timeout_s);
        h = curl_slist_append(h, t);
    }
    return h;
}

static int transport_error(struct rest_client *rc, CURLcode cc, const char *detail, struct err *e)
{
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
        return err_set(e, PP_ETRANSPORT,
                       "cannot reach the poolpatch daemon at %s (%s); start it with "
                       "'poolpatch serve' or point --server at a running one",
                       rc->base, detail[0] ? detail : curl_easy_strerror(cc));
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return err_set(e, PP_ETIMEOUT, "the daemon at %s did not answer in time (%s)", rc->base,
                       detail[0] ? detail : curl_easy_strerror(cc));
    return err_set(e, PP_ETRANSPORT, "talking to the daemon at %s: %s", rc->base,
                   detail[0] ? detail : curl_easy_strerror(cc));
}

/* Turn a non-2xx answer into e. */
static int http_error(struct rest_client *rc, long status, const struct buf *body, struct err *e)
{
    json_t *v = NULL;
    const char *msg = NULL, *xapi = NULL;
    int code;

    if (body->len && jsonx_load(body->data, body->len, body->len, 16, "error", &v, NULL) == 0) {
        json_t *er = json_object_get(v, "error");
        msg = jsonx_str(er, "message", NULL);
        xapi = jsonx_str(er, "xapi_code", NULL);
    }
    code = rest_code_for_status(status, xapi != NULL);
    /* the message may quote pools, hosts or a catalog: terminal-safe before anyone prints it */
    struct buf safe;
    buf_init(&safe);
    if (msg) {
        render_safe_message(&safe, msg);
        msg = buf_str(&safe);
    }
    if (status == 401)
        err_set(e, code,
                "the daemon refused the API token from %s (%s); is --token-file the "
                "daemon's?",
                rc->token_path, msg ? msg : "401");
    else
        err_set(e, code, "%s", msg ? msg : "the daemon answered with an error");
    if (xapi && e) {
        buf_reset(&safe);
        render_safe_text(&safe, xapi);
        str_lcpy(e->xapi_code, buf_str(&safe), sizeof e->xapi_code);
    }
    buf_cleanup(&safe);
    json_decref(v);
    return code;
}

/* The options every request shares. */
static void common_opts(struct rest_client *rc, const char *url, struct curl_slist *h,
                        struct buf *resp, char *errbuf)
{
    CURL *c = rc->curl;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, rc->timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* After curl_easy_perform: the answer into out / raw, or the error into e. */
static int take_answer(struct rest_client *rc, CURLcode cc, const char *errbuf, struct buf *resp,
                       json_t **out, struct buf *raw, struct err *e)
{
    long status = 0;

    if (cc != CURLE_OK)
        return transport_error(rc, cc, errbuf, e);
    curl_easy_getinfo(rc->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return http_error(rc, status, resp, e);
    if (raw)
        buf_append(raw, resp->data ? resp->data : "", resp->len);
    else if (out && resp->len)
        return jsonx_load(resp->data, resp->len, REST_MAX_RESPONSE, 128, "the daemon's answer", out,
                          e);
    return 0;
}

int rest_call(struct rest_client *rc, const char *method, const char *path, const json_t *body,
              json_t **out, struct buf *raw, struct err *e)
{
    CURL *c = rc->curl;
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    struct buf resp;
    char *text = NULL;
    struct curl_slist *h;
    CURLcode cc;
    int ret;

    if (out)
        *out = NULL;
    snprintf(url, sizeof url, "%s%s", rc->base, path);
    buf_init(&resp);
    curl_easy_reset(c);
    h = headers(rc, body != NULL, "Accept: application/json");
    common_opts(rc, url, h, &resp, errbuf);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    free(text);
    ret = take_answer(rc, cc, errbuf, &resp, out, raw, e);
    buf_cleanup(&resp);
    return ret;
}

static size_t on_read_file(char *p, size_t size, size_t n, void *ud)
{
    return fread(p, 1, size * n, ud);
}

int rest_upload(struct rest_client *rc, const char *path, FILE *f, int64_t size, json_t **out,
                struct err *e)
{
    CURL *c = rc->curl;
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    struct buf resp;
    struct curl_slist *h;
    long saved = rc->timeout_s;
    CURLcode cc;
    int ret;

    *out = NULL;
    snprintf(url, sizeof url, "%s%s", rc->base, path);
    buf_init(&resp);
    curl_easy_reset(c);
    rc->timeout_s = 0; /* a large file takes its time; a stalled transfer is cut below */
    h = headers(rc, false, "Accept: application/json");
    h = curl_slist_append(h, "Content-Type: application/octet-stream");
    common_opts(rc, url, h, &resp, errbuf);
    rc->timeout_s = saved;
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read_file);
    curl_easy_setopt(c, CURLOPT_READDATA, f);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 300L);
    cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    ret = take_answer(rc, cc, errbuf, &resp, out, NULL, e);
    buf_cleanup(&resp);
    return ret;
}

/* ---------------------------------------------------------------- SSE */

void sse_parser_init(struct sse_parser *p, int (*on_event)(void *, const char *, const char *),
                     int (*on_comment)(void *, const char *), void *ud)
{
    memset(p, 0, sizeof *p);
    buf_init(&p->line);
    buf_init(&p->data);
    p->on_event = on_event;
    p->on_comment = on_comment;
    p->ud = ud;
}

void sse_parser_cleanup(struct sse_parser *p)
{
    buf_cleanup(&p->line);
    buf_cleanup(&p->data);
}

static int sse_line(struct sse_parser *p, const char *l)
{
    int r = 0;

    if (*l == '\0') {
        if (p->has_data && p->on_event)
            r = p->on_event(p->ud, p->event[0] ? p->event : "message", buf_str(&p->data));
        buf_reset(&p->data);
        p->has_data = false;
        p->event[0] = '\0';
        return r;
    }
    if (*l == ':')
        return p->on_comment ? p->on_comment(p->ud, l[1] == ' ' ? l + 2 : l + 1) : 0;
    const char *colon = strchr(l, ':');
    size_t flen = colon ? (size_t)(colon - l) : strlen(l);
    const char *val = colon ? colon + 1 : "";
    if (*val == ' ')
        val++;
    if (flen == 4 && strncmp(l, "data", 4) == 0) {
        if (p->has_data)
            buf_putc(&p->data, '\n');
        buf_puts(&p->data, val);
        p->has_data = true;
    } else if (flen == 5 && strncmp(l, "event", 5) == 0) {
        str_lcpy(p->event, val, sizeof p->event);
    }
    /* id: and retry: are not needed by the CLI */
    return 0;
}

int sse_parser_feed(struct sse_parser *p, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (p->last_cr) {
            p->last_cr = false;
            if (c == '\n')
                continue; /* the LF of a CRLF (possibly split across feeds) */
        }
        if (c == '\r' || c == '\n') {
            int r = sse_line(p, buf_str(&p->line));
            buf_reset(&p->line);
            p->last_cr = c == '\r';
            if (r)
                return r;
            continue;
        }
        if (p->line.len >= SSE_LINE_MAX)
            continue; /* over-long lines are truncated, never unbounded */
        buf_putc(&p->line, c);
    }
    return 0;
}

struct stream_ctx {
    struct sse_parser *p;
    int stop;
    long status;
    struct buf errbody;
    CURL *c;
};

static size_t on_stream(char *d, size_t size, size_t n, void *ud)
{
    struct stream_ctx *s = ud;
    size_t len = size * n;

    if (s->status == 0)
        curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200) {
        if (s->errbody.len < 65536)
            buf_append(&s->errbody, d, len);
        return len;
    }
    s->stop = sse_parser_feed(s->p, d, len);
    return s->stop ? 0 : len;
}

int rest_events(struct rest_client *rc, struct sse_parser *p, struct err *e)
{
    CURL *c = rc->curl;
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    struct stream_ctx s = {.p = p, .c = c};
    struct curl_slist *h;
    CURLcode cc;
    int ret = 0;

    snprintf(url, sizeof url, "%s/api/v1/events", rc->base);
    buf_init(&s.errbody);
    curl_easy_reset(c);
    h = headers(rc, false, "Accept: text/event-stream");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* no overall timeout; a stream without even a heartbeat for 60 s is dead */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (s.stop) {
        ret = 0;
    } else if (cc != CURLE_OK) {
        ret = transport_error(rc, cc, errbuf, e);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s.status);
        if (s.status != 200)
            ret = http_error(rc, s.status, &s.errbody, e);
        else
            ret = err_set(e, PP_ETRANSPORT, "the daemon at %s ended the event stream", rc->base);
    }
    buf_cleanup(&s.errbody);
    return ret;
}
