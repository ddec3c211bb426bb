/* SPDX-License-Identifier: MIT */
/*
 * store_journal.c - rollouts, their steps and the journal that makes a rollout survive a crash:
 * an intent is committed (fsync'd, synchronous=FULL) before the action it announces is sent,
 * done / failed / skipped after; the undo list replays what resolutions changed; progress
 * events keep a bounded history per rollout.
 *
 * Every journal transition is one UPDATE guarded by the allowed "from" states, so it is atomic
 * and a row can never be half-written: a crash leaves each step either before or after it.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/uuid.h"

/* ---------------------------------------------------------------- state names */

static const char *const rollout_state_names[STORE_ROLLOUT_NSTATES] = {
    "planned", "running", "halted", "cancelling", "cancelled", "done", "failed", "cancel_failed",
};
static const char *const step_state_names[] = {
    "pending", "intent", "done", "failed", "skipped",
};
#define N_STEP_STATES (int)(sizeof(step_state_names) / sizeof(step_state_names[0]))

const char *store_rollout_state_name(enum store_rollout_state st)
{
    if ((int)st < 0 || (int)st >= STORE_ROLLOUT_NSTATES)
        return NULL;
    return rollout_state_names[st];
}

const char *store_step_state_name(enum store_step_state st)
{
    if ((int)st < 0 || (int)st >= N_STEP_STATES)
        return NULL;
    return step_state_names[st];
}

int store_rollout_state_parse(const char *name, enum store_rollout_state *out)
{
    for (int i = 0; name && i < STORE_ROLLOUT_NSTATES; i++) {
        if (strcmp(name, rollout_state_names[i]) == 0) {
            *out = (enum store_rollout_state)i;
            return 0;
        }
    }
    return PP_EINVAL;
}

int store_step_state_parse(const char *name, enum store_step_state *out)
{
    for (int i = 0; name && i < N_STEP_STATES; i++) {
        if (strcmp(name, step_state_names[i]) == 0) {
            *out = (enum store_step_state)i;
            return 0;
        }
    }
    return PP_EINVAL;
}

static bool rollout_state_final(enum store_rollout_state st)
{
    return st == STORE_ROLLOUT_CANCELLED || st == STORE_ROLLOUT_DONE || st == STORE_ROLLOUT_FAILED;
}

/* ---------------------------------------------------------------- statements */

static const char SQL_RO_EXISTS[] = "SELECT state FROM rollouts WHERE id = ?1";
static const char SQL_RO_INSERT[] =
    "INSERT INTO rollouts (id, created_at, updated_at, state, plan, policy) "
    "VALUES (?1, ?2, ?2, 'planned', ?3, ?4)";
/* Every write of a step that views show sets its change version rv to the rollout's highest + 1
 * (migration 6; index steps_by_rv): a reader that built a view at version V rereads only what
 * changed since (store_steps_changed, the rollout text in exec_json.c).  One writer at a time
 * (SQLite), so versions grow with commits. */
#define STEP_RV_NEXT "(SELECT coalesce(max(rv), 0) + 1 FROM steps WHERE rollout_id = ?1)"
static const char SQL_STEP_INSERT[] =
    "INSERT INTO steps (rollout_id, seq, pool, host, kind, params, state, created_at, rv) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, " STEP_RV_NEXT ")";
static const char SQL_STEP_MAXSEQ[] =
    "SELECT coalesce(max(seq), 0) FROM steps WHERE rollout_id = ?1";
#define RO_COLS "id, created_at, updated_at, state, plan, policy, error"
static const char SQL_RO_GET[] = "SELECT " RO_COLS " FROM rollouts WHERE id = ?1";
/* The same columns without the plan text (it can be megabytes): plan_json comes back NULL. */
#define RO_COLS_HEAD "id, created_at, updated_at, state, NULL, policy, error"
static const char SQL_RO_GET_HEAD[] = "SELECT " RO_COLS_HEAD " FROM rollouts WHERE id = ?1";
#define RO_MASK_WHERE                                                                              \
    "WHERE ((?1 >> (CASE state WHEN 'planned' THEN 0 WHEN 'running' THEN 1 WHEN 'halted' THEN 2 "  \
    "WHEN 'cancelling' THEN 3 WHEN 'cancelled' THEN 4 WHEN 'done' THEN 5 WHEN 'failed' THEN 6 "    \
    "ELSE 7 END)) & 1) = 1 "
