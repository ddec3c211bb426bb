/* SPDX-License-Identifier: MIT */
/*
 * catalog_xml.c - streaming parser of the legacy vendor catalog updates.xml (expat), following
 * what XenCenter's DownloadCfuAction reads (docs/reference/xencenter.md section 1;
 * xenserver/xenadmin XenModel/Actions/Updates/DownloadUpdatesXmlAction.cs, XenServerPatch.cs,
 * XenServerVersion.cs).
 *
 * Elements are recognised by name and parent (an element stack): <patches>/<patch> defines a
 * patch, with <requiredpatches>/<requiredpatch> and <conflictingpatches>/<conflictingpatch>;
 * <serverversions>/<version> defines a server version, with <patch> (its hotfixes) and
 * <minimalpatches>/<patch>.  Everything else is ignored.  The document must not carry a DOCTYPE:
 * that refuses every entity declaration (billion laughs, external entities) outright.  Any error
 * - malformed XML, a limit, a patch without a usable version - fails the whole parse, with line
 * and column, and no partial catalog is returned.
 */
#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "catalog/catalog.h"
#include "catalog/catalog_int.h"

enum tag {
    T_OTHER = 0,
    T_ROOT,
    T_PATCHES,
    T_PATCH_DEF,
    T_REQUIREDPATCHES,
    T_REQUIREDPATCH,
    T_CONFLICTINGPATCHES,
    T_CONFLICTINGPATCH,
    T_SERVERVERSIONS,
    T_VERSION,
    T_VPATCH,
    T_MINIMALPATCHES,
    T_MINPATCH
};

struct xctx {
    XML_Parser p;
    struct cat_limits lim;
    struct err *e;
    int rc;
    struct catalog *c;
    size_t cap_patches, cap_versions;
    enum tag *stack;
    int depth;
    bool seen_root;
    struct cat_patch *cur_patch;     /* open <patch> definition, or NULL */
    struct cat_version *cur_version; /* open <version>, or NULL */
    struct cat_strv req, conf, vpatches, vminimal;
};

__attribute__((format(printf, 3, 4))) static void fail(struct xctx *x, int code, const char *fmt,
                                                       ...)
{
    if (x->rc)
        return;
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    x->rc = err_set(x->e, code, "updates.xml line %lu, column %lu: %s",
                    (unsigned long)XML_GetCurrentLineNumber(x->p),
                    (unsigned long)XML_GetCurrentColumnNumber(x->p) + 1, msg);
    XML_StopParser(x->p, XML_FALSE);
}

static const char *attr(const XML_Char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    return NULL;
}

static char *attr_dup(const XML_Char **atts, const char *name)
{
    return xstrdup(attr(atts, name) ? attr(atts, name) : "");
}

/* A URL attribute: only http and https (a javascript: or file: URL from a catalog is dropped). */
static char *attr_url(const XML_Char **atts, const char *name)
{
    const char *v = attr(atts, name);

    if (!v || !(strncasecmp(v, "https://", 8) == 0 || strncasecmp(v, "http://", 7) == 0))
        return xstrdup("");
    return xstrdup(v);
}

/* XenCenter: bool.TrueString compared case-insensitively (latest, latestcr, present-as-update). */
static bool attr_is_true(const XML_Char **atts, const char *name)
{
    const char *v = attr(atts, name);
    return v && str_eq_nocase(v, "true");
}

/* XenCenter: guidance-mandatory and contains-livepatch are true when the value contains "true". */
static bool attr_contains_true(const XML_Char **atts, const char *name)
{
    const char *v = attr(atts, name);
    return v && strcasestr(v, "true") != NULL;
}

static int64_t attr_int64(const XML_Char **atts, const char *name, int64_t def)
{
    const char *v = attr(atts, name);
    int64_t n;
    if (!v || str_to_int64(v, &n) != 0)
        return def;
    return n;
}

