/* SPDX-License-Identifier: MIT */
/*
 * alerts.c - patch alerts and version alerts as XenCenter computes them (see alerts.h for the
 * sources).  Where we differ from XenCenter, docs/catalog.md says so and why.
 */
#include "plan/alerts.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"

/* Default options (see alerts.h). */
void alert_opts_init(struct alert_opts *o)
{
    o->patches = true;
    o->versions = true;
    o->include_dismissed = false;
    o->product_brand = "XenServer";
}

static void alert_cleanup(struct alert *a)
{
    free(a->key);
    free(a->name);
    free(a->title);
    free(a->description);
    free(a->web_page);
    free(a->applies_to);
    free(a->pools);
    free(a->hosts);
    memset(a, 0, sizeof(*a));
}

/* Release every alert in l.  NULL is a no-op. */
void alert_list_cleanup(struct alert_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        alert_cleanup(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->n_dismissed = 0;
}

/* ---- strings ------------------------------------------------------------------------------- */

/* StringUtility.NaturalCompare (XenCenterLib/StringUtility.cs), ASCII case folding. */
int alerts_natural_cmp(const char *a, const char *b)
{
    if (a == b)
        return 0;
    if (!a)
        return -1;
    if (!b)
        return 1;
    if (strcasecmp(a, b) == 0)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    size_t min = la < lb ? la : lb;
    for (size_t i = 0; i < min; i++) {
        unsigned char c1 = (unsigned char)a[i], c2 = (unsigned char)b[i];
        bool d1 = isdigit(c1), d2 = isdigit(c2);
        if (d1 && d2) {
            size_t j = 1, k = 1;
            while (i + j < la && isdigit((unsigned char)a[i + j]))
                j++;
            while (i + k < lb && isdigit((unsigned char)b[i + k]))
                k++;
            if (j != k)
                return j < k ? -1 : 1;
            for (size_t m = i; m < i + j; m++)
                if (a[m] != b[m])
                    return (unsigned char)a[m] - (unsigned char)b[m];
            i += j - 1;
            continue;
        }
        int t1 = tolower(c1), t2 = tolower(c2);
        if (t1 != t2)
            return t1 < t2 ? -1 : 1;
    }
    return la < lb ? -1 : la > lb;
}

/* Util.DiskSizeString(long): binary units, one decimal place, banker's rounding. */
void alerts_disk_size(struct buf *b, int64_t bytes)
{
    static const struct {
        double size;
        const char *unit;
    } units[] = {{1099511627776.0, "TB"}, {1073741824.0, "GB"}, {1048576.0, "MB"}, {1024.0, "kB"}};
    uint64_t abs_bytes = bytes < 0 ? (uint64_t)(-(bytes + 1)) + 1 : (uint64_t)bytes;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if ((double)abs_bytes >= units[i].size) {
            double r = rint((double)abs_bytes / units[i].size * 10.0) / 10.0;
            if (r == floor(r))
                buf_printf(b, "%.0f %s", r, units[i].unit);
            else
                buf_printf(b, "%.1f %s", r, units[i].unit);
            return;
        }
    }
    buf_printf(b, "%llu B", (unsigned long long)abs_bytes);
}

/* True when the comma list contains item (XenCenter splits on ',' without trimming). */
static bool list_contains(const char *list, const char *item, bool nocase)
{
    if (!list || !item)
        return false;
    size_t n = strlen(item);
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && (nocase ? strncasecmp(p, item, n) : strncmp(p, item, n)) == 0)
            return true;
        if (!end)
            return false;
        p = end + 1;
    }
}

/* New other_config value after a dismissal (see alerts.h). */
char *alerts_dismiss_value(const char *current, const char *key, bool case_insensitive)
{
    if (!current || !current[0])
        return xstrdup(key ? key : "");
    if (!key || list_contains(current, key, case_insensitive))
        return xstrdup(current);
    return xasprintf("%s,%s", current, key);
}

/* ---- the rules ----------------------------------------------------------------------------- */

/* Updates.GetServerVersions: build number when the catalog version has one, else the product
 * version string. */
static bool version_matches(const struct cat_version *v, const struct inv_host *h)
{
    if (v->build_number && v->build_number[0])
        return h->build_number && strcmp(h->build_number, v->build_number) == 0;
    return h->product_version && v->value && strcmp(h->product_version, v->value) == 0;
}

