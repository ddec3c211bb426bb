/* SPDX-License-Identifier: MIT */
/*
 * fileservice.c - the emulated vendor file service (see fileservice.h): catalog, client-ID
 * tokens and update zips generated from the scenario's "vendor" section and served by
 * libmicrohttpd.  The protocol follows what XenCenter does against the real service
 * (docs/reference/xencenter.md sections 1 and 5, from xenserver/xenadmin
 * XenModel/Actions/Updates/DownloadUpdatesXmlAction.cs and the client-ID token code).
 */
#include "sim/fileservice.h"

#include <archive.h>
#include <archive_entry.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/str.h"
#include "base/uuid.h"
#include "base/jsonx.h"
#include "base/vec.h"
#include "sim/net.h"

#define DOWNLOAD_PREFIX       "/direct/v2/download/"
#define TOKEN_PATH            "/api/session/token"
#define MAX_PATCHES           5000
#define MAX_VERSIONS          500
#define MAX_IMAGE_KIB         (64 * 1024)
#define MAX_SESSIONS          1024
#define CATALOG_LAST_MODIFIED "Thu, 01 Jan 2026 00:00:00 GMT"

struct fs_patch {
    char uuid[UUID_STR_LEN];
    char *name_label;
    char *description;
    char *version;
    char *guidance; /* comma-separated legacy names */
    bool mandatory;
    bool livepatch;
    int64_t installation_size;
    int priority;
    char *timestamp;
    char *build_number; /* the build its image moves a host to at its reboot, "" = none */
    char **requires;    /* uuids */
    size_t n_requires;
    char **conflicts;
    size_t n_conflicts;
    bool restricted;
    int64_t image_bytes;
    struct buf zip;
    char *file; /* "<name-label>.zip" */
};

struct fs_version {
    char *value;
    char *name;
    char *build_number;
    bool latest;
    bool latestcr;
    char *eligibility;
    char *timestamp;
    char *patch_uuid; /* "" when none */
    bool present_as_update;
    char **patches;
    size_t n_patches;
    char **minimal;
    size_t n_minimal;
    bool has_minimal;
};

struct fs_client {
    char *username;
    char *apikey;
    bool contract;
};

struct fs_session {
    char id[UUID_STR_LEN];
    char token[UUID_STR_LEN];
    size_t client;
};

struct sim_fileservice {
    struct fs_patch *patches;
    size_t n_patches;
    struct fs_version *versions;
    size_t n_versions;
    struct fs_client *clients;
    size_t n_clients;
    struct MHD_Daemon *mhd;
    char url[96];
    struct buf catalog;
    char etag[48];
    pthread_mutex_t lock;
    struct fs_session *sessions;
    size_t n_sessions;
    struct rng rng;
    unsigned downloads;
    char **installers; /* product versions whose install media is served (vendor.installers) */
    size_t n_installers;
};

/* ------------------------------------------------------------------ scenario section */

static int get_str(const json_t *o, const char *key, const char *path, bool required,
                   const char *def, char **out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (!v) {
        if (required)
            return err_set(e, PP_EINVAL, "%s.%s: required", path, key);
        *out = xstrdup(def);
        return 0;
    }
    if (!json_is_string(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected a string", path, key);
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int get_bool(const json_t *o, const char *key, const char *path, bool def, bool *out,
                    struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected true or false", path, key);
    *out = json_is_true(v);
    return 0;
}

static int get_int(const json_t *o, const char *key, const char *path, int64_t def, int64_t min,
                   int64_t max, int64_t *out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return err_set(e, PP_EINVAL, "%s.%s: expected an integer from %lld to %lld", path, key,
                       (long long)min, (long long)max);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* Resolve a patch reference (uuid or name-label) to its index, or -1. */
static long find_patch(const struct sim_fileservice *fs, size_t n, const char *ref)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_nocase(fs->patches[i].uuid, ref) || str_eq(fs->patches[i].name_label, ref))
            return (long)i;
    return -1;
}

/* An array of patch references -> uuids (new strv).  Patches are those already parsed. */
static int get_refs(const struct sim_fileservice *fs, size_t known, const json_t *o,
                    const char *key, const char *path, char ***out, size_t *n, struct err *e)
{
    json_t *a = json_object_get(o, key);
    size_t i;
    json_t *it;

    *out = NULL;
    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a))
        return err_set(e, PP_EINVAL, "%s.%s: expected an array of patch uuids or names", path, key);
    json_array_foreach(a, i, it)
    {
        long k = json_is_string(it) ? find_patch(fs, known, json_string_value(it)) : -1;
        if (k < 0)
            return err_set(e, PP_EINVAL, "%s.%s[%zu]: no such patch (name it after it is defined)",
                           path, key, i);
        *out = vec_grow_implied(*out, *n, sizeof(char *));
        (*out)[(*n)++] = xstrdup(fs->patches[k].uuid);
    }
    return 0;
}

