/* SPDX-License-Identifier: MIT */
/*
 * engine_views.c - the Updates tab for the daemon: alerts over every connected pool, the By
 * Update and By Server views as JSON (shapes in docs/rest-api.md) and their CSV export.  Built
 * from a snapshot (engine_snapshot.c) on the caller's thread, never the engine thread; the work
 * itself is the plan module's pure code (alerts.c, views.c, csv.c).  Pools are named by their
 * registered name (what the web pages, the CLI and every other request use), with the pool's own
 * name-label beside it (pool_label).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine_int.h"
#include "plan/alerts.h"
#include "plan/csv.h"
#include "plan/views.h"

/*
 * The inventories (borrowed from s) of the connected pools; names of the others go to offline
 * (may be NULL).  A pool that lost its master (reconnecting, emergency mode) still has its last
 * cache, but what it shows may be stale and nothing can be done to it: it is offline until it
 * reconnects, as XenCenter shows a disconnected pool.  (*cats)[i] is the catalog of pool i: its
 * repository catalog for a XenServer 8 pool, else NULL (the legacy catalog).
 */
static const struct inv_pool **gather(const struct eng_snapshot *s, size_t *n, json_t *offline,
                                      const struct catalog ***cats)
{
    const struct inv_pool **v = xcalloc(s->n_pools ? s->n_pools : 1, sizeof(*v));

    *cats = xcalloc(s->n_pools ? s->n_pools : 1, sizeof(**cats));
    *n = 0;
    for (size_t i = 0; i < s->n_pools; i++) {
        const struct eng_snap_pool *sp = &s->pools[i];
        if (sp->connected && sp->inv) {
            (*cats)[*n] = sp->cdn ? sp->cat : NULL;
            v[(*n)++] = sp->inv;
        } else if (offline) {
            json_array_append_new(offline, json_pack("{s:s,s:s}", "name", sp->name, "error",
                                                     sp->error ? sp->error : ""));
        }
    }
    return v;
}

static void release(const struct inv_pool **v, const struct catalog **cats)
{
    free(v);
    free(cats);
}

/* The registered name of the pool whose inventory is p (its name-label if none matches). */
static const char *reg_name(const struct eng_snapshot *s, const struct inv_pool *p)
{
    const char *n = engine_snapshot_pool_name(s, p);
    return n ? n : inv_pool_display_name(p);
}

/* The REST kind: hotfix, cumulative (a CU offered as an update) or release (a new version). */
static const char *rest_kind(const struct alert *a)
{
    if (a->kind == ALERT_VERSION || a->show_as_new_version)
        return "release";
    if (a->patch && a->patch->kind == CAT_KIND_CU)
        return "cumulative";
    if (a->patch && a->patch->kind == CAT_KIND_NEW_RELEASE)
        return "release";
    return "hotfix";
}

/* Restricted to support-contract customers: a patch of a version whose hotfixes are not for
 * everyone (hotfix-eligibility premium / cu / none). */
static bool restricted(const struct catalog *cat, const struct cat_patch *p)
{
    for (size_t i = 0; p && cat && i < cat->n_versions; i++) {
        const struct cat_version *v = &cat->versions[i];
        for (size_t k = 0; k < v->n_patches; k++)
            if (str_eq_nocase(v->patches[k], p->uuid))
                return v->eligibility != CAT_ELIG_ALL;
    }
    return false;
}

static void iso_time(int64_t t_ms, char out[32])
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *time_or_null(int64_t t_ms)
{
    char ts[32];

    if (t_ms <= 0)
        return json_null();
    iso_time(t_ms, ts);
    return json_string(ts);
}

static json_t *checking_json(const struct eng_snapshot *eng)
{
    json_t *o = json_object();

    json_object_set_new(o, "automatic", json_boolean(eng->check_interval_s > 0));
    json_object_set_new(o, "interval_s", json_integer(eng->check_interval_s));
    json_object_set_new(o, "last_check", time_or_null(eng->catalog_checked_ms));
    json_object_set_new(
        o, "next_check",
        eng->check_interval_s > 0 && eng->catalog_checked_ms > 0
            ? time_or_null(eng->catalog_checked_ms + (int64_t)eng->check_interval_s * 1000)
            : json_null());
    json_object_set_new(o, "last_error",
                        eng->check_error[0] ? json_string(eng->check_error) : json_null());
    json_object_set_new(o, "catalog_url",
                        eng->catalog_url ? json_string(eng->catalog_url) : json_null());
    if (eng->check_interval_s <= 0)
        json_object_set_new(o, "hint",
                            json_string("Automatic checking for updates is off. Check now with "
                                        "'poolpatch updates check' or the Check now button, or "
                                        "set check_interval in the configuration."));
    else if (!eng->catalog)
        json_object_set_new(o, "hint",
                            json_string("No update catalog yet: check now with "
                                        "'poolpatch updates check'."));
    return o;
}

