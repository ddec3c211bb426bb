/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - unit tests of the store: opening (permissions, pragmas, migrations, newer or
 * damaged files), every table's API with its error paths, transactions, read-only connections,
 * backups, and a crash-safety test that SIGKILLs a journaling child 50 times at random instants
 * (fixed seed) and checks that nothing committed was lost and no row was torn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/rng.h"
#include "store/store.h"
#include "store/store_int.h"

#define T0 1700000000000LL

struct fx {
    char dir[64];
    char path[128];
    struct pp_clock *clock;
    struct store *s;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pp-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/pp.db", f->dir);
    f->clock = clock_virtual_new(T0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    clock_free(f->clock);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Open f->path read-write on the virtual clock; asserts success. */
static struct store *open_ok(struct fx *f)
{
    struct store_opts o = {.clock = f->clock};
    struct store *s = NULL;
    struct err e = {0};
    int rc = store_open(f->path, &o, &s, &e);
    if (rc)
        fail_msg("store_open: %s", e.msg);
    return s;
}

static mode_t file_mode(const char *p)
{
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return sb.st_mode & 07777;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *read_all(const char *p, size_t *len)
{
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    char *b = xmalloc(1 << 20);
    *len = fread(b, 1, 1 << 20, fp);
    fclose(fp);
    return b;
}

/* ---------------------------------------------------------------- opening */

static void test_open_creates_private_wal_db(void **state)
{
    struct fx *f = *state;
    f->s = open_ok(f);
    assert_int_equal(file_mode(f->path), 0600);
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = "a",
                                                              .master_url = "https://a/",
                                                              .username = "root",
                                                              .password = "pw"},
                                    NULL, NULL),
                     0);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(file_mode(wal), 0600); /* the WAL holds the password too */
    sqlite3 *db = f->s->db;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(raw_int(db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(raw_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(raw_int(db, "PRAGMA user_version"), store_schema_version());
    assert_true(store_schema_version() >= 1);
    assert_string_equal(store_path(f->s), f->path);
    assert_false(store_is_readonly(f->s));
    /* STRICT tables reject a value of the wrong type. */
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO pools (name, master_url, username, "
                                      "password, added_at) VALUES ('x','y','u','p','soon')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(store_integrity_check(f->s, NULL), 0);
    /* Reopening an up-to-date database changes nothing and works. */
    store_close(f->s);
    f->s = open_ok(f);
    struct store_pool p = {0};
    assert_int_equal(store_pool_get_by_name(f->s, "a", &p, NULL), 0);
    assert_string_equal(p.password, "pw");
    store_pool_cleanup(&p);
}

static void test_open_refuses_loose_permissions(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store *s = NULL;
    f->s = open_ok(f);
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_equal(store_open(f->path, NULL, &s, &e), PP_EINVAL);
    assert_null(s);
    assert_non_null(strstr(e.msg, "chmod 600"));
    assert_non_null(strstr(e.msg, "0644"));
    assert_int_equal(store_open_readonly(f->path, NULL, &s, &e), PP_EINVAL);
    assert_int_equal(chmod(f->path, 0640), 0);
    assert_int_equal(store_open(f->path, NULL, &s, &e), PP_EINVAL);
    assert_int_equal(chmod(f->path, 0600), 0);
    /* A loose WAL next to it is refused too. */
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    int fd = open(wal, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(wal, 0604), 0);
    assert_int_equal(store_open(f->path, NULL, &s, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "-wal"));
    assert_int_equal(unlink(wal), 0);
    f->s = open_ok(f);
}

static void test_open_damaged_or_unusable(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store *s = NULL;
    /* Not a database. */
    int fd = open(f->path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    char junk[4096];
    struct rng r;
    rng_seed(&r, 7);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)rng_next(&r);
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    assert_int_equal(store_open(f->path, NULL, &s, &e), PP_EDB);
    assert_null(s);
    assert_non_null(strstr(e.msg, f->path));
    assert_non_null(strstr(e.msg, "not a database"));
    /* A directory. */
    assert_int_equal(store_open(f->dir, NULL, &s, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "not a regular file"));
    /* A folder that does not exist. */
    char p[200];
    snprintf(p, sizeof(p), "%s/missing/pp.db", f->dir);
    assert_int_equal(store_open(p, NULL, &s, &e), PP_EIO);
    assert_non_null(strstr(e.msg, "cannot create"));
    /* Read-only connection to nothing. */
    snprintf(p, sizeof(p), "%s/none.db", f->dir);
    assert_int_equal(store_open_readonly(p, NULL, &s, &e), PP_ENOTFOUND);
    assert_int_equal(store_open("", NULL, &s, &e), PP_EINVAL);
    /* Unreadable: only meaningful when not root (root reads mode 0000 files). */
    if (geteuid() != 0) {
        snprintf(p, sizeof(p), "%s/locked.db", f->dir);
        fd = open(p, O_CREAT | O_WRONLY, 0000);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(store_open(p, NULL, &s, &e), PP_EDB);
        assert_non_null(strstr(e.msg, p));
    }
}

static void test_newer_schema_untouched(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store *s = NULL;
    f->s = open_ok(f);
    store_close(f->s);
    f->s = NULL;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 999",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    size_t n1, n2;
    char *before = read_all(f->path, &n1);
    assert_int_equal(store_open(f->path, NULL, &s, &e), PP_ESTATE);
    assert_null(s);
    assert_non_null(strstr(e.msg, "999"));
    assert_non_null(strstr(e.msg, "newer"));
    assert_int_equal(store_open_readonly(f->path, NULL, &s, &e), PP_ESTATE);
    char *after = read_all(f->path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1); /* not even switched to WAL */
    free(before);
    free(after);
}

static void test_older_schema_migrates(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store *s = NULL;
    /* An empty database (user_version 0, e.g. created by hand with mode 0600) is migrated. */
    int fd = open(f->path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    /* A read-only connection will not migrate it. */
    assert_int_equal(store_open_readonly(f->path, NULL, &s, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "read-write first"));
    f->s = open_ok(f);
    assert_int_equal(raw_int(f->s->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                       "AND name IN ('pools', 'settings', 'catalog_cache', "
                                       "'client_id', 'downloads', 'rollouts', 'steps', 'events')"),
                     8);
}

/* Makes f->path a database at schema version `version` (the first `version` migrations run),
 * fills it with `sql`, then opens it with the store (which migrates it to the current version). */
static void open_at_version(struct fx *f, int version, const char *sql)
{
    sqlite3 *db = NULL;
    int fd = open(f->path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    for (int i = 0; i < version; i++)
        assert_int_equal(sqlite3_exec(db, store_migrations[i], NULL, NULL, NULL), SQLITE_OK);
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version = %d;", version);
    assert_int_equal(sqlite3_exec(db, set, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    f->s = open_ok(f);
}

/* A database at schema version 3 (rollouts without cancel_failed, steps and events pointing
 * at them) migrates to 4: the rollouts table is rebuilt without losing a row (foreign keys off
 * while migrating: the drop does not cascade to the steps), accepts the new state and keeps
 * findings; foreign keys are on again afterwards. */
static void test_migration_4_cancel_failed(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    open_at_version(f, 3,
                    "INSERT INTO rollouts VALUES ('old', 1, 2, 'halted', '{}', 'minimal', 'x');"
                    "INSERT INTO rollouts VALUES ('new', 3, 4, 'done', '{}', 'return', NULL);"
                    "INSERT INTO steps (rollout_id, seq, pool, kind, params, state, created_at)"
                    "  VALUES ('old', 1, 'p', 'disable', '{}', 'pending', 1);"
                    "INSERT INTO events (rollout_id, at, percent, message)"
                    "  VALUES ('old', 1, -1, 'halted');");
    assert_int_equal(raw_int(f->s->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM rollouts"), 2);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM steps"), 1);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM events"), 1);
    assert_int_equal(raw_int(f->s->db, "PRAGMA foreign_keys"), 1);
    struct store_rollout r = {0};
    assert_int_equal(store_rollout_get(f->s, "old", &r, &e), 0);
    assert_int_equal(r.state, STORE_ROLLOUT_HALTED);
    assert_string_equal(r.error, "x");
    store_rollout_cleanup(&r);
    assert_int_equal(store_rollout_set_state(f->s, "old", STORE_ROLLOUT_CANCELLING, NULL, &e), 0);
    assert_int_equal(
        store_rollout_set_state(f->s, "old", STORE_ROLLOUT_CANCEL_FAILED, "host h2 disabled", &e),
        0);
    assert_int_equal(store_rollout_set_findings(f->s, "old", "{\"pools\":{}}", &e), 0);
    assert_int_equal(store_rollout_set_findings(f->s, "old", "{nope", &e), PP_EDB);
    assert_int_equal(store_rollout_set_findings(f->s, "gone", "{}", &e), PP_ENOTFOUND);
    char *txt = NULL;
    assert_int_equal(store_rollout_findings(f->s, "old", &txt, &e), 0);
    assert_string_equal(txt, "{\"pools\":{}}");
    free(txt);
    /* cancel_failed is listed as unfinished, and its cancel can be retried */
    struct store_rollout_list rl = {0};
    assert_int_equal(store_rollout_list(f->s, STORE_ROLLOUT_MASK_UNFINISHED, 0, &rl, &e), 0);
    assert_int_equal(rl.n, 1);
    assert_int_equal(rl.items[0].state, STORE_ROLLOUT_CANCEL_FAILED);
    store_rollout_list_cleanup(&rl);
    assert_int_equal(store_rollout_set_state(f->s, "old", STORE_ROLLOUT_CANCELLING, NULL, &e), 0);
    /* deleting a rollout still cascades to its steps (foreign keys are on) */
    assert_int_equal(store_rollout_delete(f->s, "new", &e), 0);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM rollouts"), 1);
}

static int collect_pool(void *ctx, const char *pool, const char *host)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%s%s%s,", pool, host ? "/" : "", host ? host : "");
    return 0;
}

static int collect_seq(void *ctx, const struct store_step_row *r)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%lld,", (long long)r->seq);
    return 0;
}

/* Migration 6: steps of a database at version 5 get change version 0; every journal write and
 * appended step after it moves the rollout's version on, and store_steps_changed names the hosts
 * (pool and host; no host: the pool's own steps) written since a version (the version read before
 * them); store_steps_scan_host reads one host's steps or the pool's own. */
static void test_migration_6_step_versions(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    open_at_version(f, 5,
                    "INSERT INTO rollouts (id, created_at, updated_at, state, plan, policy)"
                    "  VALUES ('r', 1, 2, 'running', '{}', 'minimal');"
                    "INSERT INTO steps (rollout_id, seq, pool, kind, params, state, created_at)"
                    "  VALUES ('r', 1, 'p', 'disable', '{}', 'pending', 1),"
                    "         ('r', 2, 'q', 'disable', '{}', 'pending', 1);");
    assert_int_equal(raw_int(f->s->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->s->db, "SELECT max(rv) FROM steps"), 0);
    char pools[64] = "";
    int64_t v0 = -1, v1 = -1, v2 = -1;
    assert_int_equal(store_steps_changed(f->s, "r", 0, &v0, collect_pool, pools, &e), 0);
    assert_int_equal(v0, 0);
    assert_string_equal(pools, "");
    assert_int_equal(store_journal_intent(f->s, "r", 2, NULL, NULL, &e), 0);
    assert_int_equal(store_steps_changed(f->s, "r", v0, &v1, collect_pool, pools, &e), 0);
    assert_int_equal(v1, 1);
    assert_string_equal(pools, "q,");
    struct store_step_spec sp = {"p", "h", "apply", "{}"};
    assert_int_equal(store_steps_append(f->s, "r", &sp, 1, NULL, &e), 0);
    assert_int_equal(store_journal_done(f->s, "r", 2, NULL, &e), 0);
    pools[0] = '\0';
    assert_int_equal(store_steps_changed(f->s, "r", v1, &v2, collect_pool, pools, &e), 0);
    assert_int_equal(v2, 3);
    assert_true(strcmp(pools, "p/h,q,") == 0 || strcmp(pools, "q,p/h,") == 0);
    pools[0] = '\0';
    /* one host's steps, and the pool's own (no host) */
    static const struct store_scan_key key = {NULL, "$.x"};
    assert_int_equal(store_steps_scan_host(f->s, "r", "p", "h", &key, 1, collect_seq, pools, &e),
                     0);
    assert_string_equal(pools, "3,");
    pools[0] = '\0';
    assert_int_equal(store_steps_scan_host(f->s, "r", "p", NULL, &key, 1, collect_seq, pools, &e),
                     0);
    assert_string_equal(pools, "1,");
    pools[0] = '\0';
    assert_int_equal(store_steps_changed(f->s, "r", v2, &v2, collect_pool, pools, &e), 0);
    assert_string_equal(pools, "");
    assert_int_equal(store_journal_fail(f->s, "r", 1, "{}", &e), 0);
    assert_int_equal(store_journal_skip(f->s, "r", 1, "{}", &e), 0);
    assert_int_equal(raw_int(f->s->db, "SELECT rv FROM steps WHERE seq = 1"), 5);
}

/* Migration 8: steps_by_rv covers pool and host, so the hosts changed since a version are read
 * from the index alone (the query plan says so; before, every changed step was looked up in the
 * table); the answers are the same. */
static void test_migration_8_rv_covering(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    open_at_version(f, 7,
                    "INSERT INTO rollouts (id, created_at, updated_at, state, policy, plan)"
                    "  VALUES ('r', 1, 2, 'running', 'minimal', '{}');"
                    "INSERT INTO steps (rollout_id, seq, pool, host, kind, params, state,"
                    "  created_at, rv)"
                    "  VALUES ('r', 1, 'p', 'h', 'disable', '{}', 'pending', 1, 1),"
                    "         ('r', 2, 'q', NULL, 'disable', '{}', 'pending', 1, 2);");
    assert_int_equal(raw_int(f->s->db, "PRAGMA user_version"), store_schema_version());
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->s->db,
                                        "EXPLAIN QUERY PLAN SELECT DISTINCT pool, host FROM steps "
                                        "INDEXED BY steps_by_rv WHERE rollout_id = 'r' AND rv > 0",
                                        -1, &st, NULL),
                     SQLITE_OK);
    bool covering = false;
    while (sqlite3_step(st) == SQLITE_ROW)
        covering = covering ||
                   strstr((const char *)sqlite3_column_text(st, 3), "COVERING INDEX steps_by_rv");
    sqlite3_finalize(st);
    assert_true(covering);
    char pools[64] = "";
    int64_t v = -1;
    assert_int_equal(store_steps_changed(f->s, "r", 1, &v, collect_pool, pools, &e), 0);
    assert_int_equal(v, 2);
    assert_string_equal(pools, "q,");
    assert_int_equal(store_journal_intent(f->s, "r", 1, NULL, NULL, &e), 0);
    pools[0] = '\0';
    assert_int_equal(store_steps_changed(f->s, "r", 2, &v, collect_pool, pools, &e), 0);
    assert_int_equal(v, 3);
    assert_string_equal(pools, "p/h,");
}

/* ---------------------------------------------------------------- scan params vs json_extract */

/* The scan's keys: every row's, a kind's, nested, a quoted path (json_extract's alone). */
static const struct store_scan_key pg_keys[] = {
    {NULL, "$.host_name"}, {"migrate", "$.to"}, {NULL, "$.back"},    {NULL, "$.opts.mode"},
    {NULL, "$.n"},         {NULL, "$.o"},       {NULL, "$.\"a b\""}, {"apply", "$.uuid"}};
#define PG_NKEYS (sizeof(pg_keys) / sizeof(pg_keys[0]))

/* Hand-picked params: escapes (in the value, in a key before it, \u and surrogate pairs), the
 * first of two members of one name, reals, long and negative integers, -0, objects and arrays as
 * values, a path through a non-object, strings holding braces, quotes and UTF-8, whitespace. */
static const char *const pg_params[] = {
    "{}",
    "[1,2]",
    "{\"host_name\":\"h-1\",\"to\":\"OpaqueRef:x\",\"back\":true}",
    "{\"host_name\":\"a\\\"b\",\"back\":false}",
    "{\"host_name\":\"caf\\u00e9 \\ud83d\\ude00\\n\\t\\/\"}",
    "{\"ho\\u0073t_name\":\"escaped key\",\"host_name\":\"second\"}",
    "{\"x\":\"\\\\\",\"host_name\":\"after an escape\"}",
    "{\"host_name\":\"first\",\"host_name\":\"second\"}",
    "{\"n\":1.0,\"o\":{\"a\":[1,{\"b\":\"}\"}]},\"back\":null}",
    "{\"n\":12345678901234567890}",
    "{\"n\":-42,\"host_name\":\"\"}",
    "{\"n\":-0}",
    "{\"n\":1e3}",
    "{\"n\":0.5,\"opts\":{\"mode\":1}}",
    "{\"opts\":{\"x\":{\"mode\":5},\"mode\":2}}",
    "{\"opts\":\"not an object\"}",
    "{\"opts\":[{\"mode\":3}]}",
    " { \"host_name\" : \"spaced\" , \"back\" : true } ",
    "{\"a b\":\"quoted path\",\"host_name\":\"{[\\\"]}\"}",
    "{\"host_name\":\"h\\u0000z\"}",
    "{\"o\":[],\"n\":123456789012345678}",
    "{\"o\":\"\\u00e9t\\u00e9\",\"host_name\":\"\xc3\xa9t\xc3\xa9\"}",
};

/* A random value: strings of awkward characters, numbers of every shape, literals, nesting. */
static void pg_rand_value(struct rng *r, struct buf *b, int depth)
{
    static const char *const bits[] = {"a", "\\\"",     "\\\\", "\\u00e9", "{",
                                       "}", "[",        "]",    ":",       ",",
                                       " ", "\xc3\xa9", "\\n",  "\\/",     "\\ud83d\\ude00"};
    static const char *const nums[] = {
        "0",   "-1", "7", "1.5", "-0", "1e2", "2E-3", "99999999999999999999", "123456789012345678",
        "-0.0"};
    static const char *const names[] = {"host_name", "to", "back", "opts", "mode", "n", "o", "x"};
    switch (rng_below(r, depth > 2 ? 4 : 6)) {
    case 0:
        buf_putc(b, '"');
        for (uint64_t i = rng_below(r, 6); i-- > 0;)
            buf_puts(b, bits[rng_below(r, sizeof(bits) / sizeof(bits[0]))]);
        buf_putc(b, '"');
        break;
    case 1:
        buf_puts(b, nums[rng_below(r, sizeof(nums) / sizeof(nums[0]))]);
        break;
    case 2:
        buf_puts(b, rng_below(r, 2) ? "true" : "false");
        break;
    case 3:
        buf_puts(b, "null");
        break;
    case 4:
        buf_putc(b, '[');
        for (uint64_t i = rng_below(r, 3); i-- > 0;) {
            pg_rand_value(r, b, depth + 1);
            if (i)
                buf_putc(b, ',');
        }
        buf_putc(b, ']');
        break;
    default:
        buf_putc(b, '{');
        for (uint64_t i = rng_below(r, 5); i-- > 0;) {
            buf_printf(b, "%s\"%s\"%s:", rng_below(r, 4) ? "" : " ",
                       names[rng_below(r, sizeof(names) / sizeof(names[0]))],
                       rng_below(r, 4) ? "" : " ");
            pg_rand_value(r, b, depth + 1);
            if (i)
                buf_putc(b, ',');
        }
        buf_putc(b, '}');
    }
}

struct pg_check {
    sqlite3 *db;
    size_t rows, found, asked;
};

/* Each field the scan gives equals json_extract's text of it (NULL where it is NULL or of
 * another kind). */
static int pg_check_row(void *ctx, const struct store_step_row *r)
{
    struct pg_check *c = ctx;
    for (size_t i = 0; i < PG_NKEYS; i++) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(c->db,
                                            "SELECT CASE WHEN ?3 IS NULL OR kind = ?3 THEN "
                                            "json_extract(params, ?2) END FROM steps "
                                            "WHERE rollout_id = 'pg' AND seq = ?1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(st, 1, r->seq);
        sqlite3_bind_text(st, 2, pg_keys[i].path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, pg_keys[i].kind, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        const char *want = (const char *)sqlite3_column_text(st, 0);
        if (!want || !r->param[i]) {
            if (want != r->param[i])
                fail_msg("seq %lld key %s: scan %s, json_extract %s", (long long)r->seq,
                         pg_keys[i].path, r->param[i] ? r->param[i] : "NULL", want ? want : "NULL");
        } else {
            size_t n = (size_t)sqlite3_column_bytes(st, 0);
            if (strlen(r->param[i]) != strlen(want) || memcmp(r->param[i], want, n) != 0)
                fail_msg("seq %lld key %s: scan '%s', json_extract '%s'", (long long)r->seq,
                         pg_keys[i].path, r->param[i], want);
            c->found++;
        }
        sqlite3_finalize(st);
    }
    c->rows++;
    return 0;
}

/* store_steps_scan reads a step's params fields in C where it can (the plain cases) and through
 * json_extract otherwise: every field of the hand-picked and of 2,000 random params (fixed
 * seed) is json_extract's text, by every scan (all steps, a pool's, a host's). */
static void test_steps_scan_params_as_json_extract(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    size_t n_hand = sizeof(pg_params) / sizeof(pg_params[0]), n = n_hand + 2000;
    struct store_step_spec *specs = xcalloc(n, sizeof(*specs));
    char **texts = xcalloc(n, sizeof(*texts));
    struct rng r;
    rng_seed(&r, 17);
    static const char *const kinds[] = {"migrate", "apply", "reboot"};
    for (size_t i = 0; i < n; i++) {
        struct buf b;
        buf_init(&b);
        if (i < n_hand) {
            buf_puts(&b, pg_params[i]);
        } else {
            do {
                buf_reset(&b);
                pg_rand_value(&r, &b, 0);
            } while (b.data[0] != '{');
        }
        texts[i] = buf_take(&b);
        specs[i] = (struct store_step_spec){"p", i % 3 ? "h" : NULL, kinds[i % 3], texts[i]};
    }
    char *id = NULL;
    assert_int_equal(
        store_rollout_create(
            f->s, &(struct store_rollout_spec){.id = "pg", .plan_json = "{}", .policy = "minimal"},
            specs, n, &id, &e),
        0);
    struct pg_check c = {f->s->db, 0, 0, 0};
    assert_int_equal(store_steps_scan(f->s, "pg", pg_keys, PG_NKEYS, pg_check_row, &c, &e), 0);
    assert_int_equal(c.rows, n);
    assert_true(c.found > n / 2); /* the comparisons saw values, not only NULLs */
    assert_int_equal(
        store_steps_scan_pool(f->s, "pg", "p", pg_keys, PG_NKEYS, pg_check_row, &c, &e), 0);
    assert_int_equal(
        store_steps_scan_host(f->s, "pg", "p", "h", pg_keys, PG_NKEYS, pg_check_row, &c, &e), 0);
    assert_int_equal(c.rows, 2 * n + n - (n + 2) / 3);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(specs);
    free(id);
}

/* Migration 7: the rollouts table rebuilt with the plan last (reading the columns before it
 * does not walk the plan's overflow pages); every column, the rowids (listings order by them)
 * and the steps, host facts and windows pointing at the rollouts kept; foreign keys on again. */
static void test_migration_7_plan_last(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    open_at_version(f, 6,
                    "INSERT INTO rollouts (rowid, id, created_at, updated_at, state, plan, policy,"
                    "  error, findings)"
                    "  VALUES (7, 'b', 3, 4, 'cancel_failed', '{\"p\":2}', 'return', 'x', '{}'),"
                    "         (5, 'a', 1, 2, 'done', '{\"p\":1}', 'minimal', NULL, NULL);"
                    "INSERT INTO steps (rollout_id, seq, pool, kind, params, state, created_at)"
                    "  VALUES ('a', 1, 'p', 'disable', '{}', 'pending', 1);"
                    "INSERT INTO host_facts (rollout_id, pool, host, facts, at)"
                    "  VALUES ('a', 'p', 'h', '{}', 1);");
    assert_int_equal(raw_int(f->s->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->s->db, "SELECT cid FROM pragma_table_info('rollouts') "
                                       "WHERE name = 'plan'"),
                     raw_int(f->s->db, "SELECT max(cid) FROM pragma_table_info('rollouts')"));
    assert_int_equal(raw_int(f->s->db, "SELECT rowid FROM rollouts WHERE id = 'b'"), 7);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM steps"), 1);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM host_facts"), 1);
    assert_int_equal(raw_int(f->s->db, "PRAGMA foreign_keys"), 1);
    struct store_rollout r = {0};
    assert_int_equal(store_rollout_get(f->s, "b", &r, &e), 0);
    assert_int_equal(r.state, STORE_ROLLOUT_CANCEL_FAILED);
    assert_string_equal(r.plan_json, "{\"p\":2}");
    assert_string_equal(r.policy, "return");
    assert_string_equal(r.error, "x");
    store_rollout_cleanup(&r);
    char *txt = NULL;
    assert_int_equal(store_rollout_findings(f->s, "b", &txt, &e), 0);
    assert_string_equal(txt, "{}");
    free(txt);
    /* the rollout's steps still cascade with it */
    assert_int_equal(store_rollout_delete(f->s, "a", &e), 0);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM steps"), 0);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM host_facts"), 0);
}

/* ---------------------------------------------------------------- pools */

static void test_pools(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    const char *evil = "x'); DROP TABLE pools; --";
    int64_t id1 = 0, id2 = 0, id3 = 0;
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = "prod",
                                                              .master_url = "https://10.0.0.1/",
                                                              .username = "root",
                                                              .password = "s3cret!pw",
                                                              .ca_file = "/etc/ca.pem"},
                                    &id1, &e),
                     0);
    clock_advance(f->clock, 1000);
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = evil,
                                                              .master_url = "http://127.0.0.10:1/",
                                                              .username = "u\"'",
                                                              .password = "p' OR '1'='1"},
                                    &id2, &e),
                     0);
    assert_true(id1 > 0 && id2 > id1);
    /* Duplicates. */
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = "prod",
                                                              .master_url = "https://other/",
                                                              .username = "root",
                                                              .password = "x"},
                                    &id3, &e),
                     PP_EINVAL);
    assert_non_null(strstr(e.msg, "named 'prod' is already registered"));
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = "prod2",
                                                              .master_url = "https://10.0.0.1/",
                                                              .username = "root",
                                                              .password = "other-secret"},
                                    &id3, &e),
                     PP_EINVAL);
    assert_non_null(strstr(e.msg, "already registered as pool 'prod'"));
    assert_null(strstr(e.msg, "secret"));
    assert_int_equal(store_pool_add(f->s, &(struct store_pool_spec){.name = "n"}, NULL, &e),
                     PP_EINVAL);
    assert_int_equal(
        store_pool_add(f->s,
                       &(struct store_pool_spec){
                           .name = "", .master_url = "u", .username = "a", .password = "b"},
                       NULL, &e),
        PP_EINVAL);
    /* Read back: verbatim. */
    struct store_pool p = {0};
    assert_int_equal(store_pool_get_by_name(f->s, evil, &p, &e), 0);
    assert_int_equal(p.id, id2);
    assert_string_equal(p.name, evil);
    assert_string_equal(p.username, "u\"'");
    assert_string_equal(p.password, "p' OR '1'='1");
    assert_null(p.ca_file);
    assert_null(p.tls_fingerprint);
    assert_int_equal(p.added_at_ms, T0 + 1000);
    store_pool_cleanup(&p);
    assert_null(p.name);
    assert_int_equal(store_pool_get_by_id(f->s, id1, &p, &e), 0);
    assert_string_equal(p.name, "prod");
    assert_string_equal(p.master_url, "https://10.0.0.1/");
    assert_string_equal(p.ca_file, "/etc/ca.pem");
    assert_int_equal(p.added_at_ms, T0);
    store_pool_cleanup(&p);
    assert_int_equal(store_pool_get_by_name(f->s, "nope", &p, &e), PP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "'nope'"));
    assert_int_equal(store_pool_get_by_id(f->s, 4242, &p, &e), PP_ENOTFOUND);
    /* List, ordered by name. */
    struct store_pool_list l = {0};
    assert_int_equal(store_pool_list(f->s, &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].name, "prod");
    assert_string_equal(l.items[1].name, evil);
    store_pool_list_cleanup(&l);
    assert_int_equal(l.n, 0);
    /* Pin and re-pin, credentials. */
    const char *fp = "AB:CD:EF:01";
    assert_int_equal(store_pool_set_fingerprint(f->s, id1, fp, &e), 0);
    assert_int_equal(store_pool_set_credentials(f->s, id1, "admin", "n3w", &e), 0);
    assert_int_equal(store_pool_get_by_id(f->s, id1, &p, &e), 0);
    assert_string_equal(p.tls_fingerprint, fp);
    assert_string_equal(p.username, "admin");
    assert_string_equal(p.password, "n3w");
    store_pool_cleanup(&p);
    assert_int_equal(store_pool_set_fingerprint(f->s, id1, NULL, &e), 0);
    assert_int_equal(store_pool_get_by_id(f->s, id1, &p, &e), 0);
    assert_null(p.tls_fingerprint);
    store_pool_cleanup(&p);
    assert_int_equal(store_pool_set_fingerprint(f->s, 999, fp, &e), PP_ENOTFOUND);
    assert_int_equal(store_pool_set_credentials(f->s, 999, "a", "b", &e), PP_ENOTFOUND);
    assert_int_equal(store_pool_set_credentials(f->s, id1, NULL, "b", &e), PP_EINVAL);
    /* Remove. */
    assert_int_equal(store_pool_remove_by_name(f->s, evil, &e), 0);
    assert_int_equal(store_pool_remove_by_name(f->s, evil, &e), PP_ENOTFOUND);
    assert_int_equal(store_pool_remove(f->s, 999, &e), PP_ENOTFOUND);
    assert_int_equal(store_pool_list(f->s, &l, &e), 0);
    assert_int_equal(l.n, 1);
    store_pool_list_cleanup(&l);
    /* The name can be reused once removed. */
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = evil,
                                                              .master_url = "http://x/",
                                                              .username = "u",
                                                              .password = "p"},
                                    NULL, &e),
                     0);
    assert_int_equal(store_integrity_check(f->s, &e), 0);
}

