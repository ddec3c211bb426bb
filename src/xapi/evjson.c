/* SPDX-License-Identifier: MIT */
/*
 * evjson.c - event.from answers decoded straight from the JSON-RPC body into the object cache
 * (docs/xapi-client.md, "The object cache"; docs/performance.md, "Memory").  The old route
 * built a jansson tree of the whole answer, then a value tree of it, then the cache's compact
 * records: a bench-16 snapshot (~1.4 MB of JSON) took ~19 MB on its way.  Here a pull parser
 * walks the bytes once to check them (xapi__evjson_scan: syntax, UTF-8, escapes, duplicate
 * member names, limits; nothing built), and once more to stage the events
 * (xapi__batch_from_json): only one record's kept fields exist as a small value tree at a time
 * (in an arena reused from record to record), then go to its compact record; the fields the
 * cache does not keep are checked and skipped.
 *
 * The input is untrusted: nesting, string length, items, members of one object, events and the
 * whole size are bounded (struct xapi_limits, cache_int.h), and every error names the byte
 * offset in the body and what is wrong there.  Values map as xapi_value_from_json maps
 * jansson's (strings, int64 integers, doubles, booleans, null as void, arrays, objects in
 * document order) and numbers are read as jansson reads them (an integer out of int64 and a
 * real out of double's range are refused), so both routes give the same cache
 * (tests/unit/test_xapi_evjson.c checks it on random answers).  Pure; thread-safe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/vec.h"
#include "xapi/cache_int.h"
#include "xapi/codec.h"
#include "xapi/codec_internal.h"

#define WHAT "event.from answer"

/* ---- an arena for one record's value tree ---- */

struct achunk {
    struct achunk *next;
    size_t used, size;
    _Alignas(16) char data[];
};

