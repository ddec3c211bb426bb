/* SPDX-License-Identifier: MIT */
/* simtest.c - helpers for the simulator's tests (see simtest.h). */
#include "simtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/str.h"

struct xapi_value *st_params(const char *first, ...)
{
    struct xapi_value *a = xapi_value_new_array();
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        xapi_array_append_string(a, s);
    va_end(ap);
    return a;
}

struct xapi_response st_callv(struct sim *s, const char *addr, const char *method,
                              struct xapi_value *params)
{
    struct xapi_response r;
    struct err e;
    err_clear(&e);
    int rc = sim_call(s, addr, method, params, &r, &e);
    if (rc != 0) {
        memset(&r, 0, sizeof(r));
        const char *p[1] = {e.msg};
        xapi_response_set_error(&r, "TRANSPORT", p, 1);
    }
    xapi_value_free(params);
    return r;
}

struct xapi_response st_call(struct sim *s, const char *addr, const char *method, ...)
{
    struct xapi_value *a = xapi_value_new_array();
    va_list ap;
    va_start(ap, method);
    for (const char *x = va_arg(ap, const char *); x; x = va_arg(ap, const char *))
        xapi_array_append_string(a, x);
    va_end(ap);
    return st_callv(s, addr, method, a);
}

const char *st_code(const struct xapi_response *r)
{
    if (r->ok)
        return "";
    const char *c = xapi_value_str(xapi_array_get(r->error, 0));
    return c ? c : "?";
}

const char *st_eparam(const struct xapi_response *r, size_t i)
{
    const char *c = r->ok ? NULL : xapi_value_str(xapi_array_get(r->error, i + 1));
    return c ? c : "";
}

const char *st_str(const struct xapi_response *r)
{
    const char *c = r->ok ? xapi_value_str(r->value) : NULL;
    return c ? c : "";
}

const char *st_src(const char *rel)
{
    static char buf[4][1024];
    static int slot;
    const char *root = getenv("SIM_SOURCE_ROOT");
    char *b = buf[slot++ % 4];
    snprintf(b, 1024, "%s/%s", root ? root : ".", rel);
    return b;
}

struct sim *st_load(const char *name, uint64_t seed)
{
    char rel[256];
    struct sim_options o;
    struct sim *s = NULL;
    struct err e;
    memset(&o, 0, sizeof(o));
    err_clear(&e);
    if (seed) {
        o.seed_set = true;
        o.seed = seed;
    }
    snprintf(rel, sizeof(rel), "scenarios/%s", name);
    int rc = sim_new_from_file(st_src(rel), &o, &s, &e);
    if (rc != 0)
        fprintf(stderr, "load %s: %s\n", name, e.msg);
    assert_int_equal(rc, 0);
    return s;
}

const char *st_login(struct sim *s, size_t pool, char *addr_out, size_t addr_n)
{
    static char sess[4][96];
    static int slot;
    char *out = sess[slot++ % 4];
    sim_pool_master_address(s, pool, addr_out, addr_n);
    struct xapi_response r = st_call(s, addr_out, "session.login_with_password", "root", "xenroot",
                                     "2.20", "test", NULL);
    assert_true(r.ok);
    str_lcpy(out, st_str(&r), 96);
    xapi_response_cleanup(&r);
    return out;
}

const char *st_ref_by_name(struct sim *s, const char *addr, const char *sess, const char *cls,
                           const char *name, int slot)
{
    static char refs[4][96];
    char m[64];
    snprintf(m, sizeof(m), "%s.get_by_name_label", cls);
    struct xapi_response r = st_call(s, addr, m, sess, name, NULL);
    assert_true(r.ok);
    assert_int_equal(xapi_array_len(r.value), 1);
    str_lcpy(refs[slot], xapi_value_str(xapi_array_get(r.value, 0)), 96);
    xapi_response_cleanup(&r);
    return refs[slot];
}

struct xapi_value *st_field(struct sim *s, const char *addr, const char *sess, const char *cls,
                            const char *ref, const char *field)
{
    char m[128];
    snprintf(m, sizeof(m), "%s.get_%s", cls, field);
    struct xapi_response r = st_call(s, addr, m, sess, ref, NULL);
    if (!r.ok)
        fprintf(stderr, "%s: %s\n", m, st_code(&r));
    assert_true(r.ok);
    struct xapi_value *v = r.value;
    r.value = NULL;
    xapi_response_cleanup(&r);
    return v;
}
