/* SPDX-License-Identifier: MIT */
/*
 * api_upgrade.c - the REST handlers of rolling pool upgrades (docs/rest-api.md "Upgrades"):
 * POST /api/v1/upgrades starts one (201, a rollout whose progress, Retry and Cancel are the
 * rollouts' routes) or, with dry_run, answers its plan (200); POST /rollouts/{id}/upgrade-host
 * reboots a host again or skips it (manual mode); POST /pools/{name}/forget-host forgets a
 * supporter left out.  Worker thread, like every handler.
 */
#include "api/api_int.h"

#include "base/err.h"
#include "base/str.h"
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPGRADE_LIST_MAX 1024

/* The body {pools, to, url, manual, policy, shutdown, dry_run, apply_updates} into req (strings
 * borrowed from body; req->pools / req->shutdown allocated, freed by the caller). */
static int parse_upgrade(json_t *body, struct engine_plan_req *req, bool *dry, struct err *e)
{
    json_t *pools = NULL, *to = NULL, *url = NULL, *manual = NULL, *policy = NULL, *sd = NULL,
           *dr = NULL, *au = NULL;
    json_error_t je;
    const char *pol = NULL, **pl = NULL, **sl = NULL;
    int rc;

    memset(req, 0, sizeof *req);
    if (json_unpack_ex(body, &je, 0, "{s?o s?o s?o s?o s?o s?o s?o s?o !}", "pools", &pools, "to",
                       &to, "url", &url, "manual", &manual, "policy", &policy, "shutdown", &sd,
                       "dry_run", &dr, "apply_updates", &au) != 0)
        return api_unpack_failed(&je, e);
    if ((rc = api_want_string("to", to, true, &req->upgrade_to, e)) != 0 ||
        (rc = api_want_string("url", url, false, &req->upgrade_url, e)) != 0 ||
        (rc = api_want_bool("manual", manual, false, &req->upgrade_manual, e)) != 0 ||
        (rc = api_want_bool("dry_run", dr, false, dry, e)) != 0 ||
        (rc = api_want_bool("apply_updates", au, false, &req->upgrade_apply_updates, e)) != 0 ||
        (rc = api_want_string("policy", policy, false, &pol, e)) != 0)
        return rc;
    if (req->upgrade_manual && req->upgrade_url && *req->upgrade_url)
        return err_set(e, PP_EINVAL, "url: not used in manual mode (give url or manual, not both)");
    if (!req->upgrade_manual && (!req->upgrade_url || !*req->upgrade_url))
        return err_set(e, PP_EINVAL,
                       "url: required (the installation media's http, nfs or ftp address), "
                       "or manual: true");
    if (!pol || str_eq(pol, "minimal")) /* the default: VMs stay on upgraded hosts (seed) */
        req->policy = ENGINE_POLICY_MINIMAL;
    else if (str_eq(pol, "return"))
        req->policy = ENGINE_POLICY_RETURN;
    else
        return err_set(e, PP_EINVAL, "policy: '%s' is not minimal or return", pol);
    if ((rc = api_want_strings("pools", pools, &pl, &req->n_pools, e)) != 0)
        return rc;
    req->pools = pl;
    if ((rc = api_want_strings("shutdown", sd, &sl, &req->n_shutdown, e)) != 0)
        return rc;
    req->shutdown = sl;
    if (req->n_pools > UPGRADE_LIST_MAX || req->n_shutdown > UPGRADE_LIST_MAX)
        return err_set(e, PP_EINVAL, "pools / shutdown: at most %d names", UPGRADE_LIST_MAX);
    req->automated = true;
    return 0;
}

/* POST /upgrades: start (201, Location of the rollout) or dry run (200, the plan). */
void api_h_upgrades(struct api_call *x)
{
    struct engine_plan_req req;
    struct err e = {0};
    json_t *out = NULL, *body = api_body(x, false, &e);
    char *id = NULL;
    bool dry = false;
    int rc;

    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    rc = parse_upgrade(body, &req, &dry, &e);
    if (rc == 0)
        rc = dry ? engine_plan(api_server_engine(x->srv), &req, &out, &e)
                 : engine_rollout_start(api_server_engine(x->srv), &req, &id, &e);
    free((void *)req.pools);
    free((void *)req.shutdown);
    if (rc != 0) {
        api_answer_err(x, rc, &e);
    } else if (dry) {
        api_answer_json(x, 200, out);
    } else {
        char loc[API_PARAM_MAX + 32];
        json_t *ans = json_pack("{s:s, s:s}", "id", id, "rollout", id);
        api_answer_json(x, 201, ans);
        snprintf(loc, sizeof loc, "/api/v1/rollouts/%s", id);
        if (x->resp)
            MHD_add_response_header(x->resp, "Location", loc);
        json_decref(ans);
    }
    json_decref(out);
    free(id);
    json_decref(body);
}

/* A body {"host": H[, "action": A]}: the host (and action) borrowed from body. */
static int host_body(json_t *body, bool with_action, const char **host, const char **action,
                     struct err *e)
{
    json_t *h = NULL, *a = NULL;
    json_error_t je;
    int rc;

    *action = NULL;
    if (json_unpack_ex(body, &je, 0, with_action ? "{s?o s?o !}" : "{s?o !}", "host", &h, "action",
                       &a) != 0)
        return api_unpack_failed(&je, e);
    if ((rc = api_want_string("host", h, true, host, e)) != 0)
        return rc;
    return with_action ? api_want_string("action", a, true, action, e) : 0;
}

/* POST /rollouts/{id}/upgrade-host {host, action: reboot|skip} (manual mode's choices). */
void api_h_upgrade_host(struct api_call *x)
{
    struct err e = {0};
    const char *host, *action;
    json_t *body = api_body(x, false, &e);
    int rc = body ? host_body(body, true, &host, &action, &e) : e.code;

    if (rc == 0)
        rc = engine_upgrade_host(api_server_engine(x->srv), x->m.param, host, action, &e);
    if (rc == 0)
        api_answer_empty(x, 204);
    else
        api_answer_err(x, rc, &e);
    json_decref(body);
}

/* POST /pools/{name}/forget-host {host}: xe host-forget of a supporter left out. */
void api_h_host_forget(struct api_call *x)
{
    struct err e = {0};
    const char *host, *unused;
    json_t *body = api_body(x, false, &e);
    int rc = body ? host_body(body, false, &host, &unused, &e) : e.code;

    if (rc == 0)
        rc = engine_host_forget(api_server_engine(x->srv), x->m.param, host, &e);
    if (rc == 0)
        api_answer_empty(x, 204);
    else
        api_answer_err(x, rc, &e);
    json_decref(body);
}
