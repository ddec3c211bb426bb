/* SPDX-License-Identifier: MIT */
/*
 * wx.h - the fixture of the simulator's wire tests (cmocka): a `poolpatch sim` child per test
 * (wire.h) at time scale 1000, a session on pool 0's master, and calls in the protocol the test
 * was registered for (WX_PER_PROTO registers a test once per protocol).
 */
#ifndef PP_TESTS_WX_H
#define PP_TESTS_WX_H

#include "wire.h"
#include "xapi/codec.h"

struct wx {
    struct wire_sim sim;
    enum xapi_proto proto;
    char master[128]; /* pool 0's master URL */
    char slave[128];  /* 127.0.0.11's URL (a supporter in small.json and demo.json) */
    char sess[96];    /* root's session on the master */
};

/* XML-RPC, JSON-RPC v1, JSON-RPC v2. */
extern const enum xapi_proto wx_protos[3];

/* Call method at url with params (taken).  A transport failure or an HTTP status other than 200
 * comes back as the error ["HTTP", status]. */
struct xapi_response wx_callv(struct wx *x, const char *url, const char *method,
                              struct xapi_value *params);
/* As wx_callv with string params (NULL-terminated). */
struct xapi_response wx_call(struct wx *x, const char *url, const char *method, ...);
/* Log in as root on the master into x->sess (fails the test otherwise). */
void wx_login(struct wx *x);
/* cmocka setup: small.json / demo.json, protocol from the prestate; teardown stops the child
 * and fails unless it exits cleanly on SIGTERM. */
int wx_setup(void **state);
int wx_setup_demo(void **state);
int wx_setup_upgrade(void **state); /* scenarios/upgrade.json */
int wx_teardown(void **state);
/* The one object of cls named name (new string; asserts exactly one). */
char *wx_ref_by_name(struct wx *x, const char *cls, const char *name);
/* A string field through cls.get_<f> (new string; fails the test on error). */
char *wx_get_str(struct wx *x, const char *cls, const char *ref, const char *f);
/* event.from on task/<ref> until the task is not pending; its status (new string). */
char *wx_wait_task(struct wx *x, const char *task);

#define WX_PER_PROTO(fn)                                                                           \
    cmocka_unit_test_prestate_setup_teardown(fn, wx_setup, wx_teardown, (void *)&wx_protos[0]),    \
        cmocka_unit_test_prestate_setup_teardown(fn, wx_setup, wx_teardown,                        \
                                                 (void *)&wx_protos[1]),                           \
        cmocka_unit_test_prestate_setup_teardown(fn, wx_setup, wx_teardown, (void *)&wx_protos[2])

#endif
