/* SPDX-License-Identifier: MIT */
/*
 * engine_fetch.c - the engine's HTTP work outside XAPI, run on the calling thread (never the
 * engine thread): the update catalog (conditional GET; http, https or file://) and update
 * downloads from the vendor's file service with a client ID, as XenCenter does
 * (docs/reference/xencenter.md section 5): a token from POST <service>/api/session/token with
 * Basic username:apikey, then downloads under /direct/v2/download/ with Basic
 * "<username>_<session_id>:<token>", retried up to 5 times, resumed, size-checked.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine_int.h"

#define LOG_MOD               "fetch"
#define USER_AGENT            "poolpatch/0.1"
#define DOWNLOAD_PATH_MARK    "/direct/v2/download/"
#define DOWNLOAD_TRIES        5
#define DOWNLOAD_RETRY_S      5
#define TOKEN_MAX_BYTES       (64 * 1024)
#define DOWNLOAD_MAX_BYTES    (8ULL << 30) /* when the catalog gives no size */
#define FETCH_TOKEN_MINUTES   1440         /* the expiration asked for, as XenCenter does */
#define FETCH_TOKEN_MINUTES_S "1440"

/* One origin after parsing with libcurl's URL API: lower-case scheme and host, numeric port. */
struct origin {
    char scheme[8];
    char host[256];
    long port;
};

static bool is_loopback_host(const char *h)
{
    return str_has_prefix(h, "127.") || str_eq(h, "localhost") || str_eq(h, "[::1]") ||
           str_eq(h, "::1");
}

/*
 * Parse url into o.  Refuses what the allow-list cannot compare safely: no scheme or host,
 * userinfo (the "http://127.0.0.1@evil/" trick), schemes other than http and https.
 */
