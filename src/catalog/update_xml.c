/* SPDX-License-Identifier: MIT */
/*
 * update_xml.c - the metadata an update image carries about itself: the update.xml document at
 * the root of a hotfix ISO, which xapi's pool_update.introduce reads to learn what it is being
 * given (xen-api ocaml/xapi/xapi_pool_update.ml, parse_update_info: the root element <update>
 * with the attributes uuid, name-label and version required, installation-size,
 * after-apply-guidance (a comma list of restartHVM / restartPV / restartHost / restartXAPI),
 * enforce-homogeneity and key, and a <name-description> child).  The simulator's images put the
 * description in a name-description attribute and add livepatch; both forms are read.
 *
 * Untrusted input (a file an administrator uploaded): at most CAT_UPDATE_XML_MAX bytes, 16
 * levels, no entity declarations, no external encodings; every field length-capped.
 */
#include "catalog/catalog.h"

#include "base/err.h"
#include "base/str.h"
#include "base/uuid.h"

#include <expat.h>
#include <stdio.h>
#include <string.h>

#define UX_DEPTH 16

struct ux {
    struct cat_update_meta *m;
    XML_Parser p;
    int depth;
    bool seen_root, in_desc, desc_child;
    char why[200];
};

static void stop(struct ux *x, const char *why)
{
    if (!x->why[0])
        str_lcpy(x->why, why, sizeof x->why);
    XML_StopParser(x->p, XML_FALSE);
}

static bool truthy(const char *v)
{
    return str_eq(v, "true") || str_eq(v, "yes") || str_eq(v, "1");
}

/* Copy an attribute value into a fixed field; false (and the parse stops) when it is too long. */
static bool take(struct ux *x, char *dst, size_t dstsz, const char *k, const char *v)
{
    if (str_lcpy(dst, v, dstsz) < dstsz)
        return true;
    char why[120];
    snprintf(why, sizeof why, "the %s attribute is longer than %zu bytes", k, dstsz - 1);
    stop(x, why);
    return false;
}

static void root_attrs(struct ux *x, const XML_Char **atts)
{
    struct cat_update_meta *m = x->m;

    for (size_t i = 0; atts[i] && atts[i + 1]; i += 2) {
        const char *k = atts[i], *v = atts[i + 1];
        bool ok = true;
        if (str_eq(k, "uuid"))
            ok = take(x, m->uuid, sizeof m->uuid, k, v);
        else if (str_eq(k, "name-label"))
            ok = take(x, m->name_label, sizeof m->name_label, k, v);
        else if (str_eq(k, "name-description"))
            ok = take(x, m->name_description, sizeof m->name_description, k, v);
        else if (str_eq(k, "version"))
            ok = take(x, m->version, sizeof m->version, k, v);
        else if (str_eq(k, "key"))
            ok = take(x, m->key, sizeof m->key, k, v);
        else if (str_eq(k, "after-apply-guidance"))
            ok = take(x, m->guidance_text, sizeof m->guidance_text, k, v);
        else if (str_eq(k, "installation-size")) {
            /* xapi takes 0 for a missing or unreadable size; a negative one is nonsense */
            if (str_to_int64(v, &m->installation_size) != 0 || m->installation_size < 0)
                m->installation_size = 0;
        } else if (str_eq(k, "enforce-homogeneity"))
            m->enforce_homogeneity = truthy(v);
        else if (str_eq(k, "livepatch"))
            m->livepatch = truthy(v);
        if (!ok)
            return;
    }
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct ux *x = ud;

    if (++x->depth > UX_DEPTH) {
        stop(x, "update.xml nests too deeply");
        return;
    }
    if (x->depth == 1) {
        if (!str_eq(name, "update")) {
            char why[120];
            snprintf(why, sizeof why, "the root element is <%.60s>, expected <update>", name);
            stop(x, why);
            return;
        }
        x->seen_root = true;
        root_attrs(x, atts);
    } else if (x->depth == 2 && str_eq(name, "name-description")) {
        x->in_desc = true;
        x->desc_child = true;
        x->m->name_description[0] = '\0';
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct ux *x = ud;

    (void)name;
    if (x->depth == 2)
        x->in_desc = false;
    x->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct ux *x = ud;
    char *d = x->m->name_description;
    size_t have = strlen(d), room = sizeof x->m->name_description - 1 - have;

    if (!x->in_desc || len <= 0)
        return;
    if ((size_t)len > room) {
        stop(x, "the name-description is too long");
        return;
    }
    memcpy(d + have, s, (size_t)len);
    d[have + (size_t)len] = '\0';
}

static int XMLCALL on_unknown_encoding(void *ud, const XML_Char *name, XML_Encoding *info)
{
    (void)ud, (void)name, (void)info;
    return XML_STATUS_ERROR;
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_length, const XML_Char *base, const XML_Char *system_id,
                              const XML_Char *public_id, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_length, (void)base, (void)system_id;
    (void)public_id, (void)notation;
    stop(ud, "update.xml declares entities, which are not allowed");
}

/* What is missing or wrong after a well-formed parse, as xapi's parse_update_info checks it. */
static int check_fields(const struct ux *x, struct err *e)
{
    const struct cat_update_meta *m = x->m;

    if (!x->seen_root)
        return err_set(e, PP_EPARSE, "update.xml has no <update> element");
    if (!m->uuid[0])
        return err_set(e, PP_EPARSE, "update.xml: <update> has no uuid");
    if (!uuid_is_valid(m->uuid))
        return err_set(e, PP_EPARSE, "update.xml: the uuid \"%.60s\" is not a UUID", m->uuid);
    if (!m->name_label[0])
        return err_set(e, PP_EPARSE, "update.xml: <update> has no name-label");
    if (!m->version[0])
        return err_set(e, PP_EPARSE, "update.xml: <update> has no version");
    return 0;
}

/* See catalog.h. */
int catalog_update_xml_parse(const char *data, size_t len, struct cat_update_meta *m, struct err *e)
{
    struct ux x;
    enum XML_Status st;
    int rc;

    memset(m, 0, sizeof *m);
    if (!data || len == 0)
        return err_set(e, PP_EPARSE, "update.xml is empty");
    if (len > CAT_UPDATE_XML_MAX)
        return err_set(e, PP_ELIMIT, "update.xml is larger than %d bytes", CAT_UPDATE_XML_MAX);
    memset(&x, 0, sizeof x);
    x.m = m;
    x.p = XML_ParserCreate("UTF-8");
    if (!x.p)
        return err_set(e, PP_ENOMEM, "out of memory");
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetCharacterDataHandler(x.p, on_text);
    XML_SetUnknownEncodingHandler(x.p, on_unknown_encoding, NULL);
    XML_SetEntityDeclHandler(x.p, on_entity);
    st = XML_Parse(x.p, data, (int)len, XML_TRUE);
    if (x.why[0])
        rc = err_set(e, PP_EPARSE, "update.xml: %s", x.why);
    else if (st != XML_STATUS_OK)
        rc = err_set(e, PP_EPARSE, "update.xml is not well-formed: %s at line %lu",
                     XML_ErrorString(XML_GetErrorCode(x.p)),
                     (unsigned long)XML_GetCurrentLineNumber(x.p));
    else
        rc = check_fields(&x, e);
    XML_ParserFree(x.p);
    if (rc == 0) {
        for (char *c = m->uuid; *c; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a');
        m->guidance = cat_guidance_from_list(m->guidance_text);
    } else {
        memset(m, 0, sizeof *m);
    }
    return rc;
}
