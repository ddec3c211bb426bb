/* SPDX-License-Identifier: MIT */
/*
 * store_config.c - the configuration tables: registered pools (with credentials), settings with
 * typed getters, the last good catalog per source, the client ID and its token, and the
 * download cache index.  Every statement is prepared once per connection and bound; no value is
 * ever formatted into SQL.
 */
#include "store/store_int.h"
#include "store/store_secret.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"

/* ---------------------------------------------------------------- pools */

static const char SQL_POOL_ADD[] =
    "INSERT INTO pools (name, master_url, username, password, ca_file, tls_fingerprint, "
    "added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id";
static const char SQL_POOL_NAME_TAKEN[] = "SELECT 1 FROM pools WHERE name = ?1";
static const char SQL_POOL_URL_TAKEN[] = "SELECT name FROM pools WHERE master_url = ?1";
#define POOL_COLS "id, name, master_url, username, password, ca_file, tls_fingerprint, added_at"
static const char SQL_POOL_BY_ID[] = "SELECT " POOL_COLS " FROM pools WHERE id = ?1";
static const char SQL_POOL_BY_NAME[] = "SELECT " POOL_COLS " FROM pools WHERE name = ?1";
static const char SQL_POOL_LIST[] = "SELECT " POOL_COLS " FROM pools ORDER BY name, id";
static const char SQL_POOL_IN_USE[] =
    "SELECT r.id FROM steps s JOIN rollouts r ON r.id = s.rollout_id "
    "WHERE s.pool = ?1 AND r.state IN ('planned', 'running', 'halted', 'cancelling') LIMIT 1";
static const char SQL_POOL_DEL[] = "DELETE FROM pools WHERE id = ?1";
static const char SQL_POOL_SET_FP[] = "UPDATE pools SET tls_fingerprint = ?2 WHERE id = ?1";
static const char SQL_POOL_SET_CRED[] =
    "UPDATE pools SET username = ?2, password = ?3 WHERE id = ?1";

static void pool_from_row(sqlite3_stmt *st, struct store_pool *p)
{
    p->id = sqlite3_column_int64(st, 0);
    p->name = store_col_dup(st, 1);
    p->master_url = store_col_dup(st, 2);
    p->username = store_col_dup(st, 3);
    p->password = store_col_dup(st, 4);
    p->ca_file = store_col_dup(st, 5);
    p->tls_fingerprint = store_col_dup(st, 6);
    p->added_at_ms = sqlite3_column_int64(st, 7);
}

void store_pool_cleanup(struct store_pool *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->master_url);
    free(p->username);
    if (p->password)
        memset(p->password, 0, strlen(p->password));
    free(p->password);
    free(p->ca_file);
    free(p->tls_fingerprint);
    memset(p, 0, sizeof(*p));
}

void store_pool_list_cleanup(struct store_pool_list *l)
{
    STORE_LIST_CLEANUP(l, store_pool_cleanup);
}

/* 1 when the one-column query with one text parameter returns a row (first column in *col). */
static int exists_text(struct store *s, const char *sql, const char *arg, char **col,
                       const char *op, struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", arg);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (col)
            *col = store_col_dup(st, 0);
        store_stmt_done(st);
        return 1;
    }
    store_stmt_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "%s", op);
    return 0;
}

