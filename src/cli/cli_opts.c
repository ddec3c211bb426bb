/* SPDX-License-Identifier: MIT */
/*
 * cli_opts.c - the options and helpers several subcommands share (cli_opts.h).
 */
#include "cli/cli_opts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool cli_daemon_opt(struct cli_daemon *d, int c)
{
    switch (c) {
    case 'S':
        d->server = optarg;
        return true;
    case 'T':
        d->token_file = optarg;
        return true;
    case 'j':
        d->json = true;
        return true;
    default:
        return false;
    }
}

int cli_connect(const char *cmd, const struct cli_daemon *d, struct rest_client *rc)
{
    struct err e = {0};
    if (rest_init(rc, d->server, d->token_file, &e) != 0)
        return cli_fail(cmd, &e);
    return 0;
}

bool cli_xapi_opt(struct cli_xapi *x, int c)
{
    switch (c) {
    case 'u':
        x->url = optarg;
        return true;
    case 'U':
        x->user = optarg;
        return true;
    case 'p':
        x->pwfile = optarg;
        return true;
    case 'c':
        x->ca_file = optarg;
        return true;
    default:
        return false;
    }
}

int cli_first_line(const char *opt, const char *path, char *buf, size_t sz, struct err *e)
{
    bool std_in = strcmp(path, "-") == 0;
    FILE *f = std_in ? stdin : fopen(path, "r");
    if (!f)
        return err_set(e, PP_EIO, "%s %s: %s", opt, path, strerror(errno));
    if (!fgets(buf, (int)sz, f))
        buf[0] = '\0';
    if (!std_in)
        fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0])
        return err_set(e, PP_EINVAL, "%s %s: the first line is empty", opt, path);
    return 0;
}

int cli_fail(const char *cmd, const struct err *e)
{
    fprintf(stderr, "poolpatch %s: %s\n", cmd, e->msg[0] ? e->msg : err_code_name(e->code));
    return 1;
}

int cli_usage_error(const char *cmd, const char *msg, const char *usage)
{
    fprintf(stderr, "poolpatch %s: %s\nusage: %s\n", cmd, msg, usage);
    return 2;
}

/* on / off (see cli_opts.h).  Pure. */
int cli_on_off(const char *opt, const char *s, bool *on, struct err *e)
{
    static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no",
                                                                                "false", "0"};

    for (size_t i = 0; s && i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *on = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return err_set(e, PP_EINVAL, "%s: '%.60s' is neither on nor off", opt, s ? s : "");
}
