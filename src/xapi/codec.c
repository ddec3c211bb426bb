/* SPDX-License-Identifier: MIT */
/*
 * codec.c - what the XML-RPC and JSON-RPC codecs share: the limits, releasing decoded calls and
 * responses, building failure responses, and the checks every decoded value goes through.
 */
#include "codec.h"

#include "base/err.h"
#include "base/mem.h"
#include "codec_internal.h"

#include <string.h>

void xapi_limits_request(struct xapi_limits *l)
{
    /* xapi refuses request bodies over 300 KiB (ocaml/xapi/api_server.ml, xapi_globs.ml). */
    l->max_doc_bytes = 300 * 1024;
    l->max_depth = 32;
    l->max_string_bytes = 300 * 1024;
    l->max_items = 100000;
}

void xapi_limits_response(struct xapi_limits *l)
{
    /* VM.get_all_records of a large pool runs to tens of MiB; leave room. */
    l->max_doc_bytes = 256u * 1024 * 1024;
    l->max_depth = 64;
    l->max_string_bytes = 64u * 1024 * 1024;
    l->max_items = 32u * 1024 * 1024;
}

const struct xapi_limits *xapi_limits_or_default(const struct xapi_limits *lim,
                                                 struct xapi_limits *tmp)
{
    if (lim)
        return lim;
    xapi_limits_response(tmp);
    return tmp;
}

void xapi_call_cleanup(struct xapi_call *c)
{
    if (!c)
        return;
    free(c->method);
    xapi_value_free(c->params);
    if (c->id)
        json_decref(c->id);
    memset(c, 0, sizeof(*c));
}

void xapi_response_cleanup(struct xapi_response *r)
{
    if (!r)
        return;
    xapi_value_free(r->value);
    xapi_value_free(r->error);
    memset(r, 0, sizeof(*r));
}

void xapi_response_set_error(struct xapi_response *r, const char *code, const char *const *params,
                             size_t n)
{
    xapi_response_cleanup(r);
    r->ok = false;
    r->error = xapi_value_new_array();
    xapi_array_append_string(r->error, code ? code : "INTERNAL_ERROR");
    for (size_t i = 0; i < n; i++)
        xapi_array_append_string(r->error, params[i]);
}

void xapi_response_set_ok_take(struct xapi_response *r, struct xapi_value *value)
{
    xapi_response_cleanup(r);
    r->ok = true;
    r->value = value ? value : xapi_value_new_void();
}

const char *xapi_response_error_code(const struct xapi_response *r)
{
    const char *s;

    if (!r || r->ok)
        return NULL;
    s = xapi_value_str(xapi_array_get(r->error, 0));
    return (s && *s) ? s : "INTERNAL_ERROR";
}

const struct xapi_value *xapi_error_desc(const struct xapi_response *r, struct xapi_value **tmp)
{
    const struct xapi_value *err = r->error;
    const char *code = xapi_value_str(xapi_array_get(err, 0));

    *tmp = NULL;
    if (code && *code && xapi_array_get(err, 0)->type == XAPI_STRING)
        return err;
    *tmp = xapi_value_new_array();
    xapi_array_append_string(*tmp, "INTERNAL_ERROR");
    if (xapi_array_len(err) == 0)
        xapi_array_append_string(*tmp, "response without an error description");
    for (size_t i = 1; i < xapi_array_len(err); i++)
        xapi_array_append_take(*tmp, xapi_value_dup(xapi_array_get(err, i)));
    return *tmp;
}
