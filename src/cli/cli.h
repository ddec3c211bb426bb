/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the `poolpatch` subcommands.  Each cmd_* takes the arguments after the subcommand name
 * (argv[0] is the subcommand) and returns the process exit status: 0 success, 1 failure,
 * 2 usage error.  Only the cli and api modules print to people.
 */
#ifndef PP_CLI_CLI_H
#define PP_CLI_CLI_H

struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

/* The table of subcommands, terminated by an entry with name NULL. */
extern const struct cli_command cli_commands[];

int cmd_version(int argc, char **argv);
/* Daemon-facing commands (cmd_client.c, talk to `poolpatch serve` over REST; cmd_serve.c). */
int cmd_serve(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_updates(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_apply(int argc, char **argv);
/* `poolpatch upgrade POOL... --to VERSION`: a rolling pool upgrade (docs/upgrade.md). */
int cmd_upgrade(int argc, char **argv);
/* `poolpatch host forget POOL HOST`, `poolpatch upgrade-host ROLLOUT HOST reboot|skip`
 * (cmd_host.c): the upgrade's operator commands. */
int cmd_host(int argc, char **argv);
int cmd_upgrade_host(int argc, char **argv);
int cmd_rollouts(int argc, char **argv);
int cmd_rollout(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_client_id(int argc, char **argv);
/* `poolpatch webhook add|list|remove|deliveries` (cmd_webhook.c). */
int cmd_webhook(int argc, char **argv);
/* `poolpatch window add|list|remove` and `poolpatch schedule add|list|remove` (cmd_window.c). */
int cmd_window(int argc, char **argv);
/* `poolpatch gate set|list|remove`: health gates (cmd_gate.c, docs/health-gates.md). */
int cmd_gate(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
/* `poolpatch xapi call METHOD ARGS...` (cmd_xapi.c): one raw XAPI call through the client. */
int cmd_xapi(int argc, char **argv);
/* `poolpatch sim` (cmd_sim.c): serve simulated pools over HTTP until SIGINT / SIGTERM. */
int cmd_sim(int argc, char **argv);
/* `poolpatch sim --from-pool URL ...` (cmd_sim_twin.c): print a scenario twin of a real pool. */
int cmd_sim_twin(int argc, char **argv);

/* Run the whole program (called from main). */
int cli_main(int argc, char **argv);

#endif
