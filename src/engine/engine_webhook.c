/* SPDX-License-Identifier: MIT */
/*
 * engine_webhook.c - the webhook sender (contract: engine_webhook.h).  Progress events arrive on
 * the engine thread through engine_subscribe; the callback only classifies them and puts the
 * interesting ones on an in-memory queue.  The sender thread moves the queue into the store
 * (webhook_deliveries, one row per webhook that wants the event, unique per occurrence), then
 * POSTs every due delivery with libcurl (blocking, on this thread only), records the answer and
 * sleeps until the next one is due or a new event arrives.
 */
#include "engine/engine_webhook.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "store/store.h"
#include "store/store_webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MOD            "webhook"
#define QUEUE_MAX      4096 /* events waiting for the sender thread; more are dropped (logged) */
#define DUE_BATCH      32   /* deliveries sent per turn */
#define BACKOFF_CAP_MS (3600 * 1000)
#define URL_MAX        2048
#define SECRET_MAX     256
#define IDLE_WAKE_MS   60000 /* look for due deliveries at least this often */

static const char *const known_events[] = {"rollout.started",
                                           "rollout.halted",
                                           "rollout.done",
                                           "rollout.cancelled",
                                           "rollout.cancel_failed",
                                           "rollout.waiting_window",
                                           "rollout.paused_window",
                                           "host.done",
                                           "host.health_gate_failed",
                                           "updates.found"};

struct queued {
    char *event, *key, *payload;
};

struct engine_webhooks {
    struct engine *eng;
    int sub_id;
    struct store *store; /* under dblock */
    pthread_mutex_t dblock;
    struct pp_clock *clock; /* borrowed or own */
    bool own_clock;
    struct engine_webhook_opts o;

    pthread_mutex_t lock; /* queue and stop */
    pthread_cond_t wake;
    struct queued *q;
    size_t nq;
    bool stop;
    pthread_t thread;
    bool running;
};

/* ---------------------------------------------------------------- pure parts */

bool engine_webhook_classify(const json_t *ev, char *name, size_t name_sz, char *key, size_t key_sz)
{
    const char *rollout = json_string_value(json_object_get(ev, "rollout"));
    const char *step = json_string_value(json_object_get(ev, "step"));
    const char *state = json_string_value(json_object_get(ev, "state"));
    const char *host = json_string_value(json_object_get(ev, "host"));
    const json_t *pool = json_object_get(ev, "pool");

    const char *at = json_string_value(json_object_get(ev, "time"));
    const char *msg = json_string_value(json_object_get(ev, "message"));
    if (!rollout || !state)
        return false;
    /* a health gate that failed (docs/health-gates.md): one delivery per failure (Retry may fail
     * it again), keyed by its time */
    if (host && *host && step && str_eq(step, "health_gate") && str_eq(state, "failed")) {
        snprintf(name, name_sz, "host.health_gate_failed");
        snprintf(key, key_sz, "host.health_gate_failed:%s:%s:%s", rollout, host, at ? at : "");
        return true;
    }
    /* a pool waiting for its maintenance window (exec_window.c: step "window", the message
     * starts with the state's name), once per wait */
    if (!(host && *host) && json_is_string(pool) && step && str_eq(step, "window") && msg) {
        const char *w = str_has_prefix(msg, "waiting_window:")  ? "waiting_window"
                        : str_has_prefix(msg, "paused_window:") ? "paused_window"
                                                                : NULL;
        if (!w)
            return false;
        snprintf(name, name_sz, "rollout.%s", w);
        snprintf(key, key_sz, "rollout.%s:%s:%s:%s", w, rollout, json_string_value(pool),
                 at ? at : "");
        return true;
    }
    if (host && *host) {
        if (!str_eq(state, "done"))
            return false;
        snprintf(name, name_sz, "host.done");
        snprintf(key, key_sz, "host.done:%s:%s", rollout, host);
        return true;
    }
    if ((pool && !json_is_null(pool)) || !step || !str_eq(step, "rollout"))
        return false;
    if (!str_eq(state, "started") && !str_eq(state, "halted") && !str_eq(state, "done") &&
        !str_eq(state, "cancelled") && !str_eq(state, "cancel_failed"))
        return false;
    snprintf(name, name_sz, "rollout.%s", state);
    /* a rollout can halt again after a Retry: one delivery per halt, keyed by its time */
    if (str_eq(state, "halted"))
        snprintf(key, key_sz, "rollout.halted:%s:%s", rollout, at ? at : "");
    else
        snprintf(key, key_sz, "rollout.%s:%s", state, rollout);
    return true;
}

