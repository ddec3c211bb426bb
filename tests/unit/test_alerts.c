/* SPDX-License-Identifier: MIT */
/* test_alerts.c - unit tests of the plan module's alerts, views and CSV export: XenCenter's patch
 * and version alert rules (table-driven, with the cases of docs/reference/xencenter.md section
 * 7), version matching, dismissals, By Update / By Server rows and sorting, byte-exact CSV. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "catalog/catalog.h"
#include "plan/alerts.h"
#include "plan/csv.h"
#include "plan/inventory.h"
#include "plan/views.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

/* A small catalog: 8.2 (build 1090c) with hotfixes, a CU to 8.2 CU1 (present-as-update), 8.2
 * CU1, 7.1 (matched on product version, no minimal list) with a CU to 7.1 CU2 shown as a new
 * version, and 8.3 as latestcr. */
static const char *XML =
    "<patchdata><patches>\n"
    "<patch uuid=\"P1-UUID\" name-label=\"XS82E001\" name-description='Fix \"one\"' "
    "version=\"1.0\" url=\"https://kb/1\" timestamp=\"2020-07-01T09:05:00Z\" priority=\"\" "
    "installation-size=\"1048576\"/>\n"
    "<patch uuid=\"P2-UUID\" name-label=\"XS82E002\" name-description=\"Two, too\" version=\"1.0\" "
    "url=\"https://kb/2\" timestamp=\"2020-08-01T13:30:00Z\" priority=\"0\" "
    "installation-size=\"1310720\"><requiredpatches><requiredpatch uuid=\"p1-uuid\"/>"
    "</requiredpatches></patch>\n"
    "<patch uuid=\"P3-UUID\" name-label=\"XS82E003\" version=\"1.0\" url=\"https://kb/3\" "
    "timestamp=\"2020-09-01T00:00:00Z\" priority=\"5\" installation-size=\"1572864\">"
    "<conflictingpatches><conflictingpatch uuid=\"P2-UUID\"/></conflictingpatches></patch>\n"
    "<patch uuid=\"P4-UUID\" name-label=\"XS82E004\" version=\"1.0\" timestamp=\"2020-10-01\">"
    "<requiredpatches><requiredpatch uuid=\"WITHDRAWN\"/></requiredpatches></patch>\n"
    "<patch uuid=\"CU1-UUID\" name-label=\"XS82ECU1\" name-description=\"CU1\" version=\"1.0\" "
    "url=\"https://kb/cu1\" timestamp=\"2022-01-10T00:00:00Z\" priority=\"1\" "
    "installation-size=\"1181116006\"/>\n"
    "<patch uuid=\"P5-UUID\" name-label=\"XS82ECU1001\" version=\"1.0\" url=\"https://kb/5\" "
    "timestamp=\"2022-02-01T12:00:00Z\" priority=\"7\"/>\n"
    "<patch uuid=\"Q1-UUID\" name-label=\"XS71E001\" version=\"1.0\" url=\"https://kb/q1\" "
    "timestamp=\"2017-03-01T00:00:00Z\"/>\n"
    "<patch uuid=\"Q2-UUID\" name-label=\"XS71ECU2\" version=\"1.0\" url=\"https://kb/q2\" "
    "timestamp=\"2019-04-01T00:00:00Z\"/>\n"
    "</patches><serverversions>\n"
    "<version value=\"8.2.0\" name=\"Citrix Hypervisor 8.2\" build-number=\"1090c\" "
    "timestamp=\"2020-06-18\"><patch uuid=\"P1-UUID\"/><patch uuid=\"P2-UUID\"/>"
    "<patch uuid=\"P3-UUID\"/><patch uuid=\"P4-UUID\"/><patch uuid=\"CU1-UUID\"/>"
    "<minimalpatches><patch uuid=\"P1-UUID\"/><patch uuid=\"P2-UUID\"/>"
    "<patch uuid=\"CU1-UUID\"/></minimalpatches></version>\n"
    "<version value=\"8.2.1\" name=\"Citrix Hypervisor 8.2 CU1\" build-number=\"1151c\" "
    "latest=\"true\" latestcr=\"true\" url=\"https://dl/821\" timestamp=\"2022-01-10\" "
    "patch-uuid=\"cu1-uuid\" present-as-update=\"true\"><patch uuid=\"P5-UUID\"/>"
    "<minimalpatches><patch uuid=\"P5-UUID\"/></minimalpatches></version>\n"
    "<version value=\"7.1.0\" name=\"XenServer 7.1\" timestamp=\"2017-02-23\">"
    "<patch uuid=\"Q1-UUID\"/><patch uuid=\"Q2-UUID\"/></version>\n"
    "<version value=\"7.1.2\" name=\"Citrix Hypervisor 7.1 CU2\" build-number=\"137478c\" "
    "patch-uuid=\"Q2-UUID\" timestamp=\"2019-04-01\"/>\n"
    "<version value=\"8.1.0\" name=\"Citrix Hypervisor 8.1\" build-number=\"1050c\" "
    "latestcr=\"true\"/>\n"
    "<version value=\"8.3.0\" name=\"XenServer 8.3\" build-number=\"8.3b\" latestcr=\"true\" "
    "url=\"https://dl/83\" timestamp=\"2024-10-01T08:00:00Z\"/>\n"
    "</serverversions></patchdata>";

