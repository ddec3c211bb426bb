/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_codec.c - unit tests of XAPI's wire codecs: JSON-RPC v1/v2 and XML-RPC, both
 * directions; byte-exact examples from docs/reference/xapi.md section 1; what other clients
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

/* v as it reads back from XML-RPC: int64 travels as a bare string, void as "". */
static struct xapi_value *xml_view(const struct xapi_value *v)
{
    struct xapi_value *c;
    char tmp[32];

    switch (v->type) {
    case XAPI_INT:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)v->u.i);
        return xapi_value_new_string(tmp);
    case XAPI_VOID:
        return xapi_value_new_string("");
    case XAPI_ARRAY:
        c = xapi_value_new_array();
        for (size_t i = 0; i < xapi_array_len(v); i++)
            xapi_array_append_take(c, xml_view(xapi_array_get(v, i)));
        return c;
    case XAPI_STRUCT:
        c = xapi_value_new_struct();
        for (size_t i = 0; i < xapi_struct_len(v); i++)
            xapi_struct_set_take(c, v->u.st.keys[i], xml_view(v->u.st.vals[i]));
        return c;
    default:
        return xapi_value_dup(v);
    }
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

/* The examples of docs/reference/xapi.md section 1, byte for byte, both directions. */
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
    assert_int_equal(xapi_jsonrpc_decode_response(v1void, strlen(v1void), NULL, &d, NULL, &e), 0);
    assert_true(d.ok);
    assert_true(xapi_value_is_void(d.value));
    xapi_response_cleanup(&d);
    const char *nullres = "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":1}";
    assert_int_equal(xapi_jsonrpc_decode_response(nullres, strlen(nullres), NULL, &d, NULL, &e), 0);
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

typedef int (*decode_call_fn)(const char *, size_t, const struct xapi_limits *, struct xapi_call *,
                              struct err *);

static bool case_matches(const struct bad_case *bc, int rc, const struct err *e)
{
    return rc == bc->code && e->code == bc->code && (!bc->frag1 || strstr(e->msg, bc->frag1)) &&
           (!bc->frag2 || strstr(e->msg, bc->frag2));
}

/* Every case must fail with its code and a message holding both fragments; all mismatches are
 * printed before the test fails. */
static void check_bad_calls(const struct bad_case *cases, size_t n, decode_call_fn decode,
                            const struct xapi_limits *lim)
{
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        struct xapi_call c;
        struct err e = {0};
        const char *in = cases[i].input;
        int rc = decode(in, strlen(in), lim, &c, &e);
        if (!case_matches(&cases[i], rc, &e)) {
            print_error("case %zu (%s): rc %d, want %d; msg %s\n", i, in, rc, cases[i].code, e.msg);
            bad++;
        }
        if (rc == 0) {
            xapi_call_cleanup(&c);
            continue;
        }
        assert_null(c.method);
        assert_null(c.params);
        assert_null(c.id);
    }
    assert_int_equal(bad, 0);
}

/* XML-RPC's decoder has no id: adapt it to the JSON-RPC signature. */
typedef int (*decode_response_fn)(const char *, size_t, const struct xapi_limits *,
                                  struct xapi_response *, json_t **, struct err *);

static int xml_decode_response(const char *data, size_t len, const struct xapi_limits *lim,
                               struct xapi_response *out, json_t **id, struct err *e)
{
    (void)id;
    return xapi_xmlrpc_decode_response(data, len, lim, out, e);
}

