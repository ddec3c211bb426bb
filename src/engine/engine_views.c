/* SPDX-License-Identifier: MIT */
/*
 * engine_views.c - the Updates tab for the daemon: alerts over every connected pool, the By
 * Update and By Server views as JSON (shapes in docs/rest-api.md) and their CSV export.  Runs on
 * the engine thread; the work itself is the plan module's pure code (alerts.c, views.c, csv.c).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/mem.h"
#include "engine/engine_int.h"
#include "plan/alerts.h"
#include "plan/csv.h"
#include "plan/views.h"

/* Inventories of the connected pools; names of the others go to offline (may be NULL). */
static struct inv_pool **gather(struct engine *eng, size_t *n, json_t *offline)
{
    struct inv_pool **v = xcalloc(eng->n_pools ? eng->n_pools : 1, sizeof(*v));

    *n = 0;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct err e = {0};
        struct inv_pool *p = engine_pool_inventory(eng, eng->pools[i], &e);
        if (p)
            v[(*n)++] = p;
        else if (offline)
            json_array_append_new(offline, json_pack("{s:s,s:s}", "name", eng->pools[i]->name,
                                                     "error", e.msg));
    }
    return v;
}

static void release(struct inv_pool **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        inv_pool_free(v[i]);
    free(v);
}

static const char *category(const struct alert *a)
{
    if (a->kind == ALERT_VERSION || a->show_as_new_version)
        return "new version";
    if (!a->patch)
        return "update";
    switch (a->patch->kind) {
    case CAT_KIND_CU: return "cumulative update";
    case CAT_KIND_NEW_RELEASE: return "new release";
    case CAT_KIND_HOTFIX:
    default: return "hotfix";
    }
}

static json_t *checking_json(struct engine *eng)
{
    json_t *o = json_object();
    char ts[20];

    json_object_set_new(o, "automatic", json_boolean(eng->check_interval_s > 0));
    json_object_set_new(o, "interval_s", json_integer(eng->check_interval_s));
    if (eng->catalog_checked_ms > 0) {
        clock_format_xapi(eng->catalog_checked_ms, ts);
        json_object_set_new(o, "last_check", json_string(ts));
    } else {
        json_object_set_new(o, "last_check", json_null());
    }
    if (eng->check_interval_s <= 0)
        json_object_set_new(o, "hint",
                            json_string("Automatic checking for updates is off. Check now with "
                                        "'poolpatch updates check' or the Check now button, or "
                                        "set check_interval in the configuration."));
    else if (!eng->catalog)
        json_object_set_new(o, "hint", json_string("No update catalog yet: check now with "
                                                   "'poolpatch updates check'."));
    return o;
}

static json_t *update_row_json(const struct view_update_row *row)
{
    const struct alert *a = row->alert;
    json_t *o = json_object(), *hosts = json_array(), *pools = json_array();
    char ts[20];

    json_object_set_new(o, "id", json_string(a->key));
    json_object_set_new(o, "kind", json_string(a->kind == ALERT_VERSION ? "version" : "patch"));
    json_object_set_new(o, "category", json_string(category(a)));
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "title", json_string(a->title));
    json_object_set_new(o, "description", json_string(a->description));
    json_object_set_new(o, "applies_to", json_string(a->applies_to));
    json_object_set_new(o, "pools_text", json_string(row->pools));
    json_object_set_new(o, "web_page", json_string(a->web_page ? a->web_page : ""));
    json_object_set_new(o, "priority", json_integer(a->priority));
    json_object_set_new(o, "on_top", json_boolean(row->on_top));
    if (a->timestamp_ms > 0) {
        clock_format_xapi(a->timestamp_ms, ts);
        json_object_set_new(o, "timestamp", json_string(ts));
    } else {
        json_object_set_new(o, "timestamp", json_null());
    }
    if (a->patch) {
        json_object_set_new(o, "guidance_reboot",
                            json_boolean((a->patch->guidance & CAT_G_RESTART_HOST) != 0));
        json_object_set_new(o, "livepatch", json_boolean(a->patch->contains_livepatch));
        json_object_set_new(o, "download_size", json_integer(a->patch->download_size));
    }
    for (size_t i = 0; i < a->n_pools; i++)
        json_array_append_new(pools, json_string(inv_pool_display_name(a->pools[i])));
    for (size_t i = 0; i < a->n_hosts; i++)
        json_array_append_new(hosts, json_pack("{s:s,s:s}", "pool",
                                               inv_pool_display_name(a->hosts[i].pool), "host",
                                               a->hosts[i].host->name_label));
    json_object_set_new(o, "pools", pools);
    json_object_set_new(o, "hosts", hosts);
    return o;
}