static const struct store_step_spec three_steps[] = {
    {.pool = "prod", .kind = "resolve", .params_json = "{\"what\":\"ha\"}"},
    {.pool = "prod", .host = "h1", .kind = "evacuate"},
    {.pool = "lab", .host = "l1", .kind = "apply", .params_json = "{\"update\":\"u1\"}"},
};

static void test_pool_remove_blocked_by_rollout(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    int64_t id;
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = "prod",
                                                              .master_url = "https://p/",
                                                              .username = "root",
                                                              .password = "pw"},
                                    &id, &e),
                     0);
    assert_int_equal(
        store_rollout_create(
            f->s, &(struct store_rollout_spec){.id = "r1", .plan_json = "{}", .policy = "minimal"},
            three_steps, 3, NULL, &e),
        0);
    assert_int_equal(store_pool_remove(f->s, id, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "rollout r1"));
    assert_int_equal(store_rollout_set_state(f->s, "r1", STORE_ROLLOUT_CANCELLED, NULL, &e), 0);
    assert_int_equal(store_pool_remove(f->s, id, &e), 0);
}

/* ---------------------------------------------------------------- settings and caches */

static void test_settings(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    int64_t iv;
    bool b;
    char *str = NULL;
    assert_int_equal(store_get_check_interval_s(f->s, &iv, &e), 0);
    assert_int_equal(iv, 86400);
    assert_int_equal(store_get_auto_check(f->s, &b, &e), 0);
    assert_true(b);
    assert_int_equal(store_get_catalog_url(f->s, &str, &e), 0);
    assert_string_equal(str, STORE_DEFAULT_CATALOG_URL);
    free(str);
    assert_int_equal(store_setting_get(f->s, STORE_KEY_API_TOKEN_HASH, &str, &e), PP_ENOTFOUND);
    assert_null(str);
    assert_int_equal(store_setting_get_str(f->s, "none", NULL, &str, &e), 0);
    assert_null(str);

    assert_int_equal(store_setting_set_int(f->s, STORE_KEY_CHECK_INTERVAL, 3600, &e), 0);
    assert_int_equal(store_setting_set_bool(f->s, STORE_KEY_AUTO_CHECK, false, &e), 0);
    assert_int_equal(store_setting_set(f->s, STORE_KEY_CATALOG_URL, "file:///x'y.xml", &e), 0);
    assert_int_equal(store_setting_set(f->s, STORE_KEY_API_TOKEN_HASH, "sha256:abc", &e), 0);
    assert_int_equal(store_get_check_interval_s(f->s, &iv, &e), 0);
    assert_int_equal(iv, 3600);
    assert_int_equal(store_get_auto_check(f->s, &b, &e), 0);
    assert_false(b);
    assert_int_equal(store_get_catalog_url(f->s, &str, &e), 0);
    assert_string_equal(str, "file:///x'y.xml");
    free(str);
    assert_int_equal(store_setting_get(f->s, STORE_KEY_API_TOKEN_HASH, &str, &e), 0);
    assert_string_equal(str, "sha256:abc");
    free(str);
    /* Overwrite, loose booleans, bad values. */
    assert_int_equal(store_setting_set(f->s, STORE_KEY_AUTO_CHECK, "ON", &e), 0);
    assert_int_equal(store_get_auto_check(f->s, &b, &e), 0);
    assert_true(b);
    assert_int_equal(store_setting_set(f->s, STORE_KEY_AUTO_CHECK, "maybe", &e), 0);
    assert_int_equal(store_get_auto_check(f->s, &b, &e), PP_EPARSE);
    assert_non_null(strstr(e.msg, "maybe"));
    assert_int_equal(store_setting_set(f->s, STORE_KEY_CHECK_INTERVAL, "12h", &e), 0);
    assert_int_equal(store_get_check_interval_s(f->s, &iv, &e), PP_EPARSE);
    assert_int_equal(store_setting_set_int(f->s, STORE_KEY_CHECK_INTERVAL, 0, &e), 0);
    assert_int_equal(store_get_check_interval_s(f->s, &iv, &e), PP_EPARSE);
    assert_int_equal(store_setting_set(f->s, "", "v", &e), PP_EINVAL);
    assert_int_equal(store_setting_set(f->s, "k", NULL, &e), PP_EINVAL);
    /* Delete goes back to the default. */
    assert_int_equal(store_setting_delete(f->s, STORE_KEY_CHECK_INTERVAL, &e), 0);
    assert_int_equal(store_setting_delete(f->s, STORE_KEY_CHECK_INTERVAL, &e), 0);
    assert_int_equal(store_get_check_interval_s(f->s, &iv, &e), 0);
    assert_int_equal(iv, STORE_DEFAULT_CHECK_INTERVAL_S);
}

