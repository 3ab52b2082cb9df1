/* cli_util.c - helpers shared by the subcommands. */
#include <stdio.h>
#include <unistd.h>

#include "cdr_error.h"
#include "cli.h"

int cli_parse_count(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return -1;
    uint64_t mul = 1;
    if (*p == 'k' || *p == 'K')
        mul = 1000, p++;
    else if (*p == 'M')
        mul = 1000000, p++;
    if (*p || v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

void cli_report(const char *cmd, const cdr_diag *dg)
{
    char buf[1024];
    fprintf(stderr, "cdrate %s: %s\n", cmd, cdr_diag_format(dg, buf, sizeof buf));
}

int cli_progress_enabled(int quiet)
{
    return !quiet && isatty(STDERR_FILENO);
}
