/* SPDX-License-Identifier: MIT */
/*
 * engine_hosts.c - single-host selection (issue 16: "pools and individual hosts" in the Install
 * Update wizard, XenCenter's Select Servers): the hosts a plan request names (name-label, uuid
 * or OpaqueRef) resolved to the refs of one pool's inventory, which the planner takes as
 * plan_opts.hosts (only those hosts are updated; the executor journals the list with the rest
 * of the options, so a resumed or re-planned rollout keeps it).
 */
#include "engine/engine_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "plan/inventory.h"

#include <string.h>

/* Does host h answer to name (its name-label, uuid or ref)? */
static bool host_named(const struct inv_host *h, const char *name)
{
    return (h->name_label && str_eq(h->name_label, name)) || (h->uuid && str_eq(h->uuid, name)) ||
           (h->ref && str_eq(h->ref, name));
}

/*
 * The refs (copies; free with engine_hosts_free) of inv's hosts named in names[0..n), *n_out of
 * them; found[i] is set for every name matched here (the caller checks, over all pools, that each
 * name matched).  NULL with *n_out 0 when none of them is in this pool.  Engine thread.
 */
char **engine_hosts_pick(const struct inv_pool *inv, const char *const *names, size_t n,
                         bool *found, size_t *n_out)
{
    char **refs = NULL;
    size_t k = 0;

    *n_out = 0;
    for (size_t h = 0; inv && h < inv->n_hosts; h++) {
        bool want = false;
        for (size_t i = 0; i < n; i++) {
            if (host_named(&inv->hosts[h], names[i])) {
                want = true;
                found[i] = true;
            }
        }
        if (!want)
            continue;
        refs = vec_grow_implied(refs, k, sizeof(*refs));
        refs[k++] = xstrdup(inv->hosts[h].ref);
    }
    *n_out = k;
    return refs;
}

/* Free what engine_hosts_pick returned. */
void engine_hosts_free(char **refs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(refs[i]);
    free(refs);
}

/* PP_EINVAL naming the first host that matched no chosen pool, or 0.  Pure. */
int engine_hosts_check(const char *const *names, size_t n, const bool *found, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        if (!found[i])
            return err_set(e, PP_EINVAL,
                           "hosts: '%s' is not a host of the chosen pools (give a host's "
                           "name-label, uuid or ref; 'poolpatch updates --by-server' lists them)",
                           names[i]);
    }
    return 0;
}
