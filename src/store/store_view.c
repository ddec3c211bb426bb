/* SPDX-License-Identifier: MIT */
/*
 * store_view.c - reads of the rollout journal for views that must stay fast on large journals
 * (a 43,650-step rollout): a scan of the steps with borrowed columns and selected params fields,
 * step counts per host / pool, and the per-host facts the engine reads from the pools.
 */
#include <string.h>

#include <stdbool.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/store_int.h"

/* A step's params are read whole (?2..?17 unused: the keys' fields are found in C, params_get);
 * a precheck's result and a failed / skipped step's error only where views use them. */
#define STEP_SCAN_COLS                                                                             \
    "SELECT seq, pool, host, kind, state, intent_at, done_at, "                                    \
    "CASE WHEN state IN ('failed', 'skipped') THEN error END, "                                    \
    "CASE WHEN kind = 'precheck' THEN result END, params FROM steps "
static const char SQL_STEP_SCAN[] = STEP_SCAN_COLS "WHERE rollout_id = ?1 ORDER BY seq";
/* One pool's steps; ?18 the pool.  The index is named: with the pool a parameter, SQLite's
 * planner walks the primary key (every step of the rollout) to spare the sort. */
static const char SQL_STEP_SCAN_POOL[] =
    STEP_SCAN_COLS "INDEXED BY steps_by_pool WHERE rollout_id = ?1 AND pool = ?18 ORDER BY seq";
/* One host's steps (?19 NULL: the pool's own, without a host); index steps_by_host. */
static const char SQL_STEP_SCAN_HOST[] = STEP_SCAN_COLS
    "INDEXED BY steps_by_host WHERE rollout_id = ?1 AND pool = ?18 AND host IS ?19 ORDER BY seq";
/* The hosts whose steps changed since a version (index steps_by_rv, which covers pool and host:
 * migration 8), and the version now. */
static const char SQL_STEP_RV_MAX[] =
    "SELECT coalesce(max(rv), 0) FROM steps WHERE rollout_id = ?1";
static const char SQL_STEP_CHANGED[] = "SELECT DISTINCT pool, host FROM steps INDEXED BY "
                                       "steps_by_rv WHERE rollout_id = ?1 AND rv > ?2";
static const char SQL_STEP_COUNT[] =
    "SELECT count(*), coalesce(sum(state <> 'pending'), 0), coalesce(sum(state = 'done'), 0), "
    "coalesce(sum(state = 'skipped'), 0), coalesce(sum(state = 'failed'), 0) FROM steps "
    "WHERE rollout_id = ?1 AND (?2 IS NULL OR pool = ?2) AND (?3 IS NULL OR host = ?3) "
    "AND (?4 IS NULL OR kind <> ?4)";
static const char SQL_FACTS_SET[] =
    "INSERT INTO host_facts (rollout_id, pool, host, facts, at) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT (rollout_id, pool, host) DO UPDATE SET facts = excluded.facts, at = excluded.at";
static const char SQL_DATA_VERSION[] = "PRAGMA data_version";
/* A params field the scan's own lookup leaves to SQLite (params_get). */
static const char SQL_JSON_EXTRACT[] = "SELECT json_extract(?1, ?2)";
static const char SQL_FACTS_SCAN[] =
    "SELECT pool, host, facts, at FROM host_facts WHERE rollout_id = ?1";

static const char *col_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

/* ---------------------------------------------------------------- params fields in C */

/*
 * A scan reads a step's params text once and finds its keys' fields here: SQLite's json_extract
 * parses the whole text again for each field (up to four a migration), ~2 us a row on this
 * machine, most of a re-plan burst's rescan.  Steps' params are valid JSON (CHECK json_valid,
 * written by jansson).  Only the plain cases are answered here, as json_extract answers them: a
 * path $.a.b of plain names, the first member of that name, a string without escapes (its bytes),
 * true / false ("1" / "0"), null or absent (NULL), a plain integer; anything else (an escape in a
 * key before the field or in its string, a real, an object or array, a quoted path) is asked of
 * SQLite's json_extract itself (pg_sqlite), so the text is json_extract's in every case.
 */

enum pg { PG_NULL, PG_FOUND, PG_ASK };

static const char *pg_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Past the string at p (its opening quote), or NULL; *esc set when it holds an escape. */
static const char *pg_str_end(const char *p, bool *esc)
{
    for (p++; *p; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            *esc = true;
            if (!*++p)
                return NULL;
        }
    }
    return NULL;
}

