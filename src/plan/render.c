/* SPDX-License-Identifier: MIT */
/*
 * render.c - a plan as JSON (the REST API and `--json`) and as plain text (the CLI's dry run).
 * Both render into memory; the cli and api print.  Schema in docs/planner.md.
 */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/str.h"
#include "plan/plan.h"

/* Short names, stable in JSON. */
const char *plan_action_name(enum plan_action_kind k)
{
    switch (k) {
    case PLAN_ACT_DISABLE:
        return "disable";
    case PLAN_ACT_EVACUATE:
        return "evacuate";
    case PLAN_ACT_APPLY:
        return "apply";
    case PLAN_ACT_APPLY_CDN:
        return "apply_updates";
    case PLAN_ACT_REBOOT:
        return "reboot";
    case PLAN_ACT_RESTART_TOOLSTACK:
        return "restart_toolstack";
    case PLAN_ACT_ENABLE:
        return "enable";
    case PLAN_ACT_MIGRATE_BACK:
        return "migrate_back";
    case PLAN_ACT_RESTART_VMS:
        return "restart_vms";
    case PLAN_ACT_UPGRADE:
        return "upgrade";
    case PLAN_ACT_RESTORE_VMS:
        return "restore_vms";
    }
    return "?";
}

/* "information", "warning", "blocking". */
const char *plan_severity_name(enum plan_severity s)
{
    switch (s) {
    case PLAN_SEV_INFO:
        return "information";
    case PLAN_SEV_WARNING:
        return "warning";
    case PLAN_SEV_BLOCKING:
        return "blocking";
    }
    return "?";
}

/* Fix step names, stable in JSON and in the engine's journal. */
const char *plan_fix_name(enum plan_fix_kind k)
{
    switch (k) {
    case PLAN_FIX_NONE:
        return "none";
    case PLAN_FIX_DISABLE_HA:
        return "disable_ha";
    case PLAN_FIX_ENABLE_HA:
        return "enable_ha";
    case PLAN_FIX_ENABLE_HOST:
        return "enable_host";
    case PLAN_FIX_DISABLE_HOST:
        return "disable_host";
    case PLAN_FIX_PLUG_PBD:
        return "plug_pbd";
    case PLAN_FIX_EJECT_CD:
        return "eject_cd";
    case PLAN_FIX_INSERT_CD:
        return "insert_cd";
    case PLAN_FIX_SUSPEND_VM:
        return "suspend_vm";
    case PLAN_FIX_RESUME_VM:
        return "resume_vm";
    case PLAN_FIX_SHUTDOWN_VM:
        return "shutdown_vm";
    case PLAN_FIX_START_VM:
        return "start_vm";
    }
    return "?";
}

/* The seed's "update mode" wording. */
const char *plan_update_mode_name(enum plan_update_mode m)
{
    switch (m) {
    case PLAN_UM_UP_TO_DATE:
        return "Up to date";
    case PLAN_UM_NONE:
        return "No action required";
    case PLAN_UM_RESTART_VMS:
        return "Restart VMs";
    case PLAN_UM_TOOLSTACK:
        return "Restart toolstack";
    case PLAN_UM_REBOOT:
        return "Reboot";
    case PLAN_UM_UPGRADE:
        return "Upgrade";
    }
    return "?";
}

/* "return" / "minimal". */
const char *plan_policy_name(enum plan_policy p)
{
    return p == PLAN_POLICY_RETURN ? "return" : "minimal";
}

/* "automated" / "stay-on-release" / "selected". */
const char *plan_mode_name(enum plan_mode m)
{
    switch (m) {
    case PLAN_MODE_AUTOMATED:
        return "automated";
    case PLAN_MODE_STAY:
        return "stay-on-release";
    case PLAN_MODE_SELECTED:
        return "selected";
    case PLAN_MODE_UPGRADE:
        return "upgrade";
    }
    return "?";
}

static const struct {
    unsigned bit;
    const char *name;
} g_names[] = {
    {CAT_G_RESTART_HVM, "restartHVM"},        {CAT_G_RESTART_PV, "restartPV"},
    {CAT_G_RESTART_HOST, "restartHost"},      {CAT_G_RESTART_XAPI, "restartXAPI"},
    {CAT_G_RESTART_DM, "restartDeviceModel"}, {CAT_G_EVACUATE_HOST, "evacuateHost"},
    {CAT_G_RESTART_VM, "restartVM"},          {CAT_G_UNKNOWN, "unknown"},
};

