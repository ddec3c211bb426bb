/* SPDX-License-Identifier: MIT */
/*
 * catalog.h - one normalized model of what updates exist, fed by both product lines:
 *   - the legacy vendor catalog updates.xml (Citrix Hypervisor 8.2 CU1 and older; XCP-ng style
 *     catalogs in the same format), see shared/reference/xencenter.md section 1;
 *   - XenServer 8's `GET /updates` JSON from a pool's coordinator (xapi.md section 2).
 *
 * The module is pure: it parses bytes handed to it and answers questions about the model; it
 * never does I/O.  A struct catalog owns every string and array reachable from it; free it with
 * catalog_free.  Parsed catalogs are immutable and may be read from several threads.
 */
#ifndef PP_CATALOG_CATALOG_H
#define PP_CATALOG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/* after-apply guidance, as a bit set.  Legacy names restartHVM / restartPV / restartHost /
 * restartXAPI; XenServer 8 names RestartVM / RestartDeviceModel / RebootHost / RestartToolstack /
 * EvacuateHost map onto the same bits. */
enum cat_guidance {
    CAT_G_NONE = 0,
    CAT_G_RESTART_HVM = 1u << 0,
    CAT_G_RESTART_PV = 1u << 1,
    CAT_G_RESTART_HOST = 1u << 2,   /* restartHost / RebootHost */
    CAT_G_RESTART_XAPI = 1u << 3,   /* restartXAPI / RestartToolstack */
    CAT_G_RESTART_DM = 1u << 4,     /* RestartDeviceModel */
    CAT_G_EVACUATE_HOST = 1u << 5,  /* EvacuateHost (a precondition, XenServer 8) */
    CAT_G_RESTART_VM = 1u << 6,     /* RestartVM (XenServer 8) */
    CAT_G_UNKNOWN = 1u << 15        /* a value we do not recognise: treated as needing a reboot */
};

enum cat_kind {
    CAT_KIND_HOTFIX = 0,     /* a fix for one version */
    CAT_KIND_CU,             /* cumulative update: some version's patch-uuid is this patch */
    CAT_KIND_NEW_RELEASE     /* a current release reachable as an update (present-as-update) */
};

/* Who may download a hotfix (server version attribute hotfix-eligibility). */
enum cat_eligibility {
    CAT_ELIG_ALL = 0,  /* every customer */
    CAT_ELIG_PREMIUM,  /* customers with a support contract (CSS) */
    CAT_ELIG_CU,       /* only the cumulative update is offered */
    CAT_ELIG_NONE      /* out of support */
};

enum cat_source { CAT_SOURCE_XML = 0, CAT_SOURCE_CDN = 1 };

/* One update: a legacy <patch> or a XenServer 8 repository update. */
struct cat_patch {
    char *uuid;             /* legacy uuid (lower-case) or XS8 update id */
    char *name_label;       /* name-label / title */
    char *name_description; /* name-description / summary */
    char *version;          /* legacy: required; XS8: "" */
    char *url;              /* web page (KB article) */
    char *patch_url;        /* download (zip) URL, "" when none */
    int64_t timestamp_ms;   /* release date, ms since the epoch; 0 when unknown */
    unsigned guidance;      /* enum cat_guidance bits */
    bool guidance_mandatory;
    int priority;           /* 0 = unknown, 1..5; default 2 */
    int64_t installation_size; /* bytes in dom0 */
    int64_t download_size;     /* bytes of the download */
    bool contains_livepatch;
    char **required;        /* uuids of required patches */
    size_t n_required;
    char **conflicting;     /* uuids of conflicting patches */
    size_t n_conflicting;
    enum cat_kind kind;     /* set by the parser once versions are known */
    enum cat_source source;
    /* XenServer 8 only ("" otherwise) */
    char *type;             /* SecurityFix, Bugfix, Improvement, NewFeature, ... */
    char *severity;         /* High / None */
    unsigned livepatch_guidance; /* guidance if the live patch applies */
};

/* One server version (legacy <serverversions><version>). */
struct cat_version {
    char *value;            /* "8.2.1" (non-numeric parts dropped) */
    char *name;             /* "Citrix Hypervisor 8.2 CU1" */
    char *build_number;     /* "" when absent: hosts then match on product_version */
    bool latest;
    bool latestcr;
    char *url;
    int64_t timestamp_ms;
    char *patch_uuid;       /* patch that installs this version ("" when none) */
    bool present_as_update;
    char *minimum_xc_version;
    enum cat_eligibility eligibility;
    int64_t eligibility_premium_date_ms; /* 0 when absent */
    int64_t eligibility_none_date_ms;
    int64_t eol_date_ms;
    char **patches;         /* every hotfix for this version, catalog order */
    size_t n_patches;
    char **minimal;         /* minimalpatches, catalog order */
    size_t n_minimal;
    bool has_minimal;       /* false: automated updates unsupported for this version */
};

/* XenServer 8 per-host view from /updates. */
struct cat_cdn_host {
    char *ref;              /* host OpaqueRef */
    char **updates;         /* ids of updates this host needs */
    size_t n_updates;
    unsigned recommended_guidance;
    unsigned absolute_guidance;
    unsigned livepatch_guidance;
    size_t n_livepatches;
};

struct catalog {
    struct cat_patch *patches;
    size_t n_patches;
    struct cat_version *versions;
    size_t n_versions;
    enum cat_source source;
    /* XenServer 8 only */
    char *cdn_hash;         /* passed back to host.apply_updates */
    struct cat_cdn_host *cdn_hosts;
    size_t n_cdn_hosts;
};

/* Parse limits for untrusted catalogs. */
struct cat_limits {
    size_t max_bytes;       /* whole document (default 64 MiB) */
    int max_depth;          /* element nesting (default 32) */
    size_t max_patches;     /* default 100000 */
    size_t max_versions;    /* default 10000 */
    size_t max_attr_bytes;  /* one attribute value (default 64 KiB) */
};
void cat_limits_default(struct cat_limits *l);

/*
 * Parse updates.xml.  Returns 0 and a new catalog in *out, or PP_EPARSE / PP_ELIMIT with the
 * line and column of the problem in e.  Unknown elements and attributes are ignored.  lim may be
 * NULL for the defaults.
 */
int catalog_parse_xml(const char *data, size_t len, const struct cat_limits *lim,
                      struct catalog **out, struct err *e);
/* Parse XenServer 8 /updates JSON into the same model (source CAT_SOURCE_CDN). */
int catalog_parse_cdn_json(const char *data, size_t len, const struct cat_limits *lim,
                           struct catalog **out, struct err *e);
/* Release; NULL is a no-op. */
void catalog_free(struct catalog *c);

/* Lookups (borrowed pointers, NULL when absent).  Patch uuids match case-insensitively. */
const struct cat_patch *catalog_find_patch(const struct catalog *c, const char *uuid);
/* The version a host runs: by build number when the catalog version has one, else by
 * product_version.  NULL when unmatched. */
const struct cat_version *catalog_match_version(const struct catalog *c,
                                                const char *product_version,
                                                const char *build_number);
/* The version whose patch_uuid is uuid (the version a CU produces), or NULL. */
const struct cat_version *catalog_version_installed_by(const struct catalog *c, const char *uuid);

/* Guidance name -> bit (legacy and XS8 names); CAT_G_UNKNOWN when unrecognised. */
unsigned cat_guidance_from_name(const char *name);
/* Append-free rendering of one bit ("restartHost", ...). */
const char *cat_guidance_name(unsigned bit);

#endif
