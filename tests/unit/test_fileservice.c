/* SPDX-License-Identifier: MIT */
/*
 * test_fileservice.c - the emulated vendor file service over real HTTP on 127.0.0.1: the catalog
 * it generates parses with the catalog module and says what the scenario says; conditional GET;
 * client-ID tokens; downloads with XenCenter's header; 401 / 403 / 404; resumed ranges; the zip
 * holds the update image the pools accept; bad vendor sections are refused with the field named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "catalog/catalog.h"
#include "sim/fileservice.h"

static const char *vendor_json =
    "{\"client_ids\":[{\"username\":\"ops\",\"apikey\":\"k1\",\"support_contract\":false},"
    "                 {\"username\":\"css\",\"apikey\":\"k2\",\"support_contract\":true}],"
    " \"patches\":["
    "  {\"uuid\":\"11111111-1111-4111-8111-111111111111\",\"name_label\":\"HF1\","
    "   \"after_apply_guidance\":[\"restartHost\"],\"livepatch\":true,\"image_kib\":4},"
    "  {\"uuid\":\"22222222-2222-4222-8222-222222222222\",\"name_label\":\"HF2\","
    "   \"after_apply_guidance\":[\"restartXAPI\"],\"requires\":[\"HF1\"],\"restricted\":true,"
    "   \"image_kib\":4}],"
    " \"versions\":[{\"value\":\"8.2.1\",\"name\":\"CH 8.2 CU1\",\"build_number\":\"b58\","
    "   \"latest\":true,\"patches\":[\"HF1\",\"HF2\"],\"minimal\":[\"HF2\"]}]}";

static struct sim_fileservice *start(void)
{
    json_t *v = NULL;
    struct err e = {0};
    struct sim_fileservice *fs = NULL;

    assert_int_equal(jsonx_load(vendor_json, strlen(vendor_json), 1 << 20, 16, "v", &v, &e), 0);
    assert_int_equal(sim_fileservice_new(v, "127.0.0.1", 0, &fs, &e), 0);
    json_decref(v);
    return fs;
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    buf_append(ud, p, s * n);
    return s * n;
}

/* One request; returns the HTTP status and fills body. */
static long http(const char *method, const char *url, const char *header, const char *header2,
                 struct buf *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    long status = 0;

    buf_reset(body);
    if (header)
        h = curl_slist_append(h, header);
    if (header2)
        h = curl_slist_append(h, header2);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "POST"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"expiration\":1440}");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static char *b64(const char *in)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct buf b;
    size_t n = strlen(in);
    buf_init(&b);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16 | (i + 1 < n ? (unsigned char)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? (unsigned char)in[i + 2] : 0);
        buf_putc(&b, t[v >> 18 & 63]);
        buf_putc(&b, t[v >> 12 & 63]);
        buf_putc(&b, i + 1 < n ? t[v >> 6 & 63] : '=');
        buf_putc(&b, i + 2 < n ? t[v & 63] : '=');
    }
    return buf_take(&b);
}

static char *basic(const char *cred)
{
    char *x = b64(cred);
    char *h = xasprintf("Authorization: Basic %s", x);
    free(x);
    return h;
}

/* Log in as user:key and return the download Authorization header (new). */
static char *login(struct sim_fileservice *fs, const char *user, const char *key)
{
    struct buf b;
    char *cred = xasprintf("%s:%s", user, key), *h = basic(cred);
    char *url = xasprintf("%s/api/session/token", sim_fileservice_url(fs));
    json_t *j = NULL;
    struct err e = {0};

    buf_init(&b);
    assert_int_equal(http("POST", url, h, NULL, &b), 201);
    assert_int_equal(jsonx_load(b.data, b.len, 4096, 4, "token", &j, &e), 0);
    free(cred);
    free(h);
    cred = xasprintf("%s_%s:%s", user, jsonx_str(j, "session_id", ""), jsonx_str(j, "token", ""));
    h = basic(cred);
    free(cred);
    free(url);
    json_decref(j);
    buf_cleanup(&b);
    return h;
}

