/* SPDX-License-Identifier: MIT */
/*
 * test_update_file.c - the update file intake's pure parts: update.xml as xapi's
 * pool_update.introduce reads it (catalog_update_xml_parse), the image formats
 * (ufile_identify_image: the simulator's image, an ISO 9660 image built here with libarchive),
 * whole files through the zip rules (ufile_identify: traversal, links, bombs, huge entries, wrong
 * metadata), and the refusal rules of a file in a plan (engine_file_judge / _verdict).
 */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/str.h"
#include "catalog/catalog.h"
#include "engine/engine_int.h"
#include "engine/update_file.h"
#include "engine/zip.h"
#include "plan/plan.h"

#define UUID1 "c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03"

static const char XAPI_XML[] =
    "<?xml version=\"1.0\"?>\n"
    "<update name-label=\"XS70E002\" uuid=\"C2B8E8A4-5F61-4D0C-9A7E-1B3F4E5D6A03\" "
    "version=\"1.0\"\n"
    "  key=\"RPM-GPG-KEY-XS\" installation-size=\"73400320\" enforce-homogeneity=\"true\"\n"
    "  after-apply-guidance=\"restartHost,restartXAPI\">\n"
    "  <name-description>Hotfix &amp; more</name-description>\n"
    "</update>\n";

/* ---------------------------------------------------------------- update.xml */

static void parse_ok(const char *xml, struct cat_update_meta *m)
{
    struct err e = {0};
    int rc = catalog_update_xml_parse(xml, strlen(xml), m, &e);
    if (rc != 0)
        fail_msg("parse failed: %s", e.msg);
}

static void parse_bad(const char *xml, size_t len, const char *words)
{
    struct cat_update_meta m;
    struct err e = {0};
    int rc = catalog_update_xml_parse(xml, len, &m, &e);
    if (rc == 0 || !strstr(e.msg, words))
        fail_msg("expected a refusal naming \"%s\", got %d \"%s\"", words, rc, e.msg);
    assert_string_equal(m.uuid, ""); /* nothing half-filled */
}

static void bad_text(const char *xml, const char *words)
{
    parse_bad(xml, strlen(xml), words);
}

static void test_xml_as_xapi_reads_it(void **state)
{
    struct cat_update_meta m;
    (void)state;
    parse_ok(XAPI_XML, &m);
    assert_string_equal(m.uuid, UUID1); /* lower-cased */
    assert_string_equal(m.name_label, "XS70E002");
    assert_string_equal(m.version, "1.0");
    assert_string_equal(m.name_description, "Hotfix & more");
    assert_string_equal(m.key, "RPM-GPG-KEY-XS");
    assert_int_equal(m.installation_size, 73400320);
    assert_true(m.enforce_homogeneity);
    assert_int_equal(m.guidance, CAT_G_RESTART_HOST | CAT_G_RESTART_XAPI);
    /* the simulator's form: description as an attribute, livepatch, a bad size taken as 0 */
    parse_ok("<update uuid=\"" UUID1 "\" name-label=\"L\" version=\"2\" name-description=\"d\" "
             "livepatch=\"true\" installation-size=\"-5\"/>",
             &m);
    assert_string_equal(m.name_description, "d");
    assert_true(m.livepatch);
    assert_int_equal(m.installation_size, 0);
    assert_int_equal(m.guidance, CAT_G_NONE);
}

