/* SPDX-License-Identifier: MIT */
/*
 * api_routes.c - the REST handlers, one small function per route and method, and the table
 * that maps (route, method) to a handler and says whether it writes (admin token only, audited).
 * Handlers run on an API worker thread: they parse the body with limits, call the engine (which
 * may block) and leave an answer in the call; api_server.c queues it on the MHD thread.
 */
#include "api/api_int.h"

#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine.h"
#include "xapi/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX_DEPTH 16
#define LIST_MAX       1024 /* items in pools / updates / ids arrays */

/* ---------------------------------------------------------------- body parsing */

static int parse_view(const char *s, enum engine_view *v, struct err *e)
{
    if (!s || str_eq(s, "by-update"))
        *v = ENGINE_VIEW_BY_UPDATE;
    else if (str_eq(s, "by-server"))
        *v = ENGINE_VIEW_BY_SERVER;
    else
        return err_set(e, PP_EINVAL, "view: '%s' is not by-update or by-server", s);
    return 0;
}

/*
 * Parse the request body as one JSON object (empty body -> empty object when allow_empty).
 * On error returns NULL with e filled (400/413 codes mapped by caller via e->code).
 */
static json_t *parse_body(struct api_call *x, bool allow_empty, struct err *e)
{
    json_t *v = NULL;

    if (x->body.len == 0) {
        if (allow_empty)
            return json_object();
        err_set(e, PP_EINVAL, "request body: a JSON object is required");
        return NULL;
    }
    if (jsonx_load(x->body.data, x->body.len, api_server_max_body(x->srv), BODY_MAX_DEPTH,
                   "request body", &v, e) != 0) {
        /* syntax, and nesting over the depth limit (size was checked already): bad input */
        if (e->code == PP_EPARSE || e->code == PP_ELIMIT)
            e->code = PP_EINVAL;
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        err_set(e, PP_EINVAL, "request body: expected a JSON object");
        return NULL;
    }
    return v;
}

/* Turn jansson's unpack failure into a message naming the key(s). */
static int unpack_failed(const json_error_t *je, struct err *e)
{
    const char *t = je->text;
    const char *p = strstr(t, "left unpacked: ");

    if (p)
        return err_set(e, PP_EINVAL, "request body: unknown field(s): %s",
                       p + strlen("left unpacked: "));
    return err_set(e, PP_EINVAL, "request body: %s", t);
}

static int want_string(const char *field, json_t *v, bool required, const char **out, struct err *e)
{
    if (!v) {
        *out = NULL;
        if (required)
            return err_set(e, PP_EINVAL, "%s: required", field);
        return 0;
    }
    if (json_is_null(v) && !required) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return err_set(e, PP_EINVAL, "%s: expected a string", field);
    *out = json_string_value(v);
    if (required && !**out)
        return err_set(e, PP_EINVAL, "%s: must not be empty", field);
    if (strlen(*out) != json_string_length(v))
        return err_set(e, PP_EINVAL, "%s: must not contain NUL bytes", field);
    return 0;
}

static int want_bool(const char *field, json_t *v, bool def, bool *out, struct err *e)
{
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(e, PP_EINVAL, "%s: expected true or false", field);
    *out = json_is_true(v);
    return 0;
}

/* max_parallel: an integer 0 (as capacity allows) .. 64 (XenServer's most hosts in a pool). */
static int want_max_parallel(json_t *v, int *out, struct err *e)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 64)
        return err_set(e, PP_EINVAL,
                       "max_parallel: expected an integer from 0 (as capacity allows) to 64");
    *out = (int)json_integer_value(v);
    return 0;
}

/* An array of non-empty strings -> a new array of borrowed pointers (caller frees). */
static int want_strings(const char *field, json_t *v, const char ***out, size_t *n, struct err *e)
{
    size_t i;
    json_t *x;

    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return err_set(e, PP_EINVAL, "%s: expected an array of strings", field);
    if (json_array_size(v) > LIST_MAX)
        return err_set(e, PP_EINVAL, "%s: more than %d items", field, LIST_MAX);
    *out = xcalloc(json_array_size(v) + 1, sizeof **out);
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x) || json_string_length(x) == 0 ||
            strlen(json_string_value(x)) != json_string_length(x)) {
            free(*out);
            *out = NULL;
            return err_set(e, PP_EINVAL, "%s[%zu]: expected a non-empty string", field, i);
        }
        (*out)[i] = json_string_value(x);
    }
    *n = json_array_size(v);
    return 0;
}

