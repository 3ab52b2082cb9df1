/* cmd_bench.c - `cdrate bench rate|compile`: one JSON object on stdout. */
#include <stdio.h>
#include <string.h>

#include "cdr_bench.h"
#include "cli.h"

int cmd_bench(int argc, char **argv)
{
    uint64_t subs = 100000, cdrs = 1000000, threads = 1, batch = 65536, seed = 42,
             prefixes = 100000, records = 1000000;
    int quiet = 0, json = 0, fmt = -1;
    static const char *const formats[] = {"csv", "asterisk", "freeswitch", "3gpp", NULL};
    cli_opt opts[] = {
        {"subscribers", CLI_COUNT, &subs, "N", "rate: subscribers, default 100000", 1},
        {"cdrs", CLI_COUNT, &cdrs, "M", "rate: CDRs, default 1000000"},
        {"threads", CLI_COUNT, &threads, "T", "rate: rating threads, default 1", 1, 64},
        {"batch", CLI_COUNT, &batch, "B", "rate: records per batch, default 65536", 1},
        {"seed", CLI_COUNT, &seed, "S", "generator seed, default 42"},
        {"prefixes", CLI_COUNT, &prefixes, "N", "compile: destination prefixes, default 100000", 1},
        {"format", CLI_CHOICE, &fmt, "F", "collect: input format", 0, 0, formats},
        {"records", CLI_COUNT, &records, "N", "collect: records, default 1000000", 1},
        {"json", CLI_FLAG, &json, NULL, "JSON output (the only output; accepted for clarity)"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no progress"},
        {0},
    };
    const cli_spec cs = {
        "bench",
        "rate [--subscribers N] [--cdrs M] [--threads T] [--batch B] [--json]\n"
        "compile [--prefixes N] [--json]",
        "rate     generate N subscribers and M CDRs in memory (not timed), time the rating\n"
        "         core alone with T threads in batches of B records\n"
        "collect  generate N records as in-memory input files of format F, time decoding +\n"
        "         validation + normalisation on one thread\n"
        "compile  time the compilation of a plan with N destination prefixes\n"
        "Each prints one JSON object on stdout; progress goes to stderr on a terminal.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos + 1 != argc)
        return cli_usage_error(&cs, "expected one benchmark name");
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc;
    if (!strcmp(argv[pos], "rate")) {
        cdr_bench_rate_config bc = {(size_t)subs, cdrs, (unsigned)threads, (size_t)batch, seed};
        rc = cdr_bench_rate(&bc, stdout, cli_progress_enabled(quiet) ? stderr : NULL, &dg);
    } else if (!strcmp(argv[pos], "collect")) {
        if (fmt < 0)
            return cli_usage_error(&cs, "collect needs --format");
        rc = cdr_bench_collect(fmt, records, seed, stdout, &dg);
    } else if (!strcmp(argv[pos], "compile")) {
        rc = cdr_bench_compile((size_t)prefixes, stdout, &dg);
    } else {
        return cli_usage_error(&cs, "unknown benchmark '%s'", argv[pos]);
    }
    if (rc) {
        cli_report("bench", &dg);
        return 1;
    }
    return 0;
}
