/* SPDX-License-Identifier: MIT */
/*
 * jparts.c - a compact JSON document in parts, read out piece by piece (see jparts.h).  Pure.
 */
#include "base/jparts.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/vec.h"

struct jparts {
    char *head, *tail; /* the envelope's text before the array's items, and from its ']' */
    char **items;      /* each item's compact text; NULL once read out */
    size_t *lens;
    size_t n;
    size_t size;  /* sum of the items' lengths and the commas between them */
    size_t piece; /* reading: 0 head, 1..n item (with its leading comma), n+1 tail, n+2 end */
    size_t off;   /* reading: bytes of the current piece already given */
};

/* See jparts.h. */
struct jparts *jparts_new(void)
{
    return xcalloc(1, sizeof(struct jparts));
}

/* See jparts.h. */
int jparts_add(struct jparts *p, const json_t *item, struct err *e)
{
    char *text = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!text)
        return err_set(e, PP_EINVAL, "item %zu of the document could not be encoded as JSON", p->n);
    jparts_add_text(p, text);
    return 0;
}

/* See jparts.h. */
void jparts_add_text(struct jparts *p, char *text)
{
    p->items = vec_grow_implied(p->items, p->n, sizeof(*p->items));
    p->lens = vec_grow_implied(p->lens, p->n, sizeof(*p->lens));
    p->lens[p->n] = strlen(text);
    p->size += p->lens[p->n] + (p->n ? 1 : 0);
    p->items[p->n++] = text;
}

/* See jparts.h. */
int jparts_set_envelope(struct jparts *p, const json_t *env, const char *key, struct err *e)
{
    const json_t *arr = key ? json_object_get(env, key) : NULL;
    char *text, *mark, *at;

    if (!key) { /* no items: the envelope is the whole document */
        if (p->n)
            return err_set(e, PP_EINVAL, "document envelope: no array for its %zu items", p->n);
        text = json_dumps(env, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            return err_set(e, PP_EINVAL, "document envelope: not encodable as JSON");
        free(p->head);
        free(p->tail);
        p->head = text;
        p->tail = NULL;
        return 0;
    }
    if (!json_is_array(arr) || json_array_size(arr) != 0)
        return err_set(e, PP_EINVAL, "document envelope: '%s' is not an empty array", key);
    text = json_dumps(env, JSON_COMPACT);
    mark = xasprintf("\"%s\":[]", key);
    at = text ? strstr(text, mark) : NULL;
    if (!at) {
        free(text);
        free(mark);
        return err_set(e, PP_EINVAL, "document envelope: '%s' not found in its text", key);
    }
    at += strlen(mark) - 1; /* at the ']' */
    free(p->head);
    free(p->tail);
    p->tail = xstrdup(at);
    *at = '\0';
    p->head = text;
    free(mark);
    return 0;
}

/* See jparts.h. */
size_t jparts_count(const struct jparts *p)
{
    return p->n;
}

/* See jparts.h. */
size_t jparts_size(const struct jparts *p)
{
    return (p->head ? strlen(p->head) : 0) + p->size + (p->tail ? strlen(p->tail) : 0);
}

/* The current piece's text and length (an item's with its leading comma counted in). */
static const char *piece_text(const struct jparts *p, size_t *len, bool *comma)
{
    *comma = false;
    if (p->piece == 0) {
        *len = p->head ? strlen(p->head) : 0;
        return p->head;
    }
    if (p->piece <= p->n) {
        *comma = p->piece > 1;
        *len = p->lens[p->piece - 1] + (*comma ? 1 : 0);
        return p->items[p->piece - 1];
    }
    *len = p->piece == p->n + 1 && p->tail ? strlen(p->tail) : 0;
    return p->piece == p->n + 1 ? p->tail : NULL;
}

/* See jparts.h. */
size_t jparts_read(struct jparts *p, char *buf, size_t max)
{
    size_t got = 0;

    while (got < max && p->piece <= p->n + 1) {
        size_t len;
        bool comma;
        const char *t = piece_text(p, &len, &comma);
        size_t k = len - p->off < max - got ? len - p->off : max - got;

        if (comma && p->off == 0 && k > 0) {
            buf[got++] = ',';
            p->off = 1;
            k--;
        }
        if (k > 0)
            memcpy(buf + got, t + (p->off - (comma ? 1 : 0)), k);
        got += k;
        p->off += k;
        if (p->off == len) {
            if (p->piece >= 1 && p->piece <= p->n) {
                free(p->items[p->piece - 1]);
                p->items[p->piece - 1] = NULL;
            }
            p->piece++;
            p->off = 0;
        }
    }
    return got;
}

/* See jparts.h. */
void jparts_free(struct jparts *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i]);
    free(p->items);
    free(p->lens);
    free(p->head);
    free(p->tail);
    free(p);
}
