/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the per-pool object cache fed by event.from: class -> ref -> record.  Applying a
 * batch is pure (no I/O): an "add"/"mod" event stores its snapshot, "del" removes the object,
 * and a reset (the reply to token "") replaces everything, so objects deleted while the stream
 * was down disappear too.  Class names are compared case-insensitively (xapi writes them in
 * lower case in events: "vm", "host_metrics").  An answer is first staged whole (struct
 * xapi_batch: checked, records built) from a decoded value or straight from JSON-RPC bytes
 * (evjson.c), then committed, which cannot fail: a refused answer changes nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "xapi/cache_int.h"
#include "xapi/client_int.h"

struct cclass {
    char *name;    /* lower case */
    char **fields; /* sorted; the fields kept of each record, NULL = all */
    size_t n_fields;
    struct xapi_crec **buckets;
    size_t nbuckets, count;
    size_t bytes;     /* the records' blocks */
    size_t pending;   /* adds / mods counted while a batch is checked */
    uint64_t changes; /* records stored, removed, or the class reset: xapi__cache_changes */
    struct cclass *next;
};

struct xapi_cache {
    struct cclass *classes;
    struct xapi_itab strings; /* interned names, refs, strings, shared values, name lists */
    size_t max_objects;       /* of one class: XAPI_CACHE_MAX_OBJECTS unless a test set it */
    char *token;
    uint64_t changes; /* every class's changes: xapi__cache_changes with cls NULL */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct xapi_cache *xapi__cache_new(void)
{
    struct xapi_cache *k = xcalloc(1, sizeof(*k));
    k->token = xstrdup("");
    k->max_objects = XAPI_CACHE_MAX_OBJECTS;
    return k;
}

static void class_clear(struct xapi_cache *k, struct cclass *c)
{
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct xapi_crec *e = c->buckets[i];
        while (e) {
            struct xapi_crec *n = e->next;
            xapi__crec_free(&k->strings, e);
            e = n;
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
    c->bytes = 0;
}

void xapi__cache_free(struct xapi_cache *k)
{
    if (!k)
        return;
    struct cclass *c = k->classes;
    while (c) {
        struct cclass *n = c->next;
        class_clear(k, c);
        for (size_t i = 0; i < c->n_fields; i++)
            free(c->fields[i]);
        free(c->fields);
        free(c->buckets);
        free(c->name);
        free(c);
        c = n;
    }
    xapi__itab_clear(&k->strings);
    free(k->token);
    free(k);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether class ctx keeps member name of its records. */
static bool class_keeps(const void *ctx, const char *name)
{
    const struct cclass *c = ctx;
    return bsearch(&name, c->fields, c->n_fields, sizeof(char *), cmp_str) != NULL;
}

static struct cclass *class_find(const struct xapi_cache *k, const char *name)
{
    for (struct cclass *c = k->classes; c; c = c->next)
        if (strcasecmp(c->name, name) == 0)
            return c;
    return NULL;
}

static struct cclass *class_get(struct xapi_cache *k, const char *name)
{
    struct cclass *c = class_find(k, name);
    if (c)
        return c;
    c = xcalloc(1, sizeof(*c));
    c->name = xstrdup(name);
    for (char *p = c->name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    c->nbuckets = 64;
    c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
    c->next = k->classes;
    k->classes = c;
    return c;
}

static void class_grow(struct cclass *c)
{
    size_t nb = c->nbuckets * 2;
    struct xapi_crec **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct xapi_crec *e = c->buckets[i];
        while (e) {
            struct xapi_crec *n = e->next;
            size_t j = hash_str(e->ref) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = n;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

static struct xapi_crec **slot_of(struct cclass *c, const char *ref)
{
    struct xapi_crec **pp = &c->buckets[hash_str(ref) & (c->nbuckets - 1)];
    while (*pp && strcmp((*pp)->ref, ref) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void class_del(struct xapi_cache *k, struct cclass *c, const char *ref)
{
    struct xapi_crec **pp = slot_of(c, ref);
    if (!*pp)
        return;
    struct xapi_crec *e = *pp;
    *pp = e->next;
    c->bytes -= e->size;
    c->count--;
    xapi__crec_free(&k->strings, e);
}

/* Keep only fields of class cls's records stored from now on (see client_int.h). */
void xapi__cache_set_fields(struct xapi_cache *k, const char *cls, const char *const *fields)
{
    struct cclass *c = class_get(k, cls);
    size_t n = 0;
    while (fields && fields[n])
        n++;
    c->fields = xreallocarray(c->fields, c->n_fields + n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->fields[c->n_fields++] = xstrdup(fields[i]);
    qsort(c->fields, c->n_fields, sizeof(char *), cmp_str);
}

/* ---- staged batches ---- */

struct bev {
    const char *cls, *ref; /* interned in the cache's table */
    enum xapi_bop op;
    struct xapi_crec *rec; /* add / mod until the commit */
};

/* A class the batch names that the cache does not hold yet (created by the commit). */
struct bnew {
    const char *name; /* interned */
    size_t pending;
};

struct xapi_batch {
    struct xapi_cache *k;
    bool reset;
    struct VEC(struct bev) ev;
    struct bnew fresh[XAPI_CACHE_MAX_CLASSES];
    size_t n_fresh;
    char *token;
};

/* See cache_int.h. */
struct xapi_batch *xapi__batch_new(struct xapi_cache *k, bool reset)
{
    struct xapi_batch *b = xcalloc(1, sizeof(*b));
    b->k = k;
    b->reset = reset;
    return b;
}

/* See cache_int.h. */
void xapi__batch_free(struct xapi_batch *b)
{
    if (!b)
        return;
    struct xapi_itab *t = &b->k->strings;
    for (size_t i = 0; i < b->ev.n; i++) {
        xapi__crec_free(t, b->ev.items[i].rec);
        xapi__itab_put(t, b->ev.items[i].cls);
        xapi__itab_put(t, b->ev.items[i].ref);
    }
    vec_free(&b->ev);
    for (size_t i = 0; i < b->n_fresh; i++)
        xapi__itab_put(t, b->fresh[i].name);
    for (struct cclass *c = b->k->classes; c; c = c->next)
        c->pending = 0;
    free(b->token);
    free(b);
}

/* The pending count of class cls for b: an existing class's, or a new one's (added when new);
 * NULL with e when the cache would pass XAPI_CACHE_MAX_CLASSES. */
static size_t *batch_pending(struct xapi_batch *b, const char *cls, struct cclass *c, struct err *e)
{
    if (c)
        return &c->pending;
    for (size_t i = 0; i < b->n_fresh; i++)
        if (strcasecmp(b->fresh[i].name, cls) == 0)
            return &b->fresh[i].pending;
    size_t n = b->n_fresh;
    for (c = b->k->classes; c; c = c->next)
        n++;
    if (n >= XAPI_CACHE_MAX_CLASSES) {
        err_set(e, PP_ELIMIT, "event.from: more than %u classes (class '%.80s')",
                XAPI_CACHE_MAX_CLASSES, cls);
        return NULL;
    }
    struct bnew *f = &b->fresh[b->n_fresh++];
    f->name = xapi__itab_get(&b->k->strings, cls, strlen(cls));
    f->pending = 0;
    return &f->pending;
}

/* See cache_int.h. */
int xapi__batch_add(struct xapi_batch *b, size_t i, const char *cls, const char *op,
                    const char *ref, const struct xapi_value *snap, struct err *e)
{
    if (!cls || !op || !ref || !*cls)
        return err_set(e, PP_EPARSE, "event.from: event %zu lacks class, operation or ref", i);
    struct cclass *c = class_find(b->k, cls);
    size_t *pending = batch_pending(b, cls, c, e);
    if (!pending)
        return e->code;
    enum xapi_bop bop = XAPI_BOP_DEL;
    struct xapi_crec *rec = NULL;
    if (strcmp(op, "del") != 0) {
        if (strcmp(op, "add") != 0 && strcmp(op, "mod") != 0)
            return err_set(e, PP_EPARSE, "event.from: unknown operation '%.40s'", op);
        if (!snap || snap->type != XAPI_STRUCT)
            return err_set(e, PP_EPARSE, "event.from: %s of %.80s %.80s has no snapshot", op, cls,
                           ref);
        bool keep = c && c->fields;
        size_t size = xapi__crec_size(snap, keep ? class_keeps : NULL, c);
        if (size > XAPI_CACHE_MAX_REC_BYTES)
            return err_set(e, PP_ELIMIT,
                           "event.from: the record of %.80s %.80s takes %zu bytes (at "
                           "most %u)",
                           cls, ref, size, XAPI_CACHE_MAX_REC_BYTES);
        rec = xapi__crec_new(&b->k->strings, ref, snap, keep ? class_keeps : NULL, c, e);
        if (!rec) /* not reached: the size was checked */
            return e->code;
        bop = op[0] == 'a' ? XAPI_BOP_ADD : XAPI_BOP_MOD;
        (*pending)++;
    }
    struct xapi_itab *t = &b->k->strings;
    vec_push(&b->ev, ((struct bev){xapi__itab_get(t, cls, strlen(cls)),
                                   xapi__itab_get(t, ref, strlen(ref)), bop, rec}));
    return 0;
}

/* See cache_int.h. */
int xapi__batch_finish(struct xapi_batch *b, const char *token, struct err *e)
{
    struct xapi_cache *k = b->k;
    int rc = 0;
    for (struct cclass *c = k->classes; c; c = c->next) {
        if (rc == 0 && (b->reset ? 0 : c->count) + c->pending > k->max_objects)
            rc = err_set(e, PP_ELIMIT, "event.from: more than %zu objects of class %s",
                         k->max_objects, c->name);
        c->pending = 0; /* the counts are this batch's: another may be built while it waits */
    }
    for (size_t i = 0; i < b->n_fresh && rc == 0; i++)
        if (b->fresh[i].pending > k->max_objects)
            rc = err_set(e, PP_ELIMIT, "event.from: more than %zu objects of class %s",
                         k->max_objects, b->fresh[i].name);
    if (rc != 0)
        return rc;
    free(b->token);
    b->token = xstrdup(token);
    return 0;
}

/* See cache_int.h. */
int xapi__batch_from_value(struct xapi_cache *k, const struct xapi_value *result, bool reset,
                           struct xapi_batch **out, struct err *e)
{
    *out = NULL;
    if (!result || result->type != XAPI_STRUCT)
        return err_set(e, PP_EPARSE, "event.from: result is not a struct");
    const struct xapi_value *events = xapi_struct_get(result, "events");
    const char *token = xapi_struct_str(result, "token", NULL);
    if (!events || events->type != XAPI_ARRAY || !token)
        return err_set(e, PP_EPARSE, "event.from: result lacks events or token");
    struct xapi_batch *b = xapi__batch_new(k, reset);
    int rc = 0;
    size_t n = xapi_array_len(events);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct xapi_value *ev = xapi_array_get(events, i);
        rc = xapi__batch_add(b, i, xapi_struct_str(ev, "class", NULL),
                             xapi_struct_str(ev, "operation", NULL),
                             xapi_struct_str(ev, "ref", NULL), xapi_struct_get(ev, "snapshot"), e);
    }
    if (rc == 0)
        rc = xapi__batch_finish(b, token, e);
    if (rc != 0) {
        xapi__batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* See cache_int.h. */
size_t xapi__batch_len(const struct xapi_batch *b)
{
    return b->ev.n;
}

/* See cache_int.h. */
void xapi__batch_event(const struct xapi_batch *b, size_t i, const char **cls, const char **ref,
                       enum xapi_bop *op, const struct xapi_value **rec)
{
    const struct bev *v = &b->ev.items[i];
    *cls = v->cls;
    *ref = v->ref;
    *op = v->op;
    *rec = v->rec ? &v->rec->rec : NULL;
}

/* See cache_int.h. */
struct xapi_cache *xapi__batch_cache(const struct xapi_batch *b)
{
    return b->k;
}

/* See cache_int.h. */
bool xapi__batch_reset(const struct xapi_batch *b)
{
    return b->reset;
}

/* Store r (ref's new record, taken) in class c, replacing the one there. */
static void class_put(struct cclass *c, struct xapi_itab *t, struct xapi_crec *r)
{
    struct xapi_crec **pp = slot_of(c, r->ref);
    if (*pp) {
        struct xapi_crec *old = *pp;
        r->next = old->next;
        *pp = r;
        c->bytes += r->size - old->size;
        xapi__crec_free(t, old);
        return;
    }
    if (c->count + 1 > c->nbuckets) {
        class_grow(c);
        pp = slot_of(c, r->ref);
    }
    r->next = NULL;
    *pp = r;
    c->count++;
    c->bytes += r->size;
}

/* See cache_int.h. */
void xapi__cache_commit(struct xapi_cache *k, struct xapi_batch *b)
{
    if (b->reset || b->ev.n > 0)
        xapi__changed(); /* xapi_change_count (client.h): the changes counted below */
    if (b->reset)
        for (struct cclass *c = k->classes; c; c = c->next) {
            class_clear(k, c);
            c->changes++;
            k->changes++;
        }
    for (size_t i = 0; i < b->ev.n; i++) {
        struct bev *v = &b->ev.items[i];
        struct cclass *c = class_get(k, v->cls);
        c->changes++;
        k->changes++;
        if (v->op == XAPI_BOP_DEL) {
            class_del(k, c, v->ref);
        } else {
            class_put(c, &k->strings, v->rec);
            v->rec = NULL;
        }
    }
    free(k->token);
    k->token = xstrdup(b->token ? b->token : "");
}

int xapi__cache_apply(struct xapi_cache *k, const struct xapi_value *result, bool reset,
                      struct err *e)
{
    struct xapi_batch *b = NULL;
    int rc = xapi__batch_from_value(k, result, reset, &b, e);
    if (rc != 0)
        return rc;
    xapi__cache_commit(k, b);
    xapi__batch_free(b);
    return 0;
}

/* See cache_int.h. */
xapi_crec_keep_fn xapi__cache_keep_fn(const struct xapi_cache *k, const char *cls, const void **ctx)
{
    const struct cclass *c = class_find(k, cls);
    *ctx = c;
    return c && c->fields ? class_keeps : NULL;
}

/* See cache_int.h. */
size_t xapi__cache_interned(const struct xapi_cache *k)
{
    return xapi__itab_count(&k->strings);
}

/* See cache_int.h. */
void xapi__cache_class_stats(const struct xapi_cache *k, const char *cls, size_t *count,
                             size_t *bytes)
{
    const struct cclass *c = class_find(k, cls);
    *count = c ? c->count : 0;
    *bytes = c ? c->bytes : 0;
}

/* See cache_int.h. */
void xapi__cache_shared(const struct xapi_cache *k, struct xapi_cache_shared *out)
{
    const struct xapi_itab *t = &k->strings;
    *out = (struct xapi_cache_shared){t->strs.count, t->strs.bytes,   t->vals.count,
                                      t->vals.bytes, t->shapes.count, t->shapes.bytes};
}

/* See cache_int.h. */
void xapi__cache_set_max_objects(struct xapi_cache *k, size_t n)
{
    k->max_objects = n;
}

/* See client_int.h. */
size_t xapi__cache_bytes(const struct xapi_cache *k)
{
    size_t b = sizeof(*k) + xapi__itab_bytes(&k->strings);
    for (const struct cclass *c = k->classes; c; c = c->next)
        b += sizeof(*c) + c->bytes + c->nbuckets * sizeof(*c->buckets);
    return b;
}

const char *xapi__cache_token(const struct xapi_cache *k)
{
    return k->token;
}

void xapi__cache_set_token(struct xapi_cache *k, const char *token)
{
    free(k->token);
    k->token = xstrdup(token ? token : "");
}

const struct xapi_value *xapi__cache_get(const struct xapi_cache *k, const char *cls,
                                         const char *ref)
{
    struct cclass *c = class_find(k, cls);
    if (!c || !ref)
        return NULL;
    struct xapi_crec **pp = slot_of(c, ref);
    return *pp ? &(*pp)->rec : NULL;
}

uint64_t xapi__cache_changes(const struct xapi_cache *k, const char *cls)
{
    if (!cls)
        return k->changes;
    const struct cclass *c = class_find(k, cls);
    return c ? c->changes : 0;
}

size_t xapi__cache_count(const struct xapi_cache *k, const char *cls)
{
    struct cclass *c = class_find(k, cls);
    return c ? c->count : 0;
}

void xapi__cache_foreach(const struct xapi_cache *k, const char *cls,
                         bool (*fn)(void *ctx, const char *ref, const struct xapi_value *rec),
                         void *ctx)
{
    struct cclass *c = class_find(k, cls);
    if (!c)
        return;
    for (size_t i = 0; i < c->nbuckets; i++)
        for (struct xapi_crec *e = c->buckets[i]; e; e = e->next)
            if (!fn(ctx, e->ref, &e->rec))
                return;
}
