/* SPDX-License-Identifier: MIT */
/* clock.c - real, scaled and virtual clocks (see clock.h). */
#include "clock.h"
#include "err.h"
#include "mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct pp_clock {
    enum clock_kind kind;
    double scale;          /* SCALED only */
    int64_t real_start_ms; /* SCALED only: real time at creation */
    int64_t origin_ms;     /* SCALED only: the clock's own time at creation */
    _Atomic int64_t virt;  /* VIRTUAL only */
};

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec clock_deadline_ts(clockid_t clk, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct pp_clock *clock_real_new(void)
{
    struct pp_clock *c = xcalloc(1, sizeof(*c));
    c->kind = CLOCK_KIND_REAL;
    c->scale = 1.0;
    return c;
}

struct pp_clock *clock_scaled_new(double scale)
{
    struct pp_clock *c = xcalloc(1, sizeof(*c));
    c->kind = CLOCK_KIND_SCALED;
    c->scale = scale > 0 ? scale : 1.0;
    c->real_start_ms = real_now_ms();
    c->origin_ms = c->real_start_ms;
    return c;
}

struct pp_clock *clock_scaled_new_at(double scale, int64_t start_ms)
{
    struct pp_clock *c = clock_scaled_new(scale);
    c->origin_ms = start_ms;
    return c;
}

struct pp_clock *clock_virtual_new(int64_t start_ms)
{
    struct pp_clock *c = xcalloc(1, sizeof(*c));
    c->kind = CLOCK_KIND_VIRTUAL;
    atomic_store(&c->virt, start_ms);
    return c;
}

void clock_free(struct pp_clock *c)
{
    free(c);
}

enum clock_kind clock_get_kind(const struct pp_clock *c)
{
    return c->kind;
}

int64_t clock_now_ms(const struct pp_clock *c)
{
    switch (c->kind) {
    case CLOCK_KIND_SCALED: {
        int64_t el = real_now_ms() - c->real_start_ms;
        return c->origin_ms + (int64_t)((double)el * c->scale);
    }
    case CLOCK_KIND_VIRTUAL:
        return atomic_load(&((struct pp_clock *)c)->virt);
    case CLOCK_KIND_REAL:
    default:
        return real_now_ms();
    }
}

int64_t clock_now_s(const struct pp_clock *c)
{
    return clock_now_ms(c) / 1000;
}

int clock_advance(struct pp_clock *c, int64_t ms)
{
    if (c->kind != CLOCK_KIND_VIRTUAL)
        return PP_ESTATE;
    if (ms < 0)
        return PP_EINVAL;
    atomic_fetch_add(&c->virt, ms);
    return 0;
}

int clock_set(struct pp_clock *c, int64_t t_ms)
{
    int64_t cur;

    if (c->kind != CLOCK_KIND_VIRTUAL)
        return PP_ESTATE;
    cur = atomic_load(&c->virt);
    if (t_ms < cur)
        return PP_EINVAL;
    atomic_store(&c->virt, t_ms);
    return 0;
}

int64_t clock_real_ms_for(const struct pp_clock *c, int64_t sim_ms)
{
    switch (c->kind) {
    case CLOCK_KIND_SCALED:
        return (int64_t)((double)sim_ms / c->scale);
    case CLOCK_KIND_VIRTUAL:
        return 0;
    case CLOCK_KIND_REAL:
    default:
        return sim_ms;
    }
}

double clock_scale(const struct pp_clock *c)
{
    return c->kind == CLOCK_KIND_VIRTUAL ? 0.0 : c->scale;
}

void clock_format_xapi(int64_t t_ms, char out[static 20])
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 20, "%Y%m%dT%H:%M:%SZ", &tm);
}

int clock_parse_xapi(const char *s, int64_t *t_ms)
{
    int y, mo, d, h, mi, se, n = 0;
    struct tm tm;
    time_t t;

    if (!s)
        return PP_EPARSE;
    if (sscanf(s, "%4d%2d%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 &&
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6)
        return PP_EPARSE;
    s += n;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'Z')
        s++;
    if (*s != '\0')
        return PP_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return PP_EPARSE;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = timegm(&tm);
    *t_ms = (int64_t)t * 1000;
    return 0;
}
