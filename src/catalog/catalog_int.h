/* SPDX-License-Identifier: MIT */
/*
 * catalog_int.h - helpers shared by the catalog's two parsers (catalog_xml.c, catalog_cdn.c) and
 * the model code (catalog.c).  Not part of the module's interface.
 */
#ifndef PP_CATALOG_CATALOG_INT_H
#define PP_CATALOG_CATALOG_INT_H

#include <stddef.h>

#include "catalog/catalog.h"

/* A growable array of heap strings. */
struct cat_strv {
    char **v;
    size_t n;
    size_t cap;
};

/* Append a copy of s. */
void cat_strv_push(struct cat_strv *sv, const char *s);
/* Free every string and the array. */
void cat_strv_free(char **v, size_t n);

/* Release the strings owned by one patch / version / host (not the struct itself). */
void cat_patch_cleanup(struct cat_patch *p);
void cat_version_cleanup(struct cat_version *v);
void cat_cdn_host_cleanup(struct cat_cdn_host *h);
void cat_livepatches_free(struct cat_livepatch *lp, size_t n);

/* ASCII lower-case copy of s. */
char *cat_lower_dup(const char *s);

/*
 * After parsing: drop version references to unknown patches, classify patches (kind), set their
 * eligibility and build the uuid index.  Never fails.
 */
void cat_finalize(struct catalog *c);

#endif