static struct catalog *load_catalog(void)
{
    struct catalog *c = NULL;
    struct err e = {0};
    if (catalog_parse_xml(XML, strlen(XML), NULL, &c, &e) != 0)
        fail_msg("%s", e.msg);
    return c;
}

/* "a,b" -> a heap string array. */
static char **split(const char *csv, size_t *n)
{
    *n = 0;
    if (!csv || !csv[0])
        return NULL;
    char **v = NULL;
    const char *p = csv;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        v = xreallocarray(v, *n + 1, sizeof(*v));
        v[(*n)++] = xstrndup(p, len);
        if (!end)
            break;
        p = end + 1;
    }
    return v;
}

static void set_host(struct inv_host *h, const char *name, const char *pv, const char *build,
                     const char *updates)
{
    memset(h, 0, sizeof(*h));
    h->ref = xasprintf("OpaqueRef:%s", name);
    h->uuid = xasprintf("uuid-%s", name);
    h->name_label = xstrdup(name);
    h->product_version = xstrdup(pv);
    h->build_number = xstrdup(build);
    h->live = h->enabled = true;
    h->updates = split(updates, &h->n_updates);
}

/* A pool of n hosts; the first one is the coordinator. */
static struct inv_pool *make_pool(const char *name, size_t n, const char *const *names,
                                  const char *pv, const char *build, const char *const *updates)
{
    struct inv_pool *p = xcalloc(1, sizeof(*p));
    p->ref = xasprintf("OpaqueRef:pool-%s", name[0] ? name : names[0]);
    p->name_label = xstrdup(name);
    p->ignore_patches = xstrdup("");
    p->last_seen_versions = xstrdup("");
    p->hosts = xcalloc(n, sizeof(*p->hosts));
    p->n_hosts = n;
    for (size_t i = 0; i < n; i++)
        set_host(&p->hosts[i], names[i], pv, build, updates ? updates[i] : "");
    p->master_ref = xstrdup(p->hosts[0].ref);
    return p;
}

struct fixture {
    struct catalog *cat;
    struct inv_pool *alpha, *standalone, *gamma, *delta;
    const struct inv_pool *pools[4];
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    f->cat = load_catalog();
    static const char *const an[] = {"a1", "a2"};
    static const char *const au[] = {"", "P1-UUID"};
    f->alpha = make_pool("Alpha", 2, an, "8.2.0", "1090c", au);
    static const char *const bn[] = {"b1"};
    static const char *const bu[] = {"CU1-UUID"};
    f->standalone = make_pool("", 1, bn, "8.2.1", "1151c", bu);
    static const char *const gn[] = {"g10", "g9"};
    static const char *const gu[] = {"zzz-unknown,Q0", ""};
    f->gamma = make_pool("Gamma", 2, gn, "7.1.0", "137272c", gu);
    static const char *const dn[] = {"d1"};
    f->delta = make_pool("Delta", 1, dn, "6.0.0", "", NULL);
    f->pools[0] = f->alpha;
    f->pools[1] = f->standalone;
    f->pools[2] = f->gamma;
    f->pools[3] = f->delta;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    catalog_free(f->cat);
    inv_pool_free(f->alpha);
    inv_pool_free(f->standalone);
    inv_pool_free(f->gamma);
    inv_pool_free(f->delta);
    free(f);
    return 0;
}

/* ---- the installability rule, table-driven --------------------------------------------------- */

