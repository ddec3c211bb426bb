/* SPDX-License-Identifier: MIT */
/*
 * views.c - By Update and By Server rows (see views.h; XenCenter's ManageUpdatesPage.cs and
 * NewVersionPriorityAlertComparer.cs).
 */
#include "plan/views.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"

/* ---- By Update ----------------------------------------------------------------------------- */

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* Alert.CompareOnDate: timestamp, then name, then key. */
static int cmp_on_date(const struct alert *a, const struct alert *b)
{
    if (a->timestamp_ms != b->timestamp_ms)
        return a->timestamp_ms < b->timestamp_ms ? -1 : 1;
    int r = cmp_str(a->name, b->name);
    return r ? r : cmp_str(a->key, b->key);
}

/* Alert.CompareOnAppliesTo: applies-to, then name, then key (natural order for names). */
static int cmp_on_applies(const struct alert *a, const struct alert *b)
{
    int r = alerts_natural_cmp(a->applies_to, b->applies_to);
    if (r)
        return r;
    r = alerts_natural_cmp(a->name, b->name);
    return r ? r : cmp_str(a->key, b->key);
}

static int cmp_rows_date(const void *x, const void *y)
{
    const struct view_update_row *a = x, *b = y;
    if (a->on_top != b->on_top)
        return a->on_top ? -1 : 1;
    return -cmp_on_date(a->alert, b->alert); /* descending, as NewVersionPriorityAlertComparer */
}

static int cmp_rows_pool(const void *x, const void *y)
{
    const struct view_update_row *a = x, *b = y;
    if (a->on_top != b->on_top)
        return a->on_top ? -1 : 1;
    return cmp_on_applies(a->alert, b->alert);
}

static int cmp_names(const void *x, const void *y)
{
    return alerts_natural_cmp(*(const char *const *)x, *(const char *const *)y);
}

/* Join names (sorted naturally, duplicates dropped) with ", " into a new string. */
static char *join_sorted(const char **names, size_t n)
{
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        if (b.len)
            buf_puts(&b, ", ");
        buf_puts(&b, names[i]);
    }
    char *s = xstrdup(buf_str(&b));
    buf_cleanup(&b);
    return s;
}

/* Build By Update rows (see views.h). */
void view_by_update(const struct alert_list *l, enum view_sort sort, struct view_update_rows *out)
{
    out->v = NULL;
    out->n = 0;
    if (!l || l->n == 0)
        return;
    out->v = xcalloc(l->n, sizeof(*out->v));
    for (size_t i = 0; i < l->n; i++) {
        const struct alert *a = &l->v[i];
        struct view_update_row *r = &out->v[i];
        r->alert = a;
        r->on_top = a->kind == ALERT_VERSION || a->show_as_new_version ||
                    (a->patch && a->patch->kind != CAT_KIND_HOTFIX);
        size_t n = a->n_pools + a->n_hosts;
        const char **names = xcalloc(n ? n : 1, sizeof(*names));
        for (size_t k = 0; k < a->n_pools; k++)
            names[k] = inv_pool_display_name(a->pools[k]);
        for (size_t k = 0; k < a->n_hosts; k++)
            names[a->n_pools + k] = inv_pool_display_name(a->hosts[k].pool);
        r->pools = join_sorted(names, n);
        free(names);
    }
    out->n = l->n;
    /* qsort is not stable, but both orders end on the alert key, which is unique */
    qsort(out->v, out->n, sizeof(*out->v), sort == VIEW_SORT_POOL ? cmp_rows_pool : cmp_rows_date);
}

/* Release By Update rows.  NULL is a no-op. */
void view_update_rows_cleanup(struct view_update_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].pools);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* ---- By Server ----------------------------------------------------------------------------- */

struct host_info {
    bool known;
    bool out_of_date;
    struct view_ref *req; /* required updates */
    size_t n_req;
};

static void refs_push(struct view_ref **v, size_t *n, const char *id, const char *name)
{
    *v = vec_grow_implied(*v, *n, sizeof(**v));
    (*v)[*n].id = xstrdup(id ? id : "");
    (*v)[*n].name = xstrdup(name && name[0] ? name : (id ? id : ""));
    (*n)++;
}

static void refs_free(struct view_ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].name);
    }
    free(v);
}

static int cmp_refs(const void *x, const void *y)
{
    const struct view_ref *a = x, *b = y;
    int r = alerts_natural_cmp(a->name, b->name);
    return r ? r : cmp_str(a->id, b->id);
}

