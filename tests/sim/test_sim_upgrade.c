/* SPDX-License-Identifier: MIT */
/*
 * test_sim_upgrade.c - upgrades in the simulator, in-process on the virtual clock
 * (scenarios/upgrade.json): the prepare_host_upgrade.py plugin's answers and errors, the reboot
 * into the installer (new software_version, fresh install, emergency mode of the supporters and
 * their reconnection), rolling-upgrade mode and the operations xapi refuses in it, a supporter
 * upgraded before its coordinator, the upgrade faults, host.destroy (host-forget), manual
 * upgrades (sim_upgrade_host), guest tools versions, a standalone host and scenario errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/str.h"
#include "simtest.h"

#define INSTALL_MS (900 * 1000LL) /* scenarios/upgrade.json timings.install_s */
#define REBOOT_MS  (180 * 1000LL)
#define RELEASE    "http://127.0.0.2/installers/8.4.0/" /* no file service in-process */

struct up {
    struct sim *s;
    char addr[64]; /* the rpu pool's coordinator */
    char sess[96];
};

static void up_login(struct up *u)
{
    str_lcpy(u->sess, st_login(u->s, 0, u->addr, sizeof(u->addr)), sizeof(u->sess));
}

static void up_open(struct up *u)
{
    u->s = st_load("upgrade.json", 0);
    up_login(u);
}

static int64_t now(struct up *u)
{
    return clock_now_ms(sim_clock(u->s));
}

static void advance(struct up *u, int64_t ms)
{
    sim_run_until(u->s, now(u) + ms);
}

static const char *host_ref(struct up *u, const char *name, int slot)
{
    return st_ref_by_name(u->s, u->addr, u->sess, "host", name, slot);
}

/* host.call_plugin(s, host, "prepare_host_upgrade.py" or plugin, fn, {"url": url}). */
static struct xapi_response plugin(struct up *u, const char *host, const char *name, const char *fn,
                                   const char *url)
{
    struct xapi_value *p = st_params(u->sess, host, name, fn, NULL);
    struct xapi_value *args = xapi_value_new_struct();
    if (url)
        xapi_struct_set_string(args, "url", url);
    xapi_array_append_take(p, args);
    return st_callv(u->s, u->addr, "host.call_plugin", p);
}

static void expect_plugin_error(struct up *u, const char *host, const char *fn, const char *url,
                                const char *msg)
{
    struct xapi_response r = plugin(u, host, "prepare_host_upgrade.py", fn, url);
    assert_string_equal(st_code(&r), "XENAPI_PLUGIN_FAILURE");
    assert_string_equal(st_eparam(&r, 0), fn);
    assert_string_equal(st_eparam(&r, 1), "Exception");
    assert_string_equal(st_eparam(&r, 2), msg);
    xapi_response_cleanup(&r);
}

static void expect_ok(struct xapi_response r)
{
    if (!r.ok)
        fail_msg("call failed: %s %s", st_code(&r), st_eparam(&r, 0));
    xapi_response_cleanup(&r);
}

static void expect_code(struct xapi_response r, const char *code)
{
    assert_string_equal(st_code(&r), code);
    xapi_response_cleanup(&r);
}

/* A field of a host's software_version (a static copy). */
static const char *sw(struct up *u, const char *host, const char *key)
{
    static char out[4][128];
    static int slot;
    char *o = out[slot++ % 4];
    struct xapi_value *v = st_field(u->s, u->addr, u->sess, "host", host, "software_version");
    str_lcpy(o, xapi_struct_str(v, key, ""), 128);
    xapi_value_free(v);
    return o;
}

static const char *other_config(struct up *u, const char *cls, const char *ref, const char *key)
{
    static char out[2][128];
    static int slot;
    char *o = out[slot++ % 2];
    struct xapi_value *v = st_field(u->s, u->addr, u->sess, cls, ref, "other_config");
    str_lcpy(o, xapi_struct_str(v, key, ""), 128);
    xapi_value_free(v);
    return o;
}

static bool rpu(struct up *u)
{
    struct xapi_response r = st_call(u->s, u->addr, "pool.get_all", u->sess, NULL);
    char pool[96];
    str_lcpy(pool, xapi_value_str(xapi_array_get(r.value, 0)), sizeof(pool));
    xapi_response_cleanup(&r);
    return strcmp(other_config(u, "pool", pool, "rolling_upgrade_in_progress"), "true") == 0;
}

