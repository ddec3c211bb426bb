/* SPDX-License-Identifier: MIT */
/*
 * engine_reads.c - REST reads of the journal served on the caller's thread from read-only SQLite
 * connections (WAL: they never wait for the engine thread's writes, nor block them), so that a
 * GET /rollouts answers while the engine thread is busy.  Connections are opened on demand and
 * kept in a small idle list for reuse; each is used by one thread at a time.
 *
 * GET /rollouts/{id} is answered from a published snapshot of its text (engine_rsnap.c) while
 * nothing was committed to the database since it was built: a probe connection's PRAGMA
 * data_version tells, under the readers' lock, whether any connection (the engine thread, the
 * windows' or the webhooks' threads) committed since the last look; each change bumps `gen`.
 * A snapshot tagged with gen g was built by reads begun after the probe saw g, so it holds every
 * commit up to g.  Builds run one at a time (build_lock) and publish in order, so a client never
 * sees an answer older than one it already had.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "engine/engine_int.h"
#include "engine/engine_rsnap.h"
#include "engine/exec_json.h"
#include "store/store.h"

#define READERS_KEPT 8
#define SNAPS_KEPT   8 /* rollouts whose GET answer is kept */
#define INCS_KEPT    2 /* rollouts whose text is built incrementally (its pools' fragments) */

/* Set up the reader list (engine_new). */
void engine_readers_init(struct engine *eng)
{
    pthread_mutex_init(&eng->readers.lock, NULL);
    eng->readers.idle = xcalloc(READERS_KEPT, sizeof(*eng->readers.idle));
    eng->readers.cache = exec_json_cache_new();
    pthread_mutex_init(&eng->readers.build_lock, NULL);
    eng->readers.snaps = engine_rsnap_cache_new(SNAPS_KEPT);
    eng->readers.inc = exec_json_inc_new(INCS_KEPT);
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
    store_close(eng->readers.probe);
    engine_rsnap_cache_free(eng->readers.snaps);
    exec_json_inc_free(eng->readers.inc);
    pthread_mutex_destroy(&eng->readers.build_lock);
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

/* "state|updated|error" of a rollout's head: a snapshot built with another head is not served. */
static char *head_key(const struct store_rollout *ro)
{
    return xasprintf("%d|%lld|%s", (int)ro->state, (long long)ro->updated_at_ms,
                     ro->error ? ro->error : "");
}

/* The commit generation now and rollout id's head, through the probe connection (opened on first
 * use).  Under the readers' lock: the probe is one connection. */
static int probe_read(struct engine *eng, const char *id, uint64_t *gen, struct store_rollout *head,
                      struct err *e)
{
    struct eng_readers *r = &eng->readers;
    int rc = 0;
    int64_t v = 0;
    pthread_mutex_lock(&r->lock);
    if (!r->probe) {
        struct store_opts so = {.clock = eng->clock};
        rc = store_open_readonly(eng->db_path, &so, &r->probe, e);
    }
    if (rc == 0)
        rc = store_data_version(r->probe, &v, e);
    if (rc == 0 && v != r->probe_version) {
        r->probe_version = v;
        r->gen++;
    }
    *gen = r->gen;
    if (rc == 0)
        rc = store_rollout_get_head(r->probe, id, head, e);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* A published snapshot that answers now, or NULL; *head and *key: the head read and its key
 * (replaced; the caller frees the last ones). */
static struct engine_rsnap *snap_find(struct engine *eng, const char *id, int64_t max_age_ms,
                                      uint64_t *gen, struct store_rollout *head, char **key,
                                      struct err *e)
{
    store_rollout_cleanup(head);
    free(*key);
    *key = NULL;
    if (probe_read(eng, id, gen, head, e) != 0)
        return NULL;
    *key = head_key(head);
    /* a finished rollout is read current: the last writes (its pools' calls, the verification's
     * facts) may follow its final state, and a current build of it is cheap (incremental) */
    bool final = head->state == STORE_ROLLOUT_DONE || head->state == STORE_ROLLOUT_CANCELLED ||
                 head->state == STORE_ROLLOUT_FAILED;
    return engine_rsnap_find(eng->readers.snaps, id, *gen, *key, clock_now_ms(eng->clock),
                             clock_mono_ms(), final ? 0 : max_age_ms);
}

/* Build rollout id's text now (incrementally: the pools changed since the last build) and
 * publish it.  Under build_lock. */
static struct engine_rsnap *snap_build(struct engine *eng, uint64_t gen,
                                       const struct store_rollout *head, const char *key,
                                       struct err *e)
{
    int64_t began = clock_mono_ms();
    struct store *s = engine_reader_take(eng, e);
    if (!s)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    int64_t until = 0;
    int rc = exec_json_rollout_text_inc(s, eng->readers.cache, eng->readers.inc, head,
                                        clock_now_ms(eng->clock), &text, &len, &until, NULL, e);
    engine_reader_give(eng, s);
    if (rc != 0)
        return NULL;
    return engine_rsnap_publish(eng->readers.snaps, head->id, gen, key, began, until, text, len);
}

/* One rollout's text (see engine.h).  Any thread; never waits for the engine. */
int engine_rollout_text(struct engine *eng, const char *id, int64_t max_age_ms, char **text,
                        size_t *len, int64_t *age_ms, struct err *e)
{
    struct store_rollout head = {0};
    char *key = NULL;
    uint64_t gen = 0;
    struct err e2 = {0};
    *text = NULL;
    *len = 0;
    *age_ms = 0;
    struct engine_rsnap *snap = snap_find(eng, id ? id : "", max_age_ms, &gen, &head, &key, &e2);
    if (!snap && !e2.code) {
        /* one build at a time; whoever held the lock may just have built what this read needs */
        pthread_mutex_lock(&eng->readers.build_lock);
        snap = snap_find(eng, id ? id : "", max_age_ms, &gen, &head, &key, &e2);
        if (!snap && !e2.code)
            snap = snap_build(eng, gen, &head, key, &e2);
        pthread_mutex_unlock(&eng->readers.build_lock);
    }
    store_rollout_cleanup(&head);
    free(key);
    if (!snap) {
        if (e)
            *e = e2;
        return e2.code ? e2.code : PP_EDB;
    }
    *text = xmalloc(snap->len + 1);
    memcpy(*text, snap->text, snap->len + 1);
    *len = snap->len;
    if (snap->gen != gen) {
        int64_t age = clock_mono_ms() - snap->built_ms;
        *age_ms = age > 0 ? age : 1;
    }
    engine_rsnap_release(snap);
    return 0;
}

/* Publish rollout id's text now (see engine.h). */
void engine_rollout_warm(struct engine *eng, const char *id)
{
    char *text = NULL;
    size_t len = 0;
    int64_t age = 0;
    struct err e = {0};
    if (engine_rollout_text(eng, id, 0, &text, &len, &age, &e) != 0)
        log_debug("engine", "rollout %s: its text not built ahead: %s", id, e.msg);
    free(text);
}
