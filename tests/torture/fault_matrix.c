/* SPDX-License-Identifier: MIT */
/*
 * fault_matrix.c - issue 12's fault matrix in-process on the simulator's virtual clock
 * (tests/unit/exec_env.c): for each cell of tests/torture/fault_cells.json (a simulator fault, or
 * a kill of the executor / a Cancel, at one step of a rollout of the pool "prod" of
 * scenarios/demo.json), the rollout must end in the cell's named state with its error code; the
 * pool as the simulator holds it must agree with the rollout's report; then, the fault cleared,
 * Retry or Cancel must end done or cancelled with the pool clean: every VM that ran runs exactly
 * once and keeps its power state, no host disabled or down, HA and CDs as before, no image VDI
 * or un-applied pool_update left.  Known failures ("xfail") must still fail.
 *
 *   fault_matrix [--cells FILE] [--scenario FILE] [--only N] [--doc FILE] [--verbose]
 *
 * Prints one line per cell, "cell N<TAB>fault<TAB>step<TAB>then<TAB>want<TAB>result<TAB>verdict",
 * then "fault-matrix: C cells, P pass, X known failures, F failures".  With --doc, the cells'
 * in-process column of the doc's generated table (tools/fault-table.sh) must equal this run's.
 * Deterministic (virtual clock, fixed seed).  Exit 0 when no cell failed or passed unexpectedly.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "exec_env.h"
#include "sim/fileservice.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define MAX_TURNS   400000L
#define SCEN_POOL   "prod"
#define OLD_BUILD   "release/yangtze/master/58"
#define IMAGE_BUILD "release/yangtze/master/59"

static bool verbose;
static json_t *uuid_names; /* update uuid -> name_label, from the scenario's vendor patches */

/* ---------------------------------------------------------------- the pool, from the sim */

/* One XAPI call straight to the simulator's model (never through the executor's clients). */
static json_t *sim_rpc(struct sim *s, const char *method, const char *session, const char *arg)
{
    char master[64];
    sim_pool_master_address(s, 0, master, sizeof(master));
    struct xapi_value *p = xapi_value_new_array();
    if (session)
        xapi_array_append_string(p, session);
    if (arg)
        xapi_array_append_string(p, arg);
    if (!session) {
        xapi_array_append_string(p, "root");
        xapi_array_append_string(p, "xenroot");
    }
    struct xapi_response r = {0};
    struct err e = {0};
    json_t *out = NULL;
    if (sim_call(s, master, method, p, &r, &e) == 0 && r.ok)
        out = xapi_value_to_json(r.value);
    xapi_response_cleanup(&r);
    xapi_value_free(p);
    return out;
}

/*
 * The pool as the simulator holds it: {"ha", "hosts": {name: {enabled, live, emergency,
 * updates, reboot_pending, build}}, "vms": {name: power_state}, "resident": {name: count},
 * "cds": {vbd uuid: empty}, "vdis": N, "updates": {name_label: hosts applied}}.
 */
