/* SPDX-License-Identifier: MIT */
/*
 * test_gate.c - the pure parts of the health gate (src/engine/exec_gate.c,
 * docs/health-gates.md): its settings checked and completed, the built-in check over a view of
 * XAPI records (host live, PBDs attached, VMs moved back running on it), the hook's environment
 * and its output made readable and truncated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/str.h"
#include "engine/exec_int.h"
#include "xapi/value.h"

/* ---------------------------------------------------------------- settings */

static json_t *check_ok(const char *text)
{
    json_t *in = json_loads(text, 0, NULL), *out = NULL;
    struct err e = {0};
    assert_non_null(in);
    assert_int_equal(exec_gate_spec_check(in, &out, &e), 0);
    json_decref(in);
    return out;
}

static void check_bad(const char *text, const char *says)
{
    json_t *in = json_loads(text, JSON_DECODE_ANY, NULL), *out = NULL;
    struct err e = {0};
    assert_int_equal(exec_gate_spec_check(in, &out, &e), PP_EINVAL);
    assert_null(out);
    if (!strstr(e.msg, says))
        fail_msg("'%s': message '%s' does not say '%s'", text, e.msg, says);
    json_decref(in);
}

static void test_spec(void **state)
{
    (void)state;
    json_t *o = check_ok("{}");
    assert_true(json_is_true(json_object_get(o, "builtin")));
    assert_int_equal(json_integer_value(json_object_get(o, "timeout_s")), EXEC_GATE_TIMEOUT_S);
    assert_int_equal(json_integer_value(json_object_get(o, "output_limit")),
                     EXEC_GATE_OUTPUT_LIMIT);
    assert_int_equal(json_integer_value(json_object_get(o, "wait_s")), EXEC_GATE_WAIT_S);
    assert_null(json_object_get(o, "command"));
    json_decref(o);
    o = check_ok("{\"command\": \"/usr/local/bin/check $POOLPATCH_HOST\", \"timeout_s\": 5, "
                 "\"output_limit\": 300, \"builtin\": false, \"wait_s\": 0}");
    assert_string_equal(json_string_value(json_object_get(o, "command")),
                        "/usr/local/bin/check $POOLPATCH_HOST");
    assert_false(json_is_true(json_object_get(o, "builtin")));
    assert_int_equal(json_integer_value(json_object_get(o, "timeout_s")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "wait_s")), 0);
    json_decref(o);
    o = check_ok("{\"url\": \"https://checks.example/gate\"}");
    assert_string_equal(json_string_value(json_object_get(o, "url")),
                        "https://checks.example/gate");
    json_decref(o);

    check_bad("[]", "JSON object");
    check_bad("{\"command\": \"a\", \"url\": \"http://x/\"}", "not both");
    check_bad("{\"comand\": \"a\"}", "unknown key 'comand'");
    check_bad("{\"command\": \"\"}", "command");
    check_bad("{\"command\": \"a\\nb\"}", "control character at byte 1");
    check_bad("{\"url\": \"ftp://x/\"}", "not http or https");
    check_bad("{\"url\": \"http://u:p@x/\"}", "user name or password");
    check_bad("{\"url\": 3}", "url must be a text");
    check_bad("{\"timeout_s\": 0}", "timeout_s must be a whole number from 1 to 3600");
    check_bad("{\"timeout_s\": \"5\"}", "timeout_s");
    check_bad("{\"output_limit\": 10}", "output_limit must be a whole number from 256 to 65536");
    check_bad("{\"wait_s\": -1}", "wait_s");
    check_bad("{\"builtin\": \"yes\"}", "builtin must be true or false");
}

/* ---------------------------------------------------------------- the built-in check */

/* Records as one struct per class of structs per ref. */
static struct xapi_value *db;

static const struct xapi_value *db_get(void *ctx, const char *cls, const char *ref)
{
    (void)ctx;
    return xapi_struct_get(xapi_struct_get(db, cls), ref);
}

static void db_foreach(void *ctx, const char *cls,
                       bool (*fn)(void *fctx, const char *ref, const struct xapi_value *rec),
                       void *fctx)
{
    (void)ctx;
    const struct xapi_value *c = xapi_struct_get(db, cls);
    for (size_t i = 0; i < xapi_struct_len(c); i++)
        if (!fn(fctx, c->u.st.keys[i], c->u.st.vals[i]))
            return;
}

static struct xapi_value *rec(const char *cls, const char *ref)
{
    if (!xapi_struct_get(db, cls))
        xapi_struct_set_take(db, cls, xapi_value_new_struct());
    struct xapi_value *c = (struct xapi_value *)xapi_struct_get(db, cls);
    xapi_struct_set_take(c, ref, xapi_value_new_struct());
    return (struct xapi_value *)xapi_struct_get(c, ref);
}

/* Host H (live), two PBDs of it attached and one of another host detached; VMs A and B on H,
 * running, named. */
