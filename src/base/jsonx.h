/* SPDX-License-Identifier: MIT */
/*
 * jsonx.h - small helpers over jansson: bounded parsing of untrusted text with line/column
 * errors, typed getters with defaults, dumping into a struct buf.  Values are not shared across
 * threads (jansson's rule).
 */
#ifndef PP_BASE_JSONX_H
#define PP_BASE_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;

#define JSONX_DEFAULT_MAX_DEPTH 64

/*
 * Parse len bytes of JSON.  Rejects input over max_len bytes (PP_ELIMIT), nesting deeper than
 * max_depth (PP_ELIMIT), duplicate object keys and syntax errors (PP_EPARSE, with line and
 * column in e).  `what` names the source in messages ("scenario small.json").  On success *out
 * is a new reference the caller must json_decref.
 */
int jsonx_load(const char *data, size_t len, size_t max_len, int max_depth, const char *what,
               json_t **out, struct err *e);
/* Read and parse a file with jsonx_load's rules. */
int jsonx_load_file(const char *path, size_t max_len, int max_depth, json_t **out, struct err *e);
/* Nesting depth of v (a scalar is 0). */
int jsonx_depth(const json_t *v);

/* Borrowed string member, or def when absent or not a string. */
const char *jsonx_str(const json_t *obj, const char *key, const char *def);
/* Integer member, or def when absent or not an integer. */
int64_t jsonx_int(const json_t *obj, const char *key, int64_t def);
/* Number member (integer or real), or def. */
double jsonx_num(const json_t *obj, const char *key, double def);
/* Boolean member, or def. */
bool jsonx_bool(const json_t *obj, const char *key, bool def);

/*
 * 0 when o is an object whose every member is named in keys (NULL-terminated); else PP_EINVAL
 * with e naming "PATH: expected an object" or "PATH.KEY: unknown field" (the first unknown one).
 */
int jsonx_check_keys(const json_t *o, const char *const *keys, const char *path, struct err *e);

/* Append the compact (flags = 0) or given jansson dump flags encoding of v to b. */
void jsonx_dump(struct buf *b, const json_t *v, size_t flags);

#endif
