/* SPDX-License-Identifier: MIT */
/*
 * engine_seam.c - TEST DOUBLE of the engine (src/engine/engine.h) for the api unit tests: a link
 * seam in mosquitto's *_stubs.c style.  It is linked only into tests/unit/test_api; the daemon
 * links the real engine.  Each engine_* records its arguments in `seam` and answers with what
 * the test put there (a return code, an error, a JSON document), so the tests can check that
 * the REST layer passes requests and answers through unchanged.  engine_subscribe keeps the
 * callback so seam_emit() can play the engine thread sending progress events.
 */
#include "engine_seam.h"

#include "base/jparts.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t seam_lock = PTHREAD_MUTEX_INITIALIZER;

struct seam_state seam;

static enum engine_policy seam_default_policy = ENGINE_POLICY_RETURN;

void seam_reset(void)
{
    json_decref(seam.answer);
    free(seam.last_pool_name);
    free(seam.last_url);
    free(seam.last_password);
    free(seam.last_id);
    json_decref(seam.last_req);
    memset(&seam, 0, sizeof seam);
    seam_default_policy = ENGINE_POLICY_RETURN;
}

static int reply_locked(const char *call, json_t **out, struct err *e);

/* Answer of every request: the scripted error, or a copy of seam.answer. */
static int reply(const char *call, json_t **out, struct err *e)
{
    int rc;

    if (seam.delay_ms > 0)
        usleep((useconds_t)seam.delay_ms * 1000);
    pthread_mutex_lock(&seam_lock);
    rc = reply_locked(call, out, e);
    pthread_mutex_unlock(&seam_lock);
    return rc;
}

void seam_set_answer(json_t *take)
{
    pthread_mutex_lock(&seam_lock);
    json_decref(seam.answer);
    seam.answer = take;
    pthread_mutex_unlock(&seam_lock);
}

int seam_calls(void)
{
    pthread_mutex_lock(&seam_lock);
    int n = seam.calls;
    pthread_mutex_unlock(&seam_lock);
    return n;
}