int store_pool_add(struct store *s, const struct store_pool_spec *spec, int64_t *id_out,
                   struct err *e)
{
    if (!spec || !spec->name || !*spec->name)
        return err_set(e, PP_EINVAL, "a pool needs a name");
    if (!spec->master_url || !*spec->master_url)
        return err_set(e, PP_EINVAL, "pool '%s' needs a master URL", spec->name);
    if (!spec->username || !spec->password)
        return err_set(e, PP_EINVAL, "pool '%s' needs a username and a password", spec->name);
    bool owned;
    int rc = store_wbegin(s, &owned, "adding a pool", e);
    if (rc)
        return rc;
    rc = exists_text(s, SQL_POOL_NAME_TAKEN, spec->name, NULL, "adding a pool", e);
    if (rc == 1) {
        rc = err_set(e, PP_EINVAL,
                     "a pool named '%s' is already registered; choose another "
                     "name or remove it first",
                     spec->name);
        goto out;
    }
    if (rc)
        goto out;
    char *other = NULL;
    rc = exists_text(s, SQL_POOL_URL_TAKEN, spec->master_url, &other, "adding a pool", e);
    if (rc == 1) {
        rc = err_set(e, PP_EINVAL, "the master URL %s is already registered as pool '%s'",
                     spec->master_url, other ? other : "?");
        free(other);
        goto out;
    }
    if (rc)
        goto out;
    sqlite3_stmt *st;
    rc = store_stmt(s, SQL_POOL_ADD, &st, e);
    if (rc)
        goto out;
    char *sealed = store_secret_seal(s, spec->password);
    int src = store_bind(st, "tttttti", spec->name, spec->master_url, spec->username, sealed,
                         spec->ca_file, spec->tls_fingerprint, store_now_ms(s));
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (id_out)
            *id_out = sqlite3_column_int64(st, 0);
        src = store_step_done(st);
    }
    store_stmt_done(st);
    free(sealed);
    if (src != SQLITE_DONE)
        rc = store_dberr(s, e, src, "adding pool '%s'", spec->name);
out:
    return store_wend(s, owned, rc, "adding a pool", e);
}

static int pool_get(struct store *s, const char *sql, const char *fmt, const void *key,
                    const char *what, struct store_pool *out, struct err *e)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof(*out));
    int rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    int src = fmt[0] == 'i' ? store_bind(st, "i", *(const int64_t *)key)
                            : store_bind(st, "t", (const char *)key);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        pool_from_row(st, out);
        rc = store_secret_unseal(s, &out->password, e);
    } else if (src == SQLITE_DONE)
        rc = err_set(e, PP_ENOTFOUND, "no pool %s is registered", what);
    else
        rc = store_dberr(s, e, src, "reading pool %s", what);
    store_stmt_done(st);
    return rc;
}

int store_pool_get_by_id(struct store *s, int64_t id, struct store_pool *out, struct err *e)
{
    char what[48];
    snprintf(what, sizeof(what), "with id %lld", (long long)id);
    return pool_get(s, SQL_POOL_BY_ID, "i", &id, what, out, e);
}

int store_pool_get_by_name(struct store *s, const char *name, struct store_pool *out, struct err *e)
{
    if (!name)
        return err_set(e, PP_EINVAL, "no pool name given");
    char what[300];
    snprintf(what, sizeof(what), "named '%s'", name);
    return pool_get(s, SQL_POOL_BY_NAME, "t", name, what, out, e);
}

int store_pool_list(struct store *s, struct store_pool_list *out, struct err *e)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof(*out));
    int rc = store_stmt(s, SQL_POOL_LIST, &st, e);
    if (rc)
        return rc;
    size_t cap = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            out->items = xreallocarray(out->items, cap, sizeof(*out->items));
        }
        memset(&out->items[out->n], 0, sizeof(out->items[0]));
        pool_from_row(st, &out->items[out->n++]);
        if (store_secret_unseal(s, &out->items[out->n - 1].password, e) != 0)
            break;
    }
    store_stmt_done(st);
    if (src == SQLITE_ROW) {
        store_pool_list_cleanup(out);
        return e ? e->code : PP_EAUTH;
    }
    if (src != SQLITE_DONE) {
        store_pool_list_cleanup(out);
        return store_dberr(s, e, src, "listing pools");
    }
    return 0;
}

int store_pool_remove(struct store *s, int64_t id, struct err *e)
{
    struct store_pool p = {0};
    bool owned;
    int rc = store_wbegin(s, &owned, "removing a pool", e);
    if (rc)
        return rc;
    rc = store_pool_get_by_id(s, id, &p, e);
    if (rc)
        goto out;
    char *rid = NULL;
    rc = exists_text(s, SQL_POOL_IN_USE, p.name, &rid, "removing a pool", e);
    if (rc == 1) {
        rc = err_set(e, PP_ESTATE,
                     "pool '%s' is part of rollout %s, which is not finished; "
                     "let it finish or cancel it first",
                     p.name, rid ? rid : "?");
        free(rid);
        goto out;
    }
    if (rc)
        goto out;
    sqlite3_stmt *st;
    rc = store_stmt(s, SQL_POOL_DEL, &st, e);
    if (rc)
        goto out;
    store_bind(st, "i", id);
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        rc = store_dberr(s, e, src, "removing pool '%s'", p.name);
out:
    store_pool_cleanup(&p);
    return store_wend(s, owned, rc, "removing a pool", e);
}

