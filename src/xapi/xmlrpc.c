/* SPDX-License-Identifier: MIT */
/*
 * xmlrpc.c - XAPI's XML-RPC, both directions (docs/reference/xapi.md section 1).
 *
 * Encoding follows what xapi writes (ocaml-rpc's xmlrpc.ml as vendored by xen-api): an
 * <?xml version="1.0"?> declaration, no whitespace, strings / refs / enums and int64 as bare
 * <value>x</value>, <double>, <boolean>1</boolean>, <dateTime.iso8601>, void as
 * <value></value>, replies always the Status / Value / ErrorDescription struct.
 *
 * Decoding is a streaming expat parser with a stack of open elements.  It accepts what other
 * clients send too (<string>, <i4>, <int>, <i8>, <nil/>, whitespace between elements), checks
 * the XML-RPC grammar element by element, and enforces struct xapi_limits while reading, so a
 * hostile document is refused before it is built.  No DOCTYPE is accepted, hence no entity
 * declarations, no external entities, no billion laughs; expat's amplification guard is set as a
 * second line.  Every error names line, column and the reason.
 */
#include "codec.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/vec.h"
#include "base/str.h"
#include "codec_internal.h"

#ifdef PP_HAVE_EXPAT_BLA
/* The library is built with DTD support; expat.h only declares the guard's setters then. */
#ifndef XML_DTD
#define XML_DTD 1
#endif
#endif
#include <expat.h>

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- encoding ---- */

/*
 * Append s as XML character data the way xapi does (ocaml-rpc Xmlrpc.encode): escape < > & ",
 * drop control characters other than TAB and LF.  Unlike xapi, CR is written as &#13; so it
 * survives the parser's line-end normalisation, invalid UTF-8 bytes become U+FFFD and the
 * non-characters U+FFFE / U+FFFF are dropped, so the output is always well-formed.
 */
static void put_text(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, run = 0;

    while (i < n) {
        unsigned char c = p[i];
        const char *rep = NULL;
        size_t l = 1;

        if (c >= 0x80) {
            l = xapi_utf8_seq_len(p + i, n - i);
            if (l == 0) {
                rep = "\xEF\xBF\xBD";
                l = 1;
            } else if (l == 3 && c == 0xEF && p[i + 1] == 0xBF && p[i + 2] >= 0xBE) {
                rep = "";
            }
        } else if (c == '<') {
            rep = "&lt;";
        } else if (c == '>') {
            rep = "&gt;";
        } else if (c == '&') {
            rep = "&amp;";
        } else if (c == '"') {
            rep = "&quot;";
        } else if (c == '\r') {
            rep = "&#13;";
        } else if (c < 0x20 && c != '\t' && c != '\n') {
            rep = "";
        }
        if (rep) {
            buf_append(b, s + i - run, run);
            buf_puts(b, rep);
            run = 0;
        } else {
            run += l;
        }
        i += l;
    }
    buf_append(b, s + i - run, run);
}

static void put_double(struct buf *b, double d)
{
    char tmp[40];
    double back;

    /* xapi writes "%.16g"; fall back to 17 digits when 16 would not read back the same. */
    snprintf(tmp, sizeof(tmp), "%.16g", d);
    if (str_to_double(tmp, &back) != 0 || back != d)
        snprintf(tmp, sizeof(tmp), "%.17g", d);
    buf_puts(b, tmp);
}