static bool version_lists(const struct cat_version *v, const char *uuid)
{
    for (size_t i = 0; i < v->n_patches; i++)
        if (strcasecmp(v->patches[i], uuid) == 0)
            return true;
    return false;
}

/* PatchCanBeInstalledOnHost (see alerts.h). */
bool alerts_patch_installable(const struct catalog *cat, const struct cat_patch *patch,
                              const struct inv_host *host)
{
    if (!cat || !patch || !host || !patch->uuid)
        return false;
    bool listed = false;
    for (size_t i = 0; i < cat->n_versions && !listed; i++)
        listed = version_matches(&cat->versions[i], host) &&
                 version_lists(&cat->versions[i], patch->uuid);
    if (!listed)
        return false;
    if (inv_host_has_update(host, patch->uuid))
        return false;
    for (size_t i = 0; i < patch->n_required; i++)
        if (!inv_host_has_update(host, patch->required[i]))
            return false;
    for (size_t i = 0; i < patch->n_conflicting; i++)
        if (inv_host_has_update(host, patch->conflicting[i]))
            return false;
    return true;
}

/* Dismissed by this pool (see alerts.h). */
bool alerts_is_dismissed(const struct alert *a, const struct inv_pool *pool)
{
    if (!a || !pool)
        return false;
    if (a->kind == ALERT_PATCH)
        return list_contains(pool->ignore_patches, a->key, true);
    return list_contains(pool->last_seen_versions, a->key, false);
}

static void add_pool(struct alert *a, const struct inv_pool *p)
{
    for (size_t i = 0; i < a->n_pools; i++)
        if (a->pools[i] == p)
            return;
    a->pools = vec_grow_implied(a->pools, a->n_pools, sizeof(*a->pools));
    a->pools[a->n_pools++] = p;
}

static void add_host(struct alert *a, const struct inv_pool *p, const struct inv_host *h)
{
    for (size_t i = 0; i < a->n_hosts; i++)
        if (a->hosts[i].host == h)
            return;
    a->hosts = vec_grow_implied(a->hosts, a->n_hosts, sizeof(*a->hosts));
    a->hosts[a->n_hosts].pool = p;
    a->hosts[a->n_hosts].host = h;
    a->n_hosts++;
}

struct builder {
    struct alert *v;
    size_t n, cap;
};

static struct alert *new_alert(struct builder *b)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        b->v = xreallocarray(b->v, b->cap, sizeof(*b->v));
    }
    struct alert *a = &b->v[b->n++];
    memset(a, 0, sizeof(*a));
    return a;
}

/* The version whose patch-uuid names this patch, in catalog order (IsVersionAvailableAsAnUpdate
 * versions only). */
static const struct cat_version *installs(const struct catalog *c, const struct cat_patch *p)
{
    return catalog_version_installed_by(c, p->uuid);
}

static void fill_patch_alert(const struct catalog *cat, struct alert *a, const struct cat_patch *p)
{
    a->kind = ALERT_PATCH;
    a->patch = p;
    a->version = installs(cat, p);
    a->show_as_new_version = a->version && !a->version->present_as_update;
    a->key = xstrdup(p->uuid);
    /* XenServerPatchAlert.Name / Title */
    if (a->show_as_new_version) {
        a->name = xstrdup(a->version->name);
        a->title = xasprintf("%s is now available", a->version->name);
    } else {
        a->name = xstrdup(p->name_label);
        a->title = xasprintf("New Update Available - %s", p->name_label);
    }
    /* XenServerPatchAlert.Description: the text, then the installation size on a new line
     * (StringBuilder.AppendLine: CRLF). */
    struct buf d;
    buf_init(&d);
    buf_puts(&d, p->name_description ? p->name_description : "");
    if (p->installation_size != 0) {
        buf_puts(&d, "\r\nInstallation size: ");
        alerts_disk_size(&d, p->installation_size);
    }
    a->description = xstrdup(buf_str(&d));
    buf_cleanup(&d);
    a->web_page = xstrdup(p->url ? p->url : "");
    /* XenServerPatchAlert.Priority: a defined AlertPriority (0..5) or Priority2. */
    a->priority = p->priority >= 0 && p->priority <= 5 ? p->priority : 2;
    a->timestamp_ms = p->timestamp_ms;
}

