/* SPDX-License-Identifier: MIT */
/*
 * engine_int.h - the engine's internals shared by its files: the engine object and a registered
 * pool (engine.c, engine_pools.c), the request queue's table (engine_queue.c; the requests
 * themselves are in engine_req.h), events, read-only readers, fetches on the caller's thread,
 * repository pools, update files, plans' JSON and the views.
 */
#ifndef PP_ENGINE_ENGINE_INT_H
#define PP_ENGINE_ENGINE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "plan/inventory.h"
#include "xapi/client.h"

struct cdn_job;
struct eng_inv;
struct eng_pool_pub;
struct eng_plist;
struct exec_json_cache;
struct exec;
struct store;

/* The object classes every pool's cache follows. */
extern const char *const engine_cache_classes[];
/* The fields the daemon's cache keeps of class cls (NULL-terminated, static), NULL when it keeps
 * every field (engine_pools.c). */
const char *const *engine_cache_fields(const char *cls);

/* A registered pool and its connection. */
struct eng_pool {
    int64_t id;
    char *name;
    char *url;
    char *username;
    struct xapi_client *client;
    enum xapi_conn_state state;
    char error[ERR_MSG_MAX];
    struct engine *eng;
    /* XenServer 8 repository updates (engine_cdn.c).  cdn_state says whether the pool has an
     * enabled repository; cdn is its parsed `GET /updates` (owned; NULL until one was read). */
    enum eng_cdn_state {
        ENG_CDN_UNKNOWN = 0, /* not probed yet */
        ENG_CDN_NONE,        /* no repository (NO_REPOSITORY_ENABLED, 404): the legacy catalog */
        ENG_CDN_YES          /* repository updates: plan, view and apply with cdn */
    } cdn_state;
    struct catalog *cdn;
    int64_t cdn_checked_ms;
    char cdn_error[ERR_MSG_MAX]; /* the last failed sync or read, "" after a good one */
    struct cdn_job *cdn_job;     /* the sync / read in flight, or NULL */
    bool retired;                /* removed: in the graveyard until its client is freed */
    /* XAPI calls of the rollout running on the pool (engine_events.c): its id, and the client's
     * calls by method when this daemon first saw it (owned; NULL until then). */
    char *calls_rollout;
    json_t *calls_base;
    /* published (engine_pub.c): the inventory last made from the cache, with the cache's
     * changes (every class's, the inventory's classes') it was made at; the pool's GET /pools
     * object, with every class's changes it was last found current at */
    struct eng_inv *inv;
    uint64_t inv_total, inv_changes;
    uint64_t inv_seen; /* every class's changes last seen at the end of a turn, since */
    int64_t inv_seen_ms;
    struct eng_pool_pub *pub;
    uint64_t pub_total;
};

struct eng_sub {
    int id;
    void (*cb)(void *ud, const char *event_json);
    void *ud;
};

/* A progress event waiting for the end of the loop turn (engine_events.c). */
struct eng_event {
    char *rollout, *pool, *host, *step, *message;
    int percent;
};
/* Host facts waiting for the end of the loop turn (engine_events.c). */
struct eng_facts {
    char *rollout, *pool, *host, *facts_json;
};

/* A catalog a snapshot holds (engine_snapshot.c), under the engine's catlock. */
struct eng_cat_hold {
    const struct catalog *cat;
    int refs;     /* snapshots holding it */
    bool dropped; /* the engine let go of it: the last snapshot frees it */
};

/* Read-only store connections for reads on the callers' threads (engine_reads.c). */
struct eng_readers {
    pthread_mutex_t lock;
    struct store **idle;
    size_t n_idle;
    struct exec_json_cache *cache;
    /* GET /rollouts/{id} snapshots: the commit generation (under lock: `probe` asked for its
     * PRAGMA data_version; gen counts the changes seen), and one build at a time (build_lock:
     * builds publish in the order their reads began, so answers never go back in time) */
    struct store *probe;
    int64_t probe_version;
    uint64_t gen;
    pthread_mutex_t build_lock;
    struct engine_rsnap_cache *snaps;
    struct exec_json_inc *inc; /* the texts' incremental builds (under build_lock) */
};

