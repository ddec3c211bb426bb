/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the simulator's internal model, shared by its .c files only.
 *
 * One struct world per simulated pool: its own objects (records as xapi values, the source of
 * truth for every field a client can read), sessions, generation counter and event log.  Every
 * mutation goes through the f*() helpers, which bump the object's generation (that is what
 * event.from reports).  Sim-only state lives in typed extras (struct hostx ...).  Scheduled state
 * changes sit in one binary heap ordered by (time, sequence).  Everything runs under sim->mu.
 */
#ifndef PP_SIM_INTERNAL_H
#define PP_SIM_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/rng.h"
#include "base/vec.h"
#include "base/uuid.h"
#include "sim/hmap.h"
#include "sim/sim.h"
#include "sim/spec.h"
#include "xapi/codec.h"
#include "xapi/value.h"

#define REF_LEN   48
#define MAX_SLOTS 16
#define GIB       (1024LL * 1024 * 1024)
#define MIB       (1024LL * 1024)

enum cls {
    CL_POOL,
    CL_HOST,
    CL_HOST_METRICS,
    CL_VM,
    CL_VBD,
    CL_VDI,
    CL_SR,
    CL_PBD,
    CL_POOL_UPDATE,
    CL_TASK,
    CL_VM_GUEST_METRICS,
    CL_CERTIFICATE, /* a host's TLS certificate (sim_host_certificate_set, with --tls) */
    CL_NCLS
};
extern const char *const sim_cls_wire[CL_NCLS];  /* "pool", "host", "VM", ... */
extern const char *const sim_cls_lower[CL_NCLS]; /* event class names: "vm", "host", ... */
/* Class by wire name (case-insensitive), or -1. */
int sim_cls_by_name(const char *name);

struct world;
struct sim;

struct hostx {
    struct obj *o; /* the host object; NULL once host.destroy forgot it */
    struct world *w;
    size_t index; /* in sim->hosts */
    char address[64];
    struct obj *metrics;
    struct obj *dom0;
    bool up;        /* xapi answers (false while rebooting or restarting the toolstack) */
    bool emergency; /* supporter that lost its master */
    int64_t mem_total;
    int64_t reserved; /* memory reserved for incoming migrations */
    int64_t used;     /* overhead + resident VMs' footprints, valid when used_valid */
    bool used_valid;  /* cleared whenever resident_VMs changes */
    int64_t slot_free[MAX_SLOTS];
    struct xapi_value *pending_sw; /* software_version taken at next boot, or NULL */
    int reboots, restarts;
    int logins; /* session.login* calls this host received (credentials sent to it) */
    bool stuck; /* its reboot never ends (reboot_never_returns) until the fault is cleared */
    json_t *xs8_applied; /* ids of repository updates applied (xs8.c), or NULL */
    /* upgrade.c: the release (index + 1) prepare_host_upgrade.py main prepared for the next
     * boot, the one being installed, and whether the installer leaves the old version */
    size_t prepared, installing;
    bool install_keeps_old;
    /* emergency mode that reconnecting does not end (xapi.ml: a supporter whose xapi is newer
     * than its coordinator's): the error code and its parameter, or "" */
    char emergency_code[64], emergency_param[64];
};

struct taskx {
    struct xapi_value *result; /* value of a successful task (for sync waiters), owned */
    bool cancellable;
    bool by_client; /* made by task.create: its creator finishes it (and honours cancel) */
};

struct vdix {
    unsigned char *head; /* first bytes of the content (update.xml lives there) */
    size_t head_len;
};

struct updx {
    bool livepatch;              /* carries a live patch */
    struct xapi_value *lp_hosts; /* host refs where it applies live (NULL = every host) */
    struct xapi_value *new_sw;   /* software_version fields after reboot, or NULL */
};

struct obj {
    enum cls cls;
    char ref[REF_LEN];
    char uuid[UUID_STR_LEN];
    struct xapi_value *rec; /* NULL once deleted */
    uint64_t gen, created_gen;
    int64_t mtime;
    struct obj *gprev, *gnext; /* generation order (event log) */
    struct obj *cprev, *cnext; /* class list, creation order */
    bool deleted;
    void *x; /* struct hostx / taskx / vdix / updx, or NULL */
};

