/* SPDX-License-Identifier: MIT */
/*
 * api_pools.c - PATCH /api/v1/pools/{name}: pool properties set on the pool itself, as
 * XenCenter's pool properties dialog sets them (today `live_patching_disabled`,
 * pool.set_live_patching_disabled); the body's check is pure (api_pool_settings_parse), the write
 * runs on the engine thread (engine_pool_set) and the answer is the pool as its object cache
 * shows it afterwards.  docs/rest-api.md, "Pools".
 */
#include <string.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/str.h"
#include "engine/engine.h"

/* Parse a PATCH /pools/{name} body (see api_int.h).  Pure. */
int api_pool_settings_parse(const json_t *body, struct engine_pool_settings *s, struct err *e)
{
    const char *key;
    json_t *v;

    s->live_patching_disabled = -1;
    if (!json_is_object(body))
        return err_set(e, PP_EINVAL,
                       "request body: expected a JSON object such as "
                       "{\"live_patching_disabled\": true}");
    json_object_foreach((json_t *)body, key, v)
    {
        if (!str_eq(key, "live_patching_disabled"))
            return err_set(e, PP_EINVAL,
                           "request body: unknown field '%.100s' (a pool's settable property "
                           "is live_patching_disabled)",
                           key);
        if (!json_is_boolean(v))
            return err_set(e, PP_EINVAL,
                           "live_patching_disabled: expected true (live patching off: updates "
                           "that could be live-patched need their reboot) or false (on)");
        s->live_patching_disabled = json_is_true(v) ? 1 : 0;
    }
    if (s->live_patching_disabled < 0)
        return err_set(e, PP_EINVAL,
                       "request body: nothing to change; give live_patching_disabled (true or "
                       "false)");
    return 0;
}

/* PATCH /pools/{name} {"live_patching_disabled": bool}: 200 with the pool object. */
void api_h_pool_set(struct api_call *x)
{
    struct err e = {0};
    struct engine_pool_settings s;
    json_t *out = NULL;
    json_t *body = api_body(x, false, &e);
    int rc = body ? api_pool_settings_parse(body, &s, &e) : e.code;

    if (rc == 0)
        rc = engine_pool_set(api_server_engine(x->srv), x->m.param, &s, &out, &e);
    if (rc == 0)
        api_answer_json(x, 200, out);
    else
        api_answer_err(x, rc, &e);
    json_decref(out);
    json_decref(body);
}
