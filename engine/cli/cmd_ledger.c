/* cmd_ledger.c - `cdrate ledger` (being written). */
#include <stdio.h>

#include "cli.h"

int cmd_ledger(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "cdrate ledger: not available yet\n");
    return 1;
}
