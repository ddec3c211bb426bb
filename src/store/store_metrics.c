/* SPDX-License-Identifier: MIT */
/*
 * store_metrics.c - journal aggregates for GET /metrics (contract: store_metrics.h).  Grouped
 * counts in SQL; per-host durations from the steps_by_host index.
 */
#include "store/store_metrics.h"

#include "base/err.h"
#include "store/store.h"
#include "store/store_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const char SQL_ROLLOUTS[] = "SELECT state, count(*) FROM rollouts GROUP BY state";
static const char SQL_STEPS[] =
    "SELECT kind, count(*) FROM steps WHERE state = 'done' GROUP BY kind ORDER BY kind";
static const char SQL_DELIVERIES[] =
    "SELECT state, count(*) FROM webhook_deliveries GROUP BY state";
/* a host is finished when every one of its steps (prechecks aside) is done */
static const char SQL_HOSTS[] =
    "SELECT (max(done_at) - min(intent_at)) / 1000.0 FROM steps "
    "WHERE host IS NOT NULL AND kind <> 'precheck' GROUP BY rollout_id, pool, host "
    "HAVING sum(state <> 'done') = 0 AND min(intent_at) IS NOT NULL";

static int counts(struct store *s, const char *sql, struct store_metric_count *out, size_t *n,
                  const char *what, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *n = 0;
    if ((rc = store_stmt(s, sql, &st, e)) != 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == STORE_METRICS_MAX)
            continue;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        snprintf(out[*n].name, sizeof out[*n].name, "%s", name ? name : "");
        out[(*n)++].n = sqlite3_column_int64(st, 1);
    }
    store_stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, e, rc, "counting %s", what);
}

static int host_durations(struct store *s, struct store_metrics *m, struct err *e)
{
    static const int bounds[STORE_METRICS_NBUCKETS] = STORE_METRICS_BUCKETS;
    sqlite3_stmt *st;
    int rc;

    if ((rc = store_stmt(s, SQL_HOSTS, &st, e)) != 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double d = sqlite3_column_double(st, 0);
        if (d < 0)
            d = 0;
        m->host_count++;
        m->host_sum_s += d;
        for (int i = 0; i < STORE_METRICS_NBUCKETS; i++)
            if (d <= bounds[i])
                m->host_buckets[i]++;
    }
    store_stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, e, rc, "measuring host durations");
}

int store_metrics_collect(struct store *s, struct store_metrics *m, struct err *e)
{
    int rc;

    memset(m, 0, sizeof(*m));
    if ((rc = counts(s, SQL_ROLLOUTS, m->rollouts, &m->n_rollouts, "rollouts", e)) != 0 ||
        (rc = counts(s, SQL_STEPS, m->steps_done, &m->n_steps_done, "steps", e)) != 0 ||
        (rc = counts(s, SQL_DELIVERIES, m->deliveries, &m->n_deliveries, "deliveries", e)) != 0)
        return rc;
    return host_durations(s, m, e);
}