void xapi_xmlrpc_encode_value(struct buf *out, const struct xapi_value *v)
{
    if (!v) {
        buf_puts(out, "<value></value>");
        return;
    }
    switch (v->type) {
    case XAPI_VOID:
        buf_puts(out, "<value></value>");
        return;
    case XAPI_STRING:
        buf_puts(out, "<value>");
        put_text(out, v->u.s);
        buf_puts(out, "</value>");
        return;
    case XAPI_INT:
        if (v->i4)
            buf_printf(out, "<value><i4>%" PRId64 "</i4></value>", v->u.i);
        else
            buf_printf(out, "<value>%" PRId64 "</value>", v->u.i);
        return;
    case XAPI_DOUBLE:
        buf_puts(out, "<value><double>");
        put_double(out, v->u.d);
        buf_puts(out, "</double></value>");
        return;
    case XAPI_BOOL:
        buf_puts(out, v->u.b ? "<value><boolean>1</boolean></value>"
                             : "<value><boolean>0</boolean></value>");
        return;
    case XAPI_DATETIME:
        buf_puts(out, "<value><dateTime.iso8601>");
        put_text(out, v->u.s);
        buf_puts(out, "</dateTime.iso8601></value>");
        return;
    case XAPI_ARRAY:
        buf_puts(out, "<value><array><data>");
        for (size_t i = 0; i < v->u.arr.n; i++)
            xapi_xmlrpc_encode_value(out, v->u.arr.items[i]);
        buf_puts(out, "</data></array></value>");
        return;
    case XAPI_STRUCT:
        buf_puts(out, "<value><struct>");
        for (size_t i = 0; i < v->u.st.n; i++) {
            buf_puts(out, "<member><name>");
            put_text(out, v->u.st.keys[i]);
            buf_puts(out, "</name>");
            xapi_xmlrpc_encode_value(out, v->u.st.vals[i]);
            buf_puts(out, "</member>");
        }
        buf_puts(out, "</struct></value>");
        return;
    }
}

void xapi_xmlrpc_encode_call(struct buf *out, const char *method, const struct xapi_value *params)
{
    buf_puts(out, "<?xml version=\"1.0\"?><methodCall><methodName>");
    put_text(out, method ? method : "");
    buf_puts(out, "</methodName><params>");
    if (params && params->type == XAPI_ARRAY) {
        for (size_t i = 0; i < params->u.arr.n; i++) {
            buf_puts(out, "<param>");
            xapi_xmlrpc_encode_value(out, params->u.arr.items[i]);
            buf_puts(out, "</param>");
        }
    } else if (params) {
        buf_puts(out, "<param>");
        xapi_xmlrpc_encode_value(out, params);
        buf_puts(out, "</param>");
    }
    buf_puts(out, "</params></methodCall>");
}

void xapi_xmlrpc_encode_response(struct buf *out, const struct xapi_response *r)
{
    buf_puts(out, "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>");
    if (r->ok) {
        buf_puts(out, "<member><name>Status</name><value>Success</value></member>"
                      "<member><name>Value</name>");
        xapi_xmlrpc_encode_value(out, r->value);
    } else {
        buf_puts(out, "<member><name>Status</name><value>Failure</value></member>"
                      "<member><name>ErrorDescription</name>");
        struct xapi_value *tmp;
        xapi_xmlrpc_encode_value(out, xapi_error_desc(r, &tmp));
        xapi_value_free(tmp);
    }
    buf_puts(out, "</member></struct></value></param></params></methodResponse>");
}

/* ---- decoding ---- */

enum tag {
    T_UNKNOWN = 0,
    T_METHODCALL,
    T_METHODNAME,
    T_METHODRESPONSE,
    T_PARAMS,
    T_PARAM,
    T_FAULT,
    T_VALUE,
    T_STRING,
    T_INT, /* <int>, <i4>, <i8> */
    T_DOUBLE,
    T_BOOLEAN,
    T_DATETIME,
    T_NIL,
    T_ARRAY,
    T_DATA,
    T_STRUCT,
    T_MEMBER,
    T_NAME
};

static const struct {
    const char *name;
    enum tag tag;
} tag_names[] = {
    {"methodCall", T_METHODCALL},
    {"methodName", T_METHODNAME},
    {"methodResponse", T_METHODRESPONSE},
    {"params", T_PARAMS},
    {"param", T_PARAM},
    {"fault", T_FAULT},
    {"value", T_VALUE},
    {"string", T_STRING},
    {"int", T_INT},
    {"i4", T_INT},
    {"i8", T_INT},
    {"double", T_DOUBLE},
    {"boolean", T_BOOLEAN},
    {"dateTime.iso8601", T_DATETIME},
    {"nil", T_NIL},
    {"array", T_ARRAY},
    {"data", T_DATA},
    {"struct", T_STRUCT},
    {"member", T_MEMBER},
    {"name", T_NAME},
};

