/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the engine object: its thread, the request queue other threads post to, the pool
 * registry with one connected XAPI client per pool, the update catalog, plans, and the glue to
 * the rollout executor (exec.c).  See engine.h for the contract and docs/engine.md.
 *
 * Threads.  The engine thread owns the store connection, the XAPI loop, every client, the
 * catalog and the executor; nothing else touches them.  engine_* functions, called from other
 * threads (REST server, CLI, the periodic checker), post a request and wait for its answer.
 * Work that blocks on the network outside XAPI — fetching the catalog, downloading update files
 * — runs on the calling thread between two requests, so the engine thread never blocks.
 */
#include "engine/engine.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/uuid.h"
#include "base/vec.h"
#include "engine/engine_int.h"
#include "engine/engine_webhook.h"
#include "engine/engine_window.h"
#include "engine/exec.h"
#include "engine/inventory_xapi.h"
#include "plan/alerts.h"
#include "plan/plan.h"
#include "store/store.h"

#define LOG_MOD                    "engine"
#define CATALOG_SOURCE             "updates.xml"
#define CATALOG_MAX_BYTES          (64u * 1024 * 1024)
#define DEFAULT_REQUEST_TIMEOUT_MS 30000
/* The longest an idle engine thread sleeps: requests and stop wake it (xapi_loop_wakeup),
 * timers and I/O end the wait earlier; this only bounds the cost of a missed wakeup. */
#define LOOP_IDLE_WAIT_MS 60000

/* vm_guest_metrics: PV_drivers_version, the upgrade's guest-tools list */
const char *const engine_cache_classes[] = {
    "pool", "host",        "host_metrics",     "vm", "vbd", "vdi", "sr",
    "pbd",  "pool_update", "vm_guest_metrics", NULL};

enum req_kind {
    R_POOL_ADD,
    R_POOL_REMOVE,
    R_POOL_TRUST,
    R_POOLS,
    R_CATALOG_META,
    R_CATALOG_PUT,
    R_VIEW,
    R_CSV,
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
    bool upgrade_manual;
    char **shutdown;
    size_t n_shutdown;
    char **hosts; /* single-host selection (engine_hosts.c) */
    size_t n_hosts;
    bool manual_post_tasks;
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

struct eng_req {
    struct eng_req *next;
    int refs; /* under qlock: the caller's and the engine's */
    enum req_kind kind;
    bool done;
    bool started;   /* under qlock: the engine thread began handling it */
    bool withdrawn; /* under qlock: the caller gave up before it started: never run it */
    /* arguments (owned copies) */
    struct engine_pool_spec pool;
    char *name;
    char *host; /* R_POOL_TRUST: the host to confirm, or NULL */
    enum engine_view view;
    enum engine_sort sort;
    char **ids;
    size_t n_ids;
    bool all;
    struct plan_req_copy pr;
    struct fetch_result fetched;
    bool not_modified;
    struct catalog *cat;    /* R_CATALOG_PUT: the fetched catalog, parsed on the caller's thread */
    int fetch_rc;           /* R_CATALOG_PUT: the fetch failed with this code and err */
    int seconds;            /* R_SET_CHECK_INTERVAL; R_SET_DEFAULT_POLICY: the enum engine_policy */
    struct eng_files files; /* R_ROLLOUT_START: every file; R_DOWNLOAD_DONE: those downloaded */
    struct eng_token token; /* R_DOWNLOAD_DONE: a token the file service gave, or none */
    /* results */
    int rc;
    struct err err;
    json_t *out;
    char *str;
    /* async bookkeeping (engine thread) */
    int pending;
    struct eng_pool *new_pool;
};

/* ------------------------------------------------------------------ small helpers */

/* Caller's thread: append the file item it ({uuid, url?, path, size?}) as typed fields. */
static void files_push(struct eng_files *f, const json_t *it)
{
    f->v = vec_grow_implied(f->v, f->n, sizeof(*f->v));
    f->v[f->n++] = (struct eng_file_ref){.uuid = xstrdup(jsonx_str(it, "uuid", "")),
                                         .url = xstrdup(jsonx_str(it, "url", NULL)),
                                         .path = xstrdup(jsonx_str(it, "path", "")),
                                         .size = jsonx_int(it, "size", 0)};
}

static void files_cleanup(struct eng_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].uuid);
        free(f->v[i].url);
        free(f->v[i].path);
    }
    free(f->v);
    *f = (struct eng_files){0};
}