struct session {
    char ref[REF_LEN];
    char uuid[UUID_STR_LEN];
    struct obj *local_host; /* slave_local_login: valid on that host only */
    char *user;
    int role;        /* SIM_ROLE_* bit of the user's role (RBAC) */
    bool superuser;  /* the local superuser (root): every call allowed */
    int64_t created; /* sim time of the login (session.last_active, validation_time) */
    char originator[64];
    uint64_t reg_gen;    /* event.register / event.next: the generation last delivered */
    json_t *reg_classes; /* classes registered with event.register (array), or NULL */
};

/* A scenario user other than the superuser (scenario "users"), with one of xapi's roles. */
struct sim_user {
    char *name, *password;
    int role; /* SIM_ROLE_* */
};

struct world {
    struct sim *s;
    size_t idx;
    char *name;
    struct hmap refs, uuids, sessions;
    struct obj *chead[CL_NCLS], *ctail[CL_NCLS];
    size_t ccount[CL_NCLS];
    struct obj *ghead, *gtail;
    uint64_t gen, lost_gen;
    size_t ntomb;
    struct obj *pool, *master;
    bool partitioned;
    struct obj *cut;             /* the host a partition cut off (the master when it began) */
    struct hmap byname[CL_NCLS]; /* name_label -> obj, only while the scenario loads */
    json_t *repo;                /* XenServer 8 repository updates (xs8.c), or NULL */
    char repo_version[32];       /* the release the repository is for ("": any), xs8.c */
    char synced_hash[65];        /* the hash of the last pool.sync_updates, or "" */
    bool xs8_busy;               /* a host.apply_updates is running (one per pool) */
    char xs8_applying[65];       /* the hash it applies */
};

enum action_kind {
    ACT_HOST_BOOTED,
    ACT_AGENT_STARTED,
    ACT_MIGRATE_DONE,
    ACT_EVACUATE_DONE,
    ACT_APPLY_DONE,
    ACT_UPLOAD_DONE,
    ACT_VM_POWER_DONE,
    ACT_NEW_MASTER,
    ACT_EMERGENCY,
    ACT_RECONNECT,
    ACT_XS8_APPLY_DONE,
    ACT_TASK_DONE,
    ACT_TASK_PROGRESS /* n: progress in thousandths */
};

struct action {
    int64_t t;
    uint64_t seq;
    int kind;
    struct world *w;
    char a[REF_LEN], b[REF_LEN], c[REF_LEN];
    int64_t n;
    int flag;
};

struct fault {
    char type[32];
    struct world *w; /* NULL = any pool */
    char host[128], vm[128], sr[128], update[128];
    char code[96];
    json_t *params;    /* array of strings or NULL */
    int remaining;     /* < 0: unlimited */
    char armed_by[64]; /* "class.message": inactive until the first such call (sim_faults_arm) */
    bool host_cut;     /* an active partition of a supporter (host): cut off from its master */
};

struct timings {
    int64_t install_ms; /* a release's installer (upgrade) when the release gives no install_s */
    int64_t reboot_ms, toolstack_ms, apply_ms, vm_start_ms, vm_shutdown_ms, migrate_overhead_ms;
    int64_t designate_ms, emergency_after_ms, precheck_ms;
    double upload_bps, migrate_bps; /* bytes per second */
    int parallel_migrations;
};

/* An in-process client's loop to wake when the world changes by itself (xapi/inproc.h watch). */
struct sim_watcher {
    void (*wake)(void *arg);
    void *arg;
};

struct sim {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct VEC(struct sim_watcher) watchers; /* under mu */
    struct pp_clock *clock;
    bool virtual_clock;
    struct rng rng;
    uint64_t seed;
    struct world **worlds;
    size_t nworlds;
    struct hostx **hosts; /* every simulated host, scenario order; owned */
    size_t nhosts;
    struct hmap addrs; /* address -> struct hostx */
    struct action *heap;
    size_t nheap, capheap;
    uint64_t seq;
    struct fault *faults;
    size_t nfaults;
    struct timings tm;
    char *user, *password;
    struct sim_user *users;
    size_t nusers;
    struct xapi_value *templates[CL_NCLS];
    bool stopping; /* the HTTP server is stopping: blocked calls return */
    uint64_t n_migrations, n_migrations_failed, n_reboots, n_restarts, n_applies, n_calls;
    uint64_t n_migrations_dst_wait;   /* migrations that waited for a slot on their destination */
    uint64_t n_uploads, n_introduces; /* update images received, pool_update.introduce done */
    struct sim_release *releases;     /* scenario "releases" (upgrade.c); owned */
    size_t nreleases;
    char *media_base; /* base URL of the install media of releases without a url, or NULL */
};