int store_pool_remove_by_name(struct store *s, const char *name, struct err *e)
{
    struct store_pool p = {0};
    int rc = store_pool_get_by_name(s, name, &p, e);
    if (rc)
        return rc;
    rc = store_pool_remove(s, p.id, e);
    store_pool_cleanup(&p);
    return rc;
}

/* Finish an UPDATE/DELETE; PP_ENOTFOUND (with notfound as message) when no row changed. */
static int changed_or_notfound(struct store *s, sqlite3_stmt *st, const char *op,
                               const char *notfound, struct err *e)
{
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "%s", op);
    if (sqlite3_changes(s->db) == 0)
        return err_set(e, PP_ENOTFOUND, "%s", notfound);
    return 0;
}

int store_pool_set_fingerprint(struct store *s, int64_t id, const char *fp, struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_POOL_SET_FP, "pinning a certificate", &st, e);
    if (rc)
        return rc;
    store_bind(st, "it", id, fp);
    char nf[64];
    snprintf(nf, sizeof(nf), "no pool with id %lld is registered", (long long)id);
    return changed_or_notfound(s, st, "pinning a pool's certificate", nf, e);
}

int store_pool_set_credentials(struct store *s, int64_t id, const char *username,
                               const char *password, struct err *e)
{
    if (!username || !password)
        return err_set(e, PP_EINVAL, "a username and a password are required");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_POOL_SET_CRED, "changing credentials", &st, e);
    if (rc)
        return rc;
    char *sealed = store_secret_seal(s, password);
    store_bind(st, "itt", id, username, sealed);
    char nf[64];
    snprintf(nf, sizeof(nf), "no pool with id %lld is registered", (long long)id);
    rc = changed_or_notfound(s, st, "changing a pool's credentials", nf, e);
    free(sealed);
    return rc;
}

/* ---------------------------------------------------------------- settings */

static const char SQL_SET_GET[] = "SELECT value FROM settings WHERE key = ?1";
static const char SQL_SET_PUT[] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
static const char SQL_SET_DEL[] = "DELETE FROM settings WHERE key = ?1";

int store_setting_get(struct store *s, const char *key, char **out, struct err *e)
{
    *out = NULL;
    if (!key)
        return err_set(e, PP_EINVAL, "no setting name given");
    int rc = exists_text(s, SQL_SET_GET, key, out, "reading a setting", e);
    if (rc == 1)
        return 0;
    if (rc == 0)
        return err_set(e, PP_ENOTFOUND, "setting '%s' is not set", key);
    return rc;
}

int store_setting_set(struct store *s, const char *key, const char *value, struct err *e)
{
    if (!key || !*key || !value)
        return err_set(e, PP_EINVAL, "a setting needs a name and a value");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_SET_PUT, "changing a setting", &st, e);
    if (rc)
        return rc;
    store_bind(st, "tt", key, value);
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "setting '%s'", key);
    return 0;
}

int store_setting_delete(struct store *s, const char *key, struct err *e)
{
    if (!key)
        return err_set(e, PP_EINVAL, "no setting name given");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_SET_DEL, "removing a setting", &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", key);
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "removing setting '%s'", key);
    return 0;
}

int store_setting_get_str(struct store *s, const char *key, const char *def, char **out,
                          struct err *e)
{
    int rc = store_setting_get(s, key, out, e);
    if (rc == PP_ENOTFOUND) {
        err_clear(e);
        *out = def ? xstrdup(def) : NULL;
        return 0;
    }
    return rc;
}

int store_setting_get_int(struct store *s, const char *key, int64_t def, int64_t *out,
                          struct err *e)
{
    char *v = NULL;
    int rc = store_setting_get(s, key, &v, e);
    if (rc == PP_ENOTFOUND) {
        err_clear(e);
        *out = def;
        return 0;
    }
    if (rc)
        return rc;
    rc = str_to_int64(v, out);
    if (rc)
        rc = err_set(e, PP_EPARSE, "setting '%s' should be an integer but is '%s'", key, v);
    free(v);
    return rc;
}