static char **strv_dup(const char *const *v, size_t n)
{
    char **out;

    if (!n)
        return NULL;
    out = xcalloc(n, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void req_free(struct eng_req *r)
{
    free((char *)r->pool.name);
    free((char *)r->pool.url);
    free((char *)r->pool.username);
    if (r->pool.password) {
        explicit_bzero((char *)r->pool.password, strlen(r->pool.password));
        free((char *)r->pool.password);
    }
    free((char *)r->pool.ca_file);
    free((char *)r->pool.fingerprint);
    free(r->name);
    free(r->host);
    strv_free(r->ids, r->n_ids);
    strv_free(r->pr.pools, r->pr.n_pools);
    strv_free(r->pr.updates, r->pr.n_updates);
    strv_free(r->pr.shutdown, r->pr.n_shutdown);
    free(r->pr.upgrade_to);
    free(r->pr.upgrade_url);
    strv_free(r->pr.hosts, r->pr.n_hosts);
    free(r->pr.file);
    engine_file_choice_free(r->pr.fc);
    fetch_result_cleanup(&r->fetched);
    catalog_free(r->cat);
    files_cleanup(&r->files);
    free(r->token.token);
    free(r->token.session_id);
    json_decref(r->out);
    free(r->str);
    free(r);
}

static struct eng_req *req_new(enum req_kind kind)
{
    struct eng_req *r = xcalloc(1, sizeof(*r));
    r->kind = kind;
    r->refs = 2;
    return r;
}

static void req_unref(struct engine *eng, struct eng_req *r)
{
    bool last;

    pthread_mutex_lock(&eng->qlock);
    last = --r->refs == 0;
    pthread_mutex_unlock(&eng->qlock);
    if (last)
        req_free(r);
}

/* Engine thread: deliver the answer and drop the engine's reference. */
static void req_finish(struct engine *eng, struct eng_req *r, int rc)
{
    r->rc = rc;
    if (rc == 0)
        err_clear(&r->err);
    pthread_mutex_lock(&eng->qlock);
    r->done = true;
    pthread_cond_broadcast(&eng->qdone);
    pthread_mutex_unlock(&eng->qlock);
    req_unref(eng, r);
}

/*
 * Caller thread: post r and wait for the answer.  Returns r->rc, copying the error to e.  The
 * caller keeps its reference and must req_unref after reading the results.
 */
static int req_submit(struct engine *eng, struct eng_req *r, struct err *e)
{
    struct timespec ts;
    int rc = 0;

    pthread_mutex_lock(&eng->qlock);
    if (!eng->running || eng->stop) {
        pthread_mutex_unlock(&eng->qlock);
        r->refs--; /* the engine will never see it */
        return err_set(e, PP_ESTATE, "the engine is not running");
    }
    if (eng->qtail)
        eng->qtail->next = r;
    else
        eng->qhead = r;
    eng->qtail = r;
    xapi_loop_wakeup(eng->loop); /* the engine thread may be asleep in the loop */
    ts = clock_deadline_ts(CLOCK_REALTIME, eng->request_timeout_ms);
    while (!r->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&eng->qdone, &eng->qlock, &ts);
    if (!r->done && !r->started) {
        /* withdrawn: the engine thread will drop it unrun (issue 12, no ghost requests) */
        r->withdrawn = true;
        pthread_mutex_unlock(&eng->qlock);
        return err_set(e, PP_ETIMEOUT,
                       "the engine did not take the request within %d ms; it was withdrawn "
                       "and not carried out",
                       eng->request_timeout_ms);
    }
    /* started: wait for its outcome, so that the answer says what happened */
    ts.tv_sec += 4 * (eng->request_timeout_ms / 1000) + 1;
    rc = 0;
    while (!r->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&eng->qdone, &eng->qlock, &ts);
    pthread_mutex_unlock(&eng->qlock);
    if (!r->done)
        return err_set(e, PP_ESTATE,
                       "the engine is still carrying out the request after %d ms; it may take "
                       "effect: check its state before repeating it",
                       5 * eng->request_timeout_ms);
    if (r->rc && e)
        *e = r->err;
    return r->rc;
}

/* Run a request with no special result handling: returns rc and hands *out over. */
static int req_run(struct engine *eng, struct eng_req *r, json_t **out, struct err *e)
{
    int rc = req_submit(eng, r, e);

    if (out) {
        *out = NULL;
        if (rc == 0 && r->done) {
            *out = r->out;
            r->out = NULL;
        }
    }
    req_unref(eng, r);
    return rc;
}

/* ------------------------------------------------------------------ pools */

struct eng_pool *engine_find_pool(struct engine *eng, const char *name)
{
    for (size_t i = 0; i < eng->n_pools; i++)
        if (strcmp(eng->pools[i]->name, name) == 0)
            return eng->pools[i];
    return NULL;
}

struct first_rec {
    const struct xapi_value *rec;
};

static bool first_rec_fn(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    ((struct first_rec *)ctx)->rec = rec;
    return false; /* a pool has one pool object */
}

/* A field (uuid, name_label) of a registered pool's pool object, from its cache; NULL when the
 * cache has not read it yet.  Engine thread. */
static const char *pool_field(struct eng_pool *p, const char *field)
{
    struct first_rec f = {0};
    if (!p->client)
        return NULL;
    xapi_cache_foreach(p->client, "pool", first_rec_fn, &f);
    return f.rec ? xapi_struct_str(f.rec, field, NULL) : NULL;
}

/*
 * The pool key names: its registered name, else the pool's name-label or uuid as the pool
 * reports them (what views show).  NULL with PP_ENOTFOUND when none matches, PP_EINVAL when the
 * key is a name-label several registered pools share (the message names them).  Engine thread.
 */
struct eng_pool *engine_resolve_pool(struct engine *eng, const char *key, struct err *e)
{
    struct eng_pool *hit = engine_find_pool(eng, key), *other = NULL;

    for (size_t i = 0; !hit && i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        const char *label = pool_field(p, "name_label"), *uuid = pool_field(p, "uuid");
        if ((label && str_eq(label, key)) || (uuid && str_eq(uuid, key))) {
            if (!other)
                other = p;
            else {
                err_set(e, PP_EINVAL,
                        "'%s' is the name of pools registered as '%s' and '%s': use the "
                        "registered name",
                        key, other->name, p->name);
                return NULL;
            }
        }
    }
    if (!hit)
        hit = other;
    if (!hit)
        err_set(e, PP_ENOTFOUND,
                "no pool named '%s' is registered (give its registered name, name-label or uuid; "
                "see poolpatch pool list)",
                key);
    return hit;
}

/*
 * Trust across a master change (docs/security.md): once logged in to a confirmed master, read
 * the pool's host certificates (xapi's Certificate class, type "host", with host.address; xapi
 * keeps them in its database: ocaml/xapi/certificates.ml) and pin them, so that the pool's
 * master may move to any of its hosts without a new confirmation.  A pool whose xapi has no
 * Certificate class (before Citrix Hypervisor 8.2) leaves its hosts to be confirmed.
 */
struct cert_job {
    struct eng_pool *p;
    struct xapi_value *certs;
};

static void certs_hosts_done(void *ctx, int rc, const struct xapi_value *hosts, const struct err *e)
{
    struct cert_job *j = ctx;
    size_t max = j->certs ? j->certs->u.st.n : 0;

    if (rc == 0 && !j->p->retired && max) {
        struct xapi_untrusted *v = xcalloc(max, sizeof(*v));
        size_t n = xapi_host_certificates(j->certs, hosts, v, max);
        size_t k = xapi_client_learn_pins(j->p->client, v, n);
        log_info(LOG_MOD, "pool %s: %zu host certificate(s) read from the pool, %zu newly pinned",
                 j->p->name, n, k);
        free(v);
    } else if (rc != 0 && rc != PP_ECANCELLED) {
        log_warn(LOG_MOD, "pool %s: reading its hosts for their certificates: %s", j->p->name,
                 e ? e->msg : "");
    }
    xapi_value_free(j->certs);
    free(j);
}

static void certs_done(void *ctx, int rc, const struct xapi_value *certs, const struct err *e)
{
    struct cert_job *j = ctx;
    struct err ce = {0};

    if (rc != 0 || j->p->retired || !certs || certs->type != XAPI_STRUCT) {
        if (rc != 0 && rc != PP_ECANCELLED)
            log_info(LOG_MOD,
                     "pool %s: no host certificates read (%s): a new master's needs a "
                     "confirmation",
                     j->p->name, e ? e->msg : "");
        free(j);
        return;
    }
    j->certs = xapi_value_dup(certs);
    if (xapi_call_async(j->p->client, "host.get_all_records", xapi_value_new_array(), NULL,
                        certs_hosts_done, j, NULL, &ce) != 0) {
        xapi_value_free(j->certs);
        free(j);
    }
}

static void pool_learn_certificates(struct eng_pool *p)
{
    struct cert_job *j = xcalloc(1, sizeof(*j));
    struct err e = {0};

    j->p = p;
    if (xapi_call_async(p->client, "Certificate.get_all_records", xapi_value_new_array(), NULL,
                        certs_done, j, NULL, &e) != 0)
        free(j);
}

static void on_pool_state(void *ctx, enum xapi_conn_state s, const struct err *e)
{
    struct eng_pool *p = ctx;

    p->state = s;
    if (e && e->msg[0])
        str_lcpy(p->error, e->msg, sizeof(p->error));
    else if (s == XAPI_CONN_READY)
        p->error[0] = '\0';
    log_info(LOG_MOD, "pool %s: %s%s%s", p->name, xapi_conn_state_name(s), e ? ": " : "",
             e ? e->msg : "");
    /* XenServer 8 repository updates: the first connection's probe, reads waiting for it */
    engine_cdn_pool_state(p->eng, p, s);
    if (s == XAPI_CONN_READY && p->client && !p->retired && str_has_prefix(p->url, "https://"))
        pool_learn_certificates(p);
}

/* A pin learned on top of a verified chain (pools with a CA file): the CA vouched for it.  The
 * pool's stored fingerprint stays the one of its URL host, confirmed at `pool add`. */
static void on_pin(void *ctx, const char *host, const char *fingerprint)
{
    struct eng_pool *p = ctx;

    log_info(LOG_MOD, "pool %s: %s verified by the pool's CA, pinned SHA-256 %s", p->name, host,
             fingerprint);
}

/* A pool and its client; a probe client (pool add's first login) tries every address once and
 * gives up instead of retrying for the reconnect budget. */
static struct eng_pool *pool_new(struct engine *eng, const char *name, const char *url,
                                 const char *user, const char *password, const char *ca_file,
                                 bool probe, struct err *e)
{
    struct eng_pool *p = xcalloc(1, sizeof(*p));
    struct xapi_client_opts o;
    char *known = xasprintf("%s/known_hosts", eng->data_dir);
    const char *addrs[1] = {url};

    p->eng = eng;
    p->name = xstrdup(name ? name : "");
    p->url = xstrdup(url);
    p->username = xstrdup(user);
    xapi_client_opts_init(&o);
    o.addresses = addrs;
    o.n_addresses = 1;
    o.user = user;
    o.password = password;
    o.ca_file = ca_file;
    o.known_hosts = known;
    /* Trust (docs/security.md, "TLS to pools"): a host whose chain a CA file verified is pinned
     * as first seen; without one, only fingerprints the user confirmed are trusted, and a new
     * master with another certificate waits for a confirmation (XAPI_CONN_UNTRUSTED). */
    o.tofu = ca_file != NULL;
    o.on_pin = on_pin;
    o.pin_ctx = p;
    o.on_state = on_pool_state;
    o.state_ctx = p;
    /* a pool's burst of events (task progress, VMs moving) in fewer event.from calls, seen at
     * most this much later (issue 17: XAPI calls per host-update) */
    o.event_coalesce_ms = 200;
    o.leave_done_tasks = true; /* no task.destroy per migration: xapi's GC takes them */
    if (probe)
        o.reconnect_budget_ms = -1;
    p->client = xapi_client_new(eng->loop, &o, e);
    free(known);
    if (!p->client) {
        free(p->name);
        free(p->url);
        free(p->username);
        free(p);
        return NULL;
    }
    return p;
}

/* Retire a pool: it goes to the graveyard, where its client is freed outside callbacks, and the
 * pool with it (the client's last callbacks - state changes, pins - still see the pool). */
static void pool_retire(struct engine *eng, struct eng_pool *p)
{
    if (!p || p->retired)
        return;
    engine_cdn_pool_retire(p);
    p->retired = true;
    eng->graveyard = vec_grow_implied(eng->graveyard, eng->n_graveyard, sizeof(void *));
    eng->graveyard[eng->n_graveyard++] = p;
}

static void graveyard_empty(struct engine *eng)
{
    for (size_t i = 0; i < eng->n_graveyard; i++) {
        struct eng_pool *p = eng->graveyard[i];
        xapi_client_free(p->client);
        engine_cdn_pool_retire(p); /* a read its last callbacks may have started */
        free(p->calls_rollout);
        json_decref(p->calls_base);
        free(p->name);
        free(p->url);
        free(p->username);
        free(p);
    }
    eng->n_graveyard = 0;
}

struct inv_pool *engine_pool_inventory(struct engine *eng, struct eng_pool *p, struct err *e)
{
    struct xapi_records src;

    (void)eng;
    if (!p->client || !xapi_cache_ready(p->client)) {
        err_set(e, PP_ESTATE, "pool %s is not connected (%s%s%s)", p->name,
                xapi_conn_state_name(p->state), p->error[0] ? ": " : "", p->error);
        return NULL;
    }
    xapi_records_from_client(&src, p->client);
    return inv_from_xapi(&src, e);
}

/* State "certificate_unconfirmed": the host the pool waits on and what it presents. */
static void pool_json_untrusted(json_t *o, struct eng_pool *p)
{
    struct xapi_untrusted u;

    if (!p->client || !xapi_client_untrusted(p->client, &u))
        return;
    json_object_set_new(o, "certificate",
                        json_pack("{s:s s:s s:o}", "host", u.host, "fingerprint", u.presented,
                                  "confirmed_before",
                                  u.pinned[0] ? json_string(u.pinned) : json_null()));
}

static json_t *pool_json(struct eng_pool *p)
{
    json_t *o = json_object();
    const struct xapi_value *poolrec = NULL;

    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "url", json_string(p->url));
    json_object_set_new(o, "username", json_string(p->username ? p->username : ""));
    json_object_set_new(o, "state", json_string(xapi_conn_state_name(p->state)));
    json_object_set_new(o, "connected", json_boolean(p->state == XAPI_CONN_READY));
    json_object_set_new(o, "error", p->error[0] ? json_string(p->error) : json_null());
    pool_json_untrusted(o, p);
    if (p->client && xapi_cache_ready(p->client)) {
        struct err e = {0};
        struct inv_pool *inv = engine_pool_inventory(p->eng, p, &e);
        (void)poolrec;
        if (inv) {
            const struct inv_host *m = inv_pool_master(inv);
            size_t running = 0;
            json_object_set_new(o, "name_label", json_string(inv_pool_display_name(inv)));
            json_object_set_new(o, "master", json_string(m ? m->name_label : ""));
            json_object_set_new(o, "master_address", json_string(xapi_client_master(p->client)));
            json_object_set_new(o, "hosts", json_integer((json_int_t)inv->n_hosts));
            for (size_t i = 0; i < inv->n_vms; i++)
                running += inv->vms[i].power_state == INV_RUNNING;
            json_object_set_new(o, "vms_running", json_integer((json_int_t)running));
            json_object_set_new(o, "version", json_string(m ? m->product_version : ""));
            json_object_set_new(o, "ha_enabled", json_boolean(inv->ha_enabled));
            json_object_set_new(o, "live_patching_disabled",
                                json_boolean(inv->live_patching_disabled));
            json_object_set_new(o, "repository", json_boolean(engine_pool_is_cdn(p)));
            inv_pool_free(inv);
        }
    }
    return o;
}

/*
 * The fields the engine reads (inventory_xapi.c, steps.c, exec_*.c, engine_*.c) of the classes
 * with one record per VM or disk; the cache keeps only these (a VM record has ~90 fields,
 * last_booted_record and the platform maps among them: issue 17's memory).  The other classes
 * are kept whole.  Reading a new VM / VBD / VDI field?  Add it here.
 */
static const char *const vm_fields[] = {"uuid",
                                        "name_label",
                                        "power_state",
                                        "resident_on",
                                        "affinity",
                                        "is_a_template",
                                        "is_a_snapshot",
                                        "is_control_domain",
                                        "snapshot_of",
                                        "domid",
                                        "memory_dynamic_max",
                                        "memory_dynamic_min",
                                        "memory_static_max",
                                        "memory_static_min",
                                        "memory_target",
                                        "memory_overhead",
                                        "VCPUs_max",
                                        "VBDs",
                                        "VIFs",
                                        "VGPUs",
                                        "attached_PCIs",
                                        "guest_metrics",
                                        "metrics",
                                        "ha_restart_priority",
                                        "blocked_operations",
                                        "allowed_operations",
                                        "current_operations",
                                        "other_config",
                                        "pending_guidances",
                                        "version",
                                        "tags",
                                        "domain_type",
                                        "HVM_boot_policy",
                                        NULL};
static const char *const vbd_fields[] = {"uuid",
                                         "VM",
                                         "VDI",
                                         "type",
                                         "mode",
                                         "empty",
                                         "bootable",
                                         "userdevice",
                                         "device",
                                         "currently_attached",
                                         "allowed_operations",
                                         "current_operations",
                                         "metrics",
                                         "other_config",
                                         NULL};
static const char *const vdi_fields[] = {"uuid",
                                         "name_label",
                                         "SR",
                                         "VBDs",
                                         "type",
                                         "virtual_size",
                                         "physical_utilisation",
                                         "sharable",
                                         "read_only",
                                         "managed",
                                         "missing",
                                         "is_a_snapshot",
                                         "is_tools_iso",
                                         "allowed_operations",
                                         "current_operations",
                                         "other_config",
                                         "sm_config",
                                         NULL};

static int pool_start_cache(struct eng_pool *p, struct err *e)
{
    if (xapi_cache_set_fields(p->client, "vm", vm_fields, e) != 0 ||
        xapi_cache_set_fields(p->client, "vbd", vbd_fields, e) != 0 ||
        xapi_cache_set_fields(p->client, "vdi", vdi_fields, e) != 0)
        return e->code;
    return xapi_cache_start(p->client, engine_cache_classes, e);
}

static void pool_add_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct eng_req *r = ctx;
    struct eng_pool *p = r->new_pool;
    struct engine *eng = p->eng;
    struct store_pool_spec spec = {0};
    const char *label = NULL;

    if (rc != 0) {
        r->err = *e;
        err_prefix(&r->err, "cannot log in to %s: ", r->pool.url);
        r->new_pool = NULL;
        pool_retire(eng, p);
        req_finish(eng, r, r->err.code ? r->err.code : rc);
        return;
    }
    /* result: the pool records (a map ref -> record); the first one names the pool */
    if (result && result->type == XAPI_STRUCT && result->u.st.n > 0)
        label = xapi_struct_str(result->u.st.vals[0], "name_label", NULL);
    /* the same pool through another of its hosts (a supporter's URL redirects to the master) */
    const char *uuid = result && result->type == XAPI_STRUCT && result->u.st.n > 0
                           ? xapi_struct_str(result->u.st.vals[0], "uuid", NULL)
                           : NULL;
    for (size_t i = 0; uuid && *uuid && i < eng->n_pools; i++) {
        const char *u = pool_field(eng->pools[i], "uuid");
        if (u && str_eq(u, uuid)) {
            int rc2 = err_set(&r->err, PP_EINVAL,
                              "%s is pool %s, already registered as '%s' (%s): a pool is "
                              "registered once",
                              r->pool.url, uuid, eng->pools[i]->name, eng->pools[i]->url);
            r->new_pool = NULL;
            pool_retire(eng, p); /* uuid points into result, not into p: still valid */
            req_finish(eng, r, rc2);
            return;
        }
    }
    if (!r->pool.name || !*r->pool.name) {
        if (!label || !*label) {
            r->new_pool = NULL;
            pool_retire(eng, p);
            req_finish(eng, r,
                       err_set(&r->err, PP_EINVAL,
                               "the pool at %s has no name-label: give one with a name",
                               r->pool.url));
            return;
        }
        free(p->name);
        p->name = xstrdup(label);
    }
    if (engine_find_pool(eng, p->name)) {
        r->new_pool = NULL;
        req_finish(eng, r,
                   err_set(&r->err, PP_EINVAL, "a pool named '%s' is already registered", p->name));
        pool_retire(eng, p);
        return;
    }
    /* the registered pool gets a client that keeps reconnecting (a master reboot must not end
     * it); the probe goes */
    {
        struct eng_pool *np = pool_new(eng, p->name, r->pool.url, r->pool.username,
                                       r->pool.password, r->pool.ca_file, false, &r->err);
        r->new_pool = NULL;
        pool_retire(eng, p);
        if (!np) {
            req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
            return;
        }
        p = np;
    }
    spec.name = p->name;
    spec.master_url = r->pool.url;
    spec.username = r->pool.username;
    spec.password = r->pool.password;
    spec.ca_file = r->pool.ca_file;
    if (store_pool_add(eng->store, &spec, &p->id, &r->err) != 0) {
        r->new_pool = NULL;
        pool_retire(eng, p);
        req_finish(eng, r, r->err.code);
        return;
    }
    eng->pools = vec_grow_implied(eng->pools, eng->n_pools, sizeof(*eng->pools));
    eng->pools[eng->n_pools++] = p;
    r->new_pool = NULL;
    if (pool_start_cache(p, &r->err) != 0)
        log_warn(LOG_MOD, "pool %s: starting the object cache: %s", p->name, r->err.msg);
    r->out = pool_json(p);
    req_finish(eng, r, 0);
}

