/* SPDX-License-Identifier: MIT */
/*
 * exec_json.h - rollouts as JSON (docs/rest-api.md, "Rollouts"), built from the journal in one
 * pass over its steps, on any thread that has its own store connection (the REST server's
 * read-only ones): never on, and never waiting for, the engine thread.
 */
#ifndef PP_ENGINE_EXEC_JSON_H
#define PP_ENGINE_EXEC_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

/*
 * What the JSON needs from a rollout's plan (predicted window and per-host predictions, host and
 * update names), kept per rollout so that a plan of megabytes is parsed once, not on every read.
 * Thread-safe (one mutex); shared by every reader thread.
 */
struct exec_json_cache;
struct exec_json_cache *exec_json_cache_new(void);
void exec_json_cache_free(struct exec_json_cache *c);

/*
 * One rollout with its pools, per-host records, counters, state and error.  s: any connection
 * (read-only is enough), used by this thread only during the call.  cache may be NULL (the plan
 * is then parsed for this call).  now_ms: the engine clock's now (elapsed of a running rollout);
 * 0 = the time of the last journal write.  *out new reference.  PP_ENOTFOUND for an unknown id.
 */
int exec_json_rollout(struct store *s, struct exec_json_cache *cache, const char *id,
                      int64_t now_ms, json_t **out, struct err *e);
/*
 * The same as exec_json_rollout, as the answer's compact text (*text malloc'd, *len bytes), for
 * the rollout whose head the caller read (store_rollout_get_head: the caller reads it before,
 * to know whether a snapshot of it is still current).  *until_ms: the engine-clock instant up to
 * which the text stays true if nothing is written to the journal (a running rollout's elapsed_s
 * moves with the clock: its next whole second; INT64_MAX when nothing moves with time).
 */
struct store_rollout;
int exec_json_rollout_text(struct store *s, struct exec_json_cache *cache,
                           const struct store_rollout *head, int64_t now_ms, char **text,
                           size_t *len, int64_t *until_ms, struct err *e);
/*
 * Incremental builds of exec_json_rollout_text: per rollout (up to `slots`, least recently used
 * dropped) each host's rendered record and its part of its pool's fields and counts (and each
 * pool's own steps, those without a host, folded the same way), current with the journal's change
 * version of its steps (store_steps_changed) and with its facts row.  A build scans and renders
 * again only the hosts whose steps or facts changed since the last one (everything when the
 * rollout's state or findings changed, or a pool appeared), combines their pools' fields again
 * and splices the cached text of the others; the result is byte for byte
 * exec_json_rollout_text's.  Memory per rollout: its hosts' records' text (about the answer's
 * size) and ~300 bytes per host and per pool.  Not thread-safe: one build at a time per object
 * (engine_reads.c holds its build lock).
 */
struct exec_json_inc;
struct exec_json_inc *exec_json_inc_new(size_t slots);
void exec_json_inc_free(struct exec_json_inc *x);

/* What an incremental build did: pools in the rollout, pools combined again (a host or the pool's
 * own steps changed), hosts scanned and rendered again, whether it was a full build, and the
 * bytes its state keeps (the hosts' rendered records and the segments). */
struct exec_json_inc_stats {
    size_t pools, pools_rendered, hosts_rendered;
    bool full;
    size_t bytes;
};

/*
 * exec_json_rollout_text through x (same arguments and result); stats may be NULL.  The text
 * holds every journal write committed before the call began.  On an error x forgets the rollout
 * (the next build is a full one).
 */
int exec_json_rollout_text_inc(struct store *s, struct exec_json_cache *cache,
                               struct exec_json_inc *x, const struct store_rollout *head,
                               int64_t now_ms, char **text, size_t *len, int64_t *until_ms,
                               struct exec_json_inc_stats *stats, struct err *e);

/* {"rollouts":[summary...]} newest first (at most 200).  Same rules as exec_json_rollout. */
int exec_json_rollouts(struct store *s, struct exec_json_cache *cache, int64_t now_ms, json_t **out,
                       struct err *e);

#endif