static void test_catalog_parses_and_matches(void **state)
{
    struct sim_fileservice *fs = start();
    struct buf b;
    struct catalog *cat = NULL;
    struct err e = {0};
    char *url = xasprintf("%s/updates.xml", sim_fileservice_url(fs));
    (void)state;

    buf_init(&b);
    assert_int_equal(http("GET", url, NULL, NULL, &b), 200);
    assert_int_equal(catalog_parse_xml(b.data, b.len, NULL, &cat, &e), 0);
    assert_int_equal(cat->n_patches, 2);
    assert_int_equal(cat->n_versions, 1);
    const struct cat_patch *hf2 = catalog_find_patch(cat, "22222222-2222-4222-8222-222222222222");
    assert_non_null(hf2);
    assert_int_equal(hf2->n_required, 1);
    assert_string_equal(hf2->required[0], "11111111-1111-4111-8111-111111111111");
    assert_true(hf2->guidance & CAT_G_RESTART_XAPI);
    const struct cat_patch *hf1 = catalog_find_patch(cat, "11111111-1111-4111-8111-111111111111");
    assert_true(hf1->contains_livepatch);
    assert_non_null(strstr(hf1->patch_url, "/direct/v2/download/HF1.zip"));
    assert_true(hf1->download_size > 4096);
    assert_non_null(catalog_match_version(cat, "8.2.1", "b58"));
    assert_true(cat->versions[0].has_minimal);
    assert_int_equal(cat->versions[0].n_minimal, 1);
    catalog_free(cat);
    buf_cleanup(&b);
    free(url);
    sim_fileservice_free(fs);
}

static void test_conditional_get(void **state)
{
    struct sim_fileservice *fs = start();
    struct buf b;
    char *url = xasprintf("%s/updates.xml", sim_fileservice_url(fs));
    char etag[80];
    size_t len;
    (void)state;

    buf_init(&b);
    sim_fileservice_catalog(fs, &len);
    /* the ETag is a hash of the catalog: ask with it and get 304 */
    CURL *c = curl_easy_init();
    struct curl_header *h = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_int_equal(curl_easy_header(c, "ETag", 0, CURLH_HEADER, -1, &h), CURLHE_OK);
    snprintf(etag, sizeof(etag), "If-None-Match: %s", h->value);
    curl_easy_cleanup(c);
    assert_int_equal(b.len, len);
    assert_int_equal(http("GET", url, etag, NULL, &b), 304);
    assert_int_equal(b.len, 0);
    assert_int_equal(http("GET", url, "If-None-Match: \"other\"", NULL, &b), 200);
    buf_cleanup(&b);
    free(url);
    sim_fileservice_free(fs);
}

static void test_tokens_and_downloads(void **state)
{
    struct sim_fileservice *fs = start();
    struct buf b;
    char *hf1 = xasprintf("%s/direct/v2/download/HF1.zip", sim_fileservice_url(fs));
    char *hf2 = xasprintf("%s/direct/v2/download/HF2.zip", sim_fileservice_url(fs));
    char *none = xasprintf("%s/direct/v2/download/NOPE.zip", sim_fileservice_url(fs));
    char *tok = xasprintf("%s/api/session/token", sim_fileservice_url(fs));
    char *bad = basic("ops:wrong");
    char *ops, *css;
    (void)state;

    buf_init(&b);
    assert_int_equal(http("POST", tok, bad, NULL, &b), 401);
    assert_int_equal(http("GET", hf1, NULL, NULL, &b), 401);
    ops = login(fs, "ops", "k1");
    css = login(fs, "css", "k2");
    assert_int_equal(http("GET", hf1, ops, NULL, &b), 200);
    assert_true(b.len > 4096);
    assert_int_equal(http("GET", hf2, ops, NULL, &b), 403); /* restricted: no contract */
    assert_int_equal(http("GET", hf2, css, NULL, &b), 200);
    assert_int_equal(http("GET", none, css, NULL, &b), 404);
    assert_int_equal(sim_fileservice_downloads(fs), 2);
    free(ops);
    free(css);
    free(bad);
    free(hf1);
    free(hf2);
    free(none);
    free(tok);
    buf_cleanup(&b);
    sim_fileservice_free(fs);
}

