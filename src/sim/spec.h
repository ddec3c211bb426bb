/* SPDX-License-Identifier: MIT */
/*
 * spec.h - tables generated from xapi's datamodel (spec_tables.c): the fields of every class the
 * simulator serves (name, type, kind, default as JSON text, RW flag) and the messages with their
 * parameter counts.  Read-only data; thread-safe.
 */
#ifndef PP_SIM_SPEC_H
#define PP_SIM_SPEC_H

#include <stddef.h>

enum sim_fkind {
    FK_STRING,
    FK_INT,
    FK_FLOAT,
    FK_BOOL,
    FK_DATETIME,
    FK_REF,
    FK_ENUM,
    FK_SET,
    FK_MAP,
    FK_OTHER
};

struct sim_field_spec {
    const char *name;
    const char *type; /* xapi's type text, e.g. "(string -> string) map" */
    enum sim_fkind kind;
    const char *def_json; /* xapi's default as JSON text */
    int rw;               /* qualifier RW: has set_ (and add_to_/remove_from_ for maps) */
};

/* struct sim_msg_spec.flags */
#define SIM_MSG_SESSION 1 /* the first parameter is the session */
#define SIM_MSG_REMOVED 2 /* lifecycle Removed: xapi answers MESSAGE_REMOVED */

/* struct sim_msg_spec.roles: xapi's static roles allowed to call it (ocaml/idl rbac roles) */
#define SIM_ROLE_POOL_ADMIN     1
#define SIM_ROLE_POOL_OPERATOR  2
#define SIM_ROLE_VM_POWER_ADMIN 4
#define SIM_ROLE_VM_ADMIN       8
#define SIM_ROLE_VM_OPERATOR    16
#define SIM_ROLE_READ_ONLY      32
#define SIM_ROLE_CLIENT_CERT    64

struct sim_msg_spec {
    const char *name;
    int nparams; /* every parameter, the session included */
    int flags;   /* SIM_MSG_* */
    int roles;   /* SIM_ROLE_* bits */
    /* per parameter: s string / ref / enum, i int, f float, b bool, d datetime, a set, m map or
     * record, x anything */
    const char *ptypes;
};

struct sim_class_spec {
    const char *name; /* "VM", "host", ... as on the wire */
    const struct sim_field_spec *fields;
    size_t nfields;
    const struct sim_msg_spec *msgs;
    size_t nmsgs;
};

#define SIM_NCLASS_SPECS 67
/* pool, host, host_metrics, VM, VBD, VDI, SR, PBD, pool_update, task, session, event (the modelled
 * classes), then every other class of the datamodel (messages answered NOT_IMPLEMENTED) */
extern const struct sim_class_spec sim_class_specs[SIM_NCLASS_SPECS];

/* The class spec named name (exact, case-sensitive), or NULL. */
const struct sim_class_spec *sim_spec_class(const char *name);
/* The field of c named name, or NULL. */
const struct sim_field_spec *sim_spec_field(const struct sim_class_spec *c, const char *name);
/* The message of c named name, or NULL. */
const struct sim_msg_spec *sim_spec_msg(const struct sim_class_spec *c, const char *name);

#endif