/* A host's entry in GET /sim/state (borrowed from doc). */
static json_t *state_host(json_t *doc, const char *name)
{
    size_t i, k;
    json_t *p, *h;
    json_array_foreach(json_object_get(doc, "pools"), i, p)
    {
        json_array_foreach(json_object_get(p, "hosts"), k, h)
        {
            if (!strcmp(json_string_value(json_object_get(h, "name")), name))
                return h;
        }
    }
    fail_msg("no host %s in /sim/state", name);
    return NULL;
}

static bool state_flag(struct up *u, const char *host, const char *flag)
{
    json_t *doc = sim_state_json(u->s);
    bool b = json_is_true(json_object_get(state_host(doc, host), flag));
    json_decref(doc);
    return b;
}

static bool live(struct up *u, const char *name)
{
    char host[96];
    str_lcpy(host, host_ref(u, name, 3), sizeof(host));
    struct xapi_value *m = st_field(u->s, u->addr, u->sess, "host", host, "metrics");
    char ref[96];
    str_lcpy(ref, xapi_value_str(m), sizeof(ref));
    xapi_value_free(m);
    struct xapi_value *v = st_field(u->s, u->addr, u->sess, "host_metrics", ref, "live");
    bool b = false;
    assert_int_equal(xapi_value_as_bool(v, &b), 0);
    xapi_value_free(v);
    return b;
}

/* Prepare (plugin main) and reboot host name into the installer. */
static void prepare_and_reboot(struct up *u, const char *name)
{
    const char *h = host_ref(u, name, 0);
    struct xapi_response r = plugin(u, h, "prepare_host_upgrade.py", "main", RELEASE);
    assert_true(r.ok);
    assert_string_equal(st_str(&r), "true");
    xapi_response_cleanup(&r);
    expect_ok(st_call(u->s, u->addr, "host.disable", u->sess, h, NULL));
    expect_ok(st_call(u->s, u->addr, "host.reboot", u->sess, h, NULL));
}

static void fault(struct up *u, const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    struct err e;
    err_clear(&e);
    assert_non_null(j);
    assert_int_equal(sim_fault_apply(u->s, j, &e), 0);
    json_decref(j);
}

/* ---- the plugin ---- */

