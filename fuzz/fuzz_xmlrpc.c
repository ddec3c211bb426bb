/* SPDX-License-Identifier: MIT */
/*
 * fuzz_xmlrpc.c - libFuzzer harness for the XML-RPC decoders.  Each input goes to the call, the
 * response and the value (task.result fragment) decoders; whatever decodes is encoded again and
 * the round trip must be stable: decode(encode(x)) succeeds, gives the same value, and encoding
 * that gives the same bytes.  Errors must carry a code and a message.
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

static void fuzz_call(const char *data, size_t size, const struct xapi_limits *lim,
                      const struct xapi_limits *big)
{
    struct xapi_call c1, c2;
    struct err e = {0};
    struct buf b1, b2;
    int rc = xapi_xmlrpc_decode_call(data, size, lim, &c1, &e);

    if (rc) {
        check_error(rc, &e);
        FUZZ_CHECK(c1.method == NULL && c1.params == NULL);
        return;
    }
    FUZZ_CHECK(c1.method && c1.method[0] && c1.params && c1.params->type == XAPI_ARRAY);
    buf_init(&b1);
    buf_init(&b2);
    xapi_xmlrpc_encode_call(&b1, c1.method, c1.params);
    rc = xapi_xmlrpc_decode_call(buf_str(&b1), b1.len, big, &c2, &e);
    if (rc)
        fprintf(stderr, "re-decoding failed: %s\n", e.msg);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(strcmp(c1.method, c2.method) == 0);
    xapi_xmlrpc_encode_call(&b2, c2.method, c2.params);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    xapi_call_cleanup(&c1);
    xapi_call_cleanup(&c2);
    buf_cleanup(&b1);
    buf_cleanup(&b2);
}

static void fuzz_response(const char *data, size_t size, const struct xapi_limits *lim)
{
    struct xapi_response r1, r2, r3;
    struct err e = {0};
    struct buf b1, b2;
    int rc = xapi_xmlrpc_decode_response(data, size, lim, &r1, &e);

    if (rc) {
        check_error(rc, &e);
        FUZZ_CHECK(r1.value == NULL && r1.error == NULL);
        return;
    }
    FUZZ_CHECK(r1.ok ? r1.value != NULL : (r1.error && xapi_array_len(r1.error) > 0));
    buf_init(&b1);
    buf_init(&b2);
    xapi_xmlrpc_encode_response(&b1, &r1);
    rc = xapi_xmlrpc_decode_response(buf_str(&b1), b1.len, lim, &r2, &e);
    if (rc)
        fprintf(stderr, "re-decoding failed: %s\n", e.msg);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(r1.ok == r2.ok);
    if (!r1.ok) /* error descriptions are strings already: exactly the same */
        FUZZ_CHECK(xapi_value_equal(r1.error, r2.error));
    xapi_xmlrpc_encode_response(&b2, &r2);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    FUZZ_CHECK(xapi_xmlrpc_decode_response(buf_str(&b2), b2.len, lim, &r3, &e) == 0);
    FUZZ_CHECK(r2.ok ? xapi_value_equal(r2.value, r3.value) : xapi_value_equal(r2.error, r3.error));
    xapi_response_cleanup(&r1);
    xapi_response_cleanup(&r2);
    xapi_response_cleanup(&r3);
    buf_cleanup(&b1);
    buf_cleanup(&b2);
}

/* v as the JSON mapping gives it back: datetimes become strings, void becomes "". */
static struct xapi_value *json_view(const struct xapi_value *v)
{
    struct xapi_value *c;

    switch (v->type) {
    case XAPI_DATETIME:
        return xapi_value_new_string(v->u.s);
    case XAPI_VOID:
        return xapi_value_new_string("");
    case XAPI_ARRAY:
        c = xapi_value_new_array();
        for (size_t i = 0; i < xapi_array_len(v); i++)
            xapi_array_append_take(c, json_view(xapi_array_get(v, i)));
        return c;
    case XAPI_STRUCT:
        c = xapi_value_new_struct();
        for (size_t i = 0; i < xapi_struct_len(v); i++)
            xapi_struct_append_take(c, strdup(v->u.st.keys[i]), json_view(v->u.st.vals[i]));
        return c;
    default:
        return xapi_value_dup(v);
    }
}

static void fuzz_value(const char *data, size_t size, const struct xapi_limits *lim)
{
    struct xapi_value *v1 = NULL, *v2 = NULL;
    struct err e = {0};
    struct buf b1, b2;
    int rc = xapi_xmlrpc_decode_value(data, size, lim, &v1, &e);

    if (rc) {
        check_error(rc, &e);
        FUZZ_CHECK(v1 == NULL);
        return;
    }
    buf_init(&b1);
    buf_init(&b2);
    xapi_xmlrpc_encode_value(&b1, v1);
    FUZZ_CHECK(xapi_xmlrpc_decode_value(buf_str(&b1), b1.len, lim, &v2, &e) == 0);
    xapi_xmlrpc_encode_value(&b2, v2);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    /* the JSON mapping keeps everything XML-RPC decoded (strings are valid UTF-8 here) */
    json_t *j = xapi_value_to_json(v2);
    FUZZ_CHECK(j != NULL);
    struct xapi_value *back = xapi_value_from_json(j), *want = json_view(v2);
    FUZZ_CHECK(xapi_value_equal(back, want));
    xapi_value_free(back);
    xapi_value_free(want);
    json_decref(j);
    buf_reset(&b2);
    xapi_value_dump(&b2, v2);
    xapi_value_free(v1);
    xapi_value_free(v2);
    buf_cleanup(&b1);
    buf_cleanup(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xapi_limits req, resp;
    const char *s = (const char *)data;

    xapi_limits_request(&req);
    xapi_limits_response(&resp);
    fuzz_call(s, size, &req, &resp);
    fuzz_response(s, size, &resp);
    fuzz_value(s, size, &resp);
    return 0;
}
