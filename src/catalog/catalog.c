/* SPDX-License-Identifier: MIT */
/*
 * catalog.c - the normalized update model: release, look-ups (case-insensitive uuids, build
 * number or product version matching), classification, eligibility, guidance names, loose
 * dates and .NET-style version comparison.  The parsers live in catalog_xml.c and
 * catalog_cdn.c.
 */
#include "catalog/catalog.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "catalog/catalog_int.h"

void cat_strv_push(struct cat_strv *sv, const char *s)
{
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = xreallocarray(sv->v, sv->cap, sizeof(*sv->v));
    }
    sv->v[sv->n++] = xstrdup(s ? s : "");
}

void cat_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char *cat_lower_dup(const char *s)
{
    char *d = xstrdup(s ? s : "");
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

void cat_livepatches_free(struct cat_livepatch *lp, size_t n)
{
    if (!lp)
        return;
    for (size_t i = 0; i < n; i++) {
        free(lp[i].component);
        free(lp[i].base_buildid);
        free(lp[i].base);
        free(lp[i].to);
    }
    free(lp);
}

void cat_patch_cleanup(struct cat_patch *p)
{
    free(p->uuid);
    free(p->name_label);
    free(p->name_description);
    free(p->version);
    free(p->url);
    free(p->patch_url);
    cat_strv_free(p->required, p->n_required);
    cat_strv_free(p->conflicting, p->n_conflicting);
    free(p->type);
    free(p->severity);
    free(p->description);
    free(p->special_info);
    cat_livepatches_free(p->livepatches, p->n_livepatches);
    memset(p, 0, sizeof(*p));
}

void cat_version_cleanup(struct cat_version *v)
{
    free(v->value);
    free(v->name);
    free(v->build_number);
    free(v->url);
    free(v->patch_uuid);
    free(v->minimum_xc_version);
    cat_strv_free(v->patches, v->n_patches);
    cat_strv_free(v->minimal, v->n_minimal);
    memset(v, 0, sizeof(*v));
}

void cat_cdn_host_cleanup(struct cat_cdn_host *h)
{
    free(h->ref);
    cat_strv_free(h->updates, h->n_updates);
    cat_livepatches_free(h->livepatches, h->n_livepatches);
    cat_strv_free(h->rpms, h->n_rpms);
    memset(h, 0, sizeof(*h));
}

/*
 * Release a catalog and everything it owns.  NULL is a no-op.  Safe on hand-built catalogs whose
 * unused pointers are NULL.
 */
void catalog_free(struct catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_patches; i++)
        cat_patch_cleanup(&c->patches[i]);
    free(c->patches);
    for (size_t i = 0; i < c->n_versions; i++)
        cat_version_cleanup(&c->versions[i]);
    free(c->versions);
    free(c->cdn_hash);
    for (size_t i = 0; i < c->n_cdn_hosts; i++)
        cat_cdn_host_cleanup(&c->cdn_hosts[i]);
    free(c->cdn_hosts);
    free(c->patch_index);
    free(c);
}

/* Fill the defaults of cat_limits (see catalog.h).  l must not be NULL. */
void cat_limits_default(struct cat_limits *l)
{
    l->max_bytes = 64u * 1024 * 1024;
    l->max_depth = 32;
    l->max_patches = 100000;
    l->max_versions = 10000;
    l->max_attr_bytes = 64u * 1024;
}

/* ---- look-ups ------------------------------------------------------------------------------ */

/* The sort order of the index: case-insensitive uuid, then catalog order (so a duplicate uuid
 * resolves to its first occurrence, as XenCenter's List.Find does). */
static int index_cmp(const void *a, const void *b, void *arg)
{
    const struct catalog *c = arg;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int r = strcasecmp(c->patches[ia].uuid, c->patches[ib].uuid);
    if (r)
        return r;
    return ia < ib ? -1 : ia > ib;
}

