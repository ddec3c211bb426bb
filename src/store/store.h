/* SPDX-License-Identifier: MIT */
/*
 * store.h - poolpatch's persistent state in one SQLite file: registered pools (with their
 * credentials), settings, the last good update catalog, the client ID and its token, the download
 * cache index, and the rollout journal with its progress events.  docs/storage.md describes the
 * schema, the durability rules and how to add a migration.
 *
 * Connections.  store_open gives the one read-write connection of a process (the engine's); it
 * creates the file with mode 0600, refuses a file readable by group or others, runs the schema
 * migrations and sets journal_mode=WAL, synchronous=FULL, foreign_keys=ON and a busy timeout.
 * store_open_readonly gives extra read-only connections (one per HTTP thread); they never block
 * the writer nor are blocked by it (WAL).  A connection is used by one thread at a time; distinct
 * connections may be used from distinct threads concurrently.
 *
 * Durability.  Every write function commits before it returns (synchronous=FULL: the commit is on
 * disk), unless the caller opened a transaction with store_tx_begin, in which case the write is
 * part of that transaction.  The journal functions (store_journal_*) always commit themselves and
 * refuse to run inside a caller's transaction: an intent must be on disk before the action it
 * announces is sent.
 *
 * Ownership.  Input structs are borrowed (plain const char * fields, NULL where optional).  Output
 * structs are filled by the store and own their strings (heap, free()d by the matching
 * *_cleanup, which also zeroes the struct; cleanup of a zeroed struct is a no-op).  Output
 * structs must be zeroed or cleaned before reuse.
 *
 * Errors.  0 or a negative PP_E* code with *e filled (e may be NULL):
 *   PP_EDB        SQLite failed; the message names the operation and has SQLite's message.
 *   PP_ENOTFOUND  no such pool / rollout / step / setting / cache entry.
 *   PP_EINVAL     bad argument, or a duplicate (pool name or URL), or unsafe file permissions.
 *   PP_ESTATE     the operation is not valid now (journal transition, read-only connection,
 *                 inside/outside a transaction, schema newer than this program).
 *   PP_EPARSE     a setting holds a value its typed getter cannot parse.
 * Passwords, API keys and tokens never appear in error messages or logs.
 */
#ifndef PP_STORE_STORE_H
#define PP_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct pp_clock;
struct store;

/* ---------------------------------------------------------------- connections */

struct store_opts {
    struct pp_clock *clock; /* borrowed, must outlive the store; NULL = real time */
    int busy_timeout_ms;    /* wait for another writer's lock; 0 = 5000 */
    int64_t events_keep;    /* progress events kept per rollout; 0 = STORE_EVENTS_KEEP_DEFAULT */
};

#define STORE_EVENTS_KEEP_DEFAULT 20000

/* The schema version (PRAGMA user_version) this program writes and understands. */
int store_schema_version(void);

/*
 * Open (creating it with mode 0600 when absent) the read-write database at path and bring its
 * schema up to date.  opts may be NULL.  Refuses (PP_EINVAL) a file whose mode grants any access
 * to group or others, and (PP_ESTATE) a database whose user_version is newer than
 * store_schema_version() — that database is left untouched.  A file that is not a SQLite
 * database, or unreadable, gives PP_EDB naming the path.  *out owned by the caller
 * (store_close).  Thread: any; the connection then belongs to one thread at a time.
 */
int store_open(const char *path, const struct store_opts *opts, struct store **out, struct err *e);

/*
 * Open an extra read-only connection to an existing, fully migrated database (for HTTP
 * threads).  Write functions on it return PP_ESTATE.  Same permission and version checks as
 * store_open; a database with an older schema gives PP_ESTATE (open the writer first).
 */
int store_open_readonly(const char *path, const struct store_opts *opts, struct store **out,
                        struct err *e);

/* Finalize the cached statements and close.  A transaction still open is rolled back.  NULL ok. */
void store_close(struct store *s);

/* The path the store was opened with (borrowed, valid until store_close). */
const char *store_path(const struct store *s);

/* True for connections from store_open_readonly. */
bool store_is_readonly(const struct store *s);

/*
 * Group several writes in one transaction (BEGIN IMMEDIATE: takes the write lock now, so the
 * commit cannot fail with SQLITE_BUSY halfway).  No nesting: PP_ESTATE when one is open.
 * store_tx_commit makes everything durable; store_tx_rollback discards it (no-op when none open).
 */
