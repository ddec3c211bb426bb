/* SPDX-License-Identifier: MIT */
/* cli.c - subcommand table and dispatch, git-style (`poolpatch <command> [args]`). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

const struct cli_command cli_commands[] = {
    {"version", "print the version", cmd_version},
#ifdef PP_HAVE_SERVE /* set by src/cli/meson.build once the engine implements engine.h */
    {"serve", "run the daemon: REST API, web UI, update checks, rollouts", cmd_serve},
#endif
    {"pool", "register, list and remove pools (daemon)", cmd_pool},
    {"updates", "updates By Update / By Server, check, dismiss, export (daemon)", cmd_updates},
    {"plan", "dry run: prechecks, per-host actions, migrations, window (daemon)", cmd_plan},
    {"apply", "plan, confirm and roll out updates with live progress (daemon)", cmd_apply},
    {"upgrade", "rolling pool upgrade to a new release, with a dry run (daemon)", cmd_upgrade},
    {"upgrade-host", "manual upgrade: reboot a host again or skip it (daemon)", cmd_upgrade_host},
    {"host", "host forget POOL HOST: forget a supporter left out of an upgrade (daemon)", cmd_host},
    {"rollouts", "list rollouts (daemon)", cmd_rollouts},
    {"rollout", "show or --watch one rollout (daemon)", cmd_rollout},
    {"retry", "continue a halted rollout from its failed step (daemon)", cmd_retry},
    {"cancel", "cancel a rollout: revert fixes, remove the update file (daemon)", cmd_cancel},
    {"client-id", "import the vendor client ID file for downloads (daemon)", cmd_client_id},
    {"webhook", "signed JSON notifications of rollouts and updates (daemon)", cmd_webhook},
    {"window", "maintenance windows: when pools may be updated (daemon)", cmd_window},
    {"schedule", "automated rollouts on a recurrence, e.g. second Tuesday 02:00 (daemon)",
     cmd_schedule},
    {"gate", "health gates after each host returns: built-in checks, your hook (daemon)", cmd_gate},
    {"xapi", "raw XAPI calls through the client: xapi call METHOD ARGS...", cmd_xapi},
    {"sim", "serve simulated XAPI pools from a scenario file", cmd_sim},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: poolpatch <command> [options]\n\ncommands:\n");
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'poolpatch <command> --help' for a command's options.\n");
}

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("poolpatch %s\n", PP_VERSION);
    return 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (const struct cli_command *c = cli_commands; c->name; c++) {
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "poolpatch: '%s' is not a command; see 'poolpatch --help'\n", argv[1]);
    return 2;
}
