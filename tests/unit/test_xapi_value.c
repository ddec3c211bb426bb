/* SPDX-License-Identifier: MIT */
/* test_xapi_value.c - unit tests of the XAPI value model: constructors, copy, equality, structs,
 * lenient accessors (int64-as-string), the JSON mapping and the dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/err.h"
#include "xapi/value.h"

static struct xapi_value *sample_record(void)
{
    struct xapi_value *r = xapi_value_new_struct();
    struct xapi_value *set = xapi_value_new_array();
    struct xapi_value *map = xapi_value_new_struct();

    xapi_struct_set_string(r, "uuid", "0d9ac7c8-8a3f-4c0e-9f1c-2a7e3c5f9b10");
    xapi_struct_set_string(r, "metrics", XAPI_NULL_REF);
    xapi_struct_set_int(r, "memory_overhead", 125829120);
    xapi_struct_set_bool(r, "enabled", true);
    xapi_struct_set_take(r, "load", xapi_value_new_double(0.25));
    xapi_struct_set_take(r, "last_software_update", xapi_value_new_datetime("20250319T04:16:24Z"));
    xapi_array_append_string(set, "OpaqueRef:a");
    xapi_array_append_string(set, "OpaqueRef:b");
    xapi_struct_set_take(r, "resident_VMs", set);
    xapi_struct_set_string(map, "boot_time", "1742357784.");
    xapi_struct_set_take(r, "other_config", map);
    xapi_struct_set_take(r, "nothing", xapi_value_new_void());
    return r;
}

static void test_constructors_and_getters(void **state)
{
    struct xapi_value *r = sample_record();
    (void)state;
    assert_int_equal(xapi_struct_len(r), 9);
    assert_string_equal(xapi_struct_str(r, "metrics", "x"), "OpaqueRef:NULL");
    assert_int_equal(xapi_struct_int(r, "memory_overhead", -1), 125829120);
    assert_true(xapi_struct_bool(r, "enabled", false));
    assert_string_equal(xapi_struct_str(r, "missing", "def"), "def");
    assert_int_equal(xapi_struct_int(r, "uuid", -7), -7); /* not a number */
    const struct xapi_value *set = xapi_struct_get(r, "resident_VMs");
    assert_int_equal(xapi_array_len(set), 2);
    assert_string_equal(xapi_value_str(xapi_array_get(set, 1)), "OpaqueRef:b");
    assert_null(xapi_array_get(set, 2));
    assert_int_equal(xapi_array_len(r), 0);
    /* set replaces, keeping one member */
    xapi_struct_set_int(r, "memory_overhead", 5);
    assert_int_equal(xapi_struct_len(r), 9);
    assert_int_equal(xapi_struct_int(r, "memory_overhead", -1), 5);
    assert_true(xapi_struct_remove(r, "uuid"));
    assert_false(xapi_struct_remove(r, "uuid"));
    assert_int_equal(xapi_struct_len(r), 8);
    assert_null(xapi_struct_get(r, "uuid"));
    assert_int_equal(xapi_struct_int(r, "memory_overhead", -1), 5);
    xapi_value_free(r);
    xapi_value_free(NULL);

    struct xapi_value *s = xapi_value_new_string(NULL);
    assert_string_equal(xapi_value_str(s), "");
    assert_true(xapi_value_is_void(s));
    xapi_value_free(s);
    s = xapi_value_new_stringn("abcdef", 3);
    assert_string_equal(xapi_value_str(s), "abc");
    assert_false(xapi_value_is_void(s));
    xapi_value_free(s);
    s = xapi_value_new_void();
    assert_true(xapi_value_is_void(s));
    assert_string_equal(xapi_value_str(s), "");
    xapi_value_free(s);
    s = xapi_value_new_int(3);
    assert_null(xapi_value_str(s));
    xapi_value_free(s);
}

