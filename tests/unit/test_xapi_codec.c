/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_codec.c - unit tests of XAPI's wire codecs: JSON-RPC v1/v2 and XML-RPC, both
 * directions; byte-exact examples from shared/reference/xapi.md section 1; what other clients
 * send; malformed and hostile input (each with its PP_E* code and a message naming where and
 * why).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "xapi/codec.h"
#include "xapi/value.h"

/* ---- helpers ---- */

/* A value of every type, nested: what the round-trip tests send through each protocol. */
static struct xapi_value *every_type(void)
{
    struct xapi_value *st = xapi_value_new_struct();
    struct xapi_value *arr = xapi_value_new_array();
    struct xapi_value *inner = xapi_value_new_struct();
    struct xapi_value *empty_arr = xapi_value_new_array();

    xapi_struct_set_string(st, "ref", "OpaqueRef:5f1c3a2e-8d6b-4c8e-9f4a-1b2c3d4e5f60");
    xapi_struct_set_string(st, "null_ref", XAPI_NULL_REF);
    xapi_struct_set_string(st, "enum", "Running");
    xapi_struct_set_string(st, "text", "  a <b> & \"c\" 'd'\n\tline2  ");
    xapi_struct_set_string(st, "utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    xapi_struct_set_int(st, "big", 4294967296LL);
    xapi_struct_set_int(st, "neg", -42);
    xapi_struct_set_int(st, "max", INT64_MAX);
    xapi_struct_set_int(st, "min", INT64_MIN);
    xapi_struct_set_take(st, "half", xapi_value_new_double(0.5));
    xapi_struct_set_take(st, "tenth", xapi_value_new_double(0.1));
    xapi_struct_set_take(st, "third", xapi_value_new_double(1.0 / 3.0));
    xapi_struct_set_take(st, "huge", xapi_value_new_double(1.5e300));
    xapi_struct_set_take(st, "whole", xapi_value_new_double(3.0));
    xapi_struct_set_bool(st, "yes", true);
    xapi_struct_set_bool(st, "no", false);
    xapi_struct_set_take(st, "when", xapi_value_new_datetime("20250319T04:16:24Z"));
    xapi_array_append_string(arr, "OpaqueRef:a");
    xapi_array_append_take(arr, xapi_value_new_int(7));
    xapi_struct_set_string(inner, "boot_time", "1742357784.");
    xapi_struct_set_take(inner, "empty_map", xapi_value_new_struct());
    xapi_array_append_take(arr, inner);
    xapi_struct_set_take(st, "set", arr);
    xapi_struct_set_take(st, "empty_set", empty_arr);
    xapi_struct_set_string(st, "empty_string", "");
    return st;
}

/* every_type() as it comes back over JSON: datetimes are strings there. */
static struct xapi_value *every_type_json(void)
{
    struct xapi_value *v = every_type();
    xapi_struct_set_string(v, "when", "20250319T04:16:24Z");
    return v;
}

static void assert_value_equal(const struct xapi_value *want, const struct xapi_value *got)
{
    if (!xapi_value_equal(want, got)) {
        struct buf a, b;
        buf_init(&a);
        buf_init(&b);
        xapi_value_dump(&a, want);
        xapi_value_dump(&b, got);
        print_error("want %s\n got  %s\n", buf_str(&a), buf_str(&b));
        buf_cleanup(&a);
        buf_cleanup(&b);
        fail();
    }
}

/* The message must contain each of the given fragments. */
static void assert_msg_has(const struct err *e, const char *frag)
{
    if (!strstr(e->msg, frag)) {
        print_error("message \"%s\" lacks \"%s\"\n", e->msg, frag);
        fail();
    }
}

static struct xapi_limits small_limits(void)
{
    struct xapi_limits l = {
        .max_doc_bytes = 4096, .max_depth = 4, .max_string_bytes = 64, .max_items = 50};
    return l;
}

/* ---- JSON-RPC ---- */

static void test_json_call_v2_byte_exact(void **state)
{
    struct xapi_value *p = xapi_value_new_array();
    json_t *id = json_integer(7);
    struct buf b;
    struct xapi_call c;
    struct err e = {0};
    (void)state;
    xapi_array_append_string(p, "OpaqueRef:s");
    xapi_array_append_string(p, "OpaqueRef:h");
    buf_init(&b);
    xapi_jsonrpc_encode_call(&b, XAPI_PROTO_JSONRPC_V2, "host.get_record", p, id);
    assert_string_equal(buf_str(&b), "{\"jsonrpc\":\"2.0\",\"method\":\"host.get_record\","
                                     "\"params\":[\"OpaqueRef:s\",\"OpaqueRef:h\"],\"id\":7}");
    assert_int_equal(xapi_jsonrpc_decode_call(b.data, b.len, NULL, &c, &e), 0);
    assert_string_equal(c.method, "host.get_record");
    assert_int_equal(c.proto, XAPI_PROTO_JSONRPC_V2);
    assert_true(json_equal(c.id, id));
    assert_value_equal(p, c.params);
    xapi_call_cleanup(&c);
    assert_null(c.method);
    json_decref(id);

    /* v1: no "jsonrpc" member, string id */
    buf_reset(&b);
    id = json_string("x");
    xapi_jsonrpc_encode_call(&b, XAPI_PROTO_JSONRPC_V1, "session.logout", p, id);
    assert_string_equal(buf_str(&b), "{\"method\":\"session.logout\","
                                     "\"params\":[\"OpaqueRef:s\",\"OpaqueRef:h\"],\"id\":\"x\"}");
    assert_int_equal(xapi_jsonrpc_decode_call(b.data, b.len, NULL, &c, &e), 0);
    assert_int_equal(c.proto, XAPI_PROTO_JSONRPC_V1);
    assert_string_equal(json_string_value(c.id), "x");
    xapi_call_cleanup(&c);
    json_decref(id);
    xapi_value_free(p);
    buf_cleanup(&b);
}

static void test_json_round_trip_every_type(void **state)
{
    struct xapi_value *p = xapi_value_new_array(), *want = xapi_value_new_array();
    struct xapi_call c;
    struct xapi_response r = {0}, r2;
    struct err e = {0};
    struct buf b;
    json_t *id = json_integer(123456789012LL), *id2 = NULL;
    (void)state;
    xapi_array_append_take(p, every_type());
    xapi_array_append_take(p, xapi_value_new_void());
    xapi_array_append_take(want, every_type_json());
    xapi_array_append_string(want, ""); /* void is "" on this wire */
    buf_init(&b);
    for (int v = 1; v <= 2; v++) {
        buf_reset(&b);
        xapi_jsonrpc_encode_call(&b, (enum xapi_proto)v, "VM.set_other_config", p, id);
        assert_int_equal(xapi_jsonrpc_decode_call(b.data, b.len, NULL, &c, &e), 0);
        assert_int_equal(c.proto, v);
        assert_value_equal(want, c.params);
        xapi_call_cleanup(&c);

        xapi_response_set_ok_take(&r, every_type());
        buf_reset(&b);
        xapi_jsonrpc_encode_response(&b, (enum xapi_proto)v, id, &r);
        assert_int_equal(xapi_jsonrpc_decode_response(b.data, b.len, NULL, &r2, &id2, &e), 0);
        assert_true(r2.ok);
        assert_true(json_equal(id, id2));
        struct xapi_value *w = every_type_json();
        assert_value_equal(w, r2.value);
        xapi_value_free(w);
        xapi_response_cleanup(&r2);
        json_decref(id2);

        const char *params[] = {"OpaqueRef:h", "10.0.0.1"};
        xapi_response_set_error(&r, "HOST_OFFLINE", params, 2);
        buf_reset(&b);
        xapi_jsonrpc_encode_response(&b, (enum xapi_proto)v, id, &r);
        assert_int_equal(xapi_jsonrpc_decode_response(b.data, b.len, NULL, &r2, NULL, &e), 0);
        assert_false(r2.ok);
        assert_value_equal(r.error, r2.error);
        assert_string_equal(xapi_response_error_code(&r2), "HOST_OFFLINE");
        xapi_response_cleanup(&r2);
    }
    xapi_response_cleanup(&r);
    json_decref(id);
    xapi_value_free(p);
    xapi_value_free(want);
    buf_cleanup(&b);
}

/* The examples of shared/reference/xapi.md section 1, byte for byte, both directions. */
static void test_json_reference_examples(void **state)
{
    struct xapi_response r = {0}, d;
    struct buf b;
    struct err e = {0};
    json_t *id7 = json_integer(7), *idx = json_string("x"), *got = NULL;
    (void)state;
    buf_init(&b);

    const char *ok2 = "{\"jsonrpc\":\"2.0\",\"result\":{\"enabled\":true,"
                      "\"memory_overhead\":125829120},\"id\":7}";
    struct xapi_value *rec = xapi_value_new_struct();
    xapi_struct_set_bool(rec, "enabled", true);
    xapi_struct_set_int(rec, "memory_overhead", 125829120);
    xapi_response_set_ok_take(&r, rec);
    xapi_jsonrpc_encode_response(&b, XAPI_PROTO_JSONRPC_V2, id7, &r);
    assert_string_equal(buf_str(&b), ok2);
    assert_int_equal(xapi_jsonrpc_decode_response(ok2, strlen(ok2), NULL, &d, &got, &e), 0);
    assert_true(d.ok);
    assert_int_equal(xapi_struct_int(d.value, "memory_overhead", 0), 125829120);
    assert_int_equal(json_integer_value(got), 7);
    json_decref(got);
    xapi_response_cleanup(&d);

    const char *err2 = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"HOST_OFFLINE\","
                       "\"data\":[\"OpaqueRef:h\"]},\"id\":7}";
    const char *hp[] = {"OpaqueRef:h"};
    xapi_response_set_error(&r, "HOST_OFFLINE", hp, 1);
    buf_reset(&b);
    xapi_jsonrpc_encode_response(&b, XAPI_PROTO_JSONRPC_V2, id7, &r);
    assert_string_equal(buf_str(&b), err2);
    assert_int_equal(xapi_jsonrpc_decode_response(err2, strlen(err2), NULL, &d, NULL, &e), 0);
    assert_false(d.ok);
    assert_value_equal(r.error, d.error);
    xapi_response_cleanup(&d);

    const char *err1 = "{\"result\":null,\"error\":[\"HOST_IS_SLAVE\",\"10.0.0.11\"],\"id\":\"x\"}";
    const char *sp[] = {"10.0.0.11"};
    xapi_response_set_error(&r, "HOST_IS_SLAVE", sp, 1);
    buf_reset(&b);
    xapi_jsonrpc_encode_response(&b, XAPI_PROTO_JSONRPC_V1, idx, &r);
    assert_string_equal(buf_str(&b), err1);
    assert_int_equal(xapi_jsonrpc_decode_response(err1, strlen(err1), NULL, &d, &got, &e), 0);
    assert_false(d.ok);
    assert_string_equal(xapi_response_error_code(&d), "HOST_IS_SLAVE");
    assert_string_equal(xapi_value_str(xapi_array_get(d.error, 1)), "10.0.0.11");
    assert_string_equal(json_string_value(got), "x");
    json_decref(got);
    xapi_response_cleanup(&d);

    const char *ok1 = "{\"result\":\"OpaqueRef:abc\",\"error\":null,\"id\":\"x\"}";
    xapi_response_set_ok_take(&r, xapi_value_new_string("OpaqueRef:abc"));
    buf_reset(&b);
    xapi_jsonrpc_encode_response(&b, XAPI_PROTO_JSONRPC_V1, idx, &r);
    assert_string_equal(buf_str(&b), ok1);
    assert_int_equal(xapi_jsonrpc_decode_response(ok1, strlen(ok1), NULL, &d, NULL, &e), 0);
    assert_true(d.ok);
    assert_string_equal(xapi_value_str(d.value), "OpaqueRef:abc");
    xapi_response_cleanup(&d);

    /* the pre-dispatch quirk (api_server.ml jsoncallback) */
    const char *pre = "{\"jsonrpc\":\"2.0\",\"error\":[\"HOST_STILL_BOOTING\"],\"id\":0}";
    struct xapi_value *desc = xapi_value_new_array();
    xapi_array_append_string(desc, "HOST_STILL_BOOTING");
    buf_reset(&b);
    xapi_jsonrpc_encode_predispatch_error(&b, desc);
    assert_string_equal(buf_str(&b), pre);
    assert_int_equal(xapi_jsonrpc_decode_response(pre, strlen(pre), NULL, &d, &got, &e), 0);
    assert_false(d.ok);
    assert_value_equal(desc, d.error);
    assert_int_equal(json_integer_value(got), 0);
    json_decref(got);
    xapi_response_cleanup(&d);
    xapi_value_free(desc);

    /* a void result over v1 ("") and a null result */
    const char *v1void = "{\"result\":\"\",\"error\":null,\"id\":1}";
    assert_int_equal(xapi_jsonrpc_decode_response(v1void, strlen(v1void), NULL, &d, NULL, &e),
                     0);
    assert_true(d.ok);
    assert_true(xapi_value_is_void(d.value));
    xapi_response_cleanup(&d);
    const char *nullres = "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":1}";
    assert_int_equal(xapi_jsonrpc_decode_response(nullres, strlen(nullres), NULL, &d, NULL, &e),
                     0);
    assert_true(d.ok);
    assert_true(xapi_value_is_void(d.value));
    xapi_response_cleanup(&d);

