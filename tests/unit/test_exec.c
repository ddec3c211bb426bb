/* SPDX-License-Identifier: MIT */
/*
 * test_exec.c - the rollout executor's pure parts: update zips (crafted with libarchive's
 * writer: a good one streamed back, path traversal, absolute path, symlink, too large, a
 * compression-ratio bomb, no image, two images, a bare image, garbage), plans to journal steps
 * (order, batches, lanes, migrations, manual reboots left out), the resume derivation of every
 * step kind from given XAPI records, undo records of fixes, the error explanations, and
 * docs/engine.md's step table against the kind table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_int.h"
#include "engine/zip.h"

/* ---------------------------------------------------------------- zips */

struct zent {
    const char *name;
    const void *data;
    size_t len;
    bool symlink;
};

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pp-exec-unit-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *make_zip(const char *file, const struct zent *ents, size_t n, bool deflate)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    archive_write_set_options(a, deflate ? "zip:compression=deflate" : "zip:compression=store");
    archive_write_set_options(a, "zip:hdrcharset=UTF-8"); /* names flagged UTF-8, as zip tools do */
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_update_pathname_utf8(en, ents[i].name); /* the UTF-8 flag when non-ASCII */
        if (ents[i].symlink) {
            archive_entry_set_filetype(en, AE_IFLNK);
            archive_entry_set_symlink(en, "/etc/passwd");
            archive_entry_set_size(en, 0);
        } else {
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_size(en, (la_int64_t)ents[i].len);
        }
        archive_entry_set_perm(en, 0644);
        assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
        if (!ents[i].symlink && ents[i].len)
            assert_int_equal(archive_write_data(a, ents[i].data, ents[i].len),
                             (la_ssize_t)ents[i].len);
        archive_entry_free(en);
    }
    archive_write_close(a);
    archive_write_free(a);
    return path;
}

static void expect_refused(const char *path, const struct zimg_limits *lim, int code,
                           const char *words)
{
    struct zimg *z = NULL;
    struct err e = {0};
    int rc = zimg_open(path, lim, &z, &e);
    if (rc != code)
        fail_msg("%s: got %d (%s), expected %d", path, rc, e.msg, code);
    assert_null(z);
    if (!strstr(e.msg, words))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, words);
}

