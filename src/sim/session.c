/* SPDX-License-Identifier: MIT */
/*
 * session.c - the simulator's sessions: logins as the local superuser or as a scenario user with
 * one of xapi's roles (RBAC, checked in dispatch.c), logout, and the session record calls
 * (get_record, get_this_host, get_this_user, get_is_local_superuser, ...).  Behaviour follows
 * ocaml/xapi/xapi_session.ml; the roles are xapi's static ones (ocaml/idl/datamodel_roles.ml).
 */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "sim/internal.h"

static void session_release(struct session *se)
{
    free(se->user);
    json_decref(se->reg_classes);
    free(se);
}

void sim_sessions_clear(struct world *w)
{
    for (size_t i = 0; i < w->sessions.cap; i++) {
        struct hmap_slot *sl = &w->sessions.slots[i];
        if (sl->key && sl->val) {
            session_release(sl->val);
            sl->val = NULL;
        }
    }
}

static struct session *session_new(struct ctx *c, const char *user, struct obj *local)
{
    struct world *w = c->w;
    struct session *se = xcalloc(1, sizeof(*se));
    char u[UUID_STR_LEN];
    uuid_from_rng(&w->s->rng, u);
    snprintf(se->ref, sizeof(se->ref), "OpaqueRef:%s", u);
    uuid_from_rng(&w->s->rng, se->uuid);
    se->user = xstrdup(user);
    se->local_host = local;
    se->created = sim_now(w->s);
    str_lcpy(se->originator, sim_arg_str(c, 3), sizeof(se->originator));
    sim_hmap_put(&w->sessions, se->ref, se);
    return se;
}

/* The role of user / password: the superuser is pool-admin; -1 when neither matches. */
static int user_role(struct sim *s, const char *u, const char *p, bool *superuser)
{
    *superuser = str_eq(u, s->user) && str_eq(p, s->password);
    if (*superuser)
        return SIM_ROLE_POOL_ADMIN;
    for (size_t i = 0; i < s->nusers; i++) {
        if (str_eq(u, s->users[i].name) && str_eq(p, s->users[i].password))
            return s->users[i].role;
    }
    return -1;
}

static int h_login(struct ctx *c)
{
    const char *u = sim_arg_str(c, 0), *p = sim_arg_str(c, 1);
    bool local = strstr(c->method, "slave_local") != NULL;
    bool su = false;
    int role = user_role(c->s, u, p, &su);
    /* slave_local_login_with_password is for the local superuser only (xapi_session.ml). */
    if (role < 0 || (local && !su)) {
        /* xapi answers after a delay of a few seconds; not modelled. */
        sim_rerr(c, "SESSION_AUTHENTICATION_FAILED", 2, u, "Authentication failure");
        return R_DONE;
    }
    struct session *se = session_new(c, u, local ? c->host : NULL);
    se->role = role;
    se->superuser = su;
    sim_rok(c, xapi_value_new_string(se->ref));
    return R_DONE;
}