static void test_catalog_cache(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    const char *src = "http://updates.example/updates.xml";
    struct store_catalog c = {0};
    assert_int_equal(store_catalog_get(f->s, src, &c, &e), PP_ENOTFOUND);
    assert_int_equal(store_catalog_touch(f->s, src, &e), PP_ENOTFOUND);
    const char body[] = "<patchdata>\0binary\xff</patchdata>";
    assert_int_equal(store_catalog_put(f->s, src, body, sizeof(body), "\"e1\"",
                                       "Tue, 01 Oct 2024 10:00:00 GMT", &e),
                     0);
    clock_advance(f->clock, 5000);
    assert_int_equal(store_catalog_touch(f->s, src, &e), 0);
    assert_int_equal(store_catalog_get(f->s, src, &c, &e), 0);
    assert_int_equal(c.body_len, sizeof(body));
    assert_memory_equal(c.body, body, sizeof(body));
    assert_string_equal(c.etag, "\"e1\"");
    assert_string_equal(c.last_modified, "Tue, 01 Oct 2024 10:00:00 GMT");
    assert_int_equal(c.fetched_at_ms, T0);
    assert_int_equal(c.checked_at_ms, T0 + 5000);
    store_catalog_cleanup(&c);
    /* A new good catalog replaces it; absent validators become NULL. */
    assert_int_equal(store_catalog_put(f->s, src, "<new/>", 6, NULL, NULL, &e), 0);
    assert_int_equal(store_catalog_get(f->s, src, &c, &e), 0);
    assert_int_equal(c.body_len, 6);
    assert_string_equal((char *)c.body, "<new/>");
    assert_null(c.etag);
    assert_null(c.last_modified);
    assert_int_equal(c.fetched_at_ms, T0 + 5000);
    store_catalog_cleanup(&c);
    /* Sources are independent. */
    assert_int_equal(store_catalog_get(f->s, "pool:prod/updates", &c, &e), PP_ENOTFOUND);
    assert_int_equal(store_catalog_put(f->s, NULL, "x", 1, NULL, NULL, &e), PP_EINVAL);
}

