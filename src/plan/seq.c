/* SPDX-License-Identifier: MIT */
/*
 * seq.c - what each host needs: the minimal update set of its version (a trailing cumulative
 * update chains the minimal set of the version it produces), "stay on the current release"
 * (hotfixes only), or the user's selection; then the order in which to apply them.
 *
 * Ordering follows XenCenter's GetPatchSequenceForHost (docs/reference/xencenter.md section 2,
 * "Ordering"): a greedy pass in list order that takes the first update whose requirements are
 * applied or already sequenced, and restarts.  Unlike XenCenter, conflicts are honoured and
 * whatever cannot be sequenced is reported with a reason instead of silently dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "plan/plan_int.h"

/* ------------------------------------------------------------------ index */

/* ASCII letter case folded: what tolower() does in the C locale (the daemon never sets
 * another), without its call per character. */
static inline unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* A hash of s that keys equal but for ASCII letter case share: each byte with its 0x20 bit set
 * (a letter's lower case; other bytes may share a hash, which equality then tells apart), eight
 * bytes a multiply instead of one (the fleet plan looks up refs of ~46 characters thousands of
 * times a pool: a byte-at-a-time hash was 8-15 % of it).  Only the index's layout depends on it,
 * never what a plan says. */
static uint64_t hash_nocase(const char *s)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull, lower = 0x2020202020202020ull;
    size_t n = strlen(s);
    uint64_t h = 1469598103934665603ull ^ n, w;

    for (; n >= 8; n -= 8, s += 8) {
        memcpy(&w, s, 8);
        h = (h ^ (w | lower)) * k;
        h ^= h >> 32;
    }
    w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)((unsigned char)s[i] | 0x20) << (8 * i);
    h = (h ^ w) * k;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

/* strcasecmp(a, b) == 0 in the C locale: equal bytes first (the refs looked up mostly match
 * exactly), else byte by byte with the letters folded. */
static bool eq_nocase(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    for (; *a && fold((unsigned char)*a) == fold((unsigned char)*b); a++, b++)
        ;
    return fold((unsigned char)*a) == fold((unsigned char)*b);
}

/* Prepare an empty map sized for `expected` keys. */
void pidx_init(struct pidx *m, size_t expected)
{
    memset(m, 0, sizeof(*m));
    size_t cap = 16;
    while (cap < expected * 2 + 1)
        cap *= 2;
    m->cap = cap;
    m->keys = xcalloc(cap, sizeof(*m->keys));
    m->vals = xcalloc(cap, sizeof(*m->vals));
}

