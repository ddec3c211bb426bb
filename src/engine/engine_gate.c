/* SPDX-License-Identifier: MIT */
/*
 * engine_gate.c - the health gates' settings (docs/health-gates.md): one global gate and one per
 * pool, kept as one JSON object in the store's setting "health_gates" ({"": global, "<pool>":
 * ...}), read and written through the maintenance windows' store connection under their lock.
 * The executor's health_gate callback (engine thread) reads them when a gate step begins, so a
 * change applies to the next host.  Contract: engine.h ("health gates").
 */
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/engine_window.h"
#include "engine/exec_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "store/store.h"

#include <string.h>

#define GATES_KEY     "health_gates"
#define GATE_POOL_MAX 256

struct gates_io {
    json_t *all; /* read: the stored object (new); write: the object to store (borrowed) */
};

static int gates_read(void *ctx, struct store *s, struct err *e)
{
    struct gates_io *io = ctx;
    char *text = NULL;
    int rc = store_setting_get(s, GATES_KEY, &text, e);
    if (rc == PP_ENOTFOUND) {
        io->all = json_object();
        return 0;
    }
    if (rc != 0)
        return rc;
    io->all = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(io->all)) {
        json_decref(io->all);
        io->all = json_object(); /* damaged: treated as none (the built-in gate applies) */
    }
    return 0;
}

static int gates_write(void *ctx, struct store *s, struct err *e)
{
    struct gates_io *io = ctx;
    char *text = json_dumps(io->all, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = store_setting_set(s, GATES_KEY, text, e);
    free(text);
    return rc;
}

static json_t *listed(const char *key, const json_t *spec)
{
    json_t *g = json_deep_copy(spec);
    json_object_set_new(g, "pool", *key ? json_string(key) : json_null());
    return g;
}

/* The list (see engine.h): any thread; errors the store's. */
int engine_gate_list(struct engine *eng, json_t **out, struct err *e)
{
    struct gates_io io = {0};
    *out = NULL;
    int rc = engine_windows_store_do(eng->wins, gates_read, &io, e);
    if (rc != 0)
        return rc;
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(io.all, k, v) json_array_append_new(arr, listed(k, v));
    json_decref(io.all);
    *out = json_pack("{s:o}", "gates", arr);
    return 0;
}

static int pool_known(struct engine *eng, const char *pool, struct err *e)
{
    json_t *known = NULL, *q;
    size_t i;
    int rc = engine_pools(eng, &known, e);
    if (rc != 0)
        return rc;
    bool found = false;
    json_array_foreach(json_object_get(known, "pools"), i, q) found =
        found || str_eq(json_string_value(json_object_get(q, "name")), pool);
    json_decref(known);
    return found ? 0
                 : err_set(e, PP_ENOTFOUND, "health gate: no pool named '%s' is registered", pool);
}

/* Set a gate (see engine.h): not on the engine thread (asks it for the pools). */
int engine_gate_set(struct engine *eng, const json_t *spec, json_t **out, struct err *e)
{
    *out = NULL;
    if (!json_is_object(spec))
        return err_set(e, PP_EINVAL, "health gate: expected a JSON object");
    const json_t *pj = json_object_get(spec, "pool");
    if (pj && !json_is_null(pj) &&
        (!json_is_string(pj) || !*json_string_value(pj) ||
         strlen(json_string_value(pj)) > GATE_POOL_MAX))
        return err_set(e, PP_EINVAL, "health gate: pool must be a registered pool's name or null");
    const char *pool = json_is_string(pj) ? json_string_value(pj) : "";
    json_t *rest = json_deep_copy(spec), *norm = NULL;
    json_object_del(rest, "pool");
    int rc = exec_gate_spec_check(rest, &norm, e);
    json_decref(rest);
    if (rc == 0 && *pool)
        rc = pool_known(eng, pool, e);
    struct gates_io io = {0};
    if (rc == 0)
        rc = engine_windows_store_do(eng->wins, gates_read, &io, e);
    if (rc == 0) {
        json_object_set(io.all, pool, norm);
        rc = engine_windows_store_do(eng->wins, gates_write, &io, e);
    }
    if (rc == 0)
        *out = listed(pool, norm);
    json_decref(io.all);
    json_decref(norm);
    return rc;
}

/* Remove a gate (see engine.h): any thread; PP_ENOTFOUND when there is none. */
int engine_gate_remove(struct engine *eng, const char *pool, struct err *e)
{
    struct gates_io io = {0};
    const char *key = pool ? pool : "";
    int rc = engine_windows_store_do(eng->wins, gates_read, &io, e);
    if (rc == 0 && !json_object_get(io.all, key))
        rc = *key ? err_set(e, PP_ENOTFOUND, "no health gate is set for pool '%s'", key)
                  : err_set(e, PP_ENOTFOUND, "no global health gate is set");
    if (rc == 0) {
        json_object_del(io.all, key);
        rc = engine_windows_store_do(eng->wins, gates_write, &io, e);
    }
    json_decref(io.all);
    return rc;
}

/* The settings that apply to pool (see engine.h): new reference or NULL; any thread. */
json_t *engine_gate_for_pool(struct engine *eng, const char *pool)
{
    struct gates_io io = {0};
    struct err e = {0};
    if (!eng->wins)
        return NULL; /* no settings store: none can have been set (engine_gate_set refuses) */
    if (engine_windows_store_do(eng->wins, gates_read, &io, &e) != 0)
        return json_pack("{s:s}", "unreadable", e.msg); /* the gate fails, naming why */
    json_t *g = json_object_get(io.all, pool ? pool : "");
    if (!g)
        g = json_object_get(io.all, "");
    json_incref(g);
    json_decref(io.all);
    return g;
}