static void handle_pool_add(struct engine *eng, struct eng_req *r)
{
    struct eng_pool *p;

    if (r->pool.name && *r->pool.name && engine_find_pool(eng, r->pool.name)) {
        req_finish(
            eng, r,
            err_set(&r->err, PP_EINVAL, "a pool named '%s' is already registered", r->pool.name));
        return;
    }
    for (size_t i = 0; i < eng->n_pools; i++) {
        if (strcmp(eng->pools[i]->url, r->pool.url) == 0) {
            req_finish(eng, r,
                       err_set(&r->err, PP_EINVAL, "%s is already registered as pool '%s'",
                               r->pool.url, eng->pools[i]->name));
            return;
        }
    }
    /* a probe: an unreachable URL fails now, and nothing keeps retrying (and registering the
     * pool later) after the user was told the add failed */
    p = pool_new(eng, r->pool.name, r->pool.url, r->pool.username, r->pool.password,
                 r->pool.ca_file, true, &r->err);
    if (!p) {
        req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
        return;
    }
    /* the certificate the user confirmed (or the CA verified) is the URL host's pin before the
     * first byte of the login goes out */
    if (r->pool.fingerprint && xapi_client_trust(p->client, NULL, r->pool.fingerprint, &r->err)) {
        pool_retire(eng, p);
        req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
        return;
    }
    r->new_pool = p;
    if (xapi_call_async(p->client, "pool.get_all_records", xapi_value_new_array(), NULL,
                        pool_add_done, r, NULL, &r->err) != 0) {
        r->new_pool = NULL;
        pool_retire(eng, p);
        req_finish(eng, r, r->err.code ? r->err.code : PP_ETRANSPORT);
    }
}

static void handle_pool_remove(struct engine *eng, struct eng_req *r)
{
    struct eng_pool *p = engine_resolve_pool(eng, r->name, &r->err);

    if (!p) {
        req_finish(eng, r, r->err.code);
        return;
    }
    if (store_pool_remove(eng->store, p->id, &r->err) != 0) {
        req_finish(eng, r, r->err.code);
        return;
    }
    for (size_t i = 0; i < eng->n_pools; i++) {
        if (eng->pools[i] == p) {
            memmove(&eng->pools[i], &eng->pools[i + 1],
                    (eng->n_pools - i - 1) * sizeof(*eng->pools));
            eng->n_pools--;
            break;
        }
    }
    pool_retire(eng, p);
    req_finish(eng, r, 0);
}

/* Confirm a certificate of a pool and log in again (engine_pool_trust). */
static void handle_pool_trust(struct engine *eng, struct eng_req *r)
{
    struct eng_pool *p = engine_resolve_pool(eng, r->name, &r->err);
    struct xapi_untrusted u;
    char host[256];
    int rc;

    if (!p) {
        req_finish(eng, r, r->err.code);
        return;
    }
    bool waiting = xapi_client_untrusted(p->client, &u);
    rc = xapi_trust_check(waiting ? &u : NULL, r->host, r->pool.fingerprint, host, &r->err);
    if (rc == 0)
        rc = xapi_client_trust(p->client, host, r->pool.fingerprint, &r->err);
    if (rc == 0) {
        log_info(LOG_MOD, "pool %s: the certificate of %s was confirmed", p->name, host);
        r->out = pool_json(p);
    } else {
        err_prefix(&r->err, "pool %s: ", p->name);
    }
    req_finish(eng, r, rc);
}

static void handle_pools(struct engine *eng, struct eng_req *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < eng->n_pools; i++)
        json_array_append_new(arr, pool_json(eng->pools[i]));
    r->out = json_pack("{s:o}", "pools", arr);
    req_finish(eng, r, 0);
}

/* Connect every registered pool (engine start). */
static void pools_load(struct engine *eng)
{
    struct store_pool_list l = {0};
    struct err e = {0};

    if (store_pool_list(eng->store, &l, &e) != 0) {
        log_error(LOG_MOD, "listing registered pools: %s", e.msg);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        struct store_pool *sp = &l.items[i];
        struct eng_pool *p = pool_new(eng, sp->name, sp->master_url, sp->username, sp->password,
                                      sp->ca_file, false, &e);
        if (!p) {
            log_error(LOG_MOD, "pool %s: %s", sp->name, e.msg);
            continue;
        }
        p->id = sp->id;
        eng->pools = vec_grow_implied(eng->pools, eng->n_pools, sizeof(*eng->pools));
        eng->pools[eng->n_pools++] = p;
        if (pool_start_cache(p, &e) != 0)
            log_warn(LOG_MOD, "pool %s: %s", p->name, e.msg);
    }
    store_pool_list_cleanup(&l);
}

/* ------------------------------------------------------------------ catalog */

static void catalog_load_cached(struct engine *eng)
{
    struct store_catalog c = {0};
    struct err e = {0};
    struct catalog *cat = NULL;

    if (store_catalog_get(eng->store, CATALOG_SOURCE, &c, &e) != 0)
        return;
    if (catalog_parse_xml(c.body, c.body_len, NULL, &cat, &e) == 0) {
        catalog_free(eng->catalog);
        eng->catalog = cat;
        eng->catalog_checked_ms = c.checked_at_ms;
    } else {
        log_warn(LOG_MOD, "the cached catalog no longer parses: %s", e.msg);
    }
    store_catalog_cleanup(&c);
}

static char *catalog_url(struct engine *eng, struct err *e)
{
    char *url = NULL;

    if (eng->catalog_url)
        return xstrdup(eng->catalog_url);
    if (store_get_catalog_url(eng->store, &url, e) != 0)
        return NULL;
    return url;
}

/* R_CATALOG_META: {url, etag, last_modified} for a conditional GET. */
static void handle_catalog_meta(struct engine *eng, struct eng_req *r)
{
    struct store_catalog c = {0};
    struct err e = {0};
    char *url = catalog_url(eng, &r->err);

    if (!url) {
        req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
        return;
    }
    r->out = json_pack("{s:s}", "url", url);
    free(url);
    if (eng->catalog && store_catalog_get(eng->store, CATALOG_SOURCE, &c, &e) == 0) {
        if (c.etag)
            json_object_set_new(r->out, "etag", json_string(c.etag));
        if (c.last_modified)
            json_object_set_new(r->out, "last_modified", json_string(c.last_modified));
        store_catalog_cleanup(&c);
    }
    req_finish(eng, r, 0);
}

static json_t *catalog_summary(struct engine *eng)
{
    json_t *o = json_object();
    char ts[20];

    json_object_set_new(o, "loaded", json_boolean(eng->catalog != NULL));
    json_object_set_new(o, "patches",
                        json_integer(eng->catalog ? (json_int_t)eng->catalog->n_patches : 0));
    json_object_set_new(o, "versions",
                        json_integer(eng->catalog ? (json_int_t)eng->catalog->n_versions : 0));
    if (eng->catalog_checked_ms > 0) {
        clock_format_xapi(eng->catalog_checked_ms, ts);
        json_object_set_new(o, "checked_at", json_string(ts));
    } else {
        json_object_set_new(o, "checked_at", json_null());
    }
    return o;
}

/* R_CATALOG_PUT: parse what the caller fetched; only a good catalog replaces the last one. */
static void handle_catalog_put(struct engine *eng, struct eng_req *r)
{
    struct catalog *cat = NULL;

    if (r->fetch_rc != 0) {
        str_lcpy(eng->check_error, r->err.msg, sizeof(eng->check_error));
        req_finish(eng, r, r->fetch_rc);
        return;
    }
    if (r->not_modified) {
        if (store_catalog_touch(eng->store, CATALOG_SOURCE, &r->err) != 0) {
            req_finish(eng, r, r->err.code);
            return;
        }
    } else {
        cat = r->cat; /* parsed by the caller (engine_updates_check) */
        r->cat = NULL;
        if (store_catalog_put(eng->store, CATALOG_SOURCE, r->fetched.body, r->fetched.body_len,
                              r->fetched.etag, r->fetched.last_modified, &r->err) != 0) {
            catalog_free(cat);
            req_finish(eng, r, r->err.code);
            return;
        }
        catalog_free(eng->catalog);
        eng->catalog = cat;
    }
    eng->catalog_checked_ms = clock_now_ms(eng->clock);
    eng->check_error[0] = '\0';
    r->out = json_object();
    {
        char ts[32];
        time_t t = (time_t)(eng->catalog_checked_ms / 1000);
        struct tm tm;
        json_t *view = NULL, *pools = json_array();
        struct err e = {0};
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(r->out, "checked_at", json_string(ts));
        json_object_set_new(r->out, "catalog_changed", json_boolean(!r->not_modified));
        if (engine_views_json(eng, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &view, &e) == 0)
            json_object_set_new(
                r->out, "updates",
                json_integer((json_int_t)json_array_size(json_object_get(view, "updates"))));
        json_decref(view);
        for (size_t i = 0; i < eng->n_pools; i++) {
            struct eng_pool *p = eng->pools[i];
            /* a pool that lost its master keeps a ready (stale) cache: say it is offline */
            bool ok = p->client && xapi_cache_ready(p->client) && p->state == XAPI_CONN_READY;
            json_array_append_new(
                pools,
                json_pack("{s:s,s:o,s:b,s:o}", "name", p->name, "error",
                          ok ? json_null()
                             : json_string(p->error[0] ? p->error : xapi_conn_state_name(p->state)),
                          "repository", engine_pool_is_cdn(p), "repository_error",
                          ok && p->cdn_error[0] ? json_string(p->cdn_error) : json_null()));
        }
        json_object_set_new(r->out, "pools", pools);
        json_object_set_new(r->out, "catalog", catalog_summary(eng));
    }
    req_finish(eng, r, 0);
}

