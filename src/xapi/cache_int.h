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