struct arena {
    struct achunk *head;
    size_t next; /* the next chunk's size: 4 KiB doubling up to 64 KiB (most records are small) */
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct achunk *c = a->head;
    if (!c || c->size - c->used < n) {
        a->next = a->next ? (a->next < 65536 ? 2 * a->next : a->next) : 4096;
        size_t size = n > a->next ? n : a->next;
        c = xmalloc(sizeof(*c) + size);
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* Empty a, keeping its first chunk. */
static void arena_reset(struct arena *a)
{
    struct achunk *c = a->head;
    while (c && c->next) {
        struct achunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = c;
    if (c)
        c->used = 0;
}

static void arena_free(struct arena *a)
{
    arena_reset(a);
    free(a->head);
    a->head = NULL;
}

/* ---- the parser ---- */

/* A member name of an open object (for duplicates): hash, where its bytes are in keys. */
struct kent {
    uint64_t hash;
    size_t off, len, at;
    const char *ptr; /* keys.data + off, set for the sort (keys does not move then) */
};

struct jp {
    const char *s;
    size_t n, pos, base; /* base: offset of s[0] in the whole body (messages) */
    const struct xapi_limits *lim;
    size_t items;
    struct buf str;  /* the string just read */
    struct buf keys; /* member names of the open objects */
    struct buf num;
    struct VEC(struct kent) kent;
    struct VEC(void *) stk; /* children of the containers being built */
    struct arena ar;
    struct err *e;
};

__attribute__((format(printf, 4, 5))) static int jp_fail(struct jp *p, int code, size_t at,
                                                         const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return err_set(p->e, code, WHAT ": at byte %zu: %s", p->base + at, what);
}

static void jp_init(struct jp *p, const char *s, size_t n, size_t base,
                    const struct xapi_limits *lim, struct err *e)
{
    memset(p, 0, sizeof(*p));
    p->s = s;
    p->n = n;
    p->base = base;
    p->lim = lim;
    p->e = e;
    buf_init(&p->str);
    buf_init(&p->keys);
    buf_init(&p->num);
}

static void jp_cleanup(struct jp *p)
{
    buf_cleanup(&p->str);
    buf_cleanup(&p->keys);
    buf_cleanup(&p->num);
    vec_free(&p->kent);
    vec_free(&p->stk);
    arena_free(&p->ar);
}

static void skip_ws(struct jp *p)
{
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        p->pos++;
    }
}

/* The next byte after white space, or -1 at the end. */
static int peek(struct jp *p)
{
    skip_ws(p);
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

static int expect(struct jp *p, char c, const char *what)
{
    if (peek(p) != (unsigned char)c)
        return jp_fail(p, PP_EPARSE, p->pos, "%s expected", what);
    p->pos++;
    return 0;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d == 16)
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static void put_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, u, n);
}

/* A \u escape at s[pos] (the backslash): its code point (a surrogate pair read whole). */
static int read_u_escape(struct jp *p, unsigned *cp)
{
    size_t at = p->pos;
    unsigned hi, lo;
    if (p->n - p->pos < 6 || hex4(p->s + p->pos + 2, &hi) != 0)
        return jp_fail(p, PP_EPARSE, at, "%s", "invalid \\u escape");
    p->pos += 6;
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return jp_fail(p, PP_EPARSE, at, "%s", "lone low surrogate in a \\u escape");
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        if (p->n - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
            hex4(p->s + p->pos + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return jp_fail(p, PP_EPARSE, at, "%s", "high surrogate without its low surrogate");
        p->pos += 6;
        hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (hi == 0)
        return jp_fail(p, PP_EPARSE, at, "%s", "string contains a NUL character (\\u0000)");
    *cp = hi;
    return 0;
}

/* One escape at s[pos] (the backslash), appended decoded to b. */
static int read_escape(struct jp *p, struct buf *b)
{
    if (p->pos + 1 >= p->n)
        return jp_fail(p, PP_EPARSE, p->pos, "%s", "string ends inside an escape");
    char c = p->s[p->pos + 1];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *f = c ? strchr(from, c) : NULL;
    if (f) {
        buf_putc(b, to[f - from]);
        p->pos += 2;
        return 0;
    }
    if (c != 'u')
        return jp_fail(p, PP_EPARSE, p->pos, "%s", "invalid escape");
    unsigned cp = 0;
    int rc = read_u_escape(p, &cp);
    if (rc == 0)
        put_utf8(b, cp);
    return rc;
}

/* A string at s[pos] (the quote), decoded into p->str; kind names it in errors. */
static int read_string(struct jp *p, const char *kind)
{
    size_t at = p->pos;
    struct buf *b = &p->str;
    buf_reset(b);
    buf_reserve(b, 0);
    p->pos++;
    for (;;) {
        size_t run = p->pos;
        while (p->pos < p->n) {
            unsigned char c = (unsigned char)p->s[p->pos];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            p->pos++;
        }
        buf_append(b, p->s + run, p->pos - run);
        if (b->len > p->lim->max_string_bytes)
            return jp_fail(p, PP_ELIMIT, at, "%s longer than the limit of %zu bytes", kind,
                           p->lim->max_string_bytes);
        if (p->pos >= p->n)
            return jp_fail(p, PP_EPARSE, at, "%s", "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return 0;
        }
        if (c < 0x20)
            return jp_fail(p, PP_EPARSE, p->pos, "%s", "control character in a string");
        if (c >= 0x80) {
            size_t l = xapi_utf8_seq_len((const unsigned char *)p->s + p->pos, p->n - p->pos);
            if (l == 0)
                return jp_fail(p, PP_EPARSE, p->pos, "%s", "invalid UTF-8");
            buf_append(b, p->s + p->pos, l);
            p->pos += l;
            continue;
        }
        int rc = read_escape(p, b);
        if (rc != 0)
            return rc;
    }
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* A number at s[pos]: an integer (int64) or a real, as jansson reads them. */
static int read_number(struct jp *p, struct xapi_value *v)
{
    size_t at = p->pos, i = p->pos;
    const char *s = p->s;
    if (i < p->n && s[i] == '-')
        i++;
    if (i < p->n && s[i] == '0')
        i++;
    else if (i < p->n && s[i] >= '1' && s[i] <= '9')
        while (i < p->n && is_digit(s[i]))
            i++;
    else
        return jp_fail(p, PP_EPARSE, at, "%s", "invalid number");
    bool real = false;
    if (i < p->n && s[i] == '.') {
        real = true;
        if (++i >= p->n || !is_digit(s[i]))
            return jp_fail(p, PP_EPARSE, at, "%s", "invalid number (no digit after '.')");
        while (i < p->n && is_digit(s[i]))
            i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
        real = true;
        if (++i < p->n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->n || !is_digit(s[i]))
            return jp_fail(p, PP_EPARSE, at, "%s", "invalid number (no digit in the exponent)");
        while (i < p->n && is_digit(s[i]))
            i++;
    }
    if (i < p->n && is_digit(s[i])) /* "01" */
        return jp_fail(p, PP_EPARSE, at, "%s", "invalid number (leading zero)");
    buf_reset(&p->num);
    buf_append(&p->num, s + at, i - at);
    p->pos = i;
    errno = 0;
    char *end = NULL;
    memset(v, 0, sizeof(*v));
    if (!real) {
        long long x = strtoll(p->num.data, &end, 10);
        if (errno == ERANGE)
            return jp_fail(p, PP_EPARSE, at, "%s", "integer out of the int64 range");
        v->type = XAPI_INT;
        v->u.i = x;
        return 0;
    }
    double d = strtod(p->num.data, &end);
    if (errno == ERANGE && (d > 1.0 || d < -1.0))
        return jp_fail(p, PP_EPARSE, at, "%s", "real number overflow");
    v->type = XAPI_DOUBLE;
    v->u.d = d;
    return 0;
}

/* A literal (true, false, null) at s[pos]. */
static int read_literal(struct jp *p, struct xapi_value *v)
{
    static const struct {
        const char *word;
        enum xapi_type t;
        bool b;
    } lits[] = {{"true", XAPI_BOOL, true}, {"false", XAPI_BOOL, false}, {"null", XAPI_VOID, 0}};
    memset(v, 0, sizeof(*v));
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(lits[i].word);
        if (p->n - p->pos >= l && memcmp(p->s + p->pos, lits[i].word, l) == 0) {
            p->pos += l;
            v->type = lits[i].t;
            v->u.b = lits[i].b;
            return 0;
        }
    }
    return jp_fail(p, PP_EPARSE, p->pos, "%s", "invalid token");
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int kent_cmp(const void *a, const void *b)
{
    const struct kent *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int c = memcmp(x->ptr, y->ptr, x->len);
    return c ? c : (x->at < y->at ? -1 : 1);
}

static bool kent_same(const struct jp *p, const struct kent *x, const struct kent *y)
{
    return x->hash == y->hash && x->len == y->len &&
           memcmp(p->keys.data + x->off, p->keys.data + y->off, x->len) == 0;
}

/* The object whose names are kent[from..] closes: refuse a name given twice. */
static int check_dups(struct jp *p, size_t from)
{
    struct kent *k = p->kent.items + from;
    size_t n = p->kent.n - from;
    const struct kent *dup = NULL;
    if (n <= 8) {
        for (size_t i = 1; i < n && !dup; i++)
            for (size_t j = 0; j < i && !dup; j++)
                if (kent_same(p, &k[i], &k[j]))
                    dup = &k[i];
    } else {
        for (size_t i = 0; i < n; i++)
            k[i].ptr = p->keys.data + k[i].off;
        qsort(k, n, sizeof(*k), kent_cmp);
        for (size_t i = 1; i < n && !dup; i++)
            if (kent_same(p, &k[i], &k[i - 1]))
                dup = &k[i];
    }
    if (!dup)
        return 0;
    char name[48];
    snprintf(name, sizeof(name), "%.*s", (int)(dup->len > 40 ? 40 : dup->len),
             p->keys.data + dup->off);
    return jp_fail(p, PP_EPARSE, dup->at, "duplicate member name \"%s\"", name);
}

/* ---- values: checked and skipped, or built in the arena ---- */

/* How a container's members are kept: keep(kctx, name) for the members of the next object (the
 * record's root), NULL = all. */
struct want {
    bool build;
    xapi_crec_keep_fn keep;
    const void *kctx;
};

static int parse_value(struct jp *p, int depth, const struct want *w, struct xapi_value **out);

static int count_item(struct jp *p)
{
    if (++p->items > p->lim->max_items)
        return jp_fail(p, PP_ELIMIT, p->pos, "more than %zu values", p->lim->max_items);
    return 0;
}

static struct xapi_value *new_node(struct jp *p, const struct xapi_value *v)
{
    struct xapi_value *n = arena_alloc(&p->ar, sizeof(*n));
    *n = *v;
    return n;
}

static int enter(struct jp *p, int depth)
{
    if (depth + 1 > p->lim->max_depth)
        return jp_fail(p, PP_ELIMIT, p->pos, "nesting deeper than %d levels", p->lim->max_depth);
    p->pos++;
    return 0;
}

static int too_many(struct jp *p, size_t n)
{
    if (n < XAPI_EVJSON_MAX_MEMBERS)
        return 0;
    return jp_fail(p, PP_ELIMIT, p->pos, "more than %u members or items in one object or array",
                   XAPI_EVJSON_MAX_MEMBERS);
}

static int parse_array(struct jp *p, int depth, bool build, struct xapi_value *v)
{
    int rc = enter(p, depth);
    size_t base = p->stk.n, n = 0;
    const struct want child = {.build = build};
    if (rc == 0 && peek(p) == ']') {
        p->pos++;
    } else {
        while (rc == 0) {
            struct xapi_value *x = NULL;
            rc = too_many(p, n++);
            if (rc == 0)
                rc = parse_value(p, depth + 1, &child, build ? &x : NULL);
            if (rc == 0 && build)
                vec_push(&p->stk, x);
            int c = rc == 0 ? peek(p) : 0;
            if (rc == 0 && c == ']') {
                p->pos++;
                break;
            }
            if (rc == 0)
                rc = expect(p, ',', "',' or ']'");
        }
    }
    if (rc == 0 && build) {
        v->type = XAPI_ARRAY;
        v->u.arr.n = v->u.arr.cap = (uint32_t)n;
        v->u.arr.items = arena_alloc(&p->ar, n * sizeof(void *) + 1);
        if (n) /* stk.items is NULL until a first item was pushed */
            memcpy(v->u.arr.items, p->stk.items + base, n * sizeof(void *));
    }
    p->stk.n = base;
    return rc;
}

/* A member name at s[pos]: read, checked, remembered for the duplicate check. */
static int read_key(struct jp *p)
{
    if (peek(p) != '"')
        return jp_fail(p, PP_EPARSE, p->pos, "%s", "member name expected");
    size_t at = p->pos;
    int rc = read_string(p, "member name");
    if (rc != 0)
        return rc;
    struct kent k = {hash_bytes(p->str.data, p->str.len), p->keys.len, p->str.len, at, NULL};
    buf_append(&p->keys, p->str.data, p->str.len);
    vec_push(&p->kent, k);
    return expect(p, ':', "':'");
}

static int parse_object(struct jp *p, int depth, const struct want *w, struct xapi_value *v)
{
    int rc = enter(p, depth);
    size_t base = p->stk.n, kbase = p->kent.n, kbytes = p->keys.len, n = 0, kept = 0;
    if (rc == 0 && peek(p) == '}') {
        p->pos++;
    } else {
        while (rc == 0) {
            rc = too_many(p, n++);
            if (rc == 0)
                rc = read_key(p);
            if (rc != 0)
                break;
            const struct want child = {.build =
                                           w->build && (!w->keep || w->keep(w->kctx, p->str.data))};
            char *key = NULL;
            if (child.build) {
                key = arena_alloc(&p->ar, p->str.len + 1);
                memcpy(key, p->str.data, p->str.len + 1);
            }
            struct xapi_value *x = NULL;
            rc = parse_value(p, depth + 1, &child, child.build ? &x : NULL);
            if (rc == 0 && child.build) {
                vec_push(&p->stk, key);
                vec_push(&p->stk, x);
                kept++;
            }
            int c = rc == 0 ? peek(p) : 0;
            if (rc == 0 && c == '}') {
                p->pos++;
                break;
            }
            if (rc == 0)
                rc = expect(p, ',', "',' or '}'");
        }
    }
    if (rc == 0)
        rc = check_dups(p, kbase);
    p->kent.n = kbase;
    p->keys.len = kbytes;
    if (rc == 0 && w->build) {
        v->type = XAPI_STRUCT;
        v->u.st.n = v->u.st.cap = (uint32_t)kept;
        v->u.st.keys = arena_alloc(&p->ar, 2 * kept * sizeof(void *) + 1);
        v->u.st.vals = (struct xapi_value **)(v->u.st.keys + kept);
        for (size_t i = 0; i < kept; i++) {
            v->u.st.keys[i] = p->stk.items[base + 2 * i];
            v->u.st.vals[i] = p->stk.items[base + 2 * i + 1];
        }
    }
    p->stk.n = base;
    return rc;
}

/* One value at s[pos]: checked, and built in the arena into *out when w->build. */
static int parse_value(struct jp *p, int depth, const struct want *w, struct xapi_value **out)
{
    int rc = count_item(p);
    if (rc != 0)
        return rc;
    struct xapi_value v = {0};
    int c = peek(p);
    if (c == '{') {
        rc = parse_object(p, depth, w, &v);
    } else if (c == '[') {
        rc = parse_array(p, depth, w->build, &v);
    } else if (c == '"') {
        rc = read_string(p, "string");
        if (rc == 0 && w->build) {
            v.type = XAPI_STRING;
            v.u.s = arena_alloc(&p->ar, p->str.len + 1);
            memcpy(v.u.s, p->str.data, p->str.len + 1);
        }
    } else if (c == '-' || is_digit(c)) {
        rc = read_number(p, &v);
    } else if (c == -1) {
        rc = jp_fail(p, PP_EPARSE, p->pos, "%s", "the text ends where a value was expected");
    } else {
        rc = read_literal(p, &v);
    }
    if (rc == 0 && w->build)
        *out = new_node(p, &v);
    return rc;
}

/* The end of the text: only white space may follow. */
static int expect_end(struct jp *p)
{
    if (peek(p) != -1)
        return jp_fail(p, PP_EPARSE, p->pos, "%s", "text after the end of the JSON value");
    return 0;
}

/* ---- the envelope ---- */

struct envelope {
    bool has_result, error_set;
    size_t res_off, res_end;
};

/* A member of the response object (its name in p->str). */
static int envelope_member(struct jp *p, struct envelope *env)
{
    static const struct want skip = {.build = false};
    char name[16];
    snprintf(name, sizeof(name), "%s", p->str.len < sizeof(name) ? p->str.data : "");
    int c = peek(p);
    size_t at = p->pos;
    p->items = 0;
    if (strcmp(name, "jsonrpc") == 0) {
        if (c != '"' || read_string(p, "string") != 0 || strcmp(p->str.data, "2.0") != 0)
            return jp_fail(p, PP_EPARSE, at, "%s",
                           "unsupported \"jsonrpc\" version (only \"2.0\" or none)");
        return 0;
    }
    if (strcmp(name, "id") == 0 && c != '"' && c != '-' && !is_digit(c) && c != 'n')
        return jp_fail(p, PP_EPARSE, at, "%s", "id must be an integer, a string or null");
    if (strcmp(name, "error") == 0)
        env->error_set = c != 'n';
    int rc = parse_value(p, 0, &skip, NULL);
    if (rc == 0 && strcmp(name, "result") == 0) {
        env->has_result = true;
        env->res_off = at;
        env->res_end = p->pos;
    }
    return rc;
}

/* See cache_int.h. */
int xapi__evjson_scan(const char *data, size_t len, const struct xapi_limits *lim, size_t *off,
                      size_t *rlen, struct err *e)
{
    struct xapi_limits tmp;
    lim = xapi_limits_or_default(lim, &tmp);
    if (len > lim->max_doc_bytes)
        return err_set(e, PP_ELIMIT, WHAT ": %zu bytes is over the limit of %zu bytes", len,
                       lim->max_doc_bytes);
    struct jp p;
    jp_init(&p, data, len, 0, lim, e);
    struct envelope env = {0};
    int rc = expect(&p, '{', "'{' (a JSON-RPC response object)");
    if (rc == 0 && peek(&p) == '}')
        p.pos++;
    else
        while (rc == 0) {
            rc = read_key(&p);
            if (rc == 0)
                rc = envelope_member(&p, &env);
            int c = rc == 0 ? peek(&p) : 0;
            if (rc == 0 && c == '}') {
                p.pos++;
                break;
            }
            if (rc == 0)
                rc = expect(&p, ',', "',' or '}'");
        }
    if (rc == 0)
        rc = check_dups(&p, 0);
    if (rc == 0)
        rc = expect_end(&p);
    jp_cleanup(&p);
    if (rc != 0)
        return rc;
    if (env.error_set || !env.has_result)
        return 1;
    *off = env.res_off;
    *rlen = env.res_end - env.res_off;
    return 0;
}

/* ---- events straight into a batch ---- */

/* A check of the batch (cache.c) refused what starts at byte at: name the place in its message
 * ("event.from: X" -> "event.from answer: at byte N: X"). */
static int staged_fail(struct jp *p, size_t at, int rc)
{
    if (!p->e)
        return rc;
    char msg[sizeof(p->e->msg)];
    const char *m = p->e->msg;
    if (strncmp(m, "event.from: ", 12) == 0)
        m += 12;
    snprintf(msg, sizeof(msg), "%s", m);
    return jp_fail(p, rc, at, "%s", msg);
}

/* The event being read: its strings (copies: the arena holds only the snapshot). */
struct evs {
    struct buf cls, op, ref;
    bool has_cls, has_op, has_ref;
    const struct xapi_value *snap; /* in the arena; &not_struct when not an object */
    bool has_snap;
};

static const struct xapi_value not_struct = {.type = XAPI_VOID};

/* A string member of an event: copied into b (*has) when it is a string, skipped otherwise. */
static int event_str(struct jp *p, struct buf *b, bool *has)
{
    static const struct want skip = {.build = false};
    if (peek(p) != '"')
        return parse_value(p, 3, &skip, NULL);
    int rc = count_item(p);
    if (rc == 0)
        rc = read_string(p, "string");
    if (rc == 0) {
        buf_reset(b);
        buf_append(b, p->str.data, p->str.len);
        buf_reserve(b, 0);
        *has = true;
    }
    return rc;
}

static int event_member(struct jp *p, struct xapi_cache *k, struct evs *ev)
{
    static const struct want skip = {.build = false};
    if (strcmp(p->str.data, "class") == 0)
        return event_str(p, &ev->cls, &ev->has_cls);
    if (strcmp(p->str.data, "operation") == 0)
        return event_str(p, &ev->op, &ev->has_op);
    if (strcmp(p->str.data, "ref") == 0)
        return event_str(p, &ev->ref, &ev->has_ref);
    if (strcmp(p->str.data, "snapshot") != 0)
        return parse_value(p, 3, &skip, NULL);
    ev->has_snap = true;
    if (peek(p) != '{') {
        ev->snap = &not_struct;
        return parse_value(p, 3, &skip, NULL);
    }
    /* A del's snapshot is not kept; an add's or mod's only its class's fields (when the class
     * came first, as xapi writes events: the whole record otherwise, filtered afterwards). */
    struct want w = {.build = true};
    if (ev->has_op && strcmp(ev->op.data, "del") == 0)
        w.build = false;
    else if (ev->has_cls)
        w.keep = xapi__cache_keep_fn(k, ev->cls.data, &w.kctx);
    struct xapi_value *snap = NULL;
    int rc = parse_value(p, 3, &w, w.build ? &snap : NULL);
    ev->snap = snap;
    return rc;
}

/* One event (element i of "events") at s[pos], staged in b. */
static int parse_event(struct jp *p, struct xapi_batch *b, size_t i, struct evs *ev)
{
    static const struct want skip = {.build = false};
    ev->has_cls = ev->has_op = ev->has_ref = ev->has_snap = false;
    ev->snap = NULL;
    arena_reset(&p->ar);
    int c0 = peek(p);
    size_t at = p->pos;
    if (c0 != '{') { /* not an object: it lacks everything */
        int rc = parse_value(p, 2, &skip, NULL);
        if (rc == 0 && (rc = xapi__batch_add(b, i, NULL, NULL, NULL, NULL, p->e)) != 0)
            rc = staged_fail(p, at, rc);
        return rc;
    }
    int rc = count_item(p);
    if (rc == 0)
        rc = enter(p, 2);
    size_t kbase = p->kent.n, kbytes = p->keys.len, n = 0;
    if (rc == 0 && peek(p) == '}')
        p->pos++;
    else
        while (rc == 0) {
            rc = too_many(p, n++);
            if (rc == 0)
                rc = read_key(p);
            if (rc == 0)
                rc = event_member(p, xapi__batch_cache(b), ev);
            int c = rc == 0 ? peek(p) : 0;
            if (rc == 0 && c == '}') {
                p->pos++;
                break;
            }
            if (rc == 0)
                rc = expect(p, ',', "',' or '}'");
        }
    if (rc == 0)
        rc = check_dups(p, kbase);
    p->kent.n = kbase;
    p->keys.len = kbytes;
    if (rc != 0)
        return rc;
    /* a string holding a NUL was refused by the parser: the copies are C strings */
    rc = xapi__batch_add(b, i, ev->has_cls ? ev->cls.data : NULL, ev->has_op ? ev->op.data : NULL,
                         ev->has_ref ? ev->ref.data : NULL, ev->has_snap ? ev->snap : NULL, p->e);
    return rc ? staged_fail(p, at, rc) : 0;
}

static int parse_events(struct jp *p, struct xapi_batch *b, bool *ok)
{
    static const struct want skip = {.build = false};
    if (peek(p) != '[')
        return parse_value(p, 1, &skip, NULL);
    *ok = true;
    int rc = count_item(p);
    if (rc == 0)
        rc = enter(p, 1);
    if (rc != 0 || peek(p) == ']') {
        p->pos += rc == 0;
        return rc;
    }
    struct evs ev;
    memset(&ev, 0, sizeof(ev));
    buf_init(&ev.cls);
    buf_init(&ev.op);
    buf_init(&ev.ref);
    for (size_t i = 0; rc == 0; i++) {
        if (i >= XAPI_EVJSON_MAX_EVENTS) {
            rc = jp_fail(p, PP_ELIMIT, p->pos, "more than %u events", XAPI_EVJSON_MAX_EVENTS);
            break;
        }
        rc = parse_event(p, b, i, &ev);
        int c = rc == 0 ? peek(p) : 0;
        if (rc == 0 && c == ']') {
            p->pos++;
            break;
        }
        if (rc == 0)
            rc = expect(p, ',', "',' or ']'");
    }
    buf_cleanup(&ev.cls);
    buf_cleanup(&ev.op);
    buf_cleanup(&ev.ref);
    return rc;
}

/* The result object's members: events staged in b, the token copied into token. */
static int parse_result(struct jp *p, struct xapi_batch *b, struct buf *token, bool *events_ok,
                        bool *token_ok)
{
    static const struct want skip = {.build = false};
    int rc = count_item(p);
    if (rc == 0)
        rc = enter(p, 0);
    if (rc == 0 && peek(p) == '}') {
        p->pos++;
        return 0;
    }
    while (rc == 0) {
        rc = read_key(p);
        if (rc != 0)
            break;
        if (strcmp(p->str.data, "events") == 0) {
            rc = parse_events(p, b, events_ok);
        } else if (strcmp(p->str.data, "token") == 0 && peek(p) == '"') {
            rc = count_item(p);
            if (rc == 0)
                rc = read_string(p, "string");
            if (rc == 0) {
                buf_reset(token);
                buf_append(token, p->str.data, p->str.len);
                buf_reserve(token, 0);
                *token_ok = true;
            }
        } else {
            rc = parse_value(p, 1, &skip, NULL);
        }
        int c = rc == 0 ? peek(p) : 0;
        if (rc == 0 && c == '}') {
            p->pos++;
            break;
        }
        if (rc == 0)
            rc = expect(p, ',', "',' or '}'");
    }
    if (rc == 0)
        rc = check_dups(p, 0);
    return rc;
}

/* See cache_int.h. */
int xapi__batch_from_json(struct xapi_cache *k, const char *data, size_t len, size_t base,
                          const struct xapi_limits *lim, bool reset, struct xapi_batch **out,
                          struct err *e)
{
    struct xapi_limits tmp;
    lim = xapi_limits_or_default(lim, &tmp);
    *out = NULL;
    struct jp p;
    jp_init(&p, data, len, base, lim, e);
    struct xapi_batch *b = xapi__batch_new(k, reset);
    struct buf token;
    buf_init(&token);
    bool events_ok = false, token_ok = false;
    int rc;
    if (peek(&p) != '{') {
        static const struct want skip = {.build = false};
        rc = parse_value(&p, 0, &skip, NULL);
        if (rc == 0)
            rc = jp_fail(&p, PP_EPARSE, 0, "%s", "result is not a struct");
    } else {
        rc = parse_result(&p, b, &token, &events_ok, &token_ok);
    }
    if (rc == 0)
        rc = expect_end(&p);
    if (rc == 0 && (!events_ok || !token_ok))
        rc = jp_fail(&p, PP_EPARSE, 0, "%s", "result lacks events or token");
    if (rc == 0)
        rc = xapi__batch_finish(b, buf_str(&token), e);
    buf_cleanup(&token);
    jp_cleanup(&p);
    if (rc != 0) {
        xapi__batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}