/* Check for updates now (see engine.h): the fetch runs on the calling thread. */
int engine_updates_check(struct engine *eng, json_t **out, struct err *e)
{
    struct eng_req *r = req_new(R_CATALOG_META);
    json_t *meta = NULL;
    struct fetch_result fr = {0};
    int rc;

    if (out)
        *out = NULL;
    {
        /* XenServer 8 pools first: pool.sync_updates + GET /updates on every connected pool
         * (engine_cdn.c); a failure there is reported per pool, not for the whole check */
        struct err ce = {0};
        if (req_run(eng, req_new(R_CDN_SYNC), NULL, &ce) != 0)
            log_warn(LOG_MOD, "reading repository updates: %s", ce.msg);
    }
    rc = req_run(eng, r, &meta, e);
    if (rc != 0)
        return rc;
    rc = fetch_url(jsonx_str(meta, "url", ""), json_string_value(json_object_get(meta, "etag")),
                   json_string_value(json_object_get(meta, "last_modified")), CATALOG_MAX_BYTES,
                   &fr, e);
    if (rc != 0) {
        struct err fe = {0};
        err_prefix(e, "checking for updates at %s: ", jsonx_str(meta, "url", ""));
        json_decref(meta);
        r = req_new(R_CATALOG_PUT); /* record the failure for the views */
        r->fetch_rc = rc;
        if (e)
            r->err = *e;
        else
            err_set(&r->err, rc, "checking for updates failed");
        req_run(eng, r, NULL, &fe);
        return rc;
    }
    r = req_new(R_CATALOG_PUT);
    r->fetched = fr;
    r->not_modified = fr.status == 304;
    if (!r->not_modified) {
        /* parsed here, on the caller's thread (up to 64 MiB of XML): the engine thread only
         * stores it and swaps it in */
        int prc = catalog_parse_xml(fr.body, fr.body_len, NULL, &r->cat, &r->err);
        if (prc != 0) {
            err_prefix(&r->err,
                       "the update catalog was not accepted (the last good one is kept): ");
            r->fetch_rc = prc;
        }
    }
    rc = req_run(eng, r, out, e);
    if (rc != 0) /* a catalog that does not parse: say where it came from, as fetch errors do */
        err_prefix(e, "checking for updates at %s: ", jsonx_str(meta, "url", ""));
    else
        engine_webhooks_after_check(eng);
    json_decref(meta);
    return rc;
}

/* ------------------------------------------------------------------ views, dismissals */

/* R_CDN_SYNC: sync and read every connected pool's repository updates; answers once all
 * ended (r->pending counts them). */
static void handle_cdn_sync(struct engine *eng, struct eng_req *r)
{
    r->pending = 1;
    for (size_t i = 0; i < eng->n_pools; i++)
        if (engine_cdn_refresh(eng, eng->pools[i], true, r))
            r->pending++;
    engine_cdn_waiter_done(eng, r);
}

/* A repository read a request waited on ended (see engine_int.h). */
void engine_cdn_waiter_done(struct engine *eng, void *waiter)
{
    struct eng_req *r = waiter;

    if (--r->pending == 0)
        req_finish(eng, r, 0);
}

static void handle_view(struct engine *eng, struct eng_req *r)
{
    int rc = engine_views_json(eng, r->view, r->sort, &r->out, &r->err);
    req_finish(eng, r, rc);
}

static void handle_csv(struct engine *eng, struct eng_req *r)
{
    int rc = engine_views_csv(eng, r->view, &r->str, &r->err);
    req_finish(eng, r, rc);
}

/* One pool's other_config update: remove key, then add it with value (NULL: remove only). */
struct oc_job {
    struct eng_req *req;
    struct engine *eng;
    struct eng_pool *pool;
    char *pool_ref;
    char *key;
    char *value;
};

static void oc_job_free(struct oc_job *j)
{
    free(j->pool_ref);
    free(j->key);
    free(j->value);
    free(j);
}

static void oc_job_end(struct oc_job *j, int rc, const struct err *e)
{
    struct eng_req *r = j->req;

    if (rc != 0 && r->rc == 0) {
        r->rc = rc;
        r->err = *e;
        if (str_eq(e->xapi_code, "RBAC_PERMISSION_DENIED"))
            err_prefix(&r->err,
                       "pool %s: the account may not change the pool's other_config "
                       "(dismissals are stored there, as XenCenter does; use an account "
                       "with the Pool Operator role or higher): ",
                       j->pool->name);
        else
            err_prefix(&r->err, "pool %s: ", j->pool->name);
    }
    if (--r->pending == 0)
        req_finish(j->eng, r, r->rc);
    oc_job_free(j);
}

/* Does the pool's cached record show the job's write yet (key = value, or key gone)? */
static bool oc_job_visible(void *ctx, struct xapi_client *c)
{
    struct oc_job *j = ctx;
    const struct xapi_value *rec = xapi_cache_get(c, "pool", j->pool_ref);
    const char *v;

    if (!rec)
        return true; /* nothing cached to wait for */
    v = xapi_struct_str(xapi_struct_get(rec, "other_config"), j->key, NULL);
    return j->value ? v && strcmp(v, j->value) == 0 : v == NULL;
}

static void oc_job_seen(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct oc_job *j = ctx;

    (void)res;
    if (rc != 0)
        log_warn(LOG_MOD, "pool %s: %s written, but the views may show it late: %s", j->pool->name,
                 j->key, e ? e->msg : err_code_name(rc));
    oc_job_end(j, 0, NULL); /* the write itself succeeded */
}

/*
 * The write succeeded; end the job once the object cache (fed by event.from on another
 * connection) shows it, so that a view read right after the request already has it.
 */
static void oc_job_written(struct oc_job *j)
{
    struct err e = {0};

    if (xapi_cache_wait(j->pool->client, oc_job_visible, j, 5000, oc_job_seen, j, NULL, &e) != 0)
        oc_job_end(j, 0, NULL);
}

static void oc_added(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    if (rc != 0)
        oc_job_end(ctx, rc, e);
    else
        oc_job_written(ctx);
}

static void oc_removed(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct oc_job *j = ctx;
    struct xapi_value *params;
    struct err e2 = {0};

    (void)res;
    if (rc != 0) {
        oc_job_end(j, rc, e);
        return;
    }
    if (!j->value) {
        oc_job_written(j);
        return;
    }
    params = xapi_value_new_array();
    xapi_array_append_string(params, j->pool_ref);
    xapi_array_append_string(params, j->key);
    xapi_array_append_string(params, j->value);
    if (xapi_call_async(j->pool->client, "pool.add_to_other_config", params, NULL, oc_added, j,
                        NULL, &e2) != 0)
        oc_job_end(j, e2.code ? e2.code : PP_ETRANSPORT, &e2);
}

/* Start setting (value) or removing (value NULL) key in the pool's other_config. */
static void oc_job_start(struct engine *eng, struct eng_req *r, struct eng_pool *p,
                         const char *pool_ref, const char *key, const char *value)
{
    struct oc_job *j = xcalloc(1, sizeof(*j));
    struct xapi_value *params = xapi_value_new_array();
    struct err e = {0};

    j->req = r;
    j->eng = eng;
    j->pool = p;
    j->pool_ref = xstrdup(pool_ref);
    j->key = xstrdup(key);
    j->value = xstrdup(value);
    r->pending++;
    xapi_array_append_string(params, pool_ref);
    xapi_array_append_string(params, key);
    if (xapi_call_async(p->client, "pool.remove_from_other_config", params, NULL, oc_removed, j,
                        NULL, &e) != 0) {
        r->pending--;
        if (r->rc == 0) {
            r->rc = e.code ? e.code : PP_ETRANSPORT;
            r->err = e;
        }
        oc_job_free(j);
    }
}

/* Is key a server version value of the catalog (a version alert's key)? */
static bool is_version_key(const struct catalog *cat, const char *key)
{
    for (size_t i = 0; cat && i < cat->n_versions; i++)
        if (strcmp(cat->versions[i].value, key) == 0 && !catalog_find_patch(cat, key))
            return true;
    return false;
}

static const char *resolve_update(const struct catalog *cat, const char *id);

static void handle_dismiss(struct engine *eng, struct eng_req *r)
{
    char **keys = r->ids;
    size_t n_keys = r->n_ids;
    char **all_keys = NULL;
    size_t n_all = 0;

    if (r->all) {
        json_t *view = NULL;
        size_t i;
        json_t *row;
        if (engine_views_json(eng, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &view, &r->err) != 0) {
            req_finish(eng, r, r->err.code);
            return;
        }
        json_array_foreach(json_object_get(view, "updates"), i, row)
        {
            const char *k = jsonx_str(row, "id", NULL);
            if (k) {
                all_keys = vec_grow_implied(all_keys, n_all, sizeof(char *));
                all_keys[n_all++] = xstrdup(k);
            }
        }
        json_decref(view);
        keys = all_keys;
        n_keys = n_all;
    } else {
        /* uuids or name-labels of patches, or version values (new release rows); anything else
         * would be stored in other_config for nothing while the user is told it was dismissed */
        for (size_t i = 0; i < r->n_ids; i++) {
            const char *k = is_version_key(eng->catalog, r->ids[i])
                                ? r->ids[i]
                                : resolve_update(eng->catalog, r->ids[i]);
            /* a XenServer 8 pool's repository update (its id, or its title) */
            for (size_t p = 0; !k && p < eng->n_pools; p++)
                if (engine_pool_is_cdn(eng->pools[p]))
                    k = resolve_update(eng->pools[p]->cdn, r->ids[i]);
            if (!k) {
                strv_free(all_keys, n_all);
                req_finish(eng, r,
                           err_set(&r->err, PP_ENOTFOUND,
                                   "no update '%s' in the catalog (ids are in 'poolpatch updates "
                                   "--json')%s",
                                   r->ids[i], eng->catalog ? "" : "; check for updates first"));
                return;
            }
            all_keys = vec_grow_implied(all_keys, n_all, sizeof(char *));
            all_keys[n_all++] = xstrdup(k);
        }
        keys = all_keys;
        n_keys = n_all;
    }
    r->rc = 0;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        struct err e = {0};
        struct inv_pool *inv = engine_pool_inventory(eng, p, &e);
        char *patches, *versions;

        if (!inv)
            continue; /* a disconnected pool keeps its dismissals; the view says it is offline */
        patches = xstrdup(inv->ignore_patches);
        versions = xstrdup(inv->last_seen_versions);
        for (size_t k = 0; k < n_keys; k++) {
            bool ver = is_version_key(eng->catalog, keys[k]);
            char **target = ver ? &versions : &patches;
            char *nv = alerts_dismiss_value(*target, keys[k], !ver);
            free(*target);
            *target = nv;
        }
        if (strcmp(patches, inv->ignore_patches) != 0)
            oc_job_start(eng, r, p, inv->ref, ALERTS_IGNORE_PATCHES_KEY, patches);
        if (strcmp(versions, inv->last_seen_versions) != 0)
            oc_job_start(eng, r, p, inv->ref, ALERTS_LAST_SEEN_VERSION_KEY, versions);
        free(patches);
        free(versions);
        inv_pool_free(inv);
    }
    strv_free(all_keys, n_all);
    if (r->pending == 0)
        req_finish(eng, r, r->rc);
}