static void test_plugin_answers(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    const char *h = host_ref(&u, "rpu-2", 0);
    struct xapi_response r = plugin(&u, h, "prepare_host_upgrade.py", "testUrl", RELEASE);
    assert_true(r.ok);
    assert_string_equal(st_str(&r), "true");
    xapi_response_cleanup(&r);
    /* XenCenter's form: credentials and no trailing slash still name the same repository */
    r = plugin(&u, h, "prepare_host_upgrade.py", "testUrl",
               "http://user:secret@127.0.0.2/installers/8.4.0");
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = plugin(&u, h, "prepare_host_upgrade.py", "getVersion", RELEASE);
    assert_true(r.ok);
    json_error_t je;
    json_t *v = json_loads(st_str(&r), 0, &je);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "product-version")), "8.4.0");
    assert_string_equal(json_string_value(json_object_get(v, "platform-version")), "3.4.0");
    json_decref(v);
    xapi_response_cleanup(&r);
    expect_plugin_error(&u, h, "testUrl", "http://127.0.0.2/installers/9.9.9/", "INVALID_URL");
    expect_plugin_error(&u, h, "main", "nfs://elsewhere:/xs/", "INVALID_URL");
    expect_plugin_error(&u, h, "testUrl", NULL, "MISSING_URL");
    expect_plugin_error(&u, h, "main", NULL, "MISSING_URL");
    r = plugin(&u, h, "prepare_host_upgrade.py", "frobnicate", RELEASE);
    assert_string_equal(st_code(&r), "UNKNOWN_XENAPI_PLUGIN_FUNCTION");
    assert_string_equal(st_eparam(&r, 0), "frobnicate");
    xapi_response_cleanup(&r);
    r = plugin(&u, h, "no_such_plugin.py", "main", RELEASE);
    assert_string_equal(st_code(&r), "XENAPI_MISSING_PLUGIN");
    assert_string_equal(st_eparam(&r, 0), "no_such_plugin.py");
    xapi_response_cleanup(&r);
    /* faults: the URL unreachable from one host only; main failing to prepare */
    fault(&u, "{\"type\":\"install_url_unreachable\",\"host\":\"rpu-2\"}");
    expect_plugin_error(&u, h, "testUrl", RELEASE, "INVALID_URL");
    r = plugin(&u, host_ref(&u, "rpu-3", 1), "prepare_host_upgrade.py", "testUrl", RELEASE);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    fault(&u, "{\"type\":\"clear\"}");
    fault(&u, "{\"type\":\"prepare_fails\",\"host\":\"rpu-2\",\"count\":1}");
    expect_plugin_error(&u, h, "main", RELEASE, "ERROR_PREPARING_HOST");
    json_t *doc = sim_state_json(u.s);
    assert_string_equal(json_string_value(json_object_get(state_host(doc, "rpu-2"), "prepared")),
                        "");
    json_decref(doc);
    r = plugin(&u, h, "prepare_host_upgrade.py", "main", RELEASE);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    doc = sim_state_json(u.s);
    assert_string_equal(json_string_value(json_object_get(state_host(doc, "rpu-2"), "prepared")),
                        "8.4.0");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "releases"), 0), "url")),
                        RELEASE);
    json_decref(doc);
    /* a host that is down cannot run a plugin */
    expect_ok(st_call(u.s, u.addr, "host.disable", u.sess, host_ref(&u, "rpu-3", 1), NULL));
    expect_ok(st_call(u.s, u.addr, "host.reboot", u.sess, host_ref(&u, "rpu-3", 1), NULL));
    r = plugin(&u, host_ref(&u, "rpu-3", 1), "prepare_host_upgrade.py", "testUrl", RELEASE);
    assert_string_equal(st_code(&r), "HOST_OFFLINE");
    xapi_response_cleanup(&r);
    sim_free(u.s);
}

/* ---- the installer and rolling-upgrade mode ---- */

static void test_master_upgrade(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    char m[96];
    str_lcpy(m, host_ref(&u, "rpu-1", 0), sizeof(m));
    const char *boot0 = other_config(&u, "host", m, "boot_time");
    char boot_before[64];
    str_lcpy(boot_before, boot0, sizeof(boot_before));
    assert_false(rpu(&u));
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, m, NULL));
    prepare_and_reboot(&u, "rpu-1");
    /* a plain reboot would be over by now; the installer is not */
    advance(&u, REBOOT_MS + 61000);
    assert_true(state_flag(&u, "rpu-1", "installing"));
    assert_false(state_flag(&u, "rpu-1", "reachable"));
    assert_true(state_flag(&u, "rpu-2", "emergency"));
    assert_true(state_flag(&u, "rpu-4", "emergency"));
    advance(&u, INSTALL_MS - REBOOT_MS - 61000);
    assert_false(state_flag(&u, "rpu-1", "installing"));
    up_login(&u); /* the coordinator's restart dropped the sessions */
    assert_string_equal(sw(&u, m, "product_version"), "8.4.0");
    assert_string_equal(sw(&u, m, "platform_version"), "3.4.0");
    assert_string_equal(sw(&u, m, "build_number"), "release/nile/master/112");
    assert_string_equal(sw(&u, m, "xapi"), "24.39");
    assert_string_equal(sw(&u, m, "xapi_build"), "24.39.0");
    assert_string_equal(sw(&u, m, "product_brand"), "XenServer");
    struct xapi_value *minor = st_field(u.s, u.addr, u.sess, "host", m, "API_version_minor");
    int64_t mi = 0;
    assert_int_equal(xapi_value_as_int(minor, &mi), 0);
    assert_int_equal(mi, 21);
    xapi_value_free(minor);
    assert_string_not_equal(other_config(&u, "host", m, "boot_time"), boot_before);
    /* a fresh install: the 8.2 update is gone from the host and the host from the update */
    struct xapi_value *ups = st_field(u.s, u.addr, u.sess, "host", m, "updates");
    assert_int_equal(xapi_array_len(ups), 0);
    xapi_value_free(ups);
    struct xapi_response r = st_call(u.s, u.addr, "pool_update.get_all", u.sess, NULL);
    assert_int_equal(xapi_array_len(r.value), 1);
    ups = st_field(u.s, u.addr, u.sess, "pool_update", xapi_value_str(xapi_array_get(r.value, 0)),
                   "hosts");
    assert_int_equal(xapi_array_len(ups), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_not_equal(xapi_value_str(xapi_array_get(ups, i)), m);
    xapi_value_free(ups);
    xapi_response_cleanup(&r);
    assert_true(rpu(&u));
    /* host.allowed_operations shrink to the ones every release knows */
    struct xapi_value *ops = st_field(u.s, u.addr, u.sess, "host", m, "allowed_operations");
    for (size_t i = 0; i < xapi_array_len(ops); i++) {
        const char *op = xapi_value_str(xapi_array_get(ops, i));
        assert_true(!strcmp(op, "evacuate") || !strcmp(op, "provision"));
    }
    xapi_value_free(ops);
    /* the supporters reconnect: agent_start_time after the coordinator's */
    char mstart[64];
    str_lcpy(mstart, other_config(&u, "host", m, "agent_start_time"), sizeof(mstart));
    assert_true(state_flag(&u, "rpu-2", "emergency"));
    advance(&u, 61000);
    assert_false(state_flag(&u, "rpu-2", "emergency"));
    const char *h2 = host_ref(&u, "rpu-2", 1);
    assert_true(atof(other_config(&u, "host", h2, "agent_start_time")) >= atof(mstart));
    assert_true(live(&u, "rpu-2"));
    sim_free(u.s);
}

