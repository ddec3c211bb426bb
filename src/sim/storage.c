/* SPDX-License-Identifier: MIT */
/*
 * storage.c - the simulator's storage calls as xapi answers them: PBD.plug / unplug (refused
 * with VDI_IN_USE while running guests of the PBD's host use the SR, ocaml/xapi/xapi_pbd.ml),
 * PBD.create / destroy (refused while attached), VDI.create (in an SR, with room checked) and
 * VDI.destroy (refused while a VBD has it attached, xapi_vdi.ml).
 */
#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "sim/internal.h"

static int h_pbd_plug(struct ctx *c)
{
    struct obj *pbd = sim_arg_obj(c, 1, CL_PBD);
    if (pbd) {
        sim_fset_bool(c->w, pbd, "currently_attached", true);
        sim_rok(c, xapi_value_new_void());
    }
    return R_DONE;
}

/* The VDIs of sr that running guests of host have attached (xapi_pbd.ml get_active_vdis). */
static struct xapi_value *active_vdis(struct world *w, struct obj *host, const char *sr)
{
    struct xapi_value *in_use = xapi_value_new_array();
    const struct xapi_value *rv = sim_fget(host, "resident_VMs");
    for (size_t i = 0; i < xapi_array_len(rv); i++) {
        struct obj *vm = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(rv, i)), CL_VM);
        if (!vm || sim_fbool(vm, "is_control_domain"))
            continue;
        const struct xapi_value *vbds = sim_fget(vm, "VBDs");
        for (size_t k = 0; k < xapi_array_len(vbds); k++) {
            struct obj *vbd = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(vbds, k)), CL_VBD);
            struct obj *vdi = vbd ? sim_obj_get_cls(w, sim_fstr(vbd, "VDI"), CL_VDI) : NULL;
            if (vdi && sim_fbool(vbd, "currently_attached") && strcmp(sim_fstr(vdi, "SR"), sr) == 0)
                xapi_array_append_string(in_use, vdi->ref);
        }
    }
    return in_use;
}

static int h_pbd_unplug(struct ctx *c)
{
    struct obj *pbd = sim_arg_obj(c, 1, CL_PBD);
    if (!pbd)
        return R_DONE;
    struct obj *host = sim_obj_get_cls(c->w, sim_fstr(pbd, "host"), CL_HOST);
    struct xapi_value *in_use =
        host ? active_vdis(c->w, host, sim_fstr(pbd, "SR")) : xapi_value_new_array();
    if (xapi_array_len(in_use) > 0) {
        xapi_response_cleanup(c->r);
        c->r->ok = false;
        c->r->error = xapi_value_new_array();
        xapi_array_append_string(c->r->error, "VDI_IN_USE");
        for (size_t i = 0; i < xapi_array_len(in_use); i++)
            xapi_array_append_take(c->r->error, xapi_value_dup(xapi_array_get(in_use, i)));
    } else {
        sim_fset_bool(c->w, pbd, "currently_attached", false);
        sim_rok(c, xapi_value_new_void());
    }
    xapi_value_free(in_use);
    return R_DONE;
}

/* PBD.create(record): host and SR required; device_config and other_config optional. */
static int h_pbd_create(struct ctx *c)
{
    const struct xapi_value *r = xapi_array_get(c->p, 1);
    struct obj *host = sim_obj_get_cls(c->w, xapi_struct_str(r, "host", ""), CL_HOST);
    struct obj *sr = sim_obj_get_cls(c->w, xapi_struct_str(r, "SR", ""), CL_SR);
    if (!host || !sr) {
        sim_rerr(c, "HANDLE_INVALID", 2, host ? "SR" : "host",
                 xapi_struct_str(r, host ? "SR" : "host", ""));
        return R_DONE;
    }
    struct obj *pbd = sim_obj_new(c->w, CL_PBD);
    sim_fset_str(c->w, pbd, "host", host->ref);
    sim_fset_str(c->w, pbd, "SR", sr->ref);
    const struct xapi_value *dc = xapi_struct_get(r, "device_config");
    if (dc && dc->type == XAPI_STRUCT)
        sim_fset(c->w, pbd, "device_config", xapi_value_dup(dc));
    sim_fset_add(c->w, sr, "PBDs", pbd->ref);
    sim_fset_add(c->w, host, "PBDs", pbd->ref);
    sim_rok(c, xapi_value_new_string(pbd->ref));
    return R_DONE;
}

