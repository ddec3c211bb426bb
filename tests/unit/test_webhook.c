/* SPDX-License-Identifier: MIT */
/*
 * test_webhook.c - webhooks: which progress events become which webhook events (and their
 * once-only keys), the signature against Python's hmac, the backoff, URL checks, the store's
 * queue (matching by event, one delivery per key, due times, the log), and the sender thread
 * against a local HTTP receiver (libmicrohttpd) that fails twice, then accepts: the delivery is
 * retried, signed, and logged as delivered after three attempts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "engine/engine_webhook.h"
#include "store/store.h"
#include "store/store_webhook.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *ev(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    assert_non_null(j);
    return j;
}

/* A progress event that becomes a webhook event: the event, its name, its once-only key. */
struct classify_case {
    const char *event, *name, *key;
};

static const struct classify_case classify_yes[] = {
    {"{\"rollout\":\"r1\",\"pool\":null,\"host\":null,\"step\":\"rollout\","
     "\"state\":\"done\",\"time\":\"T\"}",
     "rollout.done", "rollout.done:r1"},
    {"{\"rollout\":\"r1\",\"pool\":null,\"host\":null,\"step\":\"rollout\","
     "\"state\":\"halted\",\"time\":\"T2\"}",
     "rollout.halted", "rollout.halted:r1:T2"},
    {"{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":\"h2\",\"step\":\"enable\","
     "\"state\":\"done\"}",
     "host.done", "host.done:r1:h2"},
    /* a health gate that failed, once per failure (keyed by its time) */
    {"{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":\"h2\",\"step\":\"health_gate\","
     "\"state\":\"failed\",\"time\":\"T3\",\"message\":\"health_gate failed: out\"}",
     "host.health_gate_failed", "host.health_gate_failed:r1:h2:T3"},
    /* a pool waiting for its window, or paused in it (exec_window.c's messages) */
    {"{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":null,\"step\":\"window\","
     "\"state\":\"running\",\"time\":\"T4\",\"message\":\"waiting_window: pool p is "
     "outside its windows; the next window opens at X\"}",
     "rollout.waiting_window", "rollout.waiting_window:r1:p:T4"},
    {"{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":null,\"step\":\"window\","
     "\"state\":\"running\",\"time\":\"T5\",\"message\":\"paused_window: pool p ...\"}",
     "rollout.paused_window", "rollout.paused_window:r1:p:T5"},
};

static void test_classify(void **state)
{
    (void)state;
    char name[48], key[256];
    json_t *j;

    for (size_t i = 0; i < sizeof classify_yes / sizeof classify_yes[0]; i++) {
        j = ev(classify_yes[i].event);
        assert_true(engine_webhook_classify(j, name, sizeof name, key, sizeof key));
        assert_string_equal(name, classify_yes[i].name);
        assert_string_equal(key, classify_yes[i].key);
        json_decref(j);
    }

    /* not reported: a running host, a pool phase, a rollout still running, no rollout, a
     * window that opens, a gate that passed */
    static const char *const no[] = {
        "{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":\"h2\",\"step\":\"apply\",\"state\":"
        "\"running\"}",
        "{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":null,\"step\":\"upload\",\"state\":\"done\"}",
        "{\"rollout\":\"r1\",\"pool\":null,\"host\":null,\"step\":\"rollout\",\"state\":"
        "\"running\"}",
        "{\"pool\":null,\"host\":null,\"step\":\"rollout\",\"state\":\"done\"}",
        "{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":null,\"step\":\"window\",\"state\":"
        "\"running\",\"message\":\"maintenance window open: pool p continues\"}",
        "{\"rollout\":\"r1\",\"pool\":\"p\",\"host\":\"h2\",\"step\":\"health_gate\","
        "\"state\":\"running\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        j = ev(no[i]);
        assert_false(engine_webhook_classify(j, name, sizeof name, key, sizeof key));
        json_decref(j);
    }
}

static void test_sign_and_backoff(void **state)
{
    (void)state;
    char sig[96];

    /* python3: hmac.new(b'0123456789abcdef-secret', b'1700000000.{"a":1}', sha256) */
    engine_webhook_sign("0123456789abcdef-secret", 1700000000, "{\"a\":1}", sig);
    assert_string_equal(sig, "t=1700000000,v1=6948a2dc6985c92d09b9edade5c97dce2ba201452d91a72e4a"
                             "20d35abe4d3420");
    assert_int_equal(engine_webhook_backoff_ms(1000, 1), 1000);
    assert_int_equal(engine_webhook_backoff_ms(1000, 2), 3000);
    assert_int_equal(engine_webhook_backoff_ms(1000, 3), 9000);
    assert_int_equal(engine_webhook_backoff_ms(1000, 40), 3600 * 1000);
    assert_int_equal(engine_webhook_backoff_ms(0, 1), 10000);
}

