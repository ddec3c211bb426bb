/* SPDX-License-Identifier: MIT */
/*
 * store.c - opening and closing the SQLite database (permissions, pragmas, schema migrations by
 * PRAGMA user_version), the per-connection statement cache, transactions, backups and the
 * translation of SQLite errors.  The tables' own functions live in store_config.c (pools,
 * settings, caches) and store_journal.c (rollouts, steps, events).
 */
#include "store/store_int.h"
#include "store/store_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/vec.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

#define MOD "store"

/* ---------------------------------------------------------------- helpers */

int64_t store_now_ms(const struct store *s)
{
    return clock_now_ms(s->clock);
}

int store_dberr(struct store *s, struct err *e, int rc, const char *fmt, ...)
{
    char op[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof(op), fmt, ap);
    va_end(ap);
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    return err_set(e, PP_EDB, "%s: %s (SQLite %s, code %d; database %s)", op, msg,
                   sqlite3_errstr(rc), rc, s && s->path ? s->path : "?");
}

int store_stmt(struct store *s, const char *sql, sqlite3_stmt **out, struct err *e)
{
    for (int i = 0; i < s->n_stmts; i++) {
        if (s->stmts[i].sql == sql) {
            sqlite3_reset(s->stmts[i].st);
            sqlite3_clear_bindings(s->stmts[i].st);
            *out = s->stmts[i].st;
            return 0;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return store_dberr(s, e, rc, "preparing a statement");
    }
    if (s->n_stmts < STORE_STMT_CACHE_MAX) {
        s->stmts[s->n_stmts].sql = sql;
        s->stmts[s->n_stmts].st = st;
        s->n_stmts++;
    } else {
        /* A programming error (raise STORE_STMT_CACHE_MAX); never silently leak. */
        sqlite3_finalize(st);
        return err_set(e, PP_EDB, "store: statement cache full (%d)", STORE_STMT_CACHE_MAX);
    }
    *out = st;
    return 0;
}

void store_stmt_done(sqlite3_stmt *st)
{
    if (st)
        sqlite3_reset(st);
}

int store_bind_n(sqlite3_stmt *st, int nargs, const char *fmt, ...)
{
    va_list ap;
    int rc = SQLITE_OK;
    int want = 0;
    for (const char *p = fmt; *p; p++)
        want += *p == 'b' ? 2 : *p == 'n' ? 0 : 1;
    if (want != nargs) {
        log_error(MOD, "store_bind: format \"%s\" needs %d arguments, got %d (%s)", fmt, want,
                  nargs, sqlite3_sql(st));
        abort();
    }
    va_start(ap, fmt);
    for (int i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
        switch (*fmt) {
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(st, i, p ? p : "", n, SQLITE_TRANSIENT);
            break;
        }
        case 'n':
            rc = sqlite3_bind_null(st, i);
            break;
        default:
            rc = SQLITE_MISUSE;
            break;
        }
    }
    va_end(ap);
    return rc;
}

int store_step_done(sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return rc;
}

int store_row1(struct store *s, sqlite3_stmt *st, struct err *e, const char *notfound,
               const char *reading, ...)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        return 0;
    store_stmt_done(st);
    char msg[512];
    va_list ap;
    va_start(ap, reading);
    vsnprintf(msg, sizeof msg, src == SQLITE_DONE ? notfound : reading, ap);
    va_end(ap);
    if (src == SQLITE_DONE)
        return err_set(e, PP_ENOTFOUND, "%s", msg);
    return store_dberr(s, e, src, "%s", msg);
}

int store_rows(sqlite3_stmt *st, void **items, size_t *n, size_t elem,
               void (*row)(sqlite3_stmt *st, void *item))
{
    size_t cap = *n;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        vec_reserve_raw(items, &cap, *n + 1, elem);
        void *item = (char *)*items + *n * elem;
        memset(item, 0, elem);
        row(st, item);
        (*n)++;
    }
    store_stmt_done(st);
    return src;
}

char *store_col_dup(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? xstrdup((const char *)t) : NULL;
}

