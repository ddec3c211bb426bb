/* SPDX-License-Identifier: MIT */
/* render.c - text for people from the daemon's JSON (see render.h). */
#include "cli/render.h"

#include "base/clock.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/uuid.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t utf8_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    }
    return n;
}

static const char *cell(const char *s)
{
    return s && *s ? s : "-";
}

void render_table(struct buf *out, size_t ncols, const char *const *headers,
                  const char *const *cells, size_t nrows)
{
    size_t *w = xcalloc(ncols, sizeof *w);

    for (size_t c = 0; c < ncols; c++)
        w[c] = utf8_width(headers[c]);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            size_t x = utf8_width(cell(cells[r * ncols + c]));
            if (x > w[c])
                w[c] = x;
        }
    }
    for (size_t r = 0; r <= nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = r == 0 ? headers[c] : cell(cells[(r - 1) * ncols + c]);
            buf_puts(out, s);
            if (c + 1 < ncols) {
                for (size_t k = utf8_width(s); k < w[c] + 2; k++)
                    buf_putc(out, ' ');
            }
        }
        buf_putc(out, '\n');
    }
    free(w);
}

void render_duration(struct buf *out, long long s)
{
    if (s < 0)
        buf_puts(out, "-");
    else if (s < 60)
        buf_printf(out, "%llds", s);
    else if (s < 3600)
        buf_printf(out, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        buf_printf(out, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    else
        buf_printf(out, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

void render_bar(struct buf *out, int percent, int width)
{
    if (percent < 0)
        percent = 0;
    if (percent > 100)
        percent = 100;
    int fill = percent * width / 100;
    buf_putc(out, '[');
    for (int i = 0; i < width; i++)
        buf_putc(out, i < fill ? '#' : '-');
    buf_putc(out, ']');
}

/* Cells are collected as heap strings in a growing array, freed after rendering. */
struct cells {
    char **v;
    size_t n, cap;
};

static void cells_add(struct cells *c, char *take)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
    }
    c->v[c->n++] = take;
}

static void cells_str(struct cells *c, const char *s)
{
    cells_add(c, s ? xstrdup(s) : NULL);
}

static void cells_free(struct cells *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
}

/* Join a member array of strings or objects (key field) with ", ". */
static char *join(const json_t *arr, const char *key)
{
    struct buf b;
    size_t i;
    json_t *x;

    buf_init(&b);
    if (json_is_string(arr)) /* already joined by the engine (XenCenter's By Server text) */
        return json_string_length(arr) ? xstrdup(json_string_value(arr)) : NULL;
    json_array_foreach(arr, i, x)
    {
        const char *s = json_is_string(x) ? json_string_value(x) : jsonx_str(x, key, NULL);
        if (!s)
            s = jsonx_str(x, "id", "?");
        if (b.len)
            buf_puts(&b, ", ");
        buf_puts(&b, s);
    }
    return b.len ? buf_take(&b) : NULL;
}

static char *date_part(const char *iso)
{
    if (!iso)
        return NULL;
    /* XAPI's compact form "20260101T00:00:00Z" */
    if (strlen(iso) >= 9 && iso[8] == 'T')
        return xasprintf("%.4s-%.2s-%.2s", iso, iso + 4, iso + 6);
    return xstrndup(iso, strlen(iso) >= 10 ? 10 : strlen(iso));
}

static void render_pools_raw(struct buf *out, const json_t *v)
{
    static const char *const h[] = {"NAME", "URL", "MASTER", "HOSTS", "VERSION", "STATUS"};
    const json_t *pools = json_object_get(v, "pools");
    struct cells c = {0};
    size_t i;
    json_t *p;

    if (!json_array_size(pools)) {
        buf_puts(out, "No pools registered; add one with 'poolpatch pool add NAME --url URL "
                      "--user USER'.\n");
        return;
    }
    json_array_foreach(pools, i, p)
    {
        const char *error = jsonx_str(p, "error", NULL);
        cells_str(&c, jsonx_str(p, "name", NULL));
        cells_str(&c, jsonx_str(p, "url", NULL));
        cells_str(&c, jsonx_str(p, "master", NULL));
        cells_add(&c, json_is_integer(json_object_get(p, "hosts"))
                          ? xasprintf("%lld", (long long)jsonx_int(p, "hosts", 0))
                          : NULL);
        cells_str(&c, jsonx_str(p, "version", NULL));
        if (error)
            cells_add(&c, xasprintf("error: %s", error));
        else
            cells_str(&c, jsonx_bool(p, "connected", false) ? "connected" : "disconnected");
    }
    render_table(out, 6, h, (const char *const *)c.v, json_array_size(pools));
    cells_free(&c);
    /* the pinned certificate of each pool, as XenCenter's "certificate" details show it */
    json_array_foreach(pools, i, p)
    {
        if (jsonx_str(p, "tls_fingerprint", NULL))
            buf_printf(out, "%s: TLS certificate SHA256:%s\n", jsonx_str(p, "name", ""),
                       jsonx_str(p, "tls_fingerprint", ""));
        const json_t *cert = json_object_get(p, "certificate");
        if (json_is_object(cert))
            buf_printf(out,
                       "%s: certificate unconfirmed: %s presents SHA256:%s; nothing is sent to "
                       "it until you confirm it (poolpatch pool trust %s)\n",
                       jsonx_str(p, "name", ""), jsonx_str(cert, "host", "?"),
                       jsonx_str(cert, "fingerprint", ""), jsonx_str(p, "name", ""));
        if (jsonx_bool(p, "live_patching_disabled", false))
            buf_printf(out,
                       "%s: live patching is off: updates that could be live-patched need "
                       "their reboot (poolpatch pool set %s --live-patching on)\n",
                       jsonx_str(p, "name", ""), jsonx_str(p, "name", ""));
    }
}

static void render_checking_raw(struct buf *out, const json_t *ck)
{
    if (!json_is_object(ck))
        return;
    if (jsonx_bool(ck, "automatic", false)) {
        buf_puts(out, "Automatic checking is on (every ");
        render_duration(out, jsonx_int(ck, "interval_s", -1));
        buf_puts(out, ")");
    } else {
        buf_puts(out, "Automatic checking is off; check now with 'poolpatch updates check'");
    }
    const char *last = jsonx_str(ck, "last_check", NULL);
    buf_printf(out, "; last check: %s", last ? last : "never");
    const char *le = jsonx_str(ck, "last_error", NULL);
    if (le)
        buf_printf(out, "; last error: %s", le);
    buf_puts(out, ".\n");
}

/* Pools the engine could not read: their updates are not in the view, say so. */
static void render_offline(struct buf *out, const json_t *v)
{
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(v, "offline_pools"), i, p)
    {
        buf_printf(out, "Pool %s is not connected (%s); its servers and updates are not shown.\n",
                   jsonx_str(p, "name", "?"), jsonx_str(p, "error", "no connection"));
    }
}

/* The views' guest_tools list: VMs whose guest tools must be upgraded (seed step 12). */
static void render_guest_tools(struct buf *out, const json_t *v)
{
    const json_t *t = json_object_get(v, "guest_tools");
    size_t i;
    json_t *x;

    if (json_array_size(t) == 0)
        return;
    buf_printf(out, "Guest tools to upgrade (%zu VM%s; older than their server's version):\n",
               json_array_size(t), json_array_size(t) == 1 ? "" : "s");
    json_array_foreach(t, i, x)
    {
        buf_printf(out, "  %s/%s: %s (tools %s, server %s)\n", jsonx_str(x, "pool", "?"),
                   jsonx_str(x, "server", "?"), jsonx_str(x, "vm", "?"), jsonx_str(x, "tools", "?"),
                   jsonx_str(x, "server_version", "?"));
    }
}

static void render_by_update_raw(struct buf *out, const json_t *v)
{
    static const char *const h[] = {"UPDATE", "KIND", "DATE", "AFTER APPLY", "APPLIES TO"};
    const json_t *ups = json_object_get(v, "updates");
    struct cells c = {0};
    size_t i, rows = 0;
    json_t *u;

    json_array_foreach(ups, i, u)
    {
        const json_t *servers = json_object_get(u, "servers");
        struct buf at;
        size_t k;
        json_t *s;

        buf_init(&at);
        json_array_foreach(servers, k, s)
        {
            if (at.len)
                buf_puts(&at, ", ");
            buf_printf(&at, "%s/%s", jsonx_str(s, "pool", "?"), jsonx_str(s, "server", "?"));
        }
        if (!at.len) {
            char *pools = join(json_object_get(u, "pools"), "name");
            if (pools)
                buf_puts(&at, pools);
            free(pools);
        }
        char *name = xasprintf("%s%s%s", jsonx_str(u, "name", jsonx_str(u, "id", "?")),
                               jsonx_bool(u, "restricted", false) ? " (support contract)" : "",
                               jsonx_bool(u, "dismissed", false) ? " (dismissed)" : "");
        cells_add(&c, name);
        /* documented names first, then the engine's current ones */
        cells_str(&c, jsonx_str(u, "category", jsonx_str(u, "kind", NULL)));
        cells_add(&c, date_part(jsonx_str(u, "date", jsonx_str(u, "timestamp", NULL))));
        char *g = join(json_object_get(u, "guidance"), "name");
        if (!g && jsonx_bool(u, "guidance_reboot", false))
            g = xstrdup("restartHost");
        if (jsonx_bool(u, "livepatch", false)) {
            char *g2 = xasprintf("%s%slive patch", g ? g : "", g ? ", " : "");
            free(g);
            g = g2;
        }
        cells_add(&c, g);
        cells_add(&c, at.len ? buf_take(&at) : NULL);
        buf_cleanup(&at);
        rows++;
    }
    if (rows)
        render_table(out, 5, h, (const char *const *)c.v, rows);
    else
        buf_puts(out, "No updates available for the registered pools.\n");
    cells_free(&c);
    json_array_foreach(ups, i, u) /* a new release: the rolling pool upgrade that installs it */
        if (json_is_object(json_object_get(u, "upgrade")))
            buf_printf(out, "To install %s: %s\n", jsonx_str(u, "name", "?"),
                       jsonx_str(json_object_get(u, "upgrade"), "command", "poolpatch upgrade"));
    render_guest_tools(out, v);
    render_offline(out, v);
    render_checking(out, json_object_get(v, "checking"));
}

static void render_by_server_raw(struct buf *out, const json_t *v)
{
    static const char *const h[] = {"POOL", "SERVER", "VERSION", "STATUS", "REQUIRED", "INSTALLED"};
    const json_t *srvs = json_object_get(v, "servers");
    struct cells c = {0};
    size_t i, rows = 0;
    json_t *s;

    json_array_foreach(srvs, i, s)
    {
        cells_str(&c, jsonx_str(s, "pool", NULL));
        /* a pool's own row (XenCenter shows one above its hosts) */
        if (jsonx_bool(s, "is_pool", false))
            cells_add(&c, xasprintf("%s (pool)", jsonx_str(s, "server", "?")));
        else
            cells_str(&c, jsonx_str(s, "server", NULL));
        cells_str(&c, jsonx_str(s, "version", NULL));
        cells_str(&c, jsonx_str(s, "status", NULL));
        cells_add(&c, join(json_object_get(s, "required"), "name"));
        cells_add(&c, join(json_object_get(s, "installed"), "name"));
        rows++;
    }
    if (rows)
        render_table(out, 6, h, (const char *const *)c.v, rows);
    else
        buf_puts(out, "No servers: register a pool with 'poolpatch pool add'.\n");
    cells_free(&c);
    render_guest_tools(out, v);
    render_offline(out, v);
    render_checking(out, json_object_get(v, "checking"));
}

/* A host named by ref (plan_to_json) shown by its name from the pool's hosts[]. */
static const char *host_name(const json_t *pool, const char *ref)
{
    size_t i;
    json_t *h;

    if (!ref || !str_has_prefix(ref, "OpaqueRef:"))
        return ref;
    json_array_foreach(json_object_get(pool, "hosts"), i, h)
    {
        if (str_eq(jsonx_str(h, "ref", NULL), ref))
            return jsonx_str(h, "name", ref);
    }
    return ref;
}

static void render_action(struct buf *out, const json_t *a)
{
    if (json_is_string(a)) {
        buf_puts(out, json_string_value(a));
        return;
    }
    const char *d = jsonx_str(a, "description", NULL);
    if (d) {
        buf_puts(out, d);
        return;
    }
    buf_puts(out, jsonx_str(a, "kind", "?"));
    const char *u = jsonx_str(a, "name", jsonx_str(a, "update", NULL));
    if (u)
        buf_printf(out, " %s", u);
}

static void render_totals(struct buf *out, const json_t *t)
{
    long long mig = jsonx_int(t, "migrations", 0), reb = jsonx_int(t, "reboots", 0);
    long long ts = jsonx_int(t, "toolstack_restarts", 0);
    /* live_patched (REST shape) or livepatched_hosts (plan_to_json) */
    long long lp = jsonx_int(t, "live_patched", jsonx_int(t, "livepatched_hosts", 0));
    const json_t *bound = json_object_get(t, "bound");

    buf_printf(out, "%lld migration%s, %lld reboot%s, %lld toolstack restart%s, %lld live-patched",
               mig, mig == 1 ? "" : "s", reb, reb == 1 ? "" : "s", ts, ts == 1 ? "" : "s", lp);
    if (json_object_get(t, "window_s")) {
        buf_puts(out, "; predicted window ");
        render_duration(out, (long long)jsonx_num(t, "window_s", -1));
        if (json_object_get(t, "lower_bound_s") || json_is_object(bound)) {
            buf_puts(out, " (lower bound ");
            render_duration(out, json_object_get(t, "lower_bound_s")
                                     ? (long long)jsonx_num(t, "lower_bound_s", -1)
                                     : (long long)jsonx_num(bound, "window_s", -1));
            buf_puts(out, ")");
        }
    }
    const json_t *alt = json_object_get(t, "other_policy"); /* what the other policy costs */
    if (json_is_object(alt)) {
        long long am = jsonx_int(alt, "migrations", 0);
        buf_printf(out, "; with policy %s: %lld migration%s, ", jsonx_str(alt, "policy", "?"), am,
                   am == 1 ? "" : "s");
        render_duration(out, (long long)jsonx_num(alt, "window_s", -1));
    }
    buf_putc(out, '\n');
}

static void render_migrations(struct buf *out, const json_t *pool, const json_t *migs)
{
    size_t j;
    json_t *a;

    json_array_foreach(migs, j, a)
    {
        buf_printf(
            out, "         VM %s: %s -> %s\n", jsonx_str(a, "vm_name", jsonx_str(a, "vm", "?")),
            host_name(pool, jsonx_str(a, "from", "?")), host_name(pool, jsonx_str(a, "to", "?")));
    }
}

/* The pool's name: "name", or plan_to_json's "pool" (a string or {ref, name}). */
static const char *pool_name(const json_t *p)
{
    const json_t *pl = json_object_get(p, "pool");
    if (jsonx_str(p, "name", NULL))
        return jsonx_str(p, "name", NULL);
    if (json_is_string(pl))
        return json_string_value(pl);
    return jsonx_str(pl, "name", "?");
}

static bool pool_blocked(const json_t *p, const json_t *checks)
{
    size_t k;
    json_t *x;

    if (jsonx_bool(p, "blocked", false))
        return true;
    json_array_foreach(checks, k, x)
    {
        /* a blocking check that Resolve All cannot fix */
        if (str_eq(jsonx_str(x, "severity", NULL), "blocking") && !jsonx_bool(x, "fixable", false))
            return true;
    }
    return false;
}

static void render_plan_raw(struct buf *out, const json_t *v)
{
    size_t i, k;
    json_t *p, *x;

    /* plan_to_json says it per pool: "mode" and "policy" */
    const json_t *p0 = json_array_get(json_object_get(v, "pools"), 0);
    bool automated = jsonx_bool(v, "automated", str_eq(jsonx_str(p0, "mode", ""), "automated"));
    const json_t *up0 = json_object_get(p0, "upgrade");
    if (up0)
        buf_printf(out, "Plan: rolling pool upgrade to %s (%s%s), policy %s%s\n",
                   jsonx_str(up0, "to", "?"),
                   jsonx_bool(up0, "manual", false) ? "manual: you boot each host from the media"
                                                    : "automatic from ",
                   jsonx_bool(up0, "manual", false) ? "" : jsonx_str(up0, "url", "?"),
                   jsonx_str(p0, "policy", "minimal"),
                   jsonx_bool(up0, "apply_updates", false) ? ", then its automated updates" : "");
    else
        buf_printf(out, "Plan: %s, policy %s%s\n",
                   automated ? "automated updates (minimal set per host)" : "chosen updates",
                   jsonx_str(v, "policy", jsonx_str(p0, "policy", "minimal")),
                   jsonx_bool(v, "stay_on_release", false) ? ", staying on the current release"
                                                           : "");
    json_array_foreach(json_object_get(v, "pools"), i, p)
    {
        const json_t *pcs = json_object_get(p, "prechecks");
        if (!pcs)
            pcs = json_object_get(p, "checks"); /* plan_to_json's name */
        const json_t *uj = json_object_get(p, "updates");
        if (!uj)
            uj = json_object_get(json_object_get(p, "upload"), "updates");
        char *ups = join(uj, "name");
        buf_printf(out, "\nPool %s%s\n", pool_name(p),
                   pool_blocked(p, pcs) ? " (BLOCKED by prechecks)" : "");
        buf_printf(out, "  Updates: %s\n", ups ? ups : "none needed");
        free(ups);
        if (json_array_size(pcs)) {
            buf_puts(out, "  Prechecks:\n");
            json_array_foreach(pcs, k, x)
            {
                char sev[16];
                const char *s = jsonx_str(x, "severity", "info");
                size_t j;
                for (j = 0; s[j] && j < sizeof sev - 1; j++)
                    sev[j] = (char)(s[j] >= 'a' && s[j] <= 'z' ? s[j] - 32 : s[j]);
                sev[j] = '\0';
                const char *host = host_name(p, jsonx_str(x, "host", NULL));
                buf_printf(out, "    %-7s %s%s%s\n", sev, host ? host : "", host ? ": " : "",
                           jsonx_str(x, "message", ""));
                const json_t *res = json_object_get(x, "resolution");
                if (json_is_object(res)) {
                    buf_printf(out, "            resolution: %s", jsonx_str(res, "action", "?"));
                    const char *undo = jsonx_str(res, "undo", NULL);
                    if (undo)
                        buf_printf(out, " (undone afterwards: %s)", undo);
                    buf_putc(out, '\n');
                } else if (json_is_object(json_object_get(x, "fix"))) {
                    /* plan_to_json: {kind, obj, arg} */
                    buf_printf(out, "            resolution: %s\n",
                               jsonx_str(json_object_get(x, "fix"), "kind", "?"));
                }
            }
        }
        const json_t *hosts = json_object_get(p, "hosts");
        size_t shown = 0;
        json_array_foreach(hosts, k, x)
        {
            size_t j;
            json_t *a;
            const json_t *acts = json_object_get(x, "actions");
            if (json_is_integer(json_object_get(x, "order")) && jsonx_int(x, "order", 0) < 0 &&
                !json_array_size(acts))
                continue; /* not in the rollout (plan_to_json's order -1) */
            if (!shown++)
                buf_puts(out, "  Hosts, in order:\n");
            buf_printf(out, "    %zu. %s", shown, jsonx_str(x, "name", "?"));
            if (json_is_integer(json_object_get(x, "batch")) && jsonx_int(x, "batch", 0) >= 0)
                buf_printf(out, " [batch %lld]", (long long)jsonx_int(x, "batch", 0));
            buf_puts(out, ": ");
            json_array_foreach(acts, j, a)
            {
                if (j)
                    buf_puts(out, ", ");
                render_action(out, a);
            }
            if (!json_array_size(acts))
                buf_puts(out, "nothing to do");
            buf_putc(out, '\n');
            /* the REST shape has them twice (per host and per action), plan_to_json only per
             * action: the actions' when they carry any, else the host's (each line once) */
            bool in_acts = false;
            json_array_foreach(acts, j, a) in_acts =
                in_acts || json_array_size(json_object_get(a, "migrations")) > 0;
            if (!in_acts)
                render_migrations(out, p, json_object_get(x, "migrations"));
            json_array_foreach(acts, j, a)
                render_migrations(out, p, json_object_get(a, "migrations"));
        }
        if (!shown)
            buf_puts(out, "  No host needs anything.\n");
        if (json_is_object(json_object_get(p, "totals"))) {
            buf_puts(out, "  ");
            render_totals(out, json_object_get(p, "totals"));
        }
        char *tools = join(json_object_get(json_object_get(p, "upgrade"), "tools_vm_names"), NULL);
        if (tools)
            buf_printf(out, "  Afterwards, upgrade the guest tools of: %s\n", tools);
        free(tools);
    }
    if (json_is_object(json_object_get(v, "totals"))) {
        buf_puts(out, "\nTotal: ");
        render_totals(out, json_object_get(v, "totals"));
    }
}

/* A time as ISO text, or epoch milliseconds / seconds -> "2026-11-21 21:24:32Z". */
static char *time_text(const json_t *t)
{
    if (json_is_string(t))
        return xstrdup(json_string_value(t));
    if (!json_is_number(t))
        return NULL;
    double v = json_number_value(t);
    time_t secs = (time_t)(v > 1e11 ? v / 1000 : v);
    struct tm tm;
    char out[32];
    if (!gmtime_r(&secs, &tm) || !strftime(out, sizeof out, "%Y-%m-%d %H:%M:%SZ", &tm))
        return NULL;
    return xstrdup(out);
}

/* Hosts done / total: the counters, else counted from the pools' hosts. */
static void host_counts(const json_t *r, long long *done, long long *total)
{
    const json_t *cn = json_object_get(r, "counters");
    size_t i, k;
    json_t *p, *h;

    if (json_is_integer(json_object_get(cn, "hosts_total"))) {
        *done = jsonx_int(cn, "hosts_done", 0);
        *total = jsonx_int(cn, "hosts_total", 0);
        return;
    }
    *done = *total = 0;
    json_array_foreach(json_object_get(r, "pools"), i, p)
    {
        if (!json_is_object(p))
            continue;
        json_array_foreach(json_object_get(p, "hosts"), k, h)
        {
            (*total)++;
            *done += str_eq(jsonx_str(h, "state", NULL), "done");
        }
    }
}

/* The error's code: an object's "code", else the first pool's error code, else the text. */
static const char *error_code(const json_t *r)
{
    const json_t *er = json_object_get(r, "error");
    size_t i;
    json_t *p;

    if (json_is_object(er))
        return jsonx_str(er, "code", "?");
    json_array_foreach(json_object_get(r, "pools"), i, p)
    {
        const json_t *pe = json_object_get(p, "error");
        if (json_is_object(pe))
            return jsonx_str(pe, "code", "?");
    }
    return json_is_string(er) ? json_string_value(er) : NULL;
}

static void render_rollouts_raw(struct buf *out, const json_t *v)
{
    static const char *const h[] = {"ID", "STATE", "CREATED", "POOLS", "PROGRESS", "ERROR"};
    const json_t *rs = json_object_get(v, "rollouts");
    struct cells c = {0};
    size_t i;
    json_t *r;

    if (!json_array_size(rs)) {
        buf_puts(out, "No rollouts yet; start one with 'poolpatch apply'.\n");
        return;
    }
    json_array_foreach(rs, i, r)
    {
        long long done, total;
        cells_str(&c, jsonx_str(r, "id", NULL));
        cells_str(&c, jsonx_str(r, "state", NULL));
        cells_add(&c, time_text(json_object_get(r, "created")));
        cells_add(&c, join(json_object_get(r, "pools"), "name"));
        host_counts(r, &done, &total);
        if (total)
            cells_add(&c, xasprintf("%lld/%lld hosts", done, total));
        else if (json_is_integer(json_object_get(r, "steps_total")))
            cells_add(&c, xasprintf("%lld/%lld steps", (long long)jsonx_int(r, "steps_done", 0),
                                    (long long)jsonx_int(r, "steps_total", 0)));
        else
            cells_add(&c, NULL);
        cells_str(&c, error_code(r));
    }
    render_table(out, 6, h, (const char *const *)c.v, json_array_size(rs));
    cells_free(&c);
}

static void render_error(struct buf *out, const char *where, const json_t *er)
{
    const char *ex = jsonx_str(er, "explanation", NULL);
    const char *eh = jsonx_str(er, "host", NULL);
    const char *es = jsonx_str(er, "step", NULL);

    buf_printf(out, "  Error%s%s%s%s%s%s: %s: %s\n", where ? " in " : "", where ? where : "",
               eh ? " on " : "", eh ? eh : "", es ? " at " : "", es ? es : "",
               jsonx_str(er, "code", "?"), jsonx_str(er, "message", ""));
    if (ex)
        buf_printf(out, "  What it means: %s\n", ex);
}

void render_rollout(struct buf *out, const json_t *v, bool bars)
{
    render_rollout_ex(out, v, bars, false);
}

static bool host_idle(const json_t *h)
{
    const char *st = jsonx_str(h, "state", "");
    return str_eq(st, "done") || str_eq(st, "waiting") || str_eq(st, "pending") ||
           str_eq(st, "skipped");
}

static void render_rollout_ex_raw(struct buf *out, const json_t *v, bool bars, bool compact)
{
    size_t i, k;
    json_t *p, *h;
    const json_t *cn = json_object_get(v, "counters");
    const json_t *er = json_object_get(v, "error");
    size_t namew = 4;
    long long done, total;

    json_array_foreach(json_object_get(v, "pools"), i, p)
    {
        json_array_foreach(json_object_get(p, "hosts"), k, h)
        {
            size_t w = utf8_width(jsonx_str(h, "name", "?"));
            if (w > namew)
                namew = w;
        }
    }
    buf_printf(out, "Rollout %s: %s", jsonx_str(v, "id", "?"), jsonx_str(v, "state", "?"));
    if (json_is_number(json_object_get(v, "elapsed_s"))) {
        buf_puts(out, ", elapsed ");
        render_duration(out, (long long)jsonx_num(v, "elapsed_s", -1));
    }
    if (json_is_number(json_object_get(v, "window_s"))) {
        buf_puts(out, json_is_number(json_object_get(v, "elapsed_s")) ? " of a predicted "
                                                                      : ", predicted window ");
        render_duration(out, (long long)jsonx_num(v, "window_s", -1));
    }
    if (json_is_integer(json_object_get(v, "steps_total")))
        buf_printf(out, ", step %lld of %lld", (long long)jsonx_int(v, "steps_done", 0),
                   (long long)jsonx_int(v, "steps_total", 0));
    buf_putc(out, '\n');
    json_array_foreach(json_object_get(v, "pools"), i, p)
    {
        const char *pstep = jsonx_str(p, "step", NULL);
        buf_printf(out, "  %s: %s%s%s\n", jsonx_str(p, "name", "?"), jsonx_str(p, "state", "?"),
                   pstep ? ", " : "", pstep ? pstep : "");
        size_t n_done = 0, n_idle = 0;
        json_array_foreach(json_object_get(p, "hosts"), k, h)
        {
            const char *name = jsonx_str(h, "name", "?");
            const char *msg = jsonx_str(h, "message", NULL);
            int pct = (int)jsonx_int(h, "percent", 0);
            if (compact && host_idle(h)) {
                n_done += str_eq(jsonx_str(h, "state", ""), "done");
                n_idle++;
                continue;
            }
            buf_printf(out, "    %s", name);
            for (size_t w = utf8_width(name); w < namew + 2; w++)
                buf_putc(out, ' ');
            if (bars) {
                render_bar(out, pct, 20);
                buf_printf(out, " %3d%%  ", pct);
            } else {
                buf_printf(out, "%3d%%  ", pct);
            }
            buf_printf(out, "%-8s %s", jsonx_str(h, "state", "-"), jsonx_str(h, "step", "-"));
            if (msg)
                buf_printf(out, " - %s", msg);
            buf_putc(out, '\n');
        }
        if (n_idle)
            buf_printf(out, "    (%zu more: %zu done, %zu not started)\n", n_idle, n_done,
                       n_idle - n_done);
        /* an upgrade's report: the VMs whose guest tools to upgrade now (seed step 12) */
        char *tools = join(json_object_get(json_object_get(p, "upgrade"), "tools_vm_names"), NULL);
        if (tools)
            buf_printf(out, "    Upgrade the guest tools of: %s\n", tools);
        free(tools);
    }
    host_counts(v, &done, &total);
    if (json_is_object(cn)) {
        if (total)
            buf_printf(out, "  Hosts %lld/%lld done; ", done, total);
        else
            buf_puts(out, "  ");
        render_totals(out, cn);
    }
    if (json_is_object(er))
        render_error(out, NULL, er);
    json_array_foreach(json_object_get(v, "pools"), i, p)
    {
        if (json_is_object(json_object_get(p, "error")))
            render_error(out, jsonx_str(p, "name", "?"), json_object_get(p, "error"));
    }
    if (json_is_string(er))
        buf_printf(out, "  %s\n", json_string_value(er));
    const json_t *fs = json_object_get(v, "findings");
    if (json_array_size(fs) > 0)
        buf_printf(out, "  Verified against the pool: %zu finding%s\n", json_array_size(fs),
                   json_array_size(fs) == 1 ? "" : "s");
    json_array_foreach(fs, i, p)
    {
        buf_printf(out, "  - %s %s: %s\n    What to do: %s\n", jsonx_str(p, "pool", "?"),
                   jsonx_str(p, "code", "?"), jsonx_str(p, "message", ""),
                   jsonx_str(p, "action", ""));
    }
    const char *st = jsonx_str(v, "state", "");
    if (str_eq(st, "halted") || str_eq(st, "failed"))
        buf_printf(out,
                   "  Next: 'poolpatch retry %s' continues from the failed step; "
                   "'poolpatch cancel %s' reverts and stops.\n",
                   jsonx_str(v, "id", "ID"), jsonx_str(v, "id", "ID"));
    if (str_eq(st, "cancel_failed"))
        buf_printf(out,
                   "  Next: deal with what is left, then 'poolpatch retry %s' (or 'poolpatch "
                   "cancel %s') retries the cancel.\n",
                   jsonx_str(v, "id", "ID"), jsonx_str(v, "id", "ID"));
}

static void render_event_line_raw(struct buf *out, const json_t *ev)
{
    const char *t = jsonx_str(ev, "time", NULL);
    const char *pool = jsonx_str(ev, "pool", NULL);
    const char *host = jsonx_str(ev, "host", NULL);
    const json_t *pc = json_object_get(ev, "percent");

    /* "2026-11-21T21:00:05Z" -> the local time "22:00:05" (Europe/Paris) */
    int64_t ms;
    struct tm lt;
    char hms[16];
    time_t secs = t && clock_parse_xapi(t, &ms) == 0 ? (time_t)(ms / 1000) : (time_t)-1;
    if (secs != (time_t)-1 && localtime_r(&secs, &lt) && strftime(hms, sizeof hms, "%H:%M:%S", &lt))
        buf_printf(out, "%s ", hms);
    else if (t)
        buf_printf(out, "%s ", t);
    /* a rollout id is a uuid: its first 8 hex digits name it in a log (as `rollouts` lists) */
    const char *id = jsonx_str(ev, "rollout", "?");
    buf_printf(out, "%.*s", uuid_is_valid(id) ? 8 : (int)strlen(id), id);
    if (pool)
        buf_printf(out, " %s%s%s", pool, host ? "/" : "", host ? host : "");
    buf_printf(out, " %s", jsonx_str(ev, "step", "-"));
    if (json_is_number(pc) && json_number_value(pc) >= 0) /* -1: no percentage */
        buf_printf(out, " %d%%", (int)json_number_value(pc));
    const char *st = jsonx_str(ev, "state", NULL);
    if (st && !host)
        buf_printf(out, " [%s]", st);
    const char *m = jsonx_str(ev, "message", NULL);
    if (m)
        buf_printf(out, " %s", m);
    buf_putc(out, '\n');
}

static json_t *find_named(json_t *arr, const char *name)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (str_eq(jsonx_str(x, "name", NULL), name))
            return x;
    }
    return NULL;
}