static const char *const legacy_guidance[] = {"restartHVM", "restartPV", "restartHost",
                                              "restartXAPI", NULL};

static int parse_patch(struct sim_fileservice *fs, size_t idx, const json_t *j, struct err *e)
{
    static const char *const keys[] = {"uuid",
                                       "name_label",
                                       "description",
                                       "version",
                                       "after_apply_guidance",
                                       "guidance_mandatory",
                                       "livepatch",
                                       "installation_size",
                                       "priority",
                                       "timestamp",
                                       "requires",
                                       "conflicts",
                                       "restricted",
                                       "image_kib",
                                       "build_number",
                                       NULL};
    struct fs_patch *p = &fs->patches[idx];
    char path[64], *uuid = NULL;
    json_t *g;
    int64_t v;
    struct buf gb;

    snprintf(path, sizeof(path), "vendor.patches[%zu]", idx);
    if (jsonx_check_keys(j, keys, path, e) || get_str(j, "uuid", path, true, NULL, &uuid, e))
        goto fail;
    if (!uuid_is_valid(uuid)) {
        err_set(e, PP_EINVAL, "%s.uuid: \"%.40s\" is not a UUID", path, uuid);
        goto fail;
    }
    for (char *c = uuid; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    str_lcpy(p->uuid, uuid, sizeof(p->uuid));
    free(uuid);
    uuid = NULL;
    if (find_patch(fs, idx, p->uuid) >= 0)
        return err_set(e, PP_EINVAL, "%s.uuid: defined twice", path);
    if (get_str(j, "name_label", path, true, NULL, &p->name_label, e) ||
        get_str(j, "description", path, false, "", &p->description, e) ||
        get_str(j, "version", path, false, "1.0", &p->version, e) ||
        get_str(j, "timestamp", path, false, "2026-01-01T00:00:00Z", &p->timestamp, e) ||
        get_str(j, "build_number", path, false, "", &p->build_number, e) ||
        get_bool(j, "guidance_mandatory", path, false, &p->mandatory, e) ||
        get_bool(j, "livepatch", path, false, &p->livepatch, e) ||
        get_bool(j, "restricted", path, false, &p->restricted, e) ||
        get_int(j, "installation_size", path, 10485760, 0, INT64_MAX / 2, &p->installation_size, e))
        return e->code;
    if (get_int(j, "priority", path, 2, 0, 5, &v, e))
        return e->code;
    p->priority = (int)v;
    if (get_int(j, "image_kib", path, 64, 1, MAX_IMAGE_KIB, &v, e))
        return e->code;
    p->image_bytes = v * 1024;
    for (const char *c = p->name_label; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return err_set(e, PP_EINVAL, "%s.name_label: only letters, digits, '-', '_' and '.'",
                           path);
    g = json_object_get(j, "after_apply_guidance");
    buf_init(&gb);
    if (g) {
        size_t i;
        json_t *it;
        if (!json_is_array(g))
            return err_set(e, PP_EINVAL, "%s.after_apply_guidance: expected an array", path);
        json_array_foreach(g, i, it)
        {
            bool ok = false;
            for (size_t k = 0; json_is_string(it) && legacy_guidance[k]; k++)
                ok = ok || strcmp(legacy_guidance[k], json_string_value(it)) == 0;
            if (!ok) {
                buf_cleanup(&gb);
                return err_set(e, PP_EINVAL,
                               "%s.after_apply_guidance[%zu]: expected restartHVM, restartPV, "
                               "restartHost or restartXAPI",
                               path, i);
            }
            if (gb.len)
                buf_putc(&gb, ',');
            buf_puts(&gb, json_string_value(it));
        }
    }
    p->guidance = buf_take(&gb);
    if (get_refs(fs, idx, j, "requires", path, &p->requires, &p->n_requires, e) ||
        get_refs(fs, idx, j, "conflicts", path, &p->conflicts, &p->n_conflicts, e))
        return e->code;
    p->file = xasprintf("%s.zip", p->name_label);
    return 0;
fail:
    free(uuid);
    return e ? e->code : PP_EINVAL;
}

static int parse_version(struct sim_fileservice *fs, size_t idx, const json_t *j, struct err *e)
{
    static const char *const keys[] = {
        "value",     "name",  "build_number",      "latest",  "latestcr", "hotfix_eligibility",
        "timestamp", "patch", "present_as_update", "patches", "minimal",  NULL};
    struct fs_version *v = &fs->versions[idx];
    char path[64];
    char *patch = NULL;

    snprintf(path, sizeof(path), "vendor.versions[%zu]", idx);
    if (jsonx_check_keys(j, keys, path, e) || get_str(j, "value", path, true, NULL, &v->value, e) ||
        get_str(j, "name", path, true, NULL, &v->name, e) ||
        get_str(j, "build_number", path, false, "", &v->build_number, e) ||
        get_str(j, "hotfix_eligibility", path, false, "all", &v->eligibility, e) ||
        get_str(j, "timestamp", path, false, "2026-01-01T00:00:00Z", &v->timestamp, e) ||
        get_str(j, "patch", path, false, "", &patch, e) ||
        get_bool(j, "latest", path, false, &v->latest, e) ||
        get_bool(j, "latestcr", path, false, &v->latestcr, e) ||
        get_bool(j, "present_as_update", path, false, &v->present_as_update, e) ||
        get_refs(fs, fs->n_patches, j, "patches", path, &v->patches, &v->n_patches, e) ||
        get_refs(fs, fs->n_patches, j, "minimal", path, &v->minimal, &v->n_minimal, e)) {
        free(patch);
        return e->code;
    }
    v->has_minimal = json_object_get(j, "minimal") != NULL;
    if (*patch) {
        long k = find_patch(fs, fs->n_patches, patch);
        if (k < 0) {
            free(patch);
            return err_set(e, PP_EINVAL, "%s.patch: no such patch", path);
        }
        v->patch_uuid = xstrdup(fs->patches[k].uuid);
    } else {
        v->patch_uuid = xstrdup("");
    }
    free(patch);
    if (strcmp(v->eligibility, "all") && strcmp(v->eligibility, "premium") &&
        strcmp(v->eligibility, "cu") && strcmp(v->eligibility, "none"))
        return err_set(e, PP_EINVAL, "%s.hotfix_eligibility: expected all, premium, cu or none",
                       path);
    return 0;
}

/* vendor.installers: product versions of releases whose install media this service serves
 * (poolpatch sim fills it from the scenario's "releases"). */
static int parse_installers(struct sim_fileservice *fs, const json_t *a, struct err *e)
{
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_VERSIONS)
        return err_set(e, PP_EINVAL, "vendor.installers: expected an array of at most %d versions",
                       MAX_VERSIONS);
    fs->installers = xcalloc(json_array_size(a) + 1, sizeof(*fs->installers));
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *v = json_string_value(json_array_get(a, i));
        bool ok = v && *v && strlen(v) < 64;
        for (const char *p = v; ok && *p; p++)
            ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 *p == '.' || *p == '-' || *p == '_';
        if (!ok)
            return err_set(e, PP_EINVAL, "vendor.installers[%zu]: expected a version string", i);
        fs->installers[fs->n_installers++] = xstrdup(v);
    }
    return 0;
}

