/* SPDX-License-Identifier: MIT */
/*
 * engine_files.c - the update files the daemon was given: streamed in through the API
 * (POST /api/v1/files) or copied by name from the one configured directory (setting
 * update_file_dir), never opened from an arbitrary path.  Each lands in STATE/files/ as
 * ID.zip (0600, the directory 0700) with ID.json beside it: its name, size and the update it
 * holds, identified from the file itself (update_file.c) before it is kept.  A file that holds
 * no valid update is deleted and refused with the reason.
 *
 * Threads: every function runs on the caller's thread (the REST workers, the MHD thread for
 * the streamed bytes); files are created under fresh random names and published with rename(),
 * so no lock is needed.  The engine thread only reads ID.json through engine_file_lookup.
 */
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/uuid.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/update_file.h"
#include "plan/plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_MOD        "files"
#define FILE_NAME_MAX  255
#define SIDECAR_MAX    (64 * 1024)
#define FILES_LIST_MAX 1000

struct engine_upload {
    char id[UUID_STR_LEN];
    char name[FILE_NAME_MAX + 1];
    char *part; /* STATE/files/ID.part */
    int fd;
    int64_t size, max;
};

int64_t engine_file_max_bytes(const struct engine *eng)
{
    return eng->file_max_bytes > 0 ? eng->file_max_bytes : ENGINE_FILE_MAX_DEFAULT;
}

static char *files_dir(const struct engine *eng)
{
    return xasprintf("%s/files", eng->data_dir);
}

static char *file_path(const struct engine *eng, const char *id, const char *ext)
{
    return xasprintf("%s/files/%s.%s", eng->data_dir, id, ext);
}

/* A name shown to people: the last path component, printable, at most FILE_NAME_MAX bytes. */
static void clean_name(const char *in, char *out, size_t outsz)
{
    const char *b = in ? strrchr(in, '/') : NULL;
    size_t n = 0;

    b = b ? b + 1 : (in ? in : "");
    for (; *b && n + 1 < outsz; b++)
        out[n++] = ((unsigned char)*b < 0x20 || *b == 0x7f || *b == '\\') ? '_' : *b;
    out[n] = '\0';
    if (!n || str_eq(out, ".") || str_eq(out, ".."))
        str_lcpy(out, "update.zip", outsz);
}

/* See engine.h. */
int engine_file_upload_begin(struct engine *eng, const char *name, int64_t declared,
                             struct engine_upload **out, struct err *e)
{
    struct engine_upload *u;
    char *dir = files_dir(eng);
    int64_t max = engine_file_max_bytes(eng);

