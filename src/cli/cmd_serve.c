/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve.c - `poolpatch serve`: the daemon.  Reads the settings file and options, makes the
 * state directory, takes the database's lock (one daemon per database), loads or creates the API
 * tokens (0600), starts the engine and the REST / SSE / web server, and runs until SIGINT or
 * SIGTERM; rollouts in progress stay journaled and resume on the next start.  `--rotate-key`
 * re-encrypts the stored secrets with a new key and exits.
 */
#include "cli/cli.h"
#include "cli/crash_report.h"

#include "api/api.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/str.h"
#include "engine/engine.h"
#include "store/store.h"
#include "store/store_secret.h"
#include "xapi/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char SERVE_USAGE[] =
    "usage: poolpatch serve [--config FILE] [--listen ADDR:PORT] [--db PATH] [--token-file PATH]\n"
    "                       [--read-token-file PATH] [--web-root DIR] [--catalog-url URL]\n"
    "                       [--vendor-origin URL] [--server-name NAME] [--check-interval SECONDS]\n"
    "                       [--ca-bundle FILE] [--log-level debug|info|warn|error]\n"
    "                       [--log-format text|json] [--rotate-key]\n"
    "Settings file keys (key = value): listen, db, token_file, read_token_file, web_root,\n"
    "catalog_url, vendor_origins, server_names, check_interval, log_level, log_file, log_format,\n"
    "max_connections, max_per_ip, connection_timeout, max_body, request_timeout,\n"
    "host_return_timeout, webhook_retry_base, ca_bundle, max_upload, update_file_dir,\n"
    "clock_scale, clock_start, default_policy.  Options override the file (clock_scale and\n"
    "clock_start are for tests: docs/windows.md).  See docs/rest-api.md and docs/security.md.\n";

/* Make the folder holding path (0700). */
static int make_parent(const char *path, struct err *e)
{
    char tmp[1024];

    if (str_lcpy(tmp, path, sizeof tmp) >= sizeof tmp)
        return err_set(e, PP_ELIMIT, "%s: path too long", path);
    return api_mkdir_p(dirname(tmp), e);
}

/*
 * One daemon per database: an exclusive fcntl lock on "<db>.lock", held for the process's life
 * (the descriptor stays open; the kernel drops the lock when the process dies, even by SIGKILL).
 * The file holds the holder's pid, which a refused second daemon names.
 */
static int lock_database(const char *db, int *fd_out, struct err *e)
{
    char path[1100], pid[32] = "";
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd;

    snprintf(path, sizeof path, "%s.lock", db);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return err_set(e, PP_EIO, "cannot open the lock file %s: %s", path, strerror(errno));
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK)
            snprintf(pid, sizeof pid, "%ld", (long)who.l_pid);
        close(fd);
        return err_set(e, PP_ESTATE,
                       "another poolpatch daemon (pid %s) already uses the database %s (lock "
                       "%s); stop it first, or give this one its own --db",
                       pid[0] ? pid : "unknown", db, path);
    }
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("serve", "cannot write the pid into %s", path);
    *fd_out = fd;
    return 0;
}

/* `serve`'s options: the settings key each sets (options are applied after the file). */
static const struct serve_opt {
    const char *name;
    int has_arg;
    int c;
    const char *key; /* NULL: not a setting */
} serve_optv[] = {
    {"config", required_argument, 'c', NULL},
    {"listen", required_argument, 'l', "listen"},
    {"db", required_argument, 'd', "db"},
    {"token-file", required_argument, 't', "token_file"},
    {"read-token-file", required_argument, 'r', "read_token_file"},
    {"web-root", required_argument, 'w', "web_root"},
    {"catalog-url", required_argument, 'u', "catalog_url"},
    {"vendor-origin", required_argument, 'V', "vendor_origins"},
    {"server-name", required_argument, 'N', "server_names"},
    {"check-interval", required_argument, 'i', "check_interval"},
    {"ca-bundle", required_argument, 'B', "ca_bundle"},
    {"log-level", required_argument, 'L', "log_level"},
    {"log-format", required_argument, 'J', "log_format"},
    {"rotate-key", no_argument, 'R', NULL},
    {"help", no_argument, 'h', NULL},
};
#define SERVE_NOPTS (sizeof serve_optv / sizeof serve_optv[0])

static const char *option_key(int c)
{
    for (size_t i = 0; i < SERVE_NOPTS; i++) {
        if (serve_optv[i].c == c)
            return serve_optv[i].key;
    }
    return NULL;
}

struct serve_args {
    const char *config;
    bool rotate_key;
};

