/* SPDX-License-Identifier: MIT */
/*
 * cmd_client.c - the subcommands that talk to a running daemon over its REST API: pool,
 * updates, plan, apply, rollouts, rollout, retry, cancel.  Tables for people, --json for
 * scripts, and a live progress display (per-host bars on a terminal, plain lines otherwise)
 * fed by the daemon's event stream.
 */
#include "cli/cli.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/render.h"
#include "cli/cli_opts.h"
#include "cli/rest.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static void print_buf(struct buf *b)
{
    fwrite(buf_str(b), 1, b->len, stdout);
    fflush(stdout);
}

static void print_json(const json_t *v)
{
    /* ASCII only: C1 and bidi controls from outside become \uNNNN escapes (docs/security.md) */
    char *t = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (t)
        printf("%s\n", t);
    free(t);
    fflush(stdout);
}

/* "/api/v1/<prefix>/<escaped name><suffix>" */
static char *path_with(struct rest_client *rc, const char *prefix, const char *name,
                       const char *suffix)
{
    char *esc = curl_easy_escape(rc->curl, name, 0);
    char *p = xasprintf("/api/v1/%s/%s%s", prefix, esc ? esc : "", suffix ? suffix : "");
    curl_free(esc);
    return p;
}

/* ------------------------------------------------------------------ pool */

static int read_password(const char *file, char *out, size_t outsz, struct err *e)
{
    if (file)
        return cli_first_line("--password-file", file, out, outsz, e);
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty || !isatty(fileno(tty))) {
        if (tty)
            fclose(tty);
        return err_set(e, PP_EINVAL, "no terminal to ask for the password: pass --password-file");
    }
    struct termios old, quiet;
    tcgetattr(fileno(tty), &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    fputs("Password: ", tty);
    fflush(tty);
    tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    if (!fgets(out, (int)outsz, tty))
        out[0] = '\0';
    tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    out[strcspn(out, "\r\n")] = '\0';
    if (!out[0])
        return err_set(e, PP_EINVAL, "empty password");
    return 0;
}

/* GET PATH and print it: the JSON as it is with --json, else through RENDER. Returns the exit code.
 */
static int get_and_show(const char *cmd, const struct cli_daemon *co, struct rest_client *rc,
                        const char *path, void (*render)(struct buf *, const json_t *))
{
    struct err e = {0};
    json_t *out = NULL;
    int ret = 0;

    if (rest_call(rc, "GET", path, NULL, &out, NULL, &e) != 0) {
        ret = cli_fail(cmd, &e);
    } else if (co->json) {
        print_json(out);
    } else {
        struct buf b;
        buf_init(&b);
        render(&b, out);
        print_buf(&b);
        buf_cleanup(&b);
    }
    json_decref(out);
    return ret;
}

static const char POOL_USAGE[] =
    "poolpatch pool add NAME --url URL --user USER [--password-file FILE] [--ca-file FILE]\n"
    "                [--verify-ca] [--fingerprint SHA256:HEX] [--insecure-http]\n"
    "       poolpatch pool list [--json]\n"
    "       poolpatch pool trust NAME [--fingerprint SHA256:HEX] [--host ADDRESS]\n"
    "       poolpatch pool set NAME --live-patching on|off\n"
    "       poolpatch pool remove NAME\n"
    "pool set changes a property on the pool itself (XenCenter's pool properties): with live\n"
    "patching off, updates that could be live-patched need their reboot.";

struct pool_add_args {
    struct cli_xapi x;
    const char *name, *fingerprint, *host;
    const char *live_patching; /* pool set: on / off */
    bool insecure_http, verify_ca;
};

/* On a terminal: show the certificate's fingerprint and ask.  True when the user says yes. */
static bool confirm_fingerprint(const char *fp)
{
    char answer[16] = "";

    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
        return false;
    fprintf(stderr,
            "The pool's TLS certificate is not signed by a CA you gave (--ca-file).\n"
            "Its SHA-256 fingerprint is SHA256:%s\n"
            "Compare it with the one the pool shows (xe host-cert-info on its console).\n"
            "Trust this certificate and send the password? [y/N] ",
            fp);
    if (!fgets(answer, sizeof answer, stdin))
        return false;
    return answer[0] == 'y' || answer[0] == 'Y';
}

/* The certificate pool name waits on ({host, fingerprint, confirmed_before}), from GET /pools:
 * a new reference or NULL. */
static json_t *pool_pending_cert(struct rest_client *rc, const char *name, struct err *e)
{
    json_t *out = NULL, *p, *cert = NULL;
    size_t i;

    if (rest_call(rc, "GET", "/api/v1/pools", NULL, &out, NULL, e) != 0)
        return NULL;
    json_array_foreach(json_object_get(out, "pools"), i, p)
    {
        if (str_eq(jsonx_str(p, "name", ""), name) &&
            json_is_object(json_object_get(p, "certificate")))
            cert = json_incref(json_object_get(p, "certificate"));
    }
    json_decref(out);
    if (!cert && !e->code)
        err_set(e, PP_ESTATE, "pool %s waits for no certificate confirmation (see pool list)",
                name);
    return cert;
}

/* On a terminal: show the certificate a pool waits on and ask.  True when the user says yes. */
static bool confirm_pending(const char *pool, const json_t *cert)
{
    char answer[16] = "";
    const char *before = jsonx_str(cert, "confirmed_before", NULL);

    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
        return false;
    fprintf(stderr,
            "Pool %s: %s presents a TLS certificate that is not confirmed%s%s%s.\n"
            "Its SHA-256 fingerprint is SHA256:%s\n"
            "Compare it with the one the host shows (xe host-cert-info on its console).\n"
            "Trust this certificate and send the password to it? [y/N] ",
            pool, jsonx_str(cert, "host", "?"), before ? " (it had SHA256:" : "",
            before ? before : "", before ? ")" : "", jsonx_str(cert, "fingerprint", ""));
    if (!fgets(answer, sizeof answer, stdin))
        return false;
    return answer[0] == 'y' || answer[0] == 'Y';
}

/* `pool trust`: POST /pools/NAME/trust; without --fingerprint the pending certificate is shown
 * and confirmed on a terminal. */
static int pool_trust(const struct cli_daemon *co, const struct pool_add_args *a)
{
    struct rest_client rc;
    struct err e = {0};
    json_t *out = NULL, *cert = NULL, *body = json_object();
    char *path;
    int ret = 0;

    if (cli_connect("pool", co, &rc)) {
        json_decref(body);
        return 1;
    }
    if (a->host)
        json_object_set_new(body, "host", json_string(a->host));
    if (a->fingerprint) {
        json_object_set_new(body, "fingerprint", json_string(a->fingerprint));
    } else if ((cert = pool_pending_cert(&rc, a->name, &e)) != NULL) {
        if (!confirm_pending(a->name, cert))
            err_set(&e, PP_ESTATE,
                    "pool %s: %s presents the TLS certificate SHA256:%s, not confirmed; check it "
                    "on the host and confirm it: pool trust %s --fingerprint SHA256:%s",
                    a->name, jsonx_str(cert, "host", "?"), jsonx_str(cert, "fingerprint", ""),
                    a->name, jsonx_str(cert, "fingerprint", ""));
        else
            json_object_set_new(body, "fingerprint",
                                json_string(jsonx_str(cert, "fingerprint", "")));
    }
    path = path_with(&rc, "pools", a->name, "/trust");
    if (e.code || rest_call(&rc, "POST", path, body, &out, NULL, &e) != 0)
        ret = cli_fail("pool trust", &e);
    else if (co->json)
        print_json(out);
    else
        printf("Pool %s: certificate confirmed; state %s.\n", a->name,
               jsonx_str(out, "state", "?"));
    free(path);
    json_decref(cert);
    json_decref(out);
    json_decref(body);
    rest_cleanup(&rc);
    return ret;
}

