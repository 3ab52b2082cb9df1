/* cmd_rate.c - `cdrate rate`: offline rating of CDR files against the store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_dir.h"
#include "cdr_bench.h"
#include "cdr_rate.h"
#include "cli.h"

#define RATE_BATCH 65536

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
    const char *store = NULL, *outpath = NULL;
    cli_list ins = {0};
    int json = 0, quiet = 0;
    uint64_t threads = 2;
    static const char *const formats[] = {"csv", "json", NULL};
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "DIR", "LMDB store with compiled plans and a directory"},
        {"in", CLI_LIST, &ins, "FILE", "input CDR file, wire or CSV (repeatable)"},
        {"out", CLI_STRING, &outpath, "FILE", "rated records (docs/rated-format.md)"},
        {"format", CLI_CHOICE, &json, "F", "output format, default csv", 0, 0, formats},
        {"threads", CLI_COUNT, &threads, "N", "rating threads, default 2", 1, 64},
        {"quiet", CLI_FLAG, &quiet, NULL, "no summary, no progress"},
        {0},
    };
    const cli_spec cs = {
        "rate", "--store STORE --in FILE [--in FILE...] --out FILE [--format F] [--threads N]",
        "Rate CDR files against the plans and the directory in STORE. Bundle counters are\n"
        "kept per cycle in the store, so consecutive runs consume bundles in order.\n"
        "Malformed records are rejected with file:line:column on stderr and counted (exit\n"
        "code 3); unratable records are written with their reason.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0) {
        cli_spec_free(&cs);
        return pos == CLI_HELP ? 0 : 2;
    }
    if (!store || !outpath || ins.li_n == 0 || pos != argc) {
        cli_spec_free(&cs);
        return cli_usage_error(&cs, "--store, --in and --out are required");
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
    for (int f = 0; f < ins.li_n && !fatal; f++) {
        cdr_reader *rd;
        if (cdr_reader_open(ins.li_items[f], &rd, &dg)) {
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
                const cdr_plan *pl = rated[i].rr_reason ? NULL : cdr_rater_batch_plan(rt, i);
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
    cli_spec_free(&cs);
    return status;
}
