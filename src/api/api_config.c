/* SPDX-License-Identifier: MIT */
/*
 * api_config.c - what `poolpatch serve` and the CLI share on disk: the settings file
 * (key = value lines), the state directory, and the API token file (0600).
 */
#include "api/api.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SETTINGS_LINE_MAX 4096

int api_state_dir(char *out, size_t outsz, struct err *e)
{
    const char *v = getenv("POOLPATCH_HOME");
    int n;

    if (v && *v)
        n = snprintf(out, outsz, "%s", v);
    else if ((v = getenv("XDG_STATE_HOME")) && *v)
        n = snprintf(out, outsz, "%s/poolpatch", v);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(out, outsz, "%s/.local/state/poolpatch", v);
    else
        return err_set(e, PP_EINVAL,
                       "no state directory: set POOLPATCH_HOME (or HOME) or pass --db and "
                       "--token-file");
    if (n < 0 || (size_t)n >= outsz)
        return err_set(e, PP_ELIMIT, "state directory path is too long");
    return 0;
}

void api_settings_defaults(struct api_settings *s)
{
    char dir[900];

    memset(s, 0, sizeof *s);
    snprintf(s->listen, sizeof s->listen, "127.0.0.1:%d", API_DEFAULT_PORT);
    if (api_state_dir(dir, sizeof dir, NULL) == 0) {
        snprintf(s->db, sizeof s->db, "%s/poolpatch.db", dir);
        snprintf(s->token_file, sizeof s->token_file, "%s/api-token", dir);
    }
    s->check_interval_s = -1;
    s->max_connections = API_DEFAULT_MAX_CONNECTIONS;
    s->max_per_ip = API_DEFAULT_MAX_PER_IP;
    s->conn_timeout_s = API_DEFAULT_CONN_TIMEOUT_S;
    s->max_body = API_DEFAULT_MAX_BODY;
    s->request_timeout_ms = 0;
    s->host_return_timeout_s = 0;
}

static int set_str(char *dst, size_t dstsz, const char *key, const char *value, struct err *e)
{
    if (str_lcpy(dst, value, dstsz) >= dstsz)
        return err_set(e, PP_ELIMIT, "%s: value is longer than %zu bytes", key, dstsz - 1);
    return 0;
}

static int set_uint(const char *key, const char *value, uint64_t lo, uint64_t hi, uint64_t *out,
                    struct err *e)
{
    uint64_t v = 0;

    if (str_to_uint64(value, &v) != 0 || v < lo || v > hi)
        return err_set(e, PP_EINVAL, "%s: '%s' is not a whole number from %llu to %llu", key, value,
                       (unsigned long long)lo, (unsigned long long)hi);
    *out = v;
    return 0;
}

/* Testing settings (docs/windows.md): clock_scale (1-100000) and clock_start (a UTC date
 * "2026-01-13T01:55:00Z" or seconds since the epoch). */
static int set_clock(struct api_settings *s, const char *key, const char *value, struct err *e)
{
    double d = 0;
    int64_t t = 0;
    if (str_eq(key, "clock_scale")) {
        if (str_to_double(value, &d) != 0 || d < 1 || d > 100000)
            return err_set(e, PP_EINVAL, "clock_scale: '%s' is not a number from 1 to 100000",
                           value);
        s->clock_scale = d;
        return 0;
    }
    if (str_to_int64(value, &t) == 0 && t > 0)
        t *= 1000;
    else if (clock_parse_xapi(value, &t) != 0 || t <= 0)
        return err_set(e, PP_EINVAL,
                       "clock_start: '%s' is neither a UTC date like 2026-01-13T01:55:00Z nor "
                       "seconds since the epoch",
                       value);
    s->clock_start_ms = t;
    return 0;
}