static void test_zip_good_streams_image(void **state)
{
    (void)state;
    char img[5000];
    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = (char)('a' + i % 23);
    struct zent ents[] = {{"README.txt", "read me", 7, false},
                          {"docs/", NULL, 0, false},
                          {"XS82ECU1002.iso", img, sizeof(img), false}};
    const char *p = make_zip("good.zip", ents, 3, true);
    struct zimg *z = NULL;
    struct err e = {0};
    assert_int_equal(zimg_open(p, NULL, &z, &e), 0);
    assert_string_equal(zimg_name(z), "XS82ECU1002.iso");
    assert_int_equal(zimg_size(z), sizeof(img));
    char out[sizeof(img) + 10];
    size_t got = 0;
    for (;;) {
        ssize_t n = zimg_read(z, out + got, 700, &e);
        assert_true(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    assert_int_equal(got, sizeof(img));
    assert_memory_equal(out, img, sizeof(img));
    zimg_close(z);
}

static void test_zip_traversal_absolute_symlink(void **state)
{
    (void)state;
    struct zent t1[] = {{"../evil.iso", "x", 1, false}};
    expect_refused(make_zip("t1.zip", t1, 1, false), NULL, PP_EINVAL, "'..'");
    struct zent t2[] = {{"a/../../evil.iso", "x", 1, false}};
    expect_refused(make_zip("t2.zip", t2, 1, false), NULL, PP_EINVAL, "'..'");
    struct zent t3[] = {{"/etc/cron.d/x.iso", "x", 1, false}};
    expect_refused(make_zip("t3.zip", t3, 1, false), NULL, PP_EINVAL, "absolute");
    struct zent t4[] = {{"link.iso", NULL, 0, true}};
    expect_refused(make_zip("t4.zip", t4, 1, false), NULL, PP_EINVAL, "not a regular file");
}

static void test_zip_limits(void **state)
{
    (void)state;
    char img[4000];
    memset(img, 'x', sizeof(img));
    struct zent big[] = {{"u.iso", img, sizeof(img), false}};
    struct zimg_limits lim = {.max_image_bytes = 1000};
    expect_refused(make_zip("big.zip", big, 1, false), &lim, PP_ELIMIT, "larger than");
    /* a ratio bomb: 8 MiB of zeros deflate to a few KiB */
    size_t n = 8u << 20;
    char *zeros = xcalloc(1, n);
    struct zent bomb[] = {{"bomb.iso", zeros, n, false}};
    expect_refused(make_zip("bomb.zip", bomb, 1, true), NULL, PP_ELIMIT, "zip bomb");
    free(zeros);
    /* too many entries */
    struct zent many[70];
    char names[70][16];
    for (int i = 0; i < 70; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d.txt", i);
        many[i] = (struct zent){names[i], "x", 1, false};
    }
    expect_refused(make_zip("many.zip", many, 70, false), NULL, PP_ELIMIT, "entries");
}

static void test_zip_image_count(void **state)
{
    (void)state;
    struct zent none[] = {{"README.txt", "x", 1, false}};
    expect_refused(make_zip("none.zip", none, 1, false), NULL, PP_EINVAL, "no .iso");
    struct zent two[] = {{"a.iso", "x", 1, false}, {"b.xsupdate", "y", 1, false}};
    expect_refused(make_zip("two.zip", two, 2, false), NULL, PP_EINVAL, "exactly one");
    struct zent upper[] = {{"HOTFIX.XSUPDATE", "abc", 3, false}};
    struct zimg *z = NULL;
    struct err e = {0};
    assert_int_equal(zimg_open(make_zip("upper.zip", upper, 1, false), NULL, &z, &e), 0);
    assert_int_equal(zimg_size(z), 3);
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(zimg_read_all(z, &data, &len, &e), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "abc", 3);
    free(data);
    zimg_close(z);
}

/* Valid UTF-8 entry names are read (they were refused as "an entry has no name" in the daemon's
 * C locale); a name that is not UTF-8 though flagged so is refused, saying so. */
static void test_zip_utf8_names(void **state)
{
    (void)state;
    struct zent ents[] = {{"Lisez-moi \xc3\xa9t\xc3\xa9.txt", "x", 1, false},
                          {"Mise \xc3\xa0 jour/XS82ECU1002-\xc3\xbc.iso", "abcdef", 6, false}};
    const char *p = make_zip("utf8.zip", ents, 2, false);
    struct zimg *z = NULL;
    struct err e = {0};
    if (zimg_open(p, NULL, &z, &e) != 0)
        fail_msg("UTF-8 names refused: %s", e.msg);
    assert_string_equal(zimg_name(z), "Mise \xc3\xa0 jour/XS82ECU1002-\xc3\xbc.iso");
    assert_int_equal(zimg_size(z), 6);
    zimg_close(z);
    /* the same zip with the image's name bytes made invalid UTF-8 (0xff) */
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (size_t i = 0; i + 1 < n; i++)
        if ((unsigned char)buf[i] == 0xc3 && (unsigned char)buf[i + 1] == 0xbc)
            buf[i] = (char)0xff;
    char bad[256];
    snprintf(bad, sizeof(bad), "%s/notutf8.zip", tmpdir);
    f = fopen(bad, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    expect_refused(bad, NULL, PP_EINVAL, "not valid UTF-8");
}

static void test_bare_image_and_garbage(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "%s/update.img", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("<update uuid=\"x\"/>", f);
    fclose(f);
    struct zimg *z = NULL;
    struct err e = {0};
    assert_int_equal(zimg_open(path, NULL, &z, &e), 0);
    assert_string_equal(zimg_name(z), "update.img");
    assert_int_equal(zimg_size(z), 18);
    zimg_close(z);
    /* a file that starts like a zip but is not one */
    snprintf(path, sizeof(path), "%s/broken.zip", tmpdir);
    f = fopen(path, "wb");
    fputs("PK\003\004garbage garbage garbage", f);
    fclose(f);
    assert_true(zimg_open(path, NULL, &z, &e) < 0);
    assert_null(z);
    assert_int_equal(zimg_open("/nonexistent/x.iso", NULL, &z, &e), PP_EIO);
}

/* ---------------------------------------------------------------- plans to steps */

static char **strv(size_t n, ...)
{
    char **v = xcalloc(n + 1, sizeof(char *));
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(va_arg(ap, const char *));
    va_end(ap);
    return v;
}

static void act(struct plan_action *a, enum plan_action_kind k, const char *uuid)
{
    memset(a, 0, sizeof(*a));
    a->kind = k;
    a->update_uuid = xstrdup(uuid ? uuid : "");
}

static void migr(struct plan_action *a, const char *vm, const char *from, const char *to)
{
    a->migrations = xreallocarray(a->migrations, a->n_migrations + 1, sizeof(*a->migrations));
    struct plan_migration *m = &a->migrations[a->n_migrations++];
    m->vm_ref = xstrdup(vm);
    m->vm_name = xstrdup(vm);
    m->from_ref = xstrdup(from);
    m->to_ref = xstrdup(to);
    m->memory = 1 << 30;
}

/* Two batches: h1 alone (evacuate 2 VMs, apply, reboot), then h2 + h3 together (h3's reboot is
 * manual: left out). */
static struct plan *sample_plan(void)
{
    struct plan *p = xcalloc(1, sizeof(*p));
    p->pool_ref = xstrdup("P");
    p->pool_name = xstrdup("pool");
    p->cdn_hash = xstrdup("");
    p->upload_sr_ref = xstrdup("SR1");
    p->uploads = strv(1, "U1");
    p->n_uploads = 1;
    p->n_hosts = 4;
    p->hosts = xcalloc(4, sizeof(*p->hosts));
    const char *names[] = {"h1", "h2", "h3", "h4"};
    int batch[] = {0, 1, 1, -1};
    for (int i = 0; i < 4; i++) {
        struct plan_host *h = &p->hosts[i];
        h->ref = xasprintf("H%d", i + 1);
        h->name = xstrdup(names[i]);
        h->version = xstrdup("8.2.1");
        h->order = batch[i] < 0 ? -1 : i;
        h->batch = batch[i];
        if (batch[i] < 0)
            continue;
        h->updates = strv(1, "U1");
        h->n_updates = 1;
        h->n_actions = 6;
        h->actions = xcalloc(6, sizeof(*h->actions));
        act(&h->actions[0], PLAN_ACT_DISABLE, NULL);
        act(&h->actions[1], PLAN_ACT_EVACUATE, NULL);
        if (i == 0) {
            migr(&h->actions[1], "vmA", "H1", "H2");
            migr(&h->actions[1], "vmB", "H1", "H3");
        }
        act(&h->actions[2], PLAN_ACT_APPLY, "U1");
        act(&h->actions[3], PLAN_ACT_REBOOT, NULL);
        h->actions[3].manual = (i == 2);
        act(&h->actions[4], PLAN_ACT_ENABLE, NULL);
        act(&h->actions[5], PLAN_ACT_MIGRATE_BACK, NULL);
        if (i == 0)
            migr(&h->actions[5], "vmA", "H2", "H1");
    }
    return p;
}

static const char *file_for(void *ctx, const char *uuid)
{
    (void)ctx;
    return str_eq(uuid, "U1") ? "/data/U1.zip" : NULL;
}

static json_t *params_of(const struct store_step_spec *s)
{
    return json_loads(s->params_json ? s->params_json : "{}", 0, NULL);
}

static void test_steps_initial_and_hosts(void **state)
{
    (void)state;
    struct plan *p = sample_plan();
    struct plan_fix fixes[1] = {{PLAN_FIX_DISABLE_HA, xstrdup("P"), xstrdup("")}};
    struct plan_resolution r = {.fixes = fixes, .n_fixes = 1};
    struct plan_opts o;
    plan_opts_init(&o);
    o.policy = PLAN_POLICY_RETURN;
    struct spec_list l = {0};
    struct err e = {0};
    assert_int_equal(
        exec_steps_initial("pool", p, &r, file_for, NULL, exec_opts_to_json(&o), &l, &e), 0);
    const char *want[] = {"resolve",  "upload",   "introduce", "precheck",
                          "precheck", "precheck", "replan"};
    assert_int_equal(l.n, 7);
    for (size_t i = 0; i < l.n; i++) {
        assert_string_equal(l.items[i].kind, want[i]);
        assert_string_equal(l.items[i].pool, "pool");
    }
    json_t *j = params_of(&l.items[1]);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/data/U1.zip");
    assert_string_equal(json_string_value(json_object_get(j, "sr")), "SR1");
    json_decref(j);
    assert_null(l.items[0].host);
    assert_string_equal(l.items[3].host, "H1");
    j = params_of(&l.items[6]);
    struct plan_opts o2;
    plan_opts_init(&o2);
    const char **sel = NULL, **hosts = NULL;
    exec_opts_from_json(json_object_get(j, "opts"), &o2, &sel, &hosts);
    assert_int_equal(o2.policy, PLAN_POLICY_RETURN);
    free(sel);
    free(hosts);
    json_decref(j);
    exec_spec_list_cleanup(&l);

    /* a missing file is a clear error */
    p->uploads[0][1] = '2'; /* "U2" */
    assert_int_equal(exec_steps_initial("pool", p, NULL, file_for, NULL, json_object(), &l, &e),
                     PP_EINVAL);
    assert_non_null(strstr(e.msg, "no file for update U2"));
    exec_spec_list_cleanup(&l);
    p->uploads[0][1] = '1';

    const char *ups[] = {"U1"};
    exec_steps_hosts("pool", p, ups, 1, &l);
    /* a host that went down and came back ends with its health gate (H3: no restart) */
    const char *seq[] = {"disable",     "migrate",     "migrate", "apply",  "reboot", "enable",
                         "migrate",     "health_gate", "disable", "apply",  "reboot", "enable",
                         "health_gate", "disable",     "apply",   "enable", "clean",  "undo"};
    const char *hosts_w[] = {"H1", "H1", "H1", "H1", "H1", "H1", "H1", "H1", "H2",
                             "H2", "H2", "H2", "H2", "H3", "H3", "H3", NULL, NULL};
    assert_int_equal(l.n, 18);
    for (size_t i = 0; i < l.n; i++) {
        assert_string_equal(l.items[i].kind, seq[i]);
        if (hosts_w[i])
            assert_string_equal(l.items[i].host, hosts_w[i]);
        else
            assert_null(l.items[i].host);
    }
    j = params_of(&l.items[6]);
    assert_true(json_is_true(json_object_get(j, "back")));
    assert_string_equal(json_string_value(json_object_get(j, "to")), "H1");
    json_decref(j);
    j = params_of(&l.items[7]);
    assert_string_equal(json_string_value(json_object_get(j, "restarted")), "reboot");
    json_decref(j);
    j = params_of(&l.items[9]);
    assert_int_equal(json_integer_value(json_object_get(j, "batch")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "uuid")), "U1");
    json_decref(j);
    exec_spec_list_cleanup(&l);
    free(fixes[0].obj_ref);
    free(fixes[0].arg_ref);
    plan_free(p);
}

/* ---------------------------------------------------------------- derivation */

struct rec {
    const char *cls, *ref;
    struct xapi_value *v;
};
struct table {
    struct rec r[32];
    size_t n;
};

static const struct xapi_value *t_get(void *ctx, const char *cls, const char *ref)
{
    struct table *t = ctx;
    for (size_t i = 0; i < t->n; i++)
        if (str_eq(t->r[i].cls, cls) && str_eq(t->r[i].ref, ref))
            return t->r[i].v;
    return NULL;
}

static void t_foreach(void *ctx, const char *cls,
                      bool (*fn)(void *fctx, const char *ref, const struct xapi_value *rec),
                      void *fctx)
{
    struct table *t = ctx;
    for (size_t i = 0; i < t->n; i++)
        if (str_eq(t->r[i].cls, cls) && !fn(fctx, t->r[i].ref, t->r[i].v))
            return;
}

static struct xapi_value *t_add(struct table *t, const char *cls, const char *ref)
{
    struct xapi_value *v = xapi_value_new_struct();
    t->r[t->n++] = (struct rec){cls, ref, v};
    return v;
}

static void t_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++)
        xapi_value_free(t->r[i].v);
}

