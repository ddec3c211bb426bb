/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - internals shared by the store's files: the connection object, the per-connection
 * cache of prepared statements, binding and column helpers, transactions and the translation of
 * SQLite errors into PP_EDB.  Not for use outside src/store.
 */
#ifndef PP_STORE_STORE_INT_H
#define PP_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "store/store.h"

#define STORE_STMT_CACHE_MAX 96

struct store_stmt_slot {
    const char *sql; /* identity: the address of a static SQL string */
    sqlite3_stmt *st;
};

struct store {
    sqlite3 *db;
    char *path;
    bool readonly;
    struct pp_clock *clock;     /* borrowed or own_clock */
    struct pp_clock *own_clock; /* created when opts gave none */
    struct store_keyring *keys; /* secrets key (store_secret.c); NULL = none */
    int64_t events_keep;
    uint64_t events_added; /* drives the occasional prune */
    struct store_stmt_slot stmts[STORE_STMT_CACHE_MAX];
    int n_stmts;
};

/* The migration steps (store_schema.c): step i brings user_version from i to i + 1. */
extern const char *const store_migrations[];
extern const int store_n_migrations;

/* Now in ms on the store's clock. */
int64_t store_now_ms(const struct store *s);

/*
 * Record a SQLite failure: PP_EDB with "<op>: <sqlite message> (<code name>)".  op is a printf
 * format naming what was being done.  Returns PP_EDB.
 */
int store_dberr(struct store *s, struct err *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The cached prepared statement for sql (a static string: its address is the cache key),
 * prepared with SQLITE_PREPARE_PERSISTENT on first use; reset and with cleared bindings.  The
 * caller resets it again when done (store_stmt_done).  Returns 0 or PP_EDB.
 */
int store_stmt(struct store *s, const char *sql, sqlite3_stmt **out, struct err *e);
/* Reset st (releases its read snapshot).  NULL ok. */
void store_stmt_done(sqlite3_stmt *st);

/*
 * Bind parameters 1.. from fmt: 't' const char * (NULL binds NULL), 'i' int64_t,
 * 'b' const void *, size_t (blob), 'n' NULL (takes no argument).  Returns a SQLite result code.
 * Called through the store_bind macro, which passes the number of arguments: a format that does
 * not match them is a programming error and aborts (tests catch it at once).
 */
int store_bind_n(sqlite3_stmt *st, int nargs, const char *fmt, ...);
#define STORE_NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, n, ...) n
#define STORE_NARGS(...)                                                        STORE_NARGS_(__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define store_bind(st, fmt, ...)                                                store_bind_n(st, STORE_NARGS(__VA_ARGS__), fmt, __VA_ARGS__)

/*
 * Step a statement that returns no row (or whose rows are ignored) to completion and reset it.
 * Returns SQLITE_DONE or the failing SQLite code (statement reset either way).
 */
int store_step_done(sqlite3_stmt *st);

/*
 * Step st (prepared and bound) for its one row.  Returns 0 when there is a row: the caller reads
 * it, then store_stmt_done(st).  Otherwise st is reset and the result is PP_ENOTFOUND with the
 * message notfound, or the database error (store_dberr) with reading; both formats take the
 * same arguments.
 */
int store_row1(struct store *s, sqlite3_stmt *st, struct err *e, const char *notfound,
               const char *reading, ...)
    __attribute__((format(printf, 4, 6), format(printf, 5, 6)));

/*
 * Step st (prepared and bound) through its rows, appending each to the array *items (of *n
 * elements of elem bytes, grown as needed) filled by row(st, item) from a zeroed element; then
 * reset st.  Returns SQLITE_DONE, or the failing SQLite code (the rows read so far stay in
 * *items for the caller to free).
 */
int store_rows(sqlite3_stmt *st, void **items, size_t *n, size_t elem,
               void (*row)(sqlite3_stmt *st, void *item));

/* Column as a heap copy, NULL for SQL NULL. */
char *store_col_dup(sqlite3_stmt *st, int col);

/*
 * The body of every store_*_list_cleanup: item_cleanup(&l->items[i]) for each item, then the
 * array; the list is left empty.  l may be NULL.
 */
#define STORE_LIST_CLEANUP(l, item_cleanup)                                                        \
    do {                                                                                           \
        if (!(l))                                                                                  \
            break;                                                                                 \
        for (size_t i_ = 0; i_ < (l)->n; i_++)                                                     \
            item_cleanup(&(l)->items[i_]);                                                         \
        free((l)->items);                                                                          \
        (l)->items = NULL;                                                                         \
        (l)->n = 0;                                                                                \
    } while (0)

/* PP_ESTATE unless s is a read-write connection. */
int store_check_writable(struct store *s, const char *op, struct err *e);
/* store_check_writable(s, op) then store_stmt(s, sql, out): the start of every write.  0, or
 * the first one's error in e. */
int store_wstmt(struct store *s, const char *sql, const char *op, sqlite3_stmt **out,
                struct err *e);
/* True while a transaction is open on s. */
bool store_in_tx(const struct store *s);

/*
 * Begin a multi-statement write: BEGIN IMMEDIATE, or, when the caller's transaction is already
 * open, a savepoint inside it (*owned false), so the operation stays all-or-nothing either way.
 * Returns 0, PP_ESTATE (read-only) or PP_EDB.
 */
int store_wbegin(struct store *s, bool *owned, const char *op, struct err *e);
/*
 * End a write begun by store_wbegin: COMMIT (or RELEASE the savepoint) if rc == 0, else ROLLBACK
 * (or ROLLBACK TO the savepoint, leaving the caller's transaction open and unchanged).  Returns
 * rc, or PP_EDB if the commit failed (then rolled back).
 */
int store_wend(struct store *s, bool owned, int rc, const char *op, struct err *e);

/* Validate JSON text with SQLite's json_valid; 0 or PP_EINVAL naming what. */
int store_check_json(struct store *s, const char *json, const char *what, struct err *e);

#endif
