/* SPDX-License-Identifier: MIT */
/*
 * value.c - the XAPI value model (see value.h): constructors, deep copy / equality, arrays and
 * structs, the lenient accessors that follow xapi's wire quirks, the JSON mapping and a dump.
 */
#include "value.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/vec.h"
#include "base/str.h"
#include "codec_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static struct xapi_value *value_alloc(enum xapi_type t)
{
    struct xapi_value *v = xcalloc(1, sizeof(*v));
    v->type = t;
    return v;
}

struct xapi_value *xapi_value_new_void(void)
{
    return value_alloc(XAPI_VOID);
}

struct xapi_value *xapi_value_new_string(const char *s)
{
    struct xapi_value *v = value_alloc(XAPI_STRING);
    v->u.s = xstrdup(s ? s : "");
    return v;
}

struct xapi_value *xapi_value_new_stringn(const char *s, size_t n)
{
    struct xapi_value *v = value_alloc(XAPI_STRING);
    v->u.s = s ? xstrndup(s, n) : xstrdup("");
    return v;
}

struct xapi_value *xapi_value_new_int(int64_t i)
{
    struct xapi_value *v = value_alloc(XAPI_INT);
    v->u.i = i;
    return v;
}

struct xapi_value *xapi_value_new_double(double d)
{
    struct xapi_value *v = value_alloc(XAPI_DOUBLE);
    v->u.d = d;
    return v;
}

struct xapi_value *xapi_value_new_bool(bool b)
{
    struct xapi_value *v = value_alloc(XAPI_BOOL);
    v->u.b = b;
    return v;
}

struct xapi_value *xapi_value_new_datetime(const char *s)
{
    struct xapi_value *v = value_alloc(XAPI_DATETIME);
    v->u.s = xstrdup(s ? s : "");
    return v;
}

struct xapi_value *xapi_value_new_datetime_ms(int64_t t_ms)
{
    char tmp[20];
    clock_format_xapi(t_ms, tmp);
    return xapi_value_new_datetime(tmp);
}

struct xapi_value *xapi_value_new_array(void)
{
    return value_alloc(XAPI_ARRAY);
}

struct xapi_value *xapi_value_new_struct(void)
{
    return value_alloc(XAPI_STRUCT);
}

struct xapi_value *xapi_value_dup(const struct xapi_value *v)
{
    struct xapi_value *c;

    if (!v)
        return xapi_value_new_void();
    switch (v->type) {
    case XAPI_STRING:
        return xapi_value_new_string(v->u.s);
    case XAPI_DATETIME:
        return xapi_value_new_datetime(v->u.s);
    case XAPI_ARRAY:
        c = xapi_value_new_array();
        for (size_t i = 0; i < v->u.arr.n; i++)
            xapi_array_append_take(c, xapi_value_dup(v->u.arr.items[i]));
        return c;
    case XAPI_STRUCT:
        c = xapi_value_new_struct();
        for (size_t i = 0; i < v->u.st.n; i++)
            xapi_struct_set_take(c, v->u.st.keys[i], xapi_value_dup(v->u.st.vals[i]));
        return c;
    case XAPI_VOID:
    case XAPI_INT:
    case XAPI_DOUBLE:
    case XAPI_BOOL:
        break;
    }
    c = value_alloc(v->type);
    c->u = v->u;
    c->i4 = v->i4;
    return c;
}

void xapi_value_free(struct xapi_value *v)
{
    if (!v)
        return;
    switch (v->type) {
    case XAPI_STRING:
    case XAPI_DATETIME:
        free(v->u.s);
        break;
    case XAPI_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            xapi_value_free(v->u.arr.items[i]);
        free(v->u.arr.items);
        break;
    case XAPI_STRUCT:
        for (size_t i = 0; i < v->u.st.n; i++) {
            free(v->u.st.keys[i]);
            xapi_value_free(v->u.st.vals[i]);
        }
        free(v->u.st.keys);
        free(v->u.st.vals);
        break;
    case XAPI_VOID:
    case XAPI_INT:
    case XAPI_DOUBLE:
    case XAPI_BOOL:
        break;
    }
    free(v);
}

bool xapi_value_equal(const struct xapi_value *a, const struct xapi_value *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case XAPI_VOID:
        return true;
    case XAPI_STRING:
    case XAPI_DATETIME:
        return strcmp(a->u.s, b->u.s) == 0;
    case XAPI_INT:
        return a->u.i == b->u.i;
    case XAPI_DOUBLE:
        return a->u.d == b->u.d;
    case XAPI_BOOL:
        return a->u.b == b->u.b;
    case XAPI_ARRAY:
        if (a->u.arr.n != b->u.arr.n)
            return false;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!xapi_value_equal(a->u.arr.items[i], b->u.arr.items[i]))
                return false;
        return true;
    case XAPI_STRUCT:
        if (a->u.st.n != b->u.st.n)
            return false;
        for (size_t i = 0; i < a->u.st.n; i++) {
            const struct xapi_value *bv = xapi_struct_get(b, a->u.st.keys[i]);
            if (!bv || !xapi_value_equal(a->u.st.vals[i], bv))
                return false;
        }
        return true;
    }
    return false;
}