static int origin_parse(const char *url, struct origin *o, struct err *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pw = NULL;
    int rc = 0;

    memset(o, 0, sizeof *o);
    if (!u)
        return err_set(e, PP_ENOMEM, "cannot parse a URL");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        rc = err_set(e, PP_EINVAL, "%s: not an absolute http(s) URL", url);
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
             curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK)
        rc = err_set(e, PP_EAUTH, "%s: a URL with user information (user@host) is refused", url);
    else if (!str_eq(scheme, "https") && !str_eq(scheme, "http"))
        rc = err_set(e, PP_EINVAL, "%s: only http and https URLs are allowed here", url);
    else if (str_lcpy(o->host, host, sizeof o->host) >= sizeof o->host)
        rc = err_set(e, PP_ELIMIT, "%s: host name too long", url);
    if (rc == 0) {
        str_lcpy(o->scheme, scheme, sizeof o->scheme);
        for (char *c = o->host; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        o->port = strtol(port, NULL, 10);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_free(pw);
    curl_url_cleanup(u);
    return rc;
}

/* Is o one of the comma / space separated origins of list (NULL = the vendor's default)? */
static bool origin_allowed(const struct origin *o, const char *list)
{
    char *copy = xstrdup(list ? list : FETCH_DEFAULT_VENDOR_ORIGINS), *save = NULL;
    bool ok = false;

    for (char *t = strtok_r(copy, ", \t", &save); t && !ok; t = strtok_r(NULL, ", \t", &save)) {
        struct origin a;
        if (origin_parse(t, &a, NULL) != 0)
            continue;
        /* plain http only for a test file service on this machine */
        if (str_eq(a.scheme, "http") && !is_loopback_host(a.host))
            continue;
        ok = str_eq(a.scheme, o->scheme) && str_eq(a.host, o->host) && a.port == o->port;
    }
    free(copy);
    return ok;
}

/* May the client ID be sent to url's origin?  0, or PP_EAUTH / PP_EINVAL naming why not. */
int fetch_origin_check(const char *url, const char *origins, struct err *e)
{
    struct origin o;
    int rc = origin_parse(url, &o, e);

    if (rc != 0)
        return rc;
    if (!origin_allowed(&o, origins))
        return err_set(e, PP_EAUTH,
                       "%s: refusing to send the client ID to %s://%s:%ld, which is not a vendor "
                       "file service origin (allowed: %s; setting vendor_origins)",
                       url, o.scheme, o.host, o.port,
                       origins ? origins : FETCH_DEFAULT_VENDOR_ORIGINS);
    return 0;
}

/* The token endpoint on url's origin (new string), built with the URL API. */
static char *token_url(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL, *s = NULL;

    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_PATH, "/api/session/token", 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
        out = xstrdup(s);
    curl_free(s);
    curl_url_cleanup(u);
    return out;
}

/* A token's expiry: the server's, bounded by what was asked for; now when it gives none. */
int64_t fetch_token_expiry(int64_t now_ms, int64_t server_ms)
{
    int64_t max = now_ms + (int64_t)FETCH_TOKEN_MINUTES * 60 * 1000;

    if (server_ms <= now_ms)
        return server_ms > 0 ? server_ms : now_ms + 10 * 60 * 1000;
    return server_ms < max ? server_ms : max;
}

void fetch_result_cleanup(struct fetch_result *r)
{
    free(r->body);
    free(r->etag);
    free(r->last_modified);
    memset(r, 0, sizeof(*r));
}

struct sink {
    struct buf b;
    size_t max;
    bool over;
    FILE *fp;
    uint64_t written; /* to fp, this transfer */
    char *etag;
    char *last_modified;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;

    if (s->fp) {
        if (s->written + len > s->max) {
            s->over = true;
            return 0;
        }
        s->written += len;
        return fwrite(p, 1, len, s->fp);
    }
    if (s->b.len + len > s->max) {
        s->over = true;
        return 0;
    }
    buf_append(&s->b, p, len);
    return len;
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *v;
    size_t vl;

    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    v = line + nl + 1;
    vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    return xstrndup(v, vl);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    char *v;

    if ((v = header_value(p, len, "ETag"))) {
        free(s->etag);
        s->etag = v;
    } else if ((v = header_value(p, len, "Last-Modified"))) {
        free(s->last_modified);
        s->last_modified = v;
    }
    return len;
}

static CURL *easy_new(const char *url, bool allow_file)
{
    CURL *c = curl_easy_init();

    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, allow_file ? "http,https,file" : "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    return c;
}

static int curl_error(CURLcode cc, const char *url, struct err *e)
{
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return err_set(e, PP_ETIMEOUT, "%s: timed out", url);
    if (cc == CURLE_UNSUPPORTED_PROTOCOL)
        return err_set(e, PP_EINVAL, "%s: only http and https URLs are allowed here", url);
    if (cc == CURLE_FILE_COULDNT_READ_FILE)
        return err_set(e, PP_EIO, "%s: cannot read the file", url);
    return err_set(e, PP_ETRANSPORT, "%s: %s", url, curl_easy_strerror(cc));
}

/* GET with conditional headers (see engine_int.h).  Caller's thread. */
int fetch_url(const char *url, const char *etag, const char *last_modified, size_t max_bytes,
              struct fetch_result *out, struct err *e)
{
    CURL *c;
    struct curl_slist *hdr = NULL;
    struct sink s = {.max = max_bytes};
    CURLcode cc;
    long status = 0;
    char *h;

    memset(out, 0, sizeof(*out));
    if (!url || !*url)
        return err_set(e, PP_EINVAL, "no catalog URL configured (setting catalog_url)");
    c = easy_new(url, true);
    if (!c)
        return err_set(e, PP_ENOMEM, "cannot create an HTTP handle");
    buf_init(&s.b);
    if (etag) {
        h = xasprintf("If-None-Match: %s", etag);
        hdr = curl_slist_append(hdr, h);
        free(h);
    }
    if (last_modified) {
        h = xasprintf("If-Modified-Since: %s", last_modified);
        hdr = curl_slist_append(hdr, h);
        free(h);
    }
    /* XenCenter fetches its catalog uncached */
    hdr = curl_slist_append(hdr, "Cache-Control: no-cache");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    if (s.over) {
        buf_cleanup(&s.b);
        free(s.etag);
        free(s.last_modified);
        return err_set(e, PP_ELIMIT, "%s: the catalog is larger than %zu bytes", url, max_bytes);
    }
    if (cc != CURLE_OK) {
        buf_cleanup(&s.b);
        free(s.etag);
        free(s.last_modified);
        return curl_error(cc, url, e);
    }
    if (status == 0)
        status = 200; /* file:// */
    if (status != 200 && status != 304) {
        buf_cleanup(&s.b);
        free(s.etag);
        free(s.last_modified);
        return err_set(e, PP_EIO, "%s answered HTTP %ld", url, status);
    }
    out->status = status;
    out->body_len = s.b.len;
    out->body = buf_take(&s.b);
    out->etag = s.etag;
    out->last_modified = s.last_modified;
    return 0;
}

/* Basic credentials on an easy handle through libcurl (sent to this host only, not redirects). */
static void set_basic(CURL *c, const char *user, const char *password)
{
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, password);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
}