static json_t *guidance_json(unsigned g)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof(g_names) / sizeof(g_names[0]); i++)
        if (g & g_names[i].bit)
            json_array_append_new(a, json_string(g_names[i].name));
    return a;
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *fix_json(const struct plan_fix *f)
{
    if (f->kind == PLAN_FIX_NONE)
        return json_null();
    return json_pack("{s:s, s:o, s:o}", "kind", plan_fix_name(f->kind), "obj",
                     str_or_null(f->obj_ref), "arg", str_or_null(f->arg_ref));
}

static json_t *migs_json(const struct plan_migration *m, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:I}", "vm", m[i].vm_ref,
                                           "vm_name", m[i].vm_name, "from", m[i].from_ref, "to",
                                           m[i].to_ref, "memory", (json_int_t)m[i].memory));
    return a;
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* See plan.h; NULL for a NULL plan. */
json_t *plan_to_json(const struct plan *p)
{
    if (!p)
        return NULL;
    json_t *checks = json_array();
    for (size_t i = 0; i < p->n_checks; i++) {
        const struct plan_check *k = &p->checks[i];
        json_array_append_new(
            checks, json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:b, s:o, s:o}", "id", k->id,
                              "severity", plan_severity_name(k->severity), "host",
                              str_or_null(k->host_ref), "vm", str_or_null(k->vm_ref), "update",
                              str_or_null(k->update_uuid), "message", k->message, "fixable",
                              k->fixable, "fix", fix_json(&k->fix), "undo", fix_json(&k->undo)));
    }
    json_t *hosts = json_array();
    for (size_t i = 0; i < p->n_hosts; i++) {
        const struct plan_host *h = &p->hosts[i];
        json_t *skipped = json_array();
        for (size_t j = 0; j < h->n_skipped; j++)
            json_array_append_new(skipped,
                                  json_pack("{s:s, s:s, s:s}", "update", h->skipped[j].uuid,
                                            "reason", h->skipped[j].reason, "severity",
                                            plan_severity_name(h->skipped[j].severity)));
        json_t *acts = json_array();
        for (size_t j = 0; j < h->n_actions; j++) {
            const struct plan_action *a = &h->actions[j];
            json_t *o = json_pack("{s:s, s:b, s:b, s:o}", "kind", plan_action_name(a->kind),
                                  "mandatory", a->mandatory, "manual", a->manual, "guidance",
                                  guidance_json(a->guidance));
            if (a->kind == PLAN_ACT_APPLY) {
                json_object_set_new(o, "update", json_string(a->update_uuid));
                json_object_set_new(o, "name", json_string(a->label));
            }
            if (a->kind == PLAN_ACT_APPLY_CDN)
                json_object_set_new(o, "hash", json_string(a->update_uuid));
            if (a->kind == PLAN_ACT_EVACUATE || a->kind == PLAN_ACT_MIGRATE_BACK)
                json_object_set_new(o, "migrations", migs_json(a->migrations, a->n_migrations));
            if (a->kind == PLAN_ACT_RESTART_VMS || a->kind == PLAN_ACT_RESTORE_VMS)
                json_object_set_new(o, "vms", strv_json(a->vms, a->n_vms));
            json_array_append_new(acts, o);
        }
        json_array_append_new(
            hosts,
            json_pack("{s:s, s:s, s:b, s:b, s:s, s:i, s:i, s:s, s:b, s:b, s:b, s:b, s:f, s:f, "
                      "s:o, s:o, s:o}",
                      "ref", h->ref, "name", h->name, "master", h->is_master, "selected",
                      h->selected, "version", h->version, "order", h->order, "batch", h->batch,
                      "update_mode", plan_update_mode_name(h->mode), "evacuate", h->evacuate,
                      "reboot", h->reboot, "toolstack", h->toolstack, "livepatched", h->livepatched,
                      "start_s", h->start_s, "end_s", h->end_s, "updates",
                      strv_json(h->updates, h->n_updates), "skipped", skipped, "actions", acts));
    }
    const struct plan_totals *t = &p->totals;
    json_t *totals = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:{s:I, s:I, s:I, s:f}}",
        "hosts_updated", (json_int_t)t->hosts_updated, "updates", (json_int_t)t->updates,
        "migrations", (json_int_t)t->migrations, "migrations_back", (json_int_t)t->migrations_back,
        "reboots", (json_int_t)t->reboots, "toolstack_restarts", (json_int_t)t->toolstack_restarts,
        "livepatched_hosts", (json_int_t)t->livepatched_hosts, "batches", (json_int_t)t->batches,
        "max_batch", (json_int_t)t->max_batch, "migrated_bytes", (json_int_t)t->migrated_bytes,
        "window_s", t->window_s, "bound", "vms", (json_int_t)t->bound_vms, "migrations",
        (json_int_t)t->bound_migrations, "k", (json_int_t)t->bound_k, "window_s",
        t->bound_window_s);
    const struct plan_alt *o = &p->other;
    json_object_set_new(
        totals, "other_policy",
        json_pack("{s:s, s:I, s:I, s:I, s:f, s:I}", "policy", plan_policy_name(o->policy),
                  "migrations", (json_int_t)o->migrations, "migrated_bytes",
                  (json_int_t)o->migrated_bytes, "batches", (json_int_t)o->batches, "window_s",
                  o->window_s, "unplaced_vms", (json_int_t)o->unplaced));
    json_t *out = json_pack(
        "{s:{s:s, s:s}, s:s, s:s, s:b, s:o, s:b, s:b, s:{s:o, s:o, s:I, s:o}, "
        "s:b, s:o, s:o, s:o}",
        "pool", "ref", p->pool_ref, "name", p->pool_name, "mode", plan_mode_name(p->mode), "policy",
        plan_policy_name(p->policy), "cdn", p->cdn, "cdn_hash", str_or_null(p->cdn_hash),
        "partly_upgraded", p->partly_upgraded, "automated_refused", p->automated_refused, "upload",
        "sr", str_or_null(p->upload_sr_ref), "sr_name", str_or_null(p->upload_sr_name), "bytes",
        (json_int_t)p->upload_bytes, "updates", strv_json(p->uploads, p->n_uploads), "can_resolve",
        plan_can_resolve(p), "checks", checks, "hosts", hosts, "totals", totals);
    if (p->mode == PLAN_MODE_UPGRADE)
        json_object_set_new(out, "upgrade",
                            json_pack("{s:s, s:o, s:b, s:b, s:o, s:o}", "to", p->upgrade_to, "url",
                                      str_or_null(p->upgrade_url), "manual", p->upgrade_manual,
                                      "apply_updates", p->upgrade_apply_updates, "tools_vms",
                                      strv_json(p->tools_vms, p->n_tools_vms), "tools_vm_names",
                                      strv_json(p->tools_vm_names, p->n_tools_vms)));
    return out;
}

