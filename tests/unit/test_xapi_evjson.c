/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_evjson.c - the straight route of event.from answers (src/xapi/evjson.c) against the
 * old one (jansson -> value tree -> xapi__cache_apply).  A seeded random run (the seed is
 * printed; SEED=N replays one) writes JSON-RPC answers - random classes (some narrowed to a few
 * fields, one named in two cases), records of every field type (maps, sets, refs, int64 bounds,
 * reals in several notations, booleans, null, \u escapes and surrogate pairs, raw UTF-8), adds,
 * mods, dels, snapshots, members in any order, v1 and v2 envelopes, white space anywhere - and
 * feeds each to two caches, one per route: they must hold the same records (member order
 * included), tokens, interned tables and bytes after every answer.  Hostile answers (truncated,
 * too deep, strings over the limit, wrong types, duplicate names, invalid UTF-8 and escapes,
 * numbers out of range, too many values) must be refused by both routes with the cache left as
 * it was, and the straight route's error must name the byte offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/rng.h"
#include "xapi/cache_int.h"
#include "xapi/client_int.h"
#include "xapi/codec.h"

static const char *const vm_fields[] = {"uuid",   "resident_on",  "power_state",
                                        "VBDs",   "other_config", "current_operations",
                                        "memory", "name_label",   NULL};
static const char *const vbd_fields[] = {"uuid", "VM", "VDI", "empty", NULL};

static struct xapi_cache *cache_make(void)
{
    struct xapi_cache *k = xapi__cache_new();
    xapi__cache_set_fields(k, "vm", vm_fields);
    xapi__cache_set_fields(k, "vbd", vbd_fields);
    return k;
}

/* ---- comparing two caches ---- */

static bool same_tree(const struct xapi_value *a, const struct xapi_value *b)
{
    if (!xapi_value_equal(a, b) || a->type != b->type || a->i4 != b->i4)
        return false;
    if (a->type == XAPI_STRUCT) {
        for (size_t i = 0; i < a->u.st.n; i++)
            if (strcmp(a->u.st.keys[i], b->u.st.keys[i]) != 0 ||
                !same_tree(a->u.st.vals[i], b->u.st.vals[i]))
                return false;
    } else if (a->type == XAPI_ARRAY) {
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!same_tree(a->u.arr.items[i], b->u.arr.items[i]))
                return false;
    }
    return true;
}

struct cmp {
    const struct xapi_cache *other;
    const char *cls;
    size_t seen;
    bool ok;
};

static bool cmp_one(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct cmp *c = ctx;
    const struct xapi_value *o = xapi__cache_get(c->other, c->cls, ref);
    c->seen++;
    if (!o || !same_tree(rec, o)) {
        c->ok = false;
        fprintf(stderr, "class %s ref %s differs\n", c->cls, ref);
        return false;
    }
    return true;
}

static const char *const classes[] = {"vm", "host", "vbd",          "task",
                                      "sr", "pool", "host_metrics", NULL};

static void assert_same(const struct xapi_cache *a, const struct xapi_cache *b)
{
    for (const char *const *cls = classes; *cls; cls++) {
        assert_int_equal(xapi__cache_count(a, *cls), xapi__cache_count(b, *cls));
        struct cmp c = {.other = b, .cls = *cls, .ok = true};
        xapi__cache_foreach(a, *cls, cmp_one, &c);
        assert_true(c.ok);
        assert_int_equal(c.seen, xapi__cache_count(a, *cls));
    }
    assert_string_equal(xapi__cache_token(a), xapi__cache_token(b));
    assert_int_equal(xapi__cache_interned(a), xapi__cache_interned(b));
    assert_int_equal(xapi__cache_bytes(a), xapi__cache_bytes(b));
}

/* ---- the two routes ---- */

/* The old route: decode the whole response, then apply the value.  0 when applied. */
static int old_route(struct xapi_cache *k, const char *body, size_t len,
                     const struct xapi_limits *lim, bool reset)
{
    struct xapi_response r;
    struct err e = {0};
    int rc = xapi_jsonrpc_decode_response(body, len, lim, &r, NULL, &e);
    if (rc == 0 && !r.ok)
        rc = 1;
    if (rc == 0)
        rc = xapi__cache_apply(k, r.value, reset, &e);
    if (rc < 0)
        assert_true(e.msg[0] != '\0');
    xapi_response_cleanup(&r);
    return rc;
}