/* `pool set NAME --live-patching on|off`: PATCH /pools/NAME; says what the pool now has (the
 * daemon's answer, read from the pool after the change). */
static int pool_set(const struct cli_daemon *co, const struct pool_add_args *a)
{
    struct rest_client rc;
    struct err e = {0};
    json_t *out = NULL;
    bool on = true;
    int ret = 0;

    if (!a->live_patching)
        return cli_usage_error("pool", "set needs --live-patching on|off", POOL_USAGE);
    if (cli_on_off("--live-patching", a->live_patching, &on, &e) != 0)
        return cli_fail("pool set", &e);
    if (cli_connect("pool", co, &rc))
        return 1;
    json_t *body = json_pack("{s:b}", "live_patching_disabled", !on);
    char *path = path_with(&rc, "pools", a->name, NULL);
    if (rest_call(&rc, "PATCH", path, body, &out, NULL, &e) != 0) {
        ret = cli_fail("pool set", &e);
    } else if (co->json) {
        print_json(out);
    } else if (jsonx_bool(out, "live_patching_disabled", false)) {
        printf("Pool %s: live patching is off; updates that could be live-patched need their "
               "reboot.\n",
               a->name);
    } else {
        printf("Pool %s: live patching is on; updates with a live patch that covers a host "
               "need no reboot there.\n",
               a->name);
    }
    free(path);
    json_decref(body);
    json_decref(out);
    rest_cleanup(&rc);
    return ret;
}

/* `pool add`: POST /pools; an unconfirmed certificate is shown and confirmed on a terminal. */
static int pool_add(const struct cli_daemon *co, const struct pool_add_args *a)
{
    char pw[512], fp[128] = "";
    struct rest_client rc;
    struct err e = {0};
    json_t *out = NULL, *body;
    int ret = 0;

    if (read_password(a->x.pwfile, pw, sizeof pw, &e) != 0)
        return cli_fail("pool add", &e);
    if (cli_connect("pool", co, &rc)) {
        memset(pw, 0, sizeof pw);
        return 1;
    }
    body = json_pack("{s:s s:s s:s s:s s:b}", "name", a->name, "url", a->x.url, "username",
                     a->x.user, "password", pw, "insecure_http", a->insecure_http);
    memset(pw, 0, sizeof pw);
    if (body && a->x.ca_file)
        json_object_set_new(body, "ca_file", json_string(a->x.ca_file));
    if (body && a->fingerprint)
        json_object_set_new(body, "fingerprint", json_string(a->fingerprint));
    if (body && a->verify_ca)
        json_object_set_new(body, "verify_ca", json_true());
    if (!body) {
        err_set(&e, PP_EINVAL, "arguments are not valid UTF-8");
        ret = cli_fail("pool add", &e);
    } else if (rest_call(&rc, "POST", "/api/v1/pools", body, &out, NULL, &e) != 0) {
        /* the daemon names the fingerprint in its answer: "... is SHA256:AB:CD:..." */
        const char *p = e.code == PP_ESTATE ? strstr(e.msg, "SHA256:") : NULL;
        if (p && !a->fingerprint) {
            size_t n = strspn(p + 7, "0123456789ABCDEFabcdef:");
            n = n < sizeof fp ? n : sizeof fp - 1;
            memcpy(fp, p + 7, n);
            fp[n] = '\0';
        }
        if (fp[0] && confirm_fingerprint(fp)) {
            json_object_set_new(body, "fingerprint", json_string(fp));
            e = (struct err){0};
            if (rest_call(&rc, "POST", "/api/v1/pools", body, &out, NULL, &e) != 0)
                ret = cli_fail("pool add", &e);
        } else {
            ret = cli_fail("pool add", &e);
        }
    }
    if (ret == 0 && out && co->json) {
        print_json(out);
    } else if (ret == 0 && out) {
        printf("Pool %s added", jsonx_str(out, "name", a->name));
        if (json_is_integer(json_object_get(out, "hosts")))
            printf(" (%lld hosts", (long long)jsonx_int(out, "hosts", 0));
        if (jsonx_str(out, "version", NULL))
            printf(", version %s", jsonx_str(out, "version", ""));
        if (json_is_integer(json_object_get(out, "hosts")))
            printf(")");
        printf(".\n");
        if (jsonx_str(out, "tls_fingerprint", NULL))
            printf("TLS certificate SHA256:%s (pinned).\n", jsonx_str(out, "tls_fingerprint", ""));
    }
    json_decref(body);
    json_decref(out);
    rest_cleanup(&rc);
    return ret;
}

int cmd_pool(int argc, char **argv)
{
    static const struct option lo[] = {CLI_XAPI_LONGOPTS("url"),
                                       {"fingerprint", required_argument, NULL, 'F'},
                                       {"insecure-http", no_argument, NULL, 'I'},
                                       {"verify-ca", no_argument, NULL, 'A'},
                                       {"host", required_argument, NULL, 'H'},
                                       {"live-patching", required_argument, NULL, 'L'},
                                       CLI_DAEMON_LONGOPTS,
                                       {NULL, 0, NULL, 0}};
    struct cli_daemon co = {0};
    struct pool_add_args pa = {0};
    struct rest_client rc;
    struct err e = {0};
    json_t *out = NULL;
    int c, ret = 0;

    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (cli_daemon_opt(&co, c) || cli_xapi_opt(&pa.x, c))
            continue;
        switch (c) {
        case 'F':
            pa.fingerprint = optarg;
            break;
        case 'I':
            pa.insecure_http = true;
            break;
        case 'A':
            pa.verify_ca = true;
            break;
        case 'H':
            pa.host = optarg;
            break;
        case 'L':
            pa.live_patching = optarg;
            break;
        case 'h':
            printf("usage: %s\n%s", POOL_USAGE, CLI_DAEMON_HELP);
            return 0;
        default:
            return cli_usage_error("pool", "bad option", POOL_USAGE);
        }
    }
    if (optind >= argc)
        return cli_usage_error("pool", "say add, list, set, trust or remove", POOL_USAGE);
    const char *sub = argv[optind++];
    if (str_eq(sub, "list")) {
        if (optind != argc)
            return cli_usage_error("pool", "list takes no arguments", POOL_USAGE);
        if (cli_connect("pool", &co, &rc))
            return 1;
        ret = get_and_show("pool list", &co, &rc, "/api/v1/pools", render_pools);
    } else if (str_eq(sub, "remove")) {
        if (optind + 1 != argc)
            return cli_usage_error("pool", "remove takes one NAME", POOL_USAGE);
        if (cli_connect("pool", &co, &rc))
            return 1;
        char *path = path_with(&rc, "pools", argv[optind], NULL);
        if (rest_call(&rc, "DELETE", path, NULL, NULL, NULL, &e) != 0)
            ret = cli_fail("pool remove", &e);
        else if (!co.json)
            printf("Pool %s removed.\n", argv[optind]);
        free(path);
    } else if (str_eq(sub, "add")) {
        if (optind + 1 != argc)
            return cli_usage_error("pool", "add takes one NAME", POOL_USAGE);
        if (!pa.x.url || !pa.x.user)
            return cli_usage_error("pool", "add needs --url and --user", POOL_USAGE);
        pa.name = argv[optind];
        return pool_add(&co, &pa);
    } else if (str_eq(sub, "trust")) {
        if (optind + 1 != argc)
            return cli_usage_error("pool", "trust takes one NAME", POOL_USAGE);
        pa.name = argv[optind];
        return pool_trust(&co, &pa);
    } else if (str_eq(sub, "set")) {
        if (optind + 1 != argc)
            return cli_usage_error("pool", "set takes one NAME", POOL_USAGE);
        pa.name = argv[optind];
        return pool_set(&co, &pa);
    } else {
        return cli_usage_error("pool", "say add, list, set, trust or remove", POOL_USAGE);
    }
    json_decref(out);
    rest_cleanup(&rc);
    return ret;
}

