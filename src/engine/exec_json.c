/* SPDX-License-Identifier: MIT */
/*
 * exec_json.c - rollouts as JSON, computed from the journal alone (so a resumed daemon shows the
 * same figures), in the shapes of docs/rest-api.md ("Rollouts"):
 *
 *   detail:  {id, state, policy, automated, created, updated, started, finished, elapsed_s,
 *             window_s, predicted_s, pools[{name, state, step, percent, hosts[host record]}],
 *             counters{...}, error}
 *   summary: {id, state, created, updated, pools[names], counters{hosts_total, hosts_done, ...},
 *             error}
 *
 * A host record: {name, ref, state, step, percent, message, steps_total, steps_done,
 * steps_skipped, updates_applied[{uuid, name}], reboot_pending, vms[{vm, to, back}],
 * log[{at, step, state, detail}], predicted}.  docs/rest-api.md defines each field.
 *
 * One pass: the steps are scanned once in seq order (store_steps_scan: no per-row allocation,
 * only the params fields used here), folding each into its pool's and host's record (a pool and
 * a host are found through the last one used: a journal holds a pool's and a host's steps
 * together).  The plan's predictions come from a per-rollout cache, so the plan (megabytes for a
 * fleet) is parsed once.  The reboot-pending facts are what the engine read from the pool
 * (store_host_facts_set, engine.c) while the rollout ran.
 */
#include "engine/exec_json.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec.h"
#include "engine/exec_int.h"
#include "store/store.h"
#include "store/store_window.h"

#define ROLLOUTS_LISTED  200
#define PLAN_CACHE_SLOTS 16

enum { K_HOST_NAME, K_BACK, K_VM_NAME, K_TO, K_UUID, K_HASH, K_MODE, N_KEYS };
static const struct store_scan_key scan_keys[N_KEYS] = {
    {NULL, "$.host_name"},     {SK_MIGRATE, "$.back"}, {SK_MIGRATE, "$.vm_name"},
    {SK_MIGRATE, "$.to"},      {SK_APPLY, "$.uuid"},   {SK_APPLY_CDN, "$.hash"},
    {SK_REPLAN, "$.opts.mode"}};
/* A summary needs the host names only. */
#define N_KEYS_SUMMARY 1

/* ---------------------------------------------------------------- per-rollout plan facts */

struct plan_slot {
    char *id;
    json_t *facts; /* {"predicted_s", "hosts": {"pool\nref": {name, predicted}}, "names": {ref:
                      name}, "updates": {uuid: name}} */
    uint64_t used;
};

struct exec_json_cache {
    pthread_mutex_t lock;
    struct plan_slot slots[PLAN_CACHE_SLOTS];
    uint64_t tick;
};