    xapi_response_cleanup(&r);
    json_decref(id7);
    json_decref(idx);
    buf_cleanup(&b);
}

/* Ints accepted as numbers or strings (what other clients send). */
static void test_json_ints_as_strings(void **state)
{
    const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"VM.set_memory\",\"params\":"
                      "[\"OpaqueRef:s\",\"OpaqueRef:vm\",\"4294967296\",4294967296],\"id\":\"a\"}";
    struct xapi_call c;
    struct err e = {0};
    int64_t a = 0, b = 0;
    (void)state;
    assert_int_equal(xapi_jsonrpc_decode_call(req, strlen(req), NULL, &c, &e), 0);
    assert_int_equal(xapi_value_as_int(xapi_array_get(c.params, 2), &a), 0);
    assert_int_equal(xapi_value_as_int(xapi_array_get(c.params, 3), &b), 0);
    assert_true(a == 4294967296LL && b == a);
    xapi_call_cleanup(&c);
}

struct bad_case {
    const char *input;
    int code;
    const char *frag1, *frag2;
};

typedef int (*decode_call_fn)(const char *, size_t, const struct xapi_limits *,
                              struct xapi_call *, struct err *);

static void check_bad_calls(const struct bad_case *cases, size_t n, decode_call_fn decode,
                            const struct xapi_limits *lim)
{
    for (size_t i = 0; i < n; i++) {
        struct xapi_call c;
        struct err e = {0};
        const char *in = cases[i].input;
        int rc = decode(in, strlen(in), lim, &c, &e);
        if (rc != cases[i].code) {
            print_error("case %zu (%s): rc %d, want %d; msg %s\n", i, in, rc, cases[i].code,
                        e.msg);
            fail();
        }
        assert_null(c.method);
        assert_null(c.params);
        assert_int_equal(e.code, cases[i].code);
        if (cases[i].frag1)
            assert_msg_has(&e, cases[i].frag1);
        if (cases[i].frag2)
            assert_msg_has(&e, cases[i].frag2);
    }
}

