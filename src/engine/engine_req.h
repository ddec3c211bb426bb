/* SPDX-License-Identifier: MIT */
/*
 * engine_req.h - the engine's request queue (engine_queue.c): the request kinds, what each one
 * carries, how other threads post one and wait for its answer, and the handlers (one per kind,
 * in engine_pools.c, engine_catalog.c, engine_dismiss.c, engine_plans.c, engine_downloads.c,
 * engine.c) that the handler table in engine_queue.c maps the kinds to.
 */
#ifndef PP_ENGINE_ENGINE_REQ_H
#define PP_ENGINE_ENGINE_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "engine/engine.h"
#include "engine/engine_int.h"

struct plan_opts;

enum req_kind {
    R_POOL_ADD,
    R_POOL_REMOVE,
    R_POOL_TRUST,
    R_POOL_SET, /* pool properties set on the pool (engine_pool_set.c) */
    R_HOLD,     /* tests: the engine thread waits until released (engine_hold) */
    R_CATALOG_META,
    R_CATALOG_PUT,
    R_SNAPSHOT, /* the state views are built from, off the engine thread */
    R_DISMISS,
    R_RESTORE,
    R_PLAN,
    R_FILES_NEEDED,
    R_DOWNLOAD_DONE,
    R_ROLLOUT_START,
    R_RETRY,
    R_CANCEL,
    R_UPGRADE_HOST, /* manual upgrade: reboot the host again / skip it (docs/upgrade.md) */
    R_HOST_FORGET,  /* host.destroy (xe host-forget) of a supporter left out of an upgrade */
    R_CLIENT_ID,
    R_DOWNLOAD_NEEDED,
    R_CDN_SYNC,
    R_SET_CHECK_INTERVAL,
    R_SET_DEFAULT_POLICY,
};

/* A copied engine_plan_req. */
struct plan_req_copy {
    char **pools;
    size_t n_pools;
    bool automated;
    char **updates;
    size_t n_updates;
    char *file;                 /* an update file id */
    struct eng_file_choice *fc; /* what it holds (plan_req_check) */
    enum engine_policy policy;
    bool stay_on_release;
    int max_parallel;
    char *upgrade_to, *upgrade_url; /* an upgrade (engine.h) */
    bool upgrade_manual, upgrade_apply_updates;
    char **shutdown;
    size_t n_shutdown;
    char **hosts; /* single-host selection (engine_hosts.c) */
    size_t n_hosts;
    bool manual_post_tasks;
    enum engine_plan_detail detail;
};

/*
 * Update files and a file-service token as typed request arguments: built on the caller's
 * thread from what it fetched, so that the engine thread reads fields, never JSON (issue 10).
 */
struct eng_file_ref {
    char *uuid, *url, *path;
    int64_t size;
};
struct eng_files {
    struct eng_file_ref *v;
    size_t n;
};
struct eng_token {
    char *token, *session_id; /* token NULL: none */
    int64_t expires_ms;
};

/*
 * A request: this header, embedded first in the kind's own struct below (no request carries
 * another kind's arguments).  The header holds the queue's bookkeeping and the answer every kind
 * gives: rc, err, and out, the JSON answer of the kinds that have one.
 */
struct eng_req {
    struct eng_req *next;
    int refs; /* under qlock: the caller's and the engine's */
    enum req_kind kind;
    bool done;
    bool started;   /* under qlock: the engine thread began handling it */
    bool withdrawn; /* under qlock: the caller gave up before it started: never run it */
    int rc;
    struct err err;
    json_t *out; /* the JSON answer (kinds with one), owned */
};