/* A new release hosts can be upgraded to (scenario "releases", upgrade.c). */
struct sim_release {
    char *name;
    struct xapi_value *sw; /* the software_version keys the release sets */
    int64_t api_major, api_minor;
    char *url; /* scenario-given install URL, or NULL (served by the vendor file service) */
    int64_t install_ms;
};

/*
 * ---- model.c: objects, fields, events ----
 * Everything here runs under sim->mu and never fails (allocation failures abort, as in base/mem.h).
 * Objects are owned by their world; pointers stay valid until obj_destroy (a destroyed object
 * lingers as a tombstone for event.from until the oldest tombstones are dropped).
 */
/* Now in the sim's timeline (virtual or scaled), ms since the epoch. */
int64_t sim_now(struct sim *s);
/* A new object of class c: the class's default record, a fresh ref and uuid from the seeded rng
 * (or the given uuid), an `add` for event.from. */
struct obj *sim_obj_new(struct world *w, enum cls c);
struct obj *sim_obj_new_uuid(struct world *w, enum cls c, const char *uuid);
/* Delete: frees the record and extras, keeps a tombstone for a `del` event. */
void sim_obj_destroy(struct world *w, struct obj *o);
/* Live object by ref (any class / class c), or NULL. */
struct obj *sim_obj_get(struct world *w, const char *ref);
struct obj *sim_obj_get_cls(struct world *w, const char *ref, enum cls c);
/* First live object of class c with that name_label, or NULL (linear except while loading). */
struct obj *sim_obj_by_name(struct world *w, enum cls c, const char *name_label);
/* Mark o changed: a new generation, so event.from reports it. */
void sim_obj_touch(struct world *w, struct obj *o);
/* Free a world and all its objects and sessions; NULL is a no-op. */
void sim_world_free(struct world *w);

/* Field getters: borrowed value / string ("" when absent) / int / bool (0, false when absent). */
const struct xapi_value *sim_fget(const struct obj *o, const char *f);
const char *sim_fstr(const struct obj *o, const char *f);
int64_t sim_fint(const struct obj *o, const char *f);
bool sim_fbool(const struct obj *o, const char *f);
/* Field setters: replace the field (fset takes v) and touch o when the value changed. */
void sim_fset(struct world *w, struct obj *o, const char *f, struct xapi_value *v);
void sim_fset_str(struct world *w, struct obj *o, const char *f, const char *v);
void sim_fset_int(struct world *w, struct obj *o, const char *f, int64_t v);
void sim_fset_bool(struct world *w, struct obj *o, const char *f, bool v);
void sim_fset_double(struct world *w, struct obj *o, const char *f, double v);
void sim_fset_dt(struct world *w, struct obj *o, const char *f, int64_t t_ms);
/* Map fields: put / delete (true when it existed) / borrowed value or NULL. */
void sim_fmap_put(struct world *w, struct obj *o, const char *f, const char *k, const char *v);
bool sim_fmap_del(struct world *w, struct obj *o, const char *f, const char *k);
const char *sim_fmap_get(const struct obj *o, const char *f, const char *k);
/* Set fields (arrays of strings): add if absent / delete (true when it existed) / membership. */
void sim_fset_add(struct world *w, struct obj *o, const char *f, const char *v);
bool sim_fset_del(struct world *w, struct obj *o, const char *f, const char *v);
bool sim_fset_has(const struct obj *o, const char *f, const char *v);

/* The sim-only state of a host object (borrowed). */
struct hostx *sim_hx(struct obj *host);
/* Free memory of a host as xapi's compute_free_memory sees it (minus reservations). */
int64_t sim_host_free_memory(struct world *w, struct obj *host);
/* What a VM occupies on its host: memory_dynamic_max + memory_overhead. */
int64_t sim_vm_footprint(const struct obj *vm);
/* Is host the world's current coordinator? */
bool sim_host_is_master(struct world *w, struct obj *host);