static void fill_version_alert(struct alert *a, const struct cat_version *v, const char *brand)
{
    a->kind = ALERT_VERSION;
    a->version = v;
    a->show_as_new_version = true;
    a->key = xstrdup(v->value);
    a->name = xstrdup(v->name);
    a->title = xasprintf("%s is now available", v->name);
    a->description = xasprintf("%s is now available. Download the latest at the %s downloads "
                               "website.",
                               v->name, brand);
    a->web_page = xstrdup(v->url ? v->url : "");
    a->priority = 5; /* XenServerVersionAlert.Priority */
    a->timestamp_ms = v->timestamp_ms;
}

static bool pool_usable(const struct inv_pool *p)
{
    return p && p->n_hosts > 0 && inv_pool_master(p) != NULL;
}

static void patch_alerts(const struct catalog *cat, const struct inv_pool *const *pools,
                         size_t n_pools, struct builder *b)
{
    /* alert index per catalog patch, so each patch has one alert across pools */
    long *slot = xcalloc(cat->n_patches ? cat->n_patches : 1, sizeof(long));
    for (size_t i = 0; i < cat->n_patches; i++)
        slot[i] = -1;
    bool *seen_version = xcalloc(cat->n_versions ? cat->n_versions : 1, sizeof(bool));
    for (size_t pi = 0; pi < n_pools; pi++) {
        const struct inv_pool *pool = pools[pi];
        if (!pool_usable(pool))
            continue;
        /* the distinct versions the pool's hosts run, in order of first appearance */
        memset(seen_version, 0, (cat->n_versions ? cat->n_versions : 1) * sizeof(bool));
        size_t *order = xcalloc(cat->n_versions ? cat->n_versions : 1, sizeof(size_t));
        size_t n_order = 0;
        for (size_t h = 0; h < pool->n_hosts; h++)
            for (size_t vi = 0; vi < cat->n_versions; vi++)
                if (!seen_version[vi] && version_matches(&cat->versions[vi], &pool->hosts[h])) {
                    seen_version[vi] = true;
                    order[n_order++] = vi;
                }
        for (size_t oi = 0; oi < n_order; oi++) {
            const struct cat_version *v = &cat->versions[order[oi]];
            for (size_t k = 0; k < cat->n_patches; k++) {
                const struct cat_patch *p = &cat->patches[k];
                if (!version_lists(v, p->uuid))
                    continue;
                if (slot[k] < 0) {
                    slot[k] = (long)b->n;
                    fill_patch_alert(cat, new_alert(b), p);
                }
                struct alert *a = &b->v[slot[k]];
                size_t ok = 0;
                for (size_t h = 0; h < pool->n_hosts; h++)
                    ok += alerts_patch_installable(cat, p, &pool->hosts[h]);
                if (ok == pool->n_hosts) {
                    add_pool(a, pool);
                } else {
                    for (size_t h = 0; h < pool->n_hosts; h++)
                        if (alerts_patch_installable(cat, p, &pool->hosts[h]))
                            add_host(a, pool, &pool->hosts[h]);
                }
            }
        }
        free(order);
    }
    free(slot);
    free(seen_version);
}

/* The /updates host entry of a pool host (matched by ref), or NULL. */
static const struct cat_cdn_host *cdn_host_of(const struct catalog *cat, const struct inv_host *h)
{
    for (size_t i = 0; h->ref && i < cat->n_cdn_hosts; i++)
        if (cat->cdn_hosts[i].ref && strcmp(cat->cdn_hosts[i].ref, h->ref) == 0)
            return &cat->cdn_hosts[i];
    return NULL;
}

static bool cdn_host_needs(const struct cat_cdn_host *ch, const char *id)
{
    for (size_t i = 0; ch && i < ch->n_updates; i++)
        if (strcasecmp(ch->updates[i], id) == 0)
            return true;
    return false;
}

