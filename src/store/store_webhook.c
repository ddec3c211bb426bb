/* SPDX-License-Identifier: MIT */
/*
 * store_webhook.c - the webhooks and webhook_deliveries tables (schema step in store_schema.c):
 * subscriptions, the queue of deliveries and their log.  Contract: store_webhook.h.
 */
#include "store/store_webhook.h"

#include "base/err.h"
#include "base/mem.h"
#include "store/store.h"
#include "store/store_int.h"

#include <sqlite3.h>
#include <string.h>
#include <time.h>

static const char SQL_HOOK_ADD[] =
    "INSERT INTO webhooks (url, secret, events, created_at) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_HOOK_DEL[] = "DELETE FROM webhooks WHERE id = ?1";
static const char SQL_HOOK_LIST[] =
    "SELECT id, url, secret, events, created_at FROM webhooks ORDER BY id";
/* one row per webhook that wants the event ("*" or the name in its comma list) */
static const char SQL_DELIV_ADD[] =
    "INSERT OR IGNORE INTO webhook_deliveries "
    "  (webhook_id, event, event_key, payload, state, created_at, next_at) "
    "SELECT id, ?1, ?2, ?3, 'pending', ?4, ?4 FROM webhooks "
    "WHERE events = '*' OR (',' || events || ',') LIKE ('%,' || ?1 || ',%')";
static const char SQL_DELIV_DUE[] =
    "SELECT d.id, d.webhook_id, w.url, w.secret, d.event, d.payload, d.attempts "
    "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
    "WHERE d.state = 'pending' AND d.next_at <= ?1 ORDER BY d.next_at, d.id LIMIT ?2";
static const char SQL_DELIV_NEXT[] =
    "SELECT min(next_at) FROM webhook_deliveries WHERE state = 'pending' AND next_at > ?1";
static const char SQL_DELIV_REC[] =
    "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, last_status = ?4, last_error = ?5,"
    "  next_at = ?6, done_at = CASE WHEN ?2 = 'pending' THEN NULL ELSE ?7 END WHERE id = ?1";
static const char SQL_DELIV_LOG[] =
    "SELECT id, webhook_id, event, state, attempts, last_status, last_error, created_at, next_at,"
    "  done_at, payload FROM webhook_deliveries WHERE ?1 = 0 OR webhook_id = ?1 "
    "ORDER BY id DESC LIMIT ?2";

/* Run a prepared write statement to completion; op names it for the error. */
static int write_done(struct store *s, sqlite3_stmt *st, const char *op, struct err *e)
{
    int rc = store_step_done(st);

    return rc == SQLITE_DONE ? 0 : store_dberr(s, e, rc, "%s", op);
}

int store_webhook_add(struct store *s, const char *url, const char *secret, const char *events,
                      int64_t *id_out, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if (!url || !*url || !secret || !*secret || !events || !*events)
        return err_set(e, PP_EINVAL, "a webhook needs a url, a secret and its events");
    if ((rc = store_wstmt(s, SQL_HOOK_ADD, "adding a webhook", &st, e)) != 0)
        return rc;
    store_bind(st, "ttti", url, secret, events, store_now_ms(s));
    if ((rc = write_done(s, st, "adding a webhook", e)) != 0)
        return rc;
    if (id_out)
        *id_out = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_webhook_remove(struct store *s, int64_t id, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = store_wstmt(s, SQL_HOOK_DEL, "removing a webhook", &st, e)) != 0)
        return rc;
    store_bind(st, "i", id);
    if ((rc = write_done(s, st, "removing a webhook", e)) != 0)
        return rc;
    if (sqlite3_changes(s->db) == 0)
        return err_set(e, PP_ENOTFOUND, "no webhook with id %lld", (long long)id);
    return 0;
}

static void hook_row(sqlite3_stmt *st, void *item)
{
    *(struct store_webhook *)item =
        (struct store_webhook){.id = sqlite3_column_int64(st, 0),
                               .url = store_col_dup(st, 1),
                               .secret = store_col_dup(st, 2),
                               .events = store_col_dup(st, 3),
                               .created_at = sqlite3_column_int64(st, 4)};
}

int store_webhook_list(struct store *s, struct store_webhook **out, size_t *n, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = store_stmt(s, SQL_HOOK_LIST, &st, e)) != 0)
        return rc;
    rc = store_rows(st, (void **)out, n, sizeof(**out), hook_row);
    if (rc != SQLITE_DONE) {
        store_webhook_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return store_dberr(s, e, rc, "listing webhooks");
    }
    return 0;
}

void store_webhook_list_free(struct store_webhook *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++) {
        free(w[i].url);
        if (w[i].secret)
            explicit_bzero(w[i].secret, strlen(w[i].secret));
        free(w[i].secret);
        free(w[i].events);
    }
    free(w);
}

