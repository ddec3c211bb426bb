/* SPDX-License-Identifier: MIT */
/*
 * recur.c - cron-like recurrences in a time zone and the windows they open (contract: recur.h).
 * The next start is found day by day on the zone's wall clock (at most RECUR_HORIZON_DAYS
 * days), then each matching hour and minute of the day is turned into an instant with
 * tz_local_to_utc.
 */
#include "base/recur.h"

#include "base/err.h"
#include "base/str.h"
#include "base/tz.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const MONTHS[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const WDAYS[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* names of lo.. (months from 1, weekdays from 0) */
    int n_names;
};

static const struct field_def FIELDS[5] = {
    {"minute", 0, 59, NULL, 0},   {"hour", 0, 23, NULL, 0},        {"day of month", 1, 31, NULL, 0},
    {"month", 1, 12, MONTHS, 12}, {"day of week", 0, 7, WDAYS, 7},
};

/* One value: a number or a name.  *end past it; false when neither. */
static bool parse_value(const struct field_def *f, const char *s, const char **end, int *v)
{
    if (*s >= '0' && *s <= '9') {
        long n = 0;
        const char *p = s;
        while (*p >= '0' && *p <= '9' && p - s < 3)
            n = n * 10 + (*p++ - '0');
        *end = p;
        *v = (int)n;
        return true;
    }
    for (int i = 0; i < f->n_names; i++)
        if (strncasecmp(s, f->names[i], 3) == 0) {
            *v = i + (f->names == MONTHS ? 1 : 0);
            *end = s + 3;
            return true;
        }
    return false;
}

/* A weekday item with a suffix: "TUE#2", "5L", "FRIL". */
static int wday_suffix(struct recur *r, int v, const char **p, const char *spec, struct err *e)
{
    if (v == 7)
        v = 0;
    if (**p == 'L' || **p == 'l') {
        r->nth[v] |= 1u << 6;
        (*p)++;
        return 0;
    }
    int n = (*p)[1] - '0';
    if (n < 1 || n > 5 || ((*p)[2] != '\0' && (*p)[2] != ','))
        return err_set(e, PP_EINVAL, "recurrence '%s': day of week: '#' takes 1 to 5", spec);
    r->nth[v] |= 1u << n;
    *p += 2;
    return 0;
}

static void set_bits(struct recur *r, int field, int a, int b, int step)
{
    for (int v = a; v <= b; v += step) {
        switch (field) {
        case 0:
            r->minutes |= 1ull << v;
            break;
        case 1:
            r->hours |= 1u << v;
            break;
        case 2:
            r->mdays |= 1u << v;
            break;
        case 3:
            r->months |= (uint16_t)(1u << v);
            break;
        default:
            r->wdays |= (uint8_t)(1u << (v % 7));
            break;
        }
    }
}

/* One comma-separated item of field i. */
static int parse_item(struct recur *r, int i, const char **pp, const char *spec, struct err *e)
{
    const struct field_def *f = &FIELDS[i];
    const char *p = *pp;
    int a = f->lo, b = f->hi, step = 1;
    bool range = true;
    if (*p == '*') {
        p++;
    } else if (i == 2 && (*p == 'L' || *p == 'l') && (p[1] == '\0' || p[1] == ',')) {
        r->mday_last = true;
        *pp = p + 1;
        return 0;
    } else {
        if (!parse_value(f, p, &p, &a))
            return err_set(e, PP_EINVAL, "recurrence '%s': %s: '%s' is not a value", spec, f->name,
                           *pp);
        b = a;
        range = false;
        if (*p == '-') {
            if (!parse_value(f, p + 1, &p, &b))
                return err_set(e, PP_EINVAL, "recurrence '%s': %s: a range needs an end", spec,
                               f->name);
            range = true;
        }
    }
    if (*p == '/') {
        char *end;
        long s = strtol(p + 1, &end, 10);
        if (end == p + 1 || s < 1 || s > f->hi)
            return err_set(e, PP_EINVAL, "recurrence '%s': %s: bad step", spec, f->name);
        step = (int)s;
        p = end;
        if (!range)
            b = f->hi; /* "5/15": from 5 on */
    }
    if (a < f->lo || b > f->hi || a > b)
        return err_set(e, PP_EINVAL, "recurrence '%s': %s must be %d-%d", spec, f->name, f->lo,
                       f->hi);
    if (i == 4 && a == b && (*p == '#' || *p == 'L' || *p == 'l')) {
        int rc = wday_suffix(r, a, &p, spec, e);
        if (rc)
            return rc;
    } else {
        set_bits(r, i, a, b, step);
    }
    if (*p != '\0' && *p != ',')
        return err_set(e, PP_EINVAL, "recurrence '%s': %s: unexpected '%s'", spec, f->name, p);
    *pp = p;
    return 0;
}