/* New cache (see exec_json.h). */
struct exec_json_cache *exec_json_cache_new(void)
{
    struct exec_json_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

/* Free a cache; NULL ok. */
void exec_json_cache_free(struct exec_json_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < PLAN_CACHE_SLOTS; i++) {
        free(c->slots[i].id);
        json_decref(c->slots[i].facts);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static json_t *host_prediction(json_t *h)
{
    json_t *acts = json_object_get(h, "actions"), *a;
    size_t i;
    json_t *pr =
        json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "start_s", json_object_get(h, "start_s"),
                  "end_s", json_object_get(h, "end_s"), "reboot", json_object_get(h, "reboot"),
                  "toolstack", json_object_get(h, "toolstack"), "livepatched",
                  json_object_get(h, "livepatched"), "updates", json_object_get(h, "updates"));
    size_t migrations = 0;
    json_array_foreach(acts, i, a) migrations += json_array_size(json_object_get(a, "migrations"));
    json_object_set_new(pr, "migrations", json_integer((json_int_t)migrations));
    return pr;
}

/* The facts of a plan document {"pools":[plan_to_json + "pool": name]}. */
static json_t *plan_facts(const char *plan_text)
{
    json_t *plan = plan_text ? json_loads(plan_text, 0, NULL) : NULL;
    json_t *hosts = json_object(), *names = json_object(), *updates = json_object();
    json_t *upgrades = json_object(); /* pool -> the plan's "upgrade" (target, guest tools) */
    double predicted = 0;
    json_t *pl, *h, *a;
    size_t i, k, m;
    json_array_foreach(json_object_get(plan, "pools"), i, pl)
    {
        const char *pool = json_string_value(json_object_get(pl, "pool"));
        double w = json_number_value(json_object_get(json_object_get(pl, "totals"), "window_s"));
        if (pool && json_is_object(json_object_get(pl, "upgrade")))
            json_object_set(upgrades, pool, json_object_get(pl, "upgrade"));
        predicted = w > predicted ? w : predicted;
        json_array_foreach(json_object_get(pl, "hosts"), k, h)
        {
            const char *ref = json_string_value(json_object_get(h, "ref"));
            const char *name = json_string_value(json_object_get(h, "name"));
            if (!ref || !pool)
                continue;
            char *key = xasprintf("%s\n%s", pool, ref);
            json_object_set_new(hosts, key,
                                json_pack("{s:s, s:o}", "name", name ? name : ref, "predicted",
                                          host_prediction(h)));
            free(key);
            json_object_set_new(names, ref, json_string(name ? name : ref));
            json_array_foreach(json_object_get(h, "actions"), m, a)
            {
                const char *u = json_string_value(json_object_get(a, "update"));
                const char *un = json_string_value(json_object_get(a, "name"));
                if (u && un && *un)
                    json_object_set_new(updates, u, json_string(un));
            }
        }
    }
    json_decref(plan);
    return json_pack("{s:f, s:o, s:o, s:o, s:o}", "predicted_s", predicted, "hosts", hosts, "names",
                     names, "updates", updates, "upgrades", upgrades);
}

/* The facts of rollout id's plan (new reference), from the cache or read and parsed now. */
static json_t *plan_facts_get(struct store *s, struct exec_json_cache *c, const char *id)
{
    if (c) {
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < PLAN_CACHE_SLOTS; i++) {
            if (c->slots[i].id && str_eq(c->slots[i].id, id)) {
                c->slots[i].used = ++c->tick;
                json_t *f = json_incref(c->slots[i].facts);
                pthread_mutex_unlock(&c->lock);
                return f;
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    char *text = NULL;
    struct err e = {0};
    store_rollout_plan(s, id, &text, &e);
    json_t *f = plan_facts(text);
    free(text);
    if (!c)
        return f;
    pthread_mutex_lock(&c->lock);
    size_t victim = 0;
    for (size_t i = 1; i < PLAN_CACHE_SLOTS; i++)
        if (c->slots[i].used < c->slots[victim].used)
            victim = i;
    free(c->slots[victim].id);
    json_decref(c->slots[victim].facts);
    c->slots[victim] = (struct plan_slot){xstrdup(id), json_incref(f), ++c->tick};
    pthread_mutex_unlock(&c->lock);
    return f;
}

/* ---------------------------------------------------------------- the scan */

struct jhost {
    char *ref, *name;
    size_t total, done, skipped, failed, started;
    size_t ev_total, ev_done; /* evacuation migrations (not those back home) */
    char *cur_kind;           /* first unfinished step (a failed one preferred), or NULL */
    bool cur_back, cur_failed;
    char *fail_msg;
    char *left_out; /* upgrade: the recovery of a supporter left out, or NULL */
    bool livepatch_ok, rebooted, applied;
    json_t *updates_applied, *vms, *log;
    json_t *updates_unconfirmed; /* apply failed without an answer: it may have taken effect */
    json_t *mig_entry; /* the log entry of the current run of migrations (borrowed from log) */
    bool mig_back;
    size_t mig_n, mig_done;
};

/* The rollout-level counters, per pool (summed into the rollout's by jscan_total). */
struct jsum {
    size_t migrations, reboots, toolstack, applied, steps_done, steps_started, steps;
    int64_t first, last_done;
    bool automated;     /* the last replan step's mode (seq replan_seq) */
    int64_t replan_seq; /* 0: none */
    json_t *error;      /* of the first failed step (seq error_seq), or NULL */
    int64_t error_seq;
};

struct jpool {
    char *name;
    size_t total, done;
    char *cur_kind;  /* first unfinished step, or the first failed one */
    int64_t cur_seq; /* its seq */
    bool cur_host_step, cur_pending, failed;
    struct jhost *hosts;
    size_t n_hosts, cap_hosts, last_host;
    struct jsum sum;
};

struct jscan {
    bool detail;
    struct jpool *pools;
    size_t n_pools, cap_pools, last_pool;
    struct jsum sum; /* the pools' (jscan_total) */
};

static bool fin(enum store_step_state st)
{
    return st == STORE_STEP_DONE || st == STORE_STEP_SKIPPED;
}

static json_t *iso(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char b[32];
    gmtime_r(&t, &tm);
    strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(b);
}

static bool param_true(const struct store_step_row *r, int k)
{
    return r->param[k] && str_eq(r->param[k], "1");
}

static const char *public_step(const char *kind, bool back)
{
    if (str_eq(kind, SK_MIGRATE))
        return back ? "migrate_back" : "evacuate";
    return exec_public_step(kind, NULL);
}

static bool host_step(const struct store_step_row *r)
{
    return r->host && !str_eq(r->kind, SK_PRECHECK);
}

static struct jpool *pool_get(struct jscan *j, const char *name)
{
    if (j->n_pools && str_eq(j->pools[j->last_pool].name, name))
        return &j->pools[j->last_pool];
    for (size_t i = 0; i < j->n_pools; i++)
        if (str_eq(j->pools[i].name, name))
            return &j->pools[j->last_pool = i];
    if (j->n_pools == j->cap_pools) {
        j->cap_pools = j->cap_pools ? 2 * j->cap_pools : 8;
        j->pools = xreallocarray(j->pools, j->cap_pools, sizeof(*j->pools));
    }
    memset(&j->pools[j->n_pools], 0, sizeof(j->pools[0]));
    j->pools[j->n_pools].name = xstrdup(name);
    return &j->pools[j->last_pool = j->n_pools++];
}

static struct jhost *host_get(struct jpool *p, const char *ref, const char *name)
{
    if (p->n_hosts && str_eq(p->hosts[p->last_host].ref, ref))
        return &p->hosts[p->last_host];
    for (size_t i = 0; i < p->n_hosts; i++)
        if (str_eq(p->hosts[i].ref, ref))
            return &p->hosts[p->last_host = i];
    if (p->n_hosts == p->cap_hosts) {
        p->cap_hosts = p->cap_hosts ? 2 * p->cap_hosts : 8;
        p->hosts = xreallocarray(p->hosts, p->cap_hosts, sizeof(*p->hosts));
    }
    struct jhost *h = &p->hosts[p->n_hosts];
    memset(h, 0, sizeof(*h));
    h->ref = xstrdup(ref);
    h->name = xstrdup(name && *name ? name : ref);
    h->updates_applied = json_array();
    h->updates_unconfirmed = json_array();
    h->vms = json_array();
    h->log = json_array();
    return &p->hosts[p->last_host = p->n_hosts++];
}

/* The message of a failed step's error (its JSON's "message", else the text). */
static char *error_message(const char *error)
{
    json_t *j = error ? json_loads(error, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    char *out = xstrdup(m ? m : error ? error : "");
    json_decref(j);
    return out;
}

/* A failed step's error says the pool never answered (no reply, the master lost): its effect
 * may have happened; only reading the pool again tells (Retry does, before sending). */
static bool error_unanswered(const char *error)
{
    json_t *j = error ? json_loads(error, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(j, "code"));
    bool u = c && (str_eq(c, "TRANSPORT") || str_eq(c, "TIMEOUT") || str_eq(c, "NOT_DONE") ||
                   str_eq(c, "HOST_STILL_BOOTING") || str_eq(c, "MASTER_LOST"));
    json_decref(j);
    return u;
}

/* A reboot failed REBOOT_OLD_VERSION: the updates it lists (updates_lost) are no longer on the
 * host; the apply steps before it are done, but the report does not show them applied. */
static void drop_lost(struct jhost *h, const char *error)
{
    json_t *j = error ? json_loads(error, 0, NULL) : NULL;
    const json_t *lost = json_object_get(j, "updates_lost");
    for (size_t i = 0; i < json_array_size(lost); i++) {
        const char *u = json_string_value(json_array_get(lost, i));
        for (size_t k = json_array_size(h->updates_applied); k-- > 0;)
            if (str_eq(json_string_value(
                           json_object_get(json_array_get(h->updates_applied, k), "uuid")),
                       u))
                json_array_remove(h->updates_applied, k);
    }
    json_decref(j);
}

/* The error object of a failed step. */
static json_t *error_json(const struct store_step_row *r)
{
    json_t *j = r->error ? json_loads(r->error, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_pack("{s:s, s:s, s:s}", "code", "", "message", r->error ? r->error : "",
                      "explanation", exec_explain(NULL));
    }
    const char *hn = r->param[K_HOST_NAME];
    json_object_set_new(j, "pool", json_string(r->pool));
    json_object_set_new(j, "host", r->host ? json_string(hn && *hn ? hn : r->host) : json_null());
    json_object_set_new(j, "step", json_string(public_step(r->kind, param_true(r, K_BACK))));
    return j;
}

/* The host's step log: one entry per step, one per run of migrations. */
static void host_log(struct jhost *h, const struct store_step_row *r, bool back)
{
    int64_t at = r->done_at_ms > 0 ? r->done_at_ms : r->intent_at_ms;
    if (str_eq(r->kind, SK_MIGRATE)) {
        if (!h->mig_entry || h->mig_back != back) {
            h->mig_entry = json_pack("{s:o, s:s, s:s, s:s}", "at", iso(at), "step",
                                     back ? "migrate_back" : "evacuate", "state",
                                     store_step_state_name(r->state), "detail", "");
            json_array_append_new(h->log, h->mig_entry);
            h->mig_back = back;
            h->mig_n = h->mig_done = 0;
        }
        h->mig_n++;
        h->mig_done += r->state == STORE_STEP_DONE;
        char d[64];
        snprintf(d, sizeof(d), "%zu VM%s moved", h->mig_done, h->mig_done == 1 ? "" : "s");
        json_object_set_new(h->mig_entry, "at", iso(at));
        json_object_set_new(h->mig_entry, "detail", json_string(d));
        if (r->state != STORE_STEP_DONE)
            json_object_set_new(h->mig_entry, "state",
                                json_string(store_step_state_name(r->state)));
        return;
    }
    h->mig_entry = NULL;
    const char *detail = r->param[K_UUID] ? r->param[K_UUID] : "";
    json_array_append_new(h->log, json_pack("{s:o, s:s, s:s, s:s}", "at", iso(at), "step",
                                            public_step(r->kind, false), "state",
                                            store_step_state_name(r->state), "detail", detail));
}

static void host_row(bool detail, struct jpool *p, const struct store_step_row *r)
{
    struct jhost *h = host_get(p, r->host, r->param[K_HOST_NAME]);
    if (str_eq(r->kind, SK_PRECHECK)) {
        h->livepatch_ok = h->livepatch_ok || (r->state == STORE_STEP_DONE && r->result_json &&
                                              strstr(r->result_json, "ok_livepatch_complete"));
        return;
    }
    bool back = param_true(r, K_BACK), done = r->state == STORE_STEP_DONE;
    bool apply = str_eq(r->kind, SK_APPLY) || str_eq(r->kind, SK_APPLY_CDN);
    h->rebooted = h->rebooted || str_eq(r->kind, SK_REBOOT);
    h->total++;
    h->done += done;
    h->skipped += r->state == STORE_STEP_SKIPPED;
    h->failed += r->state == STORE_STEP_FAILED;
    h->started += r->state != STORE_STEP_PENDING;
    if (str_eq(r->kind, SK_UPGRADE) && r->state == STORE_STEP_SKIPPED && r->error &&
        strstr(r->error, "\"left_out\"")) {
        json_t *why = json_loads(r->error, 0, NULL);
        free(h->left_out);
        h->left_out = xstrdup(jsonx_str(why, "recovery", "left out of the upgrade"));
        json_decref(why);
    }
    if (!fin(r->state) && (!h->cur_kind || (r->state == STORE_STEP_FAILED && !h->cur_failed))) {
        free(h->cur_kind);
        h->cur_kind = xstrdup(r->kind);
        h->cur_back = back;
        h->cur_failed = r->state == STORE_STEP_FAILED;
        if (h->cur_failed)
            h->fail_msg = error_message(r->error);
    }
    if (str_eq(r->kind, SK_MIGRATE) && !back) {
        h->ev_total++;
        h->ev_done += done;
    }
    if (str_eq(r->kind, SK_REBOOT) && r->state == STORE_STEP_FAILED)
        drop_lost(h, r->error);
    if (apply && r->state == STORE_STEP_FAILED && error_unanswered(r->error)) {
        const char *u = r->param[K_UUID] ? r->param[K_UUID] : r->param[K_HASH];
        json_array_append_new(h->updates_unconfirmed, json_pack("{s:s}", "uuid", u ? u : ""));
    }
    if (done && apply) {
        const char *u = r->param[K_UUID] ? r->param[K_UUID] : r->param[K_HASH];
        h->applied = true;
        json_array_append_new(h->updates_applied, json_pack("{s:s}", "uuid", u ? u : ""));
    }
    if (!detail)
        return;
    if (done && str_eq(r->kind, SK_MIGRATE))
        json_array_append_new(h->vms,
                              json_pack("{s:s, s:s, s:b}", "vm",
                                        r->param[K_VM_NAME] ? r->param[K_VM_NAME] : "", "to",
                                        r->param[K_TO] ? r->param[K_TO] : "", "back", back));
    if (r->state != STORE_STEP_PENDING)
        host_log(h, r, back);
}

static void count_row(struct jsum *j, const struct store_step_row *r)
{
    j->steps++;
    if (r->intent_at_ms > 0 && (j->first == 0 || r->intent_at_ms < j->first))
        j->first = r->intent_at_ms;
    if (r->state == STORE_STEP_DONE && r->done_at_ms > j->last_done)
        j->last_done = r->done_at_ms;
    j->steps_done += fin(r->state);
    j->steps_started += r->state != STORE_STEP_PENDING;
    if (str_eq(r->kind, SK_REPLAN)) {
        j->automated =
            (r->param[K_MODE] ? strtol(r->param[K_MODE], NULL, 10) : 0) == PLAN_MODE_AUTOMATED;
        j->replan_seq = r->seq;
    }
    if (r->state != STORE_STEP_DONE)
        return;
    if (str_eq(r->kind, SK_MIGRATE))
        j->migrations++;
    else if (str_eq(r->kind, SK_REBOOT) || str_eq(r->kind, SK_UPGRADE)) /* into the installer */
        j->reboots++;
    else if (str_eq(r->kind, SK_RESTART_AGENT))
        j->toolstack++;
    else if (str_eq(r->kind, SK_APPLY) || str_eq(r->kind, SK_APPLY_CDN))
        j->applied++;
}

/* Fold step r (seq order) into pool p's record: its counters, its current step, its host's. */
static void fold_row(struct jpool *p, bool detail, const struct store_step_row *r)
{
    count_row(&p->sum, r);
    bool f = fin(r->state);
    p->total++;
    p->done += f;
    if (r->state == STORE_STEP_FAILED && !p->failed) {
        /* a halted pool shows the step it halted at (lanes run side by side) */
        p->failed = true;
        free(p->cur_kind);
        p->cur_kind = NULL;
        p->sum.error = error_json(r); /* the rollout's: the pools' first (jscan_total) */
        p->sum.error_seq = r->seq;
    }
    if (!f && !p->cur_kind) {
        p->cur_kind = xstrdup(r->kind);
        p->cur_seq = r->seq;
        p->cur_host_step = host_step(r);
        p->cur_pending = r->state == STORE_STEP_PENDING;
    }
    if (r->host)
        host_row(detail, p, r);
}

static int on_row(void *ctx, const struct store_step_row *r)
{
    struct jscan *j = ctx;
    fold_row(pool_get(j, r->pool), j->detail, r);
    return 0;
}

/* Add a pool's counters to the rollout's t: sums, the earliest start, the latest end, the last
 * replan's mode, the first failed step's error. */
static void sum_add(struct jsum *t, const struct jsum *p)
{
    t->migrations += p->migrations;
    t->reboots += p->reboots;
    t->toolstack += p->toolstack;
    t->applied += p->applied;
    t->steps_done += p->steps_done;
    t->steps_started += p->steps_started;
    t->steps += p->steps;
    if (p->first > 0 && (t->first == 0 || p->first < t->first))
        t->first = p->first;
    t->last_done = p->last_done > t->last_done ? p->last_done : t->last_done;
    if (p->replan_seq > t->replan_seq) {
        t->replan_seq = p->replan_seq;
        t->automated = p->automated;
    }
    if (p->error && (!t->error || p->error_seq < t->error_seq)) {
        json_decref(t->error);
        t->error = json_incref(p->error);
        t->error_seq = p->error_seq;
    }
}

/* The rollout's counters from its pools'. */
static void jscan_total(struct jscan *j)
{
    for (size_t i = 0; i < j->n_pools; i++)
        sum_add(&j->sum, &j->pools[i].sum);
}

static void host_cleanup(struct jhost *h)
{
    free(h->ref);
    free(h->name);
    free(h->cur_kind);
    free(h->fail_msg);
    free(h->left_out);
    json_decref(h->updates_applied);
    json_decref(h->updates_unconfirmed);
    json_decref(h->vms);
    json_decref(h->log);
}

/* Free a pool's hosts (the pool's own fields stay). */
static void pool_hosts_cleanup(struct jpool *p)
{
    for (size_t k = 0; k < p->n_hosts; k++)
        host_cleanup(&p->hosts[k]);
    free(p->hosts);
    p->hosts = NULL;
    p->n_hosts = p->cap_hosts = p->last_host = 0;
}

static void pool_cleanup(struct jpool *p)
{
    pool_hosts_cleanup(p);
    free(p->name);
    free(p->cur_kind);
    json_decref(p->sum.error);
}

static void jscan_cleanup(struct jscan *j)
{
    for (size_t i = 0; i < j->n_pools; i++)
        pool_cleanup(&j->pools[i]);
    free(j->pools);
    json_decref(j->sum.error);
}

/* ---------------------------------------------------------------- output */

static bool rollout_stopped(enum store_rollout_state st)
{
    return st != STORE_ROLLOUT_PLANNED && st != STORE_ROLLOUT_RUNNING;
}

/* The host still needs its reboot: its facts say so, or the pool's verification found it
 * (a REBOOT_PENDING finding, marked in host_facts by verified_reboots).  host_facts keyed
 * "pool\nref". */
static bool facts_reboot_pending(json_t *host_facts, const char *pool, const char *ref)
{
    char *key = xasprintf("%s\n%s", pool, ref);
    json_t *hf = json_object_get(host_facts, key);
    bool rp = json_is_true(json_object_get(hf, "reboot_pending")) ||
              json_is_true(json_object_get(hf, "verified_reboot_pending"));
    free(key);
    return rp;
}

/* Mark in host_facts the hosts a REBOOT_PENDING finding of the verification names. */
static void verified_reboots(struct store *s, const char *id, json_t *host_facts)
{
    char *text = NULL;
    store_rollout_findings(s, id, &text, NULL);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    const char *pool;
    json_t *pv;
    json_object_foreach(json_object_get(doc, "pools"), pool, pv)
    {
        json_t *fs = json_object_get(pv, "findings");
        for (size_t i = 0; i < json_array_size(fs); i++) {
            json_t *f = json_array_get(fs, i);
            if (!str_eq(json_string_value(json_object_get(f, "code")), "REBOOT_PENDING"))
                continue;
            char *key = xasprintf("%s\n%s", pool, jsonx_str(f, "ref", ""));
            json_t *hf = json_object_get(host_facts, key);
            if (!hf) {
                hf = json_object();
                json_object_set_new(host_facts, key, hf);
            }
            json_object_set_new(hf, "verified_reboot_pending", json_true());
            free(key);
        }
    }
    json_decref(doc);
}

/* The host's state (docs/rest-api.md, "Host state"): the truth of its own steps; a host whose
 * steps are all done but whose own fields say it still needs its reboot (a live patch that did
 * not take, a reboot left to the user) is reboot_pending, never done. */
static const char *host_state(const struct jhost *h, enum store_rollout_state ro, bool rp)
{
    if (h->failed > 0)
        return "failed";
    if (h->left_out)
        return "left_out"; /* an upgrade that failed on a supporter: the others went on */
    if (h->total == 0)
        return rollout_stopped(ro) || ro == STORE_ROLLOUT_DONE ? "skipped" : "waiting";
    if (h->done == h->total)
        return rp ? "reboot_pending" : "done";
    if (h->done + h->skipped == h->total)
        return "skipped";
    if (h->started == 0)
        return rollout_stopped(ro) ? "not_started" : "waiting";
    return rollout_stopped(ro) && ro != STORE_ROLLOUT_CANCELLING ? "stopped" : "running";
}

/* Whether h's state (and so its record, its counts) would read otherwise in another rollout
 * state than ro: every state tried, so this follows host_state whatever it looks at. */
static bool host_state_ro_dep(const struct jhost *h, enum store_rollout_state ro, bool rp)
{
    const char *now = host_state(h, ro, rp);
    for (int st = 0; st < STORE_ROLLOUT_NSTATES; st++)
        if (!str_eq(host_state(h, (enum store_rollout_state)st, rp), now))
            return true;
    return false;
}

static json_t *host_message(const struct jhost *h, const char *state)
{
    char m[128];
    if (h->fail_msg && str_eq(state, "failed"))
        return json_string(h->fail_msg);
    if (h->left_out && str_eq(state, "left_out"))
        return json_string(h->left_out);
    if (str_eq(state, "reboot_pending"))
        return json_string("updates applied; the host still needs its reboot to run them");
    if (str_eq(state, "skipped") && h->total == 0)
        return json_string("no work planned for this host");
    if (str_eq(state, "skipped")) {
        snprintf(m, sizeof(m), "cancelled after %zu of %zu steps", h->done, h->total);
        return json_string(m);
    }
    if (str_eq(state, "stopped")) {
        snprintf(m, sizeof(m), "stopped after %zu of %zu steps", h->done, h->total);
        return json_string(m);
    }
    if (h->cur_kind && str_eq(h->cur_kind, SK_MIGRATE) && !h->cur_back && h->ev_total > 0) {
        snprintf(m, sizeof(m), "%zu of %zu VMs moved", h->ev_done, h->ev_total);
        return json_string(m);
    }
    return json_null();
}

/* Names of "to" refs and of applied updates, from the plan's facts. */
static void host_names(struct jhost *h, json_t *facts)
{
    json_t *names = json_object_get(facts, "names"), *updates = json_object_get(facts, "updates");
    json_t *it;
    size_t i;
    json_array_foreach(h->vms, i, it)
    {
        const char *to = json_string_value(json_object_get(it, "to"));
        json_t *n = json_object_get(names, to ? to : "");
        json_object_set_new(it, "to_ref", json_string(to ? to : ""));
        if (json_is_string(n))
            json_object_set(it, "to", n);
    }
    json_t *lists[2] = {h->updates_applied, h->updates_unconfirmed};
    for (size_t k = 0; k < 2; k++)
        json_array_foreach(lists[k], i, it)
        {
            json_t *n = json_object_get(updates, json_string_value(json_object_get(it, "uuid")));
            json_object_set_new(it, "name", json_is_string(n) ? json_incref(n) : json_null());
        }
}

static json_t *host_json(struct jhost *h, const char *pool, enum store_rollout_state ro,
                         json_t *facts, json_t *host_facts, bool detail)
{
    const char *state = host_state(h, ro, facts_reboot_pending(host_facts, pool, h->ref));
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I}", "name", h->name, "ref", h->ref,
                          "state", state, "percent", h->total ? (int)(h->done * 100 / h->total) : 0,
                          "steps_total", (json_int_t)h->total, "steps_done", (json_int_t)h->done,
                          "steps_skipped", (json_int_t)h->skipped);
    json_object_set_new(
        o, "step", h->cur_kind ? json_string(public_step(h->cur_kind, h->cur_back)) : json_null());
    json_object_set_new(o, "message", host_message(h, state));
    if (!detail)
        return o;
    host_names(h, facts);
    json_object_set(o, "updates_applied", h->updates_applied);
    json_object_set(o, "updates_unconfirmed", h->updates_unconfirmed);
    char *key = xasprintf("%s\n%s", pool, h->ref);
    json_t *hf = json_object_get(host_facts, key);
    json_t *pf = json_object_get(json_object_get(facts, "hosts"), key);
    free(key);
    json_t *rp = json_object_get(hf, "reboot_pending");
    json_object_set_new(o, "reboot_pending", json_is_boolean(rp) ? json_incref(rp) : json_null());
    json_object_set_new(o, "reboot_pending_updates",
                        json_incref(json_object_get(hf, "requiring_reboot")
                                        ? json_object_get(hf, "requiring_reboot")
                                        : json_null()));
    json_object_set_new(o, "facts_at", iso(json_integer_value(json_object_get(hf, "at"))));
    json_object_set(o, "vms", h->vms);
    json_object_set(o, "log", h->log);
    json_t *pred = json_object_get(pf, "predicted");
    json_object_set_new(o, "predicted", pred ? json_incref(pred) : json_null());
    return o;
}

static const char *pool_state(const struct jpool *p, enum store_rollout_state ro)
{
    if (ro == STORE_ROLLOUT_CANCEL_FAILED)
        return "cancel_failed"; /* "cancelled" when its verification found nothing */
    if (ro == STORE_ROLLOUT_CANCELLED || ro == STORE_ROLLOUT_CANCELLING)
        return ro == STORE_ROLLOUT_CANCELLED ? "cancelled" : "cancelling";
    if (!p->cur_kind && !p->failed)
        return "done";
    if (p->failed)
        return "halted";
    if (ro == STORE_ROLLOUT_RUNNING && !p->cur_pending)
        return "running";
    if (ro == STORE_ROLLOUT_RUNNING)
        return p->done > 0 ? "running" : "waiting";
    return store_rollout_state_name(ro);
}

struct jcounts {
    size_t total, done, skipped, failed, not_started, live_patched;
};

/* A pool's {name, state, percent, step}: its fields before its hosts. */
static json_t *pool_head(const struct jpool *p, enum store_rollout_state ro)
{
    const char *step = NULL;
    if (p->cur_kind)
        step = p->cur_host_step ? "hosts" : exec_public_step(p->cur_kind, NULL);
    json_t *pj = json_pack("{s:s, s:s, s:i}", "name", p->name, "state", pool_state(p, ro),
                           "percent", p->total ? (int)(p->done * 100 / p->total) : 100);
    json_object_set_new(pj, "step", step ? json_string(step) : json_null());
    return pj;
}

/* After the hosts: an upgrade's target and the guest tools to upgrade afterwards. */
static void pool_upgrade(json_t *pj, const char *pool, json_t *facts)
{
    json_t *up = json_object_get(json_object_get(facts, "upgrades"), pool);
    if (up)
        json_object_set(pj, "upgrade", up);
}

/* A host's part of the counts c, by its state. */
static void host_count(struct jcounts *c, const struct jhost *h, const char *pool,
                       enum store_rollout_state ro, json_t *host_facts)
{
    const char *st = host_state(h, ro, facts_reboot_pending(host_facts, pool, h->ref));
    c->total++;
    c->done += str_eq(st, "done") || str_eq(st, "reboot_pending");
    c->skipped += str_eq(st, "skipped");
    c->failed += str_eq(st, "failed") || str_eq(st, "left_out");
    c->not_started += str_eq(st, "not_started") || str_eq(st, "waiting");
}

static json_t *pool_json(struct jpool *p, enum store_rollout_state ro, json_t *facts,
                         json_t *host_facts, bool detail, struct jcounts *c)
{
    json_t *pj = pool_head(p, ro);
    json_t *hosts = json_array();
    for (size_t i = 0; i < p->n_hosts; i++) {
        struct jhost *h = &p->hosts[i];
        host_count(c, h, p->name, ro, host_facts);
        json_array_append_new(hosts, host_json(h, p->name, ro, facts, host_facts, detail));
    }
    json_object_set_new(pj, "hosts", hosts);
    pool_upgrade(pj, p->name, facts);
    return pj;
}

/* A pool's live-patched hosts: a precheck said ok_livepatch_complete, an update was applied
 * and the host was not rebooted. */
static size_t pool_live_patched(const struct jpool *p)
{
    size_t n = 0;
    for (size_t k = 0; k < p->n_hosts; k++) {
        const struct jhost *h = &p->hosts[k];
        n += h->livepatch_ok && h->applied && !h->rebooted;
    }
    return n;
}

static size_t live_patched(const struct jscan *j)
{
    size_t n = 0;
    for (size_t i = 0; i < j->n_pools; i++)
        n += pool_live_patched(&j->pools[i]);
    return n;
}

/* The counters; c->live_patched: the hosts live-patched. */
static json_t *counters_json(const struct jscan *j, const struct jcounts *c, bool detail)
{
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "hosts_total", (json_int_t)c->total,
                  "hosts_done", (json_int_t)c->done, "hosts_skipped", (json_int_t)c->skipped,
                  "hosts_failed", (json_int_t)c->failed, "hosts_not_started",
                  (json_int_t)c->not_started, "updates_applied", (json_int_t)j->sum.applied);
    if (!detail)
        return o;
    json_object_set_new(o, "steps_started", json_integer((json_int_t)j->sum.steps_started));
    json_object_set_new(o, "steps_done", json_integer((json_int_t)j->sum.steps_done));
    json_object_set_new(o, "steps_total", json_integer((json_int_t)j->sum.steps));
    json_object_set_new(o, "migrations", json_integer((json_int_t)j->sum.migrations));
    json_object_set_new(o, "reboots", json_integer((json_int_t)j->sum.reboots));
    json_object_set_new(o, "toolstack_restarts", json_integer((json_int_t)j->sum.toolstack));
    json_object_set_new(o, "live_patched", json_integer((json_int_t)c->live_patched));
    return o;
}

static void times_json(json_t *o, const struct store_rollout *ro, const struct jscan *j,
                       int64_t now_ms)
{
    bool final = ro->state == STORE_ROLLOUT_DONE || ro->state == STORE_ROLLOUT_CANCELLED ||
                 ro->state == STORE_ROLLOUT_FAILED;
    int64_t end =
        final ? ro->updated_at_ms
              : (j->sum.last_done > ro->updated_at_ms ? j->sum.last_done : ro->updated_at_ms);
    if (!final && ro->state == STORE_ROLLOUT_RUNNING && now_ms > end)
        end = now_ms; /* a running rollout's clock moves between journal writes */
    json_object_set_new(o, "started", iso(j->sum.first));
    json_object_set_new(o, "finished", final ? iso(ro->updated_at_ms) : json_null());
    json_object_set_new(
        o, "elapsed_s",
        json_integer(j->sum.first > 0 && end > j->sum.first ? (end - j->sum.first) / 1000 : 0));
    json_object_set_new(o, "window_s",
                        json_real(j->sum.first && j->sum.last_done > j->sum.first
                                      ? (double)(j->sum.last_done - j->sum.first) / 1000.0
                                      : 0.0));
}

static int facts_row(void *ctx, const char *pool, const char *host, const char *facts,
                     int64_t at_ms)
{
    json_t *f = json_loads(facts, 0, NULL);
    if (!json_is_object(f)) {
        json_decref(f);
        return 0;
    }
    json_object_set_new(f, "at", json_integer(at_ms));
    char *key = xasprintf("%s\n%s", pool, host);
    json_object_set_new(ctx, key, f);
    free(key);
    return 0;
}

/*
 * The rollout's XAPI calls: the pools' facts (host "", engine_events.c) summed into
 * xapi_calls {method: n}, xapi_calls_total and xapi_calls_per_host_update (per host done).
 */
static void calls_json(json_t *counters, json_t *host_facts, size_t hosts_done)
{
    json_t *sum = json_object(), *f, *v;
    json_int_t total = 0;
    const char *key, *m;
    json_object_foreach(host_facts, key, f)
    {
        size_t n = strlen(key);
        if (n == 0 || key[n - 1] != '\n')
            continue;
        json_object_foreach(json_object_get(f, "xapi_calls"), m, v)
        {
            json_object_set_new(
                sum, m,
                json_integer(json_integer_value(json_object_get(sum, m)) + json_integer_value(v)));
            total += json_integer_value(v);
        }
    }
    json_object_set_new(counters, "xapi_calls", sum);
    json_object_set_new(counters, "xapi_calls_total", json_integer(total));
    json_object_set_new(counters, "xapi_calls_per_host_update",
                        hosts_done ? json_real((double)total / (double)hosts_done) : json_null());
}

/* The end-state verification of each pool (store_rollout_findings): "findings" (flat, each with
 * its pool and when it was found: after done, halted or cancel) and "verified" per pool; in
 * detail also per pool.  A cancel_failed rollout's error names what is left. */
static void findings_json(struct store *s, const struct store_rollout *ro, json_t *o,
                          json_t *pools_detail)
{
    char *text = NULL;
    store_rollout_findings(s, ro->id, &text, NULL);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *all = json_array(), *verified = json_object();
    const char *name;
    json_t *pv;
    json_object_foreach(json_object_get(doc, "pools"), name, pv)
    {
        json_t *fs = json_object_get(pv, "findings");
        for (size_t i = 0; i < json_array_size(fs); i++) {
            json_t *f = json_copy(json_array_get(fs, i));
            json_object_set_new(f, "pool", json_string(name));
            json_object_set(f, "after", json_object_get(pv, "after"));
            json_array_append_new(all, f);
        }
        json_object_set_new(verified, name,
                            json_pack("{s:O, s:o, s:I}", "after", json_object_get(pv, "after"),
                                      "at", iso(jsonx_int(pv, "at", 0)), "findings",
                                      (json_int_t)json_array_size(fs)));
        for (size_t i = 0; i < json_array_size(pools_detail); i++) {
            json_t *pj = json_array_get(pools_detail, i);
            if (!str_eq(json_string_value(json_object_get(pj, "name")), name))
                continue;
            json_object_set(pj, "findings", fs);
            if (ro->state == STORE_ROLLOUT_CANCEL_FAILED && json_array_size(fs) == 0)
                json_object_set_new(pj, "state", json_string("cancelled"));
        }
    }
    json_decref(doc);
    json_object_set_new(o, "findings", all);
    json_object_set_new(o, "verified", verified);
    if (ro->state == STORE_ROLLOUT_CANCEL_FAILED)
        json_object_set_new(o, "error",
                            json_pack("{s:s, s:s, s:s, s:s, s:n}", "code", "CANCEL_FAILED",
                                      "message", ro->error ? ro->error : "", "explanation",
                                      exec_explain("CANCEL_FAILED"), "step", "cancel", "pool"));
}

/* A pool waiting for a maintenance window (docs/windows.md): its state and "window" {state,
 * since, until}; counts the unfinished pools that wait and those that do not. */
static void window_overlay(json_t *pj, const json_t *wait, size_t *n_waiting, size_t *n_paused,
                           size_t *n_open)
{
    const char *st = json_string_value(json_object_get(pj, "state"));
    bool unfinished = str_eq(st, "running") || str_eq(st, "waiting");
    if (!wait || !unfinished) {
        *n_open += unfinished;
        json_object_set_new(pj, "window", json_null());
        return;
    }
    const char *ws = json_string_value(json_object_get(wait, "state"));
    if (!ws)
        ws = "waiting_window";
    *n_waiting += str_eq(ws, "waiting_window");
    *n_paused += str_eq(ws, "paused_window");
    json_object_set_new(pj, "state", json_string(ws));
    json_t *until = json_object_get(wait, "until_ms");
    json_object_set_new(
        pj, "window",
        json_pack("{s:s, s:o, s:o}", "state", ws, "since",
                  iso(json_integer_value(json_object_get(wait, "since_ms"))), "until",
                  json_is_integer(until) ? iso(json_integer_value(until)) : json_null()));
}

/* ---------------------------------------------------------------- the incremental text */

/*
 * A host of a pool in a rollout's incremental state, or the pool's own steps (host NULL): its steps
 * folded as if they were the whole pool (p: the fields such a pool would have, its one host record
 * freed once rendered), that record's text and its share of the pool's host counts.  A pool's
 * fields are combined from its segments' (ipool_combine), its "hosts" text is theirs joined.
 */
struct iseg {
    char *host;
    int64_t min_seq; /* its first step's: the hosts' order in the pool */
    struct jpool p;
    char *text; /* the host record's JSON (not for the pool's own steps) */
    size_t len;
    struct jcounts c;
    uint64_t facts_hash, facts_new; /* of its facts row: rendered with, read now */
    bool dirty;                     /* to scan and render again in this build */
    bool ro_dep; /* its record as rendered would read otherwise in another rollout state */
};

/* A pool of a rollout's incremental state: its own fields and counts, combined from its
 * segments (p has no hosts). */
struct ipool {
    struct jpool p;
    struct iseg *segs; /* in min_seq order once combined */
    size_t n_segs, cap_segs, last_seg;
    size_t hosts_len; /* its "hosts" array's text */
    struct jcounts c;
    bool dirty; /* a segment changed: combine again */
};

/* One rollout's incremental state: current with its steps' change version rv. */
struct inc_one {
    char *id;
    char *key; /* the rollout it was built for (inc_key): another one, all again */
    enum store_rollout_state ro; /* the rollout state it was rendered with */
    int64_t rv;
    struct ipool *pools;
    size_t n_pools, cap_pools, last_pool;
    json_t *host_facts; /* this build's: the pools' rows and the dirty hosts' */
    uint64_t used;
};

struct exec_json_inc {
    struct inc_one *slots;
    size_t n_slots;
    uint64_t tick;
};

/* A pool's fields around its hosts (the hosts themselves spliced in as text: inc_dump), its
 * host counts added to c. */
static json_t *ipool_shell(const struct ipool *ip, enum store_rollout_state ro, json_t *facts,
                           struct jcounts *c)
{
    json_t *pj = pool_head(&ip->p, ro);
    json_object_set_new(pj, "hosts", json_null());
    pool_upgrade(pj, ip->p.name, facts);
    c->total += ip->c.total;
    c->done += ip->c.done;
    c->skipped += ip->c.skipped;
    c->failed += ip->c.failed;
    c->not_started += ip->c.not_started;
    c->live_patched += ip->c.live_patched;
    return pj;
}

/* The host facts a build uses: read now (full build), or prepared by the incremental one. */
static json_t *host_facts_get(struct store *s, const char *id, bool detail,
                              const struct inc_one *inc)
{
    if (inc)
        return json_incref(inc->host_facts);
    json_t *host_facts = json_object();
    struct err e = {0};
    if (detail)
        store_host_facts_scan(s, id, facts_row, host_facts, &e);
    verified_reboots(s, id, host_facts);
    return host_facts;
}

/* The rollout's JSON from the folded journal j; with inc, the pools from inc's (their hosts
 * null: inc_dump splices their text in) and j holds the counters only. */
static json_t *rollout_json(struct store *s, struct exec_json_cache *cache,
                            const struct store_rollout *ro, const struct jscan *j, int64_t now_ms,
                            bool detail, const struct inc_one *inc)
{
    const char *state =
        ro->state == STORE_ROLLOUT_PLANNED ? "pending" : store_rollout_state_name(ro->state);
    json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "id", ro->id, "state", state, "created",
                          iso(ro->created_at_ms), "updated", iso(ro->updated_at_ms));
    json_t *facts = detail ? plan_facts_get(s, cache, ro->id) : NULL;
    json_t *host_facts = host_facts_get(s, ro->id, detail, inc);
    struct err e = {0};
    struct jcounts c = {0};
    json_t *pools = json_array(), *waits = NULL;
    if (ro->state == STORE_ROLLOUT_RUNNING)
        store_rollout_windows(s, ro->id, &waits, &e);
    size_t n_waiting = 0, n_paused = 0, n_open = 0;
    size_t n = inc ? inc->n_pools : j->n_pools;
    for (size_t i = 0; i < n; i++) {
        const char *name = inc ? inc->pools[i].p.name : j->pools[i].name;
        json_t *pj = inc ? ipool_shell(&inc->pools[i], ro->state, facts, &c)
                         : pool_json(&j->pools[i], ro->state, facts, host_facts, detail, &c);
        window_overlay(pj, json_object_get(waits, name), &n_waiting, &n_paused, &n_open);
        if (detail) {
            json_array_append_new(pools, pj);
        } else {
            json_array_append_new(pools, json_string(name));
            json_decref(pj);
        }
    }
    if (!inc)
        c.live_patched = live_patched(j);
    json_decref(waits);
    if (n_open == 0 && n_waiting + n_paused > 0) /* every unfinished pool waits for a window */
        json_object_set_new(o, "state", json_string(n_paused ? "paused_window" : "waiting_window"));
    json_object_set_new(o, "pools", pools);
    json_object_set_new(o, "error",
                        j->sum.error && ro->state != STORE_ROLLOUT_CANCELLED
                            ? json_incref(j->sum.error)
                            : json_null());
    json_t *counters = counters_json(j, &c, detail);
    if (detail)
        calls_json(counters, host_facts, c.done);
    json_decref(host_facts);
    json_object_set_new(o, "counters", counters);
    findings_json(s, ro, o, detail ? pools : NULL);
    if (detail) {
        json_object_set_new(o, "policy", json_string(ro->policy ? ro->policy : ""));
        json_object_set_new(o, "automated", json_boolean(j->sum.automated));
        times_json(o, ro, j, now_ms);
        json_object_set(o, "predicted_s", json_object_get(facts, "predicted_s"));
    }
    json_decref(facts);
    return o;
}