static json_t *ensure_array(json_t *obj, const char *key)
{
    json_t *a = json_object_get(obj, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(obj, key, a);
    }
    return a;
}

bool render_apply_event(json_t *r, const json_t *ev)
{
    const char *id = jsonx_str(ev, "rollout", NULL);
    const char *pool = jsonx_str(ev, "pool", NULL);
    const char *host = jsonx_str(ev, "host", NULL);
    const char *state = jsonx_str(ev, "state", NULL);
    json_t *p, *h, *x;

    if (!id || !str_eq(id, jsonx_str(r, "id", NULL)))
        return false;
    if (!pool) {
        if (state)
            json_object_set_new(r, "state", json_string(state));
        return true;
    }
    json_t *pools = ensure_array(r, "pools");
    p = find_named(pools, pool);
    if (!p) {
        p = json_pack("{s:s s:s s:[]}", "name", pool, "state", "running", "hosts");
        json_array_append_new(pools, p);
    }
    if (!host) {
        if ((x = json_object_get(ev, "step")) && json_is_string(x))
            json_object_set(p, "step", x);
        if (state)
            json_object_set_new(p, "state", json_string(state));
        return true;
    }
    json_t *hosts = ensure_array(p, "hosts");
    h = find_named(hosts, host);
    if (!h) {
        h = json_pack("{s:s s:i}", "name", host, "percent", 0);
        json_array_append_new(hosts, h);
    }
    if ((x = json_object_get(ev, "step")) && json_is_string(x))
        json_object_set(h, "step", x);
    if ((x = json_object_get(ev, "percent")) && json_is_number(x))
        json_object_set_new(h, "percent", json_integer((json_int_t)json_number_value(x)));
    if ((x = json_object_get(ev, "message")) && json_is_string(x))
        json_object_set(h, "message", x);
    if (state)
        json_object_set_new(h, "state", json_string(state));
    else if (!jsonx_str(h, "state", NULL) || str_eq(jsonx_str(h, "state", ""), "pending") ||
             str_eq(jsonx_str(h, "state", ""), "waiting"))
        json_object_set_new(h, "state", json_string("running")); /* it reports progress */
    return true;
}