static int64_t attr_date(const XML_Char **atts, const char *name)
{
    const char *v = attr(atts, name);
    int64_t t;
    if (!v || cat_parse_date(v, &t) != 0)
        return 0; /* DateTime.TryParse failing leaves DateTime.MinValue: "unknown" */
    return t;
}

/* .NET `new Version(s)`: 2 to 4 components, each a non-negative Int32. */
static bool is_dotnet_version(const char *s)
{
    int parts = 0;
    const char *p = s;
    for (;;) {
        const char *start = p;
        long long v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p - '0');
            if (v > INT_MAX)
                return false;
            p++;
        }
        if (p == start)
            return false;
        parts++;
        if (*p == '\0')
            break;
        if (*p != '.')
            return false;
        p++;
    }
    return parts >= 2 && parts <= 4;
}

/* XenServerVersion.ParseVersion: keep the dot-separated parts that parse as integers. */
static char *numeric_parts(const char *s)
{
    struct cat_strv parts = {0};
    const char *p = s;
    while (*p) {
        const char *start = p;
        while (*p && *p != '.')
            p++;
        size_t n = (size_t)(p - start);
        bool num = n > 0 && n < 10;
        for (size_t i = 0; num && i < n; i++)
            if (start[i] < '0' || start[i] > '9')
                num = false;
        if (num) {
            char *t = xstrndup(start, n);
            cat_strv_push(&parts, t);
            free(t);
        }
        if (*p == '.')
            p++;
    }
    size_t len = 1;
    for (size_t i = 0; i < parts.n; i++)
        len += strlen(parts.v[i]) + 1;
    char *out = xcalloc(1, len);
    for (size_t i = 0; i < parts.n; i++) {
        if (i)
            strncat(out, ".", len - strlen(out) - 1);
        strncat(out, parts.v[i], len - strlen(out) - 1);
    }
    cat_strv_free(parts.v, parts.n);
    return out;
}

static void take_strv(struct cat_strv *sv, char ***v, size_t *n)
{
    *v = sv->v;
    *n = sv->n;
    memset(sv, 0, sizeof(*sv));
}

static void start_patch_def(struct xctx *x, const XML_Char **atts)
{
    struct catalog *c = x->c;
    if (c->n_patches >= x->lim.max_patches) {
        fail(x, PP_ELIMIT, "more than %zu patches", x->lim.max_patches);
        return;
    }
    const char *uuid = attr(atts, "uuid");
    const char *name = attr(atts, "name-label");
    const char *ver = attr(atts, "version");
    if (!uuid || !uuid[0]) {
        fail(x, PP_EPARSE, "patch \"%s\" has no uuid", name ? name : "");
        return;
    }
    /* XenServerPatch: `new Version(version)` throws on a missing or malformed value, which
     * aborts XenCenter's whole parse. */
    if (!ver || !is_dotnet_version(ver)) {
        fail(x, PP_EPARSE,
             "patch %s (\"%s\") has %s version%s%s%s (expected 2 to 4 numbers "
             "separated by dots)",
             uuid, name ? name : "", ver ? "an unparseable" : "no", ver ? " \"" : "",
             ver ? ver : "", ver ? "\"" : "");
        return;
    }
    if (c->n_patches == x->cap_patches) {
        x->cap_patches = x->cap_patches ? x->cap_patches * 2 : 64;
        c->patches = xreallocarray(c->patches, x->cap_patches, sizeof(*c->patches));
    }
    struct cat_patch *p = &c->patches[c->n_patches++];
    memset(p, 0, sizeof(*p));
    p->uuid = cat_lower_dup(uuid);
    p->name_label = attr_dup(atts, "name-label");
    p->name_description = attr_dup(atts, "name-description");
    p->version = xstrdup(ver);
    p->url = attr_url(atts, "url");
    p->patch_url = attr_url(atts, "patch-url");
    p->timestamp_ms = attr_date(atts, "timestamp");
    p->guidance = cat_guidance_from_list(attr(atts, "after-apply-guidance"));
    p->guidance_mandatory = attr_contains_true(atts, "guidance-mandatory");
    /* XenServerPatch: priority defaults to 2 when it does not parse as an integer. */
    p->priority = (int)attr_int64(atts, "priority", 2);
    if (attr_int64(atts, "priority", 2) != p->priority)
        p->priority = 2;
    p->installation_size = attr_int64(atts, "installation-size", 0);
    p->download_size = attr_int64(atts, "download-size", 0);
    p->contains_livepatch = attr_contains_true(atts, "contains-livepatch");
    p->kind = CAT_KIND_HOTFIX;
    p->source = CAT_SOURCE_XML;
    p->type = xstrdup("");
    p->severity = xstrdup("");
    p->description = xstrdup("");
    p->special_info = xstrdup("");
    p->line = (int)XML_GetCurrentLineNumber(x->p);
    x->cur_patch = p;
}