static struct xapi_value *set_of(const char *a)
{
    struct xapi_value *s = xapi_value_new_array();
    if (a)
        xapi_array_append_string(s, a);
    return s;
}

/* A pool: host H1 (live, enabled, booted at 100, agent at 110), PBD attached, VM V on H1,
 * update U1 (ref UR) not applied, HA on. */
static void world(struct table *t, struct xapi_records *v)
{
    memset(t, 0, sizeof(*t));
    struct xapi_value *h = t_add(t, "host", "H1");
    xapi_struct_set_bool(h, "enabled", true);
    xapi_struct_set_string(h, "metrics", "M1");
    struct xapi_value *oc = xapi_value_new_struct();
    xapi_struct_set_string(oc, "boot_time", "100.");
    xapi_struct_set_string(oc, "agent_start_time", "110.");
    xapi_struct_set_take(h, "other_config", oc);
    xapi_struct_set_take(h, "updates", set_of(NULL));
    xapi_struct_set_bool(t_add(t, "host_metrics", "M1"), "live", true);
    struct xapi_value *pb = t_add(t, "pbd", "PB1");
    xapi_struct_set_string(pb, "host", "H1");
    xapi_struct_set_bool(pb, "currently_attached", true);
    struct xapi_value *vm = t_add(t, "vm", "V");
    xapi_struct_set_string(vm, "resident_on", "H1");
    xapi_struct_set_string(vm, "power_state", "Running");
    xapi_struct_set_take(vm, "current_operations", xapi_value_new_struct());
    xapi_struct_set_take(vm, "VBDs", set_of("CD1"));
    struct xapi_value *cd = t_add(t, "vbd", "CD1");
    xapi_struct_set_string(cd, "type", "CD");
    xapi_struct_set_bool(cd, "empty", false);
    xapi_struct_set_string(cd, "VDI", "ISO1");
    struct xapi_value *u = t_add(t, "pool_update", "UR");
    xapi_struct_set_string(u, "uuid", "U1");
    xapi_struct_set_take(u, "hosts", set_of(NULL));
    struct xapi_value *p = t_add(t, "pool", "P");
    xapi_struct_set_bool(p, "ha_enabled", true);
    xapi_struct_set_take(p, "ha_statefiles", set_of("HB"));
    struct xapi_value *cfg = xapi_value_new_struct();
    xapi_struct_set_string(cfg, "timeout", "60");
    xapi_struct_set_take(p, "ha_configuration", cfg);
    xapi_struct_set_string(t_add(t, "vdi", "HB"), "SR", "SR-HB");
    v->get = t_get;
    v->foreach = t_foreach;
    v->ctx = t;
}

/* ---------------------------------------------------------------- verified end states */

