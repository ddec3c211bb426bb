/* SPDX-License-Identifier: MIT */
/*
 * fuzz_api.c - libFuzzer harness for the REST API's pure parts that see request bytes: routing
 * (method + path), the Host header check, the Authorization header roles, the CSV formula
 * neutraliser and the SSE framer.  The first byte chooses the target; the rest is its input.
 * Invariants: a route answer is 200 / 404 / 405 with a parameter that is a single segment; the
 * CSV neutraliser keeps every byte and is idempotent; SSE framing never lets a data line carry a
 * CR or LF.
 */
#include "fuzz_common.h"

#include <string.h>

#include "api/api.h"
#include "base/buf.h"
#include "base/mem.h"

static void route(const char *s)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "PUT", "PATCH"};
    struct api_match m;
    int st = api_route(methods[strlen(s) % 6], s, &m);

    FUZZ_CHECK(st == 200 || st == 404 || st == 405);
    FUZZ_CHECK(strchr(m.param, '/') == NULL);
    if (st == 404)
        FUZZ_CHECK(m.route == API_R_NONE || m.route == API_R_STATIC);
    else
        FUZZ_CHECK(m.route != API_R_NONE && m.allow != NULL);
}

static void csv(const char *s)
{
    char *once = api_csv_neutralise(s), *twice = api_csv_neutralise(once);
    size_t i = 0, j = 0;

    FUZZ_CHECK(strcmp(once, twice) == 0);
    /* only quotes were added: the input is a subsequence of the output */
    for (; once[j] && s[i]; j++)
        i += once[j] == s[i];
    FUZZ_CHECK(s[i] == '\0');
    free(once);
    free(twice);
}

static void sse(const char *s)
{
    struct buf b;

    buf_init(&b);
    api_sse_format(&b, 7, "progress", s);
    for (const char *p = buf_str(&b); (p = strstr(p, "data: ")) != NULL; p += 6) {
        const char *end = strchr(p, '\n');
        FUZZ_CHECK(end != NULL);
        FUZZ_CHECK(memchr(p, '\r', (size_t)(end - p)) == NULL);
    }
    buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    if (size < 1 || size > 8192)
        return 0;
    s = xstrndup((const char *)data + 1, size - 1);
    switch (data[0] % 5) {
    case 0:
        route(s);
        break;
    case 1:
        (void)api_host_allowed(s, "pp.example, ops.example");
        break;
    case 2:
        FUZZ_CHECK(api_auth_role("0123456789abcdef", "fedcba9876543210", s) != API_ROLE_ADMIN ||
                   strstr(s, "0123456789abcdef") != NULL);
        break;
    case 3:
        csv(s);
        break;
    default:
        sse(s);
        break;
    }
    free(s);
    return 0;
}