static void test_dup_and_equal(void **state)
{
    struct xapi_value *a = sample_record();
    struct xapi_value *b = xapi_value_dup(a);
    (void)state;
    assert_true(xapi_value_equal(a, b));
    /* member order does not matter */
    struct xapi_value *c = xapi_value_new_struct();
    for (size_t i = xapi_struct_len(a); i-- > 0;)
        xapi_struct_set_take(c, a->u.st.keys[i], xapi_value_dup(a->u.st.vals[i]));
    assert_true(xapi_value_equal(a, c));
    /* a change deep inside is noticed */
    xapi_array_append_string(xapi_struct_get_mut(b, "resident_VMs"), "OpaqueRef:c");
    assert_false(xapi_value_equal(a, b));
    xapi_struct_set_int(c, "memory_overhead", 125829121);
    assert_false(xapi_value_equal(a, c));
    /* types matter: int 1 is not string "1", datetime is not string */
    struct xapi_value *i1 = xapi_value_new_int(1), *s1 = xapi_value_new_string("1");
    struct xapi_value *d1 = xapi_value_new_datetime("1"), *s2 = xapi_value_new_string("1");
    assert_false(xapi_value_equal(i1, s1));
    assert_false(xapi_value_equal(d1, s1));
    assert_true(xapi_value_equal(s1, s2));
    assert_false(xapi_value_equal(s1, NULL));
    assert_true(xapi_value_equal(NULL, NULL));
    xapi_value_free(i1);
    xapi_value_free(s1);
    xapi_value_free(d1);
    xapi_value_free(s2);
    xapi_value_free(a);
    xapi_value_free(b);
    xapi_value_free(c);
}

static void test_lenient_accessors(void **state)
{
    int64_t i;
    double d;
    bool b;
    (void)state;
    struct xapi_value *v = xapi_value_new_string("4294967296");
    assert_int_equal(xapi_value_as_int(v, &i), 0);
    assert_true(i == 4294967296LL);
    assert_int_equal(xapi_value_as_double(v, &d), 0);
    assert_true(d == 4294967296.0);
    assert_int_equal(xapi_value_as_bool(v, &b), PP_EINVAL);
    xapi_value_free(v);

    v = xapi_value_new_string("-9223372036854775808");
    assert_int_equal(xapi_value_as_int(v, &i), 0);
    assert_true(i == INT64_MIN);
    xapi_value_free(v);
    v = xapi_value_new_string("9223372036854775808"); /* overflow */
    assert_int_equal(xapi_value_as_int(v, &i), PP_EINVAL);
    xapi_value_free(v);
    v = xapi_value_new_string("12abc");
    assert_int_equal(xapi_value_as_int(v, &i), PP_EINVAL);
    assert_int_equal(xapi_value_as_double(v, &d), PP_EINVAL);
    xapi_value_free(v);
    v = xapi_value_new_string("0.5");
    assert_int_equal(xapi_value_as_int(v, &i), PP_EINVAL);
    assert_int_equal(xapi_value_as_double(v, &d), 0);
    assert_true(d == 0.5);
    xapi_value_free(v);
    v = xapi_value_new_int(-3);
    assert_int_equal(xapi_value_as_double(v, &d), 0);
    assert_true(d == -3.0);
    xapi_value_free(v);

    const char *truthy[] = {"true", "1"}, *falsy[] = {"false", "0"}, *bad[] = {"yes", "", "TRUE"};
    for (size_t k = 0; k < 2; k++) {
        v = xapi_value_new_string(truthy[k]);
        b = false;
        assert_int_equal(xapi_value_as_bool(v, &b), 0);
        assert_true(b);
        xapi_value_free(v);
        v = xapi_value_new_string(falsy[k]);
        b = true;
        assert_int_equal(xapi_value_as_bool(v, &b), 0);
        assert_false(b);
        xapi_value_free(v);
    }
    for (size_t k = 0; k < 3; k++) {
        v = xapi_value_new_string(bad[k]);
        assert_int_equal(xapi_value_as_bool(v, &b), PP_EINVAL);
        xapi_value_free(v);
    }
    assert_int_equal(xapi_value_as_int(NULL, &i), PP_EINVAL);
    assert_int_equal(xapi_value_as_bool(NULL, &b), PP_EINVAL);

    /* datetimes: DATETIME or STRING, xapi's forms */
    v = xapi_value_new_datetime("20250319T04:16:24Z");
    assert_int_equal(xapi_value_as_datetime(v, &i), 0);
    assert_true(i == 1742357784000LL);
    xapi_value_free(v);
    v = xapi_value_new_string("19700101T00:00:00Z");
    assert_int_equal(xapi_value_as_datetime(v, &i), 0);
    assert_int_equal(i, 0);
    xapi_value_free(v);
    v = xapi_value_new_string("yesterday");
    assert_int_equal(xapi_value_as_datetime(v, &i), PP_EINVAL);
    xapi_value_free(v);
    v = xapi_value_new_datetime_ms(1742357784000LL);
    assert_int_equal(v->type, XAPI_DATETIME);
    assert_string_equal(xapi_value_str(v), "20250319T04:16:24Z");
    xapi_value_free(v);
    v = xapi_value_new_int(5);
    assert_int_equal(xapi_value_as_datetime(v, &i), PP_EINVAL);
    xapi_value_free(v);
}