/* ------------------------------------------------------------------ updates */

static const char UPDATES_USAGE[] =
    "poolpatch updates [--by-update|--by-server] [--sort pool|date] [--json] "
    "[--export-csv FILE [--raw]]\n"
    "       poolpatch updates check\n"
    "       poolpatch updates dismiss ID...|--all\n"
    "       poolpatch updates restore\n"
    "       poolpatch updates web-page ID\n"
    "       poolpatch updates download ID...";

static int write_file_text(const char *path, const struct buf *b, struct err *e)
{
    FILE *f = str_eq(path, "-") ? stdout : fopen(path, "w");
    if (!f)
        return err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
    size_t n = fwrite(buf_str(b), 1, b->len, f);
    int bad = n != b->len || (f == stdout ? fflush(f) : fclose(f)) != 0;
    if (bad)
        return err_set(e, PP_EIO, "%s: write failed", path);
    return 0;
}

struct updates_args {
    struct cli_daemon co;
    bool by_server, all, raw;
    const char *sort, *csv, *sub;
};

/* updates (no subcommand): a view, printed or exported as CSV. */
static int updates_show(struct rest_client *rc, const struct updates_args *a)
{
    char path[128];
    const char *view = a->by_server ? "by-server" : "by-update";
    struct err e = {0};
    int ret = 0;

    if (!a->csv) {
        snprintf(path, sizeof path, "/api/v1/updates?view=%s&sort=%s", view, a->sort);
        return get_and_show("updates", &a->co, rc, path,
                            a->by_server ? render_by_server : render_by_update);
    }
    struct buf b;
    buf_init(&b);
    snprintf(path, sizeof path, "/api/v1/updates/export.csv?view=%s%s", view,
             a->raw ? "&raw=1" : "");
    if (rest_call(rc, "GET", path, NULL, NULL, &b, &e) != 0 || write_file_text(a->csv, &b, &e) != 0)
        ret = cli_fail("updates", &e);
    else if (!str_eq(a->csv, "-"))
        fprintf(stderr, "Wrote the %s view to %s.\n", view, a->csv);
    buf_cleanup(&b);
    return ret;
}

/* updates check: what the check found, in one paragraph. */
static void print_check(const json_t *out)
{
    size_t i;
    json_t *p;
    const json_t *cat = json_object_get(out, "catalog");
    const char *at = jsonx_str(out, "checked_at", jsonx_str(cat, "checked_at", "?"));
    bool changed = jsonx_bool(out, "catalog_changed", jsonx_bool(out, "changed", false));

    printf("Checked at %s", at);
    if (json_is_integer(json_object_get(out, "updates")))
        printf(": %lld update%s available", (long long)jsonx_int(out, "updates", 0),
               jsonx_int(out, "updates", 0) == 1 ? "" : "s");
    printf("%s.\n", changed ? " (the catalog changed)" : " (the catalog is unchanged)");
    json_array_foreach(json_object_get(out, "pools"), i, p)
    {
        if (jsonx_str(p, "error", NULL))
            printf("  pool %s: %s\n", jsonx_str(p, "name", "?"), jsonx_str(p, "error", ""));
    }
    printf("See them with 'poolpatch updates' or 'poolpatch updates --by-server'.\n");
}

/* updates download: one line a downloaded file. */
static void print_downloads(const json_t *out)
{
    size_t i;
    json_t *d;

    json_array_foreach(json_object_get(out, "downloads"), i, d)
    {
        printf("%s  %s  %lld bytes%s\n", jsonx_str(d, "uuid", "?"), jsonx_str(d, "path", "?"),
               (long long)jsonx_int(d, "size", 0),
               jsonx_bool(d, "cached", false) ? " (already downloaded)" : "");
    }
}

/* updates web-page ID: the update's page, from the By Update view. */
static int updates_web_page(struct rest_client *rc, const char *want)
{
    struct err e = {0};
    json_t *out = NULL, *u;
    const char *url = NULL;
    bool found = false;
    size_t i;
    int ret = 0;

    if (rest_call(rc, "GET", "/api/v1/updates?view=by-update", NULL, &out, NULL, &e) != 0)
        return cli_fail("updates web-page", &e);
    json_array_foreach(json_object_get(out, "updates"), i, u)
    {
        if (str_eq(jsonx_str(u, "id", NULL), want) || str_eq(jsonx_str(u, "name", NULL), want)) {
            found = true;
            url = jsonx_str(u, "url", jsonx_str(u, "web_page", NULL));
            break;
        }
    }
    if (url)
        printf("%s\n", url);
    else if (found)
        err_set(&e, PP_ENOTFOUND, "update %s has no web page in the catalog", want);
    else
        err_set(&e, PP_ENOTFOUND, "no update %s in the By Update view (see 'poolpatch updates')",
                want);
    if (!url)
        ret = cli_fail("updates web-page", &e);
    json_decref(out);
    return ret;
}

/* The {"ids": [...]} body of dismiss and download, from argv[from..argc). */
static json_t *ids_body(int from, int argc, char **argv)
{
    json_t *ids = json_array();
    for (int k = from; k < argc; k++)
        json_array_append_new(ids, json_string(argv[k]));
    return json_pack("{s:o}", "ids", ids);
}

