/* SPDX-License-Identifier: MIT */
/*
 * bench_evjson.c - what an event.from answer costs on its way into the object cache (issue 17,
 * Memory), by the old route (jansson tree -> value tree -> cache: xapi_jsonrpc_decode_response +
 * xapi__cache_apply) and the straight one (xapi__evjson_scan + xapi__batch_from_json +
 * xapi__cache_commit, as the client takes a JSON-RPC answer).  The answers are what the
 * simulator sends over HTTP: bench-16's snapshot (event.from with token "" over the daemon's
 * classes, 16 hosts and 336 VMs with their VBDs, VDIs...) encoded as a JSON-RPC 2.0 response,
 * and typical batches (1, 10 and 100 VM "mod" events with their records) applied to a cache
 * holding the snapshot, with the daemon's field lists.  For each: the transient heap (the peak
 * of bytes allocated while the answer is applied, over what is held before or after; malloc is
 * counted through glibc's __libc_* functions, jansson's allocations included) and the CPU time per
 * answer (CLOCK_PROCESS_CPUTIME_ID, the best of several runs).  The answer's own bytes (held by
 * the transport in both routes) are printed apart.  Asserts nothing about the figures; exits
 * non-zero when the two routes' caches differ or an answer is refused.
 * Usage: bench_evjson [scenario.json] (default scenarios/bench-16.json).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "bench_simc.h"
#include "engine/engine_int.h"
#include "sim/sim.h"
#include "xapi/cache_int.h"
#include "xapi/client.h"
#include "xapi/client_int.h"
#include "xapi/codec.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

/* ---- counting malloc (the bench's only thread; not under a sanitizer, which owns malloc) ---- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define COUNT_MALLOC 0
#endif
#endif
#ifndef COUNT_MALLOC
#define COUNT_MALLOC 1
#endif

static size_t heap_now, heap_peak;

#if COUNT_MALLOC
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static void counted(void *p)
{
    if (p) {
        heap_now += malloc_usable_size(p);
        if (heap_now > heap_peak)
            heap_peak = heap_now;
    }
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    counted(p);
    return p;
}

void *calloc(size_t n, size_t m)
{
    void *p = __libc_calloc(n, m);
    counted(p);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (p)
        heap_now -= malloc_usable_size(p);
    void *q = __libc_realloc(p, n);
    if (!q && p && n) /* failed: p still held */
        heap_now += malloc_usable_size(p);
    counted(q);
    return q;
}

void free(void *p)
{
    if (p)
        heap_now -= malloc_usable_size(p);
    __libc_free(p);
}
#endif

/* ---- answers ---- */

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* bench-16's snapshot as the decoded event.from result (read through an in-process client). */
static int read_snapshot(const char *path, struct xapi_value **out)
{
    struct err e = {0};
    struct bench_simc b;
    if (bench_simc_open(&b, path, "bench_evjson") != 0)
        return 1;
    struct xapi_value *p = xapi_value_new_array(), *cls = xapi_value_new_array();
    for (const char *const *k = engine_cache_classes; *k; k++)
        xapi_array_append_string(cls, *k);
    xapi_array_append_take(p, cls);
    xapi_array_append_string(p, "");
    xapi_array_append_take(p, xapi_value_new_double(0));
    int rc = xapi_call_sync(b.c, "event.from", p, NULL, out, &e);
    if (rc != 0)
        fprintf(stderr, "bench_evjson: event.from: %s\n", e.msg);
    bench_simc_close(&b);
    return rc != 0;
}

/* The JSON-RPC 2.0 response carrying result (as the simulator writes it over HTTP). */
static void encode(struct buf *b, const struct xapi_value *result)
{
    struct xapi_response r = {.ok = true, .value = (struct xapi_value *)result};
    json_t *id = json_integer(1);
    buf_reset(b);
    xapi_jsonrpc_encode_response(b, XAPI_PROTO_JSONRPC_V2, id, &r);
    json_decref(id);
}

/* A batch of the first n VM records of snap as "mod" events. */
static struct xapi_value *vm_mods(const struct xapi_value *snap, size_t n)
{
    struct xapi_value *evs = xapi_value_new_array();
    const struct xapi_value *all = xapi_struct_get(snap, "events");
    for (size_t i = 0; i < xapi_array_len(all) && xapi_array_len(evs) < n; i++) {
        const struct xapi_value *ev = xapi_array_get(all, i);
        if (strcmp(xapi_struct_str(ev, "class", ""), "vm") != 0)
            continue;
        struct xapi_value *m = xapi_value_dup(ev);
        xapi_struct_set_string(m, "operation", "mod");
        xapi_array_append_take(evs, m);
    }
    struct xapi_value *res = xapi_value_new_struct();
    xapi_struct_set_take(res, "events", evs);
    xapi_struct_set_string(res, "token", "00000000000000000099,00000000000000000000");
    return res;
}