/* The tag of element name; *static_name receives the table's spelling (for messages). */
static enum tag tag_of(const char *name, const char **static_name)
{
    for (size_t i = 0; i < sizeof(tag_names) / sizeof(tag_names[0]); i++) {
        if (strcmp(tag_names[i].name, name) == 0) {
            *static_name = tag_names[i].name;
            return tag_names[i].tag;
        }
    }
    *static_name = "?";
    return T_UNKNOWN;
}

static bool is_scalar(enum tag t)
{
    return t == T_STRING || t == T_INT || t == T_DOUBLE || t == T_BOOLEAN || t == T_DATETIME ||
           t == T_NIL;
}

/* Elements whose character data is content (everything else allows whitespace only). */
static bool keeps_text(enum tag t)
{
    return t == T_VALUE || t == T_METHODNAME || t == T_NAME || (is_scalar(t) && t != T_NIL);
}

enum doc_kind { DOC_CALL, DOC_RESPONSE, DOC_VALUE };

struct frame {
    enum tag tag;
    const char *name; /* static name for messages */
    unsigned long line, col;
    struct buf text;
    unsigned children;    /* child elements seen */
    bool has_name;        /* member: <name> seen; methodCall: <methodName> seen */
    bool has_params;      /* methodCall: <params> seen */
    struct xapi_value *v; /* owned: value's typed child, array, struct, params, member value */
    char *key;            /* owned: member name */
    /* struct: hash index of member names (slot = member index + 1, 0 = free), built once the
     * struct is large enough for linear duplicate checks to cost (records of a big pool) */
    size_t *slots, nslots;
};

#define KEYSET_MIN_MEMBERS 16

static size_t key_hash(const char *k)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

static void keyset_insert(struct frame *f, size_t idx)
{
    size_t mask = f->nslots - 1, i = key_hash(f->v->u.st.keys[idx]) & mask;
    while (f->slots[i])
        i = (i + 1) & mask;
    f->slots[i] = idx + 1;
}

/* Is key already a member of struct frame f?  Uses and maintains the hash index. */
static bool struct_has_key(struct frame *f, const char *key)
{
    const struct xapi_value *st = f->v;
    size_t n = st->u.st.n;

    if (n < KEYSET_MIN_MEMBERS)
        return xapi_struct_get(st, key) != NULL;
    if (f->nslots < 2 * (n + 1)) { /* (re)build at load <= 1/2 */
        size_t want = 64;
        while (want < 4 * (n + 1))
            want *= 2;
        free(f->slots);
        f->slots = xcalloc(want, sizeof(*f->slots));
        f->nslots = want;
        for (size_t i = 0; i < n; i++)
            keyset_insert(f, i);
    }
    for (size_t i = key_hash(key) & (f->nslots - 1); f->slots[i]; i = (i + 1) & (f->nslots - 1))
        if (strcmp(st->u.st.keys[f->slots[i] - 1], key) == 0)
            return true;
    return false;
}

struct xp {
    XML_Parser p;
    const struct xapi_limits *lim;
    enum doc_kind kind;
    const char *what; /* "XML-RPC request" */
    struct frame *st;
    size_t depth, cap, max_elems;
    int containers;
    size_t items;
    int rc;
    struct err *e;
    /* results */
    char *method;
    struct xapi_value *params;
    struct xapi_value *result; /* response's single param, fault's value, or the fragment */
    bool fault, root_done;
};

__attribute__((format(printf, 5, 6))) static void
fail_at(struct xp *x, int code, unsigned long line, unsigned long col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (x->rc)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    x->rc = err_set(x->e, code, "%s: line %lu, column %lu: %s", x->what, line, col, msg);
    XML_StopParser(x->p, XML_FALSE);
}

#define FAIL(x, code, ...)                                                                         \
    fail_at((x), (code), (unsigned long)XML_GetCurrentLineNumber((x)->p),                          \
            (unsigned long)XML_GetCurrentColumnNumber((x)->p) + 1, __VA_ARGS__)

/* Quote at most 40 bytes of s for a message. */
static const char *excerpt(const char *s, char *tmp, size_t n)
{
    size_t l = strlen(s);
    if (l + 1 <= n && l <= 40) {
        str_lcpy(tmp, s, n);
    } else {
        size_t k = n - 4 < 40 ? n - 4 : 40;
        /* do not cut a UTF-8 sequence in half */
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        memcpy(tmp, s, k);
        memcpy(tmp + k, "...", 4);
    }
    return tmp;
}

