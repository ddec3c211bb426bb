/* SPDX-License-Identifier: MIT */
/*
 * cmd_sim_twin.c - `poolpatch sim --from-pool URL --user USER --password-file FILE`: read a real
 * pool through the XAPI client and print a scenario that reproduces it (sim/twin.h), so that a
 * rollout can be rehearsed on `poolpatch sim --scenario twin.json` first.  The password is
 * only used to log in; it never reaches the output.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "sim/twin.h"
#include "xapi/client.h"
#include "xapi/value.h"

struct twin_args {
    struct cli_xapi x;
    const char *known_hosts;
};

static int twin_usage(FILE *out, int rc)
{
    fprintf(out, "usage: poolpatch sim --from-pool URL --user USER --password-file FILE\n"
                 "                     [--ca-file FILE | --known-hosts FILE] > twin.json\n"
                 "\n"
                 "Read the pool at URL (its master) and print a scenario with the same hosts,\n"
                 "memory, VMs and their placement, SRs, installed updates, versions and HA, for\n"
                 "`poolpatch sim --scenario twin.json`.  Credentials are not copied: the twin\n"
                 "logs in as root / xenroot.\n");
    return rc;
}

static int twin_parse(int argc, char **argv, struct twin_args *a)
{
    static const struct option opts[] = {
        CLI_XAPI_LONGOPTS("from-pool"),
        {"known-hosts", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    a->x.user = "root";
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_xapi_opt(&a->x, ch))
            continue;
        switch (ch) {
        case 'k':
            a->known_hosts = optarg;
            break;
        case 'h':
            return twin_usage(stdout, -1);
        default:
            return twin_usage(stderr, 2);
        }
    }
    if (!a->x.url || !a->x.pwfile || optind < argc)
        return twin_usage(stderr, 2);
    return 0;
}

/* Read every class the twin needs into recs (new values); 0 or PP_E* with e. */
static int read_pool(struct xapi_client *c, struct xapi_value *recs[SIM_TWIN_NCLASSES],
                     struct err *e)
{
    for (int i = 0; i < SIM_TWIN_NCLASSES; i++) {
        char method[64];
        snprintf(method, sizeof(method), "%s.get_all_records", sim_twin_classes[i]);
        int rc = xapi_call_sync(c, method, xapi_value_new_array(), NULL, &recs[i], e);
        if (rc != 0 && i == SIM_TWIN_POOL_UPDATE) {
            recs[i] = NULL; /* XenServer 8 pools have no pool_update records to copy */
            continue;
        }
        if (rc != 0) {
            err_prefix(e, "%s: ", method);
            return rc;
        }
    }
    return 0;
}

int cmd_sim_twin(int argc, char **argv)
{
    struct twin_args a;
    int rc = twin_parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    struct err e;
    err_clear(&e);
    char password[1024] = "";
    struct xapi_value *recs[SIM_TWIN_NCLASSES] = {0};
    struct pp_clock *clk = clock_real_new();
    struct xapi_loop *loop = clk ? xapi_loop_new(clk, &e) : NULL;
    struct xapi_client *c = NULL;
    json_t *doc = NULL;
    rc = loop ? cli_first_line("--password-file", a.x.pwfile, password, sizeof password, &e)
              : PP_EIO;
    if (rc == 0) {
        struct xapi_client_opts o;
        xapi_client_opts_init(&o);
        o.addresses = &a.x.url;
        o.n_addresses = 1;
        o.user = a.x.user;
        o.password = password;
        o.originator = "poolpatch-twin";
        o.ca_file = a.x.ca_file;
        o.known_hosts = a.known_hosts;
        o.reconnect_budget_ms = -1;
        c = xapi_client_new(loop, &o, &e);
        rc = c ? read_pool(c, recs, &e) : PP_EINVAL;
    }
    if (rc == 0)
        rc = sim_twin_build((const struct xapi_value *const *)recs, &doc, &e);
    if (rc == 0) {
        struct buf out;
        buf_init(&out);
        jsonx_dump(&out, doc, JSON_INDENT(2));
        printf("%s\n", buf_str(&out));
        buf_cleanup(&out);
    } else {
        fprintf(stderr, "poolpatch sim --from-pool %s: %s\n", a.x.url, e.msg);
    }
    json_decref(doc);
    for (int i = 0; i < SIM_TWIN_NCLASSES; i++)
        xapi_value_free(recs[i]);
    xapi_client_free(c);
    xapi_loop_free(loop);
    clock_free(clk);
    memset(password, 0, sizeof password);
    return rc == 0 ? 0 : 1;
}
