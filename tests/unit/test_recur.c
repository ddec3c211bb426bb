/* SPDX-License-Identifier: MIT */
/*
 * test_recur.c - time zones and recurrences (src/base/tz.c, recur.c): UTC offsets across DST in
 * both hemispheres and past 2037 (the TZif footer's rule), wall-clock readings in the spring gap
 * and the autumn overlap, zone name checks, the cron fields (lists, ranges, steps, names, "L",
 * "TUE#2", "FRIL"), end of month and Feb 29, "never" specs, and windows: open / closed, the time
 * left, the next start, merged overlapping windows.  Expected instants were worked out by hand
 * from the published rules (EU: last Sunday of March 01:00 UTC to last Sunday of October;
 * US: second Sunday of March to first Sunday of November; Sydney: first Sunday of October to
 * first Sunday of April).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/recur.h"
#include "base/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds since the epoch of a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static struct tz_zone *zone(const char *name)
{
    struct tz_zone *z = NULL;
    struct err e = {0};
    int rc = tz_load(name, &z, &e);
    if (rc)
        fprintf(stderr, "tz_load %s: %s\n", name, e.msg);
    assert_int_equal(rc, 0);
    return z;
}

static void test_civil(void **state)
{
    (void)state;
    int64_t y;
    int m, d;
    assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
    tz_civil_from_days(tz_days_from_civil(2028, 2, 29), &y, &m, &d);
    assert_true(y == 2028 && m == 2 && d == 29);
}

static void test_offsets(void **state)
{
    (void)state;
    struct tz_zone *paris = zone("Europe/Paris"), *ny = zone("America/New_York");
    struct tz_zone *syd = zone("Australia/Sydney"), *u = zone("UTC");
    /* Paris 2026: CEST from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC */
    assert_int_equal(tz_offset_at(paris, utc(2026, 3, 29, 0, 59) + 59), 3600);
    assert_int_equal(tz_offset_at(paris, utc(2026, 3, 29, 1, 0)), 7200);
    assert_int_equal(tz_offset_at(paris, utc(2026, 10, 25, 0, 59)), 7200);
    assert_int_equal(tz_offset_at(paris, utc(2026, 10, 25, 1, 0)), 3600);
    /* past the file's transitions: the footer's rule (2050: last Sunday of March is the 27th) */
    assert_int_equal(tz_offset_at(paris, utc(2050, 3, 27, 0, 30)), 3600);
    assert_int_equal(tz_offset_at(paris, utc(2050, 3, 27, 1, 30)), 7200);
    assert_int_equal(tz_offset_at(paris, utc(2050, 7, 1, 12, 0)), 7200);
    assert_int_equal(tz_offset_at(paris, utc(2050, 12, 1, 12, 0)), 3600);
    /* New York 2026: EDT from 2026-03-08 07:00 UTC to 2026-11-01 06:00 UTC */
    assert_int_equal(tz_offset_at(ny, utc(2026, 3, 8, 6, 59)), -5 * 3600);
    assert_int_equal(tz_offset_at(ny, utc(2026, 3, 8, 7, 0)), -4 * 3600);
    assert_int_equal(tz_offset_at(ny, utc(2026, 11, 1, 6, 0)), -5 * 3600);
    /* Sydney (southern): summer time in January, not in July */
    assert_int_equal(tz_offset_at(syd, utc(2026, 1, 15, 0, 0)), 11 * 3600);
    assert_int_equal(tz_offset_at(syd, utc(2026, 7, 15, 0, 0)), 10 * 3600);
    assert_int_equal(tz_offset_at(syd, utc(2060, 1, 15, 0, 0)), 11 * 3600);
    assert_int_equal(tz_offset_at(syd, utc(2060, 7, 15, 0, 0)), 10 * 3600);
    assert_int_equal(tz_offset_at(u, utc(2026, 7, 1, 0, 0)), 0);
    assert_string_equal(tz_name(paris), "Europe/Paris");
    tz_free(paris);
    tz_free(ny);
    tz_free(syd);
    tz_free(u);
}