static void test_installable_table(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *pv, *build, *applied, *patch;
        bool want;
    } cases[] = {
        {"8.2.0", "1090c", "", "P1-UUID", true},  /* in the list, nothing applied */
        {"8.2.0", "1090c", "", "P2-UUID", false}, /* required P1 missing */
        {"8.2.0", "1090c", "", "P3-UUID", true},
        {"8.2.0", "1090c", "", "P4-UUID", false}, /* requirement never met */
        {"8.2.0", "1090c", "", "CU1-UUID", true},
        {"8.2.0", "1090c", "", "P5-UUID", false},        /* not in 8.2's list */
        {"8.2.0", "1090c", "P1-UUID", "P1-UUID", false}, /* applied */
        {"8.2.0", "1090c", "p1-uuid", "P2-UUID", true},  /* case-insensitive */
        {"8.2.0", "1090c", "P1-UUID", "P3-UUID", true},
        {"8.2.0", "1090c", "P1-UUID,P2-UUID", "P3-UUID", false}, /* conflict applied */
        {"8.2.0", "9999x", "", "P1-UUID", false},   /* build number decides: no match */
        {"9.9.9", "1090c", "", "P1-UUID", true},    /* ... even with another version */
        {"7.1.0", "anything", "", "Q1-UUID", true}, /* product version decides */
        {"7.1", "", "", "Q1-UUID", false},          /* exact string */
        {"8.2.1", "1151c", "CU1-UUID", "P5-UUID", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct inv_host h;
        set_host(&h, "h", cases[i].pv, cases[i].build, cases[i].applied);
        const struct cat_patch *p = catalog_find_patch(f->cat, cases[i].patch);
        assert_non_null(p);
        bool got = alerts_patch_installable(f->cat, p, &h);
        if (got != cases[i].want)
            fail_msg("case %zu (%s on %s/%s with [%s]): got %d", i, cases[i].patch, cases[i].pv,
                     cases[i].build, cases[i].applied, got);
        free(h.ref);
        free(h.uuid);
        free(h.name_label);
        free(h.product_version);
        free(h.build_number);
        for (size_t k = 0; k < h.n_updates; k++)
            free(h.updates[k]);
        free(h.updates);
    }
}

/* ---- alerts ------------------------------------------------------------------------------- */

static const struct alert *find_alert(const struct alert_list *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0)
            return &l->v[i];
    return NULL;
}

/* As find_alert, failing the test when absent (never NULL). */
static const struct alert *get_alert(const struct alert_list *l, const char *key)
{
    static const struct alert missing;
    const struct alert *a = find_alert(l, key);
    if (!a) {
        fail_msg("no alert %s", key);
        return &missing;
    }
    return a;
}

static void test_alert_rules(void **state)
{
    struct fixture *f = *state;
    struct alert_list l = {0};
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    static const struct {
        const char *key;
        enum alert_kind kind;
        const char *title;
        const char *applies_to;
        int priority;
        bool new_version;
    } want[] = {
        /* patch alerts, in order of first appearance (pool order, then catalog order) */
        {"p1-uuid", ALERT_PATCH, "New Update Available - XS82E001", "a1", 2, false},
        {"p2-uuid", ALERT_PATCH, "New Update Available - XS82E002", "a2", 0, false},
        {"p3-uuid", ALERT_PATCH, "New Update Available - XS82E003", "Alpha", 5, false},
        {"cu1-uuid", ALERT_PATCH, "New Update Available - XS82ECU1", "Alpha", 1, false},
        {"p5-uuid", ALERT_PATCH, "New Update Available - XS82ECU1001", "b1", 2, false},
        {"q1-uuid", ALERT_PATCH, "New Update Available - XS71E001", "Gamma", 2, false},
        {"q2-uuid", ALERT_PATCH, "Citrix Hypervisor 7.1 CU2 is now available", "Gamma", 2, true},
        /* version alerts: latest (8.2.1; not where its CU installs), then latestcr (8.3) */
        {"8.2.1", ALERT_VERSION, "Citrix Hypervisor 8.2 CU1 is now available", "Gamma, Delta", 5,
         true},
        {"8.3.0", ALERT_VERSION, "XenServer 8.3 is now available", "Alpha, b1, Gamma, Delta", 5,
         true},
    };
    assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l.n; i++) {
        const struct alert *a = &l.v[i];
        assert_string_equal(a->key, want[i].key);
        assert_int_equal(a->kind, want[i].kind);
        assert_string_equal(a->title, want[i].title);
        assert_string_equal(a->applies_to, want[i].applies_to);
        assert_int_equal(a->priority, want[i].priority);
        assert_int_equal(a->show_as_new_version, want[i].new_version);
    }
    /* P4 can never be installed: an alert with no hosts or pools is dropped */
    assert_null(find_alert(&l, "p4-uuid"));
    const struct alert *p1 = get_alert(&l, "p1-uuid");
    assert_string_equal(p1->description, "Fix \"one\"\r\nInstallation size: 1 MB");
    assert_string_equal(p1->web_page, "https://kb/1");
    assert_int_equal(p1->n_hosts, 1);
    assert_ptr_equal(p1->hosts[0].pool, f->alpha);
    assert_int_equal(p1->n_pools, 0);
    /* 1310720 bytes = 1.25 MB: banker's rounding gives 1.2 */
    assert_string_equal(get_alert(&l, "p2-uuid")->description,
                        "Two, too\r\nInstallation size: 1.2 MB");
    assert_string_equal(get_alert(&l, "p3-uuid")->description, "\r\nInstallation size: 1.5 MB");
    assert_string_equal(get_alert(&l, "p5-uuid")->description, "");
    const struct alert *cu = get_alert(&l, "cu1-uuid");
    assert_string_equal(cu->description, "CU1\r\nInstallation size: 1.1 GB");
    assert_non_null(cu->version);
    assert_string_equal(cu->version->value, "8.2.1");
    assert_string_equal(cu->name, "XS82ECU1");
    const struct alert *q2 = get_alert(&l, "q2-uuid");
    assert_string_equal(q2->name, "Citrix Hypervisor 7.1 CU2");
    const struct alert *v83 = get_alert(&l, "8.3.0");
    assert_string_equal(v83->description, "XenServer 8.3 is now available. Download the latest "
                                          "at the XenServer downloads website.");
    assert_string_equal(v83->web_page, "https://dl/83");
    assert_int_equal(v83->n_pools, 4);
    alert_list_cleanup(&l);
    assert_null(l.v);
    alert_list_cleanup(NULL);
}