static bool all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* Is child allowed directly inside parent (NULL parent = the root)? */
static bool allowed(const struct xp *x, const struct frame *parent, enum tag child)
{
    if (!parent) {
        switch (x->kind) {
        case DOC_CALL:
            return child == T_METHODCALL;
        case DOC_RESPONSE:
            return child == T_METHODRESPONSE;
        case DOC_VALUE:
            return child == T_VALUE;
        }
        return false;
    }
    switch (parent->tag) {
    case T_METHODCALL:
        return (child == T_METHODNAME && !parent->has_name) ||
               (child == T_PARAMS && !parent->has_params);
    case T_METHODRESPONSE:
        return (child == T_PARAMS || child == T_FAULT) && parent->children == 0;
    case T_PARAMS:
        return child == T_PARAM;
    case T_PARAM:
    case T_FAULT:
        return child == T_VALUE && parent->children == 0;
    case T_VALUE:
        return (is_scalar(child) || child == T_ARRAY || child == T_STRUCT) && parent->children == 0;
    case T_ARRAY:
        return child == T_DATA && parent->children == 0;
    case T_DATA:
        return child == T_VALUE;
    case T_STRUCT:
        return child == T_MEMBER;
    case T_MEMBER:
        return (child == T_NAME && !parent->has_name) || (child == T_VALUE && !parent->v);
    default:
        return false;
    }
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct xp *x = ud;
    struct frame *parent = x->depth ? &x->st[x->depth - 1] : NULL;
    const char *sname;
    enum tag t = tag_of(name, &sname);
    struct frame *f;
    char tmp[48];

    (void)attrs;
    if (x->rc)
        return;
    if (!allowed(x, parent, t)) {
        excerpt(name, tmp, sizeof(tmp));
        if (!parent)
            FAIL(x, PP_EPARSE, "expected <%s> as the root element, found <%s>",
                 x->kind == DOC_CALL       ? "methodCall"
                 : x->kind == DOC_RESPONSE ? "methodResponse"
                                           : "value",
                 tmp);
        else if (parent->tag == T_VALUE && t == T_UNKNOWN)
            FAIL(x, PP_EPARSE, "unknown type tag <%s> in <value>", tmp);
        else
            FAIL(x, PP_EPARSE, "element <%s> is not allowed %sin <%s>", tmp,
                 parent->children ? "here " : "", parent->name);
        return;
    }
    if (parent && parent->tag == T_VALUE && !all_space(buf_str(&parent->text), parent->text.len)) {
        FAIL(x, PP_EPARSE, "text before <%s> in <value>", name);
        return;
    }
    if (x->depth >= x->max_elems) {
        FAIL(x, PP_ELIMIT, "elements nested deeper than %zu", x->max_elems);
        return;
    }
    /* a response's envelope struct does not count against the result's depth */
    if ((t == T_ARRAY || t == T_STRUCT) &&
        ++x->containers > x->lim->max_depth + (x->kind == DOC_RESPONSE ? 1 : 0)) {
        FAIL(x, PP_ELIMIT, "arrays and structs nested deeper than %d levels", x->lim->max_depth);
        return;
    }
    if (t == T_VALUE && ++x->items > x->lim->max_items) {
        FAIL(x, PP_ELIMIT, "more than %zu values in the document", x->lim->max_items);
        return;
    }
    if (parent) {
        parent->children++;
        if (t == T_NAME || t == T_METHODNAME)
            parent->has_name = true;
        if (t == T_PARAMS)
            parent->has_params = true;
    }
    if (x->depth == x->cap) {
        size_t old = x->cap;
        vec_reserve_raw((void **)&x->st, &x->cap, x->depth + 1, sizeof(*x->st));
        for (size_t i = old; i < x->cap; i++) {
            buf_init(&x->st[i].text);
            x->st[i].v = NULL;
            x->st[i].key = NULL;
            x->st[i].slots = NULL;
            x->st[i].nslots = 0;
        }
    }
    f = &x->st[x->depth++];
    f->tag = t;
    f->name = sname;
    f->line = (unsigned long)XML_GetCurrentLineNumber(x->p);
    f->col = (unsigned long)XML_GetCurrentColumnNumber(x->p) + 1;
    buf_reset(&f->text);
    f->children = 0;
    f->has_name = f->has_params = false;
    f->v = NULL;
    f->key = NULL;
    free(f->slots);
    f->slots = NULL;
    f->nslots = 0;
    if (t == T_ARRAY || (t == T_PARAMS && x->kind == DOC_CALL))
        f->v = xapi_value_new_array();
    else if (t == T_STRUCT)
        f->v = xapi_value_new_struct();
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xp *x = ud;
    struct frame *f;

    if (x->rc || x->depth == 0 || len <= 0)
        return;
    f = &x->st[x->depth - 1];
    if (!keeps_text(f->tag) || (f->tag == T_VALUE && f->children > 0)) {
        if (!all_space(s, (size_t)len))
            FAIL(x, PP_EPARSE, "unexpected text in <%s>", f->name);
        return;
    }
    if (f->text.len + (size_t)len > x->lim->max_string_bytes) {
        FAIL(x, PP_ELIMIT, "text in <%s> over the limit of %zu bytes", f->name,
             x->lim->max_string_bytes);
        return;
    }
    buf_append(&f->text, s, (size_t)len);
}