static void test_xml_wrong_metadata(void **state)
{
    char big[CAT_UPDATE_XML_MAX + 10];
    (void)state;
    bad_text("<patch uuid=\"" UUID1 "\"/>", "root element is <patch>");
    bad_text("<update name-label=\"a\" version=\"1\"/>", "has no uuid");
    bad_text("<update uuid=\"not-a-uuid\" name-label=\"a\" version=\"1\"/>", "not a UUID");
    bad_text("<update uuid=\"" UUID1 "\" version=\"1\"/>", "has no name-label");
    bad_text("<update uuid=\"" UUID1 "\" name-label=\"a\"/>", "has no version");
    bad_text("<update uuid=\"" UUID1 "\"", "not well-formed");
    parse_bad("", 0, "empty");
    /* billion laughs: no entity is ever declared */
    const char *bomb = "<?xml version=\"1.0\"?><!DOCTYPE u [<!ENTITY a \"aaaa\"><!ENTITY b "
                       "\"&a;&a;&a;&a;\">]><update uuid=\"&b;\"/>";
    parse_bad(bomb, strlen(bomb), "entities");
    /* nesting and size limits */
    char deep[400] = "<update uuid=\"" UUID1 "\" name-label=\"a\" version=\"1\">";
    for (int i = 0; i < 20; i++)
        str_lcpy(deep + strlen(deep), "<x>", sizeof deep - strlen(deep));
    parse_bad(deep, strlen(deep), "nests too deeply");
    memset(big, ' ', sizeof big);
    parse_bad(big, sizeof big, "larger than");
    char longname[600];
    snprintf(longname, sizeof longname, "<update uuid=\"%s\" name-label=\"%0300d\" version=\"1\"/>",
             UUID1, 7);
    parse_bad(longname, strlen(longname), "name-label attribute is longer");
}

/* ---------------------------------------------------------------- images */

static unsigned char *sim_image(const char *xml, size_t total, size_t *len)
{
    unsigned char *img = calloc(1, total);
    memcpy(img, xml, strlen(xml));
    *len = total;
    return img;
}

struct membuf {
    unsigned char *p;
    size_t len, cap;
};

static la_ssize_t mem_write(struct archive *a, void *ud, const void *p, size_t n)
{
    struct membuf *m = ud;
    (void)a;
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return (la_ssize_t)n;
}

/* An archive of (name, text) pairs in format fmt ("iso9660" or "zip"), in memory. */
static unsigned char *archive_of(const char *fmt, const char *const *ents, size_t n, bool deflate,
                                 size_t *len)
{
    struct membuf m = {0};
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_by_name(a, fmt), ARCHIVE_OK);
    if (str_eq(fmt, "zip"))
        archive_write_set_options(a, deflate ? "zip:compression=deflate" : "zip:compression=store");
    archive_write_set_bytes_in_last_block(a, 1);
    assert_int_equal(archive_write_open(a, &m, NULL, mem_write, NULL), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        const char *name = ents[2 * i], *text = ents[2 * i + 1];
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, name);
        archive_entry_set_perm(en, 0644);
        if (text && str_has_prefix(text, "->")) { /* a symbolic link */
            archive_entry_set_filetype(en, AE_IFLNK);
            archive_entry_set_symlink(en, text + 2);
            archive_entry_set_size(en, 0);
            assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
        } else {
            size_t tl = text ? strlen(text) : 0;
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_size(en, (la_int64_t)tl);
            assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
            if (tl)
                assert_int_equal(archive_write_data(a, text, tl), (la_ssize_t)tl);
        }
        archive_entry_free(en);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *len = m.len;
    return m.p;
}

static void test_image_formats(void **state)
{
    struct ufile_info fi;
    struct err e = {0};
    size_t len;
    (void)state;

    unsigned char *img = sim_image(XAPI_XML, 4096, &len);
    assert_int_equal(ufile_identify_image(img, len, &fi, &e), 0);
    assert_string_equal(fi.format, "image");
    assert_string_equal(fi.meta.uuid, UUID1);
    free(img);

    const char *iso_ents[] = {"repodata/repomd.xml", "<repomd/>", "update.xml", XAPI_XML,
                              "update.xml.asc",      "signature"};
    unsigned char *iso = archive_of("iso9660", iso_ents, 3, false, &len);
    assert_true(len > 32774);
    assert_memory_equal(iso + 32769, "CD001", 5);
    if (ufile_identify_image(iso, len, &fi, &e) != 0)
        fail_msg("ISO: %s", e.msg);
    assert_string_equal(fi.format, "iso");
    assert_string_equal(fi.meta.name_label, "XS70E002");
    free(iso);

    const char *no_xml[] = {"README", "nothing to see"};
    iso = archive_of("iso9660", no_xml, 1, false, &len);
    assert_int_not_equal(ufile_identify_image(iso, len, &fi, &e), 0);
    assert_non_null(strstr(e.msg, "no update.xml"));
    free(iso);

    unsigned char junk[40000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 7 + 1);
    assert_int_not_equal(ufile_identify_image(junk, sizeof junk, &fi, &e), 0);
    assert_non_null(strstr(e.msg, "neither an ISO 9660 image nor an update image"));
}