static const char SQL_RO_LIST_NEW[] = "SELECT " RO_COLS " FROM rollouts " RO_MASK_WHERE
                                      "ORDER BY created_at DESC, rowid DESC LIMIT ?2";
static const char SQL_RO_LIST_HEADS[] = "SELECT " RO_COLS_HEAD " FROM rollouts " RO_MASK_WHERE
                                        "ORDER BY created_at DESC, rowid DESC LIMIT ?2";
static const char SQL_RO_PLAN[] = "SELECT plan FROM rollouts WHERE id = ?1";
static const char SQL_RO_LIST_OLD[] =
    "SELECT " RO_COLS " FROM rollouts " RO_MASK_WHERE "ORDER BY created_at, rowid LIMIT ?2";
static const char SQL_RO_SET_STATE[] =
    "UPDATE rollouts SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1";
static const char SQL_RO_DELETE[] = "DELETE FROM rollouts WHERE id = ?1";
static const char SQL_RO_SET_FINDINGS[] = "UPDATE rollouts SET findings = ?2 WHERE id = ?1";
static const char SQL_RO_FINDINGS[] = "SELECT findings FROM rollouts WHERE id = ?1";

#define STEP_COLS                                                                                  \
    "rollout_id, seq, pool, host, kind, params, state, undo, result, error, attempts, "            \
    "created_at, intent_at, done_at, undone_at"
static const char SQL_STEP_GET[] =
    "SELECT " STEP_COLS " FROM steps WHERE rollout_id = ?1 AND seq = ?2";
static const char SQL_STEP_LIST[] =
    "SELECT " STEP_COLS " FROM steps WHERE rollout_id = ?1 AND (?2 IS NULL OR pool = ?2) "
    "ORDER BY seq";
/* Two statements so that each can use its partial index (an "?2 IS NULL OR" cannot). */
static const char SQL_STEP_FIRST[] =
    "SELECT " STEP_COLS " FROM steps INDEXED BY steps_unfinished WHERE rollout_id = ?1 "
    "AND state NOT IN ('done', 'skipped') ORDER BY seq LIMIT 1";
static const char SQL_STEP_FIRST_POOL[] =
    "SELECT " STEP_COLS " FROM steps INDEXED BY steps_unfinished_by_pool "
    "WHERE rollout_id = ?1 AND pool = ?2 AND state NOT IN ('done', 'skipped') "
    "ORDER BY seq LIMIT 1";
static const char SQL_UNDO_LIST[] =
    "SELECT " STEP_COLS " FROM steps WHERE rollout_id = ?1 AND (?2 IS NULL OR pool = ?2) "
    "AND undo IS NOT NULL AND intent_at IS NOT NULL AND undone_at IS NULL ORDER BY seq DESC";
static const char SQL_STEP_STATE[] = "SELECT state FROM steps WHERE rollout_id = ?1 AND seq = ?2";

static const char SQL_J_INTENT[] =
    "UPDATE steps SET state = 'intent', attempts = attempts + 1, intent_at = ?3, rv = " STEP_RV_NEXT
    ", "
    "params = coalesce(?4, params), undo = coalesce(?5, undo), error = NULL, done_at = NULL "
    "WHERE rollout_id = ?1 AND seq = ?2 AND state IN ('pending', 'intent', 'failed')";
static const char SQL_J_DONE[] =
    "UPDATE steps SET state = 'done', done_at = ?3, result = ?4, rv = " STEP_RV_NEXT " "
    "WHERE rollout_id = ?1 AND seq = ?2 AND state = 'intent'";
static const char SQL_J_FAIL[] =
    "UPDATE steps SET state = 'failed', done_at = ?3, error = ?4, rv = " STEP_RV_NEXT " "
    "WHERE rollout_id = ?1 AND seq = ?2 AND state IN ('pending', 'intent')";
static const char SQL_J_SKIP[] =
    "UPDATE steps SET state = 'skipped', done_at = ?3, error = ?4, rv = " STEP_RV_NEXT " "
    "WHERE rollout_id = ?1 AND seq = ?2 AND state IN ('pending', 'intent', 'failed')";
