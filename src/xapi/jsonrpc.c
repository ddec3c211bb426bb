/* SPDX-License-Identifier: MIT */
/*
 * jsonrpc.c - XAPI's JSON-RPC, v1 and v2, both directions (docs/reference/xapi.md section 1;
 * xapi: ocaml/xapi/api_server.ml and ocaml-rpc's jsonrpc.ml).
 *
 * v1: no "jsonrpc" member; errors are {"result":null,"error":[CODE, params...],"id":ID}.
 * v2: "jsonrpc":"2.0"; errors are {"error":{"code":1,"message":CODE,"data":[params...]}}.
 * Pre-dispatch errors come back as {"jsonrpc":"2.0","error":[CODE...],"id":0}.
 *
 * Parsing goes through jsonx_load (size, nesting, duplicate keys, UTF-8 checked by jansson),
 * then every value is checked against struct xapi_limits (depth, items, string bytes, NUL)
 * before it is converted to the value model.  Errors name a JSON path ("params[1].name").
 */
#include "codec.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "codec_internal.h"

#include <inttypes.h>
#include <string.h>

/* ---- checks of decoded JSON against the limits ---- */

struct jcheck {
    const struct xapi_limits *lim;
    const char *what; /* "JSON-RPC request" */
    size_t items;
    struct buf path;
    struct err *e;
};

static int jcheck_string(struct jcheck *c, const char *s, size_t n, const char *kind)
{
    if (n > c->lim->max_string_bytes)
        return err_set(c->e, PP_ELIMIT, "%s: at %s: %s of %zu bytes is over the limit of %zu",
                       c->what, buf_str(&c->path), kind, n, c->lim->max_string_bytes);
    if (memchr(s, '\0', n))
        return err_set(c->e, PP_EPARSE, "%s: at %s: %s contains a NUL character", c->what,
                       buf_str(&c->path), kind);
    return 0;
}

static int jcheck_value(struct jcheck *c, const json_t *j, int depth)
{
    size_t mark = c->path.len;
    int rc = 0;

    if (++c->items > c->lim->max_items)
        return err_set(c->e, PP_ELIMIT, "%s: at %s: more than %zu values", c->what,
                       buf_str(&c->path), c->lim->max_items);
    switch (json_typeof(j)) {
    case JSON_STRING:
        return jcheck_string(c, json_string_value(j), json_string_length(j), "string");
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        if (depth + 1 > c->lim->max_depth)
            return err_set(c->e, PP_ELIMIT, "%s: at %s: nesting deeper than %d levels", c->what,
                           buf_str(&c->path), c->lim->max_depth);
        json_array_foreach(j, i, x)
        {
            buf_printf(&c->path, "[%zu]", i);
            rc = jcheck_value(c, x, depth + 1);
            c->path.len = mark;
            c->path.data[mark] = '\0';
            if (rc)
                return rc;
        }
        return 0;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        if (depth + 1 > c->lim->max_depth)
            return err_set(c->e, PP_ELIMIT, "%s: at %s: nesting deeper than %d levels", c->what,
                           buf_str(&c->path), c->lim->max_depth);
        json_object_foreach((json_t *)j, k, x)
        {
            size_t kl = strlen(k);
            buf_putc(&c->path, '.');
            buf_append(&c->path, k, kl > 64 ? 64 : kl);
            rc = jcheck_string(c, k, kl, "member name");
            if (!rc)
                rc = jcheck_value(c, x, depth + 1);
            c->path.len = mark;
            c->path.data[mark] = '\0';
            if (rc)
                return rc;
        }
        return 0;
    }
    case JSON_REAL:
    case JSON_INTEGER:
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        break;
    }
    return 0;
}

/* Check j (reached as member `name` of the envelope) against the limits. */
static int jcheck(const struct xapi_limits *lim, const char *what, const char *name,
                  const json_t *j, int base_depth, struct err *e)
{
    struct jcheck c = {.lim = lim, .what = what, .e = e};
    int rc;

    buf_init(&c.path);
    buf_puts(&c.path, name);
    rc = jcheck_value(&c, j, base_depth);
    buf_cleanup(&c.path);
    return rc;
}

/* Load data as a JSON object with the limits' size and (envelope + value) depth. */
static int load_object(const char *data, size_t len, const struct xapi_limits *lim,
                       const char *what, json_t **out, struct err *e)
{
    int rc = jsonx_load(data, len, lim->max_doc_bytes, lim->max_depth + 3, what, out, e);
    if (rc)
        return rc;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return err_set(e, PP_EPARSE, "%s: line 1, column 1: top level is not an object", what);
    }
    return 0;
}

/* Read the "jsonrpc" member: absent = v1, "2.0" = v2, anything else rejected. */
static int read_version(const json_t *root, const char *what, enum xapi_proto *out, struct err *e)
{
    const json_t *v = json_object_get(root, "jsonrpc");

    if (!v) {
        *out = XAPI_PROTO_JSONRPC_V1;
        return 0;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0) {
        *out = XAPI_PROTO_JSONRPC_V2;
        return 0;
    }
    return err_set(e, PP_EPARSE, "%s: at jsonrpc: unsupported version (only \"2.0\" or none)",
                   what);
}