static int parse_vendor(struct sim_fileservice *fs, const json_t *vendor, struct err *e)
{
    static const char *const keys[] = {"client_ids", "versions", "patches", "installers", NULL};
    json_t *pa = json_object_get(vendor, "patches"), *va = json_object_get(vendor, "versions");
    json_t *ca = json_object_get(vendor, "client_ids");
    size_t i;
    json_t *it;

    if (jsonx_check_keys(vendor, keys, "vendor", e))
        return e->code;
    if (pa && (!json_is_array(pa) || json_array_size(pa) > MAX_PATCHES))
        return err_set(e, PP_EINVAL, "vendor.patches: expected an array of at most %d patches",
                       MAX_PATCHES);
    if (va && (!json_is_array(va) || json_array_size(va) > MAX_VERSIONS))
        return err_set(e, PP_EINVAL, "vendor.versions: expected an array of at most %d versions",
                       MAX_VERSIONS);
    if (ca && !json_is_array(ca))
        return err_set(e, PP_EINVAL, "vendor.client_ids: expected an array");
    if (parse_installers(fs, json_object_get(vendor, "installers"), e))
        return e->code;
    fs->patches = xcalloc(json_array_size(pa) + 1, sizeof(*fs->patches));
    json_array_foreach(pa, i, it)
    {
        buf_init(&fs->patches[i].zip);
        fs->n_patches = i + 1;
        if (parse_patch(fs, i, it, e))
            return e->code;
    }
    fs->versions = xcalloc(json_array_size(va) + 1, sizeof(*fs->versions));
    json_array_foreach(va, i, it)
    {
        fs->n_versions = i + 1;
        if (parse_version(fs, i, it, e))
            return e->code;
    }
    fs->clients = xcalloc(json_array_size(ca) + 1, sizeof(*fs->clients));
    json_array_foreach(ca, i, it)
    {
        static const char *const ck[] = {"username", "apikey", "support_contract", NULL};
        char path[64];
        struct fs_client *c = &fs->clients[i];
        snprintf(path, sizeof(path), "vendor.client_ids[%zu]", i);
        fs->n_clients = i + 1;
        if (jsonx_check_keys(it, ck, path, e) ||
            get_str(it, "username", path, true, NULL, &c->username, e) ||
            get_str(it, "apikey", path, true, NULL, &c->apikey, e) ||
            get_bool(it, "support_contract", path, true, &c->contract, e))
            return e->code;
    }
    return 0;
}

