/* SPDX-License-Identifier: MIT */
/* test_catalog.c - unit tests of the catalog module: updates.xml and XS8 /updates JSON parsing
 * (every attribute, defaults, case-insensitive uuids, unknown elements, malformed, oversized and
 * hostile inputs), look-ups, classification, eligibility, and the generated data set. */
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

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

static char *read_data(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/catalog/%s", PP_SOURCE_ROOT, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static struct catalog *parse_ok(const char *xml)
{
    struct catalog *c = NULL;
    struct err e = {0};
    int rc = catalog_parse_xml(xml, strlen(xml), NULL, &c, &e);
    if (rc != 0)
        fail_msg("parse failed: %s", e.msg);
    assert_non_null(c);
    return c;
}

/* Parse must fail with code; the message must contain every given fragment. */
static void parse_fails(const char *xml, size_t len, const struct cat_limits *lim, int code,
                        const char *frag1, const char *frag2)
{
    struct catalog *c = (struct catalog *)0x1;
    struct err e = {0};
    int rc = catalog_parse_xml(xml, len, lim, &c, &e);
    assert_int_equal(rc, code);
    assert_int_equal(e.code, code);
    assert_ptr_equal(c, (struct catalog *)0x1); /* untouched: never a partial model */
    if (frag1 && !strstr(e.msg, frag1))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, frag1);
    if (frag2 && !strstr(e.msg, frag2))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, frag2);
}

static const char *FULL_XML =
    "<?xml version=\"1.0\"?>\n"
    "<patchdata>\n"
    " <patches>\n"
    "  <patch uuid=\"AAAAAAAA-0000-0000-0000-000000000001\" name-label=\"XS82ECU1010\"\n"
    "    name-description=\"Fixes &amp; more\" version=\"1.0.3\" url=\"https://kb/CTX1\"\n"
    "    patch-url=\"https://fileservice.citrix.com/direct/v2/download/x.zip\"\n"
    "    timestamp=\"2023-01-10T00:00:00Z\" after-apply-guidance=\"restartHost\"\n"
    "    guidance-mandatory=\"True\" priority=\"1\" installation-size=\"123456789\"\n"
    "    download-size=\"98765432\" contains-livepatch=\"true\" unknown-attr=\"x\">\n"
    "   <requiredpatches><requiredpatch uuid=\"BBBBBBBB-0000-0000-0000-000000000002\"/>"
    "<requiredpatch/></requiredpatches>\n"
    "   <conflictingpatches><conflictingpatch uuid=\"cccccccc-0000-0000-0000-000000000003\"/>"
    "</conflictingpatches>\n"
    "   <changelog><entry>ignored</entry></changelog>\n"
    "  </patch>\n"
    "  <patch uuid=\"bbbbbbbb-0000-0000-0000-000000000002\" version=\"1.0\"/>\n"
    "  <patch uuid=\"cccccccc-0000-0000-0000-000000000003\" version=\"2.0.0.1\"\n"
    "    after-apply-guidance=\"restartXAPI\" priority=\"\"/>\n"
    "  <patch uuid=\"dddddddd-0000-0000-0000-000000000004\" version=\"1.0\" priority=\"0\"\n"
    "    after-apply-guidance=\"restartFoo\" guidance-mandatory=\"nope\"/>\n"
    "  <patch uuid=\"eeeeeeee-0000-0000-0000-000000000005\" version=\"1.0\" priority=\"5\"\n"
    "    after-apply-guidance=\"restartHVM\" timestamp=\"garbage\" installation-size=\"-\"/>\n"
    "  <patch uuid=\"ffffffff-0000-0000-0000-000000000006\" version=\"1.0\" "
    "after-apply-guidance=\"restartPV\" priority=\"x\"/>\n"
    " </patches>\n"
    " <unknownsection><patch uuid=\"99999999-0000-0000-0000-000000000000\"/></unknownsection>\n"
    " <serverversions>\n"
    "  <version value=\"8.2.1.beta\" name=\"Citrix Hypervisor 8.2 CU1\" build-number=\"1151c\"\n"
    "    latest=\"TRUE\" latestcr=\"true\" url=\"https://dl\" timestamp=\"2022-01-10\"\n"
    "    patch-uuid=\"AAAAAAAA-0000-0000-0000-000000000001\" present-as-update=\"true\"\n"
    "    minimum-xc-version=\"8.2.3\" hotfix-eligibility=\"premium\"\n"
    "    hotfix-eligibility-premium-date=\"2022-06-01T00:00:00Z\"\n"
    "    hotfix-eligibility-none-date=\"2025-06-25T00:00:00Z\" eol-date=\"2025-06-25\">\n"
    "   <patch uuid=\"EEEEEEEE-0000-0000-0000-000000000005\"/>\n"
    "   <patch uuid=\"12345678-dead-beef-0000-000000000000\"/>\n"
    "   <minimalpatches><patch uuid=\"eeeeeeee-0000-0000-0000-000000000005\"/>"
    "<other/></minimalpatches>\n"
    "  </version>\n"
    "  <version value=\"8.2.0\" name=\"Citrix Hypervisor 8.2\" build-number=\"1090c\">\n"
    "   <patch uuid=\"aaaaaaaa-0000-0000-0000-000000000001\"/>\n"
    "   <patch uuid=\"bbbbbbbb-0000-0000-0000-000000000002\"/>\n"
    "   <minimalpatches><patch uuid=\"bbbbbbbb-0000-0000-0000-000000000002\"/>"
    "<patch uuid=\"aaaaaaaa-0000-0000-0000-000000000001\"/></minimalpatches>\n"
    "  </version>\n"
    "  <version value=\"7.0.0\" name=\"XenServer 7.0\" hotfix-eligibility=\"Premium\">\n"
    "   <patch uuid=\"cccccccc-0000-0000-0000-000000000003\"/>\n"
    "  </version>\n"
    "  <version value=\"7.1.2\" name=\"7.1 CU2\" "
    "patch-uuid=\"dddddddd-0000-0000-0000-000000000004\""
    " hotfix-eligibility=\"cu\"/>\n"
    " </serverversions>\n"
    "</patchdata>\n";

