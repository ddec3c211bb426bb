/* SPDX-License-Identifier: MIT */
/*
 * cache_int.h - the object cache's compact records (cache_rec.c), shared by cache.c and its unit
 * tests.  A cached record is one heap block: the struct xapi_value root the callers read, its
 * member values, and the nodes and strings of the values that are the record's own (those
 * holding a ref or a long string: uuids, VBD lists...).  Every other member value (numbers,
 * booleans, enums, OpaqueRef:NULL, empty maps, lists of operations) points to one shared copy
 * per cache, and the list of member names is shared by every record with the same names (the
 * fixed slots of a class).  Member names, refs and short strings are interned in the cache's
 * string table.  Each distinct string, shared value and list of names is stored once with a
 * count of its users.  A bench-16 pool's cache: ~1.5 MB with a block per record, ~0.6 MB with
 * shared values (docs/performance.md, "Memory").
 *
 * Ownership: the tables own their entries; a record holds one reference per interned string,
 * shared value and name list it points to and gives them back in xapi__crec_free.  Not
 * thread-safe: the cache's owner's thread.
 */
#ifndef PP_XAPI_CACHE_INT_H
#define PP_XAPI_CACHE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xapi/value.h"

/* Strings interned regardless of length: refs ("OpaqueRef:..."); others up to this length. */
#define XAPI_INTERN_SHORT 24
/* Limits on what one pool may make the cache hold (hostile or broken pools). */
#define XAPI_CACHE_MAX_OBJECTS   (1u << 20)  /* objects of one class */
#define XAPI_CACHE_MAX_REC_BYTES (16u << 20) /* one record's block */
#define XAPI_CACHE_MAX_CLASSES   64u         /* distinct classes */

struct xapi_hent;

/* A hash table of reference-counted entries. */
struct xapi_htab {
    struct xapi_hent **buckets;
    size_t nbuckets, count;
    size_t bytes; /* heap held by the entries and buckets (for xapi__cache_bytes) */
};

/* The cache's interned data: strings, shared values, shared lists of member names. */
struct xapi_itab {
    struct xapi_htab strs, vals, shapes;
};

/* Intern s[0..len) (a new reference); the result lives until its last xapi__itab_put. */
const char *xapi__itab_get(struct xapi_itab *t, const char *s, size_t len);
/* Give back one reference to an interned string (the pointer xapi__itab_get returned). */
void xapi__itab_put(struct xapi_itab *t, const char *s);
/* Number of entries held: distinct strings, shared values and lists of member names. */
size_t xapi__itab_count(const struct xapi_itab *t);
/* Heap bytes the entries and their buckets hold. */
size_t xapi__itab_bytes(const struct xapi_itab *t);
/* Free every entry (the records pointing into t must be gone). */
void xapi__itab_clear(struct xapi_itab *t);

/* One cached object: its ref (interned) and its record, in one block with the record's tree. */
struct xapi_crec {
    struct xapi_crec *next; /* the class's hash chain */
    const char *ref;        /* interned */
    size_t size;            /* bytes of this block */
    struct xapi_value rec;  /* the root (a struct); the rest of the tree follows in the block */
};

/* keep(ctx, name): whether the root member name is stored (NULL keep = every member). */
typedef bool (*xapi_crec_keep_fn)(const void *ctx, const char *name);

/* Bytes of snap (a struct) with keep as one block of its own, shared values counted in full:
 * the measure XAPI_CACHE_MAX_REC_BYTES bounds. */
size_t xapi__crec_size(const struct xapi_value *snap, xapi_crec_keep_fn keep, const void *keep_ctx);
/*
 * The compact copy of record snap (a struct) for ref, interning names, refs and short strings
 * in t.  Returns NULL with e (PP_ELIMIT) when the block would pass XAPI_CACHE_MAX_REC_BYTES.
 */
struct xapi_crec *xapi__crec_new(struct xapi_itab *t, const char *ref,
                                 const struct xapi_value *snap, xapi_crec_keep_fn keep,
                                 const void *keep_ctx, struct err *e);
/* Free r, giving back its interned strings to t.  NULL is a no-op. */
void xapi__crec_free(struct xapi_itab *t, struct xapi_crec *r);

struct xapi_cache;

/*
 * A staged event.from answer: its events checked against the cache's limits and their records
 * already built in the compact form (interned in the cache's tables), but not yet in the cache.
 * Built from a decoded value (xapi__batch_from_value: the XML-RPC and in-process route) or
 * straight from JSON-RPC bytes (xapi__batch_from_json, evjson.c); xapi__cache_commit puts it in
 * the cache and cannot fail, so a refused answer leaves the cache exactly as it was.
 * Ownership: the batch owns its records until the commit; it must be freed (xapi__batch_free)
 * before its cache.  Not thread-safe: the cache's owner's thread.
 */