/* ---------------------------------------------------------------- whole files */

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/pp-ufile-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *put(const char *name, const unsigned char *data, size_t len)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static const char *zip_file(const char *name, const char *const *ents, size_t n, bool deflate)
{
    size_t len;
    unsigned char *z = archive_of("zip", ents, n, deflate, &len);
    const char *p = put(name, z, len);
    free(z);
    return p;
}

static void refused(const char *path, const struct zimg_limits *lim, const char *words)
{
    struct ufile_info fi;
    struct err e = {0};
    int rc = ufile_identify(path, "upload.zip", lim, &fi, &e);
    if (rc != PP_EINVAL || !str_has_prefix(e.msg, "upload.zip: not a valid update: ") ||
        !strstr(e.msg, words))
        fail_msg("%s: expected a refusal naming \"%s\", got %d \"%s\"", path, words, rc, e.msg);
}

static void test_file_valid_zip(void **state)
{
    struct ufile_info fi;
    struct err e = {0};
    size_t len;
    (void)state;
    unsigned char *img = sim_image(XAPI_XML, 100000, &len);
    char *text = calloc(1, len + 1);
    memcpy(text, img, strlen(XAPI_XML)); /* the text form stops at the first NUL */
    const char *ents[] = {"README.txt", "read me", "XS70E002.iso", text};
    const char *p = zip_file("good.zip", ents, 2, true);
    assert_int_equal(ufile_identify(p, "good.zip", NULL, &fi, &e), 0);
    assert_string_equal(fi.meta.uuid, UUID1);
    assert_string_equal(fi.image_name, "XS70E002.iso");
    free(text);
    free(img);
}

static void test_file_hostile(void **state)
{
    char *zeros = calloc(1, 4 << 20);
    (void)state;
    memset(zeros, 'A', (4 << 20) - 1);
    refused(put("notes.zip", (const unsigned char *)"just some text\n", 15), NULL,
            "neither an ISO 9660 image nor an update image");
    const char *trav[] = {"../../etc/XS.iso", XAPI_XML};
    refused(zip_file("trav.zip", trav, 1, false), NULL, "'..' in path");
    const char *abs[] = {"/tmp/XS.iso", XAPI_XML};
    refused(zip_file("abs.zip", abs, 1, false), NULL, "absolute path");
    const char *link[] = {"XS.iso", "->/etc/shadow"};
    refused(zip_file("link.zip", link, 1, false), NULL, "not a regular file");
    const char *two[] = {"a.iso", XAPI_XML, "b.iso", XAPI_XML};
    refused(zip_file("two.zip", two, 2, false), NULL, "");
    const char *none[] = {"readme.txt", "x"};
    refused(zip_file("none.zip", none, 1, false), NULL, "no .iso or .xsupdate");
    const char *bad[] = {"XS.iso", "<?xml version=\"1.0\"?><patch/>"};
    refused(zip_file("badmeta.zip", bad, 1, false), NULL, "root element is <patch>");
    /* a zip bomb: 4 MiB of one letter deflates to a few KiB (ratio far over the limit) */
    const char *bomb[] = {"XS.iso", zeros};
    struct zimg_limits lim = {.max_ratio = 50};
    refused(zip_file("bomb.zip", bomb, 1, true), &lim, "zip bomb");
    /* a huge entry: over the image size limit */
    struct zimg_limits small = {.max_image_bytes = 1 << 20};
    const char *huge[] = {"XS.iso", zeros};
    refused(zip_file("huge.zip", huge, 1, false), &small, "");
    free(zeros);
}