void engine_webhook_sign(const char *secret, int64_t t, const char *body, char out[96])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%lld.", (long long)t);
    size_t blen = strlen(body);
    unsigned char *msg = xmalloc((size_t)plen + blen);

    memcpy(msg, prefix, (size_t)plen);
    memcpy(msg + plen, body, blen); /* NOLINT(bugprone-not-null-terminated-result): bytes */
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, (size_t)plen + blen, mac, &len);
    free(msg);
    int n = snprintf(out, 96, "t=%lld,v1=", (long long)t);
    for (unsigned int i = 0; i < len && n + 2 < 96; i++)
        n += snprintf(out + n, 96 - (size_t)n, "%02x", mac[i]);
}

int64_t engine_webhook_backoff_ms(int64_t base_ms, int attempts)
{
    int64_t d = base_ms > 0 ? base_ms : 10000;

    for (int i = 1; i < attempts && d < BACKOFF_CAP_MS; i++)
        d *= 3;
    return d < BACKOFF_CAP_MS ? d : BACKOFF_CAP_MS;
}

int engine_webhook_check_url(const char *url, struct err *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
    int rc = 0;

    if (!url || !*url || strlen(url) > URL_MAX)
        rc =
            err_set(e, PP_EINVAL, "url: must be an http or https URL of at most %d bytes", URL_MAX);
    else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        rc = err_set(e, PP_EINVAL, "url: '%s' is not a URL", url);
    else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (!str_eq(scheme, "http") && !str_eq(scheme, "https")))
        rc = err_set(e, PP_EINVAL, "url: '%s' is not http or https", url);
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
        rc = err_set(e, PP_EINVAL, "url: '%s' has no host", url);
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
             curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
        rc = err_set(e, PP_EINVAL,
                     "url: a user name or password in the URL is refused (the "
                     "shared secret signs the requests)");
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return rc;
}

static bool known_event(const char *name)
{
    for (size_t i = 0; i < sizeof known_events / sizeof known_events[0]; i++)
        if (str_eq(name, known_events[i]))
            return true;
    return false;
}

/* ---------------------------------------------------------------- queue (any thread) */

static int64_t now_ms(const struct engine_webhooks *w)
{
    return clock_now_ms(w->clock);
}

static void enqueue(struct engine_webhooks *w, const char *event, const char *key,
                    const json_t *data)
{
    char ts[32];
    struct tm tm;
    time_t t = (time_t)(now_ms(w) / 1000);

    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *p = json_pack("{s:s, s:s, s:s, s:O}", "event", event, "key", key, "time", ts, "data",
                          (json_t *)data);
    char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (!payload)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->nq >= QUEUE_MAX) {
        pthread_mutex_unlock(&w->lock);
        log_warn(MOD, "queue full: %s not sent", key);
        free(payload);
        return;
    }
    w->q = vec_grow_implied(w->q, w->nq, sizeof(*w->q));
    w->q[w->nq++] = (struct queued){xstrdup(event), xstrdup(key), payload};
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void engine_webhooks_notify(struct engine_webhooks *w, const char *event, const char *key,
                            const json_t *data)
{
    if (w && event && key && known_event(event))
        enqueue(w, event, key, data);
}

/* engine_subscribe callback: engine thread; classify and queue, nothing slow. */
static void on_progress(void *ud, const char *event_json)
{
    struct engine_webhooks *w = ud;
    char name[48], key[256];
    json_error_t je;
    json_t *ev = json_loads(event_json, 0, &je);

    if (ev && engine_webhook_classify(ev, name, sizeof name, key, sizeof key))
        enqueue(w, name, key, ev);
    json_decref(ev);
}

