/* bench_bill.c - `cdrate bench bill`: the month-end bill run (cdr_bill_run) on a generated month
 * (docs/benchmarks.md).
 *
 * Not timed: a store with the embedded plans and a generated directory of N subscribers; M
 * generated CDRs of one month rated by the rating core and appended to a ledger (8 partitions by
 * charging owner, as the archiver would). Timed: cdr_bill_run of that month, from opening the
 * ledger to the published output: ledger read (decompression, checksums, decoding), aggregation
 * per line and class, fees, discounts, the split, tax, and writing every invoice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_bench.h"
#include "cdr_bill.h"
#include "cdr_dir.h"
#include "cdr_ledger.h"

#define PARTS 8
#define BATCH 65536

/* Rate the CDRs and append them to the ledger; the cycle holding most records into *cycle. */
int cdr_bench_ledger_build(const cdr_bench_bill_config *bb, cdr_gen *g, cdr_plan_set *ps,
                           const cdr_subtab *subs, const char *ledger, uint32_t *cycle,
                           uint64_t *rated, FILE *progress, cdr_diag *dg)
{
    cdr_rater *rt = NULL;
    cdr_ledger *lg = NULL;
    cdr_record *recs = malloc(BATCH * sizeof *recs);
    cdr_rated *out = malloc(BATCH * sizeof *out);
    cdr_ledger_rec *lr = malloc(BATCH * sizeof *lr);
    size_t *np = calloc(PARTS, sizeof *np);
    cdr_ledger_rec **pr = calloc(PARTS, sizeof *pr);
    int64_t next[PARTS] = {0};
    uint32_t cyc[4] = {0};
    uint64_t ncyc[4] = {0};
    int rc = 0;
    if (!recs || !out || !lr || !np || !pr) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (int p = 0; p < PARTS && !rc; p++)
        if (!(pr[p] = malloc(BATCH * sizeof **pr)))
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (rc || (rc = cdr_rater_create(2, ps, subs, &rt)) != 0) {
        rc = rc ? rc : cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the rater");
        goto done;
    }
    if ((rc = cdr_ledger_open(ledger, NULL, &lg, dg)) != 0)
        goto done;
    for (uint64_t done_n = 0; done_n < bb->bb_cdrs && !rc;) {
        size_t n = bb->bb_cdrs - done_n < BATCH ? (size_t)(bb->bb_cdrs - done_n) : BATCH;
        cdr_gen_cdrs(g, recs, n);
        if ((rc = cdr_rater_rate(rt, recs, n, out, NULL)) != 0) {
            rc = cdr_diag_set(dg, rc, NULL, 0, 0, "rating failed");
            break;
        }
        memset(np, 0, PARTS * sizeof *np);
        for (size_t i = 0; i < n; i++) {
            if (out[i].rr_reason)
                continue; /* unratable records go to suspense, not to the ledger */
            const cdr_sub *su = cdr_subtab_find(subs, recs[i].cr_msisdn);
            const uint32_t p = (uint32_t)((su ? su->su_owner : 0) % PARTS);
            cdr_ledger_rec *r = &pr[p][np[p]++];
            r->lr_offset = next[p]++;
            r->lr_cdr = recs[i];
            r->lr_rated = out[i];
            const cdr_plan *pl = cdr_rater_batch_plan(rt, i);
            snprintf(r->lr_plan, sizeof r->lr_plan, "%s", pl ? pl->pl_id : "");
            for (int k = 0; k < 4; k++)
                if (!cyc[k] || cyc[k] == out[i].rr_cycle) {
                    cyc[k] = out[i].rr_cycle;
                    ncyc[k]++;
                    break;
                }
            (*rated)++;
        }
        for (uint32_t p = 0; p < PARTS && !rc; p++)
            if (np[p])
                rc = cdr_ledger_append(lg, p, pr[p], np[p], pr[p][np[p] - 1].lr_offset, dg);
        done_n += n;
        if (progress)
            fprintf(progress, "\rbench: %" PRIu64 " of %" PRIu64 " CDRs rated into the ledger",
                    done_n, bb->bb_cdrs);
    }
    if (progress)
        fputc('\n', progress);
    for (int k = 0, best = 0; k < 4; k++) /* the cycle holding most records */
        if (ncyc[k] > ncyc[best] || k == 0)
            *cycle = cyc[best = k];
done:
    cdr_ledger_close(lg);
    cdr_rater_destroy(rt);
    for (int p = 0; pr && p < PARTS; p++)
        free(pr[p]);
    free(pr);
    free(np);
    free(recs);
    free(out);
    free(lr);
    return rc;
}

int cdr_bench_bill(const cdr_bench_bill_config *bb, FILE *out, FILE *progress, cdr_diag *dg)
{
    char dir[4096], store[4200], ledger[4200], bills[4200];
    int rc = cdr_bench_workdir(bb->bb_workdir, "bill", dir, sizeof dir, dg);
    if (rc)
        return rc;
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(ledger, sizeof ledger, "%s/ledger", dir);
    snprintf(bills, sizeof bills, "%s/bills", dir);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = bb->bb_seed;
    gc.gc_subscribers = bb->bb_subscribers ? bb->bb_subscribers : 100000;
    cdr_gen *g = NULL;
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    uint32_t cycle = 0;
    uint64_t rated = 0;
    rc = cdr_gen_create(&gc, &g);
    if (rc) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the population");
        goto done;
    }
    if (progress)
        fprintf(progress, "bench bill: %zu subscribers, %" PRIu64 " CDRs\n", gc.gc_subscribers,
                bb->bb_cdrs);
    if ((rc = cdr_bench_store_build(dir, g, store, &st, &ps, &subs, dg)) != 0 ||
        (rc = cdr_bench_ledger_build(bb, g, ps, subs, ledger, &cycle, &rated, progress, dg)) != 0)
        goto done;
    cdr_subtab_free(subs); /* what the bill run needs it reads itself */
    subs = NULL;
    if (progress)
        fprintf(progress, "bench bill: billing cycle %u\n", cycle);
    cdr_bill_config cfg = {.bc_cycle = cycle, .bc_ledger = ledger, .bc_out = bills};
    cdr_tax_defaults(&cfg.bc_tax);
    cdr_bill_summary sum;
    const uint64_t t0 = cdr_bench_now_ns();
    if ((rc = cdr_bill_run(st, &cfg, &sum, dg)) != 0)
        goto done;
    const double secs = (double)(cdr_bench_now_ns() - t0) / 1e9;
    fprintf(out,
            "{\"bench\":\"bill\",\"subscribers\":%zu,\"cdrs\":%" PRIu64 ",\"rated\":%" PRIu64
            ",\"cycle\":%u,\"cycle_records\":%" PRIu64 ",\"invoices\":%" PRIu64
            ",\"lines_billed\":%" PRIu64 ",\"seconds\":%.3f,\"cdrs_per_sec\":%.0f,"
            "\"rss_bytes\":%" PRIu64 "}\n",
            gc.gc_subscribers, bb->bb_cdrs, rated, cycle, sum.bs_records, sum.bs_invoices,
            sum.bs_subscribers, secs, secs > 0 ? (double)sum.bs_records / secs : 0.0,
            cdr_bench_peak_rss());
    fflush(out);
done:
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cdr_gen_destroy(g);
    if (!bb->bb_keep)
        cdr_bench_remove_tree(dir);
    return rc;
}