int store_tx_begin(struct store *s, struct err *e);
int store_tx_commit(struct store *s, struct err *e);
void store_tx_rollback(struct store *s);

/*
 * Write a consistent copy of the database to path (VACUUM INTO), created with mode 0600 and
 * fsync'd.  path must not exist (PP_EINVAL otherwise).  Works on read-only connections too.
 */
int store_backup(struct store *s, const char *path, struct err *e);

/* PRAGMA integrity_check: 0 when "ok", PP_EDB with SQLite's first complaint otherwise. */
int store_integrity_check(struct store *s, struct err *e);

/* ---------------------------------------------------------------- pools */

/* A pool to register.  All strings borrowed. */
struct store_pool_spec {
    const char *name;            /* required, unique */
    const char *master_url;      /* required, unique (compared verbatim) */
    const char *username;        /* required */
    const char *password;        /* required; stored as given (the file is owner-only) */
    const char *ca_file;         /* NULL = system CAs */
    const char *tls_fingerprint; /* pinned SHA-256 of the server certificate, or NULL */
};

/* A registered pool.  Owns its strings (store_pool_cleanup). */
struct store_pool {
    int64_t id;
    char *name;
    char *master_url;
    char *username;
    char *password;
    char *ca_file;         /* NULL when unset */
    char *tls_fingerprint; /* NULL until pinned */
    int64_t added_at_ms;
};

struct store_pool_list {
    struct store_pool *items; /* owned */
    size_t n;
};

/*
 * Register a pool.  Duplicate name or URL gives PP_EINVAL saying which.  *id_out (may be NULL)
 * receives the new id.
 */
int store_pool_add(struct store *s, const struct store_pool_spec *spec, int64_t *id_out,
                   struct err *e);
/* Fill *out with the pool of that id / name; PP_ENOTFOUND when none. */
int store_pool_get_by_id(struct store *s, int64_t id, struct store_pool *out, struct err *e);
int store_pool_get_by_name(struct store *s, const char *name, struct store_pool *out,
                           struct err *e);
/* All pools ordered by name. */
int store_pool_list(struct store *s, struct store_pool_list *out, struct err *e);
/*
 * Forget a pool.  PP_ENOTFOUND when unknown; PP_ESTATE when a rollout that is not finished
 * (planned, running, halted, cancelling) has steps on it (journal steps name pools by name).
 */
int store_pool_remove(struct store *s, int64_t id, struct err *e);
int store_pool_remove_by_name(struct store *s, const char *name, struct err *e);
/* Pin (or, with fp NULL, unpin) the pool's certificate fingerprint.  PP_ENOTFOUND if unknown. */
int store_pool_set_fingerprint(struct store *s, int64_t id, const char *fp, struct err *e);
/* Replace the pool's username and password (e.g. after a password change). */
int store_pool_set_credentials(struct store *s, int64_t id, const char *username,
                               const char *password, struct err *e);
void store_pool_cleanup(struct store_pool *p);
void store_pool_list_cleanup(struct store_pool_list *l);

/* ---------------------------------------------------------------- settings */

/* Known keys (any other key is allowed too; values are text). */
#define STORE_KEY_CHECK_INTERVAL "check.interval_s" /* integer seconds, > 0 */
#define STORE_KEY_AUTO_CHECK     "check.automatic"  /* bool */
#define STORE_KEY_CATALOG_URL    "catalog.url"      /* http(s):// or file:// */
#define STORE_KEY_API_TOKEN_HASH "api.token_hash"   /* hash of the REST API token */

#define STORE_DEFAULT_CHECK_INTERVAL_S (24 * 3600) /* XenCenter checks every 24 h */
#define STORE_DEFAULT_AUTO_CHECK       true
#define STORE_DEFAULT_CATALOG_URL      "http://updates.xensource.com/XenServer/updates.xml"

/* Raw text value; *out (caller frees) or PP_ENOTFOUND when unset. */
int store_setting_get(struct store *s, const char *key, char **out, struct err *e);
/* Insert or replace. */
int store_setting_set(struct store *s, const char *key, const char *value, struct err *e);
/* Remove (no error when unset). */
int store_setting_delete(struct store *s, const char *key, struct err *e);
/* Typed access: def when unset; PP_EPARSE when the stored text is not of the type. */
int store_setting_get_int(struct store *s, const char *key, int64_t def, int64_t *out,
                          struct err *e);