struct engine {
    char *db_path;
    char *data_dir; /* folder of db_path: downloads/, known_hosts */
    struct pp_clock *clock;
    bool own_clock;
    int request_timeout_ms;
    char *catalog_url;            /* configured override, or NULL = store setting */
    char *vendor_origins;         /* client-ID allow-list, or NULL = FETCH_DEFAULT_VENDOR_ORIGINS */
    _Atomic int check_interval_s; /* 0 = automatic checks off; set by engine_set_check_interval */
    _Atomic int default_policy;   /* enum engine_policy of a plan request without one */
    unsigned check_gen;           /* under qlock: bumped when the interval changes */
    int64_t file_max_bytes;       /* update files (engine_files.c); 0 = default */
    char *file_dir;               /* configured update file directory, or NULL */

    /* engine thread only */
    struct store *store;
    struct xapi_loop *loop;
    struct exec *exec;
    struct eng_pool **pools;
    size_t n_pools;
    struct eng_pool **graveyard; /* retired pools, freed with their clients outside callbacks
                                  * (a client's last callbacks still see its pool) */
    size_t n_graveyard;
    struct eng_pool **probes; /* pool add's probes whose login is out (engine_pools.c): not
                               * in pools, retired by engine_free */
    size_t n_probes;
    struct catalog *catalog;
    int64_t catalog_checked_ms;
    char check_error[ERR_MSG_MAX]; /* the last failed check, "" after a good one */
    int64_t next_check_ms;

    /* shared, under qlock */
    pthread_mutex_t qlock;
    pthread_cond_t qdone;
    struct eng_req *qhead, *qtail;
    bool stop;
    bool running;
    pthread_t thread;
    pthread_t checker;
    bool checker_running;
    pthread_cond_t checker_wake;

    /* engine thread: progress written at the end of the loop turn (engine_events_flush) */
    struct eng_event *pending_events;
    size_t n_pending_events;
    struct eng_facts *pending_facts;
    size_t n_pending_facts;

    /* catalogs held by snapshots (engine_snapshot.c), under catlock */
    pthread_mutex_t catlock;
    struct eng_cat_hold *held;
    size_t n_held;

    /* REST reads on the callers' threads */
    struct eng_readers readers;
    /* GET /pools: the list the engine thread published last (engine_pub.c), under publock */
    pthread_mutex_t publock;
    struct eng_plist *plist;
    /* what engine_pools_publish looked at last: pub_gen + xapi_change_count() (engine thread);
     * pub_gen grows when the engine changes a pool field GET /pools shows (the list, CDN) */
    uint64_t pub_gen, pub_seen;
    /* the same for engine_pools_prepare, and whether a pool was left for a later turn (not quiet
     * yet, its inventory unread, the turn's budget spent): then it looks again anyway */
    uint64_t prep_seen;
    bool prep_pending;
    _Atomic unsigned long inv_made; /* inventories made from a cache (engine_pub.c; tests) */
    int plan_threads;               /* threads a plan uses at most; 0 = ENGINE_PLAN_THREADS */

    /* webhooks (engine_webhook.c): started with the engine thread, their own thread */
    struct engine_webhooks *hooks;
    int webhook_retry_base_s;

    /* maintenance windows and schedules (engine_window.c): own store connection and thread */
    struct engine_windows *wins;

    /* subscribers, under sublock */
    pthread_mutex_t sublock;
    struct eng_sub *subs;
    size_t n_subs;
    int next_sub_id;
};

/* The request queue's handler table (engine_queue.c, kinds in engine_req.h): one row per request
 * kind, in kind order.  A handler runs on the engine thread and answers its request (at once or
 * from a callback). */
struct eng_req;
struct eng_req_kind {
    int kind;
    const char *name;
    void (*handle)(struct engine *eng, struct eng_req *r);
    void (*cleanup)(struct eng_req *r); /* frees the kind's own fields (NULL: none) */
};
extern const struct eng_req_kind engine_req_kinds[];
extern const size_t engine_n_req_kinds;

