/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h - what the libFuzzer harnesses share: the entry point's prototype and a check
 * that aborts with a message (so libFuzzer and the replay runner both report it).
 */
#ifndef PP_FUZZ_COMMON_H
#define PP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The libFuzzer entry point: every input must return 0 or abort on a broken invariant. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