static void test_xml_every_attribute(void **state)
{
    (void)state;
    struct catalog *c = parse_ok(FULL_XML);
    assert_int_equal(c->source, CAT_SOURCE_XML);
    assert_int_equal(c->n_patches, 6);
    assert_int_equal(c->n_versions, 4);
    const struct cat_patch *p = &c->patches[0];
    assert_string_equal(p->uuid, "aaaaaaaa-0000-0000-0000-000000000001"); /* lower-cased */
    assert_string_equal(p->name_label, "XS82ECU1010");
    assert_string_equal(p->name_description, "Fixes & more");
    assert_string_equal(p->version, "1.0.3");
    assert_string_equal(p->url, "https://kb/CTX1");
    assert_string_equal(p->patch_url, "https://fileservice.citrix.com/direct/v2/download/x.zip");
    assert_true(p->timestamp_ms == 1673308800000LL);
    assert_int_equal(p->guidance, CAT_G_RESTART_HOST);
    assert_true(p->guidance_mandatory);
    assert_int_equal(p->priority, 1);
    assert_true(p->installation_size == 123456789);
    assert_true(p->download_size == 98765432);
    assert_true(p->contains_livepatch);
    assert_true(p->has_required);
    assert_int_equal(p->n_required, 1); /* the uuid-less <requiredpatch/> is skipped */
    assert_string_equal(p->required[0], "bbbbbbbb-0000-0000-0000-000000000002");
    assert_true(p->has_conflicting);
    assert_int_equal(p->n_conflicting, 1);
    assert_string_equal(p->conflicting[0], "cccccccc-0000-0000-0000-000000000003");
    assert_int_equal(p->line, 4);
    /* the version a CU installs has present-as-update: a current release offered as update */
    assert_int_equal(p->kind, CAT_KIND_NEW_RELEASE);
    assert_string_equal(p->type, "");

    const struct cat_version *v = &c->versions[0];
    assert_string_equal(v->value, "8.2.1"); /* non-numeric parts dropped */
    assert_string_equal(v->name, "Citrix Hypervisor 8.2 CU1");
    assert_string_equal(v->build_number, "1151c");
    assert_true(v->latest);
    assert_true(v->latestcr);
    assert_string_equal(v->url, "https://dl");
    assert_true(v->timestamp_ms == 1641772800000LL);
    assert_string_equal(v->patch_uuid, "aaaaaaaa-0000-0000-0000-000000000001");
    assert_true(v->present_as_update);
    assert_string_equal(v->minimum_xc_version, "8.2.3");
    assert_int_equal(v->eligibility, CAT_ELIG_PREMIUM);
    assert_true(v->eligibility_premium_date_ms == 1654041600000LL);
    assert_true(v->eligibility_none_date_ms == 1750809600000LL);
    assert_true(v->eol_date_ms == 1750809600000LL);
    assert_int_equal(v->n_patches, 1); /* unknown uuid skipped, case folded */
    assert_string_equal(v->patches[0], "eeeeeeee-0000-0000-0000-000000000005");
    assert_true(v->has_minimal);
    assert_int_equal(v->n_minimal, 1);
    catalog_free(c);
}

static void test_xml_defaults(void **state)
{
    (void)state;
    struct catalog *c = parse_ok(FULL_XML);
    const struct cat_patch *b = catalog_find_patch(c, "bbbbbbbb-0000-0000-0000-000000000002");
    assert_non_null(b);
    assert_string_equal(b->name_label, "");
    assert_string_equal(b->url, "");
    assert_string_equal(b->patch_url, "");
    assert_true(b->timestamp_ms == 0);
    assert_int_equal(b->guidance, CAT_G_NONE);
    assert_false(b->guidance_mandatory);
    assert_int_equal(b->priority, 2);
    assert_true(b->installation_size == 0 && b->download_size == 0);
    assert_false(b->contains_livepatch);
    assert_false(b->has_required);
    assert_null(b->required);
    assert_int_equal(b->n_required, 0);
    assert_int_equal(b->kind, CAT_KIND_HOTFIX);
    /* listed by 8.2 (eligibility "all" by default) */
    assert_int_equal(b->eligibility, CAT_ELIG_ALL);
    /* priority "" -> 2, "0" -> 0 (Unknown), "5" -> 5, "x" -> 2 (XenServerPatchAlertTests) */
    assert_int_equal(catalog_find_patch(c, "cccccccc-0000-0000-0000-000000000003")->priority, 2);
    assert_int_equal(catalog_find_patch(c, "dddddddd-0000-0000-0000-000000000004")->priority, 0);
    assert_int_equal(catalog_find_patch(c, "eeeeeeee-0000-0000-0000-000000000005")->priority, 5);
    assert_int_equal(catalog_find_patch(c, "ffffffff-0000-0000-0000-000000000006")->priority, 2);
    const struct cat_patch *d = catalog_find_patch(c, "dddddddd-0000-0000-0000-000000000004");
    assert_int_equal(d->guidance, CAT_G_UNKNOWN);
    assert_false(d->guidance_mandatory);
    assert_int_equal(d->kind, CAT_KIND_CU); /* 7.1.2 names it, without present-as-update */
    const struct cat_patch *e5 = catalog_find_patch(c, "eeeeeeee-0000-0000-0000-000000000005");
    assert_true(e5->timestamp_ms == 0);      /* unparseable date: unknown */
    assert_true(e5->installation_size == 0); /* unparseable size: 0 */
    assert_int_equal(e5->guidance, CAT_G_RESTART_HVM);
    assert_int_equal(e5->eligibility, CAT_ELIG_PREMIUM);
    assert_int_equal(catalog_find_patch(c, "ffffffff-0000-0000-0000-000000000006")->guidance,
                     CAT_G_RESTART_PV);
    /* version defaults */
    const struct cat_version *v70 = &c->versions[2];
    assert_string_equal(v70->build_number, "");
    assert_false(v70->latest || v70->latestcr || v70->present_as_update);
    assert_string_equal(v70->patch_uuid, "");
    assert_false(v70->has_minimal);
    assert_null(v70->minimal);
    assert_int_equal(v70->eligibility, CAT_ELIG_ALL); /* "Premium": names are case-sensitive */
    assert_true(v70->eol_date_ms == 0);
    assert_int_equal(c->versions[3].eligibility, CAT_ELIG_CU);
    /* the 8.2 minimal list keeps catalog order of <minimalpatches> */
    assert_int_equal(c->versions[1].n_minimal, 2);
    assert_string_equal(c->versions[1].minimal[1], "aaaaaaaa-0000-0000-0000-000000000001");
    catalog_free(c);
}