static const char SQL_J_UNDONE[] =
    "UPDATE steps SET undone_at = ?3 WHERE rollout_id = ?1 AND seq = ?2 "
    "AND undo IS NOT NULL AND intent_at IS NOT NULL AND undone_at IS NULL";

static const char SQL_EV_ADD[] =
    "INSERT INTO events (rollout_id, step_seq, at, pool, host, step, percent, message) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id";
static const char SQL_EV_LIST[] =
    "SELECT id, rollout_id, step_seq, at, pool, host, step, percent, message FROM events "
    "WHERE (?1 IS NULL OR rollout_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_EV_PRUNE_ONE[] =
    "DELETE FROM events WHERE rollout_id = ?1 AND id <= (SELECT id FROM events "
    "WHERE rollout_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)";
static const char SQL_EV_PRUNE_ALL[] =
    "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
    "(PARTITION BY rollout_id ORDER BY id DESC) AS rn FROM events) WHERE rn > ?1)";

/* ---------------------------------------------------------------- rows */

static void rollout_from_row(sqlite3_stmt *st, void *item)
{
    struct store_rollout *r = item;
    r->id = store_col_dup(st, 0);
    r->created_at_ms = sqlite3_column_int64(st, 1);
    r->updated_at_ms = sqlite3_column_int64(st, 2);
    enum store_rollout_state rs = STORE_ROLLOUT_FAILED;
    store_rollout_state_parse((const char *)sqlite3_column_text(st, 3), &rs);
    r->state = rs;
    r->plan_json = store_col_dup(st, 4);
    r->policy = store_col_dup(st, 5);
    r->error = store_col_dup(st, 6);
}

static void step_from_row(sqlite3_stmt *st, void *item)
{
    struct store_step *x = item;
    x->rollout_id = store_col_dup(st, 0);
    x->seq = sqlite3_column_int64(st, 1);
    x->pool = store_col_dup(st, 2);
    x->host = store_col_dup(st, 3);
    x->kind = store_col_dup(st, 4);
    x->params_json = store_col_dup(st, 5);
    enum store_step_state ss = STORE_STEP_FAILED;
    store_step_state_parse((const char *)sqlite3_column_text(st, 6), &ss);
    x->state = ss;
    x->undo_json = store_col_dup(st, 7);
    x->result_json = store_col_dup(st, 8);
    x->error = store_col_dup(st, 9);
    x->attempts = sqlite3_column_int(st, 10);
    x->created_at_ms = sqlite3_column_int64(st, 11);
    x->intent_at_ms = sqlite3_column_int64(st, 12);
    x->done_at_ms = sqlite3_column_int64(st, 13);
    x->undone_at_ms = sqlite3_column_int64(st, 14);
}

void store_rollout_cleanup(struct store_rollout *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->plan_json);
    free(r->policy);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

void store_rollout_list_cleanup(struct store_rollout_list *l)
{
    STORE_LIST_CLEANUP(l, store_rollout_cleanup);
}

void store_step_cleanup(struct store_step *x)
{
    if (!x)
        return;
    free(x->rollout_id);
    free(x->pool);
    free(x->host);
    free(x->kind);
    free(x->params_json);
    free(x->undo_json);
    free(x->result_json);
    free(x->error);
    memset(x, 0, sizeof(*x));
}

void store_step_list_cleanup(struct store_step_list *l)
{
    STORE_LIST_CLEANUP(l, store_step_cleanup);
}

/* ---------------------------------------------------------------- rollouts */

/* The state of a rollout: 0, PP_ENOTFOUND or PP_EDB. */
static int rollout_state(struct store *s, const char *id, enum store_rollout_state *out,
                         struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_RO_EXISTS, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        enum store_rollout_state rs = STORE_ROLLOUT_FAILED;
        store_rollout_state_parse((const char *)sqlite3_column_text(st, 0), &rs);
        *out = rs;
    } else if (src == SQLITE_DONE) {
        rc = err_set(e, PP_ENOTFOUND, "no rollout %s", id);
    } else {
        rc = store_dberr(s, e, src, "reading rollout %s", id);
    }
    store_stmt_done(st);
    return rc;
}