/* ---------------------------------------------------------------- refusal rules */

static struct plan_host host(const char *name, char **updates, size_t n, struct plan_skip *sk,
                             size_t nsk)
{
    struct plan_host h;
    memset(&h, 0, sizeof h);
    h.name = (char *)name;
    h.selected = true;
    h.updates = updates;
    h.n_updates = n;
    h.skipped = sk;
    h.n_skipped = nsk;
    return h;
}

static struct eng_file_choice *choice(void)
{
    struct eng_file_choice *fc = calloc(1, sizeof *fc);
    fc->name = strdup("XS82ECU1003.zip");
    fc->path = strdup("/nonexistent");
    str_lcpy(fc->uuid, UUID1, sizeof fc->uuid);
    str_lcpy(fc->label, "XS82ECU1003 (" UUID1 ")", sizeof fc->label);
    buf_init(&fc->why);
    return fc;
}

static void test_refusal_rules(void **state)
{
    char *planned[] = {UUID1};
    struct plan_skip conflict = {.uuid = UUID1,
                                 .reason = "XS82ECU1003 conflicts with X, which "
                                           "is applied"};
    struct plan_host hs[3];
    struct plan pl;
    struct err e = {0};
    (void)state;

    /* applied everywhere: refused, naming the file, the update and why */
    struct eng_file_choice *fc = choice();
    hs[0] = host("h1", NULL, 0, NULL, 0);
    hs[1] = host("h2", NULL, 0, NULL, 0);
    memset(&pl, 0, sizeof pl);
    pl.hosts = hs;
    pl.n_hosts = 2;
    engine_file_judge(fc, "prod", false, &pl);
    assert_int_equal(engine_file_verdict(fc, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "XS82ECU1003.zip: not installed: no host needs update "
                                  "XS82ECU1003 (" UUID1 ")"));
    assert_non_null(strstr(e.msg, "already applied on every host of pool prod"));
    engine_file_choice_free(fc);

    /* a conflict on one host, applied on the other, a repository pool: every reason said */
    fc = choice();
    hs[0] = host("h1", NULL, 0, &conflict, 1);
    engine_file_judge(fc, "prod", false, &pl);
    engine_file_judge(fc, "lab", true, NULL);
    assert_int_equal(engine_file_verdict(fc, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "h1: XS82ECU1003 conflicts with X, which is applied"));
    assert_non_null(strstr(e.msg, "already applied on 1 host(s) of pool prod"));
    assert_non_null(strstr(e.msg, "pool lab takes repository updates"));
    engine_file_choice_free(fc);

    /* needed by one host: accepted; an unselected host does not count */
    fc = choice();
    hs[0] = host("h1", NULL, 0, NULL, 0);
    hs[1] = host("h2", planned, 1, NULL, 0);
    hs[2] = host("h3", planned, 1, NULL, 0);
    hs[2].selected = false;
    pl.n_hosts = 3;
    engine_file_judge(fc, "prod", false, &pl);
    assert_int_equal(engine_file_verdict(fc, &e), 0);
    engine_file_choice_free(fc);
    fc = choice();
    hs[1] = host("h2", NULL, 0, NULL, 0);
    engine_file_judge(fc, "prod", false, &pl);
    assert_int_equal(engine_file_verdict(fc, &e), PP_ESTATE);
    engine_file_choice_free(fc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_as_xapi_reads_it), cmocka_unit_test(test_xml_wrong_metadata),
        cmocka_unit_test(test_image_formats),        cmocka_unit_test(test_file_valid_zip),
        cmocka_unit_test(test_file_hostile),         cmocka_unit_test(test_refusal_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