/* XML-RPC's decoder has no id: adapt it to the JSON-RPC signature. */
typedef int (*decode_response_fn)(const char *, size_t, const struct xapi_limits *,
                                  struct xapi_response *, json_t **, struct err *);

static void check_bad_responses(const struct bad_case *cases, size_t n, decode_response_fn decode,
                                const struct xapi_limits *lim)
{
    for (size_t i = 0; i < n; i++) {
        struct xapi_response r;
        struct err e = {0};
        const char *in = cases[i].input;
        int rc = decode(in, strlen(in), lim, &r, NULL, &e);
        if (rc != cases[i].code) {
            print_error("case %zu (%s): rc %d, want %d; msg %s\n", i, in, rc, cases[i].code,
                        e.msg);
            fail();
        }
        assert_null(r.value);
        assert_null(r.error);
        if (cases[i].frag1)
            assert_msg_has(&e, cases[i].frag1);
        if (cases[i].frag2)
            assert_msg_has(&e, cases[i].frag2);
    }
}

static void test_json_malformed_calls(void **state)
{
    struct xapi_limits lim = small_limits();
    static const struct bad_case cases[] = {
        {"{\"jsonrpc\":\"1.0\",\"method\":\"a\",\"params\":[],\"id\":1}", PP_EPARSE, "jsonrpc",
         "unsupported version"},
        {"{\"jsonrpc\":2,\"method\":\"a\",\"params\":[],\"id\":1}", PP_EPARSE, "jsonrpc", NULL},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":{\"x\":1},\"id\":1}", PP_EPARSE,
         "at params", "not an array"},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":\"x\",\"id\":1}", PP_EPARSE,
         "at params", "not an array"},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1}", PP_EPARSE, "at params", "missing"},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":[]}", PP_EPARSE, "at id",
         "notification"},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":[],\"id\":null}", PP_EPARSE, "at id",
         "notification"},
        {"{\"method\":\"a\",\"params\":[],\"id\":1.5}", PP_EPARSE, "at id", "integer or a string"},
        {"{\"method\":\"a\",\"params\":[],\"id\":[1]}", PP_EPARSE, "at id", NULL},
        {"{\"method\":\"\",\"params\":[],\"id\":1}", PP_EPARSE, "at method", NULL},
        {"{\"method\":7,\"params\":[],\"id\":1}", PP_EPARSE, "at method", NULL},
        {"{\"params\":[],\"id\":1}", PP_EPARSE, "at method", "missing"},
        {"[\"method\"]", PP_EPARSE, "line 1, column 1", "not an object"},
        {"", PP_EPARSE, "line 1", NULL},
        {"{\"method\":\"a\",\"params\":[\"abc\"", PP_EPARSE, "line 1, column", NULL},
        {"{\"method\":\"a\",\"method\":\"b\",\"params\":[],\"id\":1}", PP_EPARSE, "line 1",
         "duplicate"},
        {"{\"method\":\"a\",\"params\":[{\"k\":1,\"k\":2}],\"id\":1}", PP_EPARSE, "duplicate",
         NULL},
        {"{\"method\":\"a\",\"params\":[\"a\\u0000b\"],\"id\":1}", PP_EPARSE, "params[0]", "NUL"},
        {"{\"method\":\"a\",\"params\":[{\"k\\u0000\":1}],\"id\":1}", PP_EPARSE, NULL, NULL},
        {"{\"method\":\"a\",\"params\":[\"\xff\xfe\"],\"id\":1}", PP_EPARSE, "line 1", "byte 0xff"},
        {"{\"method\":\"a\",\"params\":[[[[[[[[1]]]]]]]],\"id\":1}", PP_ELIMIT, "nesting", NULL},
        {"{\"method\":\"a\",\"params\":[[[[[[1]]]]]],\"id\":1}", PP_ELIMIT, "params[0][0][0][0]",
         "deeper than 4"},
        {"{\"method\":\"a\",\"params\":[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxx\"],\"id\":1}",
         PP_ELIMIT, "params[0]", "over the limit of 64"},
        {"{\"method\":\"a\",\"params\":[{\"m\":{\"n\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,"
         "19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,"
         "48,49,50]}}],\"id\":1}",
         PP_ELIMIT, "params[0].m.n[", "more than 50 values"},
    };
    (void)state;
    check_bad_calls(cases, sizeof(cases) / sizeof(cases[0]), xapi_jsonrpc_decode_call, &lim);

    /* the document size limit */
    struct buf b;
    struct xapi_call c;
    struct err e = {0};
    buf_init(&b);
    buf_puts(&b, "{\"method\":\"a\",\"params\":[");
    for (int i = 0; i < 3000; i++)
        buf_puts(&b, "1,");
    buf_puts(&b, "1],\"id\":1}");
    assert_int_equal(xapi_jsonrpc_decode_call(b.data, b.len, &lim, &c, &e), PP_ELIMIT);
    assert_msg_has(&e, "over the limit of 4096 bytes");
    buf_cleanup(&b);
}