/* n + 1, the room an append needs; a count cannot pass 2^32 - 1 (value.h). */
static size_t count_next(uint32_t n)
{
    if (n == UINT32_MAX) /* 4 billion values: no decoder's limits allow it */
        abort();
    return (size_t)n + 1;
}

void xapi_array_append_take(struct xapi_value *arr, struct xapi_value *item)
{
    if (!arr || arr->type != XAPI_ARRAY) {
        xapi_value_free(item);
        return;
    }
    if (arr->u.arr.n == arr->u.arr.cap) {
        size_t cap = arr->u.arr.cap;
        vec_reserve_raw((void **)&arr->u.arr.items, &cap, count_next(arr->u.arr.n),
                        sizeof(*arr->u.arr.items));
        arr->u.arr.cap = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
    }
    arr->u.arr.items[arr->u.arr.n++] = item ? item : xapi_value_new_void();
}

size_t xapi_array_len(const struct xapi_value *arr)
{
    return (arr && arr->type == XAPI_ARRAY) ? arr->u.arr.n : 0;
}

const struct xapi_value *xapi_array_get(const struct xapi_value *arr, size_t i)
{
    if (!arr || arr->type != XAPI_ARRAY || i >= arr->u.arr.n)
        return NULL;
    return arr->u.arr.items[i];
}

void xapi_array_append_string(struct xapi_value *arr, const char *s)
{
    xapi_array_append_take(arr, xapi_value_new_string(s));
}

static ssize_t struct_find(const struct xapi_value *st, const char *key)
{
    if (!st || st->type != XAPI_STRUCT || !key)
        return -1;
    for (size_t i = 0; i < st->u.st.n; i++)
        if (strcmp(st->u.st.keys[i], key) == 0)
            return (ssize_t)i;
    return -1;
}

void xapi_struct_set_take(struct xapi_value *st, const char *key, struct xapi_value *val)
{
    ssize_t at;

    if (!st || st->type != XAPI_STRUCT || !key) {
        xapi_value_free(val);
        return;
    }
    if (!val)
        val = xapi_value_new_void();
    at = struct_find(st, key);
    if (at >= 0) {
        xapi_value_free(st->u.st.vals[at]);
        st->u.st.vals[at] = val;
        return;
    }
    xapi_struct_append_take(st, xstrdup(key), val);
}

void xapi_struct_append_take(struct xapi_value *st, char *key, struct xapi_value *val)
{
    if (!st || st->type != XAPI_STRUCT || !key) {
        free(key);
        xapi_value_free(val);
        return;
    }
    if (st->u.st.n == st->u.st.cap) { /* keys and vals share one capacity */
        size_t want = count_next(st->u.st.n), kcap = st->u.st.cap, vcap = st->u.st.cap;
        vec_reserve_raw((void **)&st->u.st.keys, &kcap, want, sizeof(*st->u.st.keys));
        vec_reserve_raw((void **)&st->u.st.vals, &vcap, want, sizeof(*st->u.st.vals));
        kcap = kcap < vcap ? kcap : vcap;
        st->u.st.cap = kcap > UINT32_MAX ? UINT32_MAX : (uint32_t)kcap;
    }
    st->u.st.keys[st->u.st.n] = key;
    st->u.st.vals[st->u.st.n] = val ? val : xapi_value_new_void();
    st->u.st.n++;
}

const struct xapi_value *xapi_struct_get(const struct xapi_value *st, const char *key)
{
    ssize_t at = struct_find(st, key);
    return at >= 0 ? st->u.st.vals[at] : NULL;
}

struct xapi_value *xapi_struct_get_mut(struct xapi_value *st, const char *key)
{
    ssize_t at = struct_find(st, key);
    return at >= 0 ? st->u.st.vals[at] : NULL;
}

bool xapi_struct_remove(struct xapi_value *st, const char *key)
{
    ssize_t at = struct_find(st, key);
    size_t rest;

    if (at < 0)
        return false;
    free(st->u.st.keys[at]);
    xapi_value_free(st->u.st.vals[at]);
    rest = st->u.st.n - (size_t)at - 1;
    memmove(&st->u.st.keys[at], &st->u.st.keys[at + 1], rest * sizeof(*st->u.st.keys));
    memmove(&st->u.st.vals[at], &st->u.st.vals[at + 1], rest * sizeof(*st->u.st.vals));
    st->u.st.n--;
    return true;
}

