/* SPDX-License-Identifier: MIT */
/*
 * upgrade.c - upgrading simulated hosts to a new release (issue 15): the scenario's
 * "releases", the host plugin prepare_host_upgrade.py as XenCenter's Rolling Pool Upgrade wizard
 * calls it through host.call_plugin, the reboot into the installer, the operator's manual boot
 * from install media (POST /sim/upgrade), rolling-upgrade mode, guest tools versions and
 * VM.set_domain_type (a PV guest converted to HVM).
 *
 * Sources (xapi-project/xen-api, xenserver/xenadmin, host-upgrade-plugin as packaged):
 *  - prepare_host_upgrade.py: testUrl / main take args {"url"}; a bad repository raises
 *    Exception('INVALID_URL') (testUrl also 'INVALID_VER' for an older release, both
 *    'MISSING_URL'), main 'ERROR_PREPARING_HOST'; success answers "true".  main writes a boot
 *    entry so that the next reboot runs the installer, which removes that entry as it starts.
 *  - scripts/examples/python/XenAPIPlugin.py dispatch: an exception becomes
 *    XENAPI_PLUGIN_FAILURE [fn, exception class, message]; an unknown function
 *    UNKNOWN_XENAPI_PLUGIN_FUNCTION [fn]; xapi answers XENAPI_MISSING_PLUGIN [name] for a plugin
 *    that is not installed.
 *  - XenAdmin UpgradeAutomatedHostPlanAction.cs / PVGuestsCheck.cs: getVersion answers a JSON
 *    object read for "product-version" and "platform-version"; main must answer "true".
 *  - ocaml/xapi/helpers.ml Checks.RPU / db_gc.ml detect_rolling_upgrade: the pool is in
 *    rolling-upgrade mode while a host's platform_version or xapi version differs from the
 *    coordinator's; xapi_globs.ml rpu_allowed_vm_operations; xapi.ml: a supporter whose xapi is
 *    newer than its coordinator's stays in emergency mode with
 *    HOST_XAPI_VERSION_HIGHER_THAN_COORDINATOR [version].
 *  - xapi_pv_driver_version.ml (before CP-14775): a VM's PV drivers were up to date when their
 *    major.minor.micro was at least the host's product_version; VM_guest_metrics keeps
 *    PV_drivers_version {major, minor, micro, build}.
 * Runs under sim->mu.
 */
#include "sim/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/jsonx.h"

#define PLUGIN         "prepare_host_upgrade.py"
#define MEDIA_BASE_DEF "http://127.0.0.2"
#define RELEASES_MAX   64
#define URL_MAX        1024

/* ---- releases ---- */

static const char *const release_str_keys[] = {
    "product_version", "platform_version", "build_number", "xapi", "xen", "product_brand"};

static int release_field_str(const json_t *j, const char *k, const char *path, bool required,
                             const char **out, struct err *e)
{
    const json_t *v = json_object_get(j, k);
    *out = NULL;
    if (!v && required)
        return err_set(e, PP_EINVAL, "%s.%s: required", path, k);
    if (v && (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200))
        return err_set(e, PP_EINVAL, "%s.%s: expected a non-empty string (at most 200 bytes)", path,
                       k);
    *out = v ? json_string_value(v) : NULL;
    return 0;
}

static int release_check_keys(const json_t *j, const char *path, struct err *e)
{
    static const char *const keys[] = {
        "name",          "product_version", "platform_version", "build_number", "xapi",      "xen",
        "product_brand", "api_major",       "api_minor",        "url",          "install_s", NULL};
    return jsonx_check_keys(j, keys, path, e);
}

/* The software_version keys a release sets (product_version_text from its major.minor, xapi_build
 * from xapi as the scenario's version does). */
