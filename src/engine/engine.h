/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the rollout engine's public face: the one object that owns the store, a XAPI
 * connection per registered pool, the update catalog, plans and journaled rollouts.
 *
 * Threading: the engine runs its own thread (engine_start).  Every engine_* request below is
 * safe to call from any other thread (the REST server's, the CLI's): it is handed to the engine
 * thread through a queue and the caller blocks until the engine answered (or timeout_ms of the
 * engine config passes: PP_ETIMEOUT).  Results come back as new jansson values the caller owns
 * (json_decref) — never shared with the engine thread afterwards.
 *
 * Errors: 0 or a negative PP_E* code with struct err filled; XAPI errors keep their code.
 *
 * JSON shapes are documented in docs/rest-api.md; the REST API passes them through unchanged.
 */
#ifndef PP_ENGINE_ENGINE_H
#define PP_ENGINE_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct pp_clock;
struct engine;

struct engine_config {
    const char *db_path;        /* SQLite file (created 0600) */
    struct pp_clock *clock;     /* borrowed; real clock when NULL */
    const char *catalog_url;    /* updates.xml URL (http, https or file://); NULL = setting */
    const char *vendor_origins; /* origins that may get the client ID (comma separated); NULL =
                                   the vendor's file service (docs/security.md) */
    int check_interval_s;       /* periodic update checks; 0 = off; <0 = setting / default */
    const char *default_policy; /* "return" / "minimal": the policy of plan requests without
                                   one (settings file); NULL = the stored setting, else return */
    int request_timeout_ms;     /* how long a request waits for the engine thread (0 = 30 s) */
    int host_return_timeout_s;  /* how long a rebooted host may take to come back before the
                                   rollout halts (0 = 20 min, XO's restartHostTimeout) */
    int webhook_retry_base_s;   /* first webhook retry after this (0 = 10 s), then x3 */
    int64_t file_max_bytes;     /* largest update file taken in; 0 = ENGINE_FILE_MAX_DEFAULT */
    const char *file_dir;       /* update files may also be taken by name from here; NULL =
                                   none (never any other path: docs/security.md) */
};

/* ---- update files (engine_files.c, docs/rest-api.md "Update files"); any thread ---- */
#define ENGINE_FILE_MAX_DEFAULT (4LL << 30) /* 4 GiB: zip.c's largest image */
struct engine_upload;
/* The size limit in force (setting max_upload). */
int64_t engine_file_max_bytes(const struct engine *eng);
/* Start taking in an update file named name (only its last component is kept, for display)
 * into the state directory.  declared: the announced size or -1; over the limit is PP_ELIMIT
 * naming it.  *out owned by the caller: engine_file_upload_finish or _abort. */
int engine_file_upload_begin(struct engine *eng, const char *name, int64_t declared,
                             struct engine_upload **out, struct err *e);
/* Append n bytes; PP_ELIMIT when the file grows over the limit (then abort), PP_EIO. */
int engine_file_upload_write(struct engine_upload *u, const void *data, size_t n, struct err *e);
/* Identify the update in the file (update_file.h) and keep it: *out = the file's record
 * {id, name, size, uploaded, update:{uuid, name_label, ...}, image:{...}}.  A file holding no
 * valid update is deleted: PP_EINVAL "NAME: not a valid update: why".  Frees u either way. */
int engine_file_upload_finish(struct engine *eng, struct engine_upload *u, json_t **out,
                              struct err *e);
/* Drop an unfinished upload and its bytes.  NULL is a no-op. */
void engine_file_upload_abort(struct engine_upload *u);
/* Take the file name (a plain name, no '/') from the configured directory, as an upload.
 * PP_ESTATE when no directory is configured, PP_ENOTFOUND when it has no such file. */
int engine_file_import(struct engine *eng, const char *name, json_t **out, struct err *e);
/* {"files":[records], "max_upload", "update_file_dir"} */
int engine_files_list(struct engine *eng, json_t **out, struct err *e);
/* Delete a kept file; PP_ENOTFOUND when there is none with that id. */
int engine_file_remove(struct engine *eng, const char *id, struct err *e);