static void test_client_id_and_token(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    struct store_client_id c = {0};
    struct store_token t = {0};
    assert_int_equal(store_client_id_get(f->s, &c, &e), PP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "client-id import"));
    assert_int_equal(store_token_set(f->s, "tok", "sid", T0 + 3600000, &e), PP_ENOTFOUND);
    assert_int_equal(store_client_id_set(f->s, "alice", "", &e), PP_EINVAL);
    assert_int_equal(store_client_id_set(f->s, "alice", "key-1", &e), 0);
    assert_int_equal(store_client_id_get(f->s, &c, &e), 0);
    assert_string_equal(c.username, "alice");
    assert_string_equal(c.apikey, "key-1");
    assert_int_equal(c.imported_at_ms, T0);
    store_client_id_cleanup(&c);
    assert_int_equal(store_token_get(f->s, 0, &t, &e), PP_ENOTFOUND);
    assert_int_equal(store_token_set(f->s, "tok", "sid", T0 + 3600000, &e), 0);
    assert_int_equal(store_token_get(f->s, 0, &t, &e), 0);
    assert_string_equal(t.token, "tok");
    assert_string_equal(t.session_id, "sid");
    assert_int_equal(t.expires_at_ms, T0 + 3600000);
    store_token_cleanup(&t);
    /* Margin and expiry. */
    assert_int_equal(store_token_get(f->s, 3600000, &t, &e), PP_ENOTFOUND);
    clock_advance(f->clock, 3599999);
    assert_int_equal(store_token_get(f->s, 0, &t, &e), 0);
    store_token_cleanup(&t);
    clock_advance(f->clock, 1);
    assert_int_equal(store_token_get(f->s, 0, &t, &e), PP_ENOTFOUND);
    /* A new client ID drops the old token. */
    assert_int_equal(store_token_set(f->s, "tok2", NULL, T0 + 9999999, &e), 0);
    assert_int_equal(store_client_id_set(f->s, "bob", "key-2", &e), 0);
    assert_int_equal(store_token_get(f->s, 0, &t, &e), PP_ENOTFOUND);
    assert_int_equal(store_client_id_get(f->s, &c, &e), 0);
    assert_string_equal(c.username, "bob");
    store_client_id_cleanup(&c);
    assert_int_equal(store_client_id_clear(f->s, &e), 0);
    assert_int_equal(store_client_id_get(f->s, &c, &e), PP_ENOTFOUND);
}