/* ---------------------------------------------------------------- sending (sender thread) */

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p, (void)ud;
    return sz * n;
}

static int abort_on_stop(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct engine_webhooks *w = ud;
    (void)a, (void)b, (void)c, (void)d;
    return __atomic_load_n(&w->stop, __ATOMIC_RELAXED) ? 1 : 0;
}

/* POST one delivery; *status gets the HTTP status (0 when none); error text in errbuf. */
static bool post(struct engine_webhooks *w, const struct store_delivery *d, long *status,
                 char *errbuf, size_t errsz)
{
    char sig[96], h_sig[128], h_event[96], h_id[64];
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    CURLcode cc;

    *status = 0;
    if (!c) {
        snprintf(errbuf, errsz, "out of memory");
        return false;
    }
    engine_webhook_sign(d->secret, now_ms(w) / 1000, d->payload, sig);
    snprintf(h_sig, sizeof h_sig, "X-Poolpatch-Signature: %s", sig);
    snprintf(h_event, sizeof h_event, "X-Poolpatch-Event: %s", d->event);
    snprintf(h_id, sizeof h_id, "X-Poolpatch-Delivery: %lld", (long long)d->id);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, h_sig);
    h = curl_slist_append(h, h_event);
    h = curl_slist_append(h, h_id);
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->payload);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "poolpatch-webhook");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (cc != CURLE_OK) {
        snprintf(errbuf, errsz, "%s", curl_easy_strerror(cc));
        return false;
    }
    if (*status < 200 || *status > 299) {
        snprintf(errbuf, errsz, "HTTP %ld", *status);
        return false;
    }
    return true;
}

/* Send one due delivery and record the outcome. */
static void deliver(struct engine_webhooks *w, const struct store_delivery *d)
{
    char errbuf[256] = "";
    long status = 0;
    bool ok = post(w, d, &status, errbuf, sizeof errbuf);
    int attempts = d->attempts + 1;
    const char *state = ok ? "delivered" : attempts >= w->o.max_attempts ? "failed" : "pending";
    int64_t next =
        ok ? now_ms(w) : now_ms(w) + engine_webhook_backoff_ms(w->o.retry_base_ms, attempts);
    struct err e = {0};

    if (__atomic_load_n(&w->stop, __ATOMIC_RELAXED) && !ok)
        return; /* aborted by the stop: it stays pending as it was */
    if (!ok)
        log_warn(MOD, "delivery %lld (%s) to webhook %lld, attempt %d: %s%s", (long long)d->id,
                 d->event, (long long)d->webhook_id, attempts, errbuf,
                 str_eq(state, "failed") ? "; giving up" : "");
    pthread_mutex_lock(&w->dblock);
    if (store_delivery_record(w->store, d->id, state, attempts, (int)status, ok ? NULL : errbuf,
                              next, &e) != 0)
        log_warn(MOD, "%s", e.msg);
    pthread_mutex_unlock(&w->dblock);
}

/* Move the in-memory queue into the store. */
static void flush_queue(struct engine_webhooks *w)
{
    struct queued *q;
    size_t n;
    struct err e = {0};

    pthread_mutex_lock(&w->lock);
    q = w->q;
    n = w->nq;
    w->q = NULL;
    w->nq = 0;
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_lock(&w->dblock);
    for (size_t i = 0; i < n; i++) {
        if (store_delivery_enqueue(w->store, q[i].event, q[i].key, q[i].payload, NULL, &e) != 0)
            log_warn(MOD, "%s", e.msg);
        free(q[i].event);
        free(q[i].key);
        free(q[i].payload);
    }
    pthread_mutex_unlock(&w->dblock);
    free(q);
}

