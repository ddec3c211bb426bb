/* SPDX-License-Identifier: MIT */
/*
 * store_view.c - reads of the rollout journal for views that must stay fast on large journals
 * (a 43,650-step rollout): a scan of the steps with borrowed columns and selected params fields,
 * step counts per host / pool, and the per-host facts the engine reads from the pools.
 */
#include <string.h>

#include "base/err.h"
#include "store/store_int.h"

/* A key's value only for the rows of its kind (?k NULL: every row) and only when asked for (?p
 * not NULL); a precheck's result and a failed / skipped step's error only where views use them. */
#define SCAN_KEY(k, p)                                                                             \
    "CASE WHEN ?" #p " IS NOT NULL AND (?" #k " IS NULL OR kind = ?" #k ") "                       \
    "THEN json_extract(params, ?" #p ") END"
#define STEP_SCAN_COLS                                                                                               \
    "SELECT seq, pool, host, kind, state, intent_at, done_at, "                                                      \
    "CASE WHEN state IN ('failed', 'skipped') THEN error END, "                                                      \
    "CASE WHEN kind = 'precheck' THEN result END, " SCAN_KEY(2, 3) ", " SCAN_KEY(                                    \
        4,                                                                                                           \
        5) ", " SCAN_KEY(6,                                                                                          \
                         7) ", " SCAN_KEY(8,                                                                         \
                                          9) ", " SCAN_KEY(10,                                                       \
                                                           11) ", " SCAN_KEY(12,                                     \
                                                                             13) ", " SCAN_KEY(14,                   \
                                                                                               15) ", " SCAN_KEY(16, \
                                                                                                                 17) " FROM steps "
static const char SQL_STEP_SCAN[] = STEP_SCAN_COLS "WHERE rollout_id = ?1 ORDER BY seq";
/* One pool's steps; ?18 the pool.  The index is named: with the pool a parameter, SQLite's
 * planner walks the primary key (every step of the rollout) to spare the sort. */
static const char SQL_STEP_SCAN_POOL[] =
    STEP_SCAN_COLS "INDEXED BY steps_by_pool WHERE rollout_id = ?1 AND pool = ?18 ORDER BY seq";
/* One host's steps (?19 NULL: the pool's own, without a host); index steps_by_host. */
static const char SQL_STEP_SCAN_HOST[] = STEP_SCAN_COLS
    "INDEXED BY steps_by_host WHERE rollout_id = ?1 AND pool = ?18 AND host IS ?19 ORDER BY seq";
/* The hosts whose steps changed since a version (index steps_by_rv), and the version now. */
static const char SQL_STEP_RV_MAX[] =
    "SELECT coalesce(max(rv), 0) FROM steps WHERE rollout_id = ?1";
static const char SQL_STEP_CHANGED[] =
    "SELECT DISTINCT pool, host FROM steps WHERE rollout_id = ?1 AND rv > ?2";
static const char SQL_STEP_COUNT[] =
    "SELECT count(*), coalesce(sum(state <> 'pending'), 0), coalesce(sum(state = 'done'), 0), "
    "coalesce(sum(state = 'skipped'), 0), coalesce(sum(state = 'failed'), 0) FROM steps "
    "WHERE rollout_id = ?1 AND (?2 IS NULL OR pool = ?2) AND (?3 IS NULL OR host = ?3) "
    "AND (?4 IS NULL OR kind <> ?4)";
static const char SQL_FACTS_SET[] =
    "INSERT INTO host_facts (rollout_id, pool, host, facts, at) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT (rollout_id, pool, host) DO UPDATE SET facts = excluded.facts, at = excluded.at";
static const char SQL_DATA_VERSION[] = "PRAGMA data_version";
static const char SQL_FACTS_SCAN[] =
    "SELECT pool, host, facts, at FROM host_facts WHERE rollout_id = ?1";

static const char *col_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

static void step_row_read(sqlite3_stmt *st, size_t n_keys, struct store_step_row *r)
{
    enum store_step_state ss = STORE_STEP_FAILED;
    r->seq = sqlite3_column_int64(st, 0);
    r->pool = col_text(st, 1);
    r->host = col_text(st, 2);
    r->kind = col_text(st, 3);
    store_step_state_parse(col_text(st, 4), &ss);
    r->state = ss;
    r->intent_at_ms = sqlite3_column_int64(st, 5);
    r->done_at_ms = sqlite3_column_int64(st, 6);
    r->error = col_text(st, 7);
    r->result_json = col_text(st, 8);
    for (size_t i = 0; i < STORE_SCAN_KEYS; i++)
        r->param[i] = i < n_keys ? col_text(st, 9 + (int)i) : NULL;
}

static int steps_scan(struct store *s, const char *rollout_id, const char *pool, bool by_host,
                      const char *host, const struct store_scan_key *keys, size_t n_keys,
                      int (*fn)(void *ctx, const struct store_step_row *row), void *ctx,
                      struct err *e);

/* Scan a rollout's steps (see store.h). */
int store_steps_scan(struct store *s, const char *rollout_id, const struct store_scan_key *keys,
                     size_t n_keys, int (*fn)(void *ctx, const struct store_step_row *row),
                     void *ctx, struct err *e)
{
    return store_steps_scan_pool(s, rollout_id, NULL, keys, n_keys, fn, ctx, e);
}

/* Scan a rollout's or one pool's steps (see store.h). */
int store_steps_scan_pool(struct store *s, const char *rollout_id, const char *pool,
                          const struct store_scan_key *keys, size_t n_keys,
                          int (*fn)(void *ctx, const struct store_step_row *row), void *ctx,
                          struct err *e)
{
    return steps_scan(s, rollout_id, pool, false, NULL, keys, n_keys, fn, ctx, e);
}

