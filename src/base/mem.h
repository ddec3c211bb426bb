/* SPDX-License-Identifier: MIT */
/*
 * mem.h - allocation wrappers.  x* functions abort the process on out-of-memory (as Redis's
 * zmalloc does); parsers of untrusted input bound their sizes before allocating, so an abort
 * means the machine itself is out of memory.
 */
#ifndef PP_BASE_MEM_H
#define PP_BASE_MEM_H

#include <stddef.h>
#include <stdlib.h> /* free() pairs with every x* allocation */

/* Allocate n bytes; never returns NULL.  Free with free(). */
void *xmalloc(size_t n);
/* Allocate n*size zeroed bytes (overflow-checked); never returns NULL. */
void *xcalloc(size_t n, size_t size);
/* Resize p to n bytes; never returns NULL. */
void *xrealloc(void *p, size_t n);
/* Resize p to n*size bytes, overflow-checked; never returns NULL. */
void *xreallocarray(void *p, size_t n, size_t size);
/* Duplicate a NUL-terminated string; s may be NULL (returns NULL). */
char *xstrdup(const char *s);
/* Duplicate at most n bytes of s and NUL-terminate; s must not be NULL. */
char *xstrndup(const char *s, size_t n);
/* Allocate a formatted string (like asprintf); never returns NULL. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
