/* SPDX-License-Identifier: MIT */
/*
 * engine_downloads.c - the update files a rollout uploads: which are in the download cache and
 * which are missing (engine thread, from the plan), downloaded on the caller's thread with the
 * client ID and a cached file-service token, then recorded in the store; the client ID import;
 * `updates download`; the public engine_rollout_start (files first, then the rollout request).
 */
#include <stdlib.h>
#include <string.h>

#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine_int.h"
#include "engine/engine_req.h"
#include "base/uuid.h"
#include "plan/plan.h"
#include "store/store.h"

#define LOG_MOD "engine"

/* ------------------------------------------------------------------ rollouts */

/* Add uuid to files (cached, or the given file) or to missing (to download).  Engine thread. */
static void need_file(struct engine *eng, const char *uuid, const char *file, json_t *files,
                      json_t *missing)
{
    struct store_download d = {0};
    struct err e = {0};
    bool seen = false;
    size_t j;
    json_t *it;

    json_array_foreach(files, j, it) seen = seen || str_eq(jsonx_str(it, "uuid", ""), uuid);
    json_array_foreach(missing, j, it) seen = seen || str_eq(jsonx_str(it, "uuid", ""), uuid);
    if (seen)
        return;
    if (!file && !uuid_is_valid(uuid)) {
        /* the uuid names a file in the download cache: only the UUID form is allowed */
        json_array_append_new(missing, json_pack("{s:s,s:s,s:i,s:s}", "uuid", uuid, "url", "",
                                                 "size", 0, "path", ""));
        return;
    }
    if (file) {
        json_array_append_new(
            files, json_pack("{s:s,s:s,s:b}", "uuid", uuid, "path", file, "cached", false));
    } else if (store_download_get(eng->store, uuid, &d, &e) == 0 && d.complete) {
        json_array_append_new(files, json_pack("{s:s,s:s,s:I,s:b}", "uuid", uuid, "path", d.path,
                                               "size", (json_int_t)d.size, "cached", true));
    } else {
        const struct cat_patch *cp = catalog_find_patch(eng->catalog, uuid);
        char *path = xasprintf("%s/downloads/%s.zip", eng->data_dir, uuid);
        json_array_append_new(missing,
                              json_pack("{s:s,s:s,s:I,s:s}", "uuid", uuid, "url",
                                        cp && cp->patch_url ? cp->patch_url : "", "size",
                                        (json_int_t)(cp ? cp->download_size : 0), "path", path));
        free(path);
    }
    store_download_cleanup(&d);
}

/* The client ID and any cached token, for downloads on the caller's thread. */
static json_t *auth_json(struct engine *eng)
{
    struct store_client_id cid = {0};
    struct store_token tok = {0};
    struct err e = {0};
    json_t *auth = json_object();

    if (store_client_id_get(eng->store, &cid, &e) == 0) {
        json_object_set_new(auth, "username", json_string(cid.username));
        json_object_set_new(auth, "apikey", json_string(cid.apikey));
        store_client_id_cleanup(&cid);
    }
    if (store_token_get(eng->store, 60000, &tok, &e) == 0) {
        json_object_set_new(auth, "token", json_string(tok.token));
        json_object_set_new(auth, "session_id", json_string(tok.session_id ? tok.session_id : ""));
        store_token_cleanup(&tok);
    }
    return auth;
}

/* R_DOWNLOAD_NEEDED: like R_FILES_NEEDED for the updates named in r->ids. */
void engine_handle_download_needed(struct engine *eng, struct eng_req *r)
{
    struct req_download_needed *a = ENG_REQ_AS(struct req_download_needed, r);
    json_t *files = json_array(), *missing = json_array();

    if (!eng->catalog) {
        json_decref(files);
        json_decref(missing);
        engine_req_finish(eng, r,
                          err_set(&r->err, PP_ESTATE,
                                  "no update catalog yet: check for updates first "
                                  "(poolpatch updates check)"));
        return;
    }
    for (size_t i = 0; i < a->n_ids; i++) {
        const char *uuid = engine_resolve_update(eng->catalog, a->ids[i]);
        if (!uuid) {
            json_decref(files);
            json_decref(missing);
            engine_req_finish(
                eng, r,
                err_set(&r->err, PP_ENOTFOUND, "update '%s' is not in the catalog", a->ids[i]));
            return;
        }
        need_file(eng, uuid, NULL, files, missing);
    }
    r->out = json_pack("{s:o,s:o,s:o}", "files", files, "missing", missing, "auth", auth_json(eng));
    engine_req_finish(eng, r, 0);
}

/*
 * R_FILES_NEEDED: the update files the rollout will upload that are not in the download cache:
 * {"files":[{uuid,path}], "missing":[{uuid,url,size,path}], "auth":{...}}.
 */
