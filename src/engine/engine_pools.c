/* SPDX-License-Identifier: MIT */
/*
 * engine_pools.c - the pool registry (engine thread): registered pools, each with one connected
 * XAPI client and its object cache, looked up by registered name, name-label or uuid; pool add
 * (a probe login first), remove, certificate confirmation and the pools' JSON; retired pools kept
 * in a graveyard until their clients can be freed outside their callbacks.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine_int.h"
#include "engine/engine_req.h"
#include "engine/inventory_xapi.h"
#include "store/store.h"
#include "xapi/client.h"

#define LOG_MOD "engine"

/* vm_guest_metrics: PV_drivers_version, the upgrade's guest-tools list */
const char *const engine_cache_classes[] = {
    "pool", "host",        "host_metrics",     "vm", "vbd", "vdi", "sr",
    "pbd",  "pool_update", "vm_guest_metrics", NULL};

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
 * reports them.  NULL with PP_ENOTFOUND when none matches, PP_EINVAL when the
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
    bool changed = p->state != s; /* else a login round found no master (the client logs it) */

    p->state = s;
    p->eng->pub_gen++; /* GET /pools shows the state and the error, even with the state unchanged */
    if (e && e->msg[0])
        str_lcpy(p->error, e->msg, sizeof(p->error));
    else if (s == XAPI_CONN_READY || s == XAPI_CONN_CONNECTING)
        p->error[0] = '\0'; /* connecting without an error: a new attempt */
    if (changed)
        log_info(LOG_MOD, "pool %s: %s%s%s", p->name, xapi_conn_state_name(s), e ? ": " : "",
                 e ? e->msg : "");
    /* XenServer 8 repository updates: the first connection's probe, reads waiting for it */
    engine_cdn_pool_state(p->eng, p, s, e);
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
     * most this much later (issue 17: XAPI calls per host-update; 500 rather than 200 ms: a
     * migration's end and the next ones it lets start, or ends a few hundred ms apart, come in
     * one answer: bench-16 minimal 813 -> 774 calls for a window 4 s longer, docs/performance.md
     * "Calls, session 7") */
    o.event_coalesce_ms = 500;
    o.event_quiet_ms = 1000;
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
void engine_pool_retire(struct engine *eng, struct eng_pool *p)
{
    if (!p || p->retired)
        return;
    engine_cdn_pool_retire(p);
    p->retired = true;
    eng->graveyard = vec_grow_implied(eng->graveyard, eng->n_graveyard, sizeof(void *));
    eng->graveyard[eng->n_graveyard++] = p;
}

