/* SPDX-License-Identifier: MIT */
/*
 * cmd_gate.c - `poolpatch gate set|list|remove`: the health gates run after each host returns
 * (docs/health-gates.md) through the daemon's REST API (/api/v1/health-gates): one global gate
 * and one per pool, each a command or a URL with a timeout and an output limit, plus the
 * built-in check (PBDs attached, VMs moved back running).
 */
#include "cli/cli.h"

#include "base/err.h"
#include "base/str.h"
#include "cli/rest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char GATE_USAGE[] =
    "usage: poolpatch gate set [--pool POOL] [--command CMD | --url URL] [--timeout S]\n"
    "                          [--output-limit BYTES] [--wait S] [--no-builtin]\n"
    "       poolpatch gate list [--json]\n"
    "       poolpatch gate remove [--pool POOL]\n"
    "After each host comes back (reboot or toolstack restart) and before the next batch begins,\n"
    "the rollout checks that the host's PBDs are attached and the VMs moved back run, then runs\n"
    "the hook: a failure halts the rollout with the hook's output; `retry` runs the gate again.\n"
    "  --pool POOL         the gate of one registered pool (default: the global gate, used by\n"
    "                      every pool without its own)\n"
    "  --command CMD       run CMD with /bin/sh; POOLPATCH_POOL, POOLPATCH_HOST,\n"
    "                      POOLPATCH_HOST_UUID, POOLPATCH_ADDRESS, POOLPATCH_ROLLOUT,\n"
    "                      POOLPATCH_VERSION, POOLPATCH_BUILD, POOLPATCH_BATCH and\n"
    "                      POOLPATCH_RESTARTED in its environment; exit status 0 passes\n"
    "  --url URL           POST those facts as JSON to URL; an HTTP 2xx answer passes\n"
    "  --timeout S         seconds the hook may take (default 60, at most 3600)\n"
    "  --output-limit B    bytes of its output kept for the report (default 4096)\n"
    "  --wait S            seconds the built-in check waits for PBDs and VMs (default 60)\n"
    "  --no-builtin        skip the built-in check\n"
    "  --server URL        the daemon (default $POOLPATCH_SERVER or http://127.0.0.1:7480)\n"
    "  --token-file FILE   the API token (default: the daemon's state directory/api-token)\n"
    "  --json              print the daemon's JSON instead of a table\n";

struct gate_opts {
    const char *server, *token_file, *pool;
    json_t *spec;
    bool json;
};

static int gate_usage(const char *msg)
{
    fprintf(stderr, "poolpatch gate: %s\n%s", msg, GATE_USAGE);
    return 2;
}

static void print_gates(const json_t *out)
{
    size_t i;
    json_t *g;
    printf("%-20s %-8s %-8s %-7s %s\n", "POOL", "BUILTIN", "TIMEOUT", "WAIT", "HOOK");
    json_array_foreach(json_object_get(out, "gates"), i, g)
    {
        const char *pool = json_string_value(json_object_get(g, "pool"));
        const char *cmd = json_string_value(json_object_get(g, "command"));
        const char *url = json_string_value(json_object_get(g, "url"));
        char hook[600];
        snprintf(hook, sizeof hook, "%s%s",
                 cmd   ? "command: "
                 : url ? "url: "
                       : "(none)",
                 cmd   ? cmd
                 : url ? url
                       : "");
        printf("%-20s %-8s %-7llds %-6llds %s\n", pool ? pool : "(global)",
               json_is_true(json_object_get(g, "builtin")) ? "yes" : "no",
               (long long)json_integer_value(json_object_get(g, "timeout_s")),
               (long long)json_integer_value(json_object_get(g, "wait_s")), hook);
    }
}

