/* bench_collect.c - `cdrate bench collect`: decode + validate + normalise, one thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"
#include "cdr_coll.h"

typedef struct count_ctx {
    uint64_t cc_items[3];
    uint64_t cc_digest;
} count_ctx;

static int count_item(void *arg, const cdr_coll_item *ci)
{
    count_ctx *cc = arg;
    cc->cc_items[ci->ci_kind < 3 ? ci->ci_kind : 1]++;
    /* touch the decoded record so that nothing is optimised away */
    cc->cc_digest = (cc->cc_digest ^ (uint64_t)ci->ci_rec.cr_start ^ ci->ci_rec.cr_duration ^
                     (uint8_t)ci->ci_rec.cr_msisdn[5]) *
                    1099511628211ULL;
    return 0;
}

int cdr_bench_collect(int fmt, uint64_t records, uint64_t seed, FILE *out, cdr_diag *dg)
{
    enum { FILE_RECORDS = 100000 }; /* records per synthetic input file */
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = seed;
    gc.gc_subscribers = 100000;
    gc.gc_unknown_permil = 0;
    cdr_gen *g = NULL;
    cdr_coll_decoder *d = NULL;
    cdr_record *recs = malloc(FILE_RECORDS * sizeof *recs);
    cdr_buf *files = NULL;
    size_t nfiles = (size_t)((records + FILE_RECORDS - 1) / FILE_RECORDS);
    int rc = recs ? cdr_gen_create(&gc, &g) : CDR_ENOMEM;
    if (!rc)
        files = calloc(nfiles ? nfiles : 1, sizeof *files);
    if (rc || !files) {
        rc = cdr_diag_set(dg, rc ? rc : CDR_ENOMEM, NULL, 0, 0, "cannot set up the benchmark");
        goto done;
    }
    /* Inputs: the PBX formats carry voice calls only; csv and 3gpp take voice and data. */
    uint64_t made = 0, bytes = 0;
    for (size_t f = 0; f < nfiles; f++) {
        size_t want = (size_t)(records - made < FILE_RECORDS ? records - made : FILE_RECORDS);
        size_t n = 0;
        while (n < want) {
            cdr_record cr;
            cdr_gen_cdrs(g, &cr, 1);
            int svc = cr.cr_service;
            if (svc == CDR_SVC_VOICE ||
                (fmt != CDR_FMT_ASTERISK && fmt != CDR_FMT_FREESWITCH && svc == CDR_SVC_DATA)) {
                if (fmt == CDR_FMT_ASTERISK || fmt == CDR_FMT_FREESWITCH)
                    cr.cr_direction = CDR_DIR_MO;
                if (cr.cr_duration == 0)
                    cr.cr_duration = 1;
                recs[n++] = cr;
            }
        }
        if ((rc = cdr_gen_format(fmt, recs, n, &files[f])) != 0) {
            cdr_diag_set(dg, rc, NULL, 0, 0, "cannot write %s input", cdr_coll_format_name(fmt));
            goto done;
        }
        made += n;
        bytes += files[f].b_len;
    }
    cdr_coll_config cfg;
    cdr_coll_config_defaults(&cfg);
    snprintf(cfg.cc_source, sizeof cfg.cc_source, "bench");
    if ((rc = cdr_coll_decoder_create(fmt, &cfg, &d, dg)) != 0)
        goto done;
    count_ctx cc;
    memset(&cc, 0, sizeof cc);
    uint64_t t0 = cdr_bench_now_ns();
    for (size_t f = 0; f < nfiles && !rc; f++)
        rc = cdr_coll_decode(d, "bench", files[f].b_data, files[f].b_len, count_item, &cc);
    uint64_t ns = cdr_bench_now_ns() - t0;
    if (rc) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "decoding failed");
        goto done;
    }
    double secs = (double)ns / 1e9;
    fprintf(out,
            "{\"bench\":\"collect\",\"format\":\"%s\",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
            ",\"threads\":1,\"seconds\":%.6f,\"records_per_sec\":%.0f,\"ns_per_record\":%.1f,"
            "\"mb_per_sec\":%.1f,\"decoded\":%" PRIu64 ",\"rejected\":%" PRIu64
            ",\"nonbillable\":%" PRIu64 ",\"rss_bytes\":%" PRIu64 "}\n",
            cdr_coll_format_name(fmt), made, bytes, secs, secs > 0 ? (double)made / secs : 0.0,
            made ? (double)ns / (double)made : 0.0, secs > 0 ? (double)bytes / 1e6 / secs : 0.0,
            cc.cc_items[CDR_ITEM_RECORD], cc.cc_items[CDR_ITEM_REJECTED],
            cc.cc_items[CDR_ITEM_NONBILLABLE], cdr_bench_peak_rss());
    /* every generated record must decode as a billable record */
    if (cc.cc_items[CDR_ITEM_RECORD] != made)
        rc = cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                          "%" PRIu64 " of %" PRIu64 " generated records did not decode as records",
                          made - cc.cc_items[CDR_ITEM_RECORD], made);
done:
    for (size_t f = 0; files && f < nfiles; f++)
        cdr_buf_free(&files[f]);
    free(files);
    free(recs);
    cdr_coll_decoder_destroy(d);
    cdr_gen_destroy(g);
    return rc;
}
