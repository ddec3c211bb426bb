/* SPDX-License-Identifier: MIT */
/*
 * jparts.h - a compact JSON document kept as text in parts and read out piece by piece: an
 * envelope object whose one array member is left out ("head" up to its '[', "tail" from its
 * ']'), and the array's items, each already serialised (json_dumps JSON_COMPACT).  Read, the
 * parts give exactly the text json_dumps(JSON_COMPACT) would give for the envelope with the
 * items in the array, without ever holding the whole tree: each item's text is freed once read.
 * What a large answer (the fleet plan, issue 17) is served from.  One owner at a time.
 */
#ifndef PP_BASE_JPARTS_H
#define PP_BASE_JPARTS_H

#include <jansson.h>
#include <stddef.h>

struct err;
struct jparts;

/* A new, empty document (no envelope yet).  Free with jparts_free. */
struct jparts *jparts_new(void);
/* Append an item: json_dumps(item, JSON_COMPACT) is kept (item is only read).  Returns 0, or
 * PP_EINVAL when item cannot be encoded. */
int jparts_add(struct jparts *p, const json_t *item, struct err *e);
/* Append an item already serialised: text (heap, taken) must be what jparts_add would keep,
 * json_dumps(item, JSON_COMPACT) (an item serialised on another thread). */
void jparts_add_text(struct jparts *p, char *text);
/*
 * Set the envelope: env (only read) must hold, under key, an empty array, and no member before
 * key may contain the text `"KEY":[]` (the split point is its first occurrence in env's compact
 * text; true when the members before key are numbers, booleans and plain words).  key NULL: env
 * is the whole document (no items may have been added).  Returns 0 or PP_EINVAL (key missing,
 * not an empty array, or not found in the text).
 */
int jparts_set_envelope(struct jparts *p, const json_t *env, const char *key, struct err *e);
/* The items added so far. */
size_t jparts_count(const struct jparts *p);
/* Total length of the document's text (envelope set). */
size_t jparts_size(const struct jparts *p);
/* Copy up to max bytes of the document from where the last read stopped into buf; returns how
 * many, 0 at the end.  An item's text is freed once it has been read out. */
size_t jparts_read(struct jparts *p, char *buf, size_t max);
/* Free p and what it still holds (NULL is a no-op). */
void jparts_free(struct jparts *p);

#endif