static void test_local_to_utc(void **state)
{
    (void)state;
    struct tz_zone *paris = zone("Europe/Paris");
    /* an ordinary winter reading */
    assert_int_equal(tz_local_to_utc(paris, utc(2026, 1, 13, 2, 0)), utc(2026, 1, 13, 1, 0));
    /* spring gap: 02:30 does not exist on 2026-03-29; it maps to 03:30 CEST = 01:30 UTC */
    assert_int_equal(tz_local_to_utc(paris, utc(2026, 3, 29, 2, 30)), utc(2026, 3, 29, 1, 30));
    /* autumn overlap: 02:30 happens twice on 2026-10-25; the first (CEST) = 00:30 UTC */
    assert_int_equal(tz_local_to_utc(paris, utc(2026, 10, 25, 2, 30)), utc(2026, 10, 25, 0, 30));
    tz_free(paris);
}

static void test_zone_names(void **state)
{
    (void)state;
    struct tz_zone *z = NULL;
    struct err e = {0};
    assert_int_equal(tz_load("../../etc/passwd", &z, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "not a path"));
    assert_int_equal(tz_load("/etc/localtime", &z, &e), PP_EINVAL);
    assert_int_equal(tz_load("Europe/Paris;rm", &z, &e), PP_EINVAL);
    assert_int_equal(tz_load("Mars/Olympus_Mons", &z, &e), PP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "Mars/Olympus_Mons"));
    assert_int_equal(tz_load("", &z, &e), PP_EINVAL);
    assert_null(z);
    /* a file that is not TZif */
    static const unsigned char junk[64] = "not a zone";
    assert_int_equal(tz_parse("x", junk, sizeof junk, &z, &e), PP_EPARSE);
    assert_int_equal(tz_parse("x", junk, 10, &z, &e), PP_EPARSE);
}

static int64_t next_of(const char *spec, struct tz_zone *z, int64_t after)
{
    struct recur r;
    struct err e = {0};
    int64_t s = -1;
    int rc = recur_parse(spec, &r, &e);
    if (rc)
        fprintf(stderr, "%s: %s\n", spec, e.msg);
    assert_int_equal(rc, 0);
    return recur_next(&r, z, after, &s) == 0 ? s : -1;
}