static void check_bad_responses(const struct bad_case *cases, size_t n, decode_response_fn decode,
                                const struct xapi_limits *lim)
{
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        struct xapi_response r;
        struct err e = {0};
        const char *in = cases[i].input;
        int rc = decode(in, strlen(in), lim, &r, NULL, &e);
        if (!case_matches(&cases[i], rc, &e)) {
            print_error("case %zu (%s): rc %d, want %d; msg %s\n", i, in, rc, cases[i].code, e.msg);
            bad++;
        }
        if (rc == 0) {
            xapi_response_cleanup(&r);
            continue;
        }
        assert_null(r.value);
        assert_null(r.error);
    }
    assert_int_equal(bad, 0);
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
        {"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":\"x\",\"id\":1}", PP_EPARSE, "at params",
         "not an array"},
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
        {"{\"method\":\"a\",\"params\":[{\"m\":{\"n\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,"
         "18,"
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
        {"{\"result\":null,\"error\":[\"\"],\"id\":\"x\"}", PP_EPARSE, "error[0]",
         "not a non-empty string"},
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

/* ---- XML-RPC ---- */

#define XML_DECL "<?xml version=\"1.0\"?>"

/* The envelopes of docs/reference/xapi.md section 1, byte for byte. */
static void test_xml_reference_examples(void **state)
{
    const char *ok_body =
        "<methodResponse><params><param><value><struct><member><name>Status</name>"
        "<value>Success</value></member><member><name>Value</name>"
        "<value>OpaqueRef:5f1c3a2e-8d6b-4c8e-9f4a-1b2c3d4e5f60</value></member></struct>"
        "</value></param></params></methodResponse>";
    const char *fail_body =
        "<methodResponse><params><param><value><struct><member><name>Status</name>"
        "<value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>"
        "<value>HOST_IS_SLAVE</value><value>10.0.0.11</value></data></array></value></member>"
        "</struct></value></param></params></methodResponse>";
    /* the reference's layout: a line break and a space between members */
    const char *fail_pretty =
        "<methodResponse><params><param><value><struct><member><name>Status</name>"
        "<value>Failure</value></member>\n <member><name>ErrorDescription</name><value><array>"
        "<data>\n <value>HOST_IS_SLAVE</value><value>10.0.0.11</value></data></array></value>"
        "</member></struct></value></param></params></methodResponse>\n";
    struct xapi_response r = {0}, d;
    struct err e = {0};
    struct buf b, want;
    (void)state;
    buf_init(&b);
    buf_init(&want);

    xapi_response_set_ok_take(
        &r, xapi_value_new_string("OpaqueRef:5f1c3a2e-8d6b-4c8e-9f4a-1b2c3d4e5f60"));
    xapi_xmlrpc_encode_response(&b, &r);
    buf_printf(&want, "%s%s", XML_DECL, ok_body);
    assert_string_equal(buf_str(&b), buf_str(&want));
    assert_int_equal(xapi_xmlrpc_decode_response(ok_body, strlen(ok_body), NULL, &d, &e), 0);
    assert_true(d.ok);
    assert_value_equal(r.value, d.value);
    xapi_response_cleanup(&d);

    const char *params[] = {"10.0.0.11"};
    xapi_response_set_error(&r, "HOST_IS_SLAVE", params, 1);
    buf_reset(&b);
    buf_reset(&want);
    xapi_xmlrpc_encode_response(&b, &r);
    buf_printf(&want, "%s%s", XML_DECL, fail_body);
    assert_string_equal(buf_str(&b), buf_str(&want));
    assert_int_equal(xapi_xmlrpc_decode_response(b.data, b.len, NULL, &d, &e), 0);
    assert_false(d.ok);
    assert_value_equal(r.error, d.error);
    xapi_response_cleanup(&d);
    assert_int_equal(xapi_xmlrpc_decode_response(fail_pretty, strlen(fail_pretty), NULL, &d, &e),
                     0);
    assert_false(d.ok);
    assert_string_equal(xapi_response_error_code(&d), "HOST_IS_SLAVE");
    assert_value_equal(r.error, d.error);
    xapi_response_cleanup(&d);

    /* a void result: Value is <value></value> */
    xapi_response_set_ok_take(&r, NULL);
    buf_reset(&b);
    xapi_xmlrpc_encode_response(&b, &r);
    assert_non_null(strstr(buf_str(&b), "<name>Value</name><value></value></member>"));
    assert_int_equal(xapi_xmlrpc_decode_response(b.data, b.len, NULL, &d, &e), 0);
    assert_true(d.ok);
    assert_true(xapi_value_is_void(d.value));
    xapi_response_cleanup(&d);

    /* the login call as XenAPI.py (xmlrpc.client) writes it, and as we write it */
    const char *py = "<?xml version='1.0'?>\n<methodCall>\n"
                     "<methodName>session.login_with_password</methodName>\n<params>\n"
                     "<param>\n<value><string>root</string></value>\n</param>\n"
                     "<param>\n<value><string>s3cr&lt;t</string></value>\n</param>\n"
                     "<param>\n<value><string>1.0</string></value>\n</param>\n"
                     "<param>\n<value><string>poolpatch</string></value>\n</param>\n"
                     "</params>\n</methodCall>\n";
    struct xapi_call c;
    assert_int_equal(xapi_xmlrpc_decode_call(py, strlen(py), NULL, &c, &e), 0);
    assert_string_equal(c.method, "session.login_with_password");
    assert_int_equal(c.proto, XAPI_PROTO_XMLRPC);
    assert_null(c.id);
    assert_int_equal(xapi_array_len(c.params), 4);
    assert_string_equal(xapi_value_str(xapi_array_get(c.params, 1)), "s3cr<t");
    buf_reset(&b);
    xapi_xmlrpc_encode_call(&b, c.method, c.params);
    assert_string_equal(buf_str(&b),
                        XML_DECL "<methodCall><methodName>session.login_with_password</methodName>"
                                 "<params><param><value>root</value></param><param><value>"
                                 "s3cr&lt;t</value></param><param><value>1.0</value></param>"
                                 "<param><value>poolpatch</value></param></params></methodCall>");
    xapi_call_cleanup(&c);

    xapi_response_cleanup(&r);
    buf_cleanup(&b);
    buf_cleanup(&want);
}

/* Each type as xapi writes it (reference section 1 table). */
static void test_xml_value_encoding(void **state)
{
    struct buf b;
    struct xapi_value *v;
    (void)state;
    buf_init(&b);
#define ENC(value, expect)                                                                         \
    do {                                                                                           \
        v = (value);                                                                               \
        buf_reset(&b);                                                                             \
        xapi_xmlrpc_encode_value(&b, v);                                                           \
        assert_string_equal(buf_str(&b), (expect));                                                \
        xapi_value_free(v);                                                                        \
    } while (0)
    ENC(xapi_value_new_string("OpaqueRef:NULL"), "<value>OpaqueRef:NULL</value>");
    ENC(xapi_value_new_string("a<b>&\"c'"), "<value>a&lt;b&gt;&amp;&quot;c'</value>");
    ENC(xapi_value_new_string("tab\tnl\ncr\r bell\a end"),
        "<value>tab\tnl\ncr&#13; bell end</value>");
    ENC(xapi_value_new_string("bad\xff utf8"), "<value>bad\xEF\xBF\xBD utf8</value>");
    ENC(xapi_value_new_int(4294967296LL), "<value>4294967296</value>");
    ENC(xapi_value_new_int(INT64_MIN), "<value>-9223372036854775808</value>");
    ENC(xapi_value_new_double(0.1), "<value><double>0.1</double></value>");
    ENC(xapi_value_new_double(125829120.0), "<value><double>125829120</double></value>");
    ENC(xapi_value_new_double(1.0 / 3.0), "<value><double>0.3333333333333333</double></value>");
    ENC(xapi_value_new_double(0.1 + 0.2), "<value><double>0.30000000000000004</double></value>");
    ENC(xapi_value_new_bool(true), "<value><boolean>1</boolean></value>");
    ENC(xapi_value_new_bool(false), "<value><boolean>0</boolean></value>");
    ENC(xapi_value_new_datetime("20250319T04:16:24Z"),
        "<value><dateTime.iso8601>20250319T04:16:24Z</dateTime.iso8601></value>");
    ENC(xapi_value_new_void(), "<value></value>");
    ENC(xapi_value_new_array(), "<value><array><data></data></array></value>");
    ENC(xapi_value_new_struct(), "<value><struct></struct></value>");
    v = xapi_value_new_struct();
    xapi_struct_set_take(v, "a&b", xapi_value_new_array());
    xapi_array_append_string(xapi_struct_get_mut(v, "a&b"), "x");
    ENC(v, "<value><struct><member><name>a&amp;b</name><value><array><data><value>x</value>"
           "</data></array></value></member></struct></value>");
#undef ENC
    buf_cleanup(&b);
}

static void test_xml_round_trip_every_type(void **state)
{
    struct xapi_value *p = xapi_value_new_array();
    struct xapi_call c;
    struct xapi_response r = {0}, d;
    struct err e = {0};
    struct buf b;
    (void)state;
    xapi_array_append_take(p, every_type());
    xapi_array_append_take(p, xapi_value_new_void());
    xapi_array_append_take(p, xapi_value_new_string("  spaces kept  "));
    struct xapi_value *want = xml_view(p);
    buf_init(&b);

    xapi_xmlrpc_encode_call(&b, "VM.set_other_config", p);
    assert_int_equal(xapi_xmlrpc_decode_call(b.data, b.len, NULL, &c, &e), 0);
    assert_string_equal(c.method, "VM.set_other_config");
    assert_value_equal(want, c.params);
    xapi_call_cleanup(&c);

    xapi_response_set_ok_take(&r, xapi_value_dup(p));
    buf_reset(&b);
    xapi_xmlrpc_encode_response(&b, &r);
    assert_int_equal(xapi_xmlrpc_decode_response(b.data, b.len, NULL, &d, &e), 0);
    assert_true(d.ok);
    assert_value_equal(want, d.value);
    xapi_response_cleanup(&d);

    const char *ep[] = {"VM", "OpaqueRef:v", "start", "OpaqueRef:t"};
    xapi_response_set_error(&r, "OTHER_OPERATION_IN_PROGRESS", ep, 4);
    buf_reset(&b);
    xapi_xmlrpc_encode_response(&b, &r);
    assert_int_equal(xapi_xmlrpc_decode_response(b.data, b.len, NULL, &d, &e), 0);
    assert_false(d.ok);
    assert_value_equal(r.error, d.error);
    xapi_response_cleanup(&d);

    /* the fragment form (task.result), also as it travels inside a JSON string */
    struct xapi_value *frag;
    buf_reset(&b);
    xapi_xmlrpc_encode_value(&b, p);
    assert_int_equal(xapi_xmlrpc_decode_value(b.data, b.len, NULL, &frag, &e), 0);
    assert_value_equal(want, frag);
    xapi_value_free(frag);
    assert_int_equal(xapi_xmlrpc_decode_value("<value>OpaqueRef:vdi</value>", 28, NULL, &frag, &e),
                     0);
    assert_string_equal(xapi_value_str(frag), "OpaqueRef:vdi");
    xapi_value_free(frag);
    assert_int_equal(xapi_xmlrpc_decode_value("<value></value>", 15, NULL, &frag, &e), 0);
    assert_true(xapi_value_is_void(frag));
    xapi_value_free(frag);
    assert_int_equal(xapi_xmlrpc_decode_value("", 0, NULL, &frag, &e), 0);
    assert_int_equal(frag->type, XAPI_VOID);
    xapi_value_free(frag);

    xapi_response_cleanup(&r);
    xapi_value_free(p);
    xapi_value_free(want);
    buf_cleanup(&b);
}

/* What other clients and servers send: typed strings, <i4>/<int>/<i8>, <nil/>, empty forms,
 * pretty-printing, entities, CDATA, comments. */
static void test_xml_other_clients(void **state)
{
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!-- a comment -->\n"
        "<methodCall>\n  <methodName>VM.set_memory_limits</methodName>\n  <params>\n"
        "    <param><value><string>OpaqueRef:s</string></value></param>\n"
        "    <param>\n      <value>\n        <i4>-12</i4>\n      </value>\n    </param>\n"
        "    <param><value><int> 42 </int></value></param>\n"
        "    <param><value><i8>4294967296</i8></value></param>\n"
        "    <param><value>4294967296</value></param>\n"
        "    <param><value><boolean>true</boolean></value></param>\n"
        "    <param><value><double> -2.5e3 </double></value></param>\n"
        "    <param><value><nil/></value></param>\n"
        "    <param><value/></param>\n"
        "    <param><value><string/></value></param>\n"
        "    <param><value>  two  spaces  </value></param>\n"
        "    <param><value><string>\n keep \n</string></value></param>\n"
        "    <param><value>caf&#233; &#x20AC; &lt;&amp;&gt; <![CDATA[<raw>&]]></value></param>\n"
        "    <param><value><array/></value></param>\n"
        "    <param><value><array><data/></array></value></param>\n"
        "    <param><value><struct/></value></param>\n"
        "    <param><value><struct>\n      <member>\n        <name>k</name>\n"
        "        <value><i4>1</i4></value>\n      </member>\n"
        "      <member><value>v</value><name>order</name></member>\n"
        "    </struct></value></param>\n"
        "  </params>\n</methodCall>\n";
    struct xapi_call c;
    struct err e = {0};
    int64_t i;
    double d;
    (void)state;
    assert_int_equal(xapi_xmlrpc_decode_call(doc, strlen(doc), NULL, &c, &e), 0);
    const struct xapi_value *p = c.params;
    assert_int_equal(xapi_array_len(p), 17);
    assert_string_equal(xapi_value_str(xapi_array_get(p, 0)), "OpaqueRef:s");
    assert_int_equal(xapi_array_get(p, 1)->type, XAPI_INT);
    assert_int_equal(xapi_array_get(p, 1)->u.i, -12);
    assert_int_equal(xapi_array_get(p, 2)->u.i, 42);
    assert_true(xapi_array_get(p, 3)->u.i == 4294967296LL);
    assert_int_equal(xapi_array_get(p, 4)->type, XAPI_STRING); /* int64 as a string */
    assert_int_equal(xapi_value_as_int(xapi_array_get(p, 4), &i), 0);
    assert_true(i == 4294967296LL);
    assert_true(xapi_array_get(p, 5)->u.b);
    assert_int_equal(xapi_value_as_double(xapi_array_get(p, 6), &d), 0);
    assert_true(d == -2500.0);
    assert_int_equal(xapi_array_get(p, 7)->type, XAPI_VOID);
    assert_true(xapi_value_is_void(xapi_array_get(p, 8)));
    assert_true(xapi_value_is_void(xapi_array_get(p, 9)));
    assert_string_equal(xapi_value_str(xapi_array_get(p, 10)), "  two  spaces  ");
    assert_string_equal(xapi_value_str(xapi_array_get(p, 11)), "\n keep \n");
    assert_string_equal(xapi_value_str(xapi_array_get(p, 12)),
                        "caf\xc3\xa9 \xe2\x82\xac <&> <raw>&");
    assert_int_equal(xapi_array_get(p, 13)->type, XAPI_ARRAY);
    assert_int_equal(xapi_array_len(xapi_array_get(p, 14)), 0);
    assert_int_equal(xapi_array_get(p, 15)->type, XAPI_STRUCT);
    assert_int_equal(xapi_struct_int(xapi_array_get(p, 16), "k", 0), 1);
    assert_string_equal(xapi_struct_str(xapi_array_get(p, 16), "order", ""), "v");
    xapi_call_cleanup(&c);

    /* a methodCall without <params> has no parameters */
    const char *noparams = "<methodCall><methodName>pool.get_all</methodName></methodCall>";
    assert_int_equal(xapi_xmlrpc_decode_call(noparams, strlen(noparams), NULL, &c, &e), 0);
    assert_int_equal(xapi_array_len(c.params), 0);
    assert_int_equal(c.params->type, XAPI_ARRAY);
    xapi_call_cleanup(&c);

    /* a server that answers a plain value, not xapi's envelope */
    struct xapi_response r;
    const char *plain = "<methodResponse><params><param><value><i4>3</i4></value></param>"
                        "</params></methodResponse>";
    assert_int_equal(xapi_xmlrpc_decode_response(plain, strlen(plain), NULL, &r, &e), 0);
    assert_true(r.ok);
    assert_int_equal(r.value->u.i, 3);
    xapi_response_cleanup(&r);
}

static void test_xml_foreign_fault(void **state)
{
    const char *fault = "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>"
                        "<member><name>faultCode</name><value><int>4</int></value></member>"
                        "<member><name>faultString</name><value><string>Too many parameters."
                        "</string></value></member></struct></value></fault></methodResponse>";
    struct xapi_response r;
    struct err e = {0};
    (void)state;
    assert_int_equal(xapi_xmlrpc_decode_response(fault, strlen(fault), NULL, &r, &e), 0);
    assert_false(r.ok);
    assert_null(r.value);
    assert_string_equal(xapi_response_error_code(&r), "XMLRPC_FAULT");
    assert_string_equal(xapi_value_str(xapi_array_get(r.error, 1)), "4");
    assert_string_equal(xapi_value_str(xapi_array_get(r.error, 2)), "Too many parameters.");
    xapi_response_cleanup(&r);
}

static void test_xml_malformed_calls(void **state)
{
    struct xapi_limits lim = small_limits();
    static const struct bad_case cases[] = {
        /* truncated */
        {"<methodCall><methodName>a</methodName><params><param><value>x", PP_EPARSE,
         "line 1, column 62", "no element found"},
        {"", PP_EPARSE, "line 1", "no element found"},
        {"<methodCall><methodName>a</methodName></methodCall><x/>", PP_EPARSE, "line 1",
         "junk after document element"},
        /* wrong root, wrong grammar */
        {"<methodResponse/>", PP_EPARSE, "line 1, column 1",
         "expected <methodCall> as the root element, found <methodResponse>"},
        {"<methodCall><params/></methodCall>", PP_EPARSE, "line 1, column 1",
         "without <methodName>"},
        {"<methodCall><methodName></methodName></methodCall>", PP_EPARSE, "column 13",
         "empty <methodName>"},
        {"<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>", PP_EPARSE,
         "column 39", "<methodName> is not allowed here in <methodCall>"},
        {"<methodCall><methodName>a</methodName><params><param><value><foo>1</foo></value>"
         "</param></params></methodCall>",
         PP_EPARSE, "line 1, column 61", "unknown type tag <foo>"},
        {"<methodCall><methodName>a</methodName><params><param><value><base64>AA==</base64>"
         "</value></param></params></methodCall>",
         PP_EPARSE, "column 61", "unknown type tag <base64>"},
        {"<methodCall><methodName>a</methodName><params><param><value>x<i4>1</i4></value>"
         "</param></params></methodCall>",
         PP_EPARSE, "column 62", "text before <i4>"},
        {"<methodCall><methodName>a</methodName><params><param><value><i4>1</i4>x</value>"
         "</param></params></methodCall>",
         PP_EPARSE, "column 71", "unexpected text in <value>"},
        {"<methodCall><methodName>a</methodName><params><param><value><i4>1</i4><i4>2</i4>"
         "</value></param></params></methodCall>",
         PP_EPARSE, "column 71", "<i4> is not allowed here in <value>"},
        {"<methodCall><methodName>a</methodName><params>junk</params></methodCall>", PP_EPARSE,
         "column 47", "unexpected text in <params>"},
        {"<methodCall><methodName>a</methodName><params><param><value>1</value><value>2</value>"
         "</param></params></methodCall>",
         PP_EPARSE, "column 70", "<value> is not allowed here in <param>"},
        {"<methodCall><methodName>a</methodName><params><param></param></params></methodCall>",
         PP_EPARSE, "column 47", "<param> without <value>"},
        /* bad scalars */
        {"<methodCall><methodName>a</methodName><params><param><value><i4>12x</i4></value>"
         "</param></params></methodCall>",
         PP_EPARSE, "column 61", "<i4> holds \"12x\", not a 64-bit integer"},
        {"<methodCall><methodName>a</methodName><params><param><value><int>99999999999999999999"
         "</int></value></param></params></methodCall>",
         PP_EPARSE, "column 61", "not a 64-bit integer"},
        {"<methodCall><methodName>a</methodName><params><param><value><boolean>yes</boolean>"
         "</value></param></params></methodCall>",
         PP_EPARSE, "column 61", "<boolean> holds \"yes\""},
        {"<methodCall><methodName>a</methodName><params><param><value><double>nan</double>"
         "</value></param></params></methodCall>",
         PP_EPARSE, "column 61", "not a finite number"},
        {"<methodCall><methodName>a</methodName><params><param><value><nil>x</nil></value>"
         "</param></params></methodCall>",
         PP_EPARSE, "column 66", "unexpected text in <nil>"},
        /* structs */
        {"<methodCall><methodName>a</methodName><params><param><value><struct><member><name>k"
         "</name><value>1</value></member><member><name>k</name><value>2</value></member>"
         "</struct></value></param></params></methodCall>",
         PP_EPARSE, "column 116", "duplicate struct member \"k\""},
        {"<methodCall><methodName>a</methodName><params><param><value><struct><member><value>1"
         "</value></member></struct></value></param></params></methodCall>",
         PP_EPARSE, "column 69", "<member> without <name>"},
        {"<methodCall><methodName>a</methodName><params><param><value><struct><member><name>k"
         "</name></member></struct></value></param></params></methodCall>",
         PP_EPARSE, "column 69", "<member> \"k\" without <value>"},
        {"<methodCall><methodName>a</methodName><params><param><value><struct><value>1</value>"
         "</struct></value></param></params></methodCall>",
         PP_EPARSE, "column 69", "<value> is not allowed in <struct>"},
    };
    (void)state;
    check_bad_calls(cases, sizeof(cases) / sizeof(cases[0]), xapi_xmlrpc_decode_call, &lim);
}

/* Hostile calls: bad bytes, entities and DOCTYPEs, nesting and size limits, NUL bytes. */
static void test_xml_hostile_calls(void **state)
{
    struct xapi_limits lim = small_limits();
    static const struct bad_case cases[] = {
        /* hostile */
        {"<methodCall><methodName>a</methodName><params><param><value>\xff\xfe</value></param>"
         "</params></methodCall>",
         PP_EPARSE, "column 61", "not well-formed"},
        {"<methodCall><methodName>a</methodName><params><param><value>a&#0;b</value></param>"
         "</params></methodCall>",
         PP_EPARSE, "line 1", "reference to invalid character number"},
        {"<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>"
         "<methodCall><methodName>&lol2;</methodName></methodCall>",
         PP_EPARSE, "line 1, column", "DOCTYPE is not allowed"},
        {"<!DOCTYPE m SYSTEM \"file:///etc/passwd\"><methodCall><methodName>&x;</methodName>"
         "</methodCall>",
         PP_EPARSE, "line 1", "DOCTYPE is not allowed"},
        {"<methodCall><methodName>&undefined;</methodName></methodCall>", PP_EPARSE, "line 1",
         "undefined entity"},
        {"<methodCall><methodName>a</methodName><params><param><value><array><data><value>"
         "<array><data><value><array><data><value><array><data><value><array><data>"
         "</data></array></value></data></array></value></data></array></value></data></array>"
         "</value></data></array></value></param></params></methodCall>",
         PP_ELIMIT, "column 141", "nested deeper than 4 levels"},
        {"<methodCall><methodName>a</methodName><params><param><value>xxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</value></param>"
         "</params></methodCall>",
         PP_ELIMIT, "line 1", "text in <value> over the limit of 64 bytes"},
        {"<methodCall><methodName>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaa</methodName></methodCall>",
         PP_ELIMIT, "line 1", "text in <methodName> over the limit"},
    };
    (void)state;
    check_bad_calls(cases, sizeof(cases) / sizeof(cases[0]), xapi_xmlrpc_decode_call, &lim);

    /* a NUL byte inside the document */
    static const char nul[] = "<methodCall><methodName>a\0b</methodName></methodCall>";
    struct xapi_call c;
    struct err e = {0};
    assert_int_equal(xapi_xmlrpc_decode_call(nul, sizeof(nul) - 1, &lim, &c, &e), PP_EPARSE);
    assert_msg_has(&e, "line 1, column 26");
    assert_msg_has(&e, "not well-formed");

    /* over max_items: 51 values */
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<methodCall><methodName>a</methodName><params><param><value><array><data>");
    for (int i = 0; i < 51; i++)
        buf_puts(&b, "<value/>");
    buf_puts(&b, "</data></array></value></param></params></methodCall>");
    assert_int_equal(xapi_xmlrpc_decode_call(b.data, b.len, &lim, &c, &e), PP_ELIMIT);
    assert_msg_has(&e, "more than 50 values");
    assert_msg_has(&e, "line 1, column 466");
    /* over the document size */
    buf_reset(&b);
    for (int i = 0; i < 500; i++)
        buf_puts(&b, "<!-- padding -->");
    buf_puts(&b, "<methodCall><methodName>a</methodName></methodCall>");
    assert_int_equal(xapi_xmlrpc_decode_call(b.data, b.len, &lim, &c, &e), PP_ELIMIT);
    assert_msg_has(&e, "over the limit of 4096 bytes");
    /* multi-line position */
    const char *ml = "<methodCall>\n<methodName>a</methodName>\n<params>\n  <oops/>\n</params>"
                     "</methodCall>";
    assert_int_equal(xapi_xmlrpc_decode_call(ml, strlen(ml), &lim, &c, &e), PP_EPARSE);
    assert_msg_has(&e, "line 4, column 3");
    assert_msg_has(&e, "<oops> is not allowed in <params>");
    buf_cleanup(&b);
}

static void test_xml_malformed_responses(void **state)
{
    struct xapi_limits lim = small_limits();
    static const struct bad_case cases[] = {
        {"<methodCall/>", PP_EPARSE, "line 1, column 1",
         "expected <methodResponse> as the root element"},
        {"<methodResponse></methodResponse>", PP_EPARSE, "line 1, column 1", "without <params>"},
        {"<methodResponse><params></params></methodResponse>", PP_EPARSE, "column 17",
         "without <param>"},
        {"<methodResponse><params><param><value>1</value></param><param><value>2</value></param>"
         "</params></methodResponse>",
         PP_EPARSE, "column 56", "more than one <param>"},
        {"<methodResponse><params><param><value><struct><member><name>Status</name><value>Maybe"
         "</value></member></struct></value></param></params></methodResponse>",
         PP_EPARSE, "Status is neither", NULL},
        {"<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure"
         "</value></member><member><name>ErrorDescription</name><value>X</value></member>"
         "</struct></value></param></params></methodResponse>",
         PP_EPARSE, "ErrorDescription is not a non-empty array", NULL},
        {"<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure"
         "</value></member><member><name>ErrorDescription</name><value><array><data><value/>"
         "</data></array></value></member></struct></value></param></params></methodResponse>",
         PP_EPARSE, "error code in ErrorDescription is empty", NULL},
        {"<methodResponse><fault><value><i4>1</i4></value></fault></methodResponse>", PP_EPARSE,
         "<fault> is not a struct", NULL},
        {"<methodResponse><params><param><value><struct><member><name>Status</name><value>"
         "Success</value></member><member><name>Value</name><value>OpaqueRef:x</value></member>"
         "</struct></value></param></params>",
         PP_EPARSE, "line 1", "no element found"},
    };
    (void)state;
    check_bad_responses(cases, sizeof(cases) / sizeof(cases[0]), xml_decode_response, &lim);

    struct xapi_value *v;
    struct err e = {0};
    const char *bad = "<params/>";
    assert_int_equal(xapi_xmlrpc_decode_value(bad, strlen(bad), &lim, &v, &e), PP_EPARSE);
    assert_null(v);
    assert_msg_has(&e, "XML-RPC value: line 1, column 1: expected <value> as the root element");
}

/* Large structs (records of big pools) use a hash index for the duplicate check. */
static void test_xml_large_struct_duplicates(void **state)
{
    struct xapi_value *st = xapi_value_new_struct(), *v = NULL;
    struct err e = {0};
    struct buf b;
    char key[32];
    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "OpaqueRef:%04d", i);
        xapi_struct_set_int(st, key, i);
    }
    buf_init(&b);
    xapi_xmlrpc_encode_value(&b, st);
    assert_int_equal(xapi_xmlrpc_decode_value(b.data, b.len, NULL, &v, &e), 0);
    assert_int_equal(xapi_struct_len(v), 1000);
    assert_int_equal(xapi_struct_int(v, "OpaqueRef:0999", -1), 999);
    xapi_value_free(v);
    for (int dup = 0; dup < 1000; dup += 333) {
        buf_reset(&b);
        xapi_xmlrpc_encode_value(&b, st);
        b.len -= strlen("</struct></value>");
        snprintf(key, sizeof(key), "OpaqueRef:%04d", dup);
        buf_printf(&b, "<member><name>%s</name><value>x</value></member></struct></value>", key);
        assert_int_equal(xapi_xmlrpc_decode_value(b.data, b.len, NULL, &v, &e), PP_EPARSE);
        assert_null(v);
        assert_msg_has(&e, "duplicate struct member");
        assert_msg_has(&e, key);
    }
    buf_cleanup(&b);
    xapi_value_free(st);
}

