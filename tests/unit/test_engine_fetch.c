/* SPDX-License-Identifier: MIT */
/*
 * test_engine_fetch.c - the engine's catalog fetch and client-ID downloads against the emulated
 * vendor file service over HTTP on 127.0.0.1 (and file:// catalogs): conditional GET, limits,
 * the token exchange, XenCenter's download header, resume, and errors a user can act on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "engine/engine_int.h"
#include "sim/fileservice.h"

static const char *vendor_json =
    "{\"client_ids\":[{\"username\":\"ops\",\"apikey\":\"k1\",\"support_contract\":false}],"
    " \"patches\":["
    "  {\"uuid\":\"11111111-1111-4111-8111-111111111111\",\"name_label\":\"HF1\",\"image_kib\":64},"
    "  "
    "{\"uuid\":\"22222222-2222-4222-8222-222222222222\",\"name_label\":\"HF2\",\"restricted\":true}"
    "],"
    " \"versions\":[{\"value\":\"8.2.1\",\"name\":\"CH\",\"patches\":[\"HF1\",\"HF2\"]}]}";

static struct sim_fileservice *fs;
static char tmpdir[64];

static int setup(void **state)
{
    json_t *v = NULL;
    struct err e = {0};
    (void)state;
    if (jsonx_load(vendor_json, strlen(vendor_json), 1 << 20, 16, "v", &v, &e) != 0 ||
        sim_fileservice_new(v, "127.0.0.1", 0, &fs, &e) != 0)
        return -1;
    json_decref(v);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pp-fetch-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    (void)state;
    sim_fileservice_free(fs);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    free(cmd);
    return 0;
}

static void test_catalog_conditional_get(void **state)
{
    struct fetch_result r = {0}, r2 = {0};
    struct err e = {0};
    char *url = xasprintf("%s/updates.xml", sim_fileservice_url(fs));
    size_t len;
    (void)state;

    assert_int_equal(fetch_url(url, NULL, NULL, 1 << 20, &r, &e), 0);
    assert_int_equal(r.status, 200);
    sim_fileservice_catalog(fs, &len);
    assert_int_equal(r.body_len, len);
    assert_non_null(r.etag);
    assert_non_null(r.last_modified);
    assert_int_equal(fetch_url(url, r.etag, r.last_modified, 1 << 20, &r2, &e), 0);
    assert_int_equal(r2.status, 304);
    assert_int_equal(r2.body_len, 0);
    fetch_result_cleanup(&r2);
    /* over the size limit: refused, nothing returned */
    assert_int_equal(fetch_url(url, NULL, NULL, 100, &r2, &e), PP_ELIMIT);
    assert_null(r2.body);
    fetch_result_cleanup(&r);
    free(url);
}

static void test_catalog_file_url_and_errors(void **state)
{
    struct fetch_result r = {0};
    struct err e = {0};
    char *path = xasprintf("%s/updates.xml", tmpdir);
    char *url = xasprintf("file://%s", path);
    FILE *fp = fopen(path, "w");
    (void)state;

    fputs("<patchdata/>", fp);
    fclose(fp);
    assert_int_equal(fetch_url(url, NULL, NULL, 1 << 20, &r, &e), 0);
    assert_string_equal(r.body, "<patchdata/>");
    fetch_result_cleanup(&r);
    free(url);
    url = xasprintf("file://%s/missing.xml", tmpdir);
    assert_int_not_equal(fetch_url(url, NULL, NULL, 1 << 20, &r, &e), 0);
    assert_non_null(strstr(e.msg, "missing.xml"));
    free(url);
    url = xasprintf("%s/nope.xml", sim_fileservice_url(fs));
    assert_int_equal(fetch_url(url, NULL, NULL, 1 << 20, &r, &e), PP_EIO);
    assert_non_null(strstr(e.msg, "HTTP 404"));
    free(url);
    assert_int_equal(fetch_url("http://127.0.0.1:1/updates.xml", NULL, NULL, 1 << 20, &r, &e),
                     PP_ETRANSPORT);
    free(path);
}