/* Insert steps[0..n) with seq first, first+1, ...  Inside a transaction. */
static int insert_steps(struct store *s, const char *rid, const struct store_step_spec *steps,
                        size_t n, int64_t first, struct err *e)
{
    int64_t now = store_now_ms(s);
    for (size_t i = 0; i < n; i++) {
        const struct store_step_spec *sp = &steps[i];
        if (!sp->pool || !*sp->pool || !sp->kind || !*sp->kind)
            return err_set(e, PP_EINVAL, "step %zu of rollout %s needs a pool and a kind", i + 1,
                           rid);
        if (sp->params_json) {
            int rc = store_check_json(s, sp->params_json, "the parameters of a step", e);
            if (rc)
                return rc;
        }
        sqlite3_stmt *st;
        int rc = store_stmt(s, SQL_STEP_INSERT, &st, e);
        if (rc)
            return rc;
        int src = store_bind(st, "titttti", rid, first + (int64_t)i, sp->pool, sp->host, sp->kind,
                             sp->params_json ? sp->params_json : "{}", now);
        if (src == SQLITE_OK)
            src = store_step_done(st);
        store_stmt_done(st);
        if (src != SQLITE_DONE)
            return store_dberr(s, e, src, "adding step %lld (%s) to rollout %s",
                               (long long)first + (long long)i, sp->kind, rid);
    }
    return 0;
}

int store_rollout_create(struct store *s, const struct store_rollout_spec *spec,
                         const struct store_step_spec *steps, size_t n, char **id_out,
                         struct err *e)
{
    if (id_out)
        *id_out = NULL;
    if (!spec || !spec->plan_json || !spec->policy)
        return err_set(e, PP_EINVAL, "a rollout needs a plan and a policy");
    if (n && !steps)
        return err_set(e, PP_EINVAL, "no steps given");
    char idbuf[UUID_STR_LEN];
    const char *id = spec->id;
    if (!id) {
        if (uuid_generate(idbuf) != 0)
            return err_set(e, PP_EIO, "cannot generate a rollout id");
        id = idbuf;
    }
    if (!*id)
        return err_set(e, PP_EINVAL, "a rollout id cannot be empty");
    bool owned;
    int rc = store_wbegin(s, &owned, "creating a rollout", e);
    if (rc)
        return rc;
    rc = store_check_json(s, spec->plan_json, "the rollout's plan", e);
    if (rc)
        goto out;
    enum store_rollout_state old;
    rc = rollout_state(s, id, &old, e);
    if (rc == 0) {
        rc = err_set(e, PP_EINVAL, "a rollout with id %s already exists", id);
        goto out;
    }
    if (rc != PP_ENOTFOUND)
        goto out;
    err_clear(e);
    sqlite3_stmt *st;
    rc = store_stmt(s, SQL_RO_INSERT, &st, e);
    if (rc)
        goto out;
    int src = store_bind(st, "titt", id, store_now_ms(s), spec->plan_json, spec->policy);
    if (src == SQLITE_OK)
        src = store_step_done(st);
    store_stmt_done(st);
    if (src != SQLITE_DONE) {
        rc = store_dberr(s, e, src, "creating rollout %s", id);
        goto out;
    }
    rc = insert_steps(s, id, steps, n, 1, e);
out:
    rc = store_wend(s, owned, rc, "creating a rollout", e);
    if (rc == 0 && id_out)
        *id_out = xstrdup(id);
    return rc;
}

int store_steps_append(struct store *s, const char *rollout_id, const struct store_step_spec *steps,
                       size_t n, int64_t *first_seq_out, struct err *e)
{
    if (!rollout_id || (n && !steps))
        return err_set(e, PP_EINVAL, "appending steps needs a rollout id and steps");
    bool owned;
    int rc = store_wbegin(s, &owned, "appending steps", e);
    if (rc)
        return rc;
    enum store_rollout_state rs;
    rc = rollout_state(s, rollout_id, &rs, e);
    if (rc)
        goto out;
    if (rollout_state_final(rs)) {
        rc = err_set(e, PP_ESTATE, "rollout %s is %s; no steps can be added", rollout_id,
                     store_rollout_state_name(rs));
        goto out;
    }
    sqlite3_stmt *st;
    rc = store_stmt(s, SQL_STEP_MAXSEQ, &st, e);
    if (rc)
        goto out;
    store_bind(st, "t", rollout_id);
    int src = sqlite3_step(st);
    int64_t max = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    store_stmt_done(st);
    if (src != SQLITE_ROW) {
        rc = store_dberr(s, e, src, "appending steps to rollout %s", rollout_id);
        goto out;
    }
    rc = insert_steps(s, rollout_id, steps, n, max + 1, e);
    if (rc == 0 && first_seq_out)
        *first_seq_out = max + 1;
out:
    return store_wend(s, owned, rc, "appending steps", e);
}

