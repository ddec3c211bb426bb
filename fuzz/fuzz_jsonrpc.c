/* SPDX-License-Identifier: MIT */
/*
 * fuzz_jsonrpc.c - libFuzzer harness for the JSON-RPC decoders.  Each input goes to the call and
 * the response decoders; whatever decodes is encoded again (responses in both versions and, for
 * errors, the pre-dispatch form) and the round trip must be stable: decode(encode(x)) succeeds
 * with the same method, id and value, and encoding that gives the same bytes.
 */
#include "fuzz_common.h"

#include "base/buf.h"
#include "base/err.h"
#include "xapi/codec.h"

#include <string.h>

static void check_error(int rc, const struct err *e)
{
    FUZZ_CHECK(rc < 0);
    FUZZ_CHECK(e->code == rc);
    FUZZ_CHECK(e->msg[0] != '\0');
}

static void fuzz_call(const char *data, size_t size, const struct xapi_limits *lim)
{
    struct xapi_call c1, c2;
    struct err e = {0};
    struct buf b1, b2;
    int rc = xapi_jsonrpc_decode_call(data, size, lim, &c1, &e);

    if (rc) {
        check_error(rc, &e);
        FUZZ_CHECK(c1.method == NULL && c1.params == NULL && c1.id == NULL);
        return;
    }
    FUZZ_CHECK(c1.method && c1.params && c1.params->type == XAPI_ARRAY && c1.id);
    FUZZ_CHECK(c1.proto == XAPI_PROTO_JSONRPC_V1 || c1.proto == XAPI_PROTO_JSONRPC_V2);
    buf_init(&b1);
    buf_init(&b2);
    xapi_jsonrpc_encode_call(&b1, c1.proto, c1.method, c1.params, c1.id);
    rc = xapi_jsonrpc_decode_call(buf_str(&b1), b1.len, lim, &c2, &e);
    if (rc)
        fprintf(stderr, "re-decoding failed: %s\n", e.msg);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(strcmp(c1.method, c2.method) == 0 && c1.proto == c2.proto);
    FUZZ_CHECK(json_equal(c1.id, c2.id));
    xapi_jsonrpc_encode_call(&b2, c2.proto, c2.method, c2.params, c2.id);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    /* the first trip may turn null into "" (void); from then on values are fixed points */
    xapi_call_cleanup(&c1);
    FUZZ_CHECK(xapi_jsonrpc_decode_call(buf_str(&b2), b2.len, lim, &c1, &e) == 0);
    FUZZ_CHECK(xapi_value_equal(c1.params, c2.params));
    xapi_call_cleanup(&c1);
    xapi_call_cleanup(&c2);
    buf_cleanup(&b1);
    buf_cleanup(&b2);
}

static void round_trip_response(const struct xapi_response *r1, const json_t *id,
                                enum xapi_proto ver, bool predispatch,
                                const struct xapi_limits *lim)
{
    struct xapi_response r2, r3;
    struct err e = {0};
    struct buf b1, b2;
    json_t *id2 = NULL;
    int rc;

    buf_init(&b1);
    buf_init(&b2);
    if (predispatch)
        xapi_jsonrpc_encode_predispatch_error(&b1, r1->error);
    else
        xapi_jsonrpc_encode_response(&b1, ver, id, r1);
    rc = xapi_jsonrpc_decode_response(buf_str(&b1), b1.len, lim, &r2, &id2, &e);
    if (rc)
        fprintf(stderr, "re-decoding %s failed: %s\n", buf_str(&b1), e.msg);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(r1->ok == r2.ok);
    if (!r1->ok) /* error descriptions are strings already: exactly the same */
        FUZZ_CHECK(xapi_value_equal(r1->error, r2.error));
    if (predispatch)
        FUZZ_CHECK(json_integer_value(id2) == 0);
    else
        FUZZ_CHECK((id == NULL || json_is_null(id)) ? id2 == NULL : json_equal(id, id2));
    if (predispatch)
        xapi_jsonrpc_encode_predispatch_error(&b2, r2.error);
    else
        xapi_jsonrpc_encode_response(&b2, ver, id2, &r2);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    FUZZ_CHECK(xapi_jsonrpc_decode_response(buf_str(&b2), b2.len, lim, &r3, NULL, &e) == 0);
    FUZZ_CHECK(r2.ok ? xapi_value_equal(r2.value, r3.value) : xapi_value_equal(r2.error, r3.error));
    json_decref(id2);
    xapi_response_cleanup(&r2);
    xapi_response_cleanup(&r3);
    buf_cleanup(&b1);
    buf_cleanup(&b2);
}

/* Any value from JSON must also go out as a well-formed XML-RPC fragment (task.result) that
 * reads back and re-encodes to the same bytes. */
static void cross_to_xml(const struct xapi_value *v, const struct xapi_limits *lim)
{
    struct xapi_value *x = NULL;
    struct err e = {0};
    struct buf b1, b2;
    int rc;

    buf_init(&b1);
    buf_init(&b2);
    xapi_xmlrpc_encode_value(&b1, v);
    rc = xapi_xmlrpc_decode_value(buf_str(&b1), b1.len, lim, &x, &e);
    if (rc)
        fprintf(stderr, "XML fragment %s does not decode: %s\n", buf_str(&b1), e.msg);
    FUZZ_CHECK(rc == 0);
    xapi_xmlrpc_encode_value(&b2, x);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    xapi_value_free(x);
    buf_cleanup(&b1);
    buf_cleanup(&b2);
}

static void fuzz_response(const char *data, size_t size, const struct xapi_limits *lim)
{
    struct xapi_response r;
    struct err e = {0};
    json_t *id = NULL;
    int rc = xapi_jsonrpc_decode_response(data, size, lim, &r, &id, &e);

    if (rc) {
        check_error(rc, &e);
        FUZZ_CHECK(r.value == NULL && r.error == NULL && id == NULL);
        return;
    }
    FUZZ_CHECK(r.ok ? r.value != NULL : (r.error && xapi_array_len(r.error) > 0));
    round_trip_response(&r, id, XAPI_PROTO_JSONRPC_V1, false, lim);
    round_trip_response(&r, id, XAPI_PROTO_JSONRPC_V2, false, lim);
    if (!r.ok)
        round_trip_response(&r, id, XAPI_PROTO_JSONRPC_V2, true, lim);
    cross_to_xml(r.ok ? r.value : r.error, lim);
    json_decref(id);
    xapi_response_cleanup(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xapi_limits req, resp;
    const char *s = (const char *)data;

    xapi_limits_request(&req);
    xapi_limits_response(&resp);
    fuzz_call(s, size, &req);
    fuzz_response(s, size, &resp);
    return 0;
}
