/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve.c - `poolpatch serve`: the daemon.  Reads the settings file and options, makes the
 * state directory, loads or creates the API token (0600), starts the engine and the REST / SSE /
 * web server, and runs until SIGINT or SIGTERM; rollouts in progress stay journaled and resume
 * on the next start.
 */
#include "cli/cli.h"

#include "api/api.h"
#include "base/err.h"
#include "base/log.h"
#include "base/str.h"
#include "engine/engine.h"

#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char SERVE_USAGE[] =
    "usage: poolpatch serve [--config FILE] [--listen ADDR:PORT] [--db PATH] [--token-file PATH]\n"
    "                       [--web-root DIR] [--catalog-url URL] [--check-interval SECONDS]\n"
    "                       [--log-level debug|info|warn|error]\n"
    "Settings file keys (key = value): listen, db, token_file, web_root, catalog_url,\n"
    "check_interval, log_level, log_file, max_connections, connection_timeout, max_body,\n"
    "request_timeout, host_return_timeout.  Options override the file.  See docs/rest-api.md.\n";

/* Make the folder holding path (0700). */
static int make_parent(const char *path, struct err *e)
{
    char tmp[1024];

    if (str_lcpy(tmp, path, sizeof tmp) >= sizeof tmp)
        return err_set(e, PP_ELIMIT, "%s: path too long", path);
    return api_mkdir_p(dirname(tmp), e);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option lo[] = {{"config", required_argument, NULL, 'c'},
                                       {"listen", required_argument, NULL, 'l'},
                                       {"db", required_argument, NULL, 'd'},
                                       {"token-file", required_argument, NULL, 't'},
                                       {"web-root", required_argument, NULL, 'w'},
                                       {"catalog-url", required_argument, NULL, 'u'},
                                       {"check-interval", required_argument, NULL, 'i'},
                                       {"log-level", required_argument, NULL, 'L'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    /* options are applied after the file: remember them as key/value pairs */
    struct {
        const char *key, *value;
    } over[16];
    size_t n_over = 0;
    const char *config = NULL;
    struct api_settings s;
    struct err e = {0};
    char host[128], token[API_TOKEN_MAX];
    uint16_t port;
    struct engine *eng = NULL;
    struct api_server *srv = NULL;
    sigset_t sigs;
    int c, sig, ret = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'l':
            key = "listen";
            break;
        case 'd':
            key = "db";
            break;
        case 't':
            key = "token_file";
            break;
        case 'w':
            key = "web_root";
            break;
        case 'u':
            key = "catalog_url";
            break;
        case 'i':
            key = "check_interval";
            break;
        case 'L':
            key = "log_level";
            break;
        case 'h':
            fputs(SERVE_USAGE, stdout);
            return 0;
        default:
            fputs(SERVE_USAGE, stderr);
            return 2;
        }
        if (key && n_over < sizeof over / sizeof over[0]) {
            over[n_over].key = key;
            over[n_over].value = optarg;
            n_over++;
        }
    }
    if (optind != argc) {
        fputs(SERVE_USAGE, stderr);
        return 2;
    }
    api_settings_defaults(&s);
    if (config && api_settings_load(&s, config, &e) != 0)
        goto fail;
    for (size_t i = 0; i < n_over; i++) {
        if (api_settings_set(&s, over[i].key, over[i].value, &e) != 0) {
            err_prefix(&e, "--%s: ", over[i].key);
            goto fail;
        }
    }
    if (s.log_file[0] && log_set_file(s.log_file) != 0) {
        err_set(&e, PP_EIO, "cannot open log file %s", s.log_file);
        goto fail;
    }
    enum log_level lvl = LOG_LVL_INFO;
    if (s.log_level[0])
        log_level_parse(s.log_level, &lvl);
    log_set_level(lvl);
    if (!s.db[0] || !s.token_file[0]) {
        err_set(&e, PP_EINVAL,
                "no state directory: set HOME or POOLPATCH_HOME, or pass --db and "
                "--token-file");
        goto fail;
    }
    if (api_parse_listen(s.listen, host, sizeof host, &port, &e) != 0 ||
        make_parent(s.db, &e) != 0 || make_parent(s.token_file, &e) != 0 ||
        api_token_load(s.token_file, true, token, sizeof token, &e) != 0)
        goto fail;

    /* Signals are taken by sigwait below: block them before any thread starts. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct engine_config ec = {
        .db_path = s.db,
        .catalog_url = s.catalog_url[0] ? s.catalog_url : NULL,
        .check_interval_s = s.check_interval_s,
        .request_timeout_ms = s.request_timeout_ms,
        .host_return_timeout_s = s.host_return_timeout_s,
    };
    if (engine_new(&ec, &eng, &e) != 0 || engine_start(eng, &e) != 0)
        goto fail;
    struct api_config ac = {
        .bind_addr = host,
        .port = port,
        .token = token,
        .web_root = s.web_root[0] ? s.web_root : NULL,
        .max_connections = s.max_connections,
        .conn_timeout_s = s.conn_timeout_s,
        .max_body = s.max_body,
    };
    if (api_server_new(&ac, eng, &srv, &e) != 0)
        goto fail;
    memset(token, 0, sizeof token);
    if (!str_has_prefix(host, "127.") && !str_eq(host, "::1"))
        fprintf(stderr,
                "poolpatch serve: warning: listening on %s, not loopback: the API (token "
                "required) and web UI are reachable from the network without TLS\n",
                host);
    fprintf(stderr,
            "poolpatch daemon: web UI and API on http://%s%s%s:%u/ (API token in %s); "
            "Ctrl-C stops it\n",
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", api_server_port(srv),
            s.token_file);
    log_info("serve", "started, database %s", s.db);
    while (sigwait(&sigs, &sig) != 0) {
    }
    log_info("serve", "signal %d: stopping (rollouts stay journaled and resume on restart)", sig);
    ret = 0;
    goto out;
fail:
    fprintf(stderr, "poolpatch serve: %s\n", e.msg[0] ? e.msg : err_code_name(e.code));
out:
    memset(token, 0, sizeof token);
    api_server_free(srv);
    engine_free(eng);
    return ret;
}
