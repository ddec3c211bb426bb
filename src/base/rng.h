/* SPDX-License-Identifier: MIT */
/*
 * rng.h - small deterministic PRNG (splitmix64) for simulations and property tests: the same
 * seed gives the same sequence on every machine.  Not for secrets.  Embedded by value; one owner.
 */
#ifndef PP_BASE_RNG_H
#define PP_BASE_RNG_H

#include <stdint.h>

struct rng {
    uint64_t state;
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform integer in [0, n); n == 0 returns 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double rng_double(struct rng *r);

#endif