int store_setting_set_int(struct store *s, const char *key, int64_t v, struct err *e);
/* Booleans are stored "true"/"false"; "1"/"0", "yes"/"no", "on"/"off" are read too. */
int store_setting_get_bool(struct store *s, const char *key, bool def, bool *out, struct err *e);
int store_setting_set_bool(struct store *s, const char *key, bool v, struct err *e);
/* Text with default: *out is a copy of the value or of def (NULL when def is NULL and unset). */
int store_setting_get_str(struct store *s, const char *key, const char *def, char **out,
                          struct err *e);

/* The known settings with their defaults and validation (an interval <= 0 is PP_EPARSE). */
int store_get_check_interval_s(struct store *s, int64_t *out, struct err *e);
int store_get_auto_check(struct store *s, bool *out, struct err *e);
int store_get_catalog_url(struct store *s, char **out, struct err *e);

/* ---------------------------------------------------------------- catalog cache */

/*
 * The last good catalog of one source (the catalog URL, or e.g. "pool:<name>/updates").  Store
 * it only after it parsed: a bad catalog must never replace the last good one.
 */
struct store_catalog {
    void *body; /* owned, body_len bytes (plus a NUL after them for convenience) */
    size_t body_len;
    char *etag;          /* NULL when the server sent none */
    char *last_modified; /* NULL when the server sent none */
    int64_t fetched_at_ms;
    int64_t checked_at_ms; /* last successful check, including 304 Not Modified */
};

/* Replace the cached catalog of source; fetched_at = checked_at = now. */
int store_catalog_put(struct store *s, const char *source, const void *body, size_t len,
                      const char *etag, const char *last_modified, struct err *e);
/* Record a successful check that changed nothing (304): checked_at = now.  PP_ENOTFOUND if none. */
int store_catalog_touch(struct store *s, const char *source, struct err *e);
/* The cached catalog; PP_ENOTFOUND when none. */
int store_catalog_get(struct store *s, const char *source, struct store_catalog *out,
                      struct err *e);
void store_catalog_cleanup(struct store_catalog *c);

/* ---------------------------------------------------------------- client ID and token */

struct store_client_id {
    char *username;
    char *apikey;
    int64_t imported_at_ms;
};

struct store_token {
    char *token;
    char *session_id; /* NULL when the service gave none */
    int64_t expires_at_ms;
};

/* Set the (single) client ID; drops the cached token, which belonged to the previous one. */
int store_client_id_set(struct store *s, const char *username, const char *apikey, struct err *e);
/* PP_ENOTFOUND when no client ID was imported. */
int store_client_id_get(struct store *s, struct store_client_id *out, struct err *e);
/* Forget the client ID and its token (no error when none). */
int store_client_id_clear(struct store *s, struct err *e);
void store_client_id_cleanup(struct store_client_id *c);
/* Cache the token for the current client ID.  PP_ENOTFOUND when no client ID is set. */
int store_token_set(struct store *s, const char *token, const char *session_id,
                    int64_t expires_at_ms, struct err *e);
/*
 * The cached token if it is still valid for at least margin_ms from now; PP_ENOTFOUND when
 * there is none or it expires sooner.
 */
int store_token_get(struct store *s, int64_t margin_ms, struct store_token *out, struct err *e);
void store_token_cleanup(struct store_token *t);

/* ---------------------------------------------------------------- download cache index */

struct store_download_spec {
    const char *update_uuid; /* required; one entry per update */
    const char *url;         /* where it came from, or NULL */
    const char *path;        /* required: the cached file */
    int64_t size;            /* bytes written so far (or total when complete) */
    const char *sha256;      /* hex, or NULL when not known yet */
    bool complete;           /* size and checksum verified */
};

struct store_download {
    char *update_uuid;
    char *url; /* NULL when unset */
    char *path;
    int64_t size;
    char *sha256; /* NULL when unset */
    bool complete;
    int64_t updated_at_ms;
};

struct store_download_list {
    struct store_download *items;
    size_t n;
};

/* Insert or replace the entry of spec->update_uuid (compared case-insensitively). */
int store_download_put(struct store *s, const struct store_download_spec *spec, struct err *e);
/* PP_ENOTFOUND when none. */
int store_download_get(struct store *s, const char *update_uuid, struct store_download *out,
                       struct err *e);