/* Send what is due; returns when the next pending delivery is due (ms), or -1. */
static int64_t send_due(struct engine_webhooks *w)
{
    struct store_delivery *d = NULL;
    size_t n = 0;
    int64_t next = -1;
    struct err e = {0};

    pthread_mutex_lock(&w->dblock);
    int rc = store_delivery_due(w->store, now_ms(w), DUE_BATCH, &d, &n, &next, &e);
    pthread_mutex_unlock(&w->dblock);
    if (rc != 0) {
        log_warn(MOD, "%s", e.msg);
        return now_ms(w) + IDLE_WAKE_MS;
    }
    for (size_t i = 0; i < n && !__atomic_load_n(&w->stop, __ATOMIC_RELAXED); i++)
        deliver(w, &d[i]);
    store_delivery_list_free(d, n);
    /* after sending, look again at once: retries just recorded change when the next is due */
    return n > 0 ? now_ms(w) : next;
}

static void *sender_main(void *arg)
{
    struct engine_webhooks *w = arg;

    for (;;) {
        flush_queue(w);
        int64_t next = send_due(w);
        pthread_mutex_lock(&w->lock);
        if (w->stop) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        if (w->nq == 0) {
            int64_t wait = next < 0 ? IDLE_WAKE_MS : next - now_ms(w);
            if (wait > IDLE_WAKE_MS)
                wait = IDLE_WAKE_MS;
            if (wait > 0) {
                /* the wait is in real time: on a scaled clock, due times come sooner */
                struct timespec ts =
                    clock_deadline_ts(CLOCK_REALTIME, clock_real_ms_for(w->clock, wait));
                pthread_cond_timedwait(&w->wake, &w->lock, &ts);
            }
        }
        bool stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
    }
    flush_queue(w); /* what arrived last is kept for the next start */
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

int engine_webhooks_new(struct engine *eng, const char *db_path, struct pp_clock *clock,
                        const struct engine_webhook_opts *o, struct engine_webhooks **out,
                        struct err *e)
{
    struct engine_webhooks *w = xcalloc(1, sizeof(*w));
    struct store_opts so = {.clock = clock};
    int rc;

    *out = NULL;
    w->o = o ? *o : (struct engine_webhook_opts){0};
    if (w->o.retry_base_ms <= 0)
        w->o.retry_base_ms = 10000;
    if (w->o.max_attempts <= 0)
        w->o.max_attempts = 8;
    if (w->o.timeout_ms <= 0)
        w->o.timeout_ms = 10000;
    w->clock = clock;
    if (!w->clock) {
        w->clock = clock_real_new();
        w->own_clock = true;
    }
    if ((rc = store_open(db_path, &so, &w->store, e)) != 0) {
        engine_webhooks_free(w);
        return rc;
    }
    pthread_mutex_init(&w->dblock, NULL);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, sender_main, w) != 0) {
        engine_webhooks_free(w);
        return err_set(e, PP_ENOMEM, "cannot start the webhook thread");
    }
    w->running = true;
    w->eng = eng;
    if (eng)
        w->sub_id = engine_subscribe(eng, on_progress, w);
    *out = w;
    return 0;
}

