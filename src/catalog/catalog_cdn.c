/* SPDX-License-Identifier: MIT */
/*
 * catalog_cdn.c - parser of XenServer 8's `GET /updates` JSON (xapi ocaml/xapi/repository.ml,
 * docs/reference/xapi.md section 2; the names XenCenter reads are in xenserver/xenadmin
 * XenModel/Actions/Updates/Cdn.cs) into the same model as updates.xml.
 *
 * Guidance comes in two shapes and both are accepted: XenCenter's arrays
 * ("recommended-guidance", "absolute-guidance", "livepatch-guidance" - the last also as a single
 * string) and xapi's object {"mandatory", "recommended", "full", "livepatch"} under "guidance".
 * Unknown members are ignored; wrong types, missing ids or refs, and limits fail the whole parse.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "base/str.h"
#include "catalog/catalog.h"
#include "catalog/catalog_int.h"

struct cctx {
    const struct cat_limits *lim;
    struct err *e;
    int rc;
};

__attribute__((format(printf, 3, 4))) static int cfail(struct cctx *x, int code, const char *fmt,
                                                       ...)
{
    if (x->rc)
        return x->rc;
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    x->rc = err_set(x->e, code, "updates JSON: %s", msg);
    return x->rc;
}

/* A string member: "" when absent or null; an error for another type or an oversized value. */
static char *get_str(struct cctx *x, const json_t *obj, const char *key, const char *where)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return xstrdup("");
    if (!json_is_string(v)) {
        cfail(x, PP_EPARSE, "%s: \"%s\" is not a string", where, key);
        return xstrdup("");
    }
    if (json_string_length(v) > x->lim->max_attr_bytes) {
        cfail(x, PP_ELIMIT, "%s: \"%s\" is longer than %zu bytes", where, key,
              x->lim->max_attr_bytes);
        return xstrdup("");
    }
    return xstrdup(json_string_value(v));
}

/* Guidance bits of an array of names, or of one name (livepatch-guidance). */
static unsigned get_guidance(struct cctx *x, const json_t *v, const char *key, const char *where)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return cat_guidance_from_name(json_string_value(v));
    if (!json_is_array(v)) {
        cfail(x, PP_EPARSE, "%s: \"%s\" is not a list of guidance names", where, key);
        return 0;
    }
    unsigned bits = 0;
    size_t i;
    const json_t *it;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it)) {
            cfail(x, PP_EPARSE, "%s: \"%s\"[%zu] is not a string", where, key, i);
            return 0;
        }
        bits |= cat_guidance_from_name(json_string_value(it));
    }
    return bits;
}

struct guid {
    unsigned mandatory, recommended, full, livepatch;
    bool has_mandatory;
};

/* Both guidance shapes of one host or update. */
static void get_guidances(struct cctx *x, const json_t *obj, const char *where, struct guid *g)
{
    memset(g, 0, sizeof(*g));
    g->recommended = get_guidance(x, json_object_get(obj, "recommended-guidance"),
                                  "recommended-guidance", where);
    g->full =
        get_guidance(x, json_object_get(obj, "absolute-guidance"), "absolute-guidance", where);
    g->livepatch =
        get_guidance(x, json_object_get(obj, "livepatch-guidance"), "livepatch-guidance", where);
    const json_t *o = json_object_get(obj, "guidance");
    if (!o || json_is_null(o))
        return;
    if (json_is_array(o)) { /* a bare list: treat as recommended */
        g->recommended |= get_guidance(x, o, "guidance", where);
        return;
    }
    if (!json_is_object(o)) {
        cfail(x, PP_EPARSE, "%s: \"guidance\" is neither an object nor a list", where);
        return;
    }
    const json_t *m = json_object_get(o, "mandatory");
    g->mandatory = get_guidance(x, m, "guidance.mandatory", where);
    g->has_mandatory = g->mandatory != 0;
    g->recommended |=
        get_guidance(x, json_object_get(o, "recommended"), "guidance.recommended", where);
    g->full |= get_guidance(x, json_object_get(o, "full"), "guidance.full", where);
    g->livepatch |= get_guidance(x, json_object_get(o, "livepatch"), "guidance.livepatch", where);
}