static void handle_restore(struct engine *eng, struct eng_req *r)
{
    r->rc = 0;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        struct err e = {0};
        struct inv_pool *inv = engine_pool_inventory(eng, p, &e);

        if (!inv)
            continue;
        if (*inv->ignore_patches)
            oc_job_start(eng, r, p, inv->ref, ALERTS_IGNORE_PATCHES_KEY, NULL);
        if (*inv->last_seen_versions)
            oc_job_start(eng, r, p, inv->ref, ALERTS_LAST_SEEN_VERSION_KEY, NULL);
        inv_pool_free(inv);
    }
    if (r->pending == 0)
        req_finish(eng, r, r->rc);
}

/* ------------------------------------------------------------------ plans */

static bool pool_selected(const struct plan_req_copy *pr, const char *name)
{
    if (pr->n_pools == 0)
        return true;
    for (size_t i = 0; i < pr->n_pools; i++)
        if (strcmp(pr->pools[i], name) == 0)
            return true;
    return false;
}

static void plan_opts_from_req(const struct plan_req_copy *pr, struct plan_opts *o)
{
    plan_opts_init(o);
    o->policy = pr->policy == ENGINE_POLICY_RETURN ? PLAN_POLICY_RETURN : PLAN_POLICY_MINIMAL;
    o->max_parallel_hosts = pr->max_parallel;
    o->manual_post_tasks = pr->manual_post_tasks;
    if (!pr->automated && pr->n_updates > 0) {
        o->mode = PLAN_MODE_SELECTED;
        o->selected = (const char *const *)pr->updates;
        o->n_selected = pr->n_updates;
    } else {
        o->mode = pr->stay_on_release ? PLAN_MODE_STAY : PLAN_MODE_AUTOMATED;
    }
    if (pr->upgrade_to) {
        o->mode = PLAN_MODE_UPGRADE;
        o->upgrade_to = pr->upgrade_to;
        o->upgrade_url = pr->upgrade_url;
        o->upgrade_manual = pr->upgrade_manual;
        o->upgrade_shutdown = (const char *const *)pr->shutdown;
        o->n_upgrade_shutdown = pr->n_shutdown;
    }
}

/* The options for one pool: a XenServer 8 pool updates one host at a time, because xapi
 * serializes host.apply_updates pool-wide (APPLY_UPDATES_IN_PROGRESS; xapi.md section 2), as
 * XenCenter and xen-api's powershell/Updates.ps1 go host by host. */
static void pool_plan_opts(const struct plan_opts *o, const struct eng_pool *p,
                           struct plan_opts *out)
{
    *out = *o;
    if (engine_pool_is_cdn(p))
        out->max_parallel_hosts = 1;
}

/* The uuid of an update given by uuid or name-label, or NULL when the catalog lacks it. */
static const char *resolve_update(const struct catalog *cat, const char *id)
{
    const struct cat_patch *p = cat ? catalog_find_patch(cat, id) : NULL;

    for (size_t i = 0; !p && cat && i < cat->n_patches; i++)
        if (str_eq(cat->patches[i].name_label, id))
            p = &cat->patches[i];
    return p ? p->uuid : NULL;
}

/* Check the request names only registered pools and known updates, and a catalog exists.
 * Update names are replaced by their uuids. */
static int plan_req_check(struct engine *eng, struct plan_req_copy *pr, struct err *e)
{
    bool legacy = false;

    for (size_t i = 0; i < pr->n_pools; i++) {
        /* pools by registered name, name-label or uuid; from here on, the registered name */
        struct eng_pool *p = engine_resolve_pool(eng, pr->pools[i], e);
        if (!p)
            return e ? e->code : PP_ENOTFOUND;
        if (!str_eq(p->name, pr->pools[i])) {
            free(pr->pools[i]);
            pr->pools[i] = xstrdup(p->name);
        }
    }
    /* the legacy catalog is needed unless every selected pool takes repository updates */
    for (size_t i = 0; i < eng->n_pools; i++)
        legacy = legacy ||
                 (pool_selected(pr, eng->pools[i]->name) && !engine_pool_is_cdn(eng->pools[i]));
    if (!eng->catalog && legacy && !pr->upgrade_to) /* an upgrade needs no catalog */
        return err_set(e, PP_ESTATE,
                       "no update catalog yet: check for updates first (poolpatch updates check)");
    if (eng->n_pools == 0)
        return err_set(e, PP_ESTATE, "no pools registered: add one with poolpatch pool add");
    if (pr->file && !pr->fc) {
        /* an update file: exactly the update it holds (its own update.xml), nothing else */
        if (pr->n_updates || pr->automated)
            return err_set(e, PP_EINVAL, "file: cannot be combined with updates or automated");
        if (engine_file_choose(eng, eng->catalog, pr->file, &pr->fc, e) != 0)
            return e ? e->code : PP_EINVAL;
        pr->updates = xcalloc(1, sizeof(*pr->updates));
        pr->updates[0] = xstrdup(pr->fc->uuid);
        pr->n_updates = 1;
    }
    for (size_t i = 0; i < pr->n_updates; i++) {
        const char *uuid = resolve_update(eng->catalog, pr->updates[i]);
        /* a repository update id (XenServer 8 pools apply all their updates at once) */
        for (size_t k = 0; !uuid && k < eng->n_pools; k++)
            if (engine_pool_is_cdn(eng->pools[k]) && pool_selected(pr, eng->pools[k]->name))
                uuid = resolve_update(eng->pools[k]->cdn, pr->updates[i]);
        if (!uuid && is_version_key(eng->catalog, pr->updates[i])) /* a new release row */
            return err_set(e, PP_EINVAL,
                           "'%s' is a new release, installed by a rolling pool upgrade: "
                           "poolpatch upgrade POOL... --to %s --url INSTALL_MEDIA_URL (or "
                           "--manual); REST POST /api/v1/upgrades",
                           pr->updates[i], pr->updates[i]);
        if (!uuid)
            return err_set(e, PP_ENOTFOUND,
                           "update '%s' is not in the catalog (give its uuid or name; "
                           "'poolpatch updates' lists them)",
                           pr->updates[i]);
        if (strcmp(uuid, pr->updates[i]) != 0) {
            free(pr->updates[i]);
            pr->updates[i] = xstrdup(uuid);
        }
    }
    return 0;
}

/* Plan one pool into pools (a JSON array).  With a host selection, a pool with none of the chosen
 * hosts is left out (found[] records the names matched).  Engine thread. */
static int plan_one_pool(struct engine *eng, struct eng_req *r, struct eng_pool *p,
                         const struct plan_opts *o, bool *found, json_t *pools)
{
    struct inv_pool *inv = engine_pool_inventory(eng, p, &r->err);
    struct plan *pl = NULL;
    struct plan_opts po;
    char **refs = NULL;
    size_t n_refs = 0;
    int rc = 0;

    if (!inv)
        return r->err.code;
    if (r->pr.n_hosts) {
        refs =
            engine_hosts_pick(inv, (const char *const *)r->pr.hosts, r->pr.n_hosts, found, &n_refs);
        if (!n_refs) {
            inv_pool_free(inv);
            return 0;
        }
    }
    pool_plan_opts(o, p, &po);
    po.hosts = (const char *const *)refs;
    po.n_hosts = n_refs;
    if (plan_build(inv, engine_pool_catalog(eng, p), &po, &pl, &r->err) != 0) {
        err_prefix(&r->err, "pool %s: ", p->name);
        rc = r->err.code;
    } else {
        if (r->pr.fc)
            engine_file_judge(r->pr.fc, p->name, engine_pool_is_cdn(p), pl);
        json_array_append_new(pools,
                              engine_plan_pool_json(pl, inv, engine_pool_catalog(eng, p), p->name));
    }
    plan_free(pl);
    inv_pool_free(inv);
    engine_hosts_free(refs, n_refs);
    return rc;
}

static void handle_plan(struct engine *eng, struct eng_req *r)
{
    json_t *pools = json_array();
    struct plan_opts o;
    bool *found = xcalloc(r->pr.n_hosts + 1, sizeof(bool));
    int rc = plan_req_check(eng, &r->pr, &r->err);

    if (rc == 0)
        plan_opts_from_req(&r->pr, &o);
    for (size_t i = 0; rc == 0 && i < eng->n_pools; i++) {
        if (pool_selected(&r->pr, eng->pools[i]->name))
            rc = plan_one_pool(eng, r, eng->pools[i], &o, found, pools);
    }
    if (rc == 0)
        rc = engine_hosts_check((const char *const *)r->pr.hosts, r->pr.n_hosts, found, &r->err);
    free(found);
    if (rc != 0) {
        json_decref(pools);
        req_finish(eng, r, rc);
        return;
    }
    if (r->pr.fc && engine_file_verdict(r->pr.fc, &r->err) != 0) {
        json_decref(pools);
        req_finish(eng, r, r->err.code);
        return;
    }
    {
        char ts[32];
        time_t t = (time_t)(clock_now_ms(eng->clock) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        r->out = json_pack("{s:s,s:b,s:b,s:i,s:s,s:o,s:o}", "policy",
                           r->pr.policy == ENGINE_POLICY_RETURN ? "return" : "minimal", "automated",
                           o.mode != PLAN_MODE_SELECTED, "stay_on_release", r->pr.stay_on_release,
                           "max_parallel", r->pr.max_parallel, "created", ts, "totals",
                           engine_plan_fleet_totals(pools), "pools", pools);
        if (r->pr.fc)
            json_object_set_new(r->out, "file",
                                json_pack("{s:s,s:s,s:s}", "id", r->pr.file, "name", r->pr.fc->name,
                                          "update", r->pr.fc->uuid));
        json_object_set_new(r->out, "manual_post_tasks", json_boolean(r->pr.manual_post_tasks));
        if (r->pr.n_hosts) {
            json_t *hs = json_array();
            for (size_t i = 0; i < r->pr.n_hosts; i++)
                json_array_append_new(hs, json_string(r->pr.hosts[i]));
            json_object_set_new(r->out, "hosts", hs);
        }
    }
    req_finish(eng, r, 0);
}

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
static void handle_download_needed(struct engine *eng, struct eng_req *r)
{
    json_t *files = json_array(), *missing = json_array();

    if (!eng->catalog) {
        json_decref(files);
        json_decref(missing);
        req_finish(eng, r,
                   err_set(&r->err, PP_ESTATE,
                           "no update catalog yet: check for updates first "
                           "(poolpatch updates check)"));
        return;
    }
    for (size_t i = 0; i < r->n_ids; i++) {
        const char *uuid = resolve_update(eng->catalog, r->ids[i]);
        if (!uuid) {
            json_decref(files);
            json_decref(missing);
            req_finish(
                eng, r,
                err_set(&r->err, PP_ENOTFOUND, "update '%s' is not in the catalog", r->ids[i]));
            return;
        }
        need_file(eng, uuid, NULL, files, missing);
    }
    r->out = json_pack("{s:o,s:o,s:o}", "files", files, "missing", missing, "auth", auth_json(eng));
    req_finish(eng, r, 0);
}

/*
 * R_FILES_NEEDED: the update files the rollout will upload that are not in the download cache:
 * {"files":[{uuid,path}], "missing":[{uuid,url,size,path}], "auth":{...}}.
 */
static void handle_files_needed(struct engine *eng, struct eng_req *r)
{
    json_t *files = json_array(), *missing = json_array();
    struct plan_opts o;

    if (plan_req_check(eng, &r->pr, &r->err) != 0) {
        json_decref(files);
        json_decref(missing);
        req_finish(eng, r, r->err.code);
        return;
    }
    plan_opts_from_req(&r->pr, &o);
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        struct inv_pool *inv;
        struct plan *pl = NULL;

        if (!pool_selected(&r->pr, p->name))
            continue;
        if (engine_pool_is_cdn(p)) {
            if (r->pr.fc)
                engine_file_judge(r->pr.fc, p->name, true, NULL);
            continue; /* repository updates: xapi downloads them, nothing to upload */
        }
        inv = engine_pool_inventory(eng, p, &r->err);
        if (!inv || plan_build(inv, eng->catalog, &o, &pl, &r->err) != 0) {
            inv_pool_free(inv);
            json_decref(files);
            json_decref(missing);
            req_finish(eng, r, r->err.code ? r->err.code : PP_ESTATE);
            return;
        }
        if (r->pr.fc)
            engine_file_judge(r->pr.fc, p->name, false, pl);
        for (size_t k = 0; k < pl->n_uploads; k++)
            need_file(eng, pl->uploads[k],
                      r->pr.fc && str_eq(pl->uploads[k], r->pr.fc->uuid) ? r->pr.fc->path : NULL,
                      files, missing);
        plan_free(pl);
        inv_pool_free(inv);
    }
    if (r->pr.fc && engine_file_verdict(r->pr.fc, &r->err) != 0) {
        json_decref(files);
        json_decref(missing);
        req_finish(eng, r, r->err.code);
        return;
    }
    r->out = json_pack("{s:o,s:o}", "files", files, "missing", missing);
    if (json_array_size(missing) > 0)
        json_object_set_new(r->out, "auth", auth_json(eng));
    req_finish(eng, r, 0);
}