static bool has_code(const json_t *fs, const char *code)
{
    for (size_t i = 0; i < json_array_size(fs); i++)
        if (str_eq(json_string_value(json_object_get(json_array_get(fs, i), "code")), code))
            return true;
    return false;
}

/* Findings from a before / after view: nothing when the pool is as it was; after a cancel that
 * left things behind, one named finding per thing (deduplicated: a VM suspended by Resolve All
 * is one finding, not two), by name, each with what to do; images only of updates this rollout
 * introduced; while halted the changes are reported as kept. */
static void test_verify_findings(void **state)
{
    (void)state;
    struct table t;
    struct xapi_records v;
    world(&t, &v);
    xapi_struct_set_string((struct xapi_value *)t_get(&t, "host", "H1"), "name_label", "host-one");
    xapi_struct_set_string((struct xapi_value *)t_get(&t, "vm", "V"), "name_label", "vm-one");
    xapi_struct_set_string((struct xapi_value *)t_get(&t, "pool", "P"), "name_label", "pool-p");
    json_t *before = exec_before_snapshot(&v);
    assert_int_equal(json_array_size(json_object_get(before, "vms")), 1);
    assert_true(exec_before_has_update(before, "U1"));
    assert_false(exec_before_has_update(before, "U2"));
    json_t *undo = json_loads("[{\"fix\":\"enable_host\",\"obj\":\"H1\"},"
                              "{\"fix\":\"resume_vm\",\"obj\":\"V\",\"arg\":\"H1\"},"
                              "{\"fix\":\"insert_cd\",\"obj\":\"V\",\"vbd\":\"CD1\","
                              "\"vdi\":\"ISO1\"},"
                              "{\"fix\":\"enable_ha\",\"obj\":\"P\"}]",
                              0, NULL);
    json_t *images = json_loads("[{\"uuid\":\"U2\",\"vdi\":\"IMG\",\"ours\":true},"
                                "{\"uuid\":\"U1\",\"vdi\":\"\",\"ours\":false}]",
                                0, NULL);
    struct exec_verify_in in = {EXEC_VERIFY_CANCEL, before, undo, images};
    /* as it was: nothing to report, the cancel is complete */
    json_t *f = exec_verify(&v, &in);
    assert_int_equal(json_array_size(f), 0);
    assert_true(exec_cancel_complete(true, f));
    assert_false(exec_cancel_complete(false, f)); /* an undo item never replayed */
    json_decref(f);
    /* the cancel left: H1 disabled, V suspended with its CD out, HA off, an image on SR1; U1
     * (another tool's update, applied nowhere) is not ours to report */
    xapi_struct_set_bool((struct xapi_value *)t_get(&t, "host", "H1"), "enabled", false);
    xapi_struct_set_string((struct xapi_value *)t_get(&t, "vm", "V"), "power_state", "Suspended");
    xapi_struct_set_bool((struct xapi_value *)t_get(&t, "vbd", "CD1"), "empty", true);
    xapi_struct_set_bool((struct xapi_value *)t_get(&t, "pool", "P"), "ha_enabled", false);
    struct xapi_value *img = t_add(&t, "vdi", "IMG");
    xapi_struct_set_string(img, "SR", "SR1");
    xapi_struct_set_string(img, "name_label", "update image");
    xapi_struct_set_string(t_add(&t, "sr", "SR1"), "name_label", "local-sr");
    f = exec_verify(&v, &in);
    char *sum = exec_findings_summary(f);
    assert_int_equal(json_array_size(f), 5);
    assert_true(has_code(f, "HOST_DISABLED"));
    assert_true(has_code(f, "VM_SUSPENDED"));
    assert_true(has_code(f, "CD_EJECTED"));
    assert_true(has_code(f, "HA_OFF"));
    assert_true(has_code(f, "IMAGE_LEFT"));
    assert_false(has_code(f, "UPDATE_LEFT"));
    assert_false(exec_cancel_complete(true, f));
    assert_non_null(strstr(sum, "host host-one is disabled"));
    assert_non_null(strstr(sum, "VM vm-one is Suspended"));
    assert_non_null(strstr(sum, "HA is off on pool pool-p"));
    assert_non_null(strstr(sum, "on SR local-sr"));
    for (size_t i = 0; i < json_array_size(f); i++) {
        const char *act = json_string_value(json_object_get(json_array_get(f, i), "action"));
        assert_non_null(strstr(act, "retry the cancel"));
    }
    free(sum);
    json_decref(f);
    /* halted: the same changes are kept on purpose (no image check: Retry needs it) */
    in.after = EXEC_VERIFY_HALTED;
    f = exec_verify(&v, &in);
    assert_false(has_code(f, "IMAGE_LEFT"));
    assert_true(has_code(f, "HOST_DISABLED"));
    const char *act = json_string_value(json_object_get(json_array_get(f, 0), "action"));
    assert_true(str_has_prefix(act, "kept while the rollout is halted"));
    json_decref(f);
    /* the VM gone, the host down: named as such */
    in.after = EXEC_VERIFY_DONE;
    xapi_struct_set_bool((struct xapi_value *)t_get(&t, "host_metrics", "M1"), "live", false);
    f = exec_verify(&v, &in);
    assert_true(has_code(f, "HOST_NOT_LIVE"));
    assert_false(has_code(f, "REBOOT_PENDING"));
    json_decref(f);
    /* done while a host still needs its reboot (a live patch that did not take): named, with
     * the update; while halted it is no finding (the rollout's own reboot may still come) */
    struct xapi_value *rr = xapi_value_new_array();
    xapi_array_append_string(rr, "U1");
    xapi_struct_set_take((struct xapi_value *)t_get(&t, "host", "H1"), "updates_requiring_reboot",
                         rr);
    f = exec_verify(&v, &in);
    assert_true(has_code(f, "REBOOT_PENDING"));
    sum = exec_findings_summary(f);
    assert_non_null(strstr(sum, "host host-one still needs its reboot"));
    free(sum);
    json_decref(f);
    in.after = EXEC_VERIFY_HALTED;
    f = exec_verify(&v, &in);
    assert_false(has_code(f, "REBOOT_PENDING"));
    json_decref(f);
    json_decref(undo);
    json_decref(images);
    json_decref(before);
    t_free(&t);
}

static enum derive d(const struct xapi_records *v, const char *kind, const char *host,
                     const char *pj, bool later)
{
    json_t *p = json_loads(pj, 0, NULL);
    assert_non_null(p);
    enum derive r = exec_derive(v, kind, host, p, later);
    json_decref(p);
    return r;
}

