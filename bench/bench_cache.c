/* SPDX-License-Identifier: MIT */
/*
 * bench_cache.c - what one pool's object cache holds (issue 17: <= 1 MiB a pool): a client on
 * the simulator's in-process transport (virtual clock) reads bench-16's snapshot (16 hosts, 336
 * VMs, 320 VBDs and VDIs) through event.from into its cache, with the classes and the field
 * lists the daemon uses (src/engine/engine_pools.c), then again with every field kept.  Prints
 * the bytes of the records' blocks per class, the shared tables (strings, values, member-name
 * lists) and the total (xapi__cache_bytes: the heap the cache holds, without malloc's own
 * overhead).  Asserts nothing about the figures; exits non-zero when the snapshot cannot be read.
 * Usage: bench_cache [scenario.json] (default scenarios/bench-16.json).
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "bench_simc.h"
#include "engine/engine_int.h"
#include "sim/sim.h"
#include "xapi/cache_int.h"
#include "xapi/client.h"
#include "xapi/client_int.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

/* Read the scenario's first pool into a cache (narrowed like the daemon's when narrow). */
static int measure(const char *path, bool narrow, size_t *total_out)
{
    struct err e = {0};
    struct bench_simc b;
    if (bench_simc_open(&b, path, "bench_cache") != 0)
        return 1;
    struct xapi_loop *loop = b.loop;
    struct xapi_client *c = b.c;
    int rc = 0;
    for (const char *const *cls = engine_cache_classes; rc == 0 && narrow && *cls; cls++)
        if (engine_cache_fields(*cls))
            rc = xapi_cache_set_fields(c, *cls, engine_cache_fields(*cls), &e);
    if (rc == 0)
        rc = xapi_cache_start(c, engine_cache_classes, &e);
    for (int turn = 0; rc == 0 && turn < 100000 && !xapi_cache_ready(c); turn++)
        xapi_loop_run(loop, 0);
    if (rc != 0 || !xapi_cache_ready(c)) {
        fprintf(stderr, "bench_cache: no snapshot: %s\n", e.msg[0] ? e.msg : "not ready");
        rc = 1;
    } else {
        const struct xapi_cache *k = c->cache;
        printf("%s, %s:\n", path, narrow ? "the daemon's fields" : "every field kept");
        for (const char *const *cls = engine_cache_classes; *cls; cls++) {
            size_t n = 0, bytes = 0;
            xapi__cache_class_stats(k, *cls, &n, &bytes);
            if (n)
                printf("  %-18s %5zu objects %9zu bytes (%zu each)\n", *cls, n, bytes, bytes / n);
        }
        struct xapi_cache_shared sh;
        xapi__cache_shared(k, &sh);
        printf("  shared: %zu strings %zu bytes, %zu values %zu bytes, %zu name lists %zu bytes\n",
               sh.strs, sh.strs_bytes, sh.vals, sh.vals_bytes, sh.shapes, sh.shapes_bytes);
        *total_out = xapi__cache_bytes(k);
        printf("  total %zu bytes (%.2f MiB)\n", *total_out, (double)*total_out / (1 << 20));
    }
    bench_simc_close(&b);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : PP_SOURCE_ROOT "/scenarios/bench-16.json";
    size_t narrowed = 0, whole = 0;
    if (measure(path, true, &narrowed) != 0 || measure(path, false, &whole) != 0)
        return 1;
    printf("bench-cache: one pool's object cache %.2f MiB with the daemon's fields (goal <= 1 "
           "MiB), %.2f MiB with every field\n",
           (double)narrowed / (1 << 20), (double)whole / (1 << 20));
    return 0;
}