/* Copy of f's text without surrounding whitespace (for numbers, booleans, dates). */
static const char *trimmed(struct frame *f)
{
    char *s;
    size_t n;

    buf_putc(&f->text, '\0'); /* make data non-NULL even when empty */
    f->text.len--;
    s = f->text.data;
    n = f->text.len;
    while (n > 0 && all_space(s + n - 1, 1))
        s[--n] = '\0';
    f->text.len = n;
    while (*s && all_space(s, 1))
        s++;
    return s;
}

static struct xapi_value *scalar_value(struct xp *x, struct frame *f)
{
    char tmp[48];
    const char *s;
    int64_t i;
    double d;

    switch (f->tag) {
    case T_STRING:
        return xapi_value_new_stringn(buf_str(&f->text), f->text.len);
    case T_NIL:
        return xapi_value_new_void();
    case T_DATETIME:
        return xapi_value_new_datetime(trimmed(f));
    case T_INT:
        s = trimmed(f);
        if (str_to_int64(s, &i) != 0) {
            fail_at(x, PP_EPARSE, f->line, f->col, "<%s> holds \"%s\", not a 64-bit integer",
                    f->name, excerpt(s, tmp, sizeof(tmp)));
            return NULL;
        }
        return xapi_value_new_int(i);
    case T_DOUBLE:
        s = trimmed(f);
        if (str_to_double(s, &d) != 0) {
            fail_at(x, PP_EPARSE, f->line, f->col, "<double> holds \"%s\", not a finite number",
                    excerpt(s, tmp, sizeof(tmp)));
            return NULL;
        }
        return xapi_value_new_double(d);
    case T_BOOLEAN:
        s = trimmed(f);
        if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
            return xapi_value_new_bool(true);
        if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
            return xapi_value_new_bool(false);
        fail_at(x, PP_EPARSE, f->line, f->col, "<boolean> holds \"%s\", not 0 or 1",
                excerpt(s, tmp, sizeof(tmp)));
        return NULL;
    default:
        return NULL;
    }
}

/* Hand a finished <value> to whatever contains it. */
static void deliver_value(struct xp *x, struct frame *parent, struct xapi_value *v)
{
    if (!parent) {
        x->result = v;
        return;
    }
    switch (parent->tag) {
    case T_PARAM:
    case T_FAULT:
    case T_MEMBER:
        parent->v = v;
        return;
    case T_DATA:
        /* <data> always sits in an <array> frame, which owns the array. */
        xapi_array_append_take(x->st[x->depth - 2].v, v);
        return;
    default:
        xapi_value_free(v); /* unreachable: the grammar check allows no other parent */
        return;
    }
}

