/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - the XAPI dispatcher of the simulator: method names (class.method, class_method,
 * Async.), parameter counts (MESSAGE_PARAMETER_COUNT_MISMATCH), unknown methods
 * (MESSAGE_METHOD_UNKNOWN), coordinator / supporter routing (HOST_IS_SLAVE, emergency mode),
 * sessions (SESSION_INVALID), the generic field calls every class has (get_record,
 * get_all_records, get_by_uuid, get_<field>, set_<field>, add_to_/remove_from_<map>), tasks,
 * event.from / event.inject and system.listMethods.  Behaviour follows xapi's
 * ocaml/xapi/api_server.ml, server_helpers.ml, xapi_event.ml and ocaml/idl/datamodel_errors.ml.
 */
#include "sim/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"

/* ---- responses ---- */

void sim_rerr(struct ctx *c, const char *code, size_t n, ...)
{
    const char *params[8];
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n && i < 8; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    xapi_response_cleanup(c->r);
    xapi_response_set_error(c->r, code, params, n < 8 ? n : 8);
}

void sim_rok(struct ctx *c, struct xapi_value *v)
{
    xapi_response_cleanup(c->r);
    c->r->ok = true;
    c->r->value = v;
    c->r->error = NULL;
}

const char *sim_arg_str(struct ctx *c, size_t i)
{
    if (i >= c->np)
        return "";
    const char *s = xapi_value_str(xapi_array_get(c->p, i));
    return s ? s : "";
}

struct obj *sim_arg_obj(struct ctx *c, size_t i, enum cls cl)
{
    const char *ref = sim_arg_str(c, i);
    struct obj *o = sim_obj_get_cls(c->w, ref, cl);
    if (!o)
        sim_rerr(c, "HANDLE_INVALID", 2, sim_cls_wire[cl], ref);
    return o;
}

int64_t sim_dur(struct ctx *c, int64_t ms)
{
    return c->instant ? 0 : ms;
}

/* ---- wait helpers (HTTP mode only) ---- */

static void wait_until_real(struct sim *s, int64_t deadline_mono_ms)
{
    int64_t now = clock_mono_ms();
    if (deadline_mono_ms <= now)
        return;
    struct timespec ts = clock_deadline_ts(CLOCK_MONOTONIC, deadline_mono_ms - now);
    pthread_cond_timedwait(&s->cond, &s->mu, &ts);
}

/* ---- generic calls ---- */

static struct xapi_value *record_of(struct obj *o)
{
    return xapi_value_dup(o->rec);
}

static int g_get_all_records(struct ctx *c, enum cls cl)
{
    struct xapi_value *m = xapi_value_new_struct();
    for (struct obj *o = c->w->chead[cl]; o; o = o->cnext)
        xapi_struct_append_take(m, xstrdup(o->ref), record_of(o)); /* refs are unique */
    sim_rok(c, m);
    return R_DONE;
}

static int g_get_all(struct ctx *c, enum cls cl)
{
    struct xapi_value *a = xapi_value_new_array();
    for (struct obj *o = c->w->chead[cl]; o; o = o->cnext)
        xapi_array_append_string(a, o->ref);
    sim_rok(c, a);
    return R_DONE;
}

static struct xapi_value *coerce(const struct sim_field_spec *f, const struct xapi_value *v)
{
    int64_t i;
    double d;
    bool b;
    switch (f->kind) {
    case FK_INT:
        return xapi_value_as_int(v, &i) == 0 ? xapi_value_new_int(i) : NULL;
    case FK_FLOAT:
        return xapi_value_as_double(v, &d) == 0 ? xapi_value_new_double(d) : NULL;
    case FK_BOOL:
        return xapi_value_as_bool(v, &b) == 0 ? xapi_value_new_bool(b) : NULL;
    case FK_DATETIME:
        return xapi_value_as_datetime(v, &i) == 0 ? xapi_value_new_datetime_ms(i) : NULL;
    case FK_SET:
        return v->type == XAPI_ARRAY ? xapi_value_dup(v) : NULL;
    case FK_MAP:
        if (v->type != XAPI_STRUCT)
            return NULL;
        for (size_t k = 0; k < v->u.st.n; k++) {
            if (v->u.st.vals[k]->type != XAPI_STRING)
                return NULL;
        }
        return xapi_value_dup(v);
    default:
        return xapi_value_str(v) ? xapi_value_new_string(xapi_value_str(v)) : NULL;
    }
}

