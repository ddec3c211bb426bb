/* SPDX-License-Identifier: MIT */
/* test_base.c - unit tests of the base module: buffers, strings, errors, clocks, rng, uuids, json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/str.h"
#include "base/uuid.h"
#include "base/vec.h"

static void test_buf_grows_and_takes(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b);
    assert_string_equal(buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    assert_true(b.len > 1000);
    assert_int_equal(b.data[b.len], '\0');
    assert_true(strncmp(b.data, "0,1,2,", 6) == 0);
    char *s = buf_take(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
    buf_putc(&b, 'x');
    buf_reset(&b);
    assert_string_equal(buf_str(&b), "");
    buf_cleanup(&b);
}

static void test_str_numbers_strict(void **state)
{
    int64_t v;
    uint64_t u;
    double d;
    (void)state;
    assert_int_equal(str_to_int64("4294967296", &v), 0);
    assert_true(v == 4294967296LL);
    assert_int_equal(str_to_int64("-12", &v), 0);
    assert_int_equal(v, -12);
    assert_int_equal(str_to_int64("12x", &v), PP_EPARSE);
    assert_int_equal(str_to_int64("", &v), PP_EPARSE);
    assert_int_equal(str_to_int64(" 1", &v), PP_EPARSE);
    assert_int_equal(str_to_int64("99999999999999999999", &v), PP_ELIMIT);
    assert_int_equal(str_to_uint64("-1", &u), PP_EPARSE);
    assert_int_equal(str_to_uint64("18446744073709551615", &u), 0);
    assert_int_equal(str_to_double("1.5", &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(str_to_double("nan", &d), PP_ELIMIT);
}

static void test_str_escapes(void **state)
{
    struct buf b;
    char small[4];
    (void)state;
    buf_init(&b);
    str_xml_escape(&b, "a<b>&\"c'");
    assert_string_equal(buf_str(&b), "a&lt;b&gt;&amp;&quot;c&apos;");
    buf_reset(&b);
    str_csv_field(&b, "say \"hi\", now");
    assert_string_equal(buf_str(&b), "\"say \"\"hi\"\", now\"");
    buf_cleanup(&b);
    assert_int_equal(str_lcpy(small, "abcdef", sizeof(small)), 6);
    assert_string_equal(small, "abc");
    assert_true(str_has_prefix("OpaqueRef:x", "OpaqueRef:"));
    assert_true(str_has_suffix("update.iso", ".iso"));
    assert_true(str_eq_nocase("ABC", "abc"));
    assert_false(str_eq(NULL, "a"));
}

static void test_err_set_and_prefix(void **state)
{
    struct err e;
    (void)state;
    err_clear(&e);
    assert_int_equal(err_set(&e, PP_EPARSE, "line %d", 3), PP_EPARSE);
    err_prefix(&e, "scenario %s: ", "x.json");
    assert_string_equal(e.msg, "scenario x.json: line 3");
    assert_int_equal(e.code, PP_EPARSE);
    assert_string_equal(err_code_name(PP_ETIMEOUT), "ETIMEOUT");
    assert_int_equal(err_set(NULL, PP_EIO, "ignored"), PP_EIO);
}

static void test_clock_virtual_and_scaled(void **state)
{
    struct pp_clock *v = clock_virtual_new(1000);
    (void)state;
    assert_int_equal(clock_now_ms(v), 1000);
    assert_int_equal(clock_advance(v, 500), 0);
    assert_int_equal(clock_now_ms(v), 1500);
    assert_int_equal(clock_advance(v, -1), PP_EINVAL);
    assert_int_equal(clock_set(v, 1400), PP_EINVAL);
    assert_int_equal(clock_set(v, 90000), 0);
    assert_int_equal(clock_now_s(v), 90);
    assert_int_equal(clock_real_ms_for(v, 60000), 0);
    clock_free(v);

    struct pp_clock *s = clock_scaled_new(60.0);
    assert_int_equal(clock_real_ms_for(s, 60000), 1000);
    assert_int_equal(clock_advance(s, 1), PP_ESTATE);
    clock_free(s);
    clock_free(NULL);
}

/* --log-format json: every line is one JSON object that parses, whatever the message holds
 * (quotes, newlines, ESC, C1 controls, invalid UTF-8, 6,000 bytes); text stays one line a message.
 */
