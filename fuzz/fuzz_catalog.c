/* SPDX-License-Identifier: MIT */
/*
 * fuzz_catalog.c - libFuzzer harness for the catalog parsers and the views built on them.  Each
 * input goes to the updates.xml parser and to the XenServer 8 JSON parser with small limits.  A
 * failure must leave the output untouched and report a code and a message; a success must give a
 * consistent model (every uuid findable, version references resolved, kinds matching the
 * versions' patch-uuids), and alerts, both views and both CSV exports are then computed for
 * pools running each catalog version, with some patches applied.
 */
#include "fuzz_common.h"

#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "catalog/catalog.h"
#include "plan/alerts.h"
#include "plan/csv.h"
#include "plan/inventory.h"
#include "plan/views.h"

static void check_model(const struct catalog *c)
{
    for (size_t i = 0; i < c->n_patches; i++) {
        const struct cat_patch *p = &c->patches[i];
        FUZZ_CHECK(p->uuid && p->name_label && p->version && p->url && p->patch_url);
        const struct cat_patch *q = catalog_find_patch(c, p->uuid);
        FUZZ_CHECK(q && strcasecmp(q->uuid, p->uuid) == 0 && q <= p);
        for (size_t k = 0; k < p->n_required; k++)
            FUZZ_CHECK(p->required[k] != NULL);
        const struct cat_version *v = catalog_version_installed_by(c, p->uuid);
        FUZZ_CHECK((p->kind == CAT_KIND_HOTFIX) == (v == NULL));
    }
    for (size_t i = 0; i < c->n_versions; i++) {
        const struct cat_version *v = &c->versions[i];
        FUZZ_CHECK(v->value && v->name && v->build_number && v->patch_uuid);
        for (size_t k = 0; k < v->n_patches; k++)
            FUZZ_CHECK(catalog_find_patch(c, v->patches[k]) != NULL);
        for (size_t k = 0; k < v->n_minimal; k++)
            FUZZ_CHECK(catalog_find_patch(c, v->minimal[k]) != NULL);
        FUZZ_CHECK(v->has_minimal || v->n_minimal == 0);
    }
}

/* One pool per catalog version (at most 8), two hosts each; the second host has the version's
 * first patches applied. */
static void exercise_views(const struct catalog *c)
{
    size_t n = c->n_versions < 8 ? c->n_versions : 8;
    struct inv_pool *pools[8];
    for (size_t i = 0; i < n; i++) {
        const struct cat_version *v = &c->versions[i];
        struct inv_pool *p = xcalloc(1, sizeof(*p));
        p->ref = xasprintf("OpaqueRef:p%zu", i);
        p->name_label = xstrdup(i % 2 ? "" : v->name);
        p->ignore_patches = xstrdup(v->n_patches ? v->patches[0] : "");
        p->last_seen_versions = xstrdup(i % 3 ? "" : v->value);
        p->n_hosts = 2;
        p->hosts = xcalloc(2, sizeof(*p->hosts));
        for (size_t h = 0; h < 2; h++) {
            struct inv_host *host = &p->hosts[h];
            host->ref = xasprintf("OpaqueRef:h%zu.%zu", i, h);
            host->name_label = xasprintf("host %zu-%zu \"x\"", i, h);
            host->product_version = xstrdup(v->value);
            host->build_number = xstrdup(v->build_number);
        }
        size_t k = v->n_patches < 3 ? v->n_patches : 3;
        p->hosts[1].updates = xcalloc(k ? k : 1, sizeof(char *));
        for (size_t j = 0; j < k; j++)
            p->hosts[1].updates[j] = xstrdup(v->patches[j]);
        p->hosts[1].n_updates = k;
        p->master_ref = xstrdup(p->hosts[0].ref);
        pools[i] = p;
    }
    struct alert_list l = {0};
    FUZZ_CHECK(alerts_compute(c, (const struct inv_pool *const *)pools, n, NULL, &l, NULL) == 0);
    for (size_t i = 0; i < l.n; i++)
        FUZZ_CHECK(l.v[i].n_pools + l.v[i].n_hosts > 0 && l.v[i].title && l.v[i].applies_to);
    struct view_update_rows ur;
    struct view_server_rows sr;
    view_by_update(&l, VIEW_SORT_POOL, &ur);
    FUZZ_CHECK(ur.n == l.n);
    view_by_server(c, (const struct inv_pool *const *)pools, n, &l, &sr);
    struct buf b;
    buf_init(&b);
    csv_by_update(&b, &ur, -330);
    csv_by_server(&b, &sr);
    FUZZ_CHECK(b.len >= 6);
    buf_cleanup(&b);
    view_update_rows_cleanup(&ur);
    view_server_rows_cleanup(&sr);
    alert_list_cleanup(&l);
    for (size_t i = 0; i < n; i++)
        inv_pool_free(pools[i]);
}