static void test_xml_lookups_case_insensitive(void **state)
{
    (void)state;
    struct catalog *c = parse_ok(FULL_XML);
    assert_ptr_equal(catalog_find_patch(c, "AAAAAAAA-0000-0000-0000-000000000001"), &c->patches[0]);
    assert_ptr_equal(catalog_find_patch(c, "aaaaaaaa-0000-0000-0000-000000000001"), &c->patches[0]);
    assert_ptr_equal(catalog_find_patch(c, "FfFfFfFf-0000-0000-0000-000000000006"), &c->patches[5]);
    assert_null(catalog_find_patch(c, "99999999-0000-0000-0000-000000000000"));
    assert_null(catalog_find_patch(c, NULL));
    assert_int_equal(catalog_patch_index(c, "CCCCCCCC-0000-0000-0000-000000000003"), 2);
    assert_int_equal(catalog_patch_index(c, "nope"), -1);
    assert_ptr_equal(catalog_version_installed_by(c, "AAAAAAAA-0000-0000-0000-000000000001"),
                     &c->versions[0]);
    assert_null(catalog_version_installed_by(c, "bbbbbbbb-0000-0000-0000-000000000002"));
    assert_null(catalog_version_installed_by(c, ""));
    catalog_free(c);
}

static void test_match_version(void **state)
{
    (void)state;
    struct catalog *c = parse_ok(FULL_XML);
    /* build number wins when the catalog version has one */
    assert_ptr_equal(catalog_match_version(c, "8.2.1", "1151c"), &c->versions[0]);
    assert_ptr_equal(catalog_match_version(c, "9.9.9", "1090c"), &c->versions[1]);
    assert_null(catalog_match_version(c, "8.2.0", "1090d")); /* product version not used */
    assert_null(catalog_match_version(c, "8.2.0", NULL));
    /* no build number in the catalog: product_version, exactly */
    assert_ptr_equal(catalog_match_version(c, "7.0.0", "125380c"), &c->versions[2]);
    assert_null(catalog_match_version(c, "7.0", ""));
    assert_null(catalog_match_version(NULL, "7.0.0", ""));
    catalog_free(c);
}

static void test_eligibility_and_names(void **state)
{
    (void)state;
    struct cat_version v = {0};
    v.eligibility = CAT_ELIG_ALL;
    v.eligibility_premium_date_ms = 1000;
    v.eligibility_none_date_ms = 2000;
    assert_int_equal(cat_version_eligibility_at(&v, 999), CAT_ELIG_ALL);
    assert_int_equal(cat_version_eligibility_at(&v, 1000), CAT_ELIG_PREMIUM);
    assert_int_equal(cat_version_eligibility_at(&v, 2500), CAT_ELIG_NONE);
    v.eligibility = CAT_ELIG_CU;
    assert_int_equal(cat_version_eligibility_at(&v, 1500), CAT_ELIG_CU);
    assert_string_equal(cat_eligibility_name(CAT_ELIG_PREMIUM), "premium");
    assert_string_equal(cat_kind_name(CAT_KIND_NEW_RELEASE), "new-release");
    assert_int_equal(cat_guidance_from_name("restartHost"), CAT_G_RESTART_HOST);
    assert_int_equal(cat_guidance_from_name("RebootHost"), CAT_G_RESTART_HOST);
    assert_int_equal(cat_guidance_from_name("RestartToolstack"), CAT_G_RESTART_XAPI);
    assert_int_equal(cat_guidance_from_name("restart_device_model"), CAT_G_RESTART_DM);
    assert_int_equal(cat_guidance_from_name("EvacuateHost"), CAT_G_EVACUATE_HOST);
    assert_int_equal(cat_guidance_from_name("RestartVM"), CAT_G_RESTART_VM);
    assert_int_equal(cat_guidance_from_name("None"), CAT_G_NONE);
    assert_int_equal(cat_guidance_from_name("reboot"), CAT_G_UNKNOWN);
    assert_int_equal(cat_guidance_from_list("restartHVM, restartPV"),
                     CAT_G_RESTART_HVM | CAT_G_RESTART_PV);
    assert_int_equal(cat_guidance_from_list(""), CAT_G_NONE);
    assert_string_equal(cat_guidance_name(CAT_G_RESTART_XAPI), "restartXAPI");
    assert_string_equal(cat_guidance_name(CAT_G_RESTART_DM), "RestartDeviceModel");
    assert_string_equal(cat_guidance_name(CAT_G_UNKNOWN), "unknown");
}