int store_delivery_enqueue(struct store *s, const char *event, const char *key, const char *payload,
                           int *n_out, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if (n_out)
        *n_out = 0;
    if ((rc = store_check_writable(s, "queueing a webhook delivery", e)) != 0 ||
        (rc = store_check_json(s, payload, "webhook payload", e)) != 0 ||
        (rc = store_stmt(s, SQL_DELIV_ADD, &st, e)) != 0)
        return rc;
    store_bind(st, "ttti", event, key, payload, store_now_ms(s));
    if ((rc = write_done(s, st, "queueing a webhook delivery", e)) != 0)
        return rc;
    if (n_out)
        *n_out = sqlite3_changes(s->db);
    return 0;
}

/* *next_ms = the earliest pending next_at after now_ms, or -1. */
static int next_due(struct store *s, int64_t now_ms, int64_t *next_ms, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *next_ms = -1;
    if ((rc = store_stmt(s, SQL_DELIV_NEXT, &st, e)) != 0)
        return rc;
    store_bind(st, "i", now_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *next_ms = sqlite3_column_int64(st, 0);
    store_stmt_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : store_dberr(s, e, rc, "reading due webhooks");
}

static void delivery_row(sqlite3_stmt *st, void *item)
{
    *(struct store_delivery *)item =
        (struct store_delivery){.id = sqlite3_column_int64(st, 0),
                                .webhook_id = sqlite3_column_int64(st, 1),
                                .url = store_col_dup(st, 2),
                                .secret = store_col_dup(st, 3),
                                .event = store_col_dup(st, 4),
                                .payload = store_col_dup(st, 5),
                                .attempts = sqlite3_column_int(st, 6)};
}

int store_delivery_due(struct store *s, int64_t now_ms, int max, struct store_delivery **out,
                       size_t *n, int64_t *next_ms, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = next_due(s, now_ms, next_ms, e)) != 0 ||
        (rc = store_stmt(s, SQL_DELIV_DUE, &st, e)) != 0)
        return rc;
    store_bind(st, "ii", now_ms, (int64_t)(max < 1 ? 1 : max));
    rc = store_rows(st, (void **)out, n, sizeof(**out), delivery_row);
    if (rc != SQLITE_DONE) {
        store_delivery_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return store_dberr(s, e, rc, "reading due webhook deliveries");
    }
    return 0;
}

void store_delivery_list_free(struct store_delivery *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].url);
        if (d[i].secret)
            explicit_bzero(d[i].secret, strlen(d[i].secret));
        free(d[i].secret);
        free(d[i].event);
        free(d[i].payload);
    }
    free(d);
}

int store_delivery_record(struct store *s, int64_t id, const char *state, int attempts, int status,
                          const char *error, int64_t next_ms, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = store_wstmt(s, SQL_DELIV_REC, "recording a webhook delivery", &st, e)) != 0)
        return rc;
    store_bind(st, "itiitii", id, state, (int64_t)attempts, (int64_t)status, error, next_ms,
               store_now_ms(s));
    return write_done(s, st, "recording a webhook delivery", e);
}

/* ISO 8601 UTC of t_ms, or JSON null when the column is NULL. */
static json_t *time_or_null(sqlite3_stmt *st, int col)
{
    char ts[32];
    struct tm tm;

    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return json_null();
    time_t t = (time_t)(sqlite3_column_int64(st, col) / 1000);
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(ts);
}

static json_t *log_row(sqlite3_stmt *st)
{
    json_error_t je;
    const char *err = (const char *)sqlite3_column_text(st, 6);
    json_t *payload = json_loads((const char *)sqlite3_column_text(st, 10), 0, &je);

    return json_pack(
        "{s:I, s:I, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
        (json_int_t)sqlite3_column_int64(st, 0), "webhook", (json_int_t)sqlite3_column_int64(st, 1),
        "event", (const char *)sqlite3_column_text(st, 2), "state",
        (const char *)sqlite3_column_text(st, 3), "attempts", sqlite3_column_int(st, 4), "status",
        sqlite3_column_type(st, 5) == SQLITE_NULL || sqlite3_column_int(st, 5) == 0
            ? json_null()
            : json_integer(sqlite3_column_int(st, 5)),
        "error", err ? json_string(err) : json_null(), "created", time_or_null(st, 7), "next",
        time_or_null(st, 8), "done", time_or_null(st, 9), "payload",
        payload ? payload : json_null());
}

int store_delivery_log(struct store *s, int64_t webhook_id, int limit, json_t **out, struct err *e)
{
    sqlite3_stmt *st;
    json_t *arr;
    int rc;

    *out = NULL;
    if ((rc = store_stmt(s, SQL_DELIV_LOG, &st, e)) != 0)
        return rc;
    store_bind(st, "ii", webhook_id, (int64_t)(limit < 1 ? 1 : limit > 1000 ? 1000 : limit));
    arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, log_row(st));
    store_stmt_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return store_dberr(s, e, rc, "reading the webhook delivery log");
    }
    *out = json_pack("{s:o}", "deliveries", arr);
    return 0;
}