/* Free the retired pools and their clients (engine thread, outside client callbacks). */
void engine_graveyard_empty(struct engine *eng)
{
    for (size_t i = 0; i < eng->n_graveyard; i++) {
        struct eng_pool *p = eng->graveyard[i];
        engine_pool_pub_drop(p);
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

/* See engine_int.h. */
bool engine_pool_usable(const struct eng_pool *p)
{
    return p->state == XAPI_CONN_READY && p->client && xapi_cache_ready(p->client);
}

/* See engine_int.h. */
const char *engine_pool_unready(const struct eng_pool *p, char *buf, size_t n)
{
    if (p->state == XAPI_CONN_READY && p->client && !xapi_cache_ready(p->client))
        snprintf(buf, n, "connected, but its objects are still being read: try again in a moment");
    else
        snprintf(buf, n, "not connected (%s%s%s)", xapi_conn_state_name(p->state),
                 p->error[0] ? ": " : "", p->error);
    return buf;
}

/* The pool's inventory from its cache (engine_int.h); PP_ESTATE when not connected. */
struct inv_pool *engine_pool_inventory(struct engine *eng, struct eng_pool *p, struct err *e)
{
    struct xapi_records src;
    char why[400];

    (void)eng;
    if (!p->client || !xapi_cache_ready(p->client)) {
        err_set(e, PP_ESTATE, "pool %s is %s", p->name, engine_pool_unready(p, why, sizeof(why)));
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

struct glance_ctx {
    struct eng_pool_glance *g;
    const char *master_ref;
    const char *first_name; /* the smallest host name-label, for a pool with no name */
};

static bool glance_pool(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct glance_ctx *c = ctx;

    (void)ref;
    c->g->name_label = xapi_struct_str(rec, "name_label", "");
    c->master_ref = xapi_struct_str(rec, "master", "");
    c->g->ha_enabled = xapi_struct_bool(rec, "ha_enabled", false);
    c->g->live_patching_disabled = xapi_struct_bool(rec, "live_patching_disabled", false);
    c->g->have_pool = true;
    return false; /* a pool's cache holds one pool record */
}

static bool glance_host(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct glance_ctx *c = ctx;
    const char *name = xapi_struct_str(rec, "name_label", "");

    c->g->hosts++;
    if (!c->first_name || strcmp(name, c->first_name) < 0)
        c->first_name = name;
    if (str_eq(ref, c->master_ref)) {
        c->g->master = name;
        c->g->version =
            xapi_struct_str(xapi_struct_get(rec, "software_version"), "product_version", "");
    }
    return true;
}

static bool glance_vm(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct glance_ctx *c = ctx;

    (void)ref;
    if (!xapi_struct_bool(rec, "is_a_template", false) &&
        !xapi_struct_bool(rec, "is_a_snapshot", false) &&
        !xapi_struct_bool(rec, "is_control_domain", false) &&
        str_eq(xapi_struct_str(rec, "power_state", ""), "Running"))
        c->g->vms_running++;
    return true;
}

/* What GET /pools shows of a pool, from its records (see engine_int.h).  Pure. */
int engine_pool_glance(const struct xapi_records *src, struct eng_pool_glance *g)
{
    struct glance_ctx c = {.g = g};

    memset(g, 0, sizeof(*g));
    g->master = g->version = g->name_label = "";
    src->foreach (src->ctx, "pool", glance_pool, &c);
    if (!g->have_pool)
        return PP_ENOTFOUND;
    src->foreach (src->ctx, "host", glance_host, &c);
    src->foreach (src->ctx, "vm", glance_vm, &c);
    /* inv_pool_display_name's order: the pool's name, its master's, its first host's */
    if (!*g->name_label)
        g->name_label = *g->master ? g->master : c.first_name ? c.first_name : "";
    return 0;
}

static json_t *pool_json(struct eng_pool *p)
{
    json_t *o = json_object();
    struct eng_pool_glance g;
    struct xapi_records src;

    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "url", json_string(p->url));
    json_object_set_new(o, "username", json_string(p->username ? p->username : ""));
    json_object_set_new(o, "state", json_string(xapi_conn_state_name(p->state)));
    json_object_set_new(o, "connected", json_boolean(p->state == XAPI_CONN_READY));
    json_object_set_new(o, "error", p->error[0] ? json_string(p->error) : json_null());
    pool_json_untrusted(o, p);
    if (!p->client || !xapi_cache_ready(p->client))
        return o;
    /* read straight from the cache: no inventory (a fleet's took ~1 ms a pool of the engine
     * thread for each GET /pools, issue 17) */
    xapi_records_from_client(&src, p->client);
    if (engine_pool_glance(&src, &g) != 0)
        return o;
    json_object_set_new(o, "name_label", json_string(g.name_label));
    json_object_set_new(o, "master", json_string(g.master));
    json_object_set_new(o, "master_address", json_string(xapi_client_master(p->client)));
    json_object_set_new(o, "hosts", json_integer((json_int_t)g.hosts));
    json_object_set_new(o, "vms_running", json_integer((json_int_t)g.vms_running));
    json_object_set_new(o, "version", json_string(g.version));
    json_object_set_new(o, "ha_enabled", json_boolean(g.ha_enabled));
    json_object_set_new(o, "live_patching_disabled", json_boolean(g.live_patching_disabled));
    json_object_set_new(o, "repository", json_boolean(engine_pool_is_cdn(p)));
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

/* The fields the cache keeps of class cls, NULL when it keeps them all (see engine_int.h). */
const char *const *engine_cache_fields(const char *cls)
{
    return str_eq(cls, "vm")    ? vm_fields
           : str_eq(cls, "vbd") ? vbd_fields
           : str_eq(cls, "vdi") ? vdi_fields
                                : NULL;
}

static int pool_start_cache(struct eng_pool *p, struct err *e)
{
    static const char *const narrowed[] = {"vm", "vbd", "vdi", NULL};
    for (const char *const *cls = narrowed; *cls; cls++)
        if (xapi_cache_set_fields(p->client, *cls, engine_cache_fields(*cls), e) != 0)
            return e->code;
    return xapi_cache_start(p->client, engine_cache_classes, e);
}

/* A probe whose login went out / came back (engine_free retires those still out). */
static void probe_out(struct engine *eng, struct eng_pool *p)
{
    eng->probes = vec_grow_implied(eng->probes, eng->n_probes, sizeof(*eng->probes));
    eng->probes[eng->n_probes++] = p;
}

static void probe_back(struct engine *eng, struct eng_pool *p)
{
    for (size_t i = 0; i < eng->n_probes; i++)
        if (eng->probes[i] == p) {
            eng->probes[i] = eng->probes[--eng->n_probes];
            return;
        }
}

/* See engine_int.h. */
void engine_probes_retire(struct engine *eng)
{
    for (size_t i = 0; i < eng->n_probes; i++)
        engine_pool_retire(eng, eng->probes[i]);
}

static void pool_add_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct eng_req *r = ctx;
    struct req_pool_add *a = ENG_REQ_AS(struct req_pool_add, r);
    struct eng_pool *p = a->new_pool;
    struct engine *eng = p->eng;
    struct store_pool_spec spec = {0};
    const char *label = NULL;

    probe_back(eng, p);
    if (rc != 0) {
        r->err = *e;
        err_prefix(&r->err, "cannot log in to %s: ", a->pool.url);
        a->new_pool = NULL;
        engine_pool_retire(eng, p);
        engine_req_finish(eng, r, r->err.code ? r->err.code : rc);
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
                              a->pool.url, uuid, eng->pools[i]->name, eng->pools[i]->url);
            a->new_pool = NULL;
            engine_pool_retire(eng, p); /* uuid points into result, not into p: still valid */
            engine_req_finish(eng, r, rc2);
            return;
        }
    }
    if (!a->pool.name || !*a->pool.name) {
        if (!label || !*label) {
            a->new_pool = NULL;
            engine_pool_retire(eng, p);
            engine_req_finish(eng, r,
                              err_set(&r->err, PP_EINVAL,
                                      "the pool at %s has no name-label: give one with a name",
                                      a->pool.url));
            return;
        }
        free(p->name);
        p->name = xstrdup(label);
    }
    if (engine_find_pool(eng, p->name)) {
        a->new_pool = NULL;
        engine_req_finish(
            eng, r,
            err_set(&r->err, PP_EINVAL, "a pool named '%s' is already registered", p->name));
        engine_pool_retire(eng, p);
        return;
    }
    /* the registered pool gets a client that keeps reconnecting (a master reboot must not end
     * it); the probe goes */
    {
        struct eng_pool *np = pool_new(eng, p->name, a->pool.url, a->pool.username,
                                       a->pool.password, a->pool.ca_file, false, &r->err);
        a->new_pool = NULL;
        engine_pool_retire(eng, p);
        if (!np) {
            engine_req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
            return;
        }
        p = np;
    }
    spec.name = p->name;
    spec.master_url = a->pool.url;
    spec.username = a->pool.username;
    spec.password = a->pool.password;
    spec.ca_file = a->pool.ca_file;
    if (store_pool_add(eng->store, &spec, &p->id, &r->err) != 0) {
        a->new_pool = NULL;
        engine_pool_retire(eng, p);
        engine_req_finish(eng, r, r->err.code);
        return;
    }
    eng->pools = vec_grow_implied(eng->pools, eng->n_pools, sizeof(*eng->pools));
    eng->pools[eng->n_pools++] = p;
    eng->pub_gen++;
    a->new_pool = NULL;
    if (pool_start_cache(p, &r->err) != 0)
        log_warn(LOG_MOD, "pool %s: starting the object cache: %s", p->name, r->err.msg);
    r->out = pool_json(p);
    engine_req_finish(eng, r, 0);
}

/* R_POOL_ADD (engine thread): a probe login, then the pool registered; answered from its callback.
 */
void engine_handle_pool_add(struct engine *eng, struct eng_req *r)
{
    struct req_pool_add *a = ENG_REQ_AS(struct req_pool_add, r);
    struct eng_pool *p;

    if (a->pool.name && *a->pool.name && engine_find_pool(eng, a->pool.name)) {
        engine_req_finish(
            eng, r,
            err_set(&r->err, PP_EINVAL, "a pool named '%s' is already registered", a->pool.name));
        return;
    }
    for (size_t i = 0; i < eng->n_pools; i++) {
        if (strcmp(eng->pools[i]->url, a->pool.url) == 0) {
            engine_req_finish(eng, r,
                              err_set(&r->err, PP_EINVAL, "%s is already registered as pool '%s'",
                                      a->pool.url, eng->pools[i]->name));
            return;
        }
    }
    /* a probe: an unreachable URL fails now, and nothing keeps retrying (and registering the
     * pool later) after the user was told the add failed */
    p = pool_new(eng, a->pool.name, a->pool.url, a->pool.username, a->pool.password,
                 a->pool.ca_file, true, &r->err);
    if (!p) {
        engine_req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
        return;
    }
    /* the certificate the user confirmed (or the CA verified) is the URL host's pin before the
     * first byte of the login goes out */
    if (a->pool.fingerprint && xapi_client_trust(p->client, NULL, a->pool.fingerprint, &r->err)) {
        engine_pool_retire(eng, p);
        engine_req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
        return;
    }
    a->new_pool = p;
    if (xapi_call_async(p->client, "pool.get_all_records", xapi_value_new_array(), NULL,
                        pool_add_done, r, NULL, &r->err) != 0) {
        a->new_pool = NULL;
        engine_pool_retire(eng, p);
        engine_req_finish(eng, r, r->err.code ? r->err.code : PP_ETRANSPORT);
        return;
    }
    probe_out(eng, p);
}

/* R_POOL_REMOVE (engine thread): unregister the pool and retire its client. */
void engine_handle_pool_remove(struct engine *eng, struct eng_req *r)
{
    struct req_id *a = ENG_REQ_AS(struct req_id, r);
    struct eng_pool *p = engine_resolve_pool(eng, a->id, &r->err);

    if (!p) {
        engine_req_finish(eng, r, r->err.code);
        return;
    }
    if (store_pool_remove(eng->store, p->id, &r->err) != 0) {
        engine_req_finish(eng, r, r->err.code);
        return;
    }
    for (size_t i = 0; i < eng->n_pools; i++) {
        if (eng->pools[i] == p) {
            memmove(&eng->pools[i], &eng->pools[i + 1],
                    (eng->n_pools - i - 1) * sizeof(*eng->pools));
            eng->n_pools--;
            eng->pub_gen++;
            break;
        }
    }
    engine_pool_retire(eng, p);
    engine_req_finish(eng, r, 0);
}

/* Confirm a certificate of a pool and log in again (engine_pool_trust). */
void engine_handle_pool_trust(struct engine *eng, struct eng_req *r)
{
    struct req_pool_trust *a = ENG_REQ_AS(struct req_pool_trust, r);
    struct eng_pool *p = engine_resolve_pool(eng, a->name, &r->err);
    struct xapi_untrusted u;
    char host[256];
    int rc;

    if (!p) {
        engine_req_finish(eng, r, r->err.code);
        return;
    }
    bool waiting = xapi_client_untrusted(p->client, &u);
    rc = xapi_trust_check(waiting ? &u : NULL, a->host, a->fingerprint, host, &r->err);
    if (rc == 0)
        rc = xapi_client_trust(p->client, host, a->fingerprint, &r->err);
    if (rc == 0) {
        log_info(LOG_MOD, "pool %s: the certificate of %s was confirmed", p->name, host);
        r->out = pool_json(p);
    } else {
        err_prefix(&r->err, "pool %s: ", p->name);
    }
    engine_req_finish(eng, r, rc);
}

/* One pool's JSON, read from its cache (engine_int.h).  Engine thread. */
json_t *engine_pool_json(struct eng_pool *p)
{
    return pool_json(p);
}

/* Connect every registered pool (engine start). */
void engine_pools_load(struct engine *eng)
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
        eng->pub_gen++;
        if (pool_start_cache(p, &e) != 0)
            log_warn(LOG_MOD, "pool %s: %s", p->name, e.msg);
    }
    store_pool_list_cleanup(&l);
}

