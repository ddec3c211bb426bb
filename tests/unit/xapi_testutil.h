/* SPDX-License-Identifier: MIT */
/*
 * xapi_testutil.h - helpers shared by the XAPI client's tests (tests/unit/test_xapi_client*.c,
 * tests/sim/test_client_sim.c): parameter arrays, a ref looked up by name_label, the client
 * options every test sets.  Test code only: failures go through cmocka.
 */
#ifndef PP_TESTS_XAPI_TESTUTIL_H
#define PP_TESTS_XAPI_TESTUTIL_H

#include <stdint.h>

#include "xapi/client.h"

/* A new XAPI array of the non-NULL strings a, b (either may be NULL). */
struct xapi_value *xt_strs(const char *a, const char *b);
/*
 * The ref of the object of class cls whose name_label is name, from cls.get_all_records (new
 * string; fails the test when the call fails or no object has that name).
 */
char *xt_ref_by_name(struct xapi_client *c, const char *cls, const char *name);
/*
 * Fill o for one address as root with password, the reconnect budget and the state callback
 * (the options every client test sets); the caller adds its own (transport, backoff, ...).
 * addr is borrowed (must outlive the xapi_client_new call).
 */
void xt_opts(struct xapi_client_opts *o, const char *const *addr, const char *password,
             int64_t budget_ms,
             void (*on_state)(void *ctx, enum xapi_conn_state s, const struct err *e),
             void *state_ctx);

#endif
