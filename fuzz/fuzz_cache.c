/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cache.c - libFuzzer harness for the object cache's compact records (src/xapi/cache.c,
 * cache_rec.c) fed with what a pool may answer to event.from.  Each input is decoded as a
 * JSON-RPC response; a decoded result goes to a cache (class "vm" narrowed to a few fields, as
 * the daemon narrows it) on top of a first batch.  Applied: every (class, ref) holds what its
 * last event in the batch says (the snapshot, projected for "vm"; nothing after a del).
 * Refused: the error is set and the first batch is still there.  Either way, an empty snapshot
 * afterwards leaves no interned string behind (every reference was given back).
 */
#include "fuzz_common.h"

#include "base/err.h"
#include "base/str.h"
#include "xapi/cache_int.h"
#include "xapi/client_int.h"
#include "xapi/codec.h"

#include <string.h>

static const char *const vm_fields[] = {"uuid", "resident_on", "VBDs", "power_state", NULL};

static bool vm_keeps(const char *name)
{
    for (size_t i = 0; vm_fields[i]; i++)
        if (strcmp(vm_fields[i], name) == 0)
            return true;
    return false;
}

/* What cache k must hold for event i of evs, unless a later event names the same object. */
static void check_event(const struct xapi_cache *k, const struct xapi_value *evs, size_t i)
{
    const struct xapi_value *ev = xapi_array_get(evs, i);
    const char *cls = xapi_struct_str(ev, "class", "");
    const char *ref = xapi_struct_str(ev, "ref", "");
    for (size_t j = i + 1; j < xapi_array_len(evs); j++) {
        const struct xapi_value *later = xapi_array_get(evs, j);
        if (str_eq_nocase(xapi_struct_str(later, "class", ""), cls) &&
            strcmp(xapi_struct_str(later, "ref", ""), ref) == 0)
            return;
    }
    const struct xapi_value *got = xapi__cache_get(k, cls, ref);
    if (strcmp(xapi_struct_str(ev, "operation", ""), "del") == 0) {
        FUZZ_CHECK(got == NULL);
        return;
    }
    const struct xapi_value *snap = xapi_struct_get(ev, "snapshot");
    FUZZ_CHECK(got != NULL && got->type == XAPI_STRUCT);
    if (!str_eq_nocase(cls, "vm")) {
        FUZZ_CHECK(xapi_value_equal(got, snap));
        return;
    }
    size_t kept = 0;
    for (size_t m = 0; m < snap->u.st.n; m++)
        if (vm_keeps(snap->u.st.keys[m])) {
            kept++;
            FUZZ_CHECK(
                xapi_value_equal(xapi_struct_get(got, snap->u.st.keys[m]), snap->u.st.vals[m]));
        }
    FUZZ_CHECK(got->u.st.n == kept);
}

static struct xapi_value *first_batch(void)
{
    struct xapi_value *b = xapi_value_new_struct();
    struct xapi_value *evs = xapi_value_new_array();
    struct xapi_value *ev = xapi_value_new_struct();
    struct xapi_value *snap = xapi_value_new_struct();
    xapi_struct_set_string(snap, "uuid", "seed-vm");
    xapi_struct_set_string(snap, "resident_on", "OpaqueRef:seed-host");
    xapi_struct_set_string(ev, "class", "vm");
    xapi_struct_set_string(ev, "operation", "add");
    xapi_struct_set_string(ev, "ref", "OpaqueRef:seed");
    xapi_struct_set_take(ev, "snapshot", snap);
    xapi_array_append_take(evs, ev);
    xapi_struct_set_take(b, "events", evs);
    xapi_struct_set_string(b, "token", "seed");
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xapi_limits lim;
    struct xapi_response r;
    struct err e = {0};
    xapi_limits_response(&lim);
    if (xapi_jsonrpc_decode_response((const char *)data, size, &lim, &r, NULL, &e) != 0)
        return 0;
    struct xapi_cache *k = xapi__cache_new();
    xapi__cache_set_fields(k, "vm", vm_fields);
    struct xapi_value *b = first_batch();
    FUZZ_CHECK(xapi__cache_apply(k, b, true, &e) == 0);
    bool reset = size % 2 == 0;
    int rc = r.ok ? xapi__cache_apply(k, r.value, reset, &e) : 0;
    if (rc != 0) {
        FUZZ_CHECK(e.code == rc && e.msg[0] != '\0');
        FUZZ_CHECK(xapi__cache_get(k, "vm", "OpaqueRef:seed") != NULL);
        FUZZ_CHECK(strcmp(xapi__cache_token(k), "seed") == 0);
    } else if (r.ok) {
        const struct xapi_value *evs = xapi_struct_get(r.value, "events");
        for (size_t i = 0; i < xapi_array_len(evs); i++)
            check_event(k, evs, i);
        FUZZ_CHECK(strcmp(xapi__cache_token(k), xapi_struct_str(r.value, "token", "")) == 0);
    }
    struct xapi_value *empty = xapi_value_new_struct();
    xapi_struct_set_take(empty, "events", xapi_value_new_array());
    xapi_struct_set_string(empty, "token", "end");
    FUZZ_CHECK(xapi__cache_apply(k, empty, true, &e) == 0);
    FUZZ_CHECK(xapi__cache_interned(k) == 0);
    xapi_value_free(empty);
    xapi_value_free(b);
    xapi__cache_free(k);
    xapi_response_cleanup(&r);
    return 0;
}