static struct xapi_value *release_sw(const char *const vals[6])
{
    struct xapi_value *sw = xapi_value_new_struct();
    for (size_t i = 0; i < 6; i++) {
        if (vals[i])
            xapi_struct_set_string(sw, release_str_keys[i], vals[i]);
    }
    char t[64];
    str_lcpy(t, vals[0], sizeof(t));
    char *dot = strchr(t, '.');
    if (dot && strchr(dot + 1, '.'))
        *strchr(dot + 1, '.') = '\0';
    xapi_struct_set_string(sw, "product_version_text", t);
    xapi_struct_set_string(sw, "product_version_text_short", t);
    if (vals[3]) {
        char b[220];
        snprintf(b, sizeof(b), "%s.0", vals[3]);
        xapi_struct_set_string(sw, "xapi_build", b);
    }
    return sw;
}

static int release_load(struct sim_release *r, const json_t *j, const char *path, double def_s,
                        struct err *e)
{
    const char *name, *url, *vals[6];
    if (release_check_keys(j, path, e) || release_field_str(j, "name", path, true, &name, e) ||
        release_field_str(j, "url", path, false, &url, e))
        return e ? e->code : PP_EINVAL;
    for (size_t i = 0; i < 6; i++) {
        if (release_field_str(j, release_str_keys[i], path, i < 2, &vals[i], e))
            return e ? e->code : PP_EINVAL;
    }
    const json_t *maj = json_object_get(j, "api_major"), *min = json_object_get(j, "api_minor");
    const json_t *ins = json_object_get(j, "install_s");
    if ((maj && !json_is_integer(maj)) || (min && !json_is_integer(min)))
        return err_set(e, PP_EINVAL, "%s.%s: expected an integer", path,
                       maj && !json_is_integer(maj) ? "api_major" : "api_minor");
    if (ins && (!json_is_number(ins) || json_number_value(ins) < 0))
        return err_set(e, PP_EINVAL, "%s.install_s: expected a number >= 0", path);
    if (url && (strlen(url) >= URL_MAX || !strstr(url, "://")))
        return err_set(e, PP_EINVAL, "%s.url: expected an http://, ftp:// or nfs:// URL", path);
    r->name = xstrdup(name);
    r->url = url ? xstrdup(url) : NULL;
    r->sw = release_sw(vals);
    r->api_major = maj ? json_integer_value(maj) : 2;
    r->api_minor = min ? json_integer_value(min) : 21;
    r->install_ms = (int64_t)((ins ? json_number_value(ins) : def_s) * 1000);
    return 0;
}

int sim_releases_load(struct sim *s, const json_t *arr, struct err *e)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > RELEASES_MAX)
        return err_set(e, PP_EINVAL, "releases: expected an array of at most %d releases",
                       RELEASES_MAX);
    s->releases = xcalloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof(*s->releases));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char path[32];
        snprintf(path, sizeof(path), "releases[%zu]", i);
        if (release_load(&s->releases[i], json_array_get(arr, i), path,
                         (double)s->tm.install_ms / 1000.0, e))
            return e ? e->code : PP_EINVAL;
        s->nreleases = i + 1;
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(s->releases[k].name, s->releases[i].name))
                return err_set(e, PP_EINVAL, "%s.name: \"%s\" is used twice", path,
                               s->releases[i].name);
        }
    }
    return 0;
}

void sim_releases_free(struct sim *s)
{
    for (size_t i = 0; i < s->nreleases; i++) {
        free(s->releases[i].name);
        free(s->releases[i].url);
        xapi_value_free(s->releases[i].sw);
    }
    free(s->releases);
    s->releases = NULL;
    s->nreleases = 0;
    free(s->media_base);
    s->media_base = NULL;
}

static const char *rel_pv(const struct sim_release *r)
{
    return xapi_struct_str(r->sw, "product_version", "");
}

/* A release's install URL: the scenario's, else the vendor file service's directory. */
static void release_url(const struct sim *s, const struct sim_release *r, char *out, size_t n)
{
    if (r->url)
        str_lcpy(out, r->url, n);
    else
        snprintf(out, n, "%s/installers/%s/", s->media_base ? s->media_base : MEDIA_BASE_DEF,
                 rel_pv(r));
}

