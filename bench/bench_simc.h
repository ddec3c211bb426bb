/* SPDX-License-Identifier: MIT */
/*
 * bench_simc.h - a bench's XAPI client on the simulator's in-process transport (virtual clock):
 * the scenario at path loaded (seed 11), a loop, a client logged in to its first pool's master as
 * root.  Shared by bench_cache and bench_evjson.
 */
#ifndef PP_BENCH_SIMC_H
#define PP_BENCH_SIMC_H

#include "sim/sim.h"
#include "xapi/client.h"

struct bench_simc {
    struct sim *sim;
    struct xapi_inproc_handler h;
    struct xapi_loop *loop;
    struct xapi_client *c;
};

/* Open; on failure prints "<who>: <path>: <why>" to stderr, closes what was made and returns 1. */
int bench_simc_open(struct bench_simc *b, const char *path, const char *who);
/* Free the client, loop and simulator (each may be NULL). */
void bench_simc_close(struct bench_simc *b);

#endif