/* Index of uuid in c->patches, or -1.  Thread-safe (read-only). */
long catalog_patch_index(const struct catalog *c, const char *uuid)
{
    if (!c || !uuid)
        return -1;
    if (!c->patch_index) {
        for (size_t i = 0; i < c->n_patches; i++)
            if (c->patches[i].uuid && strcasecmp(c->patches[i].uuid, uuid) == 0)
                return (long)i;
        return -1;
    }
    size_t lo = 0, hi = c->n_patches;
    while (lo < hi) { /* lower bound: the first entry not below uuid */
        size_t mid = lo + (hi - lo) / 2;
        if (strcasecmp(c->patches[c->patch_index[mid]].uuid, uuid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->n_patches && strcasecmp(c->patches[c->patch_index[lo]].uuid, uuid) == 0)
        return (long)c->patch_index[lo];
    return -1;
}

/* Borrowed patch with this uuid (case-insensitive), or NULL. */
const struct cat_patch *catalog_find_patch(const struct catalog *c, const char *uuid)
{
    long i = catalog_patch_index(c, uuid);
    return i < 0 ? NULL : &c->patches[i];
}

/*
 * The version a host runs (XenCenter Updates.GetServerVersions): a catalog version with a build
 * number matches the host's raw build number; one without matches the host's product_version
 * string exactly.  The first match in catalog order wins.
 */
const struct cat_version *catalog_match_version(const struct catalog *c,
                                                const char *product_version,
                                                const char *build_number)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_versions; i++) {
        const struct cat_version *v = &c->versions[i];
        if (v->build_number && v->build_number[0]) {
            if (build_number && strcmp(build_number, v->build_number) == 0)
                return v;
        } else if (product_version && v->value && strcmp(product_version, v->value) == 0) {
            return v;
        }
    }
    return NULL;
}

/* The version whose patch-uuid is uuid (case-insensitive), or NULL. */
const struct cat_version *catalog_version_installed_by(const struct catalog *c, const char *uuid)
{
    if (!c || !uuid || !uuid[0])
        return NULL;
    for (size_t i = 0; i < c->n_versions; i++) {
        const struct cat_version *v = &c->versions[i];
        if (v->patch_uuid && v->patch_uuid[0] && strcasecmp(v->patch_uuid, uuid) == 0)
            return v;
    }
    return NULL;
}

/* ---- classification ------------------------------------------------------------------------ */

static void filter_known(const struct catalog *c, char ***v, size_t *n)
{
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (catalog_patch_index(c, (*v)[i]) >= 0)
            (*v)[k++] = (*v)[i];
        else
            free((*v)[i]);
    }
    *n = k;
}

void cat_finalize(struct catalog *c)
{
    free(c->patch_index);
    c->patch_index = NULL;
    if (c->n_patches) {
        c->patch_index = xcalloc(c->n_patches, sizeof(size_t));
        for (size_t i = 0; i < c->n_patches; i++)
            c->patch_index[i] = i;
        qsort_r(c->patch_index, c->n_patches, sizeof(size_t), index_cmp, c);
    }
    /* XenCenter skips version references to uuids the catalog does not define. */
    for (size_t i = 0; i < c->n_versions; i++) {
        filter_known(c, &c->versions[i].patches, &c->versions[i].n_patches);
        filter_known(c, &c->versions[i].minimal, &c->versions[i].n_minimal);
    }
    for (size_t i = 0; i < c->n_patches; i++) {
        struct cat_patch *p = &c->patches[i];
        const struct cat_version *iv = catalog_version_installed_by(c, p->uuid);
        p->kind = !iv                     ? CAT_KIND_HOTFIX
                  : iv->present_as_update ? CAT_KIND_NEW_RELEASE
                                          : CAT_KIND_CU;
        if (c->source == CAT_SOURCE_CDN)
            continue;
        bool listed = false;
        enum cat_eligibility best = CAT_ELIG_NONE;
        for (size_t j = 0; j < c->n_versions; j++) {
            const struct cat_version *v = &c->versions[j];
            for (size_t k = 0; k < v->n_patches; k++) {
                if (strcasecmp(v->patches[k], p->uuid) == 0) {
                    listed = true;
                    if (v->eligibility < best)
                        best = v->eligibility;
                    break;
                }
            }
        }
        p->eligibility = listed ? best : CAT_ELIG_ALL;
    }
}