/* Tasks: a pending task (cancellable: task.cancel allowed); finish it with a result (val taken;
 * task.result becomes its XML-RPC fragment) or an error ([CODE, params...], copied). */
struct obj *sim_task_new(struct world *w, const char *name, struct obj *host, bool cancellable);
void sim_task_succeed(struct world *w, struct obj *task, struct xapi_value *val);
void sim_task_fail(struct world *w, struct obj *task, const struct xapi_value *error);
void sim_task_fail_code(struct world *w, struct obj *task, const char *code, size_t n, ...);
/* True for a live task whose status is pending. */
bool sim_task_pending(const struct obj *task);

/* Scheduling: queue a state change at time t (refs a, b, c looked up when it runs); apply every
 * change due at or before t in (time, order) order, moving a virtual clock along. */
void sim_sched(struct sim *s, struct world *w, int64_t t, int kind, const char *a, const char *b,
               const char *c, int64_t n, int flag);
void sim_run_due(struct sim *s, int64_t t);
/* Tell the in-process clients' loops that the world changed (s->mu held; sim.c). */
void sim_wake_watchers(struct sim *s);
/* ops.c: what a scheduled change does. */
void sim_apply_action(struct sim *s, struct action *a);

/*
 * Faults (state.c): find a matching fault (empty target fields match anything), consume one use
 * and, when out is not NULL, copy it into *out (the caller json_decrefs out->params).
 */
bool sim_fault_take(struct sim *s, struct world *w, const char *type, const struct obj *host,
                    const struct obj *vm, const struct obj *sr, const struct obj *update,
                    struct fault *out);
/* As fault_take without consuming a use. */
bool sim_fault_peek(struct sim *s, struct world *w, const char *type, const struct obj *host,
                    const struct obj *vm, const struct obj *sr, const struct obj *update);
/* Release every fault. */
void sim_faults_free(struct sim *s);
/* A call of method ("class.message", Async. stripped) reached world w: the faults armed by it
 * become active (a partition starts).  Caller holds the lock. */
void sim_faults_arm(struct sim *s, struct world *w, const char *method);
/* host_go_down helper kinds */
enum { DOWN_REBOOT = 0, DOWN_TOOLSTACK = 1 };

/* ---- dispatch.c ---- */
struct ctx {
    struct sim *s;
    struct world *w;
    struct obj *host; /* the host addressed */
    struct session *sess;
    const char *method; /* as called */
    const struct xapi_value *p;
    size_t np;
    struct xapi_response *r;
    struct obj *task; /* for long operations */
    bool instant;     /* in-process synchronous: durations are zero */
    bool blocking;    /* HTTP: may wait */
};
/* A handler's outcome: the response is filled, or its task completes later (long calls). */
enum { R_DONE = 0, R_PENDING = 1 };
/* Whether method is a synchronous long call, which over HTTP waits for its task (http.c runs
 * those off its thread pool).  Pure lookup, any thread. */
bool sim_dispatch_may_block(const char *method);
/* xapi's event.from delay_before for an event.from of these classes: 50 ms, 0 when every
 * subscription is a task's (dispatch.c).  Pure, any thread. */
#define SIM_EVENT_FROM_DELAY_MS 50
int64_t sim_event_from_delay_ms(const struct xapi_value *classes);
/*
 * Answer one call addressed to addr (caller holds the lock; blocking waits release it).  Fills
 * *r and returns 0, or PP_ETRANSPORT (e set) when the host cannot be reached.
 */
int sim_dispatch(struct sim *s, const char *addr, const char *method,
                 const struct xapi_value *params, struct xapi_response *r, bool blocking,
                 bool *predispatch, struct err *e);
/* Fail the call with [code, n string params...] / succeed with v (taken). */
void sim_rerr(struct ctx *c, const char *code, size_t n, ...);
void sim_rok(struct ctx *c, struct xapi_value *v);
/* Parameter i as an object of class cl, or NULL after answering HANDLE_INVALID [cl, ref]. */
struct obj *sim_arg_obj(struct ctx *c, size_t i, enum cls cl);
/* Parameter i as a string ("" when absent or not a string; borrowed). */
const char *sim_arg_str(struct ctx *c, size_t i);
/* A modelled duration: ms, or 0 for an in-process synchronous call (which cannot wait). */
int64_t sim_dur(struct ctx *c, int64_t ms);