static void get_strv(struct cctx *x, const json_t *obj, const char *key, const char *where,
                     char ***v, size_t *n)
{
    struct cat_strv sv = {0};
    const json_t *a = json_object_get(obj, key);
    *v = NULL;
    *n = 0;
    if (!a || json_is_null(a))
        return;
    if (!json_is_array(a)) {
        cfail(x, PP_EPARSE, "%s: \"%s\" is not a list", where, key);
        return;
    }
    size_t i;
    const json_t *it;
    json_array_foreach(a, i, it)
    {
        if (!json_is_string(it)) {
            cfail(x, PP_EPARSE, "%s: \"%s\"[%zu] is not a string", where, key, i);
            break;
        }
        cat_strv_push(&sv, json_string_value(it));
    }
    *v = sv.v;
    *n = sv.n;
}

static void get_livepatches(struct cctx *x, const json_t *obj, const char *where,
                            struct cat_livepatch **out, size_t *n_out)
{
    const json_t *a = json_object_get(obj, "livepatches");
    *out = NULL;
    *n_out = 0;
    if (!a || json_is_null(a))
        return;
    if (!json_is_array(a)) {
        cfail(x, PP_EPARSE, "%s: \"livepatches\" is not a list", where);
        return;
    }
    size_t n = json_array_size(a);
    if (n == 0)
        return;
    struct cat_livepatch *lp = xcalloc(n, sizeof(*lp));
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_array_get(a, i);
        char w[160];
        snprintf(w, sizeof(w), "%s livepatches[%zu]", where, i);
        if (!json_is_object(it)) {
            cfail(x, PP_EPARSE, "%s is not an object", w);
            lp[i].component = xstrdup("");
            lp[i].base_buildid = xstrdup("");
            lp[i].base = xstrdup("");
            lp[i].to = xstrdup("");
            continue;
        }
        lp[i].component = get_str(x, it, "component", w);
        lp[i].base_buildid = get_str(x, it, "base-buildid", w);
        lp[i].base = get_str(x, it, "base", w);
        lp[i].to = get_str(x, it, "to", w);
    }
    *out = lp;
    *n_out = n;
}

/* XenCenter's CdnUpdateType: exact names, anything else is Unknown. */
static char *norm_type(char *t)
{
    static const char *const known[] = {"SecurityFix", "Bugfix",         "Improvement",
                                        "NewFeature",  "PreviewFeature", "Foundational"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(t, known[i]) == 0)
            return t;
    free(t);
    return xstrdup("Unknown");
}

static void parse_update(struct cctx *x, const json_t *u, size_t idx, struct cat_patch *p)
{
    char where[96];
    snprintf(where, sizeof(where), "updates[%zu]", idx);
    memset(p, 0, sizeof(*p));
    p->source = CAT_SOURCE_CDN;
    p->kind = CAT_KIND_HOTFIX;
    p->priority = 2;
    p->eligibility = CAT_ELIG_ALL;
    if (!json_is_object(u)) {
        cfail(x, PP_EPARSE, "%s is not an object", where);
        return;
    }
    p->uuid = get_str(x, u, "id", where);
    if (!x->rc && !p->uuid[0])
        cfail(x, PP_EPARSE, "%s has no \"id\"", where);
    if (!x->rc)
        snprintf(where, sizeof(where), "update %.80s", p->uuid);
    p->name_label = get_str(x, u, "title", where);
    p->name_description = get_str(x, u, "summary", where);
    p->description = get_str(x, u, "description", where);
    p->special_info = get_str(x, u, "special-info", where);
    p->url = get_str(x, u, "url", where);
    p->version = xstrdup("");
    p->patch_url = xstrdup("");
    p->type = norm_type(get_str(x, u, "type", where));
    p->severity = get_str(x, u, "severity", where);
    char *issued = get_str(x, u, "issued", where);
    int64_t t;
    if (issued[0] && cat_parse_date(issued, &t) == 0)
        p->timestamp_ms = t;
    free(issued);
    struct guid g;
    get_guidances(x, u, where, &g);
    p->guidance = g.recommended | g.mandatory;
    p->guidance_mandatory = g.has_mandatory;
    p->absolute_guidance = g.full;
    p->livepatch_guidance = g.livepatch;
    get_livepatches(x, u, where, &p->livepatches, &p->n_livepatches);
    p->contains_livepatch = p->n_livepatches > 0;
}