/* updates check / dismiss / restore / download: a POST and its answer. */
static int updates_post(struct rest_client *rc, const struct updates_args *a, int argc, char **argv)
{
    struct err e = {0};
    json_t *out = NULL, *body = NULL;
    char what[64], path[64];
    int ret = 0;

    snprintf(what, sizeof what, "updates %s", a->sub);
    snprintf(path, sizeof path, "/api/v1/updates/%s", a->sub);
    if (str_eq(a->sub, "dismiss"))
        body = a->all ? json_pack("{s:b}", "all", 1) : ids_body(optind, argc, argv);
    else if (str_eq(a->sub, "download"))
        body = ids_body(optind, argc, argv);
    if (rest_call(rc, "POST", path, body, &out, NULL, &e) != 0)
        ret = cli_fail(what, &e);
    else if (a->co.json && (str_eq(a->sub, "check") || str_eq(a->sub, "download")))
        print_json(out);
    else if (str_eq(a->sub, "check"))
        print_check(out);
    else if (str_eq(a->sub, "download"))
        print_downloads(out);
    else if (str_eq(a->sub, "dismiss"))
        printf("Dismissed %s; bring them back with 'poolpatch updates restore'.\n",
               a->all ? "all updates shown" : "the updates");
    else
        printf("Restored dismissed updates.\n");
    json_decref(out);
    json_decref(body);
    return ret;
}

/* updates' options into A; 0 to go on, else the exit code (+1 for "exit 0" after --help). */
static int parse_updates(int argc, char **argv, struct updates_args *a)
{
    static const struct option lo[] = {{"by-update", no_argument, NULL, 'u'},
                                       {"by-server", no_argument, NULL, 's'},
                                       {"sort", required_argument, NULL, 'o'},
                                       {"export-csv", required_argument, NULL, 'x'},
                                       {"raw", no_argument, NULL, 'R'},
                                       {"all", no_argument, NULL, 'a'},
                                       CLI_DAEMON_LONGOPTS,
                                       {NULL, 0, NULL, 0}};
    int c;

    a->sort = "date";
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (cli_daemon_opt(&a->co, c))
            continue;
        switch (c) {
        case 'u':
        case 's':
            a->by_server = c == 's';
            break;
        case 'o':
            if (!str_eq(optarg, "pool") && !str_eq(optarg, "date"))
                return cli_usage_error("updates", "--sort takes pool or date", UPDATES_USAGE);
            a->sort = optarg;
            break;
        case 'x':
            a->csv = optarg;
            break;
        case 'a':
            a->all = true;
            break;
        case 'R':
            a->raw = true; /* CSV cells as they are: no formula neutralisation */
            break;
        case 'h':
            printf("usage: %s\n%s", UPDATES_USAGE, CLI_DAEMON_HELP);
            return -1;
        default:
            return cli_usage_error("updates", "bad option", UPDATES_USAGE);
        }
    }
    return 0;
}

/* Whether updates' subcommand SUB takes its arguments; the usage error's message, or NULL. */
static const char *updates_args_error(const struct updates_args *a, int argc)
{
    const char *sub = a->sub;
    if (sub && !str_eq(sub, "check") && !str_eq(sub, "dismiss") && !str_eq(sub, "restore") &&
        !str_eq(sub, "web-page") && !str_eq(sub, "download"))
        return "unknown subcommand";
    if (!str_eq(sub, "dismiss") && a->all)
        return "--all belongs to 'updates dismiss'";
    if ((!sub || str_eq(sub, "check") || str_eq(sub, "restore")) && optind != argc)
        return "unexpected argument";
    if (str_eq(sub, "web-page") && optind + 1 != argc)
        return "web-page takes one update ID";
    if (str_eq(sub, "download") && optind >= argc)
        return "download takes update IDs or names";
    if (str_eq(sub, "dismiss") && (a->all == (optind < argc)))
        return "dismiss takes update IDs or --all";
    return NULL;
}

int cmd_updates(int argc, char **argv)
{
    struct updates_args a = {0};
    struct rest_client rc;
    int ret = parse_updates(argc, argv, &a);

    if (ret)
        return ret < 0 ? 0 : ret;
    a.sub = optind < argc ? argv[optind++] : NULL;
    const char *bad = updates_args_error(&a, argc);
    if (bad)
        return cli_usage_error("updates", bad, UPDATES_USAGE);
    if (cli_connect("updates", &a.co, &rc))
        return 1;
    if (!a.sub)
        ret = updates_show(&rc, &a);
    else if (str_eq(a.sub, "web-page"))
        ret = updates_web_page(&rc, argv[optind]);
    else
        ret = updates_post(&rc, &a, argc, argv);
    rest_cleanup(&rc);
    return ret;
}

/* ------------------------------------------------------------------ plan and apply */

struct plan_args {
    struct cli_daemon co;
    json_t *req;      /* the request body being built */
    const char *file; /* --file: sent to the daemon first (send_file) */
    char *file_id;    /* its id there */
    bool automated, yes, follow;
    int n_updates;
    bool upgrade;    /* `upgrade` / `plan --upgrade`: POST /upgrades (docs/upgrade.md) */
    bool plan_only;  /* `upgrade --plan`: the dry run only */
    bool update_opt; /* an option of updates only was given (refused with upgrades) */
};

static const char PLAN_USAGE[] =
    "poolpatch plan [POOL...] [--automated|--update ID...] [--file ZIP] [--host NAME...] "
    "[--manual-tasks] [--policy return|minimal] [--max-parallel N] [--stay-on-release] "
    "[--json]\n"
    "       poolpatch plan --upgrade POOL... --to VERSION [--url URL|--manual] [--policy "
    "minimal|return] [--shutdown VM...] [--apply-updates] [--json]";
static const char UPGRADE_USAGE[] =
    "poolpatch upgrade POOL... --to VERSION [--url URL|--manual] [--policy minimal|return] "
    "[--shutdown VM...] [--apply-updates] [--plan] [--yes] [--no-follow] [--json]";
static const char APPLY_USAGE[] =
    "poolpatch apply [POOL...] [--automated|--update ID...] [--file ZIP] [--host NAME...] "
    "[--manual-tasks] [--policy return|minimal] [--max-parallel N] [--stay-on-release] [--yes] "
    "[--no-follow] [--json]";