struct xapi_batch;
enum xapi_bop { XAPI_BOP_ADD, XAPI_BOP_MOD, XAPI_BOP_DEL };
/* A new empty batch for k (reset: the answer to token "", which replaces every object). */
struct xapi_batch *xapi__batch_new(struct xapi_cache *k, bool reset);
/*
 * Check event i (class cls, operation op, ref, snapshot snap; NULL for what it lacks or holds
 * as another type than a string) as xapi__cache_apply would and stage it: the record of an add
 * or mod is built now (only the class's kept fields of snap).  Returns 0, or PP_EPARSE /
 * PP_ELIMIT with e (the batch must then be freed, not committed).
 */
int xapi__batch_add(struct xapi_batch *b, size_t i, const char *cls, const char *op,
                    const char *ref, const struct xapi_value *snap, struct err *e);
/* The last check (objects per class) and the answer's token (copied).  0 or PP_ELIMIT. */
int xapi__batch_finish(struct xapi_batch *b, const char *token, struct err *e);
/* The batch of an event.from result value ({events:[...], token}): add + finish. */
int xapi__batch_from_value(struct xapi_cache *k, const struct xapi_value *result, bool reset,
                           struct xapi_batch **out, struct err *e);
/* Events staged, and event i: class and ref as sent, operation, and the staged record (NULL
 * for del; only the class's kept fields).  Valid until the commit. */
size_t xapi__batch_len(const struct xapi_batch *b);
void xapi__batch_event(const struct xapi_batch *b, size_t i, const char **cls, const char **ref,
                       enum xapi_bop *op, const struct xapi_value **rec);
bool xapi__batch_reset(const struct xapi_batch *b);
/* The cache b was made for (borrowed). */
struct xapi_cache *xapi__batch_cache(const struct xapi_batch *b);
/* Put a finished batch in the cache (records moved in, token stored).  Never fails; b stays
 * to be freed. */
void xapi__cache_commit(struct xapi_cache *k, struct xapi_batch *b);
/* Free b and the records it still owns; NULL is a no-op. */
void xapi__batch_free(struct xapi_batch *b);
/* The filter of class cls's records in k: the keep function (NULL = every field) and its
 * context. */
xapi_crec_keep_fn xapi__cache_keep_fn(const struct xapi_cache *k, const char *cls,
                                      const void **ctx);

/*
 * The straight route (evjson.c).  Limits of an event.from answer beyond struct xapi_limits:
 * events in one answer, members of one object or items of one array.
 */
#define XAPI_EVJSON_MAX_EVENTS  (1u << 22)
#define XAPI_EVJSON_MAX_MEMBERS (1u << 20)
struct xapi_limits;
/*
 * Scan a whole JSON-RPC response body (untrusted): syntax, UTF-8, escapes, duplicate member
 * names, nesting, string, item and size limits, the envelope ("jsonrpc", "id").  Returns 0 when
 * it is a success whose "result" is the bytes [*off, *off + *len) of data (nothing is built);
 * 1 when it is an error answer (decode it with xapi_jsonrpc_decode_response); PP_EPARSE /
 * PP_ELIMIT with e naming the byte offset and what is wrong.  Pure, thread-safe.
 */
int xapi__evjson_scan(const char *data, size_t len, const struct xapi_limits *lim, size_t *off,
                      size_t *rlen, struct err *e);
/*
 * Decode an event.from result (JSON text data[0..len), found at byte base of its body, for the
 * messages) straight into a finished batch of k: no tree of the answer is built, each record's
 * kept fields go from the bytes to its compact record.  Same checks and outcome as
 * xapi_jsonrpc_decode_response + xapi__batch_from_value, plus the limits above.  Returns 0 and
 * *out, or PP_EPARSE / PP_ELIMIT with e (byte offset, what) and *out NULL; k is unchanged either
 * way until xapi__cache_commit.
 */
int xapi__batch_from_json(struct xapi_cache *k, const char *data, size_t len, size_t base,
                          const struct xapi_limits *lim, bool reset, struct xapi_batch **out,
                          struct err *e);

/* Entries interned by cache k: strings, shared values, name lists (0 once it holds no record). */
size_t xapi__cache_interned(const struct xapi_cache *k);
/* Objects of class cls in k and the bytes of their records' blocks (shared values apart). */
void xapi__cache_class_stats(const struct xapi_cache *k, const char *cls, size_t *count,
                             size_t *bytes);
/* What k's shared tables hold: entries and heap bytes of each (strings, values, name lists). */
struct xapi_cache_shared {
    size_t strs, strs_bytes, vals, vals_bytes, shapes, shapes_bytes;
};
void xapi__cache_shared(const struct xapi_cache *k, struct xapi_cache_shared *out);
/* Lower k's limit on objects of one class (tests); XAPI_CACHE_MAX_OBJECTS by default. */
void xapi__cache_set_max_objects(struct xapi_cache *k, size_t n);

#endif
