/* SPDX-License-Identifier: MIT */
/*
 * vec.h - a growable array of any element type, so that modules stop writing their own
 * capacity-doubling loops and grow-by-one reallocs.  The capacity doubles (from 8), so n pushes
 * cost O(n) copies in all.  Out of memory aborts (mem.h).
 *
 *     struct VEC(char *) names = {0};      // or: VEC(struct x) v; vec_init(&v);
 *     vec_push(&names, xstrdup("a"));
 *     for (size_t i = 0; i < names.n; i++) ...names.items[i]...
 *     vec_free(&names);                    // frees the array, not what the items point to
 *
 * Ownership: the vector owns its array (items); the caller owns what the elements point to.
 * Threading: none (a vector belongs to its owner's thread).
 */
#ifndef PP_BASE_VEC_H
#define PP_BASE_VEC_H

#include <stddef.h>
#include <stdlib.h>

/* The vector type for elements of type T: items[0..n) are in use, cap allocated. */
#define VEC(T)                                                                                     \
    {                                                                                              \
        T *items; /* NOLINT(bugprone-macro-parentheses): T is a type */                            \
        size_t n, cap;                                                                             \
    }

/*
 * Make room for at least want elements of elem_size bytes in *items (capacity *cap): doubles the
 * capacity (at least 8) until it fits.  Never fails (aborts on out of memory or overflow).
 */
void vec_reserve_raw(void **items, size_t *cap, size_t want, size_t elem_size);

#define vec_init(v) ((v)->items = NULL, (v)->n = (v)->cap = 0)
/* Room for want elements in all. */
#define vec_reserve(v, want)                                                                       \
    vec_reserve_raw((void **)&(v)->items, &(v)->cap, (want), sizeof(*(v)->items))
/* Append x (evaluated once); the element's address is &(v)->items[(v)->n - 1]. */
#define vec_push(v, x) (vec_reserve((v), (v)->n + 1), (v)->items[(v)->n++] = (x))
/* Append a zeroed element and return its address (void *, converts to the element pointer). */
#define vec_push_zero(v)                                                                           \
    vec_push_zero_raw((void **)&(v)->items, &(v)->n, &(v)->cap, sizeof(*(v)->items))
/* Remove element i keeping the order. */
#define vec_remove(v, i) vec_remove_raw((v)->items, &(v)->n, (i), sizeof(*(v)->items))
/* Free the array (not what the elements point to) and empty the vector. */
#define vec_free(v) (free((v)->items), vec_init(v))

/*
 * For arrays kept as a pointer and a count without a capacity field (structs of other modules):
 * make room for element n (the current count) and return the possibly moved array.  The capacity
 * is implied by the count: 8, then doubled each time n reaches a power of two, so appending one
 * at a time still costs O(n) copies in all.  items must have been grown only this way (or be NULL
 * with n == 0).
 */
void *vec_grow_implied(void *items, size_t n, size_t elem_size);

/* Helpers of the macros above. */
void *vec_push_zero_raw(void **items, size_t *n, size_t *cap, size_t elem_size);
void vec_remove_raw(void *items, size_t *n, size_t i, size_t elem_size);

#endif
