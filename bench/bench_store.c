/* SPDX-License-Identifier: MIT */
/*
 * bench_store.c - how fast the journal is on this disk with synchronous=FULL: journaled steps
 * (intent + done, each a durable commit) per second, commit latency percentiles, progress events
 * one commit each and batched in a transaction, and resume look-ups.  Prints figures; asserts
 * nothing about time.  The database is created in a temporary folder under the current
 * directory (or under argv[1]) so it lives on the disk being measured, and removed afterwards.
 *
 * Usage: bench_store [DIR] [STEPS]   (STEPS defaults to 2000)
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "store/store.h"

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            fprintf(stderr, "bench_store: %s failed: %s\n", #call, e.msg);                         \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    int64_t steps = 2000;
    if (argc > 2 && (str_to_int64(argv[2], &steps) != 0 || steps < 10 || steps > 1000000)) {
        fprintf(stderr, "usage: bench_store [DIR] [STEPS 10..1000000]\n");
        return 2;
    }
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_store: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/bench.db", dir);
    struct err e = {0};
    struct store *s = NULL;
    int ret = 1;
    int64_t *lat = xcalloc((size_t)steps * 2, sizeof(*lat));
    struct store_step_spec *specs = xcalloc((size_t)steps, sizeof(*specs));

    CHECK(store_open(path, NULL, &s, &e));
    for (int64_t i = 0; i < steps; i++)
        specs[i] = (struct store_step_spec){.pool = i % 2 ? "pool-a" : "pool-b",
                                            .host = "host",
                                            .kind = "migrate",
                                            .params_json = "{\"vm\":\"OpaqueRef:1\"}"};
    int64_t t0 = now_us();
    CHECK(store_rollout_create(
        s, &(struct store_rollout_spec){.id = "bench", .plan_json = "{}", .policy = "minimal"},
        specs, (size_t)steps, NULL, &e));
    int64_t t_create = now_us() - t0;
    CHECK(store_rollout_set_state(s, "bench", STORE_ROLLOUT_RUNNING, NULL, &e));

    /* Journaled steps: intent (durable) then done (durable). */
    t0 = now_us();
    for (int64_t i = 0; i < steps; i++) {
        int64_t a = now_us();
        CHECK(store_journal_intent(s, "bench", i + 1, NULL, "{\"restore\":\"ha\"}", &e));
        int64_t b = now_us();
        CHECK(store_journal_done(s, "bench", i + 1, "{\"ok\":true}", &e));
        lat[2 * i] = b - a;
        lat[2 * i + 1] = now_us() - b;
    }
    int64_t t_journal = now_us() - t0;
    qsort(lat, (size_t)steps * 2, sizeof(*lat), cmp_i64);

    /* Events: one commit each, then batched. */
    int64_t n_ev = steps;
    t0 = now_us();
    for (int64_t i = 0; i < n_ev; i++)
        CHECK(store_event_add(s,
                              &(struct store_event_spec){.rollout_id = "bench",
                                                         .pool = "pool-a",
                                                         .host = "host",
                                                         .step = "migrate",
                                                         .percent = (int)(i % 101),
                                                         .message = "migrating"},
                              NULL, &e));
    int64_t t_ev = now_us() - t0;
    t0 = now_us();
    CHECK(store_tx_begin(s, &e));
    for (int64_t i = 0; i < n_ev; i++)
        CHECK(store_event_add(
            s,
            &(struct store_event_spec){.rollout_id = "bench", .percent = -1, .message = "batched"},
            NULL, &e));
    CHECK(store_tx_commit(s, &e));
    int64_t t_ev_batch = now_us() - t0;

    /* Resume look-ups (reads). */
    int64_t n_look = 10000;
    t0 = now_us();
    for (int64_t i = 0; i < n_look; i++) {
        struct store_step st = {0};
        int rc = store_step_first_unfinished(s, "bench", "pool-a", &st, &e);
        store_step_cleanup(&st);
        if (rc != PP_ENOTFOUND) {
            fprintf(stderr, "bench_store: unexpected look-up result %d\n", rc);
            goto out;
        }
    }
    int64_t t_look = now_us() - t0;

    printf("store benchmark: %s (journal_mode=WAL, synchronous=FULL)\n", dir);
    printf("  rollout of %" PRId64 " steps created in one transaction: %.1f ms\n", steps,
           t_create / 1000.0);
    printf("  journaled steps (intent + done, 2 durable commits each): %.0f steps/s, "
           "%.0f commits/s\n",
           steps * 1e6 / (double)t_journal, 2 * steps * 1e6 / (double)t_journal);
    printf("  commit latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           lat[steps] / 1000.0, lat[(steps * 2 * 90) / 100] / 1000.0,
           lat[(steps * 2 * 99) / 100] / 1000.0, lat[steps * 2 - 1] / 1000.0);
    printf("  progress events, one commit each: %.0f events/s\n", n_ev * 1e6 / (double)t_ev);
    printf("  progress events, batched in one transaction: %.0f events/s\n",
           n_ev * 1e6 / (double)t_ev_batch);
    printf("  resume look-ups (first unfinished step of a pool): %.0f /s\n",
           n_look * 1e6 / (double)t_look);
    ret = 0;
out:
    store_close(s);
    free(lat);
    free(specs);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return ret;
}
