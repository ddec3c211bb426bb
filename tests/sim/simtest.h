/* SPDX-License-Identifier: MIT */
/*
 * simtest.h - helpers shared by the simulator's tests: building parameter arrays, calling the
 * in-process simulator, reading responses, locating the source tree's files.
 */
#ifndef PP_TESTS_SIMTEST_H
#define PP_TESTS_SIMTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/sim.h"
#include "xapi/codec.h"
#include "xapi/value.h"

/* A params array of strings (NULL-terminated list). */
struct xapi_value *st_params(const char *first, ...);
/* Call in-process with string params (NULL-terminated).  Returns the response (caller cleans). */
struct xapi_response st_call(struct sim *s, const char *addr, const char *method, ...);
/* Call with a prepared params array (taken). */
struct xapi_response st_callv(struct sim *s, const char *addr, const char *method,
                              struct xapi_value *params);
/* The error code of a failed response, or "" when ok. */
const char *st_code(const struct xapi_response *r);
/* Error parameter i or "". */
const char *st_eparam(const struct xapi_response *r, size_t i);
/* The string result, or "". */
const char *st_str(const struct xapi_response *r);
/* Path of a file in the source tree (env SIM_SOURCE_ROOT, else "."); static buffer. */
const char *st_src(const char *rel);
/* Load a scenario from scenarios/<name>; asserts success. */
struct sim *st_load(const char *name, uint64_t seed);
/* Log in to pool 0's master in-process; returns the session ref (static buffer). */
const char *st_login(struct sim *s, size_t pool, char *addr_out, size_t addr_n);
/* Host ref by name_label (static buffer per call slot 0..3). */
const char *st_ref_by_name(struct sim *s, const char *addr, const char *sess, const char *cls,
                           const char *name, int slot);
/* A field of an object's record (dup'd value; caller frees). */
struct xapi_value *st_field(struct sim *s, const char *addr, const char *sess, const char *cls,
                            const char *ref, const char *field);

#endif