/* A URL without "user:password@" and trailing slashes (XenCenter adds both, RollingUpgradeWizard
 * _SelectInstallMethod.cs). */
static void url_normalise(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    size_t pre = p ? (size_t)(p - url) + 3 : 0;
    const char *rest = url + pre;
    const char *at = strchr(rest, '@'), *slash = strchr(rest, '/');
    if (at && (!slash || at < slash))
        rest = at + 1;
    snprintf(out, n, "%.*s%s", (int)pre, url, rest);
    size_t len = strlen(out);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
}

static const struct sim_release *release_of_url(const struct sim *s, const char *url)
{
    char want[URL_MAX], have[URL_MAX], u[URL_MAX];
    url_normalise(url, want, sizeof(want));
    for (size_t i = 0; i < s->nreleases; i++) {
        release_url(s, &s->releases[i], u, sizeof(u));
        url_normalise(u, have, sizeof(have));
        if (str_eq_nocase(want, have))
            return &s->releases[i];
    }
    return NULL;
}

json_t *sim_releases_json(struct sim *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->nreleases; i++) {
        const struct sim_release *r = &s->releases[i];
        char u[URL_MAX];
        release_url(s, r, u, sizeof(u));
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(r->name));
        for (size_t k = 0; k < 6; k++)
            json_object_set_new(j, release_str_keys[k],
                                json_string(xapi_struct_str(r->sw, release_str_keys[k], "")));
        json_object_set_new(j, "url", json_string(u));
        json_object_set_new(j, "install_s", json_integer((json_int_t)(r->install_ms / 1000)));
        json_array_append_new(a, j);
    }
    return a;
}

/* ---- rolling-upgrade mode ---- */

static const char *swv(struct obj *h, const char *key)
{
    return xapi_struct_str(sim_fget(h, "software_version"), key, "0");
}

bool sim_rpu_active(struct world *w)
{
    return sim_fmap_get(w->pool, "other_config", "rolling_upgrade_in_progress") != NULL;
}

bool sim_rpu_same_as_master(struct world *w, struct obj *h)
{
    if (!w->master || h == w->master)
        return true;
    return sim_version_cmp(swv(h, "platform_version"), swv(w->master, "platform_version")) == 0 &&
           sim_version_cmp(swv(h, "xapi"), swv(w->master, "xapi")) == 0;
}

bool sim_rpu_host_highest(struct world *w, struct obj *h)
{
    for (struct obj *o = w->chead[CL_HOST]; o; o = o->cnext) {
        if (sim_version_cmp(swv(o, "platform_version"), swv(h, "platform_version")) > 0 ||
            sim_version_cmp(swv(o, "xapi"), swv(h, "xapi")) > 0)
            return false;
    }
    return true;
}

bool sim_rpu_vm_op_allowed(const char *op)
{
    static const char *const ok[] = {"assert_operation_valid",
                                     "changing_memory_live",
                                     "changing_shadow_memory_live",
                                     "changing_VCPUs_live",
                                     "clean_reboot",
                                     "clean_shutdown",
                                     "clone",
                                     "copy",
                                     "csvm",
                                     "destroy",
                                     "export",
                                     "get_boot_record",
                                     "hard_reboot",
                                     "hard_shutdown",
                                     "import",
                                     "make_into_template",
                                     "pause",
                                     "pool_migrate",
                                     "power_state_reset",
                                     "provision",
                                     "resume",
                                     "resume_on",
                                     "send_sysrq",
                                     "send_trigger",
                                     "start",
                                     "start_on",
                                     "suspend",
                                     "unpause",
                                     "update_allowed_operations"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(ok[i], op) == 0)
            return true;
    }
    return false;
}