/* Options over the settings file into s.  Returns -1 to go on, else the exit status. */
static int parse_serve_args(int argc, char **argv, struct serve_args *a, struct api_settings *s,
                            struct err *e)
{
    struct {
        const char *key, *value;
    } over[32];
    size_t n_over = 0;
    struct option lo[SERVE_NOPTS + 1];
    int c;

    memset(lo, 0, sizeof lo);
    for (size_t i = 0; i < SERVE_NOPTS; i++)
        lo[i] = (struct option){serve_optv[i].name, serve_optv[i].has_arg, NULL, serve_optv[i].c};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        const char *key = option_key(c);
        if (c == 'c') {
            a->config = optarg;
        } else if (c == 'R') {
            a->rotate_key = true;
        } else if (c == 'h') {
            fputs(SERVE_USAGE, stdout);
            return 0;
        } else if (!key) {
            fputs(SERVE_USAGE, stderr);
            return 2;
        } else if (n_over < sizeof over / sizeof over[0]) {
            over[n_over].key = key;
            over[n_over++].value = optarg;
        }
    }
    if (optind != argc) {
        fputs(SERVE_USAGE, stderr);
        return 2;
    }
    api_settings_defaults(s);
    if (a->config && api_settings_load(s, a->config, e) != 0)
        return 1;
    for (size_t i = 0; i < n_over; i++) {
        if (api_settings_set(s, over[i].key, over[i].value, e) != 0) {
            err_prefix(e, "--%s: ", over[i].key);
            return 1;
        }
    }
    return -1;
}

/* `serve --rotate-key`: a new secrets key, every stored secret re-encrypted with it. */
static int rotate_key(const char *db, struct err *e)
{
    struct store *st = NULL;
    int rc = store_open(db, NULL, &st, e);

    if (rc == 0)
        rc = store_secret_rotate(st, e);
    store_close(st);
    if (rc == 0)
        fprintf(stderr,
                "poolpatch serve: the secrets of %s are now sealed with a new key (%s.key)\n", db,
                db);
    return rc;
}

/* Logging, state paths, the lock and the tokens: everything before the engine starts. */
static int prepare(const struct api_settings *s, int *lock_fd, char *token, char *read_token,
                   struct err *e)
{
    enum log_level lvl = LOG_LVL_INFO;

    if (s->log_file[0] && log_set_file(s->log_file) != 0)
        return err_set(e, PP_EIO, "cannot open log file %s", s->log_file);
    if (s->log_level[0])
        log_level_parse(s->log_level, &lvl);
    log_set_level(lvl);
    enum log_format fmt = LOG_FMT_TEXT;
    if (s->log_format[0])
        log_format_parse(s->log_format, &fmt);
    log_set_format(fmt);
    if (!s->db[0] || !s->token_file[0])
        return err_set(e, PP_EINVAL,
                       "no state directory: set HOME or POOLPATCH_HOME, or pass --db and "
                       "--token-file");
    if (make_parent(s->db, e) != 0 || lock_database(s->db, lock_fd, e) != 0 ||
        make_parent(s->token_file, e) != 0 ||
        api_token_load(s->token_file, true, token, API_TOKEN_MAX, e) != 0)
        return e->code ? e->code : PP_EIO;
    if (s->read_token_file[0] &&
        (make_parent(s->read_token_file, e) != 0 ||
         api_token_load(s->read_token_file, true, read_token, API_TOKEN_MAX, e) != 0))
        return e->code ? e->code : PP_EIO;
    return 0;
}

static void announce(const char *host, uint16_t port, const struct api_settings *s)
{
    bool v6 = strchr(host, ':') != NULL;

    if (!str_has_prefix(host, "127.") && !str_eq(host, "::1"))
        log_console(LOG_LVL_WARN, "serve",
                    "poolpatch serve: warning: listening on %s, not loopback: the API (token "
                    "required) and web UI are reachable from the network without TLS",
                    host);
    log_console(LOG_LVL_INFO, "serve",
                "poolpatch daemon: web UI and API on http://%s%s%s:%u/ (API token in %s); "
                "Ctrl-C stops it",
                v6 ? "[" : "", host, v6 ? "]" : "", port, s->token_file);
    log_info("serve", "started, database %s", s->db);
}