/* The body helpers for the handlers of other files (api_int.h). */
json_t *api_body(struct api_call *x, bool allow_empty, struct err *e)
{
    return parse_body(x, allow_empty, e);
}

int api_want_string(const char *field, json_t *v, bool required, const char **out, struct err *e)
{
    return want_string(field, v, required, out, e);
}

int api_want_bool(const char *field, json_t *v, bool def, bool *out, struct err *e)
{
    return want_bool(field, v, def, out, e);
}

int api_want_strings(const char *field, json_t *v, const char ***out, size_t *n, struct err *e)
{
    return want_strings(field, v, out, n, e);
}

int api_unpack_failed(const json_error_t *je, struct err *e)
{
    return unpack_failed(je, e);
}

/* Body of POST /plans and /rollouts; a request without "policy" gets def (the engine's default
 * policy setting).  Strings stay borrowed from body. */
static int parse_plan_req(json_t *body, struct engine_plan_req *req, enum engine_policy def,
                          struct err *e)
{
    json_t *pools = NULL, *automated = NULL, *updates = NULL, *file = NULL, *policy = NULL,
           *stay = NULL, *maxp = NULL, *hosts = NULL, *manual = NULL, *detail = NULL;
    json_error_t je;
    const char *pol = NULL, *det = NULL;
    const char **pl = NULL, **ul = NULL, **hl = NULL;
    bool has_auto;
    int rc;

    memset(req, 0, sizeof *req);
    if (json_unpack_ex(body, &je, 0, "{s?o s?o s?o s?o s?o s?o s?o s?o s?o s?o !}", "pools", &pools,
                       "automated", &automated, "updates", &updates, "file", &file, "policy",
                       &policy, "stay_on_release", &stay, "max_parallel", &maxp, "hosts", &hosts,
                       "manual_post_tasks", &manual, "detail", &detail) != 0)
        return unpack_failed(&je, e);
    if ((rc = want_strings("pools", pools, &pl, &req->n_pools, e)) != 0)
        return rc;
    if ((rc = want_strings("updates", updates, &ul, &req->n_updates, e)) != 0)
        goto fail;
    if ((rc = want_strings("hosts", hosts, &hl, &req->n_hosts, e)) != 0)
        goto fail;
    req->pools = pl;
    req->updates = ul;
    req->hosts = hl;
    if ((rc = want_string("file", file, false, &req->file, e)) != 0)
        goto fail;
    if ((rc = want_string("policy", policy, false, &pol, e)) != 0)
        goto fail;
    if (!pol) /* the default policy setting (return unless changed: VMs back home) */
        req->policy = def;
    else if (str_eq(pol, "return"))
        req->policy = ENGINE_POLICY_RETURN;
    else if (str_eq(pol, "minimal"))
        req->policy = ENGINE_POLICY_MINIMAL;
    else {
        rc = err_set(e, PP_EINVAL, "policy: '%s' is not minimal or return", pol);
        goto fail;
    }
    if ((rc = want_bool("stay_on_release", stay, false, &req->stay_on_release, e)) != 0)
        goto fail;
    if ((rc = want_max_parallel(maxp, &req->max_parallel, e)) != 0)
        goto fail;
    if ((rc = want_bool("manual_post_tasks", manual, false, &req->manual_post_tasks, e)) != 0)
        goto fail;
    if ((rc = want_string("detail", detail, false, &det, e)) != 0)
        goto fail;
    if (det && !str_eq(det, "full") && !str_eq(det, "summary")) {
        rc = err_set(e, PP_EINVAL, "detail: '%s' is not full or summary", det);
        goto fail;
    }
    req->detail = !det                     ? ENGINE_PLAN_DETAIL_AUTO
                  : str_eq(det, "summary") ? ENGINE_PLAN_DETAIL_SUMMARY
                                           : ENGINE_PLAN_DETAIL_FULL;
    has_auto = automated && !json_is_null(automated);
    if ((rc = want_bool("automated", automated, false, &req->automated, e)) != 0)
        goto fail;
    if (req->automated && (req->n_updates || req->file)) {
        rc = err_set(e, PP_EINVAL, "automated: cannot be combined with updates or file");
        goto fail;
    }
    if (req->n_updates && req->file) {
        rc = err_set(e, PP_EINVAL, "file: cannot be combined with updates");
        goto fail;
    }
    if (!has_auto && !req->n_updates && !req->file)
        req->automated = true; /* nothing chosen: the minimal set per host */
    if (!req->automated && !req->n_updates && !req->file) {
        rc = err_set(e, PP_EINVAL, "updates: choose updates, a file, or automated: true");
        goto fail;
    }
    return 0;
fail:
    free(pl);
    free(ul);
    free(hl);
    req->pools = req->updates = req->hosts = NULL;
    return rc;
}