/* ---- metrics (engine_metrics.c, docs/metrics.md) ---- */
/* GET /metrics: Prometheus text exposition format 0.0.4; *text heap (free).  Any thread. */
int engine_metrics(struct engine *eng, char **text, struct err *e);

/* ---- webhooks (engine_webhook.c, docs/webhooks.md); any thread ---- */
/* Add from {"url", "secret", "events"?: [names]}: the webhook (never its secret).  PP_EINVAL
 * names the field. */
int engine_webhook_add(struct engine *eng, const json_t *spec, json_t **out, struct err *e);
/* {"webhooks":[{id, url, events, all_events, created}]} */
int engine_webhook_list(struct engine *eng, json_t **out, struct err *e);
/* PP_ENOTFOUND when there is no webhook with that id. */
int engine_webhook_remove(struct engine *eng, int64_t id, struct err *e);
/* {"deliveries":[...]}, newest first, of webhook id (0 = every webhook), at most limit. */
int engine_webhook_deliveries(struct engine *eng, int64_t id, int limit, json_t **out,
                              struct err *e);

/* ---- health gates (engine_gate.c, docs/health-gates.md); any thread ---- */
/* {"gates": [{"pool": name | null (every pool without its own), "command" | "url", "timeout_s",
 * "output_limit", "builtin", "wait_s"}]}. */
int engine_gate_list(struct engine *eng, json_t **out, struct err *e);
/* Set the gate of spec's "pool" (absent or null: the global one) from the rest of spec (see
 * docs/health-gates.md); *out = the gate as listed.  PP_EINVAL names the wrong key,
 * PP_ENOTFOUND an unregistered pool.  Not on the engine thread (asks it for its pools). */
int engine_gate_set(struct engine *eng, const json_t *spec, json_t **out, struct err *e);
/* Remove the gate of pool (NULL: the global one); PP_ENOTFOUND when there is none. */
int engine_gate_remove(struct engine *eng, const char *pool, struct err *e);
/* The gate settings that apply to pool: its own, else the global ones; a new reference or NULL
 * (none: the built-in gate with its defaults); {"unreadable": why} when they cannot be read.  Any
 * thread (the executor's, on the engine's). */
json_t *engine_gate_for_pool(struct engine *eng, const char *pool);

/* ---- maintenance windows and schedules (engine_window.c, docs/windows.md); any thread ---- */
enum engine_win_kind { ENGINE_WIN_WINDOW = 0, ENGINE_WIN_SCHEDULE = 1 };
/* Add a window {"name", "recurrence", "tz"?, "duration", "pools"} or a schedule {"name",
 * "recurrence", "tz"?, "pools"?, "policy"?, "max_parallel"?}; *out = it as listed.  PP_EINVAL /
 * PP_ENOTFOUND name the bad field or pool, PP_ESTATE a taken name. */
int engine_window_add(struct engine *eng, enum engine_win_kind k, const json_t *spec, json_t **out,
                      struct err *e);
/* {"windows":[...]} / {"schedules":[...]} with each one's next start (and open / ends). */
int engine_window_list(struct engine *eng, enum engine_win_kind k, json_t **out, struct err *e);
/* PP_ENOTFOUND when there is none by that name. */
int engine_window_remove(struct engine *eng, enum engine_win_kind k, const char *name,
                         struct err *e);

/* Create (opens the store, resumes unfinished rollouts once started).  *out owned by caller. */
int engine_new(const struct engine_config *cfg, struct engine **out, struct err *e);
/* Start the engine thread.  Unfinished rollouts in the journal resume automatically. */
int engine_start(struct engine *eng, struct err *e);
/* Stop the thread (rollouts stay journaled and resume on the next start) and free.  NULL ok. */
void engine_free(struct engine *eng);