void engine_handle_files_needed(struct engine *eng, struct eng_req *r)
{
    struct req_plan *a = ENG_REQ_AS(struct req_plan, r);
    json_t *files = json_array(), *missing = json_array();
    struct plan_opts o;

    if (engine_plan_req_check(eng, &a->pr, &r->err) != 0) {
        json_decref(files);
        json_decref(missing);
        engine_req_finish(eng, r, r->err.code);
        return;
    }
    engine_plan_opts_from_req(&a->pr, &o);
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        struct inv_pool *inv;
        struct plan *pl = NULL;

        if (!engine_pool_selected(&a->pr, p->name))
            continue;
        if (engine_pool_is_cdn(p)) {
            if (a->pr.fc)
                engine_file_judge(a->pr.fc, p->name, true, NULL);
            continue; /* repository updates: xapi downloads them, nothing to upload */
        }
        inv = engine_pool_inventory(eng, p, &r->err);
        if (!inv || plan_build(inv, eng->catalog, &o, &pl, &r->err) != 0) {
            inv_pool_free(inv);
            json_decref(files);
            json_decref(missing);
            engine_req_finish(eng, r, r->err.code ? r->err.code : PP_ESTATE);
            return;
        }
        if (a->pr.fc)
            engine_file_judge(a->pr.fc, p->name, false, pl);
        struct plan *then = NULL; /* an upgrade's chained legacy updates: their files too */
        if (plan_upgrade_then_updates(inv, eng->catalog, &o, &then, NULL) == 0 && then)
            for (size_t k = 0; k < then->n_uploads; k++)
                need_file(eng, then->uploads[k], NULL, files, missing);
        plan_free(then);
        for (size_t k = 0; k < pl->n_uploads; k++)
            need_file(eng, pl->uploads[k],
                      a->pr.fc && str_eq(pl->uploads[k], a->pr.fc->uuid) ? a->pr.fc->path : NULL,
                      files, missing);
        plan_free(pl);
        inv_pool_free(inv);
    }
    if (a->pr.fc && engine_file_verdict(a->pr.fc, &r->err) != 0) {
        json_decref(files);
        json_decref(missing);
        engine_req_finish(eng, r, r->err.code);
        return;
    }
    r->out = json_pack("{s:o,s:o}", "files", files, "missing", missing);
    if (json_array_size(missing) > 0)
        json_object_set_new(r->out, "auth", auth_json(eng));
    engine_req_finish(eng, r, 0);
}

/* R_DOWNLOAD_DONE: record finished downloads (and a new token) in the store. */
void engine_handle_download_done(struct engine *eng, struct eng_req *r)
{
    struct req_download_done *a = ENG_REQ_AS(struct req_download_done, r);
    for (size_t i = 0; i < a->files.n; i++) {
        const struct eng_file_ref *f = &a->files.v[i];
        struct store_download_spec d = {.update_uuid = f->uuid,
                                        .url = f->url,
                                        .path = f->path,
                                        .size = f->size,
                                        .complete = true};
        if (store_download_put(eng->store, &d, &r->err) != 0) {
            engine_req_finish(eng, r, r->err.code);
            return;
        }
    }
    if (a->token.token) {
        struct err e = {0};
        if (store_token_set(eng->store, a->token.token,
                            a->token.session_id ? a->token.session_id : "", a->token.expires_ms,
                            &e) != 0)
            log_warn(LOG_MOD, "caching the file service token: %s", e.msg);
    }
    engine_req_finish(eng, r, 0);
}

static int download_missing(struct engine *eng, json_t *need, json_t **files, struct err *e);

/* Download what is missing on this (the caller's) thread; returns the full file list. */
static int ensure_files(struct engine *eng, const struct engine_plan_req *req, json_t **files,
                        struct err *e)
{
    struct req_plan *r = ENG_REQ_NEW(struct req_plan, R_FILES_NEEDED);
    json_t *need = NULL;
    int rc;

    engine_copy_plan_req(&r->pr, req);
    rc = engine_req_run(eng, &r->h, &need, e);
    if (rc != 0)
        return rc;
    rc = download_missing(eng, need, files, e);
    json_decref(need);
    return rc;
}

/*
 * Caller's thread: download need.missing with need.auth, record the downloads and any new token
 * on the engine thread; *files = need.files plus what was downloaded (new reference).
 */