int store_setting_set_int(struct store *s, const char *key, int64_t v, struct err *e)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return store_setting_set(s, key, buf, e);
}

int store_setting_get_bool(struct store *s, const char *key, bool def, bool *out, struct err *e)
{
    char *v = NULL;
    int rc = store_setting_get(s, key, &v, e);
    if (rc == PP_ENOTFOUND) {
        err_clear(e);
        *out = def;
        return 0;
    }
    if (rc)
        return rc;
    if (str_eq_nocase(v, "true") || str_eq(v, "1") || str_eq_nocase(v, "yes") ||
        str_eq_nocase(v, "on"))
        *out = true;
    else if (str_eq_nocase(v, "false") || str_eq(v, "0") || str_eq_nocase(v, "no") ||
             str_eq_nocase(v, "off"))
        *out = false;
    else
        rc = err_set(e, PP_EPARSE, "setting '%s' should be true or false but is '%s'", key, v);
    free(v);
    return rc;
}

int store_setting_set_bool(struct store *s, const char *key, bool v, struct err *e)
{
    return store_setting_set(s, key, v ? "true" : "false", e);
}

int store_get_check_interval_s(struct store *s, int64_t *out, struct err *e)
{
    int rc =
        store_setting_get_int(s, STORE_KEY_CHECK_INTERVAL, STORE_DEFAULT_CHECK_INTERVAL_S, out, e);
    if (rc == 0 && *out <= 0)
        rc = err_set(e, PP_EPARSE, "setting '%s' must be a positive number of seconds, not %lld",
                     STORE_KEY_CHECK_INTERVAL, (long long)*out);
    return rc;
}

int store_get_auto_check(struct store *s, bool *out, struct err *e)
{
    return store_setting_get_bool(s, STORE_KEY_AUTO_CHECK, STORE_DEFAULT_AUTO_CHECK, out, e);
}

int store_get_catalog_url(struct store *s, char **out, struct err *e)
{
    return store_setting_get_str(s, STORE_KEY_CATALOG_URL, STORE_DEFAULT_CATALOG_URL, out, e);
}

/* ---------------------------------------------------------------- catalog cache */

static const char SQL_CAT_PUT[] =
    "INSERT INTO catalog_cache (source, body, etag, last_modified, fetched_at, checked_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (source) DO UPDATE SET body = excluded.body, "
    "etag = excluded.etag, last_modified = excluded.last_modified, "
    "fetched_at = excluded.fetched_at, checked_at = excluded.checked_at";
static const char SQL_CAT_TOUCH[] = "UPDATE catalog_cache SET checked_at = ?2 WHERE source = ?1";
static const char SQL_CAT_GET[] =
    "SELECT body, etag, last_modified, fetched_at, checked_at FROM catalog_cache "
    "WHERE source = ?1";

int store_catalog_put(struct store *s, const char *source, const void *body, size_t len,
                      const char *etag, const char *last_modified, struct err *e)
{
    if (!source || (!body && len))
        return err_set(e, PP_EINVAL, "a cached catalog needs a source and a body");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_CAT_PUT, "caching a catalog", &st, e);
    if (rc)
        return rc;
    int src = store_bind(st, "tbtti", source, body, len, etag, last_modified, store_now_ms(s));
    if (src == SQLITE_OK)
        src = store_step_done(st);
    store_stmt_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "caching the catalog of %s", source);
    return 0;
}

int store_catalog_touch(struct store *s, const char *source, struct err *e)
{
    if (!source)
        return err_set(e, PP_EINVAL, "no catalog source given");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_CAT_TOUCH, "recording a catalog check", &st, e);
    if (rc)
        return rc;
    store_bind(st, "ti", source, store_now_ms(s));
    char nf[300];
    snprintf(nf, sizeof(nf), "no catalog of %s is cached", source);
    return changed_or_notfound(s, st, "recording a catalog check", nf, e);
}

int store_catalog_get(struct store *s, const char *source, struct store_catalog *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (!source)
        return err_set(e, PP_EINVAL, "no catalog source given");
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_CAT_GET, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", source);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        out->body = xmalloc(n + 1);
        if (n)
            memcpy(out->body, b, n);
        ((char *)out->body)[n] = '\0';
        out->body_len = n;
        out->etag = store_col_dup(st, 1);
        out->last_modified = store_col_dup(st, 2);
        out->fetched_at_ms = sqlite3_column_int64(st, 3);
        out->checked_at_ms = sqlite3_column_int64(st, 4);
    } else if (src == SQLITE_DONE) {
        rc = err_set(e, PP_ENOTFOUND, "no catalog of %s is cached", source);
    } else {
        rc = store_dberr(s, e, src, "reading the cached catalog of %s", source);
    }
    store_stmt_done(st);
    return rc;
}

