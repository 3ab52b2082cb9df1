/* cmd_counters.c - `cdrate counters` (being written). */
#include <stdio.h>

#include "cli.h"

int cmd_counters(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "cdrate counters: not available yet\n");
    return 1;
}