/* All entries, most recently updated first. */
int store_download_list(struct store *s, struct store_download_list *out, struct err *e);
/* Remove the index entry (the caller deletes the file).  PP_ENOTFOUND when none. */
int store_download_remove(struct store *s, const char *update_uuid, struct err *e);
void store_download_cleanup(struct store_download *d);
void store_download_list_cleanup(struct store_download_list *l);

/* ---------------------------------------------------------------- rollouts and the journal */

enum store_rollout_state {
    STORE_ROLLOUT_PLANNED = 0,
    STORE_ROLLOUT_RUNNING,
    STORE_ROLLOUT_HALTED,
    STORE_ROLLOUT_CANCELLING,
    STORE_ROLLOUT_CANCELLED, /* final */
    STORE_ROLLOUT_DONE,      /* final */
    STORE_ROLLOUT_FAILED,    /* final */
    /* a cancel that could not undo (or verify) everything: what is left is in its findings;
     * not final: the cancel can be retried (back to cancelling) */
    STORE_ROLLOUT_CANCEL_FAILED,
};
#define STORE_ROLLOUT_NSTATES 8
/* Bit for a state in the masks of store_rollout_list. */
#define STORE_ROLLOUT_BIT(st) (1u << (st))
/* The rollouts the engine resumes on its own at start. */
#define STORE_ROLLOUT_MASK_RESUME                                                                  \
    (STORE_ROLLOUT_BIT(STORE_ROLLOUT_RUNNING) | STORE_ROLLOUT_BIT(STORE_ROLLOUT_CANCELLING))
/* Every state that is not final. */
#define STORE_ROLLOUT_MASK_UNFINISHED                                                              \
    (STORE_ROLLOUT_MASK_RESUME | STORE_ROLLOUT_BIT(STORE_ROLLOUT_PLANNED) |                        \
     STORE_ROLLOUT_BIT(STORE_ROLLOUT_HALTED) | STORE_ROLLOUT_BIT(STORE_ROLLOUT_CANCEL_FAILED))
#define STORE_ROLLOUT_MASK_ALL ((1u << STORE_ROLLOUT_NSTATES) - 1)

enum store_step_state {
    STORE_STEP_PENDING = 0, /* not started */
    STORE_STEP_INTENT,      /* intent on disk: the action may have been sent */
    STORE_STEP_DONE,        /* the action completed */
    STORE_STEP_FAILED,      /* the action failed (error text kept) */
    STORE_STEP_SKIPPED,     /* not needed (effect already there, or cancelled) */
};

/* "planned", "running", ... / "pending", "intent", ...; NULL for out-of-range values. */
const char *store_rollout_state_name(enum store_rollout_state st);
const char *store_step_state_name(enum store_step_state st);
/* Parse those names; 0 or PP_EINVAL. */
int store_rollout_state_parse(const char *name, enum store_rollout_state *out);
int store_step_state_parse(const char *name, enum store_step_state *out);

/* A rollout to create.  Borrowed strings; JSON texts must be valid JSON (PP_EINVAL otherwise). */
struct store_rollout_spec {
    const char *id;        /* unique id chosen by the caller, or NULL for a random UUID */
    const char *plan_json; /* the plan, required */
    const char *policy;    /* e.g. "minimal" or "return"; required */
};

/* One step to create.  Steps run per pool in seq order; seq is assigned by the store. */
struct store_step_spec {
    const char *pool;        /* pool name, required */
    const char *host;        /* host reference (uuid or name), NULL for pool-wide steps */
    const char *kind;        /* "resolve", "upload", "evacuate", "reboot", ... required */
    const char *params_json; /* NULL = "{}" */
};

struct store_rollout {
    char *id;
    int64_t created_at_ms;
    int64_t updated_at_ms;
    enum store_rollout_state state;
    char *plan_json;
    char *policy;
    char *error; /* NULL when none */
};

struct store_rollout_list {
    struct store_rollout *items;
    size_t n;
};