static void test_downloads(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    const char *u1 = "0E4A1A09-1234-4E4F-9A55-1234567890AB";
    struct store_download d = {0};
    struct store_download_list l = {0};
    assert_int_equal(store_download_get(f->s, u1, &d, &e), PP_ENOTFOUND);
    assert_int_equal(
        store_download_put(
            f->s,
            &(struct store_download_spec){.update_uuid = u1, .path = "/c/u1.zip", .size = 100}, &e),
        0);
    clock_advance(f->clock, 10);
    assert_int_equal(store_download_put(f->s,
                                        &(struct store_download_spec){.update_uuid = "u2",
                                                                      .url = "https://f/u2",
                                                                      .path = "/c/u2.zip",
                                                                      .size = 5,
                                                                      .sha256 = "ab",
                                                                      .complete = true},
                                        &e),
                     0);
    assert_int_equal(store_download_get(f->s, "0e4a1a09-1234-4e4f-9a55-1234567890ab", &d, &e), 0);
    assert_string_equal(d.update_uuid, u1);
    assert_string_equal(d.path, "/c/u1.zip");
    assert_int_equal(d.size, 100);
    assert_false(d.complete);
    assert_null(d.sha256);
    assert_null(d.url);
    store_download_cleanup(&d);
    /* Completing the first makes it the most recent. */
    clock_advance(f->clock, 10);
    assert_int_equal(store_download_put(f->s,
                                        &(struct store_download_spec){.update_uuid = u1,
                                                                      .path = "/c/u1.zip",
                                                                      .size = 2000,
                                                                      .sha256 = "cd",
                                                                      .complete = true},
                                        &e),
                     0);
    assert_int_equal(store_download_list(f->s, &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].update_uuid, u1);
    assert_true(l.items[0].complete);
    assert_int_equal(l.items[0].size, 2000);
    assert_string_equal(l.items[0].sha256, "cd");
    assert_string_equal(l.items[1].url, "https://f/u2");
    store_download_list_cleanup(&l);
    assert_int_equal(
        store_download_put(
            f->s, &(struct store_download_spec){.update_uuid = "x", .path = "/p", .size = -1}, &e),
        PP_EINVAL);
    assert_int_equal(store_download_remove(f->s, "u2", &e), 0);
    assert_int_equal(store_download_remove(f->s, "u2", &e), PP_ENOTFOUND);
}

/* ---------------------------------------------------------------- rollouts and journal */

/* test_rollout_journal's middle: step 2 fails, the rollout halts, Retry re-sends it. */
static void check_fail_retry(struct fx *f, const char *id)
{
    struct err e = {0};
    struct store_rollout r = {0};
    struct store_step st = {0};
    assert_int_equal(store_journal_intent(f->s, id, 2, NULL, NULL, &e), 0);
    assert_int_equal(store_journal_fail(f->s, id, 2, NULL, &e), PP_EINVAL);
    assert_int_equal(store_journal_fail(f->s, id, 2, "VM_MIGRATE_FAILED: no memory", &e), 0);
    assert_int_equal(
        store_rollout_set_state(f->s, id, STORE_ROLLOUT_HALTED, "migration failed", &e), 0);
    assert_int_equal(store_rollout_get(f->s, id, &r, &e), 0);
    assert_int_equal(r.state, STORE_ROLLOUT_HALTED);
    assert_string_equal(r.error, "migration failed");
    store_rollout_cleanup(&r);
    assert_int_equal(store_step_first_unfinished(f->s, id, NULL, &st, &e), 0);
    assert_int_equal(st.seq, 2);
    assert_int_equal(st.state, STORE_STEP_FAILED);
    assert_string_equal(st.error, "VM_MIGRATE_FAILED: no memory");
    store_step_cleanup(&st);
    assert_int_equal(store_journal_done(f->s, id, 2, NULL, &e), PP_ESTATE);
    assert_int_equal(store_rollout_set_state(f->s, id, STORE_ROLLOUT_RUNNING, NULL, &e), 0);
    assert_int_equal(store_journal_intent(f->s, id, 2, "{\"to\":\"h9\"}", NULL, &e), 0);
    assert_int_equal(store_step_get(f->s, id, 2, &st, &e), 0);
    assert_int_equal(st.attempts, 2);
    assert_null(st.error);
    assert_string_equal(st.params_json, "{\"to\":\"h9\"}");
    store_step_cleanup(&st);
    assert_int_equal(store_journal_done(f->s, id, 2, NULL, &e), 0);
    assert_int_equal(store_journal_skip(f->s, id, 3, "live patch covers it", &e), 0);
    assert_int_equal(store_step_first_unfinished(f->s, id, NULL, &st, &e), PP_ENOTFOUND);
}

/* test_rollout_journal's end: listing, final states, deletion (id has 5 steps). */
static void check_listing_and_final(struct fx *f, const char *id,
                                    const struct store_step_spec *more)
{
    struct err e = {0};
    struct store_step_list sl = {0};
    /* Listing and final states. */
    assert_int_equal(
        store_rollout_create(
            f->s,
            &(struct store_rollout_spec){.id = "second", .plan_json = "[]", .policy = "return"},
            NULL, 0, NULL, &e),
        0);
    struct store_rollout_list rl = {0};
    assert_int_equal(store_rollouts_unfinished(f->s, &rl, &e), 0);
    assert_int_equal(rl.n, 1);
    assert_string_equal(rl.items[0].id, id);
    store_rollout_list_cleanup(&rl);
    assert_int_equal(store_rollout_list(f->s, STORE_ROLLOUT_MASK_ALL, 0, &rl, &e), 0);
    assert_int_equal(rl.n, 2);
    assert_string_equal(rl.items[0].id, "second"); /* newest first */
    store_rollout_list_cleanup(&rl);
    assert_int_equal(store_rollout_list(f->s, STORE_ROLLOUT_BIT(STORE_ROLLOUT_PLANNED), 0, &rl, &e),
                     0);
    assert_int_equal(rl.n, 1);
    assert_string_equal(rl.items[0].id, "second");
    store_rollout_list_cleanup(&rl);
    assert_int_equal(store_rollout_list(f->s, STORE_ROLLOUT_MASK_ALL, 1, &rl, &e), 0);
    assert_int_equal(rl.n, 1);
    store_rollout_list_cleanup(&rl);
    assert_int_equal(store_rollout_delete(f->s, id, &e), PP_ESTATE);
    assert_int_equal(store_rollout_set_state(f->s, id, STORE_ROLLOUT_PLANNED, NULL, &e), PP_ESTATE);
    assert_int_equal(store_rollout_set_state(f->s, id, STORE_ROLLOUT_DONE, NULL, &e), 0);
    assert_int_equal(store_rollout_set_state(f->s, id, STORE_ROLLOUT_RUNNING, NULL, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "already done"));
    assert_int_equal(store_steps_append(f->s, id, more, 1, NULL, &e), PP_ESTATE);
    assert_int_equal(store_rollout_set_state(f->s, "nope", STORE_ROLLOUT_DONE, NULL, &e),
                     PP_ENOTFOUND);
    assert_int_equal(store_rollout_delete(f->s, id, &e), 0);
    assert_int_equal(store_steps_list(f->s, id, NULL, &sl, &e), 0);
    assert_int_equal(sl.n, 0);
    store_step_list_cleanup(&sl);
    assert_int_equal(store_integrity_check(f->s, &e), 0);
}

/* State names round-trip. */
static void check_state_names(void)
{
    for (int i = 0; i < STORE_ROLLOUT_NSTATES; i++) {
        enum store_rollout_state x;
        assert_int_equal(store_rollout_state_parse(store_rollout_state_name(i), &x), 0);
        assert_int_equal((int)x, i);
    }
    enum store_step_state ss;
    assert_int_equal(store_step_state_parse("intent", &ss), 0);
    assert_int_equal(ss, STORE_STEP_INTENT);
    assert_int_equal(store_step_state_parse("bogus", &ss), PP_EINVAL);
    assert_null(store_rollout_state_name(STORE_ROLLOUT_NSTATES));
}

