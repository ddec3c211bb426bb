/* SPDX-License-Identifier: MIT */
/*
 * store_metrics.h - aggregates of the journal for GET /metrics (engine_metrics.c): rollouts by
 * state, done steps by kind, per-host durations of finished hosts, webhook deliveries by state.
 * Works on read-only connections; the caller's thread.  Same error rules as store.h.
 */
#ifndef PP_STORE_STORE_METRICS_H
#define PP_STORE_STORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

#define STORE_METRICS_MAX 16
/* upper bounds (seconds) of the host duration histogram; the last bucket is +Inf */
#define STORE_METRICS_BUCKETS                                                                      \
    {                                                                                              \
        60, 300, 600, 1200, 1800, 3600, 7200, 14400                                                \
    }
#define STORE_METRICS_NBUCKETS 8

struct store_metric_count {
    char name[32];
    int64_t n;
};

struct store_metrics {
    struct store_metric_count rollouts[STORE_METRICS_MAX]; /* by state */
    size_t n_rollouts;
    struct store_metric_count steps_done[STORE_METRICS_MAX]; /* done steps by kind */
    size_t n_steps_done;
    struct store_metric_count deliveries[STORE_METRICS_MAX]; /* webhook deliveries by state */
    size_t n_deliveries;
    /* hosts whose work finished (every non-precheck step done): first intent to last done */
    int64_t host_buckets[STORE_METRICS_NBUCKETS]; /* cumulative, as Prometheus wants */
    int64_t host_count;
    double host_sum_s;
};

/* Fill *m (zeroed first).  Errors: PP_EDB. */
int store_metrics_collect(struct store *s, struct store_metrics *m, struct err *e);

#endif
