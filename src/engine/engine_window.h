/* SPDX-License-Identifier: MIT */
/*
 * engine_window.h - maintenance windows and schedules inside the engine (engine_window.c,
 * docs/windows.md).  engine.c creates one engine_windows per engine, asks its gate on behalf of
 * the executor, and forwards the public engine_window_* / engine_schedule_* requests to it.
 */
#ifndef PP_ENGINE_ENGINE_WINDOW_H
#define PP_ENGINE_ENGINE_WINDOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "store/store_window.h"

struct err;
struct pp_clock;
struct engine_windows;

/* Open db_path (own connection) and load the stored windows and schedules (a stored one that no
 * longer compiles, e.g. its zone vanished, is logged and ignored).  *out new.  Any thread. */
int engine_windows_new(struct engine *eng, const char *db_path, struct pp_clock *clock,
                       struct engine_windows **out, struct err *e);
/* Start the scheduler thread (schedules fire from then on). */
int engine_windows_start(struct engine_windows *w, struct err *e);
/* Stop the scheduler thread (it may wait on the engine thread: engine_free calls this before
 * stopping the engine thread).  NULL ok; idempotent. */
void engine_windows_stop(struct engine_windows *w);
/* Stop and free; NULL ok.  The engine thread (the gate's caller) must be stopped first. */
void engine_windows_free(struct engine_windows *w);

/* Add from a request {"name", "recurrence", "tz"?, "pools", "duration" (window) | "policy"?,
 * "max_parallel"? (schedule)}: *out = the item as listed.  PP_EINVAL / PP_ENOTFOUND name what is
 * wrong; PP_ESTATE when the name is taken.  Any thread (asks the engine for its pools). */
int engine_windows_add(struct engine_windows *w, enum store_win_kind k, const json_t *in,
                       json_t **out, struct err *e);
/* {"windows": [...]} or {"schedules": [...]} (docs/windows.md).  Any thread. */
int engine_windows_list(struct engine_windows *w, enum store_win_kind k, json_t **out,
                        struct err *e);
/* PP_ENOTFOUND when there is none by that name.  Any thread. */
int engine_windows_remove(struct engine_windows *w, enum store_win_kind k, const char *name,
                          struct err *e);

/* The executor's gate (exec_env.window_gate): a pool without windows may always begin; else
 * only inside one of its windows with need_ms left.  Any thread (the engine's). */
bool engine_windows_gate(struct engine_windows *w, const char *pool, int64_t now_ms,
                         int64_t need_ms, int64_t *until_ms, char *why, size_t why_len);

/* Run fn(ctx, store, e) with the windows' own store connection under their lock; its result.
 * PP_ESTATE when w is NULL.  Any thread; fn must not call back into w. */
struct store;
int engine_windows_store_do(struct engine_windows *w,
                            int (*fn)(void *ctx, struct store *s, struct err *e), void *ctx,
                            struct err *e);

#endif