/* Natural order by name; entries repeating the previous name are dropped (as join_sorted). */
static void refs_sort(struct view_ref *v, size_t *n)
{
    if (*n == 0)
        return;
    qsort(v, *n, sizeof(*v), cmp_refs);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(v[i].name, v[k - 1].name) == 0) {
            free(v[i].id);
            free(v[i].name);
            continue;
        }
        v[k++] = v[i];
    }
    *n = k;
}

static char *refs_join(const struct view_ref *v, size_t n)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(&b, ", ");
        buf_puts(&b, v[i].name);
    }
    char *s = xstrdup(buf_str(&b));
    buf_cleanup(&b);
    return s;
}

static const char *patch_name(const struct catalog *cat, const char *uuid)
{
    const struct cat_patch *p = cat ? catalog_find_patch(cat, uuid) : NULL;
    return p && p->name_label && p->name_label[0] ? p->name_label : uuid;
}

static bool host_in_alert(const struct alert *a, const struct inv_pool *pool,
                          const struct inv_host *h)
{
    for (size_t i = 0; i < a->n_pools; i++)
        if (a->pools[i] == pool)
            return true;
    for (size_t i = 0; i < a->n_hosts; i++)
        if (a->hosts[i].host == h)
            return true;
    return false;
}

/* ManageUpdatesPage.RequiredUpdatesForHost. */
static void host_required(const struct catalog *cat, const struct inv_pool *pool,
                          const struct inv_host *h, const struct alert_list *l,
                          struct host_info *hi)
{
    if (cat && cat->source == CAT_SOURCE_CDN) {
        /* XenServer 8: the host's "updates" list in /updates is what it needs */
        const struct cat_cdn_host *ch = NULL;
        for (size_t i = 0; h->ref && i < cat->n_cdn_hosts && !ch; i++)
            if (cat->cdn_hosts[i].ref && strcmp(cat->cdn_hosts[i].ref, h->ref) == 0)
                ch = &cat->cdn_hosts[i];
        hi->known = ch != NULL;
        for (size_t i = 0; ch && i < ch->n_updates; i++)
            refs_push(&hi->req, &hi->n_req, ch->updates[i], patch_name(cat, ch->updates[i]));
    } else {
        const struct cat_version *v =
            cat ? catalog_match_version(cat, h->product_version, h->build_number) : NULL;
        hi->known = v != NULL;
        if (v && v->has_minimal) {
            /* RecommendedPatchesForHost: the version's minimal list minus what is applied */
            for (size_t i = 0; i < v->n_minimal; i++)
                if (!inv_host_has_update(h, v->minimal[i]))
                    refs_push(&hi->req, &hi->n_req, v->minimal[i], patch_name(cat, v->minimal[i]));
        } else if (v) {
            /* no minimal list: the patch alerts naming the host, natural order */
            for (size_t i = 0; l && i < l->n; i++)
                if (l->v[i].kind == ALERT_PATCH && host_in_alert(&l->v[i], pool, h))
                    refs_push(&hi->req, &hi->n_req, l->v[i].key, l->v[i].name);
            refs_sort(hi->req, &hi->n_req);
        }
    }
    hi->out_of_date = hi->n_req > 0;
}

/* ManageUpdatesPage.InstalledUpdatesForHost: names of the applied updates, natural order. */
static void host_installed(const struct catalog *cat, const struct inv_host *h,
                           struct view_server_row *r)
{
    for (size_t i = 0; i < h->n_updates; i++)
        refs_push(&r->installed_list, &r->n_installed, h->updates[i],
                  patch_name(cat, h->updates[i]));
    refs_sort(r->installed_list, &r->n_installed);
    r->installed = refs_join(r->installed_list, r->n_installed);
}

static int cmp_pools(const void *x, const void *y)
{
    const struct inv_pool *a = *(const struct inv_pool *const *)x;
    const struct inv_pool *b = *(const struct inv_pool *const *)y;
    int r = alerts_natural_cmp(inv_pool_display_name(a), inv_pool_display_name(b));
    return r ? r : cmp_str(a->ref, b->ref);
}

struct host_sort {
    const struct inv_host *h;
    bool master;
};

/* Host.CompareTo: the coordinator first, then natural name order, then ref. */
static int cmp_hosts(const void *x, const void *y)
{
    const struct host_sort *a = x, *b = y;
    if (a->master != b->master)
        return a->master ? -1 : 1;
    int r = alerts_natural_cmp(a->h->name_label, b->h->name_label);
    return r ? r : cmp_str(a->h->ref, b->h->ref);
}

static const char *status_text(bool known, bool out_of_date)
{
    if (!known)
        return "";
    return out_of_date ? "Out of date" : "Up to date";
}