static void test_version_cmp_and_dates(void **state)
{
    (void)state;
    assert_true(cat_version_cmp("8.2.1", "8.2.0") > 0);
    assert_true(cat_version_cmp("8.2", "8.2.0") < 0); /* System.Version: missing < 0 */
    assert_true(cat_version_cmp("7.10.0", "7.9.0") > 0);
    assert_int_equal(cat_version_cmp("8.2.1", "8.2.1"), 0);
    assert_true(cat_version_cmp("", "1.0") < 0);
    assert_true(cat_version_cmp(NULL, NULL) == 0);
    int64_t t;
    assert_int_equal(cat_parse_date("2016-12-21T00:00:00Z", &t), 0);
    assert_true(t == 1482278400000LL);
    assert_int_equal(cat_parse_date("2016-12-21", &t), 0);
    assert_true(t == 1482278400000LL);
    assert_int_equal(cat_parse_date("2016-12-21 01:00:00", &t), 0);
    assert_true(t == 1482282000000LL);
    assert_int_equal(cat_parse_date("2016-12-21T02:00:00+01:00", &t), 0);
    assert_true(t == 1482282000000LL);
    assert_int_equal(cat_parse_date("2016-12-21T00:00:00.250Z", &t), 0);
    assert_true(t == 1482278400250LL);
    assert_int_equal(cat_parse_date("20161221T00:00:00Z", &t), 0);
    assert_true(t == 1482278400000LL);
    assert_int_equal(cat_parse_date("2017-02-29", &t), PP_EPARSE);
    assert_int_equal(cat_parse_date("2016-13-01", &t), PP_EPARSE);
    assert_int_equal(cat_parse_date("yesterday", &t), PP_EPARSE);
    assert_int_equal(cat_parse_date("2016-12-21Tjunk", &t), PP_EPARSE);
}

static void test_xml_unknown_ignored(void **state)
{
    (void)state;
    struct catalog *c =
        parse_ok("<patchdata foo=\"1\"><extra><deep><deeper/></deep></extra>"
                 "<patches><note>x</note><patch uuid=\"a\" version=\"1.0\"><requiredpatches>"
                 "<something uuid=\"b\"/></requiredpatches></patch></patches>"
                 "<serverversions><notaversion value=\"x\"/><version value=\"1.0\"><whatever/>"
                 "</version></serverversions>"
                 "<!-- comment --><?pi data?></patchdata>");
    assert_int_equal(c->n_patches, 1);
    assert_int_equal(c->patches[0].n_required, 0);
    assert_true(c->patches[0].has_required);
    assert_int_equal(c->n_versions, 1);
    assert_int_equal(c->versions[0].n_patches, 0);
    catalog_free(c);
    /* an empty catalog is valid */
    c = parse_ok("<patchdata/>");
    assert_int_equal(c->n_patches, 0);
    assert_null(catalog_find_patch(c, "a"));
    catalog_free(c);
}

static void test_xml_malformed(void **state)
{
    (void)state;
    const char *x1 = "<patchdata>\n<patches>\n<patch uuid=\"a\" version=\"1.0\">\n</patches>";
    parse_fails(x1, strlen(x1), NULL, PP_EPARSE, "line 4, column 3", "mismatched tag");
    parse_fails("", 0, NULL, PP_EPARSE, "line 1", "no element found");
    const char *x2 = "<patchdata><patches>\n\n  <patch uuid=\"U-1\" name-label=\"XS1\"/>"
                     "</patches></patchdata>";
    parse_fails(x2, strlen(x2), NULL, PP_EPARSE, "patch U-1 (\"XS1\") has no version",
                "line 3, column 3");
    const char *x3 = "<patchdata><patches><patch uuid=\"U-2\" version=\"1\"/></patches>"
                     "</patchdata>";
    parse_fails(x3, strlen(x3), NULL, PP_EPARSE, "U-2", "unparseable version \"1\"");
    const char *x4 = "<patchdata><patches><patch uuid=\"U-3\" version=\"1.x\"/></patches>"
                     "</patchdata>";
    parse_fails(x4, strlen(x4), NULL, PP_EPARSE, "U-3", "line 1");
    const char *x5 = "<patchdata><patches><patch name-label=\"n\" version=\"1.0\"/></patches>"
                     "</patchdata>";
    parse_fails(x5, strlen(x5), NULL, PP_EPARSE, "has no uuid", NULL);
    const char *x6 = "<patchdata><serverversions><version value=\"beta\" name=\"B\"/>"
                     "</serverversions></patchdata>";
    parse_fails(x6, strlen(x6), NULL, PP_EPARSE, "server version \"B\"", "\"beta\"");
    const char *x7 = "<html><body>Service unavailable</body></html>";
    parse_fails(x7, strlen(x7), NULL, PP_EPARSE, "root element is <html>", NULL);
    const char *x8 = "<patchdata>\xff\xfe</patchdata>";
    parse_fails(x8, strlen(x8), NULL, PP_EPARSE, "line 1, column", NULL);
    const char *x9 = "<patchdata></patchdata><second/>";
    parse_fails(x9, strlen(x9), NULL, PP_EPARSE, "junk after document element", NULL);
    /* a bad patch after good ones still fails the whole parse */
    const char *x10 = "<patchdata><patches><patch uuid=\"a\" version=\"1.0\"/>"
                      "<patch uuid=\"b\" version=\"\"/></patches></patchdata>";
    parse_fails(x10, strlen(x10), NULL, PP_EPARSE, "patch b", NULL);
    struct catalog *c = NULL;
    assert_int_equal(catalog_parse_xml(NULL, 5, NULL, &c, NULL), PP_EINVAL);
    assert_int_equal(catalog_parse_xml("<a/>", 4, NULL, NULL, NULL), PP_EINVAL);
}