static int rollout_get(struct store *s, const char *sql, const char *id, struct store_rollout *out,
                       struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (!id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    sqlite3_stmt *st;
    int rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", id);
    rc = store_row1(s, st, e, "no rollout %s", "reading rollout %s", id);
    if (rc == 0) {
        rollout_from_row(st, out);
        store_stmt_done(st);
    }
    return rc;
}

int store_rollout_get(struct store *s, const char *id, struct store_rollout *out, struct err *e)
{
    return rollout_get(s, SQL_RO_GET, id, out, e);
}

int store_rollout_get_head(struct store *s, const char *id, struct store_rollout *out,
                           struct err *e)
{
    return rollout_get(s, SQL_RO_GET_HEAD, id, out, e);
}

int store_rollout_plan(struct store *s, const char *id, char **plan_json, struct err *e)
{
    *plan_json = NULL;
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_RO_PLAN, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *plan_json = store_col_dup(st, 0);
    else if (src == SQLITE_DONE)
        rc = err_set(e, PP_ENOTFOUND, "no rollout %s", id);
    else
        rc = store_dberr(s, e, src, "reading the plan of rollout %s", id);
    store_stmt_done(st);
    return rc;
}

static int rollout_list(struct store *s, const char *sql, unsigned mask, int64_t limit,
                        struct store_rollout_list *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    store_bind(st, "ii", (int64_t)mask, limit > 0 ? limit : (int64_t)-1);
    int src = store_rows(st, (void **)&out->items, &out->n, sizeof(*out->items), rollout_from_row);
    if (src != SQLITE_DONE) {
        store_rollout_list_cleanup(out);
        return store_dberr(s, e, src, "listing rollouts");
    }
    return 0;
}

int store_rollout_list(struct store *s, unsigned mask, int64_t limit,
                       struct store_rollout_list *out, struct err *e)
{
    return rollout_list(s, SQL_RO_LIST_NEW, mask, limit, out, e);
}

int store_rollout_list_heads(struct store *s, unsigned mask, int64_t limit,
                             struct store_rollout_list *out, struct err *e)
{
    return rollout_list(s, SQL_RO_LIST_HEADS, mask, limit, out, e);
}

int store_rollouts_unfinished(struct store *s, struct store_rollout_list *out, struct err *e)
{
    return rollout_list(s, SQL_RO_LIST_OLD, STORE_ROLLOUT_MASK_RESUME, 0, out, e);
}

int store_rollout_set_state(struct store *s, const char *id, enum store_rollout_state st_new,
                            const char *error, struct err *e)
{
    const char *name = store_rollout_state_name(st_new);
    if (!id || !name)
        return err_set(e, PP_EINVAL, "a rollout id and a valid state are required");
    bool owned;
    int rc = store_wbegin(s, &owned, "changing a rollout's state", e);
    if (rc)
        return rc;
    enum store_rollout_state old;
    rc = rollout_state(s, id, &old, e);
    if (rc)
        goto out;
    if (rollout_state_final(old) && old != st_new) {
        rc = err_set(e, PP_ESTATE, "rollout %s is already %s and cannot become %s", id,
                     store_rollout_state_name(old), name);
        goto out;
    }
    if (st_new == STORE_ROLLOUT_PLANNED && old != STORE_ROLLOUT_PLANNED) {
        rc = err_set(e, PP_ESTATE, "rollout %s is %s and cannot go back to planned", id,
                     store_rollout_state_name(old));
        goto out;
    }
    sqlite3_stmt *st;
    rc = store_stmt(s, SQL_RO_SET_STATE, &st, e);
    if (rc)
        goto out;
    store_bind(st, "ttti", id, name, error, store_now_ms(s));
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        rc = store_dberr(s, e, src, "setting rollout %s to %s", id, name);
out:
    return store_wend(s, owned, rc, "changing a rollout's state", e);
}

int store_rollout_delete(struct store *s, const char *id, struct err *e)
{
    if (!id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    bool owned;
    int rc = store_wbegin(s, &owned, "deleting a rollout", e);
    if (rc)
        return rc;
    enum store_rollout_state old;
    rc = rollout_state(s, id, &old, e);
    if (rc)
        goto out;
    if (!rollout_state_final(old)) {
        rc = err_set(e, PP_ESTATE, "rollout %s is %s; only finished rollouts can be deleted", id,
                     store_rollout_state_name(old));
        goto out;
    }
    sqlite3_stmt *st;
    rc = store_stmt(s, SQL_RO_DELETE, &st, e);
    if (rc)
        goto out;
    store_bind(st, "t", id);
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        rc = store_dberr(s, e, src, "deleting rollout %s", id);
out:
    return store_wend(s, owned, rc, "deleting a rollout", e);
}

/* Findings of a rollout (see store.h). */
int store_rollout_set_findings(struct store *s, const char *id, const char *findings_json,
                               struct err *e)
{
    if (!id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    bool owned;
    int rc = store_wbegin(s, &owned, "recording a rollout's findings", e);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = store_stmt(s, SQL_RO_SET_FINDINGS, &st, e);
    if (rc == 0) {
        store_bind(st, "tt", id, findings_json);
        int src = store_step_done(st);
        if (src != SQLITE_DONE)
            rc = store_dberr(s, e, src, "recording the findings of rollout %s", id);
        else if (sqlite3_changes(s->db) == 0)
            rc = err_set(e, PP_ENOTFOUND, "no rollout %s", id);
    }
    return store_wend(s, owned, rc, "recording a rollout's findings", e);
}

/* The findings text of a rollout (see store.h). */
int store_rollout_findings(struct store *s, const char *id, char **out, struct err *e)
{
    *out = NULL;
    if (!id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_RO_FINDINGS, &st, e);
    if (rc)
        return rc;
    store_bind(st, "t", id);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        *out = t ? xstrdup(t) : NULL;
    } else if (src == SQLITE_DONE) {
        rc = err_set(e, PP_ENOTFOUND, "no rollout %s", id);
    } else {
        rc = store_dberr(s, e, src, "reading the findings of rollout %s", id);
    }
    store_stmt_done(st);
    return rc;
}

/* ---------------------------------------------------------------- steps */

int store_step_get(struct store *s, const char *rollout_id, int64_t seq, struct store_step *out,
                   struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (!rollout_id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_STEP_GET, &st, e);
    if (rc)
        return rc;
    store_bind(st, "ti", rollout_id, seq);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        step_from_row(st, out);
    else if (src == SQLITE_DONE)
        rc = err_set(e, PP_ENOTFOUND, "rollout %s has no step %lld", rollout_id, (long long)seq);
    else
        rc = store_dberr(s, e, src, "reading step %lld of rollout %s", (long long)seq, rollout_id);
    store_stmt_done(st);
    return rc;
}

static int step_list(struct store *s, const char *sql, const char *rollout_id, const char *pool,
                     struct store_step_list *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (!rollout_id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    sqlite3_stmt *st;
    int rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    store_bind(st, "tt", rollout_id, pool);
    int src = store_rows(st, (void **)&out->items, &out->n, sizeof(*out->items), step_from_row);
    if (src != SQLITE_DONE) {
        store_step_list_cleanup(out);
        return store_dberr(s, e, src, "listing the steps of rollout %s", rollout_id);
    }
    return 0;
}

int store_steps_list(struct store *s, const char *rollout_id, const char *pool,
                     struct store_step_list *out, struct err *e)
{
    return step_list(s, SQL_STEP_LIST, rollout_id, pool, out, e);
}

int store_undo_list(struct store *s, const char *rollout_id, const char *pool,
                    struct store_step_list *out, struct err *e)
{
    return step_list(s, SQL_UNDO_LIST, rollout_id, pool, out, e);
}

int store_step_first_unfinished(struct store *s, const char *rollout_id, const char *pool,
                                struct store_step *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (!rollout_id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    sqlite3_stmt *st;
    int rc = store_stmt(s, pool ? SQL_STEP_FIRST_POOL : SQL_STEP_FIRST, &st, e);
    if (rc)
        return rc;
    if (pool)
        store_bind(st, "tt", rollout_id, pool);
    else
        store_bind(st, "t", rollout_id);
    rc = store_row1(s, st, e, "every step of rollout %s%s%s is done",
                    "finding where rollout %s%s%s stopped", rollout_id, pool ? " on pool " : "",
                    pool ? pool : "");
    if (rc == 0) {
        step_from_row(st, out);
        store_stmt_done(st);
    }
    return rc;
}

/* ---------------------------------------------------------------- the journal */

/*
 * After a guarded UPDATE changed no row: explain why (no such step, or its state does not allow
 * the transition).
 */
static int explain_refusal(struct store *s, const char *rollout_id, int64_t seq, const char *what,
                           struct err *e)
{
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_STEP_STATE, &st, e);
    if (rc)
        return rc;
    store_bind(st, "ti", rollout_id, seq);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = err_set(e, PP_ESTATE, "step %lld of rollout %s is %s; it cannot be %s", (long long)seq,
                     rollout_id, (const char *)sqlite3_column_text(st, 0), what);
    else if (src == SQLITE_DONE)
        rc = err_set(e, PP_ENOTFOUND, "rollout %s has no step %lld", rollout_id, (long long)seq);
    else
        rc = store_dberr(s, e, src, "reading step %lld of rollout %s", (long long)seq, rollout_id);
    store_stmt_done(st);
    return rc;
}

/*
 * Run one guarded journal UPDATE (bound rollout_id, seq, now, a, b) in autocommit mode, so it
 * is its own durable transaction.
 */
static int journal_write(struct store *s, const char *sql, const char *fmt_ab,
                         const char *rollout_id, int64_t seq, const char *a, const char *b,
                         const char *what, struct err *e)
{
    if (!rollout_id)
        return err_set(e, PP_EINVAL, "no rollout id given");
    int rc = store_check_writable(s, "writing the journal", e);
    if (rc)
        return rc;
    if (store_in_tx(s))
        return err_set(e, PP_ESTATE,
                       "the journal cannot be written inside a transaction: each "
                       "entry must be on disk before the action is sent");
    sqlite3_stmt *st;
    rc = store_stmt(s, sql, &st, e);
    if (rc)
        return rc;
    int src;
    if (fmt_ab[0] == '\0')
        src = store_bind(st, "tii", rollout_id, seq, store_now_ms(s));
    else if (fmt_ab[1] == '\0')
        src = store_bind(st, "tiit", rollout_id, seq, store_now_ms(s), a);
    else
        src = store_bind(st, "tiitt", rollout_id, seq, store_now_ms(s), a, b);
    if (src == SQLITE_OK)
        src = store_step_done(st);
    store_stmt_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "journal: marking step %lld of rollout %s %s", (long long)seq,
                           rollout_id, what);
    if (sqlite3_changes(s->db) == 0)
        return explain_refusal(s, rollout_id, seq, what, e);
    return 0;
}

int store_journal_intent(struct store *s, const char *rollout_id, int64_t seq,
                         const char *params_json, const char *undo_json, struct err *e)
{
    int rc = 0;
    if (params_json)
        rc = store_check_json(s, params_json, "the step's parameters", e);
    if (rc == 0 && undo_json)
        rc = store_check_json(s, undo_json, "the step's undo record", e);
    if (rc)
        return rc;
    return journal_write(s, SQL_J_INTENT, "tt", rollout_id, seq, params_json, undo_json,
                         "started (intent)", e);
}

int store_journal_done(struct store *s, const char *rollout_id, int64_t seq,
                       const char *result_json, struct err *e)
{
    if (result_json) {
        int rc = store_check_json(s, result_json, "the step's result", e);
        if (rc)
            return rc;
    }
    return journal_write(s, SQL_J_DONE, "t", rollout_id, seq, result_json, NULL, "done", e);
}

int store_journal_fail(struct store *s, const char *rollout_id, int64_t seq, const char *error,
                       struct err *e)
{
    if (!error)
        return err_set(e, PP_EINVAL, "a failed step needs an error text");
    return journal_write(s, SQL_J_FAIL, "t", rollout_id, seq, error, NULL, "failed", e);
}

int store_journal_skip(struct store *s, const char *rollout_id, int64_t seq, const char *reason,
                       struct err *e)
{
    return journal_write(s, SQL_J_SKIP, "t", rollout_id, seq, reason, NULL, "skipped", e);
}

int store_undo_mark_done(struct store *s, const char *rollout_id, int64_t seq, struct err *e)
{
    int rc = journal_write(s, SQL_J_UNDONE, "", rollout_id, seq, NULL, NULL, "undone", e);
    if (rc == PP_ESTATE)
        err_prefix(e, "no pending undo: ");
    return rc;
}

/* ---------------------------------------------------------------- events */

static void event_from_row(sqlite3_stmt *st, void *item)
{
    struct store_event *ev = item;
    ev->id = sqlite3_column_int64(st, 0);
    ev->rollout_id = store_col_dup(st, 1);
    ev->step_seq = sqlite3_column_int64(st, 2);
    ev->at_ms = sqlite3_column_int64(st, 3);
    ev->pool = store_col_dup(st, 4);
    ev->host = store_col_dup(st, 5);
    ev->step = store_col_dup(st, 6);
    ev->percent = sqlite3_column_int(st, 7);
    ev->message = store_col_dup(st, 8);
}

void store_event_cleanup(struct store_event *ev)
{
    if (!ev)
        return;
    free(ev->rollout_id);
    free(ev->pool);
    free(ev->host);
    free(ev->step);
    free(ev->message);
    memset(ev, 0, sizeof(*ev));
}

void store_event_list_cleanup(struct store_event_list *l)
{
    STORE_LIST_CLEANUP(l, store_event_cleanup);
}

int store_event_add(struct store *s, const struct store_event_spec *ev, int64_t *id_out,
                    struct err *e)
{
    if (!ev || !ev->rollout_id || !ev->message)
        return err_set(e, PP_EINVAL, "an event needs a rollout id and a message");
    if (ev->percent < -1 || ev->percent > 100)
        return err_set(e, PP_EINVAL, "an event's percent must be -1 or 0..100, not %d",
                       ev->percent);
    sqlite3_stmt *st;
    int rc = store_wstmt(s, SQL_EV_ADD, "recording an event", &st, e);
    if (rc)
        return rc;
    int src = store_bind(st, "tiittti", ev->rollout_id, ev->step_seq, store_now_ms(s), ev->pool,
                         ev->host, ev->step, (int64_t)ev->percent);
    if (src == SQLITE_OK)
        src = ev->step_seq > 0 ? SQLITE_OK : sqlite3_bind_null(st, 2);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(st, 8, ev->message, -1, SQLITE_TRANSIENT);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (id_out)
            *id_out = sqlite3_column_int64(st, 0);
        src = store_step_done(st);
    }
    store_stmt_done(st);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return err_set(e, PP_ENOTFOUND, "no rollout %s to record an event for", ev->rollout_id);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "recording an event of rollout %s", ev->rollout_id);
    if (++s->events_added % 64 == 0)
        return store_events_prune(s, ev->rollout_id, s->events_keep, NULL, e);
    return 0;
}