static void test_json_mapping(void **state)
{
    struct xapi_value *r = sample_record();
    struct buf b;
    (void)state;
    json_t *j = xapi_value_to_json(r);
    buf_init(&b);
    char *txt = json_dumps(j, JSON_COMPACT);
    assert_string_equal(txt, "{\"uuid\":\"0d9ac7c8-8a3f-4c0e-9f1c-2a7e3c5f9b10\","
                             "\"metrics\":\"OpaqueRef:NULL\",\"memory_overhead\":125829120,"
                             "\"enabled\":true,\"load\":0.25,"
                             "\"last_software_update\":\"20250319T04:16:24Z\","
                             "\"resident_VMs\":[\"OpaqueRef:a\",\"OpaqueRef:b\"],"
                             "\"other_config\":{\"boot_time\":\"1742357784.\"},\"nothing\":\"\"}");
    free(txt);
    struct xapi_value *back = xapi_value_from_json(j);
    /* the only lossy members: datetime comes back a string, void comes back "" */
    assert_false(xapi_value_equal(r, back));
    assert_int_equal(xapi_struct_get(back, "last_software_update")->type, XAPI_STRING);
    assert_true(xapi_value_is_void(xapi_struct_get(back, "nothing")));
    xapi_struct_set_take(r, "last_software_update", xapi_value_new_string("20250319T04:16:24Z"));
    xapi_struct_set_string(r, "nothing", "");
    assert_true(xapi_value_equal(r, back));
    json_decref(j);
    xapi_value_free(back);

    /* null, int64 extremes, invalid UTF-8 sanitized rather than failing */
    json_t *n = json_null();
    struct xapi_value *v = xapi_value_from_json(n);
    assert_int_equal(v->type, XAPI_VOID);
    xapi_value_free(v);
    json_decref(n);
    v = xapi_value_new_int(INT64_MAX);
    j = xapi_value_to_json(v);
    assert_true(json_integer_value(j) == INT64_MAX);
    json_decref(j);
    xapi_value_free(v);
    v = xapi_value_new_string("a\xff"
                              "b");
    j = xapi_value_to_json(v);
    assert_non_null(j);
    assert_string_equal(json_string_value(j), "a\xEF\xBF\xBD"
                                              "b");
    json_decref(j);
    xapi_value_free(v);
    xapi_value_free(r);
    buf_cleanup(&b);
}

static void test_dump(void **state)
{
    struct xapi_value *r = xapi_value_new_struct();
    struct xapi_value *a = xapi_value_new_array();
    struct buf b;
    (void)state;
    xapi_array_append_take(a, xapi_value_new_int(-4));
    xapi_array_append_take(a, xapi_value_new_bool(false));
    xapi_array_append_take(a, xapi_value_new_double(1.5));
    xapi_array_append_take(a, xapi_value_new_void());
    xapi_struct_set_take(r, "a", a);
    xapi_struct_set_string(r, "s", "say \"hi\"\n");
    xapi_struct_set_take(r, "t", xapi_value_new_datetime("20250319T04:16:24Z"));
    buf_init(&b);
    xapi_value_dump(&b, r);
    assert_string_equal(buf_str(&b),
                        "{\"a\": [-4, false, 1.5, void], \"s\": \"say \\\"hi\\\"\\n\", "
                        "\"t\": datetime:\"20250319T04:16:24Z\"}");
    buf_reset(&b);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct xapi_value *s = xapi_value_new_string(big);
    xapi_value_dump(&b, s);
    assert_true(b.len < 260);
    assert_non_null(strstr(buf_str(&b), "(999 bytes)"));
    xapi_value_free(s);
    buf_cleanup(&b);
    xapi_value_free(r);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(xapi_type_name(XAPI_VOID), "void");
    assert_string_equal(xapi_type_name(XAPI_STRING), "string");
    assert_string_equal(xapi_type_name(XAPI_INT), "int");
    assert_string_equal(xapi_type_name(XAPI_DOUBLE), "double");
    assert_string_equal(xapi_type_name(XAPI_BOOL), "bool");
    assert_string_equal(xapi_type_name(XAPI_DATETIME), "datetime");
    assert_string_equal(xapi_type_name(XAPI_ARRAY), "array");
    assert_string_equal(xapi_type_name(XAPI_STRUCT), "struct");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constructors_and_getters),
        cmocka_unit_test(test_dup_and_equal),
        cmocka_unit_test(test_lenient_accessors),
        cmocka_unit_test(test_json_mapping),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
