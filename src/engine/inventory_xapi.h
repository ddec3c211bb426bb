/* SPDX-License-Identifier: MIT */
/*
 * inventory_xapi.h - build the planner's plain-data inventory (plan/inventory.h) from XAPI
 * records: pool, host, host_metrics, VM, VBD, VDI, SR, PBD and pool_update, as the client's
 * event.from cache holds them (field names per xapi's datamodel).
 *
 * The records come through struct xapi_records (xapi/records.h) so the conversion is tested
 * without a pool.
 * Thread: the caller's; the source must not change during the call.
 */
#ifndef PP_ENGINE_INVENTORY_XAPI_H
#define PP_ENGINE_INVENTORY_XAPI_H

#include <stdbool.h>

#include "plan/inventory.h"
#include "xapi/records.h"
#include "xapi/value.h"

struct err;
struct xapi_client;

/*
 * Convert.  Templates, snapshots and control domains are left out of the VMs.  A host's free
 * memory is computed as xapi's host.compute_free_memory does in essence: total minus the
 * memory (plus per-VM overhead) of resident running / paused VMs minus the host's overhead and
 * its control domain's memory (host_metrics.memory_free is removed from the datamodel).  Returns a
 * new pool (inv_pool_free) or NULL with e set when the source has no pool record.
 */
struct inv_pool *inv_from_xapi(const struct xapi_records *src, struct err *e);

#endif