static void test_xml_limits(void **state)
{
    (void)state;
    struct cat_limits lim;
    cat_limits_default(&lim);
    assert_true(lim.max_bytes == 64u * 1024 * 1024);
    assert_int_equal(lim.max_depth, 32);
    const char *ok = "<patchdata><patches><patch uuid=\"a\" version=\"1.0\"/>"
                     "<patch uuid=\"b\" version=\"1.0\"/></patches>"
                     "<serverversions><version value=\"1.0\"/><version value=\"2.0\"/>"
                     "</serverversions></patchdata>";
    lim.max_bytes = 20;
    parse_fails(ok, strlen(ok), &lim, PP_ELIMIT, "over the limit of 20", NULL);
    cat_limits_default(&lim);
    lim.max_patches = 1;
    parse_fails(ok, strlen(ok), &lim, PP_ELIMIT, "more than 1 patches", "line 1");
    cat_limits_default(&lim);
    lim.max_versions = 1;
    parse_fails(ok, strlen(ok), &lim, PP_ELIMIT, "more than 1 server versions", NULL);
    cat_limits_default(&lim);
    lim.max_attr_bytes = 2;
    parse_fails(ok, strlen(ok), &lim, PP_ELIMIT, "attribute version of <patch>", NULL);
    /* depth: 40 nested unknown elements */
    struct buf db;
    buf_init(&db);
    buf_puts(&db, "<patchdata>");
    for (int i = 0; i < 40; i++)
        buf_puts(&db, "<x>");
    for (int i = 0; i < 40; i++)
        buf_puts(&db, "</x>");
    buf_puts(&db, "</patchdata>");
    const char *deep = buf_str(&db);
    parse_fails(deep, strlen(deep), NULL, PP_ELIMIT, "deeper than 32", "line 1, column");
    cat_limits_default(&lim);
    lim.max_depth = 64;
    struct catalog *c = NULL;
    assert_int_equal(catalog_parse_xml(deep, strlen(deep), &lim, &c, NULL), 0);
    catalog_free(c);
    buf_cleanup(&db);
}

static void test_xml_hostile(void **state)
{
    (void)state;
    const char *laughs =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        "]>\n"
        "<patchdata><patches><patch uuid=\"&lol3;\" version=\"1.0\"/></patches></patchdata>";
    parse_fails(laughs, strlen(laughs), NULL, PP_EPARSE, "DOCTYPE is not allowed", "line 2");
    const char *xxe = "<?xml version=\"1.0\"?>\n"
                      "<!DOCTYPE patchdata SYSTEM \"file:///etc/passwd\">\n"
                      "<patchdata/>";
    parse_fails(xxe, strlen(xxe), NULL, PP_EPARSE, "DOCTYPE", NULL);
    const char *undeclared = "<patchdata><patches><patch uuid=\"&xxe;\" version=\"1.0\"/>"
                             "</patches></patchdata>";
    parse_fails(undeclared, strlen(undeclared), NULL, PP_EPARSE, "undefined entity", NULL);
    /* embedded NUL */
    const char nul[] = "<patchdata>\0</patchdata>";
    parse_fails(nul, sizeof(nul) - 1, NULL, PP_EPARSE, "line 1", NULL);
    /* a long run of attributes on one element is fine within limits */
    struct buf many;
    buf_init(&many);
    buf_puts(&many, "<patchdata");
    for (int i = 0; i < 5000; i++)
        buf_printf(&many, " a%d=\"1\"", i);
    buf_puts(&many, "/>");
    struct catalog *c = NULL;
    assert_int_equal(catalog_parse_xml(many.data, many.len, NULL, &c, NULL), 0);
    catalog_free(c);
    buf_cleanup(&many);
}

/* ---- XenServer 8 JSON ---------------------------------------------------------------------- */

static const char *CDN_OBJ =
    "{\"hash\": \"abc123\",\n"
    " \"hosts\": [{\"ref\": \"OpaqueRef:h1\",\n"
    "   \"guidance\": {\"mandatory\": [\"RestartToolstack\"], \"recommended\": [\"RebootHost\"],\n"
    "                \"full\": [\"RebootHost\", \"RestartVM\"], \"livepatch\": []},\n"
    "   \"RPMS\": [\"xen-4.17.rpm\"], \"updates\": [\"U1\", \"U2\"],\n"
    "   \"livepatches\": [{\"component\": \"kernel\", \"base-buildid\": \"bid\", \"base\": "
    "\"4.19-1\","
    " \"to\": \"4.19-2\"}], \"future\": 1}],\n"
    " \"updates\": [{\"id\": \"U1\", \"title\": \"Update one\", \"summary\": \"Sum\",\n"
    "   \"description\": \"Long\", \"special-info\": \"Special\", \"url\": \"https://u1\",\n"
    "   \"type\": \"SecurityFix\", \"issued\": \"20230512T08:37:49Z\", \"severity\": \"High\",\n"
    "   \"guidance\": {\"mandatory\": [], \"recommended\": [\"RebootHost\", \"EvacuateHost\"],\n"
    "                \"full\": [\"RebootHost\"], \"livepatch\": [\"RestartToolstack\"]},\n"
    "   \"livepatches\": [{\"component\": \"xen\", \"base\": \"4.17-1\", \"to\": \"4.17-2\"}]},\n"
    "  {\"id\": \"U2\", \"type\": \"Weird\", \"issued\": \"2023-05-12 08:37:49\","
    " \"guidance\": {\"mandatory\": [\"RestartDeviceModel\"]}}]}";

