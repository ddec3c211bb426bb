/* SPDX-License-Identifier: MIT */
/* uuid.h - RFC 4122 version-4 UUIDs, random (getrandom) or from a seeded struct rng. */
#ifndef PP_BASE_UUID_H
#define PP_BASE_UUID_H

#include <stdbool.h>

struct rng;

#define UUID_STR_LEN 37 /* 36 characters + NUL */

/* Fill out with a random v4 UUID from the kernel's CSPRNG.  Returns 0 or PP_EIO. */
int uuid_generate(char out[static UUID_STR_LEN]);
/* Fill out with a v4 UUID drawn from r (deterministic for a given seed). */
void uuid_from_rng(struct rng *r, char out[static UUID_STR_LEN]);
/* True when s is 36 characters of 8-4-4-4-12 hex. */
bool uuid_is_valid(const char *s);

#endif