static json_t *pool_facts(struct sim *s)
{
    json_t *st = sim_state_json(s);
    json_t *f = json_object();
    const json_t *p = json_array_get(json_object_get(st, "pools"), 0);
    json_object_set(f, "ha", json_object_get(p, "ha_enabled"));
    json_t *hosts = json_object(), *res = json_object();
    const json_t *hs = json_object_get(p, "hosts");
    for (size_t i = 0; i < json_array_size(hs); i++) {
        const json_t *h = json_array_get(hs, i);
        json_object_set_new(
            hosts, json_string_value(json_object_get(h, "name")),
            json_pack("{s:O, s:O, s:O, s:O, s:b, s:O}", "enabled", json_object_get(h, "enabled"),
                      "live", json_object_get(h, "live"), "emergency",
                      json_object_get(h, "emergency"), "updates", json_object_get(h, "updates"),
                      "reboot_pending",
                      json_array_size(json_object_get(h, "updates_requiring_reboot")) > 0, "build",
                      json_object_get(h, "build_number")));
        const json_t *rv = json_object_get(h, "resident_vms");
        for (size_t k = 0; k < json_array_size(rv); k++) {
            const char *vm = json_string_value(json_array_get(rv, k));
            json_object_set_new(res, vm,
                                json_integer(json_integer_value(json_object_get(res, vm)) + 1));
        }
    }
    json_object_set_new(f, "hosts", hosts);
    json_object_set_new(f, "resident", res);
    json_decref(st);
    json_t *login = sim_rpc(s, "session.login_with_password", NULL, NULL);
    const char *sess = json_string_value(login);
    json_t *vms = json_object(), *cds = json_object(), *ups = json_object();
    json_t *r = sim_rpc(s, "VM.get_all_records", sess, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v)
    {
        if (!json_is_true(json_object_get(v, "is_control_domain")) &&
            !json_is_true(json_object_get(v, "is_a_template")) &&
            !json_is_true(json_object_get(v, "is_a_snapshot")))
            json_object_set(vms, json_string_value(json_object_get(v, "name_label")),
                            json_object_get(v, "power_state"));
    }
    json_decref(r);
    r = sim_rpc(s, "VBD.get_all_records", sess, NULL);
    json_object_foreach(r, k, v) if (str_eq(json_string_value(json_object_get(v, "type")), "CD"))
        json_object_set(cds, json_string_value(json_object_get(v, "uuid")),
                        json_object_get(v, "empty"));
    json_decref(r);
    r = sim_rpc(s, "VDI.get_all_records", sess, NULL);
    json_object_set_new(f, "vdis", json_integer((json_int_t)json_object_size(r)));
    json_decref(r);
    r = sim_rpc(s, "pool_update.get_all_records", sess, NULL);
    json_object_foreach(r, k, v)
        json_object_set_new(ups, json_string_value(json_object_get(v, "name_label")),
                            json_integer((json_int_t)json_array_size(json_object_get(v, "hosts"))));
    json_decref(r);
    json_decref(login);
    json_object_set_new(f, "vms", vms);
    json_object_set_new(f, "cds", cds);
    json_object_set_new(f, "updates", ups);
    return f;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---------------------------------------------------------------- checks */

struct verdict {
    char msg[1024];
    size_t n;
};

static void bad(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct verdict *v, const char *fmt, ...)
{
    if (v->n + 4 >= sizeof(v->msg))
        return;
    if (v->n)
        v->n += (size_t)snprintf(v->msg + v->n, sizeof(v->msg) - v->n, "; ");
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(v->msg + v->n, sizeof(v->msg) - v->n, fmt, ap);
    va_end(ap);
    v->n += w > 0 ? (size_t)w : 0;
    if (v->n >= sizeof(v->msg))
        v->n = sizeof(v->msg) - 1;
}

static bool in_array(const json_t *a, const char *s)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (str_eq(json_string_value(json_array_get(a, i)), s))
            return true;
    return false;
}

/* A finding of the report names this object (exec's verified end states: HOST_NOT_LIVE...),
 * with this code when code is not NULL. */
static bool named_in_findings(const json_t *ro, const char *object, const char *code)
{
    const json_t *f = json_object_get(ro, "findings");
    for (size_t i = 0; i < json_array_size(f); i++)
        if (str_eq(jstr(json_array_get(f, i), "object"), object) &&
            (!code || str_eq(jstr(json_array_get(f, i), "code"), code)))
            return true;
    return false;
}

/* The host record lists update un (by name or uuid) as unconfirmed (an apply without an
 * answer: it may have taken effect). */
static bool unconfirmed_has(const json_t *h, const char *un)
{
    const json_t *a = json_object_get(h, "updates_unconfirmed");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *uu = jstr(json_array_get(a, i), "uuid");
        const char *n = json_string_value(json_object_get(uuid_names, uu ? uu : ""));
        if (str_eq(n ? n : uu ? uu : "", un))
            return true;
    }
    return false;
}

/* The rollout's report against the pool: each host's applied updates are on the host (and every
 * update the host gained is reported), a host reported done is enabled, live, on the image's
 * build and without a pending reboot, a reboot_pending the report states is the pool's. */