/* Scan one host's steps, or a pool's own (see store.h). */
int store_steps_scan_host(struct store *s, const char *rollout_id, const char *pool,
                          const char *host, const struct store_scan_key *keys, size_t n_keys,
                          int (*fn)(void *ctx, const struct store_step_row *row), void *ctx,
                          struct err *e)
{
    if (!pool)
        return err_set(e, PP_EINVAL, "scanning a host's steps: no pool");
    return steps_scan(s, rollout_id, pool, true, host, keys, n_keys, fn, ctx, e);
}

/* The scans: every step (pool NULL), a pool's, or with by_host one host's of the pool (host
 * NULL: the pool's own steps). */
static int steps_scan(struct store *s, const char *rollout_id, const char *pool, bool by_host,
                      const char *host, const struct store_scan_key *keys, size_t n_keys,
                      int (*fn)(void *ctx, const struct store_step_row *row), void *ctx,
                      struct err *e)
{
    if (!rollout_id || !fn || n_keys > STORE_SCAN_KEYS)
        return err_set(e, PP_EINVAL, "scanning steps: bad arguments");
    sqlite3_stmt *st;
    const char *sql = by_host ? SQL_STEP_SCAN_HOST : pool ? SQL_STEP_SCAN_POOL : SQL_STEP_SCAN;
    int rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    int src = sqlite3_bind_text(st, 1, rollout_id, -1, SQLITE_TRANSIENT);
    if (pool && src == SQLITE_OK)
        src = sqlite3_bind_text(st, 18, pool, -1, SQLITE_TRANSIENT);
    if (by_host && src == SQLITE_OK)
        src = host ? sqlite3_bind_text(st, 19, host, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, 19);
    for (size_t i = 0; i < n_keys && src == SQLITE_OK; i++) {
        if (keys[i].kind)
            src = sqlite3_bind_text(st, 2 + 2 * (int)i, keys[i].kind, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(st, 3 + 2 * (int)i, keys[i].path, -1, SQLITE_STATIC);
    }
    while (src == SQLITE_OK && rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_step_row r;
        step_row_read(st, n_keys, &r);
        rc = fn(ctx, &r);
        src = SQLITE_OK;
    }
    store_stmt_done(st);
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_OK)
        rc = store_dberr(s, e, src, "scanning the steps of rollout %s", rollout_id);
    return rc;
}

/* The hosts whose steps changed since a version (see store.h). */
int store_steps_changed(struct store *s, const char *rollout_id, int64_t since_rv, int64_t *now_rv,
                        int (*fn)(void *ctx, const char *pool, const char *host), void *ctx,
                        struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_STEP_RV_MAX, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", rollout_id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *now_rv = sqlite3_column_int64(st, 0);
    store_stmt_done(st);
    if (src != SQLITE_ROW)
        return store_dberr(s, e, src, "reading the change version of rollout %s", rollout_id);
    if ((rc = store_stmt(s, SQL_STEP_CHANGED, &st, e)) != 0)
        return rc;
    store_bind(st, "ti", rollout_id, since_rv);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(ctx, col_text(st, 0), col_text(st, 1));
    store_stmt_done(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_dberr(s, e, src, "reading the changed steps of rollout %s", rollout_id);
    return rc;
}

/* The connection's data version (see store.h). */
int store_data_version(struct store *s, int64_t *out, struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_DATA_VERSION, &st, e);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    store_stmt_done(st);
    if (src != SQLITE_ROW)
        return store_dberr(s, e, src, "reading the database's data version");
    return 0;
}

/* Count steps (see store.h). */
int store_steps_count(struct store *s, const char *rollout_id, const char *pool, const char *host,
                      const char *skip_kind, struct store_step_counts *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_STEP_COUNT, &st, e);
    if (rc)
        return rc;
    store_bind(st, "tttt", rollout_id, pool, host, skip_kind);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->total = sqlite3_column_int64(st, 0);
        out->started = sqlite3_column_int64(st, 1);
        out->done = sqlite3_column_int64(st, 2);
        out->skipped = sqlite3_column_int64(st, 3);
        out->failed = sqlite3_column_int64(st, 4);
    }
    store_stmt_done(st);
    if (src != SQLITE_ROW)
        return store_dberr(s, e, src, "counting the steps of rollout %s", rollout_id);
    return 0;
}

/* Record a host's facts (see store.h). */
int store_host_facts_set(struct store *s, const char *rollout_id, const char *pool,
                         const char *host, const char *facts_json, struct err *e)
{
    if (!rollout_id || !pool || !host || !facts_json)
        return err_set(e, PP_EINVAL, "host facts need a rollout, pool, host and facts");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_FACTS_SET, "recording host facts", &st, e);
    if (rc)
        return rc;
    store_bind(st, "tttti", rollout_id, pool, host, facts_json, store_now_ms(s));
    int src = store_step_done(st);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return err_set(e, PP_ENOTFOUND, "no rollout %s to record host facts for", rollout_id);
    if (src == SQLITE_CONSTRAINT_CHECK)
        return err_set(e, PP_EINVAL, "host facts of %s: not valid JSON", host);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "recording the facts of host %s", host);
    return 0;
}

/* Read every host record of a rollout (see store.h). */
int store_host_facts_scan(struct store *s, const char *rollout_id,
                          int (*fn)(void *ctx, const char *pool, const char *host,
                                    const char *facts_json, int64_t at_ms),
                          void *ctx, struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_FACTS_SCAN, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", rollout_id);
    int src = SQLITE_DONE;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc =
            fn(ctx, col_text(st, 0), col_text(st, 1), col_text(st, 2), sqlite3_column_int64(st, 3));
    store_stmt_done(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = store_dberr(s, e, src, "reading the host facts of rollout %s", rollout_id);
    return rc;
}