static int generic(struct ctx *c, enum cls cl, const char *msg, bool *handled)
{
    const struct sim_class_spec *cs = sim_spec_class(sim_cls_wire[cl]);
    const struct sim_field_spec *f;
    *handled = true;
    if (strcmp(msg, "get_all_records") == 0)
        return g_get_all_records(c, cl);
    if (strcmp(msg, "get_all") == 0)
        return g_get_all(c, cl);
    if (strcmp(msg, "get_by_uuid") == 0) {
        struct obj *o = sim_hmap_get(&c->w->uuids, sim_arg_str(c, 1));
        if (!o || o->cls != cl)
            sim_rerr(c, "UUID_INVALID", 2, sim_cls_wire[cl], sim_arg_str(c, 1));
        else
            sim_rok(c, xapi_value_new_string(o->ref));
        return R_DONE;
    }
    if (strcmp(msg, "get_by_name_label") == 0) {
        struct xapi_value *a = xapi_value_new_array();
        for (struct obj *o = c->w->chead[cl]; o; o = o->cnext) {
            if (strcmp(sim_fstr(o, "name_label"), sim_arg_str(c, 1)) == 0)
                xapi_array_append_string(a, o->ref);
        }
        sim_rok(c, a);
        return R_DONE;
    }
    if (strcmp(msg, "get_record") == 0) {
        struct obj *o = sim_arg_obj(c, 1, cl);
        if (o)
            sim_rok(c, record_of(o));
        return R_DONE;
    }
    if (str_has_prefix(msg, "get_") && (f = sim_spec_field(cs, msg + 4))) {
        struct obj *o = sim_arg_obj(c, 1, cl);
        if (o)
            sim_rok(c, xapi_value_dup(sim_fget(o, f->name)));
        return R_DONE;
    }
    if (str_has_prefix(msg, "set_") && (f = sim_spec_field(cs, msg + 4)) && f->rw) {
        struct obj *o = sim_arg_obj(c, 1, cl);
        if (!o)
            return R_DONE;
        struct xapi_value *v = coerce(f, xapi_array_get(c->p, 2));
        if (!v) {
            sim_rerr(c, "FIELD_TYPE_ERROR", 1, f->name);
            return R_DONE;
        }
        sim_fset(c->w, o, f->name, v);
        sim_rok(c, xapi_value_new_void());
        return R_DONE;
    }
    if (str_has_prefix(msg, "add_to_") && (f = sim_spec_field(cs, msg + 7)) && f->rw &&
        f->kind == FK_MAP) {
        struct obj *o = sim_arg_obj(c, 1, cl);
        if (!o)
            return R_DONE;
        if (sim_fmap_get(o, f->name, sim_arg_str(c, 2))) {
            sim_rerr(c, "MAP_DUPLICATE_KEY", 4, sim_cls_wire[cl], f->name, o->ref,
                     sim_arg_str(c, 2));
            return R_DONE;
        }
        sim_fmap_put(c->w, o, f->name, sim_arg_str(c, 2), sim_arg_str(c, 3));
        sim_rok(c, xapi_value_new_void());
        return R_DONE;
    }
    if (str_has_prefix(msg, "remove_from_") && (f = sim_spec_field(cs, msg + 12)) && f->rw &&
        f->kind == FK_MAP) {
        struct obj *o = sim_arg_obj(c, 1, cl);
        if (!o)
            return R_DONE;
        sim_fmap_del(c->w, o, f->name, sim_arg_str(c, 2));
        sim_rok(c, xapi_value_new_void());
        return R_DONE;
    }
    if ((str_has_prefix(msg, "add_") || str_has_prefix(msg, "remove_")) &&
        (f = sim_spec_field(cs, msg + (msg[0] == 'a' ? 4 : 7))) && f->rw && f->kind == FK_SET) {
        struct obj *o = sim_arg_obj(c, 1, cl);
        if (!o)
            return R_DONE;
        if (msg[0] == 'a')
            sim_fset_add(c->w, o, f->name, sim_arg_str(c, 2));
        else
            sim_fset_del(c->w, o, f->name, sim_arg_str(c, 2));
        sim_rok(c, xapi_value_new_void());
        return R_DONE;
    }
    *handled = false;
    return R_DONE;
}

/* ---- events ---- */

static bool class_matches(const struct xapi_value *classes, const struct obj *o)
{
    for (size_t i = 0; i < xapi_array_len(classes); i++) {
        const char *k = xapi_value_str(xapi_array_get(classes, i));
        if (!k)
            continue;
        if (strcmp(k, "*") == 0)
            return true;
        const char *slash = strchr(k, '/');
        if (slash) {
            if ((size_t)(slash - k) == strlen(sim_cls_lower[o->cls]) &&
                strncasecmp(k, sim_cls_lower[o->cls], (size_t)(slash - k)) == 0 &&
                strcmp(slash + 1, o->ref) == 0)
                return true;
        } else if (str_eq_nocase(k, sim_cls_lower[o->cls])) {
            return true;
        }
    }
    return false;
}