static void test_rollout_journal(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    char *id = NULL;
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.plan_json = "{\"pools\":[\"prod\",\"lab\"]}",
                                                      .policy = "minimal"},
                         three_steps, 3, &id, &e),
                     0);
    assert_non_null(id);
    assert_int_equal(strlen(id), 36); /* a generated UUID */
    struct store_rollout r = {0};
    assert_int_equal(store_rollout_get(f->s, id, &r, &e), 0);
    assert_int_equal(r.state, STORE_ROLLOUT_PLANNED);
    assert_string_equal(r.plan_json, "{\"pools\":[\"prod\",\"lab\"]}");
    assert_string_equal(r.policy, "minimal");
    assert_null(r.error);
    store_rollout_cleanup(&r);
    /* Duplicate id, bad JSON, missing pieces. */
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.id = id, .plan_json = "{}", .policy = "x"},
                         NULL, 0, NULL, &e),
                     PP_EINVAL);
    assert_non_null(strstr(e.msg, "already exists"));
    assert_int_equal(
        store_rollout_create(
            f->s, &(struct store_rollout_spec){.id = "bad", .plan_json = "{nope", .policy = "x"},
            NULL, 0, NULL, &e),
        PP_EINVAL);
    assert_non_null(strstr(e.msg, "not valid JSON"));
    assert_int_equal(store_rollout_get(f->s, "bad", &r, &e), PP_ENOTFOUND);
    /* Steps. */
    struct store_step_list sl = {0};
    assert_int_equal(store_steps_list(f->s, id, NULL, &sl, &e), 0);
    assert_int_equal(sl.n, 3);
    assert_int_equal(sl.items[0].seq, 1);
    assert_string_equal(sl.items[0].kind, "resolve");
    assert_null(sl.items[0].host);
    assert_string_equal(sl.items[1].params_json, "{}");
    assert_string_equal(sl.items[2].pool, "lab");
    assert_int_equal(sl.items[2].state, STORE_STEP_PENDING);
    store_step_list_cleanup(&sl);
    assert_int_equal(store_steps_list(f->s, id, "lab", &sl, &e), 0);
    assert_int_equal(sl.n, 1);
    assert_int_equal(sl.items[0].seq, 3);
    store_step_list_cleanup(&sl);
    /* Only pending steps cannot be marked done. */
    assert_int_equal(store_journal_done(f->s, id, 1, NULL, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "is pending"));
    assert_int_equal(store_journal_intent(f->s, id, 99, NULL, NULL, &e), PP_ENOTFOUND);
    assert_int_equal(store_journal_intent(f->s, "nope", 1, NULL, NULL, &e), PP_ENOTFOUND);
    assert_int_equal(store_journal_intent(f->s, id, 1, NULL, "{bad", &e), PP_EINVAL);
    /* Never inside a caller's transaction. */
    assert_int_equal(store_tx_begin(f->s, &e), 0);
    assert_int_equal(store_journal_intent(f->s, id, 1, NULL, NULL, &e), PP_ESTATE);
    store_tx_rollback(f->s);

    assert_int_equal(store_rollout_set_state(f->s, id, STORE_ROLLOUT_RUNNING, NULL, &e), 0);
    clock_advance(f->clock, 100);
    assert_int_equal(store_journal_intent(f->s, id, 1, NULL, "{\"ha\":true}", &e), 0);
    struct store_step st = {0};
    assert_int_equal(store_step_first_unfinished(f->s, id, NULL, &st, &e), 0);
    assert_int_equal(st.seq, 1);
    assert_int_equal(st.state, STORE_STEP_INTENT);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.intent_at_ms, T0 + 100);
    assert_int_equal(st.done_at_ms, 0);
    assert_string_equal(st.undo_json, "{\"ha\":true}");
    store_step_cleanup(&st);
    clock_advance(f->clock, 100);
    assert_int_equal(store_journal_done(f->s, id, 1, "{\"ok\":1}", &e), 0);
    /* A done step's harm is never repeated. */
    assert_int_equal(store_journal_intent(f->s, id, 1, NULL, NULL, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "is done"));
    assert_int_equal(store_journal_done(f->s, id, 1, NULL, &e), PP_ESTATE);
    assert_int_equal(store_journal_fail(f->s, id, 1, "x", &e), PP_ESTATE);
    assert_int_equal(store_journal_skip(f->s, id, 1, NULL, &e), PP_ESTATE);
    assert_int_equal(store_step_get(f->s, id, 1, &st, &e), 0);
    assert_int_equal(st.state, STORE_STEP_DONE);
    assert_string_equal(st.result_json, "{\"ok\":1}");
    assert_int_equal(st.done_at_ms, T0 + 200);
    store_step_cleanup(&st);
    /* Per pool: prod resumes at 2, lab at 3. */
    assert_int_equal(store_step_first_unfinished(f->s, id, "prod", &st, &e), 0);
    assert_int_equal(st.seq, 2);
    store_step_cleanup(&st);
    assert_int_equal(store_step_first_unfinished(f->s, id, "lab", &st, &e), 0);
    assert_int_equal(st.seq, 3);
    store_step_cleanup(&st);

    check_fail_retry(f, id);
    /* Appending steps continues the numbering. */
    int64_t first = 0;
    const struct store_step_spec more[] = {{.pool = "prod", .kind = "clean"},
                                           {.pool = "prod", .kind = "enable", .host = "h1"}};
    assert_int_equal(store_steps_append(f->s, id, more, 2, &first, &e), 0);
    assert_int_equal(first, 4);
    assert_int_equal(store_step_first_unfinished(f->s, id, NULL, &st, &e), 0);
    assert_int_equal(st.seq, 4);
    store_step_cleanup(&st);
    const struct store_step_spec bad[] = {{.pool = "prod", .kind = "clean"},
                                          {.pool = "prod", .kind = "x", .params_json = "[1,"}};
    assert_int_equal(store_steps_append(f->s, id, bad, 2, NULL, &e), PP_EINVAL);
    assert_int_equal(store_steps_list(f->s, id, NULL, &sl, &e), 0);
    assert_int_equal(sl.n, 5); /* the failed append left nothing behind */
    store_step_list_cleanup(&sl);
    assert_int_equal(store_steps_append(f->s, "nope", more, 2, NULL, &e), PP_ENOTFOUND);

    check_listing_and_final(f, id, more);
    free(id);

    check_state_names();
}

static void test_rollout_create_is_atomic(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    const struct store_step_spec steps[] = {
        {.pool = "p", .kind = "a"},
        {.pool = "p", .kind = "b"},
        {.pool = "p", .kind = ""}, /* invalid */
    };
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.id = "r", .plan_json = "{}", .policy = "x"},
                         steps, 3, NULL, &e),
                     PP_EINVAL);
    struct store_rollout r = {0};
    assert_int_equal(store_rollout_get(f->s, "r", &r, &e), PP_ENOTFOUND);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM steps"), 0);
}

static void test_undo_list(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    const struct store_step_spec steps[] = {
        {.pool = "p", .kind = "resolve"}, {.pool = "p", .kind = "resolve"},
        {.pool = "q", .kind = "resolve"}, {.pool = "p", .kind = "resolve"},
        {.pool = "p", .kind = "apply"},
    };
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.id = "r", .plan_json = "{}", .policy = "x"},
                         steps, 5, NULL, &e),
                     0);
    assert_int_equal(store_journal_intent(f->s, "r", 1, NULL, "{\"ha\":\"on\"}", &e), 0);
    assert_int_equal(store_journal_done(f->s, "r", 1, NULL, &e), 0);
    assert_int_equal(store_journal_intent(f->s, "r", 2, NULL, "{\"cd\":\"vm1\"}", &e), 0);
    assert_int_equal(store_journal_done(f->s, "r", 2, NULL, &e), 0);
    assert_int_equal(store_journal_intent(f->s, "r", 3, NULL, "{\"q\":1}", &e), 0);
    /* Step 4 has an undo but failed after its intent: it may have taken effect. */
    assert_int_equal(store_journal_intent(f->s, "r", 4, NULL, "{\"resume\":\"vm2\"}", &e), 0);
    assert_int_equal(store_journal_fail(f->s, "r", 4, "boom", &e), 0);
    /* Step 5 has no undo. */
    assert_int_equal(store_journal_intent(f->s, "r", 5, NULL, NULL, &e), 0);

    struct store_step_list l = {0};
    assert_int_equal(store_undo_list(f->s, "r", NULL, &l, &e), 0);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.items[0].seq, 4);
    assert_int_equal(l.items[1].seq, 3);
    assert_int_equal(l.items[2].seq, 2);
    assert_int_equal(l.items[3].seq, 1);
    assert_string_equal(l.items[3].undo_json, "{\"ha\":\"on\"}");
    store_step_list_cleanup(&l);
    assert_int_equal(store_undo_list(f->s, "r", "p", &l, &e), 0);
    assert_int_equal(l.n, 3);
    store_step_list_cleanup(&l);
    /* Replay 4 then 2: they leave the list; a second mark is refused. */
    assert_int_equal(store_undo_mark_done(f->s, "r", 4, &e), 0);
    assert_int_equal(store_undo_mark_done(f->s, "r", 2, &e), 0);
    assert_int_equal(store_undo_mark_done(f->s, "r", 2, &e), PP_ESTATE);
    assert_int_equal(store_undo_mark_done(f->s, "r", 5, &e), PP_ESTATE); /* no undo */
    assert_int_equal(store_undo_mark_done(f->s, "r", 77, &e), PP_ENOTFOUND);
    assert_int_equal(store_undo_list(f->s, "r", NULL, &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].seq, 3);
    assert_int_equal(l.items[1].seq, 1);
    store_step_list_cleanup(&l);
    struct store_step st = {0};
    assert_int_equal(store_step_get(f->s, "r", 4, &st, &e), 0);
    assert_int_equal(st.undone_at_ms, T0);
    store_step_cleanup(&st);
}

static void test_events(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store_opts o = {.clock = f->clock, .events_keep = 10};
    assert_int_equal(store_open(f->path, &o, &f->s, &e), 0);
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.id = "r", .plan_json = "{}", .policy = "x"},
                         three_steps, 3, NULL, &e),
                     0);
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.id = "r2", .plan_json = "{}", .policy = "x"},
                         NULL, 0, NULL, &e),
                     0);
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(store_event_add(f->s,
                                     &(struct store_event_spec){.rollout_id = "r",
                                                                .step_seq = 2,
                                                                .pool = "prod",
                                                                .host = "h1",
                                                                .step = "evacuate",
                                                                .percent = 40,
                                                                .message = "moving vm1"},
                                     &id1, &e),
                     0);
    clock_advance(f->clock, 7);
    assert_int_equal(store_event_add(f->s,
                                     &(struct store_event_spec){
                                         .rollout_id = "r2", .percent = -1, .message = "started"},
                                     &id2, &e),
                     0);
    assert_true(id2 > id1);
    struct store_event_list l = {0};
    assert_int_equal(store_events_list(f->s, "r", 0, 0, &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].id, id1);
    assert_int_equal(l.items[0].step_seq, 2);
    assert_string_equal(l.items[0].pool, "prod");
    assert_string_equal(l.items[0].host, "h1");
    assert_string_equal(l.items[0].step, "evacuate");
    assert_int_equal(l.items[0].percent, 40);
    assert_string_equal(l.items[0].message, "moving vm1");
    assert_int_equal(l.items[0].at_ms, T0);
    store_event_list_cleanup(&l);
    assert_int_equal(store_events_list(f->s, NULL, id1, 0, &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].rollout_id, "r2");
    assert_int_equal(l.items[0].step_seq, 0);
    assert_null(l.items[0].pool);
    assert_int_equal(l.items[0].percent, -1);
    store_event_list_cleanup(&l);
    /* Errors. */
    assert_int_equal(
        store_event_add(f->s, &(struct store_event_spec){.rollout_id = "nope", .message = "m"},
                        NULL, &e),
        PP_ENOTFOUND);
    assert_int_equal(
        store_event_add(
            f->s, &(struct store_event_spec){.rollout_id = "r", .percent = 101, .message = "m"},
            NULL, &e),
        PP_EINVAL);
    /* The cap: 300 more events on r keep at most keep + 63 (pruned every 64 adds). */
    for (int i = 0; i < 300; i++) {
        char m[32];
        snprintf(m, sizeof(m), "e%d", i);
        assert_int_equal(store_event_add(f->s,
                                         &(struct store_event_spec){
                                             .rollout_id = "r", .percent = i % 101, .message = m},
                                         NULL, &e),
                         0);
    }
    int64_t n = raw_int(f->s->db, "SELECT count(*) FROM events WHERE rollout_id = 'r'");
    assert_true(n >= 10 && n < 10 + 64);
    int64_t pruned = 0;
    assert_int_equal(store_events_prune(f->s, "r", 10, &pruned, &e), 0);
    assert_int_equal(pruned, n - 10);
    assert_int_equal(store_events_list(f->s, "r", 0, 3, &l, &e), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].message, "e290"); /* the newest ten remain, in order */
    store_event_list_cleanup(&l);
    assert_int_equal(store_events_prune(f->s, NULL, 1, &pruned, &e), 0);
    assert_int_equal(pruned, 9);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM events"), 2);
    assert_int_equal(store_events_prune(f->s, NULL, -1, NULL, &e), PP_EINVAL);
}

