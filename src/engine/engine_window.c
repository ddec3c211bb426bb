/* SPDX-License-Identifier: MIT */
/*
 * engine_window.c - maintenance windows and schedules of automated rollouts (docs/windows.md).
 *
 * A window is a recurrence (base/recur.h) in a time zone (base/tz.h) with a duration, attached
 * to registered pools; the executor asks engine_window_gate (engine thread) before a pool
 * begins its first step or a batch of hosts.  A schedule is a recurrence that starts an
 * automated rollout (minimal set per host, its policy) of its pools — or every pool — on its
 * own thread, through engine_rollout_start like any other caller, and journals when it fired,
 * what it started and why it could not.
 *
 * Both live in the store (store_window.c; own read-write connection, like the webhooks) and,
 * compiled, in memory under one mutex.  Threads: the add / list / remove functions run on any
 * thread; the gate on the engine thread; the scheduler on its own thread.
 */
#include "engine/engine_window.h"

#include "engine/engine_int.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/recur.h"
#include "base/str.h"
#include "base/tz.h"
#include "base/vec.h"
#include "store/store.h"
#include "store/store_window.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGW             "window"
#define WIN_NAME_MAX     64
#define WIN_POOLS_MAX    256
#define WIN_MAX          256
#define WIN_DURATION_MAX (7 * 86400)
/* A schedule's start missed while the daemon was down still fires within this long after it. */
#define SCHED_GRACE_S 3600
/* The scheduler looks at the clock at least this often (real ms). */
#define SCHED_IDLE_MS 60000

struct win_item {
    char *name;
    char *recurrence;
    struct recur r;
    struct tz_zone *z;
    int64_t duration_s; /* windows */
    char **pools;       /* empty for a schedule of every pool */
    size_t n_pools;
    enum engine_policy policy; /* schedules */
    int max_parallel;
    int64_t last_fired_s;
};

struct engine_windows {
    struct engine *eng;
    struct pp_clock *clock; /* borrowed */
    struct store *store;    /* own connection, under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop, running;
    pthread_t thread;
    struct win_item *items[2]; /* [STORE_WIN_WINDOW], [STORE_WIN_SCHEDULE] */
    size_t n[2];
};

static const char *const KIND_NAME[2] = {"window", "schedule"};

static void item_cleanup(struct win_item *it)
{
    free(it->name);
    free(it->recurrence);
    tz_free(it->z);
    for (size_t i = 0; i < it->n_pools; i++)
        free(it->pools[i]);
    free(it->pools);
    memset(it, 0, sizeof(*it));
}

/* "3600", "90m", "4h", "1h30m", "2d" into seconds. */
static int parse_duration(const json_t *j, int64_t *out, struct err *e)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
    } else if (json_is_string(j)) {
        const char *s = json_string_value(j);
        int64_t total = 0;
        while (*s) {
            char *end;
            long long v = strtoll(s, &end, 10);
            int64_t unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
            if (end == s || v < 0 || v > WIN_DURATION_MAX)
                return err_set(e, PP_EINVAL, "duration '%s': want e.g. 3600, 90m, 4h, 1h30m",
                               json_string_value(j));
            total += v * unit;
            s = *end && strchr("dhms", *end) ? end + 1 : end;
            if (*end && !strchr("dhms", *end))
                return err_set(e, PP_EINVAL, "duration '%s': unknown unit '%c' (d, h, m, s)",
                               json_string_value(j), *end);
        }
        *out = total;
    } else {
        return err_set(e, PP_EINVAL, "duration: a number of seconds or a text like \"4h\"");
    }
    if (*out < 60 || *out > WIN_DURATION_MAX)
        return err_set(e, PP_EINVAL, "duration must be between 1 minute and 7 days");
    return 0;
}

static int check_name(const char *what, const char *name, struct err *e)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > WIN_NAME_MAX)
        return err_set(e, PP_EINVAL, "%s name: 1 to %d characters", what, WIN_NAME_MAX);
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return err_set(e, PP_EINVAL, "%s name '%s': letters, digits, '-', '_' and '.' only",
                           what, name);
    return 0;
}