/* A body that must be absent or {}: 0, or an answer already given. */
static int empty_body(struct api_call *x)
{
    struct err e = {0};
    json_t *body = parse_body(x, true, &e);

    if (!body) {
        api_answer_err(x, e.code, &e);
        return -1;
    }
    if (json_object_size(body)) {
        err_set(&e, PP_EINVAL, "request body: unknown field(s): %s",
                json_object_iter_key(json_object_iter(body)));
        json_decref(body);
        api_answer_err(x, PP_EINVAL, &e);
        return -1;
    }
    json_decref(body);
    return 0;
}

/* Answer an engine call that returns JSON: 200 (or status) with it, or the error. */
static void answer_out(struct api_call *x, int rc, unsigned status, json_t *out,
                       const struct err *e)
{
    if (rc)
        api_answer_err(x, rc, e);
    else
        api_answer_json(x, status, out);
    json_decref(out);
}

static void answer_done(struct api_call *x, int rc, const struct err *e)
{
    if (rc)
        api_answer_err(x, rc, e);
    else
        api_answer_empty(x, 204);
}

/* ---------------------------------------------------------------- handlers */

static void h_pools_list(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;
    int rc = engine_pools(api_server_engine(x->srv), &out, &e);

    if (rc == 0)
        api_server_pool_fingerprints(x->srv, out);
    answer_out(x, rc, 200, out, &e);
}

static void h_pool_add(struct api_call *x)
{
    struct engine_pool_spec spec = {0};
    json_t *jn = NULL, *ju = NULL, *jus = NULL, *jp = NULL, *jc = NULL, *jf = NULL, *ji = NULL,
           *jv = NULL, *out = NULL;
    const char *confirmed = NULL;
    bool insecure = false, verify_ca = false;
    char fp[96] = "";
    json_error_t je;
    struct err e = {0};
    json_t *body = parse_body(x, false, &e);
    int rc;

    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    if (json_unpack_ex(body, &je, 0, "{s?o s?o s?o s?o s?o s?o s?o s?o !}", "name", &jn, "url", &ju,
                       "username", &jus, "password", &jp, "ca_file", &jc, "fingerprint", &jf,
                       "insecure_http", &ji, "verify_ca", &jv) != 0)
        rc = unpack_failed(&je, &e);
    else if ((rc = want_string("name", jn, false, &spec.name, &e)) == 0 &&
             (rc = want_string("url", ju, true, &spec.url, &e)) == 0 &&
             (rc = want_string("username", jus, true, &spec.username, &e)) == 0 &&
             (rc = want_string("password", jp, true, &spec.password, &e)) == 0)
        rc = want_string("ca_file", jc, false, &spec.ca_file, &e);
    if (rc == 0 && (rc = want_string("fingerprint", jf, false, &confirmed, &e)) == 0 &&
        (rc = want_bool("insecure_http", ji, false, &insecure, &e)) == 0)
        rc = want_bool("verify_ca", jv, false, &verify_ca, &e);
    /* verify_ca: the system CA bundle verifies the chain and host name (docs/security.md) */
    if (rc == 0 && verify_ca && spec.ca_file)
        rc = err_set(&e, PP_EINVAL, "verify_ca: give either ca_file or verify_ca, not both");
    if (rc == 0 && verify_ca)
        spec.ca_file = XAPI_CA_SYSTEM;
    if (rc == 0 && !str_has_prefix(spec.url, "http://") && !str_has_prefix(spec.url, "https://"))
        rc = err_set(&e, PP_EINVAL, "url: '%s' must start with https:// or http://", spec.url);
    /* the password goes nowhere the user has not vouched for (docs/security.md) */
    if (rc == 0)
        rc = api_pool_trust(spec.url, spec.ca_file, confirmed, insecure, fp, &e);
    if (rc == 0) {
        spec.fingerprint = fp[0] ? fp : NULL; /* confirmed, or verified by the CA */
        rc = engine_pool_add(api_server_engine(x->srv), &spec, &out, &e);
    }
    if (rc == 0 && fp[0]) {
        api_server_pool_fingerprint_set(x->srv, jsonx_str(out, "name", ""), fp);
        json_object_set_new(out, "tls_fingerprint", json_string(fp));
    }
    if (rc == PP_ESTATE && fp[0]) /* unconfirmed: the answer carries the fingerprint */
        x->fingerprint = fp;
    answer_out(x, rc, 201, out, &e);
    x->fingerprint = NULL;
    json_decref(body);
}

