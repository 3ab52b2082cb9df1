/* bench.c - `cdrate bench rate` and `cdrate bench compile` (docs/benchmarks.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"

#define BENCH_CHUNK 1000000

int cdr_bench_rate(const cdr_bench_rate_config *bc, FILE *out, FILE *progress, cdr_diag *dg)
{
    cdr_plan_set *ps = NULL;
    cdr_gen *g = NULL;
    cdr_rater *rt = NULL;
    cdr_record *recs = NULL;
    cdr_rated *rated = NULL;
    int rc = cdr_bench_embedded_plan_set(&ps, dg);
    if (rc)
        return rc;
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = bc->br_seed;
    gc.gc_subscribers = bc->br_subscribers;
    size_t batch = bc->br_batch ? bc->br_batch : 65536;
    size_t chunk = bc->br_cdrs < BENCH_CHUNK ? (size_t)bc->br_cdrs : BENCH_CHUNK;
    if (chunk == 0)
        chunk = 1;
    if ((rc = cdr_gen_create(&gc, &g)) != 0 ||
        (rc = cdr_rater_create(bc->br_threads, ps, cdr_gen_subscribers(g), &rt)) != 0) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot set up the benchmark: %s", cdr_strerror(rc));
        goto done;
    }
    recs = malloc(chunk * sizeof *recs);
    rated = malloc((batch < chunk ? batch : chunk) * sizeof *rated);
    if (!recs || !rated) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    cdr_rate_stats rs;
    memset(&rs, 0, sizeof rs);
    uint64_t rate_ns = 0, done_n = 0, digest = 1469598103934665603ULL;
    while (done_n < bc->br_cdrs) {
        size_t n = (size_t)(bc->br_cdrs - done_n < chunk ? bc->br_cdrs - done_n : chunk);
        cdr_gen_cdrs(g, recs, n); /* not timed */
        for (size_t off = 0; off < n; off += batch) {
            size_t m = n - off < batch ? n - off : batch;
            uint64_t t0 = cdr_bench_now_ns();
            rc = cdr_rater_rate(rt, recs + off, m, rated, &rs);
            rate_ns += cdr_bench_now_ns() - t0;
            if (rc) {
                cdr_diag_set(dg, rc, NULL, 0, 0, "rating failed: %s", cdr_strerror(rc));
                goto done;
            }
            /* Fold the charges into a digest so that the work cannot be optimised away and
             * runs can be compared. */
            for (size_t i = 0; i < m; i++)
                digest =
                    (digest ^ (uint64_t)rated[i].rr_charge ^ rated[i].rr_reason) * 1099511628211ULL;
        }
        done_n += n;
        if (progress)
            fprintf(progress, "\rbench rate: %" PRIu64 "/%" PRIu64, done_n, bc->br_cdrs);
    }
    if (progress)
        fputc('\n', progress);
    double secs = (double)rate_ns / 1e9;
    fprintf(out,
            "{\"bench\":\"rate\",\"cdrs\":%" PRIu64 ",\"subscribers\":%zu,\"threads\":%u,"
            "\"batch\":%zu,\"seconds\":%.6f,\"cdrs_per_sec\":%.0f,\"ns_per_cdr\":%.1f,"
            "\"rss_bytes\":%" PRIu64 ",\"rated\":%" PRIu64 ",\"unratable\":%" PRIu64
            ",\"charges_micro\":{",
            bc->br_cdrs, bc->br_subscribers, bc->br_threads, batch, secs,
            secs > 0 ? (double)bc->br_cdrs / secs : 0.0,
            bc->br_cdrs ? (double)rate_ns / (double)bc->br_cdrs : 0.0, cdr_bench_peak_rss(),
            rs.rs_rated, rs.rs_records - rs.rs_rated);
    for (int k = 0; k < rs.rs_ncurrencies; k++) { /* per currency, never added together */
        cdr_money total = 0;
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            total += rs.rs_currency[k].rc_charge[s];
        fprintf(out, "%s\"%s\":%" PRId64, k ? "," : "", rs.rs_currency[k].rc_currency, total);
    }
    fprintf(out, "},\"counters\":%zu,\"digest\":\"%016" PRIx64 "\"}\n", cdr_rater_counter_count(rt),
            digest);
    rc = 0;
done:
    free(recs);
    free(rated);
    cdr_rater_destroy(rt);
    cdr_gen_destroy(g);
    cdr_plan_set_release(ps);
    return rc;
}

int cdr_bench_compile(size_t prefixes, FILE *out, cdr_diag *dg)
{
    enum { NZONES = 50 };
    /* A plan whose zones hold `prefixes` distinct 8-digit destination prefixes. */
    size_t cap = prefixes * 16 + 8192;
    char *text = malloc(cap);
    if (!text)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    size_t len = (size_t)snprintf(text, cap,
                                  "plan: bench-prefixes\nversion: 1\n"
                                  "effective_from: 2026-01-01T00:00:00+00:00\ncurrency: EUR\n"
                                  "timezone: Europe/Berlin\nmonthly_fee: 0\nservices: [voice]\n"
                                  "home_networks: [\"262-01\"]\nzones:\n");
    for (int z = 0; z < NZONES; z++) {
        len += (size_t)snprintf(text + len, cap - len, "  - name: z%d\n    prefixes: [", z);
        int first = 1;
        for (size_t i = (size_t)z; i < prefixes; i += NZONES) {
            /* i -> a distinct number: a bijection on [0, 10^7), then a length from i. */
            uint64_t v = (i * 7919ULL + 12345) % 10000000ULL;
            len += (size_t)snprintf(text + len, cap - len, "%s\"%u%07" PRIu64 "\"",
                                    first ? "" : ",", (unsigned)(i / 10000000ULL) + 1, v);
            first = 0;
        }
        len += (size_t)snprintf(text + len, cap - len, "]\n");
    }
    len += (size_t)snprintf(text + len, cap - len,
                            "bands:\n  - {name: all, days: [mon, tue, wed, thu, fri, sat, sun, "
                            "holiday], from: \"00:00\", to: \"24:00\"}\n"
                            "rates:\n  - {service: voice, zone: \"*\", band: \"*\", price: 0.10, "
                            "per: 60, increments: 60/1}\n");
    cdr_plan *pl = NULL;
    uint64_t t0 = cdr_bench_now_ns();
    int rc = cdr_plan_compile_text(text, len, "bench-prefixes.yaml", &pl, dg);
    uint64_t t1 = cdr_bench_now_ns();
    if (rc == 0)
        fprintf(out,
                "{\"bench\":\"compile\",\"prefixes\":%zu,\"zones\":%d,\"yaml_bytes\":%zu,"
                "\"seconds\":%.6f,\"trie_nodes\":%" PRIu32 ",\"rss_bytes\":%" PRIu64 "}\n",
                prefixes, NZONES, len, (double)(t1 - t0) / 1e9, pl->pl_ntrie, cdr_bench_peak_rss());
    cdr_plan_free(pl);
    free(text);
    return rc;
}
