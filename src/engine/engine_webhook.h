/* SPDX-License-Identifier: MIT */
/*
 * engine_webhook.h - webhooks: JSON POSTs, HMAC-SHA256 signed with a shared secret, sent when a
 * rollout starts, halts, ends (done, cancelled, cancel_failed), when a host is done and when an
 * update check finds updates.  Deliveries are queued in the store first (they survive a restart),
 * sent by a thread of their own (never the engine thread), retried with exponential backoff and
 * logged.  docs/webhooks.md is the operator's page (headers, how to verify a signature).
 */
#ifndef PP_ENGINE_ENGINE_WEBHOOK_H
#define PP_ENGINE_ENGINE_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine;
struct err;
struct pp_clock;
struct engine_webhooks;

#define ENGINE_WEBHOOK_EVENTS                                                                      \
    "rollout.started, rollout.halted, rollout.done, rollout.cancelled, rollout.cancel_failed, "    \
    "rollout.waiting_window, rollout.paused_window, host.done, host.health_gate_failed, "          \
    "updates.found"

struct engine_webhook_opts {
    int retry_base_ms; /* first retry after this, then x3 each time (0 = 10 s); capped at 1 h */
    int max_attempts;  /* a delivery fails after this many attempts (0 = 8) */
    int timeout_ms;    /* one POST (0 = 10 s) */
};

/*
 * Start the webhook sender: its own read-write store connection on db_path (clock borrowed, may
 * be NULL), its thread, and a subscription to eng's progress events (eng may be NULL in tests:
 * then only engine_webhooks_notify queues events).  *out owned by the caller
 * (engine_webhooks_free).  Errors: the store's.
 */
int engine_webhooks_new(struct engine *eng, const char *db_path, struct pp_clock *clock,
                        const struct engine_webhook_opts *o, struct engine_webhooks **out,
                        struct err *e);
/* Unsubscribe, stop the thread (a POST in flight is aborted; it stays pending), free.  NULL ok. */
void engine_webhooks_free(struct engine_webhooks *w);

/*
 * Queue event (one of ENGINE_WEBHOOK_EVENTS) with data (borrowed JSON) for every webhook that
 * wants it; key makes it unique per webhook (a repeated key is queued once).  Any thread.
 */
void engine_webhooks_notify(struct engine_webhooks *w, const char *event, const char *key,
                            const json_t *data);

/*
 * REST: add from {"url", "secret", "events": [names] (optional: every event)} → the webhook
 * (never its secret); list {"webhooks":[...]}; remove by id (PP_ENOTFOUND); the delivery log of
 * one webhook (id) or all (0).  Errors PP_EINVAL name the field.  Any thread.
 */
int engine_webhooks_add(struct engine_webhooks *w, const json_t *spec, json_t **out, struct err *e);
int engine_webhooks_list(struct engine_webhooks *w, json_t **out, struct err *e);
int engine_webhooks_remove(struct engine_webhooks *w, int64_t id, struct err *e);
int engine_webhooks_deliveries(struct engine_webhooks *w, int64_t id, int limit, json_t **out,
                               struct err *e);

/* After a good update check, announce updates not announced before (engine.c calls it). */
void engine_webhooks_after_check(struct engine *eng);

/* ---- pure parts (unit-tested) ---- */

/*
 * The webhook event a progress event stands for: name ("rollout.done", "host.done",
 * "rollout.waiting_window", "host.health_gate_failed", ...) and a key unique to that occurrence
 * ("rollout.done:ID", "host.done:ID:HOST", a wait or a gate failure also by its time).  False when
 * the progress event is not one webhooks report.
 */
bool engine_webhook_classify(const json_t *progress, char *name, size_t name_sz, char *key,
                             size_t key_sz);
/*
 * The signature header value of body sent at unix time t: "t=<t>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" keyed with secret>".
 */
void engine_webhook_sign(const char *secret, int64_t t, const char *body, char out[96]);
/* Delay before attempt n+1 after n failed attempts (n >= 1): base * 3^(n-1), at most 1 h. */
int64_t engine_webhook_backoff_ms(int64_t base_ms, int attempts);
/* 0 when url is an http(s) URL with a host and no user name / password; else PP_EINVAL. */
int engine_webhook_check_url(const char *url, struct err *e);

#endif