static const char *CDN_ARR =
    "{\"hash\": \"abc123\",\n"
    " \"hosts\": [{\"ref\": \"OpaqueRef:h1\", \"recommended-guidance\": [\"RebootHost\"],\n"
    "   \"absolute-guidance\": [\"RebootHost\", \"RestartVM\"], \"RPMS\": [], \"updates\": "
    "[\"U1\"],"
    " \"livepatches\": []}],\n"
    " \"updates\": [{\"id\": \"U1\", \"title\": \"Update one\", \"summary\": \"Sum\",\n"
    "   \"issued\": \"20230512T08:37:49Z\", \"severity\": \"High\", \"type\": \"Bugfix\",\n"
    "   \"recommended-guidance\": [\"RebootHost\", \"EvacuateHost\"],\n"
    "   \"absolute-guidance\": [\"RebootHost\"], \"livepatch-guidance\": \"RestartToolstack\",\n"
    "   \"livepatches\": []}]}";

static void test_cdn_object_form(void **state)
{
    (void)state;
    struct catalog *c = NULL;
    struct err e = {0};
    assert_int_equal(catalog_parse_cdn_json(CDN_OBJ, strlen(CDN_OBJ), NULL, &c, &e), 0);
    assert_int_equal(c->source, CAT_SOURCE_CDN);
    assert_string_equal(c->cdn_hash, "abc123");
    assert_int_equal(c->n_patches, 2);
    const struct cat_patch *u = catalog_find_patch(c, "u1"); /* ids match case-insensitively */
    assert_non_null(u);
    assert_string_equal(u->uuid, "U1");
    assert_int_equal(u->source, CAT_SOURCE_CDN);
    assert_string_equal(u->name_label, "Update one");
    assert_string_equal(u->name_description, "Sum");
    assert_string_equal(u->description, "Long");
    assert_string_equal(u->special_info, "Special");
    assert_string_equal(u->url, "https://u1");
    assert_string_equal(u->type, "SecurityFix");
    assert_string_equal(u->severity, "High");
    assert_string_equal(u->version, "");
    assert_true(u->timestamp_ms == 1683880669000LL);
    assert_int_equal(u->guidance, CAT_G_RESTART_HOST | CAT_G_EVACUATE_HOST);
    assert_false(u->guidance_mandatory);
    assert_int_equal(u->absolute_guidance, CAT_G_RESTART_HOST);
    assert_int_equal(u->livepatch_guidance, CAT_G_RESTART_XAPI);
    assert_int_equal(u->n_livepatches, 1);
    assert_string_equal(u->livepatches[0].component, "xen");
    assert_string_equal(u->livepatches[0].base_buildid, "");
    assert_string_equal(u->livepatches[0].to, "4.17-2");
    assert_true(u->contains_livepatch);
    assert_int_equal(u->kind, CAT_KIND_HOTFIX);
    const struct cat_patch *u2 = &c->patches[1];
    assert_string_equal(u2->type, "Unknown");
    assert_true(u2->timestamp_ms == 1683880669000LL);
    assert_true(u2->guidance_mandatory);
    assert_int_equal(u2->guidance, CAT_G_RESTART_DM);
    assert_string_equal(u2->name_label, "");
    assert_int_equal(c->n_cdn_hosts, 1);
    const struct cat_cdn_host *h = &c->cdn_hosts[0];
    assert_string_equal(h->ref, "OpaqueRef:h1");
    assert_int_equal(h->n_updates, 2);
    assert_string_equal(h->updates[1], "U2");
    assert_int_equal(h->recommended_guidance, CAT_G_RESTART_HOST);
    assert_int_equal(h->absolute_guidance, CAT_G_RESTART_HOST | CAT_G_RESTART_VM);
    assert_int_equal(h->full_guidance, CAT_G_RESTART_HOST | CAT_G_RESTART_VM);
    assert_int_equal(h->mandatory_guidance, CAT_G_RESTART_XAPI);
    assert_int_equal(h->livepatch_guidance, 0);
    assert_int_equal(h->n_rpms, 1);
    assert_string_equal(h->rpms[0], "xen-4.17.rpm");
    assert_int_equal(h->n_livepatches, 1);
    assert_string_equal(h->livepatches[0].base_buildid, "bid");
    catalog_free(c);
}

static void test_cdn_array_form(void **state)
{
    (void)state;
    struct catalog *c = NULL;
    struct err e = {0};
    assert_int_equal(catalog_parse_cdn_json(CDN_ARR, strlen(CDN_ARR), NULL, &c, &e), 0);
    const struct cat_patch *u = &c->patches[0];
    assert_int_equal(u->guidance, CAT_G_RESTART_HOST | CAT_G_EVACUATE_HOST);
    assert_int_equal(u->absolute_guidance, CAT_G_RESTART_HOST);
    assert_int_equal(u->livepatch_guidance, CAT_G_RESTART_XAPI);
    assert_false(u->contains_livepatch);
    assert_string_equal(u->type, "Bugfix");
    const struct cat_cdn_host *h = &c->cdn_hosts[0];
    assert_int_equal(h->recommended_guidance, CAT_G_RESTART_HOST);
    assert_int_equal(h->absolute_guidance, CAT_G_RESTART_HOST | CAT_G_RESTART_VM);
    assert_int_equal(h->mandatory_guidance, 0);
    assert_int_equal(h->n_rpms, 0);
    catalog_free(c);
}

