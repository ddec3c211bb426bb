/* SPDX-License-Identifier: MIT */
/* xapi_testutil.c - helpers shared by the XAPI client's tests (see xapi_testutil.h). */
#include "xapi_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"

/* Parameters from up to two strings (see xapi_testutil.h). */
struct xapi_value *xt_strs(const char *a, const char *b)
{
    struct xapi_value *p = xapi_value_new_array();
    if (a)
        xapi_array_append_string(p, a);
    if (b)
        xapi_array_append_string(p, b);
    return p;
}

/* Ref by name_label (see xapi_testutil.h). */
char *xt_ref_by_name(struct xapi_client *c, const char *cls, const char *name)
{
    char m[64];
    snprintf(m, sizeof(m), "%s.get_all_records", cls);
    struct xapi_value *all = NULL;
    struct err e = {0};
    if (xapi_call_sync(c, m, NULL, NULL, &all, &e) != 0)
        fail_msg("%s: %s", m, e.msg);
    char *ref = NULL;
    for (size_t i = 0; i < all->u.st.n; i++)
        if (str_eq(xapi_struct_str(all->u.st.vals[i], "name_label", ""), name))
            ref = xstrdup(all->u.st.keys[i]);
    xapi_value_free(all);
    if (!ref)
        fail_msg("no %s named %s", cls, name);
    return ref;
}

/* The options every client test sets (see xapi_testutil.h). */
void xt_opts(struct xapi_client_opts *o, const char *const *addr, const char *password,
             int64_t budget_ms,
             void (*on_state)(void *ctx, enum xapi_conn_state s, const struct err *e),
             void *state_ctx)
{
    xapi_client_opts_init(o);
    o->addresses = addr;
    o->n_addresses = 1;
    o->user = "root";
    o->password = password;
    o->reconnect_budget_ms = budget_ms;
    o->on_state = on_state;
    o->state_ctx = state_ctx;
}