int store_check_writable(struct store *s, const char *op, struct err *e)
{
    if (s->readonly)
        return err_set(e, PP_ESTATE, "%s: this connection to %s is read-only", op, s->path);
    return 0;
}

bool store_in_tx(const struct store *s)
{
    return sqlite3_get_autocommit(s->db) == 0;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT store_op";
static const char SQL_RELEASE[] = "RELEASE store_op";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO store_op";

int store_wstmt(struct store *s, const char *sql, const char *op, sqlite3_stmt **out, struct err *e)
{
    int rc = store_check_writable(s, op, e);
    return rc ? rc : store_stmt(s, sql, out, e);
}

static int exec_cached(struct store *s, const char *sql, const char *op, struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    rc = store_step_done(st);
    if (rc != SQLITE_DONE)
        return store_dberr(s, e, rc, "%s", op);
    return 0;
}

int store_wbegin(struct store *s, bool *owned, const char *op, struct err *e)
{
    *owned = false;
    int rc = store_check_writable(s, op, e);
    if (rc)
        return rc;
    if (store_in_tx(s)) {
        /* Inside the caller's transaction: a savepoint keeps this operation all-or-nothing. */
        return exec_cached(s, SQL_SAVEPOINT, op, e);
    }
    rc = exec_cached(s, SQL_BEGIN, op, e);
    if (rc == 0)
        *owned = true;
    return rc;
}

int store_wend(struct store *s, bool owned, int rc, const char *op, struct err *e)
{
    struct err ignore = {0};
    if (!owned) {
        if (!store_in_tx(s))
            return rc; /* SQLite rolled the whole transaction back (e.g. an I/O error) */
        if (rc == 0) {
            rc = exec_cached(s, SQL_RELEASE, op, e);
            if (rc == 0)
                return 0;
        }
        exec_cached(s, SQL_ROLLBACK_TO, op, &ignore);
        exec_cached(s, SQL_RELEASE, op, &ignore);
        return rc;
    }
    if (rc == 0) {
        rc = exec_cached(s, SQL_COMMIT, op, e);
        if (rc == 0)
            return 0;
    }
    if (store_in_tx(s))
        exec_cached(s, SQL_ROLLBACK, op, &ignore);
    return rc;
}

static const char SQL_JSON_VALID[] = "SELECT json_valid(?1)";

int store_check_json(struct store *s, const char *json, const char *what, struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_JSON_VALID, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", json);
    rc = sqlite3_step(st);
    int ok = rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    store_stmt_done(st);
    if (rc != SQLITE_ROW)
        return store_dberr(s, e, rc, "checking %s", what);
    if (!ok)
        return err_set(e, PP_EINVAL, "%s is not valid JSON", what);
    return 0;
}

/* ---------------------------------------------------------------- opening */

/* Refuse a file that group or others may access: it holds pool passwords. */
static int check_mode(const char *path, bool must_exist, struct err *e)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT && !must_exist)
            return 0;
        if (errno == ENOENT)
            return err_set(e, PP_ENOTFOUND, "no database at %s", path);
        return err_set(e, PP_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return err_set(e, PP_EINVAL, "%s is not a regular file", path);
    if (sb.st_mode & 077)
        return err_set(e, PP_EINVAL,
                       "%s is accessible by group or others (mode %04o) but holds pool "
                       "credentials; refusing to use it (fix with: chmod 600 %s)",
                       path, (unsigned)(sb.st_mode & 07777), path);
    return 0;
}

static int check_modes(const char *path, bool must_exist, struct err *e)
{
    int rc = check_mode(path, must_exist, e);
    if (rc)
        return rc;
    /* The WAL holds recent writes, credentials included. */
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char side[4096];
        if ((size_t)snprintf(side, sizeof(side), "%s%s", path, suffixes[i]) >= sizeof(side))
            return err_set(e, PP_EINVAL, "database path too long");
        rc = check_mode(side, false, e);
        if (rc)
            return rc;
    }
    return 0;
}