int store_events_list(struct store *s, const char *rollout_id, int64_t after_id, int64_t limit,
                      struct store_event_list *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = store_stmt(s, SQL_EV_LIST, &st, e);
    if (rc)
        return rc;
    store_bind(st, "tii", rollout_id, after_id, limit > 0 ? limit : (int64_t)1000);
    int src = store_rows(st, (void **)&out->items, &out->n, sizeof(*out->items), event_from_row);
    if (src != SQLITE_DONE) {
        store_event_list_cleanup(out);
        return store_dberr(s, e, src, "listing events");
    }
    return 0;
}

int store_events_prune(struct store *s, const char *rollout_id, int64_t keep, int64_t *pruned,
                       struct err *e)
{
    if (pruned)
        *pruned = 0;
    if (keep < 0)
        return err_set(e, PP_EINVAL, "cannot keep a negative number of events");
    sqlite3_stmt *st;
    int rc =
        store_wstmt(s, rollout_id ? SQL_EV_PRUNE_ONE : SQL_EV_PRUNE_ALL, "pruning events", &st, e);
    if (rc)
        return rc;
    if (rollout_id)
        store_bind(st, "ti", rollout_id, keep);
    else
        store_bind(st, "i", keep);
    int src = store_step_done(st);
    if (src != SQLITE_DONE)
        return store_dberr(s, e, src, "pruning events");
    if (pruned)
        *pruned = sqlite3_changes(s->db);
    return 0;
}
