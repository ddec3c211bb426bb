/* SPDX-License-Identifier: MIT */
/*
 * engine_metrics.c - GET /metrics in Prometheus' text exposition format (version 0.0.4): pools
 * and their connection, hosts by update status, updates available, rollouts by state, done steps
 * (migrations, reboots, toolstack restarts, updates applied), per-host durations, webhook
 * deliveries, and the process' own memory and CPU.  Read on the caller's thread (journal
 * aggregates from a read-only connection; views through the engine's requests).
 * docs/metrics.md lists every series.
 */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"
#include "store/store_metrics.h"

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const rollout_states[] = {"planned",   "running", "halted", "cancelling",
                                             "cancelled", "done",    "failed"};

/* value with Prometheus' label escaping (backslash, double quote, newline) into b */
static void label(struct buf *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *p);
    }
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{key="value"} n */
static void sample1(struct buf *b, const char *name, const char *key, const char *value, double n)
{
    buf_printf(b, "%s{%s=\"", name, key);
    label(b, value);
    buf_printf(b, "\"} %.17g\n", n);
}

static int64_t count_of(const struct store_metric_count *c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(c[i].name, name))
            return c[i].n;
    return 0;
}

static void journal_metrics(struct buf *b, const struct store_metrics *m)
{
    static const int bounds[STORE_METRICS_NBUCKETS] = STORE_METRICS_BUCKETS;
    static const struct {
        const char *name, *help, *kind1, *kind2;
    } steps[] = {
        {"poolpatch_migrations_total", "Live migrations done by rollouts.", "migrate", NULL},
        {"poolpatch_reboots_total", "Host reboots done by rollouts.", "reboot", NULL},
        {"poolpatch_toolstack_restarts_total", "Toolstack restarts done by rollouts.",
         "restart_agent", NULL},
        {"poolpatch_updates_applied_total", "Updates applied to hosts by rollouts.", "apply",
         "apply_cdn"},
    };

    head(b, "poolpatch_rollouts", "gauge", "Rollouts in the journal by state.");
    for (size_t i = 0; i < sizeof rollout_states / sizeof rollout_states[0]; i++)
        sample1(b, "poolpatch_rollouts", "state", rollout_states[i],
                (double)count_of(m->rollouts, m->n_rollouts, rollout_states[i]));
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int64_t n = count_of(m->steps_done, m->n_steps_done, steps[i].kind1);
        if (steps[i].kind2)
            n += count_of(m->steps_done, m->n_steps_done, steps[i].kind2);
        head(b, steps[i].name, "counter", steps[i].help);
        buf_printf(b, "%s %lld\n", steps[i].name, (long long)n);
    }
    head(b, "poolpatch_steps_done_total", "counter", "Journaled rollout steps done, by kind.");
    for (size_t i = 0; i < m->n_steps_done; i++)
        sample1(b, "poolpatch_steps_done_total", "kind", m->steps_done[i].name,
                (double)m->steps_done[i].n);
    head(b, "poolpatch_host_duration_seconds", "histogram",
         "Time from a host's first step to its last, for hosts whose rollout work finished.");
    for (int i = 0; i < STORE_METRICS_NBUCKETS; i++)
        buf_printf(b, "poolpatch_host_duration_seconds_bucket{le=\"%d\"} %lld\n", bounds[i],
                   (long long)m->host_buckets[i]);
    buf_printf(b, "poolpatch_host_duration_seconds_bucket{le=\"+Inf\"} %lld\n",
               (long long)m->host_count);
    buf_printf(b, "poolpatch_host_duration_seconds_sum %.3f\n", m->host_sum_s);
    buf_printf(b, "poolpatch_host_duration_seconds_count %lld\n", (long long)m->host_count);
    head(b, "poolpatch_webhook_deliveries", "gauge", "Webhook deliveries by state.");
    static const char *const dstates[] = {"pending", "delivered", "failed"};
    for (size_t i = 0; i < 3; i++)
        sample1(b, "poolpatch_webhook_deliveries", "state", dstates[i],
                (double)count_of(m->deliveries, m->n_deliveries, dstates[i]));
}

/* The registered name of the pool the views call shown (their name-label), else shown. */
static const char *registered(const json_t *pools, const char *shown)
{
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(pools, "pools"), i, p)
    {
        const char *label = json_string_value(json_object_get(p, "name_label"));
        if (label && shown && str_eq(label, shown))
            return json_string_value(json_object_get(p, "name"));
    }
    return shown ? shown : "";
}

