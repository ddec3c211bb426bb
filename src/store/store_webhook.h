/* SPDX-License-Identifier: MIT */
/*
 * store_webhook.h - webhook subscriptions and their delivery log (docs/webhooks.md).  A webhook
 * is a URL, a shared secret (HMAC key) and the events it wants; a delivery is one event for one
 * webhook, kept with its attempts, last answer and state (pending, delivered, failed), so that
 * deliveries survive a restart and the operator can see what was sent.
 *
 * Same rules as store.h: every write commits before it returns, output structs own their
 * strings, errors are 0 or a negative PP_E* code with *e filled.  The secret is never put in an
 * error message or a listing's JSON.
 */
#ifndef PP_STORE_STORE_WEBHOOK_H
#define PP_STORE_STORE_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

struct store_webhook {
    int64_t id;
    char *url;
    char *secret; /* the HMAC key */
    char *events; /* comma-separated event names, or "*" for every event */
    int64_t created_at;
};

/* Add a webhook; *id_out gets its id.  PP_EINVAL when url, secret or events is empty. */
int store_webhook_add(struct store *s, const char *url, const char *secret, const char *events,
                      int64_t *id_out, struct err *e);
/* Remove a webhook and its delivery log.  PP_ENOTFOUND when there is none with that id. */
int store_webhook_remove(struct store *s, int64_t id, struct err *e);
/* Every webhook, by id; free with store_webhook_list_free. */
int store_webhook_list(struct store *s, struct store_webhook **out, size_t *n, struct err *e);
void store_webhook_list_free(struct store_webhook *w, size_t n);

/*
 * Queue event (its name) with payload (a JSON text) for every webhook that wants it.  key makes
 * the delivery unique per webhook: an event already queued under the same key is not queued
 * again (a repeated "host done", a restart).  *n_out (optional) gets how many were queued.
 */
int store_delivery_enqueue(struct store *s, const char *event, const char *key, const char *payload,
                           int *n_out, struct err *e);

struct store_delivery {
    int64_t id, webhook_id;
    char *url, *secret, *event, *payload;
    int attempts;
};

/*
 * The pending deliveries due at now_ms (at most max, oldest first) into *out (free with
 * store_delivery_list_free); *next_ms gets when the next pending one not yet due is due, or -1.
 */
int store_delivery_due(struct store *s, int64_t now_ms, int max, struct store_delivery **out,
                       size_t *n, int64_t *next_ms, struct err *e);
void store_delivery_list_free(struct store_delivery *d, size_t n);

/*
 * Record an attempt of delivery id: its new state ("pending" with the next try at next_ms,
 * "delivered" or "failed"), the attempt count, the HTTP status (0 = none) and the error (NULL
 * when none).
 */
int store_delivery_record(struct store *s, int64_t id, const char *state, int attempts, int status,
                          const char *error, int64_t next_ms, struct err *e);

/*
 * The delivery log as JSON {"deliveries":[{id, webhook, event, state, attempts, status, error,
 * created, next, done, payload}]}, newest first, at most limit (1..1000), of one webhook (or
 * every one when webhook_id is 0).
 */
int store_delivery_log(struct store *s, int64_t webhook_id, int limit, json_t **out, struct err *e);

#endif
