/* SPDX-License-Identifier: MIT */
/*
 * fuzz_evjson.c - libFuzzer harness for the straight route of event.from answers
 * (src/xapi/evjson.c) against the old one.  Each input is a JSON-RPC response body, fed to two
 * caches that hold the same first batch (class "vm" narrowed as the daemon narrows it): one
 * through xapi_jsonrpc_decode_response + xapi__cache_apply, one as the client takes it
 * (xapi__evjson_scan, then xapi__batch_from_json + xapi__cache_commit; what the scan does not
 * take as a result goes the old way).  Both apply it, holding the same records, token and
 * bytes, or both refuse it and hold what they held (and the straight route says why).
 */
#include "fuzz_common.h"

#include "base/err.h"
#include "base/str.h"
#include "xapi/cache_int.h"
#include "xapi/client_int.h"
#include "xapi/codec.h"

#include <string.h>

static const char *const vm_fields[] = {"uuid", "resident_on", "VBDs", "power_state", NULL};

static const char first[] =
    "{\"result\":{\"events\":[{\"class\":\"vm\",\"operation\":\"add\",\"ref\":\"OpaqueRef:seed\","
    "\"snapshot\":{\"uuid\":\"seed-vm\",\"resident_on\":\"OpaqueRef:h\"}}],\"token\":\"seed\"},"
    "\"id\":1}";

static bool same_tree(const struct xapi_value *a, const struct xapi_value *b)
{
    if (!a || !b)
        return a == b;
    if (!xapi_value_equal(a, b) || a->type != b->type)
        return false;
    for (size_t i = 0; a->type == XAPI_STRUCT && i < a->u.st.n; i++)
        if (strcmp(a->u.st.keys[i], b->u.st.keys[i]) != 0 ||
            !same_tree(a->u.st.vals[i], b->u.st.vals[i]))
            return false;
    for (size_t i = 0; a->type == XAPI_ARRAY && i < a->u.arr.n; i++)
        if (!same_tree(a->u.arr.items[i], b->u.arr.items[i]))
            return false;
    return true;
}

/* The old route; 0 when applied, and the decoded result in *r (caller cleans up). */
static int old_route(struct xapi_cache *k, const char *d, size_t n, struct xapi_response *r,
                     bool reset)
{
    struct err e = {0};
    int rc = xapi_jsonrpc_decode_response(d, n, NULL, r, NULL, &e);
    if (rc == 0 && !r->ok)
        return 1;
    return rc == 0 ? xapi__cache_apply(k, r->value, reset, &e) : rc;
}

static int new_route(struct xapi_cache *k, const char *d, size_t n, bool reset)
{
    struct err e = {0};
    size_t off = 0, len = 0;
    if (xapi__evjson_scan(d, n, NULL, &off, &len, &e) != 0) {
        struct xapi_response r;
        int rc = old_route(k, d, n, &r, reset);
        xapi_response_cleanup(&r);
        return rc;
    }
    FUZZ_CHECK(off + len <= n);
    struct xapi_batch *b = NULL;
    int rc = xapi__batch_from_json(k, d + off, len, off, NULL, reset, &b, &e);
    if (rc != 0) {
        FUZZ_CHECK(b == NULL && e.code == rc && e.msg[0] != '\0');
        return rc;
    }
    xapi__cache_commit(k, b);
    xapi__batch_free(b);
    return 0;
}

static struct xapi_cache *seeded(void)
{
    struct xapi_cache *k = xapi__cache_new();
    xapi__cache_set_fields(k, "vm", vm_fields);
    FUZZ_CHECK(new_route(k, first, strlen(first), true) == 0);
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    bool reset = size % 2 == 0;
    struct xapi_cache *a = seeded(), *b = seeded();
    size_t before = xapi__cache_bytes(a);
    struct xapi_response r;
    int ra = old_route(a, d, size, &r, reset);
    int rb = new_route(b, d, size, reset);
    FUZZ_CHECK((ra == 0) == (rb == 0));
    FUZZ_CHECK(strcmp(xapi__cache_token(a), xapi__cache_token(b)) == 0);
    FUZZ_CHECK(xapi__cache_bytes(a) == xapi__cache_bytes(b));
    FUZZ_CHECK(xapi__cache_interned(a) == xapi__cache_interned(b));
    if (ra != 0) {
        FUZZ_CHECK(xapi__cache_bytes(b) == before);
        FUZZ_CHECK(strcmp(xapi__cache_token(b), "seed") == 0);
    }
    const struct xapi_value *evs = ra == 0 ? xapi_struct_get(r.value, "events") : NULL;
    for (size_t i = 0; i < xapi_array_len(evs); i++) {
        const struct xapi_value *ev = xapi_array_get(evs, i);
        const char *cls = xapi_struct_str(ev, "class", ""), *ref = xapi_struct_str(ev, "ref", "");
        FUZZ_CHECK(xapi__cache_count(a, cls) == xapi__cache_count(b, cls));
        FUZZ_CHECK(same_tree(xapi__cache_get(a, cls, ref), xapi__cache_get(b, cls, ref)));
    }
    FUZZ_CHECK(same_tree(xapi__cache_get(a, "vm", "OpaqueRef:seed"),
                         xapi__cache_get(b, "vm", "OpaqueRef:seed")));
    xapi_response_cleanup(&r);
    xapi__cache_free(a);
    xapi__cache_free(b);
    return 0;
}