static void test_log_json(void **state)
{
    (void)state;
    char path[] = "/tmp/pp-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(log_set_file(path), 0);
    log_set_level(LOG_LVL_DEBUG);
    log_set_format(LOG_FMT_JSON);
    char big[6001];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_warn("xapi",
             "host \"a\\b\"\nnext \x1b[2J bell\x07 c1\xc2\x9b bad\xff\xfe \xc3\xa9t\xc3\xa9");
    log_info("engine", "%s", big);
    log_error(NULL, "plain");
    log_set_format(LOG_FMT_TEXT);
    log_info("engine", "text again");
    log_set_file(NULL);
    log_set_level(LOG_LVL_OFF);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (n < 3 && getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *v = json_loads(line, 0, &je);
        if (!v)
            fail_msg("line %d is not JSON (%s): %s", n + 1, je.text, line);
        const char *msg = json_string_value(json_object_get(v, "msg"));
        assert_non_null(json_string_value(json_object_get(v, "time")));
        assert_true(json_integer_value(json_object_get(v, "pid")) == (json_int_t)getpid());
        if (n == 0) {
            assert_string_equal(json_string_value(json_object_get(v, "level")), "warn");
            assert_string_equal(json_string_value(json_object_get(v, "module")), "xapi");
            assert_string_equal(msg, "host \"a\\b\"\nnext \x1b[2J bell\x07 c1\xc2\x9b "
                                     "bad\xef\xbf\xbd\xef\xbf\xbd \xc3\xa9t\xc3\xa9");
            assert_null(strchr(line, 0x1b)); /* escaped on the wire, not raw */
        } else if (n == 1) {
            assert_string_equal(msg, big); /* longer than the line buffer: whole */
        } else {
            assert_string_equal(json_string_value(json_object_get(v, "module")), "-");
            assert_string_equal(msg, "plain");
        }
        json_decref(v);
        n++;
    }
    assert_int_equal(n, 3);
    assert_true(getline(&line, &cap, f) > 0);
    assert_non_null(strstr(line, "info  [engine] text again"));
    free(line);
    fclose(f);
    unlink(path);
    enum log_format fmt;
    assert_int_equal(log_format_parse("json", &fmt), 0);
    assert_int_equal(fmt, LOG_FMT_JSON);
    assert_int_not_equal(log_format_parse("xml", &fmt), 0);
}

/* clock_deadline_ts: ms from now, nanoseconds carried into seconds, never in the past. */
static void test_clock_deadline(void **state)
{
    (void)state;
    static const int64_t cases[] = {0, 1, 999, 1000, 1001, 1999, 86400000};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct timespec a, b, d;
        clock_gettime(CLOCK_MONOTONIC, &a);
        d = clock_deadline_ts(CLOCK_MONOTONIC, cases[i]);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        int64_t dn = (int64_t)d.tv_sec * 1000000000LL + d.tv_nsec;
        int64_t an = (int64_t)a.tv_sec * 1000000000LL + a.tv_nsec;
        int64_t bn = (int64_t)b.tv_sec * 1000000000LL + b.tv_nsec;
        assert_true(dn >= an + cases[i] * 1000000LL);
        assert_true(dn <= bn + cases[i] * 1000000LL);
    }
    /* a negative wait is now, not the past */
    struct timespec a, d;
    clock_gettime(CLOCK_REALTIME, &a);
    d = clock_deadline_ts(CLOCK_REALTIME, -5000);
    assert_true(d.tv_sec > a.tv_sec || (d.tv_sec == a.tv_sec && d.tv_nsec >= a.tv_nsec));
}

static void test_clock_xapi_dates(void **state)
{
    char out[20];
    int64_t t;
    (void)state;
    clock_format_xapi(0, out);
    assert_string_equal(out, "19700101T00:00:00Z");
    assert_int_equal(clock_parse_xapi("20250319T04:16:24Z", &t), 0);
    clock_format_xapi(t, out);
    assert_string_equal(out, "20250319T04:16:24Z");
    assert_int_equal(clock_parse_xapi("2025-03-19T04:16:24.000Z", &t), 0);
    clock_format_xapi(t, out);
    assert_string_equal(out, "20250319T04:16:24Z");
    assert_int_equal(clock_parse_xapi("20251319T04:16:24Z", &t), PP_EPARSE);
    assert_int_equal(clock_parse_xapi("garbage", &t), PP_EPARSE);
    assert_int_equal(clock_parse_xapi("20250319T04:16:24Zjunk", &t), PP_EPARSE);
}

static void test_rng_deterministic(void **state)
{
    struct rng a, b;
    (void)state;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_true(rng_next(&a) == rng_next(&b));
    for (int i = 0; i < 1000; i++) {
        assert_true(rng_below(&a, 7) < 7);
        double d = rng_double(&a);
        assert_true(d >= 0.0 && d < 1.0);
    }
}

static void test_uuid(void **state)
{
    char u1[UUID_STR_LEN], u2[UUID_STR_LEN];
    struct rng r;
    (void)state;
    assert_int_equal(uuid_generate(u1), 0);
    assert_true(uuid_is_valid(u1));
    assert_int_equal(u1[14], '4');
    rng_seed(&r, 7);
    uuid_from_rng(&r, u1);
    rng_seed(&r, 7);
    uuid_from_rng(&r, u2);
    assert_string_equal(u1, u2);
    assert_false(uuid_is_valid("not-a-uuid"));
    assert_false(uuid_is_valid("zzzzzzzz-0000-4000-8000-000000000000"));
}

/* jsonx_check_keys: every member known passes; the first unknown one and a non-object are named
 * with their path. */