static void test_json_malformed_responses(void **state)
{
    struct xapi_limits lim = small_limits();
    static const struct bad_case cases[] = {
        {"{\"jsonrpc\":\"2.1\",\"result\":1,\"id\":1}", PP_EPARSE, "jsonrpc", NULL},
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", PP_EPARSE, "neither", NULL},
        {"{\"result\":null,\"error\":null,\"id\":1,\"x\":", PP_EPARSE, "line 1, column", NULL},
        {"{\"jsonrpc\":\"2.0\",\"error\":[],\"id\":0}", PP_EPARSE, "empty error array", NULL},
        {"{\"jsonrpc\":\"2.0\",\"error\":[1,2],\"id\":0}", PP_EPARSE, "error[0]", NULL},
        {"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1},\"id\":0}", PP_EPARSE, "error.message",
         "missing"},
        {"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"X\",\"data\":5},\"id\":0}",
         PP_EPARSE, "error.data", NULL},
        {"{\"jsonrpc\":\"2.0\",\"error\":5,\"id\":0}", PP_EPARSE, "at error", NULL},
        {"{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":{}}", PP_EPARSE, "at id", NULL},
        {"{\"jsonrpc\":\"2.0\",\"result\":[[[[[1]]]]],\"id\":1}", PP_ELIMIT, "result[0][0][0]",
         "deeper"},
        {"{\"jsonrpc\":\"2.0\",\"result\":\"a\\u0000\",\"id\":1}", PP_EPARSE, "result", "NUL"},
        {"7", PP_EPARSE, "line 1, column 1", NULL},
    };
    (void)state;
    check_bad_responses(cases, sizeof(cases) / sizeof(cases[0]), xapi_jsonrpc_decode_response,
                        &lim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_call_v2_byte_exact),
        cmocka_unit_test(test_json_round_trip_every_type),
        cmocka_unit_test(test_json_reference_examples),
        cmocka_unit_test(test_json_ints_as_strings),
        cmocka_unit_test(test_json_malformed_calls),
        cmocka_unit_test(test_json_malformed_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
