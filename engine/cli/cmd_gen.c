/* cmd_gen.c - `cdrate gen`: a synthetic directory, plans and CDRs. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_bench.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cdrate gen --out DIR [--subscribers N] [--cdrs M] [--seed S]\n"
            "                  [--format csv|wire] [--quiet]\n\n"
            "Write DIR/plans/*.yaml (the sample plans), DIR/directory.dir (N subscribers with\n"
            "enterprises and pools) and DIR/cdrs.csv or DIR/cdrs.cdrw (M CDRs: Zipf activity,\n"
            "voice/SMS/data mix, roaming, calls across band changes, ~1%% unknown subscribers).\n"
            "  --subscribers N  default 1000 (k and M suffixes accepted)\n"
            "  --cdrs M         default 10000\n"
            "  --seed S         default 42; the same seed gives the same files\n"
            "  --format F       csv (default) or wire\n");
}

int cmd_gen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},    {"subscribers", required_argument, 0, 's'},
        {"cdrs", required_argument, 0, 'c'},   {"seed", required_argument, 0, 'S'},
        {"format", required_argument, 0, 'f'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *outdir = NULL;
    uint64_t nsubs = 1000, ncdrs = 10000, seed = 42;
    int wire = 0, quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'o':
            outdir = optarg;
            break;
        case 's':
            bad = cli_parse_count(optarg, &nsubs) || nsubs < 1;
            break;
        case 'c':
            bad = cli_parse_count(optarg, &ncdrs);
            break;
        case 'S':
            bad = cli_parse_count(optarg, &seed);
            break;
        case 'f':
            wire = !strcmp(optarg, "wire");
            bad = !wire && strcmp(optarg, "csv") != 0;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            bad = 1;
        }
        if (bad) {
            if (c != '?')
                fprintf(stderr, "cdrate gen: bad value for --%s: '%s'\n",
                        c == 's'   ? "subscribers"
                        : c == 'c' ? "cdrs"
                        : c == 'S' ? "seed"
                                   : "format",
                        optarg);
            usage(stderr);
            return 2;
        }
    }
    if (!outdir || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cdrate gen: cannot create %s: %s\n", outdir, strerror(errno));
        return 1;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    char path[4096];
    snprintf(path, sizeof path, "%s/plans", outdir);
    if (cdr_bench_write_embedded_plans(path, &dg)) {
        cli_report("gen", &dg);
        return 1;
    }
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = seed;
    gc.gc_subscribers = (size_t)nsubs;
    cdr_gen *g;
    if (cdr_gen_create(&gc, &g)) {
        fprintf(stderr, "cdrate gen: cannot create the population\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s/directory.dir", outdir);
    if (cdr_gen_write_directory(g, path, &dg)) {
        cli_report("gen", &dg);
        cdr_gen_destroy(g);
        return 1;
    }
    snprintf(path, sizeof path, "%s/cdrs.%s", outdir, wire ? "cdrw" : "csv");
    FILE *f = NULL;
    cdr_wire_writer *ww = NULL;
    if (wire ? cdr_wire_writer_open(path, &ww, &dg) != 0 : (f = fopen(path, "w")) == NULL) {
        if (!wire)
            cdr_diag_set(&dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
        cli_report("gen", &dg);
        cdr_gen_destroy(g);
        return 1;
    }
    if (f) {
        setvbuf(f, NULL, _IOFBF, 1 << 20);
        fprintf(f, "%s\n", cdr_csv_header);
    }
    enum { CHUNK = 8192 };
    cdr_record *recs = malloc(CHUNK * sizeof *recs);
    int progress = cli_progress_enabled(quiet), err = 0;
    for (uint64_t done = 0; done < ncdrs && recs && !err;) {
        size_t n = (size_t)(ncdrs - done < CHUNK ? ncdrs - done : CHUNK);
        cdr_gen_cdrs(g, recs, n);
        for (size_t i = 0; i < n; i++) {
            if (ww) {
                err |= cdr_wire_writer_put(ww, &recs[i]);
            } else {
                char line[512];
                int len = cdr_csv_format(&recs[i], line, sizeof line);
                if (len > 0)
                    fwrite(line, 1, (size_t)len, f);
            }
        }
        done += n;
        if (progress && (done % (CHUNK * 64) == 0 || done == ncdrs))
            fprintf(stderr, "\rgen: %" PRIu64 "/%" PRIu64 " CDRs", done, ncdrs);
    }
    if (progress)
        fputc('\n', stderr);
    free(recs);
    if (ww)
        err |= cdr_wire_writer_close(ww);
    if (f && (fclose(f) != 0))
        err = 1;
    cdr_gen_destroy(g);
    if (err) {
        fprintf(stderr, "cdrate gen: write error on %s\n", path);
        return 1;
    }
    if (!quiet)
        fprintf(stderr, "cdrate gen: %" PRIu64 " subscribers, %" PRIu64 " CDRs in %s\n", nsubs,
                ncdrs, outdir);
    return 0;
}