struct store_step {
    char *rollout_id;
    int64_t seq;
    char *pool;
    char *host; /* NULL for pool-wide steps */
    char *kind;
    char *params_json;
    enum store_step_state state;
    char *undo_json;   /* what must be restored, recorded with the intent; NULL when nothing */
    char *result_json; /* recorded with done; NULL when none */
    char *error;       /* recorded with fail / skip; NULL when none */
    int attempts;      /* how many intents were written (1 + retries / resumes) */
    int64_t created_at_ms;
    int64_t intent_at_ms; /* 0 when never */
    int64_t done_at_ms;   /* when it became done / failed / skipped; 0 when not */
    int64_t undone_at_ms; /* when its undo was replayed; 0 when not */
};

struct store_step_list {
    struct store_step *items;
    size_t n;
};

/*
 * Create a rollout (state planned) with its steps (seq 1..n in array order), in one
 * transaction: either all of it is on disk or none.  *id_out (may be NULL) receives the id
 * (caller frees).  Duplicate id gives PP_EINVAL.
 */
int store_rollout_create(struct store *s, const struct store_rollout_spec *spec,
                         const struct store_step_spec *steps, size_t n, char **id_out,
                         struct err *e);
/* Append steps after the rollout's last seq (one transaction); *first_seq_out may be NULL. */
int store_steps_append(struct store *s, const char *rollout_id, const struct store_step_spec *steps,
                       size_t n, int64_t *first_seq_out, struct err *e);
/* PP_ENOTFOUND when none. */
int store_rollout_get(struct store *s, const char *id, struct store_rollout *out, struct err *e);
/*
 * Rollouts whose state's bit is in mask (STORE_ROLLOUT_BIT / STORE_ROLLOUT_MASK_*), newest
 * first; limit <= 0 means all.
 */
int store_rollout_list(struct store *s, unsigned mask, int64_t limit,
                       struct store_rollout_list *out, struct err *e);
/* store_rollout_get / store_rollout_list without the plan text (plan_json NULL): for views that
 * do not show the plan, which can be megabytes. */
int store_rollout_get_head(struct store *s, const char *id, struct store_rollout *out,
                           struct err *e);
int store_rollout_list_heads(struct store *s, unsigned mask, int64_t limit,
                             struct store_rollout_list *out, struct err *e);
/* The plan text of a rollout (*plan_json new, free).  PP_ENOTFOUND when no such rollout. */
int store_rollout_plan(struct store *s, const char *id, char **plan_json, struct err *e);
/* The rollouts to resume at start: store_rollout_list(STORE_ROLLOUT_MASK_RESUME), oldest first. */
int store_rollouts_unfinished(struct store *s, struct store_rollout_list *out, struct err *e);
/*
 * Change a rollout's state and error text (error NULL clears it).  Final states (cancelled,
 * done, failed) never change again and no state goes back to planned: PP_ESTATE.  Commits.
 */
int store_rollout_set_state(struct store *s, const char *id, enum store_rollout_state st,
                            const char *error, struct err *e);
/* The findings of the end-of-work verification (JSON text, or NULL to clear), kept with the
 * rollout; PP_EDB for invalid JSON (the column checks it), PP_ENOTFOUND for no such rollout.
 * Commits. */
int store_rollout_set_findings(struct store *s, const char *id, const char *findings_json,
                               struct err *e);
/* The findings text (*out new, NULL when none; free).  PP_ENOTFOUND when no such rollout. */
int store_rollout_findings(struct store *s, const char *id, char **out, struct err *e);
/* Delete a rollout in a final state with its steps and events.  PP_ESTATE otherwise. */
int store_rollout_delete(struct store *s, const char *id, struct err *e);
void store_rollout_cleanup(struct store_rollout *r);
void store_rollout_list_cleanup(struct store_rollout_list *l);

/* One step; PP_ENOTFOUND when none. */
int store_step_get(struct store *s, const char *rollout_id, int64_t seq, struct store_step *out,
                   struct err *e);
/* All steps of a rollout (pool NULL) or of one of its pools, in seq order. */
int store_steps_list(struct store *s, const char *rollout_id, const char *pool,
                     struct store_step_list *out, struct err *e);
/*
 * Where to resume: the first step (in seq order) of the rollout — or of one of its pools when
 * pool is not NULL — that is neither done nor skipped (so pending, intent or failed).
 * PP_ENOTFOUND when every step is done or skipped.
 */
int store_step_first_unfinished(struct store *s, const char *rollout_id, const char *pool,
                                struct store_step *out, struct err *e);
void store_step_cleanup(struct store_step *st);
void store_step_list_cleanup(struct store_step_list *l);