static void h_pool_remove(struct api_call *x)
{
    struct err e = {0};

    answer_done(x, engine_pool_remove(api_server_engine(x->srv), x->m.param, &e), &e);
}

static void h_updates(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;
    enum engine_view view = ENGINE_VIEW_BY_UPDATE;
    enum engine_sort sort = ENGINE_SORT_DATE;
    int rc = parse_view(x->q.view, &view, &e);

    if (rc == 0) {
        if (x->q.sort && str_eq(x->q.sort, "pool"))
            sort = ENGINE_SORT_POOL;
        else if (x->q.sort && !str_eq(x->q.sort, "date"))
            rc = err_set(&e, PP_EINVAL, "sort: '%s' is not date or pool", x->q.sort);
    }
    if (rc == 0)
        rc = engine_updates_view(api_server_engine(x->srv), view, sort, &out, &e);
    answer_out(x, rc, 200, out, &e);
}

/* A 200 text answer (text: heap, taken); the response, for more headers, or NULL (answered 500). */
static struct MHD_Response *answer_text(struct api_call *x, char *text, const char *ctype)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        api_answer_error(x, 500, "out of memory");
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    api_common_headers(r);
    x->status = 200;
    x->resp = r;
    return r;
}

static void h_updates_csv(struct api_call *x)
{
    struct err e = {0};
    enum engine_view view = ENGINE_VIEW_BY_UPDATE;
    char *csv = NULL;
    struct MHD_Response *r;
    int rc = parse_view(x->q.view, &view, &e);

    if (rc == 0)
        rc = engine_updates_csv(api_server_engine(x->srv), view, &csv, &e);
    if (rc) {
        api_answer_err(x, rc, &e);
        return;
    }
    if (!x->q.raw || !str_eq(x->q.raw, "1")) { /* ?raw=1 keeps formulas (docs/security.md) */
        char *safe = api_csv_neutralise(csv);
        free(csv);
        csv = safe;
    }
    r = answer_text(x, csv, "text/csv; charset=utf-8");
    if (r)
        MHD_add_response_header(r, "Content-Disposition",
                                view == ENGINE_VIEW_BY_SERVER
                                    ? "attachment; filename=\"updates-by-server.csv\""
                                    : "attachment; filename=\"updates-by-update.csv\"");
}

static void h_updates_check(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;

    if (empty_body(x) == 0) {
        int rc = engine_updates_check(api_server_engine(x->srv), &out, &e);
        answer_out(x, rc, 200, out, &e);
    }
}

static void h_updates_restore(struct api_call *x)
{
    struct err e = {0};

    if (empty_body(x) == 0)
        answer_done(x, engine_updates_restore(api_server_engine(x->srv), &e), &e);
}

static void h_rollout_retry(struct api_call *x)
{
    struct err e = {0};

    if (empty_body(x) == 0)
        answer_done(x, engine_rollout_retry(api_server_engine(x->srv), x->m.param, &e), &e);
}

static void h_rollout_cancel(struct api_call *x)
{
    struct err e = {0};

    if (empty_body(x) == 0)
        answer_done(x, engine_rollout_cancel(api_server_engine(x->srv), x->m.param, &e), &e);
}

static void h_updates_dismiss(struct api_call *x)
{
    json_t *ids = NULL, *all = NULL;
    json_error_t je;
    const char **idv = NULL;
    size_t n = 0;
    bool all_b = false;
    struct err e = {0};
    json_t *body = parse_body(x, false, &e);
    int rc;

    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    if (json_unpack_ex(body, &je, 0, "{s?o s?o !}", "ids", &ids, "all", &all) != 0)
        rc = unpack_failed(&je, &e);
    else if ((rc = want_strings("ids", ids, &idv, &n, &e)) == 0 &&
             (rc = want_bool("all", all, false, &all_b, &e)) == 0) {
        if (all_b && n)
            rc = err_set(&e, PP_EINVAL, "all: cannot be combined with ids");
        else if (!all_b && !n)
            rc = err_set(&e, PP_EINVAL, "ids: give at least one update id, or all: true");
    }
    if (rc == 0)
        rc = engine_updates_dismiss(api_server_engine(x->srv), idv, n, all_b, &e);
    free(idv);
    answer_done(x, rc, &e);
    json_decref(body);
}