static int reply_locked(const char *call, json_t **out, struct err *e)
{
    str_lcpy(seam.last_call, call, sizeof seam.last_call);
    seam.calls++;
    if (seam.rc) {
        err_set(e, seam.rc, "%s", seam.msg[0] ? seam.msg : "scripted failure");
        if (seam.xapi_code[0] && e)
            str_lcpy(e->xapi_code, seam.xapi_code, sizeof e->xapi_code);
        return seam.rc;
    }
    if (out)
        *out = seam.answer ? json_deep_copy(seam.answer) : json_object();
    return 0;
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void record_req(const struct engine_plan_req *req)
{
    json_decref(seam.last_req);
    seam.last_req = json_pack("{s:o s:b s:o s:s? s:s s:b}", "pools",
                              strings(req->pools, req->n_pools), "automated", req->automated,
                              "updates", strings(req->updates, req->n_updates), "file", req->file,
                              "policy", req->policy == ENGINE_POLICY_RETURN ? "return" : "minimal",
                              "stay_on_release", req->stay_on_release);
    if (req->max_parallel) /* only when given, so the other requests read as before */
        json_object_set_new(seam.last_req, "max_parallel", json_integer(req->max_parallel));
    if (req->n_hosts)
        json_object_set_new(seam.last_req, "hosts", strings(req->hosts, req->n_hosts));
    if (req->manual_post_tasks)
        json_object_set_new(seam.last_req, "manual_post_tasks", json_true());
}

int engine_new(const struct engine_config *cfg, struct engine **out, struct err *e)
{
    (void)cfg;
    (void)e;
    *out = (struct engine *)&seam;
    return 0;
}

int engine_start(struct engine *eng, struct err *e)
{
    (void)eng;
    (void)e;
    return 0;
}

void engine_free(struct engine *eng)
{
    (void)eng;
}

int engine_pool_add(struct engine *eng, const struct engine_pool_spec *spec, json_t **out,
                    struct err *e)
{
    (void)eng;
    free(seam.last_pool_name);
    free(seam.last_url);
    free(seam.last_password);
    seam.last_pool_name = xstrdup(spec->name);
    seam.last_url = xstrdup(spec->url);
    seam.last_password = xstrdup(spec->password);
    return reply("pool_add", out, e);
}

int engine_pool_remove(struct engine *eng, const char *name, struct err *e)
{
    (void)eng;
    free(seam.last_id);
    seam.last_id = xstrdup(name);
    return reply("pool_remove", NULL, e);
}

int engine_pools(struct engine *eng, json_t **out, struct err *e)
{
    (void)eng;
    return reply("pools", out, e);
}

int engine_updates_check(struct engine *eng, json_t **out, struct err *e)
{
    (void)eng;
    return reply("updates_check", out, e);
}

int engine_updates_view(struct engine *eng, enum engine_view view, enum engine_sort sort,
                        json_t **out, struct err *e)
{
    (void)eng;
    seam.last_view = (int)view;
    seam.last_sort = (int)sort;
    return reply("updates_view", out, e);
}

int engine_updates_csv(struct engine *eng, enum engine_view view, char **csv, struct err *e)
{
    (void)eng;
    seam.last_view = (int)view;
    int rc = reply("updates_csv", NULL, e);
    if (rc == 0)
        *csv = xstrdup(seam.csv ? seam.csv : "");
    return rc;
}

int engine_updates_dismiss(struct engine *eng, const char *const *ids, size_t n, bool all,
                           struct err *e)
{
    (void)eng;
    json_decref(seam.last_req);
    seam.last_req = json_pack("{s:o s:b}", "ids", strings(ids, n), "all", all);
    return reply("updates_dismiss", NULL, e);
}

int engine_updates_restore(struct engine *eng, struct err *e)
{
    (void)eng;
    return reply("updates_restore", NULL, e);
}

int engine_updates_download(struct engine *eng, const char *const *ids, size_t n, json_t **out,
                            struct err *e)
{
    (void)eng;
    json_decref(seam.last_req);
    seam.last_req = json_pack("{s:o}", "ids", strings(ids, n));
    return reply("updates_download", out, e);
}

int engine_client_id_import(struct engine *eng, const char *json_text, size_t len, struct err *e)
{
    (void)eng;
    free(seam.last_id);
    seam.last_id = xstrndup(json_text, len);
    return reply("client_id_import", NULL, e);
}

static int seam_check_interval = 86400;

int engine_set_check_interval(struct engine *eng, int seconds, struct err *e)
{
    (void)eng;
    int rc = reply("set_check_interval", NULL, e);
    if (rc == 0)
        seam_check_interval = seconds;
    return rc;
}

int engine_check_interval(struct engine *eng)
{
    (void)eng;
    return seam_check_interval;
}

int engine_set_default_policy(struct engine *eng, enum engine_policy policy, struct err *e)
{
    (void)eng;
    int rc = reply("set_default_policy", NULL, e);
    if (rc == 0)
        seam_default_policy = policy;
    return rc;
}

enum engine_policy engine_default_policy(struct engine *eng)
{
    (void)eng;
    return seam_default_policy;
}

int engine_plan(struct engine *eng, const struct engine_plan_req *req, json_t **out, struct err *e)
{
    (void)eng;
    record_req(req);
    return reply("plan", out, e);
}

/* The plan as a document in parts: the seam's "plan" answer, its "pools" items as the parts. */
int engine_plan_parts(struct engine *eng, const struct engine_plan_req *req, struct jparts **out,
                      struct err *e)
{
    json_t *v = NULL, *pools;
    int rc = engine_plan(eng, req, &v, e);

    *out = NULL;
    if (rc != 0)
        return rc;
    *out = jparts_new();
    pools = json_object_get(v, "pools");
    if (json_is_array(pools)) {
        size_t i;
        json_t *it;
        json_array_foreach(pools, i, it) jparts_add(*out, it, e);
        json_array_clear(pools);
        rc = jparts_set_envelope(*out, v, "pools", e);
    } else {
        rc = jparts_set_envelope(*out, v, NULL, e);
    }
    json_decref(v);
    return rc;
}

int engine_rollout_start(struct engine *eng, const struct engine_plan_req *req, char **id,
                         struct err *e)
{
    (void)eng;
    record_req(req);
    int rc = reply("rollout_start", NULL, e);
    if (rc == 0)
        *id = xstrdup("r-0001");
    return rc;
}

int engine_rollouts(struct engine *eng, json_t **out, struct err *e)
{
    (void)eng;
    return reply("rollouts", out, e);
}

int engine_rollout_get(struct engine *eng, const char *id, json_t **out, struct err *e)
{
    (void)eng;
    free(seam.last_id);
    seam.last_id = xstrdup(id);
    return reply("rollout_get", out, e);
}

int engine_rollout_text(struct engine *eng, const char *id, int64_t max_age_ms, char **text,
                        size_t *len, int64_t *age_ms, struct err *e)
{
    json_t *out = NULL;
    int rc = engine_rollout_get(eng, id, &out, e);
    seam.last_max_age_ms = max_age_ms;
    *text = rc == 0 ? json_dumps(out, JSON_COMPACT) : NULL;
    *len = *text ? strlen(*text) : 0;
    *age_ms = 0;
    json_decref(out);
    return rc;
}

int engine_rollout_retry(struct engine *eng, const char *id, struct err *e)
{
    (void)eng;
    free(seam.last_id);
    seam.last_id = xstrdup(id);
    return reply("rollout_retry", NULL, e);
}

int engine_rollout_cancel(struct engine *eng, const char *id, struct err *e)
{
    (void)eng;
    free(seam.last_id);
    seam.last_id = xstrdup(id);
    return reply("rollout_cancel", NULL, e);
}

int engine_upgrade_host(struct engine *eng, const char *id, const char *host, const char *action,
                        struct err *e)
{
    (void)eng, (void)host, (void)action;
    free(seam.last_id);
    seam.last_id = xstrdup(id);
    return reply("upgrade_host", NULL, e);
}

int engine_host_forget(struct engine *eng, const char *pool, const char *host, struct err *e)
{
    (void)eng, (void)host;
    free(seam.last_id);
    seam.last_id = xstrdup(pool);
    return reply("host_forget", NULL, e);
}

int engine_pool_trust(struct engine *eng, const char *name, const char *host,
                      const char *fingerprint, json_t **out, struct err *e)
{
    (void)eng, (void)host, (void)fingerprint;
    free(seam.last_id);
    seam.last_id = xstrdup(name);
    return reply("pool_trust", out, e);
}

int engine_pool_set(struct engine *eng, const char *name, const struct engine_pool_settings *s,
                    json_t **out, struct err *e)
{
    (void)eng;
    free(seam.last_id);
    seam.last_id = xstrdup(name);
    seam.last_int = s->live_patching_disabled;
    return reply("pool_set", out, e);
}

int engine_subscribe(struct engine *eng, void (*cb)(void *ud, const char *event_json), void *ud)
{
    (void)eng;
    seam.cb = cb;
    seam.cb_ud = ud;
    return 1;
}

void engine_unsubscribe(struct engine *eng, int id)
{
    (void)eng;
    if (id == 1) {
        seam.cb = NULL;
        seam.cb_ud = NULL;
        seam.unsubscribed++;
    }
}

void seam_emit(const char *event_json)
{
    if (seam.cb)
        seam.cb(seam.cb_ud, event_json);
}

/* webhooks and metrics: the scripted answer, like every request (the api's routes for them) */
int engine_webhook_add(struct engine *eng, const json_t *spec, json_t **out, struct err *e)
{
    (void)eng, (void)spec;
    return reply("webhook_add", out, e);
}

int engine_webhook_list(struct engine *eng, json_t **out, struct err *e)
{
    (void)eng;
    return reply("webhook_list", out, e);
}

int engine_webhook_remove(struct engine *eng, int64_t id, struct err *e)
{
    (void)eng, (void)id;
    return reply("webhook_remove", NULL, e);
}

int engine_webhook_deliveries(struct engine *eng, int64_t id, int limit, json_t **out,
                              struct err *e)
{
    (void)eng, (void)id, (void)limit;
    return reply("webhook_deliveries", out, e);
}

/* maintenance windows and schedules: the scripted answer */
int engine_window_add(struct engine *eng, enum engine_win_kind k, const json_t *spec, json_t **out,
                      struct err *e)
{
    (void)eng, (void)spec;
    return reply(k == ENGINE_WIN_SCHEDULE ? "schedule_add" : "window_add", out, e);
}

int engine_window_list(struct engine *eng, enum engine_win_kind k, json_t **out, struct err *e)
{
    (void)eng;
    return reply(k == ENGINE_WIN_SCHEDULE ? "schedule_list" : "window_list", out, e);
}

int engine_window_remove(struct engine *eng, enum engine_win_kind k, const char *name,
                         struct err *e)
{
    (void)eng, (void)name;
    return reply(k == ENGINE_WIN_SCHEDULE ? "schedule_remove" : "window_remove", NULL, e);
}

int engine_gate_list(struct engine *eng, json_t **out, struct err *e)
{
    (void)eng;
    return reply("gate_list", out, e);
}

int engine_gate_set(struct engine *eng, const json_t *spec, json_t **out, struct err *e)
{
    (void)eng, (void)spec;
    return reply("gate_set", out, e);
}

int engine_gate_remove(struct engine *eng, const char *pool, struct err *e)
{
    (void)eng, (void)pool;
    return reply("gate_remove", NULL, e);
}

int engine_metrics(struct engine *eng, char **text, struct err *e)
{
    (void)eng;
    int rc = reply("metrics", NULL, e);
    *text = rc == 0 ? xstrdup("# TYPE poolpatch_up gauge\npoolpatch_up 1\n") : NULL;
    return rc;
}
