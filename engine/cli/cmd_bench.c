/* cmd_bench.c - `cdrate bench rate|compile`: one JSON object on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cdr_bench.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdrate bench rate [--subscribers N] [--cdrs M] [--threads T] [--batch B]\n"
               "                         [--seed S] [--json] [--quiet]\n"
               "       cdrate bench compile [--prefixes N] [--json]\n\n"
               "rate     generate N subscribers and M CDRs in memory (not timed), time the rating\n"
               "         core alone with T threads in batches of B records (default 65536)\n"
               "compile  time the compilation of a plan with N destination prefixes\n"
               "Both print one JSON object on stdout (--json is accepted for clarity; JSON is the\n"
               "only output). Progress goes to stderr when it is a terminal, unless --quiet.\n");
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {{"subscribers", required_argument, 0, 's'},
                                         {"cdrs", required_argument, 0, 'c'},
                                         {"threads", required_argument, 0, 't'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"prefixes", required_argument, 0, 'p'},
                                         {"json", no_argument, 0, 'j'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    uint64_t subs = 100000, cdrs = 1000000, threads = 1, batch = 65536, seed = 42,
             prefixes = 100000;
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint64_t *dst = c == 's'   ? &subs
                        : c == 'c' ? &cdrs
                        : c == 't' ? &threads
                        : c == 'b' ? &batch
                        : c == 'S' ? &seed
                        : c == 'p' ? &prefixes
                                   : NULL;
        if (dst) {
            if (cli_parse_count(optarg, dst)) {
                fprintf(stderr, "cdrate bench: bad number '%s'\n", optarg);
                usage(stderr);
                return 2;
            }
        } else if (c == 'q') {
            quiet = 1;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c != 'j') {
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc;
    if (!strcmp(argv[optind], "rate")) {
        if (threads < 1 || threads > 64 || subs < 1 || batch < 1) {
            fprintf(stderr, "cdrate bench: --threads 1..64, --subscribers and --batch >= 1\n");
            return 2;
        }
        cdr_bench_rate_config bc = {(size_t)subs, cdrs, (unsigned)threads, (size_t)batch, seed};
        rc = cdr_bench_rate(&bc, stdout, cli_progress_enabled(quiet) ? stderr : NULL, &dg);
    } else if (!strcmp(argv[optind], "compile")) {
        rc = cdr_bench_compile((size_t)prefixes, stdout, &dg);
    } else {
        usage(stderr);
        return 2;
    }
    if (rc) {
        cli_report("bench", &dg);
        return 1;
    }
    return 0;
}