/* ------------------------------------------------------------------ generated content */

static la_ssize_t zip_write(struct archive *a, void *ud, const void *p, size_t n)
{
    (void)a;
    buf_append(ud, p, n);
    return (la_ssize_t)n;
}

/* The simulated update image: update.xml then NUL padding (docs/simulator.md). */
static void build_image(const struct fs_patch *p, struct buf *img)
{
    buf_puts(img, "<?xml version=\"1.0\"?>\n<update uuid=\"");
    str_xml_escape(img, p->uuid);
    buf_puts(img, "\" name-label=\"");
    str_xml_escape(img, p->name_label);
    buf_puts(img, "\" name-description=\"");
    str_xml_escape(img, p->description);
    buf_puts(img, "\" version=\"");
    str_xml_escape(img, p->version);
    buf_printf(img, "\" installation-size=\"%lld\" after-apply-guidance=\"",
               (long long)p->installation_size);
    str_xml_escape(img, p->guidance);
    buf_printf(img, "\" livepatch=\"%s\"", p->livepatch ? "true" : "false");
    if (p->build_number && *p->build_number) {
        buf_puts(img, " build-number=\"");
        str_xml_escape(img, p->build_number);
        buf_putc(img, '"');
    }
    buf_puts(img, "/>\n");
    while (img->len < (size_t)p->image_bytes)
        buf_putc(img, '\0');
}