static void test_download_with_client_id(void **state)
{
    struct err e = {0};
    char *url = xasprintf("%s/direct/v2/download/HF1.zip", sim_fileservice_url(fs));
    char *path = xasprintf("%s/HF1.zip", tmpdir);
    struct fetch_auth a = {.username = "ops", .apikey = "k1", .origins = sim_fileservice_url(fs)};
    char *tok = NULL, *sess = NULL;
    int64_t exp = 0;
    struct stat st;
    unsigned before = sim_fileservice_downloads(fs);
    (void)state;

    assert_int_equal(fetch_download(url, path, 0, &a, &tok, &sess, &exp, &e), 0);
    assert_non_null(tok);
    assert_non_null(sess);
    assert_true(exp > 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 64 * 1024);
    assert_int_equal(sim_fileservice_downloads(fs), before + 1);
    /* the cached token is reused: no new token asked for */
    {
        struct fetch_auth a2 = {.username = "ops",
                                .apikey = "k1",
                                .token = tok,
                                .session_id = sess,
                                .origins = sim_fileservice_url(fs)};
        char *p2 = xasprintf("%s/HF1-again.zip", tmpdir);
        char *t2 = NULL;
        assert_int_equal(fetch_download(url, p2, st.st_size, &a2, &t2, NULL, NULL, &e), 0);
        assert_null(t2);
        free(p2);
    }
    /* a wrong expected size is an error and leaves no file */
    {
        char *p3 = xasprintf("%s/HF1-size.zip", tmpdir);
        /* the server sends more than the catalog's size: stopped at that size */
        assert_int_equal(fetch_download(url, p3, 12345, &a, NULL, NULL, NULL, &e), PP_ELIMIT);
        assert_non_null(strstr(e.msg, "more than the catalog's"));
        assert_int_not_equal(stat(p3, &st), 0);
        free(p3);
    }
    free(tok);
    free(sess);
    free(url);
    free(path);
}

static void test_download_resumes(void **state)
{
    struct err e = {0};
    char *url = xasprintf("%s/direct/v2/download/HF1.zip", sim_fileservice_url(fs));
    char *full = xasprintf("%s/full.zip", tmpdir);
    char *path = xasprintf("%s/resumed.zip", tmpdir);
    char *part = xasprintf("%s.part", path);
    struct fetch_auth a = {.username = "ops", .apikey = "k1", .origins = sim_fileservice_url(fs)};
    FILE *in, *out;
    char buf[1000];
    (void)state;

    assert_int_equal(fetch_download(url, full, 0, &a, NULL, NULL, NULL, &e), 0);
    /* leave the first 1000 bytes as an interrupted download */
    in = fopen(full, "rb");
    out = fopen(part, "wb");
    assert_int_equal(fread(buf, 1, sizeof(buf), in), sizeof(buf));
    fwrite(buf, 1, sizeof(buf), out);
    fclose(out);
    assert_int_equal(fetch_download(url, path, 0, &a, NULL, NULL, NULL, &e), 0);
    {
        char *cmd = xasprintf("cmp -s '%s' '%s'", full, path);
        assert_int_equal(system(cmd), 0);
        free(cmd);
    }
    fclose(in);
    free(url);
    free(full);
    free(path);
    free(part);
}

static void test_download_errors_explained(void **state)
{
    struct err e = {0};
    char *hf2 = xasprintf("%s/direct/v2/download/HF2.zip", sim_fileservice_url(fs));
    char *none = xasprintf("%s/direct/v2/download/NOPE.zip", sim_fileservice_url(fs));
    char *path = xasprintf("%s/x.zip", tmpdir);
    struct fetch_auth good = {
        .username = "ops", .apikey = "k1", .origins = sim_fileservice_url(fs)};
    struct fetch_auth bad = {
        .username = "ops", .apikey = "wrong", .origins = sim_fileservice_url(fs)};
    (void)state;

    assert_int_equal(fetch_download(hf2, path, 0, NULL, NULL, NULL, NULL, &e), PP_EAUTH);
    assert_non_null(strstr(e.msg, "client-id import"));
    assert_int_equal(fetch_download(hf2, path, 0, &bad, NULL, NULL, NULL, &e), PP_EAUTH);
    assert_non_null(strstr(e.msg, "401"));
    assert_int_equal(fetch_download(hf2, path, 0, &good, NULL, NULL, NULL, &e), PP_EAUTH);
    assert_non_null(strstr(e.msg, "support contract"));
    assert_int_equal(fetch_download(none, path, 0, &good, NULL, NULL, NULL, &e), PP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "404"));
    /* the client ID never goes over plain http to another machine */
    assert_int_equal(fetch_download("http://192.0.2.1/direct/v2/download/x.zip", path, 0, &good,
                                    NULL, NULL, NULL, &e),
                     PP_EAUTH);
    assert_non_null(strstr(e.msg, "not a vendor file service origin"));
    /* a download URL from a catalog may not read local files */
    assert_int_not_equal(fetch_download("file:///etc/passwd", path, 0, NULL, NULL, NULL, NULL, &e),
                         0);
    assert_non_null(strstr(e.msg, "file:///etc/passwd"));
    free(hf2);
    free(none);
    free(path);
}