bool sim_upgrade_blocks_join(struct world *w, struct obj *h)
{
    struct hostx *hx = sim_hx(h);
    if (w->master && h != w->master &&
        sim_version_cmp(swv(h, "xapi"), swv(w->master, "xapi")) > 0) {
        str_lcpy(hx->emergency_code, "HOST_XAPI_VERSION_HIGHER_THAN_COORDINATOR",
                 sizeof(hx->emergency_code));
        str_lcpy(hx->emergency_param, swv(h, "xapi_build"), sizeof(hx->emergency_param));
        return true;
    }
    hx->emergency_code[0] = hx->emergency_param[0] = '\0';
    return false;
}

/* ---- guest tools ---- */

/* PV_drivers_version {major, minor, micro[, build]} of a tools version
 * "major.minor[.micro][-build]", or NULL after naming the bad version in e. */
static struct xapi_value *tools_value(const char *tools, const char *path, struct err *e)
{
    static const char *const names[] = {"major", "minor", "micro", "build"};
    char parts[4][16] = {{0}};
    size_t np = 0, len = 0;
    for (const char *p = tools;; p++) {
        if (*p >= '0' && *p <= '9' && len < sizeof(parts[0]) - 1 && np < 4) {
            parts[np][len++] = *p;
            continue;
        }
        if (len == 0 || np >= 4 || (*p && *p != '.' && !(*p == '-' && np == 2))) {
            err_set(e, PP_EINVAL,
                    "%s.tools: \"%s\" is not a tools version (major.minor.micro[-build])", path,
                    tools);
            return NULL;
        }
        np++;
        len = 0;
        if (!*p)
            break;
    }
    if (np < 2) {
        err_set(e, PP_EINVAL, "%s.tools: \"%s\" needs at least major.minor", path, tools);
        return NULL;
    }
    struct xapi_value *v = xapi_value_new_struct();
    for (size_t i = 0; i < np; i++)
        xapi_struct_set_string(v, names[i], parts[i]);
    return v;
}

int sim_guest_metrics_new(struct world *w, struct obj *vm, const char *tools, const char *path,
                          struct err *e)
{
    struct xapi_value *v = tools_value(tools, path, e);
    if (!v)
        return PP_EINVAL;
    struct obj *gm = sim_obj_new(w, CL_VM_GUEST_METRICS);
    xapi_struct_set_take(gm->rec, "PV_drivers_version", v);
    /* xenopsd events set both from pv_drivers_detected (xapi_xenops.ml) */
    xapi_struct_set_bool(gm->rec, "PV_drivers_detected", true);
    xapi_struct_set_bool(gm->rec, "PV_drivers_up_to_date", true);
    xapi_struct_set_bool(gm->rec, "live", strcmp(sim_fstr(vm, "power_state"), "Running") == 0);
    xapi_struct_set_take(gm->rec, "last_updated", xapi_value_new_datetime_ms(sim_now(w->s)));
    xapi_struct_set_string(vm->rec, "guest_metrics", gm->ref);
    return 0;
}

/* A VM (not a template nor a control domain) by name_label, uuid or ref in any pool. */
static struct obj *vm_named(struct sim *s, const char *want, struct world **wout)
{
    for (size_t i = 0; i < s->nworlds; i++) {
        struct world *w = s->worlds[i];
        for (struct obj *o = w->chead[CL_VM]; o; o = o->cnext) {
            if (o->deleted || sim_fbool(o, "is_a_template") || sim_fbool(o, "is_control_domain"))
                continue;
            if (!strcmp(sim_fstr(o, "name_label"), want) || !strcmp(o->uuid, want) ||
                !strcmp(o->ref, want)) {
                *wout = w;
                return o;
            }
        }
    }
    return NULL;
}

/* POST /sim/upgrade {"vm", "tools"}: the guest's tools upgraded from inside the guest; the guest
 * agent reports the new PV_drivers_version (xapi_xenops.ml updates VM_guest_metrics from
 * xenstore), a `mod` event of the metrics record. */