static int download_missing(struct engine *eng, json_t *need, json_t **files, struct err *e)
{
    json_t *done, *missing, *auth, *it;
    char *tok = NULL, *sess = NULL;
    int64_t expiry = 0;
    size_t i;
    int rc = 0;

    *files = json_deep_copy(json_object_get(need, "files"));
    if (!*files)
        *files = json_array();
    missing = json_object_get(need, "missing");
    auth = json_object_get(need, "auth");
    done = json_array();
    json_array_foreach(missing, i, it)
    {
        struct fetch_auth fa = {.username = jsonx_str(auth, "username", NULL),
                                .apikey = jsonx_str(auth, "apikey", NULL),
                                .token = tok ? tok : jsonx_str(auth, "token", NULL),
                                .session_id = sess ? sess : jsonx_str(auth, "session_id", NULL),
                                .origins = eng->vendor_origins};
        const char *url = jsonx_str(it, "url", "");
        if (!*url) {
            rc = err_set(e, PP_ENOTFOUND,
                         "update %s has no download URL in the catalog; download it yourself "
                         "and install it with --file",
                         jsonx_str(it, "uuid", ""));
            break;
        }
        rc = fetch_download(url, jsonx_str(it, "path", ""), jsonx_int(it, "size", 0), &fa,
                            tok ? NULL : &tok, sess ? NULL : &sess, &expiry, e);
        if (rc != 0) {
            err_prefix(e, "downloading update %s: ", jsonx_str(it, "uuid", ""));
            break;
        }
        json_array_append(done, it);
        json_array_append_new(*files,
                              json_pack("{s:s,s:s,s:I,s:b}", "uuid", jsonx_str(it, "uuid", ""),
                                        "path", jsonx_str(it, "path", ""), "size",
                                        (json_int_t)jsonx_int(it, "size", 0), "cached", false));
    }
    if (json_array_size(done) > 0 || tok) {
        struct req_download_done *d = ENG_REQ_NEW(struct req_download_done, R_DOWNLOAD_DONE);
        struct err e2 = {0};
        json_array_foreach(done, i, it) engine_files_push(&d->files, it);
        d->token = (struct eng_token){
            .token = xstrdup(tok), .session_id = xstrdup(sess), .expires_ms = expiry};
        if (engine_req_run(eng, &d->h, NULL, &e2) != 0)
            log_warn(LOG_MOD, "recording downloads: %s", e2.msg);
    }
    free(tok);
    free(sess);
    json_decref(done);
    if (rc != 0) {
        json_decref(*files);
        *files = NULL;
    }
    return rc;
}

/* Start a rollout (see engine.h): missing files downloaded on this thread first. */
int engine_rollout_start(struct engine *eng, const struct engine_plan_req *req, char **id,
                         struct err *e)
{
    struct req_rollout_start *r;
    json_t *files = NULL, *it;
    size_t i;
    int rc;

    *id = NULL;
    rc = ensure_files(eng, req, &files, e);
    if (rc != 0)
        return rc;
    r = ENG_REQ_NEW(struct req_rollout_start, R_ROLLOUT_START);
    engine_copy_plan_req(&r->pr, req);
    json_array_foreach(files, i, it) engine_files_push(&r->files, it); /* typed here, not there */
    json_decref(files);
    rc = engine_req_submit(eng, &r->h, e);
    if (rc == 0) {
        *id = r->id;
        r->id = NULL;
    }
    engine_req_unref(eng, &r->h);
    /* the first GET of it (a client follows what it started) extends this text, not a full
     * build of the whole rollout (~50 ms of CPU for 10 fleet pools: session 9) */
    if (rc == 0)
        engine_rollout_warm(eng, *id);
    return rc;
}

/* R_CLIENT_ID is handled inline: parsing happens here, storing on the engine thread. */
void engine_handle_client_id(struct engine *eng, struct eng_req *r)
{
    struct req_client_id *a = ENG_REQ_AS(struct req_client_id, r);
    engine_req_finish(eng, r, store_client_id_set(eng->store, a->username, a->apikey, &r->err));
}

/* Import the client ID file (see engine.h): parsed here, stored on the engine thread. */
int engine_client_id_import(struct engine *eng, const char *json_text, size_t len, struct err *e)
{
    json_t *j = NULL;
    struct req_client_id *r;
    const char *user, *key;
    int rc = jsonx_load(json_text, len, 64 * 1024, 4, "client ID file", &j, e);

    if (rc != 0)
        return rc;
    user = jsonx_str(j, "username", NULL);
    key = jsonx_str(j, "apikey", NULL);
    if (!user || !*user || !key || !*key) {
        /* name the field before the decref: user points into j */
        const char *field = !user || !*user ? "username" : "apikey";
        json_decref(j);
        return err_set(e, PP_EINVAL,
                       "client ID file: \"%s\" is missing, empty or not a string "
                       "(expected the xencenter_client_id.json downloaded from your "
                       "account)",
                       field);
    }
    r = ENG_REQ_NEW(struct req_client_id, R_CLIENT_ID);
    r->username = xstrdup(user);
    r->apikey = xstrdup(key);
    json_decref(j);
    return engine_req_run(eng, &r->h, NULL, e);
}

/* Download update files into the cache (see engine.h).  Downloads run on the caller's thread. */
int engine_updates_download(struct engine *eng, const char *const *ids, size_t n, json_t **out,
                            struct err *e)
{
    struct req_download_needed *r;
    json_t *need = NULL, *files = NULL;
    int rc;

    if (out)
        *out = NULL;
    if (n == 0)
        return err_set(e, PP_EINVAL, "download: name at least one update");
    r = ENG_REQ_NEW(struct req_download_needed, R_DOWNLOAD_NEEDED);
    r->ids = engine_strv_dup(ids, n);
    r->n_ids = n;
    rc = engine_req_run(eng, &r->h, &need, e);
    if (rc != 0)
        return rc;
    rc = download_missing(eng, need, &files, e);
    json_decref(need);
    if (rc != 0)
        return rc;
    if (out)
        *out = json_pack("{s:o}", "downloads", files);
    else
        json_decref(files);
    return 0;
}