/*
 * What pool p is when it cannot be read, the end of "pool NAME is ...": "not connected (STATE[:
 * ERROR])", or, logged in while its first objects are still on their way, "connected, but its
 * objects are still being read: try again in a moment".  Written to buf.  Engine thread.
 */
const char *engine_pool_unready(const struct eng_pool *p, char *buf, size_t n);
/* Wait until the pool named name (every pool when NULL) is no longer on its way to its objects
 * - read (GET /pools shows its name_label), or its connection not idle / connecting / ready, or
 * (failed_ends) a login round already failed - or wait_ms passed.  Polls GET /pools's published
 * list every 20 ms: never waits for the engine thread.  Returns that pool's last published
 * object (new reference) when name is given, else NULL.  Any thread but the engine's. */
json_t *engine_pools_wait_read(struct engine *eng, const char *name, bool failed_ends,
                               int64_t wait_ms);
/* True when p is logged in and its objects are read (its cache is ready).  Engine thread. */
bool engine_pool_usable(const struct eng_pool *p);
/* Build the inventory of a connected pool from its cache (new; inv_pool_free).  Engine thread. */
struct inv_pool *engine_pool_inventory(struct engine *eng, struct eng_pool *p, struct err *e);
/* The pool object of GET /pools (new reference), read from the pool's cache.  Engine thread. */
json_t *engine_pool_json(struct eng_pool *p);

/* ---- engine_pub.c: what the engine thread publishes of its pools ---- */
/*
 * The pool's inventory as snapshots share it: the one last made, while the records of the
 * classes its cache follows are unchanged (xapi_cache_changes), else one made now.  A new
 * reference (engine_inv_release), or NULL with e (PP_ESTATE: not connected).  Engine thread.
 */
struct eng_inv *engine_pool_inv_get(struct engine *eng, struct eng_pool *p, struct err *e);
/* At the end of a loop turn: the inventory of a pool whose records have not changed for a while
 * (2 s) and whose inventory is out of date is made now (pools in turn until 10 ms of the turn are
 * used), so that the next plan
 * or view finds it made (the first fleet plan after a start copies nothing either).  Engine
 * thread. */
void engine_pools_prepare(struct engine *eng);
/* The inventory of a reference (borrowed while it is held; never changed).  Any thread. */
const struct inv_pool *engine_inv_pool(const struct eng_inv *v);
/* Let go of a reference; the last frees the inventory.  NULL is a no-op.  Any thread. */
void engine_inv_release(struct eng_inv *v);
/* Publish what GET /pools shows: each pool's object rebuilt if what it shows changed, and the
 * list swapped in if a pool's object or the pools changed.  Called at the end of every loop
 * turn and before a request is answered.  Engine thread. */
void engine_pools_publish(struct engine *eng);
/* A pool leaving the registry lets go of its inventory and object (engine thread). */
void engine_pool_pub_drop(struct eng_pool *p);
/* Drop the published list (the engine stops; engine_pools then answers PP_ESTATE). */
void engine_pools_unpublish(struct engine *eng);

/* ---- engine_queue.c: holding the engine thread, for tests ---- */
struct engine_hold;
/* The engine thread blocked inside a request until engine_hold_release: returns once it is
 * (NULL when the engine does not take the request).  Tests only: nothing else moves meanwhile,
 * which shows what never waits for that thread. */
struct engine_hold *engine_hold(struct engine *eng);
/* Let the engine thread go on and free h.  NULL is a no-op. */
void engine_hold_release(struct engine_hold *h);
/* Find a pool by name (engine thread). */
struct eng_pool *engine_find_pool(struct engine *eng, const char *name);
/* A pool by registered name, pool name-label or pool uuid (ambiguity: PP_EINVAL naming them;
 * none: PP_ENOTFOUND).  Engine thread. */
struct eng_pool *engine_resolve_pool(struct engine *eng, const char *key, struct err *e);

