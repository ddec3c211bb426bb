/* SPDX-License-Identifier: MIT */
/* bench_simc.c - see bench_simc.h. */
#include "bench_simc.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"

int bench_simc_open(struct bench_simc *b, const char *path, const char *who)
{
    struct err e = {0};
    struct sim_options so = {.seed_set = true, .seed = 11};
    memset(b, 0, sizeof(*b));
    if (sim_new_from_file(path, &so, &b->sim, &e) != 0) {
        fprintf(stderr, "%s: %s: %s\n", who, path, e.msg);
        return 1;
    }
    sim_inproc_handler(b->sim, &b->h);
    b->loop = xapi_loop_new(sim_clock(b->sim), &e);
    char master[128];
    sim_pool_master_address(b->sim, 0, master, sizeof(master));
    const char *addrs[] = {master};
    struct xapi_client_opts o;
    xapi_client_opts_init(&o);
    o.addresses = addrs;
    o.n_addresses = 1;
    o.user = "root";
    o.password = "xenroot";
    o.inproc = &b->h;
    b->c = b->loop ? xapi_client_new(b->loop, &o, &e) : NULL;
    if (!b->c) {
        fprintf(stderr, "%s: %s: %s\n", who, path, e.msg);
        bench_simc_close(b);
        return 1;
    }
    return 0;
}

void bench_simc_close(struct bench_simc *b)
{
    xapi_client_free(b->c);
    xapi_loop_free(b->loop);
    sim_free(b->sim);
    memset(b, 0, sizeof(*b));
}
