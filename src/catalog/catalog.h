/* SPDX-License-Identifier: MIT */
/*
 * catalog.h - one normalized model of what updates exist, fed by both product lines:
 *   - the legacy vendor catalog updates.xml (Citrix Hypervisor 8.2 CU1 and older; XCP-ng style
 *     catalogs in the same format), see docs/reference/xencenter.md section 1;
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
    CAT_G_RESTART_HOST = 1u << 2,  /* restartHost / RebootHost */
    CAT_G_RESTART_XAPI = 1u << 3,  /* restartXAPI / RestartToolstack */
    CAT_G_RESTART_DM = 1u << 4,    /* RestartDeviceModel */
    CAT_G_EVACUATE_HOST = 1u << 5, /* EvacuateHost (a precondition, XenServer 8) */
    CAT_G_RESTART_VM = 1u << 6,    /* RestartVM (XenServer 8) */
    CAT_G_UNKNOWN = 1u << 15       /* a value we do not recognise: treated as needing a reboot */
};

/* Both CAT_KIND_CU and CAT_KIND_NEW_RELEASE install another server version (the one whose
 * patch-uuid names them: catalog_version_installed_by finds it).  A patch named by a version with
 * present-as-update is CAT_KIND_NEW_RELEASE, by any other version CAT_KIND_CU. */
enum cat_kind {
    CAT_KIND_HOTFIX = 0, /* a fix for one version */
    CAT_KIND_CU,         /* cumulative update: some version's patch-uuid is this patch */
    CAT_KIND_NEW_RELEASE /* a current release reachable as an update (present-as-update) */
};

/* Who may download a hotfix (server version attribute hotfix-eligibility). */
enum cat_eligibility {
    CAT_ELIG_ALL = 0, /* every customer */
    CAT_ELIG_PREMIUM, /* customers with a support contract (CSS) */
    CAT_ELIG_CU,      /* only the cumulative update is offered */
    CAT_ELIG_NONE     /* out of support */
};

enum cat_source { CAT_SOURCE_XML = 0, CAT_SOURCE_CDN = 1 };

/* One live patch of a XenServer 8 update or host (/updates "livepatches" entries). */
struct cat_livepatch {
    char *component; /* "kernel" or "xen" */
    char *base_buildid;
    char *base; /* "V-R" the live patch applies to */
    char *to;   /* "V-R" it brings the component to */
};

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
    int priority;              /* 0 = unknown, 1..5; default 2 */
    int64_t installation_size; /* bytes in dom0 */
    int64_t download_size;     /* bytes of the download */
    bool contains_livepatch;
    char **required; /* uuids of required patches */
    size_t n_required;
    char **conflicting; /* uuids of conflicting patches */
    size_t n_conflicting;
    enum cat_kind kind; /* set by the parser once versions are known */
    enum cat_source source;
    /* XenServer 8 only ("" otherwise) */
    char *type;                  /* SecurityFix, Bugfix, Improvement, NewFeature, ... */
    char *severity;              /* High / None */
    unsigned livepatch_guidance; /* guidance if the live patch applies */
    /* Added by catalog (all sources; "" / 0 / NULL when absent) */
    char *description;          /* XS8 long description ("" for legacy: see name_description) */
    char *special_info;         /* XS8 special-info */
    unsigned absolute_guidance; /* XS8 absolute-guidance (legacy: 0) */
    struct cat_livepatch *livepatches; /* XS8 per-update live patches */
    size_t n_livepatches;
    bool has_required;    /* a <requiredpatches> element was present (XenCenter keeps null) */
    bool has_conflicting; /* a <conflictingpatches> element was present */
    enum cat_eligibility
        eligibility; /* the most permissive hotfix-eligibility of the versions
                      * listing it (CAT_ELIG_ALL when none lists it, and for XS8) */
    int line;        /* line of its <patch> element in updates.xml (0 for XS8) */
};

/* One server version (legacy <serverversions><version>). */
struct cat_version {
    char *value;        /* "8.2.1" (non-numeric parts dropped) */
    char *name;         /* "Citrix Hypervisor 8.2 CU1" */
    char *build_number; /* "" when absent: hosts then match on product_version */
    bool latest;
    bool latestcr;
    char *url;
    int64_t timestamp_ms;
    char *patch_uuid; /* patch that installs this version ("" when none) */
    bool present_as_update;
    char *minimum_xc_version;
    enum cat_eligibility eligibility;
    int64_t eligibility_premium_date_ms; /* 0 when absent */
    int64_t eligibility_none_date_ms;
    int64_t eol_date_ms;
    char **patches; /* every hotfix for this version, catalog order */
    size_t n_patches;
    char **minimal; /* minimalpatches, catalog order */
    size_t n_minimal;
    bool has_minimal; /* false: automated updates unsupported for this version */
    /* Added by catalog */
    int line; /* line of its <version> element */
};