/* One pool whose hosts are the /updates answer's hosts (at most 4) plus one it does not cover. */
static void exercise_cdn_views(const struct catalog *c)
{
    size_t n = (c->n_cdn_hosts < 4 ? c->n_cdn_hosts : 4) + 1;
    struct inv_pool *p = xcalloc(1, sizeof(*p));
    p->ref = xstrdup("OpaqueRef:pool");
    p->name_label = xstrdup("xs8");
    p->ignore_patches = xstrdup(c->n_patches ? c->patches[0].uuid : "");
    p->n_hosts = n;
    p->hosts = xcalloc(n, sizeof(*p->hosts));
    for (size_t h = 0; h < n; h++) {
        struct inv_host *host = &p->hosts[h];
        host->ref = xstrdup(h + 1 < n ? c->cdn_hosts[h].ref : "OpaqueRef:uncovered");
        host->name_label = xasprintf("h%zu", h);
        host->product_version = xstrdup("8.4.0");
    }
    p->master_ref = xstrdup(p->hosts[0].ref);
    const struct inv_pool *pools[] = {p};
    struct alert_list l = {0};
    FUZZ_CHECK(alerts_compute(c, pools, 1, NULL, &l, NULL) == 0);
    for (size_t i = 0; i < l.n; i++)
        FUZZ_CHECK(l.v[i].kind == ALERT_PATCH && l.v[i].n_pools + l.v[i].n_hosts > 0);
    struct view_update_rows ur;
    struct view_server_rows sr;
    view_by_update(&l, VIEW_SORT_DATE, &ur);
    const struct catalog *cats[] = {c};
    view_by_server_multi(cats, NULL, pools, 1, &l, &sr);
    FUZZ_CHECK(sr.n == n + 1);
    struct buf b;
    buf_init(&b);
    csv_by_update(&b, &ur, 0);
    csv_by_server(&b, &sr);
    buf_cleanup(&b);
    view_update_rows_cleanup(&ur);
    view_server_rows_cleanup(&sr);
    alert_list_cleanup(&l);
    inv_pool_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cat_limits lim;
    cat_limits_default(&lim);
    lim.max_bytes = 1u << 20;
    lim.max_depth = 16;
    lim.max_patches = 2000;
    lim.max_versions = 200;
    lim.max_attr_bytes = 4096;
    const char *text = (const char *)data;

    struct catalog *c = (struct catalog *)0x1;
    struct err e = {0};
    int rc = catalog_parse_xml(text, size, &lim, &c, &e);
    if (rc) {
        FUZZ_CHECK(rc < 0 && e.code == rc && e.msg[0] != '\0');
        FUZZ_CHECK(c == (struct catalog *)0x1);
    } else {
        FUZZ_CHECK(c && c->source == CAT_SOURCE_XML);
        check_model(c);
        exercise_views(c);
        catalog_free(c);
    }

    c = (struct catalog *)0x1;
    memset(&e, 0, sizeof(e));
    rc = catalog_parse_cdn_json(text, size, &lim, &c, &e);
    if (rc) {
        FUZZ_CHECK(rc < 0 && e.code == rc && e.msg[0] != '\0');
        FUZZ_CHECK(c == (struct catalog *)0x1);
    } else {
        FUZZ_CHECK(c && c->source == CAT_SOURCE_CDN && c->cdn_hash);
        check_model(c);
        for (size_t i = 0; i < c->n_cdn_hosts; i++)
            FUZZ_CHECK(c->cdn_hosts[i].ref && c->cdn_hosts[i].ref[0]);
        exercise_cdn_views(c);
        catalog_free(c);
    }
    return 0;
}