static const char PLAN_HELP[] =
    "  POOL...             pools to update (default: every registered pool)\n"
    "  --automated         the minimal set of updates each host needs (the default)\n"
    "  --update ID         install this update (uuid or name); repeat for more\n"
    "  --file ZIP          install a downloaded update file: sent to the daemon, which\n"
    "                      installs exactly the update inside it (its update.xml)\n"
    "  --host NAME         update only this host (name-label, uuid or ref); repeat for\n"
    "                      more; pools with none of them are left out (a XenServer 8\n"
    "                      pool is updated whole: a part of it is a blocking precheck)\n"
    "  --manual-tasks      apply the updates but leave the reboots and toolstack restarts\n"
    "                      to you (no VM is moved for them; the hosts show them pending)\n"
    "  --policy P          return (default): VMs go back to their home hosts;\n"
    "                      minimal: VMs stay where they land (fewest migrations)\n"
    "  --max-parallel N    at most N hosts of a pool down at once (1: one at a time,\n"
    "                      XenCenter's order; default: as spare capacity allows);\n"
    "                      the pool master always goes first and alone\n"
    "  --stay-on-release   do not move to a new release, only update the current one\n"
    "  --yes               (apply, upgrade) do not ask before starting\n"
    "  --no-follow         (apply, upgrade) start and return; watch with 'poolpatch rollout ID "
    "--watch'\n"
    "  --upgrade           (plan) the dry run of a rolling pool upgrade (see 'poolpatch upgrade')\n"
    "  --to VERSION        (upgrade) the product version to reach, e.g. 8.4.0\n"
    "  --url URL           (upgrade) the installation media (http, https, ftp or nfs address),\n"
    "                      given to each host's prepare_host_upgrade plugin (automatic mode)\n"
    "  --manual            (upgrade) you boot each host from the media when asked\n"
    "  --shutdown VM       (upgrade, standalone host) shut this VM down instead of suspending\n"
    "                      it; repeat for more\n"
    "  --apply-updates     (upgrade) then, in the same rollout, the new version's automated\n"
    "                      updates, planned once every host runs it\n"
    "  --plan              (upgrade) show the dry run only\n";

/* The upgrade options (and --upgrade of plan); 0, or 2 after a usage error. */
static int upgrade_opt(const char *cmd, const char *usage, struct plan_args *pa, int c,
                       json_t *shut)
{
    switch (c) {
    case 'G':
        if (!str_eq(cmd, "plan"))
            return cli_usage_error(cmd, "--upgrade belongs to plan (use 'poolpatch upgrade')",
                                   usage);
        pa->upgrade = true;
        return 0;
    case 't':
        json_object_set_new(pa->req, "to", json_string(optarg));
        return 0;
    case 'r':
        json_object_set_new(pa->req, "url", json_string(optarg));
        return 0;
    case 'M':
        json_object_set_new(pa->req, "manual", json_true());
        return 0;
    case 'X':
        json_object_set_new(pa->req, "apply_updates", json_true());
        return 0;
    case 'd':
        json_array_append_new(shut, json_string(optarg));
        return 0;
    case 'P':
        if (!str_eq(cmd, "upgrade"))
            return cli_usage_error(cmd, "--plan belongs to upgrade", usage);
        pa->plan_only = true;
        return 0;
    case 'u':
    case 'f':
    case 's':
    case 'm':
    case 'a':
    case 'H':
    case 'K':
        pa->update_opt = true;
        return 0;
    default:
        return 0;
    }
}

/* Check an upgrade's arguments (none of them without an upgrade) and complete its body; 0, or 2
 * after a usage error. */
static int finish_upgrade(const char *cmd, const char *usage, struct plan_args *pa, size_t n_pools,
                          json_t *shut)
{
    if (!pa->upgrade && (json_object_get(pa->req, "to") || json_object_get(pa->req, "url") ||
                         json_object_get(pa->req, "manual") ||
                         json_object_get(pa->req, "apply_updates") || json_array_size(shut)))
        return cli_usage_error(
            cmd, "--to, --url, --manual, --shutdown and --apply-updates are for upgrades", usage);
    if (!pa->upgrade)
        return 0;
    if (pa->update_opt)
        return cli_usage_error(cmd,
                               "--automated, --update, --file, --host, --manual-tasks, "
                               "--stay-on-release and --max-parallel are for updates, not upgrades",
                               usage);
    if (!json_object_get(pa->req, "to"))
        return cli_usage_error(cmd, "--to VERSION is required (the version to upgrade to)", usage);
    if (!!json_object_get(pa->req, "url") == !!json_object_get(pa->req, "manual"))
        return cli_usage_error(cmd, "give --url URL (automatic mode) or --manual, one of them",
                               usage);
    if (n_pools == 0)
        return cli_usage_error(cmd, "name the pool(s) to upgrade", usage);
    if (json_array_size(shut))
        json_object_set(pa->req, "shutdown", shut);
    return 0;
}

/* The options that set a field of the plan request (--policy, --stay-on-release, --host,
 * --manual-tasks, --max-parallel); hosts collects --host.  0, or 2 after a usage error. */
static int request_opt(const char *cmd, const char *usage, struct plan_args *pa, int c,
                       json_t *hosts)
{
    switch (c) {
    case 'p':
        if (!str_eq(optarg, "minimal") && !str_eq(optarg, "return"))
            return cli_usage_error(cmd, "--policy takes minimal or return", usage);
        json_object_set_new(pa->req, "policy", json_string(optarg));
        return 0;
    case 's':
        json_object_set_new(pa->req, "stay_on_release", json_true());
        return 0;
    case 'H':
        if (!*optarg)
            return cli_usage_error(cmd, "--host takes a host's name-label, uuid or ref", usage);
        json_array_append_new(hosts, json_string(optarg));
        return 0;
    case 'K':
        json_object_set_new(pa->req, "manual_post_tasks", json_true());
        return 0;
    default: { /* 'm' */
        char *end = NULL;
        long n = strtol(optarg, &end, 10);
        if (!*optarg || *end || n < 0 || n > 64)
            return cli_usage_error(cmd, "--max-parallel takes a number from 0 to 64", usage);
        json_object_set_new(pa->req, "max_parallel", json_integer(n));
        return 0;
    }
    }
}

/* Parse plan/apply arguments into pa->req.  Returns 0, or the exit status on error. */
static int parse_plan_args(const char *cmd, const char *usage, int argc, char **argv,
                           struct plan_args *pa)
{
    static const struct option lo[] = {{"automated", no_argument, NULL, 'a'},
                                       {"update", required_argument, NULL, 'u'},
                                       {"file", required_argument, NULL, 'f'},
                                       {"policy", required_argument, NULL, 'p'},
                                       {"stay-on-release", no_argument, NULL, 's'},
                                       {"max-parallel", required_argument, NULL, 'm'},
                                       {"yes", no_argument, NULL, 'y'},
                                       {"no-follow", no_argument, NULL, 'n'},
                                       {"upgrade", no_argument, NULL, 'G'},
                                       {"to", required_argument, NULL, 't'},
                                       {"url", required_argument, NULL, 'r'},
                                       {"manual", no_argument, NULL, 'M'},
                                       {"apply-updates", no_argument, NULL, 'X'},
                                       {"shutdown", required_argument, NULL, 'd'},
                                       {"plan", no_argument, NULL, 'P'},
                                       {"host", required_argument, NULL, 'H'},
                                       {"manual-tasks", no_argument, NULL, 'K'},
                                       CLI_DAEMON_LONGOPTS,
                                       {NULL, 0, NULL, 0}};
    json_t *updates = json_array(), *pools = json_array(), *shut = json_array(),
           *hosts = json_array();
    int c, ret = 2;