/* ---- both protocols ---- */

/* n arrays nested: [[...["x"]...]] */
static struct xapi_value *nested(int n)
{
    struct xapi_value *v = xapi_value_new_string("x");
    for (int i = 0; i < n; i++) {
        struct xapi_value *a = xapi_value_new_array();
        xapi_array_append_take(a, v);
        v = a;
    }
    return v;
}

/* max_depth means the same in both protocols and both directions: a parameter or result may
 * nest max_depth arrays / structs, one more is refused. */
static void test_depth_limit_same_everywhere(void **state)
{
    struct xapi_limits lim = small_limits();
    (void)state;
    for (int extra = 0; extra <= 1; extra++) {
        int want = extra ? PP_ELIMIT : 0;
        struct xapi_value *v = nested(lim.max_depth + extra);
        struct xapi_value *p = xapi_value_new_array();
        struct xapi_response r = {0}, d;
        struct xapi_call c;
        struct err e = {0};
        struct buf b;
        json_t *id = json_integer(1);
        buf_init(&b);
        xapi_array_append_take(p, xapi_value_dup(v));
        xapi_response_set_ok_take(&r, xapi_value_dup(v));

        xapi_xmlrpc_encode_call(&b, "m", p);
        assert_int_equal(xapi_xmlrpc_decode_call(b.data, b.len, &lim, &c, &e), want);
        if (!want)
            xapi_call_cleanup(&c);
        buf_reset(&b);
        xapi_xmlrpc_encode_response(&b, &r);
        assert_int_equal(xapi_xmlrpc_decode_response(b.data, b.len, &lim, &d, &e), want);
        if (!want)
            xapi_response_cleanup(&d);
        buf_reset(&b);
        xapi_xmlrpc_encode_value(&b, v);
        struct xapi_value *f = NULL;
        assert_int_equal(xapi_xmlrpc_decode_value(b.data, b.len, &lim, &f, &e), want);
        xapi_value_free(f);
        for (int ver = 1; ver <= 2; ver++) {
            buf_reset(&b);
            xapi_jsonrpc_encode_call(&b, (enum xapi_proto)ver, "m", p, id);
            assert_int_equal(xapi_jsonrpc_decode_call(b.data, b.len, &lim, &c, &e), want);
            if (!want)
                xapi_call_cleanup(&c);
            buf_reset(&b);
            xapi_jsonrpc_encode_response(&b, (enum xapi_proto)ver, id, &r);
            assert_int_equal(xapi_jsonrpc_decode_response(b.data, b.len, &lim, &d, NULL, &e), want);
            if (!want)
                xapi_response_cleanup(&d);
        }
        if (want)
            assert_msg_has(&e, "deeper than 4");
        json_decref(id);
        xapi_response_cleanup(&r);
        xapi_value_free(p);
        xapi_value_free(v);
        buf_cleanup(&b);
    }
}