static int status_error(long status, const char *url, struct err *e)
{
    switch (status) {
    case 401:
        return err_set(e, PP_EAUTH,
                       "%s: the file service refused the client ID (HTTP 401). It may have been "
                       "revoked: download a new xencenter_client_id.json and run 'poolpatch "
                       "client-id import FILE'",
                       url);
    case 403:
        return err_set(e, PP_EAUTH,
                       "%s: this update is only available to customers with an active support "
                       "contract (HTTP 403); check the account behind the client ID",
                       url);
    case 404:
        return err_set(e, PP_ENOTFOUND,
                       "%s: the update is not on the file service (HTTP 404); check for updates "
                       "again, the catalog may be out of date",
                       url);
    case 400:
        return err_set(e, PP_EINVAL, "%s: the file service rejected the request (HTTP 400)", url);
    default:
        return err_set(e, PP_EIO, "%s: the file service answered HTTP %ld", url, status);
    }
}

/* POST the token request; fills *token / *session (new strings) and *expiry_ms. */
static int request_token(const char *dl_url, const struct fetch_auth *a, char **token,
                         char **session, int64_t *expiry_ms, struct err *e)
{
    char *url = token_url(dl_url);
    struct curl_slist *hdr = NULL;
    struct sink s = {.max = TOKEN_MAX_BYTES};
    CURL *c;
    json_t *j = NULL;
    long status = 0;
    CURLcode cc;
    int rc = 0;

    if (!url)
        return err_set(e, PP_EINVAL, "%s: cannot build the token URL", dl_url);
    c = easy_new(url, false);
    if (!c) {
        free(url);
        return err_set(e, PP_ENOMEM, "cannot create an HTTP handle");
    }
    buf_init(&s.b);
    set_basic(c, a->username, a->apikey);
    /* no redirects with the API key: the token endpoint answers itself */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"expiration\":" FETCH_TOKEN_MINUTES_S "}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    if (cc != CURLE_OK)
        rc = curl_error(cc, url, e);
    else if (status != 201 && status != 200)
        rc = status_error(status, url, e);
    else if (jsonx_load(buf_str(&s.b), s.b.len, TOKEN_MAX_BYTES, 8, "token reply", &j, e) != 0)
        rc = e ? e->code : PP_EPARSE;
    else if (!jsonx_str(j, "token", NULL) || !jsonx_str(j, "session_id", NULL))
        rc = err_set(e, PP_EPARSE, "%s: the token reply lacks token or session_id", url);
    if (rc == 0) {
        int64_t t = 0;
        *token = xstrdup(jsonx_str(j, "token", ""));
        *session = xstrdup(jsonx_str(j, "session_id", ""));
        if (clock_parse_xapi(jsonx_str(j, "expires_at", ""), &t) != 0)
            t = 0;
        *expiry_ms = fetch_token_expiry((int64_t)time(NULL) * 1000, t);
    }
    json_decref(j);
    buf_cleanup(&s.b);
    free(url);
    return rc;
}