static int upgrade_tools(struct sim *s, const json_t *req, struct err *e)
{
    const char *vm = NULL, *tools = NULL;
    json_error_t je;
    if (json_unpack_ex((json_t *)req, &je, JSON_STRICT, "{s:s, s:s}", "vm", &vm, "tools", &tools) !=
        0)
        return err_set(e, PP_EINVAL, "upgrade: %s", je.text);
    struct world *w = NULL;
    struct obj *o = vm_named(s, vm, &w);
    if (!o)
        return err_set(e, PP_EINVAL, "upgrade.vm: no VM \"%s\"", vm);
    struct obj *gm = sim_obj_get_cls(w, sim_fstr(o, "guest_metrics"), CL_VM_GUEST_METRICS);
    if (!gm) {
        int rc = sim_guest_metrics_new(w, o, tools, "upgrade", e);
        if (rc == 0)
            sim_obj_touch(w, o);
        return rc;
    }
    struct xapi_value *v = tools_value(tools, "upgrade", e);
    if (!v)
        return PP_EINVAL;
    sim_fset(w, gm, "PV_drivers_version", v);
    sim_fset_dt(w, gm, "last_updated", sim_now(s));
    return 0;
}

/* ---- the plugin ---- */

static void plugin_fail(struct ctx *c, const char *fn, const char *msg)
{
    sim_rerr(c, "XENAPI_PLUGIN_FAILURE", 3, fn, "Exception", msg);
}

/* The release at url as the plugin's test_repo sees it from host h, or NULL after answering. */
static const struct sim_release *plugin_repo(struct ctx *c, struct obj *h, const char *fn,
                                             const char *url)
{
    if (!url) {
        plugin_fail(c, fn, "MISSING_URL");
        return NULL;
    }
    const struct sim_release *r = release_of_url(c->s, url);
    if (!r || sim_fault_peek(c->s, c->w, "install_url_unreachable", h, NULL, NULL, NULL)) {
        plugin_fail(c, fn, "INVALID_URL");
        return NULL;
    }
    if (sim_version_cmp(rel_pv(r), swv(h, "product_version")) < 0) {
        /* test_repo: TEST_VER_INVALID; main raises INVALID_URL for any bad repository */
        plugin_fail(c, fn, strcmp(fn, "main") ? "INVALID_VER" : "INVALID_URL");
        return NULL;
    }
    return r;
}

static struct xapi_value *version_text(const struct sim_release *r)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "product-version", rel_pv(r), "platform-version",
                          xapi_struct_str(r->sw, "platform_version", ""), "product-brand",
                          xapi_struct_str(r->sw, "product_brand", ""), "build-number",
                          xapi_struct_str(r->sw, "build_number", ""));
    char *txt = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    struct xapi_value *v = xapi_value_new_string(txt);
    free(txt);
    json_decref(j);
    return v;
}

/* host.call_plugin(s, host, plugin, fn, args) -> string. */
static int h_host_call_plugin(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    const char *plugin = sim_arg_str(c, 2), *fn = sim_arg_str(c, 3);
    const struct xapi_value *args = xapi_array_get(c->p, 4);
    struct hostx *hx = sim_hx(h);
    if (strcmp(plugin, PLUGIN) != 0) {
        sim_rerr(c, "XENAPI_MISSING_PLUGIN", 1, plugin);
        return R_DONE;
    }
    if (!hx->up || !hx->metrics || !sim_fbool(hx->metrics, "live")) {
        sim_rerr(c, "HOST_OFFLINE", 1, h->ref);
        return R_DONE;
    }
    if (!strcmp(fn, "testSafe2Upgrade")) {
        sim_rok(c, xapi_value_new_string("true"));
        return R_DONE;
    }
    if (strcmp(fn, "testUrl") && strcmp(fn, "getVersion") && strcmp(fn, "main")) {
        sim_rerr(c, "UNKNOWN_XENAPI_PLUGIN_FUNCTION", 1, fn);
        return R_DONE;
    }
    const struct xapi_value *u = args ? xapi_struct_get(args, "url") : NULL;
    const struct sim_release *r = plugin_repo(c, h, fn, u ? xapi_value_str(u) : NULL);
    if (!r)
        return R_DONE;
    if (!strcmp(fn, "getVersion")) {
        sim_rok(c, version_text(r));
        return R_DONE;
    }
    if (!strcmp(fn, "main")) {
        if (sim_fault_take(c->s, c->w, "prepare_fails", h, NULL, NULL, NULL, NULL)) {
            plugin_fail(c, fn, "ERROR_PREPARING_HOST");
            return R_DONE;
        }
        hx->prepared = (size_t)(r - c->s->releases) + 1;
        log_info("sim", "host %s prepared to install %s", sim_fstr(h, "name_label"), r->name);
    }
    sim_rok(c, xapi_value_new_string("true"));
    return R_DONE;
}