/* Until when (engine clock) the detail built at now_ms stays true with no journal write: a
 * running rollout's elapsed_s counts on with now (times_json) until its next whole second. */
static int64_t valid_until(const struct store_rollout *ro, const struct jscan *j, int64_t now_ms)
{
    if (ro->state != STORE_ROLLOUT_RUNNING || j->sum.first <= 0 || now_ms <= 0)
        return INT64_MAX;
    int64_t end = j->sum.last_done > ro->updated_at_ms ? j->sum.last_done : ro->updated_at_ms;
    if (end > now_ms)
        return end; /* now takes over from end then */
    return now_ms + 1000 - (now_ms - j->sum.first) % 1000;
}

static int build(struct store *s, struct exec_json_cache *cache, const struct store_rollout *ro,
                 int64_t now_ms, bool detail, json_t **out, int64_t *until, struct err *e)
{
    struct jscan j = {.detail = detail};
    int rc =
        store_steps_scan(s, ro->id, scan_keys, detail ? N_KEYS : N_KEYS_SUMMARY, on_row, &j, e);
    jscan_total(&j);
    if (rc == 0)
        *out = rollout_json(s, cache, ro, &j, now_ms, detail, NULL);
    if (until)
        *until = valid_until(ro, &j, now_ms);
    jscan_cleanup(&j);
    return rc;
}