int api_settings_set(struct api_settings *s, const char *key, const char *value, struct err *e)
{
    uint64_t v = 0;
    int rc;

    if (str_eq(key, "listen")) {
        char host[128];
        uint16_t port;
        if ((rc = api_parse_listen(value, host, sizeof host, &port, e)) != 0)
            return rc;
        return set_str(s->listen, sizeof s->listen, key, value, e);
    }
    const struct {
        const char *key;
        char *dst;
        size_t size;
    } strs[] = {
        {"db", s->db, sizeof s->db},
        {"token_file", s->token_file, sizeof s->token_file},
        {"web_root", s->web_root, sizeof s->web_root},
        {"catalog_url", s->catalog_url, sizeof s->catalog_url},
        {"log_file", s->log_file, sizeof s->log_file},
        {"vendor_origins", s->vendor_origins, sizeof s->vendor_origins},
        {"read_token_file", s->read_token_file, sizeof s->read_token_file},
        {"server_names", s->server_names, sizeof s->server_names},
        {"ca_bundle", s->ca_bundle, sizeof s->ca_bundle},
        {"update_file_dir", s->update_file_dir, sizeof s->update_file_dir},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (str_eq(key, strs[i].key))
            return set_str(strs[i].dst, strs[i].size, key, value, e);
    }
    if (str_eq(key, "max_per_ip")) {
        if ((rc = set_uint(key, value, 1, 4096, &v, e)) != 0)
            return rc;
        s->max_per_ip = (unsigned)v;
        return 0;
    }
    if (str_eq(key, "log_level")) {
        static const char *const levels[] = {"debug", "info", "warn", "error", "off"};
        for (size_t i = 0; i < 5; i++) {
            if (str_eq(value, levels[i]))
                return set_str(s->log_level, sizeof s->log_level, key, value, e);
        }
        return err_set(e, PP_EINVAL, "log_level: '%s' is not one of debug, info, warn, error, off",
                       value);
    }
    if (str_eq(key, "log_format")) {
        if (str_eq(value, "text") || str_eq(value, "json"))
            return set_str(s->log_format, sizeof s->log_format, key, value, e);
        return err_set(e, PP_EINVAL, "log_format: '%s' is not one of text, json", value);
    }
    if (str_eq(key, "check_interval")) {
        /* seconds; 0 turns periodic checking off */
        if ((rc = set_uint(key, value, 0, 30 * 86400, &v, e)) != 0)
            return rc;
        s->check_interval_s = (int)v;
        return 0;
    }
    if (str_eq(key, "max_connections")) {
        if ((rc = set_uint(key, value, 1, 4096, &v, e)) != 0)
            return rc;
        s->max_connections = (unsigned)v;
        return 0;
    }
    if (str_eq(key, "connection_timeout")) {
        if ((rc = set_uint(key, value, 1, 86400, &v, e)) != 0)
            return rc;
        s->conn_timeout_s = (unsigned)v;
        return 0;
    }
    if (str_eq(key, "max_body")) {
        if ((rc = set_uint(key, value, 1024, 64 * 1024 * 1024, &v, e)) != 0)
            return rc;
        s->max_body = (size_t)v;
        return 0;
    }
    if (str_eq(key, "request_timeout")) {
        /* seconds the API waits for the engine */
        if ((rc = set_uint(key, value, 1, 3600, &v, e)) != 0)
            return rc;
        s->request_timeout_ms = (int)v * 1000;
        return 0;
    }
    if (str_eq(key, "host_return_timeout")) {
        /* seconds a rebooted host may take to come back before the rollout halts */
        if ((rc = set_uint(key, value, 30, 24 * 3600, &v, e)) != 0)
            return rc;
        s->host_return_timeout_s = (int)v;
        return 0;
    }
    if (str_eq(key, "max_upload")) {
        /* bytes of an update file taken in through POST /api/v1/files (1 MiB - 16 GiB) */
        if ((rc = set_uint(key, value, 1024 * 1024, 16ULL << 30, &v, e)) != 0)
            return rc;
        s->max_upload = (int64_t)v;
        return 0;
    }
    if (str_eq(key, "webhook_retry_base")) {
        /* seconds before a failed webhook delivery is tried again (then x3 each time) */
        if ((rc = set_uint(key, value, 1, 3600, &v, e)) != 0)
            return rc;
        s->webhook_retry_base_s = (int)v;
        return 0;
    }
    if (str_eq(key, "clock_scale") || str_eq(key, "clock_start"))
        return set_clock(s, key, value, e);
    if (str_eq(key, "default_policy")) {
        /* the VM placement policy of update plans that name none (PUT /settings changes it) */
        if (str_eq(value, "return") || str_eq(value, "minimal"))
            return set_str(s->default_policy, sizeof s->default_policy, key, value, e);
        return err_set(e, PP_EINVAL, "default_policy: '%s' is not one of return, minimal", value);
    }
    return err_set(
        e, PP_EINVAL,
        "unknown setting '%s' (known: listen, db, token_file, web_root, catalog_url, "
        "check_interval, log_level, log_file, log_format, max_connections, connection_timeout, "
        "max_body, request_timeout, host_return_timeout, vendor_origins, "
        "read_token_file, server_names, max_per_ip, webhook_retry_base, ca_bundle, max_upload, "
        "update_file_dir, clock_scale, clock_start, default_policy)",
        key);
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        *--end = '\0';
    return s;
}