static int create_private(const char *path, struct err *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0; /* created meanwhile: check_modes runs again */
        return err_set(e, PP_EIO, "cannot create database %s: %s", path, strerror(errno));
    }
    int rc = 0;
    if (fchmod(fd, 0600) != 0)
        rc = err_set(e, PP_EIO, "cannot set mode 0600 on %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* Run one statement whose single result is an integer (a pragma read). */
static int query_int(struct store *s, const char *sql, int64_t *out, const char *op, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    int ret = rc == SQLITE_OK ? 0 : store_dberr(s, e, rc, "%s", op);
    sqlite3_finalize(st);
    return ret;
}

static int exec_sql(struct store *s, const char *sql, const char *op, struct err *e)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, e, rc, "%s", op);
    return 0;
}

int store_schema_version(void)
{
    return store_n_migrations;
}

static int migrate_steps(struct store *s, int64_t from, struct err *e);

/* Migrations run with foreign keys off (a table rebuilt by SQLite's 12-step recipe is dropped
 * and renamed: with them on, the drop would cascade to the rows referring to it); each one is
 * checked with foreign_key_check before it commits.  They are on again afterwards. */
static int migrate(struct store *s, int64_t from, struct err *e)
{
    if (from >= store_n_migrations)
        return 0;
    int rc = exec_sql(s, "PRAGMA foreign_keys = OFF", "migrating the schema", e);
    if (rc == 0)
        rc = migrate_steps(s, from, e);
    int on = exec_sql(s, "PRAGMA foreign_keys = ON", "migrating the schema", rc ? NULL : e);
    return rc ? rc : on;
}

