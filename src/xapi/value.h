/* SPDX-License-Identifier: MIT */
/*
 * value.h - the one value model of XAPI's wire protocols, shared by the XML-RPC and JSON-RPC
 * codecs, the client and the simulator.
 *
 * Types follow xapi's (docs/reference/xapi.md section 1): string (also refs "OpaqueRef:...",
 * "OpaqueRef:NULL" and enums), int (int64), double, bool, datetime ("YYYYMMDDTHH:MM:SSZ"),
 * array (sets), struct (maps and records), and void (an empty <value></value> / "").
 *
 * Over XML-RPC xapi sends int64 as a bare string, so a decoded value may be XAPI_STRING where the
 * datamodel says int; the xapi_value_as_* accessors accept both forms.  Over JSON a datetime is a
 * string; xapi_value_as_datetime accepts both.
 *
 * Ownership: a value owns its children.  Functions named *_take take ownership of the value
 * passed; getters borrow.  xapi_value_free(NULL) is a no-op.  Not thread-safe: one owner.
 */
#ifndef PP_XAPI_VALUE_H
#define PP_XAPI_VALUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;

enum xapi_type {
    XAPI_VOID = 0,
    XAPI_STRING,
    XAPI_INT,
    XAPI_DOUBLE,
    XAPI_BOOL,
    XAPI_DATETIME,
    XAPI_ARRAY,
    XAPI_STRUCT
};

/* 32 bytes: the object cache holds one per field of every record (cache_int.h).  Counts are
 * 32-bit: the decoders' limits keep documents far below 2^32 values. */
struct xapi_value {
    enum xapi_type type;
    bool i4; /* INT that xapi types int32 (event.from valid_ref_counts): XML-RPC <i4> */
    union {
        char *s; /* STRING, DATETIME (NUL-terminated, owned) */
        int64_t i;
        double d;
        bool b;
        struct {
            struct xapi_value **items;
            uint32_t n, cap;
        } arr;
        struct {
            char **keys; /* owned; order of insertion is kept */
            struct xapi_value **vals;
            uint32_t n, cap;
        } st;
    } u;
};

#define XAPI_NULL_REF "OpaqueRef:NULL"

/* Constructors: never return NULL (abort on out-of-memory). */
struct xapi_value *xapi_value_new_void(void);
struct xapi_value *xapi_value_new_string(const char *s); /* copies s; NULL gives "" */
struct xapi_value *xapi_value_new_stringn(const char *s, size_t n);
struct xapi_value *xapi_value_new_int(int64_t i);
struct xapi_value *xapi_value_new_double(double d);
struct xapi_value *xapi_value_new_bool(bool b);
struct xapi_value *xapi_value_new_datetime(const char *s);   /* "YYYYMMDDTHH:MM:SSZ", copied */
struct xapi_value *xapi_value_new_datetime_ms(int64_t t_ms); /* formatted from epoch ms */
struct xapi_value *xapi_value_new_array(void);
struct xapi_value *xapi_value_new_struct(void);

/* Deep copy. */
struct xapi_value *xapi_value_dup(const struct xapi_value *v);
/* Free v and its children; NULL is a no-op. */
void xapi_value_free(struct xapi_value *v);
/* Deep equality (same types; struct member order ignored; doubles compared exactly). */
bool xapi_value_equal(const struct xapi_value *a, const struct xapi_value *b);

/* Arrays: append takes ownership of item. */
void xapi_array_append_take(struct xapi_value *arr, struct xapi_value *item);
size_t xapi_array_len(const struct xapi_value *arr); /* 0 when not an array */
const struct xapi_value *xapi_array_get(const struct xapi_value *arr, size_t i); /* borrowed */
/* Convenience: append a copied string. */
void xapi_array_append_string(struct xapi_value *arr, const char *s);

/* Structs: set replaces an existing member of the same key, taking ownership of val. */
void xapi_struct_set_take(struct xapi_value *st, const char *key, struct xapi_value *val);
/* Append a member without looking for an existing key (the caller knows it is new, e.g. when
 * copying a jansson object); takes ownership of key (heap string) and val. */
void xapi_struct_append_take(struct xapi_value *st, char *key, struct xapi_value *val);
/* Number of members; 0 when not a struct.  Members are st->u.st.keys[i] / vals[i]. */
size_t xapi_struct_len(const struct xapi_value *st);
/* Borrowed member or NULL. */
const struct xapi_value *xapi_struct_get(const struct xapi_value *st, const char *key);
/* Mutable borrowed member or NULL. */
struct xapi_value *xapi_struct_get_mut(struct xapi_value *st, const char *key);
/* Remove a member; returns true when it existed. */
bool xapi_struct_remove(struct xapi_value *st, const char *key);
/* Convenience setters (copy their argument). */
void xapi_struct_set_string(struct xapi_value *st, const char *key, const char *s);
void xapi_struct_set_int(struct xapi_value *st, const char *key, int64_t i);
void xapi_struct_set_bool(struct xapi_value *st, const char *key, bool b);

/*
 * Lenient accessors that follow xapi's wire quirks.  Each returns 0 and stores the result, or
 * PP_EINVAL when v is NULL or of an incompatible type.
 *   as_int:      INT, or STRING holding a whole decimal int64 (XML-RPC int64-as-string).
 *   as_double:   DOUBLE or INT, or a STRING holding a number.
 *   as_bool:     BOOL, or STRING "true"/"false"/"1"/"0".
 *   as_datetime: DATETIME or STRING in xapi's date forms; result in epoch ms.
 */
int xapi_value_as_int(const struct xapi_value *v, int64_t *out);
int xapi_value_as_double(const struct xapi_value *v, double *out);
int xapi_value_as_bool(const struct xapi_value *v, bool *out);
int xapi_value_as_datetime(const struct xapi_value *v, int64_t *t_ms);
/* Borrowed string of a STRING or DATETIME value ("" for VOID: a void is "" on the wire), else
 * NULL. */
const char *xapi_value_str(const struct xapi_value *v);
/* True for VOID and for the empty STRING: the decoders cannot tell them apart (an XML-RPC
 * <value></value> and a JSON "" are both), so test void results with this. */
bool xapi_value_is_void(const struct xapi_value *v);

/* Struct member shortcuts: borrowed string or def; int / bool or def. */
const char *xapi_struct_str(const struct xapi_value *st, const char *key, const char *def);
int64_t xapi_struct_int(const struct xapi_value *st, const char *key, int64_t def);
bool xapi_struct_bool(const struct xapi_value *st, const char *key, bool def);

/* Name of a type ("string", "int", ...). */
const char *xapi_type_name(enum xapi_type t);

/*
 * JSON mapping used by JSON-RPC: strings, refs and datetimes are JSON strings, int is a JSON
 * integer, double a real, bool, array, object; void is "".  xapi_value_from_json maps JSON
 * strings to XAPI_STRING (dates cannot be told from strings on this wire).  Returns a new value /
 * new reference; never NULL.
 */
json_t *xapi_value_to_json(const struct xapi_value *v);
struct xapi_value *xapi_value_from_json(const json_t *j);

/* Append a short human-readable rendering (for logs, the CLI and test failures). */
void xapi_value_dump(struct buf *b, const struct xapi_value *v);

#endif