/* Effective eligibility of v at now_ms (see catalog.h). */
enum cat_eligibility cat_version_eligibility_at(const struct cat_version *v, int64_t now_ms)
{
    enum cat_eligibility e = v->eligibility;
    if (v->eligibility_none_date_ms > 0 && now_ms >= v->eligibility_none_date_ms)
        return CAT_ELIG_NONE;
    if (v->eligibility_premium_date_ms > 0 && now_ms >= v->eligibility_premium_date_ms &&
        e < CAT_ELIG_PREMIUM)
        e = CAT_ELIG_PREMIUM;
    return e;
}

/* Catalog spelling of an eligibility value.  Never NULL. */
const char *cat_eligibility_name(enum cat_eligibility e)
{
    switch (e) {
    case CAT_ELIG_ALL:
        return "all";
    case CAT_ELIG_PREMIUM:
        return "premium";
    case CAT_ELIG_CU:
        return "cu";
    case CAT_ELIG_NONE:
        return "none";
    }
    return "all";
}

/* Short name of a kind.  Never NULL. */
const char *cat_kind_name(enum cat_kind k)
{
    switch (k) {
    case CAT_KIND_HOTFIX:
        return "hotfix";
    case CAT_KIND_CU:
        return "cu";
    case CAT_KIND_NEW_RELEASE:
        return "new-release";
    }
    return "hotfix";
}

/* ---- guidance ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    unsigned bit;
} guidance_names[] = {
    /* legacy after-apply-guidance (xapi's pool_update after_apply_guidance enum) */
    {"restartHVM", CAT_G_RESTART_HVM},
    {"restartPV", CAT_G_RESTART_PV},
    {"restartHost", CAT_G_RESTART_HOST},
    {"restartXAPI", CAT_G_RESTART_XAPI},
    /* XenServer 8 updateinfo names (xapi updateinfo.ml) */
    {"RebootHost", CAT_G_RESTART_HOST},
    {"RestartToolstack", CAT_G_RESTART_XAPI},
    {"RestartDeviceModel", CAT_G_RESTART_DM},
    {"EvacuateHost", CAT_G_EVACUATE_HOST},
    {"RestartVM", CAT_G_RESTART_VM},
    /* xapi's wire enum for pending guidances */
    {"reboot_host", CAT_G_RESTART_HOST},
    {"reboot_host_on_livepatch_failure", CAT_G_RESTART_HOST},
    {"reboot_host_on_kernel_livepatch_failure", CAT_G_RESTART_HOST},
    {"reboot_host_on_xen_livepatch_failure", CAT_G_RESTART_HOST},
    {"restart_toolstack", CAT_G_RESTART_XAPI},
    {"restart_device_model", CAT_G_RESTART_DM},
    {"restart_vm", CAT_G_RESTART_VM},
};

/* Guidance name -> bit.  Matching ignores case; "" and "None" give CAT_G_NONE. */
unsigned cat_guidance_from_name(const char *name)
{
    if (!name || !name[0] || strcasecmp(name, "none") == 0)
        return CAT_G_NONE;
    for (size_t i = 0; i < sizeof(guidance_names) / sizeof(guidance_names[0]); i++)
        if (strcasecmp(name, guidance_names[i].name) == 0)
            return guidance_names[i].bit;
    return CAT_G_UNKNOWN;
}

/* Bits of a comma / space separated list of names. */
unsigned cat_guidance_from_list(const char *names)
{
    unsigned bits = 0;
    char tok[64];
    const char *p = names ? names : "";
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == ';')
            p++;
        size_t n = 0;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != ';')
            p++;
        n = (size_t)(p - start);
        if (n == 0)
            continue;
        if (n >= sizeof(tok)) {
            bits |= CAT_G_UNKNOWN;
            continue;
        }
        memcpy(tok, start, n);
        tok[n] = '\0';
        bits |= cat_guidance_from_name(tok);
    }
    return bits;
}

