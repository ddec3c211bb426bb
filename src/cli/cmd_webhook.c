/* SPDX-License-Identifier: MIT */
/*
 * cmd_webhook.c - `poolpatch webhook add|list|remove|deliveries`: the daemon's webhooks
 * (docs/webhooks.md) through its REST API.  The shared secret is read from a file (or stdin),
 * never from the command line, where other users could read it in the process list.
 */
#include "cli/cli.h"
#include "cli/cli_opts.h"

#include "base/err.h"
#include "base/str.h"
#include "cli/rest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char WEBHOOK_USAGE[] =
    "usage: poolpatch webhook add URL --secret-file FILE [--events NAME,...]\n"
    "       poolpatch webhook list [--json]\n"
    "       poolpatch webhook remove ID\n"
    "       poolpatch webhook deliveries [ID] [--limit N] [--json]\n"
    "  --secret-file FILE  the shared secret (16-256 bytes, first line; '-' = stdin) that signs\n"
    "                      every delivery (X-Poolpatch-Signature, HMAC-SHA256)\n"
    "  --events LIST       rollout.started, rollout.halted, rollout.done, rollout.cancelled,\n"
    "                      rollout.cancel_failed, rollout.waiting_window,\n"
    "                      rollout.paused_window, host.done, host.health_gate_failed,\n"
    "                      updates.found (default: all)\n"
    "  --limit N           deliveries shown, newest first (default 50, at most "
    "1000)\n" CLI_DAEMON_HELP;

struct wh_opts {
    struct cli_daemon d;
    const char *secret_file, *events;
    int limit;
};

static int wh_fail(const char *what, const struct err *e)
{
    fprintf(stderr, "poolpatch webhook %s: %s\n", what,
            e->msg[0] ? e->msg : err_code_name(e->code));
    return 1;
}

static int wh_usage(const char *msg)
{
    fprintf(stderr, "poolpatch webhook: %s\n%s", msg, WEBHOOK_USAGE);
    return 2;
}