/* R_DOWNLOAD_DONE: record finished downloads (and a new token) in the store. */
static void handle_download_done(struct engine *eng, struct eng_req *r)
{
    for (size_t i = 0; i < r->files.n; i++) {
        const struct eng_file_ref *f = &r->files.v[i];
        struct store_download_spec d = {.update_uuid = f->uuid,
                                        .url = f->url,
                                        .path = f->path,
                                        .size = f->size,
                                        .complete = true};
        if (store_download_put(eng->store, &d, &r->err) != 0) {
            req_finish(eng, r, r->err.code);
            return;
        }
    }
    if (r->token.token) {
        struct err e = {0};
        if (store_token_set(eng->store, r->token.token,
                            r->token.session_id ? r->token.session_id : "", r->token.expires_ms,
                            &e) != 0)
            log_warn(LOG_MOD, "caching the file service token: %s", e.msg);
    }
    req_finish(eng, r, 0);
}

/* The pools of a rollout with their options; with a host selection each pool's chosen refs
 * (refs[i], n_refs[i]) and pools with none left out.  Returns how many, or -1 with r->err.
 * Engine thread. */
static int rollout_pools(struct engine *eng, struct eng_req *r, const struct plan_opts *o,
                         struct exec_pool_req *pools, struct plan_opts *po, char ***refs,
                         size_t *n_refs)
{
    bool *found = xcalloc(r->pr.n_hosts + 1, sizeof(bool));
    int n = 0;

    for (size_t i = 0; i < eng->n_pools; i++) {
        if (!pool_selected(&r->pr, eng->pools[i]->name))
            continue;
        pool_plan_opts(o, eng->pools[i], &po[n]);
        if (r->pr.n_hosts) {
            struct inv_pool *inv = engine_pool_inventory(eng, eng->pools[i], &r->err);
            if (!inv) {
                free(found);
                return -1;
            }
            refs[n] = engine_hosts_pick(inv, (const char *const *)r->pr.hosts, r->pr.n_hosts, found,
                                        &n_refs[n]);
            inv_pool_free(inv);
            if (!n_refs[n])
                continue;
            po[n].hosts = (const char *const *)refs[n];
            po[n].n_hosts = n_refs[n];
        }
        pools[n].pool = eng->pools[i]->name;
        pools[n].opts = &po[n];
        n++;
    }
    int rc = engine_hosts_check((const char *const *)r->pr.hosts, r->pr.n_hosts, found, &r->err);
    free(found);
    return rc ? -1 : n;
}

static void handle_rollout_start(struct engine *eng, struct eng_req *r)
{
    struct exec_pool_req *pools;
    struct plan_opts o, *po;
    struct exec_file *files;
    struct exec_request xr = {0};
    size_t np = eng->n_pools ? eng->n_pools : 1, nf = r->files.n;
    char *id = NULL, ***refs;
    size_t *n_refs;
    int rc, n;

    if (plan_req_check(eng, &r->pr, &r->err) != 0) {
        req_finish(eng, r, r->err.code);
        return;
    }
    plan_opts_from_req(&r->pr, &o);
    pools = xcalloc(np, sizeof(*pools));
    po = xcalloc(np, sizeof(*po));
    refs = xcalloc(np, sizeof(*refs));
    n_refs = xcalloc(np, sizeof(*n_refs));
    n = rollout_pools(eng, r, &o, pools, po, refs, n_refs);
    files = xcalloc(nf ? nf : 1, sizeof(*files));
    for (size_t i = 0; i < nf; i++) {
        files[i].uuid = r->files.v[i].uuid;
        files[i].path = r->files.v[i].path;
    }
    xr.pools = pools;
    xr.n_pools = n > 0 ? (size_t)n : 0;
    xr.files = files;
    xr.n_files = nf;
    rc = n < 0 ? r->err.code : exec_rollout_start(eng->exec, &xr, &id, &r->err);
    for (size_t i = 0; i < np; i++)
        engine_hosts_free(refs[i], n_refs[i]);
    free(refs);
    free(n_refs);
    free(pools);
    free(po);
    free(files);
    if (rc == 0)
        r->str = id;
    req_finish(eng, r, rc);
}

static void handle_retry(struct engine *eng, struct eng_req *r)
{
    req_finish(eng, r, exec_rollout_retry(eng->exec, r->name, &r->err));
}

static void handle_cancel(struct engine *eng, struct eng_req *r)
{
    req_finish(eng, r, exec_rollout_cancel(eng->exec, r->name, &r->err));
}

static void handle_upgrade_host(struct engine *eng, struct eng_req *r)
{
    req_finish(eng, r, exec_upgrade_host(eng->exec, r->name, r->ids[0], r->ids[1], &r->err));
}

struct forget_job {
    struct engine *eng;
    struct eng_req *r;
    char *pool;
};

static void forget_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct forget_job *j = ctx;
    (void)res;
    struct err he = {0};
    if (rc != 0 && e)
        j->r->err = *e;
    /* the pool may have left rolling-upgrade mode: HA deferred by an upgrade comes back */
    if (rc == 0 && exec_upgrade_ha_after_forget(j->eng->exec, j->pool, &he) != 0)
        log_warn(LOG_MOD, "pool %s: turning HA back on: %s", j->pool, he.msg);
    req_finish(j->eng, j->r, rc);
    free(j->pool);
    free(j);
}

/* host.destroy of a supporter named by name-label, uuid or ref (xapi refuses a live one). */
static void handle_host_forget(struct engine *eng, struct eng_req *r)
{
    struct eng_pool *p = engine_resolve_pool(eng, r->name, &r->err);
    struct inv_pool *inv = p ? engine_pool_inventory(eng, p, &r->err) : NULL;
    const struct inv_host *h = NULL;
    for (size_t i = 0; inv && i < inv->n_hosts && !h; i++)
        if (str_eq(inv->hosts[i].name_label, r->ids[0]) || str_eq(inv->hosts[i].uuid, r->ids[0]) ||
            str_eq(inv->hosts[i].ref, r->ids[0]))
            h = &inv->hosts[i];
    int rc = !inv ? (r->err.code ? r->err.code : PP_ENOTFOUND)
             : !h ? err_set(&r->err, PP_ENOTFOUND, "pool %s has no host %s", p->name, r->ids[0])
             : str_eq(h->ref, inv->master_ref)
                 ? err_set(&r->err, PP_ESTATE, "%s is the pool's master: it cannot be forgotten",
                           r->ids[0])
                 : 0;
    if (rc == 0) {
        struct forget_job *j = xcalloc(1, sizeof(*j));
        j->eng = eng;
        j->r = r;
        j->pool = xstrdup(p->name);
        struct xapi_value *params = xapi_value_new_array();
        xapi_array_append_string(params, h->ref);
        log_info(LOG_MOD, "pool %s: forgetting host %s (host.destroy)", p->name, r->ids[0]);
        rc =
            xapi_call_async(p->client, "host.destroy", params, NULL, forget_done, j, NULL, &r->err);
        if (rc != 0) {
            free(j->pool);
            free(j);
        }
    }
    inv_pool_free(inv);
    if (rc != 0)
        req_finish(eng, r, rc);
}

static void handle_client_id(struct engine *eng, struct eng_req *r);
static void handle_set_check_interval(struct engine *eng, struct eng_req *r);
static void handle_set_default_policy(struct engine *eng, struct eng_req *r);

/* ------------------------------------------------------------------ the engine thread */

/* The request kinds and their handlers, indexed by kind (engine_int.h). */
const struct eng_req_kind engine_req_kinds[] = {
    [R_POOL_ADD] = {R_POOL_ADD, "pool_add", handle_pool_add},
    [R_POOL_REMOVE] = {R_POOL_REMOVE, "pool_remove", handle_pool_remove},
    [R_POOL_TRUST] = {R_POOL_TRUST, "pool_trust", handle_pool_trust},
    [R_POOLS] = {R_POOLS, "pools", handle_pools},
    [R_CATALOG_META] = {R_CATALOG_META, "catalog_meta", handle_catalog_meta},
    [R_CATALOG_PUT] = {R_CATALOG_PUT, "catalog_put", handle_catalog_put},
    [R_CDN_SYNC] = {R_CDN_SYNC, "cdn_sync", handle_cdn_sync},
    [R_VIEW] = {R_VIEW, "view", handle_view},
    [R_CSV] = {R_CSV, "csv", handle_csv},
    [R_DISMISS] = {R_DISMISS, "dismiss", handle_dismiss},
    [R_RESTORE] = {R_RESTORE, "restore", handle_restore},
    [R_PLAN] = {R_PLAN, "plan", handle_plan},
    [R_FILES_NEEDED] = {R_FILES_NEEDED, "files_needed", handle_files_needed},
    [R_DOWNLOAD_DONE] = {R_DOWNLOAD_DONE, "download_done", handle_download_done},
    [R_ROLLOUT_START] = {R_ROLLOUT_START, "rollout_start", handle_rollout_start},
    [R_RETRY] = {R_RETRY, "retry", handle_retry},
    [R_CANCEL] = {R_CANCEL, "cancel", handle_cancel},
    [R_UPGRADE_HOST] = {R_UPGRADE_HOST, "upgrade_host", handle_upgrade_host},
    [R_HOST_FORGET] = {R_HOST_FORGET, "host_forget", handle_host_forget},
    [R_CLIENT_ID] = {R_CLIENT_ID, "client_id", handle_client_id},
    [R_DOWNLOAD_NEEDED] = {R_DOWNLOAD_NEEDED, "download_needed", handle_download_needed},
    [R_SET_CHECK_INTERVAL] = {R_SET_CHECK_INTERVAL, "set_check_interval",
                              handle_set_check_interval},
    [R_SET_DEFAULT_POLICY] = {R_SET_DEFAULT_POLICY, "set_default_policy",
                              handle_set_default_policy},
};
const size_t engine_n_req_kinds = sizeof(engine_req_kinds) / sizeof(engine_req_kinds[0]);

static void handle(struct engine *eng, struct eng_req *r)
{
    engine_req_kinds[r->kind].handle(eng, r);
}

static struct xapi_client *env_client_for(void *ctx, const char *pool)
{
    struct eng_pool *p = engine_find_pool(ctx, pool);
    return p ? p->client : NULL;
}

static const struct catalog *env_catalog(void *ctx)
{
    return ((struct engine *)ctx)->catalog;
}

/* The pool's catalog: its repository updates for a XenServer 8 pool, else the legacy one. */
static const struct catalog *env_catalog_for(void *ctx, const char *pool)
{
    struct engine *eng = ctx;
    struct eng_pool *p = engine_find_pool(eng, pool);

    /* still learning whether it is a repository pool (its first connection's probe is in
     * flight): no catalog yet rather than the wrong one */
    if (p && p->cdn_state == ENG_CDN_UNKNOWN && p->cdn_job)
        return NULL;
    return engine_pool_catalog(eng, p);
}