static int build_zip(struct fs_patch *p, struct err *e)
{
    struct archive *a = archive_write_new();
    struct archive_entry *en = archive_entry_new();
    struct buf img;
    char *name = xasprintf("%s.iso", p->name_label);
    int rc = 0;

    buf_init(&img);
    build_image(p, &img);
    if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
        archive_write_set_options(a, "zip:compression=store") != ARCHIVE_OK ||
        archive_write_open(a, &p->zip, NULL, zip_write, NULL) != ARCHIVE_OK) {
        rc = err_set(e, PP_EIO, "building %s: %s", p->file, archive_error_string(a));
        goto out;
    }
    archive_entry_set_pathname(en, name);
    archive_entry_set_size(en, (la_int64_t)img.len);
    archive_entry_set_filetype(en, AE_IFREG);
    archive_entry_set_perm(en, 0644);
    archive_entry_set_mtime(en, 1767225600, 0); /* fixed: same bytes every run */
    if (archive_write_header(a, en) != ARCHIVE_OK ||
        archive_write_data(a, img.data, img.len) != (la_ssize_t)img.len ||
        archive_write_close(a) != ARCHIVE_OK)
        rc = err_set(e, PP_EIO, "building %s: %s", p->file, archive_error_string(a));
out:
    archive_entry_free(en);
    archive_write_free(a);
    buf_cleanup(&img);
    free(name);
    return rc;
}

static void attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s=\"", name);
    str_xml_escape(b, value);
    buf_putc(b, '"');
}

static void build_catalog(struct sim_fileservice *fs)
{
    struct buf *b = &fs->catalog;
    uint64_t h = 1469598103934665603ULL;

    buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<patchdata>\n<patches>\n");
    for (size_t i = 0; i < fs->n_patches; i++) {
        const struct fs_patch *p = &fs->patches[i];
        char num[32];
        char *url = xasprintf("%s%s%s", fs->url, DOWNLOAD_PREFIX, p->file);
        char *kb = xasprintf("%s/kb/%s", fs->url, p->name_label);
        buf_puts(b, "<patch");
        attr(b, "uuid", p->uuid);
        attr(b, "name-label", p->name_label);
        attr(b, "name-description", p->description);
        attr(b, "version", p->version);
        attr(b, "url", kb);
        attr(b, "patch-url", url);
        attr(b, "timestamp", p->timestamp);
        attr(b, "after-apply-guidance", p->guidance);
        attr(b, "guidance-mandatory", p->mandatory ? "true" : "false");
        snprintf(num, sizeof(num), "%d", p->priority);
        attr(b, "priority", num);
        snprintf(num, sizeof(num), "%lld", (long long)p->installation_size);
        attr(b, "installation-size", num);
        snprintf(num, sizeof(num), "%zu", p->zip.len);
        attr(b, "download-size", num);
        attr(b, "contains-livepatch", p->livepatch ? "true" : "false");
        buf_puts(b, ">");
        if (p->n_requires) {
            buf_puts(b, "<requiredpatches>");
            for (size_t k = 0; k < p->n_requires; k++)
                buf_printf(b, "<requiredpatch uuid=\"%s\"/>", p->requires[k]);
            buf_puts(b, "</requiredpatches>");
        }
        if (p->n_conflicts) {
            buf_puts(b, "<conflictingpatches>");
            for (size_t k = 0; k < p->n_conflicts; k++)
                buf_printf(b, "<conflictingpatch uuid=\"%s\"/>", p->conflicts[k]);
            buf_puts(b, "</conflictingpatches>");
        }
        buf_puts(b, "</patch>\n");
        free(url);
        free(kb);
    }
    buf_puts(b, "</patches>\n<serverversions>\n");
    for (size_t i = 0; i < fs->n_versions; i++) {
        const struct fs_version *v = &fs->versions[i];
        char *url = xasprintf("%s/downloads/%s", fs->url, v->value);
        buf_puts(b, "<version");
        attr(b, "value", v->value);
        attr(b, "name", v->name);
        if (*v->build_number)
            attr(b, "build-number", v->build_number);
        attr(b, "latest", v->latest ? "true" : "false");
        attr(b, "latestcr", v->latestcr ? "true" : "false");
        attr(b, "url", url);
        attr(b, "timestamp", v->timestamp);
        attr(b, "hotfix-eligibility", v->eligibility);
        if (*v->patch_uuid) {
            attr(b, "patch-uuid", v->patch_uuid);
            attr(b, "present-as-update", v->present_as_update ? "true" : "false");
        }
        buf_puts(b, ">");
        for (size_t k = 0; k < v->n_patches; k++)
            buf_printf(b, "<patch uuid=\"%s\"/>", v->patches[k]);
        if (v->has_minimal) {
            buf_puts(b, "<minimalpatches>");
            for (size_t k = 0; k < v->n_minimal; k++)
                buf_printf(b, "<patch uuid=\"%s\"/>", v->minimal[k]);
            buf_puts(b, "</minimalpatches>");
        }
        buf_puts(b, "</version>\n");
        free(url);
    }
    buf_puts(b, "</serverversions>\n</patchdata>\n");
    for (size_t i = 0; i < b->len; i++)
        h = (h ^ (unsigned char)b->data[i]) * 1099511628211ULL;
    snprintf(fs->etag, sizeof(fs->etag), "\"%016llx\"", (unsigned long long)h);
}

