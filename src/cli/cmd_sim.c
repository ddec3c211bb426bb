/* SPDX-License-Identifier: MIT */
/*
 * cmd_sim.c - `poolpatch sim`: serve simulated pools over HTTP until SIGINT / SIGTERM.  Prints
 * one line `pool <name-label> master <URL>` per pool, then `ready`, once every address accepts
 * connections (scripts wait for `ready`).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/str.h"
#include "cli/cli.h"
#include "sim/fileservice.h"
#include "sim/sim.h"
#include "sim/sim_http.h"

static void sim_usage(FILE *out)
{
    fprintf(out,
            "usage: poolpatch sim --scenario FILE [options]\n"
            "\n"
            "Serve the scenario's simulated pools over XAPI (JSON-RPC at /jsonrpc, XML-RPC on\n"
            "any other POST path, uploads at PUT /import_raw_vdi) on one loopback address per "
            "host, all\n"
            "on the same port, until interrupted.  Prints `pool NAME master URL` per pool, then\n"
            "`ready`.  Simulator-only endpoints: GET /sim/state, POST /sim/fault (see\n"
            "docs/simulator.md).\n"
            "\n"
            "options:\n"
            "  --scenario FILE        scenario JSON (see scenarios/*.json, docs/simulator.md)\n"
            "  --port PORT            port every host listens on (default 8080; 0 = pick a free\n"
            "                         port)\n"
            "  --base-address ADDR    first host's address, the others follow (default: the\n"
            "                         scenario's base_address, else 127.0.0.10)\n"
            "  --time-scale X         simulated seconds per real second (default 60)\n"
            "  --seed N               override the scenario's seed (refs, uuids, choices)\n"
            "  --fileservice-address ADDR\n"
            "                         where the emulated vendor file service listens when the\n"
            "                         scenario has a \"vendor\" section (default 127.0.0.2, any\n"
            "                         free port); printed as `fileservice URL` before `ready`\n"
            "  --tls                  serve HTTPS: each host its own self-signed certificate\n"
            "                         (made at start; GET /sim/tls lists them, POST /sim/tls\n"
            "                         replaces one)\n"
            "  --tls-dir DIR          with --tls: use DIR/ADDRESS.pem and DIR/ADDRESS.key when\n"
            "                         present, write the generated ones there\n"
            "  --threads N            HTTP worker threads (default 4)\n"
            "  --from-pool URL ...    print a scenario twin of a real pool instead (see\n"
            "                         `poolpatch sim --from-pool URL --help`)\n"
            "  --log-level LEVEL      debug|info|warn|error|off (default warn, on stderr)\n"
            "  -h, --help             this help\n");
}

/* Report a bad option value; returns the usage exit status. */
static int sim_bad_arg(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "poolpatch sim: %s: \"%s\" %s\n", opt, value, why);
    return 2;
}

struct sim_args {
    const char *scenario;
    const char *fs_addr;
    int64_t port;
    struct sim_options so;
    struct sim_server_opts srv;
};

/* One option into a; returns 0, or the exit status (usage printed, or help asked). */
static int sim_option(int ch, struct sim_args *a)
{
    uint64_t u;
    enum log_level lvl;
    switch (ch) {
    case 's':
        a->scenario = optarg;
        return 0;
    case 'p':
        if (str_to_int64(optarg, &a->port) != 0 || a->port < 0 || a->port > 65535)
            return sim_bad_arg("--port", optarg, "is not a port");
        return 0;
    case 'b':
        a->so.base_address = optarg;
        return 0;
    case 'f':
        a->fs_addr = optarg;
        return 0;
    case 't':
        if (str_to_double(optarg, &a->so.time_scale) != 0 || a->so.time_scale <= 0 ||
            a->so.time_scale > 1e6)
            return sim_bad_arg("--time-scale", optarg, "is not a factor > 0");
        return 0;
    case 'r':
        if (str_to_uint64(optarg, &u) != 0)
            return sim_bad_arg("--seed", optarg, "is not a number");
        a->so.seed_set = true;
        a->so.seed = u;
        return 0;
    case 'T':
        a->srv.tls = true;
        return 0;
    case 'D':
        a->srv.tls_dir = optarg;
        return 0;
    case 'n':
        if (str_to_uint64(optarg, &u) != 0 || u < 1 || u > 256)
            return sim_bad_arg("--threads", optarg, "is not a number from 1 to 256");
        a->srv.threads = (unsigned)u;
        return 0;
    case 'l':
        if (log_level_parse(optarg, &lvl) != 0)
            return sim_bad_arg("--log-level", optarg, "is unknown");
        log_set_level(lvl);
        return 0;
    case 'h':
        sim_usage(stdout);
        return -1;
    default:
        sim_usage(stderr);
        return 2;
    }
}