static int h_pbd_destroy(struct ctx *c)
{
    struct obj *pbd = sim_arg_obj(c, 1, CL_PBD);
    if (!pbd)
        return R_DONE;
    if (sim_fbool(pbd, "currently_attached")) {
        sim_rerr(c, "OPERATION_NOT_ALLOWED", 1, "PBD is currently attached");
        return R_DONE;
    }
    struct obj *sr = sim_obj_get_cls(c->w, sim_fstr(pbd, "SR"), CL_SR);
    struct obj *host = sim_obj_get_cls(c->w, sim_fstr(pbd, "host"), CL_HOST);
    if (sr)
        sim_fset_del(c->w, sr, "PBDs", pbd->ref);
    if (host)
        sim_fset_del(c->w, host, "PBDs", pbd->ref);
    sim_obj_destroy(c->w, pbd);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

/* VDI.create(record): SR required; virtual_size takes room in the SR (SR_BACKEND_FAILURE_44
 * when it does not fit, as the SM backends answer). */
static int h_vdi_create(struct ctx *c)
{
    const struct xapi_value *r = xapi_array_get(c->p, 1);
    struct obj *sr = sim_obj_get_cls(c->w, xapi_struct_str(r, "SR", ""), CL_SR);
    if (!sr) {
        sim_rerr(c, "HANDLE_INVALID", 2, "SR", xapi_struct_str(r, "SR", ""));
        return R_DONE;
    }
    int64_t size = 0;
    xapi_value_as_int(xapi_struct_get(r, "virtual_size"), &size);
    if (size < 0 || size > sim_fint(sr, "physical_size") - sim_fint(sr, "physical_utilisation")) {
        sim_rerr(c, "SR_BACKEND_FAILURE_44", 3, "", "There is insufficient space", "");
        return R_DONE;
    }
    struct obj *vdi = sim_obj_new(c->w, CL_VDI);
    sim_fset_str(c->w, vdi, "SR", sr->ref);
    sim_fset_str(c->w, vdi, "name_label", xapi_struct_str(r, "name_label", ""));
    sim_fset_str(c->w, vdi, "name_description", xapi_struct_str(r, "name_description", ""));
    sim_fset_str(c->w, vdi, "type", xapi_struct_str(r, "type", "user"));
    sim_fset_int(c->w, vdi, "virtual_size", size);
    sim_fset_bool(c->w, vdi, "read_only", xapi_struct_bool(r, "read_only", false));
    sim_fset_bool(c->w, vdi, "sharable", xapi_struct_bool(r, "sharable", false));
    sim_fset_add(c->w, sr, "VDIs", vdi->ref);
    sim_fset_int(c->w, sr, "virtual_allocation", sim_fint(sr, "virtual_allocation") + size);
    sim_rok(c, xapi_value_new_string(vdi->ref));
    return R_DONE;
}

static int h_vdi_destroy(struct ctx *c)
{
    struct obj *vdi = sim_arg_obj(c, 1, CL_VDI);
    if (!vdi)
        return R_DONE;
    const struct xapi_value *vbds = sim_fget(vdi, "VBDs");
    for (size_t i = 0; i < xapi_array_len(vbds); i++) {
        struct obj *vbd = sim_obj_get_cls(c->w, xapi_value_str(xapi_array_get(vbds, i)), CL_VBD);
        if (vbd && sim_fbool(vbd, "currently_attached")) {
            sim_rerr(c, "VDI_IN_USE", 2, vdi->ref, "destroy");
            return R_DONE;
        }
    }
    struct obj *sr = sim_obj_get_cls(c->w, sim_fstr(vdi, "SR"), CL_SR);
    if (sr) {
        int64_t size = sim_fint(vdi, "virtual_size"), used = sim_fint(vdi, "physical_utilisation");
        sim_fset_del(c->w, sr, "VDIs", vdi->ref);
        sim_fset_int(c->w, sr, "virtual_allocation", sim_fint(sr, "virtual_allocation") - size);
        sim_fset_int(c->w, sr, "physical_utilisation", sim_fint(sr, "physical_utilisation") - used);
    }
    sim_obj_destroy(c->w, vdi);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

const struct handler sim_storage_handlers[] = {
    {"PBD.plug", h_pbd_plug, 0},
    {"PBD.unplug", h_pbd_unplug, 0},
    {"PBD.create", h_pbd_create, 0},
    {"PBD.destroy", h_pbd_destroy, 0},
    {"VDI.create", h_vdi_create, 0},
    {"VDI.destroy", h_vdi_destroy, 0},
    {NULL, NULL, 0},
};
