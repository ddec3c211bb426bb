/* SPDX-License-Identifier: MIT */
/* main.c - the poolpatch executable: hands everything to the cli module. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