static json_t *guidance_json(unsigned g)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{CAT_G_RESTART_HOST, "restartHost"},      {CAT_G_RESTART_XAPI, "restartXAPI"},
                 {CAT_G_RESTART_HVM, "restartHVM"},        {CAT_G_RESTART_PV, "restartPV"},
                 {CAT_G_RESTART_DM, "restartDeviceModel"}, {CAT_G_EVACUATE_HOST, "evacuateHost"},
                 {CAT_G_RESTART_VM, "restartVM"}};
    json_t *a = json_array();

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (g & names[i].bit)
            json_array_append_new(a, json_string(names[i].name));
    return a;
}

/* The hosts an alert names (every host of its whole pools, then the ones named one by one). */
static bool alert_names_host(const struct alert *a, const char *ref)
{
    for (size_t i = 0; i < a->n_pools; i++)
        for (size_t k = 0; k < a->pools[i]->n_hosts; k++)
            if (str_eq(a->pools[i]->hosts[k].ref, ref))
                return true;
    for (size_t i = 0; i < a->n_hosts; i++)
        if (str_eq(a->hosts[i].host->ref, ref))
            return true;
    return false;
}

/*
 * A repository update comes with a live patch when /updates lists live patches for it, or - as
 * xapi's per-host "livepatches" do not name their update - when a host it applies to has live
 * patches and the update's own guidance would reboot that host (the live patch is what spares the
 * reboot).  The repository catalog is the one the alert's patch belongs to.
 */
static bool cdn_livepatch(const struct eng_snapshot *s, const struct alert *a)
{
    if (!a->patch || a->patch->source != CAT_SOURCE_CDN ||
        !(a->patch->guidance & CAT_G_RESTART_HOST))
        return false;
    for (size_t i = 0; s && i < s->n_pools; i++) {
        const struct catalog *c = s->pools[i].cdn ? s->pools[i].cat : NULL;
        if (!c || a->patch < c->patches || a->patch >= c->patches + c->n_patches)
            continue;
        for (size_t h = 0; h < c->n_cdn_hosts; h++) {
            const struct cat_cdn_host *ch = &c->cdn_hosts[h];
            bool needs = false;
            for (size_t k = 0; k < ch->n_updates; k++)
                needs = needs || str_eq(ch->updates[k], a->patch->uuid);
            if (needs && ch->n_livepatches > 0 && alert_names_host(a, ch->ref))
                return true;
        }
    }
    return false;
}

/* A new release row's way to install it (docs/upgrade.md): the rolling pool upgrade's target,
 * the CLI command, and the REST request a button sends (dry run first). */
static json_t *upgrade_json(const struct cat_version *v, const json_t *pools)
{
    struct buf b;
    size_t i;
    json_t *it;

    buf_init(&b);
    buf_puts(&b, "poolpatch upgrade");
    json_array_foreach(pools, i, it) buf_printf(&b, " '%s'", json_string_value(it));
    buf_printf(&b, " --to %s --url INSTALL_MEDIA_URL (or --manual)", v->value);
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:O, s:s, s:b}}}", "to", v->value, "command",
                          buf_str(&b), "request", "method", "POST", "path", "/api/v1/upgrades",
                          "body", "pools", pools, "to", v->value, "dry_run", 1);
    buf_cleanup(&b);
    return o;
}

/* pools and labels: the registered name and name-label of the pool of inv, once. */
static void add_pool(const struct eng_snapshot *s, const struct inv_pool *inv, json_t *pools,
                     json_t *labels)
{
    const char *pn = reg_name(s, inv);
    size_t k;
    json_t *it;

    json_array_foreach(pools, k, it) if (str_eq(json_string_value(it), pn)) return;
    json_array_append_new(pools, json_string(pn));
    json_array_append_new(labels, json_string(inv_pool_display_name(inv)));
}