static void test_rpu_refusals(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    /* upgrade rpu-1 (the coordinator) with its VM moved away first */
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, host_ref(&u, "rpu-1", 0), NULL));
    prepare_and_reboot(&u, "rpu-1");
    advance(&u, INSTALL_MS + 61000);
    up_login(&u);
    char m[96], h2[96], app2[96], batch[96];
    str_lcpy(m, host_ref(&u, "rpu-1", 0), sizeof(m));
    str_lcpy(h2, host_ref(&u, "rpu-2", 1), sizeof(h2));
    str_lcpy(app2, st_ref_by_name(u.s, u.addr, u.sess, "VM", "app-2", 2), sizeof(app2));
    str_lcpy(batch, st_ref_by_name(u.s, u.addr, u.sess, "VM", "batch-1", 3), sizeof(batch));
    expect_ok(st_call(u.s, u.addr, "host.enable", u.sess, m, NULL));
    assert_true(rpu(&u));
    /* old -> new migrates; new -> old is refused */
    struct xapi_value *p = st_params(u.sess, app2, m, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    expect_ok(st_callv(u.s, u.addr, "VM.pool_migrate", p));
    p = st_params(u.sess, app2, h2, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    expect_code(st_callv(u.s, u.addr, "VM.pool_migrate", p), "NOT_SUPPORTED_DURING_UPGRADE");
    /* starts only on the newest hosts */
    expect_code(st_call(u.s, u.addr, "VM.start_on", u.sess, batch, h2, "false", "false", NULL),
                "NOT_SUPPORTED_DURING_UPGRADE");
    expect_code(st_call(u.s, u.addr, "VM.assert_can_boot_here", u.sess, batch, h2, NULL),
                "VM_HOST_INCOMPATIBLE_VERSION");
    expect_ok(st_call(u.s, u.addr, "VM.start", u.sess, batch, "false", "false", NULL));
    struct xapi_value *on = st_field(u.s, u.addr, u.sess, "VM", batch, "resident_on");
    assert_string_equal(xapi_value_str(on), m);
    xapi_value_free(on);
    /* operations outside rpu_allowed_vm_operations, HA */
    expect_code(st_call(u.s, u.addr, "VM.assert_operation_valid", u.sess, app2, "snapshot", NULL),
                "NOT_SUPPORTED_DURING_UPGRADE");
    expect_ok(
        st_call(u.s, u.addr, "VM.assert_operation_valid", u.sess, app2, "clean_shutdown", NULL));
    struct xapi_value *ops = st_field(u.s, u.addr, u.sess, "VM", app2, "allowed_operations");
    for (size_t i = 0; i < xapi_array_len(ops); i++)
        assert_string_not_equal(xapi_value_str(xapi_array_get(ops, i)), "snapshot");
    xapi_value_free(ops);
    p = st_params(u.sess, NULL);
    xapi_array_append_take(p, xapi_value_new_array());
    xapi_array_append_take(p, xapi_value_new_struct());
    expect_code(st_callv(u.s, u.addr, "pool.enable_ha", p), "NOT_SUPPORTED_DURING_UPGRADE");
    /* the rest upgraded: the mode ends and the operations come back */
    const char *rest[] = {"rpu-2", "rpu-3", "rpu-4"};
    for (size_t i = 0; i < 3; i++) {
        expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, host_ref(&u, rest[i], 0), NULL));
        prepare_and_reboot(&u, rest[i]);
        advance(&u, INSTALL_MS + 1000);
    }
    assert_false(rpu(&u));
    expect_ok(st_call(u.s, u.addr, "VM.assert_operation_valid", u.sess, app2, "snapshot", NULL));
    sim_free(u.s);
}

