/* cmd_suspense.c - `cdrate suspense` (being written). */
#include <stdio.h>

#include "cli.h"

int cmd_suspense(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "cdrate suspense: not available yet\n");
    return 1;
}