/* XenServer 8 per-host view from /updates. */
struct cat_cdn_host {
    char *ref;      /* host OpaqueRef */
    char **updates; /* ids of updates this host needs */
    size_t n_updates;
    unsigned recommended_guidance;
    unsigned absolute_guidance;
    unsigned livepatch_guidance;
    size_t n_livepatches;
    /* Added by catalog */
    struct cat_livepatch *livepatches; /* n_livepatches entries */
    char **rpms;                       /* RPMS this host would install */
    size_t n_rpms;
    unsigned mandatory_guidance; /* object form "mandatory" (XS8 guidance object), else 0 */
    unsigned full_guidance;      /* object form "full", else 0 */
};

struct catalog {
    struct cat_patch *patches;
    size_t n_patches;
    struct cat_version *versions;
    size_t n_versions;
    enum cat_source source;
    /* XenServer 8 only */
    char *cdn_hash; /* passed back to host.apply_updates */
    struct cat_cdn_host *cdn_hosts;
    size_t n_cdn_hosts;
    /* internal: patch indices sorted by uuid (case-insensitive), for catalog_find_patch; NULL
     * in hand-built catalogs (lookups then scan) */
    size_t *patch_index;
};

/* Parse limits for untrusted catalogs. */
struct cat_limits {
    size_t max_bytes;      /* whole document (default 64 MiB) */
    int max_depth;         /* element nesting (default 32) */
    size_t max_patches;    /* default 100000 */
    size_t max_versions;   /* default 10000 */
    size_t max_attr_bytes; /* one attribute value (default 64 KiB) */
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

/* Index of a patch in c->patches (case-insensitive uuid), or -1. */
long catalog_patch_index(const struct catalog *c, const char *uuid);
/* The hotfix eligibility of version v at time now_ms: the declared value, tightened to
 * CAT_ELIG_PREMIUM once hotfix-eligibility-premium-date has passed and to CAT_ELIG_NONE once
 * hotfix-eligibility-none-date has passed (a date of 0 never passes). */
enum cat_eligibility cat_version_eligibility_at(const struct cat_version *v, int64_t now_ms);
/* "all" / "premium" / "cu" / "none". */
const char *cat_eligibility_name(enum cat_eligibility e);
/* "hotfix" / "cu" / "new-release". */
const char *cat_kind_name(enum cat_kind k);
/*
 * Compare two dotted version strings numerically the way .NET's System.Version does (missing
 * components sort before 0: "8.2" < "8.2.0"; non-numeric components are dropped).  Returns <0,
 * 0 or >0.  NULL or "" sort first.
 */
int cat_version_cmp(const char *a, const char *b);
/* Parse a loose catalog date ("2016-12-21T00:00:00Z", "2016-12-21", "2016-12-21 10:00:00",
 * xapi's "20161221T00:00:00Z", with an optional +hh:mm offset) into ms since the epoch (UTC when
 * no zone is given).  Returns 0 or PP_EPARSE. */
int cat_parse_date(const char *s, int64_t *t_ms);
/* Guidance bits from a name list ("restartHost", "RebootHost", several separated by commas or
 * spaces); "" gives CAT_G_NONE. */
unsigned cat_guidance_from_list(const char *names);

/* Guidance name -> bit (legacy and XS8 names); CAT_G_UNKNOWN when unrecognised. */
unsigned cat_guidance_from_name(const char *name);
/* Append-free rendering of one bit ("restartHost", ...). */
const char *cat_guidance_name(unsigned bit);

/* ---- an update image's own metadata (update_xml.c) ---- */
#define CAT_UPDATE_XML_MAX (64 * 1024) /* bytes of update.xml read at most */
/* What an update's update.xml says about it (xapi's pool_update record fields). */
struct cat_update_meta {
    char uuid[40]; /* lower-case */
    char name_label[256];
    char name_description[1024];
    char version[64];
    char key[256];             /* the signing key's file name ("" when unsigned) */
    char guidance_text[256];   /* after-apply-guidance as written */
    unsigned guidance;         /* the same as cat_guidance bits */
    int64_t installation_size; /* bytes in dom0; 0 when absent */
    bool enforce_homogeneity;
    bool livepatch; /* the simulator's images: carries a live patch */
};
/*
 * Parse update.xml (data, len bytes; untrusted) as xapi's pool_update.introduce reads it: the
 * <update> root with uuid (a UUID), name-label and version required.  Returns 0 with *m filled,
 * PP_EPARSE naming what is wrong (also a field over its length), or PP_ELIMIT (the document is
 * over CAT_UPDATE_XML_MAX).
 * Pure; any thread.
 */
int catalog_update_xml_parse(const char *data, size_t len, struct cat_update_meta *m,
                             struct err *e);

#endif