/* A supporter upgraded while its coordinator is older cannot join (xapi.ml). */
static void test_supporter_before_master(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, host_ref(&u, "rpu-4", 0), NULL));
    prepare_and_reboot(&u, "rpu-4");
    advance(&u, INSTALL_MS + 1000);
    assert_true(state_flag(&u, "rpu-4", "emergency"));
    json_t *doc = sim_state_json(u.s);
    char addr[64];
    str_lcpy(addr, json_string_value(json_object_get(state_host(doc, "rpu-4"), "address")),
             sizeof(addr));
    json_decref(doc);
    struct xapi_response r = st_call(u.s, addr, "host.get_all", "OpaqueRef:x", NULL);
    assert_string_equal(st_code(&r), "HOST_XAPI_VERSION_HIGHER_THAN_COORDINATOR");
    assert_string_equal(st_eparam(&r, 0), "24.39.0");
    xapi_response_cleanup(&r);
    assert_false(live(&u, "rpu-4")); /* it never joined: no heartbeat since its reboot */
    /* the coordinator upgraded: the supporter joins */
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, host_ref(&u, "rpu-1", 0), NULL));
    prepare_and_reboot(&u, "rpu-1");
    advance(&u, INSTALL_MS + 61000);
    up_login(&u);
    assert_false(state_flag(&u, "rpu-4", "emergency"));
    assert_true(live(&u, "rpu-4"));
    sim_free(u.s);
}

/* ---- faults, host-forget ---- */

static void test_upgrade_faults(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    /* a supporter's installer fails: it stays away; the operator forgets it */
    fault(&u, "{\"type\":\"upgrade_fails\",\"host\":\"rpu-3\"}");
    char h3[96];
    str_lcpy(h3, host_ref(&u, "rpu-3", 0), sizeof(h3));
    expect_code(st_call(u.s, u.addr, "host.destroy", u.sess, h3, NULL), "HOST_IS_LIVE");
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, h3, NULL));
    prepare_and_reboot(&u, "rpu-3");
    advance(&u, INSTALL_MS * 3);
    assert_true(state_flag(&u, "rpu-3", "stuck"));
    assert_false(live(&u, "rpu-3"));
    expect_ok(st_call(u.s, u.addr, "host.destroy", u.sess, h3, NULL));
    struct xapi_response r = st_call(u.s, u.addr, "host.get_all", u.sess, NULL);
    assert_int_equal(xapi_array_len(r.value), 3);
    xapi_response_cleanup(&r);
    /* a supporter comes back on its old version */
    fault(&u, "{\"type\":\"returns_old_version\",\"host\":\"rpu-2\",\"count\":1}");
    char h2[96];
    str_lcpy(h2, host_ref(&u, "rpu-2", 1), sizeof(h2));
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, h2, NULL));
    prepare_and_reboot(&u, "rpu-2");
    advance(&u, REBOOT_MS + 1000);
    assert_true(state_flag(&u, "rpu-2", "installing")); /* the installer's time, not a reboot's */
    advance(&u, INSTALL_MS);
    assert_false(state_flag(&u, "rpu-2", "installing"));
    assert_string_equal(sw(&u, h2, "product_version"), "8.2.1");
    assert_false(rpu(&u));
    /* the coordinator's installer fails; cleared, it is restored on its old version */
    fault(&u, "{\"type\":\"upgrade_fails\",\"host\":\"rpu-1\"}");
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, host_ref(&u, "rpu-1", 2), NULL));
    prepare_and_reboot(&u, "rpu-1");
    advance(&u, INSTALL_MS * 2);
    assert_true(state_flag(&u, "rpu-1", "stuck"));
    assert_true(state_flag(&u, "rpu-2", "emergency"));
    fault(&u, "{\"type\":\"clear\",\"code\":\"upgrade_fails\"}");
    advance(&u, REBOOT_MS + 61000);
    up_login(&u);
    assert_string_equal(sw(&u, host_ref(&u, "rpu-1", 0), "product_version"), "8.2.1");
    assert_false(state_flag(&u, "rpu-2", "emergency"));
    sim_free(u.s);
}