static void test_jsonx_check_keys(void **state)
{
    (void)state;
    static const char *const keys[] = {"name", "size", NULL};
    struct err e = {0};
    json_t *ok = json_pack("{s:s, s:i}", "name", "a", "size", 1);
    json_t *bad = json_pack("{s:s, s:i}", "name", "a", "colour", 2);
    json_t *arr = json_array();
    json_t *empty = json_object();
    assert_int_equal(jsonx_check_keys(ok, keys, "x", &e), 0);
    assert_int_equal(jsonx_check_keys(empty, keys, "x", &e), 0);
    assert_int_equal(jsonx_check_keys(bad, keys, "pools[1]", &e), PP_EINVAL);
    assert_string_equal(e.msg, "pools[1].colour: unknown field");
    assert_int_equal(jsonx_check_keys(arr, keys, "hosts[0]", &e), PP_EINVAL);
    assert_string_equal(e.msg, "hosts[0]: expected an object");
    json_decref(ok);
    json_decref(bad);
    json_decref(arr);
    json_decref(empty);
}

static void test_jsonx_limits_and_errors(void **state)
{
    json_t *v = NULL;
    struct err e;
    char deep[300];
    (void)state;
    err_clear(&e);
    assert_int_equal(jsonx_load("{\"a\":1,\"b\":\"x\",\"c\":true}", 24, 1024, 8, "t", &v, &e), 0);
    assert_int_equal(jsonx_int(v, "a", -1), 1);
    assert_string_equal(jsonx_str(v, "b", ""), "x");
    assert_true(jsonx_bool(v, "c", false));
    assert_string_equal(jsonx_str(v, "zz", "def"), "def");
    assert_int_equal(jsonx_depth(v), 1);
    json_decref(v);

    assert_int_equal(jsonx_load("{\"a\":1,\n \"a\":2}", 16, 1024, 8, "dup", &v, &e), PP_EPARSE);
    assert_non_null(strstr(e.msg, "dup: line 2"));
    assert_int_equal(jsonx_load("{\"a\":", 5, 1024, 8, "cut", &v, &e), PP_EPARSE);
    assert_int_equal(jsonx_load("[1,2,3]", 7, 4, 8, "big", &v, &e), PP_ELIMIT);
    memset(deep, '[', sizeof(deep));
    assert_int_equal(jsonx_load(deep, sizeof(deep), 1024, 64, "deep", &v, &e), PP_ELIMIT);
    assert_null(v);
    /* brackets inside strings do not count as nesting */
    {
        const char *s = "[\"[[[[[[[[[[\"]";
        assert_int_equal(jsonx_load(s, strlen(s), 1024, 2, "s", &v, &e), 0);
    }
    json_decref(v);
}

struct pair {
    int a;
    char b[12];
};

/* vec.h: pushes keep order and values across growth, capacity doubles from 8, remove keeps the
 * order, push_zero gives a zeroed element, free empties. */
static void test_vec(void **state)
{
    (void)state;
    struct VEC(int) v = {0};
    for (int i = 0; i < 1000; i++)
        vec_push(&v, i * 3);
    assert_int_equal(v.n, 1000);
    assert_int_equal(v.cap, 1024); /* 8 doubled seven times */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(v.items[i], i * 3);
    vec_remove(&v, 0);
    vec_remove(&v, 500);
    vec_remove(&v, 5000); /* out of range: nothing */
    assert_int_equal(v.n, 998);
    assert_int_equal(v.items[0], 3);
    assert_int_equal(v.items[499], 1500);
    assert_int_equal(v.items[500], 1506);
    vec_free(&v);
    assert_null(v.items);
    assert_int_equal(v.n + v.cap, 0);

    struct VEC(struct pair) p;
    vec_init(&p);
    for (int i = 0; i < 20; i++) {
        struct pair *e = vec_push_zero(&p);
        assert_int_equal(e->a, 0);
        assert_string_equal(e->b, "");
        e->a = i;
    }
    assert_int_equal(p.n, 20);
    assert_int_equal(p.cap, 32);
    assert_int_equal(p.items[19].a, 19);
    /* a pointer + count array grown one at a time with the implied capacity */
    int *arr = NULL;
    size_t n = 0;
    for (int i = 0; i < 300; i++) {
        arr = vec_grow_implied(arr, n, sizeof(*arr));
        arr[n++] = i;
    }
    for (int i = 0; i < 300; i++)
        assert_int_equal(arr[i], i);
    free(arr);
    vec_reserve(&p, 100);
    assert_int_equal(p.cap, 128);
    assert_int_equal(p.items[7].a, 7);
    vec_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_takes),
        cmocka_unit_test(test_str_numbers_strict),
        cmocka_unit_test(test_str_escapes),
        cmocka_unit_test(test_err_set_and_prefix),
        cmocka_unit_test(test_clock_virtual_and_scaled),
        cmocka_unit_test(test_clock_xapi_dates),
        cmocka_unit_test(test_clock_deadline),
        cmocka_unit_test(test_log_json),
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_jsonx_limits_and_errors),
        cmocka_unit_test(test_jsonx_check_keys),
        cmocka_unit_test(test_vec),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