/* One rollout (see exec_json.h). */
int exec_json_rollout(struct store *s, struct exec_json_cache *cache, const char *id,
                      int64_t now_ms, json_t **out, struct err *e)
{
    struct store_rollout ro = {0};
    *out = NULL;
    int rc = store_rollout_get_head(s, id, &ro, e);
    if (rc == 0)
        rc = build(s, cache, &ro, now_ms, true, out, NULL, e);
    store_rollout_cleanup(&ro);
    return rc;
}

/* One rollout as its answer's text (see exec_json.h). */
int exec_json_rollout_text(struct store *s, struct exec_json_cache *cache,
                           const struct store_rollout *head, int64_t now_ms, char **text,
                           size_t *len, int64_t *until_ms, struct err *e)
{
    json_t *out = NULL;
    *text = NULL;
    int rc = build(s, cache, head, now_ms, true, &out, until_ms, e);
    if (rc == 0)
        *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (rc == 0 && !*text)
        return err_set(e, PP_ENOMEM, "rollout %s: could not encode its JSON", head->id);
    *len = *text ? strlen(*text) : 0;
    return rc;
}

/* ---------------------------------------------------------------- incremental builds */

/* New incremental states (see exec_json.h). */
struct exec_json_inc *exec_json_inc_new(size_t slots)
{
    struct exec_json_inc *x = xcalloc(1, sizeof(*x));
    x->n_slots = slots ? slots : 1;
    x->slots = xcalloc(x->n_slots, sizeof(*x->slots));
    return x;
}