/* One download attempt into part (appending to what is there). */
static int download_once(const char *url, const char *part, const char *user, const char *password,
                         int64_t expected_size, struct err *e)
{
    struct stat st;
    curl_off_t have = stat(part, &st) == 0 ? (curl_off_t)st.st_size : 0;
    FILE *fp = fopen(part, "ab");
    struct sink s = {0};
    CURL *c;
    CURLcode cc;
    long status = 0;

    if (!fp)
        return err_set(e, PP_EIO, "%s: %s", part, strerror(errno));
    /* never file:// for a URL that comes from a catalog: it would copy local files */
    c = easy_new(url, false);
    s.fp = fp;
    /* bounded: the catalog's size, or a hard cap when it gives none (a disk-filling server) */
    s.max = expected_size > 0 ? (size_t)expected_size : DOWNLOAD_MAX_BYTES;
    if (have >= (curl_off_t)s.max) {
        fclose(fp);
        unlink(part);
        curl_easy_cleanup(c);
        return err_set(e, PP_EIO, "%s: the partial download is already larger than expected", url);
    }
    s.max -= (size_t)have;
    if (user)
        set_basic(c, user, password);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, have);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (fclose(fp) != 0 && cc == CURLE_OK)
        return err_set(e, PP_EIO, "%s: %s", part, strerror(errno));
    if (s.over) {
        unlink(part);
        return err_set(e, PP_ELIMIT, "%s: the server sent more than %s bytes", url,
                       expected_size > 0 ? "the catalog's" : "the allowed");
    }
    if (cc == CURLE_RANGE_ERROR || status == 416) {
        unlink(part); /* the server cannot resume: start over next time */
        return err_set(e, PP_EIO, "%s: cannot resume the download", url);
    }
    if (cc != CURLE_OK)
        return curl_error(cc, url, e);
    if (status != 0 && status != 200 && status != 206) {
        unlink(part);
        return status_error(status, url, e);
    }
    return 0;
}

/*
 * The download credentials for a file-service URL: "<username>_<session_id>" and the token (a
 * cached one, or a new one from the token endpoint, reported through the out parameters).
 */
static int download_creds(const char *url, const struct fetch_auth *auth, char **user, char **tok,
                          char **new_token, char **new_session, int64_t *token_expiry_ms,
                          struct err *e)
{
    char *sess = NULL;
    int rc;

    if (!auth || !auth->username || !auth->apikey)
        return err_set(e, PP_EAUTH,
                       "%s is on the vendor's file service, which needs a client ID: "
                       "download xencenter_client_id.json from your account and run "
                       "'poolpatch client-id import FILE'",
                       url);
    if ((rc = fetch_origin_check(url, auth->origins, e)) != 0)
        return rc;
    if (auth->token && auth->session_id) {
        *tok = xstrdup(auth->token);
        sess = xstrdup(auth->session_id);
    } else {
        int64_t exp = 0;
        if ((rc = request_token(url, auth, tok, &sess, &exp, e)) != 0)
            return rc;
        if (new_token)
            *new_token = xstrdup(*tok);
        if (new_session)
            *new_session = xstrdup(sess);
        if (token_expiry_ms)
            *token_expiry_ms = exp;
    }
    *user = xasprintf("%s_%s", auth->username, sess);
    free(sess);
    return 0;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Download an update file (see engine_int.h).  Caller's thread. */
int fetch_download(const char *url, const char *path, int64_t expected_size,
                   const struct fetch_auth *auth, char **new_token, char **new_session,
                   int64_t *token_expiry_ms, struct err *e)
{
    char *part = NULL, *user = NULL, *tok = NULL;
    struct stat st;
    int rc = 0;

    if (strstr(url, DOWNLOAD_PATH_MARK) &&
        (rc = download_creds(url, auth, &user, &tok, new_token, new_session, token_expiry_ms, e)) !=
            0)
        return rc;
    part = xasprintf("%s.part", path);
    for (int attempt = 1; attempt <= DOWNLOAD_TRIES; attempt++) {
        rc = download_once(url, part, user, tok, expected_size, e);
        if (rc == 0 || rc == PP_EAUTH || rc == PP_ENOTFOUND || rc == PP_EINVAL || rc == PP_ELIMIT)
            break;
        log_warn(LOG_MOD, "download attempt %d of %d failed: %s", attempt, DOWNLOAD_TRIES,
                 e ? e->msg : "");
        if (attempt < DOWNLOAD_TRIES)
            sleep(DOWNLOAD_RETRY_S);
    }
    if (rc == 0 && expected_size > 0 && stat(part, &st) == 0 && st.st_size != expected_size) {
        unlink(part);
        rc = err_set(e, PP_EIO, "%s: downloaded %lld bytes, the catalog says %lld", url,
                     (long long)st.st_size, (long long)expected_size);
    }
    if (rc == 0 && rename(part, path) != 0)
        rc = err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
    free_secret(user);
    free_secret(tok);
    free(part);
    return rc;
}