static void test_alert_options(void **state)
{
    struct fixture *f = *state;
    struct alert_opts o;
    alert_opts_init(&o);
    o.versions = false;
    o.product_brand = "Citrix Hypervisor";
    struct alert_list l = {0};
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, &o, &l, NULL), 0);
    assert_int_equal(l.n, 7);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.v[i].kind, ALERT_PATCH);
    alert_list_cleanup(&l);
    alert_opts_init(&o);
    o.patches = false;
    o.product_brand = "Citrix Hypervisor";
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, &o, &l, NULL), 0);
    assert_int_equal(l.n, 2);
    assert_true(strstr(l.v[0].description, "the Citrix Hypervisor downloads") != NULL);
    alert_list_cleanup(&l);
    /* no pools: nothing; bad arguments */
    assert_int_equal(alerts_compute(f->cat, NULL, 0, NULL, &l, NULL), 0);
    assert_int_equal(l.n, 0);
    struct err e = {0};
    assert_int_equal(alerts_compute(NULL, f->pools, 4, NULL, &l, &e), PP_EINVAL);
    /* a pool without a coordinator is skipped (XenCenter: coordinator == null) */
    free(f->gamma->master_ref);
    f->gamma->master_ref = xstrdup("OpaqueRef:gone");
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    assert_null(find_alert(&l, "q1-uuid"));
    assert_string_equal(get_alert(&l, "8.3.0")->applies_to, "Alpha, b1, Delta");
    alert_list_cleanup(&l);
}

static void test_dismissals(void **state)
{
    struct fixture *f = *state;
    free(f->alpha->ignore_patches);
    f->alpha->ignore_patches = xstrdup("other,P3-UUID,P1-UUID");
    free(f->alpha->last_seen_versions);
    f->alpha->last_seen_versions = xstrdup("8.3.0");
    free(f->gamma->ignore_patches);
    f->gamma->ignore_patches = xstrdup("q1-uuid");
    struct alert_list l = {0};
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    assert_null(find_alert(&l, "p3-uuid")); /* only Alpha had it: dropped */
    assert_null(find_alert(&l, "p1-uuid")); /* host a1's pool dismissed it */
    assert_null(find_alert(&l, "q1-uuid")); /* case-insensitive uuid */
    assert_non_null(find_alert(&l, "p2-uuid"));
    assert_string_equal(get_alert(&l, "8.3.0")->applies_to, "b1, Gamma, Delta");
    assert_int_equal(l.n, 6);
    assert_int_equal(l.n_dismissed, 3); /* p1, p3, q1; 8.3.0 is only partly dismissed */
    assert_false(get_alert(&l, "8.3.0")->dismissed);
    alert_list_cleanup(&l);
    /* include_dismissed keeps them */
    struct alert_opts o;
    alert_opts_init(&o);
    o.include_dismissed = true;
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, &o, &l, NULL), 0);
    assert_int_equal(l.n, 9);
    assert_int_equal(l.n_dismissed, 0);
    const struct alert *p3 = get_alert(&l, "p3-uuid");
    assert_true(p3->dismissed);
    assert_false(get_alert(&l, "p2-uuid")->dismissed);
    assert_false(get_alert(&l, "8.3.0")->dismissed);
    assert_true(alerts_is_dismissed(p3, f->alpha));
    assert_false(alerts_is_dismissed(p3, f->gamma));
    assert_true(alerts_is_dismissed(get_alert(&l, "8.3.0"), f->alpha));
    assert_false(alerts_is_dismissed(get_alert(&l, "8.2.1"), f->alpha));
    alert_list_cleanup(&l);
    /* version dismissal compares exactly: "8.3" does not dismiss "8.3.0" */
    free(f->alpha->last_seen_versions);
    f->alpha->last_seen_versions = xstrdup("8.3");
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    assert_string_equal(get_alert(&l, "8.3.0")->applies_to, "Alpha, b1, Gamma, Delta");
    alert_list_cleanup(&l);
}