static void check_report(const json_t *ro, const json_t *before, const json_t *now,
                         struct verdict *v)
{
    const char *when = jstr(ro, "state") ? jstr(ro, "state") : "?";
    /* a cancel that failed names what is left (exec's verified end states) */
    if (str_eq(when, "cancel_failed") && json_array_size(json_object_get(ro, "findings")) == 0)
        bad(v, "cancel_failed without findings naming what is left");
    const json_t *hs = json_object_get(json_array_get(json_object_get(ro, "pools"), 0), "hosts");
    for (size_t i = 0; i < json_array_size(hs); i++) {
        const json_t *h = json_array_get(hs, i);
        const char *hn = json_string_value(json_object_get(h, "name"));
        const json_t *ph = json_object_get(json_object_get(now, "hosts"), hn);
        const json_t *bh = json_object_get(json_object_get(before, "hosts"), hn);
        const json_t *ua = json_object_get(h, "updates_applied");
        if (verbose) {
            char *d = json_dumps(h, JSON_COMPACT);
            fprintf(stderr, "  report %s\n", d);
            free(d);
        }
        const json_t *pu = json_object_get(ph, "updates");
        json_t *names = json_array(); /* the report's, by uuid (its name may be null) */
        for (size_t k = 0; k < json_array_size(ua); k++) {
            const char *uu = jstr(json_array_get(ua, k), "uuid");
            const char *un = json_string_value(json_object_get(uuid_names, uu ? uu : ""));
            json_array_append_new(names, json_string(un ? un : uu ? uu : "?"));
            if (!in_array(pu, un ? un : uu ? uu : "?"))
                bad(v, "%s: report: %s applied on %s, the pool says not", when, un ? un : uu, hn);
        }
        for (size_t k = 0; k < json_array_size(pu); k++) {
            const char *un = json_string_value(json_array_get(pu, k));
            /* an apply that failed without an answer is reported unconfirmed */
            bool reported = in_array(names, un) || unconfirmed_has(h, un);
            if (!in_array(json_object_get(bh, "updates"), un) && !reported)
                bad(v, "%s: pool: %s has %s, the report does not say so", when, hn, un);
        }
        json_decref(names);
        /* never done with a reboot pending: a live patch that did not take is rebooted by the
         * rollout (a second re-plan with the fixes the reboot needs) */
        if (str_eq(when, "done") && json_is_true(json_object_get(ph, "reboot_pending")))
            bad(v, "done: %s still needs its reboot", hn);
        const json_t *rp = json_object_get(h, "reboot_pending");
        if (json_is_boolean(rp) && !str_eq(when, "halted") &&
            json_is_true(rp) != json_is_true(json_object_get(ph, "reboot_pending")))
            bad(v, "%s: report: %s reboot_pending %s, the pool %s", when, hn,
                json_is_true(rp) ? "true" : "false",
                json_is_true(json_object_get(ph, "reboot_pending")) ? "true" : "false");
        if (!str_eq(json_string_value(json_object_get(h, "state")), "done"))
            continue;
        if ((!json_is_true(json_object_get(ph, "enabled")) ||
             !json_is_true(json_object_get(ph, "live"))) &&
            !named_in_findings(ro, hn, NULL))
            bad(v, "%s: report: %s done, the pool has it %s", when, hn,
                json_is_true(json_object_get(ph, "live")) ? "disabled" : "not live");
        if (json_is_true(json_object_get(ph, "reboot_pending")))
            bad(v, "%s: report: %s done, the pool says it still needs its reboot", when, hn);
        const json_t *pred = json_object_get(h, "predicted");
        if (json_is_true(json_object_get(pred, "reboot")) &&
            str_eq(json_string_value(json_object_get(ph, "build")), OLD_BUILD))
            bad(v, "%s: report: %s done, the pool has it on the old build", when, hn);
    }
}