static int migrate_steps(struct store *s, int64_t from, struct err *e)
{
    int64_t v = from;
    while (v < store_n_migrations) {
        char op[64];
        snprintf(op, sizeof(op), "migrating the schema to version %lld", (long long)v + 1);
        int rc = exec_sql(s, "BEGIN IMMEDIATE", op, e);
        if (rc)
            return rc;
        /* Another process may have migrated while we waited for the write lock. */
        int64_t now_v = 0;
        bool ran = false;
        rc = query_int(s, "PRAGMA user_version", &now_v, op, e);
        if (rc == 0 && now_v > store_n_migrations)
            rc = err_set(e, PP_ESTATE,
                         "database %s was migrated to version %lld by a newer "
                         "poolpatch meanwhile",
                         s->path, (long long)now_v);
        if (rc == 0 && now_v == v) {
            rc = exec_sql(s, store_migrations[v], op, e);
            if (rc == 0) {
                /* The only SQL we format: a version number of our own, never input. */
                char pragma[64];
                snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %lld", (long long)v + 1);
                rc = exec_sql(s, pragma, op, e);
            }
            int64_t bad = 0;
            if (rc == 0)
                rc = query_int(s, "SELECT count(*) FROM pragma_foreign_key_check", &bad, op, e);
            if (rc == 0 && bad > 0)
                rc = err_set(e, PP_EDB, "%s: %lld rows break a foreign key", op, (long long)bad);
            ran = true;
        }
        if (rc == 0)
            rc = exec_sql(s, "COMMIT", op, e);
        if (rc) {
            if (store_in_tx(s))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        if (ran) {
            log_info(MOD, "%s: schema migrated to version %lld", s->path, (long long)v + 1);
            v++;
        } else {
            v = now_v;
        }
    }
    return 0;
}

/* A read-only connection: the schema must be current (the writer migrates it). */
static int readonly_setup(struct store *s, const char *path, int64_t version, struct err *e)
{
    if (version != store_n_migrations)
        return err_set(e, PP_ESTATE,
                       "database %s has schema version %lld, expected %d: open it read-write "
                       "first so it is migrated",
                       path, (long long)version, store_n_migrations);
    /* readers scan whole journals (a rollout's JSON): a 64 MiB page cache keeps a fleet's
     * journal in memory between reads instead of re-reading it page by page */
    return exec_sql(s,
                    "PRAGMA foreign_keys = ON; PRAGMA query_only = ON; "
                    "PRAGMA cache_size = -65536;",
                    "configuring the read-only connection", e);
}

static int open_common(const char *path, const struct store_opts *opts, bool readonly,
                       struct store **out, struct err *e)
{
    *out = NULL;
    if (!path || !*path)
        return err_set(e, PP_EINVAL, "no database path given");
    int rc = check_modes(path, readonly, e);
    if (rc)
        return rc;
    if (!readonly) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            rc = create_private(path, e);
            if (rc)
                return rc;
            rc = check_modes(path, true, e);
            if (rc)
                return rc;
        }
    }

    struct store *s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(path);
    s->readonly = readonly;
    if (opts && opts->clock) {
        s->clock = opts->clock;
    } else {
        s->own_clock = clock_real_new();
        s->clock = s->own_clock;
    }
    s->events_keep = opts && opts->events_keep > 0 ? opts->events_keep : STORE_EVENTS_KEEP_DEFAULT;
    int busy = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;

    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
    int src = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (src != SQLITE_OK) {
        rc = store_dberr(s, e, src, "opening database %s", path);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, busy);

    /* Read the version before anything writes to the file. */
    int64_t version = 0;
    rc = query_int(s, "PRAGMA user_version", &version, "reading the schema version", e);
    if (rc) {
        err_prefix(e, "opening database %s (not a poolpatch database, or damaged): ", path);
        goto fail;
    }
    if (version > store_n_migrations) {
        rc = err_set(e, PP_ESTATE,
                     "database %s has schema version %lld, newer than this poolpatch knows "
                     "(%d); it was written by a newer poolpatch: use that version or restore a "
                     "backup (the file was not changed)",
                     path, (long long)version, store_n_migrations);
        goto fail;
    }
    if (version < 0) {
        rc = err_set(e, PP_EDB, "database %s has an invalid schema version %lld", path,
                     (long long)version);
        goto fail;
    }

    if (readonly) {
        rc = readonly_setup(s, path, version, e);
        if (rc)
            goto fail;
    } else {
        /* WAL: readers never block the writer; FULL: every commit is fsync'd (a journal entry of
         * an irreversible action must survive a power loss). */
        sqlite3_stmt *st = NULL;
        bool wal = false;
        /* Changing the journal mode needs an exclusive lock and answers SQLITE_BUSY at once,
         * without the busy handler, while another process creates the schema: retry within
         * the busy timeout. */
        for (int waited = 0;; waited += 10) {
            src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
            if (src == SQLITE_OK)
                src = sqlite3_step(st);
            wal =
                src == SQLITE_ROW && str_eq_nocase((const char *)sqlite3_column_text(st, 0), "wal");
            sqlite3_finalize(st);
            st = NULL;
            if ((src & 0xff) != SQLITE_BUSY || waited >= busy)
                break;
            sqlite3_sleep(10);
        }
        if (src != SQLITE_ROW) {
            rc = store_dberr(s, e, src, "setting journal_mode=WAL");
            goto fail;
        }
        if (!wal) {
            rc = err_set(e, PP_EDB, "database %s: could not switch to WAL journal mode", path);
            goto fail;
        }
        rc = exec_sql(s,
                      "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                      "PRAGMA secure_delete = ON;",
                      "configuring the connection", e);
        if (rc)
            goto fail;
        rc = migrate(s, version, e);
        /* secrets at rest: the key file beside the database (store_secret.h) */
        if (rc == 0)
            rc = store_secret_load(s, NULL, true, e);
        if (rc == 0)
            rc = store_secret_migrate(s, e);
        if (rc)
            goto fail;
    }
    if (readonly)
        store_secret_load(s, NULL, false, NULL); /* absent: sealed values cannot be read */
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

int store_open(const char *path, const struct store_opts *opts, struct store **out, struct err *e)
{
    return open_common(path, opts, false, out, e);
}

int store_open_readonly(const char *path, const struct store_opts *opts, struct store **out,
                        struct err *e)
{
    return open_common(path, opts, true, out, e);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->db && store_in_tx(s))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    store_secret_cleanup(s);
    for (int i = 0; i < s->n_stmts; i++)
        sqlite3_finalize(s->stmts[i].st);
    if (s->db)
        sqlite3_close(s->db);
    clock_free(s->own_clock);
    free(s->path);
    free(s);
}

