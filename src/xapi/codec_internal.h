/* SPDX-License-Identifier: MIT */
/*
 * codec_internal.h - helpers shared by value.c, codec.c, xmlrpc.c and jsonrpc.c; not part of the
 * module's interface.  All pure and thread-safe.
 */
#ifndef PP_XAPI_CODEC_INTERNAL_H
#define PP_XAPI_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence (RFC 3629: no overlongs, no surrogates) starting at s, of at
 * most n bytes; 0 when s does not start one. */
size_t xapi_utf8_seq_len(const unsigned char *s, size_t n);
/* True when s[0..n) is valid UTF-8. */
bool xapi_utf8_valid(const char *s, size_t n);

struct xapi_limits;
/* lim, or the response limits written into tmp when lim is NULL. */
const struct xapi_limits *xapi_limits_or_default(const struct xapi_limits *lim,
                                                 struct xapi_limits *tmp);

struct xapi_response;
struct xapi_value;
/* The error description to write for a failed r: r->error when it is an array starting with a
 * non-empty string code, else a new array in *tmp (caller frees) ["INTERNAL_ERROR", params...]. */
const struct xapi_value *xapi_error_desc(const struct xapi_response *r, struct xapi_value **tmp);

#endif