static struct inv_pool *env_inventory(void *ctx, const char *pool, struct err *e)
{
    struct engine *eng = ctx;
    struct eng_pool *p = engine_find_pool(eng, pool);

    if (!p) {
        err_set(e, PP_ENOTFOUND, "no pool named '%s' is registered", pool);
        return NULL;
    }
    return engine_pool_inventory(eng, p, e);
}

static bool env_window_gate(void *ctx, const char *pool, int64_t now_ms, int64_t need_ms,
                            int64_t *until_ms, char *why, size_t why_len)
{
    struct engine *eng = ctx;
    return !eng->wins ||
           engine_windows_gate(eng->wins, pool, now_ms, need_ms, until_ms, why, why_len);
}

static json_t *env_health_gate(void *ctx, const char *pool)
{
    return engine_gate_for_pool(ctx, pool);
}

static void *engine_main(void *arg)
{
    struct engine *eng = arg;
    struct err e = {0};

    if (exec_resume_all(eng->exec, &e) != 0)
        log_error(LOG_MOD, "resuming unfinished rollouts: %s", e.msg);
    for (;;) {
        struct eng_req *q;

        pthread_mutex_lock(&eng->qlock);
        if (eng->stop) {
            pthread_mutex_unlock(&eng->qlock);
            break;
        }
        q = eng->qhead;
        eng->qhead = eng->qtail = NULL;
        pthread_mutex_unlock(&eng->qlock);
        while (q) {
            struct eng_req *next = q->next;
            bool skip;
            q->next = NULL;
            pthread_mutex_lock(&eng->qlock);
            skip = q->withdrawn;
            q->started = !skip;
            pthread_mutex_unlock(&eng->qlock);
            if (skip) /* no ghost requests: its caller was told it did not happen */
                req_unref(eng, q);
            else
                handle(eng, q);
            q = next;
        }
        exec_tick(eng->exec);
        graveyard_empty(eng);
        engine_events_flush(eng);
        /* sleeps until I/O, the loop's next timer, or a wakeup (request, stop) */
        xapi_loop_run(eng->loop, LOOP_IDLE_WAIT_MS);
    }
    /* answer whatever is still queued */
    pthread_mutex_lock(&eng->qlock);
    {
        struct eng_req *q = eng->qhead;
        eng->qhead = eng->qtail = NULL;
        pthread_mutex_unlock(&eng->qlock);
        while (q) {
            struct eng_req *next = q->next;
            err_set(&q->err, PP_ECANCELLED, "the engine is stopping");
            req_finish(eng, q, PP_ECANCELLED);
            q = next;
        }
    }
    return NULL;
}

/* Periodic update checks, on their own thread (they block on the network).  A change of the
 * interval (engine_set_check_interval bumps check_gen) ends the wait: the next check is then a
 * whole new interval away. */
