/* SPDX-License-Identifier: MIT */
/*
 * cmd_host.c - the upgrade's operator commands (docs/upgrade.md): `poolpatch host forget POOL
 * HOST` (xe host-forget of a supporter left out of an upgrade, after a confirmation: the first
 * step of the seed's recovery) and `poolpatch upgrade-host ROLLOUT HOST reboot|skip` (manual
 * mode: reboot the host again to boot the media, or leave it out).  Talk to `poolpatch serve`.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/rest.h"

static const char HOST_USAGE[] = "poolpatch host forget POOL HOST [--yes] [--server URL] "
                                 "[--token-file FILE]";
static const char UPHOST_USAGE[] = "poolpatch upgrade-host ROLLOUT HOST reboot|skip [--server URL] "
                                   "[--token-file FILE]";
static const char OP_HELP[] =
    "  --yes               (host forget) do not ask for a confirmation\n"
    "  --server URL        the daemon (default $POOLPATCH_SERVER or " REST_DEFAULT_SERVER ")\n"
    "  --token-file FILE   the API token (default: the daemon's state directory/api-token)\n";

struct op_args {
    const char *server, *token_file;
    bool yes;
    int argi; /* first positional argument */
};

/* Options; 0, 1 after --help, or 2 after a usage error. */
static int op_parse(const char *cmd, const char *usage, int argc, char **argv, struct op_args *a)
{
    static const struct option lo[] = {{"yes", no_argument, NULL, 'y'},
                                       {"server", required_argument, NULL, 'S'},
                                       {"token-file", required_argument, NULL, 'T'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 'y')
            a->yes = true;
        else if (c == 'S')
            a->server = optarg;
        else if (c == 'T')
            a->token_file = optarg;
        else if (c == 'h')
            return printf("usage: %s\n%s", usage, OP_HELP), 1;
        else
            return fprintf(stderr, "poolpatch %s: bad option\nusage: %s\n", cmd, usage), 2;
    }
    a->argi = optind;
    return 0;
}

/* POST path with body; 0 or 1 (the error printed). */
static int op_post(const char *cmd, const struct op_args *a, const char *path, json_t *body)
{
    struct rest_client rc;
    struct err e = {0};
    int ret = 0;
    if (rest_init(&rc, a->server, a->token_file, &e) != 0 ||
        rest_call(&rc, "POST", path, body, NULL, NULL, &e) != 0) {
        fprintf(stderr, "poolpatch %s: %s\n", cmd, e.msg[0] ? e.msg : err_code_name(e.code));
        ret = 1;
    }
    rest_cleanup(&rc);
    return ret;
}

static char *escaped_path(const char *fmt, const char *name)
{
    char *esc = curl_easy_escape(NULL, name, 0);
    char *p = xasprintf(fmt, esc ? esc : "");
    curl_free(esc);
    return p;
}

static bool confirmed(const char *pool, const char *host)
{
    char line[32];
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return false;
    fprintf(tty,
            "Forget host %s of pool %s (xe host-forget: it leaves the pool's database)? [y/N] ",
            host, pool);
    fflush(tty);
    bool yes = fgets(line, sizeof line, tty) && (line[0] == 'y' || line[0] == 'Y');
    fclose(tty);
    return yes;
}

int cmd_host(int argc, char **argv)
{
    struct op_args a = {0};
    int r = op_parse("host", HOST_USAGE, argc, argv, &a);
    if (r)
        return r == 1 ? 0 : r;
    if (argc - a.argi != 3 || !str_eq(argv[a.argi], "forget"))
        return fprintf(stderr, "poolpatch host: expected forget POOL HOST\nusage: %s\n",
                       HOST_USAGE),
               2;
    const char *pool = argv[a.argi + 1], *host = argv[a.argi + 2];
    if (!a.yes && (!isatty(STDIN_FILENO) || !confirmed(pool, host))) {
        fprintf(stderr, "poolpatch host: nothing forgotten (confirm, or pass --yes)\n");
        return 1;
    }
    char *path = escaped_path("/api/v1/pools/%s/forget-host", pool);
    json_t *body = json_pack("{s:s}", "host", host);
    r = op_post("host", &a, path, body);
    if (r == 0)
        printf("Host %s forgotten. Next: reinstall it with the new version, then join it to "
               "pool %s as a new host (xe pool-join).\n",
               host, pool);
    json_decref(body);
    free(path);
    return r;
}

int cmd_upgrade_host(int argc, char **argv)
{
    struct op_args a = {0};
    int r = op_parse("upgrade-host", UPHOST_USAGE, argc, argv, &a);
    if (r)
        return r == 1 ? 0 : r;
    if (argc - a.argi != 3 ||
        (!str_eq(argv[a.argi + 2], "reboot") && !str_eq(argv[a.argi + 2], "skip")))
        return fprintf(stderr,
                       "poolpatch upgrade-host: expected ROLLOUT HOST reboot|skip\n"
                       "usage: %s\n",
                       UPHOST_USAGE),
               2;
    char *path = escaped_path("/api/v1/rollouts/%s/upgrade-host", argv[a.argi]);
    json_t *body = json_pack("{s:s, s:s}", "host", argv[a.argi + 1], "action", argv[a.argi + 2]);
    r = op_post("upgrade-host", &a, path, body);
    if (r == 0)
        printf("%s: %s asked.\n", argv[a.argi + 1], argv[a.argi + 2]);
    json_decref(body);
    free(path);
    return r;
}