/* A listener on 127.0.0.3 (not allow-listed): did anything connect to it? */
static int listener_new(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    inet_pton(AF_INET, "127.0.0.3", &sa.sin_addr);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Issue 13 finding 1: URLs that passed the old string-prefix check get no credentials. */
static void test_credentials_only_to_vendor_origins(void **state)
{
    struct err e = {0};
    struct fetch_auth good = {
        .username = "ops", .apikey = "k1", .origins = sim_fileservice_url(fs)};
    char *path = xasprintf("%s/leak.zip", tmpdir);
    int port, fd = listener_new(&port);
    char *evil[] = {
        xasprintf("http://127.0.0.1@127.0.0.3:%d/direct/v2/download/x.zip", port),
        xasprintf("http://localhost:x@127.0.0.3:%d/direct/v2/download/x.zip", port),
        xasprintf("http://127.0.0.3:%d/direct/v2/download/x.zip", port),
        xasprintf("%s@127.0.0.3:%d/direct/v2/download/x.zip", sim_fileservice_url(fs), port),
        xasprintf("https://fileservice.citrix.com.127.0.0.3.nip.io:%d/direct/v2/download/x", port),
    };
    (void)state;

    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        e = (struct err){0};
        assert_int_not_equal(fetch_download(evil[i], path, 0, &good, NULL, NULL, NULL, &e), 0);
        assert_true(e.code == PP_EAUTH || e.code == PP_EINVAL);
        free(evil[i]);
    }
    /* nothing ever connected to the listener: no request, no credentials */
    assert_int_equal(accept(fd, NULL, NULL), -1);
    close(fd);
    /* the parsed origin, not a prefix: the default allow-list is the vendor's https service */
    assert_int_equal(
        fetch_origin_check("https://fileservice.citrix.com/direct/v2/download/a", NULL, &e), 0);
    assert_int_equal(fetch_origin_check("https://FILESERVICE.citrix.com:443/x", NULL, &e), 0);
    assert_int_equal(fetch_origin_check("https://fileservice.citrix.com:8443/x", NULL, &e),
                     PP_EAUTH);
    assert_int_equal(fetch_origin_check("http://fileservice.citrix.com/x", NULL, &e), PP_EAUTH);
    assert_int_equal(fetch_origin_check("https://u:p@fileservice.citrix.com/x", NULL, &e),
                     PP_EAUTH);
    /* http in the allow-list counts only on loopback */
    assert_int_equal(fetch_origin_check("http://192.0.2.9/x", "http://192.0.2.9", &e), PP_EAUTH);
    assert_int_equal(
        fetch_origin_check("http://127.0.0.7:81/x", "https://a.example, http://127.0.0.7:81", &e),
        0);
    free(path);
}

/* A token's expiry is bounded: 2099 from a server becomes at most the 1440 minutes asked for. */
static void test_token_expiry_bounded(void **state)
{
    int64_t now = 1800000000000LL, day = 1440LL * 60 * 1000;
    (void)state;
    assert_int_equal(fetch_token_expiry(now, 4102444800000LL), now + day);
    assert_int_equal(fetch_token_expiry(now, now + 1000), now + 1000);
    assert_int_equal(fetch_token_expiry(now, 0), now + 10 * 60 * 1000);
    assert_int_equal(fetch_token_expiry(now, now - 5), now - 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_conditional_get),
        cmocka_unit_test(test_catalog_file_url_and_errors),
        cmocka_unit_test(test_download_with_client_id),
        cmocka_unit_test(test_download_resumes),
        cmocka_unit_test(test_download_errors_explained),
        cmocka_unit_test(test_credentials_only_to_vendor_origins),
        cmocka_unit_test(test_token_expiry_bounded),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests_name("engine_fetch", tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