/* Forgetting the one host left on another version ends rolling-upgrade mode. */
static void test_forget_ends_rpu(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    const char *order[] = {"rpu-1", "rpu-2", "rpu-3"};
    for (size_t i = 0; i < 3; i++) {
        expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, host_ref(&u, order[i], 0), NULL));
        prepare_and_reboot(&u, order[i]);
        advance(&u, INSTALL_MS + 61000);
        up_login(&u);
        expect_ok(st_call(u.s, u.addr, "host.enable", u.sess, host_ref(&u, order[i], 0), NULL));
    }
    assert_true(rpu(&u));
    char h4[96];
    str_lcpy(h4, host_ref(&u, "rpu-4", 0), sizeof(h4));
    expect_code(st_call(u.s, u.addr, "host.destroy", u.sess, h4, NULL), "HOST_IS_LIVE");
    fault(&u, "{\"type\":\"reboot_never_returns\",\"host\":\"rpu-4\"}");
    expect_ok(st_call(u.s, u.addr, "host.evacuate", u.sess, h4, NULL));
    expect_ok(st_call(u.s, u.addr, "host.disable", u.sess, h4, NULL));
    expect_ok(st_call(u.s, u.addr, "host.reboot", u.sess, h4, NULL));
    expect_ok(st_call(u.s, u.addr, "host.destroy", u.sess, h4, NULL));
    assert_false(rpu(&u));
    sim_free(u.s);
}

/* ---- manual upgrades (POST /sim/upgrade) ---- */

static int manual(struct up *u, const char *json, char *msg, size_t n)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    struct err e;
    err_clear(&e);
    assert_non_null(j);
    int rc = sim_upgrade_host(u->s, j, &e);
    json_decref(j);
    if (msg)
        str_lcpy(msg, e.msg, n);
    return rc;
}

static void test_manual_upgrade(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    char msg[256];
    assert_int_equal(manual(&u, "{\"host\":\"nope\"}", msg, sizeof(msg)), PP_EINVAL);
    assert_non_null(strstr(msg, "upgrade.host"));
    assert_int_equal(manual(&u, "{\"host\":\"rpu-2\",\"release\":\"7.0\"}", msg, sizeof(msg)),
                     PP_EINVAL);
    assert_non_null(strstr(msg, "upgrade.release"));
    assert_int_equal(manual(&u, "{\"host\":\"rpu-2\",\"outcome\":\"maybe\"}", msg, sizeof(msg)),
                     PP_EINVAL);
    assert_non_null(strstr(msg, "upgrade.outcome"));
    assert_int_equal(manual(&u, "{\"host\":\"rpu-2\",\"colour\":1}", NULL, 0), PP_EINVAL);
    /* the operator boots the coordinator from the media (by address) */
    assert_int_equal(manual(&u, "{\"host\":\"127.0.0.10\",\"release\":\"XenServer 8\"}", NULL, 0),
                     0);
    assert_true(state_flag(&u, "rpu-1", "installing"));
    assert_int_equal(manual(&u, "{\"host\":\"rpu-1\"}", msg, sizeof(msg)), PP_ESTATE);
    advance(&u, INSTALL_MS + 61000);
    up_login(&u);
    assert_string_equal(sw(&u, host_ref(&u, "rpu-1", 0), "product_version"), "8.4.0");
    /* and a supporter that comes back on the old version */
    assert_int_equal(manual(&u, "{\"host\":\"rpu-2\",\"outcome\":\"old_version\"}", NULL, 0), 0);
    advance(&u, INSTALL_MS + 1000);
    assert_string_equal(sw(&u, host_ref(&u, "rpu-2", 1), "product_version"), "8.2.1");
    assert_true(rpu(&u));
    sim_free(u.s);
}