static int sim_parse(int argc, char **argv, struct sim_args *a)
{
    static const struct option opts[] = {
        {"scenario", required_argument, NULL, 's'},
        {"port", required_argument, NULL, 'p'},
        {"base-address", required_argument, NULL, 'b'},
        {"time-scale", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"fileservice-address", required_argument, NULL, 'f'},
        {"tls", no_argument, NULL, 'T'},
        {"tls-dir", required_argument, NULL, 'D'},
        {"threads", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    a->fs_addr = "127.0.0.2";
    a->port = 8080;
    a->so.time_scale = 60;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = sim_option(ch, a);
        if (rc != 0)
            return rc;
    }
    if (!a->scenario || optind < argc) {
        sim_usage(stderr);
        return 2;
    }
    if (a->srv.tls_dir && !a->srv.tls) {
        fprintf(stderr, "poolpatch sim: --tls-dir needs --tls\n");
        return 2;
    }
    a->srv.port = (uint16_t)a->port;
    return 0;
}

/*
 * The emulated vendor file service, when the scenario describes one or has releases (*out NULL
 * otherwise): it also serves the install media of the releases without a url, whose URL the
 * simulator then derives from the service's (docs/simulator.md "Upgrades").
 */
static int start_fileservice(const struct sim_args *a, struct sim *s, struct sim_fileservice **out,
                             struct err *e)
{
    json_t *doc = NULL;
    int rc = 0;
    *out = NULL;
    if (jsonx_load_file(a->scenario, 16u << 20, 64, &doc, e) != 0) {
        err_clear(e); /* already loaded once by the simulator */
        return 0;
    }
    json_t *rel = json_object_get(doc, "releases");
    if (json_object_get(doc, "vendor") || json_array_size(rel) > 0) {
        json_t *vendor = json_object_get(doc, "vendor");
        vendor = vendor ? json_deep_copy(vendor) : json_object();
        json_t *inst = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(rel, i, r)
        {
            if (!json_object_get(r, "url") && json_object_get(r, "product_version"))
                json_array_append(inst, json_object_get(r, "product_version"));
        }
        if (json_array_size(inst) > 0 && json_is_object(vendor))
            json_object_set(vendor, "installers", inst);
        json_decref(inst);
        rc = sim_fileservice_new(vendor, a->fs_addr, 0, out, e);
        json_decref(vendor);
        if (rc == 0)
            sim_set_media_url(s, sim_fileservice_url(*out));
    }
    json_decref(doc);
    return rc;
}

int cmd_sim(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--from-pool") == 0 || strncmp(argv[i], "--from-pool=", 12) == 0)
            return cmd_sim_twin(argc, argv);
    }
    struct sim_args a;
    int rc = sim_parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    /* Block the stop signals in every thread; this one waits for them with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sim *s = NULL;
    struct sim_server *srv = NULL;
    struct sim_fileservice *fs = NULL;
    struct err e;
    err_clear(&e);
    if (sim_new_from_file(a.scenario, &a.so, &s, &e) != 0 ||
        sim_server_start_opts(s, &a.srv, &srv, &e) != 0 || start_fileservice(&a, s, &fs, &e) != 0) {
        fprintf(stderr, "poolpatch sim: %s\n", e.msg);
        sim_server_stop(srv);
        sim_free(s);
        return 1;
    }
    for (size_t i = 0; i < sim_pool_count(s); i++) {
        char addr[64];
        sim_pool_master_address(s, i, addr, sizeof(addr));
        printf("pool %s master %s://%s:%u/\n", sim_pool_name(s, i), sim_server_scheme(srv), addr,
               (unsigned)sim_server_port(srv));
    }
    if (fs)
        printf("fileservice %s\n", sim_fileservice_url(fs));
    printf("ready\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    sim_fileservice_free(fs);
    sim_server_stop(srv);
    sim_free(s);
    return 0;
}