static struct xapi_cache *cache_new(void)
{
    struct xapi_cache *k = xapi__cache_new();
    for (const char *const *cls = engine_cache_classes; *cls; cls++)
        if (engine_cache_fields(*cls))
            xapi__cache_set_fields(k, *cls, engine_cache_fields(*cls));
    return k;
}

static int route_old(struct xapi_cache *k, const struct buf *b, bool reset)
{
    struct xapi_response r;
    struct err e = {0};
    int rc = xapi_jsonrpc_decode_response(b->data, b->len, NULL, &r, NULL, &e);
    if (rc == 0)
        rc = xapi__cache_apply(k, r.value, reset, &e);
    xapi_response_cleanup(&r);
    if (rc != 0)
        fprintf(stderr, "bench_evjson: old route: %s\n", e.msg);
    return rc;
}

static int route_new(struct xapi_cache *k, const struct buf *b, bool reset)
{
    struct err e = {0};
    size_t off = 0, len = 0;
    struct xapi_batch *batch = NULL;
    int rc = xapi__evjson_scan(b->data, b->len, NULL, &off, &len, &e);
    if (rc == 0)
        rc = xapi__batch_from_json(k, b->data + off, len, off, NULL, reset, &batch, &e);
    if (rc == 0) {
        xapi__cache_commit(k, batch);
        xapi__batch_free(batch);
    }
    if (rc != 0)
        fprintf(stderr, "bench_evjson: straight route: %s\n", rc > 0 ? "not a result" : e.msg);
    return rc;
}

struct fig {
    size_t transient;
    double ms;
};

/* Apply answer b (on top of base, when given: a snapshot answer first) by route, reps times:
 * the transient heap of one application and the best CPU time of one. */
static int measure(int (*route)(struct xapi_cache *, const struct buf *, bool),
                   const struct buf *base, const struct buf *b, bool reset, int reps, struct fig *f,
                   size_t *cache_bytes)
{
    f->ms = 1e9;
    for (int i = 0; i < reps; i++) {
        struct xapi_cache *k = cache_new();
        if (base && route(k, base, true) != 0)
            return 1;
        size_t before = heap_now;
        heap_peak = heap_now;
        double t0 = cpu_ms();
        if (route(k, b, reset) != 0)
            return 1;
        double t = cpu_ms() - t0;
        if (t < f->ms)
            f->ms = t;
        /* over what is held before or after (the cache's own growth is not transient) */
        f->transient = heap_peak - (heap_now > before ? heap_now : before);
        *cache_bytes = xapi__cache_bytes(k);
        xapi__cache_free(k);
    }
    return 0;
}

static int one(const char *name, const struct buf *base, const struct buf *b, bool reset, int reps)
{
    struct fig o, n;
    size_t ko = 0, kn = 0;
    if (measure(route_old, base, b, reset, reps, &o, &ko) != 0 ||
        measure(route_new, base, b, reset, reps, &n, &kn) != 0)
        return 1;
    if (ko != kn) {
        fprintf(stderr, "bench_evjson: %s: the caches differ (%zu / %zu bytes)\n", name, ko, kn);
        return 1;
    }
    printf("  %-22s %8zu bytes of JSON: transient %8.2f MiB -> %6.3f MiB (%5.1fx), CPU %7.3f ms "
           "-> %7.3f ms (%4.1fx)\n",
           name, b->len, (double)o.transient / (1 << 20), (double)n.transient / (1 << 20),
           (double)o.transient / (double)(n.transient ? n.transient : 1), o.ms, n.ms,
           o.ms / (n.ms > 0 ? n.ms : 1e-9));
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : PP_SOURCE_ROOT "/scenarios/bench-16.json";
    struct xapi_value *snap = NULL;
    if (read_snapshot(path, &snap) != 0)
        return 1;
    struct buf sb, mb;
    buf_init(&sb);
    buf_init(&mb);
    encode(&sb, snap);
    printf("bench-evjson: %s, the daemon's classes and fields; old route (jansson + value tree + "
           "cache) -> straight (evjson.c)\n",
           path);
    if (!COUNT_MALLOC)
        printf("  (built with a sanitizer: the heap is not counted)\n");
    int rc = one("snapshot", NULL, &sb, true, 5);
    if (rc == 0) /* a new session's snapshot replacing a full cache (the old records held until
                  * the new ones are built, in both routes' own ways) */
        rc = one("snapshot over a cache", &sb, &sb, true, 5);
    static const size_t sizes[] = {1, 10, 100};
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        struct xapi_value *m = vm_mods(snap, sizes[i]);
        encode(&mb, m);
        xapi_value_free(m);
        char name[32];
        snprintf(name, sizeof(name), "batch of %zu VM mods", sizes[i]);
        rc = one(name, &sb, &mb, false, 20);
    }
    xapi_value_free(snap);
    buf_cleanup(&sb);
    buf_cleanup(&mb);
    return rc;
}