/* ---- guest tools, standalone host, scenario errors ---- */

static void test_guest_tools(void **state)
{
    (void)state;
    struct up u;
    up_open(&u);
    const char *db = st_ref_by_name(u.s, u.addr, u.sess, "VM", "db-1", 0);
    struct xapi_value *gm = st_field(u.s, u.addr, u.sess, "VM", db, "guest_metrics");
    char g[96];
    str_lcpy(g, xapi_value_str(gm), sizeof(g));
    xapi_value_free(gm);
    struct xapi_response r = st_call(u.s, u.addr, "VM_guest_metrics.get_record", u.sess, g, NULL);
    assert_true(r.ok);
    const struct xapi_value *ver = xapi_struct_get(r.value, "PV_drivers_version");
    assert_string_equal(xapi_struct_str(ver, "major", ""), "7");
    assert_string_equal(xapi_struct_str(ver, "minor", ""), "1");
    assert_string_equal(xapi_struct_str(ver, "micro", ""), "0");
    assert_true(xapi_struct_bool(r.value, "PV_drivers_detected", false));
    assert_true(xapi_struct_bool(r.value, "PV_drivers_up_to_date", false));
    xapi_response_cleanup(&r);
    const char *app = st_ref_by_name(u.s, u.addr, u.sess, "VM", "app-1", 1);
    gm = st_field(u.s, u.addr, u.sess, "VM", app, "guest_metrics");
    r = st_call(u.s, u.addr, "VM_guest_metrics.get_PV_drivers_version", u.sess, xapi_value_str(gm),
                NULL);
    assert_string_equal(xapi_struct_str(r.value, "build", ""), "150");
    xapi_response_cleanup(&r);
    xapi_value_free(gm);
    const char *legacy = st_ref_by_name(u.s, u.addr, u.sess, "VM", "legacy-1", 2);
    gm = st_field(u.s, u.addr, u.sess, "VM", legacy, "guest_metrics");
    assert_string_equal(xapi_value_str(gm), "OpaqueRef:NULL");
    xapi_value_free(gm);
    r = st_call(u.s, u.addr, "VM_guest_metrics.get_all", u.sess, NULL);
    assert_int_equal(xapi_array_len(r.value), 5);
    xapi_response_cleanup(&r);
    sim_free(u.s);
}

static void test_standalone_host(void **state)
{
    (void)state;
    struct up u;
    u.s = st_load("upgrade.json", 0);
    str_lcpy(u.sess, st_login(u.s, 1, u.addr, sizeof(u.addr)), sizeof(u.sess));
    char h[96];
    str_lcpy(h, host_ref(&u, "solo-1", 0), sizeof(h));
    const char *web = st_ref_by_name(u.s, u.addr, u.sess, "VM", "solo-web", 1);
    const char *db = st_ref_by_name(u.s, u.addr, u.sess, "VM", "solo-db", 2);
    expect_ok(st_call(u.s, u.addr, "VM.clean_shutdown", u.sess, web, NULL));
    expect_ok(st_call(u.s, u.addr, "VM.suspend", u.sess, db, NULL));
    prepare_and_reboot(&u, "solo-1");
    advance(&u, INSTALL_MS + 1000);
    str_lcpy(u.sess, st_login(u.s, 1, u.addr, sizeof(u.addr)), sizeof(u.sess));
    assert_string_equal(sw(&u, h, "product_version"), "8.4.0");
    assert_false(rpu(&u)); /* one host: nothing differs */
    expect_ok(st_call(u.s, u.addr, "host.enable", u.sess, h, NULL));
    web = st_ref_by_name(u.s, u.addr, u.sess, "VM", "solo-web", 1);
    db = st_ref_by_name(u.s, u.addr, u.sess, "VM", "solo-db", 2);
    expect_ok(st_call(u.s, u.addr, "VM.start", u.sess, web, "false", "false", NULL));
    expect_ok(st_call(u.s, u.addr, "VM.resume", u.sess, db, "false", "false", NULL));
    sim_free(u.s);
}