static void end_patch_def(struct xctx *x)
{
    struct cat_patch *p = x->cur_patch;
    take_strv(&x->req, &p->required, &p->n_required);
    take_strv(&x->conf, &p->conflicting, &p->n_conflicting);
    x->cur_patch = NULL;
}

static void start_version(struct xctx *x, const XML_Char **atts)
{
    struct catalog *c = x->c;
    if (c->n_versions >= x->lim.max_versions) {
        fail(x, PP_ELIMIT, "more than %zu server versions", x->lim.max_versions);
        return;
    }
    const char *value = attr(atts, "value");
    char *num = numeric_parts(value ? value : "");
    /* XenServerVersion.ParseVersion builds a System.Version, which needs 2 to 4 numbers. */
    if (!is_dotnet_version(num)) {
        const char *name = attr(atts, "name");
        fail(x, PP_EPARSE, "server version \"%s\" has %s value%s%s%s", name ? name : "",
             value ? "an unparseable" : "no", value ? " \"" : "", value ? value : "",
             value ? "\"" : "");
        free(num);
        return;
    }
    if (c->n_versions == x->cap_versions) {
        x->cap_versions = x->cap_versions ? x->cap_versions * 2 : 16;
        c->versions = xreallocarray(c->versions, x->cap_versions, sizeof(*c->versions));
    }
    struct cat_version *v = &c->versions[c->n_versions++];
    memset(v, 0, sizeof(*v));
    v->value = num;
    v->name = attr_dup(atts, "name");
    v->build_number = attr_dup(atts, "build-number");
    v->latest = attr_is_true(atts, "latest");
    v->latestcr = attr_is_true(atts, "latestcr");
    v->url = attr_url(atts, "url");
    v->timestamp_ms = attr_date(atts, "timestamp");
    v->patch_uuid = cat_lower_dup(attr(atts, "patch-uuid"));
    v->present_as_update = attr_is_true(atts, "present-as-update");
    v->minimum_xc_version = attr_dup(atts, "minimum-xc-version");
    /* Enum.TryParse(hotfixEligibility): case-sensitive names; anything else leaves "all". */
    const char *el = attr(atts, "hotfix-eligibility");
    v->eligibility = !el                          ? CAT_ELIG_ALL
                     : strcmp(el, "premium") == 0 ? CAT_ELIG_PREMIUM
                     : strcmp(el, "cu") == 0      ? CAT_ELIG_CU
                     : strcmp(el, "none") == 0    ? CAT_ELIG_NONE
                                                  : CAT_ELIG_ALL;
    v->eligibility_premium_date_ms = attr_date(atts, "hotfix-eligibility-premium-date");
    v->eligibility_none_date_ms = attr_date(atts, "hotfix-eligibility-none-date");
    v->eol_date_ms = attr_date(atts, "eol-date");
    v->line = (int)XML_GetCurrentLineNumber(x->p);
    x->cur_version = v;
}

static void end_version(struct xctx *x)
{
    struct cat_version *v = x->cur_version;
    take_strv(&x->vpatches, &v->patches, &v->n_patches);
    if (v->has_minimal)
        take_strv(&x->vminimal, &v->minimal, &v->n_minimal);
    x->cur_version = NULL;
}