/* Engine and server up, then wait for SIGINT / SIGTERM. */
static int run(const struct api_settings *s, char *token, char *read_token, struct err *e)
{
    char host[128];
    uint16_t port;
    struct engine *eng = NULL;
    struct api_server *srv = NULL;
    sigset_t sigs;
    int sig, rc;

    if ((rc = api_parse_listen(s->listen, host, sizeof host, &port, e)) != 0)
        return rc;
    /* Signals are taken by sigwait below: block them before any thread starts. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    crash_report_install(2); /* a fatal signal says where, on stderr (crash_report.c) */
    /* the bundle pools added with --verify-ca are verified against (docs/security.md) */
    if (s->ca_bundle[0] && access(s->ca_bundle, R_OK) != 0)
        return err_set(e, PP_EINVAL, "ca_bundle: %s: %s", s->ca_bundle, strerror(errno));
    xapi_tls_set_system_bundle(s->ca_bundle[0] ? s->ca_bundle : NULL);
    struct pp_clock *clk = NULL;
    if (s->clock_scale > 0 || s->clock_start_ms > 0) {
        clk = clock_scaled_new_at(s->clock_scale > 0 ? s->clock_scale : 1.0,
                                  s->clock_start_ms > 0 ? s->clock_start_ms
                                                        : (int64_t)time(NULL) * 1000);
        log_warn("serve",
                 "testing clock: %gx real time from %lld (settings clock_scale, "
                 "clock_start)",
                 s->clock_scale > 0 ? s->clock_scale : 1.0, (long long)clock_now_ms(clk));
    }
    struct engine_config ec = {
        .clock = clk,
        .db_path = s->db,
        .catalog_url = s->catalog_url[0] ? s->catalog_url : NULL,
        .vendor_origins = s->vendor_origins[0] ? s->vendor_origins : NULL,
        .check_interval_s = s->check_interval_s,
        .default_policy = s->default_policy[0] ? s->default_policy : NULL,
        .request_timeout_ms = s->request_timeout_ms,
        .host_return_timeout_s = s->host_return_timeout_s,
        .webhook_retry_base_s = s->webhook_retry_base_s,
        .file_max_bytes = s->max_upload,
        .file_dir = s->update_file_dir[0] ? s->update_file_dir : NULL,
    };
    struct api_config ac = {
        .bind_addr = host,
        .port = port,
        .token = token,
        .read_token = read_token[0] ? read_token : NULL,
        .server_names = s->server_names,
        .db_path = s->db,
        .web_root = s->web_root[0] ? s->web_root : NULL,
        .max_connections = s->max_connections,
        .max_per_ip = s->max_per_ip,
        .conn_timeout_s = s->conn_timeout_s,
        .max_body = s->max_body,
    };
    if ((rc = engine_new(&ec, &eng, e)) == 0 && (rc = engine_start(eng, e)) == 0 &&
        (rc = api_server_new(&ac, eng, &srv, e)) == 0) {
        memset(token, 0, API_TOKEN_MAX);
        memset(read_token, 0, API_TOKEN_MAX);
        announce(host, api_server_port(srv), s);
        while (sigwait(&sigs, &sig) != 0) {
        }
        log_info("serve", "signal %d: stopping (rollouts stay journaled and resume on restart)",
                 sig);
    }
    api_server_free(srv);
    engine_free(eng);
    clock_free(clk);
    return rc;
}

/*
 * One malloc arena for the whole daemon.  glibc gives threads other than the first arenas of
 * their own (up to 8 a core), each keeping what was freed in it; with the API's and the engine's
 * worker threads a 10-pool rollout over a 100-pool fleet peaked at 331 MiB, 140 MiB over the
 * connected daemon, most of it freed memory held in those arenas (docs/performance.md, "Memory").
 * The engine thread does nearly all the allocating, so one arena costs little contention.  A
 * MALLOC_ARENA_MAX in the environment wins.
 */
static void limit_malloc_arenas(void)
{
#ifdef __GLIBC__
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 1);
#endif
}

int cmd_serve(int argc, char **argv)
{
    struct serve_args a = {0};
    struct api_settings s;
    struct err e = {0};
    char token[API_TOKEN_MAX] = "", read_token[API_TOKEN_MAX] = "";
    int lock_fd = -1, ret;

    limit_malloc_arenas();
    ret = parse_serve_args(argc, argv, &a, &s, &e);
    if (ret >= 0 && ret != 1)
        return ret;
    if (ret == -1 && prepare(&s, &lock_fd, token, read_token, &e) == 0)
        ret = a.rotate_key ? (rotate_key(s.db, &e) == 0 ? 0 : 1)
                           : (run(&s, token, read_token, &e) == 0 ? 0 : 1);
    else
        ret = 1;
    if (ret != 0)
        log_console(LOG_LVL_ERROR, "serve", "poolpatch serve: %s",
                    e.msg[0] ? e.msg : err_code_name(e.code));
    memset(token, 0, sizeof token);
    memset(read_token, 0, sizeof read_token);
    if (lock_fd >= 0)
        close(lock_fd);
    return ret;
}
