/* SPDX-License-Identifier: MIT */
/* records.c - the records view over a client's object cache (see records.h). */
#include "xapi/records.h"

#include "xapi/client.h"

static const struct xapi_value *client_get(void *ctx, const char *cls, const char *ref)
{
    return ref ? xapi_cache_get((struct xapi_client *)ctx, cls, ref) : NULL;
}

static void client_foreach(void *ctx, const char *cls,
                           bool (*fn)(void *fctx, const char *ref, const struct xapi_value *rec),
                           void *fctx)
{
    xapi_cache_foreach((struct xapi_client *)ctx, cls, fn, fctx);
}

/* A view of c's cache (see records.h). */
void xapi_records_from_client(struct xapi_records *r, struct xapi_client *c)
{
    r->ctx = c;
    r->get = client_get;
    r->foreach = client_foreach;
}
