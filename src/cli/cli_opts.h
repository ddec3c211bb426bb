/* SPDX-License-Identifier: MIT */
/*
 * cli_opts.h - the options and helpers several subcommands share: how a command reaches the
 * daemon (--server, --token-file, --json), how it reaches a pool's XAPI (--url, --user,
 * --password-file, --ca-file), secrets read from the first line of a file, and the two ways a
 * command ends badly (an error, a usage error).  Single-threaded, like every command.
 */
#ifndef PP_CLI_CLI_OPTS_H
#define PP_CLI_CLI_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "cli/rest.h"

/* The daemon-facing options, filled by cli_daemon_opt. */
struct cli_daemon {
    const char *server;
    const char *token_file;
    bool json;
};

/* struct option entries for struct cli_daemon (short codes 'S', 'T', 'j') and --help ('h'). */
#define CLI_DAEMON_LONGOPTS                                                                        \
    {"server", required_argument, NULL, 'S'}, {"token-file", required_argument, NULL, 'T'},        \
        {"json", no_argument, NULL, 'j'},                                                          \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* Their help lines, for the end of a usage text. */
#define CLI_DAEMON_HELP                                                                            \
    "  --server URL        the daemon (default $POOLPATCH_SERVER or " REST_DEFAULT_SERVER ")\n"    \
    "  --token-file FILE   the API token (default: the daemon's state directory/api-token)\n"      \
    "  --json              print the daemon's JSON instead of tables\n"

/* Take option c (from getopt_long with CLI_DAEMON_LONGOPTS) into d; true when it was one. */
bool cli_daemon_opt(struct cli_daemon *d, int c);

/* rest_init for d; 0, or 1 after printing "poolpatch CMD: why" to stderr. */
int cli_connect(const char *cmd, const struct cli_daemon *d, struct rest_client *rc);

/* A pool's XAPI connection options, filled by cli_xapi_opt. */
struct cli_xapi {
    const char *url;
    const char *user;
    const char *pwfile;
    const char *ca_file;
};

/* struct option entries for struct cli_xapi: URL_OPT (e.g. "url") 'u', --user 'U',
 * --password-file 'p', --ca-file 'c'. */
#define CLI_XAPI_LONGOPTS(url_opt)                                                                 \
    {url_opt, required_argument, NULL, 'u'}, {"user", required_argument, NULL, 'U'},               \
        {"password-file", required_argument, NULL, 'p'},                                           \
    {                                                                                              \
        "ca-file", required_argument, NULL, 'c'                                                    \
    }

/* Take option c (from getopt_long with CLI_XAPI_LONGOPTS) into x; true when it was one. */
bool cli_xapi_opt(struct cli_xapi *x, int c);

/*
 * The first line of path ('-' = standard input), without its line end, into buf (sz bytes; a
 * longer line is cut).  0, or PP_EIO / PP_EINVAL (empty line) with e naming opt (the option
 * that gave the path, e.g. "--password-file") and the path.  The caller clears buf after use.
 */
int cli_first_line(const char *opt, const char *path, char *buf, size_t sz, struct err *e);

/*
 * A switch given as on / off (also yes / no, true / false, 1 / 0; any case) into *on.  0, or
 * PP_EINVAL with e naming opt (e.g. "--live-patching") and the value.  Pure.
 */
int cli_on_off(const char *opt, const char *s, bool *on, struct err *e);

/* Print "poolpatch CMD: why" to stderr; returns 1 (the failure exit status). */
int cli_fail(const char *cmd, const struct err *e);

/* Print "poolpatch CMD: msg" and "usage: USAGE" to stderr; returns 2 (the usage exit status). */
int cli_usage_error(const char *cmd, const char *msg, const char *usage);

#endif
