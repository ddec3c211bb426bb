/* SPDX-License-Identifier: MIT */
/*
 * recur.h - cron-like recurrences in a time zone, and the windows they open.  A recurrence is
 * five fields "MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK" read on the zone's wall clock:
 *
 *   numbers, lists (1,15), ranges (1-5), steps (*\/15, 8-18/2), month and day names (JAN, TUE);
 *   day of week 0-7 (0 and 7 are Sunday); "TUE#2" is the second Tuesday of the month (#1-#5),
 *   "FRIL" / "5L" the last Friday; day of month "L" is the month's last day.
 *   @hourly, @daily, @weekly, @monthly are shorthands.
 *   When both day fields are restricted a day matches either (cron's rule): "0 2 1 * MON" is the
 *   1st and every Monday.  "0 2 * * TUE#2" is 02:00 on the second Tuesday.
 *
 * Wall-clock readings that happen twice (clocks turned back) start once, at the first; readings
 * that never happen (clocks turned forward) start as far after the jump as they were into it
 * (02:30 on the day 02:00 becomes 03:00 starts at 03:30).  tz.h has the zone side.
 *
 * Everything here is pure (the zone is loaded by the caller) and safe on any thread.  Times are
 * seconds since the epoch (UTC).
 */
#ifndef PP_BASE_RECUR_H
#define PP_BASE_RECUR_H

#include <stdbool.h>
#include <stdint.h>

struct err;
struct tz_zone;

#define RECUR_SPEC_MAX 256
/* How far ahead an occurrence is searched (covers Feb 29 and "31 of a month on a Monday"). */
#define RECUR_HORIZON_DAYS (366 * 8)

struct recur {
    uint64_t minutes; /* bit m: minute m */
    uint32_t hours;   /* bit h */
    uint32_t mdays;   /* bit d: day d of the month (1-31) */
    bool mday_last;   /* "L": the month's last day */
    uint16_t months;  /* bit m: month m (1-12) */
    uint8_t wdays;    /* bit w: weekday w (0 = Sunday) on any week */
    uint8_t nth[7];   /* per weekday: bit n (1-5) = its n-th in the month, bit 6 = the last */
    bool mday_star, wday_star;
};

/* Parse spec (see above).  PP_EINVAL naming the field and what is wrong; PP_ELIMIT when over
 * RECUR_SPEC_MAX. */
int recur_parse(const char *spec, struct recur *out, struct err *e);

/* True when local day `days` (since 1970-01-01 on the wall clock) matches the day fields. */
bool recur_day_matches(const struct recur *r, int64_t days);

/*
 * The first start at or after instant `after` in zone z (*start_out).  PP_ENOTFOUND when none
 * within RECUR_HORIZON_DAYS (e.g. "0 0 30 2 *").
 */
int recur_next(const struct recur *r, const struct tz_zone *z, int64_t after, int64_t *start_out);

/* Where instant t stands relative to windows of duration_s opened by r's starts. */
struct recur_window {
    bool open;     /* t is inside a window */
    int64_t start; /* open: when the window (merged with overlapping ones) began */
    int64_t end;   /* open: when it ends */
    int64_t next;  /* the next start after t (-1: none within the horizon) */
};
/* Fill *w for instant t.  duration_s > 0.  Overlapping or touching windows merge into one.
 * Returns 0, or PP_EINVAL for a bad duration. */
int recur_window_at(const struct recur *r, const struct tz_zone *z, int64_t duration_s, int64_t t,
                    struct recur_window *w);

#endif