/* ---- ops.c: the handlers of host / VM / pool / VBD / pool_update calls ---- */
struct handler {
    const char *name; /* "host.reboot" */
    int (*fn)(struct ctx *c);
    unsigned flags;
};
#define H_LONG      1u /* takes time: runs as a task, completes by a scheduled action */
#define H_EMERGENCY 2u /* allowed on a supporter (emergency calls) */
#define H_NOSESSION 4u /* no session argument */
#define H_CANCEL    8u /* its task can be cancelled */
extern const struct handler sim_op_handlers[];

/* ---- storage.c: PBD.plug / unplug / create / destroy, VDI.create / destroy ---- */
extern const struct handler sim_storage_handlers[];

/* ---- task.c: task.create / cancel / destroy / set_* ---- */
extern const struct handler sim_task_handlers[];
/* Raise a pending task's progress to p (never lowers it). */
void sim_task_progress(struct world *w, struct obj *task, double p);
/* A subtask of parent named name (Async.VM.pool_migrate for an evacuation's migrations). */
struct obj *sim_subtask_new(struct world *w, struct obj *parent, const char *name);

/* ---- session.c: logins (scenario users with xapi's roles), logout, session records ---- */
/* Free every session of w (the map itself stays, emptied of values only by the caller). */
void sim_sessions_clear(struct world *w);
extern const struct handler sim_session_handlers[];
/* The SIM_ROLE_* bit of one of xapi's role names ("read-only", ...), or -1. */
int sim_role_by_name(const char *name);
/* model.c: the default record of a datamodel class (new value). */
struct xapi_value *sim_spec_defaults(const struct sim_class_spec *cs);

/* ---- xs8.c: XenServer 8 repository updates (minimal) ---- */
/* Load a pool's scenario "repository" (path names it in errors).  PP_EINVAL on bad input. */
int sim_xs8_load(struct world *w, const json_t *repo, const char *path, struct err *e);
/* The scheduled end of a host.apply_updates. */
void sim_xs8_apply_done(struct sim *s, struct action *a);
/* A host's xapi started (reboot: the host booted): clear the guidance that start satisfies. */
void sim_xs8_on_start(struct world *w, struct obj *h, bool reboot);
/* The GET /updates document (new reference), or NULL when the pool has no repository.
 * host_refs: "R1;R2" or NULL for every host. */
json_t *sim_xs8_updates_json(struct world *w, const char *host_refs);
extern const struct handler sim_xs8_handlers[];

/* ---- upgrade.c: releases, prepare_host_upgrade.py, installer reboots, manual upgrades ---- */
extern const struct handler sim_upgrade_handlers[];
/* Load the scenario's "releases" (NULL: none).  PP_EINVAL naming the field. */
int sim_releases_load(struct sim *s, const json_t *arr, struct err *e);
/* Free the releases. */
void sim_releases_free(struct sim *s);
/* sim_upgrade_host under the lock. */
int sim_upgrade_host_locked(struct sim *s, const json_t *req, struct err *e);
/* The "releases" array of GET /sim/state (new reference). */
json_t *sim_releases_json(struct sim *s);
/* A host is going down for a reboot: when prepared, it boots the installer instead.  Returns
 * how long it stays away (ms), or -1 when an upgrade_fails fault keeps it away until cleared. */
int64_t sim_upgrade_on_down(struct sim *s, struct world *w, struct obj *h, int64_t reboot_ms);
/* A host booted (reboot): finish its installation, if any (keep_old: returns_old_version). */
void sim_upgrade_on_boot(struct sim *s, struct world *w, struct obj *h, bool keep_old);
/* Does h's software stop its xapi from joining its coordinator (newer xapi than the
 * coordinator's)?  Sets or clears h's emergency code accordingly. */
bool sim_upgrade_blocks_join(struct world *w, struct obj *h);
/* Is the pool in rolling-upgrade mode (pool.other_config:rolling_upgrade_in_progress)? */
bool sim_rpu_active(struct world *w);
/* xapi_globs.ml rpu_allowed_vm_operations: may VM operation op run during a rolling upgrade? */
bool sim_rpu_vm_op_allowed(const char *op);
/* Helpers.Checks.RPU.host_has_highest_version_in_pool (platform_version and xapi). */
bool sim_rpu_host_highest(struct world *w, struct obj *h);
/* Do h's platform_version and xapi equal the coordinator's? */
bool sim_rpu_same_as_master(struct world *w, struct obj *h);
/* Compare dotted version strings numerically (<0, 0, >0). */
int sim_version_cmp(const char *a, const char *b);
/* The VM_guest_metrics a scenario VM's "tools" version gives it (path names it in errors). */
int sim_guest_metrics_new(struct world *w, struct obj *vm, const char *tools, const char *path,
                          struct err *e);