static void test_dismiss_values(void **state)
{
    (void)state;
    char *s = alerts_dismiss_value(NULL, "u1", true);
    assert_string_equal(s, "u1");
    free(s);
    s = alerts_dismiss_value("u1", "U1", true);
    assert_string_equal(s, "u1");
    free(s);
    s = alerts_dismiss_value("u1", "u2", true);
    assert_string_equal(s, "u1,u2");
    free(s);
    s = alerts_dismiss_value("8.2.1", "8.2.1", false);
    assert_string_equal(s, "8.2.1");
    free(s);
    s = alerts_dismiss_value("8.2.1", "8.3.0", false);
    assert_string_equal(s, "8.2.1,8.3.0");
    free(s);
}

static void test_helpers(void **state)
{
    (void)state;
    static const struct {
        int64_t bytes;
        const char *want;
    } sizes[] = {
        {0, "0 B"},          {1023, "1023 B"},     {1024, "1 kB"},
        {1536, "1.5 kB"},    {1048576, "1 MB"},    {1310720, "1.2 MB"},
        {1363148, "1.3 MB"}, {1073741824, "1 GB"}, {1099511627776LL, "1 TB"},
        {-2048, "2 kB"},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct buf b;
        buf_init(&b);
        alerts_disk_size(&b, sizes[i].bytes);
        assert_string_equal(buf_str(&b), sizes[i].want);
        buf_cleanup(&b);
    }
    assert_true(alerts_natural_cmp("host9", "host10") < 0);
    assert_true(alerts_natural_cmp("Host10", "host9") > 0);
    assert_int_equal(alerts_natural_cmp("ABC", "abc"), 0);
    assert_true(alerts_natural_cmp("a", "ab") < 0);
    assert_true(alerts_natural_cmp(NULL, "a") < 0);
    assert_true(alerts_natural_cmp("XS82E002", "XS82E010") < 0);
}

/* ---- views and CSV ------------------------------------------------------------------------- */

static void test_by_update_sorting(void **state)
{
    struct fixture *f = *state;
    struct alert_list l = {0};
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    struct view_update_rows r;
    view_by_update(&l, VIEW_SORT_DATE, &r);
    assert_int_equal(r.n, 9);
    /* on top: new versions, CUs and new releases, newest first; then the rest newest first */
    /* 8.2.1 and XS82ECU1 share a date: the name breaks the tie (descending) */
    static const char *const by_date[] = {"8.3.0",   "cu1-uuid", "8.2.1",   "q2-uuid", "p5-uuid",
                                          "p3-uuid", "p2-uuid",  "p1-uuid", "q1-uuid"};
    for (size_t i = 0; i < r.n; i++)
        assert_string_equal(r.v[i].alert->key, by_date[i]);
    assert_true(r.v[3].on_top);
    assert_false(r.v[4].on_top);
    assert_string_equal(r.v[0].pools, "Alpha, b1, Delta, Gamma");
    view_update_rows_cleanup(&r);
    view_by_update(&l, VIEW_SORT_POOL, &r);
    static const char *const by_pool[] = {"cu1-uuid", "8.3.0",   "q2-uuid", "8.2.1",  "p1-uuid",
                                          "p2-uuid",  "p3-uuid", "p5-uuid", "q1-uuid"};
    for (size_t i = 0; i < r.n; i++)
        assert_string_equal(r.v[i].alert->key, by_pool[i]);
    /* a host-level alert lists the pool of its host */
    assert_string_equal(r.v[4].pools, "Alpha");
    view_update_rows_cleanup(&r);
    view_update_rows_cleanup(NULL);
    struct alert_list empty = {0};
    view_by_update(&empty, VIEW_SORT_DATE, &r);
    assert_int_equal(r.n, 0);
    alert_list_cleanup(&l);
}

