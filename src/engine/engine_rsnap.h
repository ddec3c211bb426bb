/* SPDX-License-Identifier: MIT */
/*
 * engine_rsnap.h - published snapshots of GET /rollouts/{id}: the answer's text, immutable and
 * reference-counted, kept per rollout with what it was built from (the database's commit
 * generation and the rollout's head), so that a read that finds nothing committed since is
 * answered without building the JSON again (engine_reads.c; docs/engine.md, "Reads").
 * Pure logic under one mutex; no I/O.
 */
#ifndef PP_ENGINE_ENGINE_RSNAP_H
#define PP_ENGINE_ENGINE_RSNAP_H

#include <stddef.h>
#include <stdint.h>

/* One published answer: never changed once published; freed by its last holder. */
struct engine_rsnap {
    char *text; /* the JSON answer, NUL-terminated */
    size_t len;
    uint64_t gen;     /* the commit generation seen before its reads began */
    int64_t built_ms; /* monotonic ms when its reads began: its data is at least that new */
    char *head;       /* the rollout's head (state, updated, error) it was built with */
    int64_t until_ms; /* engine clock: true up to then if nothing is committed (exec_json.h) */
};

struct engine_rsnap_cache;

/* A cache of up to `slots` rollouts' snapshots (least recently used dropped).  Never NULL. */
struct engine_rsnap_cache *engine_rsnap_cache_new(size_t slots);
/* Drop the cache's references; snapshots still held elsewhere live on.  NULL ok. */
void engine_rsnap_cache_free(struct engine_rsnap_cache *c);

/*
 * The snapshot of rollout id that a read may be answered with (a new reference, or NULL: build
 * one), any thread.  It fits when it was built with the same head and either at generation gen
 * before its until_ms on the engine clock (clock_ms: nothing committed since, nothing moved
 * with time: it is current) or, when max_age_ms > 0 (the client accepts an answer that old,
 * Cache-Control: max-age), its reads began at most max_age_ms before now_ms (monotonic).
 * A rollout whose head changed (started, done, halted, cancelled, retried) never fits.
 */
struct engine_rsnap *engine_rsnap_find(struct engine_rsnap_cache *c, const char *id, uint64_t gen,
                                       const char *head, int64_t clock_ms, int64_t now_ms,
                                       int64_t max_age_ms);

/*
 * Publish a snapshot of rollout id built from gen / head with reads begun at built_ms, true up
 * to until_ms on the engine clock; takes text (malloc'd, len bytes).  It replaces the one kept
 * unless that one is newer (a higher generation or later reads: answers never go back in time).
 * Returns a new reference to the snapshot built (the caller answers with it, published or not). Any
 * thread.
 */
struct engine_rsnap *engine_rsnap_publish(struct engine_rsnap_cache *c, const char *id,
                                          uint64_t gen, const char *head, int64_t built_ms,
                                          int64_t until_ms, char *text, size_t len);

/* Drop a reference (the last frees the snapshot); NULL ok.  Any thread. */
void engine_rsnap_release(struct engine_rsnap *s);

#endif