static const char *shorthand(const char *spec)
{
    static const char *const map[][2] = {{"@hourly", "0 * * * *"},
                                         {"@daily", "0 0 * * *"},
                                         {"@weekly", "0 0 * * 0"},
                                         {"@monthly", "0 0 1 * *"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (str_eq_nocase(spec, map[i][0]))
            return map[i][1];
    return spec;
}

int recur_parse(const char *spec, struct recur *out, struct err *e)
{
    char buf[RECUR_SPEC_MAX + 1];
    if (!spec || strlen(spec) > RECUR_SPEC_MAX)
        return err_set(e, PP_ELIMIT, "recurrence: at most %d characters", RECUR_SPEC_MAX);
    const char *orig = spec;
    str_lcpy(buf, shorthand(spec), sizeof buf);
    memset(out, 0, sizeof(*out));
    char *save = NULL, *tok = strtok_r(buf, " \t", &save);
    int i = 0;
    for (; tok && i < 5; i++, tok = strtok_r(NULL, " \t", &save)) {
        if (i == 2)
            out->mday_star = str_eq(tok, "*");
        if (i == 4)
            out->wday_star = str_eq(tok, "*");
        const char *p = tok;
        for (;;) {
            int rc = parse_item(out, i, &p, orig, e);
            if (rc)
                return rc;
            if (*p != ',')
                break;
            p++;
        }
    }
    if (i < 5 || tok)
        return err_set(e, PP_EINVAL,
                       "recurrence '%s': want 5 fields (minute hour day-of-month month "
                       "day-of-week), e.g. \"0 2 * * TUE#2\"",
                       orig);
    return 0;
}

static int month_days(int64_t y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return n[m - 1] + (m == 2 && leap);
}

bool recur_day_matches(const struct recur *r, int64_t days)
{
    int64_t y;
    int m, d;
    tz_civil_from_days(days, &y, &m, &d);
    if (!(r->months & (1u << m)))
        return false;
    int wd = (int)(((days + 4) % 7 + 7) % 7);
    int nlen = month_days(y, m);
    bool mday = (r->mdays & (1u << d)) || (r->mday_last && d == nlen);
    bool wday = (r->wdays & (1u << wd)) || (r->nth[wd] & (1u << ((d - 1) / 7 + 1))) ||
                ((r->nth[wd] & (1u << 6)) && d + 7 > nlen);
    if (r->mday_star || r->wday_star)
        return (r->mday_star || mday) && (r->wday_star || wday);
    return mday || wday;
}

/* Windows merged into one at most (a window that reopens every minute is cut there). */
#define RECUR_MERGE_MAX 1500

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

int recur_next(const struct recur *r, const struct tz_zone *z, int64_t after, int64_t *start_out)
{
    /* begin a day early: the wall clock may be up to a day behind UTC */
    int64_t day0 = floor_div(after + tz_offset_at(z, after), 86400) - 1;
    for (int64_t day = day0; day < day0 + RECUR_HORIZON_DAYS; day++) {
        if (!recur_day_matches(r, day))
            continue;
        for (int h = 0; h < 24; h++) {
            if (!(r->hours & (1u << h)))
                continue;
            for (int m = 0; m < 60; m++) {
                if (!(r->minutes & (1ull << m)))
                    continue;
                int64_t t = tz_local_to_utc(z, day * 86400 + h * 3600 + m * 60);
                if (t >= after) {
                    *start_out = t;
                    return 0;
                }
            }
        }
    }
    return PP_ENOTFOUND;
}

int recur_window_at(const struct recur *r, const struct tz_zone *z, int64_t duration_s, int64_t t,
                    struct recur_window *w)
{
    int64_t s, n;
    if (duration_s <= 0)
        return PP_EINVAL;
    memset(w, 0, sizeof(*w));
    w->next = recur_next(r, z, t + 1, &n) == 0 ? n : -1;
    if (recur_next(r, z, t - duration_s + 1, &s) != 0 || s > t)
        return 0;
    /* the earliest start whose window covers t; then merge what overlaps or touches it */
    w->open = true;
    w->start = s;
    w->end = s + duration_s;
    for (int guard = 0; guard < RECUR_MERGE_MAX && recur_next(r, z, s + 1, &n) == 0 && n <= w->end;
         guard++) {
        s = n;
        if (s + duration_s > w->end)
            w->end = s + duration_s;
    }
    w->next = recur_next(r, z, w->end, &n) == 0 ? n : -1;
    return 0;
}
