/* SPDX-License-Identifier: MIT */
/*
 * records.h - a read-only view of XAPI records by class and ref: what the client's object cache
 * holds, or a table in a test.  Code that only reads records (the inventory conversion, the
 * executor's derivations) takes this view, so it runs on a live pool's cache and on fixed data
 * alike.
 *
 * Ownership: records are borrowed from whatever ctx is (for a client: valid until the next loop
 * turn).  Thread: the view's owner's (a client's view: the loop's thread).
 */
#ifndef PP_XAPI_RECORDS_H
#define PP_XAPI_RECORDS_H

#include <stdbool.h>

#include "xapi/value.h"

struct xapi_client;

struct xapi_records {
    void *ctx;
    /* Borrowed record of lowercase class cls ("host", "vm", ...) and ref, or NULL. */
    const struct xapi_value *(*get)(void *ctx, const char *cls, const char *ref);
    /* Visit every record of cls until fn returns false. */
    void (*foreach)(void *ctx, const char *cls,
                    bool (*fn)(void *fctx, const char *ref, const struct xapi_value *rec),
                    void *fctx);
};

/* Fill r so that it reads c's object cache (xapi_cache_get / _foreach).  c is borrowed. */
void xapi_records_from_client(struct xapi_records *r, struct xapi_client *c);

#endif
