/* SPDX-License-Identifier: MIT */
/*
 * tz.c - TZif reader and the POSIX TZ rule of its footer (contract: tz.h).  The format is RFC
 * 8536: a version 1 block with 32-bit times, then (version 2 and later) the same data with
 * 64-bit times and a footer "\n<POSIX TZ string>\n" for instants after the last transition.
 * Only the 64-bit block is used when present.  Leap-second records are skipped: the tz files
 * Debian installs in /usr/share/zoneinfo have none ("right/" zones are not supported).
 */
#include "base/tz.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX    (512 * 1024)
#define TZ_TRANS_MAX   4096
#define TZ_TYPES_MAX   256
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* A POSIX rule date: Jn (julian 1-365, no Feb 29), n (0-365), or Mm.w.d. */
struct tz_rdate {
    char kind; /* 'J', 'N' or 'M' */
    int n, m, w, d;
    int32_t time; /* seconds after local midnight (may be negative or > 24 h) */
};

struct tz_rule {
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    struct tz_rdate start, end;
};

struct tz_zone {
    char name[TZ_NAME_MAX + 1];
    int64_t *trans; /* transition instants, ascending */
    uint8_t *idx;   /* type index of each transition */
    int32_t *off;   /* utoff of each type */
    size_t ntrans, ntypes;
    bool has_rule;
    struct tz_rule rule;
};

/* ---------------------------------------------------------------- dates */

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    /* Howard Hinnant's days_from_civil */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/* ---------------------------------------------------------------- POSIX TZ rule */

static const char *parse_name(const char *s)
{
    if (*s == '<') {
        const char *q = strchr(s, '>');
        return q && q - s > 1 ? q + 1 : NULL;
    }
    const char *p = s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; NULL on error. */
static const char *parse_hms(const char *s, int32_t *out)
{
    int sign = 1;
    long v[3] = {0, 0, 0};
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    for (int i = 0; i < 3; i++) {
        if (i > 0 && *s != ':')
            break;
        if (i > 0)
            s++;
        if (*s < '0' || *s > '9')
            return NULL;
        char *end;
        v[i] = strtol(s, &end, 10);
        if (end - s > 3 || v[i] > 167)
            return NULL;
        s = end;
    }
    *out = (int32_t)(sign * (v[0] * 3600 + v[1] * 60 + v[2]));
    return s;
}

static const char *parse_rdate(const char *s, struct tz_rdate *r)
{
    char *end;
    r->time = 7200;
    if (*s == 'M') {
        r->kind = 'M';
        r->m = (int)strtol(s + 1, &end, 10);
        if (*end != '.')
            return NULL;
        r->w = (int)strtol(end + 1, &end, 10);
        if (*end != '.')
            return NULL;
        r->d = (int)strtol(end + 1, &end, 10);
        if (r->m < 1 || r->m > 12 || r->w < 1 || r->w > 5 || r->d < 0 || r->d > 6)
            return NULL;
    } else {
        r->kind = *s == 'J' ? 'J' : 'N';
        if (*s == 'J')
            s++;
        if (*s < '0' || *s > '9')
            return NULL;
        r->n = (int)strtol(s, &end, 10);
        if (r->n < 0 || r->n > 365 || (r->kind == 'J' && r->n < 1))
            return NULL;
    }
    s = end;
    if (*s == '/')
        s = parse_hms(s + 1, &r->time);
    return s;
}

/* Parse a footer TZ string.  Returns false when it cannot be used. */
static bool parse_rule(const char *s, struct tz_rule *r)
{
    int32_t v;
    memset(r, 0, sizeof(*r));
    if (!(s = parse_name(s)) || !(s = parse_hms(s, &v)))
        return false;
    r->std_off = -v;
    if (!*s)
        return true;
    if (!(s = parse_name(s)))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (!(s = parse_hms(s, &v)))
            return false;
        r->dst_off = -v;
    }
    if (*s != ',' || !(s = parse_rdate(s + 1, &r->start)) || *s != ',' ||
        !(s = parse_rdate(s + 1, &r->end)))
        return false;
    return *s == '\0';
}