static bool class_wanted(const struct xapi_value *classes, int cl)
{
    for (size_t i = 0; i < xapi_array_len(classes); i++) {
        const char *k = xapi_value_str(xapi_array_get(classes, i));
        if (!k)
            continue;
        size_t n = strcspn(k, "/");
        if (strcmp(k, "*") == 0 ||
            (n == strlen(sim_cls_lower[cl]) && strncasecmp(k, sim_cls_lower[cl], n) == 0))
            return true;
    }
    return false;
}

/*
 * xapi's event.from batching (ocaml/xapi/xapi_event.ml `from`, ocaml/xapi/xapi_globs.ml
 * `event_from_delay` and `event_from_task_delay`, ocaml/xapi-aux/throttle.ml
 * `Batching.with_recursive_loop`): every call waits delay_before before its first read of the
 * database, 50 ms, or 0 when every subscription is "task" or "task/<ref>" (an empty list counts
 * as task-only: List.for_all).  A call that found nothing waits for a matching change and reads
 * again at once; only a read after such a wake that still finds nothing waits 2 x delay_between
 * / 16, doubling up to delay_between (50 ms), which the simulator does not model: its reads after a
 * matching change always find it.  The delay is counted on the clock the call's timeout is
 * counted on (docs/simulator.md "Events"): in xapi both are its own timers, Thread.delay and
 * Clock.Timer, so over HTTP it is real time whatever the time scale, in-process the loop's
 * (virtual) clock.
 */
int64_t sim_event_from_delay_ms(const struct xapi_value *classes)
{
    for (size_t i = 0; i < xapi_array_len(classes); i++) {
        const char *k = xapi_value_str(xapi_array_get(classes, i));
        size_t n = k ? strcspn(k, "/") : 0;
        if (!k || n != 4 || strncasecmp(k, "task", 4) != 0)
            return SIM_EVENT_FROM_DELAY_MS;
    }
    return 0;
}

static int parse_token(const char *tok, uint64_t *gen)
{
    *gen = 0;
    if (!tok || !*tok)
        return 0;
    char first[32];
    size_t n = strcspn(tok, ",");
    if (n == 0 || n >= sizeof(first))
        return PP_EPARSE;
    memcpy(first, tok, n);
    first[n] = '\0';
    if (str_to_uint64(first, gen) != 0)
        return PP_EPARSE;
    if (tok[n] == ',') {
        uint64_t second;
        if (str_to_uint64(tok + n + 1, &second) != 0)
            return PP_EPARSE;
    }
    return 0;
}

static struct xapi_value *collect_events(struct world *w, const struct xapi_value *classes,
                                         uint64_t since, size_t *count)
{
    struct obj *o = w->gtail;
    struct xapi_value *evs = xapi_value_new_array();
    *count = 0;
    while (o && o->gen > since)
        o = o->gprev;
    o = o ? o->gnext : w->ghead;
    for (; o; o = o->gnext) {
        /* A fresh token ("") is a snapshot of what exists: no deletions; an object created and
         * deleted since the token is not reported at all (xapi_event.ml from_inner) */
        if ((o->deleted && (since == 0 || o->created_gen > since)) || !class_matches(classes, o))
            continue;
        struct xapi_value *ev = xapi_value_new_struct();
        /* ocaml/xapi-types/event_types.ml: id and timestamp are strings on the wire. */
        char id[32];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)o->gen);
        xapi_struct_set_string(ev, "id", id);
        char ts[32];
        snprintf(ts, sizeof(ts), "%lld.%03lld", (long long)(o->mtime / 1000),
                 (long long)(o->mtime % 1000));
        xapi_struct_set_string(ev, "timestamp", ts);
        xapi_struct_set_string(ev, "class", sim_cls_lower[o->cls]);
        xapi_struct_set_string(ev, "operation",
                               o->deleted ? "del" : (o->created_gen > since ? "add" : "mod"));
        xapi_struct_set_string(ev, "ref", o->ref);
        if (!o->deleted)
            xapi_struct_set_take(ev, "snapshot", xapi_value_dup(o->rec));
        xapi_array_append_take(evs, ev);
        (*count)++;
    }
    return evs;
}