/* Printable copy of s for a terminal: control characters shown as '?'. */
static void safe(const char *s, char *out, size_t sz)
{
    size_t i = 0;
    for (; s && *s && i + 1 < sz; s++)
        out[i++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
    out[i] = '\0';
}

static void print_hooks(const json_t *out)
{
    size_t i;
    json_t *h;
    char url[512] = "", ev[512];

    printf("%-4s %-48s %-10s %s\n", "ID", "URL", "CREATED", "EVENTS");
    json_array_foreach(json_object_get(out, "webhooks"), i, h)
    {
        json_t *evs = json_object_get(h, "events");
        size_t k, used = 0;
        json_t *n;
        ev[0] = '\0';
        if (json_is_true(json_object_get(h, "all_events")))
            snprintf(ev, sizeof ev, "all");
        else
            json_array_foreach(evs, k, n)
            {
                int w = snprintf(ev + used, sizeof ev - used, "%s%s", used ? "," : "",
                                 json_string_value(n));
                if (w < 0 || (size_t)w >= sizeof ev - used)
                    break;
                used += (size_t)w;
            }
        safe(json_string_value(json_object_get(h, "url")), url, sizeof url);
        printf("%-4lld %-48s %-10.10s %s\n",
               (long long)json_integer_value(json_object_get(h, "id")), url,
               json_string_value(json_object_get(h, "created")), ev);
    }
}

static void print_deliveries(const json_t *out)
{
    size_t i;
    json_t *d;
    char err[256];

    printf("%-6s %-4s %-22s %-9s %-3s %-6s %-20s %s\n", "ID", "HOOK", "EVENT", "STATE", "TRY",
           "STATUS", "CREATED", "ERROR");
    json_array_foreach(json_object_get(out, "deliveries"), i, d)
    {
        json_t *st = json_object_get(d, "status");
        char status[16] = "-";
        if (json_is_integer(st))
            snprintf(status, sizeof status, "%lld", (long long)json_integer_value(st));
        safe(json_string_value(json_object_get(d, "error")), err, sizeof err);
        printf("%-6lld %-4lld %-22s %-9s %-3d %-6s %-20s %s\n",
               (long long)json_integer_value(json_object_get(d, "id")),
               (long long)json_integer_value(json_object_get(d, "webhook")),
               json_string_value(json_object_get(d, "event")),
               json_string_value(json_object_get(d, "state")),
               (int)json_integer_value(json_object_get(d, "attempts")), status,
               json_string_value(json_object_get(d, "created")), err);
    }
}

/* add: {"url","secret","events":[...]} from the arguments. */
static json_t *add_body(const char *url, const struct wh_opts *o, struct err *e)
{
    char secret[512];
    json_t *events = NULL;

    if (!o->secret_file) {
        err_set(e, PP_EINVAL, "add needs --secret-file FILE (the secret signs every delivery)");
        return NULL;
    }
    if (cli_first_line("--secret-file", o->secret_file, secret, sizeof secret, e) != 0)
        return NULL;
    if (o->events) {
        char *copy = strdup(o->events), *save = NULL;
        events = json_array();
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
            json_array_append_new(events, json_string(t));
        free(copy);
    }
    json_t *b = json_pack("{s:s, s:s}", "url", url, "secret", secret);
    explicit_bzero(secret, sizeof secret);
    if (events)
        json_object_set_new(b, "events", events);
    return b;
}

static int run(const char *verb, int nargs, char **args, const struct wh_opts *o)
{
    struct rest_client rc;
    struct err e = {0};
    json_t *body = NULL, *out = NULL;
    char path[128];
    const char *method = "GET";
    int ret = 0;

    if (str_eq(verb, "add") && nargs == 1) {
        if (!o->secret_file)
            return wh_usage("add needs --secret-file FILE (the secret signs every delivery)");
        if (!(body = add_body(args[0], o, &e)))
            return wh_fail(verb, &e);
        method = "POST";
        snprintf(path, sizeof path, "/api/v1/webhooks");
    } else if (str_eq(verb, "list") && nargs == 0) {
        snprintf(path, sizeof path, "/api/v1/webhooks");
    } else if (str_eq(verb, "remove") && nargs == 1) {
        method = "DELETE";
        int64_t id;
        if (str_to_int64(args[0], &id) != 0 || id < 1)
            return wh_usage("remove: ID must be a webhook's number (see webhook list)");
        snprintf(path, sizeof path, "/api/v1/webhooks/%lld", (long long)id);
    } else if (str_eq(verb, "deliveries") && nargs <= 1) {
        int64_t id = 0;
        if (nargs && (str_to_int64(args[0], &id) != 0 || id < 1))
            return wh_usage("deliveries: ID must be a webhook's number (see webhook list)");
        snprintf(path, sizeof path, "/api/v1/webhook-deliveries?webhook=%lld&limit=%d",
                 (long long)id, o->limit);
    } else {
        return wh_usage("say add URL, list, remove ID or deliveries [ID]");
    }
    if (rest_init(&rc, o->d.server, o->d.token_file, &e) != 0) {
        json_decref(body);
        return wh_fail(verb, &e);
    }
    if (rest_call(&rc, method, path, body, &out, NULL, &e) != 0) {
        ret = wh_fail(verb, &e);
    } else if (o->d.json && out) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "null");
        free(s);
    } else if (str_eq(verb, "add")) {
        printf("Webhook %lld added: every delivery is signed with the secret.\n",
               (long long)json_integer_value(json_object_get(out, "id")));
    } else if (str_eq(verb, "list")) {
        print_hooks(out);
    } else if (str_eq(verb, "remove")) {
        printf("Webhook %s removed.\n", args[0]);
    } else {
        print_deliveries(out);
    }
    json_decref(body);
    json_decref(out);
    rest_cleanup(&rc);
    return ret;
}

int cmd_webhook(int argc, char **argv)
{
    static const struct option lo[] = {{"secret-file", required_argument, NULL, 'f'},
                                       {"events", required_argument, NULL, 'e'},
                                       {"limit", required_argument, NULL, 'l'},
                                       CLI_DAEMON_LONGOPTS,
                                       {NULL, 0, NULL, 0}};
    struct wh_opts o = {.limit = 50};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (cli_daemon_opt(&o.d, c))
            continue;
        switch (c) {
        case 'f':
            o.secret_file = optarg;
            break;
        case 'e':
            o.events = optarg;
            break;
        case 'l': {
            int64_t v;
            if (str_to_int64(optarg, &v) != 0 || v < 1 || v > 1000)
                return wh_usage("--limit: a number from 1 to 1000");
            o.limit = (int)v;
            break;
        }
        case 'h':
            fputs(WEBHOOK_USAGE, stdout);
            return 0;
        default:
            return wh_usage("unknown option");
        }
    }
    if (optind >= argc)
        return wh_usage("say add, list, remove or deliveries");
    return run(argv[optind], argc - optind - 1, argv + optind + 1, &o);
}