static void cdn_fails(const char *json, const struct cat_limits *lim, int code, const char *frag)
{
    struct catalog *c = (struct catalog *)0x1;
    struct err e = {0};
    assert_int_equal(catalog_parse_cdn_json(json, strlen(json), lim, &c, &e), code);
    assert_ptr_equal(c, (struct catalog *)0x1);
    if (frag && !strstr(e.msg, frag))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, frag);
}

static void test_cdn_bad(void **state)
{
    (void)state;
    cdn_fails("[]", NULL, PP_EPARSE, "not an object");
    cdn_fails("{\"hosts\": []}", NULL, PP_EPARSE, "\"updates\" must be lists");
    cdn_fails("{\"hosts\": [], \"updates\": [{\"title\": \"x\"}]}", NULL, PP_EPARSE,
              "updates[0] has no \"id\"");
    cdn_fails("{\"hosts\": [], \"updates\": [{\"id\": 5}]}", NULL, PP_EPARSE, "\"id\" is not");
    cdn_fails("{\"hosts\": [{\"updates\": []}], \"updates\": []}", NULL, PP_EPARSE,
              "hosts[0] has no \"ref\"");
    cdn_fails("{\"hosts\": [{\"ref\": \"r\", \"updates\": [1]}], \"updates\": []}", NULL, PP_EPARSE,
              "\"updates\"[0] is not a string");
    cdn_fails("{\"hosts\": [], \"updates\": [{\"id\": \"a\", \"guidance\": 3}]}", NULL, PP_EPARSE,
              "update a: \"guidance\" is neither");
    cdn_fails("{\"hosts\": [], \"updates\": [{\"id\": \"a\", \"recommended-guidance\": [1]}]}",
              NULL, PP_EPARSE, "recommended-guidance\"[0]");
    cdn_fails("{\"hosts\": [], \"updates\": [{\"id\": \"a\", \"livepatches\": [3]}]}", NULL,
              PP_EPARSE, "livepatches[0] is not an object");
    cdn_fails("{\"hosts\": [], \"updates\": [], ", NULL, PP_EPARSE, "line 1");
    cdn_fails("{\"hosts\": [], \"updates\": [], \"hash\": 1, \"hash\": 2}", NULL, PP_EPARSE, NULL);
    struct cat_limits lim;
    cat_limits_default(&lim);
    lim.max_bytes = 10;
    cdn_fails("{\"hosts\": [], \"updates\": []}", &lim, PP_ELIMIT, NULL);
    cat_limits_default(&lim);
    lim.max_patches = 1;
    cdn_fails("{\"hosts\": [], \"updates\": [{\"id\": \"a\"}, {\"id\": \"b\"}]}", &lim, PP_ELIMIT,
              "more than 1");
    cat_limits_default(&lim);
    lim.max_attr_bytes = 3;
    cdn_fails("{\"hosts\": [], \"updates\": [{\"id\": \"abcdef\"}]}", &lim, PP_ELIMIT, "longer");
    cat_limits_default(&lim);
    lim.max_depth = 3;
    cdn_fails("{\"hosts\": [], \"updates\": [{\"id\": \"a\", \"x\": [[[[1]]]]}]}", &lim, PP_ELIMIT,
              NULL);
}

/* ---- the generated data set ----------------------------------------------------------------- */

static void test_generated_updates_xml(void **state)
{
    (void)state;
    size_t len;
    char *xml = read_data("updates.xml", &len);
    struct catalog *c = NULL;
    struct err e = {0};
    if (catalog_parse_xml(xml, len, NULL, &c, &e) != 0)
        fail_msg("%s", e.msg);
    free(xml);
    assert_int_equal(c->n_versions, 14);
    assert_int_equal(c->n_patches, 407);
    size_t with_build = 0, latest = 0, latestcr = 0, no_minimal = 0, cus = 0, new_rel = 0;
    size_t with_req = 0, with_conf = 0, livepatch = 0, mandatory = 0;
    unsigned guid = 0;
    for (size_t i = 0; i < c->n_versions; i++) {
        with_build += c->versions[i].build_number[0] != '\0';
        latest += c->versions[i].latest;
        latestcr += c->versions[i].latestcr;
        no_minimal += !c->versions[i].has_minimal;
    }
    for (size_t i = 0; i < c->n_patches; i++) {
        const struct cat_patch *p = &c->patches[i];
        cus += p->kind == CAT_KIND_CU;
        new_rel += p->kind == CAT_KIND_NEW_RELEASE;
        with_req += p->n_required > 0;
        with_conf += p->n_conflicting > 0;
        livepatch += p->contains_livepatch;
        mandatory += p->guidance_mandatory;
        guid |= p->guidance;
    }
    assert_int_equal(with_build, 12);
    assert_int_equal(latest, 1);
    assert_int_equal(latestcr, 2);
    assert_int_equal(no_minimal, 2);
    assert_int_equal(cus, 2);     /* 7.1 CU1, 7.1 CU2 */
    assert_int_equal(new_rel, 1); /* 8.2 CU1, present-as-update */
    assert_true(with_req >= 150);
    assert_true(with_conf >= 5);
    assert_true(livepatch >= 20);
    assert_true(mandatory >= 20);
    assert_int_equal(guid, CAT_G_RESTART_HOST | CAT_G_RESTART_XAPI | CAT_G_RESTART_HVM |
                               CAT_G_RESTART_PV);
    /* 8.2's minimal list ends with the CU1 patch, whose version has its own minimal list */
    const struct cat_version *v82 = catalog_match_version(c, "8.2.0", "1090c");
    assert_non_null(v82);
    const char *last = v82->minimal[v82->n_minimal - 1];
    const struct cat_version *cu1 = catalog_version_installed_by(c, last);
    assert_non_null(cu1);
    assert_string_equal(cu1->value, "8.2.1");
    assert_true(cu1->present_as_update && cu1->latest && cu1->has_minimal && cu1->n_minimal > 0);
    /* 7.1 chains twice: CU1 then CU2 */
    const struct cat_version *v71 = catalog_match_version(c, "7.1.0", "137272c");
    const struct cat_version *v711 =
        catalog_version_installed_by(c, v71->minimal[v71->n_minimal - 1]);
    assert_non_null(v711);
    const struct cat_version *v712 =
        catalog_version_installed_by(c, v711->minimal[v711->n_minimal - 1]);
    assert_non_null(v712);
    assert_string_equal(v712->value, "7.1.2");
    /* XenServer 7.0 matches on product version */
    assert_non_null(catalog_match_version(c, "7.0.0", "anything"));
    /* exactly one requirement names a patch outside the catalog: XS82E020 */
    size_t unknown_req = 0;
    for (size_t i = 0; i < c->n_patches; i++)
        for (size_t k = 0; k < c->patches[i].n_required; k++)
            if (!catalog_find_patch(c, c->patches[i].required[k])) {
                unknown_req++;
                assert_string_equal(c->patches[i].name_label, "XS82E020");
            }
    assert_int_equal(unknown_req, 1);
    /* some requirements point forward in catalog order */
    size_t forward = 0;
    for (size_t i = 0; i < c->n_patches; i++)
        for (size_t k = 0; k < c->patches[i].n_required; k++)
            forward += catalog_patch_index(c, c->patches[i].required[k]) > (long)i;
    assert_true(forward >= 5);
    catalog_free(c);
}

