/* SPDX-License-Identifier: MIT */
/*
 * cmd_window.c - `poolpatch window add|list|remove` and `poolpatch schedule add|list|remove`:
 * maintenance windows and schedules of automated rollouts (docs/windows.md) through the
 * daemon's REST API (/api/v1/windows, /api/v1/schedules).
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

static const char WINDOW_USAGE[] =
    "usage: poolpatch window add NAME --recurrence SPEC --duration DURATION --pool POOL...\n"
    "                            [--tz ZONE]\n"
    "       poolpatch window list [--json]\n"
    "       poolpatch window remove NAME\n"
    "A rollout of a pool with windows begins only inside one, and a batch of hosts only when\n"
    "its predicted time fits in what is left of the window (else it pauses until the next).\n"
    "  --recurrence SPEC   cron-like \"MIN HOUR DAY MONTH WEEKDAY\" on the zone's clock, e.g.\n"
    "                      \"0 2 * * TUE#2\" (second Tuesday 02:00), \"0 22 * * FRIL\", "
    "\"@daily\"\n"
    "  --duration D        how long each window lasts: seconds, or 90m, 4h, 1h30m (max 7d)\n"
    "  --pool POOL         a registered pool the window applies to (repeat for more)\n"
    "  --tz ZONE           a tz database zone, e.g. Europe/Paris (default UTC)\n" CLI_DAEMON_HELP;

static const char SCHEDULE_USAGE[] =
    "usage: poolpatch schedule add NAME --recurrence SPEC [--pool POOL...] [--tz ZONE]\n"
    "                              [--policy minimal|return] [--max-parallel N]\n"
    "       poolpatch schedule list [--json]\n"
    "       poolpatch schedule remove NAME\n"
    "At each start of SPEC the daemon starts an automated rollout (the minimal set of updates\n"
    "per host) of the pools (default: every pool); their maintenance windows still apply.\n"
    "  --recurrence SPEC   cron-like \"MIN HOUR DAY MONTH WEEKDAY\", e.g. \"0 2 * * TUE#2\"\n"
    "  --pool POOL         a registered pool (repeat for more; none = every pool)\n"
    "  --tz ZONE           a tz database zone, e.g. Europe/Paris (default UTC)\n"
    "  --policy P          minimal (default) or return (VMs go back to their hosts)\n"
    "  --max-parallel N    most hosts of a pool down at once (default: as capacity "
    "allows)\n" CLI_DAEMON_HELP;

struct win_opts {
    bool schedule;
    struct cli_daemon d;
    const char *recurrence, *duration, *tz, *policy;
    json_t *pools;
    int max_parallel;
    bool json;
};

static int win_usage(const struct win_opts *o, const char *msg)
{
    fprintf(stderr, "poolpatch %s: %s\n%s", o->schedule ? "schedule" : "window", msg,
            o->schedule ? SCHEDULE_USAGE : WINDOW_USAGE);
    return 2;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void print_list(const json_t *out, bool schedule)
{
    size_t i, k;
    json_t *w, *p;
    if (schedule)
        printf("%-16s %-18s %-14s %-8s %-20s %-20s %s\n", "NAME", "RECURRENCE", "TZ", "POLICY",
               "NEXT", "LAST FIRED", "POOLS / LAST");
    else
        printf("%-16s %-18s %-14s %-9s %-5s %-20s %s\n", "NAME", "RECURRENCE", "TZ", "DURATION",
               "OPEN", "NEXT", "POOLS");
    json_array_foreach(json_object_get(out, schedule ? "schedules" : "windows"), i, w)
    {
        char pools[256] = "";
        size_t used = 0;
        json_array_foreach(json_object_get(w, "pools"), k, p)
        {
            int n = snprintf(pools + used, sizeof pools - used, "%s%s", used ? "," : "",
                             json_string_value(p));
            if (n < 0 || (size_t)n >= sizeof pools - used)
                break;
            used += (size_t)n;
        }
        if (schedule)
            printf("%-16s %-18s %-14s %-8s %-20s %-20s %s %s%s\n", jstr(w, "name"),
                   jstr(w, "recurrence"), jstr(w, "tz"), jstr(w, "policy"), jstr(w, "next"),
                   jstr(w, "last_fired"), used ? pools : "(every pool)", jstr(w, "last_rollout"),
                   json_is_string(json_object_get(w, "last_error")) ? " (error)" : "");
        else
            printf("%-16s %-18s %-14s %-9lld %-5s %-20s %s\n", jstr(w, "name"),
                   jstr(w, "recurrence"), jstr(w, "tz"),
                   (long long)json_integer_value(json_object_get(w, "duration_s")),
                   json_is_true(json_object_get(w, "open")) ? "yes" : "no", jstr(w, "next"), pools);
    }
}

static json_t *add_body(const char *name, const struct win_opts *o)
{
    json_t *b =
        json_pack("{s:s, s:s, s:O}", "name", name, "recurrence", o->recurrence, "pools", o->pools);
    if (o->tz)
        json_object_set_new(b, "tz", json_string(o->tz));
    if (o->duration)
        json_object_set_new(b, "duration", json_string(o->duration));
    if (o->policy)
        json_object_set_new(b, "policy", json_string(o->policy));
    if (o->max_parallel > 0)
        json_object_set_new(b, "max_parallel", json_integer(o->max_parallel));
    return b;
}

static int run(const char *verb, int nargs, char **args, const struct win_opts *o)
{
    const char *what = o->schedule ? "schedule" : "window";
    struct rest_client rc;
    struct err e = {0};
    json_t *body = NULL, *out = NULL;
    char path[256];
    const char *method = "GET";
    snprintf(path, sizeof path, "/api/v1/%ss", what);
    if (str_eq(verb, "add") && nargs == 1) {
        if (!o->recurrence)
            return win_usage(o, "add needs --recurrence SPEC");
        if (!o->schedule && (!o->duration || json_array_size(o->pools) == 0))
            return win_usage(o, "add needs --duration and at least one --pool");
        body = add_body(args[0], o);
        method = "POST";
    } else if (str_eq(verb, "remove") && nargs == 1) {
        method = "DELETE";
        if (strlen(args[0]) > 64 || strcspn(args[0], "/?#%&") != strlen(args[0]))
            return win_usage(o, "remove: NAME is a name from the list");
        snprintf(path, sizeof path, "/api/v1/%ss/%s", what, args[0]);
    } else if (!str_eq(verb, "list") || nargs != 0) {
        return win_usage(o, "say add NAME, list or remove NAME");
    }
    int ret = 0;
    if (rest_init(&rc, o->d.server, o->d.token_file, &e) != 0) {
        json_decref(body);
        fprintf(stderr, "poolpatch %s %s: %s\n", what, verb, e.msg);
        return 1;
    }
    if (rest_call(&rc, method, path, body, &out, NULL, &e) != 0) {
        fprintf(stderr, "poolpatch %s %s: %s\n", what, verb,
                e.msg[0] ? e.msg : err_code_name(e.code));
        ret = 1;
    } else if (o->d.json && out) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "null");
        free(s);
    } else if (str_eq(verb, "add")) {
        printf("%s %s added; next start %s.\n", o->schedule ? "Schedule" : "Window", args[0],
               jstr(out, "next"));
    } else if (str_eq(verb, "remove")) {
        printf("%s %s removed.\n", o->schedule ? "Schedule" : "Window", args[0]);
    } else {
        print_list(out, o->schedule);
    }
    json_decref(body);
    json_decref(out);
    rest_cleanup(&rc);
    return ret;
}

static int parse_opt(int c, struct win_opts *o)
{
    int64_t v;
    if (cli_daemon_opt(&o->d, c))
        return -1;
    switch (c) {
    case 'r':
        o->recurrence = optarg;
        break;
    case 'd':
        o->duration = optarg;
        break;
    case 'z':
        o->tz = optarg;
        break;
    case 'P':
        o->policy = optarg;
        break;
    case 'p':
        json_array_append_new(o->pools, json_string(optarg));
        break;
    case 'm':
        if (str_to_int64(optarg, &v) != 0 || v < 1 || v > 1024)
            return win_usage(o, "--max-parallel: a number from 1 to 1024");
        o->max_parallel = (int)v;
        break;
    case 'h':
        fputs(o->schedule ? SCHEDULE_USAGE : WINDOW_USAGE, stdout);
        return 0;
    default:
        return win_usage(o, "unknown option");
    }
    return -1;
}

static int window_main(int argc, char **argv, bool schedule)
{
    static const struct option lo[] = {{"recurrence", required_argument, NULL, 'r'},
                                       {"duration", required_argument, NULL, 'd'},
                                       {"tz", required_argument, NULL, 'z'},
                                       {"pool", required_argument, NULL, 'p'},
                                       {"policy", required_argument, NULL, 'P'},
                                       {"max-parallel", required_argument, NULL, 'm'},
                                       CLI_DAEMON_LONGOPTS,
                                       {NULL, 0, NULL, 0}};
    struct win_opts o = {.schedule = schedule, .pools = json_array()};
    int c, ret = -1;
    optind = 1;
    while (ret < 0 && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (!schedule && (c == 'P' || c == 'm'))
            c = '?';
        if (schedule && c == 'd')
            c = '?';
        ret = parse_opt(c, &o);
    }
    if (ret < 0)
        ret = optind >= argc ? win_usage(&o, "say add, list or remove")
                             : run(argv[optind], argc - optind - 1, argv + optind + 1, &o);
    json_decref(o.pools);
    return ret;
}

int cmd_window(int argc, char **argv)
{
    return window_main(argc, argv, false);
}

int cmd_schedule(int argc, char **argv)
{
    return window_main(argc, argv, true);
}