/* ------------------------------------------------------------------ HTTP */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const void *body, size_t len, bool copy)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, const char *json)
{
    return reply(c, status, "application/json", json, strlen(json), true);
}

static int b64val(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Decode the Basic credentials of an Authorization header into "user:secret" (new) or NULL. */
static char *basic_credentials(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    struct buf b;
    unsigned acc = 0;
    int bits = 0;

    if (!h || strncmp(h, "Basic ", 6) != 0 || strlen(h) > 4096)
        return NULL;
    buf_init(&b);
    for (h += 6; *h && *h != '='; h++) {
        int v = b64val(*h);
        if (v < 0) {
            buf_cleanup(&b);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(&b, (char)((acc >> bits) & 0xff));
        }
    }
    return buf_take(&b);
}

static enum MHD_Result serve_catalog(struct sim_fileservice *fs, struct MHD_Connection *c)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    const char *ims = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Modified-Since");
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;

    if ((inm && strcmp(inm, fs->etag) == 0) ||
        (!inm && ims && !strcmp(ims, CATALOG_LAST_MODIFIED))) {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else {
        r = MHD_create_response_from_buffer(fs->catalog.len, fs->catalog.data,
                                            MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/xml");
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, fs->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, CATALOG_LAST_MODIFIED);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve_token(struct sim_fileservice *fs, struct MHD_Connection *c)
{
    char *cred = basic_credentials(c);
    char *colon = cred ? strchr(cred, ':') : NULL;
    long who = -1;
    struct fs_session s;
    char body[256];

    if (colon) {
        *colon = '\0';
        for (size_t i = 0; i < fs->n_clients && who < 0; i++)
            if (strcmp(fs->clients[i].username, cred) == 0 &&
                strcmp(fs->clients[i].apikey, colon + 1) == 0)
                who = (long)i;
    }
    free(cred);
    if (who < 0)
        return reply_json(c, MHD_HTTP_UNAUTHORIZED, "{\"error\":\"invalid client ID\"}");
    pthread_mutex_lock(&fs->lock);
    uuid_from_rng(&fs->rng, s.id);
    uuid_from_rng(&fs->rng, s.token);
    s.client = (size_t)who;
    if (fs->n_sessions == MAX_SESSIONS) { /* forget the oldest session */
        memmove(fs->sessions, fs->sessions + 1, (MAX_SESSIONS - 1) * sizeof(s));
        fs->n_sessions--;
    }
    fs->sessions = vec_grow_implied(fs->sessions, fs->n_sessions, sizeof(s));
    fs->sessions[fs->n_sessions++] = s;
    pthread_mutex_unlock(&fs->lock);
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"session_id\":\"%s\",\"expires_at\":\"2099-01-01T00:00:00Z\"}",
             s.token, s.id);
    return reply_json(c, MHD_HTTP_CREATED, body);
}

static enum MHD_Result serve_token_delete(struct sim_fileservice *fs, struct MHD_Connection *c,
                                          const char *id)
{
    bool found = false;

    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < fs->n_sessions; i++) {
        if (strcmp(fs->sessions[i].id, id) == 0) {
            memmove(&fs->sessions[i], &fs->sessions[i + 1],
                    (fs->n_sessions - i - 1) * sizeof(fs->sessions[0]));
            fs->n_sessions--;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return reply_json(c, found ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND,
                      found ? "{}" : "{\"error\":\"no such session\"}");
}

/* "<username>_<session_id>:<token>" -> the client index, or -1. */
static long download_client(struct sim_fileservice *fs, struct MHD_Connection *c)
{
    char *cred = basic_credentials(c);
    long who = -1;

    if (!cred)
        return -1;
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < fs->n_sessions && who < 0; i++) {
        const struct fs_session *s = &fs->sessions[i];
        char *want = xasprintf("%s_%s:%s", fs->clients[s->client].username, s->id, s->token);
        if (strcmp(want, cred) == 0)
            who = (long)s->client;
        free(want);
    }
    pthread_mutex_unlock(&fs->lock);
    free(cred);
    return who;
}

static enum MHD_Result serve_download(struct sim_fileservice *fs, struct MHD_Connection *c,
                                      const char *file)
{
    const struct fs_patch *p = NULL;
    const char *range;
    uint64_t from = 0;
    long who;
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;

    for (size_t i = 0; i < fs->n_patches && !p; i++)
        if (strcmp(fs->patches[i].file, file) == 0)
            p = &fs->patches[i];
    who = download_client(fs, c);
    if (who < 0)
        return reply_json(c, MHD_HTTP_UNAUTHORIZED, "{\"error\":\"not authorized\"}");
    if (!p)
        return reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such file\"}");
    if (p->restricted && !fs->clients[who].contract)
        return reply_json(c, MHD_HTTP_FORBIDDEN,
                          "{\"error\":\"this update requires an active support contract\"}");
    range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    if (range) {
        char *end;
        if (strncmp(range, "bytes=", 6) != 0)
            return reply_json(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, "{\"error\":\"bad range\"}");
        from = strtoull(range + 6, &end, 10);
        if (*end != '-' || from >= p->zip.len)
            return reply_json(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, "{\"error\":\"bad range\"}");
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    r = MHD_create_response_from_buffer(p->zip.len - from, p->zip.data + from,
                                        MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/zip");
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %llu-%zu/%zu", (unsigned long long)from, p->zip.len - 1,
                 p->zip.len);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    pthread_mutex_lock(&fs->lock);
    fs->downloads++;
    pthread_mutex_unlock(&fs->lock);
    return ret;
}

/*
 * GET / HEAD /installers/<version>/<file>: a release's install tree as prepare_host_upgrade.py
 * tests it (the boot files install.img, boot/vmlinuz, boot/xen.gz, boot/isolinux/isolinux.cfg,
 * and the repository's .treeinfo).  The bytes are placeholders.
 */
static enum MHD_Result serve_installer(struct sim_fileservice *fs, struct MHD_Connection *c,
                                       const char *rest)
{
    static const char *const files[] = {".treeinfo", "install.img", "boot/vmlinuz", "boot/xen.gz",
                                        "boot/isolinux/isolinux.cfg"};
    const char *slash = strchr(rest, '/');
    for (size_t i = 0; slash && i < fs->n_installers; i++) {
        if (strlen(fs->installers[i]) != (size_t)(slash - rest) ||
            strncmp(fs->installers[i], rest, (size_t)(slash - rest)) != 0)
            continue;
        for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
            if (strcmp(slash + 1, files[k]) != 0)
                continue;
            char *body =
                k == 0 ? xasprintf("[platform]\nname = XCP\n[branding]\nversion = %s\n",
                                   fs->installers[i])
                       : xasprintf("simulated %s of release %s\n", files[k], fs->installers[i]);
            enum MHD_Result r =
                reply(c, MHD_HTTP_OK, "application/octet-stream", body, strlen(body), true);
            free(body);
            return r;
        }
    }
    return reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **state)
{
    static int marker;
    struct sim_fileservice *fs = cls;

    (void)version;
    (void)upload;
    if (!*state) {
        *state = &marker; /* the body (if any) follows: ignore it */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(method, "GET") && !strcmp(url, "/updates.xml"))
        return serve_catalog(fs, c);
    if (!strcmp(method, "POST") && !strcmp(url, TOKEN_PATH))
        return serve_token(fs, c);
    if (!strcmp(method, "DELETE") && str_has_prefix(url, TOKEN_PATH "/"))
        return serve_token_delete(fs, c, url + strlen(TOKEN_PATH "/"));
    if (!strcmp(method, "GET") && str_has_prefix(url, DOWNLOAD_PREFIX))
        return serve_download(fs, c, url + strlen(DOWNLOAD_PREFIX));
    if ((!strcmp(method, "GET") || !strcmp(method, "HEAD")) && str_has_prefix(url, "/installers/"))
        return serve_installer(fs, c, url + strlen("/installers/"));
    if (!strcmp(method, "GET") && str_has_prefix(url, "/kb/"))
        return reply(c, MHD_HTTP_OK, "text/plain", "Release notes of a simulated update.\n", 38,
                     false);
    return reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Build and serve (see fileservice.h). */
int sim_fileservice_new(const json_t *vendor, const char *bind_addr, uint16_t port,
                        struct sim_fileservice **out, struct err *e)
{
    struct sim_fileservice *fs = xcalloc(1, sizeof(*fs));
    int lfd = -1;
    uint16_t bound = 0;
    int rc;

    *out = NULL;
    pthread_mutex_init(&fs->lock, NULL);
    buf_init(&fs->catalog);
    rng_seed(&fs->rng, 0x5eed);
    rc = parse_vendor(fs, vendor, e);
    for (size_t i = 0; rc == 0 && i < fs->n_patches; i++)
        rc = build_zip(&fs->patches[i], e);
    if (rc != 0)
        goto fail;
    /* Bind, then build the catalog (it names the bound port), and only then start the thread
     * that serves it: the server thread never sees the catalog half-built. */
    rc = sim_net_listen(bind_addr ? bind_addr : "127.0.0.1", port, &lfd, &bound, e);
    if (rc != 0) {
        err_prefix(e, "file service: ");
        goto fail;
    }
    snprintf(fs->url, sizeof(fs->url), "http://%s:%u", bind_addr ? bind_addr : "127.0.0.1", bound);
    build_catalog(fs);
    fs->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                               handler, fs, MHD_OPTION_LISTEN_SOCKET, lfd,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!fs->mhd) {
        close(lfd);
        rc = err_set(e, PP_EIO, "file service: cannot serve on %s", fs->url);
        goto fail;
    }
    *out = fs;
    return 0;
fail:
    sim_fileservice_free(fs);
    return rc;
}

const char *sim_fileservice_url(const struct sim_fileservice *fs)
{
    return fs->url;
}

const char *sim_fileservice_catalog(const struct sim_fileservice *fs, size_t *len)
{
    if (len)
        *len = fs->catalog.len;
    return buf_str(&fs->catalog);
}

unsigned sim_fileservice_downloads(struct sim_fileservice *fs)
{
    unsigned n;

    pthread_mutex_lock(&fs->lock);
    n = fs->downloads;
    pthread_mutex_unlock(&fs->lock);
    return n;
}

void sim_fileservice_free(struct sim_fileservice *fs)
{
    if (!fs)
        return;
    if (fs->mhd)
        MHD_stop_daemon(fs->mhd);
    for (size_t i = 0; i < fs->n_patches; i++) {
        struct fs_patch *p = &fs->patches[i];
        free(p->name_label);
        free(p->build_number);
        free(p->description);
        free(p->version);
        free(p->guidance);
        free(p->timestamp);
        free_strv(p->requires, p->n_requires);
        free_strv(p->conflicts, p->n_conflicts);
        buf_cleanup(&p->zip);
        free(p->file);
    }
    free(fs->patches);
    for (size_t i = 0; i < fs->n_versions; i++) {
        struct fs_version *v = &fs->versions[i];
        free(v->value);
        free(v->name);
        free(v->build_number);
        free(v->eligibility);
        free(v->timestamp);
        free(v->patch_uuid);
        free_strv(v->patches, v->n_patches);
        free_strv(v->minimal, v->n_minimal);
    }
    free(fs->versions);
    for (size_t i = 0; i < fs->n_clients; i++) {
        free(fs->clients[i].username);
        free(fs->clients[i].apikey);
    }
    free(fs->clients);
    free_strv(fs->installers, fs->n_installers);
    free(fs->sessions);
    buf_cleanup(&fs->catalog);
    pthread_mutex_destroy(&fs->lock);
    free(fs);
}