size_t xapi_struct_len(const struct xapi_value *st)
{
    return (st && st->type == XAPI_STRUCT) ? st->u.st.n : 0;
}

void xapi_struct_set_string(struct xapi_value *st, const char *key, const char *s)
{
    xapi_struct_set_take(st, key, xapi_value_new_string(s));
}

void xapi_struct_set_int(struct xapi_value *st, const char *key, int64_t i)
{
    xapi_struct_set_take(st, key, xapi_value_new_int(i));
}

void xapi_struct_set_bool(struct xapi_value *st, const char *key, bool b)
{
    xapi_struct_set_take(st, key, xapi_value_new_bool(b));
}

/* ---- lenient accessors ---- */

int xapi_value_as_int(const struct xapi_value *v, int64_t *out)
{
    int64_t x;

    if (!v)
        return PP_EINVAL;
    if (v->type == XAPI_INT) {
        *out = v->u.i;
        return 0;
    }
    /* xapi sends int64 as a bare <value>N</value> string over XML-RPC (ocaml-rpc xmlrpc.ml). */
    if (v->type == XAPI_STRING && str_to_int64(v->u.s, &x) == 0) {
        *out = x;
        return 0;
    }
    return PP_EINVAL;
}

int xapi_value_as_double(const struct xapi_value *v, double *out)
{
    double d;

    if (!v)
        return PP_EINVAL;
    switch (v->type) {
    case XAPI_DOUBLE:
        *out = v->u.d;
        return 0;
    case XAPI_INT:
        *out = (double)v->u.i;
        return 0;
    case XAPI_STRING:
        if (str_to_double(v->u.s, &d) == 0) {
            *out = d;
            return 0;
        }
        return PP_EINVAL;
    default:
        return PP_EINVAL;
    }
}

int xapi_value_as_bool(const struct xapi_value *v, bool *out)
{
    if (!v)
        return PP_EINVAL;
    if (v->type == XAPI_BOOL) {
        *out = v->u.b;
        return 0;
    }
    if (v->type == XAPI_STRING) {
        if (strcmp(v->u.s, "true") == 0 || strcmp(v->u.s, "1") == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v->u.s, "false") == 0 || strcmp(v->u.s, "0") == 0) {
            *out = false;
            return 0;
        }
    }
    return PP_EINVAL;
}

int xapi_value_as_datetime(const struct xapi_value *v, int64_t *t_ms)
{
    int64_t t;

    if (!v || (v->type != XAPI_DATETIME && v->type != XAPI_STRING))
        return PP_EINVAL;
    if (clock_parse_xapi(v->u.s, &t) != 0)
        return PP_EINVAL;
    *t_ms = t;
    return 0;
}

const char *xapi_value_str(const struct xapi_value *v)
{
    if (!v)
        return NULL;
    if (v->type == XAPI_STRING || v->type == XAPI_DATETIME)
        return v->u.s;
    if (v->type == XAPI_VOID)
        return ""; /* a void is the empty string on both wires */
    return NULL;
}

bool xapi_value_is_void(const struct xapi_value *v)
{
    return v && (v->type == XAPI_VOID || (v->type == XAPI_STRING && v->u.s[0] == '\0'));
}

const char *xapi_struct_str(const struct xapi_value *st, const char *key, const char *def)
{
    const char *s = xapi_value_str(xapi_struct_get(st, key));
    return s ? s : def;
}

int64_t xapi_struct_int(const struct xapi_value *st, const char *key, int64_t def)
{
    int64_t x;
    return xapi_value_as_int(xapi_struct_get(st, key), &x) == 0 ? x : def;
}

bool xapi_struct_bool(const struct xapi_value *st, const char *key, bool def)
{
    bool b;
    return xapi_value_as_bool(xapi_struct_get(st, key), &b) == 0 ? b : def;
}

