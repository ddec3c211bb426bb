/* SPDX-License-Identifier: MIT */
/*
 * cmd_xapi.c - `poolpatch xapi call`: one raw XAPI call through the project's XAPI client, for
 * debugging pools and the simulator (like xe's raw calls).  The session is created by the
 * client (login, HOST_IS_SLAVE followed) and inserted as the first parameter, except for
 * session.* methods, which are sent exactly as given.  Arguments are JSON values when they parse
 * as JSON, else strings.  The result is printed as JSON; an XAPI error as CODE [params] on
 * stderr with exit status 1.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "xapi/client.h"

static void xapi_usage(FILE *out)
{
    fprintf(out,
            "usage: poolpatch xapi call [options] METHOD [ARG...]\n"
            "\n"
            "Make one XAPI call.  The session is inserted as the first argument unless METHOD\n"
            "is session.*; ARGs are JSON values when they parse as JSON, else strings.\n"
            "\n"
            "options:\n"
            "  --url URL            the pool's master (or any host): http(s)://host[:port]/\n"
            "                       (default: $POOLPATCH_XAPI_URL)\n"
            "  --user USER          user name (default root)\n"
            "  --password-file F    read the password from the first line of F ('-' = stdin)\n"
            "  --xml | --json       force XML-RPC or JSON-RPC (default: JSON-RPC, falling back)\n"
            "  --wait               for Async.* methods: wait for the task, print its result\n"
            "  --timeout SECONDS    per-call timeout (default 120)\n"
            "  --ca-file F          trust this CA bundle for the pool\n"
            "  --known-hosts F      pin host certificates in F (SHA-256 fingerprints)\n"
            "  --tofu               with --known-hosts: record an unknown host on first use\n"
            "  --debug              log the calls (credentials masked) to stderr\n");
}

/* An argument: a JSON value when it parses as one, else the string itself. */
static struct xapi_value *parse_arg(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return xapi_value_new_string(s);
    struct xapi_value *v = xapi_value_from_json(j);
    json_decref(j);
    return v;
}

static void print_value(const struct xapi_value *v)
{
    json_t *j = xapi_value_to_json(v);
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", s ? s : "null");
    free(s);
    json_decref(j);
}

static void print_progress(void *ctx, double p)
{
    (void)ctx;
    fprintf(stderr, "progress %3.0f%%\n", p * 100.0);
}

static int run_call(struct xapi_client *c, const char *method, struct xapi_value *params, bool wait,
                    int64_t timeout_ms)
{
    struct xapi_value *result = NULL;
    struct err e = {0};
    int rc;
    if (wait && str_has_prefix(method, "Async.")) {
        rc = xapi_task_sync(c, method + strlen("Async."), params, 0, print_progress, NULL, &result,
                            &e);
    } else {
        struct xapi_call_opts o = {.flags = str_has_prefix(method, "session.") ? XAPI_CALL_RAW : 0u,
                                   .timeout_ms = timeout_ms};
        rc = xapi_call_sync(c, method, params, &o, &result, &e);
    }
    if (rc == 0) {
        print_value(result);
        xapi_value_free(result);
        return 0;
    }
    xapi_value_free(result);
    if (rc == PP_EXAPI)
        fprintf(stderr, "%s\n", e.msg);
    else
        fprintf(stderr, "poolpatch xapi: %s: %s\n", err_code_name(rc), e.msg);
    return 1;
}

struct xapi_args {
    struct cli_xapi x;
    const char *kh;
    enum xapi_proto_pref proto;
    bool wait, tofu;
    int64_t timeout_s;
};

/* `xapi call`'s options into A (argv[0] is "call"); 0 to go on, -1 after --help, else the exit
 * code. */