static void test_derive_migrate_and_host_state(void **state)
{
    (void)state;
    struct table t;
    struct xapi_records v;
    world(&t, &v);
    const char *mig = "{\"vm\":\"V\",\"from\":\"H1\",\"to\":\"H2\"}";
    assert_int_equal(d(&v, SK_MIGRATE, "H1", mig, true), DERIVE_RESEND);
    /* migrating now: only wait, never a second migration */
    struct xapi_value *vm = (struct xapi_value *)t_get(&t, "vm", "V");
    struct xapi_value *ops = xapi_struct_get_mut(vm, "current_operations");
    xapi_struct_set_string(ops, "OpaqueRef:task", "pool_migrate");
    assert_int_equal(d(&v, SK_MIGRATE, "H1", mig, true), DERIVE_WAIT);
    xapi_struct_remove(ops, "OpaqueRef:task");
    xapi_struct_set_string(vm, "resident_on", "H2");
    assert_int_equal(d(&v, SK_MIGRATE, "H1", mig, true), DERIVE_DONE);
    xapi_struct_set_string(vm, "resident_on", "H3"); /* moved elsewhere: not moved again */
    assert_int_equal(d(&v, SK_MIGRATE, "H1", mig, true), DERIVE_DONE);
    /* ... except home (policy return): a VM retargeted to H3 during its evacuation (planned:
     * H2) still goes back to H1; once home, done */
    const char *back = "{\"vm\":\"V\",\"from\":\"H2\",\"to\":\"H1\",\"back\":true}";
    assert_int_equal(d(&v, SK_MIGRATE, "H1", back, true), DERIVE_RESEND);
    xapi_struct_set_string(vm, "power_state", "Halted"); /* stopped meanwhile: left alone */
    assert_int_equal(d(&v, SK_MIGRATE, "H1", back, true), DERIVE_DONE);
    xapi_struct_set_string(vm, "power_state", "Running");
    xapi_struct_set_string(vm, "resident_on", "H1");
    assert_int_equal(d(&v, SK_MIGRATE, "H1", back, true), DERIVE_DONE);
    xapi_struct_set_string(vm, "resident_on", "H3");
    /* disable / enable */
    assert_int_equal(d(&v, SK_DISABLE, "H1", "{}", true), DERIVE_RESEND);
    assert_int_equal(d(&v, SK_ENABLE, "H1", "{}", true), DERIVE_DONE);
    struct xapi_value *h = (struct xapi_value *)t_get(&t, "host", "H1");
    xapi_struct_set_bool(h, "enabled", false);
    assert_int_equal(d(&v, SK_DISABLE, "H1", "{}", true), DERIVE_DONE);
    assert_int_equal(d(&v, SK_ENABLE, "H1", "{}", true), DERIVE_RESEND);
    /* apply: pool_update.hosts or host.updates */
    assert_int_equal(d(&v, SK_APPLY, "H1", "{\"uuid\":\"U1\"}", true), DERIVE_RESEND);
    xapi_struct_set_take(h, "updates", set_of("UR"));
    assert_int_equal(d(&v, SK_APPLY, "H1", "{\"uuid\":\"U1\"}", true), DERIVE_DONE);
    /* XenServer 8: host.apply_updates records the hash it applied */
    assert_int_equal(d(&v, SK_APPLY_CDN, "H1", "{\"hash\":\"abc\"}", true), DERIVE_RESEND);
    xapi_struct_set_string(h, "last_update_hash", "abc");
    assert_int_equal(d(&v, SK_APPLY_CDN, "H1", "{\"hash\":\"abc\"}", true), DERIVE_DONE);
    assert_int_equal(d(&v, SK_APPLY_CDN, "H1", "{\"hash\":\"def\"}", true), DERIVE_RESEND);
    /* introduce / upload: the update is in the pool */
    assert_int_equal(d(&v, SK_INTRODUCE, NULL, "{\"uuid\":\"U1\"}", true), DERIVE_DONE);
    assert_int_equal(d(&v, SK_UPLOAD, NULL, "{\"uuid\":\"U9\"}", true), DERIVE_RESEND);
    /* replan: done once the host steps were appended */
    assert_int_equal(d(&v, SK_REPLAN, NULL, "{}", true), DERIVE_DONE);
    assert_int_equal(d(&v, SK_REPLAN, NULL, "{}", false), DERIVE_RESEND);
    /* the rest is resent (read-only or idempotent) */
    assert_int_equal(d(&v, SK_PRECHECK, "H1", "{\"uuid\":\"U1\"}", true), DERIVE_RESEND);
    assert_int_equal(d(&v, SK_CLEAN, NULL, "{\"uuid\":\"U1\"}", true), DERIVE_RESEND);
    t_free(&t);
}