/* ---- pools ---- */
struct engine_pool_spec {
    const char *name; /* unique; NULL = the pool's name-label */
    const char *url;  /* master URL, e.g. https://10.0.0.1/ or http://127.0.0.10:PORT/ */
    const char *username;
    const char *password; /* stored in the owner-only store, never logged */
    const char *ca_file;  /* NULL = the confirmed fingerprint alone; XAPI_CA_SYSTEM, a PEM file */
    /* SHA-256 fingerprint of the URL host's certificate the user confirmed (or the one a CA
     * verified); pinned before the first login.  NULL: plain http, or nothing to pin. */
    const char *fingerprint;
};
/* Register a pool after logging in to it once; *out = the pool object. */
int engine_pool_add(struct engine *eng, const struct engine_pool_spec *spec, json_t **out,
                    struct err *e);
int engine_pool_remove(struct engine *eng, const char *name, struct err *e);
/*
 * Confirm a certificate of pool name (docs/security.md, "TLS to pools"): host NULL = the host
 * the pool waits on (state "certificate_unconfirmed"), whose presented fingerprint must equal
 * fingerprint; a named host is pinned ahead (a planned master change).  The pool logs in again.
 * *out = the pool object.  PP_ENOTFOUND, PP_EINVAL (bad fingerprint), PP_ESTATE (nothing waits
 * and no host named), PP_ETLS (the host presents another certificate).  Any thread but the
 * engine's.
 */
int engine_pool_trust(struct engine *eng, const char *name, const char *host,
                      const char *fingerprint, json_t **out, struct err *e);
/* Pool properties that live on the pool itself, as XenCenter's pool properties set them. */
struct engine_pool_settings {
    /* pool.live_patching_disabled: 1 = live patching off (updates that could be live-patched
     * need their reboot), 0 = on (xapi's default), -1 = leave it as it is */
    int live_patching_disabled;
};
/*
 * Set pool properties of pool name on the pool (pool.set_live_patching_disabled), on the
 * engine thread; answered once the pool's object cache (event.from) shows the change, *out =
 * the pool object read from that cache.  A value equal to the pool's is not sent.  PP_EINVAL
 * (nothing to set), PP_ENOTFOUND, PP_ESTATE (not connected; or the write was accepted but not
 * seen in time: "may take effect"), PP_EXAPI (e.g. RBAC_PERMISSION_DENIED for an account below
 * Pool Operator).  Any thread but the engine's.
 */
int engine_pool_set(struct engine *eng, const char *name, const struct engine_pool_settings *s,
                    json_t **out, struct err *e);
/* {"pools":[{name,url,connected,master,hosts,version,...}]} */
int engine_pools(struct engine *eng, json_t **out, struct err *e);

/* ---- updates ---- */
enum engine_view { ENGINE_VIEW_BY_UPDATE = 0, ENGINE_VIEW_BY_SERVER = 1 };
enum engine_sort { ENGINE_SORT_DATE = 0, ENGINE_SORT_POOL = 1 };
/* Fetch the catalog now (conditional GET) and refresh every pool's inventory. */
int engine_updates_check(struct engine *eng, json_t **out, struct err *e);
/* The By Update or By Server view, with checking status (last check, automatic on/off). */
int engine_updates_view(struct engine *eng, enum engine_view view, enum engine_sort sort,
                        json_t **out, struct err *e);
/* CSV text of a view (XenCenter's columns); *csv owned by the caller (free). */
int engine_updates_csv(struct engine *eng, enum engine_view view, char **csv, struct err *e);
/* Dismiss updates by id (or all shown when all is true); stored in the pools' other_config. */
int engine_updates_dismiss(struct engine *eng, const char *const *ids, size_t n, bool all,
                           struct err *e);
/* Restore dismissed updates (removes the other_config keys) and re-check. */
int engine_updates_restore(struct engine *eng, struct err *e);

/*
 * Import a client ID file (xencenter_client_id.json: {"username","apikey",...}) for downloads
 * from the vendor's file service; stored owner-only.  Errors name the missing / bad field.
 */