/* ------------------------------------------------------------------ text */

static const char *name_of(const struct plan *p, const char *ref)
{
    for (size_t i = 0; i < p->n_hosts; i++)
        if (str_eq(p->hosts[i].ref, ref))
            return p->hosts[i].name;
    return ref;
}

static void duration(struct buf *b, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        buf_printf(b, "%ldh %02ldm %02lds", t / 3600, (t / 60) % 60, t % 60);
    else if (t >= 60)
        buf_printf(b, "%ldm %02lds", t / 60, t % 60);
    else
        buf_printf(b, "%lds", t);
}

static void text_migs(struct buf *b, const struct plan *p, const struct plan_action *a)
{
    for (size_t i = 0; i < a->n_migrations; i++)
        buf_printf(b, "           %s: %s -> %s (%.0f MiB)\n", a->migrations[i].vm_name,
                   name_of(p, a->migrations[i].from_ref), name_of(p, a->migrations[i].to_ref),
                   (double)a->migrations[i].memory / (1024.0 * 1024.0));
}

/* See plan.h. */
void plan_render_text(const struct plan *p, struct buf *b)
{
    if (!p || !b)
        return;
    buf_printf(b, "Plan for pool %s: %s updates, policy %s%s\n", p->pool_name,
               plan_mode_name(p->mode), plan_policy_name(p->policy),
               p->cdn ? ", XenServer 8 repository" : "");
    if (p->automated_refused)
        buf_puts(b, "Automated updates are refused for this pool (see the prechecks).\n");

    buf_printf(b, "\nPrechecks (%zu blocking, %zu warnings, %zu information)%s\n",
               plan_count_checks(p, PLAN_SEV_BLOCKING), plan_count_checks(p, PLAN_SEV_WARNING),
               plan_count_checks(p, PLAN_SEV_INFO), p->n_checks ? ":" : ": none");
    for (size_t i = 0; i < p->n_checks; i++) {
        const struct plan_check *k = &p->checks[i];
        buf_printf(b, "  [%s] %s: %s\n", plan_severity_name(k->severity), k->id, k->message);
        if (k->fixable)
            buf_printf(b, "      resolution: %s%s%s\n", plan_fix_name(k->fix.kind),
                       k->undo.kind != PLAN_FIX_NONE ? "; undone at the end by " : "",
                       k->undo.kind != PLAN_FIX_NONE ? plan_fix_name(k->undo.kind) : "");
    }
    if (p->n_checks && plan_count_checks(p, PLAN_SEV_BLOCKING))
        buf_puts(b, plan_can_resolve(p) ? "  Resolve All can fix every blocking problem.\n"
                                        : "  Some blocking problems need you: see above.\n");

    if (p->n_uploads)
        buf_printf(b, "\nUpload: %zu update image%s, %.0f MiB, to SR %s\n", p->n_uploads,
                   p->n_uploads == 1 ? "" : "s", (double)p->upload_bytes / (1024.0 * 1024.0),
                   p->upload_sr_name[0] ? p->upload_sr_name : "(none fits)");

    buf_puts(b, "\nHosts, in order:\n");
    for (size_t i = 0; i < p->n_hosts; i++) {
        const struct plan_host *h = &p->hosts[i];
        if (h->order < 0) {
            buf_printf(b, "  -  %s%s: %s%s\n", h->name, h->is_master ? " (master)" : "",
                       h->selected ? plan_update_mode_name(h->mode) : "not selected",
                       h->n_skipped ? " (some updates cannot be installed)" : "");
            continue;
        }
        buf_printf(b, "  %d. %s%s: %zu update%s, %s, batch %d, ", h->order + 1, h->name,
                   h->is_master ? " (master)" : "", h->n_updates, h->n_updates == 1 ? "" : "s",
                   plan_update_mode_name(h->mode), h->batch);
        duration(b, h->start_s);
        buf_puts(b, " -> ");
        duration(b, h->end_s);
        buf_puts(b, h->livepatched ? " (live patched, no reboot)\n" : "\n");
        for (size_t j = 0; j < h->n_actions; j++) {
            const struct plan_action *a = &h->actions[j];
            buf_printf(b, "       - %s", plan_action_name(a->kind));
            if (a->kind == PLAN_ACT_APPLY || a->kind == PLAN_ACT_APPLY_CDN)
                buf_printf(b, " %s", a->label);
            if (a->kind == PLAN_ACT_EVACUATE || a->kind == PLAN_ACT_MIGRATE_BACK)
                buf_printf(b, " (%zu VM%s)", a->n_migrations, a->n_migrations == 1 ? "" : "s");
            if (a->kind == PLAN_ACT_RESTART_VMS)
                buf_printf(b, " (%zu VM%s)", a->n_vms, a->n_vms == 1 ? "" : "s");
            if (a->mandatory)
                buf_puts(b, " [mandatory, at once]");
            if (a->manual)
                buf_puts(b, " [left to you]");
            buf_putc(b, '\n');
            text_migs(b, p, a);
        }
    }

    const struct plan_totals *t = &p->totals;
    buf_printf(b,
               "\nTotals: %zu host%s updated, %zu update application%s, %zu migration%s "
               "(%zu back home), %zu reboot%s, %zu toolstack restart%s, %zu live-patched host%s, "
               "%zu batch%s (at most %zu host%s down at once)\n",
               t->hosts_updated, t->hosts_updated == 1 ? "" : "s", t->updates,
               t->updates == 1 ? "" : "s", t->migrations, t->migrations == 1 ? "" : "s",
               t->migrations_back, t->reboots, t->reboots == 1 ? "" : "s", t->toolstack_restarts,
               t->toolstack_restarts == 1 ? "" : "s", t->livepatched_hosts,
               t->livepatched_hosts == 1 ? "" : "s", t->batches, t->batches == 1 ? "" : "es",
               t->max_batch, t->max_batch == 1 ? "" : "s");
    buf_puts(b, "Predicted window: ");
    duration(b, t->window_s);
    buf_printf(b, "; lower bound (DESIGN.md): %zu migration%s, k=%zu, ", t->bound_migrations,
               t->bound_migrations == 1 ? "" : "s", t->bound_k);
    duration(b, t->bound_window_s);
    buf_putc(b, '\n');
    const struct plan_alt *o = &p->other;
    buf_printf(b, "Policy %s (%s). With policy %s instead: %zu migration%s, %zu batch%s, ",
               plan_policy_name(p->policy),
               p->policy == PLAN_POLICY_RETURN ? "VMs go back to their home host"
                                               : "VMs stay where they land",
               plan_policy_name(o->policy), o->migrations, o->migrations == 1 ? "" : "s",
               o->batches, o->batches == 1 ? "" : "es");
    duration(b, o->window_s);
    buf_printf(b, " predicted%s\n", o->unplaced ? ", and some VMs would find no room" : "");
}