static void test_by_server_rows(void **state)
{
    struct fixture *f = *state;
    struct alert_list l = {0};
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    struct view_server_rows r;
    view_by_server(f->cat, f->pools, 4, &l, &r);
    static const struct {
        bool is_pool;
        const char *pool, *server, *version, *status, *required, *installed;
    } want[] = {
        {true, "Alpha", "Alpha", "8.2.0", "Out of date", "", ""},
        {false, "Alpha", "a1", "8.2.0", "Out of date", "XS82E001, XS82E002, XS82ECU1", ""},
        {false, "Alpha", "a2", "8.2.0", "Out of date", "XS82E002, XS82ECU1", "XS82E001"},
        {false, "", "b1", "8.2.1", "Out of date", "XS82ECU1001", "XS82ECU1"},
        {true, "Delta", "Delta", "6.0.0", "", "", ""},
        {false, "Delta", "d1", "6.0.0", "", "", ""},
        {true, "Gamma", "Gamma", "7.1.0", "Out of date", "", ""},
        /* coordinator first; no minimal list: the alerts naming the host, natural order */
        {false, "Gamma", "g10", "7.1.0", "Out of date", "Citrix Hypervisor 7.1 CU2, XS71E001",
         "Q0, zzz-unknown"},
        {false, "Gamma", "g9", "7.1.0", "Out of date", "Citrix Hypervisor 7.1 CU2, XS71E001", ""},
    };
    assert_int_equal(r.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < r.n; i++) {
        assert_int_equal(r.v[i].is_pool, want[i].is_pool);
        assert_string_equal(r.v[i].pool_name, want[i].pool);
        assert_string_equal(r.v[i].server, want[i].server);
        assert_string_equal(r.v[i].version, want[i].version);
        assert_string_equal(r.v[i].status, want[i].status);
        assert_string_equal(r.v[i].required, want[i].required);
        assert_string_equal(r.v[i].installed, want[i].installed);
    }
    assert_false(r.v[4].version_known);
    assert_true(r.v[1].out_of_date);
    /* the structured lists behind the text */
    assert_int_equal(r.v[1].n_required, 3);
    assert_string_equal(r.v[1].required_list[0].id, "p1-uuid");
    assert_string_equal(r.v[1].required_list[2].name, "XS82ECU1");
    assert_int_equal(r.v[2].n_installed, 1);
    assert_string_equal(r.v[2].installed_list[0].id, "P1-UUID");
    assert_string_equal(r.v[2].installed_list[0].name, "XS82E001");
    assert_int_equal(r.v[7].n_required, 2);
    assert_string_equal(r.v[7].required_list[0].id, "q2-uuid");
    assert_string_equal(r.v[7].installed_list[1].id, "zzz-unknown");
    assert_null(r.v[0].required_list);
    assert_int_equal(r.v[5].n_required, 0);
    view_server_rows_cleanup(&r);
    /* everything applied: up to date */
    static const char *const names[] = {"u1"};
    static const char *const upd[] = {"CU1-UUID,P5-UUID"};
    struct inv_pool *done = make_pool("Done", 1, names, "8.2.1", "1151c", upd);
    const struct inv_pool *one[] = {done};
    view_by_server(f->cat, one, 1, NULL, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.v[0].status, "Up to date");
    assert_string_equal(r.v[1].status, "Up to date");
    assert_string_equal(r.v[1].installed, "XS82ECU1, XS82ECU1001");
    view_server_rows_cleanup(&r);
    inv_pool_free(done);
    alert_list_cleanup(&l);
}

/* b holds exactly the bytes of want. */
static void assert_buf_bytes(const struct buf *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->data, want, b->len);
}

static void test_csv_time(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        int tz;
        const char *want;
    } cases[] = {
        {1593594300000LL, 0, "Jul 1, 2020 9:05 AM"},
        {1593594300000LL, 300, "Jul 1, 2020 2:05 PM"},
        {1593594300000LL, -600, "Jun 30, 2020 11:05 PM"},
        {1641772800000LL, 0, "Jan 10, 2022 12:00 AM"},
        {1641816000000LL, 0, "Jan 10, 2022 12:00 PM"},
        {951782400000LL, 0, "Feb 29, 2000 12:00 AM"},
        {0, 0, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b);
        csv_format_time(&b, cases[i].t, cases[i].tz);
        assert_string_equal(buf_str(&b), cases[i].want);
        buf_cleanup(&b);
    }
}

