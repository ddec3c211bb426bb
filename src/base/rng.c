/* SPDX-License-Identifier: MIT */
/* rng.c - splitmix64 (see rng.h). */
#include "rng.h"

void rng_seed(struct rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    uint64_t lim, v;

    if (n == 0)
        return 0;
    lim = UINT64_MAX - UINT64_MAX % n;
    do {
        v = rng_next(r);
    } while (v >= lim);
    return v % n;
}

double rng_double(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
