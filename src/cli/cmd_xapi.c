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

static int read_password(const char *path, char **out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "poolpatch xapi: cannot open password file %s\n", path);
        return -1;
    }
    char line[1024];
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    if (f != stdin)
        fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    *out = xstrdup(line);
    return 0;
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

int cmd_xapi(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"user", required_argument, NULL, 'U'},
        {"password-file", required_argument, NULL, 'p'},
        {"xml", no_argument, NULL, 'x'},
        {"json", no_argument, NULL, 'j'},
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"ca-file", required_argument, NULL, 'c'},
        {"known-hosts", required_argument, NULL, 'k'},
        {"tofu", no_argument, NULL, 'T'},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
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
    const char *url = getenv("POOLPATCH_XAPI_URL");
    const char *user = "root", *pwfile = NULL, *ca = NULL, *kh = NULL;
    enum xapi_proto_pref proto = XAPI_PREF_AUTO;
    bool wait = false, tofu = false;
    int64_t timeout_s = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            url = optarg;
            break;
        case 'U':
            user = optarg;
            break;
        case 'p':
            pwfile = optarg;
            break;
        case 'x':
            proto = XAPI_PREF_XMLRPC;
            break;
        case 'j':
            proto = XAPI_PREF_JSONRPC;
            break;
        case 'w':
            wait = true;
            break;
        case 'c':
            ca = optarg;
            break;
        case 'k':
            kh = optarg;
            break;
        case 'T':
            tofu = true;
            break;
        case 'd':
            log_set_level(LOG_LVL_DEBUG);
            break;
        case 't':
            if (str_to_int64(optarg, &timeout_s) != 0 || timeout_s <= 0) {
                fprintf(stderr, "poolpatch xapi: --timeout wants a positive number of seconds\n");
                return 2;
            }
            break;
        case 'h':
            xapi_usage(stdout);
            return 0;
        default:
            xapi_usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "poolpatch xapi call: METHOD missing\n");
        return 2;
    }
    if (!url || !*url) {
        fprintf(stderr, "poolpatch xapi call: give --url (or set POOLPATCH_XAPI_URL)\n");
        return 2;
    }
    const char *method = argv[optind++];
    char *password = NULL;
    bool needs_login = !str_has_prefix(method, "session.");
    if (pwfile) {
        if (read_password(pwfile, &password) != 0)
            return 2;
    } else if (needs_login) {
        fprintf(stderr, "poolpatch xapi call: %s needs a session: give --password-file\n", method);
        return 2;
    }
    struct xapi_value *params = xapi_value_new_array();
    for (int i = optind; i < argc; i++)
        xapi_array_append_take(params, parse_arg(argv[i]));

    struct err e = {0};
    struct xapi_loop *loop = xapi_loop_new(NULL, &e);
    if (!loop) {
        fprintf(stderr, "poolpatch xapi: %s\n", e.msg);
        xapi_value_free(params);
        free(password);
        return 1;
    }
    const char *addrs[1] = {url};
    struct xapi_client_opts o;
    xapi_client_opts_init(&o);
    o.addresses = addrs;
    o.n_addresses = 1;
    o.user = user;
    o.password = password ? password : "";
    o.proto = proto;
    o.ca_file = ca;
    o.known_hosts = kh;
    o.tofu = tofu;
    o.call_timeout_ms = timeout_s * 1000;
    o.reconnect_budget_ms = -1; /* a debugging tool answers at once */
    struct xapi_client *c = xapi_client_new(loop, &o, &e);
    int status;
    if (!c) {
        fprintf(stderr, "poolpatch xapi: %s\n", e.msg);
        xapi_value_free(params);
        status = 2;
    } else {
        status = run_call(c, method, params, wait, timeout_s * 1000);
        xapi_client_free(c);
    }
    xapi_loop_free(loop);
    if (password) {
        memset(password, 0, strlen(password));
        free(password);
    }
    return status;
}