static void push_ref(struct xctx *x, struct cat_strv *sv, const XML_Char **atts)
{
    const char *uuid = attr(atts, "uuid");
    if (!uuid || !uuid[0])
        return; /* nothing to refer to: skipped like an unknown uuid */
    char *l = cat_lower_dup(uuid);
    cat_strv_push(sv, l);
    free(l);
    (void)x;
}

static enum tag classify(struct xctx *x, const char *name, enum tag parent, enum tag grand)
{
    if (x->depth == 0)
        return T_ROOT;
    if (strcmp(name, "patches") == 0)
        return x->cur_patch || x->cur_version ? T_OTHER : T_PATCHES;
    if (strcmp(name, "serverversions") == 0)
        return x->cur_patch || x->cur_version ? T_OTHER : T_SERVERVERSIONS;
    if (strcmp(name, "patch") == 0) {
        if (parent == T_PATCHES)
            return T_PATCH_DEF;
        if (parent == T_VERSION)
            return T_VPATCH;
        if (parent == T_MINIMALPATCHES && grand == T_VERSION)
            return T_MINPATCH;
        return T_OTHER;
    }
    if (strcmp(name, "version") == 0)
        return parent == T_SERVERVERSIONS ? T_VERSION : T_OTHER;
    /* XenCenter reads the first <requiredpatches> / <conflictingpatches> child only. */
    if (strcmp(name, "requiredpatches") == 0)
        return parent == T_PATCH_DEF && !x->cur_patch->has_required ? T_REQUIREDPATCHES : T_OTHER;
    if (strcmp(name, "conflictingpatches") == 0)
        return parent == T_PATCH_DEF && !x->cur_patch->has_conflicting ? T_CONFLICTINGPATCHES
                                                                       : T_OTHER;
    if (strcmp(name, "requiredpatch") == 0)
        return parent == T_REQUIREDPATCHES ? T_REQUIREDPATCH : T_OTHER;
    if (strcmp(name, "conflictingpatch") == 0)
        return parent == T_CONFLICTINGPATCHES ? T_CONFLICTINGPATCH : T_OTHER;
    if (strcmp(name, "minimalpatches") == 0)
        return parent == T_VERSION ? T_MINIMALPATCHES : T_OTHER;
    return T_OTHER;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xctx *x = ud;
    if (x->rc)
        return;
    if (x->depth >= x->lim.max_depth) {
        fail(x, PP_ELIMIT, "elements nested deeper than %d", x->lim.max_depth);
        return;
    }
    for (size_t i = 0; atts[i]; i += 2) {
        if (strlen(atts[i + 1]) > x->lim.max_attr_bytes) {
            fail(x, PP_ELIMIT, "attribute %s of <%s> is longer than %zu bytes", atts[i], name,
                 x->lim.max_attr_bytes);
            return;
        }
    }
    enum tag parent = x->depth > 0 ? x->stack[x->depth - 1] : T_OTHER;
    enum tag grand = x->depth > 1 ? x->stack[x->depth - 2] : T_OTHER;
    enum tag t = classify(x, name, parent, grand);
    if (t == T_ROOT && strcmp(name, "patchdata") != 0) {
        fail(x, PP_EPARSE,
             "the root element is <%s>, expected <patchdata> (is this an "
             "update catalog?)",
             name);
        return;
    }
    switch (t) {
    case T_PATCH_DEF:
        start_patch_def(x, atts);
        break;
    case T_REQUIREDPATCHES:
        x->cur_patch->has_required = true;
        break;
    case T_CONFLICTINGPATCHES:
        x->cur_patch->has_conflicting = true;
        break;
    case T_REQUIREDPATCH:
        push_ref(x, &x->req, atts);
        break;
    case T_CONFLICTINGPATCH:
        push_ref(x, &x->conf, atts);
        break;
    case T_VERSION:
        start_version(x, atts);
        break;
    case T_VPATCH:
        push_ref(x, &x->vpatches, atts);
        break;
    case T_MINIMALPATCHES:
        /* XenCenter starts a new list for every <minimalpatches>: the last one wins. */
        cat_strv_free(x->vminimal.v, x->vminimal.n);
        memset(&x->vminimal, 0, sizeof(x->vminimal));
        x->cur_version->has_minimal = true;
        break;
    case T_MINPATCH:
        push_ref(x, &x->vminimal, atts);
        break;
    default:
        break;
    }
    if (x->rc)
        return;
    x->stack[x->depth++] = t;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xctx *x = ud;
    (void)name;
    if (x->rc || x->depth == 0)
        return;
    enum tag t = x->stack[--x->depth];
    if (t == T_PATCH_DEF && x->cur_patch)
        end_patch_def(x);
    else if (t == T_VERSION && x->cur_version)
        end_version(x);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    struct xctx *x = ud;
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(x, PP_EPARSE, "a DOCTYPE is not allowed in an update catalog (entities are refused)");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_length, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    struct xctx *x = ud;
    (void)is_param, (void)value, (void)value_length, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    fail(x, PP_EPARSE, "entity declaration \"%s\" refused", name);
}