/* </member>: add the member to the enclosing struct.  0, or -1 after fail_at. */
static int end_member(struct xp *x, struct frame *f, struct frame *parent)
{
    char tmp[48];

    if (!f->key) {
        fail_at(x, PP_EPARSE, f->line, f->col, "<member> without <name>");
        return -1;
    }
    if (!f->v) {
        fail_at(x, PP_EPARSE, f->line, f->col, "<member> \"%s\" without <value>",
                excerpt(f->key, tmp, sizeof(tmp)));
        return -1;
    }
    if (struct_has_key(parent, f->key)) {
        fail_at(x, PP_EPARSE, f->line, f->col, "duplicate struct member \"%s\"",
                excerpt(f->key, tmp, sizeof(tmp)));
        return -1;
    }
    xapi_struct_append_take(parent->v, f->key, f->v);
    if (parent->slots)
        keyset_insert(parent, parent->v->u.st.n - 1);
    f->key = NULL;
    f->v = NULL;
    return 0;
}

/* </param>: a call's next parameter, or a response's one result.  0, or -1 after fail_at. */
static int end_param(struct xp *x, struct frame *f, struct frame *parent)
{
    if (!f->v) {
        fail_at(x, PP_EPARSE, f->line, f->col, "<param> without <value>");
        return -1;
    }
    if (x->kind == DOC_CALL) {
        xapi_array_append_take(parent->v, f->v);
    } else if (x->result) {
        xapi_value_free(f->v);
        f->v = NULL;
        fail_at(x, PP_EPARSE, f->line, f->col, "more than one <param> in a response");
        return -1;
    } else {
        x->result = f->v;
    }
    f->v = NULL;
    return 0;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xp *x = ud;
    struct frame *f, *parent;
    struct xapi_value *v;

    (void)name;
    if (x->rc || x->depth == 0)
        return;
    f = &x->st[--x->depth];
    parent = x->depth ? &x->st[x->depth - 1] : NULL;
    switch (f->tag) {
    case T_METHODNAME:
        if (f->text.len == 0) {
            fail_at(x, PP_EPARSE, f->line, f->col, "empty <methodName>");
            return;
        }
        x->method = xstrndup(buf_str(&f->text), f->text.len);
        break;
    case T_NAME:
        if (!parent) /* the grammar check guarantees one */
            break;
        parent->key = xstrndup(buf_str(&f->text), f->text.len);
        break;
    case T_STRING:
    case T_INT:
    case T_DOUBLE:
    case T_BOOLEAN:
    case T_DATETIME:
    case T_NIL:
        v = scalar_value(x, f);
        if (!v || !parent) {
            xapi_value_free(v);
            return;
        }
        parent->v = v;
        break;
    case T_ARRAY:
    case T_STRUCT:
        x->containers--;
        free(f->slots);
        f->slots = NULL;
        f->nslots = 0;
        if (!parent)
            break;
        parent->v = f->v;
        f->v = NULL;
        break;
    case T_DATA:
        break;
    case T_MEMBER:
        if (parent && end_member(x, f, parent) != 0)
            return;
        break;
    case T_VALUE:
        if (f->v) {
            v = f->v;
            f->v = NULL;
        } else {
            /* a bare <value>x</value> is a string; <value></value> is void or "" */
            v = xapi_value_new_stringn(buf_str(&f->text), f->text.len);
        }
        deliver_value(x, parent, v);
        break;
    case T_PARAM:
        if (parent && end_param(x, f, parent) != 0)
            return;
        break;
    case T_PARAMS:
        if (x->kind == DOC_CALL) {
            x->params = f->v;
            f->v = NULL;
        } else if (!x->result) {
            fail_at(x, PP_EPARSE, f->line, f->col, "<params> without <param> in a response");
            return;
        }
        break;
    case T_FAULT:
        if (!f->v) {
            fail_at(x, PP_EPARSE, f->line, f->col, "<fault> without <value>");
            return;
        }
        x->result = f->v;
        f->v = NULL;
        x->fault = true;
        break;
    case T_METHODCALL:
        if (!x->method) {
            fail_at(x, PP_EPARSE, f->line, f->col, "<methodCall> without <methodName>");
            return;
        }
        break;
    case T_METHODRESPONSE:
        if (!x->result) {
            fail_at(x, PP_EPARSE, f->line, f->col, "<methodResponse> without <params>");
            return;
        }
        break;
    case T_UNKNOWN:
        break;
    }
    if (!parent)
        x->root_done = true;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    struct xp *x = ud;
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    FAIL(x, PP_EPARSE, "a DOCTYPE is not allowed in XML-RPC");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    struct xp *x = ud;
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    FAIL(x, PP_EPARSE, "entity declarations are not allowed");
}