/* ---- engine_files.c (any thread) ---- */
struct cat_update_meta;
struct catalog;
struct plan;
/* An update file chosen for a plan or rollout: what it holds, and whether any host needs it. */
struct eng_file_choice {
    char *path;      /* the kept zip */
    char *name;      /* as uploaded */
    char uuid[40];   /* the update it holds (its update.xml) */
    char label[300]; /* "NAME (uuid)" */
    bool needed;     /* some selected host of some pool gets it */
    struct buf why;  /* per pool, why no host gets it */
};
/* Look the file id up and check its update against cat (the legacy catalog): PP_ENOTFOUND /
 * PP_EINVAL naming the file when it is unknown or the catalog does not list its update.
 * *out heap (engine_file_choice_free). */
int engine_file_choose(const struct engine *eng, const struct catalog *cat, const char *id,
                       struct eng_file_choice **out, struct err *e);
/* Note what pool's plan does with the file's update (needed by a host, or why not). */
void engine_file_judge(struct eng_file_choice *fc, const char *pool, bool cdn,
                       const struct plan *pl);
/* 0 when some host needs the update; else PP_ESTATE "FILE: update ... is not needed: why". */
int engine_file_verdict(const struct eng_file_choice *fc, struct err *e);
void engine_file_choice_free(struct eng_file_choice *fc);
/* The kept update file id: *path (its zip) and *name (as uploaded) heap, *m what it holds.
 * PP_ENOTFOUND naming the id when there is no such file. */
int engine_file_lookup(const struct engine *eng, const char *id, char **path,
                       struct cat_update_meta *m, char **name, struct err *e);
/* ---- engine_hosts.c: single-host selection (engine thread) ---- */
struct inv_pool;
/* The refs (copies) of inv's hosts named in names (name-label, uuid or ref); found[i] set for
 * each name matched; NULL and *n_out 0 when none is in this pool.  Free with engine_hosts_free. */
char **engine_hosts_pick(const struct inv_pool *inv, const char *const *names, size_t n,
                         bool *found, size_t *n_out);
void engine_hosts_free(char **refs, size_t n);
/* PP_EINVAL naming the first name no pool matched (found[i] false), else 0.  Pure. */
int engine_hosts_check(const char *const *names, size_t n, const bool *found, struct err *e);

/* ---- engine_events.c (engine thread) ---- */
/* The executor's emit callback: the event to every subscriber now, to the store at the end of
 * the turn. */
void engine_emit_event(void *ctx, const char *rollout, const char *pool, const char *host,
                       const char *step, int percent, const char *message);
/* Write the turn's events and host facts in one transaction; called once per loop turn and
 * before the engine stops. */
void engine_events_flush(struct engine *eng);

/* ---- engine_reads.c (any thread) ---- */
void engine_readers_init(struct engine *eng);
/* A read-only store connection for the calling thread (NULL and *e filled when it cannot be
 * opened); give it back with engine_reader_give.  Any thread (engine_reads.c). */
struct store *engine_reader_take(struct engine *eng, struct err *e);
void engine_reader_give(struct engine *eng, struct store *s);
/* Close the idle read-only connections (none may be in use). */
void engine_readers_cleanup(struct engine *eng);

/* ---- engine_fetch.c (blocking I/O on the caller's thread, never the engine thread) ---- */

struct fetch_result {
    long status; /* HTTP status; 200 for file:// */
    char *body;  /* owned, NUL-terminated after body_len */
    size_t body_len;
    char *etag;          /* owned or NULL */
    char *last_modified; /* owned or NULL */
};
void fetch_result_cleanup(struct fetch_result *r);
/*
 * GET url (http, https or file://) with conditional headers when etag / last_modified are
 * given, at most max_bytes.  304 gives status 304 and no body.  Errors: PP_ETRANSPORT,
 * PP_ETIMEOUT, PP_ELIMIT, PP_EIO (other HTTP status: message names it).
 */
int fetch_url(const char *url, const char *etag, const char *last_modified, size_t max_bytes,
              struct fetch_result *out, struct err *e);