static int h_event_from(struct ctx *c)
{
    const struct xapi_value *classes = xapi_array_get(c->p, 1);
    const char *tok = sim_arg_str(c, 2);
    double timeout = 0;
    uint64_t since;
    if (!classes || classes->type != XAPI_ARRAY) {
        sim_rerr(c, "FIELD_TYPE_ERROR", 1, "classes");
        return R_DONE;
    }
    if (parse_token(tok, &since) != 0) {
        sim_rerr(c, "EVENT_FROM_TOKEN_PARSE_FAILURE", 1, tok);
        return R_DONE;
    }
    xapi_value_as_double(xapi_array_get(c->p, 3), &timeout);
    int64_t deadline =
        clock_mono_ms() + clock_real_ms_for(c->s->clock, (int64_t)(timeout * 1000.0));
    for (;;) {
        if (since < c->w->lost_gen && since != 0) {
            sim_rerr(c, "EVENTS_LOST", 0);
            return R_DONE;
        }
        size_t n;
        struct xapi_value *evs = collect_events(c->w, classes, since, &n);
        if (n > 0 || !c->blocking || clock_mono_ms() >= deadline || c->s->stopping) {
            struct xapi_value *res = xapi_value_new_struct();
            xapi_struct_set_take(res, "events", evs);
            struct xapi_value *vrc = xapi_value_new_struct();
            for (int cl = 0; cl < CL_NCLS; cl++) {
                if (class_wanted(classes, cl)) {
                    /* xapi_event.ml types the counts int32: <i4> over XML-RPC */
                    struct xapi_value *n32 = xapi_value_new_int((int64_t)c->w->ccount[cl]);
                    n32->i4 = true;
                    xapi_struct_set_take(vrc, sim_cls_lower[cl], n32);
                }
            }
            xapi_struct_set_take(res, "valid_ref_counts", vrc);
            char t[64];
            snprintf(t, sizeof(t), "%020llu,%020llu", (unsigned long long)c->w->gen, 0ULL);
            xapi_struct_set_string(res, "token", t);
            sim_rok(c, res);
            return R_DONE;
        }
        xapi_value_free(evs);
        uint64_t seen = c->w->gen;
        while (c->w->gen == seen && clock_mono_ms() < deadline && !c->s->stopping) {
            int64_t step = clock_mono_ms() + 200;
            wait_until_real(c->s, step < deadline ? step : deadline);
            if (!c->s->virtual_clock)
                sim_run_due(c->s, sim_now(c->s));
        }
    }
}

static int h_event_inject(struct ctx *c)
{
    int cl = sim_cls_by_name(sim_arg_str(c, 1));
    struct obj *o = cl >= 0 ? sim_obj_get_cls(c->w, sim_arg_str(c, 2), (enum cls)cl) : NULL;
    if (!o) {
        sim_rerr(c, "HANDLE_INVALID", 2, sim_arg_str(c, 1), sim_arg_str(c, 2));
        return R_DONE;
    }
    sim_obj_touch(c->w, o);
    /* xapi_event.ml inject: the token is the one before the injected change, so that event.from
     * with it returns that change */
    char t[64];
    snprintf(t, sizeof(t), "%020llu,%020llu", (unsigned long long)(c->w->gen - 1), 0ULL);
    sim_rok(c, xapi_value_new_string(t));
    return R_DONE;
}