/* A pool of GET /pools's list still on its way to its objects: logging in, or logged in with
 * its objects not read yet.  failed_ends: a login round that already failed (its error set
 * while connecting) ends the way - the master is down, and the next round may be 30 s away. */
static bool pool_on_its_way(const json_t *p, bool failed_ends)
{
    const char *st = jsonx_str(p, "state", "");
    if (json_object_get(p, "name_label"))
        return false;
    if (failed_ends && str_eq(st, "connecting") && json_is_string(json_object_get(p, "error")))
        return false;
    return str_eq(st, "connecting") || str_eq(st, "ready") || str_eq(st, "idle");
}

/* See engine_int.h. */
json_t *engine_pools_wait_read(struct engine *eng, const char *name, bool failed_ends,
                               int64_t wait_ms)
{
    int64_t end = clock_mono_ms() + wait_ms;

    for (;;) {
        json_t *all = NULL, *p, *found = NULL;
        struct err e = {0};
        size_t i;
        bool waiting = false;
        if (engine_pools(eng, &all, &e) != 0)
            return NULL;
        json_array_foreach(json_object_get(all, "pools"), i, p)
        {
            if (name && !str_eq(jsonx_str(p, "name", ""), name))
                continue;
            found = p;
            waiting = waiting || pool_on_its_way(p, failed_ends);
        }
        json_t *ret = name && found ? json_incref(found) : NULL;
        json_decref(all);
        if (!waiting || clock_mono_ms() >= end)
            return ret;
        json_decref(ret);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/*
 * The pool just registered logs in again and reads its objects (the first event.from snapshot) a
 * moment later; a plan, a check or a rollout asked meanwhile finds it "connected, but its objects
 * are still being read".  So pool add answers once they are read, as XenCenter's Add Server
 * finishes with the pool's cache loaded: *out (the pool's object) is replaced by the published one
 * that has them (name_label ...), or left as it is after POOL_ADD_WAIT_MS or when the pool's
 * connection leaves connecting / ready (its state and error then say why).  Caller's thread.
 */
#define POOL_ADD_WAIT_MS 15000

static void pool_add_wait_objects(struct engine *eng, json_t **out)
{
    const char *name = json_string_value(json_object_get(*out, "name"));
    json_t *found = name ? engine_pools_wait_read(eng, name, false, POOL_ADD_WAIT_MS) : NULL;

    if (found && json_object_get(found, "name_label")) {
        json_decref(*out);
        *out = found;
    } else {
        json_decref(found);
    }
}

/* Register a pool (see engine.h).  Any thread but the engine's. */
int engine_pool_add(struct engine *eng, const struct engine_pool_spec *spec, json_t **out,
                    struct err *e)
{
    struct req_pool_add *r;

    if (!spec || !spec->url || !*spec->url)
        return err_set(e, PP_EINVAL, "pool: the master URL is required");
    if (!spec->username || !*spec->username)
        return err_set(e, PP_EINVAL, "pool: the user name is required");
    if (!spec->password)
        return err_set(e, PP_EINVAL, "pool: the password is required");
    r = ENG_REQ_NEW(struct req_pool_add, R_POOL_ADD);
    r->pool.name = xstrdup(spec->name);
    r->pool.url = xstrdup(spec->url);
    r->pool.username = xstrdup(spec->username);
    r->pool.password = xstrdup(spec->password);
    r->pool.ca_file = xstrdup(spec->ca_file);
    r->pool.fingerprint =
        spec->fingerprint && *spec->fingerprint ? xstrdup(spec->fingerprint) : NULL;
    int rc = engine_req_run(eng, &r->h, out, e);
    if (rc == 0 && out && *out)
        pool_add_wait_objects(eng, out);
    return rc;
}

/* Confirm a pool's certificate (see engine.h).  Any thread but the engine's. */
int engine_pool_trust(struct engine *eng, const char *name, const char *host,
                      const char *fingerprint, json_t **out, struct err *e)
{
    struct req_pool_trust *r;

    if (!name || !*name)
        return err_set(e, PP_EINVAL, "pool: give the pool's name");
    if (!fingerprint || !*fingerprint)
        return err_set(e, PP_EINVAL, "fingerprint: required (SHA256:AB:CD:...)");
    r = ENG_REQ_NEW(struct req_pool_trust, R_POOL_TRUST);
    r->name = xstrdup(name);
    r->host = host && *host ? xstrdup(host) : NULL;
    r->fingerprint = xstrdup(fingerprint);
    return engine_req_run(eng, &r->h, out, e);
}

/* Unregister a pool (see engine.h).  Any thread but the engine's. */
int engine_pool_remove(struct engine *eng, const char *name, struct err *e)
{
    struct req_id *r = ENG_REQ_NEW(struct req_id, R_POOL_REMOVE);
    r->id = xstrdup(name ? name : "");
    return engine_req_run(eng, &r->h, NULL, e);
}
