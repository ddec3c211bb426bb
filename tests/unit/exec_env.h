/* SPDX-License-Identifier: MIT */
/*
 * exec_env.h - an in-process world for the rollout executor's tests and benchmark: the
 * simulator on its virtual clock, one XAPI client per pool on the sim's in-process handler (with
 * the engine's cache classes), a journal in a temporary directory, a catalog, and an exec_env
 * wired to them.  The executor (and its clients) can be destroyed and recreated on the same
 * store and simulator, as after a crash.  Test and bench code only (it links sim).
 */
#ifndef PP_TESTS_EXEC_ENV_H
#define PP_TESTS_EXEC_ENV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "engine/exec.h"
#include "plan/plan.h"
#include "sim/sim.h"
#include "store/store.h"
#include "xapi/client.h"

struct tenv {
    struct sim *sim;
    struct xapi_inproc_handler h;
    struct xapi_loop *loop;
    size_t n_pools;
    char **pool_names;
    struct xapi_client **clients;
    struct store *store;
    char dir[256];
    struct catalog *cat;
    struct exec *x;
    struct exec_env env;
    unsigned emits;
    bool quiet;
    struct sim_server *srv; /* HTTP mode: the sim served on 127.0.0.x, a scaled clock */
    struct pp_clock *clock; /* the sim's */
};

/* One update that needs a reboot (XS82ECU1002, uuid TENV_U_REBOOT) for 8.2.1, in the minimal
 * set: the catalog of bench-16's rollout (bench_rollout, unit-exec_dest). */
#define TENV_U_REBOOT "5b0e8f9e-1d2c-4b7a-9a61-2f1e3d4c5b01"
extern const char *const tenv_reboot_catalog;

/* Build from a scenario document and catalog XML (both borrowed).  NULL with e on failure. */
struct tenv *tenv_new(const json_t *scenario, const char *catalog_xml, struct err *e);
/* The same world over HTTP: the sim served on its hosts' 127.0.0.x addresses (a free port) on a
 * clock time_scale times faster than real time; the clients speak HTTP to it. */
struct tenv *tenv_new_http(const json_t *scenario, const char *catalog_xml, double time_scale,
                           struct err *e);
void tenv_free(struct tenv *t);
/* Connect the clients (caches ready) and create the executor. */
int tenv_start(struct tenv *t, struct err *e);
/* Destroy the executor and the clients, as a crash would (nothing is cancelled first). */
void tenv_crash(struct tenv *t);
/* Run the loop and the executor until the rollout leaves running / cancelling, or max_turns.
 * Returns the rollout's state. */
enum store_rollout_state tenv_run(struct tenv *t, const char *id, long max_turns);
/* Sum of journal writes of a rollout (intents + dones + fails + skips). */
long tenv_journal_writes(struct tenv *t, const char *id);
/* One turn: exec_tick then one loop run.  Returns the loop's result. */
int tenv_turn(struct tenv *t);
/* Write a file in the env's temp dir; returns its path (static buffer rotated 4 ways). */
const char *tenv_write(struct tenv *t, const char *name, const void *data, size_t len);
/* The simulated update image (update.xml) for uuid. */
char *tenv_image(const char *uuid, const char *name, const char *guidance, bool livepatch);
/* Read a value from the sim state: pool i's host named name. */
const json_t *tenv_sim_host(const json_t *state, const char *name);

#endif