static void pool_metrics(struct buf *b, struct engine *eng)
{
    json_t *pools = NULL, *view = NULL, *p, *s;
    size_t i;
    struct err e = {0};

    if (engine_pools(eng, &pools, &e) == 0) {
        head(b, "poolpatch_pools", "gauge", "Registered pools.");
        buf_printf(b, "poolpatch_pools %zu\n", json_array_size(json_object_get(pools, "pools")));
        head(b, "poolpatch_pool_connected", "gauge", "1 when the daemon has a live session.");
        json_array_foreach(json_object_get(pools, "pools"), i, p) sample1(
            b, "poolpatch_pool_connected", "pool", json_string_value(json_object_get(p, "name")),
            json_is_true(json_object_get(p, "connected")) ? 1 : 0);
    }
    if (engine_updates_view(eng, ENGINE_VIEW_BY_SERVER, ENGINE_SORT_POOL, &view, &e) == 0) {
        head(b, "poolpatch_hosts", "gauge",
             "Hosts by update status (pools whose state could not be read are not counted).");
        /* count per (pool, status); views are small (hosts of the fleet) */
        json_t *tally = json_object();
        json_array_foreach(json_object_get(view, "servers"), i, s)
        {
            char key[512];
            if (json_is_true(json_object_get(s, "is_pool")))
                continue; /* XenCenter's pool heading row, not a host */
            snprintf(key, sizeof key, "%s\n%s",
                     registered(pools, json_string_value(json_object_get(s, "pool"))),
                     json_is_true(json_object_get(s, "up_to_date")) ? "up_to_date" : "out_of_date");
            json_object_set_new(tally, key,
                                json_integer(json_integer_value(json_object_get(tally, key)) + 1));
        }
        const char *k;
        json_t *v;
        json_object_foreach(tally, k, v)
        {
            const char *nl = strchr(k, '\n');
            buf_puts(b, "poolpatch_hosts{pool=\"");
            char pool[256];
            snprintf(pool, sizeof pool, "%.*s", (int)(nl - k), k);
            label(b, pool);
            buf_printf(b, "\",status=\"%s\"} %lld\n", nl + 1, (long long)json_integer_value(v));
        }
        json_decref(tally);
        head(
            b, "poolpatch_pool_offline", "gauge",
            "1 for a registered pool whose state could not be read (unreachable, emergency mode).");
        json_array_foreach(json_object_get(view, "offline_pools"), i, p)
            sample1(b, "poolpatch_pool_offline", "pool",
                    registered(pools, json_string_value(json_object_get(p, "name"))), 1);
    }
    json_decref(view);
    json_decref(pools);
    if (engine_updates_view(eng, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &view, &e) == 0) {
        head(b, "poolpatch_updates_available", "gauge",
             "Updates the By Update view shows (not dismissed).");
        buf_printf(b, "poolpatch_updates_available %zu\n",
                   json_array_size(json_object_get(view, "updates")));
        head(b, "poolpatch_updates_dismissed", "gauge", "Dismissed updates.");
        buf_printf(b, "poolpatch_updates_dismissed %lld\n",
                   (long long)json_integer_value(json_object_get(view, "dismissed")));
    }
    json_decref(view);
}

static void method_sample(void *ctx, const char *method, uint64_t n)
{
    sample1(ctx, "poolpatch_xapi_calls_total", "method", method, (double)n);
}

/* The XAPI traffic of every pool client since the daemon started (xapi_process_counts). */
static void xapi_metrics(struct buf *b)
{
    struct xapi_counts k;
    head(b, "poolpatch_xapi_calls_total", "counter",
         "XAPI requests sent, by method (logins, replays and event.from long-polls included).");
    xapi_process_counts(&k, method_sample, b);
    static const struct {
        const char *name, *help;
        size_t off;
    } totals[] = {
        {"poolpatch_xapi_errors_total", "XAPI answers that were an error (ErrorDescription).",
         offsetof(struct xapi_counts, xapi_errors)},
        {"poolpatch_xapi_transport_errors_total",
         "XAPI requests that failed in transport (refused, reset, timeout, TLS).",
         offsetof(struct xapi_counts, transport_errors)},
        {"poolpatch_xapi_reconnects_total", "Times a pool's master was lost and searched for.",
         offsetof(struct xapi_counts, reconnects)},
        {"poolpatch_xapi_logins_total", "XAPI logins sent.", offsetof(struct xapi_counts, logins)},
    };
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        uint64_t n;
        memcpy(&n, (const char *)&k + totals[i].off, sizeof n);
        head(b, totals[i].name, "counter", totals[i].help);
        buf_printf(b, "%s %llu\n", totals[i].name, (unsigned long long)n);
    }
}

static void process_metrics(struct buf *b)
{
    struct rusage ru;
    long pages = 0, rss = 0, fds = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    getrusage(RUSAGE_SELF, &ru);
    head(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    buf_printf(b, "process_resident_memory_bytes %lld\n",
               (long long)rss * (long long)sysconf(_SC_PAGESIZE));
    head(b, "process_cpu_seconds_total", "counter", "User and system CPU time in seconds.");
    buf_printf(b, "process_cpu_seconds_total %.3f\n",
               (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *de; (de = readdir(d));)
            fds += de->d_name[0] != '.';
        closedir(d);
        fds--; /* the directory's own descriptor */
    }
    head(b, "process_open_fds", "gauge", "Open file descriptors.");
    buf_printf(b, "process_open_fds %ld\n", fds);
}

int engine_metrics(struct engine *eng, char **text, struct err *e)
{
    struct store_metrics m;
    struct buf b;
    struct store *s = engine_reader_take(eng, e);
    int rc;

    *text = NULL;
    if (!s)
        return e && e->code ? e->code : PP_EDB;
    rc = store_metrics_collect(s, &m, e);
    engine_reader_give(eng, s);
    if (rc != 0)
        return rc;
    buf_init(&b);
    head(&b, "poolpatch_build_info", "gauge", "The daemon's version.");
    buf_puts(&b, "poolpatch_build_info{version=\"" PP_ENGINE_VERSION "\"} 1\n");
    pool_metrics(&b, eng);
    journal_metrics(&b, &m);
    xapi_metrics(&b);
    process_metrics(&b);
    *text = buf_take(&b);
    return 0;
}