/* ---- calls ---- */

static json_t *params_to_json(const struct xapi_value *params)
{
    if (!params)
        return json_array();
    if (params->type != XAPI_ARRAY) {
        json_t *a = json_array();
        json_array_append_new(a, xapi_value_to_json(params));
        return a;
    }
    return xapi_value_to_json(params);
}

static json_t *id_or_null(const json_t *id)
{
    return id ? json_deep_copy(id) : json_null();
}

void xapi_jsonrpc_encode_call(struct buf *out, enum xapi_proto version, const char *method,
                              const struct xapi_value *params, const json_t *id)
{
    json_t *o = json_object();

    if (version == XAPI_PROTO_JSONRPC_V2)
        json_object_set_new(o, "jsonrpc", json_string("2.0"));
    json_object_set_new(o, "method", json_string(method ? method : ""));
    json_object_set_new(o, "params", params_to_json(params));
    json_object_set_new(o, "id", id_or_null(id));
    jsonx_dump(out, o, JSON_COMPACT);
    json_decref(o);
}

int xapi_jsonrpc_decode_call(const char *data, size_t len, const struct xapi_limits *lim,
                             struct xapi_call *out, struct err *e)
{
    static const char what[] = "JSON-RPC request";
    struct xapi_limits tmp;
    json_t *root = NULL;
    const json_t *m, *p, *id;
    enum xapi_proto ver = XAPI_PROTO_JSONRPC_V2;
    int rc;

    memset(out, 0, sizeof(*out));
    lim = xapi_limits_or_default(lim, &tmp);
    rc = load_object(data, len, lim, what, &root, e);
    if (rc)
        return rc;
    rc = read_version(root, what, &ver, e);
    if (rc)
        goto done;
    m = json_object_get(root, "method");
    if (!json_is_string(m) || json_string_length(m) == 0) {
        rc = err_set(e, PP_EPARSE, "%s: at method: %s", what,
                     m ? "not a non-empty string" : "missing");
        goto done;
    }
    rc = jcheck(lim, what, "method", m, 0, e);
    if (rc)
        goto done;
    p = json_object_get(root, "params");
    if (!json_is_array(p)) {
        rc = err_set(e, PP_EPARSE, "%s: at params: %s", what, p ? "not an array" : "missing");
        goto done;
    }
    /* The params array itself is the envelope: its items may nest max_depth deep. */
    rc = jcheck(lim, what, "params", p, -1, e);
    if (rc)
        goto done;
    id = json_object_get(root, "id");
    if (!id || json_is_null(id)) {
        rc = err_set(e, PP_EPARSE, "%s: at id: %s (notifications are not supported)", what,
                     id ? "null" : "missing");
        goto done;
    }
    if (!json_is_integer(id) && !json_is_string(id)) {
        rc = err_set(e, PP_EPARSE, "%s: at id: must be an integer or a string", what);
        goto done;
    }
    rc = jcheck(lim, what, "id", id, 0, e);
    if (rc)
        goto done;
    out->method = xstrdup(json_string_value(m));
    out->params = xapi_value_from_json(p);
    out->proto = ver;
    out->id = json_incref((json_t *)id);
done:
    json_decref(root);
    return rc;
}

/* ---- responses ---- */

void xapi_jsonrpc_encode_response(struct buf *out, enum xapi_proto version, const json_t *id,
                                  const struct xapi_response *r)
{
    json_t *o = json_object();
    struct xapi_value *tmp = NULL;

    if (version == XAPI_PROTO_JSONRPC_V2) {
        json_object_set_new(o, "jsonrpc", json_string("2.0"));
        if (r->ok) {
            json_object_set_new(o, "result", xapi_value_to_json(r->value));
        } else {
            const struct xapi_value *err = xapi_error_desc(r, &tmp);
            json_t *eo = json_object(), *d = json_array();
            for (size_t i = 1; i < xapi_array_len(err); i++)
                json_array_append_new(d, xapi_value_to_json(xapi_array_get(err, i)));
            json_object_set_new(eo, "code", json_integer(1));
            json_object_set_new(eo, "message", xapi_value_to_json(xapi_array_get(err, 0)));
            json_object_set_new(eo, "data", d);
            json_object_set_new(o, "error", eo);
        }
    } else {
        if (r->ok) {
            json_object_set_new(o, "result", xapi_value_to_json(r->value));
            json_object_set_new(o, "error", json_null());
        } else {
            json_object_set_new(o, "result", json_null());
            json_object_set_new(o, "error", xapi_value_to_json(xapi_error_desc(r, &tmp)));
        }
    }
    json_object_set_new(o, "id", id_or_null(id));
    jsonx_dump(out, o, JSON_COMPACT);
    json_decref(o);
    xapi_value_free(tmp);
}