/* VM.set_domain_type (xapi_vm.ml set_domain_type): the domain type of the VM's next start, and
 * HVM_boot_policy derived from it ("BIOS order" for hvm, "" otherwise) as xapi sets both.  A
 * PV guest converted to HVM no longer fails the upgrade's PV precheck. */
static int h_vm_set_domain_type(struct ctx *c)
{
    struct obj *vm = sim_arg_obj(c, 1, CL_VM);
    if (!vm)
        return R_DONE;
    const char *t = xapi_value_str(xapi_array_get(c->p, 2));
    static const char *const types[] = {"hvm", "pv", "pvh", "pv_in_pvh"};
    bool ok = false;
    for (size_t i = 0; t && i < sizeof types / sizeof types[0]; i++)
        ok = ok || !strcmp(t, types[i]);
    if (!ok) {
        sim_rerr(c, "ENUM_VALUE_INVALID", 2, "domain_type", t ? t : "");
        return R_DONE;
    }
    sim_fset_str(c->w, vm, "domain_type", t);
    sim_fset_str(c->w, vm, "HVM_boot_policy", strcmp(t, "hvm") ? "" : "BIOS order");
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

const struct handler sim_upgrade_handlers[] = {
    {"host.call_plugin", h_host_call_plugin, 0},
    {"VM.set_domain_type", h_vm_set_domain_type, 0},
    {NULL, NULL, 0},
};

/* ---- the installer ---- */

int64_t sim_upgrade_on_down(struct sim *s, struct world *w, struct obj *h, int64_t reboot_ms)
{
    struct hostx *hx = sim_hx(h);
    if (hx->prepared) {
        hx->installing = hx->prepared;
        hx->prepared = 0;
        hx->install_keeps_old = false;
    }
    if (!hx->installing)
        return reboot_ms;
    const struct sim_release *r = &s->releases[hx->installing - 1];
    log_info("sim", "host %s boots the installer of %s", sim_fstr(h, "name_label"), r->name);
    if (sim_fault_take(s, w, "upgrade_fails", h, NULL, NULL, NULL, NULL)) {
        /* the installer fails: away until the fault is cleared, then restored to the old one */
        hx->install_keeps_old = true;
        return -1;
    }
    return r->install_ms;
}

/* A fresh install: no updates, no pending guidance, no repository updates applied. */
static void clear_updates(struct world *w, struct obj *h)
{
    const struct xapi_value *ups = sim_fget(h, "updates");
    for (size_t i = 0; i < xapi_array_len(ups); i++) {
        struct obj *u = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(ups, i)), CL_POOL_UPDATE);
        if (u)
            sim_fset_del(w, u, "hosts", h->ref);
    }
    sim_fset(w, h, "updates", xapi_value_new_array());
    sim_fset(w, h, "updates_requiring_reboot", xapi_value_new_array());
    sim_fset(w, h, "pending_guidances", xapi_value_new_array());
    struct hostx *hx = sim_hx(h);
    json_decref(hx->xs8_applied);
    hx->xs8_applied = NULL;
}

