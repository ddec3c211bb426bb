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
            "Serve the scenario's simulated pools over XAPI (JSON-RPC at /jsonrpc, XML-RPC at /\n"
            "and /RPC2, uploads at PUT /import_raw_vdi) on one loopback address per host, all\n"
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
            "  --log-level LEVEL      debug|info|warn|error|off (default warn, on stderr)\n"
            "  -h, --help             this help\n");
}

int cmd_sim(int argc, char **argv)
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
        {NULL, 0, NULL, 0},
    };
    const char *scenario = NULL;
    const char *fs_addr = "127.0.0.2";
    int64_t port = 8080;
    struct sim_options so;
    memset(&so, 0, sizeof(so));
    so.time_scale = 60;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        uint64_t u;
        enum log_level lvl;
        switch (ch) {
        case 's':
            scenario = optarg;
            break;
        case 'p':
            if (str_to_int64(optarg, &port) != 0 || port < 0 || port > 65535) {
                fprintf(stderr, "poolpatch sim: --port: \"%s\" is not a port\n", optarg);
                return 2;
            }
            break;
        case 'b':
            so.base_address = optarg;
            break;
        case 'f':
            fs_addr = optarg;
            break;
        case 't':
            if (str_to_double(optarg, &so.time_scale) != 0 || so.time_scale <= 0 ||
                so.time_scale > 1e6) {
                fprintf(stderr, "poolpatch sim: --time-scale: \"%s\" is not a factor > 0\n",
                        optarg);
                return 2;
            }
            break;
        case 'r':
            if (str_to_uint64(optarg, &u) != 0) {
                fprintf(stderr, "poolpatch sim: --seed: \"%s\" is not a number\n", optarg);
                return 2;
            }
            so.seed_set = true;
            so.seed = u;
            break;
        case 'l':
            if (log_level_parse(optarg, &lvl) != 0) {
                fprintf(stderr, "poolpatch sim: --log-level: \"%s\" is unknown\n", optarg);
                return 2;
            }
            log_set_level(lvl);
            break;
        case 'h':
            sim_usage(stdout);
            return 0;
        default:
            sim_usage(stderr);
            return 2;
        }
    }
    if (!scenario || optind < argc) {
        sim_usage(stderr);
        return 2;
    }
    /* Block the stop signals in every thread; this one waits for them with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sim *s = NULL;
    struct err e;
    err_clear(&e);
    if (sim_new_from_file(scenario, &so, &s, &e) != 0) {
        fprintf(stderr, "poolpatch sim: %s\n", e.msg);
        return 1;
    }
    struct sim_server *srv = NULL;
    if (sim_server_start(s, (uint16_t)port, &srv, &e) != 0) {
        fprintf(stderr, "poolpatch sim: %s\n", e.msg);
        sim_free(s);
        return 1;
    }
    for (size_t i = 0; i < sim_pool_count(s); i++) {
        char addr[64];
        sim_pool_master_address(s, i, addr, sizeof(addr));
        printf("pool %s master http://%s:%u/\n", sim_pool_name(s, i), addr,
               (unsigned)sim_server_port(srv));
    }
    /* The emulated vendor file service, when the scenario describes one. */
    struct sim_fileservice *fs = NULL;
    json_t *doc = NULL;
    if (jsonx_load_file(scenario, 16u << 20, 64, &doc, &e) == 0 && json_object_get(doc, "vendor") &&
        sim_fileservice_new(json_object_get(doc, "vendor"), fs_addr, 0, &fs, &e) != 0) {
        fprintf(stderr, "poolpatch sim: %s\n", e.msg);
        json_decref(doc);
        sim_server_stop(srv);
        sim_free(s);
        return 1;
    }
    json_decref(doc);
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