static int h_logout(struct ctx *c)
{
    if (c->sess) {
        sim_hmap_del(&c->w->sessions, c->sess->ref);
        session_release(c->sess);
    }
    c->sess = NULL;
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

/* The session named by parameter 1 (any session of the pool), or NULL after HANDLE_INVALID. */
static struct session *arg_session(struct ctx *c)
{
    struct session *se = sim_hmap_get(&c->w->sessions, sim_arg_str(c, 1));
    if (!se)
        sim_rerr(c, "HANDLE_INVALID", 2, "session", sim_arg_str(c, 1));
    return se;
}

static const char *role_name(int role)
{
    static const char *const names[] = {"pool-admin", "pool-operator", "vm-power-admin",
                                        "vm-admin",   "vm-operator",   "read-only",
                                        "client-cert"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (role == (1 << i))
            return names[i];
    }
    return "";
}

int sim_role_by_name(const char *name)
{
    for (int i = 0; i < 7; i++) {
        if (str_eq(role_name(1 << i), name))
            return 1 << i;
    }
    return -1;
}

/* The session's record as xapi keeps it (fields from the datamodel, defaults elsewhere). */
static struct xapi_value *session_record(struct ctx *c, const struct session *se)
{
    struct xapi_value *r = sim_spec_defaults(sim_spec_class("session"));
    struct obj *host = se->local_host ? se->local_host : c->w->master;
    xapi_struct_set_string(r, "uuid", se->uuid);
    xapi_struct_set_string(r, "this_host", host ? host->ref : "OpaqueRef:NULL");
    xapi_struct_set_take(r, "last_active", xapi_value_new_datetime_ms(se->created));
    xapi_struct_set_take(r, "validation_time", xapi_value_new_datetime_ms(se->created));
    xapi_struct_set_take(r, "pool", xapi_value_new_bool(false));
    xapi_struct_set_take(r, "is_local_superuser", xapi_value_new_bool(se->superuser));
    xapi_struct_set_string(r, "auth_user_name", se->user);
    xapi_struct_set_string(r, "originator", se->originator);
    struct xapi_value *perms = xapi_value_new_array();
    if (!se->superuser)
        xapi_array_append_string(perms, role_name(se->role));
    xapi_struct_set_take(r, "rbac_permissions", perms);
    return r;
}

static int h_session_get_record(struct ctx *c)
{
    struct session *se = arg_session(c);
    if (se)
        sim_rok(c, session_record(c, se));
    return R_DONE;
}

/* session.get_<field>: the field of the session's record. */
static int h_session_get_field(struct ctx *c)
{
    struct session *se = arg_session(c);
    if (!se)
        return R_DONE;
    const char *field = strrchr(c->method, '.');
    field = field ? field + 5 : "";
    struct xapi_value *r = session_record(c, se);
    const struct xapi_value *v = xapi_struct_get(r, field);
    if (v)
        sim_rok(c, xapi_value_dup(v));
    else
        sim_rerr(c, "MESSAGE_METHOD_UNKNOWN", 1, c->method);
    xapi_value_free(r);
    return R_DONE;
}

static int h_session_get_by_uuid(struct ctx *c)
{
    for (size_t i = 0; i < c->w->sessions.cap; i++) {
        const struct session *se = c->w->sessions.slots[i].val;
        if (c->w->sessions.slots[i].key && se && str_eq(se->uuid, sim_arg_str(c, 1))) {
            sim_rok(c, xapi_value_new_string(se->ref));
            return R_DONE;
        }
    }
    sim_rerr(c, "UUID_INVALID", 2, "session", sim_arg_str(c, 1));
    return R_DONE;
}

const struct handler sim_session_handlers[] = {
    {"session.login_with_password", h_login, H_NOSESSION},
    {"session.slave_local_login_with_password", h_login, H_NOSESSION | H_EMERGENCY},
    {"session.logout", h_logout, 0},
    {"session.local_logout", h_logout, H_EMERGENCY},
    {"session.get_record", h_session_get_record, 0},
    {"session.get_by_uuid", h_session_get_by_uuid, 0},
    {"session.get_uuid", h_session_get_field, 0},
    {"session.get_this_host", h_session_get_field, 0},
    {"session.get_this_user", h_session_get_field, 0},
    {"session.get_last_active", h_session_get_field, 0},
    {"session.get_pool", h_session_get_field, 0},
    {"session.get_other_config", h_session_get_field, 0},
    {"session.get_is_local_superuser", h_session_get_field, 0},
    {"session.get_subject", h_session_get_field, 0},
    {"session.get_validation_time", h_session_get_field, 0},
    {"session.get_auth_user_sid", h_session_get_field, 0},
    {"session.get_auth_user_name", h_session_get_field, 0},
    {"session.get_rbac_permissions", h_session_get_field, 0},
    {"session.get_tasks", h_session_get_field, 0},
    {"session.get_parent", h_session_get_field, 0},
    {"session.get_originator", h_session_get_field, 0},
    {"session.get_client_certificate", h_session_get_field, 0},
    {NULL, NULL, 0},
};
