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

struct sim_msg_spec {
    const char *name;
    int nparams;
};

struct sim_class_spec {
    const char *name; /* "VM", "host", ... as on the wire */
    const struct sim_field_spec *fields;
    size_t nfields;
    const struct sim_msg_spec *msgs;
    size_t nmsgs;
};

#define SIM_NCLASS_SPECS 12
/* pool, host, host_metrics, VM, VBD, VDI, SR, PBD, pool_update, task, session, event */
extern const struct sim_class_spec sim_class_specs[SIM_NCLASS_SPECS];

/* The class spec named name (exact, case-sensitive), or NULL. */
const struct sim_class_spec *sim_spec_class(const char *name);
/* The field of c named name, or NULL. */
const struct sim_field_spec *sim_spec_field(const struct sim_class_spec *c, const char *name);
/* The message of c named name, or NULL. */
const struct sim_msg_spec *sim_spec_msg(const struct sim_class_spec *c, const char *name);

#endif