    pa->req = json_object();
    pa->follow = true;
    pa->upgrade = str_eq(cmd, "upgrade");
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (cli_daemon_opt(&pa->co, c))
            continue;
        if (upgrade_opt(cmd, usage, pa, c, shut) != 0)
            goto bad;
        switch (c) {
        case 'a':
            pa->automated = true;
            break;
        case 'u':
            json_array_append_new(updates, json_string(optarg));
            break;
        case 'f':
            pa->file = optarg; /* sent to the daemon (POST /files) once connected */
            break;
        case 'p':
        case 's':
        case 'H':
        case 'K':
        case 'm':
            if (request_opt(cmd, usage, pa, c, hosts) != 0)
                goto bad;
            break;
        case 'G':
        case 't':
        case 'r':
        case 'M':
        case 'X':
        case 'd':
        case 'P':
            break; /* upgrade_opt */
        case 'y':
        case 'n':
            if (str_eq(cmd, "plan")) {
                cli_usage_error(cmd, "--yes and --no-follow belong to apply", usage);
                goto bad;
            }
            if (c == 'y')
                pa->yes = true;
            else
                pa->follow = false;
            break;
        case 'h':
            printf("usage: %s\n%s%s", usage, PLAN_HELP, CLI_DAEMON_HELP);
            ret = -1;
            goto bad;
        default:
            cli_usage_error(cmd, "bad option", usage);
            goto bad;
        }
    }
    for (int i = optind; i < argc; i++)
        json_array_append_new(pools, json_string(argv[i]));
    if (pa->file && json_array_size(updates)) {
        cli_usage_error(cmd, "--file cannot be combined with --update", usage);
        goto bad;
    }
    if (pa->automated && (json_array_size(updates) || pa->file)) {
        cli_usage_error(cmd, "--automated cannot be combined with --update or --file", usage);
        goto bad;
    }
    if (finish_upgrade(cmd, usage, pa, json_array_size(pools), shut) != 0)
        goto bad;
    json_decref(shut);
    shut = NULL;
    json_object_set_new(pa->req, "pools", pools);
    if (json_array_size(updates))
        json_object_set_new(pa->req, "updates", updates);
    else
        json_decref(updates);
    if (pa->automated)
        json_object_set_new(pa->req, "automated", json_true());
    if (json_array_size(hosts))
        json_object_set_new(pa->req, "hosts", hosts);
    else
        json_decref(hosts);
    return 0;
bad:
    json_decref(updates);
    json_decref(pools);
    json_decref(shut);
    json_decref(hosts);
    json_decref(pa->req);
    pa->req = NULL;
    return ret;
}

/*
 * --file: stream the file to the daemon (POST /api/v1/files?name=BASENAME), which identifies
 * the update inside it; the plan request then names the file by its id.  Returns 0 or 1 (the
 * error printed).
 */
static int send_file(const char *cmd, struct plan_args *pa, struct rest_client *rc)
{
    struct err e = {0};
    json_t *out = NULL, *info = NULL;
    struct stat st;
    const char *base = strrchr(pa->file, '/');
    FILE *f = fopen(pa->file, "rb");
    int ret = 0;

    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "poolpatch %s: --file %s: %s\n", cmd, pa->file,
                f ? "not a regular file" : strerror(errno));
        if (f)
            fclose(f);
        return 1;
    }
    /* over the daemon's limit: say so before sending a byte (the daemon refuses it with 413) */
    if (rest_call(rc, "GET", "/api/v1/files", NULL, &info, NULL, &e) == 0 &&
        jsonx_int(info, "max_upload", 0) > 0 && st.st_size > jsonx_int(info, "max_upload", 0)) {
        err_set(&e, PP_ELIMIT,
                "--file %s: %lld bytes, over the daemon's limit of %lld bytes (setting "
                "max_upload)",
                pa->file, (long long)st.st_size, (long long)jsonx_int(info, "max_upload", 0));
        ret = cli_fail(cmd, &e);
    }
    json_decref(info);
    char *esc = curl_easy_escape(rc->curl, base ? base + 1 : pa->file, 0);
    char *path = xasprintf("/api/v1/files?name=%s", esc ? esc : "update.zip");
    curl_free(esc);
    if (ret == 0 && rest_upload(rc, path, f, (int64_t)st.st_size, &out, &e) != 0)
        ret = cli_fail(cmd, &e);
    free(path);
    fclose(f);
    if (ret == 0) {
        json_t *u = json_object_get(out, "update");
        pa->file_id = xstrdup(jsonx_str(out, "id", ""));
        json_object_set_new(pa->req, "file", json_string(pa->file_id));
        if (!pa->co.json)
            printf("%s holds update %s (%s), version %s.\n", pa->file,
                   jsonx_str(u, "name_label", "?"), jsonx_str(u, "uuid", "?"),
                   jsonx_str(u, "version", "?"));
    }
    json_decref(out);
    return ret;
}

/* Delete the file send_file left with the daemon (a dry run, or a refused rollout). */
static void drop_file(struct plan_args *pa, struct rest_client *rc)
{
    struct err e = {0};

    if (!pa->file_id || !*pa->file_id)
        return;
    char *path = path_with(rc, "files", pa->file_id, "");
    if (rest_call(rc, "DELETE", path, NULL, NULL, NULL, &e) != 0)
        fprintf(stderr, "poolpatch: removing the uploaded file %s: %s\n", pa->file_id, e.msg);
    free(path);
}

int cmd_plan(int argc, char **argv)
{
    struct plan_args pa = {0};
    struct rest_client rc;
    struct err e = {0};
    json_t *out = NULL;
    int ret = parse_plan_args("plan", PLAN_USAGE, argc, argv, &pa);

    if (ret)
        return ret < 0 ? 0 : ret;
    if (cli_connect("plan", &pa.co, &rc)) {
        json_decref(pa.req);
        return 1;
    }
    if (pa.upgrade)
        json_object_set_new(pa.req, "dry_run", json_true());
    if (pa.file && send_file("plan", &pa, &rc) != 0) {
        ret = 1;
    } else if (rest_call(&rc, "POST", pa.upgrade ? "/api/v1/upgrades" : "/api/v1/plans", pa.req,
                         &out, NULL, &e) != 0) {
        ret = cli_fail("plan", &e);
    } else if (pa.co.json) {
        print_json(out);
    } else {
        struct buf b;
        buf_init(&b);
        render_plan(&b, out);
        print_buf(&b);
        buf_cleanup(&b);
    }
    drop_file(&pa, &rc); /* a dry run keeps nothing */
    free(pa.file_id);
    json_decref(out);
    json_decref(pa.req);
    rest_cleanup(&rc);
    return ret;
}

/* The live display of one rollout. */
struct follow {
    struct rest_client *getter; /* a second client: the first one carries the stream */
    const char *id;
    json_t *doc; /* the rollout as last known */
    bool tty, json;
    int drawn_lines;
    int err;
    bool heard; /* the current stream delivered something */
    struct err e;
};

/* How long a watcher waits for a daemon that went away (a restart resumes rollouts). */
#define FOLLOW_RECONNECT_MS 60000u