/*
 * Journal an intent, durably, BEFORE sending the action: the step goes to intent, attempts+1,
 * intent_at = now, and undo_json (when not NULL) records what must be restored if the action
 * took effect (it replaces an earlier undo; NULL keeps it).  params_json, when not NULL,
 * replaces the step's params (e.g. the VM placement decided just now).  Allowed from pending,
 * intent (resume re-sends) and failed (Retry); a done or skipped step gives PP_ESTATE — a done
 * step's harm is never repeated.  Committed (fsync'd) before returning; PP_ESTATE inside a
 * store_tx_begin transaction.
 */
int store_journal_intent(struct store *s, const char *rollout_id, int64_t seq,
                         const char *params_json, const char *undo_json, struct err *e);
/* Intent -> done, with an optional result JSON.  PP_ESTATE from any other state.  Commits. */
int store_journal_done(struct store *s, const char *rollout_id, int64_t seq,
                       const char *result_json, struct err *e);
/* Pending or intent -> failed with an error text (required).  PP_ESTATE otherwise.  Commits. */
int store_journal_fail(struct store *s, const char *rollout_id, int64_t seq, const char *error,
                       struct err *e);
/* Pending, intent or failed -> skipped, with a reason (may be NULL).  Commits. */
int store_journal_skip(struct store *s, const char *rollout_id, int64_t seq, const char *reason,
                       struct err *e);
/*
 * The undo list: steps of the rollout (or of one pool when pool is not NULL) that recorded an
 * undo, whose intent was written (state intent, done or failed: the action may have taken
 * effect), and whose undo was not yet replayed — in reverse seq order, the order to replay them.
 * Replaying must be idempotent (restoring what is already restored changes nothing).
 */
int store_undo_list(struct store *s, const char *rollout_id, const char *pool,
                    struct store_step_list *out, struct err *e);
/* Mark a step's undo as replayed (undone_at = now), so it leaves the undo list.  Commits. */
int store_undo_mark_done(struct store *s, const char *rollout_id, int64_t seq, struct err *e);

/* ---------------------------------------------------------------- progress events */

struct store_event_spec {
    const char *rollout_id; /* required */
    int64_t step_seq;       /* the step it belongs to, 0 for none */
    const char *pool;       /* NULL when rollout-wide */
    const char *host;       /* NULL when pool-wide */
    const char *step;       /* step kind or phase name, NULL when none */
    int percent;            /* 0..100, or -1 when not applicable */
    const char *message;    /* required */
};

struct store_event {
    int64_t id; /* increasing across all rollouts (an SSE Last-Event-ID) */
    char *rollout_id;
    int64_t step_seq; /* 0 for none */
    int64_t at_ms;
    char *pool;
    char *host;
    char *step;
    int percent;
    char *message;
};

struct store_event_list {
    struct store_event *items;
    size_t n;
};

/*
 * Append an event (at = now).  Keeps at most opts.events_keep events per rollout: older ones
 * are pruned now and then.  *id_out may be NULL.  Not a journal write: inside a store_tx_begin
 * transaction it is batched with it.
 */
int store_event_add(struct store *s, const struct store_event_spec *ev, int64_t *id_out,
                    struct err *e);
/*
 * Events with id > after_id of one rollout (rollout_id NULL = all), in id order, at most limit
 * (<= 0: 1000).
 */
int store_events_list(struct store *s, const char *rollout_id, int64_t after_id, int64_t limit,
                      struct store_event_list *out, struct err *e);
/* Keep only the newest keep events of a rollout (rollout_id NULL = each rollout); *pruned may
 * be NULL. */
int store_events_prune(struct store *s, const char *rollout_id, int64_t keep, int64_t *pruned,
                       struct err *e);
void store_event_cleanup(struct store_event *ev);
void store_event_list_cleanup(struct store_event_list *l);

/* ---------------------------------------------------------------- views of the journal */

#define STORE_SCAN_KEYS 8

/*
 * One step as store_steps_scan hands it over: every string is borrowed from SQLite and valid
 * only during the callback.  param[i] is the text of json_extract(params, keys[i]) (NULL when
 * absent; JSON true / false read "1" / "0"), found by one pass over the params text read once
 * (json_extract itself only for what that pass leaves to it: store_view.c).
 */