void sim_upgrade_on_boot(struct sim *s, struct world *w, struct obj *h, bool keep_old)
{
    struct hostx *hx = sim_hx(h);
    const struct sim_release *r = &s->releases[hx->installing - 1];
    bool old = keep_old || hx->install_keeps_old;
    hx->installing = 0;
    hx->install_keeps_old = false;
    xapi_value_free(hx->pending_sw); /* the installer replaces whatever an update announced */
    hx->pending_sw = NULL;
    if (old) {
        log_info("sim", "host %s came back on its old version", sim_fstr(h, "name_label"));
        return;
    }
    struct xapi_value *sw = xapi_value_dup(sim_fget(h, "software_version"));
    for (size_t i = 0; i < r->sw->u.st.n; i++)
        xapi_struct_set_take(sw, r->sw->u.st.keys[i], xapi_value_dup(r->sw->u.st.vals[i]));
    sim_fset(w, h, "software_version", sw);
    sim_fset_int(w, h, "API_version_major", r->api_major);
    sim_fset_int(w, h, "API_version_minor", r->api_minor);
    clear_updates(w, h);
    log_info("sim", "host %s upgraded to %s", sim_fstr(h, "name_label"), r->name);
}

/* ---- manual upgrades (POST /sim/upgrade) ---- */

static struct hostx *host_named(struct sim *s, const char *want)
{
    for (size_t i = 0; i < s->nhosts; i++) {
        struct hostx *hx = s->hosts[i];
        if (hx->o && (!strcmp(sim_fstr(hx->o, "name_label"), want) || !strcmp(hx->o->uuid, want) ||
                      !strcmp(hx->o->ref, want) || !strcmp(hx->address, want)))
            return hx;
    }
    return NULL;
}

static const struct sim_release *release_named(struct sim *s, const char *want)
{
    const struct sim_release *best = NULL;
    for (size_t i = 0; i < s->nreleases; i++) {
        const struct sim_release *r = &s->releases[i];
        if (want && (!strcmp(r->name, want) || !strcmp(rel_pv(r), want)))
            return r;
        if (!want && (!best || sim_version_cmp(rel_pv(r), rel_pv(best)) > 0))
            best = r;
    }
    return best;
}

int sim_upgrade_host_locked(struct sim *s, const json_t *req, struct err *e)
{
    const char *host = NULL, *rel = NULL, *outcome = "upgraded";
    json_error_t je;
    if (json_is_object(req) && json_object_get(req, "vm"))
        return upgrade_tools(s, req, e);
    if (json_unpack_ex((json_t *)req, &je, JSON_STRICT, "{s:s, s?s, s?s}", "host", &host, "release",
                       &rel, "outcome", &outcome) != 0)
        return err_set(e, PP_EINVAL, "upgrade: %s", je.text);
    struct hostx *hx = host_named(s, host);
    if (!hx)
        return err_set(e, PP_EINVAL, "upgrade.host: no host \"%s\"", host);
    const struct sim_release *r = release_named(s, rel);
    if (!r)
        return err_set(e, PP_EINVAL,
                       rel ? "upgrade.release: no release \"%s\""
                           : "upgrade.release: the scenario has no releases%s",
                       rel ? rel : "");
    bool old = strcmp(outcome, "old_version") == 0;
    if (!old && strcmp(outcome, "upgraded") != 0)
        return err_set(e, PP_EINVAL, "upgrade.outcome: \"%s\" is not upgraded or old_version",
                       outcome);
    if (!hx->up || hx->stuck || !sim_fbool(hx->metrics, "live"))
        return err_set(e, PP_ESTATE, "upgrade.host: %s is down", host);
    hx->prepared = 0;
    hx->installing = (size_t)(r - s->releases) + 1;
    hx->install_keeps_old = old;
    sim_host_down(s, hx->w, hx->o, DOWN_REBOOT);
    return 0;
}