/* The pool clean after a final done / cancelled: against the facts before the rollout. */
static void check_clean(const json_t *before, const json_t *now, struct verdict *v)
{
    if (!json_equal(json_object_get(before, "ha"), json_object_get(now, "ha")))
        bad(v, "HA not as before");
    const char *k;
    json_t *x;
    json_object_foreach(json_object_get(now, "hosts"), k, x)
    {
        if (!json_is_true(json_object_get(x, "enabled")) ||
            !json_is_true(json_object_get(x, "live")) ||
            json_is_true(json_object_get(x, "emergency")))
            bad(v, "host %s left %s", k,
                !json_is_true(json_object_get(x, "live"))       ? "not live"
                : json_is_true(json_object_get(x, "emergency")) ? "in emergency mode"
                                                                : "disabled");
    }
    json_object_foreach(json_object_get(before, "vms"), k, x)
    {
        const json_t *p = json_object_get(json_object_get(now, "vms"), k);
        if (!json_equal(x, p))
            bad(v, "VM %s %s, was %s", k, json_string_value(p), json_string_value(x));
    }
    json_object_foreach(json_object_get(now, "resident"), k, x) if (json_integer_value(x) != 1)
        bad(v, "VM %s resident %lld times", k, (long long)json_integer_value(x));
    if (!json_equal(json_object_get(before, "cds"), json_object_get(now, "cds")))
        bad(v, "CD drives not as before");
    if (json_integer_value(json_object_get(now, "vdis")) >
        json_integer_value(json_object_get(before, "vdis")))
        bad(v, "%lld VDIs, %lld before (image left on the SR)",
            (long long)json_integer_value(json_object_get(now, "vdis")),
            (long long)json_integer_value(json_object_get(before, "vdis")));
    json_object_foreach(json_object_get(now, "updates"), k, x)
    {
        /* an update some host has stays (xapi refuses to destroy it: UPDATE_IS_APPLIED) */
        bool was = json_object_get(json_object_get(before, "updates"), k) != NULL;
        if (!was && json_integer_value(x) == 0)
            bad(v, "pool_update %s left (%lld hosts)", k, (long long)json_integer_value(x));
    }
}

/* ---------------------------------------------------------------- one cell */

struct cell {
    const json_t *j;
    const char *fault, *step, *then, *want, *code, *at, *at_host, *xfail;
    bool kill, cancel, livepatch_only;
};

struct world {
    const json_t *scenario;
    const char *catalog;
    struct tenv *t;
    char *id;
    struct exec_file files[16];
    size_t nf;
};

/* The journal kind of a matrix step, and whether it is a migration back. */
static const char *journal_kind(const char *step, bool *back)
{
    static const char *const map[][2] = {
        {"resolve", "resolve"},   {"upload", "upload"},    {"introduce", "introduce"},
        {"precheck", "precheck"}, {"evacuate", "migrate"}, {"apply", "apply"},
        {"reboot", "reboot"},     {"return", "migrate"},   {"restore", "undo"}};
    *back = str_eq(step, "return");
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (str_eq(map[i][0], step))
            return map[i][1];
    return NULL;
}

/* A step of the cell's kind (and host) has its intent journaled. */
static bool reached(struct world *w, const struct cell *c)
{
    bool back = false;
    const char *kind = journal_kind(c->at, &back);
    struct store_step_list l = {0};
    bool hit = false;
    if (!kind || store_steps_list(w->t->store, w->id, NULL, &l, NULL) != 0)
        return false;
    for (size_t i = 0; i < l.n && !hit; i++) {
        const struct store_step *s = &l.items[i];
        if (s->state == STORE_STEP_PENDING || !str_eq(s->kind, kind))
            continue;
        json_t *p = json_loads(s->params_json ? s->params_json : "{}", 0, NULL);
        hit = json_is_true(json_object_get(p, "back")) == back &&
              (!c->at_host || str_eq(jstr(p, "host_name"), c->at_host));
        json_decref(p);
    }
    store_step_list_cleanup(&l);
    return hit;
}

static enum store_rollout_state ro_state(struct world *w)
{
    struct store_rollout ro = {0};
    store_rollout_get(w->t->store, w->id, &ro, NULL);
    enum store_rollout_state st = ro.state;
    store_rollout_cleanup(&ro);
    return st;
}