static void h_updates_download(struct api_call *x)
{
    json_t *ids = NULL, *out = NULL;
    json_error_t je;
    const char **idv = NULL;
    size_t n = 0;
    struct err e = {0};
    json_t *body = parse_body(x, false, &e);
    int rc;

    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    if (json_unpack_ex(body, &je, 0, "{s:o !}", "ids", &ids) != 0)
        rc = unpack_failed(&je, &e);
    else if ((rc = want_strings("ids", ids, &idv, &n, &e)) == 0 && n == 0)
        rc = err_set(&e, PP_EINVAL, "ids: give at least one update id or name");
    if (rc == 0)
        rc = engine_updates_download(api_server_engine(x->srv), idv, n, &out, &e);
    free(idv);
    answer_out(x, rc, 200, out, &e);
    json_decref(body);
}

/* POST /plans and POST /rollouts share the request body. */
static void plan_or_start(struct api_call *x, bool start)
{
    struct engine_plan_req req;
    struct err e = {0};
    json_t *out = NULL, *body = parse_body(x, true, &e);
    struct jparts *parts = NULL;
    char *id = NULL;
    int rc;

    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    if ((rc = parse_plan_req(body, &req, engine_default_policy(api_server_engine(x->srv)), &e)) ==
        0) {
        rc = start ? engine_rollout_start(api_server_engine(x->srv), &req, &id, &e)
                   : engine_plan_parts(api_server_engine(x->srv), &req, &parts, &e);
        free((void *)req.pools);
        free((void *)req.updates);
        free((void *)req.hosts);
    }
    if (rc == 0 && start) {
        char loc[API_PARAM_MAX + 32];
        out = json_pack("{s:s}", "id", id);
        api_answer_json(x, 201, out);
        snprintf(loc, sizeof loc, "/api/v1/rollouts/%s", id);
        if (x->resp)
            MHD_add_response_header(x->resp, "Location", loc);
        json_decref(out);
    } else if (rc == 0) { /* a plan: sent pool by pool as it is read out (issue 17) */
        api_answer_json_parts(x, 200, parts);
    } else {
        answer_out(x, rc, 200, out, &e);
    }
    free(id);
    json_decref(body);
}

static void h_plans(struct api_call *x)
{
    plan_or_start(x, false);
}

static void h_rollout_start(struct api_call *x)
{
    plan_or_start(x, true);
}

static void h_rollouts(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;

    int rc = engine_rollouts(api_server_engine(x->srv), &out, &e);

    answer_out(x, rc, 200, out, &e);
}

/* GET /rollouts/{id}: the engine's published text (current, or as old as Cache-Control: max-age
 * accepts, then with an Age header); built now when none fits. */
static void h_rollout(struct api_call *x)
{
    struct err e = {0};
    char *text = NULL;
    size_t len = 0;
    int64_t age_ms = 0;

    int rc = engine_rollout_text(api_server_engine(x->srv), x->m.param, x->max_age_ms, &text, &len,
                                 &age_ms, &e);
    if (rc != 0) {
        api_answer_err(x, rc, &e);
        return;
    }
    api_answer_json_text(x, 200, text, len, x->max_age_ms > 0 ? (long long)(age_ms / 1000) : -1);
}

static void h_client_id(struct api_call *x)
{
    struct err e = {0};
    json_t *body = parse_body(x, false, &e);

    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    json_decref(body);
    /* the client ID file as uploaded; the engine checks its fields */
    answer_done(
        x, engine_client_id_import(api_server_engine(x->srv), x->body.data, x->body.len, &e), &e);
}

/* GET /settings: the daemon settings the API can change. */
static json_t *settings_json(struct api_call *x)
{
    int iv = engine_check_interval(api_server_engine(x->srv));
    bool minimal = engine_default_policy(api_server_engine(x->srv)) == ENGINE_POLICY_MINIMAL;
    return json_pack("{s:i, s:b, s:s}", "check_interval_s", iv, "automatic_checks", iv > 0,
                     "default_policy", minimal ? "minimal" : "return");
}

static void h_settings(struct api_call *x)
{
    json_t *v = settings_json(x);
    api_answer_json(x, 200, v); /* copies: the reference stays ours (found by LeakSanitizer) */
    json_decref(v);
}

