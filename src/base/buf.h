/* SPDX-License-Identifier: MIT */
/*
 * buf.h - growable byte buffer, always NUL-terminated after data[len] once anything was added.
 * Embedded by value: buf_init / buf_cleanup.  Not thread-safe; one owner at a time.
 */
#ifndef PP_BASE_BUF_H
#define PP_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NULL until the first append; NUL-terminated after */
    size_t len;
    size_t cap;
};

/* Initialise an empty buffer (no allocation). */
void buf_init(struct buf *b);
/* Release the storage; b is empty afterwards and may be reused. */
void buf_cleanup(struct buf *b);
/* Drop the contents, keep the storage. */
void buf_reset(struct buf *b);
/* Ensure room for n more bytes plus the NUL. */
void buf_reserve(struct buf *b, size_t n);
/* Append n bytes. */
void buf_append(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
void buf_puts(struct buf *b, const char *s);
/* Append one byte. */
void buf_putc(struct buf *b, char c);
/* Append formatted text. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Return the contents as a NUL-terminated heap string the caller frees; b becomes empty. */
char *buf_take(struct buf *b);
/* Borrowed NUL-terminated view ("" when empty). Valid until the next mutation. */
const char *buf_str(const struct buf *b);

#endif