/* Release the map's storage (the keys are borrowed). */
void pidx_cleanup(struct pidx *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static void pidx_grow(struct pidx *m)
{
    struct pidx n;
    pidx_init(&n, m->cap);
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            pidx_put(&n, m->keys[i], m->vals[i]);
    pidx_cleanup(m);
    *m = n;
}

/* Insert key -> val; an existing key keeps its first value.  NULL / "" keys are ignored. */
void pidx_put(struct pidx *m, const char *key, size_t val)
{
    if (!key || !key[0])
        return;
    if ((m->n + 1) * 2 > m->cap)
        pidx_grow(m);
    size_t i = (size_t)hash_nocase(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (eq_nocase(m->keys[i], key))
            return;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
}

/* Find key (ASCII case-insensitive). */
bool pidx_get(const struct pidx *m, const char *key, size_t *val)
{
    if (!key || !key[0] || m->cap == 0)
        return false;
    size_t i = (size_t)hash_nocase(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (eq_nocase(m->keys[i], key)) {
            if (val)
                *val = m->vals[i];
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

/* Index cat's patches by uuid and its versions by the patch that installs them. */
void catidx_init(struct catidx *x, const struct catalog *cat)
{
    x->cat = cat;
    pidx_init(&x->patches, cat ? cat->n_patches : 0);
    pidx_init(&x->installers, cat ? cat->n_versions : 0);
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n_patches; i++)
        pidx_put(&x->patches, cat->patches[i].uuid, i);
    for (size_t i = 0; i < cat->n_versions; i++)
        pidx_put(&x->installers, cat->versions[i].patch_uuid, i);
}

/* Release the index. */
void catidx_cleanup(struct catidx *x)
{
    pidx_cleanup(&x->patches);
    pidx_cleanup(&x->installers);
}

/* Patch by uuid (borrowed) or NULL. */
const struct cat_patch *catidx_patch(const struct catidx *x, const char *uuid)
{
    size_t i;
    return pidx_get(&x->patches, uuid, &i) ? &x->cat->patches[i] : NULL;
}

/* The version installed by patch uuid (a CU), or NULL. */
const struct cat_version *catidx_installs(const struct catidx *x, const char *uuid)
{
    size_t i;
    return pidx_get(&x->installers, uuid, &i) ? &x->cat->versions[i] : NULL;
}

/* Match a host's version as XenCenter does (xencenter.md section 1, build-number). */
const struct cat_version *catidx_match(const struct catidx *x, const char *product_version,
                                       const char *build_number)
{
    if (!x->cat)
        return NULL;
    for (size_t i = 0; i < x->cat->n_versions; i++) {
        const struct cat_version *v = &x->cat->versions[i];
        if (v->build_number && v->build_number[0]) {
            if (build_number && strcmp(v->build_number, build_number) == 0)
                return v;
        } else if (product_version && v->value && strcmp(v->value, product_version) == 0) {
            return v;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ sequence */

static void add_skip_sev(struct plan_seq *s, size_t *cap, const char *uuid, char *reason,
                         enum plan_severity sev)
{
    struct plan_skip k = {xstrdup(uuid), reason, sev};
    PV_PUSH(s->skipped, s->n_skipped, *cap, k);
}

static void add_skip(struct plan_seq *s, size_t *cap, const char *uuid, char *reason)
{
    struct plan_skip k = {xstrdup(uuid), reason, PLAN_SEV_WARNING};
    PV_PUSH(s->skipped, s->n_skipped, *cap, k);
}

static bool is_cu(const struct catidx *x, const char *uuid)
{
    const struct cat_patch *p = catidx_patch(x, uuid);
    if (catidx_installs(x, uuid))
        return true;
    return p && (p->kind == CAT_KIND_CU || p->kind == CAT_KIND_NEW_RELEASE);
}

static bool in_strv(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_nocase(v[i], s))
            return true;
    return false;
}

static const char *patch_label(const struct catidx *x, const char *uuid)
{
    const struct cat_patch *p = catidx_patch(x, uuid);
    return p && p->name_label && p->name_label[0] ? p->name_label : uuid;
}

struct cand {
    const char **v;
    size_t n, cap;
    struct pidx seen;
};

static void cand_add(struct cand *c, const char *uuid)
{
    if (!uuid || !uuid[0] || pidx_get(&c->seen, uuid, NULL))
        return;
    pidx_put(&c->seen, uuid, c->n);
    PV_PUSH(c->v, c->n, c->cap, uuid);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Candidate list in the order the greedy pass scans it. */
static void candidates(const struct catidx *x, const struct cat_version *v, enum plan_mode mode,
                       const char *const *selected, size_t n_selected, struct cand *c,
                       struct plan_seq *s, size_t *skcap)
{
    if (mode == PLAN_MODE_SELECTED) {
        /* catalog order; unknown uuids and updates of other versions are reported */
        size_t *ix = xcalloc(n_selected + 1, sizeof(*ix));
        size_t n = 0;
        for (size_t i = 0; i < n_selected; i++) {
            size_t pi;
            if (!pidx_get(&x->patches, selected[i], &pi)) {
                add_skip(s, skcap, selected[i], xstrdup("not in the update catalog"));
                continue;
            }
            ix[n++] = pi;
        }
        qsort(ix, n, sizeof(*ix), cmp_size);
        for (size_t i = 0; i < n; i++) {
            const struct cat_patch *p = &x->cat->patches[ix[i]];
            if (i > 0 && ix[i] == ix[i - 1])
                continue;
            if (v && !in_strv(v->patches, v->n_patches, p->uuid) &&
                !in_strv(v->minimal, v->n_minimal, p->uuid)) {
                add_skip_sev(s, skcap, p->uuid,
                             xasprintf("%s is not an update for version %s",
                                       patch_label(x, p->uuid), v->value ? v->value : "?"),
                             PLAN_SEV_INFO);
                continue;
            }
            cand_add(c, p->uuid);
        }
        free(ix);
        return;
    }
    if (mode == PLAN_MODE_STAY) {
        for (size_t i = 0; i < v->n_minimal; i++)
            if (!is_cu(x, v->minimal[i]))
                cand_add(c, v->minimal[i]);
        return;
    }
    /* automated: the minimal list, then the chained version's minimal list after a trailing CU
     * (the CU becomes the new baseline); repeated, with a guard against cycles */
    const struct cat_version *cur = v;
    for (size_t hops = 0; cur && hops <= x->cat->n_versions; hops++) {
        for (size_t i = 0; i < cur->n_minimal; i++)
            cand_add(c, cur->minimal[i]);
        if (cur->n_minimal == 0)
            break;
        const struct cat_version *next = catidx_installs(x, cur->minimal[cur->n_minimal - 1]);
        if (!next || next == cur || !next->has_minimal)
            break;
        cur = next;
    }
}

/* What p conflicts with among the applied updates and those sequenced before it (declared on
 * either side), or NULL; *where says which ("applied" / "planned before it"). */
static const char *conflict_with(const struct catidx *x, const struct cat_patch *p,
                                 const struct inv_host *h, const struct plan_seq *s,
                                 const struct pidx *applied, const struct pidx *applied_conflicts,
                                 const struct pidx *inseq, const char **where)
{
    size_t ai;
    for (size_t k = 0; k < p->n_conflicting; k++) {
        *where = pidx_get(applied, p->conflicting[k], NULL) ? "applied"
                 : pidx_get(inseq, p->conflicting[k], NULL) ? "planned before it"
                                                            : NULL;
        if (*where)
            return p->conflicting[k];
    }
    *where = "applied";
    if (pidx_get(applied_conflicts, p->uuid, &ai))
        return h->updates[ai];
    *where = "planned before it";
    for (size_t k = 0; k < s->n; k++) {
        const struct cat_patch *q = catidx_patch(x, s->uuids[k]);
        if (q && in_strv(q->conflicting, q->n_conflicting, p->uuid))
            return q->uuid;
    }
    *where = "";
    return NULL;
}

/* Why p, left unsequenced, can never be installed (a new string). */
static char *unsequenced_reason(const struct catidx *x, const struct cat_patch *p,
                                enum plan_mode mode, const struct pidx *seen,
                                const struct pidx *applied, const struct pidx *inseq)
{
    for (size_t r = 0; r < p->n_required; r++) {
        const char *q = p->required[r];
        if (pidx_get(applied, q, NULL) || pidx_get(inseq, q, NULL))
            continue;
        if (!catidx_patch(x, q))
            return xasprintf("%s requires %s, which is not in the update catalog",
                             patch_label(x, p->uuid), q);
        if (!pidx_get(seen, q, NULL))
            return xasprintf("%s requires %s, which is neither applied nor %s",
                             patch_label(x, p->uuid), patch_label(x, q),
                             mode == PLAN_MODE_SELECTED ? "selected" : "in the update set");
        return xasprintf("%s requires %s, which cannot be installed", patch_label(x, p->uuid),
                         patch_label(x, q));
    }
    return xasprintf("%s cannot be ordered after its requirements", patch_label(x, p->uuid));
}

/* Sequence one host with a prepared catalog index (see plan_host_sequence). */
int plan_seq_build(const struct catidx *x, const struct inv_host *h, enum plan_mode mode,
                   const char *const *selected, size_t n_selected, struct plan_seq *s)
{
    memset(s, 0, sizeof(*s));
    size_t skcap = 0, seqcap = 0;
    const struct cat_version *v = catidx_match(x, h->product_version, h->build_number);
    s->version = xstrdup(v && v->value ? v->value : "");
    if (mode != PLAN_MODE_SELECTED && (!v || !v->has_minimal)) {
        s->supported = false; /* XenCenter: automated updates unsupported (null sequence) */
        return 0;
    }
    s->supported = true;

    struct cand c = {0};
    pidx_init(&c.seen, 64);
    candidates(x, v, mode, selected, n_selected, &c, s, &skcap);

    /* the applied set, and what applied updates declare as conflicting with them */
    struct pidx applied, applied_conflicts, inseq;
    pidx_init(&applied, h->n_updates);
    pidx_init(&applied_conflicts, 16);
    pidx_init(&inseq, c.n);
    for (size_t i = 0; i < h->n_updates; i++) {
        pidx_put(&applied, h->updates[i], i);
        const struct cat_patch *ap = catidx_patch(x, h->updates[i]);
        for (size_t j = 0; ap && j < ap->n_conflicting; j++)
            pidx_put(&applied_conflicts, ap->conflicting[j], i);
    }

    enum { PENDING, DONE, GONE } *st = xcalloc(c.n + 1, sizeof(*st));
    for (size_t i = 0; i < c.n; i++) {
        if (pidx_get(&applied, c.v[i], NULL))
            st[i] = GONE; /* already applied: not in the sequence, not an error */
        else if (!catidx_patch(x, c.v[i])) {
            st[i] = GONE;
            add_skip(s, &skcap, c.v[i], xstrdup("not in the update catalog"));
        }
    }

    for (;;) {
        bool took = false;
        for (size_t i = 0; i < c.n && !took; i++) {
            if (st[i] != PENDING)
                continue;
            const struct cat_patch *p = catidx_patch(x, c.v[i]);
            bool ready = true;
            for (size_t r = 0; r < p->n_required && ready; r++)
                if (!pidx_get(&applied, p->required[r], NULL) &&
                    !pidx_get(&inseq, p->required[r], NULL))
                    ready = false;
            if (!ready)
                continue;
            const char *where = "";
            const char *with =
                conflict_with(x, p, h, s, &applied, &applied_conflicts, &inseq, &where);
            if (with) {
                st[i] = GONE;
                add_skip(s, &skcap, p->uuid,
                         xasprintf("%s conflicts with %s, which is %s", patch_label(x, p->uuid),
                                   patch_label(x, with), where));
                continue;
            }
            st[i] = DONE;
            pidx_put(&inseq, p->uuid, s->n);
            PV_PUSH(s->uuids, s->n, seqcap, xstrdup(p->uuid));
            took = true;
        }
        if (!took)
            break;
    }

    /* whatever is left can never be installed: say why */
    for (size_t i = 0; i < c.n; i++) {
        if (st[i] != PENDING)
            continue;
        const struct cat_patch *p = catidx_patch(x, c.v[i]);
        add_skip(s, &skcap, p->uuid, unsequenced_reason(x, p, mode, &c.seen, &applied, &inseq));
    }

    free(st);
    pidx_cleanup(&applied);
    pidx_cleanup(&applied_conflicts);
    pidx_cleanup(&inseq);
    pidx_cleanup(&c.seen);
    free(c.v);
    return 0;
}

/* Public wrapper: builds a catalog index for one call.  Errors: PP_EINVAL on NULL input. */
int plan_host_sequence(const struct catalog *cat, const struct inv_host *h, enum plan_mode mode,
                       const char *const *selected, size_t n_selected, struct plan_seq *s,
                       struct err *e)
{
    if (!cat || !h || !s)
        return err_set(e, PP_EINVAL, "plan_host_sequence: catalog, host and output are required");
    struct catidx x;
    catidx_init(&x, cat);
    int rc = plan_seq_build(&x, h, mode, selected, n_selected, s);
    catidx_cleanup(&x);
    return rc;
}

/* Release what a sequence owns; s is zeroed. */
void plan_seq_cleanup(struct plan_seq *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->uuids[i]);
    free(s->uuids);
    for (size_t i = 0; i < s->n_skipped; i++) {
        free(s->skipped[i].uuid);
        free(s->skipped[i].reason);
    }
    free(s->skipped);
    free(s->version);
    memset(s, 0, sizeof(*s));
}