void xapi_jsonrpc_encode_predispatch_error(struct buf *out, const struct xapi_value *error)
{
    struct xapi_response r = {.ok = false, .error = (struct xapi_value *)error};
    struct xapi_value *tmp = NULL;
    json_t *o = json_object();

    json_object_set_new(o, "jsonrpc", json_string("2.0"));
    json_object_set_new(o, "error", xapi_value_to_json(xapi_error_desc(&r, &tmp)));
    json_object_set_new(o, "id", json_integer(0));
    jsonx_dump(out, o, JSON_COMPACT);
    json_decref(o);
    xapi_value_free(tmp);
}

/* One element of an error description as a string (xapi's are all strings). */
static struct xapi_value *error_param(const json_t *j)
{
    struct buf b;
    struct xapi_value *v;

    if (json_is_string(j))
        return xapi_value_new_stringn(json_string_value(j), json_string_length(j));
    buf_init(&b);
    jsonx_dump(&b, j, JSON_COMPACT);
    v = xapi_value_new_stringn(buf_str(&b), b.len);
    buf_cleanup(&b);
    return v;
}

static int decode_error(const json_t *err, const struct xapi_limits *lim, const char *what,
                        struct xapi_value **out, struct err *e)
{
    struct xapi_value *a;
    size_t i;
    json_t *x;
    int rc;

    *out = NULL;
    rc = jcheck(lim, what, "error", err, -1, e);
    if (rc)
        return rc;
    if (json_is_object(err)) { /* v2: {"code":1,"message":CODE,"data":[...]} */
        const json_t *msg = json_object_get(err, "message");
        const json_t *data = json_object_get(err, "data");
        if (!json_is_string(msg) || json_string_length(msg) == 0)
            return err_set(e, PP_EPARSE, "%s: at error.message: %s", what,
                           msg ? "not a non-empty string" : "missing");
        if (data && !json_is_array(data) && !json_is_null(data))
            return err_set(e, PP_EPARSE, "%s: at error.data: not an array", what);
        a = xapi_value_new_array();
        xapi_array_append_take(a, error_param(msg));
        json_array_foreach(data, i, x)
        {
            xapi_array_append_take(a, error_param(x));
        }
        *out = a;
        return 0;
    }
    if (json_is_array(err)) { /* v1 and the pre-dispatch form: [CODE, params...] */
        if (json_array_size(err) == 0)
            return err_set(e, PP_EPARSE, "%s: at error: empty error array", what);
        if (!json_is_string(json_array_get(err, 0)) ||
            json_string_length(json_array_get(err, 0)) == 0)
            return err_set(e, PP_EPARSE,
                           "%s: at error[0]: the error code is not a non-empty string", what);
        a = xapi_value_new_array();
        json_array_foreach(err, i, x)
        {
            xapi_array_append_take(a, error_param(x));
        }
        *out = a;
        return 0;
    }
    if (json_is_string(err) && json_string_length(err) > 0) {
        a = xapi_value_new_array();
        xapi_array_append_take(a, error_param(err));
        *out = a;
        return 0;
    }
    return err_set(e, PP_EPARSE, "%s: at error: neither an object nor an array", what);
}

int xapi_jsonrpc_decode_response(const char *data, size_t len, const struct xapi_limits *lim,
                                 struct xapi_response *out, json_t **id_out, struct err *e)
{
    static const char what[] = "JSON-RPC response";
    struct xapi_limits tmp;
    json_t *root = NULL;
    const json_t *id, *err, *res;
    enum xapi_proto ver;
    int rc;

    memset(out, 0, sizeof(*out));
    if (id_out)
        *id_out = NULL;
    lim = xapi_limits_or_default(lim, &tmp);
    rc = load_object(data, len, lim, what, &root, e);
    if (rc)
        return rc;
    rc = read_version(root, what, &ver, e);
    if (rc)
        goto done;
    id = json_object_get(root, "id");
    if (id && !json_is_null(id) && !json_is_integer(id) && !json_is_string(id)) {
        rc = err_set(e, PP_EPARSE, "%s: at id: must be an integer, a string or null", what);
        goto done;
    }
    if (id && (rc = jcheck(lim, what, "id", id, 0, e)) != 0)
        goto done;
    err = json_object_get(root, "error");
    res = json_object_get(root, "result");
    if (err && !json_is_null(err)) {
        struct xapi_value *desc;
        rc = decode_error(err, lim, what, &desc, e);
        if (rc)
            goto done;
        out->ok = false;
        out->error = desc;
    } else if (res) {
        rc = jcheck(lim, what, "result", res, 0, e);
        if (rc)
            goto done;
        out->ok = true;
        out->value = xapi_value_from_json(res);
    } else {
        rc = err_set(e, PP_EPARSE, "%s: neither \"result\" nor \"error\"", what);
        goto done;
    }
    if (id_out && id && !json_is_null(id))
        *id_out = json_incref((json_t *)id);
done:
    json_decref(root);
    return rc;
}