void store_catalog_cleanup(struct store_catalog *c)
{
    if (!c)
        return;
    free(c->body);
    free(c->etag);
    free(c->last_modified);
    memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------- client ID and token */

static const char SQL_CID_SET[] =
    "INSERT INTO client_id (id, username, apikey, imported_at) VALUES (1, ?1, ?2, ?3) "
    "ON CONFLICT (id) DO UPDATE SET username = excluded.username, apikey = excluded.apikey, "
    "imported_at = excluded.imported_at, token = NULL, session_id = NULL, "
    "token_expires_at = NULL";
static const char SQL_CID_GET[] =
    "SELECT username, apikey, imported_at FROM client_id WHERE id = 1";
static const char SQL_CID_DEL[] = "DELETE FROM client_id";
static const char SQL_TOK_SET[] =
    "UPDATE client_id SET token = ?1, session_id = ?2, token_expires_at = ?3 WHERE id = 1";
static const char SQL_TOK_GET[] = "SELECT token, session_id, token_expires_at FROM client_id "
                                  "WHERE id = 1 AND token IS NOT NULL AND token_expires_at > ?1";

static void wipe_free(char *p)
{
    if (p)
        memset(p, 0, strlen(p));
    free(p);
}

int store_client_id_set(struct store *s, const char *username, const char *apikey, struct err *e)
{
    if (!username || !*username || !apikey || !*apikey)
        return err_set(e, PP_EINVAL, "a client ID needs a username and an API key");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_CID_SET, "storing the client ID", &st, e);
    if (rc)
        return rc;
    char *sealed = store_secret_seal(s, apikey);
    store_bind(st, "tti", username, sealed, store_now_ms(s));
    int src = store_step_done(st);
    free(sealed);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "storing the client ID");
    return 0;
}

int store_client_id_get(struct store *s, struct store_client_id *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_CID_GET, &st, e);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->username = store_col_dup(st, 0);
        out->apikey = store_col_dup(st, 1);
        out->imported_at_ms = sqlite3_column_int64(st, 2);
        rc = store_secret_unseal(s, &out->apikey, e);
    } else if (src == SQLITE_DONE) {
        rc = err_set(e, PP_ENOTFOUND,
                     "no client ID has been imported (poolpatch client-id "
                     "import FILE)");
    } else {
        rc = store_dberr(s, e, src, "reading the client ID");
    }
    store_stmt_done(st);
    return rc;
}

int store_client_id_clear(struct store *s, struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_CID_DEL, "forgetting the client ID", &st, e);
    if (rc)
        return rc;
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "forgetting the client ID");
    return 0;
}

void store_client_id_cleanup(struct store_client_id *c)
{
    if (!c)
        return;
    free(c->username);
    wipe_free(c->apikey);
    memset(c, 0, sizeof(*c));
}

int store_token_set(struct store *s, const char *token, const char *session_id,
                    int64_t expires_at_ms, struct err *e)
{
    if (!token || !*token)
        return err_set(e, PP_EINVAL, "no token given");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_TOK_SET, "caching the download token", &st, e);
    if (rc)
        return rc;
    char *stok = store_secret_seal(s, token), *ssess = store_secret_seal(s, session_id);
    store_bind(st, "tti", stok, ssess, expires_at_ms);
    rc = changed_or_notfound(s, st, "caching the download token",
                             "no client ID has been imported, so a token cannot be kept", e);
    free(stok);
    free(ssess);
    return rc;
}

