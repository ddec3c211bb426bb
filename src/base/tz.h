/* SPDX-License-Identifier: MIT */
/*
 * tz.h - time zones from the system's tz database (TZif files, RFC 8536), without touching the
 * process's TZ variable: a zone is loaded once from $TZDIR or /usr/share/zoneinfo and then
 * answers "what is the UTC offset at instant t" and "which instant is this local wall time"
 * as pure functions, on any thread.  Instants after the file's last transition follow its
 * footer's POSIX TZ rule (e.g. "CET-1CEST,M3.5.0,M10.5.0/3").
 *
 * Times here are whole seconds since the Unix epoch (UTC); a "local" time is the wall-clock
 * reading written as if it were UTC seconds (days * 86400 + hh * 3600 + mm * 60 + ss).
 */
#ifndef PP_BASE_TZ_H
#define PP_BASE_TZ_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct tz_zone;

/* Longest zone name accepted ("America/Argentina/ComodRivadavia" is 32). */
#define TZ_NAME_MAX 64

/*
 * Load zone name ("Europe/Paris", "UTC") from $TZDIR (when set) or /usr/share/zoneinfo.  Names
 * are checked first (letters, digits, '_', '-', '+', '/'; no "..", no leading '/').  "UTC" and
 * "Etc/UTC" work without a database.  *out new (tz_free).  Errors: PP_EINVAL (bad name),
 * PP_ENOTFOUND (no such zone: the message names the folder searched), PP_EPARSE (not a TZif
 * file), PP_ELIMIT (file over 512 KiB or counts over their limits).  Any thread.
 */
int tz_load(const char *name, struct tz_zone **out, struct err *e);
/* Parse a TZif image already in memory (what tz_load does after reading the file).  Pure. */
int tz_parse(const char *name, const unsigned char *data, size_t len, struct tz_zone **out,
             struct err *e);
/* Release; NULL is a no-op. */
void tz_free(struct tz_zone *z);
/* The zone's name (borrowed). */
const char *tz_name(const struct tz_zone *z);

/* Seconds east of UTC in force at instant t (e.g. 3600 for Paris in winter).  Pure. */
int32_t tz_offset_at(const struct tz_zone *z, int64_t t);
/*
 * The instant whose local reading is local_s.  A reading that happens twice (clocks turned back)
 * gives the earlier instant; a reading that never happens (clocks turned forward: 02:30 on the
 * day Paris goes from 02:00 to 03:00) gives the instant the same distance after the jump
 * (03:30), as mktime does.  Pure.
 */
int64_t tz_local_to_utc(const struct tz_zone *z, int64_t local_s);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).  Pure. */
int64_t tz_days_from_civil(int64_t y, int m, int d);
/* The date of a day number (inverse of tz_days_from_civil).  Pure. */
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
