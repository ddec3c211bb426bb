/* SPDX-License-Identifier: MIT */
/*
 * fuzz_scenario.c - libFuzzer harness for simulator scenario files: the input, parsed as JSON
 * with limits, builds a simulator on the virtual clock.  A failure must say why; a success must
 * give pools that each have a name and a master address.
 */
#include "fuzz_common.h"

#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = NULL;
    struct err e = {0};
    struct sim_options o = {.seed = 1};
    struct sim *s = NULL;

    if (size > 256 * 1024 ||
        jsonx_load((const char *)data, size, 256 * 1024, 32, "scenario", &v, &e) != 0)
        return 0;
    if (sim_new_from_json(v, &o, &s, &e) != 0) {
        FUZZ_CHECK(e.code != 0 && e.msg[0]);
        FUZZ_CHECK(s == NULL);
    } else {
        for (size_t i = 0; i < sim_pool_count(s); i++) {
            char addr[64] = "";
            FUZZ_CHECK(sim_pool_name(s, i) != NULL);
            sim_pool_master_address(s, i, addr, sizeof addr);
            FUZZ_CHECK(addr[0] != '\0');
        }
        sim_free(s);
    }
    json_decref(v);
    return 0;
}