/* ops.c: a supporter enters / leaves emergency mode (leaving makes it live again). */
void sim_set_emergency(struct world *w, struct obj *h, bool on);
/* ops.c: take a host down (reboot or toolstack restart) as host.reboot / restart_agent do. */
void sim_host_down(struct sim *s, struct world *w, struct obj *h, int kind);

/* ---- scenario.c ---- */
/* Build the worlds of s from a scenario document (docs/simulator.md).  Returns 0 or PP_EINVAL
 * with e naming the field; s is then partly built and must be freed. */
int sim_scenario_load(struct sim *s, const json_t *root, const struct sim_options *o,
                      struct err *e);
/* Parse one fault document into *f (f->params is a new reference).  PP_EINVAL names the field. */
int sim_fault_parse(struct sim *s, const json_t *j, const char *where, struct fault *f,
                    struct err *e);

/* ---- update_xml.c ---- */
struct update_meta {
    char uuid[UUID_STR_LEN];
    char name_label[256], name_description[512], version[64], guidance[256];
    int64_t installation_size;
    bool livepatch;
    char product_version[64], platform_version[64], build_number[128];
};
/* Parse an update image's update.xml (first NUL or 64 KiB).  Returns 0 or PP_EPARSE with a
 * reason in e. */
int sim_update_xml_parse(const unsigned char *data, size_t len, struct update_meta *m,
                         struct err *e);

/* ---- shared between the simulator's files ---- */

/* ops.c: a pool_update object from parsed metadata (no VDI, no hosts).  Under the lock. */
struct obj *sim_update_create(struct world *w, const struct update_meta *m);
/* ops.c: recompute a VM's allowed_operations from its power state and current operations. */
void sim_vm_refresh_ops(struct world *w, struct obj *vm);
/* ops.c: recompute host.allowed_operations (enabled, live, operations in progress). */
void sim_host_refresh_ops(struct world *w, struct obj *h);
/* ops.c: HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY [host] when its reboot_host /
 * restart_toolstack guidance is pending (answered; true). */
bool sim_host_guidance_pending(struct ctx *c, struct obj *h);
/* ops.c: set / clear pool.other_config:rolling_upgrade_in_progress from the hosts' versions. */
void sim_rpu_detect(struct world *w);
/* ops.c: a host's xapi is up again (reboot == true: the whole host booted). */
void sim_host_booted(struct sim *s, struct world *w, struct obj *h, bool reboot);
/* state.c: parse and install (or clear) one fault; where names it in errors.  Under the lock. */
int sim_fault_add(struct sim *s, const json_t *j, const char *where, struct err *e);
/* state.c: the GET /sim/state document (new reference).  Under the lock. */
json_t *sim_state_json_locked(struct sim *s);
/*
 * sim.c: the HTTP server's entry: as sim_call but may block (event.from long-polls, synchronous
 * long calls wait for their task); *predispatch tells an error raised before dispatch (emergency
 * mode), which JSON-RPC encodes in xapi's pre-dispatch form.  Takes the lock.
 */
int sim_call_blocking(struct sim *s, const char *host_address, const char *method,
                      const struct xapi_value *params, struct xapi_response *out, bool *predispatch,
                      struct err *e);
/*
 * sim.c: an upload of which only the first head_len bytes are kept, total_len in all (HTTP
 * streams the body).  Errors as sim_put.  Caller holds the lock.
 */
int sim_put_locked(struct sim *s, const char *host_address, const char *path_and_query,
                   const void *head, size_t head_len, int64_t total_len, struct err *e);

/*
 * sim.c: the body of a PUT /import_raw_vdi ended early (connection dropped): fail the upload's
 * task (task_id in the query) as xapi does.  Takes the lock; unknown hosts / tasks are ignored.
 */
void sim_put_cut_short(struct sim *s, const char *host_address, const char *path_and_query,
                       int64_t received);

#endif