/* The body of PUT /settings checked whole, then applied: nothing changes when a field is bad. */
static int settings_put(struct api_call *x, json_t *body, struct err *e)
{
    json_t *jiv = NULL, *jpol = NULL;
    json_error_t je;
    const char *pol = NULL;
    int rc;

    if (json_unpack_ex(body, &je, JSON_STRICT, "{s?o s?o}", "check_interval_s", &jiv,
                       "default_policy", &jpol) != 0)
        return unpack_failed(&je, e);
    if (!jiv && !jpol)
        return err_set(e, PP_EINVAL, "request body: give check_interval_s and / or default_policy");
    if (jiv && !json_is_integer(jiv))
        return err_set(e, PP_EINVAL, "check_interval_s: expected whole seconds (0 = off)");
    if (jiv &&
        (json_integer_value(jiv) < 0 || json_integer_value(jiv) > ENGINE_CHECK_INTERVAL_MAX_S))
        return err_set(e, PP_EINVAL,
                       "check_interval_s: %lld is out of range (0 = off, or 1 to %d seconds)",
                       (long long)json_integer_value(jiv), ENGINE_CHECK_INTERVAL_MAX_S);
    if (jpol &&
        (!(pol = json_string_value(jpol)) || (!str_eq(pol, "return") && !str_eq(pol, "minimal"))))
        return err_set(e, PP_EINVAL, "default_policy: expected \"return\" or \"minimal\"");
    if (jiv && (rc = engine_set_check_interval(api_server_engine(x->srv),
                                               (int)json_integer_value(jiv), e)) != 0)
        return rc;
    if (pol)
        return engine_set_default_policy(
            api_server_engine(x->srv),
            str_eq(pol, "minimal") ? ENGINE_POLICY_MINIMAL : ENGINE_POLICY_RETURN, e);
    return 0;
}

/* PUT /settings {"check_interval_s"?: N, "default_policy"?: P}: the answer is GET's. */
static void h_settings_set(struct api_call *x)
{
    struct err e = {0};
    json_t *body = parse_body(x, false, &e);
    int rc = body ? settings_put(x, body, &e) : e.code;

    json_decref(body);
    answer_out(x, rc, 200, rc ? NULL : settings_json(x), &e);
}

static void h_audit(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;
    uint64_t limit = 100;
    int rc = 0;

    if (x->q.limit && (str_to_uint64(x->q.limit, &limit) != 0 || limit < 1 || limit > 1000))
        rc = err_set(&e, PP_EINVAL, "limit: '%s' is not a whole number from 1 to 1000", x->q.limit);
    if (rc == 0)
        rc = api_server_audit_list(x->srv, (int)limit, &out, &e);
    answer_out(x, rc, 200, out, &e);
}

/* ---------------------------------------------------------------- webhooks, metrics, openapi */

/* An id from the path or a query: a whole number >= lo, else PP_EINVAL naming what. */
static int want_id(const char *s, const char *what, int64_t lo, int64_t *out, struct err *e)
{
    uint64_t v = 0;

    if (!s || str_to_uint64(s, &v) != 0 || (int64_t)v < lo || v > INT64_MAX / 2)
        return err_set(e, PP_EINVAL, "%s: '%s' is not a webhook number", what, s ? s : "");
    *out = (int64_t)v;
    return 0;
}

static void h_webhooks(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;

    int rc = engine_webhook_list(api_server_engine(x->srv), &out, &e);

    answer_out(x, rc, 200, out, &e); /* rc first: argument order is unspecified */
}

static void h_webhook_add(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL, *body = parse_body(x, false, &e);

    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    int rc = engine_webhook_add(api_server_engine(x->srv), body, &out, &e);
    json_decref(body);
    answer_out(x, rc, 201, out, &e);
}

static void h_webhook_remove(struct api_call *x)
{
    struct err e = {0};
    int64_t id = 0;
    int rc = want_id(x->m.param, "id", 1, &id, &e);

    if (rc == 0)
        rc = engine_webhook_remove(api_server_engine(x->srv), id, &e);
    answer_done(x, rc, &e);
}