int store_token_get(struct store *s, int64_t margin_ms, struct store_token *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_TOK_GET, &st, e);
    if (rc)
        return rc;
    store_bind(st, "i", store_now_ms(s) + (margin_ms > 0 ? margin_ms : 0));
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->token = store_col_dup(st, 0);
        out->session_id = store_col_dup(st, 1);
        out->expires_at_ms = sqlite3_column_int64(st, 2);
        rc = store_secret_unseal(s, &out->token, e);
        if (rc == 0)
            rc = store_secret_unseal(s, &out->session_id, e);
    } else if (src == SQLITE_DONE) {
        rc = err_set(e, PP_ENOTFOUND, "no valid download token is cached");
    } else {
        rc = store_dberr(s, e, src, "reading the download token");
    }
    store_stmt_done(st);
    return rc;
}

void store_token_cleanup(struct store_token *t)
{
    if (!t)
        return;
    wipe_free(t->token);
    free(t->session_id);
    memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------- downloads */

static const char SQL_DL_PUT[] =
    "INSERT INTO downloads (update_uuid, url, path, size, sha256, complete, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (update_uuid) DO UPDATE SET "
    "url = excluded.url, path = excluded.path, size = excluded.size, sha256 = excluded.sha256, "
    "complete = excluded.complete, updated_at = excluded.updated_at";
#define DL_COLS "update_uuid, url, path, size, sha256, complete, updated_at"
static const char SQL_DL_GET[] = "SELECT " DL_COLS " FROM downloads WHERE update_uuid = ?1";
static const char SQL_DL_LIST[] =
    "SELECT " DL_COLS " FROM downloads ORDER BY updated_at DESC, update_uuid";
static const char SQL_DL_DEL[] = "DELETE FROM downloads WHERE update_uuid = ?1";

static void dl_from_row(sqlite3_stmt *st, void *item)
{
    struct store_download *d = item;
    d->update_uuid = store_col_dup(st, 0);
    d->url = store_col_dup(st, 1);
    d->path = store_col_dup(st, 2);
    d->size = sqlite3_column_int64(st, 3);
    d->sha256 = store_col_dup(st, 4);
    d->complete = sqlite3_column_int(st, 5) != 0;
    d->updated_at_ms = sqlite3_column_int64(st, 6);
}

int store_download_put(struct store *s, const struct store_download_spec *spec, struct err *e)
{
    if (!spec || !spec->update_uuid || !*spec->update_uuid || !spec->path || !*spec->path)
        return err_set(e, PP_EINVAL, "a download entry needs an update uuid and a path");
    if (spec->size < 0)
        return err_set(e, PP_EINVAL, "a download's size cannot be negative");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_DL_PUT, "indexing a download", &st, e);
    if (rc)
        return rc;
    store_bind(st, "tttitii", spec->update_uuid, spec->url, spec->path, spec->size, spec->sha256,
               (int64_t)(spec->complete ? 1 : 0), store_now_ms(s));
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "indexing the download of %s", spec->update_uuid);
    return 0;
}

int store_download_get(struct store *s, const char *update_uuid, struct store_download *out,
                       struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (!update_uuid)
        return err_set(e, PP_EINVAL, "no update uuid given");
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_DL_GET, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", update_uuid);
    rc = store_row1(s, st, e, "update %s has not been downloaded", "reading the download of %s",
                    update_uuid);
    if (rc == 0) {
        dl_from_row(st, out);
        store_stmt_done(st);
    }
    return rc;
}

int store_download_list(struct store *s, struct store_download_list *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_DL_LIST, &st, e);
    if (rc)
        return rc;
    int src = store_rows(st, (void **)&out->items, &out->n, sizeof(*out->items), dl_from_row);
    if (src != SQLITE_DONE) {
        store_download_list_cleanup(out);
        return store_dberr(s, e, src, "listing downloads");
    }
    return 0;
}

int store_download_remove(struct store *s, const char *update_uuid, struct err *e)
{
    if (!update_uuid)
        return err_set(e, PP_EINVAL, "no update uuid given");
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_DL_DEL, "removing a download", &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", update_uuid);
    char nf[160];
    snprintf(nf, sizeof(nf), "update %s has not been downloaded", update_uuid);
    return changed_or_notfound(s, st, "removing a download", nf, e);
}

void store_download_cleanup(struct store_download *d)
{
    if (!d)
        return;
    free(d->update_uuid);
    free(d->url);
    free(d->path);
    free(d->sha256);
    memset(d, 0, sizeof(*d));
}

void store_download_list_cleanup(struct store_download_list *l)
{
    STORE_LIST_CLEANUP(l, store_download_cleanup);
}