static void pool_of_one(struct xapi_records *v)
{
    db = xapi_value_new_struct();
    xapi_struct_set_string(rec("host", "H"), "metrics", "HM");
    xapi_struct_set_bool(rec("host_metrics", "HM"), "live", true);
    const char *pbds[][3] = {{"P1", "H", "SR-local"}, {"P2", "H", "SR-nfs"}, {"P3", "G", "SR-x"}};
    for (size_t i = 0; i < 3; i++) {
        struct xapi_value *p = rec("pbd", pbds[i][0]);
        xapi_struct_set_string(p, "host", pbds[i][1]);
        xapi_struct_set_string(p, "SR", pbds[i][2]);
        xapi_struct_set_bool(p, "currently_attached", i < 2);
    }
    const char *vms[][2] = {{"A", "web-1"}, {"B", "db-1"}};
    for (size_t i = 0; i < 2; i++) {
        struct xapi_value *m = rec("vm", vms[i][0]);
        xapi_struct_set_string(m, "name_label", vms[i][1]);
        xapi_struct_set_string(m, "resident_on", "H");
        xapi_struct_set_string(m, "power_state", "Running");
    }
    v->get = db_get;
    v->foreach = db_foreach;
    v->ctx = NULL;
}

static struct xapi_value *field_rec(const char *cls, const char *ref)
{
    return (struct xapi_value *)xapi_struct_get(xapi_struct_get(db, cls), ref);
}

static void test_builtin(void **state)
{
    (void)state;
    struct xapi_records v;
    char why[512];
    pool_of_one(&v);
    json_t *back = json_pack("[s, s, s]", "A", "B", "GONE");
    /* all well: a VM that is gone is the verification's business, not the gate's */
    assert_true(exec_gate_builtin(&v, "H", back, why, sizeof why));
    assert_string_equal(why, "");
    /* another host's detached PBD does not count; this host's does, named by SR */
    xapi_struct_set_bool(field_rec("pbd", "P2"), "currently_attached", false);
    assert_false(exec_gate_builtin(&v, "H", back, why, sizeof why));
    assert_non_null(strstr(why, "the PBD of SR SR-nfs is not attached"));
    assert_null(strstr(why, "SR-x"));
    xapi_struct_set_bool(field_rec("pbd", "P2"), "currently_attached", true);
    /* a VM moved back that does not run, or runs elsewhere, is named */
    xapi_struct_set_string(field_rec("vm", "A"), "power_state", "Halted");
    xapi_struct_set_string(field_rec("vm", "B"), "resident_on", "G");
    assert_false(exec_gate_builtin(&v, "H", back, why, sizeof why));
    assert_non_null(strstr(why, "VM web-1 is Halted"));
    assert_non_null(strstr(why, "VM db-1 does not run on the host"));
    /* ... but only the VMs moved back: with none, the host passes */
    json_t *none = json_array();
    assert_true(exec_gate_builtin(&v, "H", none, NULL, 0));
    /* a host that is not live, or unknown, fails */
    xapi_struct_set_bool(field_rec("host_metrics", "HM"), "live", false);
    assert_false(exec_gate_builtin(&v, "H", none, why, sizeof why));
    assert_non_null(strstr(why, "not live"));
    assert_false(exec_gate_builtin(&v, "NOPE", none, why, sizeof why));
    assert_non_null(strstr(why, "not in the pool"));
    json_decref(none);
    json_decref(back);
    xapi_value_free(db);
}

/* ---------------------------------------------------------------- environment, output */

static const char *env_get(char **env, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

static void test_envp(void **state)
{
    (void)state;
    const char *base[] = {"PATH=/usr/bin", "POOLPATCH_HOST=spoofed", "HOME=/root", NULL};
    json_t *facts = json_pack("{s:s, s:s, s:s, s:i, s:b}", "pool", "prod", "host", "prod-2",
                              "host_uuid", "8c1e", "batch", 2, "ignored", 1);
    char **env = exec_gate_envp(base, facts);
    assert_string_equal(env_get(env, "PATH"), "/usr/bin");
    assert_string_equal(env_get(env, "HOME"), "/root");
    assert_string_equal(env_get(env, "POOLPATCH_POOL"), "prod");
    assert_string_equal(env_get(env, "POOLPATCH_HOST"), "prod-2"); /* never the inherited one */
    assert_string_equal(env_get(env, "POOLPATCH_HOST_UUID"), "8c1e");
    assert_string_equal(env_get(env, "POOLPATCH_BATCH"), "2");
    assert_null(env_get(env, "POOLPATCH_IGNORED")); /* not a text or a number */
    size_t n = 0;
    while (env[n])
        n++;
    assert_int_equal(n, 6);
    exec_gate_envp_free(env);
    env = exec_gate_envp(NULL, facts);
    assert_string_equal(env_get(env, "POOLPATCH_POOL"), "prod");
    exec_gate_envp_free(env);
    json_decref(facts);
}

static void test_output(void **state)
{
    (void)state;
    const char raw[] = "ok \xe2\x9c\x93\n\tbad\x01\x1b[31m \xff\xc3 \xed\xa0\x80";
    char *t = exec_gate_output_text(raw, sizeof raw - 1, sizeof raw - 1);
    assert_string_equal(t, "ok \xe2\x9c\x93\n\tbad??[31m ?? ???");
    json_t *js = json_string(t); /* valid UTF-8: it fits in a JSON report */
    assert_non_null(js);
    json_decref(js);
    free(t);
    t = exec_gate_output_text("abcdef", 3, 6000);
    assert_string_equal(t, "abc... (6000 bytes in all, truncated)");
    free(t);
    /* a multi-byte character cut by the limit is not kept half */
    t = exec_gate_output_text("x\xe2\x9c", 3, 4);
    assert_string_equal(t, "x??... (4 bytes in all, truncated)");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_envp),
        cmocka_unit_test(test_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