const char *store_path(const struct store *s)
{
    return s->path;
}

bool store_is_readonly(const struct store *s)
{
    return s->readonly;
}

/* ---------------------------------------------------------------- transactions */

int store_tx_begin(struct store *s, struct err *e)
{
    int rc = store_check_writable(s, "beginning a transaction", e);
    if (rc)
        return rc;
    if (store_in_tx(s))
        return err_set(e, PP_ESTATE, "a transaction is already open on %s", s->path);
    return exec_cached(s, SQL_BEGIN, "beginning a transaction", e);
}

int store_tx_commit(struct store *s, struct err *e)
{
    if (!store_in_tx(s))
        return err_set(e, PP_ESTATE, "no transaction is open on %s", s->path);
    int rc = exec_cached(s, SQL_COMMIT, "committing", e);
    if (rc && store_in_tx(s)) {
        struct err ignore = {0};
        exec_cached(s, SQL_ROLLBACK, "rolling back", &ignore);
    }
    return rc;
}

void store_tx_rollback(struct store *s)
{
    if (s && store_in_tx(s)) {
        struct err ignore = {0};
        exec_cached(s, SQL_ROLLBACK, "rolling back", &ignore);
    }
}

/* ---------------------------------------------------------------- maintenance */

static const char SQL_VACUUM_INTO[] = "VACUUM INTO ?1";

int store_backup(struct store *s, const char *path, struct err *e)
{
    if (!path || !*path)
        return err_set(e, PP_EINVAL, "no backup path given");
    if (store_in_tx(s))
        return err_set(e, PP_ESTATE, "cannot back up %s inside a transaction", s->path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return err_set(e, PP_EINVAL, "backup %s already exists; choose a new file name", path);
        return err_set(e, PP_EIO, "cannot create backup %s: %s", path, strerror(errno));
    }
    int rc = 0;
    if (fchmod(fd, 0600) != 0)
        rc = err_set(e, PP_EIO, "cannot set mode 0600 on %s: %s", path, strerror(errno));
    close(fd);
    if (rc == 0) {
        /* VACUUM cannot be a persistent cached statement across schema changes; prepare it
         * each time (backups are rare). */
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(s->db, SQL_VACUUM_INTO, -1, &st, NULL);
        if (src == SQLITE_OK)
            src = store_bind(st, "t", path);
        if (src == SQLITE_OK)
            src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = store_dberr(s, e, src, "backing up to %s", path);
        sqlite3_finalize(st);
    }
    if (rc == 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0)
            rc = err_set(e, PP_EIO, "cannot sync backup %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (rc == 0)
        rc = store_secret_copy_key(s, path, e); /* the backup's secrets need its key */
    if (rc)
        unlink(path);
    return rc;
}

int store_integrity_check(struct store *s, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (src != SQLITE_OK) {
        sqlite3_finalize(st);
        return store_dberr(s, e, src, "checking integrity");
    }
    int rc = 0;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (!r || strcmp(r, "ok") != 0)
            rc = err_set(e, PP_EDB, "database %s failed its integrity check: %s", s->path,
                         r ? r : "(no answer)");
    } else {
        rc = store_dberr(s, e, src, "checking integrity");
    }
    sqlite3_finalize(st);
    if (rc == 0) {
        /* Foreign keys are part of integrity too. */
        src = sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL);
        if (src == SQLITE_OK) {
            src = sqlite3_step(st);
            if (src == SQLITE_ROW)
                rc = err_set(e, PP_EDB, "database %s: a row of %s breaks a foreign key", s->path,
                             (const char *)sqlite3_column_text(st, 0));
            else if (src != SQLITE_DONE)
                rc = store_dberr(s, e, src, "checking foreign keys");
        } else {
            rc = store_dberr(s, e, src, "checking foreign keys");
        }
        sqlite3_finalize(st);
    }
    return rc;
}
