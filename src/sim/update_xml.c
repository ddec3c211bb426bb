/* SPDX-License-Identifier: MIT */
/*
 * update_xml.c - the simulated update image: an update.xml document at the start of the
 * uploaded VDI (up to the first NUL byte, at most 64 KiB), parsed with expat.  Real xapi reads a
 * signed update.xml from an ISO; see docs/simulator.md for the difference.  Untrusted input:
 * bounded size and depth, no entities, clear reasons on failure.
 */
#include <expat.h>
#include <string.h>

#include "base/err.h"
#include "base/str.h"
#include "sim/internal.h"

#define UPDATE_XML_MAX   (64 * 1024)
#define UPDATE_XML_DEPTH 16

struct px {
    struct update_meta *m;
    XML_Parser p;
    int depth;
    bool seen_update;
    char why[200];
};

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct px *x = ud;
    if (++x->depth > UPDATE_XML_DEPTH) {
        str_lcpy(x->why, "update.xml nests too deeply", sizeof(x->why));
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    if (x->depth != 1)
        return;
    if (strcmp(name, "update") != 0) {
        snprintf(x->why, sizeof(x->why), "the root element is <%s>, expected <update>", name);
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    x->seen_update = true;
    struct update_meta *m = x->m;
    for (size_t i = 0; atts[i] && atts[i + 1]; i += 2) {
        const char *k = atts[i], *v = atts[i + 1];
        if (!strcmp(k, "uuid")) {
            str_lcpy(m->uuid, v, sizeof(m->uuid));
        } else if (!strcmp(k, "name-label")) {
            str_lcpy(m->name_label, v, sizeof(m->name_label));
        } else if (!strcmp(k, "name-description")) {
            str_lcpy(m->name_description, v, sizeof(m->name_description));
        } else if (!strcmp(k, "version")) {
            str_lcpy(m->version, v, sizeof(m->version));
        } else if (!strcmp(k, "installation-size")) {
            if (str_to_int64(v, &m->installation_size) != 0 || m->installation_size < 0) {
                snprintf(x->why, sizeof(x->why), "installation-size \"%.40s\" is not a size", v);
                XML_StopParser(x->p, XML_FALSE);
                return;
            }
        } else if (!strcmp(k, "after-apply-guidance")) {
            str_lcpy(m->guidance, v, sizeof(m->guidance));
        } else if (!strcmp(k, "livepatch")) {
            m->livepatch = !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1");
        } else if (!strcmp(k, "product-version")) {
            str_lcpy(m->product_version, v, sizeof(m->product_version));
        } else if (!strcmp(k, "platform-version")) {
            str_lcpy(m->platform_version, v, sizeof(m->platform_version));
        } else if (!strcmp(k, "build-number")) {
            str_lcpy(m->build_number, v, sizeof(m->build_number));
        }
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct px *x = ud;
    (void)name;
    x->depth--;
}

static int XMLCALL on_unknown_encoding(void *ud, const XML_Char *name, XML_Encoding *info)
{
    (void)ud;
    (void)name;
    (void)info;
    return XML_STATUS_ERROR;
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_length, const XML_Char *base,
                                   const XML_Char *system_id, const XML_Char *public_id,
                                   const XML_Char *notation)
{
    struct px *x = ud;
    (void)name, (void)is_param, (void)value, (void)value_length, (void)base, (void)system_id;
    (void)public_id, (void)notation;
    str_lcpy(x->why, "entity declarations are not allowed", sizeof(x->why));
    XML_StopParser(x->p, XML_FALSE);
}

/* See internal.h. */
int sim_update_xml_parse(const unsigned char *data, size_t len, struct update_meta *m,
                         struct err *e)
{
    memset(m, 0, sizeof(*m));
    if (!data || len == 0)
        return err_set(e, PP_EPARSE, "the update image is empty");
    const unsigned char *nul = memchr(data, 0, len);
    if (nul)
        len = (size_t)(nul - data);
    if (len > UPDATE_XML_MAX)
        return err_set(e, PP_EPARSE, "no update.xml in the first %d bytes", UPDATE_XML_MAX);
    struct px x;
    memset(&x, 0, sizeof(x));
    x.m = m;
    x.p = XML_ParserCreate("UTF-8");
    if (!x.p)
        return err_set(e, PP_ENOMEM, "out of memory");
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetUnknownEncodingHandler(x.p, on_unknown_encoding, NULL);
    XML_SetEntityDeclHandler(x.p, on_entity_decl);
    enum XML_Status st = XML_Parse(x.p, (const char *)data, (int)len, XML_TRUE);
    int rc = 0;
    if (x.why[0]) {
        rc = err_set(e, PP_EPARSE, "%s", x.why);
    } else if (st != XML_STATUS_OK) {
        rc = err_set(e, PP_EPARSE, "update.xml is not well-formed: %s at line %lu",
                     XML_ErrorString(XML_GetErrorCode(x.p)),
                     (unsigned long)XML_GetCurrentLineNumber(x.p));
    } else if (!x.seen_update) {
        rc = err_set(e, PP_EPARSE, "no <update> element");
    } else if (!uuid_is_valid(m->uuid)) {
        rc = err_set(e, PP_EPARSE, "the update has no valid uuid attribute");
    } else if (!m->name_label[0]) {
        rc = err_set(e, PP_EPARSE, "the update has no name-label attribute");
    }
    XML_ParserFree(x.p);
    return rc;
}