static void test_check_url(void **state)
{
    (void)state;
    struct err e = {0};

    assert_int_equal(engine_webhook_check_url("https://hooks.example.com/x", &e), 0);
    assert_int_equal(engine_webhook_check_url("http://127.0.0.1:9/p?q=1", &e), 0);
    assert_int_equal(engine_webhook_check_url("file:///etc/passwd", &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "not http or https"));
    assert_int_equal(engine_webhook_check_url("javascript:alert(1)", &e), PP_EINVAL);
    assert_int_equal(engine_webhook_check_url("http://user:pw@host/", &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "password"));
    assert_int_equal(engine_webhook_check_url("", &e), PP_EINVAL);
    assert_int_equal(engine_webhook_check_url("not a url", &e), PP_EINVAL);
}

struct fx {
    char dir[64], path[96];
    struct pp_clock *clock;
    struct store *s;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err e = {0};

    snprintf(f->dir, sizeof f->dir, "/tmp/pp-webhook.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/pp.db", f->dir);
    f->clock = clock_virtual_new(1700000000000);
    struct store_opts o = {.clock = f->clock};
    assert_int_equal(store_open(f->path, &o, &f->s, &e), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[160];

    store_close(f->s);
    clock_free(f->clock);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_store_queue(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    int64_t a, b, next;
    int n;
    struct store_delivery *d;
    size_t nd;

    assert_int_equal(
        store_webhook_add(f->s, "http://127.0.0.1:1/a", "secret-a-0123456789", "*", &a, &e), 0);
    assert_int_equal(store_webhook_add(f->s, "http://127.0.0.1:1/b", "secret-b-0123456789",
                                       "rollout.done,host.done", &b, &e),
                     0);
    assert_int_equal(store_webhook_add(f->s, "", "x", "*", NULL, &e), PP_EINVAL);

    /* matching: rollout.started only for a; host.done for both; a repeated key queued once */
    assert_int_equal(store_delivery_enqueue(f->s, "rollout.started", "k1", "{}", &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_delivery_enqueue(f->s, "host.done", "k2", "{\"h\":1}", &n, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_delivery_enqueue(f->s, "host.done", "k2", "{\"h\":1}", &n, &e), 0);
    assert_int_equal(n, 0);
    /* "rollout.don" is not "rollout.done": the comma list is matched by whole names */
    assert_int_equal(store_delivery_enqueue(f->s, "rollout.don", "k3", "{}", &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_delivery_enqueue(f->s, "host.done", "k4", "not json", &n, &e),
                     PP_EINVAL);

    assert_int_equal(store_delivery_due(f->s, clock_now_ms(f->clock), 10, &d, &nd, &next, &e), 0);
    assert_int_equal(nd, 4);
    assert_int_equal(next, -1);
    assert_string_equal(d[0].event, "rollout.started");
    assert_string_equal(d[0].secret, "secret-a-0123456789");
    /* one fails and is due again in 5 s, one is delivered */
    int64_t now = clock_now_ms(f->clock);
    assert_int_equal(
        store_delivery_record(f->s, d[0].id, "pending", 1, 500, "HTTP 500", now + 5000, &e), 0);
    assert_int_equal(store_delivery_record(f->s, d[1].id, "delivered", 1, 204, NULL, now, &e), 0);
    store_delivery_list_free(d, nd);
    assert_int_equal(store_delivery_due(f->s, now, 10, &d, &nd, &next, &e), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(next, now + 5000);
    store_delivery_list_free(d, nd);

    json_t *log = NULL;
    assert_int_equal(store_delivery_log(f->s, a, 10, &log, &e), 0);
    json_t *arr = json_object_get(log, "deliveries");
    assert_int_equal(json_array_size(arr), 3); /* a: started, host.done k2, rollout.don */
    json_t *first = json_array_get(arr, 2);    /* newest first: the oldest is last */
    assert_string_equal(json_string_value(json_object_get(first, "state")), "pending");
    assert_int_equal(json_integer_value(json_object_get(first, "status")), 500);
    assert_string_equal(json_string_value(json_object_get(first, "error")), "HTTP 500");
    json_decref(log);

    /* removing a webhook removes its log */
    assert_int_equal(store_webhook_remove(f->s, a, &e), 0);
    assert_int_equal(store_webhook_remove(f->s, a, &e), PP_ENOTFOUND);
    assert_int_equal(store_delivery_log(f->s, a, 10, &log, &e), 0);
    assert_int_equal(json_array_size(json_object_get(log, "deliveries")), 0);
    json_decref(log);
}

/* ---- a receiver that answers 500 twice, then 204, and keeps what it got ---- */

struct recv {
    pthread_mutex_t lock;
    int hits;
    char sig[128], event[64], body[4096];
    size_t body_len;
};

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    struct recv *r = cls;
    (void)url, (void)version;
    if (!*con_cls) {
        *con_cls = r;
        pthread_mutex_lock(&r->lock);
        r->body_len = 0;
        pthread_mutex_unlock(&r->lock);
        return MHD_YES;
    }
    if (*size) {
        pthread_mutex_lock(&r->lock);
        size_t room = sizeof r->body - 1 - r->body_len;
        size_t k = *size < room ? *size : room;
        memcpy(r->body + r->body_len, data, k);
        r->body_len += k;
        r->body[r->body_len] = '\0';
        pthread_mutex_unlock(&r->lock);
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->lock);
    int hit = ++r->hits;
    const char *s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Poolpatch-Signature");
    const char *ev_h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Poolpatch-Event");
    snprintf(r->sig, sizeof r->sig, "%s", s ? s : "");
    snprintf(r->event, sizeof r->event, "%s", ev_h ? ev_h : "");
    pthread_mutex_unlock(&r->lock);
    assert_string_equal(method, "POST");
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, hit <= 2 ? 500 : 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void test_sender_retries_and_signs(void **state)
{
    struct fx *f = *state;
    struct recv r = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct err e = {0};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_req,
                                            &r, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    assert_non_null(d);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", di->port);

    /* real clock: the sender sleeps in real time; retries after 50 ms, then 150 ms */
    struct engine_webhook_opts o = {.retry_base_ms = 50, .max_attempts = 5, .timeout_ms = 5000};
    struct engine_webhooks *w = NULL;
    assert_int_equal(engine_webhooks_new(NULL, f->path, NULL, &o, &w, &e), 0);
    json_t *out = NULL;
    json_t *spec = json_pack("{s:s, s:s, s:[s]}", "url", url, "secret", "0123456789abcdef-secret",
                             "events", "rollout.done");
    assert_int_equal(engine_webhooks_add(w, spec, &out, &e), 0);
    json_decref(spec);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    assert_null(json_object_get(out, "secret"));
    json_decref(out);
    /* the list shows it, never its secret */
    assert_int_equal(engine_webhooks_list(w, &out, &e), 0);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(out, "webhooks")), 1);
    char *dump = json_dumps(out, 0);
    assert_non_null(dump);
    assert_null(strstr(dump, "0123456789abcdef-secret"));
    assert_non_null(strstr(dump, "rollout.done"));
    free(dump);
    json_decref(out);
    /* bad specs name the field */
    spec = json_pack("{s:s, s:s}", "url", "ftp://x/", "secret", "0123456789abcdef-secret");
    assert_int_equal(engine_webhooks_add(w, spec, &out, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "url"));
    json_decref(spec);
    spec = json_pack("{s:s, s:s}", "url", url, "secret", "short");
    assert_int_equal(engine_webhooks_add(w, spec, &out, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "secret"));
    json_decref(spec);
    spec = json_pack("{s:s, s:s, s:[s]}", "url", url, "secret", "0123456789abcdef-secret", "events",
                     "rollout.exploded");
    assert_int_equal(engine_webhooks_add(w, spec, &out, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "events[0]"));
    json_decref(spec);

    json_t *data = json_pack("{s:s}", "rollout", "r9");
    engine_webhooks_notify(w, "host.done", "host.done:r9:h1", data); /* not wanted by the hook */
    engine_webhooks_notify(w, "rollout.done", "rollout.done:r9", data);
    engine_webhooks_notify(w, "rollout.done", "rollout.done:r9", data); /* same key: once */
    json_decref(data);

    json_t *log = NULL;
    const char *st = "";
    for (int i = 0; i < 200; i++) { /* at most 10 s */
        usleep(50000);
        json_decref(log);
        assert_int_equal(engine_webhooks_deliveries(w, id, 10, &log, &e), 0);
        json_t *first = json_array_get(json_object_get(log, "deliveries"), 0);
        st = first ? json_string_value(json_object_get(first, "state")) : "";
        if (strcmp(st, "delivered") == 0)
            break;
    }
    assert_string_equal(st, "delivered");
    json_t *arr = json_object_get(log, "deliveries");
    assert_int_equal(json_array_size(arr), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "attempts")), 3);
    json_decref(log);
    engine_webhooks_free(w);

    /* the receiver got three POSTs; the last one's signature verifies over its body */
    pthread_mutex_lock(&r.lock);
    assert_int_equal(r.hits, 3);
    assert_string_equal(r.event, "rollout.done");
    long long t = 0;
    assert_int_equal(sscanf(r.sig, "t=%lld,", &t), 1);
    char want[96];
    engine_webhook_sign("0123456789abcdef-secret", t, r.body, want);
    assert_string_equal(r.sig, want);
    json_error_t je;
    json_t *body = json_loads(r.body, 0, &je);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "event")), "rollout.done");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "data"), "rollout")), "r9");
    json_decref(body);
    pthread_mutex_unlock(&r.lock);
    MHD_stop_daemon(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_sign_and_backoff),
        cmocka_unit_test(test_check_url),
        cmocka_unit_test_setup_teardown(test_store_queue, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sender_retries_and_signs, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