/* The day number of rule date r in year y. */
static int64_t rdate_day(const struct tz_rdate *r, int64_t y)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1);
    if (r->kind == 'J')
        return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'N')
        return jan1 + r->n;
    int64_t first = tz_days_from_civil(y, r->m, 1);
    int wd = (int)((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
    int64_t day = first + (r->d - wd + 7) % 7 + (int64_t)(r->w - 1) * 7;
    int64_t next =
        r->m == 12 ? tz_days_from_civil(y + 1, 1, 1) : tz_days_from_civil(y, r->m + 1, 1);
    while (day >= next)
        day -= 7;
    return day;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y;
    int m, d;
    tz_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    /* start is read on standard time, end on daylight time */
    int64_t start = rdate_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    int64_t end = rdate_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---------------------------------------------------------------- TZif */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static size_t block_size(const struct tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

static int read_header(const unsigned char *p, size_t len, struct tzif_counts *c, struct err *e)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return err_set(e, PP_EPARSE, "not a TZif file (no \"TZif\" header)");
    *c = (struct tzif_counts){be32(p + 20), be32(p + 24), be32(p + 28),
                              be32(p + 32), be32(p + 36), be32(p + 40)};
    if (c->time > TZ_TRANS_MAX || c->type == 0 || c->type > TZ_TYPES_MAX || c->chars > 4096 ||
        c->leap > 4096 || c->isstd > TZ_TYPES_MAX || c->isut > TZ_TYPES_MAX)
        return err_set(e, PP_ELIMIT, "TZif counts over their limits");
    return 0;
}

int tz_parse(const char *name, const unsigned char *data, size_t len, struct tz_zone **out,
             struct err *e)
{
    struct tzif_counts c;
    int rc = read_header(data, len, &c, e);
    size_t tsize = 4, off = 44;
    if (rc)
        return rc;
    if (data[4] >= '2') { /* skip the 32-bit block, use the 64-bit one */
        off += block_size(&c, 4);
        if (off + 44 > len || (rc = read_header(data + off, len - off, &c, e)) != 0)
            return rc ? rc : err_set(e, PP_EPARSE, "TZif file truncated");
        off += 44;
        tsize = 8;
    }
    if (off + block_size(&c, tsize) > len)
        return err_set(e, PP_EPARSE, "TZif file truncated");
    struct tz_zone *z = xcalloc(1, sizeof(*z));
    str_lcpy(z->name, name ? name : "", sizeof z->name);
    z->ntrans = c.time;
    z->ntypes = c.type;
    z->trans = xcalloc(c.time + 1, sizeof(int64_t));
    z->idx = xcalloc(c.time + 1, 1);
    z->off = xcalloc(c.type, sizeof(int32_t));
    const unsigned char *p = data + off;
    for (size_t i = 0; i < c.time; i++, p += tsize)
        z->trans[i] = tsize == 8 ? be64(p) : (int32_t)be32(p);
    for (size_t i = 0; i < c.time; i++) {
        z->idx[i] = *p++;
        if (z->idx[i] >= c.type) {
            tz_free(z);
            return err_set(e, PP_EPARSE, "TZif transition names type %u of %u", z->idx[i], c.type);
        }
    }
    for (size_t i = 0; i < c.type; i++, p += 6)
        z->off[i] = (int32_t)be32(p);
    off += block_size(&c, tsize);
    if (tsize == 8 && off + 2 < len && data[off] == '\n') {
        char foot[128];
        size_t n = 0;
        for (size_t i = off + 1; i < len && data[i] != '\n' && n + 1 < sizeof foot; i++)
            foot[n++] = (char)data[i];
        foot[n] = '\0';
        z->has_rule = n > 0 && parse_rule(foot, &z->rule);
    }
    *out = z;
    return 0;
}

static int check_name(const char *name, struct err *e)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TZ_NAME_MAX)
        return err_set(e, PP_EINVAL, "time zone name must be 1 to %d characters", TZ_NAME_MAX);
    if (name[0] == '/' || strstr(name, ".."))
        return err_set(e, PP_EINVAL, "time zone '%s': a zone name like Europe/Paris, not a path",
                       name);
    for (const char *p = name; *p; p++) {
        char ch = *p;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '+' || ch == '/';
        if (!ok)
            return err_set(e, PP_EINVAL, "time zone '%s': character '%c' is not allowed", name, ch);
    }
    return 0;
}

int tz_load(const char *name, struct tz_zone **out, struct err *e)
{
    int rc = check_name(name, e);
    if (rc)
        return rc;
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = TZ_DEFAULT_DIR;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (str_eq(name, "UTC") || str_eq(name, "Etc/UTC")) {
            struct tz_zone *z = xcalloc(1, sizeof(*z));
            str_lcpy(z->name, name, sizeof z->name);
            z->off = xcalloc(1, sizeof(int32_t));
            z->ntypes = 1;
            *out = z;
            return 0;
        }
        return err_set(e, PP_ENOTFOUND, "unknown time zone '%s' (no %s: %s)", name, path,
                       strerror(errno));
    }
    unsigned char *buf = xmalloc(TZ_FILE_MAX + 1);
    size_t len = fread(buf, 1, TZ_FILE_MAX + 1, f);
    fclose(f);
    if (len > TZ_FILE_MAX)
        rc = err_set(e, PP_ELIMIT, "time zone file %s is over %d bytes", path, TZ_FILE_MAX);
    else if ((rc = tz_parse(name, buf, len, out, e)) != 0)
        err_prefix(e, "time zone file %s: ", path);
    free(buf);
    return rc;
}

void tz_free(struct tz_zone *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->idx);
    free(z->off);
    free(z);
}

const char *tz_name(const struct tz_zone *z)
{
    return z->name;
}

int32_t tz_offset_at(const struct tz_zone *z, int64_t t)
{
    if (z->ntrans == 0 || t < z->trans[0])
        return z->has_rule && z->ntrans == 0 ? rule_offset(&z->rule, t) : z->off[0];
    if (t >= z->trans[z->ntrans - 1] && z->has_rule)
        return rule_offset(&z->rule, t);
    size_t lo = 0, hi = z->ntrans; /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off[z->idx[lo]];
}

int64_t tz_local_to_utc(const struct tz_zone *z, int64_t local_s)
{
    /* The offsets in force a day either side bound every candidate (no zone changes twice in a
     * day); a candidate is right when the offset at the instant it gives is itself. */
    int32_t before = tz_offset_at(z, local_s - 86400), after = tz_offset_at(z, local_s + 86400);
    int32_t cand[2] = {before > after ? before : after, before > after ? after : before};
    for (int i = 0; i < 2; i++)
        if (tz_offset_at(z, local_s - cand[i]) == cand[i])
            return local_s - cand[i]; /* the larger offset first: the earlier instant */
    return local_s - before;          /* in a gap: as far after the jump as it is into it */
}