static void test_derive_reboot_never_twice(void **state)
{
    (void)state;
    struct table t;
    struct xapi_records v;
    world(&t, &v);
    const char *pj = "{\"boot_before\":\"100.\",\"agent_before\":\"110.\"}";
    /* intent on disk but no times recorded: it was never sent */
    assert_int_equal(d(&v, SK_REBOOT, "H1", "{}", true), DERIVE_RESEND);
    /* live with the old boot time: the reboot was not taken */
    assert_int_equal(d(&v, SK_REBOOT, "H1", pj, true), DERIVE_RESEND);
    /* not live: going down / booting: wait, never reboot again */
    struct xapi_value *m = (struct xapi_value *)t_get(&t, "host_metrics", "M1");
    xapi_struct_set_bool(m, "live", false);
    assert_int_equal(d(&v, SK_REBOOT, "H1", pj, true), DERIVE_WAIT);
    /* back with a new boot time but the toolstack not started again yet: wait */
    xapi_struct_set_bool(m, "live", true);
    struct xapi_value *h = (struct xapi_value *)t_get(&t, "host", "H1");
    struct xapi_value *oc = xapi_struct_get_mut(h, "other_config");
    xapi_struct_set_string(oc, "boot_time", "500.");
    assert_int_equal(d(&v, SK_REBOOT, "H1", pj, true), DERIVE_WAIT);
    json_t *p = json_loads(pj, 0, NULL);
    assert_false(exec_host_healthy(&v, "H1", p, true));
    /* toolstack up, but a PBD not plugged: not healthy yet */
    xapi_struct_set_string(oc, "agent_start_time", "510.");
    struct xapi_value *pb = (struct xapi_value *)t_get(&t, "pbd", "PB1");
    xapi_struct_set_bool(pb, "currently_attached", false);
    assert_int_equal(d(&v, SK_REBOOT, "H1", pj, true), DERIVE_WAIT);
    xapi_struct_set_bool(pb, "currently_attached", true);
    assert_int_equal(d(&v, SK_REBOOT, "H1", pj, true), DERIVE_DONE);
    assert_true(exec_host_healthy(&v, "H1", p, true));
    json_decref(p);
    /* healthy, but back without the update it rebooted for (its old installation): not done,
     * the wait's outcome is REBOOT_OLD_VERSION, and a resend applies it again first */
    const char *uj = "{\"boot_before\":\"100.\",\"agent_before\":\"110.\",\"updates\":[\"U1\"]}";
    p = json_loads(uj, 0, NULL);
    const struct exec_kind_def *rk = exec_kind_by_name(SK_REBOOT);
    assert_int_equal(d(&v, SK_REBOOT, "H1", uj, true), DERIVE_RESEND);
    assert_string_equal(exec_reboot_update_missing(&v, "H1", p), "U1");
    assert_string_equal(rk->wrong(&v, "H1", p), "REBOOT_OLD_VERSION");
    xapi_struct_set_take((struct xapi_value *)t_get(&t, "pool_update", "UR"), "hosts",
                         set_of("H1"));
    assert_int_equal(d(&v, SK_REBOOT, "H1", uj, true), DERIVE_DONE);
    assert_null(exec_reboot_update_missing(&v, "H1", p));
    assert_null(rk->wrong(&v, "H1", p));
    json_decref(p);
    /* toolstack restart: agent_start_time */
    const char *tj = "{\"boot_before\":\"500.\",\"agent_before\":\"510.\"}";
    assert_int_equal(d(&v, SK_RESTART_AGENT, "H1", tj, true), DERIVE_RESEND);
    xapi_struct_set_string(oc, "agent_start_time", "520.");
    assert_int_equal(d(&v, SK_RESTART_AGENT, "H1", tj, true), DERIVE_DONE);
    t_free(&t);
}

static void test_derive_fixes_and_undo(void **state)
{
    (void)state;
    struct table t;
    struct xapi_records v;
    world(&t, &v);
    const char *ha = "{\"fix\":\"disable_ha\",\"obj\":\"P\",\"arg\":\"\"}";
    assert_int_equal(d(&v, SK_RESOLVE, NULL, ha, true), DERIVE_RESEND);
    json_t *fix = json_loads(ha, 0, NULL);
    json_t *undo = exec_undo_for_fix(&v, fix);
    assert_non_null(undo);
    assert_string_equal(json_string_value(json_object_get(undo, "fix")), "enable_ha");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(undo, "heartbeat_srs"), 0)), "SR-HB");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(undo, "configuration"), "timeout")),
        "60");
    json_decref(undo);
    json_decref(fix);
    struct xapi_value *p = (struct xapi_value *)t_get(&t, "pool", "P");
    xapi_struct_set_bool(p, "ha_enabled", false);
    assert_int_equal(d(&v, SK_RESOLVE, NULL, ha, true), DERIVE_DONE);
    /* HA_NOT_ENABLED answers a disable_ha whose goal holds (resent on Retry): done, while
     * HA_IS_ENABLED ("turn HA off first") is no "already there" for a resolve */
    assert_true(exec_code_in(exec_kind_by_name(SK_RESOLVE)->benign, "HA_NOT_ENABLED"));
    assert_false(exec_code_in(exec_kind_by_name(SK_RESOLVE)->benign, "HA_IS_ENABLED"));

    const char *ej = "{\"fix\":\"eject_cd\",\"obj\":\"V\",\"arg\":\"ISO-SR\"}";
    fix = json_loads(ej, 0, NULL);
    undo = exec_undo_for_fix(&v, fix);
    assert_string_equal(json_string_value(json_object_get(undo, "fix")), "insert_cd");
    assert_string_equal(json_string_value(json_object_get(undo, "vdi")), "ISO1");
    assert_string_equal(json_string_value(json_object_get(undo, "vbd")), "CD1");
    json_decref(undo);
    json_decref(fix);
    assert_int_equal(d(&v, SK_RESOLVE, NULL, ej, true), DERIVE_RESEND);
    struct xapi_value *cd = (struct xapi_value *)t_get(&t, "vbd", "CD1");
    xapi_struct_set_bool(cd, "empty", true);
    assert_int_equal(d(&v, SK_RESOLVE, NULL, ej, true), DERIVE_DONE);

    const char *sj = "{\"fix\":\"suspend_vm\",\"obj\":\"V\",\"arg\":\"\"}";
    fix = json_loads(sj, 0, NULL);
    undo = exec_undo_for_fix(&v, fix);
    assert_string_equal(json_string_value(json_object_get(undo, "fix")), "resume_vm");
    assert_string_equal(json_string_value(json_object_get(undo, "arg")), "H1");
    json_decref(undo);
    json_decref(fix);
    assert_int_equal(d(&v, SK_RESOLVE, NULL, sj, true), DERIVE_RESEND);
    xapi_struct_set_string((struct xapi_value *)t_get(&t, "vm", "V"), "power_state", "Suspended");
    assert_int_equal(d(&v, SK_RESOLVE, NULL, sj, true), DERIVE_DONE);
    /* a fix with nothing to restore */
    fix = json_loads("{\"fix\":\"plug_pbd\",\"obj\":\"H1\",\"arg\":\"SR\"}", 0, NULL);
    assert_null(exec_undo_for_fix(&v, fix));
    json_decref(fix);
    t_free(&t);
}

static void test_explain(void **state)
{
    (void)state;
    assert_non_null(strstr(exec_explain("HOST_NOT_ENOUGH_FREE_MEMORY"), "memory"));
    assert_non_null(strstr(exec_explain("VM_REQUIRES_SR"), "SR"));
    assert_non_null(strstr(exec_explain("UPDATE_PRECHECK_FAILED_SOMETHING_NEW"), "precheck"));
    assert_non_null(strstr(exec_explain("HOST_RETURN_TIMEOUT"), "come back"));
    assert_non_null(exec_explain(NULL));
    assert_non_null(exec_explain("NOT_A_CODE"));
    /* storage is storage (never a network error); the SR full has its own words */
    assert_non_null(strstr(exec_explain("SR_BACKEND_FAILURE_44"), "full"));
    assert_non_null(strstr(exec_explain("SR_BACKEND_FAILURE_46"), "storage repository"));
    assert_null(strstr(exec_explain("INVALID_UPDATE_FILE"), "XAPI refused"));
    assert_non_null(strstr(exec_explain("HOST_HAS_RESIDENT_VMS"), "names them"));
}

