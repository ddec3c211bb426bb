/* SPDX-License-Identifier: MIT */
/*
 * store_schema.c - the schema as an ordered list of migration steps.  Step i (0-based) takes a
 * database from PRAGMA user_version i to i + 1; store_open runs the missing steps, each in its
 * own BEGIN IMMEDIATE transaction together with the new user_version.  Never edit a step that
 * has shipped: append a new one (docs/storage.md, "Adding a migration").
 *
 * Every table is STRICT (types are enforced); JSON columns are checked with json_valid; states
 * are checked against their fixed sets; times are integer milliseconds since the epoch on the
 * store's clock.
 */
#include "store/store_int.h"

const char *const store_migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE pools ("
    "  id              INTEGER PRIMARY KEY,"
    "  name            TEXT NOT NULL UNIQUE CHECK (length(name) > 0),"
    "  master_url      TEXT NOT NULL UNIQUE CHECK (length(master_url) > 0),"
    "  username        TEXT NOT NULL,"
    "  password        TEXT NOT NULL,"
    "  ca_file         TEXT,"
    "  tls_fingerprint TEXT,"
    "  added_at        INTEGER NOT NULL"
    ") STRICT;"

    "CREATE TABLE settings ("
    "  key   TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE catalog_cache ("
    "  source        TEXT PRIMARY KEY,"
    "  body          BLOB NOT NULL,"
    "  etag          TEXT,"
    "  last_modified TEXT,"
    "  fetched_at    INTEGER NOT NULL,"
    "  checked_at    INTEGER NOT NULL"
    ") STRICT;"

    "CREATE TABLE client_id ("
    "  id               INTEGER PRIMARY KEY CHECK (id = 1),"
    "  username         TEXT NOT NULL,"
    "  apikey           TEXT NOT NULL,"
    "  imported_at      INTEGER NOT NULL,"
    "  token            TEXT,"
    "  session_id       TEXT,"
    "  token_expires_at INTEGER"
    ") STRICT;"

    "CREATE TABLE downloads ("
    "  update_uuid TEXT PRIMARY KEY COLLATE NOCASE,"
    "  url         TEXT,"
    "  path        TEXT NOT NULL,"
    "  size        INTEGER NOT NULL CHECK (size >= 0),"
    "  sha256      TEXT,"
    "  complete    INTEGER NOT NULL CHECK (complete IN (0, 1)),"
    "  updated_at  INTEGER NOT NULL"
    ") STRICT;"

    "CREATE TABLE rollouts ("
    "  id         TEXT PRIMARY KEY CHECK (length(id) > 0),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  state      TEXT NOT NULL CHECK (state IN ('planned', 'running', 'halted', 'cancelling',"
    "                                            'cancelled', 'done', 'failed')),"
    "  plan       TEXT NOT NULL CHECK (json_valid(plan)),"
    "  policy     TEXT NOT NULL,"
    "  error      TEXT"
    ") STRICT;"
    "CREATE INDEX rollouts_by_state ON rollouts (state, created_at);"

    "CREATE TABLE steps ("
    "  rollout_id TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,"
    "  seq        INTEGER NOT NULL CHECK (seq > 0),"
    "  pool       TEXT NOT NULL,"
    "  host       TEXT,"
    "  kind       TEXT NOT NULL CHECK (length(kind) > 0),"
    "  params     TEXT NOT NULL CHECK (json_valid(params)),"
    "  state      TEXT NOT NULL CHECK (state IN ('pending', 'intent', 'done', 'failed',"
    "                                            'skipped')),"
    "  undo       TEXT CHECK (undo IS NULL OR json_valid(undo)),"
    "  result     TEXT CHECK (result IS NULL OR json_valid(result)),"
    "  error      TEXT,"
    "  attempts   INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  intent_at  INTEGER,"
    "  done_at    INTEGER,"
    "  undone_at  INTEGER,"
    "  PRIMARY KEY (rollout_id, seq),"
    /* A row is never torn: what each state implies is checked on every write. */
    "  CHECK (state = 'pending' OR state = 'skipped' OR state = 'failed' OR intent_at IS NOT NULL),"
    "  CHECK (state <> 'done' OR done_at IS NOT NULL),"
    "  CHECK (state <> 'failed' OR error IS NOT NULL)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX steps_by_pool ON steps (rollout_id, pool, seq);"
    /* Resuming looks for the first unfinished step; these stay small as steps finish. */
    "CREATE INDEX steps_unfinished ON steps (rollout_id, seq) "
    "  WHERE state NOT IN ('done', 'skipped');"
    "CREATE INDEX steps_unfinished_by_pool ON steps (rollout_id, pool, seq) "
    "  WHERE state NOT IN ('done', 'skipped');"

    "CREATE TABLE events ("
    "  id         INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  rollout_id TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,"
    "  step_seq   INTEGER,"
    "  at         INTEGER NOT NULL,"
    "  pool       TEXT,"
    "  host       TEXT,"
    "  step       TEXT,"
    "  percent    INTEGER NOT NULL CHECK (percent BETWEEN -1 AND 100),"
    "  message    TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX events_by_rollout ON events (rollout_id, id);",

    /* 2: per-host facts read from the pool while a rollout runs (reboot pending, ...), and an
     * index for a host's steps (its whole-host percent in every progress event). */
    "CREATE TABLE host_facts ("
    "  rollout_id TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,"
    "  pool       TEXT NOT NULL,"
    "  host       TEXT NOT NULL,"
    "  facts      TEXT NOT NULL CHECK (json_valid(facts)),"
    "  at         INTEGER NOT NULL,"
    "  PRIMARY KEY (rollout_id, pool, host)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX steps_by_host ON steps (rollout_id, pool, host, seq);",

    /* 3: webhooks and their delivery log (store_webhook.c, docs/webhooks.md). */
    "CREATE TABLE webhooks ("
    "  id         INTEGER PRIMARY KEY,"
    "  url        TEXT NOT NULL CHECK (length(url) > 0),"
    "  secret     TEXT NOT NULL CHECK (length(secret) > 0),"
    "  events     TEXT NOT NULL CHECK (length(events) > 0),"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE webhook_deliveries ("
    "  id          INTEGER PRIMARY KEY,"
    "  webhook_id  INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,"
    "  event       TEXT NOT NULL,"
    "  event_key   TEXT NOT NULL,"
    "  payload     TEXT NOT NULL CHECK (json_valid(payload)),"
    "  state       TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),"
    "  attempts    INTEGER NOT NULL DEFAULT 0,"
    "  last_status INTEGER,"
    "  last_error  TEXT,"
    "  created_at  INTEGER NOT NULL,"
    "  next_at     INTEGER NOT NULL,"
    "  done_at     INTEGER,"
    "  UNIQUE (webhook_id, event_key)"
    ") STRICT;"
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);",

    /* 4: a cancel that could not undo everything ends 'cancel_failed' (not final: its cancel can
     * be retried), and what the end-of-work verification found is kept with the rollout
     * (findings, JSON; docs/engine.md "Verified end states").  SQLite cannot change a CHECK in
     * place: the table is rebuilt (12-step recipe; store.c runs migrations with foreign keys
     * off and checks them before committing), rowids kept (listings order by them). */
    "CREATE TABLE rollouts_new ("
    "  id         TEXT PRIMARY KEY CHECK (length(id) > 0),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  state      TEXT NOT NULL CHECK (state IN ('planned', 'running', 'halted', 'cancelling',"
    "                                            'cancelled', 'done', 'failed',"
    "                                            'cancel_failed')),"
    "  plan       TEXT NOT NULL CHECK (json_valid(plan)),"
    "  policy     TEXT NOT NULL,"
    "  error      TEXT,"
    "  findings   TEXT CHECK (findings IS NULL OR json_valid(findings))"
    ") STRICT;"
    "INSERT INTO rollouts_new (rowid, id, created_at, updated_at, state, plan, policy, error)"
    "  SELECT rowid, id, created_at, updated_at, state, plan, policy, error FROM rollouts;"
    "DROP TABLE rollouts;"
    "ALTER TABLE rollouts_new RENAME TO rollouts;"
    "CREATE INDEX rollouts_by_state ON rollouts (state, created_at);",

    /* 5: maintenance windows, schedules of automated rollouts, and the rollouts' pools waiting
     * for a window (store_window.c, docs/windows.md). */
    "CREATE TABLE windows ("
    "  name       TEXT PRIMARY KEY CHECK (length(name) > 0),"
    "  spec       TEXT NOT NULL CHECK (json_valid(spec)),"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE schedules ("
    "  name          TEXT PRIMARY KEY CHECK (length(name) > 0),"
    "  spec          TEXT NOT NULL CHECK (json_valid(spec)),"
    "  created_at    INTEGER NOT NULL,"
    "  last_fired_at INTEGER NOT NULL,"
    "  last_rollout  TEXT,"
    "  last_error    TEXT"
    ") STRICT;"
    "CREATE TABLE rollout_windows ("
    "  rollout_id TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,"
    "  pool       TEXT NOT NULL,"
    "  state      TEXT NOT NULL CHECK (state IN ('waiting_window', 'paused_window')),"
    "  since_at   INTEGER NOT NULL,"
    "  until_at   INTEGER,"
    "  PRIMARY KEY (rollout_id, pool)"
    ") STRICT, WITHOUT ROWID;",

    /* 6: a per-rollout change version on each step (store_journal.c sets it on every write to
     * the max of the rollout's + 1), so that a reader who built a view at version V asks which
     * pools' steps changed since and reads only those (the rollout text, exec_json.c). */
    "ALTER TABLE steps "
    "  ADD COLUMN rv INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX steps_by_rv ON steps (rollout_id, rv);",

    /* 7: the plan (megabytes for a fleet) last in a rollout's row.  SQLite stores a row's columns
     * in order and a large value on a chain of overflow pages, so reading a column after it
     * (policy, error, findings: every GET /rollouts/{id}) walked the whole chain, page by page
     * read again after any commit had reset the reader's cache: 2.6 ms of CPU a read of a
     * 3.6 MB plan, 0.03 ms with the plan last (docs/performance.md, "GET /rollouts/{id},
     * session 8").  Rebuilt as schema 4 did, rowids kept. */
    "CREATE TABLE rollouts_new ("
    "  id         TEXT PRIMARY KEY CHECK (length(id) > 0),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  state      TEXT NOT NULL CHECK (state IN ('planned', 'running', 'halted', 'cancelling',"
    "                                            'cancelled', 'done', 'failed',"
    "                                            'cancel_failed')),"
    "  policy     TEXT NOT NULL,"
    "  error      TEXT,"
    "  findings   TEXT CHECK (findings IS NULL OR json_valid(findings)),"
    "  plan       TEXT NOT NULL CHECK (json_valid(plan))"
    ") STRICT;"
    "INSERT INTO rollouts_new (rowid, id, created_at, updated_at, state, policy, error, findings,"
    "                          plan)"
    "  SELECT rowid, id, created_at, updated_at, state, policy, error, findings, plan"
    "  FROM rollouts;"
    "DROP TABLE rollouts;"
    "ALTER TABLE rollouts_new RENAME TO rollouts;"
    "CREATE INDEX rollouts_by_state ON rollouts (state, created_at);",

    /* 8: steps_by_rv covers the hosts a build asks about (store_steps_changed: which pool and
     * host each step written since a version belongs to): with (rollout_id, rv) alone each of
     * those steps was looked up in the table for its pool and host, 2.5 ms of CPU for a re-plan
     * burst's 5,800 steps, ~0.4 ms from the index alone (docs/performance.md, "GET
     * /rollouts/{id}, session 10").  Its (rollout_id, rv) prefix still serves max(rv). */
    "DROP INDEX steps_by_rv; CREATE INDEX steps_by_rv ON steps (rollout_id, rv, pool, host);",
};

const int store_n_migrations = (int)(sizeof(store_migrations) / sizeof(store_migrations[0]));