void engine_webhooks_free(struct engine_webhooks *w)
{
    if (!w)
        return;
    if (w->eng && w->sub_id > 0)
        engine_unsubscribe(w->eng, w->sub_id);
    if (w->running) {
        pthread_mutex_lock(&w->lock);
        __atomic_store_n(&w->stop, true, __ATOMIC_RELAXED);
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    if (w->store) {
        pthread_mutex_destroy(&w->dblock);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
    }
    for (size_t i = 0; i < w->nq; i++) {
        free(w->q[i].event);
        free(w->q[i].key);
        free(w->q[i].payload);
    }
    free(w->q);
    store_close(w->store);
    if (w->own_clock)
        clock_free(w->clock);
    free(w);
}

/* ---------------------------------------------------------------- REST */

/* events: absent = "*", else an array of known names, joined with commas into buf. */
static int events_of(const json_t *ev, char *buf, size_t sz, struct err *e)
{
    size_t i, used = 0;
    json_t *v;

    if (!ev || json_is_null(ev)) {
        snprintf(buf, sz, "*");
        return 0;
    }
    if (!json_is_array(ev) || json_array_size(ev) == 0)
        return err_set(e, PP_EINVAL, "events: must be a non-empty array of event names (%s)",
                       ENGINE_WEBHOOK_EVENTS);
    buf[0] = '\0';
    json_array_foreach(ev, i, v)
    {
        const char *n = json_string_value(v);
        if (!n || !known_event(n))
            return err_set(e, PP_EINVAL, "events[%zu]: '%s' is not one of %s", i,
                           n ? n : "(not a string)", ENGINE_WEBHOOK_EVENTS);
        int k = snprintf(buf + used, sz - used, "%s%s", used ? "," : "", n);
        if (k < 0 || (size_t)k >= sz - used)
            return err_set(e, PP_ELIMIT, "events: too many");
        used += (size_t)k;
    }
    return 0;
}

static json_t *hook_json(const struct store_webhook *h)
{
    char ts[32];
    struct tm tm;
    time_t t = (time_t)(h->created_at / 1000);
    json_t *ev = json_array();

    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (str_eq(h->events, "*")) {
        for (size_t i = 0; i < sizeof known_events / sizeof known_events[0]; i++)
            json_array_append_new(ev, json_string(known_events[i]));
    } else {
        char *copy = xstrdup(h->events), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            json_array_append_new(ev, json_string(tok));
        free(copy);
    }
    return json_pack("{s:I, s:s, s:o, s:b, s:s}", "id", (json_int_t)h->id, "url", h->url, "events",
                     ev, "all_events", str_eq(h->events, "*"), "created", ts);
}

int engine_webhooks_add(struct engine_webhooks *w, const json_t *spec, json_t **out, struct err *e)
{
    json_t *url = NULL, *secret = NULL, *events = NULL;
    json_error_t je;
    char evbuf[512];
    int64_t id = 0;
    int rc;

    *out = NULL;
    if (json_unpack_ex((json_t *)spec, &je, JSON_STRICT, "{s:o, s:o, s?o}", "url", &url, "secret",
                       &secret, "events", &events) != 0)
        return err_set(e, PP_EINVAL, "webhook: %s (fields: url, secret, events)", je.text);
    if (!json_is_string(url) || !json_is_string(secret))
        return err_set(e, PP_EINVAL, "webhook: url and secret must be strings");
    if ((rc = engine_webhook_check_url(json_string_value(url), e)) != 0)
        return rc;
    size_t slen = json_string_length(secret);
    if (slen < 16 || slen > SECRET_MAX)
        return err_set(e, PP_EINVAL, "secret: must be 16 to %d bytes (it keys the HMAC)",
                       SECRET_MAX);
    if ((rc = events_of(events, evbuf, sizeof evbuf, e)) != 0)
        return rc;
    pthread_mutex_lock(&w->dblock);
    rc = store_webhook_add(w->store, json_string_value(url), json_string_value(secret), evbuf, &id,
                           e);
    pthread_mutex_unlock(&w->dblock);
    if (rc != 0)
        return rc;
    struct store_webhook h = {
        .id = id, .url = (char *)json_string_value(url), .events = evbuf, .created_at = now_ms(w)};
    *out = hook_json(&h);
    log_info(MOD, "webhook %lld added: %s (%s)", (long long)id, h.url, evbuf);
    return 0;
}

int engine_webhooks_list(struct engine_webhooks *w, json_t **out, struct err *e)
{
    struct store_webhook *h = NULL;
    size_t n = 0;

    pthread_mutex_lock(&w->dblock);
    int rc = store_webhook_list(w->store, &h, &n, e);
    pthread_mutex_unlock(&w->dblock);
    if (rc != 0)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, hook_json(&h[i]));
    store_webhook_list_free(h, n);
    *out = json_pack("{s:o}", "webhooks", arr);
    return 0;
}

int engine_webhooks_remove(struct engine_webhooks *w, int64_t id, struct err *e)
{
    pthread_mutex_lock(&w->dblock);
    int rc = store_webhook_remove(w->store, id, e);
    pthread_mutex_unlock(&w->dblock);
    return rc;
}