static json_t *server_row_json(const struct view_server_row *row)
{
    return json_pack("{s:b,s:s,s:s,s:s,s:s,s:b,s:s,s:s}", "is_pool", row->is_pool, "pool",
                     row->pool_name, "server", row->server, "version", row->version, "status",
                     row->status, "out_of_date", row->out_of_date, "required", row->required,
                     "installed", row->installed);
}

static int compute(struct engine *eng, struct inv_pool **pools, size_t n, struct alert_list *l,
                   struct err *e)
{
    struct alert_opts ao;

    alert_opts_init(&ao);
    return alerts_compute(eng->catalog, (const struct inv_pool *const *)pools, n, &ao, l, e);
}

/* The view as JSON (engine thread).  Returns 0 or PP_E*. */
int engine_views_json(struct engine *eng, enum engine_view view, enum engine_sort sort,
                      json_t **out, struct err *e)
{
    json_t *offline = json_array(), *rows = json_array(), *o;
    size_t n = 0;
    struct inv_pool **pools = gather(eng, &n, offline);
    struct alert_list l = {0};
    int rc = 0;

    *out = NULL;
    if (eng->catalog) {
        rc = compute(eng, pools, n, &l, e);
        if (rc != 0)
            goto out;
    }
    if (view == ENGINE_VIEW_BY_UPDATE) {
        struct view_update_rows ur = {0};
        view_by_update(&l, sort == ENGINE_SORT_POOL ? VIEW_SORT_POOL : VIEW_SORT_DATE, &ur);
        for (size_t i = 0; i < ur.n; i++)
            json_array_append_new(rows, update_row_json(&ur.v[i]));
        view_update_rows_cleanup(&ur);
    } else {
        struct view_server_rows sr = {0};
        view_by_server(eng->catalog, (const struct inv_pool *const *)pools, n,
                       eng->catalog ? &l : NULL, &sr);
        for (size_t i = 0; i < sr.n; i++)
            json_array_append_new(rows, server_row_json(&sr.v[i]));
        view_server_rows_cleanup(&sr);
    }
    o = json_object();
    json_object_set_new(o, "view", json_string(view == ENGINE_VIEW_BY_UPDATE ? "by-update"
                                                                            : "by-server"));
    json_object_set_new(o, "sort", json_string(sort == ENGINE_SORT_POOL ? "pool" : "date"));
    json_object_set_new(o, "checking", checking_json(eng));
    json_object_set_new(o, view == ENGINE_VIEW_BY_UPDATE ? "updates" : "servers",
                        json_incref(rows));
    json_object_set_new(o, "offline_pools", json_incref(offline));
    *out = o;
out:
    alert_list_cleanup(&l);
    release(pools, n);
    json_decref(rows);
    json_decref(offline);
    return rc;
}

/* Local time zone offset in minutes (the CSV's TimeStamp is local time, as XenCenter writes). */
static int local_tz_offset_min(void)
{
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    return (int)(tm.tm_gmtoff / 60);
}

/* The view as CSV text (engine thread).  *csv is a new string. */
int engine_views_csv(struct engine *eng, enum engine_view view, char **csv, struct err *e)
{
    size_t n = 0;
    struct inv_pool **pools = gather(eng, &n, NULL);
    struct alert_list l = {0};
    struct buf b;
    int rc = 0;

    *csv = NULL;
    buf_init(&b);
    if (eng->catalog) {
        rc = compute(eng, pools, n, &l, e);
        if (rc != 0)
            goto out;
    }
    if (view == ENGINE_VIEW_BY_UPDATE) {
        struct view_update_rows ur = {0};
        view_by_update(&l, VIEW_SORT_DATE, &ur);
        csv_by_update(&b, &ur, local_tz_offset_min());
        view_update_rows_cleanup(&ur);
    } else {
        struct view_server_rows sr = {0};
        view_by_server(eng->catalog, (const struct inv_pool *const *)pools, n,
                       eng->catalog ? &l : NULL, &sr);
        csv_by_server(&b, &sr);
        view_server_rows_cleanup(&sr);
    }
    *csv = buf_take(&b);
out:
    buf_cleanup(&b);
    alert_list_cleanup(&l);
    release(pools, n);
    return rc;
}