    *out = NULL;
    if (declared > max) {
        free(dir);
        return err_set(e, PP_ELIMIT,
                       "the update file is %lld bytes, over the limit of %lld bytes (setting "
                       "max_upload)",
                       (long long)declared, (long long)max);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int rc = err_set(e, PP_EIO, "cannot create %s: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    free(dir);
    u = xcalloc(1, sizeof *u);
    u->max = max;
    clean_name(name, u->name, sizeof u->name);
    if (uuid_generate(u->id) != 0) {
        free(u);
        return err_set(e, PP_EIO, "cannot draw a file id");
    }
    u->part = file_path(eng, u->id, "part");
    u->fd = open(u->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (u->fd < 0) {
        int rc = err_set(e, PP_EIO, "cannot create %s: %s", u->part, strerror(errno));
        free(u->part);
        free(u);
        return rc;
    }
    *out = u;
    return 0;
}

/* See engine.h. */
int engine_file_upload_write(struct engine_upload *u, const void *data, size_t n, struct err *e)
{
    const char *p = data;

    if ((int64_t)n > u->max - u->size)
        return err_set(e, PP_ELIMIT,
                       "the update file is over the limit of %lld bytes (setting max_upload)",
                       (long long)u->max);
    while (n > 0) {
        ssize_t w = write(u->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(e, PP_EIO, "writing the update file: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
        u->size += w;
    }
    return 0;
}

/* See engine.h. */
void engine_file_upload_abort(struct engine_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    unlink(u->part);
    free(u->part);
    free(u);
}

static json_t *guidance_json(unsigned bits)
{
    json_t *a = json_array();

    for (unsigned b = 1; b && b <= CAT_G_UNKNOWN; b <<= 1)
        if (bits & b)
            json_array_append_new(a, json_string(cat_guidance_name(b)));
    return a;
}

/* The record of a kept file (ID.json and the API's answer). */
static json_t *file_record(const struct engine_upload *u, const struct ufile_info *fi,
                           int64_t now_ms)
{
    const struct cat_update_meta *m = &fi->meta;
    char ts[32];
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s,s:s,s:I,s:s,s:{s:s,s:s,s:s,s:s,s:o,s:I,s:b,s:b},s:{s:s,s:I,s:s}}", "id",
                     u->id, "name", u->name, "size", (json_int_t)u->size, "uploaded", ts, "update",
                     "uuid", m->uuid, "name_label", m->name_label, "name_description",
                     m->name_description, "version", m->version, "after_apply_guidance",
                     guidance_json(m->guidance), "installation_size",
                     (json_int_t)m->installation_size, "livepatch", m->livepatch,
                     "enforce_homogeneity", m->enforce_homogeneity, "image", "name", fi->image_name,
                     "size", (json_int_t)fi->image_size, "format", fi->format);
}

static int write_sidecar(const struct engine *eng, const char *id, const json_t *rec, struct err *e)
{
    char *tmp = file_path(eng, id, "json.tmp"), *dst = file_path(eng, id, "json");
    int rc = 0;

    if (json_dump_file(rec, tmp, JSON_COMPACT) != 0 || chmod(tmp, 0600) != 0 ||
        rename(tmp, dst) != 0) {
        rc = err_set(e, PP_EIO, "cannot write %s: %s", dst, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(dst);
    return rc;
}

/* See engine.h. */
int engine_file_upload_finish(struct engine *eng, struct engine_upload *u, json_t **out,
                              struct err *e)
{
    struct ufile_info fi;
    char *zip = NULL;
    json_t *rec = NULL;
    int rc = 0;

    *out = NULL;
    if (fsync(u->fd) != 0 || close(u->fd) != 0)
        rc = err_set(e, PP_EIO, "writing the update file: %s", strerror(errno));
    u->fd = -1;
    if (rc == 0 && u->size == 0)
        rc = err_set(e, PP_EINVAL, "%s: not a valid update: the file is empty", u->name);
    if (rc == 0)
        rc = ufile_identify(u->part, u->name, NULL, &fi, e);
    if (rc == 0) {
        zip = file_path(eng, u->id, "zip");
        rec = file_record(u, &fi, clock_now_ms(eng->clock));
        if (rename(u->part, zip) != 0)
            rc = err_set(e, PP_EIO, "cannot keep the update file: %s", strerror(errno));
        else if ((rc = write_sidecar(eng, u->id, rec, e)) != 0)
            unlink(zip);
    }
    if (rc == 0) {
        log_info(LOG_MOD, "kept update file %s (%s, %lld bytes): %s %s", u->id, u->name,
                 (long long)u->size, fi.meta.name_label, fi.meta.uuid);
        *out = rec;
        rec = NULL;
    } else {
        log_info(LOG_MOD, "refused update file %s: %s", u->name, e ? e->msg : "");
    }
    json_decref(rec);
    free(zip);
    engine_file_upload_abort(u); /* removes the .part (gone after a rename) */
    return rc;
}

/* A name of the configured directory: one plain component, no hidden files. */
static int check_dir_name(const char *name, struct err *e)
{
    if (!name || !*name || strlen(name) > FILE_NAME_MAX)
        return err_set(e, PP_EINVAL, "name: a file name of 1 to %d bytes is required",
                       FILE_NAME_MAX);
    if (name[0] == '.' || strchr(name, '/') || strchr(name, '\\'))
        return err_set(e, PP_EINVAL,
                       "name: '%s' is not a plain file name of the update file directory "
                       "(no '/', no leading '.')",
                       name);
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return err_set(e, PP_EINVAL, "name: control characters are not allowed");
    return 0;
}

/* Copy fd into the upload u. */
static int copy_in(struct engine_upload *u, int fd, struct err *e)
{
    char *buf = xmalloc(65536);
    int rc = 0;

    for (;;) {
        ssize_t n = read(fd, buf, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(e, PP_EIO, "reading %s: %s", u->name, strerror(errno));
            break;
        }
        if (n == 0 || (rc = engine_file_upload_write(u, buf, (size_t)n, e)) != 0)
            break;
    }
    free(buf);
    return rc;
}

/* See engine.h. */
int engine_file_import(struct engine *eng, const char *name, json_t **out, struct err *e)
{
    struct engine_upload *u = NULL;
    struct stat st;
    int dfd, fd = -1, rc;

    *out = NULL;
    if (!eng->file_dir || !*eng->file_dir)
        return err_set(e, PP_ESTATE,
                       "no update file directory is configured (setting update_file_dir): "
                       "upload the file instead");
    if ((rc = check_dir_name(name, e)) != 0)
        return rc;
    dfd = open(eng->file_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_set(e, PP_EIO, "update file directory %s: %s", eng->file_dir, strerror(errno));
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    close(dfd);
    if (fd < 0)
        return err_set(e, errno == ENOENT ? PP_ENOTFOUND : PP_EINVAL,
                       "%s: not in the update file directory %s, or not a readable regular "
                       "file (%s)",
                       name, eng->file_dir, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, PP_EINVAL, "%s: not a regular file", name);
    }
    rc = engine_file_upload_begin(eng, name, (int64_t)st.st_size, &u, e);
    if (rc == 0)
        rc = copy_in(u, fd, e);
    close(fd);
    if (rc == 0)
        return engine_file_upload_finish(eng, u, out, e);
    engine_file_upload_abort(u);
    return rc;
}

static json_t *read_sidecar(const struct engine *eng, const char *id)
{
    char *p = file_path(eng, id, "json");
    json_error_t je;
    json_t *v = json_load_file(p, JSON_REJECT_DUPLICATES, &je);

    free(p);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* See engine.h. */
int engine_files_list(struct engine *eng, json_t **out, struct err *e)
{
    char *dir = files_dir(eng);
    DIR *d = opendir(dir);
    json_t *files = json_array();
    struct dirent *de;

    (void)e;
    free(dir);
    while (d && (de = readdir(d)) && json_array_size(files) < FILES_LIST_MAX) {
        char id[UUID_STR_LEN];
        size_t n = strlen(de->d_name);
        if (n != UUID_STR_LEN - 1 + 5 || !str_has_suffix(de->d_name, ".json"))
            continue;
        str_lcpy(id, de->d_name, sizeof id);
        json_t *rec = uuid_is_valid(id) ? read_sidecar(eng, id) : NULL;
        if (rec)
            json_array_append_new(files, rec);
    }
    if (d)
        closedir(d);
    *out = json_pack("{s:o,s:I}", "files", files, "max_upload",
                     (json_int_t)engine_file_max_bytes(eng));
    if (eng->file_dir && *eng->file_dir) /* absent when none is configured */
        json_object_set_new(*out, "update_file_dir", json_string(eng->file_dir));
    return 0;
}

/* See engine.h. */
int engine_file_remove(struct engine *eng, const char *id, struct err *e)
{
    char *zip, *side;
    int rc = 0;

    if (!uuid_is_valid(id))
        return err_set(e, PP_ENOTFOUND, "no update file with id '%.64s'", id ? id : "");
    zip = file_path(eng, id, "zip");
    side = file_path(eng, id, "json");
    if (unlink(side) != 0)
        rc = err_set(e, errno == ENOENT ? PP_ENOTFOUND : PP_EIO, "no update file with id '%s'", id);
    unlink(zip);
    free(zip);
    free(side);
    return rc;
}

/* See engine_int.h. */
int engine_file_lookup(const struct engine *eng, const char *id, char **path,
                       struct cat_update_meta *m, char **name, struct err *e)
{
    json_t *rec = uuid_is_valid(id) ? read_sidecar(eng, id) : NULL;
    json_t *u = json_object_get(rec, "update");
    char *zip = NULL;

    if (!rec || !json_is_object(u)) {
        json_decref(rec);
        return err_set(e, PP_ENOTFOUND,
                       "file: no update file with id '%.64s' (upload it first: POST "
                       "/api/v1/files, or the CLI's --file)",
                       id ? id : "");
    }
    memset(m, 0, sizeof *m);
    str_lcpy(m->uuid, jsonx_str(u, "uuid", ""), sizeof m->uuid);
    str_lcpy(m->name_label, jsonx_str(u, "name_label", ""), sizeof m->name_label);
    str_lcpy(m->version, jsonx_str(u, "version", ""), sizeof m->version);
    m->installation_size = jsonx_int(u, "installation_size", 0);
    m->livepatch = json_is_true(json_object_get(u, "livepatch"));
    zip = file_path(eng, id, "zip");
    if (access(zip, R_OK) != 0 || !uuid_is_valid(m->uuid)) {
        free(zip);
        json_decref(rec);
        return err_set(e, PP_ENOTFOUND, "file: the update file %s is gone from %s/files", id,
                       eng->data_dir);
    }
    *path = zip;
    *name = xstrdup(jsonx_str(rec, "name", id));
    json_decref(rec);
    return 0;
}

/* ------------------------------------------------------------------ files in plans */

/* See engine_int.h. */
int engine_file_choose(const struct engine *eng, const struct catalog *cat, const char *id,
                       struct eng_file_choice **out, struct err *e)
{
    struct cat_update_meta m;
    struct eng_file_choice *fc = xcalloc(1, sizeof *fc);
    int rc = engine_file_lookup(eng, id, &fc->path, &m, &fc->name, e);

    *out = NULL;
    buf_init(&fc->why);
    if (rc != 0) {
        engine_file_choice_free(fc);
        return rc;
    }
    str_lcpy(fc->uuid, m.uuid, sizeof fc->uuid);
    snprintf(fc->label, sizeof fc->label, "%s (%s)", m.name_label, m.uuid);
    if (cat && !catalog_find_patch(cat, m.uuid)) {
        rc = err_set(e, PP_EINVAL,
                     "%s: not installed: it holds update %s version %s, which the update "
                     "catalog does not list, so poolpatch cannot tell which hosts need it or what "
                     "it requires (check for updates: poolpatch updates check)",
                     fc->name, fc->label, m.version);
        engine_file_choice_free(fc);
        return rc;
    }
    *out = fc;
    return 0;
}

static bool has_uuid(char *const *v, size_t n, const char *uuid)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_nocase(v[i], uuid))
            return true;
    return false;
}

/* See engine_int.h. */
void engine_file_judge(struct eng_file_choice *fc, const char *pool, bool cdn,
                       const struct plan *pl)
{
    size_t applied = 0, selected = 0;

    if (cdn) {
        buf_printf(&fc->why, "%spool %s takes repository updates (XenServer 8), not update files",
                   fc->why.len ? "; " : "", pool);
        return;
    }
    for (size_t i = 0; pl && i < pl->n_hosts; i++) {
        const struct plan_host *h = &pl->hosts[i];
        const char *reason = NULL;
        if (!h->selected)
            continue;
        selected++;
        if (has_uuid(h->updates, h->n_updates, fc->uuid)) {
            fc->needed = true;
            continue;
        }
        for (size_t k = 0; k < h->n_skipped && !reason; k++)
            if (str_eq_nocase(h->skipped[k].uuid, fc->uuid))
                reason = h->skipped[k].reason;
        if (reason)
            buf_printf(&fc->why, "%s%s: %s", fc->why.len ? "; " : "", h->name, reason);
        else
            applied++;
    }
    if (applied && applied == selected)
        buf_printf(&fc->why, "%salready applied on every host of pool %s", fc->why.len ? "; " : "",
                   pool);
    else if (applied)
        buf_printf(&fc->why, "%salready applied on %zu host(s) of pool %s", fc->why.len ? "; " : "",
                   applied, pool);
}

/* See engine_int.h. */
int engine_file_verdict(const struct eng_file_choice *fc, struct err *e)
{
    if (fc->needed)
        return 0;
    return err_set(e, PP_ESTATE, "%s: not installed: no host needs update %s: %s", fc->name,
                   fc->label, fc->why.len ? buf_str(&fc->why) : "no pool selected");
}

/* See engine_int.h. */
void engine_file_choice_free(struct eng_file_choice *fc)
{
    if (!fc)
        return;
    free(fc->path);
    free(fc->name);
    buf_cleanup(&fc->why);
    free(fc);
}
