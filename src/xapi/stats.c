/* SPDX-License-Identifier: MIT */
/*
 * stats.c - counts of the XAPI traffic: per client (calls sent by method, XAPI errors, transport
 * errors, reconnects, logins; the loop's thread) and the same for the whole process behind a
 * mutex, so that /metrics reads it from any thread.  A "call" is a request put on the wire:
 * logins, replays and long-polls included, as the host counts them.
 */
#include <pthread.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xapi__counts g_counts;

static void counts_add_method(struct xapi__counts *k, const char *method)
{
    for (size_t i = 0; i < k->m.n; i++) {
        if (str_eq(k->m.items[i].method, method)) {
            k->m.items[i].n++;
            return;
        }
    }
    vec_push(&k->m, ((struct xapi_method_count){xstrdup(method), 1}));
}

static void counts_bump(struct xapi__counts *k, enum xapi__count what, const char *method)
{
    switch (what) {
    case XAPI__COUNT_CALL:
        k->t.calls++;
        counts_add_method(k, method);
        break;
    case XAPI__COUNT_XAPI_ERROR:
        k->t.xapi_errors++;
        break;
    case XAPI__COUNT_TRANSPORT_ERROR:
        k->t.transport_errors++;
        break;
    case XAPI__COUNT_RECONNECT:
        k->t.reconnects++;
        break;
    case XAPI__COUNT_LOGIN:
        k->t.logins++;
        break;
    }
}

/* Count one event in the client's counts and the process' (see client_int.h). */
void xapi__count(struct xapi__counts *k, enum xapi__count what, const char *method)
{
    counts_bump(k, what, method);
    pthread_mutex_lock(&g_lock);
    counts_bump(&g_counts, what, method);
    pthread_mutex_unlock(&g_lock);
}

/* Free what k holds (see client_int.h). */
void xapi__counts_cleanup(struct xapi__counts *k)
{
    for (size_t i = 0; i < k->m.n; i++)
        free(k->m.items[i].method);
    vec_free(&k->m);
}

static void counts_read(const struct xapi__counts *k, struct xapi_counts *out,
                        void (*fn)(void *ctx, const char *method, uint64_t n), void *ctx)
{
    if (out)
        *out = k->t;
    for (size_t i = 0; fn && i < k->m.n; i++)
        fn(ctx, k->m.items[i].method, k->m.items[i].n);
}

/* This client's counts (see client.h).  The loop's thread. */
void xapi_client_counts(const struct xapi_client *c, struct xapi_counts *out,
                        void (*fn)(void *ctx, const char *method, uint64_t n), void *ctx)
{
    counts_read(xapi__client_counts(c), out, fn, ctx);
}

/* The process' counts (see client.h).  Any thread; fn runs under the counters' lock. */
void xapi_process_counts(struct xapi_counts *out,
                         void (*fn)(void *ctx, const char *method, uint64_t n), void *ctx)
{
    pthread_mutex_lock(&g_lock);
    counts_read(&g_counts, out, fn, ctx);
    pthread_mutex_unlock(&g_lock);
}