/* R_POOL_ADD */
struct req_pool_add {
    struct eng_req h;
    struct engine_pool_spec pool; /* owned copies; the password wiped when freed */
    struct eng_pool *new_pool;    /* engine thread: the probe in flight */
};
/* R_POOL_TRUST */
struct req_pool_trust {
    struct eng_req h;
    char *name;
    char *host; /* the host to confirm, or NULL */
    char *fingerprint;
};
/* R_POOL_SET */
struct req_pool_set {
    struct eng_req h;
    char *name;
    struct engine_pool_settings set;
};
/* R_POOL_REMOVE (a pool's key), R_RETRY and R_CANCEL (a rollout id) */
struct req_id {
    struct eng_req h;
    char *id;
};
/* R_CATALOG_PUT: what the caller fetched, parsed on its thread */
struct req_catalog_put {
    struct eng_req h;
    struct fetch_result fetched;
    bool not_modified;
    struct catalog *cat; /* the fetched catalog (owned until swapped in) */
    int fetch_rc;        /* the fetch or parse failed with this code (and h.err) */
};
/* R_CDN_SYNC */
struct req_cdn_sync {
    struct eng_req h;
    int pending; /* engine thread: repository reads still running, plus one */
};
/* R_SNAPSHOT */
struct req_snapshot {
    struct eng_req h;
    struct eng_snapshot *snap; /* the answer, owned */
};
/* R_DISMISS (ids or all), R_RESTORE (none) */
struct req_dismiss {
    struct eng_req h;
    char **ids;
    size_t n_ids;
    bool all;
    int pending; /* engine thread: other_config writes in flight */
};
/* R_PLAN, R_FILES_NEEDED */
struct req_plan {
    struct eng_req h;
    struct plan_req_copy pr;
    struct eng_snapshot *snap; /* R_PLAN's answer: the selected pools, planned by the caller */
};
/* R_ROLLOUT_START */
struct req_rollout_start {
    struct eng_req h;
    struct plan_req_copy pr;
    struct eng_files files; /* every file the rollout uploads */
    char *id;               /* the answer: the new rollout's id, owned */
};
/* R_DOWNLOAD_DONE */
struct req_download_done {
    struct eng_req h;
    struct eng_files files; /* those downloaded */
    struct eng_token token; /* a token the file service gave, or none */
};
/* R_DOWNLOAD_NEEDED */
struct req_download_needed {
    struct eng_req h;
    char **ids; /* updates by uuid or name */
    size_t n_ids;
};
/* R_UPGRADE_HOST */
struct req_upgrade_host {
    struct eng_req h;
    char *rollout, *host, *action;
};
/* R_HOST_FORGET */
struct req_host_forget {
    struct eng_req h;
    char *pool, *host;
};
/* R_CLIENT_ID */
struct req_client_id {
    struct eng_req h;
    char *username, *apikey; /* the apikey wiped when freed */
};
/* R_SET_CHECK_INTERVAL */
struct req_check_interval {
    struct eng_req h;
    int seconds;
};
/* R_SET_DEFAULT_POLICY */
struct req_default_policy {
    struct eng_req h;
    enum engine_policy policy;
};
/* R_POOLS, R_CATALOG_META and R_RESTORE's arguments: none (struct eng_req or req_dismiss). */

/* The kind's struct from its header (the header is its first member). */
#define ENG_REQ_AS(type, r) ((type *)(void *)(r))
/* A new request of the kind's struct type (engine_req_new). */
#define ENG_REQ_NEW(type, kind) ENG_REQ_AS(type, engine_req_new((kind), sizeof(type)))

/* ---- engine_queue.c: requests (any thread unless noted) ---- */
/* A new request of kind, size bytes (its struct, header first, zeroed) with two references
 * (the caller's and the engine's).  Use ENG_REQ_NEW. */
struct eng_req *engine_req_new(enum req_kind kind, size_t size);
/* Free a request and every argument and result it owns (its last reference went). */
void engine_req_free(struct eng_req *r);
/* Drop one reference; the last frees it. */
void engine_req_unref(struct engine *eng, struct eng_req *r);
/* Engine thread: deliver the answer rc (r->err filled when rc != 0) and drop the engine's
 * reference. */
void engine_req_finish(struct engine *eng, struct eng_req *r, int rc);
/* Caller thread: post r and wait for the answer (bounded by the request timeout; a request not
 * started by then is withdrawn, never run).  Returns r->rc, copying the error to e.  The caller
 * keeps its reference and must engine_req_unref after reading the results. */
int engine_req_submit(struct engine *eng, struct eng_req *r, struct err *e);
/* Post r, wait, hand r->out over to *out (may be NULL) and drop the caller's reference. */
int engine_req_run(struct engine *eng, struct eng_req *r, json_t **out, struct err *e);
/* The engine thread's body: resume rollouts, then take requests, tick the executor, flush the
 * turn's events and run the XAPI loop until stopped; answers what is still queued. */
void *engine_thread_main(void *arg);
/* Heap copies of a string vector (NULL when n is 0) and their release (NULL is a no-op). */
char **engine_strv_dup(const char *const *v, size_t n);
void engine_strv_free(char **v, size_t n);
/* Caller's thread: append the file item it ({uuid, url?, path, size?}) as typed fields. */
void engine_files_push(struct eng_files *f, const json_t *it);
void engine_files_cleanup(struct eng_files *f);