static int xapi_parse(int argc, char **argv, struct xapi_args *a)
{
    static const struct option opts[] = {
        CLI_XAPI_LONGOPTS("url"),
        {"xml", no_argument, NULL, 'x'},
        {"json", no_argument, NULL, 'j'},
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"known-hosts", required_argument, NULL, 'k'},
        {"tofu", no_argument, NULL, 'T'},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    a->x.url = getenv("POOLPATCH_XAPI_URL");
    a->x.user = "root";
    a->proto = XAPI_PREF_AUTO;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (cli_xapi_opt(&a->x, ch))
            continue;
        switch (ch) {
        case 'x':
        case 'j':
            a->proto = ch == 'x' ? XAPI_PREF_XMLRPC : XAPI_PREF_JSONRPC;
            break;
        case 'w':
            a->wait = true;
            break;
        case 'k':
            a->kh = optarg;
            break;
        case 'T':
            a->tofu = true;
            break;
        case 'd':
            log_set_level(LOG_LVL_DEBUG);
            break;
        case 't':
            if (str_to_int64(optarg, &a->timeout_s) != 0 || a->timeout_s <= 0) {
                fprintf(stderr, "poolpatch xapi: --timeout wants a positive number of seconds\n");
                return 2;
            }
            break;
        case 'h':
            xapi_usage(stdout);
            return -1;
        default:
            xapi_usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* Connect to A's URL as A's user and run METHOD(PARAMS) (taken); returns the exit code. */
static int xapi_connect_run(const struct xapi_args *a, const char *password, const char *method,
                            struct xapi_value *params)
{
    struct err e = {0};
    struct xapi_loop *loop = xapi_loop_new(NULL, &e);
    if (!loop) {
        fprintf(stderr, "poolpatch xapi: %s\n", e.msg);
        xapi_value_free(params);
        return 1;
    }
    const char *addrs[1] = {a->x.url};
    struct xapi_client_opts o;
    xapi_client_opts_init(&o);
    o.addresses = addrs;
    o.n_addresses = 1;
    o.user = a->x.user;
    o.password = password ? password : "";
    o.proto = a->proto;
    o.ca_file = a->x.ca_file;
    o.known_hosts = a->kh;
    o.tofu = a->tofu;
    o.call_timeout_ms = a->timeout_s * 1000;
    o.reconnect_budget_ms = -1; /* a debugging tool answers at once */
    struct xapi_client *c = xapi_client_new(loop, &o, &e);
    int status;
    if (!c) {
        fprintf(stderr, "poolpatch xapi: %s\n", e.msg);
        xapi_value_free(params);
        status = 2;
    } else {
        status = run_call(c, method, params, a->wait, a->timeout_s * 1000);
        xapi_client_free(c);
    }
    xapi_loop_free(loop);
    return status;
}

int cmd_xapi(int argc, char **argv)
{
    struct xapi_args a = {0};

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        xapi_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "call") != 0) {
        fprintf(stderr, "poolpatch xapi: unknown subcommand '%s'\n", argv[1]);
        xapi_usage(stderr);
        return 2;
    }
    argc--;
    argv++;
    int r = xapi_parse(argc, argv, &a);
    if (r)
        return r < 0 ? 0 : r;
    if (optind >= argc) {
        fprintf(stderr, "poolpatch xapi call: METHOD missing\n");
        return 2;
    }
    if (!a.x.url || !*a.x.url) {
        fprintf(stderr, "poolpatch xapi call: give --url (or set POOLPATCH_XAPI_URL)\n");
        return 2;
    }
    const char *method = argv[optind++];
    char password[1024] = "";
    struct err e = {0};
    if (a.x.pwfile) {
        if (cli_first_line("--password-file", a.x.pwfile, password, sizeof password, &e) != 0)
            return cli_usage_error("xapi call", e.msg, "poolpatch xapi call --help");
    } else if (!str_has_prefix(method, "session.")) {
        fprintf(stderr, "poolpatch xapi call: %s needs a session: give --password-file\n", method);
        return 2;
    }
    struct xapi_value *params = xapi_value_new_array();
    for (int i = optind; i < argc; i++)
        xapi_array_append_take(params, parse_arg(argv[i]));
    int status = xapi_connect_run(&a, a.x.pwfile ? password : NULL, method, params);
    memset(password, 0, sizeof password);
    return status;
}