static void h_webhook_log(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;
    int64_t id = 0, limit = 50;
    int rc = 0;

    if (x->q.webhook)
        rc = want_id(x->q.webhook, "webhook", 0, &id, &e);
    if (rc == 0 && x->q.limit && (want_id(x->q.limit, "limit", 1, &limit, &e) != 0 || limit > 1000))
        rc = err_set(&e, PP_EINVAL, "limit: '%s' is not a whole number from 1 to 1000", x->q.limit);
    if (rc == 0)
        rc = engine_webhook_deliveries(api_server_engine(x->srv), id, (int)limit, &out, &e);
    answer_out(x, rc, 200, out, &e);
}

/* ---------------------------------------------------------------- update files */

static void h_files(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;
    int rc = engine_files_list(api_server_engine(x->srv), &out, &e);

    answer_out(x, rc, 200, out, &e);
}

/* POST /files: the streamed file (api_server.c took it in), or {"name"} of a file in the
 * configured update file directory. */
static void h_file_add(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL, *body, *name = NULL;
    json_error_t je;
    const char *n = NULL;
    int rc;

    if (x->streaming) {
        rc = engine_file_upload_finish(api_server_engine(x->srv), x->upload, &out, &e);
        x->upload = NULL;
        answer_out(x, rc, 201, out, &e);
        return;
    }
    if (!(body = parse_body(x, false, &e))) {
        api_answer_err(x, e.code, &e);
        return;
    }
    if (json_unpack_ex(body, &je, 0, "{s:o !}", "name", &name) != 0)
        rc = unpack_failed(&je, &e);
    else
        rc = want_string("name", name, true, &n, &e);
    if (rc == 0)
        rc = engine_file_import(api_server_engine(x->srv), n, &out, &e);
    json_decref(body);
    answer_out(x, rc, 201, out, &e);
}

static void h_file_remove(struct api_call *x)
{
    struct err e = {0};
    int rc = engine_file_remove(api_server_engine(x->srv), x->m.param, &e);

    answer_done(x, rc, &e);
}

static void h_metrics(struct api_call *x)
{
    struct err e = {0};
    char *text = NULL;
    int rc = engine_metrics(api_server_engine(x->srv), &text, &e);

    if (rc) {
        api_answer_err(x, rc, &e);
        return;
    }
    (void)answer_text(x, text, "text/plain; version=0.0.4; charset=utf-8");
}

static void h_openapi(struct api_call *x)
{
    const struct api_asset *a = api_asset_find("/openapi.json");

    if (!a) {
        api_answer_error(x, 500, "the OpenAPI document is not built in");
        return;
    }
    char *copy = xmalloc(a->len + 1);
    memcpy(copy, a->data, a->len);
    copy[a->len] = '\0';
    (void)answer_text(x, copy, "application/json");
}

/* ---------------------------------------------------------------- windows and schedules */

/* Maintenance windows and schedules (docs/windows.md): one handler per method for both. */
static enum engine_win_kind win_kind(const struct api_call *x)
{
    return x->m.route == API_R_SCHEDULES || x->m.route == API_R_SCHEDULE ? ENGINE_WIN_SCHEDULE
                                                                         : ENGINE_WIN_WINDOW;
}

static void h_windows(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;
    int rc = engine_window_list(api_server_engine(x->srv), win_kind(x), &out, &e);
    answer_out(x, rc, 200, out, &e);
}

static void h_window_add(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL, *body = parse_body(x, false, &e);
    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    int rc = engine_window_add(api_server_engine(x->srv), win_kind(x), body, &out, &e);
    json_decref(body);
    answer_out(x, rc, 201, out, &e);
}

static void h_window_remove(struct api_call *x)
{
    struct err e = {0};
    int rc = engine_window_remove(api_server_engine(x->srv), win_kind(x), x->m.param, &e);
    answer_done(x, rc, &e);
}

/* ---------------------------------------------------------------- health gates */

/* Health gates (docs/health-gates.md): the list, set one (body {"pool"?, settings}), remove
 * the global one (no pool in the path) or a pool's. */
static void h_gates(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL;
    int rc = engine_gate_list(api_server_engine(x->srv), &out, &e);
    answer_out(x, rc, 200, out, &e);
}

static void h_gate_set(struct api_call *x)
{
    struct err e = {0};
    json_t *out = NULL, *body = parse_body(x, false, &e);
    if (!body) {
        api_answer_err(x, e.code, &e);
        return;
    }
    int rc = engine_gate_set(api_server_engine(x->srv), body, &out, &e);
    json_decref(body);
    answer_out(x, rc, 200, out, &e);
}

