/* SPDX-License-Identifier: MIT */
/*
 * twin.h - a rehearsal twin of a real pool: turns the records a pool answers (get_all_records
 * of the classes below) into a simulator scenario (docs/simulator.md) with the same topology:
 * hosts and their memory, CPUs, versions and enabled state, the master, VMs with their memory,
 * vCPUs, power state, placement, affinity, disks, CD, PCI marker, HA priority and blocked
 * operations, SRs shared or local with their sizes, installed updates, HA.  Credentials are
 * never copied: the twin logs in as root / xenroot.  Pure: no I/O, any thread.
 */
#ifndef PP_SIM_TWIN_H
#define PP_SIM_TWIN_H

#include <jansson.h>

struct err;
struct xapi_value;

enum sim_twin_class {
    SIM_TWIN_POOL,
    SIM_TWIN_HOST,
    SIM_TWIN_HOST_METRICS,
    SIM_TWIN_VM,
    SIM_TWIN_VBD,
    SIM_TWIN_VDI,
    SIM_TWIN_SR,
    SIM_TWIN_PBD,
    SIM_TWIN_POOL_UPDATE,
    SIM_TWIN_VM_GUEST_METRICS,
    SIM_TWIN_NCLASSES
};

/* The XAPI class names to read, in enum order ("pool", "host", ..., "pool_update",
 * "VM_guest_metrics"). */
extern const char *const sim_twin_classes[SIM_TWIN_NCLASSES];

/*
 * Build the scenario of one pool from recs[i] = the answer of <sim_twin_classes[i]>.get_all_records
 * (a struct ref -> record; borrowed; pool_update may be NULL for pools without it).  Names that
 * repeat get "-2", "-3", ... (a scenario names objects uniquely).  Returns 0 and *out (new
 * reference), or PP_EPARSE with e naming what is missing (no pool or host record).
 */
int sim_twin_build(const struct xapi_value *const recs[SIM_TWIN_NCLASSES], json_t **out,
                   struct err *e);

#endif
