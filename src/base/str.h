/* SPDX-License-Identifier: MIT */
/*
 * str.h - string helpers: strict number parsing (instead of atoi), bounded copies, prefixes,
 * escaping for XML and CSV.  All functions are pure and thread-safe.
 */
#ifndef PP_BASE_STR_H
#define PP_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * Parse a whole decimal integer (optional sign, no surrounding junk, no overflow).
 * Returns 0 and stores *out, or PP_EPARSE / PP_ELIMIT (out of range).
 */
int str_to_int64(const char *s, int64_t *out);
/* Parse a whole non-negative decimal integer. */
int str_to_uint64(const char *s, uint64_t *out);
/* Parse a whole floating-point number (strtod syntax, finite). */
int str_to_double(const char *s, double *out);

/* Copy src into dst of size n, always NUL-terminating; returns strlen(src) like strlcpy. */
size_t str_lcpy(char *dst, const char *src, size_t n);
/* True when s starts with prefix. */
bool str_has_prefix(const char *s, const char *prefix);
/* True when s ends with suffix. */
bool str_has_suffix(const char *s, const char *suffix);
/* Case-insensitive ASCII equality; NULLs compare equal only to each other. */
bool str_eq_nocase(const char *a, const char *b);
/* NULL-safe equality. */
bool str_eq(const char *a, const char *b);

/* Append s to b escaped for XML text and attribute values (&, <, >, ", '). */
void str_xml_escape(struct buf *b, const char *s);
/* Append s to b as one CSV field: always quoted, embedded quotes doubled. */
void str_csv_field(struct buf *b, const char *s);

#endif