static void fill_cdn_alert(struct alert *a, const struct cat_patch *p)
{
    const char *name = p->name_label && p->name_label[0] ? p->name_label : p->uuid;
    a->kind = ALERT_PATCH;
    a->patch = p;
    a->key = xstrdup(p->uuid);
    a->name = xstrdup(name);
    a->title = xasprintf("New Update Available - %s", name);
    a->description = xstrdup(p->name_description ? p->name_description : "");
    a->web_page = xstrdup(p->url ? p->url : "");
    a->priority = p->priority >= 0 && p->priority <= 5 ? p->priority : 2;
    a->timestamp_ms = p->timestamp_ms;
}

/*
 * XenServer 8: xapi already computed what each host needs (the hosts' "updates" lists in
 * /updates), so an update's alert names the pools all of whose hosts list it, else the hosts that
 * do.  Pool hosts are matched to the answer's hosts by ref; hosts the answer does not cover need
 * nothing from it.
 */
static void cdn_alerts(const struct catalog *cat, const struct inv_pool *const *pools,
                       size_t n_pools, struct builder *b)
{
    long *slot = xcalloc(cat->n_patches ? cat->n_patches : 1, sizeof(long));
    for (size_t i = 0; i < cat->n_patches; i++)
        slot[i] = -1;
    for (size_t pi = 0; pi < n_pools; pi++) {
        const struct inv_pool *pool = pools[pi];
        if (!pool_usable(pool))
            continue;
        const struct cat_cdn_host **ch = xcalloc(pool->n_hosts, sizeof(*ch));
        for (size_t h = 0; h < pool->n_hosts; h++)
            ch[h] = cdn_host_of(cat, &pool->hosts[h]);
        for (size_t k = 0; k < cat->n_patches; k++) {
            const struct cat_patch *p = &cat->patches[k];
            size_t ok = 0;
            for (size_t h = 0; h < pool->n_hosts; h++)
                ok += cdn_host_needs(ch[h], p->uuid);
            if (ok == 0)
                continue;
            if (slot[k] < 0) {
                slot[k] = (long)b->n;
                fill_cdn_alert(new_alert(b), p);
            }
            struct alert *a = &b->v[slot[k]];
            if (ok == pool->n_hosts) {
                add_pool(a, pool);
            } else {
                for (size_t h = 0; h < pool->n_hosts; h++)
                    if (cdn_host_needs(ch[h], p->uuid))
                        add_host(a, pool, &pool->hosts[h]);
            }
        }
        free(ch);
    }
    free(slot);
}

/* The highest version (System.Version order) with the flag; the first in catalog order on ties
 * (OrderByDescending is a stable sort). */
static const struct cat_version *highest(const struct catalog *cat, bool cr)
{
    const struct cat_version *best = NULL;
    for (size_t i = 0; i < cat->n_versions; i++) {
        const struct cat_version *v = &cat->versions[i];
        if (!(cr ? v->latestcr : v->latest))
            continue;
        if (!best || cat_version_cmp(v->value, best->value) > 0)
            best = v;
    }
    return best;
}

static void version_alert(const struct catalog *cat, const struct cat_version *v,
                          const struct inv_pool *const *pools, size_t n_pools, const char *brand,
                          struct builder *b)
{
    struct alert *a = new_alert(b);
    fill_version_alert(a, v, brand);
    const struct cat_patch *patch = catalog_find_patch(cat, v->patch_uuid);
    for (size_t pi = 0; pi < n_pools; pi++) {
        const struct inv_pool *pool = pools[pi];
        if (!pool_usable(pool))
            continue;
        size_t n_old = 0;
        bool *old = xcalloc(pool->n_hosts, sizeof(bool));
        for (size_t h = 0; h < pool->n_hosts; h++) {
            const struct inv_host *host = &pool->hosts[h];
            /* new Version(product_version) < version, and the patch producing the version (if
             * any) is not installable on the host */
            old[h] = host->product_version && host->product_version[0] &&
                     cat_version_cmp(host->product_version, v->value) < 0 &&
                     (!patch || !alerts_patch_installable(cat, patch, host));
            n_old += old[h];
        }
        if (n_old == pool->n_hosts) {
            add_pool(a, pool);
        } else {
            for (size_t h = 0; h < pool->n_hosts; h++)
                if (old[h])
                    add_host(a, pool, &pool->hosts[h]);
        }
        free(old);
    }
}