static json_t *server_json(const struct eng_snapshot *s, const struct inv_pool *inv,
                           const char *server)
{
    return json_pack("{s:s,s:s,s:s}", "pool", reg_name(s, inv), "pool_label",
                     inv_pool_display_name(inv), "server", server);
}

static json_t *update_row_json(const struct eng_snapshot *eng, const struct view_update_row *row)
{
    const struct catalog *cat = eng->catalog;
    const struct alert *a = row->alert;
    json_t *o = json_object(), *servers = json_array(), *pools = json_array();
    json_t *labels = json_array();

    json_object_set_new(o, "id", json_string(a->key));
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "title", json_string(a->title));
    json_object_set_new(o, "description", json_string(a->description));
    json_object_set_new(o, "kind", json_string(rest_kind(a)));
    json_object_set_new(o, "date", time_or_null(a->timestamp_ms));
    json_object_set_new(o, "url", json_string(a->web_page ? a->web_page : ""));
    json_object_set_new(o, "guidance", guidance_json(a->patch ? a->patch->guidance : 0));
    json_object_set_new(
        o, "livepatch",
        json_boolean(a->patch && (a->patch->contains_livepatch || cdn_livepatch(eng, a))));
    json_object_set_new(
        o, "source",
        json_string(a->patch && a->patch->source == CAT_SOURCE_CDN ? "repository" : "catalog"));
    if (a->patch && a->patch->source == CAT_SOURCE_CDN) {
        json_object_set_new(o, "type", json_string(a->patch->type ? a->patch->type : ""));
        json_object_set_new(o, "severity",
                            json_string(a->patch->severity ? a->patch->severity : ""));
        json_object_set_new(o, "long_description",
                            json_string(a->patch->description ? a->patch->description : ""));
    }
    json_object_set_new(o, "restricted", json_boolean(restricted(cat, a->patch)));
    if (a->patch && a->patch->download_size > 0)
        json_object_set_new(o, "size", json_integer(a->patch->download_size));
    json_object_set_new(o, "dismissed", json_false());
    json_object_set_new(o, "priority", json_integer(a->priority));
    json_object_set_new(o, "on_top", json_boolean(row->on_top));
    json_object_set_new(o, "applies_to", json_string(a->applies_to));
    for (size_t i = 0; i < a->n_pools; i++) {
        const struct inv_pool *p = a->pools[i];
        add_pool(eng, p, pools, labels);
        for (size_t k = 0; k < p->n_hosts; k++)
            json_array_append_new(servers, server_json(eng, p, p->hosts[k].name_label));
    }
    for (size_t i = 0; i < a->n_hosts; i++) {
        add_pool(eng, a->hosts[i].pool, pools, labels);
        json_array_append_new(servers,
                              server_json(eng, a->hosts[i].pool, a->hosts[i].host->name_label));
    }
    json_object_set_new(o, "pools", pools);
    json_object_set_new(o, "pool_labels", labels);
    json_object_set_new(o, "servers", servers);
    if (a->version && str_eq(rest_kind(a), "release"))
        json_object_set_new(o, "upgrade", upgrade_json(a->version, pools));
    return o;
}

/* "A, B, C" -> [{id, name}] with ids from the catalog (the name when it does not know it). */
static json_t *name_list(const struct catalog *cat, const char *joined)
{
    json_t *a = json_array();
    char *copy = xstrdup(joined ? joined : ""), *save = NULL;

    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const char *id = NULL;
        while (*t == ' ')
            t++;
        if (!*t)
            continue;
        for (size_t i = 0; cat && i < cat->n_patches && !id; i++)
            if (str_eq(cat->patches[i].name_label, t))
                id = cat->patches[i].uuid;
        json_array_append_new(a, json_pack("{s:s,s:s}", "id", id ? id : t, "name", t));
    }
    free(copy);
    return a;
}

/* {id, name} of a structured list (a host row's required updates). */
static json_t *ref_list(const struct view_ref *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "id", v[i].id, "name", v[i].name));
    return a;
}