/* Compile a stored spec {recurrence, tz, duration_s | policy, max_parallel, pools}. */
static int compile(enum store_win_kind k, const char *name, const json_t *spec, struct win_item *it,
                   struct err *e)
{
    memset(it, 0, sizeof(*it));
    const char *rec = json_string_value(json_object_get(spec, "recurrence"));
    const char *tz = json_string_value(json_object_get(spec, "tz"));
    int rc = 0;
    if (!rec)
        return err_set(e, PP_EINVAL, "%s '%s': recurrence is required (e.g. \"0 2 * * TUE#2\")",
                       KIND_NAME[k], name);
    if ((rc = recur_parse(rec, &it->r, e)) != 0 || (rc = tz_load(tz ? tz : "UTC", &it->z, e)))
        return rc;
    it->name = xstrdup(name);
    it->recurrence = xstrdup(rec);
    json_t *pools = json_object_get(spec, "pools"), *p;
    size_t i;
    it->pools = xcalloc(json_array_size(pools) + 1, sizeof(char *));
    json_array_foreach(pools, i, p) if (json_is_string(p)) it->pools[it->n_pools++] =
        xstrdup(json_string_value(p));
    if (k == STORE_WIN_WINDOW) {
        rc = parse_duration(json_object_get(spec, "duration_s"), &it->duration_s, e);
    } else {
        const char *pol = json_string_value(json_object_get(spec, "policy"));
        it->policy = pol && str_eq(pol, "return") ? ENGINE_POLICY_RETURN : ENGINE_POLICY_MINIMAL;
        it->max_parallel = (int)jsonx_int(spec, "max_parallel", 0);
    }
    int64_t next;
    if (rc == 0 && recur_next(&it->r, it->z, (int64_t)time(NULL), &next) != 0)
        rc = err_set(e, PP_EINVAL, "%s '%s': recurrence '%s' never happens", KIND_NAME[k], name,
                     rec);
    if (rc)
        item_cleanup(it);
    return rc;
}

/* ---------------------------------------------------------------- JSON */

