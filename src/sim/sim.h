/* SPDX-License-Identifier: MIT */
/*
 * sim.h - the pool simulator: pools of XAPI hosts modelled in memory, answering XAPI calls as
 * xapi does (records, errors with their parameters, tasks, event.from), with modelled durations
 * (reboots, toolstack restarts, applies, uploads, live migrations) and fault injection.  See
 * docs/simulator.md for the model, the scenario format and what is not simulated.
 *
 * Two ways to run it:
 *  - in-process, on a virtual clock (options.time_scale == 0): nothing moves until the driver
 *    calls sim_run_until; sim_next_deadline says when the next scheduled change is due.  Calls
 *    never block (event.from answers with what is there; a synchronous long call completes at
 *    once in virtual time).  Same seed -> same refs, same events, same run.
 *  - served over HTTP (sim_http.h) on a scaled clock (time_scale > 0): the server applies due
 *    changes itself; event.from long-polls and synchronous long calls wait.
 *
 * Thread-safety: every public function takes the sim's lock; any thread may call them.
 */
#ifndef PP_SIM_SIM_H
#define PP_SIM_SIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xapi/codec.h"
#include "xapi/inproc.h"

struct err;
struct pp_clock;
struct sim;

struct sim_options {
    bool seed_set; /* override the scenario's seed with seed */
    uint64_t seed;
    const char *base_address; /* override the scenario's first host address ("127.0.0.10") */
    double time_scale;        /* 0: virtual clock; > 0: scaled real clock (HTTP) */
    int64_t start_ms;         /* virtual clock start (0 = 2026-01-01T00:00:00Z) */
};

/*
 * Build a simulator from a scenario document (see docs/simulator.md).  On success *out is a new
 * sim the caller frees with sim_free.  Errors: PP_EPARSE / PP_EINVAL with a message naming the
 * offending field ("pools[0].hosts[2].memory_gib: expected a number").
 */
int sim_new_from_json(const json_t *scenario, const struct sim_options *o, struct sim **out,
                      struct err *e);
/* As sim_new_from_json, reading the scenario from a file (size-limited, strict JSON). */
int sim_new_from_file(const char *path, const struct sim_options *o, struct sim **out,
                      struct err *e);
/* Release everything; NULL is a no-op.  No call may be in progress. */
void sim_free(struct sim *s);

/* The sim's clock (borrowed; virtual or scaled). */
struct pp_clock *sim_clock(struct sim *s);
/* Pools in scenario order: count, name_label and the master's address ("127.0.0.10"). */
size_t sim_pool_count(struct sim *s);
const char *sim_pool_name(struct sim *s, size_t i);
/* Copies the current master's address of pool i into out (size n). */
void sim_pool_master_address(struct sim *s, size_t i, char *out, size_t n);
/* All host addresses (borrowed, stable for the sim's life), in scenario order. */
size_t sim_host_count(struct sim *s);
const char *sim_host_address(struct sim *s, size_t i);

/*
 * Answer one XAPI call addressed to host_address, as the in-process transport does (never
 * blocks).  Fills *out and returns 0, or returns PP_ETRANSPORT (e set) when that host cannot be
 * reached (unknown address, down, rebooting, toolstack restarting, partitioned).
 */
int sim_call(struct sim *s, const char *host_address, const char *method,
             const struct xapi_value *params, struct xapi_response *out, struct err *e);
/*
 * Upload as `PUT /import_raw_vdi?session_id=&sr_id=&task_id=` would (query without '?').  The
 * task (if given) completes after bytes / upload bandwidth.  Returns 0, PP_ETRANSPORT, or
 * PP_EINVAL / PP_EXAPI (e->xapi_code set) when the request is refused.
 */
int sim_put(struct sim *s, const char *host_address, const char *path_and_query, const void *body,
            size_t len, struct err *e);
/*
 * XenServer 8's `GET /updates?session_id=S[&host_refs=R1;R2]` (query without '?'): *out is the
 * JSON document (new reference).  Errors: PP_ETRANSPORT (host unreachable), PP_EXAPI with
 * e->xapi_code HOST_IS_SLAVE / SESSION_INVALID, PP_ENOTFOUND when the pool has no repository
 * (xapi answers 404).
 */
int sim_get_updates(struct sim *s, const char *host_address, const char *query, json_t **out,
                    struct err *e);
/* Fill *out so that the XAPI client's in-process transport reaches s (xapi/inproc.h). */
void sim_inproc_handler(struct sim *s, struct xapi_inproc_handler *out);

/* Time of the next scheduled state change in the sim's timeline, or -1 when none. */
int64_t sim_next_deadline(struct sim *s);
/*
 * Apply every scheduled change due at or before t_ms, in order, and move a virtual clock to t_ms
 * (a scaled clock is not moved).  Wakes blocked HTTP waiters.
 */
void sim_run_until(struct sim *s, int64_t t_ms);

/*
 * Add (or, with "type":"clear", remove) a fault, as the scenario's "faults" entries and
 * POST /sim/fault take them.  Returns 0 or PP_EINVAL with a message naming the bad field.
 */
int sim_fault_apply(struct sim *s, const json_t *fault, struct err *e);
/*
 * POST /sim/upgrade: the operator boots a host from install media (docs/simulator.md
 * "Upgrades"): {"host": name | uuid | ref | address, "release": product_version | name (default:
 * the newest), "outcome": "upgraded" (default) | "old_version"}.  The host goes down now and comes
 * back after the release's install time.  Or {"vm": name | uuid | ref, "tools": VERSION}: the
 * VM's guest tools upgraded from inside the guest (its VM_guest_metrics.PV_drivers_version
 * becomes VERSION).  Returns 0, or PP_EINVAL naming the bad field, or PP_ESTATE (the host is
 * already down).  Any thread.
 */
int sim_upgrade_host(struct sim *s, const json_t *req, struct err *e);
/* The base URL of the vendor file service that serves the releases' install media
 * ("<base>/installers/<product_version>/"); copied.  Without it, "http://127.0.0.2". */
void sim_set_media_url(struct sim *s, const char *base);
/* The GET /sim/state document (new reference): pools, hosts, counters. */
json_t *sim_state_json(struct sim *s);
/*
 * The host at address serves a TLS certificate with this SHA-256 fingerprint ("AB:CD:..."): its
 * Certificate record of type "host" (created, or its fingerprint replaced, as xapi's
 * certificates.ml Db_util.add_cert and certificates_sync.ml keep them), listed in the host's
 * certificates field.  0 or PP_ENOTFOUND.  Any thread (takes the sim's lock).
 */
int sim_host_certificate_set(struct sim *s, const char *address, const char *fingerprint,
                             struct err *e);

#endif