/* Name of one guidance bit: legacy spelling for the legacy bits, XenServer 8 spelling for the
 * others, "none" for 0, "unknown" otherwise.  Never NULL. */
const char *cat_guidance_name(unsigned bit)
{
    switch (bit) {
    case CAT_G_NONE:
        return "none";
    case CAT_G_RESTART_HVM:
        return "restartHVM";
    case CAT_G_RESTART_PV:
        return "restartPV";
    case CAT_G_RESTART_HOST:
        return "restartHost";
    case CAT_G_RESTART_XAPI:
        return "restartXAPI";
    case CAT_G_RESTART_DM:
        return "RestartDeviceModel";
    case CAT_G_EVACUATE_HOST:
        return "EvacuateHost";
    case CAT_G_RESTART_VM:
        return "RestartVM";
    default:
        return "unknown";
    }
}

/* ---- versions and dates -------------------------------------------------------------------- */

/* Next numeric component of a dotted version; non-numeric components are skipped like
 * XenServerVersion.ParseVersion does.  Returns false at the end. */
static bool next_component(const char **pp, long long *out)
{
    const char *p = *pp;
    while (*p) {
        const char *start = p;
        while (*p && *p != '.')
            p++;
        size_t n = (size_t)(p - start);
        if (*p == '.')
            p++;
        bool numeric = n > 0 && n < 10;
        for (size_t i = 0; numeric && i < n; i++)
            if (!isdigit((unsigned char)start[i]))
                numeric = false;
        if (numeric) {
            long long v = 0;
            for (size_t i = 0; i < n; i++)
                v = v * 10 + (start[i] - '0');
            *out = v;
            *pp = p;
            return true;
        }
    }
    *pp = p;
    return false;
}

/* .NET System.Version ordering of two dotted strings (see catalog.h). */
int cat_version_cmp(const char *a, const char *b)
{
    const char *pa = a ? a : "", *pb = b ? b : "";
    for (;;) {
        long long va = -1, vb = -1;
        bool ha = next_component(&pa, &va);
        bool hb = next_component(&pb, &vb);
        if (!ha && !hb)
            return 0;
        if (va != vb)
            return va < vb ? -1 : 1;
    }
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool take_digits(const char **pp, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*pp)[i]))
            return false;
        v = v * 10 + ((*pp)[i] - '0');
    }
    *pp += n;
    *out = v;
    return true;
}

/* Loose date parser (see catalog.h).  Returns 0 or PP_EPARSE. */
int cat_parse_date(const char *s, int64_t *t_ms)
{
    if (!s)
        return PP_EPARSE;
    while (*s == ' ')
        s++;
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!take_digits(&p, 4, &y))
        return PP_EPARSE;
    if (*p != '-') /* xapi's compact form */
        return clock_parse_xapi(s, t_ms);
    p++;
    if (!take_digits(&p, 2, &mo) || *p++ != '-' || !take_digits(&p, 2, &d))
        return PP_EPARSE;
    int64_t frac_ms = 0, offset_s = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!take_digits(&p, 2, &h) || *p++ != ':' || !take_digits(&p, 2, &mi))
            return PP_EPARSE;
        if (*p == ':') {
            p++;
            if (!take_digits(&p, 2, &sec))
                return PP_EPARSE;
            if (*p == '.') {
                p++;
                int64_t scale = 100;
                if (!isdigit((unsigned char)*p))
                    return PP_EPARSE;
                while (isdigit((unsigned char)*p)) {
                    frac_ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (!take_digits(&p, 2, &oh))
                return PP_EPARSE;
            if (*p == ':')
                p++;
            if (isdigit((unsigned char)*p) && !take_digits(&p, 2, &om))
                return PP_EPARSE;
            if (oh > 23 || om > 59)
                return PP_EPARSE;
            offset_s = sign * (oh * 3600 + om * 60);
        }
    }
    while (*p == ' ')
        p++;
    if (*p)
        return PP_EPARSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return PP_EPARSE;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return PP_EPARSE;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *t_ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_s) * 1000 + frac_ms;
    return 0;
}