static void xp_cleanup(struct xp *x)
{
    /* Frames above depth were popped; after an error the popped one may still own its parts,
     * every other one has handed them on and holds NULLs. */
    for (size_t i = 0; i < x->cap; i++) {
        xapi_value_free(x->st[i].v);
        free(x->st[i].key);
        free(x->st[i].slots);
        buf_cleanup(&x->st[i].text);
    }
    free(x->st);
    free(x->method);
    xapi_value_free(x->params);
    xapi_value_free(x->result);
    if (x->p)
        XML_ParserFree(x->p);
    memset(x, 0, sizeof(*x));
}

/* Parse one document of the given kind; results stay in x (caller runs xp_cleanup). */
static int xp_parse(struct xp *x, enum doc_kind kind, const char *what, const char *data,
                    size_t len, const struct xapi_limits *lim, struct err *e)
{
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->what = what;
    x->lim = lim;
    x->e = e;
    /* three elements per level of nesting (value, array|struct, data|member) plus the envelope */
    x->max_elems = 3 * (size_t)(lim->max_depth > 0 ? lim->max_depth : 1) + 12;
    if (len > lim->max_doc_bytes || len > INT_MAX)
        return err_set(e, PP_ELIMIT, "%s: %zu bytes is over the limit of %zu bytes", what, len,
                       lim->max_doc_bytes);
    x->p = XML_ParserCreate(NULL);
    if (!x->p)
        return err_set(e, PP_ENOMEM, "%s: cannot create an XML parser", what);
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
    XML_SetEntityDeclHandler(x->p, on_entity_decl);
    XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef PP_HAVE_EXPAT_BLA
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(x->p, 20.0f);
    XML_SetBillionLaughsAttackProtectionActivationThreshold(x->p, 1024 * 1024);
#endif
    if (XML_Parse(x->p, data, (int)len, XML_TRUE) == XML_STATUS_ERROR && x->rc == 0) {
        enum XML_Error code = XML_GetErrorCode(x->p);
        x->rc = err_set(e, code == XML_ERROR_NO_MEMORY ? PP_ENOMEM : PP_EPARSE,
                        "%s: line %lu, column %lu: %s", what,
                        (unsigned long)XML_GetCurrentLineNumber(x->p),
                        (unsigned long)XML_GetCurrentColumnNumber(x->p) + 1, XML_ErrorString(code));
    }
    if (x->rc == 0 && !x->root_done)
        x->rc = err_set(e, PP_EPARSE, "%s: incomplete document", what);
    return x->rc;
}

int xapi_xmlrpc_decode_call(const char *data, size_t len, const struct xapi_limits *lim,
                            struct xapi_call *out, struct err *e)
{
    struct xapi_limits tmp;
    struct xp x;
    int rc;

    memset(out, 0, sizeof(*out));
    lim = xapi_limits_or_default(lim, &tmp);
    rc = xp_parse(&x, DOC_CALL, "XML-RPC request", data, len, lim, e);
    if (rc == 0) {
        out->method = x.method;
        out->params = x.params ? x.params : xapi_value_new_array();
        out->proto = XAPI_PROTO_XMLRPC;
        out->id = NULL;
        x.method = NULL;
        x.params = NULL;
    }
    xp_cleanup(&x);
    return rc;
}

/* Take the member key out of struct st (NULL when absent). */
static struct xapi_value *struct_take(struct xapi_value *st, const char *key)
{
    for (size_t i = 0; i < st->u.st.n; i++) {
        if (strcmp(st->u.st.keys[i], key) == 0) {
            struct xapi_value *v = st->u.st.vals[i];
            st->u.st.vals[i] = xapi_value_new_void();
            return v;
        }
    }
    return NULL;
}

/* An error description element as a string (xapi's are all strings). */
static struct xapi_value *as_error_string(struct xapi_value *v)
{
    struct buf b;
    struct xapi_value *s;

    if (v->type == XAPI_STRING)
        return v;
    buf_init(&b);
    if (v->type == XAPI_INT)
        buf_printf(&b, "%" PRId64, v->u.i);
    else if (v->type == XAPI_DATETIME)
        buf_puts(&b, v->u.s);
    else if (v->type != XAPI_VOID)
        xapi_value_dump(&b, v);
    s = xapi_value_new_stringn(buf_str(&b), b.len);
    buf_cleanup(&b);
    xapi_value_free(v);
    return s;
}

