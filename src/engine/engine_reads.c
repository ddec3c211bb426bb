/* SPDX-License-Identifier: MIT */
/*
 * engine_reads.c - REST reads of the journal served on the caller's thread from read-only SQLite
 * connections (WAL: they never wait for the engine thread's writes, nor block them), so that a
 * GET /rollouts answers while the engine thread is busy.  Connections are opened on demand and
 * kept in a small idle list for reuse; each is used by one thread at a time.
 */
#include <stdlib.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "engine/engine_int.h"
#include "engine/exec_json.h"
#include "store/store.h"

#define READERS_KEPT 8

/* Set up the reader list (engine_new). */
void engine_readers_init(struct engine *eng)
{
    pthread_mutex_init(&eng->readers.lock, NULL);
    eng->readers.idle = xcalloc(READERS_KEPT, sizeof(*eng->readers.idle));
    eng->readers.cache = exec_json_cache_new();
}

/* Close the idle connections (engine_free; no reader in use). */
void engine_readers_cleanup(struct engine *eng)
{
    if (!eng->readers.idle)
        return;
    for (size_t i = 0; i < eng->readers.n_idle; i++)
        store_close(eng->readers.idle[i]);
    free(eng->readers.idle);
    eng->readers.idle = NULL;
    exec_json_cache_free(eng->readers.cache);
    pthread_mutex_destroy(&eng->readers.lock);
}

/* A read-only connection for this thread (engine_int.h). */
struct store *engine_reader_take(struct engine *eng, struct err *e)
{
    struct store *s = NULL;
    pthread_mutex_lock(&eng->readers.lock);
    if (eng->readers.n_idle > 0)
        s = eng->readers.idle[--eng->readers.n_idle];
    pthread_mutex_unlock(&eng->readers.lock);
    if (s)
        return s;
    struct store_opts so = {.clock = eng->clock};
    if (store_open_readonly(eng->db_path, &so, &s, e) != 0)
        return NULL;
    return s;
}

/* Give a connection back (engine_int.h). */
void engine_reader_give(struct engine *eng, struct store *s)
{
    pthread_mutex_lock(&eng->readers.lock);
    if (eng->readers.n_idle < READERS_KEPT) {
        eng->readers.idle[eng->readers.n_idle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&eng->readers.lock);
    store_close(s);
}

/* {"rollouts":[...]} newest first (see engine.h).  Any thread; never waits for the engine. */
int engine_rollouts(struct engine *eng, json_t **out, struct err *e)
{
    struct store *s = engine_reader_take(eng, e);
    *out = NULL;
    if (!s)
        return e && e->code ? e->code : PP_EDB;
    int rc = exec_json_rollouts(s, eng->readers.cache, clock_now_ms(eng->clock), out, e);
    engine_reader_give(eng, s);
    return rc;
}

/* One rollout (see engine.h).  Any thread; never waits for the engine. */
int engine_rollout_get(struct engine *eng, const char *id, json_t **out, struct err *e)
{
    struct store *s = engine_reader_take(eng, e);
    *out = NULL;
    if (!s)
        return e && e->code ? e->code : PP_EDB;
    int rc =
        exec_json_rollout(s, eng->readers.cache, id ? id : "", clock_now_ms(eng->clock), out, e);
    engine_reader_give(eng, s);
    return rc;
}
