/* SPDX-License-Identifier: MIT */
/* log.c - leveled, thread-safe logging (see log.h). */
#include "log.h"
#include "err.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_min = LOG_LVL_WARN;
static FILE *log_fp; /* NULL = stderr */
static enum log_format log_fmt = LOG_FMT_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level lvl)
{
    pthread_mutex_lock(&log_lock);
    log_min = lvl;
    pthread_mutex_unlock(&log_lock);
}

enum log_level log_get_level(void)
{
    enum log_level l;
    pthread_mutex_lock(&log_lock);
    l = log_min;
    pthread_mutex_unlock(&log_lock);
    return l;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_LVL_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return PP_EINVAL;
}

void log_set_format(enum log_format f)
{
    pthread_mutex_lock(&log_lock);
    log_fmt = f;
    pthread_mutex_unlock(&log_lock);
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (s && strcmp(s, "text") == 0)
        *out = LOG_FMT_TEXT;
    else if (s && strcmp(s, "json") == 0)
        *out = LOG_FMT_JSON;
    else
        return PP_EINVAL;
    return 0;
}

/* The length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one (overlong forms,
 * surrogates and code points above U+10FFFF are not valid). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void log_json_escape(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", out);
            p++;
        } else if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p++, out);
        } else if (*p < 0x20 || *p == 0x7F) {
            fprintf(out, "\\u%04x", *p++);
        } else if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0) {
            fprintf(out, "\\u%04x", p[1]); /* C1 controls (U+0080..U+009F) */
            p += 2;
        } else {
            fwrite(p, 1, n, out);
            p += n;
        }
    }
}

int log_set_file(const char *path)
{
    FILE *fp = NULL;

    if (path) {
        /* owner-only: the log names pools, hosts and VMs */
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || fchmod(fd, 0600) != 0 || !(fp = fdopen(fd, "a"))) {
            if (fd >= 0)
                close(fd);
            return PP_EIO;
        }
        setvbuf(fp, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    if (log_fp)
        fclose(log_fp);
    log_fp = fp;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

/* One line of msg at lvl to out in the current format; under log_lock. */
static void write_line(FILE *out, enum log_level lvl, const char *module, const char *msg)
{
    char ts[32];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_fmt == LOG_FMT_JSON) {
        fprintf(out, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"module\":\"", ts,
                now.tv_nsec / 1000000L, level_names[lvl]);
        log_json_escape(out, module ? module : "-");
        fputs("\",\"msg\":\"", out);
        log_json_escape(out, msg);
        fprintf(out, "\",\"pid\":%ld}\n", (long)getpid());
    } else {
        fprintf(out, "%s.%03ldZ %-5s [%s] %s\n", ts, now.tv_nsec / 1000000L, level_names[lvl],
                module ? module : "-", msg);
    }
}

/* vsnprintf into buf (size n), or into a heap copy (*big, freed by the caller) when longer. */
static const char *format_msg(char *buf, size_t n, char **big, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(buf, n, fmt, ap);
    *big = NULL;
    if (len >= (int)n && (*big = malloc((size_t)len + 1)) != NULL)
        vsnprintf(*big, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    return *big ? *big : buf;
}

void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
{
    char msg[4096], *big;
    va_list ap;

    pthread_mutex_lock(&log_lock);
    if (lvl < log_min || lvl >= LOG_LVL_OFF) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    va_start(ap, fmt);
    const char *text = format_msg(msg, sizeof msg, &big, fmt, ap);
    va_end(ap);
    write_line(log_fp ? log_fp : stderr, lvl, module, text);
    pthread_mutex_unlock(&log_lock);
    free(big);
}

void log_console(enum log_level lvl, const char *module, const char *fmt, ...)
{
    char msg[4096], *big;
    va_list ap;

    va_start(ap, fmt);
    const char *text = format_msg(msg, sizeof msg, &big, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    if (log_fmt == LOG_FMT_JSON && !log_fp)
        write_line(stderr, lvl, module, text);
    else
        fprintf(stderr, "%s\n", text);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(big);
}