static void iseg_cleanup(struct iseg *sg)
{
    pool_cleanup(&sg->p);
    free(sg->host);
    free(sg->text);
}

static void ipool_cleanup(struct ipool *ip)
{
    pool_cleanup(&ip->p);
    for (size_t i = 0; i < ip->n_segs; i++)
        iseg_cleanup(&ip->segs[i]);
    free(ip->segs);
}

/* Forget a rollout's state (the next build is a full one). */
static void inc_reset(struct inc_one *inc)
{
    for (size_t i = 0; i < inc->n_pools; i++)
        ipool_cleanup(&inc->pools[i]);
    free(inc->pools);
    inc->pools = NULL;
    inc->n_pools = inc->cap_pools = inc->last_pool = 0;
    free(inc->key);
    inc->key = NULL;
    json_decref(inc->host_facts);
    inc->host_facts = NULL;
}

/* Free incremental states; NULL ok (see exec_json.h). */
void exec_json_inc_free(struct exec_json_inc *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n_slots; i++) {
        inc_reset(&x->slots[i]);
        free(x->slots[i].id);
    }
    free(x->slots);
    free(x);
}

/* Rollout id's state, or the least recently used slot emptied for it. */
static struct inc_one *inc_slot(struct exec_json_inc *x, const char *id)
{
    struct inc_one *v = &x->slots[0];
    for (size_t i = 0; i < x->n_slots; i++) {
        if (x->slots[i].id && str_eq(x->slots[i].id, id)) {
            x->slots[i].used = ++x->tick;
            return &x->slots[i];
        }
        if (!x->slots[i].id || x->slots[i].used < v->used)
            v = &x->slots[i];
    }
    inc_reset(v);
    free(v->id);
    v->id = xstrdup(id);
    v->used = ++x->tick;
    return v;
}

