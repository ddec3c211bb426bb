/* SPDX-License-Identifier: MIT */
/* engine_seam.h - the test double of the engine used by test_api (see engine_seam.c). */
#ifndef PP_TESTS_ENGINE_SEAM_H
#define PP_TESTS_ENGINE_SEAM_H

#include "engine/engine.h"

struct seam_state {
    /* scripted answer */
    int rc; /* 0 = success */
    char msg[256];
    char xapi_code[96];
    json_t *answer;  /* owned; copied into every successful *out */
    const char *csv; /* borrowed; engine_updates_csv's text */
    int delay_ms;    /* each request takes this long (a busy engine) */
    /* recorded */
    char last_call[32];
    int calls;
    int last_view, last_sort;
    int last_int; /* engine_pool_set: live_patching_disabled */
    char *last_pool_name, *last_url, *last_password, *last_id;
    json_t *last_req;        /* plan request or dismiss arguments as JSON */
    int64_t last_max_age_ms; /* GET /rollouts/{id}: the age the client accepted */
    void (*cb)(void *ud, const char *event_json);
    void *cb_ud;
    int unsubscribed;
};

extern struct seam_state seam;

/* Free what the seam holds and zero it. */
void seam_reset(void);
/* Replace the scripted answer (thread-safe against requests in flight). */
void seam_set_answer(json_t *take);
/* Number of engine requests so far (thread-safe). */
int seam_calls(void);
/* Play the engine thread: deliver one progress event to the subscriber. */
void seam_emit(const char *event_json);

#endif