static int run(const char *verb, const struct gate_opts *o)
{
    struct rest_client rc;
    struct err e = {0};
    json_t *body = NULL, *out = NULL;
    char path[512] = "/api/v1/health-gates";
    const char *method = "GET";
    if (str_eq(verb, "set")) {
        body = json_deep_copy(o->spec);
        if (o->pool)
            json_object_set_new(body, "pool", json_string(o->pool));
        method = "PUT";
    } else if (str_eq(verb, "remove")) {
        method = "DELETE";
        if (o->pool && (strlen(o->pool) > 256 || strcspn(o->pool, "/?#%&") != strlen(o->pool)))
            return gate_usage("remove: --pool names a registered pool");
        if (o->pool)
            snprintf(path, sizeof path, "/api/v1/health-gates/%s", o->pool);
    } else if (!str_eq(verb, "list")) {
        return gate_usage("say set, list or remove");
    }
    int ret = 0;
    if (rest_init(&rc, o->server, o->token_file, &e) != 0) {
        json_decref(body);
        fprintf(stderr, "poolpatch gate %s: %s\n", verb, e.msg);
        return 1;
    }
    if (rest_call(&rc, method, path, body, &out, NULL, &e) != 0) {
        fprintf(stderr, "poolpatch gate %s: %s\n", verb, e.msg[0] ? e.msg : err_code_name(e.code));
        ret = 1;
    } else if (o->json && out) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "null");
        free(s);
    } else if (str_eq(verb, "list")) {
        print_gates(out);
    } else {
        printf("Health gate %s %s.\n", o->pool ? o->pool : "(global)",
               str_eq(verb, "set") ? "set" : "removed");
    }
    json_decref(body);
    json_decref(out);
    rest_cleanup(&rc);
    return ret;
}

static int set_num(json_t *spec, const char *key, const char *arg, const char *opt)
{
    int64_t v;
    if (str_to_int64(arg, &v) != 0 || v < 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s: a whole number, not '%s'", opt, arg);
        return gate_usage(msg);
    }
    json_object_set_new(spec, key, json_integer(v));
    return -1;
}

static int parse_opt(int c, struct gate_opts *o)
{
    switch (c) {
    case 's':
        o->server = optarg;
        return -1;
    case 'k':
        o->token_file = optarg;
        return -1;
    case 'p':
        o->pool = optarg;
        return -1;
    case 'c':
        json_object_set_new(o->spec, "command", json_string(optarg));
        return -1;
    case 'u':
        json_object_set_new(o->spec, "url", json_string(optarg));
        return -1;
    case 't':
        return set_num(o->spec, "timeout_s", optarg, "--timeout");
    case 'o':
        return set_num(o->spec, "output_limit", optarg, "--output-limit");
    case 'w':
        return set_num(o->spec, "wait_s", optarg, "--wait");
    case 'n':
        json_object_set_new(o->spec, "builtin", json_false());
        return -1;
    case 'j':
        o->json = true;
        return -1;
    case 'h':
        fputs(GATE_USAGE, stdout);
        return 0;
    default:
        return gate_usage("unknown option");
    }
}

/* `poolpatch gate` (see cli.h): 0, 1 (the daemon refused or is unreachable), 2 (usage). */
int cmd_gate(int argc, char **argv)
{
    static const struct option lo[] = {{"server", required_argument, NULL, 's'},
                                       {"token-file", required_argument, NULL, 'k'},
                                       {"pool", required_argument, NULL, 'p'},
                                       {"command", required_argument, NULL, 'c'},
                                       {"url", required_argument, NULL, 'u'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"output-limit", required_argument, NULL, 'o'},
                                       {"wait", required_argument, NULL, 'w'},
                                       {"no-builtin", no_argument, NULL, 'n'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    struct gate_opts o = {.spec = json_object()};
    int c, ret = -1;
    optind = 1;
    while (ret < 0 && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1)
        ret = parse_opt(c, &o);
    if (ret < 0) {
        if (optind >= argc)
            ret = gate_usage("say set, list or remove");
        else if (argc - optind > 1)
            ret = gate_usage("too many arguments (the pool is given with --pool)");
        else
            ret = run(argv[optind], &o);
    }
    json_decref(o.spec);
    return ret;
}