/* Drop the parts of an alert that their pool dismissed. */
static void apply_dismissals(struct alert *a)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n_pools; i++)
        if (!alerts_is_dismissed(a, a->pools[i]))
            a->pools[k++] = a->pools[i];
    a->n_pools = k;
    k = 0;
    for (size_t i = 0; i < a->n_hosts; i++)
        if (!alerts_is_dismissed(a, a->hosts[i].pool))
            a->hosts[k++] = a->hosts[i];
    a->n_hosts = k;
}

static void set_applies_to(struct alert *a)
{
    struct buf b;
    buf_init(&b);
    /* XenServerUpdateAlert.AppliesTo: hosts first, then connections */
    for (size_t i = 0; i < a->n_hosts; i++) {
        if (b.len)
            buf_puts(&b, ", ");
        buf_puts(&b, a->hosts[i].host->name_label ? a->hosts[i].host->name_label : "");
    }
    for (size_t i = 0; i < a->n_pools; i++) {
        if (b.len)
            buf_puts(&b, ", ");
        buf_puts(&b, inv_pool_display_name(a->pools[i]));
    }
    free(a->applies_to);
    a->applies_to = xstrdup(buf_str(&b));
    buf_cleanup(&b);
}

/* Compute alerts (see alerts.h).  Pure; thread-safe on distinct outputs. */
int alerts_compute(const struct catalog *cat, const struct inv_pool *const *pools, size_t n_pools,
                   const struct alert_opts *opts, struct alert_list *out, struct err *e)
{
    if (!cat || !out || (n_pools && !pools))
        return err_set(e, PP_EINVAL, "alerts_compute: missing catalog, pools or output");
    struct alert_opts o;
    if (opts)
        o = *opts;
    else
        alert_opts_init(&o);
    if (!o.product_brand)
        o.product_brand = "XenServer";
    out->v = NULL;
    out->n = 0;
    out->n_dismissed = 0;
    struct builder b = {0};
    if (cat->source == CAT_SOURCE_CDN && o.patches)
        cdn_alerts(cat, pools, n_pools, &b);
    if (cat->source == CAT_SOURCE_XML) {
        if (o.patches)
            patch_alerts(cat, pools, n_pools, &b);
        if (o.versions) {
            const struct cat_version *latest = highest(cat, false);
            const struct cat_version *latestcr = highest(cat, true);
            if (latest)
                version_alert(cat, latest, pools, n_pools, o.product_brand, &b);
            if (latestcr && latestcr != latest)
                version_alert(cat, latestcr, pools, n_pools, o.product_brand, &b);
        }
    }
    /* Drop dismissed parts and alerts that name nothing (XenServerUpdateAlert.CanIgnore). */
    size_t k = 0, n_dismissed = 0;
    for (size_t i = 0; i < b.n; i++) {
        struct alert *a = &b.v[i];
        bool named = a->n_pools + a->n_hosts > 0;
        if (named) {
            size_t left = 0;
            for (size_t j = 0; j < a->n_pools; j++)
                left += !alerts_is_dismissed(a, a->pools[j]);
            for (size_t j = 0; j < a->n_hosts; j++)
                left += !alerts_is_dismissed(a, a->hosts[j].pool);
            a->dismissed = left == 0;
        }
        if (!o.include_dismissed)
            apply_dismissals(a);
        if (a->n_pools == 0 && a->n_hosts == 0) {
            n_dismissed += named;
            alert_cleanup(a);
            continue;
        }
        set_applies_to(a);
        if (k != i)
            b.v[k] = *a;
        k++;
    }
    if (k == 0) {
        free(b.v);
        b.v = NULL;
    }
    out->v = b.v;
    out->n = k;
    out->n_dismissed = n_dismissed;
    return 0;
}

/* Move every alert of src to the end of dst (see alerts.h). */
void alert_list_append(struct alert_list *dst, struct alert_list *src)
{
    if (!dst || !src)
        return;
    dst->n_dismissed += src->n_dismissed;
    src->n_dismissed = 0;
    if (src->n == 0)
        return;
    dst->v = xreallocarray(dst->v, dst->n + src->n, sizeof(*dst->v));
    memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
    dst->n += src->n;
    free(src->v);
    src->v = NULL;
    src->n = 0;
}