/*
 * Parse updates.xml (see catalog.h).  Thread-safe: each call has its own parser.  On error *out
 * is untouched and nothing is leaked.
 */
int catalog_parse_xml(const char *data, size_t len, const struct cat_limits *lim,
                      struct catalog **out, struct err *e)
{
    struct xctx x;
    memset(&x, 0, sizeof(x));
    if (lim)
        x.lim = *lim;
    else
        cat_limits_default(&x.lim);
    x.e = e;
    if (!out || (!data && len))
        return err_set(e, PP_EINVAL, "catalog_parse_xml: no data or no output");
    if (x.lim.max_depth < 1)
        x.lim.max_depth = 1;
    if (len > x.lim.max_bytes)
        return err_set(e, PP_ELIMIT, "updates.xml is %zu bytes, over the limit of %zu", len,
                       x.lim.max_bytes);
    x.p = XML_ParserCreate(NULL);
    if (!x.p)
        return err_set(e, PP_ENOMEM, "cannot create an XML parser");
    x.c = xcalloc(1, sizeof(*x.c));
    x.c->source = CAT_SOURCE_XML;
    x.c->cdn_hash = xstrdup("");
    x.stack = xcalloc((size_t)x.lim.max_depth + 1, sizeof(*x.stack));
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
    XML_SetEntityDeclHandler(x.p, on_entity_decl);
    XML_SetParamEntityParsing(x.p, XML_PARAM_ENTITY_PARSING_NEVER);
#if defined(XML_DTD) &&                                                                            \
    (XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4))
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(x.p, 10.0f);
#endif

    /* Feed in chunks: expat takes an int length. */
    const size_t chunk = 1u << 20;
    size_t off = 0;
    do {
        size_t n = len - off < chunk ? len - off : chunk;
        int final = off + n == len;
        if (XML_Parse(x.p, data ? data + off : "", (int)n, final) != XML_STATUS_OK) {
            if (!x.rc)
                x.rc = err_set(e, PP_EPARSE, "updates.xml line %lu, column %lu: %s",
                               (unsigned long)XML_GetCurrentLineNumber(x.p),
                               (unsigned long)XML_GetCurrentColumnNumber(x.p) + 1,
                               XML_ErrorString(XML_GetErrorCode(x.p)));
            break;
        }
        off += n;
    } while (off < len);

    /* An open patch or version at an error still owns its lists in x. */
    cat_strv_free(x.req.v, x.req.n);
    cat_strv_free(x.conf.v, x.conf.n);
    cat_strv_free(x.vpatches.v, x.vpatches.n);
    cat_strv_free(x.vminimal.v, x.vminimal.n);
    XML_ParserFree(x.p);
    free(x.stack);
    if (x.rc) {
        catalog_free(x.c);
        return x.rc;
    }
    cat_finalize(x.c);
    *out = x.c;
    return 0;
}