static void h_gate_remove(struct api_call *x)
{
    struct err e = {0};
    const char *pool = x->m.route == API_R_GATE ? x->m.param : NULL;
    answer_done(x, engine_gate_remove(api_server_engine(x->srv), pool, &e), &e);
}

/* ---------------------------------------------------------------- the table */

static const struct api_handler handlers[] = {
    {API_R_POOLS, "GET", h_pools_list, false},
    {API_R_POOLS, "POST", h_pool_add, true},
    {API_R_POOL, "DELETE", h_pool_remove, true},
    {API_R_POOL, "PATCH", api_h_pool_set, true},
    {API_R_UPDATES, "GET", h_updates, false},
    {API_R_UPDATES_CSV, "GET", h_updates_csv, false},
    {API_R_UPDATES_CHECK, "POST", h_updates_check, true},
    {API_R_UPDATES_DISMISS, "POST", h_updates_dismiss, true},
    {API_R_UPDATES_RESTORE, "POST", h_updates_restore, true},
    {API_R_UPDATES_DOWNLOAD, "POST", h_updates_download, true},
    {API_R_PLANS, "POST", h_plans, false}, /* computes, changes nothing */
    {API_R_ROLLOUTS, "GET", h_rollouts, false},
    {API_R_ROLLOUTS, "POST", h_rollout_start, true},
    {API_R_ROLLOUT, "GET", h_rollout, false},
    {API_R_ROLLOUT_RETRY, "POST", h_rollout_retry, true},
    {API_R_ROLLOUT_CANCEL, "POST", h_rollout_cancel, true},
    {API_R_UPGRADES, "POST", api_h_upgrades, true}, /* dry_run: computes only (audited) */
    {API_R_UPGRADE_HOST, "POST", api_h_upgrade_host, true},
    {API_R_HOST_FORGET, "POST", api_h_host_forget, true},
    {API_R_POOL_TRUST, "POST", api_h_pool_trust, true},
    {API_R_CLIENT_ID, "POST", h_client_id, true},
    {API_R_AUDIT, "GET", h_audit, true}, /* admin only (not a change: not audited) */
    {API_R_WEBHOOKS, "GET", h_webhooks, false},
    {API_R_WEBHOOKS, "POST", h_webhook_add, true},
    {API_R_WEBHOOK, "DELETE", h_webhook_remove, true},
    {API_R_WEBHOOK_LOG, "GET", h_webhook_log, false},
    {API_R_OPENAPI, "GET", h_openapi, false},
    {API_R_METRICS, "GET", h_metrics, false},
    {API_R_SETTINGS, "GET", h_settings, false},
    {API_R_SETTINGS, "PUT", h_settings_set, true},
    {API_R_FILES, "GET", h_files, false},
    {API_R_FILES, "POST", h_file_add, true},
    {API_R_FILE, "DELETE", h_file_remove, true},
    {API_R_WINDOWS, "GET", h_windows, false},
    {API_R_WINDOWS, "POST", h_window_add, true},
    {API_R_WINDOW, "DELETE", h_window_remove, true},
    {API_R_SCHEDULES, "GET", h_windows, false},
    {API_R_SCHEDULES, "POST", h_window_add, true},
    {API_R_SCHEDULE, "DELETE", h_window_remove, true},
    {API_R_GATES, "GET", h_gates, false},
    {API_R_GATES, "PUT", h_gate_set, true},
    {API_R_GATES, "DELETE", h_gate_remove, true},
    {API_R_GATE, "DELETE", h_gate_remove, true},
};

const struct api_handler *api_handler_find(enum api_route_id route, const char *method)
{
    const char *m = str_eq(method, "HEAD") ? "GET" : method;

    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        if (handlers[i].route == route && str_eq(handlers[i].method, m))
            return &handlers[i];
    }
    return NULL;
}

const char *const *api_route_query_args(enum api_route_id route)
{
    static const char *const none[] = {NULL};
    static const char *const view_sort[] = {"view", "sort", NULL};
    static const char *const view_only[] = {"view", "raw", NULL};
    static const char *const limit[] = {"limit", NULL};
    static const char *const hook_limit[] = {"webhook", "limit", NULL};
    static const char *const name[] = {"name", NULL};

    switch (route) {
    case API_R_UPDATES:
        return view_sort;
    case API_R_UPDATES_CSV:
        return view_only;
    case API_R_AUDIT:
        return limit;
    case API_R_WEBHOOK_LOG:
        return hook_limit;
    case API_R_FILES:
        return name;
    default:
        return none;
    }
}
