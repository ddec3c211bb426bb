/* SPDX-License-Identifier: MIT */
/* spec.c - look-ups over the generated datamodel tables (spec_tables.c). */
#include "sim/spec.h"

#include <string.h>

const struct sim_class_spec *sim_spec_class(const char *name)
{
    for (size_t i = 0; i < SIM_NCLASS_SPECS; i++) {
        if (strcmp(sim_class_specs[i].name, name) == 0)
            return &sim_class_specs[i];
    }
    return NULL;
}

const struct sim_field_spec *sim_spec_field(const struct sim_class_spec *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++) {
        if (strcmp(c->fields[i].name, name) == 0)
            return &c->fields[i];
    }
    return NULL;
}

const struct sim_msg_spec *sim_spec_msg(const struct sim_class_spec *c, const char *name)
{
    for (size_t i = 0; i < c->nmsgs; i++) {
        if (strcmp(c->msgs[i].name, name) == 0)
            return &c->msgs[i];
    }
    return NULL;
}