/* Legacy event.register (xapi_event.ml): add classes to the session's subscription. */
static int h_event_register(struct ctx *c)
{
    const struct xapi_value *cl = xapi_array_get(c->p, 1);
    if (!c->sess->reg_classes) {
        c->sess->reg_classes = json_array();
        c->sess->reg_gen = c->w->gen;
    }
    for (size_t i = 0; i < xapi_array_len(cl); i++) {
        const char *k = xapi_value_str(xapi_array_get(cl, i));
        if (k)
            json_array_append_new(c->sess->reg_classes, json_string(k));
    }
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_event_unregister(struct ctx *c)
{
    json_decref(c->sess->reg_classes);
    c->sess->reg_classes = NULL;
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

/* Legacy event.next: the events of the registered classes since the last call, blocking (over
 * HTTP) until there is one; SESSION_NOT_REGISTERED without event.register. */
static int h_event_next(struct ctx *c)
{
    char sref[REF_LEN];
    str_lcpy(sref, c->sess->ref, sizeof(sref));
    for (;;) {
        struct session *se = sim_hmap_get(&c->w->sessions, sref);
        if (!se) {
            sim_rerr(c, "SESSION_INVALID", 1, sref);
            return R_DONE;
        }
        if (!se->reg_classes) {
            sim_rerr(c, "SESSION_NOT_REGISTERED", 1, sref);
            return R_DONE;
        }
        if (se->reg_gen < c->w->lost_gen) {
            sim_rerr(c, "EVENTS_LOST", 0);
            return R_DONE;
        }
        struct xapi_value *classes = xapi_value_new_array();
        size_t ncl = json_array_size(se->reg_classes), n;
        for (size_t i = 0; i < ncl; i++)
            xapi_array_append_string(classes,
                                     json_string_value(json_array_get(se->reg_classes, i)));
        struct xapi_value *evs = collect_events(c->w, classes, se->reg_gen, &n);
        xapi_value_free(classes);
        if (n > 0 || !c->blocking || c->s->stopping) {
            se->reg_gen = c->w->gen;
            sim_rok(c, evs);
            return R_DONE;
        }
        xapi_value_free(evs);
        wait_until_real(c->s, clock_mono_ms() + 200);
        if (!c->s->virtual_clock)
            sim_run_due(c->s, sim_now(c->s));
    }
}

static int h_event_get_current_id(struct ctx *c)
{
    sim_rok(c, xapi_value_new_int((int64_t)c->w->gen));
    return R_DONE;
}

static const struct handler base_handlers[] = {
    {"event.from", h_event_from, 0},
    {"event.inject", h_event_inject, 0},
    {"event.get_current_id", h_event_get_current_id, 0},
    {"event.register", h_event_register, 0},
    {"event.unregister", h_event_unregister, 0},
    {"event.next", h_event_next, 0},
    {NULL, NULL, 0},
};

static const struct handler *find_handler(const char *name)
{
    const struct handler *const tables[] = {
        base_handlers,        sim_op_handlers,  sim_storage_handlers, sim_task_handlers,
        sim_session_handlers, sim_xs8_handlers, sim_upgrade_handlers};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        for (const struct handler *h = tables[i]; h->name; h++) {
            if (strcmp(h->name, name) == 0)
                return h;
        }
    }
    return NULL;
}

static bool is_generic_msg(const struct sim_class_spec *cs, const char *msg)
{
    const struct sim_field_spec *f;
    if (!strcmp(msg, "get_all_records") || !strcmp(msg, "get_all") || !strcmp(msg, "get_by_uuid") ||
        !strcmp(msg, "get_record") || !strcmp(msg, "get_by_name_label"))
        return sim_cls_by_name(cs->name) >= 0;
    if (sim_cls_by_name(cs->name) < 0)
        return false;
    if (str_has_prefix(msg, "get_"))
        return sim_spec_field(cs, msg + 4) != NULL;
    if (str_has_prefix(msg, "set_"))
        return (f = sim_spec_field(cs, msg + 4)) && f->rw;
    if (str_has_prefix(msg, "add_to_"))
        return (f = sim_spec_field(cs, msg + 7)) && f->rw && f->kind == FK_MAP;
    if (str_has_prefix(msg, "remove_from_"))
        return (f = sim_spec_field(cs, msg + 12)) && f->rw && f->kind == FK_MAP;
    if (str_has_prefix(msg, "add_"))
        return (f = sim_spec_field(cs, msg + 4)) && f->rw && f->kind == FK_SET;
    if (str_has_prefix(msg, "remove_"))
        return (f = sim_spec_field(cs, msg + 7)) && f->rw && f->kind == FK_SET;
    return false;
}

/* system.listMethods as gen_server.ml builds it: the synchronous wire name of every message of
 * every class (implemented here or not), no Async names; over XML-RPC the bare array
 * (api_server.ml, see sim_is_bare_xmlrpc). */
static int h_list_methods(struct ctx *c)
{
    struct xapi_value *a = xapi_value_new_array();
    char name[160];
    for (size_t i = 0; i < SIM_NCLASS_SPECS; i++) {
        const struct sim_class_spec *cs = &sim_class_specs[i];
        for (size_t k = 0; k < cs->nmsgs; k++) {
            snprintf(name, sizeof(name), "%s.%s", cs->name, cs->msgs[k].name);
            xapi_array_append_string(a, name);
        }
    }
    sim_rok(c, a);
    return R_DONE;
}

/* ---- the dispatcher ---- */

/* Calls with optional trailing parameters, as xapi accepts them (see xapi.md section 1). */
static const struct {
    const char *name;
    int min, max;
} arity_over[] = {
    {"session.login_with_password", 2, 4},
    {"host.evacuate", 2, 4},
    {"host.disable", 2, 3},
    {"pool.sync_updates", 5, 7},
};

/* Split "Async.VM.start" / "VM_start" into class spec and message. */
static const struct sim_class_spec *split_method(const char *m, char *msg, size_t msgsz,
                                                 bool *async)
{
    *async = false;
    if (str_has_prefix(m, "Async.")) {
        *async = true;
        m += 6;
    }
    const char *dot = strchr(m, '.');
    if (dot) {
        char cname[64];
        size_t n = (size_t)(dot - m);
        if (n >= sizeof(cname))
            return NULL;
        memcpy(cname, m, n);
        cname[n] = '\0';
        str_lcpy(msg, dot + 1, msgsz);
        return sim_spec_class(cname);
    }
    /* class_method: the longest class name that prefixes m followed by '_'. */
    const struct sim_class_spec *best = NULL;
    for (size_t i = 0; i < SIM_NCLASS_SPECS; i++) {
        size_t n = strlen(sim_class_specs[i].name);
        if (strncmp(m, sim_class_specs[i].name, n) == 0 && m[n] == '_' &&
            (!best || n > strlen(best->name)) && sim_spec_msg(&sim_class_specs[i], m + n + 1))
            best = &sim_class_specs[i];
    }
    if (best)
        str_lcpy(msg, m + strlen(best->name) + 1, msgsz);
    return best;
}

static void task_to_response(struct ctx *c, struct obj *t)
{
    const char *st = sim_fstr(t, "status");
    struct taskx *tx = t->x;
    if (strcmp(st, "success") == 0) {
        sim_rok(c, tx->result ? xapi_value_dup(tx->result) : xapi_value_new_void());
    } else if (strcmp(st, "cancelled") == 0) {
        sim_rerr(c, "TASK_CANCELLED", 1, t->ref);
    } else {
        const struct xapi_value *ei = sim_fget(t, "error_info");
        xapi_response_cleanup(c->r);
        c->r->ok = false;
        c->r->error = xapi_value_dup(ei);
        if (xapi_array_len(ei) == 0)
            sim_rerr(c, "INTERNAL_ERROR", 1, "task failed without error_info");
    }
}

static void response_to_task(struct ctx *c, struct obj *t)
{
    if (!sim_task_pending(t))
        return;
    if (c->r->ok) {
        sim_task_succeed(c->w, t,
                         c->r->value ? xapi_value_dup(c->r->value) : xapi_value_new_void());
    } else {
        sim_task_fail(c->w, t, c->r->error);
    }
}

/*
 * Arguments as xapi's generated server unmarshals them (ocaml/idl/ocaml_backend/gen_server.ml):
 * a value of the wrong type (nil, "no" for a bool, an int for a ref) fails the call with
 * INTERNAL_ERROR before the session is checked.  XML-RPC carries ints as strings.
 */
static bool arg_type_ok(char t, const struct xapi_value *v)
{
    int64_t i;
    double d;
    switch (t) {
    case 's':
        return v->type == XAPI_STRING;
    case 'i':
        return xapi_value_as_int(v, &i) == 0;
    case 'f':
        return xapi_value_as_double(v, &d) == 0;
    case 'b':
        return v->type == XAPI_BOOL ||
               (v->type == XAPI_STRING && (!strcmp(v->u.s, "true") || !strcmp(v->u.s, "false")));
    case 'd':
        return v->type == XAPI_DATETIME || v->type == XAPI_STRING;
    case 'a':
        return v->type == XAPI_ARRAY;
    case 'm':
        return v->type == XAPI_STRUCT;
    default:
        return true;
    }
}

static bool args_typed(struct ctx *c, const struct sim_msg_spec *ms)
{
    static const char *const names[] = {"s",    "string", "i",        "int", "f",   "float", "b",
                                        "bool", "d",      "datetime", "a",   "set", "m",     "map"};
    size_t nt = strlen(ms->ptypes);
    for (size_t i = 0; i < c->np && i < nt; i++) {
        const struct xapi_value *v = xapi_array_get(c->p, i);
        if (arg_type_ok(ms->ptypes[i], v))
            continue;
        const char *want = "value";
        for (size_t k = 0; k + 1 < sizeof(names) / sizeof(names[0]); k += 2) {
            if (names[k][0] == ms->ptypes[i])
                want = names[k + 1];
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "Rpc.Runtime_error(\"%s\", %s) in parameter %zu", want,
                 xapi_type_name(v->type), i + 1);
        sim_rerr(c, "INTERNAL_ERROR", 1, msg);
        return false;
    }
    return true;
}

/* Emergency mode comes first (api_server.ml callback1): everything but emergency calls fails. */
static bool refuse_in_emergency(struct ctx *c, struct hostx *hx, const struct handler *h,
                                bool *predispatch)
{
    if (sim_host_is_master(c->w, c->host) || !hx->emergency || (h && (h->flags & H_EMERGENCY)))
        return false;
    const struct fault *f = NULL;
    for (size_t i = 0; i < c->s->nfaults; i++) {
        if (!strcmp(c->s->faults[i].type, "partition") && c->s->faults[i].w == c->w)
            f = &c->s->faults[i];
    }
    if (hx->emergency_code[0]) /* e.g. HOST_XAPI_VERSION_HIGHER_THAN_COORDINATOR [version] */
        sim_rerr(c, hx->emergency_code, 1, hx->emergency_param);
    else
        sim_rerr(c, f && f->code[0] ? f->code : "HOST_STILL_BOOTING", 0);
    if (predispatch)
        *predispatch = true;
    return true;
}

static void answer_host_is_slave(struct ctx *c)
{
    char maddr[64];
    str_lcpy(maddr, c->w->master ? sim_hx(c->w->master)->address : "", sizeof(maddr));
    sim_rerr(c, "HOST_IS_SLAVE", 1, maddr);
}

/*
 * Session_check.check (ocaml/xapi/session_check.ml): a local session (slave_local_login) is good
 * on its own host; on a supporter an unknown session is SESSION_INVALID and a pool session is
 * HOST_IS_SLAVE [coordinator].  False after answering.
 */
static bool session_ok(struct ctx *c)
{
    const char *sref = sim_arg_str(c, 0);
    c->sess = sim_hmap_get(&c->w->sessions, sref);
    if (c->sess && c->sess->local_host) {
        if (c->sess->local_host == c->host)
            return true;
        c->sess = NULL;
    }
    if (!c->sess) {
        sim_rerr(c, "SESSION_INVALID", 1, sref);
        return false;
    }
    if (!sim_host_is_master(c->w, c->host)) {
        answer_host_is_slave(c);
        return false;
    }
    return true;
}

/* Rbac.check (ocaml/xapi/rbac.ml): the session's role must be among the message's roles; the
 * local superuser and local sessions may do anything. */
static bool rbac_ok(struct ctx *c, const char *full, const struct sim_msg_spec *ms)
{
    if (!c->sess || c->sess->local_host || c->sess->superuser || (ms->roles & c->sess->role))
        return true;
    static const char *const role_names[] = {"pool-admin", "pool-operator", "vm-power-admin",
                                             "vm-admin",   "vm-operator",   "read-only",
                                             "client-cert"};
    char perm[200], msg[400];
    size_t n = 0;
    for (size_t i = 0; full[i] && i + 1 < sizeof(perm); i++)
        perm[n++] = (char)tolower((unsigned char)full[i]);
    perm[n] = '\0';
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
        if (ms->roles & (1 << i))
            buf_printf(&b, "%s%s", b.len ? ", " : "", role_names[i]);
    }
    snprintf(msg, sizeof(msg), "No permission in user session. (Roles with this permission: %s)",
             buf_str(&b));
    buf_cleanup(&b);
    sim_rerr(c, "RBAC_PERMISSION_DENIED", 2, perm, msg);
    return false;
}

