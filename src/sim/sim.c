/* SPDX-License-Identifier: MIT */
/*
 * sim.c - the simulator's public API (sim.h): construction from a scenario, the in-process
 * transport, uploads, virtual time, faults and the state document.  Each entry point takes the
 * sim's lock.
 */
#include "sim/sim.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "sim/internal.h"

#define SCENARIO_MAX_BYTES (64u * 1024 * 1024)
/* 2026-01-01T00:00:00Z: the virtual clock's default start. */
#define SIM_EPOCH_MS 1767225600000LL
/* Bytes of an upload kept for pool_update.introduce (update.xml lives at the start). */
#define VDI_HEAD_MAX (64 * 1024)

int sim_new_from_json(const json_t *scenario, const struct sim_options *o, struct sim **out,
                      struct err *e)
{
    struct err local;
    if (!e) {
        err_clear(&local);
        e = &local;
    }
    *out = NULL;
    struct sim *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    sim_hmap_init(&s->addrs);
    if (o && o->time_scale > 0) {
        s->clock = clock_scaled_new(o->time_scale);
    } else {
        s->clock = clock_virtual_new(o && o->start_ms ? o->start_ms : SIM_EPOCH_MS);
        s->virtual_clock = true;
    }
    int rc = sim_scenario_load(s, scenario, o, e);
    if (rc != 0) {
        err_prefix(e, "scenario: ");
        sim_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int sim_new_from_file(const char *path, const struct sim_options *o, struct sim **out,
                      struct err *e)
{
    json_t *j = NULL;
    *out = NULL;
    int rc = jsonx_load_file(path, SCENARIO_MAX_BYTES, JSONX_DEFAULT_MAX_DEPTH, &j, e);
    if (rc != 0)
        return rc;
    rc = sim_new_from_json(j, o, out, e);
    json_decref(j);
    if (rc != 0 && e)
        err_prefix(e, "%s: ", path);
    return rc;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nworlds; i++)
        sim_world_free(s->worlds[i]);
    free(s->worlds);
    for (size_t i = 0; i < s->nhosts; i++) {
        xapi_value_free(s->hosts[i]->pending_sw);
        json_decref(s->hosts[i]->xs8_applied);
        free(s->hosts[i]);
    }
    free(s->hosts);
    sim_hmap_cleanup(&s->addrs);
    vec_free(&s->watchers);
    sim_faults_free(s);
    sim_releases_free(s);
    free(s->heap);
    for (int i = 0; i < CL_NCLS; i++)
        xapi_value_free(s->templates[i]);
    free(s->user);
    free(s->password);
    for (size_t i = 0; i < s->nusers; i++) {
        free(s->users[i].name);
        free(s->users[i].password);
    }
    free(s->users);
    clock_free(s->clock);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct pp_clock *sim_clock(struct sim *s)
{
    return s->clock;
}

size_t sim_pool_count(struct sim *s)
{
    return s->nworlds;
}

const char *sim_pool_name(struct sim *s, size_t i)
{
    return i < s->nworlds ? s->worlds[i]->name : NULL;
}

void sim_pool_master_address(struct sim *s, size_t i, char *out, size_t n)
{
    pthread_mutex_lock(&s->mu);
    struct world *w = i < s->nworlds ? s->worlds[i] : NULL;
    str_lcpy(out, w && w->master ? sim_hx(w->master)->address : "", n);
    pthread_mutex_unlock(&s->mu);
}

size_t sim_host_count(struct sim *s)
{
    return s->nhosts;
}

const char *sim_host_address(struct sim *s, size_t i)
{
    return i < s->nhosts ? s->hosts[i]->address : NULL;
}

int sim_call(struct sim *s, const char *host_address, const char *method,
             const struct xapi_value *params, struct xapi_response *out, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    int rc = sim_dispatch(s, host_address, method, params, out, false, NULL, e);
    pthread_cond_broadcast(&s->cond); /* wake long-polls (HTTP) if this changed anything */
    sim_wake_watchers(s);             /* and other threads' in-process loops */
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* The HTTP server's entry (sim_http.c): may block (event.from, synchronous long calls). */
int sim_call_blocking(struct sim *s, const char *host_address, const char *method,
                      const struct xapi_value *params, struct xapi_response *out, bool *predispatch,
                      struct err *e)
{
    pthread_mutex_lock(&s->mu);
    int rc = sim_dispatch(s, host_address, method, params, out, true, predispatch, e);
    pthread_cond_broadcast(&s->cond);
    sim_wake_watchers(s); /* in-process clients' parked event.from may now see it */
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int inproc_call(void *ctx, const char *host_address, const char *method,
                       const struct xapi_value *params, struct xapi_response *out, struct err *e)
{
    return sim_call(ctx, host_address, method, params, out, e);
}

static int inproc_put(void *ctx, const char *host_address, const char *path_and_query,
                      const void *body, size_t len, struct err *e)
{
    return sim_put(ctx, host_address, path_and_query, body, len, e);
}

/* GET as the hosts' HTTP server answers it (xapi/inproc.h): only /updates is served. */
static int inproc_get(void *ctx, const char *host_address, const char *path_and_query,
                      struct buf *body, long *status, struct err *e)
{
    const char *q = strchr(path_and_query, '?');
    size_t plen = q ? (size_t)(q - path_and_query) : strlen(path_and_query);
    json_t *doc = NULL;
    struct err ge = {0};
    *status = 404;
    if (plen != strlen("/updates") || strncmp(path_and_query, "/updates", plen) != 0)
        return 0;
    int rc = sim_get_updates(ctx, host_address, q ? q + 1 : "", &doc, &ge);
    if (rc == PP_ETRANSPORT) {
        *e = ge;
        return rc;
    }
    *status = rc == 0                                        ? 200
              : rc == PP_ENOTFOUND                           ? 404
              : strcmp(ge.xapi_code, "SESSION_INVALID") == 0 ? 401
                                                             : 500;
    if (rc == 0)
        jsonx_dump(body, doc, 0);
    else
        buf_puts(body, ge.msg);
    json_decref(doc);
    return 0;
}

/* xapi's event.from batching (xapi/inproc.h read_delay_ms; sim_event_from_delay_ms): in-process
 * on the loop's clock, the one its timeout is counted on. */
static int64_t inproc_read_delay(void *ctx, const char *method, const struct xapi_value *params)
{
    (void)ctx;
    if (strcmp(method, "event.from") != 0 && strcmp(method, "event_from") != 0)
        return 0;
    return sim_event_from_delay_ms(xapi_array_get(params, 1));
}

/* Register or forget an in-process client's loop wake (xapi/inproc.h watch). */
static void inproc_watch(void *ctx, void (*wake)(void *arg), void *arg, bool on)
{
    struct sim *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (on) {
        vec_push(&s->watchers, ((struct sim_watcher){wake, arg}));
    } else {
        for (size_t i = 0; i < s->watchers.n; i++) {
            if (s->watchers.items[i].wake == wake && s->watchers.items[i].arg == arg) {
                vec_remove(&s->watchers, i);
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* The world's next scheduled change (xapi/inproc.h next_deadline). */
static int64_t inproc_next_deadline(void *ctx)
{
    int64_t t = sim_next_deadline(ctx);
    return t < 0 ? INT64_MAX : t;
}

/* Wake the watching loops (internal.h); s->mu held. */
void sim_wake_watchers(struct sim *s)
{
    for (size_t i = 0; i < s->watchers.n; i++)
        s->watchers.items[i].wake(s->watchers.items[i].arg);
}

void sim_inproc_handler(struct sim *s, struct xapi_inproc_handler *out)
{
    out->ctx = s;
    out->call = inproc_call;
    out->put = inproc_put;
    out->get = inproc_get;
    out->watch = inproc_watch;
    out->next_deadline = inproc_next_deadline;
    out->read_delay_ms = inproc_read_delay;
}

int64_t sim_next_deadline(struct sim *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t t = s->nheap ? s->heap[0].t : -1;
    pthread_mutex_unlock(&s->mu);
    return t;
}

void sim_run_until(struct sim *s, int64_t t_ms)
{
    pthread_mutex_lock(&s->mu);
    sim_run_due(s, t_ms);
    pthread_mutex_unlock(&s->mu);
}

int sim_fault_apply(struct sim *s, const json_t *fault, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    int rc = sim_fault_add(s, fault, "fault", e);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sim_upgrade_host(struct sim *s, const json_t *req, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    if (!s->virtual_clock)
        sim_run_due(s, sim_now(s));
    int rc = sim_upgrade_host_locked(s, req, e);
    pthread_cond_broadcast(&s->cond);
    sim_wake_watchers(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sim_set_media_url(struct sim *s, const char *base)
{
    pthread_mutex_lock(&s->mu);
    free(s->media_base);
    s->media_base = base ? xstrdup(base) : NULL;
    pthread_mutex_unlock(&s->mu);
}

json_t *sim_state_json(struct sim *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->virtual_clock)
        sim_run_due(s, sim_now(s));
    json_t *j = sim_state_json_locked(s);
    pthread_mutex_unlock(&s->mu);
    return j;
}

/* ---- uploads: PUT /import_raw_vdi ---- */

static void query_get(const char *q, const char *key, char *out, size_t outsz)
{
    size_t kl = strlen(key);
    out[0] = '\0';
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
            size_t vl = n - kl - 1 < outsz - 1 ? n - kl - 1 : outsz - 1;
            memcpy(out, q + kl + 1, vl);
            out[vl] = '\0';
            MHD_http_unescape(out); /* %XX in place; the result is never longer */
            return;
        }
        q = amp ? amp + 1 : NULL;
    }
}

static int xapi_fail(struct err *e, const char *code, const char *param)
{
    int rc = err_set(e, PP_EXAPI, "%s %s", code, param);
    if (e)
        str_lcpy(e->xapi_code, code, sizeof(e->xapi_code));
    return rc;
}

/* The upload with only the first head_len bytes of a total_len body (HTTP streams). */
int sim_put_locked(struct sim *s, const char *host_address, const char *path_and_query,
                   const void *head, size_t head_len, int64_t total_len, struct err *e)
{
    struct hostx *hx = sim_hmap_get(&s->addrs, host_address ? host_address : "");
    if (!hx || !hx->o || !hx->up)
        return err_set(e, PP_ETRANSPORT, "no reachable simulated host at %s",
                       host_address ? host_address : "(null)");
    struct world *w = hx->w;
    if (!s->virtual_clock)
        sim_run_due(s, sim_now(s));
    if (w->partitioned && w->cut == hx->o)
        return err_set(e, PP_ETRANSPORT, "host %s is partitioned", host_address);
    const char *q = strchr(path_and_query, '?');
    size_t plen = q ? (size_t)(q - path_and_query) : strlen(path_and_query);
    if (plen != strlen("/import_raw_vdi") || strncmp(path_and_query, "/import_raw_vdi", plen))
        return err_set(e, PP_ENOTFOUND, "no handler for %.*s", (int)plen, path_and_query);
    if (w->master != hx->o)
        return xapi_fail(e, "HOST_IS_SLAVE", w->master ? sim_hx(w->master)->address : "");
    char sref[96], srref[96], tref[96];
    query_get(q ? q + 1 : "", "session_id", sref, sizeof(sref));
    query_get(q ? q + 1 : "", "sr_id", srref, sizeof(srref));
    query_get(q ? q + 1 : "", "task_id", tref, sizeof(tref));
    struct session *se = sim_hmap_get(&w->sessions, sref);
    if (!se)
        return xapi_fail(e, "SESSION_INVALID", sref);
    struct obj *sr = srref[0] ? sim_obj_get_cls(w, srref, CL_SR) : NULL;
    if (!srref[0]) {
        sr = sim_obj_get_cls(w, sim_fstr(w->pool, "default_SR"), CL_SR);
    }
    if (!sr)
        return xapi_fail(e, "HANDLE_INVALID", srref[0] ? srref : "SR");
    struct obj *task = tref[0] ? sim_obj_get_cls(w, tref, CL_TASK) : NULL;
    if (tref[0] && !task)
        return xapi_fail(e, "HANDLE_INVALID", tref);
    int64_t avail = sim_fint(sr, "physical_size") - sim_fint(sr, "physical_utilisation");
    if (sim_fault_take(s, w, "sr_full", NULL, NULL, sr, NULL, NULL) || total_len > avail) {
        /* What xapi reports when the SR backend has no room (SR_BACKEND_FAILURE_44). */
        if (task && sim_task_pending(task))
            sim_task_fail_code(w, task, "SR_BACKEND_FAILURE_44", 3, "",
                               "There is insufficient space", "");
        return xapi_fail(e, "SR_BACKEND_FAILURE_44", "There is insufficient space");
    }
    struct obj *vdi = sim_obj_new(w, CL_VDI);
    struct vdix *vx = xcalloc(1, sizeof(*vx));
    vx->head_len = head_len < VDI_HEAD_MAX ? head_len : VDI_HEAD_MAX;
    vx->head = xmalloc(vx->head_len + 1);
    memcpy(vx->head, head, vx->head_len);
    vdi->x = vx;
    sim_fset_str(w, vdi, "name_label", "update image");
    sim_fset_str(w, vdi, "type", "user");
    sim_fset_int(w, vdi, "virtual_size", total_len);
    sim_fset_int(w, vdi, "physical_utilisation", total_len);
    sim_fset_str(w, vdi, "SR", sr->ref);
    sim_fset_add(w, sr, "VDIs", vdi->ref);
    sim_fset_int(w, sr, "physical_utilisation", sim_fint(sr, "physical_utilisation") + total_len);
    sim_fset_int(w, sr, "virtual_allocation", sim_fint(sr, "virtual_allocation") + total_len);
    s->n_uploads++;
    if (task) {
        int64_t d = (int64_t)((double)total_len * 1000.0 / s->tm.upload_bps);
        sim_sched(s, w, sim_now(s) + d, ACT_UPLOAD_DONE, task->ref, vdi->ref, NULL, 0, 0);
        if (s->virtual_clock && d == 0)
            sim_run_due(s, sim_now(s));
    }
    pthread_cond_broadcast(&s->cond);
    return 0;
}

/*
 * A PUT /import_raw_vdi whose body ended before Content-Length (the client's connection dropped):
 * xapi's handler (ocaml/xapi/import_raw_vdi.ml) catches the read error and fails the upload's task
 * with INTERNAL_ERROR ["Caught exception: ..."], so a client waiting on the task learns it.  No
 * VDI is left (docs/simulator.md).  received: bytes that arrived.
 */
void sim_put_cut_short(struct sim *s, const char *host_address, const char *path_and_query,
                       int64_t received)
{
    pthread_mutex_lock(&s->mu);
    struct hostx *hx = sim_hmap_get(&s->addrs, host_address ? host_address : "");
    const char *q = path_and_query ? strchr(path_and_query, '?') : NULL;
    if (hx && hx->o && q) {
        char tref[96];
        query_get(q + 1, "task_id", tref, sizeof(tref));
        struct obj *task = tref[0] ? sim_obj_get_cls(hx->w, tref, CL_TASK) : NULL;
        if (sim_task_pending(task)) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Caught exception: End_of_file (after %lld bytes)",
                     (long long)received);
            sim_task_fail_code(hx->w, task, "INTERNAL_ERROR", 1, msg);
            log_info("sim", "upload to %s cut short after %lld bytes: task failed", host_address,
                     (long long)received);
        }
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

int sim_get_updates(struct sim *s, const char *host_address, const char *query, json_t **out,
                    struct err *e)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    if (!s->virtual_clock)
        sim_run_due(s, sim_now(s));
    struct hostx *hx = sim_hmap_get(&s->addrs, host_address ? host_address : "");
    int rc = 0;
    if (!hx || !hx->o || !hx->up || (hx->w->partitioned && hx->w->cut == hx->o)) {
        rc = err_set(e, PP_ETRANSPORT, "no reachable simulated host at %s",
                     host_address ? host_address : "(null)");
    } else if (hx->w->master != hx->o) {
        rc = xapi_fail(e, "HOST_IS_SLAVE", sim_hx(hx->w->master)->address);
    } else {
        char sref[96], refs[4096];
        query_get(query, "session_id", sref, sizeof(sref));
        query_get(query, "host_refs", refs, sizeof(refs));
        if (!sim_hmap_get(&hx->w->sessions, sref))
            rc = xapi_fail(e, "SESSION_INVALID", sref);
        else if (!(*out = sim_xs8_updates_json(hx->w, refs[0] ? refs : NULL)))
            rc = err_set(e, PP_ENOTFOUND, "no repository is enabled in this pool");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sim_put(struct sim *s, const char *host_address, const char *path_and_query, const void *body,
            size_t len, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    int rc = sim_put_locked(s, host_address, path_and_query, body, len, (int64_t)len, e);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* See sim.h. */
int sim_host_certificate_set(struct sim *s, const char *address, const char *fingerprint,
                             struct err *e)
{
    pthread_mutex_lock(&s->mu);
    struct hostx *hx = sim_hmap_get(&s->addrs, address ? address : "");
    if (!hx || !hx->o) {
        pthread_mutex_unlock(&s->mu);
        return err_set(e, PP_ENOTFOUND, "no simulated host at %s", address ? address : "");
    }
    struct world *w = hx->w;
    struct obj *cert = NULL;
    for (struct obj *o = w->chead[CL_CERTIFICATE]; o && !cert; o = o->cnext)
        if (!o->deleted && str_eq(sim_fstr(o, "host"), hx->o->ref) &&
            str_eq(sim_fstr(o, "type"), "host"))
            cert = o;
    if (!cert) {
        int64_t now = sim_now(s);
        cert = sim_obj_new(w, CL_CERTIFICATE);
        sim_fset_str(w, cert, "type", "host");
        sim_fset_str(w, cert, "host", hx->o->ref);
        sim_fset_dt(w, cert, "not_before", now - 86400000LL);
        sim_fset_dt(w, cert, "not_after", now + 3650LL * 86400000LL);
        sim_fset_add(w, hx->o, "certificates", cert->ref);
    }
    sim_fset_str(w, cert, "fingerprint", fingerprint);
    pthread_cond_broadcast(&s->cond); /* event.from waiters see the change */
    sim_wake_watchers(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}