/* The straight route, as the client takes it: scan, then decode the result into a batch.  What
 * the scan does not take as a result goes the old way (*fell set).  0 when applied. */
static int new_route(struct xapi_cache *k, const char *body, size_t len,
                     const struct xapi_limits *lim, bool reset, bool *fell, struct err *e)
{
    size_t off = 0, rlen = 0;
    *fell = false;
    int rc = xapi__evjson_scan(body, len, lim, &off, &rlen, e);
    if (rc != 0) {
        *fell = true;
        return old_route(k, body, len, lim, reset);
    }
    struct xapi_batch *b = NULL;
    rc = xapi__batch_from_json(k, body + off, rlen, off, lim, reset, &b, e);
    if (rc != 0) {
        assert_null(b);
        assert_true(e->msg[0] != '\0');
        return rc;
    }
    xapi__cache_commit(k, b);
    xapi__batch_free(b);
    return 0;
}

/* ---- random answers ---- */

struct gen {
    struct rng r;
    struct buf b;
};

static size_t pick(struct gen *g, size_t n)
{
    return (size_t)rng_below(&g->r, n);
}

static void ws(struct gen *g)
{
    static const char *const w[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    buf_puts(&g->b, w[pick(g, 7)]);
}

static void gen_string(struct gen *g)
{
    static const char *const s[] = {
        "Running",
        "",
        "OpaqueRef:NULL",
        "caf\\u00e9 \\u20ac \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t",
        "raw UTF-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "a description longer than the interning bound of twenty-four bytes",
        "\\u0041\\u00DF\\uFFFD",
        "true",
        "1",
    };
    size_t i = pick(g, 12);
    buf_putc(&g->b, '"');
    if (i < 9)
        buf_puts(&g->b, s[i]);
    else if (i < 11)
        buf_printf(&g->b, "OpaqueRef:%08" PRIx64 "-%04x", rng_next(&g->r) & 0xffff,
                   (unsigned)pick(g, 40));
    else
        buf_printf(&g->b, "%016" PRIx64 "-%016" PRIx64, rng_next(&g->r), rng_next(&g->r));
    buf_putc(&g->b, '"');
}

static void gen_number(struct gen *g)
{
    static const char *const n[] = {
        "0",
        "-0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "-0.0",
        "1e300",
        "4.9e-324",
        "2.5E+3",
        "0.1",
        "-3.25e-2",
        "1e-400",
        "123456789.123456789",
        "17179869184",
    };
    size_t i = pick(g, 17);
    if (i < 15)
        buf_puts(&g->b, n[i]);
    else
        buf_printf(&g->b, "%" PRId64, (int64_t)rng_next(&g->r));
}

static void gen_value(struct gen *g, int depth);

/* Member names: decoded forms all distinct. */
static const char *const keys[] = {"a", "b",        "k\\u00e9y",    "OpaqueRef:ab", "x y",
                                   "",  "\\u0062b", "auto_poweron", "nested",       "z"};

static void gen_object(struct gen *g, int depth, size_t n)
{
    size_t perm[10];
    for (size_t i = 0; i < 10; i++)
        perm[i] = i;
    for (size_t i = 0; i < 10; i++) {
        size_t j = i + pick(g, 10 - i), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    buf_putc(&g->b, '{');
    for (size_t i = 0; i < n; i++) {
        ws(g);
        buf_printf(&g->b, "%s\"%s\"", i ? "," : "", keys[perm[i]]);
        ws(g);
        buf_putc(&g->b, ':');
        ws(g);
        gen_value(g, depth + 1);
    }
    ws(g);
    buf_putc(&g->b, '}');
}

static void gen_value(struct gen *g, int depth)
{
    size_t t = pick(g, depth > 3 ? 6 : 9);
    if (t < 2) {
        gen_string(g);
    } else if (t < 4) {
        gen_number(g);
    } else if (t == 4) {
        buf_puts(&g->b, pick(g, 2) ? "true" : "false");
    } else if (t == 5) {
        buf_puts(&g->b, "null");
    } else if (t < 8) {
        size_t n = pick(g, 5);
        buf_putc(&g->b, '[');
        for (size_t i = 0; i < n; i++) {
            buf_puts(&g->b, i ? "," : "");
            ws(g);
            gen_value(g, depth + 1);
        }
        buf_putc(&g->b, ']');
    } else {
        gen_object(g, depth, pick(g, 6));
    }
}

/* A record: kept and dropped fields of vm / vbd, in random order. */
static void gen_snapshot(struct gen *g)
{
    static const char *const f[] = {"uuid",
                                    "resident_on",
                                    "power_state",
                                    "VBDs",
                                    "other_config",
                                    "current_operations",
                                    "memory",
                                    "name_label",
                                    "VM",
                                    "VDI",
                                    "empty",
                                    "blobs",
                                    "xenstore_data",
                                    "status",
                                    "progress",
                                    "NVRAM",
                                    "last_booted_record"};
    size_t n = pick(g, 18), perm[17];
    n = n > 17 ? 17 : n;
    for (size_t i = 0; i < 17; i++)
        perm[i] = i;
    for (size_t i = 0; i < 17; i++) {
        size_t j = i + pick(g, 17 - i), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    buf_putc(&g->b, '{');
    for (size_t i = 0; i < n; i++) {
        buf_printf(&g->b, "%s\"%s\":", i ? "," : "", f[perm[i]]);
        ws(g);
        gen_value(g, 1);
    }
    buf_putc(&g->b, '}');
}

static void gen_event(struct gen *g, size_t id)
{
    static const char *const cls[] = {"vm",   "VM", "host", "vbd",
                                      "task", "sr", "pool", "host_metrics"};
    static const char *const ops[] = {"add", "mod", "mod", "del"};
    const char *op = ops[pick(g, 4)];
    bool snap = strcmp(op, "del") != 0 || pick(g, 2);
    size_t order[6] = {0, 1, 2, 3, 4, 5}, n = snap ? 6 : 5;
    if (pick(g, 3) == 0)
        for (size_t i = 0; i < n; i++) {
            size_t j = i + pick(g, n - i), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    buf_putc(&g->b, '{');
    for (size_t i = 0; i < n; i++) {
        buf_puts(&g->b, i ? "," : "");
        ws(g);
        switch (order[i]) {
        case 0:
            buf_printf(&g->b, "\"id\":\"%zu\"", id);
            break;
        case 1:
            buf_puts(&g->b, "\"timestamp\":\"1742357784.123\"");
            break;
        case 2:
            buf_printf(&g->b, "\"class\":\"%s\"", cls[pick(g, 8)]);
            break;
        case 3:
            buf_printf(&g->b, "\"operation\":\"%s\"", op);
            break;
        case 4:
            buf_printf(&g->b, "\"ref\":\"OpaqueRef:obj-%zu\"", pick(g, 12));
            break;
        default:
            buf_puts(&g->b, "\"snapshot\":");
            gen_snapshot(g);
        }
    }
    buf_putc(&g->b, '}');
}

/* A whole JSON-RPC answer of n events into g->b. */
static void gen_answer(struct gen *g, size_t n, unsigned token)
{
    buf_reset(&g->b);
    bool v1 = pick(g, 2);
    ws(g);
    buf_puts(&g->b, v1 ? "{\"id\":7," : "{\"jsonrpc\":\"2.0\",");
    ws(g);
    buf_puts(&g->b, "\"result\":");
    ws(g);
    buf_puts(&g->b, "{");
    bool token_first = pick(g, 2);
    if (token_first)
        buf_printf(&g->b, "\"token\":\"%u.5\",", token);
    buf_puts(&g->b, "\"events\":[");
    for (size_t i = 0; i < n; i++) {
        buf_puts(&g->b, i ? "," : "");
        gen_event(g, i);
    }
    buf_puts(&g->b, "],\"valid_ref_counts\":{\"VM\":3,\"host\":1}");
    if (!token_first)
        buf_printf(&g->b, ",\"token\":\"%u.5\"", token);
    buf_puts(&g->b, "}");
    ws(g);
    buf_puts(&g->b, v1 ? ",\"error\":null}" : ",\"id\":1}");
    ws(g);
}

static uint64_t test_seed(void)
{
    const char *s = getenv("SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    printf("test_xapi_evjson: SEED=%" PRIu64 "\n", seed);
    return seed;
}

static void test_random_equivalence(void **state)
{
    (void)state;
    struct gen g;
    rng_seed(&g.r, test_seed());
    buf_init(&g.b);
    struct xapi_limits lim;
    xapi_limits_response(&lim);
    size_t applied = 0, events = 0;
    for (int run = 0; run < 40; run++) {
        struct xapi_cache *a = cache_make(), *b = cache_make();
        for (unsigned batch = 0; batch < 12; batch++) {
            bool reset = batch == 0 || pick(&g, 8) == 0;
            size_t n = pick(&g, reset ? 60 : 8);
            gen_answer(&g, n, batch);
            struct err e = {0};
            bool fell = false;
            int ra = old_route(a, g.b.data, g.b.len, &lim, reset);
            int rb = new_route(b, g.b.data, g.b.len, &lim, reset, &fell, &e);
            if (ra != 0 || rb != 0 || fell)
                fprintf(stderr, "answer: %s\nold %d, new %d (%s), fell back %d\n", g.b.data, ra, rb,
                        e.msg, fell);
            assert_int_equal(ra, 0); /* every generated answer is valid */
            assert_int_equal(rb, 0);
            assert_false(fell);
            assert_same(a, b);
            applied++;
            events += n;
        }
        xapi__cache_free(a);
        xapi__cache_free(b);
    }
    printf("test_xapi_evjson: %zu answers, %zu events: same caches\n", applied, events);
    buf_cleanup(&g.b);
}

/* ---- hostile answers ---- */

static const char seed_answer[] =
    "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[{\"class\":\"vm\",\"operation\":\"add\","
    "\"ref\":\"OpaqueRef:seed\",\"snapshot\":{\"uuid\":\"seed-vm\",\"power_state\":\"Running\","
    "\"other_config\":{\"a\":\"b\"}}}],\"token\":\"seed\"},\"id\":1}";

/* Both routes refuse body (limits lim) and leave a cache holding the seed answer as it was. */
static void refuse(const char *body, size_t len, const struct xapi_limits *lim, bool want_byte)
{
    struct xapi_cache *a = cache_make(), *b = cache_make(), *ref = cache_make();
    struct err e = {0};
    bool fell;
    assert_int_equal(old_route(a, seed_answer, strlen(seed_answer), NULL, true), 0);
    assert_int_equal(new_route(b, seed_answer, strlen(seed_answer), NULL, true, &fell, &e), 0);
    assert_int_equal(old_route(ref, seed_answer, strlen(seed_answer), NULL, true), 0);
    memset(&e, 0, sizeof(e));
    int ra = old_route(a, body, len, lim, false);
    int rb = new_route(b, body, len, lim, false, &fell, &e);
    if (ra == 0 || rb == 0 || (want_byte && !strstr(e.msg, "at byte")))
        fprintf(stderr, "hostile answer: %.*s\nold %d, new %d: %s\n", (int)len, body, ra, rb,
                e.msg);
    assert_true(ra != 0);
    assert_true(rb != 0);
    if (want_byte) /* a fault in the bytes: the straight route names where */
        assert_non_null(strstr(e.msg, "at byte"));
    assert_same(a, ref);
    assert_same(b, ref);
    xapi__cache_free(a);
    xapi__cache_free(b);
    xapi__cache_free(ref);
}

static void refuse_str(const char *body, bool want_byte)
{
    refuse(body, strlen(body), NULL, want_byte);
}

#define ANSWER(events)                                                                             \
    "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[" events "],\"token\":\"t\"},\"id\":1}"
#define VMADD(snap)                                                                                \
    "{\"class\":\"vm\",\"operation\":\"add\",\"ref\":\"OpaqueRef:x\",\"snapshot\":" snap "}"

static void test_truncated(void **state)
{
    (void)state;
    struct gen g;
    rng_seed(&g.r, 5);
    buf_init(&g.b);
    gen_answer(&g, 6, 1);
    /* every cut before the closing brace */
    size_t end = g.b.len;
    while (end > 0 && g.b.data[end - 1] != '}')
        end--;
    for (size_t cut = 0; cut + 1 < end; cut += 1 + cut / 7)
        refuse(g.b.data, cut, NULL, true);
    buf_cleanup(&g.b);
}

static void test_limits(void **state)
{
    (void)state;
    /* nesting deeper than the limit */
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[{\"class\":\"vm\","
                 "\"operation\":\"add\",\"ref\":\"OpaqueRef:x\",\"snapshot\":{\"deep\":");
    for (int i = 0; i < 80; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < 80; i++)
        buf_putc(&b, ']');
    buf_puts(&b, "}}],\"token\":\"t\"},\"id\":1}");
    refuse(b.data, b.len, NULL, true);
    /* a string over the limit, a member name over it, too many values */
    struct xapi_limits lim;
    xapi_limits_response(&lim);
    lim.max_string_bytes = 100;
    buf_reset(&b);
    buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[{\"class\":\"vm\","
                 "\"operation\":\"add\",\"ref\":\"OpaqueRef:x\",\"snapshot\":{\"uuid\":\"");
    for (int i = 0; i < 101; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\"}}],\"token\":\"t\"},\"id\":1}");
    refuse(b.data, b.len, &lim, true);
    buf_reset(&b);
    buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[{\"class\":\"vm\","
                 "\"operation\":\"add\",\"ref\":\"OpaqueRef:x\",\"snapshot\":{\"");
    for (int i = 0; i < 101; i++)
        buf_putc(&b, 'k');
    buf_puts(&b, "\":1}}],\"token\":\"t\"},\"id\":1}");
    refuse(b.data, b.len, &lim, true);
    xapi_limits_response(&lim);
    lim.max_items = 20;
    refuse(ANSWER(VMADD("{\"VBDs\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}")),
           strlen(ANSWER(VMADD("{\"VBDs\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}"))),
           &lim, true);
    /* the whole body over the size limit */
    xapi_limits_response(&lim);
    lim.max_doc_bytes = 64;
    refuse(seed_answer, strlen(seed_answer), &lim, false);
    buf_cleanup(&b);
}

static void test_wrong_types(void **state)
{
    (void)state;
    refuse_str("{\"jsonrpc\":\"2.0\",\"result\":[1],\"id\":1}", true);
    refuse_str("{\"jsonrpc\":\"2.0\",\"result\":{\"events\":{},\"token\":\"t\"},\"id\":1}", true);
    refuse_str("{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[],\"token\":5},\"id\":1}", true);
    refuse_str("{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[]},\"id\":1}", true);
    refuse_str(ANSWER("7"), true);
    refuse_str(ANSWER("{\"class\":1,\"operation\":\"del\",\"ref\":\"OpaqueRef:x\"}"), true);
    refuse_str(ANSWER("{\"class\":\"vm\",\"operation\":\"add\",\"ref\":\"OpaqueRef:x\"}"), true);
    refuse_str(ANSWER(VMADD("\"a string\"")), true);
    refuse_str(ANSWER(VMADD("[]")), true);
    refuse_str(ANSWER("{\"class\":\"vm\",\"operation\":\"move\",\"ref\":\"OpaqueRef:x\","
                      "\"snapshot\":{}}"),
               true);
    refuse_str(ANSWER("{\"class\":\"\",\"operation\":\"del\",\"ref\":\"OpaqueRef:x\"}"), true);
    refuse_str("{\"jsonrpc\":\"1.0\",\"result\":{\"events\":[],\"token\":\"t\"},\"id\":1}", true);
    refuse_str("[{\"result\":{\"events\":[],\"token\":\"t\"}}]", true);
    /* a good event then a bad one: nothing of the batch is applied */
    refuse_str(ANSWER(VMADD("{\"uuid\":\"u\"}") ",{\"class\":\"vm\",\"operation\":\"del\"}"), true);
}

static void test_duplicates(void **state)
{
    (void)state;
    refuse_str(ANSWER(VMADD("{\"uuid\":\"a\",\"uuid\":\"b\"}")), true);
    refuse_str(ANSWER(VMADD("{\"uuid\":\"a\",\"u\\u0075id\":\"b\"}")), true); /* same decoded */
    refuse_str(ANSWER(VMADD("{\"blobs\":{\"x\":1,\"x\":2}}")), true); /* in a field not kept */
    refuse_str(ANSWER(VMADD("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,"
                            "\"i\":1,\"j\":1,\"e\":2}")),
               true); /* past the linear check */
    refuse_str(ANSWER("{\"class\":\"vm\",\"class\":\"vm\",\"operation\":\"del\","
                      "\"ref\":\"OpaqueRef:x\"}"),
               true);
    refuse_str("{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[],\"token\":\"t\",\"token\":\"u\"},"
               "\"id\":1}",
               true);
    refuse_str("{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[],\"token\":\"t\"},\"id\":1,"
               "\"id\":2}",
               true);
}

static void test_bad_text(void **state)
{
    (void)state;
    static const char *const snaps[] = {
        "{\"uuid\":\"\xff\"}",           /* invalid UTF-8 */
        "{\"uuid\":\"\xc0\xaf\"}",       /* overlong */
        "{\"uuid\":\"\xed\xa0\x80\"}",   /* an encoded surrogate */
        "{\"uuid\":\"\xe2\x82\"}",       /* cut sequence */
        "{\"uuid\":\"\\x41\"}",          /* no such escape */
        "{\"uuid\":\"\\u12\"}",          /* short \u */
        "{\"uuid\":\"\\udc00\"}",        /* lone low surrogate */
        "{\"uuid\":\"\\ud800x\"}",       /* high surrogate alone */
        "{\"uuid\":\"\\ud800\\u0041\"}", /* high surrogate, no low one */
        "{\"uuid\":\"a\\u0000b\"}",      /* NUL */
        "{\"u\\u0000\":1}",              /* NUL in a name */
        "{\"uuid\":\"tab\there\"}",      /* raw control character */
        "{\"n\":1e400}",                 /* real overflow */
        "{\"n\":-1e400}",
        "{\"n\":9223372036854775808}", /* past int64 */
        "{\"n\":-9223372036854775809}",
        "{\"n\":01}",
        "{\"n\":1.}",
        "{\"n\":.5}",
        "{\"n\":-}",
        "{\"n\":1e}",
        "{\"n\":+1}",
        "{\"n\":tru}",
        "{\"n\":nul}",
        "{\"n\":NaN}",
        "{\"n\":1,}",
        "{\"n\" 1}",
        "{\"n\":[1,]}",
        "{\"n\":[1 2]}",
        "{'n':1}",
        "{\"n\":1}x",
    };
    for (size_t i = 0; i < sizeof(snaps) / sizeof(snaps[0]); i++) {
        struct buf b;
        buf_init(&b);
        buf_printf(&b,
                   "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[{\"class\":\"vm\",\"operation\":"
                   "\"add\",\"ref\":\"OpaqueRef:x\",\"snapshot\":%s}],\"token\":\"t\"},\"id\":1}",
                   snaps[i]);
        refuse(b.data, b.len, NULL, true);
        buf_cleanup(&b);
    }
    refuse_str("", true);
    refuse_str("   ", true);
    refuse_str("{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[],\"token\":\"t\"},\"id\":1} x", true);
}

/* Fields the cache does not keep are skipped however the snapshot is placed; an error answer
 * goes the old way (the scan returns 1). */
static void test_filter_and_errors(void **state)
{
    (void)state;
    const char *body = "{\"jsonrpc\":\"2.0\",\"result\":{\"events\":[{\"snapshot\":{\"uuid\":\"u\","
                       "\"blobs\":{\"x\":[1,2]},\"VBDs\":[\"OpaqueRef:v\"]},\"ref\":"
                       "\"OpaqueRef:x\",\"operation\":\"add\",\"class\":\"VM\"}],\"token\":\"t\"},"
                       "\"id\":1}";
    struct xapi_cache *k = cache_make();
    struct err e = {0};
    bool fell;
    assert_int_equal(new_route(k, body, strlen(body), NULL, true, &fell, &e), 0);
    assert_false(fell);
    const struct xapi_value *rec = xapi__cache_get(k, "vm", "OpaqueRef:x");
    assert_non_null(rec);
    assert_int_equal(xapi_struct_len(rec), 2);
    assert_null(xapi_struct_get(rec, "blobs"));
    assert_string_equal(xapi_value_str(xapi_array_get(xapi_struct_get(rec, "VBDs"), 0)),
                        "OpaqueRef:v");
    xapi__cache_free(k);
    size_t off, len;
    const char *err1 = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"EVENTS_LOST\","
                       "\"data\":[]},\"id\":1}";
    assert_int_equal(xapi__evjson_scan(err1, strlen(err1), NULL, &off, &len, &e), 1);
    const char *err2 = "{\"result\":null,\"error\":[\"SESSION_INVALID\",\"OpaqueRef:s\"],"
                       "\"id\":1}";
    assert_int_equal(xapi__evjson_scan(err2, strlen(err2), NULL, &off, &len, &e), 1);
    const char *ok = "{\"result\":{\"events\":[],\"token\":\"t\"},\"error\":null,\"id\":1}";
    assert_int_equal(xapi__evjson_scan(ok, strlen(ok), NULL, &off, &len, &e), 0);
    assert_int_equal(off, 10);
    assert_int_equal(ok[off + len], ',');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_equivalence),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_bad_text),
        cmocka_unit_test(test_filter_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
