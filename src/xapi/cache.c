/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the per-pool object cache fed by event.from: class -> ref -> record.  Applying a
 * batch is pure (no I/O): an "add"/"mod" event stores its snapshot, "del" removes the object,
 * and a reset (the reply to token "") replaces everything, so objects deleted while the stream
 * was down disappear too.  Class names are compared case-insensitively (xapi writes them in
 * lower case in events: "vm", "host_metrics").
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/str.h"
#include "xapi/cache_int.h"
#include "xapi/client_int.h"

struct cclass {
    char *name;    /* lower case */
    char **fields; /* sorted; the fields kept of each record, NULL = all */
    size_t n_fields;
    struct xapi_crec **buckets;
    size_t nbuckets, count;
    size_t bytes;   /* the records' blocks */
    size_t pending; /* adds / mods counted while a batch is checked */
    struct cclass *next;
};

struct xapi_cache {
    struct cclass *classes;
    struct xapi_itab strings; /* interned names, refs, strings, shared values, name lists */
    size_t max_objects;       /* of one class: XAPI_CACHE_MAX_OBJECTS unless a test set it */
    char *token;
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

/* Store snap as ref's record (replacing the one there); the new one is built before the old is
 * freed, so the strings both hold stay interned. */
static int class_put(struct xapi_cache *k, struct cclass *c, const char *ref,
                     const struct xapi_value *snap, struct err *e)
{
    struct xapi_crec *r =
        xapi__crec_new(&k->strings, ref, snap, c->fields ? class_keeps : NULL, c, e);
    if (!r)
        return e->code;
    struct xapi_crec **pp = slot_of(c, ref);
    if (*pp) {
        struct xapi_crec *old = *pp;
        r->next = old->next;
        *pp = r;
        c->bytes += r->size - old->size;
        xapi__crec_free(&k->strings, old);
        return 0;
    }
    if (c->count + 1 > c->nbuckets) {
        class_grow(c);
        pp = slot_of(c, ref);
    }
    *pp = r;
    c->count++;
    c->bytes += r->size;
    return 0;
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

/* The class of event ev in a batch being checked, created when new; NULL with e when the cache
 * has XAPI_CACHE_MAX_CLASSES already. */
static struct cclass *class_for_event(struct xapi_cache *k, const char *cls, struct err *e)
{
    struct cclass *c = class_find(k, cls);
    if (c)
        return c;
    size_t n = 0;
    for (c = k->classes; c; c = c->next)
        n++;
    if (n >= XAPI_CACHE_MAX_CLASSES) {
        err_set(e, PP_ELIMIT, "event.from: more than %u classes (class '%.80s')",
                XAPI_CACHE_MAX_CLASSES, cls);
        return NULL;
    }
    return class_get(k, cls);
}

/* Check one event (index i) of a batch; counts its add / mod in its class's pending. */
static int check_event(struct xapi_cache *k, const struct xapi_value *ev, size_t i, struct err *e)
{
    const char *cls = xapi_struct_str(ev, "class", NULL);
    const char *op = xapi_struct_str(ev, "operation", NULL);
    const char *ref = xapi_struct_str(ev, "ref", NULL);
    if (!cls || !op || !ref || !*cls)
        return err_set(e, PP_EPARSE, "event.from: event %zu lacks class, operation or ref", i);
    struct cclass *c = class_for_event(k, cls, e);
    if (!c)
        return e->code;
    if (strcmp(op, "del") == 0)
        return 0;
    const struct xapi_value *snap = xapi_struct_get(ev, "snapshot");
    if (strcmp(op, "add") != 0 && strcmp(op, "mod") != 0)
        return err_set(e, PP_EPARSE, "event.from: unknown operation '%.40s'", op);
    if (!snap || snap->type != XAPI_STRUCT)
        return err_set(e, PP_EPARSE, "event.from: %s of %.80s %.80s has no snapshot", op, cls, ref);
    size_t size = xapi__crec_size(snap, c->fields ? class_keeps : NULL, c);
    if (size > XAPI_CACHE_MAX_REC_BYTES)
        return err_set(e, PP_ELIMIT,
                       "event.from: the record of %.80s %.80s takes %zu bytes (at "
                       "most %u)",
                       cls, ref, size, XAPI_CACHE_MAX_REC_BYTES);
    c->pending++;
    return 0;
}

/* Check a batch of events whole, so that a bad one leaves the cache as it was. */
static int check_batch(struct xapi_cache *k, const struct xapi_value *events, bool reset,
                       struct err *e)
{
    int rc = 0;
    size_t n = xapi_array_len(events);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = check_event(k, xapi_array_get(events, i), i, e);
    for (struct cclass *c = k->classes; c; c = c->next) {
        if (rc == 0 && (reset ? 0 : c->count) + c->pending > k->max_objects)
            rc = err_set(e, PP_ELIMIT, "event.from: more than %zu objects of class %s",
                         k->max_objects, c->name);
        c->pending = 0;
    }
    return rc;
}

int xapi__cache_apply(struct xapi_cache *k, const struct xapi_value *result, bool reset,
                      struct err *e)
{
    if (!result || result->type != XAPI_STRUCT)
        return err_set(e, PP_EPARSE, "event.from: result is not a struct");
    const struct xapi_value *events = xapi_struct_get(result, "events");
    const char *token = xapi_struct_str(result, "token", NULL);
    if (!events || events->type != XAPI_ARRAY || !token)
        return err_set(e, PP_EPARSE, "event.from: result lacks events or token");
    int rc = check_batch(k, events, reset, e);
    if (rc != 0)
        return rc;
    if (reset)
        for (struct cclass *c = k->classes; c; c = c->next)
            class_clear(k, c);
    size_t n = xapi_array_len(events);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct xapi_value *ev = xapi_array_get(events, i);
        const char *cls = xapi_struct_str(ev, "class", NULL);
        const char *op = xapi_struct_str(ev, "operation", NULL);
        const char *ref = xapi_struct_str(ev, "ref", NULL);
        struct cclass *c = class_get(k, cls);
        if (strcmp(op, "del") == 0)
            class_del(k, c, ref);
        else
            rc = class_put(k, c, ref, xapi_struct_get(ev, "snapshot"), e);
    }
    if (rc != 0) /* not reached: check_batch refused what class_put would */
        return rc;
    free(k->token);
    k->token = xstrdup(token);
    return 0;
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