/* The codes of docs/engine.md "Error codes" (between its markers), one per table row. */
static size_t doc_codes(char codes[][64], size_t max)
{
    FILE *f = fopen(PP_SOURCE_ROOT "/docs/engine.md", "r");
    assert_non_null(f);
    char line[2048];
    bool in = false;
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "<!-- error-codes:begin"))
            in = true;
        else if (strstr(line, "<!-- error-codes:end"))
            in = false;
        else if (in && str_has_prefix(line, "| `") && n < max) {
            const char *c = line + 3;
            size_t len = strcspn(c, "`");
            assert_true(len > 0 && len < 64);
            memcpy(codes[n], c, len);
            codes[n++][len] = 0;
        }
    }
    fclose(f);
    return n;
}

/* Docs and code agree on the codes: every code of the docs' table has its explanation in the
 * code's table and every code of the code's table is in the docs. */
static void test_explain_codes_match_docs(void **state)
{
    (void)state;
    static char codes[256][64];
    size_t n = doc_codes(codes, 256);
    assert_true(n > 40);
    size_t m = 0;
    for (; exec_explain_code(m); m++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = str_eq(codes[i], exec_explain_code(m));
        if (!found)
            fail_msg("code %s is explained in src/engine/explain.c but not listed in "
                     "docs/engine.md \"Error codes\"",
                     exec_explain_code(m));
    }
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < m && !found; k++)
            found = str_eq(codes[i], exec_explain_code(k));
        if (!found)
            fail_msg("code %s of docs/engine.md has no explanation in src/engine/explain.c",
                     codes[i]);
    }
    assert_int_equal(n, m);
}

/* Messages name objects: OpaqueRefs and uuids of known objects become their names. */
static void test_name_refs(void **state)
{
    (void)state;
    struct table t;
    struct xapi_records v;
    world(&t, &v);
    xapi_struct_set_string(t_add(&t, "vm", "OpaqueRef:ab12-cd"), "name_label", "web-2");
    struct xapi_value *h = t_add(&t, "host", "OpaqueRef:77-ee");
    xapi_struct_set_string(h, "name_label", "h2");
    xapi_struct_set_string(h, "uuid", "5b0e8f9e-1d2c-4b7a-9a61-2f1e3d4c5b01");
    char *m = exec_name_refs(&v, "VM_MIGRATE_FAILED [OpaqueRef:ab12-cd, OpaqueRef:77-ee, "
                                 "OpaqueRef:0ff, simulated]");
    assert_string_equal(m, "VM_MIGRATE_FAILED [web-2, h2, OpaqueRef:0ff, simulated]");
    free(m);
    m = exec_name_refs(&v, "on 5b0e8f9e-1d2c-4b7a-9a61-2f1e3d4c5b01, not "
                           "5b0e8f9e-1d2c-4b7a-9a61-2f1e3d4c5b0122");
    assert_string_equal(m, "on h2, not 5b0e8f9e-1d2c-4b7a-9a61-2f1e3d4c5b0122");
    free(m);
    m = exec_name_refs(&v, NULL);
    assert_string_equal(m, "");
    free(m);
    t_free(&t);
}

/* ---------------------------------------------------------------- the master-lost watchdog */

/* Looks every second from t0 to t0 + span_ms with in as given (gen_every_ms > 0: a new cache
 * generation that often); the time of the first firing after t0, or -1. */
static int64_t lost_first_fire(struct exec_lost_in in, int64_t span_ms, int64_t gen_every_ms)
{
    struct exec_lost_watch w = {0};
    const int64_t t0 = 1000000;
    for (int64_t t = t0; t <= t0 + span_ms; t += 1000) {
        in.now_ms = t;
        if (gen_every_ms > 0 && (t - t0) % gen_every_ms == 0)
            in.gen++;
        if (exec_lost_look(&w, &in))
            return t - t0;
    }
    return -1;
}

static void test_master_lost_watchdog(void **state)
{
    (void)state;
    const struct exec_lost_in lost = {
        .driving = true, .in_flight = true, .master_lost = true, .gen = 1, .bound_ms = 30000};
    /* no master, no event: fires once the bound has passed since the count began (the first
     * look starts it), not before */
    assert_int_equal(lost_first_fire(lost, 120000, 0), 31000);
    struct exec_lost_watch w = {0};
    struct exec_lost_in in = lost;
    in.now_ms = 5000;
    assert_false(exec_lost_look(&w, &in)); /* the generation seen first: the count restarts */
    assert_false(exec_lost_look(&w, &in)); /* counting from 5 s */
    in.now_ms = 5000 + 29999;
    assert_false(exec_lost_look(&w, &in));
    in.now_ms = 5000 + 30000;
    assert_true(exec_lost_look(&w, &in));
    assert_int_equal(w.since, 0); /* it fires once, then counts again */
    assert_false(exec_lost_look(&w, &in));
    /* a new snapshot every 20 s (the master answers again and again): never */
    assert_int_equal(lost_first_fire(lost, 300000, 20000), -1);
    /* our own reboot of the master: its step waits for the host's return with its own deadline
     * (HOST_RETURN_TIMEOUT), the watchdog does not count, however long */
    in = lost;
    in.own_wait = true;
    assert_int_equal(lost_first_fire(in, 300000, 0), -1);
    /* connected, nothing in flight, or the pool done: never */
    in = lost;
    in.master_lost = false;
    assert_int_equal(lost_first_fire(in, 300000, 0), -1);
    in = lost;
    in.in_flight = false;
    assert_int_equal(lost_first_fire(in, 300000, 0), -1);
    in = lost;
    in.driving = false;
    assert_int_equal(lost_first_fire(in, 300000, 0), -1);
    /* the master back for one look resets the count: 30 s from the next loss */
    w = (struct exec_lost_watch){0};
    in = lost;
    for (int64_t t = 0; t <= 20000; t += 1000) {
        in.now_ms = t;
        assert_false(exec_lost_look(&w, &in));
    }
    in.master_lost = false;
    in.now_ms = 21000;
    assert_false(exec_lost_look(&w, &in));
    in.master_lost = true;
    for (int64_t t = 22000; t < 52000; t += 1000) {
        in.now_ms = t;
        assert_false(exec_lost_look(&w, &in));
    }
    in.now_ms = 52000;
    assert_true(exec_lost_look(&w, &in));
}