/* The parameter count as gen_server.ml checks it: the session is not counted, missing
 * mandatory parameters fail, trailing extra ones are ignored.  False after answering. */
static bool arity_ok(struct ctx *c, const char *full, const struct sim_msg_spec *ms)
{
    int min = ms->nparams;
    int max = min;
    for (size_t i = 0; i < sizeof(arity_over) / sizeof(arity_over[0]); i++) {
        if (strcmp(arity_over[i].name, full) == 0) {
            min = arity_over[i].min;
            max = arity_over[i].max;
        }
    }
    int sess = (ms->flags & SIM_MSG_SESSION) ? 1 : 0;
    if ((int)c->np < min) {
        char exp[16], got[16];
        snprintf(exp, sizeof(exp), "%d", min - sess);
        snprintf(got, sizeof(got), "%d", (int)c->np - sess);
        sim_rerr(c, "MESSAGE_PARAMETER_COUNT_MISMATCH", 3, full, exp, got);
        return false;
    }
    if ((int)c->np > max)
        c->np = (size_t)max;
    return true;
}

/* A synchronous long call: wait for its task (HTTP) or complete it now (in-process). */
static void finish_long_call(struct ctx *c, struct obj *t, int rc)
{
    struct sim *s = c->s;
    char tref[REF_LEN];
    str_lcpy(tref, t->ref, sizeof(tref));
    if (rc == R_PENDING) {
        if (!c->blocking) {
            sim_run_due(s, sim_now(s));
        } else {
            int64_t give_up = clock_mono_ms() + 3600 * 1000;
            while (sim_task_pending(t) && clock_mono_ms() < give_up && !s->stopping) {
                wait_until_real(s, clock_mono_ms() + 200);
                sim_run_due(s, sim_now(s));
                t = sim_obj_get_cls(c->w, tref, CL_TASK); /* a client may destroy it meanwhile */
            }
        }
    }
    if (!t || t->deleted) {
        sim_rerr(c, "HANDLE_INVALID", 2, "task", "the call's task was destroyed");
        return;
    }
    if (sim_task_pending(t))
        sim_rerr(c, "INTERNAL_ERROR", 1, "the simulated operation did not complete");
    else
        task_to_response(c, t);
    sim_obj_destroy(c->w, t);
}