int engine_webhooks_deliveries(struct engine_webhooks *w, int64_t id, int limit, json_t **out,
                               struct err *e)
{
    pthread_mutex_lock(&w->dblock);
    int rc = store_delivery_log(w->store, id, limit, out, e);
    pthread_mutex_unlock(&w->dblock);
    return rc;
}

/* ---------------------------------------------------------------- the engine's side */

#define SEEN_KEY "webhook_seen_updates" /* settings: ids of the updates already announced */

/*
 * After a good update check: the By Update view's ids not announced before become one
 * updates.found delivery {"updates": N, "new": [{id, name}]}; the announced set is saved.
 * Caller's thread (the check's).
 */
void engine_webhooks_after_check(struct engine *eng)
{
    struct engine_webhooks *w = eng ? eng->hooks : NULL;
    json_t *view = NULL, *seen = NULL, *fresh = json_array(), *ids = json_array();
    char *seen_s = NULL;
    struct err e = {0};
    size_t i;
    json_t *u;

    if (!w || engine_updates_view(eng, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &view, &e) != 0)
        goto out;
    pthread_mutex_lock(&w->dblock);
    if (store_setting_get(w->store, SEEN_KEY, &seen_s, NULL) == 0 && seen_s) {
        json_error_t je;
        seen = json_loads(seen_s, 0, &je);
    }
    pthread_mutex_unlock(&w->dblock);
    json_array_foreach(json_object_get(view, "updates"), i, u)
    {
        const char *id = json_string_value(json_object_get(u, "id"));
        if (!id)
            continue;
        json_array_append_new(ids, json_string(id));
        bool known = false;
        size_t k;
        json_t *s;
        json_array_foreach(seen, k, s) known = known || str_eq(json_string_value(s), id);
        if (!known)
            json_array_append_new(fresh, json_pack("{s:s, s:s?}", "id", id, "name",
                                                   json_string_value(json_object_get(u, "name"))));
    }
    if (json_array_size(fresh) > 0) {
        char *ids_s = json_dumps(ids, JSON_COMPACT);
        char key[96];
        /* the key: the announced set's size and first id, enough to tell two checks apart */
        snprintf(key, sizeof key, "updates.found:%zu:%.40s", json_array_size(ids),
                 json_string_value(json_object_get(json_array_get(fresh, 0), "id")));
        json_t *data =
            json_pack("{s:I, s:O}", "updates", (json_int_t)json_array_size(ids), "new", fresh);
        engine_webhooks_notify(w, "updates.found", key, data);
        json_decref(data);
        pthread_mutex_lock(&w->dblock);
        if (ids_s && store_setting_set(w->store, SEEN_KEY, ids_s, &e) != 0)
            log_warn(MOD, "%s", e.msg);
        pthread_mutex_unlock(&w->dblock);
        free(ids_s);
    }
out:
    free(seen_s);
    json_decref(seen);
    json_decref(view);
    json_decref(fresh);
    json_decref(ids);
}

int engine_webhook_add(struct engine *eng, const json_t *spec, json_t **out, struct err *e)
{
    if (!eng->hooks)
        return err_set(e, PP_ESTATE, "webhooks are not running (the engine is not started)");
    return engine_webhooks_add(eng->hooks, spec, out, e);
}

int engine_webhook_list(struct engine *eng, json_t **out, struct err *e)
{
    if (!eng->hooks)
        return err_set(e, PP_ESTATE, "webhooks are not running (the engine is not started)");
    return engine_webhooks_list(eng->hooks, out, e);
}

int engine_webhook_remove(struct engine *eng, int64_t id, struct err *e)
{
    if (!eng->hooks)
        return err_set(e, PP_ESTATE, "webhooks are not running (the engine is not started)");
    return engine_webhooks_remove(eng->hooks, id, e);
}

int engine_webhook_deliveries(struct engine *eng, int64_t id, int limit, json_t **out,
                              struct err *e)
{
    if (!eng->hooks)
        return err_set(e, PP_ESTATE, "webhooks are not running (the engine is not started)");
    return engine_webhooks_deliveries(eng->hooks, id, limit, out, e);
}