static int crash_resume(struct world *w)
{
    struct err e = {0};
    tenv_crash(w->t);
    if (tenv_start(w->t, &e) != 0 || exec_resume_all(w->t->x, &e) != 0) {
        fprintf(stderr, "fault_matrix: resume: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* Drive until the rollout leaves running / cancelling; act (kill, cancel) once when the cell's
 * step is reached.  acted: in/out. */
static int drive(struct world *w, const struct cell *c, bool *acted)
{
    int wait_turns = -1, idle = 0;
    for (long turn = 0; turn < MAX_TURNS; turn++) {
        exec_tick(w->t->x);
        if (!*acted && c->at && wait_turns < 0 && reached(w, c))
            wait_turns = c->cancel ? 3 : 0;
        if (wait_turns == 0 && !*acted) {
            struct err e = {0};
            *acted = true;
            if (c->cancel && exec_rollout_cancel(w->t->x, w->id, &e) != 0) {
                fprintf(stderr, "fault_matrix: cancel: %s\n", e.msg);
                return -1;
            }
            if (c->kill && crash_resume(w) != 0)
                return -1;
            continue;
        }
        if (wait_turns > 0)
            wait_turns--;
        int n = xapi_loop_run(w->t->loop, 0);
        enum store_rollout_state st = ro_state(w);
        if (st != STORE_ROLLOUT_RUNNING && st != STORE_ROLLOUT_CANCELLING &&
            st != STORE_ROLLOUT_PLANNED)
            return 0;
        idle = n < 0 && sim_next_deadline(w->t->sim) < 0 ? idle + 1 : 0;
        if (idle > 1000)
            return 0; /* nothing can move: the state stays as it is */
    }
    return 0;
}

/* Update images of the vendor's patches; a reboot update also moves the build number, so a host
 * that returns on the old version shows it. */
static int write_images(struct world *w)
{
    const json_t *patches = json_object_get(json_object_get(w->scenario, "vendor"), "patches");
    for (size_t i = 0; i < json_array_size(patches) && w->nf < 16; i++) {
        const json_t *p = json_array_get(patches, i);
        const char *g = jstr(p, "uuid");
        bool reboot = in_array(json_object_get(p, "after_apply_guidance"), "restartHost");
        char *img = xasprintf(
            "<?xml version=\"1.0\"?>\n<update uuid=\"%s\" name-label=\"%s\" "
            "name-description=\"fault matrix\" version=\"1.0\" installation-size=\"1048576\" "
            "after-apply-guidance=\"%s\" livepatch=\"%s\"%s/>\n",
            g, jstr(p, "name_label"), reboot ? "restartHost" : "restartXAPI",
            json_is_true(json_object_get(p, "livepatch")) ? "true" : "false",
            reboot ? " build-number=\"" IMAGE_BUILD "\"" : "");
        char fn[32];
        snprintf(fn, sizeof(fn), "u%zu.img", w->nf);
        const char *path = tenv_write(w->t, fn, img, strlen(img));
        free(img);
        if (!path)
            return -1;
        w->files[w->nf].uuid = g;
        w->files[w->nf].path = xstrdup(path);
        w->nf++;
    }
    return 0;
}

#define LP_UUID "c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03" /* XS82ECU1003, the live patch */

static int start(struct world *w, const struct cell *c, struct err *e)
{
    struct plan_opts po;
    plan_opts_init(&po);
    static const char *const lp[] = {LP_UUID};
    if (c->livepatch_only) {
        po.mode = PLAN_MODE_SELECTED;
        po.selected = lp;
        po.n_selected = 1;
    }
    struct exec_pool_req pr = {.pool = SCEN_POOL, .opts = &po};
    struct exec_request req = {.pools = &pr, .n_pools = 1, .files = w->files, .n_files = w->nf};
    return exec_rollout_start(w->t->x, &req, &w->id, e);
}

static int sim_fault(struct world *w, const json_t *f)
{
    struct err e = {0};
    if (sim_fault_apply(w->t->sim, f, &e) != 0) {
        fprintf(stderr, "fault_matrix: fault %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* --verbose: the journal, to see what a failing cell did. */
static void dump_journal(struct world *w)
{
    struct store_step_list l = {0};
    if (!verbose || store_steps_list(w->t->store, w->id, NULL, &l, NULL) != 0)
        return;
    for (size_t i = 0; i < l.n; i++)
        fprintf(stderr, "  %3lld %-10s %-8s %s %s%s\n", (long long)l.items[i].seq, l.items[i].kind,
                store_step_state_name(l.items[i].state), l.items[i].params_json,
                l.items[i].error ? "error: " : "", l.items[i].error ? l.items[i].error : "");
    store_step_list_cleanup(&l);
}

/* Outcome of a phase: "state" or "state CODE". */
static void outcome(struct world *w, json_t **ro, char *out, size_t n)
{
    *ro = NULL;
    dump_journal(w);
    exec_rollout_json(w->t->x, w->id, ro, NULL);
    if (verbose) {
        char *d = json_dumps(json_object_get(*ro, "findings"), JSON_COMPACT);
        fprintf(stderr, "  findings %s\n", d ? d : "null");
        free(d);
    }
    const json_t *err = json_object_get(*ro, "error");
    const char *code = jstr(err, "code");
    snprintf(out, n, "%s%s%s", jstr(*ro, "state") ? jstr(*ro, "state") : "?", code ? " " : "",
             code ? code : "");
}

/* Run one cell; *result the cell's outcome ("halted CODE -> retry -> done"), v its failures. */
static int run_cell(const struct cell *c, const char *scenario_path, struct world *w, char *result,
                    size_t rn, struct verdict *v)
{
    struct err e = {0};
    bool acted = false;
    json_t *ro = NULL, *before = NULL, *now = NULL;
    char o1[160], o2[160] = "-";
    int rc = -1;
    (void)scenario_path;
    w->t = tenv_new(w->scenario, w->catalog, &e);
    if (!w->t || write_images(w) != 0 || tenv_start(w->t, &e) != 0)
        goto out;
    w->t->quiet = !verbose;
    w->t->env.host_return_timeout_ms = 20 * 60 * 1000;
    before = pool_facts(w->t->sim);
    if (json_object_get(c->j, "sim") && sim_fault(w, json_object_get(c->j, "sim")) != 0)
        goto out;
    if (start(w, c, &e) != 0) {
        fprintf(stderr, "fault_matrix: start: %s\n", e.msg);
        goto out;
    }
    if (drive(w, c, &acted) != 0)
        goto out;
    outcome(w, &ro, o1, sizeof(o1));
    if (c->at && !acted)
        bad(v, "the step %s was never reached", c->at);
    char st[32]; /* ro is replaced in the second phase */
    str_lcpy(st, jstr(ro, "state") ? jstr(ro, "state") : "?", sizeof(st));
    if (!str_eq(st, c->want))
        bad(v, "ended %s, want %s", o1, c->want);
    else if (c->code && !str_eq(jstr(json_object_get(ro, "error"), "code"), c->code))
        bad(v, "ended %s, want code %s", o1, c->code);
    if (str_eq(st, "halted") && !jstr(json_object_get(ro, "error"), "code"))
        bad(v, "halted without an error code");
    now = pool_facts(w->t->sim);
    check_report(ro, before, now, v);
    if (str_eq(st, "done") || str_eq(st, "cancelled"))
        check_clean(before, now, v);
    json_decref(now);
    now = NULL;
    if (!str_eq(st, "done") && !str_eq(st, "cancelled")) {
        /* the fault cleared (a stuck host boots again), then Retry or Cancel */
        json_t *clr = json_pack("{s:s}", "type", "clear");
        sim_fault(w, clr);
        json_decref(clr);
        bool cancel = str_eq(c->then, "cancel") && !str_eq(st, "cancel_failed");
        int r2 = cancel ? exec_rollout_cancel(w->t->x, w->id, &e)
                        : exec_rollout_retry(w->t->x, w->id, &e);
        if (r2 != 0)
            bad(v, "%s refused: %s", cancel ? "cancel" : "retry", e.msg);
        struct cell c2 = {.j = c->j};
        bool a2 = true;
        json_decref(ro);
        if (drive(w, &c2, &a2) != 0)
            goto out;
        outcome(w, &ro, o2, sizeof(o2));
        const char *want2 = cancel || str_eq(st, "cancel_failed") ? "cancelled" : "done";
        if (!str_eq(jstr(ro, "state"), want2))
            bad(v, "after %s: %s, want %s", cancel ? "cancel" : "retry", o2, want2);
        now = pool_facts(w->t->sim);
        check_report(ro, before, now, v);
        check_clean(before, now, v);
        snprintf(result, rn, "%s → %s → %s", o1, cancel ? "cancel" : "retry", o2);
    } else {
        snprintf(result, rn, "%s", o1);
    }
    rc = 0;
out:
    if (rc != 0 && !v->n)
        bad(v, "could not run: %s", e.msg[0] ? e.msg : "see stderr");
    json_decref(ro);
    json_decref(before);
    json_decref(now);
    free(w->id);
    w->id = NULL;
    for (size_t i = 0; i < w->nf; i++)
        free((char *)w->files[i].path);
    w->nf = 0;
    tenv_free(w->t);
    w->t = NULL;
    return rc;
}

/* ---------------------------------------------------------------- main */

static void cell_of(const json_t *j, struct cell *c)
{
    memset(c, 0, sizeof(*c));
    c->j = j;
    c->fault = jstr(j, "fault");
    c->step = jstr(j, "step");
    c->then = jstr(j, "then") ? jstr(j, "then") : "-";
    c->want = jstr(j, "want");
    c->code = jstr(j, "code");
    c->at = jstr(j, "at");
    c->at_host = jstr(j, "at_host");
    c->xfail = jstr(j, "xfail") ? jstr(j, "xfail") : jstr(j, "xfail_inproc");
    c->kill = json_is_true(json_object_get(j, "kill"));
    c->cancel = json_is_true(json_object_get(j, "cancel"));
    c->livepatch_only = json_is_true(json_object_get(j, "livepatch_only"));
}

/* The scenario: demo.json's pool "prod" and its vendor section. */
static json_t *load_scenario(const char *path, char **catalog)
{
    json_error_t je;
    json_t *sc = json_load_file(path, 0, &je);
    if (!sc) {
        fprintf(stderr, "fault_matrix: %s: %s\n", path, je.text);
        return NULL;
    }
    json_t *keep = json_array();
    const json_t *pools = json_object_get(sc, "pools");
    for (size_t i = 0; i < json_array_size(pools); i++)
        if (str_eq(jstr(json_array_get(pools, i), "name"), SCEN_POOL))
            json_array_append(keep, json_array_get(pools, i));
    json_object_set_new(sc, "pools", keep);
    struct sim_fileservice *fs = NULL;
    struct err e = {0};
    if (json_array_size(keep) != 1 ||
        sim_fileservice_new(json_object_get(sc, "vendor"), "127.0.0.1", 0, &fs, &e) != 0) {
        fprintf(stderr, "fault_matrix: %s: no pool %s or vendor section: %s\n", path, SCEN_POOL,
                e.msg);
        json_decref(sc);
        return NULL;
    }
    const json_t *patches = json_object_get(json_object_get(sc, "vendor"), "patches");
    uuid_names = json_object();
    for (size_t i = 0; i < json_array_size(patches); i++)
        json_object_set_new(uuid_names, jstr(json_array_get(patches, i), "uuid"),
                            json_string(jstr(json_array_get(patches, i), "name_label")));
    size_t n = 0;
    const char *xml = sim_fileservice_catalog(fs, &n);
    *catalog = xstrndup(xml, n);
    sim_fileservice_free(fs);
    return sc;
}

/* The doc's in-process column for cell n (1-based), or NULL (caller frees). */
static char *doc_column(const char *doc, int n)
{
    char key[32];
    snprintf(key, sizeof(key), "\n| %d | ", n);
    const char *row = strstr(doc, key);
    if (!row)
        return NULL;
    row++;
    const char *eol = strchr(row, '\n');
    /* | n | fault | step | then | want | in-process | HTTP | */
    const char *p = row;
    for (int bar = 0; bar < 5 && p && p < eol; bar++)
        p = strchr(p + 1, '|');
    if (!p || p >= eol)
        return NULL;
    const char *q = strchr(p + 1, '|');
    if (!q || q > eol)
        return NULL;
    char *s = xstrndup(p + 1, (size_t)(q - p - 1));
    char *t = s;
    while (*t == ' ')
        t++;
    memmove(s, t, strlen(t) + 1);
    size_t l = strlen(s);
    while (l && s[l - 1] == ' ')
        s[--l] = '\0';
    return s;
}

int main(int argc, char **argv)
{
    const char *cells_path = PP_SOURCE_ROOT "/tests/torture/fault_cells.json";
    const char *scen = PP_SOURCE_ROOT "/scenarios/demo.json";
    const char *doc_path = NULL;
    int only = 0;
    for (int i = 1; i < argc; i++) {
        if (str_eq(argv[i], "--verbose"))
            verbose = true;
        else if (i + 1 < argc && str_eq(argv[i], "--cells"))
            cells_path = argv[++i];
        else if (i + 1 < argc && str_eq(argv[i], "--scenario"))
            scen = argv[++i];
        else if (i + 1 < argc && str_eq(argv[i], "--only"))
            only = (int)strtol(argv[++i], NULL, 10);
        else if (i + 1 < argc && str_eq(argv[i], "--doc"))
            doc_path = argv[++i];
        else {
            fprintf(stderr, "fault_matrix: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    json_error_t je;
    json_t *cells = json_load_file(cells_path, 0, &je);
    char *catalog = NULL;
    json_t *sc = cells ? load_scenario(scen, &catalog) : NULL;
    if (!cells || !sc) {
        if (!cells)
            fprintf(stderr, "fault_matrix: %s: %s\n", cells_path, je.text);
        return 2;
    }
    char *doc = NULL;
    if (doc_path) {
        struct err e = {0};
        FILE *f = fopen(doc_path, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            long len = ftell(f);
            rewind(f);
            doc = xcalloc(1, (size_t)len + 1);
            if (fread(doc, 1, (size_t)len, f) != (size_t)len)
                len = 0;
            fclose(f);
        }
        if (!doc) {
            fprintf(stderr, "fault_matrix: %s: cannot read %s\n", doc_path, e.msg);
            return 2;
        }
    }
    const json_t *arr = json_object_get(cells, "cells");
    int npass = 0, nxfail = 0, nfail = 0, ncells = 0, stale = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (only && (int)i + 1 != only)
            continue;
        struct cell c;
        cell_of(json_array_get(arr, i), &c);
        struct world w = {.scenario = sc, .catalog = catalog};
        struct verdict v = {0};
        char result[400] = "";
        run_cell(&c, scen, &w, result, sizeof(result), &v);
        ncells++;
        const char *verdict = v.n ? (c.xfail ? "xfail" : "FAIL") : (c.xfail ? "XPASS" : "pass");
        npass += str_eq(verdict, "pass");
        nxfail += str_eq(verdict, "xfail");
        nfail += str_eq(verdict, "FAIL") || str_eq(verdict, "XPASS");
        printf("cell %zu\t%s\t%s\t%s\t%s%s%s\t%s\t%s%s%s\n", i + 1, c.fault, c.step, c.then, c.want,
               c.code ? " " : "", c.code ? c.code : "", result, verdict, v.n ? ": " : "",
               v.n ? v.msg : "");
        if (doc) {
            char want_col[600];
            snprintf(want_col, sizeof(want_col), "%s: %s", verdict, result);
            char *col = doc_column(doc, (int)i + 1);
            if (!col || !str_eq(col, want_col)) {
                fprintf(stderr,
                        "fault_matrix: %s is not current for cell %zu: has \"%s\", this run "
                        "\"%s\" (make faults regenerates it)\n",
                        doc_path, i + 1, col ? col : "(no row)", want_col);
                stale++;
            }
            free(col);
        }
    }
    printf("fault-matrix: %d cells, %d pass, %d known failures, %d failures%s\n", ncells, npass,
           nxfail, nfail, stale ? ", the doc is not current" : "");
    free(doc);
    free(catalog);
    json_decref(sc);
    json_decref(cells);
    json_decref(uuid_names);
    return nfail || stale ? 1 : 0;
}