/* Run a handler, as a task when it is Async or long. */
static void run_handler(struct ctx *c, const struct handler *h, const char *full, bool async)
{
    if (async || (h->flags & H_LONG)) {
        /* xapi names the task of an Async call "Async.<class>.<message>" (server_helpers.ml). */
        char tname[220];
        snprintf(tname, sizeof(tname), "%s%s", async ? "Async." : "", full);
        c->task = sim_task_new(c->w, tname, c->host, (h->flags & H_CANCEL) != 0);
        if (async)
            c->instant = false;
    }
    int rc = h->fn(c);
    if (!c->task)
        return;
    struct obj *t = c->task;
    if (rc == R_DONE)
        response_to_task(c, t);
    if (async)
        sim_rok(c, xapi_value_new_string(t->ref));
    else
        finish_long_call(c, t, rc);
}

/* A method the datamodel does not have: xapi checks a session first (the call_extension path of
 * gen_server.ml), then answers MESSAGE_METHOD_UNKNOWN. */
static void unknown_method(struct ctx *c, const char *method)
{
    if (c->np > 0 && !session_ok(c))
        return;
    sim_rerr(c, "MESSAGE_METHOD_UNKNOWN", 1, method);
}

bool sim_dispatch_may_block(const char *method)
{
    char msg[128], full[200];
    bool async = false;
    const struct sim_class_spec *cs = split_method(method, msg, sizeof(msg), &async);
    if (!cs || async)
        return false;
    snprintf(full, sizeof(full), "%s.%s", cs->name, msg);
    const struct handler *h = find_handler(full);
    return h && (h->flags & H_LONG);
}