struct pool_cat {
    const struct inv_pool *pool;
    const struct catalog *cat;
};

static int cmp_pool_cats(const void *x, const void *y)
{
    const struct pool_cat *a = x, *b = y;
    return cmp_pools(&a->pool, &b->pool);
}

/* Build By Server rows (see views.h). */
void view_by_server(const struct catalog *cat, const struct inv_pool *const *pools, size_t n_pools,
                    const struct alert_list *l, struct view_server_rows *out)
{
    view_by_server_multi(NULL, cat, pools, n_pools, l, out);
}

/* Build By Server rows with a catalog per pool (see views.h). */
void view_by_server_multi(const struct catalog *const *cats, const struct catalog *cat,
                          const struct inv_pool *const *pools, size_t n_pools,
                          const struct alert_list *l, struct view_server_rows *out)
{
    out->v = NULL;
    out->n = 0;
    size_t cap = 0;
    for (size_t i = 0; i < n_pools; i++)
        cap += 1 + (pools[i] ? pools[i]->n_hosts : 0);
    if (cap == 0)
        return;
    out->v = xcalloc(cap, sizeof(*out->v));
    struct pool_cat *sorted = xcalloc(n_pools, sizeof(*sorted));
    size_t ns = 0;
    for (size_t i = 0; i < n_pools; i++) {
        if (!pools[i])
            continue;
        sorted[ns].pool = pools[i];
        sorted[ns].cat = cats && cats[i] ? cats[i] : cat;
        ns++;
    }
    qsort(sorted, ns, sizeof(*sorted), cmp_pool_cats);
    for (size_t pi = 0; pi < ns; pi++) {
        const struct inv_pool *pool = sorted[pi].pool;
        const struct catalog *pcat = sorted[pi].cat;
        bool has_pool = pool->name_label && pool->name_label[0]; /* Helpers.GetPool != null */
        const struct inv_host *master = inv_pool_master(pool);
        struct host_sort *hs = xcalloc(pool->n_hosts ? pool->n_hosts : 1, sizeof(*hs));
        struct host_info *hi = xcalloc(pool->n_hosts ? pool->n_hosts : 1, sizeof(*hi));
        bool all_known = pool->n_hosts > 0, any_out = false;
        for (size_t h = 0; h < pool->n_hosts; h++) {
            hs[h].h = &pool->hosts[h];
            hs[h].master = &pool->hosts[h] == master;
        }
        qsort(hs, pool->n_hosts, sizeof(*hs), cmp_hosts);
        for (size_t h = 0; h < pool->n_hosts; h++) {
            host_required(pcat, pool, hs[h].h, l, &hi[h]);
            all_known = all_known && hi[h].known;
            any_out = any_out || hi[h].out_of_date;
        }
        if (has_pool) {
            struct view_server_row *r = &out->v[out->n++];
            r->is_pool = true;
            r->pool = pool;
            r->pool_name = xstrdup(pool->name_label);
            r->server = xstrdup(inv_pool_display_name(pool));
            r->version = xstrdup(master && master->product_version ? master->product_version : "");
            r->version_known = all_known;
            r->out_of_date = all_known && any_out;
            r->status = xstrdup(status_text(all_known, any_out));
            r->required = xstrdup("");
            r->installed = xstrdup("");
        }
        for (size_t h = 0; h < pool->n_hosts; h++) {
            const struct inv_host *host = hs[h].h;
            struct view_server_row *r = &out->v[out->n++];
            r->pool = pool;
            r->host = host;
            r->pool_name = xstrdup(has_pool ? pool->name_label : "");
            r->server = xstrdup(host->name_label ? host->name_label : "");
            r->version = xstrdup(host->product_version ? host->product_version : "");
            r->version_known = hi[h].known;
            r->out_of_date = hi[h].out_of_date;
            r->status = xstrdup(status_text(hi[h].known, hi[h].out_of_date));
            r->required = refs_join(hi[h].req, hi[h].n_req);
            r->required_list = hi[h].req; /* taken */
            r->n_required = hi[h].n_req;
            host_installed(pcat, host, r);
        }
        free(hs);
        free(hi);
    }
    free(sorted);
}

/* Release By Server rows.  NULL is a no-op. */
void view_server_rows_cleanup(struct view_server_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].pool_name);
        free(r->v[i].server);
        free(r->v[i].version);
        free(r->v[i].status);
        free(r->v[i].required);
        free(r->v[i].installed);
        refs_free(r->v[i].required_list, r->v[i].n_required);
        refs_free(r->v[i].installed_list, r->v[i].n_installed);
    }
    free(r->v);
    r->v = NULL;
    r->n = 0;
}
