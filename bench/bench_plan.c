/* SPDX-License-Identifier: MIT */
/*
 * bench_plan.c - the planner's benchmark: 10,000 hosts (625 pools of 16, 20 VMs per host) against
 * the 400-patch test catalog (tests/data/catalog/updates.xml, parsed once; a catalog generated in
 * code with a fixed seed when the file is missing).  Plans every pool with both policies and
 * prints hosts/s, total ms and peak RSS.  No timing assertions: `make bench` only reports.
 *
 * Usage: bench_plan [updates.xml] [pools]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/rng.h"
#include "plan/plan.h"
#include "test_plan_fixture.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define HOSTS_PER_POOL 16
#define VMS_PER_HOST   20

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return buf_take(&b);
}

/* 400 patches over 8 versions, requirement chains, a CU per version chaining to the next. */
static struct catalog *generated_catalog(void)
{
    struct catalog *c = fx_catalog();
    struct rng r;
    rng_seed(&r, 42);
    char uuid[32], prev[32] = "";
    for (int v = 0; v < 8; v++) {
        struct buf list;
        buf_init(&list);
        for (int i = 0; i < 49; i++) {
            snprintf(uuid, sizeof(uuid), "p%d-%02d", v, i);
            unsigned g = rng_below(&r, 3) == 0 ? CAT_G_RESTART_XAPI : CAT_G_RESTART_HOST;
            size_t k = fx_patch(c, uuid, g, rng_below(&r, 2) && prev[0] ? prev : "", "");
            c->patches[k].contains_livepatch = rng_below(&r, 4) == 0;
            buf_printf(&list, "%s%s", i ? "," : "", uuid);
            snprintf(prev, sizeof(prev), "%s", uuid);
        }
        char cu[32], val[16], build[16];
        snprintf(cu, sizeof(cu), "cu%d", v + 1);
        fx_patch(c, cu, CAT_G_RESTART_HOST, "", "");
        if (v < 7)
            buf_printf(&list, ",%s", cu);
        snprintf(val, sizeof(val), "8.%d.0", v);
        snprintf(build, sizeof(build), "b%d", v);
        fx_version(c, val, build, NULL, buf_str(&list), buf_str(&list));
        if (v) {
            snprintf(cu, sizeof(cu), "cu%d", v);
            fx_set(&c->versions[v].patch_uuid, cu);
        }
        prev[0] = '\0';
        buf_cleanup(&list);
    }
    return c;
}

static struct inv_pool *make_pool(struct rng *r, const struct catalog *cat, int idx)
{
    char name[32], ref[48];
    snprintf(name, sizeof(name), "pool%d", idx);
    struct inv_pool *p = fx_pool(name);
    /* one version with a minimal list for the whole pool */
    const struct cat_version *v = NULL;
    for (int tries = 0; tries < 100 && !v; tries++) {
        const struct cat_version *c = &cat->versions[rng_below(r, cat->n_versions)];
        if (c->has_minimal && c->n_minimal > 0)
            v = c;
    }
    if (!v)
        v = &cat->versions[0];
    size_t applied = v->n_minimal ? (size_t)rng_below(r, v->n_minimal) : 0;
    struct buf ap;
    buf_init(&ap);
    for (size_t i = 0; i < applied; i++)
        buf_printf(&ap, "%s%s", i ? "," : "", v->minimal[i]);
    for (int h = 0; h < HOSTS_PER_POOL; h++) {
        snprintf(ref, sizeof(ref), "OpaqueRef:%s-h%d", name, h);
        size_t hi = fx_host(p, ref, 0, v->value, v->build_number);
        fx_applied(&p->hosts[hi], buf_str(&ap));
    }
    buf_cleanup(&ap);
    fx_sr(p, "OpaqueRef:nfs", true, NULL, 4096 * GIB, 100 * GIB);
    fx_set(&p->default_sr_ref, "OpaqueRef:nfs");
    for (int h = 0; h < HOSTS_PER_POOL; h++) {
        int64_t used = 0;
        for (int k = 0; k < VMS_PER_HOST; k++) {
            char vm[64];
            snprintf(vm, sizeof(vm), "OpaqueRef:%s-vm%d-%d", name, h, k);
            int64_t mem = (int64_t)(1 + rng_below(r, 8)) * GIB;
            fx_vm(p, vm, p->hosts[h].ref, mem, "OpaqueRef:nfs");
            used += mem;
        }
        p->hosts[h].memory_total = 256 * GIB;
        p->hosts[h].memory_free = 256 * GIB - used;
    }
    return p;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : PP_SOURCE_ROOT "/tests/data/catalog/updates.xml";
    int pools = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 625;
    if (pools <= 0)
        pools = 625;
    struct catalog *cat = NULL;
    size_t len = 0;
    char *xml = read_file(path, &len);
    const char *source = path;
    if (xml) {
        struct err e = {0};
        if (catalog_parse_xml(xml, len, NULL, &cat, &e) != 0) {
            fprintf(stderr, "bench_plan: %s: %s; using a generated catalog\n", path, e.msg);
            cat = NULL;
        }
        free(xml);
    }
    if (!cat) {
        cat = generated_catalog();
        source = "generated (seed 42)";
    }