/* Credentials for the vendor file service (client ID). */
struct fetch_auth {
    const char *username;
    const char *apikey;
    const char *token;      /* a cached token, or NULL */
    const char *session_id; /* with token */
    const char *origins;    /* vendor origins allowed to get them (comma separated); NULL =
                               FETCH_DEFAULT_VENDOR_ORIGINS */
};
/* XenCenter's file service (docs/reference/xencenter.md section 5). */
#define FETCH_DEFAULT_VENDOR_ORIGINS "https://fileservice.citrix.com"
/*
 * May the client ID go to url?  Only when url's scheme, host and port (parsed with libcurl's URL
 * API) equal one of origins (NULL = the default); userinfo in url is refused; an http origin
 * counts only on loopback (a test file service).  0, or PP_EAUTH / PP_EINVAL naming why not.
 */
int fetch_origin_check(const char *url, const char *origins, struct err *e);
/* A token's expiry: the server's (ms, 0 = none) bounded by the 1440 minutes asked for. Pure. */
int64_t fetch_token_expiry(int64_t now_ms, int64_t server_ms);
/*
 * Download url into path (resuming a partial file), with XenCenter's authorization header for
 * file-service URLs (.../direct/v2/download/...).  When no token is given one is requested from
 * the service's token endpoint; *new_token / *new_session (may be NULL) receive it for caching.
 * Retries up to 5 times.  Checks expected_size when > 0.  Errors explain 401 / 403 / 404 in
 * words a user can act on.
 */
int fetch_download(const char *url, const char *path, int64_t expected_size,
                   const struct fetch_auth *auth, char **new_token, char **new_session,
                   int64_t *token_expiry_ms, struct err *e);

/* ---- engine_plan_json.c (pure) ---- */
struct plan;
/* The pool's plan in the REST shape (docs/rest-api.md), new reference. */
json_t *engine_plan_pool_json(const struct plan *p, const struct inv_pool *inv,
                              const struct catalog *cat, const char *pool_name);
/* The same summarised per host, as engine_plan_json_summarize would leave it, without building
 * the migration lists (a fleet plan's default, issue 17).  New reference.  Pure. */
json_t *engine_plan_pool_summary_json(const struct plan *p, const struct inv_pool *inv,
                                      const struct catalog *cat, const char *pool_name);
/* A pool's plan JSON summarised in place: each host's and each action's "migrations" list
 * replaced by its "migration_count".  Pure. */
void engine_plan_json_summarize(json_t *pool_plan);
/* Fleet totals over an array of pool plans (new reference). */
json_t *engine_plan_fleet_totals(json_t *pools);

/* ---- engine_cdn.c (engine thread): XenServer 8 repository updates per pool ---- */
/*
 * Start reading the pool's repository updates (a pool still logging in is waited for): with
 * sync, pool.sync_updates(pool, false, "", "") first (NO_REPOSITORY_ENABLED or
 * MESSAGE_METHOD_UNKNOWN: not a repository pool; another failure is reported), then
 * `GET /updates` (404: not a repository pool) parsed into p->cdn.  waiter (may be NULL) is
 * handed to engine_cdn_waiter_done once this read ends; when a read is already in flight, the
 * waiter joins it.  Returns true when waiter will be called (false: nothing started, e.g. the
 * pool is not connected; p->cdn_error then says why).
 */
bool engine_cdn_refresh(struct engine *eng, struct eng_pool *p, bool sync, void *waiter);
/* The pool's connection state changed (engine_pools.c's on_state; why: its error, may be NULL):
 * a read waiting for the login starts (or fails), a read whose request is out ends with the
 * pool's error when the pool lost its master (reconnecting, emergency, failed, unconfirmed
 * certificate), and a registered pool's first connection starts its probe. */
void engine_cdn_pool_state(struct engine *eng, struct eng_pool *p, enum xapi_conn_state s,
                           const struct err *why);
/* Defined in engine_catalog.c: a read a request waited on ended (engine thread). */
void engine_cdn_waiter_done(struct engine *eng, void *waiter);
/* The pool is going away: detach (and cancel) its read, free its repository catalog. */
void engine_cdn_pool_retire(struct eng_pool *p);
/* The catalog to plan, view and apply p with: its repository catalog for a repository pool,
 * else the legacy catalog (may be NULL).  Borrowed. */