int sim_dispatch(struct sim *s, const char *addr, const char *method,
                 const struct xapi_value *params, struct xapi_response *r, bool blocking,
                 bool *predispatch, struct err *e)
{
    struct ctx cx;
    struct ctx *c = &cx;
    char msg[128];
    bool async = false;
    memset(c, 0, sizeof(*c));
    memset(r, 0, sizeof(*r));
    if (predispatch)
        *predispatch = false;
    struct hostx *hx = sim_hmap_get(&s->addrs, addr ? addr : "");
    struct obj *host = hx ? hx->o : NULL;
    if (!host)
        return err_set(e, PP_ETRANSPORT, "no simulated host at %s", addr ? addr : "(null)");
    struct world *w = hx->w;
    if (!s->virtual_clock)
        sim_run_due(s, sim_now(s));
    if (!hx->up)
        return err_set(e, PP_ETRANSPORT, "host %s (%s) is not reachable", addr,
                       sim_fstr(host, "name_label"));
    if (w->partitioned && w->cut == host)
        return err_set(e, PP_ETRANSPORT, "host %s is partitioned from the network", addr);
    s->n_calls++;
    if (str_has_prefix(method, "session.login") || str_has_prefix(method, "session.slave_local"))
        hx->logins++; /* credentials received (GET /sim/state "logins") */
    *c = (struct ctx){.s = s,
                      .w = w,
                      .host = host,
                      .method = method,
                      .p = params,
                      .np = xapi_array_len(params),
                      .r = r,
                      .blocking = blocking,
                      .instant = !blocking};
    const struct sim_class_spec *cs = split_method(method, msg, sizeof(msg), &async);
    const struct sim_msg_spec *ms = cs ? sim_spec_msg(cs, msg) : NULL;
    char full[200];
    snprintf(full, sizeof(full), "%s.%s", cs ? cs->name : "", msg);
    const struct handler *h = ms ? find_handler(full) : NULL;
    if (refuse_in_emergency(c, hx, h, predispatch))
        return 0;
    if (strcmp(method, "system.listMethods") == 0)
        return h_list_methods(c);
    bool generic_ok = ms && !h && is_generic_msg(cs, msg);
    if (!ms || (async && (generic_ok || (h && (h->flags & H_NOSESSION))))) {
        unknown_method(c, method);
        return 0;
    }
    if (!arity_ok(c, full, ms) || !args_typed(c, ms))
        return 0;
    if (!(ms->flags & SIM_MSG_SESSION) || (h && (h->flags & H_NOSESSION))) {
        /* logins: only the local ones work on a supporter (xapi_session.ml) */
        if (!sim_host_is_master(w, host) && !(h && (h->flags & H_EMERGENCY))) {
            answer_host_is_slave(c);
            return 0;
        }
    } else if (!session_ok(c) || !rbac_ok(c, full, ms)) {
        return 0;
    }
    if (ms->flags & SIM_MSG_REMOVED) {
        sim_rerr(c, "MESSAGE_REMOVED", 0);
        return 0;
    }
    if (s->nfaults)
        sim_faults_arm(s, w, full);
    if (h) {
        run_handler(c, h, full, async);
        return 0;
    }
    bool handled = false;
    if (generic_ok)
        generic(c, (enum cls)sim_cls_by_name(cs->name), msg, &handled);
    if (!handled)
        sim_rerr(c, "NOT_IMPLEMENTED", 1, full);
    return 0;
}