static void normalise_error(struct xapi_value *arr)
{
    for (size_t i = 0; i < arr->u.arr.n; i++)
        arr->u.arr.items[i] = as_error_string(arr->u.arr.items[i]);
}

int xapi_xmlrpc_decode_response(const char *data, size_t len, const struct xapi_limits *lim,
                                struct xapi_response *out, struct err *e)
{
    static const char what[] = "XML-RPC response";
    struct xapi_limits tmp;
    struct xapi_value *res, *status;
    struct xp x;
    bool fault;
    int rc;

    memset(out, 0, sizeof(*out));
    lim = xapi_limits_or_default(lim, &tmp);
    rc = xp_parse(&x, DOC_RESPONSE, what, data, len, lim, e);
    if (rc) {
        xp_cleanup(&x);
        return rc;
    }
    res = x.result;
    fault = x.fault;
    x.result = NULL;
    xp_cleanup(&x);

    if (fault) {
        /* A foreign XML-RPC server's <fault> (xapi never sends one): report it as an error
         * ["XMLRPC_FAULT", faultCode, faultString]. */
        const struct xapi_value *code = xapi_struct_get(res, "faultCode");
        const struct xapi_value *msg = xapi_struct_get(res, "faultString");
        if (res->type != XAPI_STRUCT || !code || !msg) {
            xapi_value_free(res);
            return err_set(e, PP_EPARSE,
                           "%s: <fault> is not a struct with faultCode and faultString", what);
        }
        out->ok = false;
        out->error = xapi_value_new_array();
        xapi_array_append_string(out->error, "XMLRPC_FAULT");
        xapi_array_append_take(out->error, as_error_string(xapi_value_dup(code)));
        xapi_array_append_take(out->error, as_error_string(xapi_value_dup(msg)));
        xapi_value_free(res);
        return 0;
    }
    status = res->type == XAPI_STRUCT ? xapi_struct_get_mut(res, "Status") : NULL;
    if (!status) {
        /* Not xapi's envelope: a plain value, taken as the result (as ocaml-rpc does). */
        out->ok = true;
        out->value = res;
        return 0;
    }
    if (status->type == XAPI_STRING && strcmp(status->u.s, "Success") == 0) {
        struct xapi_value *v = struct_take(res, "Value");
        out->ok = true;
        out->value = v ? v : xapi_value_new_void();
        xapi_value_free(res);
        return 0;
    }
    if (status->type == XAPI_STRING && strcmp(status->u.s, "Failure") == 0) {
        struct xapi_value *d = struct_take(res, "ErrorDescription");
        xapi_value_free(res);
        if (!d || d->type != XAPI_ARRAY || d->u.arr.n == 0) {
            xapi_value_free(d);
            return err_set(e, PP_EPARSE,
                           "%s: Status is Failure but ErrorDescription is not a non-empty array",
                           what);
        }
        normalise_error(d);
        if (d->u.arr.items[0]->u.s[0] == '\0') {
            xapi_value_free(d);
            return err_set(e, PP_EPARSE, "%s: the error code in ErrorDescription is empty", what);
        }
        out->ok = false;
        out->error = d;
        return 0;
    }
    xapi_value_free(res);
    return err_set(e, PP_EPARSE, "%s: Status is neither Success nor Failure", what);
}

int xapi_xmlrpc_decode_value(const char *data, size_t len, const struct xapi_limits *lim,
                             struct xapi_value **out, struct err *e)
{
    struct xapi_limits tmp;
    struct xp x;
    int rc;

    *out = NULL;
    lim = xapi_limits_or_default(lim, &tmp);
    /* task.result of a task without a result is "": take it as void */
    if (all_space(data, len) && len <= lim->max_doc_bytes) {
        *out = xapi_value_new_void();
        return 0;
    }
    rc = xp_parse(&x, DOC_VALUE, "XML-RPC value", data, len, lim, e);
    if (rc == 0) {
        *out = x.result;
        x.result = NULL;
    }
    xp_cleanup(&x);
    return rc;
}