/* Past the value at p, or NULL. */
static const char *pg_value_end(const char *p)
{
    bool esc = false;
    if (*p == '"')
        return pg_str_end(p, &esc);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (*p) {
            if (*p == '"') {
                if (!(p = pg_str_end(p, &esc)))
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    const char *q = p;
    while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || *q == '-' || *q == '+' ||
           *q == '.' || *q == 'E')
        q++;
    return q > p ? q : NULL;
}

/* The value of member name (n bytes) of the object at p: *v at it (PG_FOUND), PG_NULL when p is
 * no object or has no such member, PG_ASK when an escaped key comes before it. */
static enum pg pg_member(const char *p, const char *name, size_t n, const char **v)
{
    p = pg_ws(p);
    if (*p != '{')
        return PG_NULL;
    p = pg_ws(p + 1);
    if (*p == '}')
        return PG_NULL;
    for (;;) {
        bool esc = false;
        const char *ke = *p == '"' ? pg_str_end(p, &esc) : NULL;
        if (!ke || esc)
            return PG_ASK;
        const char *val = pg_ws(ke);
        if (*val != ':')
            return PG_ASK;
        val = pg_ws(val + 1);
        if ((size_t)(ke - p) == n + 2 && memcmp(p + 1, name, n) == 0) {
            *v = val;
            return PG_FOUND; /* the first of that name, as json_extract */
        }
        const char *ve = pg_value_end(val);
        if (!ve)
            return PG_ASK;
        p = pg_ws(ve);
        if (*p == '}')
            return PG_NULL;
        if (*p != ',')
            return PG_ASK;
        p = pg_ws(p + 1);
    }
}

/* A plain integer json_extract gives back as written: no sign but '-', no leading zero, at most
 * 18 digits. */
static bool pg_plain_int(const char *v, size_t n)
{
    size_t neg = v[0] == '-';
    if (n <= neg || n - neg > 18 || (v[neg] == '0' && n - neg > 1) || (neg && v[1] == '0'))
        return false;
    for (size_t i = neg; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

/* Field path of json into out (its text appended, NUL-terminated): PG_FOUND, PG_NULL (SQL
 * NULL) or PG_ASK (json_extract's turn). */
static enum pg pg_get(const char *json, const char *path, struct buf *out)
{
    if (path[0] != '$')
        return PG_ASK;
    const char *v = pg_ws(json);
    for (const char *p = path + 1; *p;) {
        const char *seg = p + 1, *end = seg;
        while (*end && *end != '.' && *end != '[' && *end != '"')
            end++;
        if (*p != '.' || end == seg || (*end && *end != '.'))
            return PG_ASK;
        enum pg r = pg_member(v, seg, (size_t)(end - seg), &v);
        if (r != PG_FOUND)
            return r;
        p = end;
    }
    bool esc = false;
    const char *ve = pg_value_end(v);
    if (!ve)
        return PG_ASK;
    size_t n = (size_t)(ve - v);
    if (*v == '"') {
        pg_str_end(v, &esc);
        if (esc)
            return PG_ASK;
        buf_append(out, v + 1, n - 2);
    } else if (n == 4 && memcmp(v, "true", 4) == 0) {
        buf_putc(out, '1');
    } else if (n == 5 && memcmp(v, "false", 5) == 0) {
        buf_putc(out, '0');
    } else if (n == 4 && memcmp(v, "null", 4) == 0) {
        return PG_NULL;
    } else if (pg_plain_int(v, n)) {
        buf_append(out, v, n);
    } else {
        return PG_ASK;
    }
    buf_putc(out, '\0');
    return PG_FOUND;
}

/* json_extract(json, path) itself, appended to out. */
static enum pg pg_sqlite(struct store *s, const char *json, const char *path, struct buf *out,
                         struct err *e)
{
    sqlite3_stmt *st;
    if (store_stmt(s, SQL_JSON_EXTRACT, &st, e) != 0)
        return PG_ASK;
    store_bind(st, "tt", json, path);
    enum pg r = PG_ASK;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL) {
        r = PG_NULL;
    } else if (src == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        buf_append(out, t, (size_t)sqlite3_column_bytes(st, 0));
        buf_putc(out, '\0');
        r = PG_FOUND;
    } else {
        store_dberr(s, e, src, "reading a step's %s", path);
    }
    store_stmt_done(st);
    return r;
}

/* The row's fields of keys (those of its kind) into r->param, their text in scratch.  0 or an
 * error (json_extract's). */
static int step_params_read(struct store *s, const char *params, const struct store_scan_key *keys,
                            size_t n_keys, struct buf *scratch, struct store_step_row *r,
                            struct err *e)
{
    size_t at[STORE_SCAN_KEYS] = {0};
    enum pg got[STORE_SCAN_KEYS] = {PG_NULL};
    buf_reset(scratch);
    for (size_t i = 0; i < n_keys; i++) {
        got[i] = PG_NULL;
        if (!params || (keys[i].kind && !(r->kind && strcmp(r->kind, keys[i].kind) == 0)))
            continue;
        at[i] = scratch->len;
        got[i] = pg_get(params, keys[i].path, scratch);
        if (got[i] == PG_ASK) {
            scratch->len = at[i];
            got[i] = pg_sqlite(s, params, keys[i].path, scratch, e);
            if (got[i] == PG_ASK)
                return e && e->code ? e->code : PP_EDB;
        }
    }
    for (size_t i = 0; i < STORE_SCAN_KEYS; i++)
        r->param[i] = i < n_keys && got[i] == PG_FOUND ? scratch->data + at[i] : NULL;
    return 0;
}

static void step_row_read(sqlite3_stmt *st, struct store_step_row *r)
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
    struct buf scratch;
    buf_init(&scratch);
    while (src == SQLITE_OK && rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_step_row r;
        step_row_read(st, &r);
        rc = step_params_read(s, col_text(st, 9), keys, n_keys, &scratch, &r, e);
        if (rc == 0)
            rc = fn(ctx, &r);
        src = SQLITE_OK;
    }
    store_stmt_done(st);
    buf_cleanup(&scratch);
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