int engine_client_id_import(struct engine *eng, const char *json_text, size_t len, struct err *e);

/*
 * Set the automatic update-check interval: seconds between checks, 0 = off (at most 30 days;
 * PP_EINVAL otherwise).  Stored in the database and applied at once: the next check comes that
 * long after this call.  A value given on the command line / settings file applies again at the
 * next start (it wins over the stored one).  Any thread (waits for the engine thread).
 */
#define ENGINE_CHECK_INTERVAL_MAX_S (30 * 24 * 3600)
int engine_set_check_interval(struct engine *eng, int seconds, struct err *e);
/* The check interval in force (seconds, 0 = off).  Any thread. */
int engine_check_interval(struct engine *eng);

/*
 * Download update files (ids are uuids or names) into the download cache, with the client ID
 * when the vendor's file service needs one.  *out = {"downloads":[{uuid, path, size, cached}]}.
 * The downloads run on the calling thread.
 */
int engine_updates_download(struct engine *eng, const char *const *ids, size_t n, json_t **out,
                            struct err *e);

/* ---- plans and rollouts ---- */
/* RETURN is the default (zero): VMs go back home, as XenCenter's wizard does. */
enum engine_policy { ENGINE_POLICY_RETURN = 0, ENGINE_POLICY_MINIMAL = 1 };

/*
 * The default VM placement policy of update plans: the policy of a plan request (POST /plans,
 * /rollouts, the CLI's plan / apply, the wizard) that names none.  Stored in the database
 * (ENGINE_KEY_DEFAULT_POLICY) and in force at once; a default_policy in the settings file wins
 * again at the next start.  Upgrades keep their own default (minimal, docs/upgrade.md).  PP_EINVAL
 * for a value that is no policy.  Any thread (the setter waits for the engine thread).
 */
#define ENGINE_KEY_DEFAULT_POLICY "plan.default_policy" /* "return" or "minimal" */
int engine_set_default_policy(struct engine *eng, enum engine_policy policy, struct err *e);
/* The default policy in force.  Any thread. */
enum engine_policy engine_default_policy(struct engine *eng);

struct engine_plan_req {
    const char *const *pools; /* pool names; n_pools == 0 means every pool */
    size_t n_pools;
    bool automated;             /* minimal set per host */
    const char *const *updates; /* chosen update ids when !automated */
    size_t n_updates;
    const char *file; /* the id of an update file (engine_file_upload_*) to install, or NULL */
    enum engine_policy policy;
    bool stay_on_release;
    int max_parallel; /* most hosts of a pool down at once; 0: as capacity allows; 1: sequential */
    /* A rolling pool upgrade instead of updates (docs/upgrade.md) when upgrade_to is set: the
     * product version to reach, the install URL (automatic mode) or manual mode, and VMs (names,
     * uuids or refs) to shut down rather than suspend on a standalone host. */
    const char *upgrade_to;
    const char *upgrade_url;
    bool upgrade_manual;
    bool upgrade_apply_updates; /* then the new version's automated updates, same rollout */
    const char *const *shutdown;
    size_t n_shutdown;
    /* only these hosts (name-label, uuid or ref; each must be in a chosen pool, else PP_EINVAL);
     * pools with none of them are left out; n_hosts == 0: every host of the chosen pools */
    const char *const *hosts;
    size_t n_hosts;
    /* XenCenter's "I will carry out the post-update tasks myself": updates are applied, reboots
     * and toolstack restarts left to the user (hosts report them pending) */
    bool manual_post_tasks;
    /* the plan's JSON: full (every migration), summary (per host and action a migration_count
     * instead of the lists: a fleet's plan stays small), or auto: full up to
     * ENGINE_PLAN_FULL_MAX_POOLS pools, summary beyond (issue 17) */
    enum engine_plan_detail {
        ENGINE_PLAN_DETAIL_AUTO = 0,
        ENGINE_PLAN_DETAIL_FULL,
        ENGINE_PLAN_DETAIL_SUMMARY
    } detail;
};
#define ENGINE_PLAN_FULL_MAX_POOLS 10
/* The dry run: prechecks, per-host actions, migrations, reboots, predicted window.  The
 * engine thread checks the request and snapshots the pools; the plans are built on the calling
 * thread, so that other pools' rollouts go on meanwhile. */