static void test_cron_next(void **state)
{
    (void)state;
    struct tz_zone *u = zone("UTC"), *paris = zone("Europe/Paris");
    int64_t jan1 = utc(2026, 1, 1, 0, 0); /* a Thursday */
    /* second Tuesday 02:00: 2026-01-13, then 2026-02-10, then 2026-03-10 */
    assert_int_equal(next_of("0 2 * * TUE#2", u, jan1), utc(2026, 1, 13, 2, 0));
    assert_int_equal(next_of("0 2 * * 2#2", u, utc(2026, 1, 13, 2, 1)), utc(2026, 2, 10, 2, 0));
    assert_int_equal(next_of("0 2 * * tue#2", u, utc(2026, 2, 10, 2, 1)), utc(2026, 3, 10, 2, 0));
    /* in Paris: 02:00 CET = 01:00 UTC */
    assert_int_equal(next_of("0 2 * * TUE#2", paris, jan1), utc(2026, 1, 13, 1, 0));
    /* last day of the month, Feb 29 of a leap year */
    assert_int_equal(next_of("0 0 L * *", u, utc(2026, 2, 1, 0, 0)), utc(2026, 2, 28, 0, 0));
    assert_int_equal(next_of("0 0 L * *", u, utc(2028, 2, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
    assert_int_equal(next_of("0 0 29 2 *", u, jan1), utc(2028, 2, 29, 0, 0));
    /* the 31st skips short months */
    assert_int_equal(next_of("30 23 31 * *", u, utc(2026, 4, 1, 0, 0)), utc(2026, 5, 31, 23, 30));
    /* last Friday of the month */
    assert_int_equal(next_of("0 22 * * FRIL", u, jan1), utc(2026, 1, 30, 22, 0));
    assert_int_equal(next_of("0 22 * * 5L", u, utc(2026, 2, 1, 0, 0)), utc(2026, 2, 27, 22, 0));
    /* steps, ranges, lists, months by name */
    assert_int_equal(next_of("*/20 8-18/5 * * *", u, utc(2026, 1, 1, 13, 41)),
                     utc(2026, 1, 1, 18, 0));
    assert_int_equal(next_of("15,45 3 1 JUN,DEC *", u, jan1), utc(2026, 6, 1, 3, 15));
    /* both day fields restricted: either matches (the 1st, or a Monday) */
    assert_int_equal(next_of("0 2 1 * MON", u, utc(2026, 1, 2, 0, 0)), utc(2026, 1, 5, 2, 0));
    assert_int_equal(next_of("@daily", u, utc(2026, 1, 1, 0, 0) + 1), utc(2026, 1, 2, 0, 0));
    /* 7 is Sunday too */
    assert_int_equal(next_of("0 0 * * 7", u, jan1), utc(2026, 1, 4, 0, 0));
    /* DST: 02:30 every day in Paris on the spring and autumn days */
    assert_int_equal(next_of("30 2 * * *", paris, utc(2026, 3, 28, 12, 0)),
                     utc(2026, 3, 29, 1, 30));
    assert_int_equal(next_of("30 2 * * *", paris, utc(2026, 10, 24, 12, 0)),
                     utc(2026, 10, 25, 0, 30));
    /* and once only on the autumn day: the next is the 26th, 02:30 CET */
    assert_int_equal(next_of("30 2 * * *", paris, utc(2026, 10, 25, 0, 31)),
                     utc(2026, 10, 26, 1, 30));
    /* never */
    assert_int_equal(next_of("0 0 30 2 *", u, jan1), -1);
    tz_free(u);
    tz_free(paris);
}

static void test_cron_errors(void **state)
{
    (void)state;
    struct recur r;
    struct err e = {0};
    assert_int_equal(recur_parse("0 2 * *", &r, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "5 fields"));
    assert_int_equal(recur_parse("60 2 * * *", &r, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "minute"));
    assert_int_equal(recur_parse("0 24 * * *", &r, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "hour"));
    assert_int_equal(recur_parse("0 2 * * TUE#6", &r, &e), PP_EINVAL);
    assert_int_equal(recur_parse("0 2 * FOO *", &r, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "month"));
    assert_int_equal(recur_parse("0 2 5-1 * *", &r, &e), PP_EINVAL);
    assert_int_equal(recur_parse("*/0 * * * *", &r, &e), PP_EINVAL);
    assert_int_equal(recur_parse("0 2 * * * *", &r, &e), PP_EINVAL);
    char big[400];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(recur_parse(big, &r, &e), PP_ELIMIT);
}

static void test_windows(void **state)
{
    (void)state;
    struct tz_zone *u = zone("UTC");
    struct recur r;
    struct recur_window w;
    assert_int_equal(recur_parse("0 2 * * *", &r, NULL), 0);
    /* before: closed, next at 02:00 */
    assert_int_equal(recur_window_at(&r, u, 3 * 3600, utc(2026, 1, 1, 1, 0), &w), 0);
    assert_false(w.open);
    assert_int_equal(w.next, utc(2026, 1, 1, 2, 0));
    /* inside: open until 05:00, next tomorrow */
    assert_int_equal(recur_window_at(&r, u, 3 * 3600, utc(2026, 1, 1, 4, 0), &w), 0);
    assert_true(w.open);
    assert_int_equal(w.start, utc(2026, 1, 1, 2, 0));
    assert_int_equal(w.end, utc(2026, 1, 1, 5, 0));
    assert_int_equal(w.next, utc(2026, 1, 2, 2, 0));
    /* the end is not inside */
    assert_int_equal(recur_window_at(&r, u, 3 * 3600, utc(2026, 1, 1, 5, 0), &w), 0);
    assert_false(w.open);
    /* hourly windows of 90 min overlap: one long window */
    assert_int_equal(recur_parse("0 1-3 * * *", &r, NULL), 0);
    assert_int_equal(recur_window_at(&r, u, 90 * 60, utc(2026, 1, 1, 1, 10), &w), 0);
    assert_true(w.open);
    assert_int_equal(w.end, utc(2026, 1, 1, 4, 30));
    assert_int_equal(recur_window_at(&r, u, 0, utc(2026, 1, 1, 1, 10), &w), PP_EINVAL);
    tz_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil),        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_local_to_utc), cmocka_unit_test(test_zone_names),
        cmocka_unit_test(test_cron_next),    cmocka_unit_test(test_cron_errors),
        cmocka_unit_test(test_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