/* A failure without a usable code still goes out as a decodable INTERNAL_ERROR. */
static void test_encode_bad_error_description(void **state)
{
    struct xapi_response r = {0}, d;
    struct err e = {0};
    struct buf b;
    (void)state;
    buf_init(&b);
    r.ok = false;
    r.error = xapi_value_new_array();
    xapi_array_append_string(r.error, "");
    xapi_array_append_string(r.error, "detail");
    for (int proto = 0; proto <= 2; proto++) {
        buf_reset(&b);
        if (proto == 0)
            xapi_xmlrpc_encode_response(&b, &r);
        else
            xapi_jsonrpc_encode_response(&b, (enum xapi_proto)proto, NULL, &r);
        int rc = proto == 0 ? xapi_xmlrpc_decode_response(b.data, b.len, NULL, &d, &e)
                            : xapi_jsonrpc_decode_response(b.data, b.len, NULL, &d, NULL, &e);
        assert_int_equal(rc, 0);
        assert_false(d.ok);
        assert_string_equal(xapi_response_error_code(&d), "INTERNAL_ERROR");
        assert_string_equal(xapi_value_str(xapi_array_get(d.error, 1)), "detail");
        xapi_response_cleanup(&d);
    }
    xapi_response_cleanup(&r); /* no description at all */
    buf_reset(&b);
    xapi_jsonrpc_encode_response(&b, XAPI_PROTO_JSONRPC_V1, NULL, &r);
    assert_string_equal(buf_str(&b), "{\"result\":null,\"error\":[\"INTERNAL_ERROR\","
                                     "\"response without an error description\"],\"id\":null}");
    assert_null(xapi_response_error_code(&(struct xapi_response){.ok = true}));
    buf_cleanup(&b);
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
        cmocka_unit_test(test_xml_reference_examples),
        cmocka_unit_test(test_xml_value_encoding),
        cmocka_unit_test(test_xml_round_trip_every_type),
        cmocka_unit_test(test_xml_other_clients),
        cmocka_unit_test(test_xml_foreign_fault),
        cmocka_unit_test(test_xml_malformed_calls),
        cmocka_unit_test(test_xml_hostile_calls),
        cmocka_unit_test(test_xml_malformed_responses),
        cmocka_unit_test(test_xml_large_struct_duplicates),
        cmocka_unit_test(test_depth_limit_same_everywhere),
        cmocka_unit_test(test_encode_bad_error_description),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