static void test_csv_by_update_bytes(void **state)
{
    struct fixture *f = *state;
    const struct inv_pool *two[] = {f->alpha, f->standalone};
    struct alert_opts o;
    alert_opts_init(&o);
    o.versions = false;
    struct alert_list l = {0};
    assert_int_equal(alerts_compute(f->cat, two, 2, &o, &l, NULL), 0);
    struct view_update_rows r;
    view_by_update(&l, VIEW_SORT_DATE, &r);
    struct buf b;
    buf_init(&b);
    csv_by_update(&b, &r, 60);
    const char *want =
        "\xEF\xBB\xBF"
        "Title,Description,Applies To,TimeStamp,Web Page\r\n"
        "\"New Update Available - XS82ECU1\",\"CU1\r\nInstallation size: 1.1 GB\",\"Alpha\","
        "\"Jan 10, 2022 1:00 AM\",\"https://kb/cu1\"\r\n"
        "\"New Update Available - XS82ECU1001\",\"\",\"b1\",\"Feb 1, 2022 1:00 PM\","
        "\"https://kb/5\"\r\n"
        "\"New Update Available - XS82E003\",\"\r\nInstallation size: 1.5 MB\",\"Alpha\","
        "\"Sep 1, 2020 1:00 AM\",\"https://kb/3\"\r\n"
        "\"New Update Available - XS82E002\",\"Two, too\r\nInstallation size: 1.2 MB\",\"a2\","
        "\"Aug 1, 2020 2:30 PM\",\"https://kb/2\"\r\n"
        "\"New Update Available - XS82E001\",\"Fix \"\"one\"\"\r\nInstallation size: 1 MB\","
        "\"a1\",\"Jul 1, 2020 10:05 AM\",\"https://kb/1\"\r\n";
    assert_buf_bytes(&b, want);
    buf_cleanup(&b);
    view_update_rows_cleanup(&r);
    alert_list_cleanup(&l);
    /* no rows: BOM and header only */
    buf_init(&b);
    csv_by_update(&b, NULL, 0);
    assert_string_equal(buf_str(&b), "\xEF\xBB\xBF" CSV_BY_UPDATE_HEADER "\r\n");
    buf_cleanup(&b);
}

static void test_csv_by_server_bytes(void **state)
{
    struct fixture *f = *state;
    /* a name with a quote and a comma */
    free(f->alpha->hosts[1].name_label);
    f->alpha->hosts[1].name_label = xstrdup("a2 \"spare\", rack 3");
    struct alert_list l = {0};
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    struct view_server_rows r;
    view_by_server(f->cat, f->pools, 4, &l, &r);
    struct buf b;
    buf_init(&b);
    csv_by_server(&b, &r);
    const char *want =
        "\xEF\xBB\xBF"
        "Pool,Server,Version,Status,Required Updates,Installed Updates\r\n"
        "\"Alpha\",\"a1\",\"8.2.0\",\"Out of date\",\"XS82E001, XS82E002, XS82ECU1\",\"\"\r\n"
        "\"Alpha\",\"a2 \"\"spare\"\", rack 3\",\"8.2.0\",\"Out of date\",\"XS82E002, XS82ECU1\","
        "\"XS82E001\"\r\n"
        "\"\",\"b1\",\"8.2.1\",\"Out of date\",\"XS82ECU1001\",\"XS82ECU1\"\r\n"
        "\"Delta\",\"d1\",\"6.0.0\",\"\",\"\",\"\"\r\n"
        "\"Gamma\",\"g10\",\"7.1.0\",\"Out of date\",\"Citrix Hypervisor 7.1 CU2, XS71E001\","
        "\"Q0, zzz-unknown\"\r\n"
        "\"Gamma\",\"g9\",\"7.1.0\",\"Out of date\",\"Citrix Hypervisor 7.1 CU2, XS71E001\","
        "\"\"\r\n";
    assert_buf_bytes(&b, want);
    buf_cleanup(&b);
    view_server_rows_cleanup(&r);
    alert_list_cleanup(&l);
}

/* XenServer 8: alerts and By Server rows from a pool's /updates answer, joined with the legacy
 * pools' alerts. */