static void test_range_and_zip_content(void **state)
{
    struct sim_fileservice *fs = start();
    struct buf whole, part;
    char *hf1 = xasprintf("%s/direct/v2/download/HF1.zip", sim_fileservice_url(fs));
    char *ops = login(fs, "ops", "k1");
    struct archive *a = archive_read_new();
    struct archive_entry *en;
    char img[512];
    (void)state;

    buf_init(&whole);
    buf_init(&part);
    assert_int_equal(http("GET", hf1, ops, NULL, &whole), 200);
    assert_int_equal(http("GET", hf1, ops, "Range: bytes=100-", &part), 206);
    assert_int_equal(part.len, whole.len - 100);
    assert_memory_equal(part.data, whole.data + 100, part.len);
    archive_read_support_format_zip(a);
    assert_int_equal(archive_read_open_memory(a, whole.data, whole.len), ARCHIVE_OK);
    assert_int_equal(archive_read_next_header(a, &en), ARCHIVE_OK);
    assert_string_equal(archive_entry_pathname(en), "HF1.iso");
    assert_int_equal(archive_entry_size(en), 4096);
    la_ssize_t n = archive_read_data(a, img, sizeof(img) - 1);
    assert_true(n > 0);
    img[n] = '\0';
    assert_non_null(strstr(img, "<update uuid=\"11111111-1111-4111-8111-111111111111\""));
    assert_non_null(strstr(img, "after-apply-guidance=\"restartHost\""));
    assert_non_null(strstr(img, "livepatch=\"true\""));
    archive_read_free(a);
    buf_cleanup(&whole);
    buf_cleanup(&part);
    free(hf1);
    free(ops);
    sim_fileservice_free(fs);
}

static void expect_refused(const char *json, const char *needle)
{
    json_t *v = NULL;
    struct err e = {0};
    struct sim_fileservice *fs = NULL;

    assert_int_equal(jsonx_load(json, strlen(json), 1 << 20, 16, "v", &v, &e), 0);
    assert_int_equal(sim_fileservice_new(v, "127.0.0.1", 0, &fs, &e), PP_EINVAL);
    assert_null(fs);
    if (!strstr(e.msg, needle))
        fail_msg("expected '%s' in: %s", needle, e.msg);
    json_decref(v);
}

static void test_bad_vendor_sections(void **state)
{
    (void)state;
    expect_refused("{\"patches\":[{\"uuid\":\"nope\",\"name_label\":\"A\"}]}",
                   "vendor.patches[0].uuid");
    expect_refused("{\"patches\":[{\"uuid\":\"11111111-1111-4111-8111-111111111111\"}]}",
                   "vendor.patches[0].name_label: required");
    expect_refused("{\"patches\":[{\"uuid\":\"11111111-1111-4111-8111-111111111111\","
                   "\"name_label\":\"A\",\"after_apply_guidance\":[\"reboot\"]}]}",
                   "vendor.patches[0].after_apply_guidance[0]");
    expect_refused("{\"versions\":[{\"value\":\"1\",\"name\":\"x\",\"patches\":[\"ghost\"]}]}",
                   "vendor.versions[0].patches[0]: no such patch");
    expect_refused("{\"surprise\":1}", "vendor.surprise: unknown field");
    expect_refused("{\"patches\":[{\"uuid\":\"11111111-1111-4111-8111-111111111111\","
                   "\"name_label\":\"../evil\"}]}",
                   "vendor.patches[0].name_label");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_parses_and_matches),
        cmocka_unit_test(test_conditional_get),
        cmocka_unit_test(test_tokens_and_downloads),
        cmocka_unit_test(test_range_and_zip_content),
        cmocka_unit_test(test_bad_vendor_sections),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests_name("fileservice", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