/* cat: the row's pool's catalog (its repository catalog for a XenServer 8 pool). */
static json_t *server_row_json(const struct eng_snapshot *s, const struct catalog *cat,
                               const struct view_server_row *row)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:b}", "pool", reg_name(s, row->pool),
                          "pool_label", row->pool_name, "server", row->server, "version",
                          row->version, "status", row->status, "up_to_date",
                          row->version_known && !row->out_of_date, "is_pool", row->is_pool);
    json_object_set_new(o, "required",
                        cat && cat->source == CAT_SOURCE_CDN && row->required_list
                            ? ref_list(row->required_list, row->n_required)
                            : name_list(cat, row->required));
    json_object_set_new(o, "installed", name_list(cat, row->installed));
    json_object_set_new(o, "repository", json_boolean(cat && cat->source == CAT_SOURCE_CDN));
    return o;
}

/* The guest_tools list of both views: one entry per VM whose guest tools must be upgraded
 * (views.h view_tools_outdated), judged from the pools' cached VM_guest_metrics. */
static json_t *tools_json(const struct eng_snapshot *s, const struct view_tools_vms *t)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const struct view_tools_vm *x = &t->v[i];
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "pool", reg_name(s, x->pool),
                         "pool_label", inv_pool_display_name(x->pool), "server",
                         x->host->name_label ? x->host->name_label : "", "server_version",
                         x->host->product_version ? x->host->product_version : "", "vm",
                         x->vm->name_label ? x->vm->name_label : "", "uuid",
                         x->vm->uuid ? x->vm->uuid : "", "tools", x->vm->tools_version));
    }
    return a;
}

/* A By Server row's tools_upgrade: the names of the VMs judged by its host (a host row) or of
 * every listed VM of its pool (a pool row). */
static json_t *row_tools(const struct view_server_row *row, const struct view_tools_vms *t)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].pool == row->pool && (row->is_pool || t->v[i].host == row->host))
            json_array_append_new(
                a, json_string(t->v[i].vm->name_label ? t->v[i].vm->name_label : ""));
    return a;
}

/* The catalog of a row's pool: cats[i] for pools[i], else the legacy catalog. */
static const struct catalog *row_catalog(const struct eng_snapshot *eng,
                                         const struct inv_pool **pools, const struct catalog **cats,
                                         size_t n, const struct inv_pool *pool)
{
    for (size_t i = 0; i < n; i++)
        if (pools[i] == pool && cats[i])
            return cats[i];
    return eng->catalog;
}

/*
 * The alerts of every pool: the legacy catalog's for the legacy pools (patches and new versions),
 * then each XenServer 8 pool's from its own repository catalog, joined (alert_list_append).
 * Nothing to show and no error without any catalog.
 */
static int compute(const struct eng_snapshot *eng, const struct inv_pool **pools,
                   const struct catalog **cats, size_t n, bool include_dismissed,
                   struct alert_list *l, struct err *e)
{
    struct alert_opts ao;
    const struct inv_pool **legacy = xcalloc(n ? n : 1, sizeof(*legacy));
    size_t nl = 0;
    int rc = 0;

    alert_opts_init(&ao);
    ao.include_dismissed = include_dismissed;
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; i < n; i++)
        if (!cats[i])
            legacy[nl++] = pools[i];
    if (eng->catalog)
        rc = alerts_compute(eng->catalog, legacy, nl, &ao, l, e);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct alert_list one = {0};
        const struct inv_pool *p = pools[i];
        if (!cats[i])
            continue;
        rc = alerts_compute(cats[i], &p, 1, &ao, &one, e);
        if (rc == 0)
            alert_list_append(l, &one);
        alert_list_cleanup(&one);
    }
    free(legacy);
    return rc;
}

/* True when there is something to compute alerts from. */
static bool any_catalog(const struct eng_snapshot *eng, const struct catalog **cats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cats[i])
            return true;
    return eng->catalog != NULL;
}