/* The pool named pool, or NULL; with add, a new one appended (the full build's order: first
 * seen). */
static struct ipool *ipool_of(struct inc_one *inc, const char *pool, bool add)
{
    if (inc->n_pools && str_eq(inc->pools[inc->last_pool].p.name, pool))
        return &inc->pools[inc->last_pool];
    for (size_t i = 0; i < inc->n_pools; i++)
        if (str_eq(inc->pools[i].p.name, pool))
            return &inc->pools[inc->last_pool = i];
    if (!add)
        return NULL;
    if (inc->n_pools == inc->cap_pools) {
        inc->cap_pools = inc->cap_pools ? 2 * inc->cap_pools : 8;
        inc->pools = xreallocarray(inc->pools, inc->cap_pools, sizeof(*inc->pools));
    }
    struct ipool *ip = &inc->pools[inc->last_pool = inc->n_pools++];
    memset(ip, 0, sizeof(*ip));
    ip->p.name = xstrdup(pool);
    ip->dirty = true;
    return ip;
}

/* Pool ip's segment of host (NULL: the pool's own steps), or NULL; with add, a new one (dirty:
 * scanned and rendered in this build). */
static struct iseg *iseg_of(struct ipool *ip, const char *host, bool add)
{
    for (size_t k = 0; k < ip->n_segs; k++) {
        size_t i = (ip->last_seg + k) % ip->n_segs; /* a journal holds a host's steps together */
        const char *h = ip->segs[i].host;
        if (h == host || (h && host && str_eq(h, host)))
            return &ip->segs[ip->last_seg = i];
    }
    if (!add)
        return NULL;
    if (ip->n_segs == ip->cap_segs) {
        ip->cap_segs = ip->cap_segs ? 2 * ip->cap_segs : 8;
        ip->segs = xreallocarray(ip->segs, ip->cap_segs, sizeof(*ip->segs));
    }
    struct iseg *sg = &ip->segs[ip->last_seg = ip->n_segs++];
    memset(sg, 0, sizeof(*sg));
    sg->host = host ? xstrdup(host) : NULL;
    sg->p.name = xstrdup(ip->p.name);
    sg->min_seq = INT64_MAX;
    sg->dirty = true;
    ip->dirty = true;
    return sg;
}

/* Fold a step into its segment. */
static int iseg_row(void *ctx, const struct store_step_row *r)
{
    struct iseg *sg = ctx;
    sg->min_seq = r->seq < sg->min_seq ? r->seq : sg->min_seq;
    fold_row(&sg->p, true, r);
    return 0;
}

struct mark_ctx {
    struct inc_one *inc;
    bool unknown; /* a pool the state does not have: build it all again */
};

/* A host (or a pool's own steps) written since the last build: scanned again, a host the pool
 * did not have added. */
static int mark_changed(void *ctx, const char *pool, const char *host)
{
    struct mark_ctx *m = ctx;
    struct ipool *ip = ipool_of(m->inc, pool, false);
    if (ip)
        iseg_of(ip, host, true)->dirty = true;
    else
        m->unknown = true;
    return 0;
}

/* Which rollout the state was built for: its creation time tells a rollout deleted and created
 * again under the same id.  Beyond its steps, its facts row and whether the verification found it
 * reboot-pending (facts_mark), a host's record depends on the rollout's state alone (host_state;
 * marked per host: iseg.ro_dep).  (The findings themselves are the pools' fields, made each
 * build.) */