struct store_step_row {
    int64_t seq;
    const char *pool;
    const char *host; /* NULL for pool-wide steps */
    const char *kind;
    enum store_step_state state;
    int64_t intent_at_ms; /* 0 when never */
    int64_t done_at_ms;   /* 0 when not finished */
    const char *error;    /* NULL when none */
    const char *result_json;
    const char *param[STORE_SCAN_KEYS];
};

/* A params field to extract: path a JSON path ("$.name"), only from steps of kind (NULL: all). */
struct store_scan_key {
    const char *kind;
    const char *path;
};

/*
 * Every step of a rollout in seq order, without copying: fn is called once per step (a non-zero
 * return stops the scan and is returned).  keys: up to STORE_SCAN_KEYS params fields, borrowed
 * for the call (static strings: they are bound without a copy).  row->error is set for failed
 * and skipped steps only, row->result_json for prechecks only.  For readers that build views of
 * large journals (the rollout JSON): one query, no per-row allocation.  Read-only connections
 * are enough.
 */
int store_steps_scan(struct store *s, const char *rollout_id, const struct store_scan_key *keys,
                     size_t n_keys, int (*fn)(void *ctx, const struct store_step_row *row),
                     void *ctx, struct err *e);

/* store_steps_scan over one pool's steps only (pool NULL: every step), in seq order. */
int store_steps_scan_pool(struct store *s, const char *rollout_id, const char *pool,
                          const struct store_scan_key *keys, size_t n_keys,
                          int (*fn)(void *ctx, const struct store_step_row *row), void *ctx,
                          struct err *e);
/* store_steps_scan over one host's steps of a pool (host NULL: the pool's own steps, those
 * without a host), in seq order (index steps_by_host). */
int store_steps_scan_host(struct store *s, const char *rollout_id, const char *pool,
                          const char *host, const struct store_scan_key *keys, size_t n_keys,
                          int (*fn)(void *ctx, const struct store_step_row *row), void *ctx,
                          struct err *e);

/*
 * Which hosts' steps were written since change version since_rv (store_journal.c sets a step's
 * version on every write: migration 6): *now_rv gets the rollout's version now, read first, then
 * fn(ctx, pool, host) is called once per (pool, host) with a step written after since_rv (host
 * NULL: the pool's own steps; both borrowed for the call; a non-zero return stops and is
 * returned).  A reader that built a view from reads
 * begun after it read *now_rv and later asks again with since_rv = *now_rv sees every write it
 * has not seen (and maybe a few it has).  Read-only connections are enough; any thread using s.
 */
int store_steps_changed(struct store *s, const char *rollout_id, int64_t since_rv, int64_t *now_rv,
                        int (*fn)(void *ctx, const char *pool, const char *host), void *ctx,
                        struct err *e);

/*
 * SQLite's data version of this connection (PRAGMA data_version): it differs between two calls on
 * the same connection if and only if another connection committed in between (0 on success).
 * Any thread using s; read-only connections are enough.  Readers compare it to know whether a
 * view they built is still current (engine_reads.c).
 */
int store_data_version(struct store *s, int64_t *out, struct err *e);

/* A host's (pool NULL: rollout's; host NULL: pool's) steps by state. */
struct store_step_counts {
    int64_t total, started, done, skipped, failed;
};
/*
 * Count the steps of a rollout, of one pool (host NULL) or of one host, leaving out steps of
 * kind skip_kind (may be NULL).  Works on read-only connections.
 */
int store_steps_count(struct store *s, const char *rollout_id, const char *pool, const char *host,
                      const char *skip_kind, struct store_step_counts *out, struct err *e);

/*
 * Record what the engine read about a host of a rollout's pool (facts_json: a JSON object, e.g.
 * {"reboot_pending":true}); replaces the earlier record.  Not a journal write: inside a
 * store_tx_begin transaction it is batched with it.
 */
int store_host_facts_set(struct store *s, const char *rollout_id, const char *pool,
                         const char *host, const char *facts_json, struct err *e);
/* Every host record of a rollout: fn(ctx, pool, host, facts_json, at_ms), strings borrowed for
 * the call.  A non-zero return stops and is returned.  Works on read-only connections. */
int store_host_facts_scan(struct store *s, const char *rollout_id,
                          int (*fn)(void *ctx, const char *pool, const char *host,
                                    const char *facts_json, int64_t at_ms),
                          void *ctx, struct err *e);

#endif
