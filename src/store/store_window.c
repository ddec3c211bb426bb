/* SPDX-License-Identifier: MIT */
/*
 * store_window.c - the windows, schedules and rollout_windows tables (schema step 4 in
 * store_schema.c).  Contract: store_window.h.
 */
#include "store/store_window.h"

#include "base/err.h"
#include "store/store.h"
#include "store/store_int.h"

#include <sqlite3.h>
#include <string.h>

static const char SQL_WIN_ADD[] =
    "INSERT OR IGNORE INTO windows (name, spec, created_at) VALUES (?1, ?2, ?3)";
static const char SQL_SCHED_ADD[] = "INSERT OR IGNORE INTO schedules (name, spec, created_at, "
                                    "last_fired_at) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_WIN_DEL[] = "DELETE FROM windows WHERE name = ?1";
static const char SQL_SCHED_DEL[] = "DELETE FROM schedules WHERE name = ?1";
static const char SQL_WIN_LIST[] =
    "SELECT name, spec, created_at, NULL, NULL, NULL FROM windows ORDER BY name";
static const char SQL_SCHED_LIST[] = "SELECT name, spec, created_at, last_fired_at, last_rollout, "
                                     "last_error FROM schedules ORDER BY name";
static const char SQL_SCHED_FIRED[] = "UPDATE schedules SET last_fired_at = ?2, last_rollout = "
                                      "coalesce(?3, last_rollout), last_error = ?4 WHERE name = ?1";
static const char SQL_RW_SET[] =
    "INSERT INTO rollout_windows (rollout_id, pool, state, since_at, until_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (rollout_id, pool) DO UPDATE SET "
    "since_at = CASE WHEN state = excluded.state THEN since_at ELSE excluded.since_at END, "
    "state = excluded.state, until_at = excluded.until_at";
static const char SQL_RW_DEL[] = "DELETE FROM rollout_windows WHERE rollout_id = ?1 AND pool = ?2";
static const char SQL_RW_LIST[] =
    "SELECT pool, state, since_at, until_at FROM rollout_windows WHERE rollout_id = ?1";

static const char *kind_name(enum store_win_kind k)
{
    return k == STORE_WIN_SCHEDULE ? "schedule" : "window";
}

static int run_write(struct store *s, sqlite3_stmt *st, const char *op, struct err *e)
{
    int rc = store_step_done(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, e, rc, "%s", op);
}

int store_window_add(struct store *s, enum store_win_kind k, const char *name, const char *spec,
                     int64_t fired_at_ms, struct err *e)
{
    sqlite3_stmt *st;
    int rc;
    if (!name || !*name)
        return err_set(e, PP_EINVAL, "a %s needs a name", kind_name(k));
    if ((rc = store_check_writable(s, "adding a window", e)) != 0 ||
        (rc = store_check_json(s, spec, kind_name(k), e)) != 0 ||
        (rc = store_stmt(s, k == STORE_WIN_SCHEDULE ? SQL_SCHED_ADD : SQL_WIN_ADD, &st, e)) != 0)
        return rc;
    if (k == STORE_WIN_SCHEDULE)
        store_bind(st, "ttii", name, spec, store_now_ms(s), fired_at_ms);
    else
        store_bind(st, "tti", name, spec, store_now_ms(s));
    if ((rc = run_write(s, st, "adding a window", e)) != 0)
        return rc;
    if (sqlite3_changes(s->db) == 0)
        return err_set(e, PP_ESTATE, "a %s named '%s' already exists (remove it first)",
                       kind_name(k), name);
    return 0;
}

int store_window_remove(struct store *s, enum store_win_kind k, const char *name, struct err *e)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = store_check_writable(s, "removing a window", e)) != 0 ||
        (rc = store_stmt(s, k == STORE_WIN_SCHEDULE ? SQL_SCHED_DEL : SQL_WIN_DEL, &st, e)) != 0)
        return rc;
    store_bind(st, "t", name);
    if ((rc = run_write(s, st, "removing a window", e)) != 0)
        return rc;
    if (sqlite3_changes(s->db) == 0)
        return err_set(e, PP_ENOTFOUND, "no %s named '%s'", kind_name(k), name ? name : "");
    return 0;
}

static json_t *int_or_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL
               ? json_null()
               : json_integer(sqlite3_column_int64(st, col));
}

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t ? json_string(t) : json_null();
}

int store_window_list(struct store *s, enum store_win_kind k, json_t **out, struct err *e)
{
    sqlite3_stmt *st;
    int rc;
    *out = NULL;
    if ((rc = store_stmt(s, k == STORE_WIN_SCHEDULE ? SQL_SCHED_LIST : SQL_WIN_LIST, &st, e)) != 0)
        return rc;
    json_t *arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *spec = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        json_array_append_new(
            arr,
            json_pack("{s:s, s:o, s:I, s:o, s:o, s:o}", "name", sqlite3_column_text(st, 0), "spec",
                      spec ? spec : json_object(), "created_ms",
                      (json_int_t)sqlite3_column_int64(st, 2), "last_fired_ms", int_or_null(st, 3),
                      "last_rollout", text_or_null(st, 4), "last_error", text_or_null(st, 5)));
    }
    store_stmt_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return store_dberr(s, e, rc, "listing %ss", kind_name(k));
    }
    *out = arr;
    return 0;
}

int store_schedule_fired(struct store *s, const char *name, int64_t at_ms, const char *rollout,
                         const char *error, struct err *e)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = store_wstmt(s, SQL_SCHED_FIRED, "recording a schedule", &st, e)) != 0)
        return rc;
    store_bind(st, "titt", name, at_ms, rollout, error);
    return run_write(s, st, "recording a schedule", e);
}

int store_rollout_window_set(struct store *s, const char *rollout, const char *pool,
                             const char *state, int64_t until_ms, struct err *e)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = store_check_writable(s, "recording a window wait", e)) != 0 ||
        (rc = store_stmt(s, state ? SQL_RW_SET : SQL_RW_DEL, &st, e)) != 0)
        return rc;
    if (!state)
        store_bind(st, "tt", rollout, pool);
    else if (until_ms < 0)
        store_bind(st, "tttin", rollout, pool, state, store_now_ms(s));
    else
        store_bind(st, "tttii", rollout, pool, state, store_now_ms(s), until_ms);
    return run_write(s, st, "recording a window wait", e);
}

int store_rollout_windows(struct store *s, const char *rollout, json_t **out, struct err *e)
{
    sqlite3_stmt *st;
    int rc;
    *out = NULL;
    if ((rc = store_stmt(s, SQL_RW_LIST, &st, e)) != 0)
        return rc;
    store_bind(st, "t", rollout);
    json_t *o = json_object();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
                            json_pack("{s:s, s:I, s:o}", "state", sqlite3_column_text(st, 1),
                                      "since_ms", (json_int_t)sqlite3_column_int64(st, 2),
                                      "until_ms", int_or_null(st, 3)));
    store_stmt_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return store_dberr(s, e, rc, "reading window waits");
    }
    *out = o;
    return 0;
}
