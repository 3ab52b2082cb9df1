/* cmd_archive.c - `cdrate archive` (being written). */
#include <stdio.h>

#include "cli.h"

int cmd_archive(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "cdrate archive: not available yet\n");
    return 1;
}
