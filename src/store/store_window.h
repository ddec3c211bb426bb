/* SPDX-License-Identifier: MIT */
/*
 * store_window.h - maintenance windows, schedules of automated rollouts, and the pools of a
 * rollout waiting for a window (docs/windows.md).  A window or schedule is a name and its
 * specification as JSON (checked by the engine before it is stored); a schedule also keeps
 * when it last fired, the rollout it started and the error when it could not.
 *
 * Same rules as store.h: every write commits before it returns; errors are 0 or a negative
 * PP_E* code with *e filled; results are new JSON the caller owns.
 */
#ifndef PP_STORE_STORE_WINDOW_H
#define PP_STORE_STORE_WINDOW_H

#include <jansson.h>
#include <stdint.h>

struct err;
struct store;

enum store_win_kind { STORE_WIN_WINDOW = 0, STORE_WIN_SCHEDULE = 1 };

/* Add a window or a schedule named name with spec (a JSON object text).  fired_at_ms: a
 * schedule's "last fired" mark (its starts at or before it never fire).  PP_ESTATE when the name
 * is taken, PP_EINVAL for an empty name or a spec that is not JSON. */
int store_window_add(struct store *s, enum store_win_kind k, const char *name, const char *spec,
                     int64_t fired_at_ms, struct err *e);
/* Remove by name.  PP_ENOTFOUND when there is none. */
int store_window_remove(struct store *s, enum store_win_kind k, const char *name, struct err *e);
/* Every window (or schedule), by name: *out = [{name, spec, created_ms, last_fired_ms,
 * last_rollout, last_error}] (the last three for schedules only). */
int store_window_list(struct store *s, enum store_win_kind k, json_t **out, struct err *e);
/* A schedule fired at at_ms: the rollout it started (or NULL) and the error (or NULL). */
int store_schedule_fired(struct store *s, const char *name, int64_t at_ms, const char *rollout,
                         const char *error, struct err *e);

/* Record that pool of rollout waits for a window (state "waiting_window" before any host was
 * begun, "paused_window" after), until until_ms (-1: unknown); state NULL clears it.  A row
 * already in that state keeps its since time. */
int store_rollout_window_set(struct store *s, const char *rollout, const char *pool,
                             const char *state, int64_t until_ms, struct err *e);
/* {pool: {"state", "since_ms", "until_ms"}} of rollout's pools waiting for a window. */
int store_rollout_windows(struct store *s, const char *rollout, json_t **out, struct err *e);

#endif