static void test_generated_cdn(void **state)
{
    (void)state;
    size_t len1, len2;
    char *j1 = read_data("cdn-updates.json", &len1);
    char *j2 = read_data("cdn-updates-xc.json", &len2);
    struct catalog *a = NULL, *b = NULL;
    struct err e = {0};
    if (catalog_parse_cdn_json(j1, len1, NULL, &a, &e) != 0)
        fail_msg("%s", e.msg);
    if (catalog_parse_cdn_json(j2, len2, NULL, &b, &e) != 0)
        fail_msg("%s", e.msg);
    free(j1);
    free(j2);
    assert_int_equal(a->n_patches, 24);
    assert_int_equal(a->n_cdn_hosts, 3);
    assert_int_equal(strlen(a->cdn_hash), 64);
    assert_string_equal(a->cdn_hash, b->cdn_hash);
    assert_int_equal(b->n_patches, a->n_patches);
    /* both forms give the same model */
    for (size_t i = 0; i < a->n_patches; i++) {
        assert_string_equal(a->patches[i].uuid, b->patches[i].uuid);
        assert_int_equal(a->patches[i].guidance, b->patches[i].guidance);
        assert_int_equal(a->patches[i].absolute_guidance, b->patches[i].absolute_guidance);
        assert_int_equal(a->patches[i].livepatch_guidance, b->patches[i].livepatch_guidance);
        assert_int_equal(a->patches[i].n_livepatches, b->patches[i].n_livepatches);
        assert_true(a->patches[i].timestamp_ms > 0);
    }
    for (size_t i = 0; i < a->n_cdn_hosts; i++) {
        assert_string_equal(a->cdn_hosts[i].ref, b->cdn_hosts[i].ref);
        assert_int_equal(a->cdn_hosts[i].recommended_guidance,
                         b->cdn_hosts[i].recommended_guidance);
        assert_int_equal(a->cdn_hosts[i].absolute_guidance, b->cdn_hosts[i].absolute_guidance);
        assert_int_equal(a->cdn_hosts[i].n_updates, b->cdn_hosts[i].n_updates);
        assert_int_equal(a->cdn_hosts[i].n_rpms, 2);
        for (size_t k = 0; k < a->cdn_hosts[i].n_updates; k++)
            assert_non_null(catalog_find_patch(a, a->cdn_hosts[i].updates[k]));
    }
    catalog_free(a);
    catalog_free(b);
}

static void test_free_null_and_hand_built(void **state)
{
    (void)state;
    catalog_free(NULL);
    /* a hand-built catalog (no index) still answers look-ups */
    struct catalog *c = xcalloc(1, sizeof(*c));
    c->patches = xcalloc(2, sizeof(*c->patches));
    c->n_patches = 2;
    c->patches[0].uuid = xstrdup("x-1");
    c->patches[1].uuid = xstrdup("X-2");
    assert_int_equal(catalog_patch_index(c, "x-2"), 1);
    assert_null(catalog_find_patch(c, "x-3"));
    catalog_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_every_attribute),
        cmocka_unit_test(test_xml_defaults),
        cmocka_unit_test(test_xml_lookups_case_insensitive),
        cmocka_unit_test(test_match_version),
        cmocka_unit_test(test_eligibility_and_names),
        cmocka_unit_test(test_version_cmp_and_dates),
        cmocka_unit_test(test_xml_unknown_ignored),
        cmocka_unit_test(test_xml_malformed),
        cmocka_unit_test(test_xml_limits),
        cmocka_unit_test(test_xml_hostile),
        cmocka_unit_test(test_cdn_object_form),
        cmocka_unit_test(test_cdn_array_form),
        cmocka_unit_test(test_cdn_bad),
        cmocka_unit_test(test_generated_updates_xml),
        cmocka_unit_test(test_generated_cdn),
        cmocka_unit_test(test_free_null_and_hand_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
