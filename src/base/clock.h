/* SPDX-License-Identifier: MIT */
/*
 * clock.h - time sources.  Every module that needs "now" takes a struct pp_clock so the same code
 * runs on real time, on scaled time (the simulator served over HTTP, e.g. 60x), or on a virtual
 * clock that only moves when advanced (in-process simulations: same seed, same run).
 *
 * Times are milliseconds since the Unix epoch in the clock's own timeline.  All functions are
 * thread-safe.
 */
#ifndef PP_BASE_CLOCK_H
#define PP_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

enum clock_kind { CLOCK_KIND_REAL, CLOCK_KIND_SCALED, CLOCK_KIND_VIRTUAL };

struct pp_clock;

/* Wall-clock time.  Free with clock_free. */
struct pp_clock *clock_real_new(void);
/* Time that runs `scale` times faster than real time, starting at the real now. scale > 0. */
struct pp_clock *clock_scaled_new(double scale);
/* Scaled time that starts at start_ms (a daemon tested on a chosen date, e.g. just before a
 * maintenance window: the `clock_start` / `clock_scale` settings). */
struct pp_clock *clock_scaled_new_at(double scale, int64_t start_ms);
/* Time that stands still at start_ms until clock_advance / clock_set moves it. */
struct pp_clock *clock_virtual_new(int64_t start_ms);
/* Release; NULL is a no-op. */
void clock_free(struct pp_clock *c);

enum clock_kind clock_get_kind(const struct pp_clock *c);
/* Now, in ms since the epoch, in c's timeline. */
int64_t clock_now_ms(const struct pp_clock *c);
/* Now in whole seconds since the epoch. */
int64_t clock_now_s(const struct pp_clock *c);
/* Move a virtual clock forward by ms (>= 0).  PP_ESTATE for other kinds, PP_EINVAL for ms < 0. */
int clock_advance(struct pp_clock *c, int64_t ms);
/* Set a virtual clock to t_ms if that is not earlier than now.  PP_ESTATE / PP_EINVAL otherwise. */
int clock_set(struct pp_clock *c, int64_t t_ms);
/*
 * How many real milliseconds a duration of sim_ms in c's timeline lasts: sim_ms for a real clock,
 * sim_ms / scale for a scaled one, 0 for a virtual one (time moves only when advanced).
 */
int64_t clock_real_ms_for(const struct pp_clock *c, int64_t sim_ms);
/* The scale factor (1 for real, the factor for scaled, 0 for virtual). */
double clock_scale(const struct pp_clock *c);

/*
 * The absolute time ms milliseconds (>= 0) from now on the POSIX clock clk (CLOCK_REALTIME or
 * CLOCK_MONOTONIC), for pthread_cond_timedwait: the one place that carries nanoseconds over.
 */
struct timespec clock_deadline_ts(clockid_t clk, int64_t ms);

/* Monotonic real milliseconds, for timeouts of real I/O. */
int64_t clock_mono_ms(void);

/* Format t_ms as xapi's datetime "YYYYMMDDTHH:MM:SSZ" (UTC) into out (>= 19 bytes). */
void clock_format_xapi(int64_t t_ms, char out[static 20]);
/* Parse xapi datetimes "YYYYMMDDTHH:MM:SSZ" (also with '-' separators or a trailing ".000"/"Z"
 * omitted) into ms since the epoch.  Returns 0 or PP_EPARSE. */
int clock_parse_xapi(const char *s, int64_t *t_ms);

#endif