int engine_plan(struct engine *eng, const struct engine_plan_req *req, json_t **out, struct err *e);
struct jparts;
/* The same plan as a compact JSON document in parts (base/jparts.h), text for text what
 * json_dumps(JSON_COMPACT) of engine_plan's answer gives: each pool's JSON is built, serialised
 * and freed in turn, so a fleet's plan (100 pools: 36 MiB of text) never exists as one jansson
 * tree (issue 17's memory).  *out owned by the caller (jparts_free).  Any thread but the
 * engine's. */
int engine_plan_parts(struct engine *eng, const struct engine_plan_req *req, struct jparts **out,
                      struct err *e);
/* Start a rollout of that plan; *id owned by the caller (free). */
int engine_rollout_start(struct engine *eng, const struct engine_plan_req *req, char **id,
                         struct err *e);
/* {"rollouts":[...]} newest first. */
int engine_rollouts(struct engine *eng, json_t **out, struct err *e);
/* One rollout with its pools, hosts, steps, counters and state. */
int engine_rollout_get(struct engine *eng, const char *id, json_t **out, struct err *e);
/*
 * One rollout as its JSON answer's text (*text malloc'd, *len bytes), from the snapshot last
 * published if nothing was committed to the database since (or, max_age_ms > 0, if the snapshot
 * is at most that old and the rollout's state did not change), else built now and published.
 * *age_ms: how old the data is (0 when current).  Any thread; never waits for the engine thread.
 * PP_ENOTFOUND for an unknown id.
 */
int engine_rollout_text(struct engine *eng, const char *id, int64_t max_age_ms, char **text,
                        size_t *len, int64_t *age_ms, struct err *e);
/*
 * Build and publish rollout id's text now (engine_rollout_text's current read, its text
 * dropped), so that the first GET after a rollout starts copies or extends it instead of a full
 * build (the plan's facts parsed, every step scanned).  Errors are logged at debug level and
 * otherwise ignored: the next read builds.  Any thread; never waits for the engine thread.
 */
void engine_rollout_warm(struct engine *eng, const char *id);
/* Continue a halted rollout from its failed step. */
int engine_rollout_retry(struct engine *eng, const char *id, struct err *e);
/* Cancel: stop, revert resolutions, remove uploaded update files. */
int engine_rollout_cancel(struct engine *eng, const char *id, struct err *e);
/* An upgrade waiting for host (name, uuid or ref) in rollout id: action "reboot" sends
 * host.reboot again (manual mode: the operator boots the media again), "skip" leaves the host
 * out (a supporter; skipping the master is refused: cancel instead).  PP_ENOTFOUND when no
 * upgrade step of that host is in progress. */
int engine_upgrade_host(struct engine *eng, const char *id, const char *host, const char *action,
                        struct err *e);
/* Forget a (dead) supporter of pool: host.destroy, xe host-forget — the first step of the
 * seed's recovery of a supporter whose upgrade failed.  XAPI's refusals (HOST_IS_LIVE, ...)
 * come back as errors; the master is refused. */
int engine_host_forget(struct engine *eng, const char *pool, const char *host, struct err *e);

/* ---- progress events ---- */
/*
 * Called on the engine thread for every progress event with its JSON text
 * {"rollout","pool","host","step","percent","message","time"}.  Must not block: copy and hand
 * off.  Returns a subscription id (> 0) or a PP_E* code.
 */
int engine_subscribe(struct engine *eng, void (*cb)(void *ud, const char *event_json), void *ud);
void engine_unsubscribe(struct engine *eng, int id);

#endif
