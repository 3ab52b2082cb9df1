/* cmd_gen.c - `cdrate gen`: a synthetic directory, plans and CDRs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_bench.h"
#include "cdr_coll.h"
#include "cdr_gen_3gpp.h"
#include "cli.h"

/* DIR/cdrs.csv or DIR/cdrs.cdrw with n CDRs. */
static int gen_file(cdr_gen *g, const char *outdir, int wire, uint64_t ncdrs, int quiet)
{
    char path[4096];
    cdr_diag dg;
    cdr_diag_clear(&dg);
    snprintf(path, sizeof path, "%s/cdrs.%s", outdir, wire ? "cdrw" : "csv");
    FILE *f = NULL;
    cdr_wire_writer *ww = NULL;
    if (wire ? cdr_wire_writer_open(path, &ww, &dg) != 0 : (f = fopen(path, "w")) == NULL) {
        if (!wire)
            cdr_diag_set(&dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
        cli_report("gen", &dg);
        return CLI_EXIT_FAIL;
    }
    if (f) {
        setvbuf(f, NULL, _IOFBF, 1 << 20);
        fprintf(f, "%s\n", cdr_csv_header);
    }
    enum { CHUNK = 8192 };
    cdr_record *recs = malloc(CHUNK * sizeof *recs);
    int progress = cli_progress_enabled(quiet), err = recs ? 0 : 1;
    for (uint64_t done = 0; done < ncdrs && !err;) {
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
    if (err)
        cli_error("gen", CDR_EIO, "write error on %s", path);
    return err ? 1 : 0;
}

static void spool_progress(void *arg, uint64_t done)
{
    fprintf(stderr, "\rgen: %" PRIu64 "/%" PRIu64 " CDRs", done, *(const uint64_t *)arg);
}

/* Spool files of collector format cfmt (cdr_coll_format) holding n CDRs of the stream that the
 * format carries, 100,000 per file, each renamed into place when complete. */
static int gen_spool(cdr_gen *g, const char *outdir, int cfmt, uint64_t ncdrs, int quiet)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/spool", outdir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("gen", CDR_EIO, "cannot create %s: %s", dir, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    const int progress = cli_progress_enabled(quiet);
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_gen_write_spool(g, dir, cfmt, ncdrs, 100000, progress ? spool_progress : NULL,
                                 &ncdrs, &dg);
    if (progress)
        fputc('\n', stderr);
    if (rc) {
        cli_report("gen", &dg);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

int cmd_gen(int argc, char **argv)
{
    const char *outdir = NULL;
    uint64_t nsubs = 1000, ncdrs = 10000, seed = 42;
    int fmt = 0, quiet = 0, json = 0;
    static const char *const formats[] = {"csv", "wire", "asterisk", "freeswitch", "3gpp", NULL};
    cli_opt opts[] = {
        {"out", CLI_STRING, &outdir, "DIR", "output directory (created if missing)"},
        {"subscribers", CLI_COUNT, &nsubs, "N", "subscribers, default 1000", 1, 100000000},
        {"cdrs", CLI_COUNT, &ncdrs, "M", "CDRs, default 10000"},
        {"seed", CLI_COUNT, &seed, "S", "default 42; the same seed gives the same files"},
        {"format", CLI_CHOICE, &fmt, "F", "CDR file format, default csv", 0, 0, formats},
        {"json", CLI_FLAG, &json, NULL, "the summary as one JSON object on stdout"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no progress, no summary"},
        {0},
    };
    const cli_spec cs = {
        "gen", "--out DIR [--subscribers N] [--cdrs M] [--seed S] [--format F]",
        "Write DIR/plans/*.yaml (the sample plans), DIR/directory.dir (N subscribers with\n"
        "enterprises and pools) and DIR/cdrs.csv or DIR/cdrs.cdrw (M CDRs: Zipf activity,\n"
        "voice/SMS/data mix, roaming, calls across band changes, ~1% unknown subscribers).\n"
        "With --format asterisk, freeswitch or 3gpp the CDRs go instead into spool files\n"
        "DIR/spool/cdrs-NNNNN.{csv,dat} of up to 100,000 records, written under a .tmp name\n"
        "and renamed into place, keeping only what the format carries (PBX formats: voice\n"
        "calls; 3gpp: voice and data). Numbers accept k and M suffixes.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (!outdir || pos != argc)
        return cli_usage_error(&cs, "--out is required");
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        cli_error("gen", CDR_EIO, "cannot create %s: %s", outdir, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    char path[4096];
    snprintf(path, sizeof path, "%s/plans", outdir);
    if (cdr_bench_write_embedded_plans(path, &dg)) {
        cli_report("gen", &dg);
        return CLI_EXIT_FAIL;
    }
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = seed;
    gc.gc_subscribers = (size_t)nsubs;
    cdr_gen *g;
    if (cdr_gen_create(&gc, &g)) {
        cli_error("gen", CDR_ENOMEM, "cannot create the population");
        return CLI_EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/directory.dir", outdir);
    if (cdr_gen_write_directory(g, path, &dg)) {
        cli_report("gen", &dg);
        cdr_gen_destroy(g);
        return CLI_EXIT_FAIL;
    }
    int rc = fmt >= 2 ? gen_spool(g, outdir, fmt - 1, ncdrs, quiet)
                      : gen_file(g, outdir, fmt == 1, ncdrs, quiet);
    cdr_gen_destroy(g);
    if (rc)
        return CLI_EXIT_FAIL;
    if (json) {
        printf("{\"subscribers\":%" PRIu64 ",\"cdrs\":%" PRIu64 ",\"format\":\"%s\",\"out\":",
               nsubs, ncdrs, formats[fmt]);
        cli_json_str(stdout, outdir);
        printf("}\n");
    } else if (!quiet)
        fprintf(stderr, "cdrate gen: %" PRIu64 " subscribers, %" PRIu64 " CDRs in %s\n", nsubs,
                ncdrs, outdir);
    return 0;
}