static char *inc_key(const struct store_rollout *ro)
{
    return xasprintf("%lld", (long long)ro->created_at_ms);
}

/* The facts rows of a rollout as read (the dirty hosts' are parsed: inc_host_facts). */
struct frow {
    char *pool, *host, *facts;
    int64_t at;
};
struct frows {
    struct frow *v;
    size_t n, cap;
};

static int frow_add(void *ctx, const char *pool, const char *host, const char *facts, int64_t at_ms)
{
    struct frows *f = ctx;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
    }
    f->v[f->n++] = (struct frow){xstrdup(pool), xstrdup(host), xstrdup(facts), at_ms};
    return 0;
}

static void frows_cleanup(struct frows *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].pool);
        free(f->v[i].host);
        free(f->v[i].facts);
    }
    free(f->v);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

/* The host segment a facts row belongs to, or NULL (the pool's own row, an unknown host). */
static struct iseg *frow_seg(struct inc_one *inc, const struct frow *r)
{
    struct ipool *ip = *r->host ? ipool_of(inc, r->pool, false) : NULL;
    return ip ? iseg_of(ip, r->host, false) : NULL;
}

/* Each host's hash of its facts row (one per host) and of its mark in verified (the hosts a
 * REBOOT_PENDING finding names: verified_reboots); a host whose hash changed is dirty. */
static void facts_mark(struct inc_one *inc, const struct frows *f, json_t *verified)
{
    for (size_t i = 0; i < inc->n_pools; i++)
        for (size_t k = 0; k < inc->pools[i].n_segs; k++)
            inc->pools[i].segs[k].facts_new = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct frow *r = &f->v[i];
        struct iseg *sg = frow_seg(inc, r);
        if (!sg)
            continue; /* the pool's own (its calls): the counters, read each build */
        uint64_t h = fnv(sg->facts_new ? sg->facts_new : 0xcbf29ce484222325ULL, r->facts,
                         strlen(r->facts) + 1);
        sg->facts_new = fnv(h, &r->at, sizeof(r->at));
    }
    const char *key;
    json_t *v;
    json_object_foreach(verified, key, v)
    {
        const char *nl = strchr(key, '\n');
        char *pool = nl ? xstrndup(key, (size_t)(nl - key)) : NULL;
        struct ipool *ip = pool ? ipool_of(inc, pool, false) : NULL;
        struct iseg *sg = ip ? iseg_of(ip, nl + 1, false) : NULL;
        if (sg)
            sg->facts_new =
                fnv(sg->facts_new ? sg->facts_new : 0xcbf29ce484222325ULL, "verified", 9);
        free(pool);
    }
    for (size_t i = 0; i < inc->n_pools; i++)
        for (size_t k = 0; k < inc->pools[i].n_segs; k++) {
            struct iseg *sg = &inc->pools[i].segs[k];
            sg->dirty = sg->dirty || sg->facts_hash != sg->facts_new;
            sg->facts_hash = sg->facts_new;
        }
}

/* This build's host facts: every pool's own row and the dirty hosts' rows, and the hosts the
 * verification found reboot-pending (verified: verified_reboots' marks). */
static void inc_host_facts(struct inc_one *inc, const struct frows *f, json_t *verified)
{
    json_decref(inc->host_facts);
    inc->host_facts = json_object();
    for (size_t i = 0; i < f->n; i++) {
        const struct frow *r = &f->v[i];
        const struct iseg *sg = frow_seg(inc, r);
        if (!*r->host || (sg && sg->dirty))
            facts_row(inc->host_facts, r->pool, r->host, r->facts, r->at);
    }
    const char *key;
    json_t *v;
    json_object_foreach(verified, key, v)
    {
        json_t *hf = json_object_get(inc->host_facts, key);
        if (!hf) {
            hf = json_object();
            json_object_set_new(inc->host_facts, key, hf);
        }
        json_object_set_new(hf, "verified_reboot_pending", json_true());
    }
}

/* Every step folded into its host's segment (a first build, or one after the rollout's state
 * changed). */
static int inc_all_row(void *ctx, const struct store_step_row *r)
{
    struct ipool *ip = ipool_of(ctx, r->pool, true);
    return iseg_row(iseg_of(ip, r->host, true), r);
}

/* A dirty segment's steps scanned again. */
static int iseg_scan(struct store *s, const char *id, struct iseg *sg, struct err *e)
{
    char *name = sg->p.name;
    sg->p.name = NULL;
    pool_cleanup(&sg->p);
    memset(&sg->p, 0, sizeof(sg->p));
    sg->p.name = name;
    int rc = store_steps_scan_host(s, id, name, sg->host, scan_keys, N_KEYS, iseg_row, sg, e);
    if (rc == 0 && sg->p.sum.steps == 0) /* steps are never deleted: not seen */
        rc = err_set(e, PP_EDB, "rollout %s: the steps of pool %s, host %s are gone", id, name,
                     sg->host ? sg->host : "(none)");
    return rc;
}

/* Render a scanned host's record into its text and counts; the record is freed. */
static void iseg_render(struct iseg *sg, enum store_rollout_state ro, json_t *facts,
                        json_t *host_facts)
{
    struct jcounts c = {0};
    free(sg->text);
    sg->text = NULL;
    sg->len = 0;
    sg->ro_dep = false;
    if (sg->p.n_hosts == 1) { /* a host's segment holds that host alone */
        struct jhost *h = &sg->p.hosts[0];
        sg->ro_dep = host_state_ro_dep(h, ro, facts_reboot_pending(host_facts, sg->p.name, h->ref));
        host_count(&c, h, sg->p.name, ro, host_facts);
        c.live_patched = pool_live_patched(&sg->p);
        json_t *hj = host_json(h, sg->p.name, ro, facts, host_facts, true);
        sg->text = json_dumps(hj, JSON_COMPACT);
        sg->len = sg->text ? strlen(sg->text) : 0;
        json_decref(hj);
    }
    sg->c = c;
    pool_hosts_cleanup(&sg->p);
    sg->dirty = false;
}

/* The rollout's state changed from what inc was rendered with: the hosts whose records read
 * otherwise in another state are scanned and rendered again (not every host: the end of a
 * rollout, RUNNING to DONE, changes the few hosts without steps). */
static void inc_mark_ro_dep(struct inc_one *inc)
{
    for (size_t i = 0; i < inc->n_pools; i++)
        for (size_t k = 0; k < inc->pools[i].n_segs; k++)
            if (inc->pools[i].segs[k].ro_dep)
                inc->pools[i].segs[k].dirty = true;
}

static int iseg_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct iseg *)a)->min_seq, y = ((const struct iseg *)b)->min_seq;
    return (x > y) - (x < y);
}

/* A pool's fields and counts from its segments': sums, the first failed step, else the first
 * unfinished one (what one scan of the pool's steps in seq order finds); hosts by first step. */
static void ipool_combine(struct ipool *ip)
{
    qsort(ip->segs, ip->n_segs, sizeof(*ip->segs), iseg_cmp);
    ip->last_seg = 0;
    char *name = ip->p.name;
    ip->p.name = NULL;
    pool_cleanup(&ip->p);
    memset(&ip->p, 0, sizeof(ip->p));
    ip->p.name = name;
    memset(&ip->c, 0, sizeof(ip->c));
    ip->hosts_len = 2;
    const struct jpool *cur = NULL;
    size_t n_hosts = 0;
    for (size_t i = 0; i < ip->n_segs; i++) {
        const struct iseg *sg = &ip->segs[i];
        const struct jpool *q = &sg->p;
        ip->p.total += q->total;
        ip->p.done += q->done;
        ip->p.failed = ip->p.failed || q->failed;
        sum_add(&ip->p.sum, &q->sum);
        if (q->cur_kind && (!cur || (q->failed && !cur->failed) ||
                            (q->failed == cur->failed && q->cur_seq < cur->cur_seq)))
            cur = q; /* a failed segment's current step is its first failed one */
        if (!sg->host)
            continue;
        ip->c.total += sg->c.total;
        ip->c.done += sg->c.done;
        ip->c.skipped += sg->c.skipped;
        ip->c.failed += sg->c.failed;
        ip->c.not_started += sg->c.not_started;
        ip->c.live_patched += sg->c.live_patched;
        ip->hosts_len += (sg->text ? sg->len : 4) + (n_hosts++ ? 1 : 0);
    }
    if (cur) {
        ip->p.cur_kind = xstrdup(cur->cur_kind);
        ip->p.cur_seq = cur->cur_seq;
        ip->p.cur_host_step = cur->cur_host_step;
        ip->p.cur_pending = cur->cur_pending;
    }
    ip->dirty = false;
}

/* The dirty segments scanned again (unless the whole rollout just was). */
static int inc_scan_dirty(struct store *s, struct inc_one *inc, struct err *e)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < inc->n_pools; i++)
        for (size_t k = 0; rc == 0 && k < inc->pools[i].n_segs; k++)
            if (inc->pools[i].segs[k].dirty)
                rc = iseg_scan(s, inc->id, &inc->pools[i].segs[k], e);
    return rc;
}