static void parse_host(struct cctx *x, const json_t *h, size_t idx, struct cat_cdn_host *ch)
{
    char where[96];
    snprintf(where, sizeof(where), "hosts[%zu]", idx);
    memset(ch, 0, sizeof(*ch));
    if (!json_is_object(h)) {
        cfail(x, PP_EPARSE, "%s is not an object", where);
        return;
    }
    ch->ref = get_str(x, h, "ref", where);
    if (!x->rc && !ch->ref[0])
        cfail(x, PP_EPARSE, "%s has no \"ref\"", where);
    struct guid g;
    get_guidances(x, h, where, &g);
    ch->recommended_guidance = g.recommended;
    ch->absolute_guidance = g.full;
    ch->livepatch_guidance = g.livepatch;
    ch->mandatory_guidance = g.mandatory;
    ch->full_guidance = g.full;
    get_strv(x, h, "updates", where, &ch->updates, &ch->n_updates);
    get_strv(x, h, "RPMS", where, &ch->rpms, &ch->n_rpms);
    get_livepatches(x, h, where, &ch->livepatches, &ch->n_livepatches);
}

/*
 * Parse XenServer 8 /updates JSON (see catalog.h).  Thread-safe.  On error *out is untouched and
 * nothing is leaked.
 */
int catalog_parse_cdn_json(const char *data, size_t len, const struct cat_limits *lim,
                           struct catalog **out, struct err *e)
{
    struct cat_limits dl;
    if (!lim) {
        cat_limits_default(&dl);
        lim = &dl;
    }
    if (!out || (!data && len))
        return err_set(e, PP_EINVAL, "catalog_parse_cdn_json: no data or no output");
    struct cctx x = {.lim = lim, .e = e, .rc = 0};
    json_t *root = NULL;
    int rc =
        jsonx_load(data ? data : "", len, lim->max_bytes, lim->max_depth, "updates JSON", &root, e);
    if (rc)
        return rc;
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(e, PP_EPARSE, "updates JSON: the top level is not an object");
    }
    const json_t *hosts = json_object_get(root, "hosts");
    const json_t *updates = json_object_get(root, "updates");
    if (!json_is_array(hosts) || !json_is_array(updates)) {
        json_decref(root);
        return err_set(e, PP_EPARSE,
                       "updates JSON: \"hosts\" and \"updates\" must be lists "
                       "(is this a XenServer 8 /updates answer?)");
    }
    if (json_array_size(updates) > lim->max_patches || json_array_size(hosts) > lim->max_patches) {
        json_decref(root);
        return err_set(e, PP_ELIMIT, "updates JSON: more than %zu updates or hosts",
                       lim->max_patches);
    }
    struct catalog *c = xcalloc(1, sizeof(*c));
    c->source = CAT_SOURCE_CDN;
    c->cdn_hash = get_str(&x, root, "hash", "top level");
    size_t n = json_array_size(updates);
    if (n)
        c->patches = xcalloc(n, sizeof(*c->patches));
    for (size_t i = 0; i < n && !x.rc; i++) {
        parse_update(&x, json_array_get(updates, i), i, &c->patches[i]);
        c->n_patches = i + 1;
    }
    n = json_array_size(hosts);
    if (n && !x.rc)
        c->cdn_hosts = xcalloc(n, sizeof(*c->cdn_hosts));
    for (size_t i = 0; i < n && !x.rc; i++) {
        parse_host(&x, json_array_get(hosts, i), i, &c->cdn_hosts[i]);
        c->n_cdn_hosts = i + 1;
    }
    json_decref(root);
    if (x.rc) {
        catalog_free(c);
        return x.rc;
    }
    cat_finalize(c);
    *out = c;
    return 0;
}