const char *xapi_type_name(enum xapi_type t)
{
    switch (t) {
    case XAPI_VOID:
        return "void";
    case XAPI_STRING:
        return "string";
    case XAPI_INT:
        return "int";
    case XAPI_DOUBLE:
        return "double";
    case XAPI_BOOL:
        return "bool";
    case XAPI_DATETIME:
        return "datetime";
    case XAPI_ARRAY:
        return "array";
    case XAPI_STRUCT:
        return "struct";
    }
    return "unknown";
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one (RFC 3629). */
size_t xapi_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool xapi_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t l = xapi_utf8_seq_len(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* Append s with every invalid UTF-8 byte replaced by U+FFFD. */
static void utf8_sanitize(struct buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t l = xapi_utf8_seq_len(p + i, n - i);
        if (l == 0) {
            buf_puts(b, "\xEF\xBF\xBD");
            i++;
        } else {
            buf_append(b, p + i, l);
            i += l;
        }
    }
}

/* ---- JSON ---- */

static json_t *json_string_safe(const char *s)
{
    size_t n = strlen(s);
    json_t *j;
    struct buf b;

    if (xapi_utf8_valid(s, n))
        return json_stringn(s, n);
    buf_init(&b);
    utf8_sanitize(&b, s, n);
    j = json_stringn(buf_str(&b), b.len);
    buf_cleanup(&b);
    return j;
}

json_t *xapi_value_to_json(const struct xapi_value *v)
{
    json_t *j;

    if (!v)
        return json_string("");
    switch (v->type) {
    case XAPI_VOID:
        return json_string("");
    case XAPI_STRING:
    case XAPI_DATETIME:
        return json_string_safe(v->u.s);
    case XAPI_INT:
        return json_integer((json_int_t)v->u.i);
    case XAPI_DOUBLE:
        /* JSON has no inf / nan: write null, as the decoders never produce them. */
        return isfinite(v->u.d) ? json_real(v->u.d) : json_null();
    case XAPI_BOOL:
        return json_boolean(v->u.b);
    case XAPI_ARRAY:
        j = json_array();
        for (size_t i = 0; i < v->u.arr.n; i++)
            json_array_append_new(j, xapi_value_to_json(v->u.arr.items[i]));
        return j;
    case XAPI_STRUCT:
        j = json_object();
        for (size_t i = 0; i < v->u.st.n; i++) {
            const char *k = v->u.st.keys[i];
            if (xapi_utf8_valid(k, strlen(k))) {
                json_object_set_new(j, k, xapi_value_to_json(v->u.st.vals[i]));
            } else {
                struct buf kb;
                buf_init(&kb);
                utf8_sanitize(&kb, k, strlen(k));
                json_object_set_new(j, buf_str(&kb), xapi_value_to_json(v->u.st.vals[i]));
                buf_cleanup(&kb);
            }
        }
        return j;
    }
    return json_null();
}

struct xapi_value *xapi_value_from_json(const json_t *j)
{
    struct xapi_value *v;

    switch (json_typeof(j)) {
    case JSON_STRING:
        return xapi_value_new_stringn(json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return xapi_value_new_int((int64_t)json_integer_value(j));
    case JSON_REAL:
        return xapi_value_new_double(json_real_value(j));
    case JSON_TRUE:
        return xapi_value_new_bool(true);
    case JSON_FALSE:
        return xapi_value_new_bool(false);
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        v = xapi_value_new_array();
        json_array_foreach(j, i, x)
        {
            xapi_array_append_take(v, xapi_value_from_json(x));
        }
        return v;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        v = xapi_value_new_struct();
        /* jansson keys are unique, so append without the lookup. */
        json_object_foreach((json_t *)j, k, x)
        {
            xapi_struct_append_take(v, xstrdup(k), xapi_value_from_json(x));
        }
        return v;
    }
    case JSON_NULL:
        break;
    }
    return xapi_value_new_void();
}

/* ---- dump ---- */

#define DUMP_MAX_STRING 200

static void dump_string(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    size_t shown = n > DUMP_MAX_STRING ? DUMP_MAX_STRING : n;

    buf_putc(b, '"');
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c == '\n') {
            buf_puts(b, "\\n");
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(b, "\\x%02x", c);
        } else {
            buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
    if (shown < n)
        buf_printf(b, "...(%zu bytes)", n);
}

void xapi_value_dump(struct buf *b, const struct xapi_value *v)
{
    if (!v) {
        buf_puts(b, "(null)");
        return;
    }
    switch (v->type) {
    case XAPI_VOID:
        buf_puts(b, "void");
        break;
    case XAPI_STRING:
        dump_string(b, v->u.s);
        break;
    case XAPI_DATETIME:
        buf_puts(b, "datetime:");
        dump_string(b, v->u.s);
        break;
    case XAPI_INT:
        buf_printf(b, "%lld", (long long)v->u.i);
        break;
    case XAPI_DOUBLE:
        buf_printf(b, "%.17g", v->u.d);
        break;
    case XAPI_BOOL:
        buf_puts(b, v->u.b ? "true" : "false");
        break;
    case XAPI_ARRAY:
        buf_putc(b, '[');
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                buf_puts(b, ", ");
            xapi_value_dump(b, v->u.arr.items[i]);
        }
        buf_putc(b, ']');
        break;
    case XAPI_STRUCT:
        buf_putc(b, '{');
        for (size_t i = 0; i < v->u.st.n; i++) {
            if (i)
                buf_puts(b, ", ");
            dump_string(b, v->u.st.keys[i]);
            buf_puts(b, ": ");
            xapi_value_dump(b, v->u.st.vals[i]);
        }
        buf_putc(b, '}');
        break;
    }
}