int api_settings_load(struct api_settings *s, const char *path, struct err *e)
{
    char line[SETTINGS_LINE_MAX];
    FILE *f = fopen(path, "r");
    int lineno = 0, rc = 0;

    if (!f)
        return err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char *p, *eq, *key, *value;
        struct err sub = {0};

        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = err_set(e, PP_EPARSE, "%s:%d: line is longer than %d bytes", path, lineno,
                         SETTINGS_LINE_MAX - 2);
            break;
        }
        p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        eq = strchr(p, '=');
        if (!eq) {
            rc = err_set(e, PP_EPARSE, "%s:%d: expected 'key = value'", path, lineno);
            break;
        }
        *eq = '\0';
        key = trim(p);
        value = trim(eq + 1);
        if (*key == '\0') {
            rc = err_set(e, PP_EPARSE, "%s:%d: missing key before '='", path, lineno);
            break;
        }
        if (api_settings_set(s, key, value, &sub) != 0) {
            rc = err_set(e, PP_EPARSE, "%s:%d: %s", path, lineno, sub.msg);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = err_set(e, PP_EIO, "%s: read error", path);
    fclose(f);
    return rc;
}

int api_parse_listen(const char *s, char *host, size_t hostsz, uint16_t *port, struct err *e)
{
    const char *colon;
    const char *ps;
    size_t hl;
    uint64_t v = 0;

    if (!s || !*s)
        return err_set(e, PP_EINVAL, "listen: empty address");
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return err_set(e, PP_EINVAL, "listen: '%s' is not [IPV6]:PORT", s);
        hl = (size_t)(close - s - 1);
        ps = close + 2;
        if (hl == 0 || hl >= hostsz)
            return err_set(e, PP_EINVAL, "listen: bad IPv6 address in '%s'", s);
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            ps = s;
            hl = 0;
        } else {
            hl = (size_t)(colon - s);
            ps = colon + 1;
        }
        if (hl >= hostsz)
            return err_set(e, PP_EINVAL, "listen: host too long in '%s'", s);
        if (hl == 0)
            str_lcpy(host, "127.0.0.1", hostsz);
        else {
            memcpy(host, s, hl);
            host[hl] = '\0';
        }
    }
    if (str_to_uint64(ps, &v) != 0 || v > 65535)
        return err_set(e, PP_EINVAL, "listen: '%s' has no valid port (0-65535)", s);
    *port = (uint16_t)v;
    return 0;
}

int api_mkdir_p(const char *dir, struct err *e)
{
    char tmp[1024];
    size_t n = str_lcpy(tmp, dir, sizeof tmp);

    if (n >= sizeof tmp)
        return err_set(e, PP_ELIMIT, "%s: path too long", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return err_set(e, PP_EIO, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return err_set(e, PP_EIO, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

static int token_valid(const char *t)
{
    size_t n = strlen(t);

    if (n < 16 || n >= API_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int token_read(const char *path, char *out, size_t outsz, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    char tmp[API_TOKEN_MAX + 2];
    ssize_t n;

    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(e, PP_ENOTFOUND, "token file %s does not exist", path);
        return err_set(e, PP_EIO, "cannot read token file %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, PP_EIO, "token file %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return err_set(e, PP_EAUTH,
                       "token file %s is readable by other users; run 'chmod 600 %s' (or delete "
                       "it to get a new token)",
                       path, path);
    }
    n = read(fd, tmp, sizeof tmp - 1);
    close(fd);
    if (n < 0)
        return err_set(e, PP_EIO, "cannot read token file %s: %s", path, strerror(errno));
    tmp[n] = '\0';
    char *t = trim(tmp);
    if (!token_valid(t))
        return err_set(e, PP_EPARSE,
                       "token file %s does not hold a token (16-127 characters of [A-Za-z0-9._-])",
                       path);
    if (str_lcpy(out, t, outsz) >= outsz)
        return err_set(e, PP_ELIMIT, "token longer than the buffer");
    return 0;
}

int api_token_load(const char *path, bool create, char *out, size_t outsz, struct err *e)
{
    unsigned char raw[32];
    char hex[sizeof raw * 2 + 2];
    int rc, fd;
    size_t got = 0;

    rc = token_read(path, out, outsz, e);
    if (rc != PP_ENOTFOUND || !create)
        return rc;
    err_clear(e);
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_set(e, PP_EIO, "getrandom: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST) /* another process won the race: use its token */
            return token_read(path, out, outsz, e);
        return err_set(e, PP_EIO, "cannot create token file %s: %s", path, strerror(errno));
    }
    size_t len = strlen(hex);
    hex[len++] = '\n';
    ssize_t w = write(fd, hex, len);
    if (w != (ssize_t)len || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(path);
        return err_set(e, PP_EIO, "cannot write token file %s: %s", path, strerror(saved));
    }
    close(fd);
    hex[len - 1] = '\0';
    if (str_lcpy(out, hex, outsz) >= outsz)
        return err_set(e, PP_ELIMIT, "token longer than the buffer");
    return 0;
}