bool render_state_final(const char *s)
{
    return str_eq(s, "done") || str_eq(s, "halted") || str_eq(s, "failed") ||
           str_eq(s, "cancelled") || str_eq(s, "cancel_failed");
}

/* ---------------------------------------------------------------- terminal safety */

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not valid UTF-8. */
static size_t utf8_seq(const unsigned char *p, size_t n, unsigned *cp)
{
    size_t len = p[0] < 0x80             ? 1
                 : (p[0] & 0xE0) == 0xC0 ? 2
                 : (p[0] & 0xF0) == 0xE0 ? 3
                 : (p[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    unsigned v;

    if (len == 0 || len > n)
        return 0;
    v = len == 1 ? p[0] : p[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    /* overlong forms and surrogates are not valid */
    if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
        (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
        return 0;
    *cp = v;
    return len;
}

/* Code points a terminal acts on or that reorder text: C0, DEL, C1, bidi controls. */
static bool cp_unsafe(unsigned cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E ||
           cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static void safe_text(struct buf *out, const char *s, bool keep_lines)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);

    while (n) {
        unsigned cp = 0;
        size_t len = utf8_seq(p, n, &cp);
        if (len == 0)
            buf_printf(out, "\\x%02x", p[0]); /* not UTF-8: the byte, escaped */
        else if (keep_lines && (cp == '\n' || cp == '\t'))
            buf_putc(out, (char)cp);
        else if (cp < 0x80 && cp_unsafe(cp))
            buf_printf(out, "\\x%02x", cp);
        else if (cp_unsafe(cp))
            buf_printf(out, "\\u{%x}", cp);
        else
            buf_append(out, p, len);
        p += len ? len : 1;
        n -= len ? len : 1;
    }
}

void render_safe_text(struct buf *out, const char *s)
{
    safe_text(out, s, false);
}

void render_safe_message(struct buf *out, const char *s)
{
    safe_text(out, s, true);
}

json_t *render_safe_json(const json_t *v)
{
    struct buf b;
    json_t *o;
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_string(v)) {
        buf_init(&b);
        render_safe_text(&b, json_string_value(v));
        o = json_string(buf_str(&b));
        buf_cleanup(&b);
        return o ? o : json_string("?");
    }
    if (json_is_array(v)) {
        o = json_array();
        json_array_foreach(v, i, x) json_array_append_new(o, render_safe_json(x));
        return o;
    }
    if (json_is_object(v)) {
        o = json_object();
        json_object_foreach((json_t *)v, k, x)
        {
            buf_init(&b);
            render_safe_text(&b, k);
            json_object_set_new(o, buf_str(&b), render_safe_json(x));
            buf_cleanup(&b);
        }
        return o;
    }
    return v ? json_deep_copy(v) : json_null();
}

/* The public renderers: every string from outside is made terminal-safe first. */
#define SAFE_RENDER(name, ...)                                                                     \
    do {                                                                                           \
        json_t *safe_ = render_safe_json(v);                                                       \
        name##_raw(out, safe_, ##__VA_ARGS__);                                                     \
        json_decref(safe_);                                                                        \
    } while (0)

void render_pools(struct buf *out, const json_t *v)
{
    SAFE_RENDER(render_pools);
}

void render_checking(struct buf *out, const json_t *v)
{
    SAFE_RENDER(render_checking);
}

void render_by_update(struct buf *out, const json_t *v)
{
    SAFE_RENDER(render_by_update);
}

void render_by_server(struct buf *out, const json_t *v)
{
    SAFE_RENDER(render_by_server);
}

void render_plan(struct buf *out, const json_t *v)
{
    SAFE_RENDER(render_plan);
}

void render_rollouts(struct buf *out, const json_t *v)
{
    SAFE_RENDER(render_rollouts);
}

void render_rollout_ex(struct buf *out, const json_t *v, bool bars, bool compact)
{
    SAFE_RENDER(render_rollout_ex, bars, compact);
}

void render_event_line(struct buf *out, const json_t *v)
{
    SAFE_RENDER(render_event_line);
}
