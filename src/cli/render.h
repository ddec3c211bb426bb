/* SPDX-License-Identifier: MIT */
/*
 * render.h - text for people from the daemon's JSON (shapes in docs/rest-api.md): tables of
 * pools, updates By Update / By Server, rollouts; the plan; a rollout with per-host progress
 * bars; one plain line per progress event.  Pure: JSON in, text appended to a struct buf.
 * Missing or mistyped fields render as "-" rather than failing.
 */
#ifndef PP_CLI_RENDER_H
#define PP_CLI_RENDER_H

#include "base/buf.h"

#include <jansson.h>
#include <stdbool.h>

/*
 * A table: ncols header cells, then nrows * ncols cells (row-major, NULL = "-").  Columns are
 * padded to the widest cell (counted in UTF-8 characters), two spaces apart; the last column is
 * not padded.
 */
/*
 * Append s with what a terminal would act on shown escaped: C0 controls (newlines and tabs too),
 * DEL and invalid UTF-8 bytes as \xNN, C1 controls and bidi controls (U+202E, ...) as \u{NNNN}.
 * Idempotent: its output passes through unchanged.
 */
void render_safe_text(struct buf *out, const char *s);
/* As render_safe_text, but newlines and tabs stay (error messages of several lines). */
void render_safe_message(struct buf *out, const char *s);
/* A deep copy of v with every string and key passed through render_safe_text (new reference). */
json_t *render_safe_json(const json_t *v);
void render_table(struct buf *out, size_t ncols, const char *const *headers,
                  const char *const *cells, size_t nrows);
/* "45s", "5m30s", "1h02m", "2d03h"; negative -> "-". */
void render_duration(struct buf *out, long long seconds);
/* "[#####-----]" of width cells for percent 0..100 (clamped). */
void render_bar(struct buf *out, int percent, int width);

void render_pools(struct buf *out, const json_t *v);
void render_by_update(struct buf *out, const json_t *v);
void render_by_server(struct buf *out, const json_t *v);
/* The checking status line shared by both views ("Automatic checking is off; ..."). */
void render_checking(struct buf *out, const json_t *checking);
void render_plan(struct buf *out, const json_t *v);
void render_rollouts(struct buf *out, const json_t *v);
/* A rollout; bars = per-host progress bars (terminal) instead of a plain host table. */
void render_rollout(struct buf *out, const json_t *v, bool bars);
/* As render_rollout; compact leaves out hosts that are done or not started (one count line per
 * pool instead), for terminals too short for every host. */
void render_rollout_ex(struct buf *out, const json_t *v, bool bars, bool compact);
/* One line (with \n) for a progress event: "TIME POOL/HOST STEP PCT% MESSAGE". */
void render_event_line(struct buf *out, const json_t *ev);
/*
 * Fold a progress event into a rollout document (as GET /rollouts/{id} returns): the host's
 * step, percent, message and state.  "state" is the state of what the event is about: the
 * rollout when it has no pool, the pool when it has no host, else the host.  Pools and hosts
 * missing from the document are added.  Returns true when the event belongs to this rollout.
 */
bool render_apply_event(json_t *rollout, const json_t *ev);
/* True for a state a rollout does not leave by itself: done, halted, failed, cancelled. */
bool render_state_final(const char *state);

#endif