/* A release at a scenario-given NFS URL with its own install time. */
static void test_scenario_url(void **state)
{
    (void)state;
    static const char doc[] = "{\"timings\":{\"reboot_s\":60},\"releases\":[{\"name\":\"XS 8.4\","
                              "\"product_version\":\"8.4.0\",\"platform_version\":\"3.4.0\","
                              "\"url\":\"nfs://10.0.0.5:/srv/xs84/\",\"install_s\":100}],"
                              "\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"h\"}]}]}";
    json_error_t je;
    json_t *j = json_loads(doc, 0, &je);
    struct err e;
    err_clear(&e);
    struct up u;
    assert_int_equal(sim_new_from_json(j, NULL, &u.s, &e), 0);
    json_decref(j);
    up_login(&u);
    const char *h = host_ref(&u, "h", 0);
    struct xapi_response r =
        plugin(&u, h, "prepare_host_upgrade.py", "testUrl", "nfs://10.0.0.5:/srv/xs84");
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    expect_plugin_error(&u, h, "testUrl", "ftp://10.0.0.5/srv/xs84/", "INVALID_URL");
    json_t *st = sim_state_json(u.s);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(st, "releases"), 0), "url")),
                        "nfs://10.0.0.5:/srv/xs84/");
    json_decref(st);
    r = plugin(&u, h, "prepare_host_upgrade.py", "main", "nfs://10.0.0.5:/srv/xs84/");
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    expect_ok(st_call(u.s, u.addr, "host.disable", u.sess, h, NULL));
    expect_ok(st_call(u.s, u.addr, "host.reboot", u.sess, h, NULL));
    advance(&u, 99 * 1000);
    assert_true(state_flag(&u, "h", "installing"));
    advance(&u, 2000);
    assert_false(state_flag(&u, "h", "installing"));
    up_login(&u);
    assert_string_equal(sw(&u, host_ref(&u, "h", 0), "product_version"), "8.4.0");
    sim_free(u.s);
}

static void expect_bad(const char *json, const char *needle)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    struct sim *s = NULL;
    struct err e;
    err_clear(&e);
    assert_non_null(j);
    assert_int_not_equal(sim_new_from_json(j, NULL, &s, &e), 0);
    if (!strstr(e.msg, needle))
        fail_msg("error \"%s\" does not name \"%s\"", e.msg, needle);
    json_decref(j);
}

static void test_scenario_errors(void **state)
{
    (void)state;
#define POOLS "\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"h\"}]}]"
    expect_bad("{" POOLS ",\"releases\":[{\"name\":\"r\"}]}", "releases[0].product_version");
    expect_bad("{" POOLS ",\"releases\":[{\"name\":\"r\",\"product_version\":\"9\","
               "\"platform_version\":\"4\",\"colour\":1}]}",
               "releases[0].colour");
    expect_bad("{" POOLS ",\"releases\":[{\"name\":\"r\",\"product_version\":\"9\","
               "\"platform_version\":\"4\",\"install_s\":-5}]}",
               "releases[0].install_s");
    expect_bad("{" POOLS ",\"releases\":[{\"name\":\"r\",\"product_version\":\"9\","
               "\"platform_version\":\"4\",\"url\":\"somewhere\"}]}",
               "releases[0].url");
    expect_bad("{" POOLS ",\"releases\":{}}", "releases");
    expect_bad("{\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"h\"}],\"vms\":[{\"name\":"
               "\"v\",\"host\":\"h\",\"tools\":\"new\"}]}]}",
               "pools[0].vms[0].tools");
    expect_bad("{" POOLS ",\"faults\":[{\"type\":\"upgrade_explodes\"}]}", "faults[0].type");
#undef POOLS
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_answers),  cmocka_unit_test(test_master_upgrade),
        cmocka_unit_test(test_rpu_refusals),    cmocka_unit_test(test_supporter_before_master),
        cmocka_unit_test(test_upgrade_faults),  cmocka_unit_test(test_forget_ends_rpu),
        cmocka_unit_test(test_manual_upgrade),  cmocka_unit_test(test_guest_tools),
        cmocka_unit_test(test_standalone_host), cmocka_unit_test(test_scenario_url),
        cmocka_unit_test(test_scenario_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