static int count_lines(const struct buf *b)
{
    int n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

static void follow_draw(struct follow *f)
{
    struct buf b;

    if (!f->tty || f->json)
        return;
    buf_init(&b);
    if (f->drawn_lines)
        buf_printf(&b, "\033[%dA\033[J", f->drawn_lines);
    struct buf body;
    struct winsize ws;
    int rows = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row ? ws.ws_row : 24;
    buf_init(&body);
    render_rollout(&body, f->doc, true);
    if (count_lines(&body) >= rows) { /* cursor-up cannot reach above the screen */
        buf_reset(&body);
        render_rollout_ex(&body, f->doc, true, true);
    }
    f->drawn_lines = count_lines(&body);
    buf_append(&b, body.data, body.len);
    print_buf(&b);
    buf_cleanup(&body);
    buf_cleanup(&b);
}

/* Re-read the rollout; returns 1 (stop) when it reached a final state or failed. */
static int follow_refresh(struct follow *f)
{
    json_t *v = NULL;
    char *path = path_with(f->getter, "rollouts", f->id, NULL);
    int rc = rest_call(f->getter, "GET", path, NULL, &v, NULL, &f->e);

    free(path);
    if (rc != 0) {
        f->err = rc;
        return 1;
    }
    json_decref(f->doc);
    f->doc = v;
    follow_draw(f);
    return render_state_final(jsonx_str(v, "state", NULL)) ? 1 : 0;
}

static int follow_on_comment(void *ud, const char *text)
{
    struct follow *f = ud;
    (void)text;
    f->heard = true;
    return follow_refresh(f);
}

static int follow_on_event(void *ud, const char *event, const char *data)
{
    struct follow *f = ud;
    json_t *ev = NULL;

    f->heard = true;
    if (!str_eq(event, "progress") ||
        jsonx_load(data, strlen(data), 1024 * 1024, 32, "event", &ev, NULL) != 0)
        return 0;
    if (!render_apply_event(f->doc, ev)) {
        json_decref(ev);
        return 0;
    }
    if (f->json) {
        char *t = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", t);
        fflush(stdout);
        free(t);
    } else if (f->tty) {
        follow_draw(f);
    } else {
        struct buf b;
        buf_init(&b);
        render_event_line(&b, ev);
        print_buf(&b);
        buf_cleanup(&b);
    }
    /* A rollout-level event (no pool) may end it: re-read the rollout's state. */
    int stop = 0;
    if (!json_is_string(json_object_get(ev, "pool")))
        stop = follow_refresh(f);
    json_decref(ev);
    return stop;
}

/* Follow rollout id until it stops; exit status 0 when done, 1 otherwise. */
static int follow_rollout(const char *cmd, const struct cli_daemon *co, const char *id)
{
    struct rest_client stream, getter;
    struct follow f = {0};
    struct sse_parser p;
    int ret;

    if (cli_connect(cmd, co, &stream))
        return 1;
    if (cli_connect(cmd, co, &getter)) {
        rest_cleanup(&stream);
        return 1;
    }
    f.getter = &getter;
    f.id = id;
    f.doc = json_pack("{s:s}", "id", id);
    f.tty = isatty(STDOUT_FILENO);
    f.json = co->json;
    /* A daemon that restarts (a crash, an upgrade) resumes its rollouts: reconnect for a while
     * rather than give up at the first broken stream. */
    unsigned delay_ms = 250, waited_ms = 0;
    bool announced = false;
    for (;;) {
        sse_parser_init(&p, follow_on_event, follow_on_comment, &f);
        err_clear(&f.e);
        f.err = 0;
        f.heard = false;
        ret = rest_events(&stream, &p, &f.e);
        sse_parser_cleanup(&p);
        if (ret == 0 && f.err)
            ret = f.err;
        if (ret != PP_ETRANSPORT)
            break;
        if (f.heard) { /* it was up again: a new outage gets the full wait */
            waited_ms = 0;
            delay_ms = 250;
        }
        if (waited_ms >= FOLLOW_RECONNECT_MS)
            break;
        if (!announced || f.heard)
            fprintf(stderr, "poolpatch %s: lost the daemon (%s); reconnecting for up to %u s\n",
                    cmd, f.e.msg, FOLLOW_RECONNECT_MS / 1000);
        announced = true;
        f.drawn_lines = 0; /* the message moved the cursor: draw afresh below it */
        usleep(delay_ms * 1000);
        waited_ms += delay_ms;
        delay_ms = delay_ms * 2 > 4000 ? 4000 : delay_ms * 2;
    }
    if (ret != 0) {
        cli_fail(cmd, &f.e);
        fprintf(stderr,
                "The rollout goes on in the daemon; watch it with 'poolpatch rollout %s "
                "--watch'.\n",
                id);
        ret = 1;
    } else {
        const char *st = jsonx_str(f.doc, "state", "?");
        if (co->json) {
            print_json(f.doc);
        } else if (!f.tty) {
            struct buf b;
            buf_init(&b);
            render_rollout(&b, f.doc, false);
            print_buf(&b);
            buf_cleanup(&b);
        }
        ret = str_eq(st, "done") ? 0 : 1;
    }
    json_decref(f.doc);
    rest_cleanup(&stream);
    rest_cleanup(&getter);
    return ret;
}

static bool confirm(const char *question)
{
    char line[32];
    FILE *tty = fopen("/dev/tty", "r+");

    if (!tty)
        return false;
    fprintf(tty, "%s [y/N] ", question);
    fflush(tty);
    bool yes = fgets(line, sizeof line, tty) && (line[0] == 'y' || line[0] == 'Y');
    fclose(tty);
    return yes;
}

/* apply and upgrade: the dry run, a confirmation, the start, the live progress. */
static int plan_confirm_start(const char *cmd, const char *usage, int argc, char **argv)
{
    struct plan_args pa = {0};
    struct rest_client rc;
    struct err e = {0};
    json_t *plan = NULL, *started = NULL;
    int ret = parse_plan_args(cmd, usage, argc, argv, &pa);
    const char *plans = pa.upgrade ? "/api/v1/upgrades" : "/api/v1/plans";

    if (ret)
        return ret < 0 ? 0 : ret;
    if (!pa.yes && !pa.plan_only && !isatty(STDIN_FILENO)) {
        json_decref(pa.req);
        return cli_usage_error(cmd, "not asking on a non-terminal: pass --yes to start", usage);
    }
    if (cli_connect(cmd, &pa.co, &rc)) {
        json_decref(pa.req);
        return 1;
    }
    if (pa.file && send_file(cmd, &pa, &rc) != 0) {
        ret = 1;
        goto out;
    }
    if (pa.upgrade)
        json_object_set_new(pa.req, "dry_run", json_true());
    if (rest_call(&rc, "POST", plans, pa.req, &plan, NULL, &e) != 0) {
        ret = cli_fail(cmd, &e);
        goto out;
    }
    if (pa.upgrade)
        json_object_del(pa.req, "dry_run");
    if (pa.plan_only) {
        if (pa.co.json)
            print_json(plan);
    }
    if (!pa.co.json) {
        struct buf b;
        buf_init(&b);
        render_plan(&b, plan);
        print_buf(&b);
        buf_cleanup(&b);
    }
    if (pa.plan_only)
        goto out;
    if (!pa.yes && !confirm(pa.upgrade ? "Start this upgrade?" : "Apply this plan?")) {
        printf("Nothing %s.\n", pa.upgrade ? "started" : "applied");
        ret = 1;
        goto out;
    }
    if (rest_call(&rc, "POST", pa.upgrade ? plans : "/api/v1/rollouts", pa.req, &started, NULL,
                  &e) != 0) {
        ret = cli_fail(cmd, &e);
        goto out;
    }
    free(pa.file_id); /* the rollout uses the file now: it stays with the daemon */
    pa.file_id = NULL;
    const char *id = jsonx_str(started, "id", NULL);
    if (!id) {
        err_set(&e, PP_EPARSE, "the daemon's answer has no rollout id");
        ret = cli_fail(cmd, &e);
        goto out;
    }
    if (!pa.co.json)
        printf("\nRollout %s started.\n", id);
    if (pa.follow)
        ret = follow_rollout(cmd, &pa.co, id);
    else if (pa.co.json)
        print_json(started);
out:
    drop_file(&pa, &rc); /* refused or not confirmed: nothing uses it */
    free(pa.file_id);
    json_decref(plan);
    json_decref(started);
    json_decref(pa.req);
    rest_cleanup(&rc);
    return ret;
}

int cmd_apply(int argc, char **argv)
{
    return plan_confirm_start("apply", APPLY_USAGE, argc, argv);
}

int cmd_upgrade(int argc, char **argv)
{
    return plan_confirm_start("upgrade", UPGRADE_USAGE, argc, argv);
}

/* ------------------------------------------------------------------ rollouts */

/* Shared option parsing of rollouts / rollout / retry / cancel. */
static int parse_simple(const char *cmd, const char *usage, int argc, char **argv,
                        struct cli_daemon *co, bool *watch)
{
    static const struct option lo[] = {
        {"watch", no_argument, NULL, 'w'}, CLI_DAEMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (cli_daemon_opt(co, c))
            continue;
        if (c == 'w' && watch) {
            *watch = true;
            continue;
        }
        if (c == 'h') {
            printf("usage: %s\n%s", usage, CLI_DAEMON_HELP);
            return -1;
        }
        return cli_usage_error(cmd, "bad option", usage);
    }
    return 0;
}

int cmd_rollouts(int argc, char **argv)
{
    static const char usage[] = "poolpatch rollouts [--json]";
    struct cli_daemon co = {0};
    struct rest_client rc;
    int ret = parse_simple("rollouts", usage, argc, argv, &co, NULL);

    if (ret)
        return ret < 0 ? 0 : ret;
    if (optind != argc)
        return cli_usage_error("rollouts", "no arguments expected", usage);
    if (cli_connect("rollouts", &co, &rc))
        return 1;
    ret = get_and_show("rollouts", &co, &rc, "/api/v1/rollouts", render_rollouts);
    rest_cleanup(&rc);
    return ret;
}

int cmd_rollout(int argc, char **argv)
{
    static const char usage[] = "poolpatch rollout ID [--watch] [--json]";
    struct cli_daemon co = {0};
    bool watch = false;
    struct rest_client rc;
    struct err e = {0};
    json_t *out = NULL;
    int ret = parse_simple("rollout", usage, argc, argv, &co, &watch);

    if (ret)
        return ret < 0 ? 0 : ret;
    if (optind + 1 != argc)
        return cli_usage_error("rollout", "give one rollout ID", usage);
    if (watch)
        return follow_rollout("rollout", &co, argv[optind]);
    if (cli_connect("rollout", &co, &rc))
        return 1;
    char *path = path_with(&rc, "rollouts", argv[optind], NULL);
    if (rest_call(&rc, "GET", path, NULL, &out, NULL, &e) != 0) {
        ret = cli_fail("rollout", &e);
    } else if (co.json) {
        print_json(out);
    } else {
        struct buf b;
        buf_init(&b);
        render_rollout(&b, out, isatty(STDOUT_FILENO));
        print_buf(&b);
        buf_cleanup(&b);
    }
    free(path);
    json_decref(out);
    rest_cleanup(&rc);
    return ret;
}

static int rollout_action(const char *cmd, const char *verb, int argc, char **argv)
{
    char usage[96];
    struct cli_daemon co = {0};
    bool watch = false;
    struct rest_client rc;
    struct err e = {0};
    int ret;

    snprintf(usage, sizeof usage, "poolpatch %s ID [--watch]", cmd);
    ret = parse_simple(cmd, usage, argc, argv, &co, &watch);
    if (ret)
        return ret < 0 ? 0 : ret;
    if (optind + 1 != argc)
        return cli_usage_error(cmd, "give one rollout ID", usage);
    if (cli_connect(cmd, &co, &rc))
        return 1;
    char *path = path_with(&rc, "rollouts", argv[optind], verb);
    ret = rest_call(&rc, "POST", path, NULL, NULL, NULL, &e);
    free(path);
    rest_cleanup(&rc);
    if (ret != 0)
        return cli_fail(cmd, &e);
    if (!co.json)
        printf("%s rollout %s.\n", str_eq(cmd, "retry") ? "Retrying" : "Cancelling", argv[optind]);
    if (watch)
        return follow_rollout(cmd, &co, argv[optind]);
    if (!co.json)
        printf("Follow it with 'poolpatch rollout %s --watch'.\n", argv[optind]);
    return 0;
}

int cmd_retry(int argc, char **argv)
{
    return rollout_action("retry", "/retry", argc, argv);
}

int cmd_cancel(int argc, char **argv)
{
    return rollout_action("cancel", "/cancel", argc, argv);
}

/* ------------------------------------------------------------------ client ID */

int cmd_client_id(int argc, char **argv)
{
    static const char usage[] = "poolpatch client-id import FILE";
    struct cli_daemon co = {0};
    struct rest_client rc;
    struct err e = {0};
    json_t *body = NULL;
    int ret = parse_simple("client-id", usage, argc, argv, &co, NULL);

    if (ret)
        return ret < 0 ? 0 : ret;
    if (optind + 2 != argc || !str_eq(argv[optind], "import"))
        return cli_usage_error("client-id", "say import FILE", usage);
    /* the file XenCenter users download from the vendor: {"username", "apikey", ...} */
    if (jsonx_load_file(argv[optind + 1], 64 * 1024, 8, &body, &e) != 0)
        return cli_fail("client-id import", &e);
    if (!json_is_object(body)) {
        json_decref(body);
        err_set(&e, PP_EINVAL, "%s: expected a JSON object with username and apikey",
                argv[optind + 1]);
        return cli_fail("client-id import", &e);
    }
    if (cli_connect("client-id", &co, &rc)) {
        json_decref(body);
        return 1;
    }
    if (rest_call(&rc, "POST", "/api/v1/client-id", body, NULL, NULL, &e) != 0)
        ret = cli_fail("client-id import", &e);
    else if (!co.json)
        printf("Client ID imported; updates can now be downloaded from the vendor.\n");
    json_decref(body);
    rest_cleanup(&rc);
    return ret;
}