const struct catalog *engine_pool_catalog(struct engine *eng, const struct eng_pool *p);
/* True for a repository pool (XenServer 8 updates). */
bool engine_pool_is_cdn(const struct eng_pool *p);

/* What GET /pools shows of a connected pool, read straight from its records: no inventory (issue
 * 17: building the fleet's 100 inventories took ~100 ms of the engine thread per GET /pools).
 * Strings borrowed from the records.  The same values as the inventory gives (its display name,
 * master, host count, running guest VMs: templates, snapshots and control domains left out). */
struct eng_pool_glance {
    bool have_pool;         /* a pool record was found */
    const char *name_label; /* inv_pool_display_name's: the pool's, else its master's, ... */
    const char *master;     /* the master's name-label, "" when unknown */
    const char *version;    /* the master's software_version product_version */
    size_t hosts;           /* host records */
    size_t vms_running;     /* guest VMs Running */
    bool ha_enabled;
    bool live_patching_disabled;
};
struct xapi_records;
/* Fill g from src; 0, or PP_ENOTFOUND without a pool record.  Pure (the caller's thread). */
int engine_pool_glance(const struct xapi_records *src, struct eng_pool_glance *g);

/* ---- engine_snapshot.c: views and plans built off the engine thread ---- */
/* One pool as a snapshot saw it. */
struct eng_snap_pool {
    char *name;                 /* its registered name */
    bool connected;             /* its connection was ready (else the views show it offline) */
    const struct inv_pool *inv; /* its inventory (shared: held), NULL when it could not be read */
    struct eng_inv *held;       /* the reference inv is borrowed from (engine_pub.c) */
    char *error;                /* why not connected / no inventory, else NULL */
    int error_code;             /* PP_* of that, 0 with an inventory */
    bool cdn;                   /* a repository pool (XenServer 8): cat is its catalog */
    const struct catalog *cat;  /* its repository catalog (held), NULL for a legacy pool */
};
/* The engine's state a view or a plan needs, owned by the thread that builds it. */
struct eng_snapshot {
    struct engine *eng;            /* for engine_snapshot_free only */
    const struct catalog *catalog; /* the legacy catalog (held), or NULL */
    struct eng_snap_pool *pools;   /* the pools asked for, in registration order */
    size_t n_pools;
    size_t n_registered; /* every registered pool, asked for or not */
    int check_interval_s;
    int64_t catalog_checked_ms;
    char check_error[ERR_MSG_MAX];
    char *catalog_url; /* configured override, or NULL */
    int64_t now_ms;    /* the engine's clock when taken */
};
/*
 * Engine thread: a snapshot of the pools want(ctx, registered name) selects (want NULL: all) and
 * the catalogs they use.  Inventories are copied, catalogs held; free it on any thread with
 * engine_snapshot_free.
 */
struct eng_snapshot *engine_snapshot_take(struct engine *eng,
                                          bool (*want)(void *ctx, const char *pool), void *ctx);
/* Any thread: free s, letting go of its catalogs (NULL is a no-op). */
void engine_snapshot_free(struct eng_snapshot *s);
/* The registered name of the pool of s whose inventory is inv, or NULL.  Any thread. */
const char *engine_snapshot_pool_name(const struct eng_snapshot *s, const struct inv_pool *inv);
/* Engine thread: the engine no longer uses cat (a replaced or retired catalog): freed now, or by
 * the last snapshot holding it.  Use instead of catalog_free for the legacy and repository
 * catalogs.  NULL is a no-op. */
void engine_catalog_drop(struct engine *eng, struct catalog *cat);

/* ---- engine_views.c (any thread: pure over a snapshot) ---- */
/* The By Update / By Server view of s as JSON (docs/rest-api.md): 0 or PP_*; *out new. */
int engine_views_json(const struct eng_snapshot *s, enum engine_view view, enum engine_sort sort,
                      json_t **out, struct err *e);
/* The view of s as XenCenter's CSV; *csv heap. */
int engine_views_csv(const struct eng_snapshot *s, enum engine_view view, char **csv,
                     struct err *e);

#endif