static void *checker_main(void *arg)
{
    struct engine *eng = arg;
    bool due = true;

    pthread_mutex_lock(&eng->qlock);
    while (!eng->stop) {
        struct timespec ts;
        int interval = eng->check_interval_s;
        unsigned gen = eng->check_gen;

        pthread_mutex_unlock(&eng->qlock);
        if (due && interval > 0) {
            struct err e = {0};
            json_t *out = NULL;
            if (engine_updates_check(eng, &out, &e) != 0)
                log_warn(LOG_MOD, "periodic update check: %s", e.msg);
            json_decref(out);
        }
        pthread_mutex_lock(&eng->qlock);
        ts = clock_deadline_ts(CLOCK_REALTIME, (int64_t)(interval > 0 ? interval : 3600) * 1000);
        due = true;
        while (!eng->stop) {
            if (eng->check_gen != gen) {
                due = false;
                break;
            }
            if (pthread_cond_timedwait(&eng->checker_wake, &eng->qlock, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&eng->qlock);
    return NULL;
}

/* The default policy at the start: the settings file's (cfg_policy) wins, else the stored one
 * (ENGINE_KEY_DEFAULT_POLICY), else return.  A value that is neither is PP_EPARSE. */
static int load_default_policy(struct engine *eng, const char *cfg_policy, struct err *e)
{
    char *v = NULL;

    if (cfg_policy)
        v = xstrdup(cfg_policy);
    else if (store_setting_get_str(eng->store, ENGINE_KEY_DEFAULT_POLICY, "return", &v, e) != 0)
        return e ? e->code : PP_EDB;
    int rc = 0;
    if (str_eq(v, "minimal"))
        eng->default_policy = ENGINE_POLICY_MINIMAL;
    else if (str_eq(v, "return"))
        eng->default_policy = ENGINE_POLICY_RETURN;
    else
        rc = err_set(e, PP_EPARSE, "setting %s: '%s' is not minimal or return",
                     ENGINE_KEY_DEFAULT_POLICY, v);
    free(v);
    return rc;
}
/* Create an engine (see engine.h). */
int engine_new(const struct engine_config *cfg, struct engine **out, struct err *e)
{
    struct engine *eng;
    struct store_opts so = {0};
    struct exec_env env = {0};
    char *dir;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->db_path)
        return err_set(e, PP_EINVAL, "engine: no database path");
    eng = xcalloc(1, sizeof(*eng));
    pthread_mutex_init(&eng->qlock, NULL);
    pthread_cond_init(&eng->qdone, NULL);
    pthread_cond_init(&eng->checker_wake, NULL);
    pthread_mutex_init(&eng->sublock, NULL);
    engine_readers_init(eng);
    eng->db_path = xstrdup(cfg->db_path);
    dir = xstrdup(cfg->db_path);
    eng->data_dir = xstrdup(dirname(dir));
    free(dir);
    eng->clock = cfg->clock;
    if (!eng->clock) {
        eng->clock = clock_real_new();
        eng->own_clock = true;
    }
    eng->request_timeout_ms =
        cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
    eng->catalog_url = xstrdup(cfg->catalog_url);
    eng->vendor_origins = xstrdup(cfg->vendor_origins);
    eng->webhook_retry_base_s = cfg->webhook_retry_base_s;
    eng->file_max_bytes = cfg->file_max_bytes;
    eng->file_dir = cfg->file_dir && *cfg->file_dir ? xstrdup(cfg->file_dir) : NULL;
    so.clock = eng->clock;
    rc = store_open(cfg->db_path, &so, &eng->store, e);
    if (rc != 0)
        goto fail;
    if (cfg->check_interval_s >= 0) {
        eng->check_interval_s = cfg->check_interval_s;
    } else {
        int64_t iv = 0;
        bool on = true;
        if (store_get_auto_check(eng->store, &on, e) != 0 ||
            store_get_check_interval_s(eng->store, &iv, e) != 0) {
            rc = e ? e->code : PP_EDB;
            goto fail;
        }
        eng->check_interval_s = on ? (int)iv : 0;
    }
    if ((rc = load_default_policy(eng, cfg->default_policy, e)) != 0)
        goto fail;
    {
        char *dl = xasprintf("%s/downloads", eng->data_dir);
        if (mkdir(dl, 0700) != 0 && errno != EEXIST) {
            rc = err_set(e, PP_EIO, "creating %s: %s", dl, strerror(errno));
            free(dl);
            goto fail;
        }
        free(dl);
    }
    eng->loop = xapi_loop_new(eng->clock, e);
    if (!eng->loop) {
        rc = e && e->code ? e->code : PP_EIO;
        goto fail;
    }
    env.loop = eng->loop;
    env.store = eng->store;
    env.clock = eng->clock;
    env.ctx = eng;
    env.client_for = env_client_for;
    env.catalog = env_catalog;
    env.catalog_for = env_catalog_for;
    env.inventory = env_inventory;
    env.emit = engine_emit_event;
    env.window_gate = env_window_gate;
    env.health_gate = env_health_gate;
    {
        struct plan_opts po;
        plan_opts_init(&po);
        env.timing = po.timing;
    }
    env.host_return_timeout_ms = cfg->host_return_timeout_s > 0
                                     ? (int64_t)cfg->host_return_timeout_s * 1000
                                     : 20 * 60 * 1000;
    eng->exec = exec_new(&env, e);
    if (!eng->exec) {
        rc = e && e->code ? e->code : PP_EINVAL;
        goto fail;
    }
    catalog_load_cached(eng);
    pools_load(eng);
    *out = eng;
    return 0;
fail:
    engine_free(eng);
    return rc ? rc : PP_EINVAL;
}

/* Start the engine thread and the periodic checker (see engine.h). */
int engine_start(struct engine *eng, struct err *e)
{
    pthread_mutex_lock(&eng->qlock);
    if (eng->running) {
        pthread_mutex_unlock(&eng->qlock);
        return err_set(e, PP_ESTATE, "the engine is already running");
    }
    eng->running = true;
    pthread_mutex_unlock(&eng->qlock);
    {
        struct err we = {0};
        if (engine_windows_new(eng, eng->db_path, eng->clock, &eng->wins, &we) != 0)
            log_warn(LOG_MOD, "maintenance windows and schedules are off: %s", we.msg);
    }
    if (pthread_create(&eng->thread, NULL, engine_main, eng) != 0) {
        eng->running = false;
        return err_set(e, PP_EIO, "cannot start the engine thread");
    }
    {
        struct engine_webhook_opts wo = {.retry_base_ms = eng->webhook_retry_base_s * 1000};
        struct err we = {0};
        if (engine_webhooks_new(eng, eng->db_path, eng->clock, &wo, &eng->hooks, &we) != 0)
            log_warn(LOG_MOD, "webhooks are off: %s", we.msg);
    }
    if (eng->wins) {
        struct err we = {0};
        if (engine_windows_start(eng->wins, &we) != 0)
            log_warn(LOG_MOD, "schedules are off: %s", we.msg);
    }
    /* always started: checks can be turned on later (engine_set_check_interval) */
    if (pthread_create(&eng->checker, NULL, checker_main, eng) == 0)
        eng->checker_running = true;
    else
        log_warn(LOG_MOD, "cannot start the periodic update checker");
    return 0;
}

/* Stop and free (see engine.h). */
void engine_free(struct engine *eng)
{
    if (!eng)
        return;
    engine_webhooks_free(eng->hooks); /* unsubscribes first: no callback into a freed sender */
    eng->hooks = NULL;
    engine_windows_stop(eng->wins); /* its scheduler may wait on the engine thread: first */
    pthread_mutex_lock(&eng->qlock);
    eng->stop = true;
    pthread_cond_broadcast(&eng->checker_wake);
    if (eng->loop)
        xapi_loop_wakeup(eng->loop);
    pthread_mutex_unlock(&eng->qlock);
    if (eng->checker_running)
        pthread_join(eng->checker, NULL);
    if (eng->running)
        pthread_join(eng->thread, NULL);
    engine_windows_free(eng->wins); /* the gate's caller is stopped */
    eng->wins = NULL;
    engine_events_flush(eng);
    exec_free(eng->exec);
    engine_events_flush(eng);
    for (size_t i = 0; i < eng->n_pools; i++)
        pool_retire(eng, eng->pools[i]);
    free(eng->pools);
    graveyard_empty(eng);
    free(eng->graveyard);
    xapi_loop_free(eng->loop);
    catalog_free(eng->catalog);
    store_close(eng->store);
    engine_readers_cleanup(eng);
    free(eng->pending_events);
    free(eng->pending_facts);
    if (eng->own_clock)
        clock_free(eng->clock);
    free(eng->subs);
    free(eng->db_path);
    free(eng->data_dir);
    free(eng->catalog_url);
    free(eng->vendor_origins);
    free(eng->file_dir);
    pthread_mutex_destroy(&eng->qlock);
    pthread_cond_destroy(&eng->qdone);
    pthread_cond_destroy(&eng->checker_wake);
    pthread_mutex_destroy(&eng->sublock);
    free(eng);
}

/* ------------------------------------------------------------------ public requests */

static void copy_plan_req(struct plan_req_copy *c, const struct engine_plan_req *r)
{
    c->pools = strv_dup(r->pools, r->n_pools);
    c->n_pools = r->n_pools;
    c->automated = r->automated;
    c->updates = strv_dup(r->updates, r->n_updates);
    c->n_updates = r->n_updates;
    c->file = xstrdup(r->file);
    c->policy = r->policy;
    c->stay_on_release = r->stay_on_release;
    c->max_parallel = r->max_parallel;
    c->upgrade_to = xstrdup(r->upgrade_to);
    c->upgrade_url = xstrdup(r->upgrade_url);
    c->upgrade_manual = r->upgrade_manual;
    c->shutdown = strv_dup(r->shutdown, r->n_shutdown);
    c->n_shutdown = r->n_shutdown;
    c->hosts = strv_dup(r->hosts, r->n_hosts);
    c->n_hosts = r->n_hosts;
    c->manual_post_tasks = r->manual_post_tasks;
}

int engine_pool_add(struct engine *eng, const struct engine_pool_spec *spec, json_t **out,
                    struct err *e)
{
    struct eng_req *r;

    if (!spec || !spec->url || !*spec->url)
        return err_set(e, PP_EINVAL, "pool: the master URL is required");
    if (!spec->username || !*spec->username)
        return err_set(e, PP_EINVAL, "pool: the user name is required");
    if (!spec->password)
        return err_set(e, PP_EINVAL, "pool: the password is required");
    r = req_new(R_POOL_ADD);
    r->pool.name = xstrdup(spec->name);
    r->pool.url = xstrdup(spec->url);
    r->pool.username = xstrdup(spec->username);
    r->pool.password = xstrdup(spec->password);
    r->pool.ca_file = xstrdup(spec->ca_file);
    r->pool.fingerprint =
        spec->fingerprint && *spec->fingerprint ? xstrdup(spec->fingerprint) : NULL;
    return req_run(eng, r, out, e);
}

int engine_pool_trust(struct engine *eng, const char *name, const char *host,
                      const char *fingerprint, json_t **out, struct err *e)
{
    struct eng_req *r;

    if (!name || !*name)
        return err_set(e, PP_EINVAL, "pool: give the pool's name");
    if (!fingerprint || !*fingerprint)
        return err_set(e, PP_EINVAL, "fingerprint: required (SHA256:AB:CD:...)");
    r = req_new(R_POOL_TRUST);
    r->name = xstrdup(name);
    r->host = host && *host ? xstrdup(host) : NULL;
    r->pool.fingerprint = xstrdup(fingerprint);
    return req_run(eng, r, out, e);
}

int engine_pool_remove(struct engine *eng, const char *name, struct err *e)
{
    struct eng_req *r = req_new(R_POOL_REMOVE);
    r->name = xstrdup(name ? name : "");
    return req_run(eng, r, NULL, e);
}

int engine_pools(struct engine *eng, json_t **out, struct err *e)
{
    return req_run(eng, req_new(R_POOLS), out, e);
}

int engine_updates_view(struct engine *eng, enum engine_view view, enum engine_sort sort,
                        json_t **out, struct err *e)
{
    struct eng_req *r = req_new(R_VIEW);
    r->view = view;
    r->sort = sort;
    return req_run(eng, r, out, e);
}

int engine_updates_csv(struct engine *eng, enum engine_view view, char **csv, struct err *e)
{
    struct eng_req *r = req_new(R_CSV);
    int rc;

    r->view = view;
    *csv = NULL;
    rc = req_submit(eng, r, e);
    if (rc == 0) {
        *csv = r->str;
        r->str = NULL;
    }
    req_unref(eng, r);
    return rc;
}

int engine_updates_dismiss(struct engine *eng, const char *const *ids, size_t n, bool all,
                           struct err *e)
{
    struct eng_req *r;

    if (!all && n == 0)
        return err_set(e, PP_EINVAL, "dismiss: name at least one update, or all");
    r = req_new(R_DISMISS);
    r->ids = strv_dup(ids, n);
    r->n_ids = n;
    r->all = all;
    return req_run(eng, r, NULL, e);
}

int engine_updates_restore(struct engine *eng, struct err *e)
{
    json_t *out = NULL;
    int rc = req_run(eng, req_new(R_RESTORE), NULL, e);

    if (rc != 0)
        return rc;
    /* XenCenter re-checks after restoring; a failed fetch leaves the restore done */
    if (engine_updates_check(eng, &out, e) != 0)
        log_warn(LOG_MOD, "re-check after restoring dismissed updates: %s", e ? e->msg : "");
    json_decref(out);
    err_clear(e);
    return 0;
}

int engine_plan(struct engine *eng, const struct engine_plan_req *req, json_t **out, struct err *e)
{
    struct eng_req *r = req_new(R_PLAN);
    copy_plan_req(&r->pr, req);
    return req_run(eng, r, out, e);
}

static int download_missing(struct engine *eng, json_t *need, json_t **files, struct err *e);

/* Download what is missing on this (the caller's) thread; returns the full file list. */
static int ensure_files(struct engine *eng, const struct engine_plan_req *req, json_t **files,
                        struct err *e)
{
    struct eng_req *r = req_new(R_FILES_NEEDED);
    json_t *need = NULL;
    int rc;

    copy_plan_req(&r->pr, req);
    rc = req_run(eng, r, &need, e);
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
        struct eng_req *d = req_new(R_DOWNLOAD_DONE);
        struct err e2 = {0};
        json_array_foreach(done, i, it) files_push(&d->files, it);
        d->token = (struct eng_token){
            .token = xstrdup(tok), .session_id = xstrdup(sess), .expires_ms = expiry};
        if (req_run(eng, d, NULL, &e2) != 0)
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

int engine_rollout_start(struct engine *eng, const struct engine_plan_req *req, char **id,
                         struct err *e)
{
    struct eng_req *r;
    json_t *files = NULL, *it;
    size_t i;
    int rc;

    *id = NULL;
    rc = ensure_files(eng, req, &files, e);
    if (rc != 0)
        return rc;
    r = req_new(R_ROLLOUT_START);
    copy_plan_req(&r->pr, req);
    json_array_foreach(files, i, it) files_push(&r->files, it); /* typed here, not there */
    json_decref(files);
    rc = req_submit(eng, r, e);
    if (rc == 0) {
        *id = r->str;
        r->str = NULL;
    }
    req_unref(eng, r);
    return rc;
}

static int id_request(struct engine *eng, enum req_kind k, const char *id, json_t **out,
                      struct err *e)
{
    struct eng_req *r = req_new(k);
    r->name = xstrdup(id ? id : "");
    return req_run(eng, r, out, e);
}

int engine_rollout_retry(struct engine *eng, const char *id, struct err *e)
{
    return id_request(eng, R_RETRY, id, NULL, e);
}

int engine_rollout_cancel(struct engine *eng, const char *id, struct err *e)
{
    return id_request(eng, R_CANCEL, id, NULL, e);
}

/* Two-string requests: name and (a, b). */
static int pair_request(struct engine *eng, enum req_kind k, const char *name, const char *a,
                        const char *b, struct err *e)
{
    const char *v[2] = {a ? a : "", b ? b : ""};
    struct eng_req *r = req_new(k);
    r->name = xstrdup(name ? name : "");
    r->ids = strv_dup(v, 2);
    r->n_ids = 2;
    return req_run(eng, r, NULL, e);
}

int engine_upgrade_host(struct engine *eng, const char *id, const char *host, const char *action,
                        struct err *e)
{
    return pair_request(eng, R_UPGRADE_HOST, id, host, action, e);
}

int engine_host_forget(struct engine *eng, const char *pool, const char *host, struct err *e)
{
    return pair_request(eng, R_HOST_FORGET, pool, host, NULL, e);
}

/* R_CLIENT_ID is handled inline: parsing happens here, storing on the engine thread. */
static void handle_client_id(struct engine *eng, struct eng_req *r)
{
    req_finish(eng, r,
               store_client_id_set(eng->store, r->pool.username, r->pool.password, &r->err));
}

int engine_client_id_import(struct engine *eng, const char *json_text, size_t len, struct err *e)
{
    json_t *j = NULL;
    struct eng_req *r;
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
    r = req_new(R_CLIENT_ID);
    r->pool.username = xstrdup(user);
    r->pool.password = xstrdup(key);
    json_decref(j);
    return req_run(eng, r, NULL, e);
}

/* R_SET_CHECK_INTERVAL: stored, then the checker is told (engine thread). */
static void handle_set_check_interval(struct engine *eng, struct eng_req *r)
{
    int rc = store_setting_set_bool(eng->store, STORE_KEY_AUTO_CHECK, r->seconds > 0, &r->err);
    if (rc == 0 && r->seconds > 0)
        rc = store_setting_set_int(eng->store, STORE_KEY_CHECK_INTERVAL, r->seconds, &r->err);
    if (rc == 0) {
        pthread_mutex_lock(&eng->qlock);
        eng->check_interval_s = r->seconds;
        eng->check_gen++;
        pthread_cond_broadcast(&eng->checker_wake);
        pthread_mutex_unlock(&eng->qlock);
        log_info(LOG_MOD, "automatic update checks: %s%d s", r->seconds > 0 ? "every " : "off, ",
                 r->seconds);
    }
    req_finish(eng, r, rc);
}

/* Set the check interval (see engine.h). */
int engine_set_check_interval(struct engine *eng, int seconds, struct err *e)
{
    if (seconds < 0 || seconds > ENGINE_CHECK_INTERVAL_MAX_S)
        return err_set(e, PP_EINVAL,
                       "check_interval_s: %d is out of range (0 = off, or 1 to %d seconds)",
                       seconds, ENGINE_CHECK_INTERVAL_MAX_S);
    struct eng_req *r = req_new(R_SET_CHECK_INTERVAL);
    r->seconds = seconds;
    return req_run(eng, r, NULL, e);
}

/* The interval in force (see engine.h). */
int engine_check_interval(struct engine *eng)
{
    return eng->check_interval_s;
}

/* R_SET_DEFAULT_POLICY: stored, then in force (engine thread). */
static void handle_set_default_policy(struct engine *eng, struct eng_req *r)
{
    int rc = store_setting_set(eng->store, ENGINE_KEY_DEFAULT_POLICY,
                               r->seconds == ENGINE_POLICY_MINIMAL ? "minimal" : "return", &r->err);
    if (rc == 0) {
        eng->default_policy = r->seconds;
        log_info(LOG_MOD, "default policy: %s",
                 r->seconds == ENGINE_POLICY_MINIMAL ? "minimal" : "return");
    }
    req_finish(eng, r, rc);
}

/* Set the default policy (see engine.h). */
int engine_set_default_policy(struct engine *eng, enum engine_policy policy, struct err *e)
{
    if (policy != ENGINE_POLICY_RETURN && policy != ENGINE_POLICY_MINIMAL)
        return err_set(e, PP_EINVAL, "default_policy: not minimal or return");
    struct eng_req *r = req_new(R_SET_DEFAULT_POLICY);
    r->seconds = (int)policy;
    return req_run(eng, r, NULL, e);
}

/* The default policy in force (see engine.h). */
enum engine_policy engine_default_policy(struct engine *eng)
{
    return eng->default_policy == ENGINE_POLICY_MINIMAL ? ENGINE_POLICY_MINIMAL
                                                        : ENGINE_POLICY_RETURN;
}

/* Download update files into the cache (see engine.h).  Downloads run on the caller's thread. */
int engine_updates_download(struct engine *eng, const char *const *ids, size_t n, json_t **out,
                            struct err *e)
{
    struct eng_req *r;
    json_t *need = NULL, *files = NULL;
    int rc;

    if (out)
        *out = NULL;
    if (n == 0)
        return err_set(e, PP_EINVAL, "download: name at least one update");
    r = req_new(R_DOWNLOAD_NEEDED);
    r->ids = strv_dup(ids, n);
    r->n_ids = n;
    rc = req_run(eng, r, &need, e);
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