/* The dirty hosts rendered, their pools combined again; counted in st. */
static void inc_render(struct inc_one *inc, enum store_rollout_state ro, json_t *facts,
                       struct exec_json_inc_stats *st)
{
    for (size_t i = 0; i < inc->n_pools; i++) {
        struct ipool *ip = &inc->pools[i];
        for (size_t k = 0; k < ip->n_segs; k++) {
            struct iseg *sg = &ip->segs[k];
            if (!sg->dirty)
                continue;
            iseg_render(sg, ro, facts, inc->host_facts);
            ip->dirty = true;
            st->hosts_rendered += sg->host != NULL;
        }
        if (ip->dirty) {
            ipool_combine(ip);
            st->pools_rendered++;
        }
        st->bytes += sizeof(*ip) + ip->cap_segs * sizeof(*ip->segs);
        for (size_t k = 0; k < ip->n_segs; k++) /* + its host's ref */
            st->bytes += ip->segs[k].len + (ip->segs[k].host ? strlen(ip->segs[k].host) + 1 : 0);
    }
}

/* The arrays of a full build cut to their size (a pool of 16 hosts has 17 segments: 32 slots
 * otherwise); a host added later grows its pool's again. */
static void inc_fit(struct inc_one *inc)
{
    for (size_t i = 0; i < inc->n_pools; i++) {
        struct ipool *ip = &inc->pools[i];
        if (ip->n_segs && ip->n_segs < ip->cap_segs) {
            ip->segs = xreallocarray(ip->segs, ip->n_segs, sizeof(*ip->segs));
            ip->cap_segs = ip->n_segs;
        }
    }
    if (inc->n_pools && inc->n_pools < inc->cap_pools) {
        inc->pools = xreallocarray(inc->pools, inc->n_pools, sizeof(*inc->pools));
        inc->cap_pools = inc->n_pools;
    }
}

/* Bring inc up to date with the journal: which hosts changed (their steps since inc->rv, their
 * facts, their verification marks), those scanned and rendered again and their pools combined;
 * everything when the key (the rollout's state) changed. */
static int inc_refresh(struct store *s, struct exec_json_cache *cache, struct inc_one *inc,
                       const struct store_rollout *ro, struct exec_json_inc_stats *st,
                       struct err *e)
{
    char *key = inc_key(ro);
    bool full = inc->n_pools == 0 || !inc->key || !str_eq(inc->key, key);
    struct mark_ctx m = {inc, false};
    int64_t rv = 0;
    /* the version is read first: whatever is written after it is seen by the next build */
    int rc = store_steps_changed(s, ro->id, full ? INT64_MAX : inc->rv, &rv, mark_changed, &m, e);
    if (rc == 0 && (full || m.unknown || rv < inc->rv)) {
        full = true;
        inc_reset(inc);
        rc = store_steps_scan(s, inc->id, scan_keys, N_KEYS, inc_all_row, inc, e);
        inc_fit(inc);
    } else if (rc == 0 && inc->ro != ro->state) {
        inc_mark_ro_dep(inc);
    }
    struct frows f = {0};
    json_t *verified = json_object();
    if (rc == 0)
        rc = store_host_facts_scan(s, ro->id, frow_add, &f, e);
    if (rc == 0) {
        verified_reboots(s, ro->id, verified);
        facts_mark(inc, &f, verified);
    }
    if (rc == 0 && !full) /* a host's record is freed once rendered: scanned again for its facts */
        rc = inc_scan_dirty(s, inc, e);
    json_t *facts = rc == 0 ? plan_facts_get(s, cache, ro->id) : NULL;
    if (rc == 0)
        inc_host_facts(inc, &f, verified);
    json_decref(verified);
    *st = (struct exec_json_inc_stats){.pools = inc->n_pools, .full = full};
    if (rc == 0)
        inc_render(inc, ro->state, facts, st);
    json_decref(facts);
    frows_cleanup(&f);
    free(inc->key);
    inc->key = key;
    inc->ro = ro->state;
    inc->rv = rv;
    if (rc)
        inc_reset(inc);
    return rc;
}

static int dump_to_buf(const char *p, size_t n, void *data)
{
    buf_append(data, p, n);
    return 0;
}

static void dump_value(struct buf *b, const json_t *v)
{
    json_dump_callback(v, dump_to_buf, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

/*
 * Object o as json_dumps(JSON_COMPACT) writes it (keys in their order), the value of raw_key
 * written by raw(b, ctx) instead: how the rollout's text splices in its pools' cached hosts.
 */
static void dump_spliced(struct buf *b, json_t *o, const char *raw_key,
                         void (*raw)(struct buf *b, void *ctx), void *ctx)
{
    const char *k;
    json_t *v;
    bool first = true;
    buf_putc(b, '{');
    json_object_foreach(o, k, v)
    {
        if (!first)
            buf_putc(b, ',');
        first = false;
        json_t *ks = json_string(k);
        dump_value(b, ks);
        json_decref(ks);
        buf_putc(b, ':');
        if (str_eq(k, raw_key))
            raw(b, ctx);
        else
            dump_value(b, v);
    }
    buf_putc(b, '}');
}

/* A pool's "hosts": its hosts' texts joined, as json_dumps writes the array. */
static void raw_hosts(struct buf *b, void *ctx)
{
    const struct ipool *ip = ctx;
    bool first = true;
    buf_putc(b, '[');
    for (size_t i = 0; i < ip->n_segs; i++) {
        const struct iseg *sg = &ip->segs[i];
        if (!sg->host)
            continue;
        if (!first)
            buf_putc(b, ',');
        first = false;
        buf_append(b, sg->text ? sg->text : "null", sg->text ? sg->len : 4);
    }
    buf_putc(b, ']');
}

struct splice_pools {
    json_t *pools;
    struct inc_one *inc;
};

static void raw_pools(struct buf *b, void *ctx)
{
    struct splice_pools *sp = ctx;
    buf_putc(b, '[');
    for (size_t i = 0; i < sp->inc->n_pools; i++) {
        if (i)
            buf_putc(b, ',');
        dump_spliced(b, json_array_get(sp->pools, i), "hosts", raw_hosts, &sp->inc->pools[i]);
    }
    buf_putc(b, ']');
}

/* One rollout's text built incrementally (see exec_json.h). */
int exec_json_rollout_text_inc(struct store *s, struct exec_json_cache *cache,
                               struct exec_json_inc *incs, const struct store_rollout *head,
                               int64_t now_ms, char **text, size_t *len, int64_t *until_ms,
                               struct exec_json_inc_stats *stats, struct err *e)
{
    struct inc_one *inc = inc_slot(incs, head->id);
    struct exec_json_inc_stats st0;
    *text = NULL;
    *len = 0;
    int rc = inc_refresh(s, cache, inc, head, stats ? stats : &st0, e);
    if (rc)
        return rc;
    struct jscan agg = {.detail = true};
    size_t est = 4096;
    for (size_t i = 0; i < inc->n_pools; i++) {
        sum_add(&agg.sum, &inc->pools[i].p.sum);
        est += inc->pools[i].hosts_len + 512;
    }
    json_t *o = rollout_json(s, cache, head, &agg, now_ms, true, inc);
    *until_ms = valid_until(head, &agg, now_ms);
    struct buf b;
    buf_init(&b);
    buf_reserve(&b, est);
    struct splice_pools sp = {json_object_get(o, "pools"), inc};
    dump_spliced(&b, o, "pools", raw_pools, &sp);
    *len = b.len;
    *text = buf_take(&b);
    json_decref(o);
    jscan_cleanup(&agg);
    json_decref(inc->host_facts); /* only this build's */
    inc->host_facts = NULL;
    return 0;
}

/* Every rollout as summaries (see exec_json.h). */
int exec_json_rollouts(struct store *s, struct exec_json_cache *cache, int64_t now_ms, json_t **out,
                       struct err *e)
{
    struct store_rollout_list rl = {0};
    *out = NULL;
    int rc = store_rollout_list_heads(s, STORE_ROLLOUT_MASK_ALL, ROLLOUTS_LISTED, &rl, e);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < rl.n && rc == 0; i++) {
        json_t *one = NULL;
        rc = build(s, cache, &rl.items[i], now_ms, false, &one, NULL, e);
        if (rc == 0)
            json_array_append_new(arr, one);
    }
    store_rollout_list_cleanup(&rl);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = json_pack("{s:o}", "rollouts", arr);
    return 0;
}

/* One rollout as JSON through the executor's store (see exec.h).  Engine thread. */
int exec_rollout_json(struct exec *x, const char *id, json_t **out, struct err *e)
{
    return exec_json_rollout(exec_store(x), NULL, id, 0, out, e);
}

/* Every rollout through the executor's store (see exec.h).  Engine thread. */
int exec_rollouts_json(struct exec *x, json_t **out, struct err *e)
{
    return exec_json_rollouts(exec_store(x), NULL, 0, out, e);
}