static json_t *iso_s(int64_t t)
{
    if (t < 0)
        return json_null();
    char b[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(b);
}

static json_t *item_json(enum store_win_kind k, const struct win_item *it, int64_t now_s)
{
    json_t *pools = json_array();
    for (size_t i = 0; i < it->n_pools; i++)
        json_array_append_new(pools, json_string(it->pools[i]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "name", it->name, "recurrence", it->recurrence,
                          "tz", tz_name(it->z), "pools", pools);
    if (k == STORE_WIN_WINDOW) {
        struct recur_window w;
        recur_window_at(&it->r, it->z, it->duration_s, now_s, &w);
        json_object_set_new(o, "duration_s", json_integer(it->duration_s));
        json_object_set_new(o, "open", json_boolean(w.open));
        json_object_set_new(o, "ends", w.open ? iso_s(w.end) : json_null());
        json_object_set_new(o, "next", iso_s(w.next));
    } else {
        int64_t next = -1;
        recur_next(&it->r, it->z, (it->last_fired_s > now_s ? it->last_fired_s : now_s) + 1, &next);
        json_object_set_new(o, "policy",
                            json_string(it->policy == ENGINE_POLICY_RETURN ? "return" : "minimal"));
        json_object_set_new(o, "max_parallel", json_integer(it->max_parallel));
        json_object_set_new(o, "next", iso_s(next));
    }
    return o;
}

/* ---------------------------------------------------------------- load, add, list, remove */

static void items_add(struct engine_windows *w, enum store_win_kind k, struct win_item *it)
{
    w->items[k] = vec_grow_implied(w->items[k], w->n[k], sizeof(struct win_item));
    w->items[k][w->n[k]++] = *it;
}

static void load_kind(struct engine_windows *w, enum store_win_kind k)
{
    json_t *rows = NULL, *row;
    size_t i;
    struct err e = {0};
    if (store_window_list(w->store, k, &rows, &e) != 0) {
        log_error(LOGW, "loading %ss: %s", KIND_NAME[k], e.msg);
        return;
    }
    json_array_foreach(rows, i, row)
    {
        struct win_item it;
        const char *name = json_string_value(json_object_get(row, "name"));
        if (compile(k, name, json_object_get(row, "spec"), &it, &e) != 0) {
            log_error(LOGW, "%s %s is ignored: %s", KIND_NAME[k], name, e.msg);
            continue;
        }
        it.last_fired_s = jsonx_int(row, "last_fired_ms", 0) / 1000;
        items_add(w, k, &it);
    }
    json_decref(rows);
}

/* The request's spec, checked, as stored: {recurrence, tz, pools, duration_s | policy, ...}. */
static int normalize(struct engine_windows *w, enum store_win_kind k, const json_t *in,
                     json_t **spec, struct err *e)
{
    const char *name = json_string_value(json_object_get(in, "name"));
    const json_t *pools = json_object_get(in, "pools");
    int rc = check_name(KIND_NAME[k], name, e);
    if (rc)
        return rc;
    if (pools && (!json_is_array(pools) || json_array_size(pools) > WIN_POOLS_MAX))
        return err_set(e, PP_EINVAL, "pools: an array of at most %d pool names", WIN_POOLS_MAX);
    if (k == STORE_WIN_WINDOW && json_array_size(pools) == 0)
        return err_set(e, PP_EINVAL, "window '%s': pools is required (the pools it applies to)",
                       name);
    json_t *known = NULL;
    if (json_array_size(pools) > 0 && (rc = engine_pools(w->eng, &known, e)) != 0)
        return rc;
    size_t i, n;
    json_t *p, *q;
    json_array_foreach(pools, i, p)
    {
        bool found = false;
        json_array_foreach(json_object_get(known, "pools"), n, q) found =
            found || str_eq(json_string_value(json_object_get(q, "name")), json_string_value(p));
        if (!found) {
            json_decref(known);
            return err_set(e, PP_ENOTFOUND, "%s '%s': no pool named '%s' is registered",
                           KIND_NAME[k], name, json_is_string(p) ? json_string_value(p) : "?");
        }
    }
    json_decref(known);
    const char *pol = json_string_value(json_object_get(in, "policy"));
    if (k == STORE_WIN_SCHEDULE && pol && !str_eq(pol, "minimal") && !str_eq(pol, "return"))
        return err_set(e, PP_EINVAL, "schedule '%s': policy is minimal or return", name);
    *spec =
        json_pack("{s:O?, s:O?, s:o}", "recurrence", json_object_get(in, "recurrence"), "tz",
                  json_object_get(in, "tz"), "pools", pools ? json_deep_copy(pools) : json_array());
    if (k == STORE_WIN_WINDOW)
        json_object_set(*spec, "duration_s", json_object_get(in, "duration"));
    else
        json_object_set_new(*spec, "policy", json_string(pol ? pol : "minimal"));
    if (k == STORE_WIN_SCHEDULE && json_object_get(in, "max_parallel"))
        json_object_set(*spec, "max_parallel", json_object_get(in, "max_parallel"));
    return 0;
}

int engine_windows_add(struct engine_windows *w, enum store_win_kind k, const json_t *in,
                       json_t **out, struct err *e)
{
    json_t *spec = NULL;
    struct win_item it;
    int rc = normalize(w, k, in, &spec, e);
    const char *name = json_string_value(json_object_get(in, "name"));
    if (rc == 0 && (rc = compile(k, name, spec, &it, e)) == 0) {
        /* store the duration as seconds */
        if (k == STORE_WIN_WINDOW)
            json_object_set_new(spec, "duration_s", json_integer(it.duration_s));
        char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
        pthread_mutex_lock(&w->lock);
        it.last_fired_s = clock_now_s(w->clock);
        if (w->n[k] >= WIN_MAX)
            rc = err_set(e, PP_ELIMIT, "at most %d %ss", WIN_MAX, KIND_NAME[k]);
        else
            rc = store_window_add(w->store, k, name, text, it.last_fired_s * 1000, e);
        if (rc == 0) {
            *out = item_json(k, &it, clock_now_s(w->clock));
            items_add(w, k, &it);
            pthread_cond_signal(&w->wake);
        } else {
            item_cleanup(&it);
        }
        pthread_mutex_unlock(&w->lock);
        free(text);
    }
    json_decref(spec);
    return rc;
}

int engine_windows_list(struct engine_windows *w, enum store_win_kind k, json_t **out,
                        struct err *e)
{
    json_t *arr = json_array(), *rows = NULL;
    pthread_mutex_lock(&w->lock);
    int64_t now = clock_now_s(w->clock);
    int rc = k == STORE_WIN_SCHEDULE ? store_window_list(w->store, k, &rows, e) : 0;
    for (size_t i = 0; rc == 0 && i < w->n[k]; i++) {
        json_t *o = item_json(k, &w->items[k][i], now), *row;
        size_t n;
        json_array_foreach(rows, n, row) if (str_eq(json_string_value(json_object_get(row, "name")),
                                                    w->items[k][i].name))
        {
            json_int_t f = json_integer_value(json_object_get(row, "last_fired_ms"));
            json_object_set_new(o, "last_fired", iso_s(f / 1000));
            json_object_set(o, "last_rollout", json_object_get(row, "last_rollout"));
            json_object_set(o, "last_error", json_object_get(row, "last_error"));
        }
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&w->lock);
    json_decref(rows);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = json_pack("{s:o}", k == STORE_WIN_SCHEDULE ? "schedules" : "windows", arr);
    return 0;
}

int engine_windows_remove(struct engine_windows *w, enum store_win_kind k, const char *name,
                          struct err *e)
{
    pthread_mutex_lock(&w->lock);
    int rc = store_window_remove(w->store, k, name, e);
    for (size_t i = 0; rc == 0 && i < w->n[k]; i++)
        if (str_eq(w->items[k][i].name, name)) {
            item_cleanup(&w->items[k][i]);
            w->items[k][i] = w->items[k][--w->n[k]];
            break;
        }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* ---------------------------------------------------------------- the gate */

static bool has_pool(const struct win_item *it, const char *pool)
{
    for (size_t i = 0; i < it->n_pools; i++)
        if (str_eq(it->pools[i], pool))
            return true;
    return false;
}

bool engine_windows_gate(struct engine_windows *w, const char *pool, int64_t now_ms,
                         int64_t need_ms, int64_t *until_ms, char *why, size_t why_len)
{
    bool any = false, ok = false;
    int64_t now = now_ms / 1000, until = -1, need = (need_ms + 999) / 1000;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n[STORE_WIN_WINDOW] && !ok; i++) {
        const struct win_item *it = &w->items[STORE_WIN_WINDOW][i];
        if (!has_pool(it, pool))
            continue;
        struct recur_window rw;
        any = true;
        if (recur_window_at(&it->r, it->z, it->duration_s, now, &rw) != 0)
            continue;
        ok = rw.open && now + need <= rw.end;
        int64_t again = rw.next;
        if (need > it->duration_s)
            snprintf(why, why_len, "needs %lld s, more than window %s lasts (%lld s)",
                     (long long)need, it->name, (long long)it->duration_s);
        else if (rw.open)
            snprintf(why, why_len, "needs %lld s but window %s ends in %lld s", (long long)need,
                     it->name, (long long)(rw.end - now));
        else
            snprintf(why, why_len, "is outside its maintenance window %s", it->name);
        if (need > it->duration_s)
            again = -1;
        if (again >= 0 && (until < 0 || again < until))
            until = again;
    }
    pthread_mutex_unlock(&w->lock);
    *until_ms = until >= 0 ? until * 1000 : -1;
    return !any || ok;
}

/* ---------------------------------------------------------------- the scheduler */

/* Start schedule it's rollout (lock not held); record it (lock held on return). */
static void fire(struct engine_windows *w, struct win_item *it, int64_t at_s)
{
    /* copies: the schedule may be removed while the lock is not held */
    char **pools = xcalloc(it->n_pools + 1, sizeof(char *));
    for (size_t i = 0; i < it->n_pools; i++)
        pools[i] = xstrdup(it->pools[i]);
    struct engine_plan_req req = {.pools = (const char *const *)pools,
                                  .n_pools = it->n_pools,
                                  .automated = true,
                                  .policy = it->policy,
                                  .max_parallel = it->max_parallel};
    char *name = xstrdup(it->name), *id = NULL;
    struct err e = {0};
    pthread_mutex_unlock(&w->lock);
    int rc = engine_rollout_start(w->eng, &req, &id, &e);
    if (rc == 0)
        log_info(LOGW, "schedule %s started rollout %s", name, id);
    else
        log_warn(LOGW, "schedule %s could not start a rollout: %s", name, e.msg);
    pthread_mutex_lock(&w->lock);
    struct err se = {0};
    if (store_schedule_fired(w->store, name, at_s * 1000, id, rc ? e.msg : NULL, &se) != 0)
        log_error(LOGW, "schedule %s: %s", name, se.msg);
    for (size_t i = 0; i < req.n_pools; i++)
        free(pools[i]);
    free(pools);
    free(name);
    free(id);
}

/* Fire what is due; the next start of any schedule (s, -1 when none).  Lock held. */
static int64_t run_due(struct engine_windows *w)
{
    int64_t next_any = -1;
    for (size_t i = 0; i < w->n[STORE_WIN_SCHEDULE] && !w->stop; i++) {
        struct win_item *it = &w->items[STORE_WIN_SCHEDULE][i];
        int64_t now = clock_now_s(w->clock), s, due = -1;
        /* the latest start not fired yet and not in the future */
        for (int guard = 0;
             guard < 10000 && recur_next(&it->r, it->z, it->last_fired_s + 1, &s) == 0 && s <= now;
             guard++) {
            due = s;
            it->last_fired_s = s;
        }
        if (due >= 0 && now - due <= SCHED_GRACE_S) {
            fire(w, it, due);
            i = (size_t)-1; /* the list may have changed while unlocked: look again */
            continue;
        }
        if (due >= 0) {
            struct err se = {0};
            store_schedule_fired(w->store, it->name, due * 1000, NULL,
                                 "missed: the daemon was not running at that time", &se);
        }
        if (recur_next(&it->r, it->z, now + 1, &s) == 0 && (next_any < 0 || s < next_any))
            next_any = s;
    }
    return next_any;
}

static void *scheduler_main(void *arg)
{
    struct engine_windows *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        int64_t next = run_due(w);
        if (w->stop)
            break;
        int64_t real = SCHED_IDLE_MS;
        if (next >= 0) {
            int64_t sim = next * 1000 - clock_now_ms(w->clock);
            real = clock_get_kind(w->clock) == CLOCK_KIND_VIRTUAL
                       ? 20
                       : clock_real_ms_for(w->clock, sim);
        }
        real = real < 5 ? 5 : real > SCHED_IDLE_MS ? SCHED_IDLE_MS : real;
        struct timespec ts = clock_deadline_ts(CLOCK_REALTIME, real);
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

int engine_windows_new(struct engine *eng, const char *db_path, struct pp_clock *clock,
                       struct engine_windows **out, struct err *e)
{
    struct engine_windows *w = xcalloc(1, sizeof(*w));
    struct store_opts so = {.clock = clock};
    *out = NULL;
    w->eng = eng;
    w->clock = clock;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    int rc = store_open(db_path, &so, &w->store, e);
    if (rc != 0) {
        engine_windows_free(w);
        return rc;
    }
    load_kind(w, STORE_WIN_WINDOW);
    load_kind(w, STORE_WIN_SCHEDULE);
    *out = w;
    return 0;
}

int engine_windows_start(struct engine_windows *w, struct err *e)
{
    if (pthread_create(&w->thread, NULL, scheduler_main, w) != 0)
        return err_set(e, PP_ENOMEM, "cannot start the scheduler thread");
    w->running = true;
    return 0;
}

void engine_windows_stop(struct engine_windows *w)
{
    if (!w || !w->running)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->running = false;
}

void engine_windows_free(struct engine_windows *w)
{
    if (!w)
        return;
    engine_windows_stop(w);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < w->n[k]; i++)
            item_cleanup(&w->items[k][i]);
        free(w->items[k]);
    }
    store_close(w->store);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

/* ---------------------------------------------------------------- engine.h */

int engine_window_add(struct engine *eng, enum engine_win_kind k, const json_t *spec, json_t **out,
                      struct err *e)
{
    if (!eng->wins)
        return err_set(e, PP_ESTATE, "maintenance windows are off (the engine is not started)");
    if (!json_is_object(spec))
        return err_set(e, PP_EINVAL, "a JSON object is expected");
    return engine_windows_add(eng->wins, (enum store_win_kind)k, spec, out, e);
}

int engine_window_list(struct engine *eng, enum engine_win_kind k, json_t **out, struct err *e)
{
    if (!eng->wins)
        return err_set(e, PP_ESTATE, "maintenance windows are off (the engine is not started)");
    return engine_windows_list(eng->wins, (enum store_win_kind)k, out, e);
}

int engine_window_remove(struct engine *eng, enum engine_win_kind k, const char *name,
                         struct err *e)
{
    if (!eng->wins)
        return err_set(e, PP_ESTATE, "maintenance windows are off (the engine is not started)");
    return engine_windows_remove(eng->wins, (enum store_win_kind)k, name, e);
}

/* Run fn with the windows' store connection under their lock (health gates keep their settings
 * there too: engine_gate.c).  Any thread; fn must not call back into the windows. */
int engine_windows_store_do(struct engine_windows *w,
                            int (*fn)(void *ctx, struct store *s, struct err *e), void *ctx,
                            struct err *e)
{
    if (!w)
        return err_set(e, PP_ESTATE, "the engine is not started");
    pthread_mutex_lock(&w->lock);
    int rc = fn(ctx, w->store, e);
    pthread_mutex_unlock(&w->lock);
    return rc;
}
