/* SPDX-License-Identifier: MIT */
/* vec.c - the growable array's helpers (see vec.h). */
#include "base/vec.h"

#include <string.h>

#include "base/mem.h"

/* Grow *items to hold want elements (see vec.h). */
void vec_reserve_raw(void **items, size_t *cap, size_t want, size_t elem_size)
{
    if (want <= *cap)
        return;
    size_t c = *cap ? *cap : 8;
    while (c < want)
        c = c > ((size_t)-1) / 2 ? want : c * 2;
    *items = xreallocarray(*items, c, elem_size);
    *cap = c;
}

/* Append a zeroed element (see vec.h). */
void *vec_push_zero_raw(void **items, size_t *n, size_t *cap, size_t elem_size)
{
    vec_reserve_raw(items, cap, *n + 1, elem_size);
    char *p = (char *)*items + *n * elem_size;
    memset(p, 0, elem_size);
    (*n)++;
    return p;
}

/* Remove element i keeping the order (see vec.h); i out of range is a no-op. */
void vec_remove_raw(void *items, size_t *n, size_t i, size_t elem_size)
{
    if (i >= *n)
        return;
    char *base = items;
    memmove(base + i * elem_size, base + (i + 1) * elem_size, (*n - i - 1) * elem_size);
    (*n)--;
}

/* Room for element n with the capacity implied by n (see vec.h). */
void *vec_grow_implied(void *items, size_t n, size_t elem_size)
{
    if (n == 0 || !items)
        return xreallocarray(items, n < 8 ? 8 : n * 2, elem_size);
    if (n >= 8 && (n & (n - 1)) == 0)
        return xreallocarray(items, n * 2, elem_size);
    return items;
}