/* docs/engine.md's step table ("Step kinds") has a row for every journaled kind of the kind
 * table, naming the REST name it is shown as (exec_public_step), and the upgrade's
 * new_version_updates; the cancel procedure is not a journaled kind. */
static void test_docs_list_every_step_kind(void **state)
{
    (void)state;
    FILE *f = fopen(PP_SOURCE_ROOT "/docs/engine.md", "r");
    assert_non_null(f);
    char *doc = xcalloc(1, 1 << 20);
    size_t n = fread(doc, 1, (1 << 20) - 1, f);
    fclose(f);
    doc[n] = '\0';
    const char *from = strstr(doc, "## Step kinds"), *to = from ? strstr(from, "## Journal") : NULL;
    assert_non_null(from);
    assert_non_null(to);
    char *sec = xstrndup(from, (size_t)(to - from));
    for (int k = EXEC_K_UNKNOWN + 1; k < EXEC_K_COUNT; k++) {
        const struct exec_kind_def *d = exec_kind_def((enum exec_kind)k);
        if (k == EXEC_K_CANCEL)
            continue;
        char row[96], shown[96];
        snprintf(row, sizeof row, "\n| `%s` | ", d->name);
        const char *r = strstr(sec, row);
        if (!r)
            fail_msg("docs/engine.md's step table has no row for the kind %s", d->name);
        snprintf(shown, sizeof shown, "`%s`", exec_public_step(d->name, NULL));
        const char *end = strchr(r + 1, '\n');
        if (!strstr(r, shown) || strstr(r, shown) > end)
            fail_msg("docs/engine.md: the row of %s does not say it is shown as %s", d->name,
                     shown);
    }
    json_t *after = json_pack("{s:b}", "after_upgrade", 1), *back = json_pack("{s:b}", "back", 1);
    assert_string_equal(exec_public_step(SK_REPLAN, after), "new_version_updates");
    assert_string_equal(exec_public_step(SK_MIGRATE, back), "migrate_back");
    assert_non_null(strstr(sec, "| `replan` with `after_upgrade` | `new_version_updates` |"));
    assert_non_null(strstr(sec, "`migrate_back`"));
    json_decref(after);
    json_decref(back);
    free(sec);
    free(doc);
}

/* exec_steps_align_wait: a host's long steps wait while a sibling of its batch with at least as
 * many long steps left is still evacuating; never a host's disable or migrations, never for a
 * sibling whose chain is shorter (it would become the batch's last), never after the sibling's
 * evacuation ended (so both start in the same turn). */
static void test_steps_align_wait(void **state)
{
    (void)state;
    /* host a: disable, apply, apply, reboot; host b: disable, migrate x2, apply, apply, reboot;
     * host c: disable, migrate, reboot (one long step) */
    static const struct {
        const char *host;
        enum exec_kind kind;
    } rows[] = {
        {"a", EXEC_K_DISABLE}, {"a", EXEC_K_APPLY},   {"a", EXEC_K_APPLY},   {"a", EXEC_K_REBOOT},
        {"b", EXEC_K_DISABLE}, {"b", EXEC_K_MIGRATE}, {"b", EXEC_K_MIGRATE}, {"b", EXEC_K_APPLY},
        {"b", EXEC_K_APPLY},   {"b", EXEC_K_REBOOT},  {"c", EXEC_K_DISABLE}, {"c", EXEC_K_MIGRATE},
        {"c", EXEC_K_REBOOT},
    };
    enum { N = sizeof(rows) / sizeof(rows[0]) };
    struct store_step items[N];
    enum exec_kind kinds[N];
    memset(items, 0, sizeof(items));
    for (size_t i = 0; i < N; i++) {
        items[i].host = (char *)rows[i].host;
        items[i].state = STORE_STEP_PENDING;
        kinds[i] = rows[i].kind;
    }
    struct store_step_list l = {items, N};
    /* disables and migrations never wait */
    assert_false(exec_steps_align_wait(&l, kinds, 0, N, 0));
    assert_false(exec_steps_align_wait(&l, kinds, 0, N, 5));
    items[0].state = items[4].state = items[10].state = STORE_STEP_DONE;
    /* a's first apply waits for b (3 long steps left, as many as a's) */
    assert_true(exec_steps_align_wait(&l, kinds, 0, N, 1));
    /* c's reboot waits for b too; b's own apply is not a long step to start yet, but asked,
     * it waits for nobody (c has fewer long steps, a is not evacuating) */
    assert_true(exec_steps_align_wait(&l, kinds, 0, N, 12));
    assert_false(exec_steps_align_wait(&l, kinds, 0, N, 7));
    /* one of b's migrations skipped, the other done: b's evacuation is over, nobody waits */
    items[5].state = STORE_STEP_SKIPPED;
    assert_true(exec_steps_align_wait(&l, kinds, 0, N, 1));
    items[6].state = STORE_STEP_DONE;
    assert_false(exec_steps_align_wait(&l, kinds, 0, N, 1));
    assert_false(exec_steps_align_wait(&l, kinds, 0, N, 12));
    /* b still evacuating but with a shorter chain than a's: a does not wait */
    items[6].state = STORE_STEP_PENDING;
    items[7].state = items[8].state = STORE_STEP_DONE;
    assert_false(exec_steps_align_wait(&l, kinds, 0, N, 1));
    /* a step outside the batch's range of b is not looked at */
    items[7].state = items[8].state = STORE_STEP_PENDING;
    assert_false(exec_steps_align_wait(&l, kinds, 0, 4, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_list_every_step_kind),
        cmocka_unit_test(test_zip_good_streams_image),
        cmocka_unit_test(test_zip_traversal_absolute_symlink),
        cmocka_unit_test(test_zip_limits),
        cmocka_unit_test(test_zip_image_count),
        cmocka_unit_test(test_zip_utf8_names),
        cmocka_unit_test(test_bare_image_and_garbage),
        cmocka_unit_test(test_steps_initial_and_hosts),
        cmocka_unit_test(test_steps_align_wait),
        cmocka_unit_test(test_derive_migrate_and_host_state),
        cmocka_unit_test(test_derive_reboot_never_twice),
        cmocka_unit_test(test_derive_fixes_and_undo),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_explain_codes_match_docs),
        cmocka_unit_test(test_name_refs),
        cmocka_unit_test(test_verify_findings),
        cmocka_unit_test(test_master_lost_watchdog),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
