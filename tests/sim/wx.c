/* SPDX-License-Identifier: MIT */
/* wx.c - the wire-test fixture (see wx.h): one `poolpatch sim` per test, calls in one protocol. */
#include "wx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "simtest.h"

const enum xapi_proto wx_protos[3] = {XAPI_PROTO_XMLRPC, XAPI_PROTO_JSONRPC_V1,
                                      XAPI_PROTO_JSONRPC_V2};

struct xapi_response wx_callv(struct wx *x, const char *url, const char *method,
                              struct xapi_value *params)
{
    struct xapi_response r;
    long st;
    int rc = wire_call(url, x->proto, method, params, &r, &st);
    xapi_value_free(params);
    if (rc != 0) {
        memset(&r, 0, sizeof(r));
        char s[32];
        snprintf(s, sizeof(s), "%ld", st);
        const char *p[1] = {s};
        xapi_response_set_error(&r, "HTTP", p, 1);
    }
    return r;
}

struct xapi_response wx_call(struct wx *x, const char *url, const char *method, ...)
{
    struct xapi_value *a = xapi_value_new_array();
    va_list ap;
    va_start(ap, method);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        xapi_array_append_string(a, s);
    va_end(ap);
    return wx_callv(x, url, method, a);
}

void wx_login(struct wx *x)
{
    struct xapi_response r = wx_call(x, x->master, "session.login_with_password", "root", "xenroot",
                                     "2.20", "wire-test", NULL);
    if (!r.ok)
        fail_msg("login: %s", st_code(&r));
    str_lcpy(x->sess, st_str(&r), sizeof(x->sess));
    xapi_response_cleanup(&r);
}

/* Start `poolpatch sim` on scenario (time scale 1000) for the prestate's protocol. */
static int setup_with(void **state, const char *scenario)
{
    struct wx *x = calloc(1, sizeof(*x));
    x->proto = wx_protos[0];
    if (*state)
        x->proto = *(const enum xapi_proto *)*state;
    if (wire_start(&x->sim, scenario, "1000") != 0) {
        free(x);
        return -1;
    }
    str_lcpy(x->master, x->sim.pool_url[0], sizeof(x->master));
    wire_url(&x->sim, "127.0.0.11", x->slave, sizeof(x->slave));
    wx_login(x);
    *state = x;
    return 0;
}

int wx_setup(void **state)
{
    return setup_with(state, "small.json");
}

int wx_setup_demo(void **state)
{
    return setup_with(state, "demo.json");
}

int wx_setup_upgrade(void **state)
{
    return setup_with(state, "upgrade.json");
}

int wx_teardown(void **state)
{
    struct wx *x = *state;
    int rc = wire_stop(&x->sim);
    free(x);
    return rc == 0 ? 0 : -1; /* SIGTERM must end it cleanly */
}

char *wx_ref_by_name(struct wx *x, const char *cls, const char *name)
{
    char m[64];
    snprintf(m, sizeof(m), "%s.get_by_name_label", cls);
    struct xapi_response r = wx_call(x, x->master, m, x->sess, name, NULL);
    assert_true(r.ok);
    assert_int_equal(xapi_array_len(r.value), 1);
    char *s = strdup(xapi_value_str(xapi_array_get(r.value, 0)));
    xapi_response_cleanup(&r);
    return s;
}

char *wx_get_str(struct wx *x, const char *cls, const char *ref, const char *f)
{
    char m[64];
    snprintf(m, sizeof(m), "%s.get_%s", cls, f);
    struct xapi_response r = wx_call(x, x->master, m, x->sess, ref, NULL);
    if (!r.ok)
        fail_msg("%s: %s", m, st_code(&r));
    char *s = strdup(st_str(&r));
    xapi_response_cleanup(&r);
    return s;
}

/* event.from on task/<ref> until the task is not pending (xapi's tasks.ml way). */
char *wx_wait_task(struct wx *x, const char *task)
{
    char filt[128], tok[64] = "";
    snprintf(filt, sizeof(filt), "task/%s", task);
    for (int i = 0; i < 100; i++) {
        struct xapi_value *cl = xapi_value_new_array();
        xapi_array_append_string(cl, filt);
        struct xapi_value *p = st_params(x->sess, NULL);
        xapi_array_append_take(p, cl);
        xapi_array_append_string(p, tok);
        xapi_array_append_take(p, xapi_value_new_double(30000.0));
        struct xapi_response r = wx_callv(x, x->master, "event.from", p);
        if (!r.ok)
            fail_msg("event.from: %s", st_code(&r));
        const struct xapi_value *evs = xapi_struct_get(r.value, "events");
        for (size_t k = 0; k < xapi_array_len(evs); k++) {
            const struct xapi_value *snap = xapi_struct_get(xapi_array_get(evs, k), "snapshot");
            const char *status = xapi_struct_str(snap, "status", "pending");
            if (strcmp(status, "pending") != 0) {
                char *s = strdup(status);
                xapi_response_cleanup(&r);
                return s;
            }
        }
        str_lcpy(tok, xapi_struct_str(r.value, "token", ""), sizeof(tok));
        xapi_response_cleanup(&r);
    }
    fail_msg("task %s never finished", task);
    return NULL;
}