/* ---- engine_pools.c (engine thread) ---- */
/* Retire a pool: to the graveyard, freed with its client by engine_graveyard_empty outside the
 * client's callbacks. */
void engine_pool_retire(struct engine *eng, struct eng_pool *p);
void engine_graveyard_empty(struct engine *eng);
/* Retire pool add's probes whose login is still out (engine_free: the engine thread stopped);
 * freeing their clients then ends the adds (PP_ECANCELLED) and frees their requests. */
void engine_probes_retire(struct engine *eng);
/* Connect every registered pool (engine start; before the thread runs). */
void engine_pools_load(struct engine *eng);
void engine_handle_pool_add(struct engine *eng, struct eng_req *r);
void engine_handle_pool_remove(struct engine *eng, struct eng_req *r);
void engine_handle_pool_trust(struct engine *eng, struct eng_req *r);
/* ---- engine_queue.c ---- */
void engine_handle_hold(struct engine *eng, struct eng_req *r);

/* ---- engine_catalog.c (engine thread unless noted) ---- */
/* The stored catalog, parsed (engine start). */
void engine_catalog_load_cached(struct engine *eng);
/* The periodic update checker's thread body (its own thread). */
void *engine_checker_main(void *arg);
void engine_handle_catalog_meta(struct engine *eng, struct eng_req *r);
void engine_handle_catalog_put(struct engine *eng, struct eng_req *r);
void engine_handle_cdn_sync(struct engine *eng, struct eng_req *r);
void engine_handle_set_check_interval(struct engine *eng, struct eng_req *r);

/* ---- engine_dismiss.c (engine thread) ---- */
/* Is key a server version value of cat (a version alert's key)?  Pure. */
bool engine_is_version_key(const struct catalog *cat, const char *key);
void engine_handle_snapshot(struct engine *eng, struct eng_req *r);
/* Caller's thread: a snapshot of every pool (free with engine_snapshot_free), or NULL with e
 * filled (the engine is stopping or did not answer in time). */
struct eng_snapshot *engine_snapshot_get(struct engine *eng, struct err *e);
void engine_handle_dismiss(struct engine *eng, struct eng_req *r);
void engine_handle_restore(struct engine *eng, struct eng_req *r);

/* ---- engine_plans.c (engine thread unless noted) ---- */
/* Does the request select the pool (no pool named: all)?  Pure. */
bool engine_pool_selected(const struct plan_req_copy *pr, const char *name);
/* The plan options a request asks for (borrowing its strings).  Pure. */
void engine_plan_opts_from_req(const struct plan_req_copy *pr, struct plan_opts *o);
/* One pool's options: a repository pool (cdn) goes one host at a time.  Pure. */
void engine_pool_plan_opts(const struct plan_opts *o, bool cdn, struct plan_opts *out);
/* The uuid of an update given by uuid or name-label, or NULL when cat lacks it.  Pure. */
const char *engine_resolve_update(const struct catalog *cat, const char *id);
/* Check the request names only registered pools and known updates, and a catalog exists; pool
 * keys become registered names and update names uuids.  PP_* with e naming what is wrong. */
int engine_plan_req_check(struct engine *eng, struct plan_req_copy *pr, struct err *e);
/* Deep copy of a public plan request (any thread). */
void engine_copy_plan_req(struct plan_req_copy *c, const struct engine_plan_req *r);
void engine_handle_plan(struct engine *eng, struct eng_req *r);
void engine_handle_rollout_start(struct engine *eng, struct eng_req *r);
void engine_handle_retry(struct engine *eng, struct eng_req *r);
void engine_handle_cancel(struct engine *eng, struct eng_req *r);
void engine_handle_upgrade_host(struct engine *eng, struct eng_req *r);
void engine_handle_host_forget(struct engine *eng, struct eng_req *r);

/* ---- engine_pool_set.c (engine thread) ---- */
void engine_handle_pool_set(struct engine *eng, struct eng_req *r);

/* ---- engine_downloads.c (engine thread) ---- */
void engine_handle_files_needed(struct engine *eng, struct eng_req *r);
void engine_handle_download_needed(struct engine *eng, struct eng_req *r);
void engine_handle_download_done(struct engine *eng, struct eng_req *r);
void engine_handle_client_id(struct engine *eng, struct eng_req *r);

/* ---- engine.c (engine thread) ---- */
void engine_handle_set_default_policy(struct engine *eng, struct eng_req *r);

#endif