/* ---------------------------------------------------------------- connections */

static void test_transactions(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    struct store_pool_spec ps = {
        .name = "a", .master_url = "https://a/", .username = "u", .password = "p"};
    assert_int_equal(store_tx_commit(f->s, &e), PP_ESTATE);
    assert_int_equal(store_tx_begin(f->s, &e), 0);
    assert_int_equal(store_tx_begin(f->s, &e), PP_ESTATE);
    assert_int_equal(store_pool_add(f->s, &ps, NULL, &e), 0);
    assert_int_equal(store_setting_set(f->s, "k", "v", &e), 0);
    store_tx_rollback(f->s);
    struct store_pool p = {0};
    char *v = NULL;
    assert_int_equal(store_pool_get_by_name(f->s, "a", &p, &e), PP_ENOTFOUND);
    assert_int_equal(store_setting_get(f->s, "k", &v, &e), PP_ENOTFOUND);
    assert_int_equal(store_tx_begin(f->s, &e), 0);
    assert_int_equal(store_pool_add(f->s, &ps, NULL, &e), 0);
    /* A failing write inside leaves the transaction usable. */
    assert_int_equal(store_pool_add(f->s, &ps, NULL, &e), PP_EINVAL);
    assert_int_equal(store_setting_set(f->s, "k", "v", &e), 0);
    assert_int_equal(store_tx_commit(f->s, &e), 0);
    assert_int_equal(store_pool_get_by_name(f->s, "a", &p, &e), 0);
    store_pool_cleanup(&p);
    assert_int_equal(store_setting_get(f->s, "k", &v, &e), 0);
    free(v);
    /* A multi-statement operation failing inside the caller's transaction leaves no part of
     * itself behind, and the transaction goes on. */
    const struct store_step_spec bad_steps[] = {{.pool = "p", .kind = "a"},
                                                {.pool = "p", .kind = "b", .params_json = "{"}};
    assert_int_equal(store_tx_begin(f->s, &e), 0);
    assert_int_equal(store_setting_set(f->s, "k3", "v", &e), 0);
    assert_int_equal(
        store_rollout_create(
            f->s, &(struct store_rollout_spec){.id = "half", .plan_json = "{}", .policy = "x"},
            bad_steps, 2, NULL, &e),
        PP_EINVAL);
    assert_int_equal(store_tx_commit(f->s, &e), 0);
    struct store_rollout r = {0};
    assert_int_equal(store_rollout_get(f->s, "half", &r, &e), PP_ENOTFOUND);
    assert_int_equal(raw_int(f->s->db, "SELECT count(*) FROM steps"), 0);
    assert_int_equal(store_setting_get(f->s, "k3", &v, &e), 0);
    free(v);
    /* An open transaction is rolled back by close. */
    assert_int_equal(store_tx_begin(f->s, &e), 0);
    assert_int_equal(store_setting_set(f->s, "k2", "v", &e), 0);
    store_close(f->s);
    f->s = open_ok(f);
    assert_int_equal(store_setting_get(f->s, "k2", &v, &e), PP_ENOTFOUND);
}

static void test_readonly_connection(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    struct store *ro = NULL;
    assert_int_equal(store_open_readonly(f->path, NULL, &ro, &e), 0);
    assert_true(store_is_readonly(ro));
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = "a",
                                                              .master_url = "https://a/",
                                                              .username = "u",
                                                              .password = "p"},
                                    NULL, &e),
                     0);
    /* The reader sees the writer's commit. */
    struct store_pool_list l = {0};
    assert_int_equal(store_pool_list(ro, &l, &e), 0);
    assert_int_equal(l.n, 1);
    store_pool_list_cleanup(&l);
    /* A reader holding a snapshot does not block the writer. */
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.id = "r", .plan_json = "{}", .policy = "x"},
                         three_steps, 3, NULL, &e),
                     0);
    assert_int_equal(store_journal_intent(f->s, "r", 1, NULL, NULL, &e), 0);
    struct store_step st = {0};
    assert_int_equal(store_step_get(ro, "r", 1, &st, &e), 0);
    assert_int_equal(st.state, STORE_STEP_INTENT);
    store_step_cleanup(&st);
    /* Writes are refused. */
    assert_int_equal(store_setting_set(ro, "k", "v", &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "read-only"));
    assert_int_equal(store_pool_add(ro,
                                    &(struct store_pool_spec){.name = "b",
                                                              .master_url = "https://b/",
                                                              .username = "u",
                                                              .password = "p"},
                                    NULL, &e),
                     PP_ESTATE);
    assert_int_equal(store_journal_intent(ro, "r", 2, NULL, NULL, &e), PP_ESTATE);
    assert_int_equal(store_tx_begin(ro, &e), PP_ESTATE);
    assert_int_equal(store_event_add(ro,
                                     &(struct store_event_spec){.rollout_id = "r", .message = "m"},
                                     NULL, &e),
                     PP_ESTATE);
    store_close(ro);
}

static void test_backup(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    assert_int_equal(store_pool_add(f->s,
                                    &(struct store_pool_spec){.name = "a",
                                                              .master_url = "https://a/",
                                                              .username = "u",
                                                              .password = "p"},
                                    NULL, &e),
                     0);
    char bk[200];
    snprintf(bk, sizeof(bk), "%s/backup.db", f->dir);
    assert_int_equal(store_backup(f->s, bk, &e), 0);
    assert_int_equal(file_mode(bk), 0600);
    assert_int_equal(store_backup(f->s, bk, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "already exists"));
    struct store *b = NULL;
    struct store_opts o = {.clock = f->clock};
    assert_int_equal(store_open(bk, &o, &b, &e), 0);
    struct store_pool p = {0};
    assert_int_equal(store_pool_get_by_name(b, "a", &p, &e), 0);
    assert_string_equal(p.password, "p");
    store_pool_cleanup(&p);
    assert_int_equal(store_integrity_check(b, &e), 0);
    store_close(b);
    char bad[200];
    snprintf(bad, sizeof(bad), "%s/no/such/dir.db", f->dir);
    assert_int_equal(store_backup(f->s, bad, &e), PP_EIO);
}

struct reader_arg {
    const char *path;
    int reads;
    int errors;
    int went_back; /* a step seen done that later read as not done */
    char msg[ERR_MSG_MAX];
};

/* An HTTP thread: its own read-only connection, reading while the writer journals. */
static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    struct err e = {0};
    struct store *ro = NULL;
    if (store_open_readonly(a->path, NULL, &ro, &e)) {
        a->errors++;
        snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
        return NULL;
    }
    int64_t done_seen = 0;
    for (int i = 0; i < 400; i++) {
        struct store_step_list l = {0};
        if (store_steps_list(ro, "r", NULL, &l, &e)) {
            a->errors++;
            snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
            break;
        }
        int64_t done = 0;
        for (size_t k = 0; k < l.n; k++)
            done += l.items[k].state == STORE_STEP_DONE;
        if (done < done_seen)
            a->went_back++;
        done_seen = done;
        store_step_list_cleanup(&l);
        a->reads++;
    }
    store_close(ro);
    return NULL;
}

static void test_concurrent_reader(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    f->s = open_ok(f);
    struct store_step_spec steps[100];
    for (int i = 0; i < 100; i++)
        steps[i] = (struct store_step_spec){.pool = "p", .kind = "k"};
    assert_int_equal(store_rollout_create(
                         f->s,
                         &(struct store_rollout_spec){.id = "r", .plan_json = "{}", .policy = "x"},
                         steps, 100, NULL, &e),
                     0);
    struct reader_arg a = {.path = f->path};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &a), 0);
    for (int64_t seq = 1; seq <= 100; seq++) {
        assert_int_equal(store_journal_intent(f->s, "r", seq, NULL, NULL, &e), 0);
        assert_int_equal(store_journal_done(f->s, "r", seq, NULL, &e), 0);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    if (a.errors)
        fail_msg("reader: %s", a.msg);
    assert_int_equal(a.reads, 400);
    assert_int_equal(a.went_back, 0);
}

