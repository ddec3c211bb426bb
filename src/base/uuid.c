/* SPDX-License-Identifier: MIT */
/* uuid.c - v4 UUIDs (see uuid.h). */
#include "uuid.h"
#include "err.h"
#include "rng.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static void format_uuid(uint8_t b[16], char out[static UUID_STR_LEN])
{
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int uuid_generate(char out[static UUID_STR_LEN])
{
    uint8_t b[16];
    size_t got = 0;

    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0)
            return PP_EIO;
        got += (size_t)n;
    }
    format_uuid(b, out);
    return 0;
}

void uuid_from_rng(struct rng *r, char out[static UUID_STR_LEN])
{
    uint8_t b[16];
    uint64_t a = rng_next(r), c = rng_next(r);

    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    format_uuid(b, out);
}

bool uuid_is_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}