static void test_cdn_pool_views(void **state)
{
    struct fixture *f = *state;
    static const char *json =
        "{\"hash\": \"h\", \"hosts\": ["
        "{\"ref\": \"OpaqueRef:x1\", \"updates\": [\"U1\", \"U2\"]},"
        "{\"ref\": \"OpaqueRef:x2\", \"updates\": [\"u1\"]},"
        "{\"ref\": \"OpaqueRef:elsewhere\", \"updates\": [\"U3\"]}],"
        "\"updates\": [{\"id\": \"U1\", \"title\": \"Update one\", \"summary\": \"Sum\","
        " \"url\": \"https://u1\", \"issued\": \"20240102T03:04:05Z\"},"
        "{\"id\": \"U2\"}, {\"id\": \"U3\", \"title\": \"Three\"}]}";
    struct catalog *cdn = NULL;
    assert_int_equal(catalog_parse_cdn_json(json, strlen(json), NULL, &cdn, NULL), 0);
    static const char *const names[] = {"x1", "x2"};
    struct inv_pool *eight = make_pool("Eight", 2, names, "8.4.0", "", NULL);
    const struct inv_pool *one[] = {eight};
    struct alert_list l = {0}, c = {0};
    assert_int_equal(alerts_compute(cdn, one, 1, NULL, &c, NULL), 0);
    assert_int_equal(c.n, 2); /* U3 names no host of ours */
    assert_string_equal(c.v[0].key, "U1");
    assert_string_equal(c.v[0].title, "New Update Available - Update one");
    assert_string_equal(c.v[0].description, "Sum");
    assert_string_equal(c.v[0].applies_to, "Eight");
    assert_string_equal(c.v[0].web_page, "https://u1");
    assert_true(c.v[0].timestamp_ms == 1704164645000LL);
    assert_string_equal(c.v[1].title, "New Update Available - U2");
    assert_string_equal(c.v[1].applies_to, "x1");
    /* join with the legacy pools' alerts */
    assert_int_equal(alerts_compute(f->cat, f->pools, 4, NULL, &l, NULL), 0);
    size_t legacy = l.n;
    alert_list_append(&l, &c);
    assert_int_equal(l.n, legacy + 2);
    assert_int_equal(c.n, 0);
    assert_null(c.v);
    struct view_update_rows ur;
    view_by_update(&l, VIEW_SORT_POOL, &ur);
    assert_int_equal(ur.n, legacy + 2);
    view_update_rows_cleanup(&ur);
    /* By Server with a catalog per pool */
    const struct inv_pool *all[] = {f->alpha, f->standalone, f->gamma, f->delta, eight};
    const struct catalog *cats[] = {NULL, NULL, NULL, NULL, cdn};
    struct view_server_rows r;
    view_by_server_multi(cats, f->cat, all, 5, &l, &r);
    assert_int_equal(r.n, 12);
    /* Alpha(3) b1(1) Delta(2) Eight(3) Gamma(3) */
    assert_string_equal(r.v[6].server, "Eight");
    assert_string_equal(r.v[6].status, "Out of date");
    assert_string_equal(r.v[7].server, "x1");
    assert_string_equal(r.v[7].required, "Update one, U2");
    assert_string_equal(r.v[8].required, "Update one");
    assert_string_equal(r.v[1].required, "XS82E001, XS82E002, XS82ECU1"); /* legacy unchanged */
    view_server_rows_cleanup(&r);
    /* a host the answer does not cover has an unknown status */
    free(eight->hosts[1].ref);
    eight->hosts[1].ref = xstrdup("OpaqueRef:new-host");
    view_by_server_multi(cats, f->cat, all, 5, &l, &r);
    assert_string_equal(r.v[8].status, "");
    assert_string_equal(r.v[6].status, "");
    view_server_rows_cleanup(&r);
    alert_list_cleanup(&l);
    inv_pool_free(eight);
    catalog_free(cdn);
}

/* The generated catalog against pools on every version: alerts exist and are consistent. */
static void test_generated_catalog_alerts(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/catalog/updates.xml", PP_SOURCE_ROOT);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    struct buf data;
    buf_init(&data);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_append(&data, chunk, n);
    fclose(fp);
    struct catalog *c = NULL;
    assert_int_equal(catalog_parse_xml(data.data, data.len, NULL, &c, NULL), 0);
    buf_cleanup(&data);
    struct inv_pool **pools = xcalloc(c->n_versions, sizeof(*pools));
    for (size_t i = 0; i < c->n_versions; i++) {
        static const char *const names[] = {"h1", "h2"};
        char *pn = xasprintf("pool-%s", c->versions[i].value);
        pools[i] = make_pool(pn, 2, names, c->versions[i].value, c->versions[i].build_number, NULL);
        free(pn);
    }
    struct alert_list l = {0};
    assert_int_equal(
        alerts_compute(c, (const struct inv_pool *const *)pools, c->n_versions, NULL, &l, NULL), 0);
    size_t patch_alerts = 0, versions = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].kind == ALERT_VERSION) {
            versions++;
            continue;
        }
        patch_alerts++;
        /* nothing applied: only patches without requirements qualify, on whole pools */
        assert_int_equal(l.v[i].patch->n_required, 0);
        assert_int_equal(l.v[i].n_hosts, 0);
    }
    assert_int_equal(versions, 1); /* 8.2 CU1 is both latest and latestcr */
    assert_true(patch_alerts > 100);
    struct view_server_rows r;
    view_by_server(c, (const struct inv_pool *const *)pools, c->n_versions, &l, &r);
    assert_int_equal(r.n, c->n_versions * 3);
    view_server_rows_cleanup(&r);
    alert_list_cleanup(&l);
    for (size_t i = 0; i < c->n_versions; i++)
        inv_pool_free(pools[i]);
    free(pools);
    catalog_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_installable_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dismissals, setup, teardown),
        cmocka_unit_test(test_dismiss_values),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test_setup_teardown(test_by_update_sorting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_by_server_rows, setup, teardown),
        cmocka_unit_test(test_csv_time),
        cmocka_unit_test_setup_teardown(test_csv_by_update_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_by_server_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cdn_pool_views, setup, teardown),
        cmocka_unit_test(test_generated_catalog_alerts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
