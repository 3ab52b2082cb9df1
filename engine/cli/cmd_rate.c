/* cmd_rate.c - `cdrate rate`: offline rating of CDR files against the store. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_dir.h"
#include "cdr_bench.h"
#include "cdr_rate.h"
#include "cli.h"

#define RATE_BATCH 65536

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cdrate rate --store STORE --in FILE [--in FILE...] --out FILE\n"
            "                   [--format csv|json] [--threads N] [--quiet]\n\n"
            "Rate CDR files (wire format or the project's CSV layout) against the plans and the\n"
            "directory in STORE. Bundle counters are kept per cycle in the store, so consecutive\n"
            "runs consume bundles in order. Malformed records are rejected with file:line:column\n"
            "on stderr and counted; unratable records are written with their reason.\n"
            "  --store DIR       LMDB store with compiled plans and a loaded directory\n"
            "  --in FILE         input file (repeatable; '-' is not supported)\n"
            "  --out FILE        output file of rated records (docs/rated-format.md)\n"
            "  --format F        csv (default) or json (one object per line)\n"
            "  --threads N       rating threads (default 2)\n"
            "  --quiet           no summary, no progress\n");
}

static void summary(FILE *f, const cdr_rate_stats *rs, uint64_t rejected, double secs)
{
    char m[32];
    fprintf(f, "records read     %" PRIu64 "\n", rs->rs_records + rejected);
    fprintf(f, "rejected (input) %" PRIu64 "\n", rejected);
    fprintf(f, "rated            %" PRIu64 "\n", rs->rs_rated);
    uint64_t un = 0;
    for (int r = 1; r < CDR_REASON_COUNT; r++)
        un += rs->rs_unratable[r];
    fprintf(f, "unratable        %" PRIu64 "\n", un);
    for (int r = 1; r < CDR_REASON_COUNT; r++)
        if (rs->rs_unratable[r])
            fprintf(f, "  %-22s %" PRIu64 "\n", cdr_reason_name(r), rs->rs_unratable[r]);
    fprintf(f, "charges by service (records, amount):\n");
    cdr_money total = 0;
    for (int s = 0; s < CDR_SVC_COUNT; s++) {
        total += rs->rs_charge[s];
        fprintf(f, "  %-6s %12" PRIu64 " %18s\n", cdr_service_name(s), rs->rs_by_service[s],
                cdr_money_format(rs->rs_charge[s], 2, CDR_ROUND_HALF_UP, m, sizeof m));
    }
    fprintf(f, "  %-6s %12" PRIu64 " %18s\n", "total", rs->rs_rated,
            cdr_money_format(total, 2, CDR_ROUND_HALF_UP, m, sizeof m));
    if (secs > 0)
        fprintf(f, "throughput       %.0f records/s (%.2f s)\n",
                (double)(rs->rs_records + rejected) / secs, secs);
}

int cmd_rate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, 0, 's'},   {"in", required_argument, 0, 'i'},
        {"out", required_argument, 0, 'o'},     {"format", required_argument, 0, 'f'},
        {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *store = NULL, *outpath = NULL;
    const char **ins = calloc((size_t)argc, sizeof *ins);
    int nin = 0, json = 0, quiet = 0, c;
    uint64_t threads = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            store = optarg;
            break;
        case 'i':
            ins[nin++] = optarg;
            break;
        case 'o':
            outpath = optarg;
            break;
        case 'f':
            if (!strcmp(optarg, "json"))
                json = 1;
            else if (strcmp(optarg, "csv") != 0) {
                fprintf(stderr, "cdrate rate: --format must be csv or json\n");
                free(ins);
                return 2;
            }
            break;
        case 't':
            if (cli_parse_count(optarg, &threads) || threads < 1 || threads > 64) {
                fprintf(stderr, "cdrate rate: --threads must be 1..64\n");
                free(ins);
                return 2;
            }
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            free(ins);
            return 0;
        default:
            usage(stderr);
            free(ins);
            return 2;
        }
    }
    if (!store || !outpath || nin == 0 || optind != argc) {
        usage(stderr);
        free(ins);
        return 2;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    cdr_rater *rt = NULL;
    FILE *out = NULL;
    cdr_record *recs = NULL;
    cdr_rated *rated = NULL;
    int status = 1;
    if (cdr_store_open(store, 0, &st, &dg) || cdr_plan_set_load(st, &ps, &dg) ||
        cdr_dir_rating_view(st, &subs, &dg)) {
        cli_report("rate", &dg);
        goto done;
    }
    int rc = cdr_rater_create((unsigned)threads, ps, subs, &rt);
    if (rc || (rc = cdr_rater_counters_load(rt, st, &dg)) != 0) {
        if (!dg.dg_msg[0])
            cdr_diag_set(&dg, rc, NULL, 0, 0, "cannot create the rater");
        cli_report("rate", &dg);
        goto done;
    }
    out = fopen(outpath, "w");
    recs = malloc(RATE_BATCH * sizeof *recs);
    rated = malloc(RATE_BATCH * sizeof *rated);
    if (!out || !recs || !rated) {
        fprintf(stderr, "cdrate rate: cannot create %s\n", outpath);
        goto done;
    }
    setvbuf(out, NULL, _IOFBF, 1 << 20);
    if (!json)
        fprintf(out, "%s\n", cdr_rated_csv_header);
    cdr_rate_stats rs;
    memset(&rs, 0, sizeof rs);
    uint64_t rejected = 0, t0 = cdr_bench_now_ns();
    int progress = cli_progress_enabled(quiet), fatal = 0;
    for (int f = 0; f < nin && !fatal; f++) {
        cdr_reader *rd;
        if (cdr_reader_open(ins[f], &rd, &dg)) {
            cli_report("rate", &dg);
            fatal = 1;
            break;
        }
        for (int eof = 0; !eof && !fatal;) {
            size_t n = 0;
            while (n < RATE_BATCH) {
                int r = cdr_reader_next(rd, &recs[n], &dg);
                if (r == 0) {
                    eof = 1;
                    break;
                }
                if (r == 1) {
                    n++;
                    continue;
                }
                cli_report("rate", &dg);
                if (r == CDR_EIO) {
                    fatal = 1;
                    break;
                }
                rejected++;
            }
            if (n == 0)
                continue;
            if ((rc = cdr_rater_rate(rt, recs, n, rated, &rs)) != 0) {
                fprintf(stderr, "cdrate rate: %s\n", cdr_strerror(rc));
                fatal = 1;
                break;
            }
            for (size_t i = 0; i < n; i++) {
                char line[2048];
                const cdr_plan *pl = rated[i].rr_reason ? NULL : cdr_rater_plan_of(rt, &recs[i]);
                int len = json ? cdr_rated_format_json(&recs[i], &rated[i], pl, line, sizeof line)
                               : cdr_rated_format_csv(&recs[i], &rated[i], pl, line, sizeof line);
                if (len > 0)
                    fwrite(line, 1, (size_t)len, out);
            }
            if (progress)
                fprintf(stderr, "\rrating: %" PRIu64 " records", rs.rs_records + rejected);
        }
        cdr_reader_close(rd);
    }
    if (progress)
        fputc('\n', stderr);
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "cdrate rate: write error on %s\n", outpath);
        goto done;
    }
    if (fatal)
        goto done; /* counters of a failed run are not saved */
    if (cdr_rater_counters_save(rt, st, &dg)) {
        cli_report("rate", &dg);
        goto done;
    }
    double secs = (double)(cdr_bench_now_ns() - t0) / 1e9;
    if (!quiet)
        summary(stderr, &rs, rejected, secs);
    status = rejected ? 3 : 0; /* 3: completed, but some input records were rejected */
done:
    if (out)
        fclose(out);
    free(recs);
    free(rated);
    cdr_rater_destroy(rt);
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    free(ins);
    return status;
}