/* The view of a snapshot as JSON (see engine_int.h).  Returns 0 or PP_E*. */
int engine_views_json(const struct eng_snapshot *eng, enum engine_view view, enum engine_sort sort,
                      json_t **out, struct err *e)
{
    json_t *offline = json_array(), *rows = json_array(), *o;
    size_t n = 0;
    const struct catalog **cats = NULL;
    const struct inv_pool **pools = gather(eng, &n, offline, &cats);
    struct alert_list l = {0};
    struct view_tools_vms tools = {0};
    size_t dismissed = 0;
    bool have = any_catalog(eng, cats, n);
    int rc = 0;

    *out = NULL;
    view_tools_outdated((const struct inv_pool *const *)pools, n, &tools);
    if (have) {
        struct alert_list all = {0};
        rc = compute(eng, pools, cats, n, false, &l, e);
        if (rc != 0)
            goto out;
        if (compute(eng, pools, cats, n, true, &all, NULL) == 0 && all.n >= l.n)
            dismissed = all.n - l.n;
        alert_list_cleanup(&all);
    }
    if (view == ENGINE_VIEW_BY_UPDATE) {
        struct view_update_rows ur = {0};
        view_by_update(&l, sort == ENGINE_SORT_POOL ? VIEW_SORT_POOL : VIEW_SORT_DATE, &ur);
        for (size_t i = 0; i < ur.n; i++)
            json_array_append_new(rows, update_row_json(eng, &ur.v[i]));
        view_update_rows_cleanup(&ur);
    } else {
        struct view_server_rows sr = {0};
        view_by_server_multi(cats, eng->catalog, (const struct inv_pool *const *)pools, n,
                             have ? &l : NULL, &sr);
        for (size_t i = 0; i < sr.n; i++) {
            json_t *r =
                server_row_json(eng, row_catalog(eng, pools, cats, n, sr.v[i].pool), &sr.v[i]);
            json_object_set_new(r, "tools_upgrade", row_tools(&sr.v[i], &tools));
            json_array_append_new(rows, r);
        }
        view_server_rows_cleanup(&sr);
    }
    o = json_object();
    json_object_set_new(o, "view",
                        json_string(view == ENGINE_VIEW_BY_UPDATE ? "by-update" : "by-server"));
    json_object_set_new(o, "sort", json_string(sort == ENGINE_SORT_POOL ? "pool" : "date"));
    json_object_set_new(o, "checking", checking_json(eng));
    json_object_set_new(o, "dismissed", json_integer((json_int_t)dismissed));
    json_object_set_new(o, view == ENGINE_VIEW_BY_UPDATE ? "updates" : "servers",
                        json_incref(rows));
    json_object_set_new(o, "offline_pools", json_incref(offline));
    json_object_set_new(o, "guest_tools", tools_json(eng, &tools));
    *out = o;
out:
    view_tools_vms_cleanup(&tools);
    alert_list_cleanup(&l);
    release(pools, cats);
    json_decref(rows);
    json_decref(offline);
    return rc;
}

/* The local time zone's offset from UTC in minutes at t_ms, daylight saving time included. */
static int local_tz_offset_min_at(int64_t t_ms)
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;

    localtime_r(&t, &tm);
    return (int)(tm.tm_gmtoff / 60);
}

/* The view of a snapshot as CSV text (see engine_int.h).  *csv is a new string. */
int engine_views_csv(const struct eng_snapshot *eng, enum engine_view view, char **csv,
                     struct err *e)
{
    size_t n = 0;
    const struct catalog **cats = NULL;
    const struct inv_pool **pools = gather(eng, &n, NULL, &cats);
    struct alert_list l = {0};
    struct buf b;
    bool have = any_catalog(eng, cats, n);
    int rc = 0;

    *csv = NULL;
    buf_init(&b);
    if (have) {
        rc = compute(eng, pools, cats, n, false, &l, e);
        if (rc != 0)
            goto out;
    }
    if (view == ENGINE_VIEW_BY_UPDATE) {
        struct view_update_rows ur = {0};
        view_by_update(&l, VIEW_SORT_DATE, &ur);
        /* The TimeStamp is local time as XenCenter writes it (DateTime.ToLocalTime): each date
         * with its own offset (summer time in summer), not today's.  The rows are sorted
         * already, so shift every alert by its offset and format at offset 0. */
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i].timestamp_ms != 0)
                l.v[i].timestamp_ms += (int64_t)local_tz_offset_min_at(l.v[i].timestamp_ms) * 60000;
        csv_by_update(&b, &ur, 0);
        view_update_rows_cleanup(&ur);
    } else {
        struct view_server_rows sr = {0};
        view_by_server_multi(cats, eng->catalog, (const struct inv_pool *const *)pools, n,
                             have ? &l : NULL, &sr);
        csv_by_server(&b, &sr);
        view_server_rows_cleanup(&sr);
    }
    *csv = buf_take(&b);
out:
    buf_cleanup(&b);
    alert_list_cleanup(&l);
    release(pools, cats);
    return rc;
}