    struct rng r;
    rng_seed(&r, 7);
    struct inv_pool **ps = xcalloc((size_t)pools, sizeof(*ps));
    for (int i = 0; i < pools; i++)
        ps[i] = make_pool(&r, cat, i);
    size_t hosts = (size_t)pools * HOSTS_PER_POOL;

    printf("planner benchmark: %zu hosts (%d pools of %d, %d VMs each), catalog %s: %zu patches, "
           "%zu versions\n",
           hosts, pools, HOSTS_PER_POOL, VMS_PER_HOST, source, cat->n_patches, cat->n_versions);
    for (int pol = 0; pol < 2; pol++) {
        struct plan_opts o;
        plan_opts_init(&o);
        o.policy = (enum plan_policy)pol;
        size_t updates = 0, migrations = 0, reboots = 0, json_bytes = 0, batches = 0;
        size_t bound_migrations = 0;
        double window = 0, bound_window = 0;
        double t0 = now_ms();
        for (int i = 0; i < pools; i++) {
            struct plan *p = NULL;
            if (plan_build(ps[i], cat, &o, &p, NULL) != 0) {
                fprintf(stderr, "bench_plan: plan_build failed for pool %d\n", i);
                return 1;
            }
            updates += p->totals.updates;
            migrations += p->totals.migrations;
            reboots += p->totals.reboots;
            batches += p->totals.batches;
            bound_migrations += p->totals.bound_migrations;
            window += p->totals.window_s;
            bound_window += p->totals.bound_window_s;
            plan_free(p);
        }
        double t1 = now_ms();
        /* the rendering the REST API serves, for the first 50 pools */
        for (int i = 0; i < pools && i < 50; i++) {
            struct plan *p = NULL;
            plan_build(ps[i], cat, &o, &p, NULL);
            json_t *j = plan_to_json(p);
            char *s = json_dumps(j, JSON_COMPACT);
            json_bytes += s ? strlen(s) : 0;
            free(s);
            json_decref(j);
            plan_free(p);
        }
        double ms = t1 - t0;
        printf("policy %-7s: %.1f ms total, %.0f hosts/s, %zu update applications, "
               "%zu migrations, %zu reboots; JSON %.1f KiB per pool\n",
               plan_policy_name((enum plan_policy)pol), ms, ms > 0 ? hosts / (ms / 1e3) : 0.0,
               updates, migrations, reboots,
               (double)json_bytes / 1024.0 / (double)(pools < 50 ? pools : 50));
        printf("  per pool: %.1f batches, predicted window %.0f s against a bound of %.0f s "
               "(%.2fx), %.1f migrations against %.1f\n",
               (double)batches / pools, window / pools, bound_window / pools,
               bound_window > 0 ? window / bound_window : 0.0, (double)migrations / pools,
               (double)bound_migrations / pools);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    for (int i = 0; i < pools; i++)
        inv_pool_free(ps[i]);
    free(ps);
    catalog_free(cat);
    return 0;
}
