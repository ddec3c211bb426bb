/* SPDX-License-Identifier: MIT */
/* str.c - string helpers (see str.h). */
#include "str.h"
#include "buf.h"
#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int str_to_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s || isspace((unsigned char)*s))
        return PP_EPARSE;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return PP_EPARSE;
    if (errno == ERANGE)
        return PP_ELIMIT;
    *out = (int64_t)v;
    return 0;
}

int str_to_uint64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !isdigit((unsigned char)*s))
        return PP_EPARSE;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return PP_EPARSE;
    if (errno == ERANGE)
        return PP_ELIMIT;
    *out = (uint64_t)v;
    return 0;
}

int str_to_double(const char *s, double *out)
{
    char *end;
    double v;

    if (!s || !*s || isspace((unsigned char)*s))
        return PP_EPARSE;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0')
        return PP_EPARSE;
    if (errno == ERANGE || !isfinite(v))
        return PP_ELIMIT;
    *out = v;
    return 0;
}

size_t str_lcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);

    if (n) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return len;
}

bool str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool str_eq_nocase(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcasecmp(a, b) == 0;
}

bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

void str_xml_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&apos;");
            break;
        default:
            buf_putc(b, *s);
            break;
        }
    }
}

void str_csv_field(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; s && *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}
