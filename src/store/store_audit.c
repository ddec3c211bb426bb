/* SPDX-License-Identifier: MIT */
/*
 * store_audit.c - the audit log table: one row per mutating REST request.  The table is created
 * on first use (CREATE TABLE IF NOT EXISTS), so it needs no migration step of its own and an
 * older database gains it when the daemon first records an entry.
 */
#include "store/store_audit.h"

#include "base/clock.h"
#include "base/err.h"
#include "store/store.h"
#include "store/store_int.h"

#include <sqlite3.h>
#include <string.h>

#define AUDIT_KEEP 100000 /* rows kept; older ones are pruned */

static const char SQL_AUDIT_TABLE[] =
    "CREATE TABLE IF NOT EXISTS audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at_ms INTEGER NOT NULL,"
    "  role TEXT NOT NULL, token_id TEXT NOT NULL, client TEXT NOT NULL,"
    "  method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL, detail TEXT NOT NULL)";
static const char SQL_AUDIT_ADD[] =
    "INSERT INTO audit (at_ms, role, token_id, client, method, path, status, outcome, detail) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_AUDIT_PRUNE[] = "DELETE FROM audit WHERE id <= ?1";
static const char SQL_AUDIT_LIST[] =
    "SELECT id, at_ms, role, token_id, client, method, path, status, outcome, detail "
    "FROM audit ORDER BY id DESC LIMIT ?1";

static int audit_table(struct store *s, struct err *e)
{
    int rc = sqlite3_exec(s->db, SQL_AUDIT_TABLE, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : store_dberr(s, e, rc, "creating the audit table");
}

int store_audit_add(struct store *s, const struct store_audit_entry *a, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = store_check_writable(s, "recording an audit entry", e)) != 0 ||
        (rc = audit_table(s, e)) != 0 || (rc = store_stmt(s, SQL_AUDIT_ADD, &st, e)) != 0)
        return rc;
    store_bind(st, "itttttitt", store_now_ms(s), a->role ? a->role : "",
               a->token_id ? a->token_id : "", a->client ? a->client : "",
               a->method ? a->method : "", a->path ? a->path : "", (int64_t)a->status,
               a->outcome ? a->outcome : "", a->detail ? a->detail : "");
    rc = store_step_done(st);
    if (rc != SQLITE_DONE)
        return store_dberr(s, e, rc, "recording an audit entry");
    int64_t last = sqlite3_last_insert_rowid(s->db);
    if (last > AUDIT_KEEP && last % 1000 == 0 && store_stmt(s, SQL_AUDIT_PRUNE, &st, NULL) == 0) {
        store_bind(st, "i", last - AUDIT_KEEP);
        store_step_done(st);
    }
    return 0;
}

static json_t *audit_row(sqlite3_stmt *st)
{
    char ts[20];
    json_t *o = json_object();
    static const char *const cols[] = {"role", "token", "client", "method", "path"};

    clock_format_xapi(sqlite3_column_int64(st, 1), ts);
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "time", json_string(ts));
    for (int i = 0; i < 5; i++)
        json_object_set_new(o, cols[i], json_string((const char *)sqlite3_column_text(st, 2 + i)));
    json_object_set_new(o, "status", json_integer(sqlite3_column_int(st, 7)));
    json_object_set_new(o, "outcome", json_string((const char *)sqlite3_column_text(st, 8)));
    json_object_set_new(o, "detail", json_string((const char *)sqlite3_column_text(st, 9)));
    return o;
}

int store_audit_list(struct store *s, int limit, json_t **out, struct err *e)
{
    sqlite3_stmt *st;
    json_t *arr;
    int rc;

    *out = NULL;
    if (!store_is_readonly(s) && (rc = audit_table(s, e)) != 0)
        return rc;
    if ((rc = store_stmt(s, SQL_AUDIT_LIST, &st, e)) != 0)
        return rc;
    store_bind(st, "i", (int64_t)(limit < 1 ? 1 : limit > 1000 ? 1000 : limit));
    arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, audit_row(st));
    store_stmt_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return store_dberr(s, e, rc, "listing the audit log");
    }
    *out = json_pack("{s:o}", "entries", arr);
    return 0;
}
