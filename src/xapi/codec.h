/* SPDX-License-Identifier: MIT */
/*
 * codec.h - XAPI's two wire protocols, both directions (docs/reference/xapi.md section 1).
 *
 * A client encodes calls and decodes responses; the simulator decodes calls and encodes
 * responses.  XML-RPC replies are always the Status / Value / ErrorDescription struct (never a
 * <fault>); JSON-RPC v1 errors are the [CODE, params...] array, v2 errors are
 * {"code":1,"message":CODE,"data":[params]}.
 *
 * Decoders take untrusted input: they enforce struct xapi_limits and report malformed input with
 * PP_EPARSE (or PP_ELIMIT) and a message naming the position and the reason.  They never crash.
 * Thread-safe: no shared state.
 */
#ifndef PP_XAPI_CODEC_H
#define PP_XAPI_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "value.h"

struct buf;
struct err;

struct xapi_limits {
    size_t max_doc_bytes;    /* whole document */
    int max_depth;           /* nesting of arrays / structs */
    size_t max_string_bytes; /* one string, member name or method name */
    size_t max_items;        /* total values in one document */
};

/* Limits for requests a server accepts (xapi: bodies up to 300 KiB). */
void xapi_limits_request(struct xapi_limits *l);
/* Limits for responses a client accepts (get_all_records of large pools: 256 MiB). */
void xapi_limits_response(struct xapi_limits *l);

enum xapi_proto { XAPI_PROTO_XMLRPC = 0, XAPI_PROTO_JSONRPC_V1 = 1, XAPI_PROTO_JSONRPC_V2 = 2 };

/* A decoded call.  Owns its members; release with xapi_call_cleanup. */
struct xapi_call {
    char *method;              /* "host.get_record", "Async.VM.pool_migrate", ... */
    struct xapi_value *params; /* always an XAPI_ARRAY */
    enum xapi_proto proto;
    json_t *id; /* JSON-RPC id (own reference), NULL for XML-RPC */
};
void xapi_call_cleanup(struct xapi_call *c);

/* A response.  Owns its members; release with xapi_response_cleanup. */
struct xapi_response {
    bool ok;
    struct xapi_value *value; /* result when ok (XAPI_VOID for void) */
    struct xapi_value *error; /* when !ok: XAPI_ARRAY of strings, [CODE, param...] */
};
void xapi_response_cleanup(struct xapi_response *r);
/* Build a failure response from a code and n string parameters (copied). */
void xapi_response_set_error(struct xapi_response *r, const char *code, const char *const *params,
                             size_t n);
/* Make r a success carrying value (ownership taken; NULL means void). */
void xapi_response_set_ok_take(struct xapi_response *r, struct xapi_value *value);
/* Borrowed error code of a failed response ("INTERNAL_ERROR" when the array is empty or not a
 * string), NULL when r is a success. */
const char *xapi_response_error_code(const struct xapi_response *r);

/* ---- XML-RPC ---- */

/* Append <?xml ...?><methodCall>...</methodCall>.  params must be an array (or NULL = none). */
void xapi_xmlrpc_encode_call(struct buf *out, const char *method, const struct xapi_value *params);
int xapi_xmlrpc_decode_call(const char *data, size_t len, const struct xapi_limits *lim,
                            struct xapi_call *out, struct err *e);
/* Append a methodResponse with the Status/Value/ErrorDescription struct, as xapi sends it. */
void xapi_xmlrpc_encode_response(struct buf *out, const struct xapi_response *r);
int xapi_xmlrpc_decode_response(const char *data, size_t len, const struct xapi_limits *lim,
                                struct xapi_response *out, struct err *e);
/*
 * One <value>...</value> element as xapi writes it (strings, refs and int64 bare; void as
 * <value></value>).  Also the form of task.result over both protocols.
 */
void xapi_xmlrpc_encode_value(struct buf *out, const struct xapi_value *v);
int xapi_xmlrpc_decode_value(const char *data, size_t len, const struct xapi_limits *lim,
                             struct xapi_value **out, struct err *e);

/* ---- JSON-RPC ---- */

/* Append a request object; version 1 omits "jsonrpc", 2 writes "jsonrpc":"2.0". id borrowed. */
void xapi_jsonrpc_encode_call(struct buf *out, enum xapi_proto version, const char *method,
                              const struct xapi_value *params, const json_t *id);
/*
 * Decode a request.  Rejects a "jsonrpc" member other than "2.0", missing / null ids
 * (notifications), params that are not an array.  out->proto tells v1 from v2.
 */
int xapi_jsonrpc_decode_call(const char *data, size_t len, const struct xapi_limits *lim,
                             struct xapi_call *out, struct err *e);
/* Append a response in the call's version, echoing id (borrowed; NULL writes null). */
void xapi_jsonrpc_encode_response(struct buf *out, enum xapi_proto version, const json_t *id,
                                  const struct xapi_response *r);
/*
 * Append xapi's pre-dispatch error form (raised before the call reaches the dispatcher, e.g. a
 * supporter in emergency mode): {"jsonrpc":"2.0","error":[CODE,...],"id":0}.
 */
void xapi_jsonrpc_encode_predispatch_error(struct buf *out, const struct xapi_value *error);
/*
 * Decode a response of either version (and the pre-dispatch form).  *id_out, when not NULL,
 * receives a new reference to the id (or NULL).
 */
int xapi_jsonrpc_decode_response(const char *data, size_t len, const struct xapi_limits *lim,
                                 struct xapi_response *out, json_t **id_out, struct err *e);

#endif