/* Two processes opening a fresh database at once: both succeed, the schema is created once. */
static void test_concurrent_first_open(void **state)
{
    struct fx *f = *state;
    pid_t pids[4];
    for (int i = 0; i < 4; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct store *s = NULL;
            struct err e = {0};
            int rc = store_open(f->path, NULL, &s, &e);
            if (rc == 0)
                rc = store_setting_set_int(s, "child", i, &e);
            store_close(s);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 4; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    f->s = open_ok(f);
    assert_int_equal(raw_int(f->s->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(store_integrity_check(f->s, NULL), 0);
    int64_t v = -1;
    assert_int_equal(store_setting_get_int(f->s, "child", -1, &v, NULL), 0);
    assert_true(v >= 0 && v < 4);
}

/* ---------------------------------------------------------------- crash safety */

#define CRASH_KILLS 50
#define CRASH_STEPS 20

/* What the child reports after a call returned (so it is committed). */
struct ack {
    char kind; /* 'R' opened, 'C' created, 'I' intent, 'D' done, 'F' rollout finished */
    char rid[15];
    int64_t seq;
};

static void send_ack(int fd, char kind, const char *rid, int64_t seq)
{
    struct ack a;
    memset(&a, 0, sizeof(a));
    a.kind = kind;
    snprintf(a.rid, sizeof(a.rid), "%s", rid);
    a.seq = seq;
    if (write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
        _exit(4);
}

/* The child: resume or start rollouts and journal steps until killed.  Never returns. */
static void crash_child(const char *path, int fd)
{
    struct store *s = NULL;
    struct err e = {0};
    if (store_open(path, NULL, &s, &e))
        _exit(3);
    send_ack(fd, 'R', "", 0);
    for (int iter = 0; iter < 100000; iter++) {
        struct store_rollout_list l = {0};
        if (store_rollout_list(s, STORE_ROLLOUT_MASK_UNFINISHED, 0, &l, &e))
            _exit(3);
        char rid[16];
        if (l.n == 0) {
            struct store_rollout_list all = {0};
            if (store_rollout_list(s, STORE_ROLLOUT_MASK_ALL, 0, &all, &e))
                _exit(3);
            snprintf(rid, sizeof(rid), "r%04zu", all.n + 1);
            store_rollout_list_cleanup(&all);
            struct store_step_spec steps[CRASH_STEPS];
            for (int i = 0; i < CRASH_STEPS; i++)
                steps[i] = (struct store_step_spec){
                    .pool = "p", .kind = "migrate", .host = "h", .params_json = "{}"};
            if (store_rollout_create(
                    s,
                    &(struct store_rollout_spec){.id = rid, .plan_json = "{}", .policy = "minimal"},
                    steps, CRASH_STEPS, NULL, &e))
                _exit(3);
            send_ack(fd, 'C', rid, 0);
            if (store_rollout_set_state(s, rid, STORE_ROLLOUT_RUNNING, NULL, &e))
                _exit(3);
        } else {
            snprintf(rid, sizeof(rid), "%s", l.items[0].id);
            /* Killed between creating and starting it. */
            if (l.items[0].state == STORE_ROLLOUT_PLANNED &&
                store_rollout_set_state(s, rid, STORE_ROLLOUT_RUNNING, NULL, &e))
                _exit(3);
        }
        store_rollout_list_cleanup(&l);
        struct store_step st = {0};
        int rc = store_step_first_unfinished(s, rid, NULL, &st, &e);
        if (rc == PP_ENOTFOUND) {
            if (store_rollout_set_state(s, rid, STORE_ROLLOUT_DONE, NULL, &e))
                _exit(3);
            send_ack(fd, 'F', rid, 0);
            continue;
        }
        if (rc)
            _exit(3);
        char undo[64], result[64];
        snprintf(undo, sizeof(undo), "{\"restore\":%lld}", (long long)st.seq);
        snprintf(result, sizeof(result), "{\"moved\":%lld}", (long long)st.seq);
        if (st.state == STORE_STEP_PENDING) {
            if (store_journal_intent(s, rid, st.seq, NULL, undo, &e))
                _exit(3);
            send_ack(fd, 'I', rid, st.seq);
        }
        struct store_event_spec ev = {.rollout_id = rid,
                                      .step_seq = st.seq,
                                      .pool = "p",
                                      .percent = 50,
                                      .message = "working"};
        if (store_event_add(s, &ev, NULL, &e))
            _exit(3);
        if (store_journal_done(s, rid, st.seq, result, &e))
            _exit(3);
        send_ack(fd, 'D', rid, st.seq);
        store_step_cleanup(&st);
    }
    store_close(s);
    _exit(0);
}

/* Check every rollout in the database for torn or inconsistent rows. */
static void check_journal_shape(struct store *s, int *n_rollouts, int *n_done_steps)
{
    struct err e = {0};
    struct store_rollout_list rl = {0};
    assert_int_equal(store_rollout_list(s, STORE_ROLLOUT_MASK_ALL, 0, &rl, &e), 0);
    *n_rollouts = (int)rl.n;
    int unfinished = 0;
    for (size_t i = 0; i < rl.n; i++) {
        struct store_step_list sl = {0};
        assert_int_equal(store_steps_list(s, rl.items[i].id, NULL, &sl, &e), 0);
        assert_int_equal(sl.n, CRASH_STEPS); /* created all at once or not at all */
        if (rl.items[i].state != STORE_ROLLOUT_DONE)
            unfinished++;
        int phase = 0; /* 0: done steps, 1: after the (at most one) intent, pending only */
        for (size_t k = 0; k < sl.n; k++) {
            struct store_step *x = &sl.items[k];
            char undo[64], result[64];
            snprintf(undo, sizeof(undo), "{\"restore\":%lld}", (long long)x->seq);
            snprintf(result, sizeof(result), "{\"moved\":%lld}", (long long)x->seq);
            assert_int_equal(x->seq, (int64_t)k + 1);
            switch (x->state) {
            case STORE_STEP_DONE:
                assert_int_equal(phase, 0);
                assert_true(x->intent_at_ms > 0 && x->done_at_ms > 0);
                assert_string_equal(x->undo_json, undo);
                assert_string_equal(x->result_json, result);
                assert_int_equal(x->attempts, 1);
                (*n_done_steps)++;
                break;
            case STORE_STEP_INTENT:
                assert_int_equal(phase, 0);
                phase = 1;
                assert_true(x->intent_at_ms > 0);
                assert_int_equal(x->done_at_ms, 0);
                assert_string_equal(x->undo_json, undo);
                assert_null(x->result_json);
                break;
            case STORE_STEP_PENDING:
                phase = 1;
                assert_int_equal(x->intent_at_ms, 0);
                assert_null(x->undo_json);
                assert_null(x->result_json);
                assert_int_equal(x->attempts, 0);
                break;
            default:
                fail_msg("unexpected state %d", x->state);
            }
        }
        if (rl.items[i].state == STORE_ROLLOUT_DONE)
            assert_int_equal(phase, 0);
        store_step_list_cleanup(&sl);
    }
    assert_true(unfinished <= 1); /* the child finishes one rollout before the next */
    store_rollout_list_cleanup(&rl);
}

static void test_crash_safety(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct rng r;
    rng_seed(&r, 20261121);
    struct ack *acks = NULL;
    size_t n_acks = 0, cap = 0;
    int killed = 0;
    signal(SIGPIPE, SIG_IGN);
    for (int round = 0; round < CRASH_KILLS; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(f->path, p[1]);
        }
        close(p[1]);
        /*
         * Let it run 0..40 ms, then kill it wherever it is: counted from the fork in even rounds
         * (kills land while opening and migrating too), from its "opened" report in odd ones (so
         * slow builds, e.g. under sanitizers, still get kills in the middle of journaling).
         */
        struct ack a;
        ssize_t got;
        if (round % 2 == 1) {
            got = read(p[0], &a, sizeof(a));
            assert_int_equal(got, (ssize_t)sizeof(a));
            assert_int_equal(a.kind, 'R');
            /* and its first journal write, so that a loaded machine (slow fsyncs) still gets
             * kills between journal writes rather than only before the first */
            got = read(p[0], &a, sizeof(a));
            if (got == (ssize_t)sizeof(a) && a.kind != 'R') {
                if (n_acks == cap) {
                    cap = cap ? cap * 2 : 256;
                    acks = xreallocarray(acks, cap, sizeof(*acks));
                }
                acks[n_acks++] = a;
            }
        }
        uint64_t us = rng_below(&r, 40000);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(us * 1000)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
            killed++;
        else
            assert_int_equal(WEXITSTATUS(status), 0); /* an error in the child fails the test */
        while ((got = read(p[0], &a, sizeof(a))) == (ssize_t)sizeof(a)) {
            if (a.kind == 'R')
                continue;
            if (n_acks == cap) {
                cap = cap ? cap * 2 : 256;
                acks = xreallocarray(acks, cap, sizeof(*acks));
            }
            acks[n_acks++] = a;
        }
        close(p[0]);

        /* Reopen as a restarted daemon would, and check. */
        struct store_opts o = {.clock = f->clock};
        struct store *s = NULL;
        assert_int_equal(store_open(f->path, &o, &s, &e), 0);
        assert_int_equal(store_integrity_check(s, &e), 0);
        int n_rollouts = 0, n_done = 0;
        check_journal_shape(s, &n_rollouts, &n_done);
        /* Nothing acknowledged (committed) was lost. */
        for (size_t i = 0; i < n_acks; i++) {
            struct store_rollout ro = {0};
            assert_int_equal(store_rollout_get(s, acks[i].rid, &ro, &e), 0);
            if (acks[i].kind == 'F')
                assert_int_equal(ro.state, STORE_ROLLOUT_DONE);
            store_rollout_cleanup(&ro);
            if (acks[i].kind == 'I' || acks[i].kind == 'D') {
                struct store_step st = {0};
                assert_int_equal(store_step_get(s, acks[i].rid, acks[i].seq, &st, &e), 0);
                if (acks[i].kind == 'D')
                    assert_int_equal(st.state, STORE_STEP_DONE);
                else
                    assert_true(st.state == STORE_STEP_INTENT || st.state == STORE_STEP_DONE);
                store_step_cleanup(&st);
            }
        }
        store_close(s);
    }
    assert_int_equal(killed, CRASH_KILLS);
    /* The kills interrupted real work: many steps were journaled across them. */
    assert_true(n_acks >= CRASH_KILLS / 2);
    free(acks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_private_wal_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_loose_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_damaged_or_unusable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_schema_migrates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_4_cancel_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_6_step_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps_scan_params_as_json_extract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_8_rv_covering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_7_plan_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_remove_blocked_by_rollout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_id_and_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_create_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_safety, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
