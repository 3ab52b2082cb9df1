/* test_rater.c - the multithreaded rating core: determinism, counters, plan swaps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_bench.h"
#include "cdr_rate.h"

/* Rate the first n CDRs of a seeded stream with `threads` threads in batches of `batch`, render
 * every rated record as CSV and return the bytes (malloc'd) and their length. */
static char *rate_render(unsigned threads, size_t n, size_t batch, size_t *len, cdr_rate_stats *rs)
{
    cdr_plan_set *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_bench_embedded_plan_set(&ps, &dg), 0, "%s", dg.dg_msg);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = 20000;
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(threads, ps, cdr_gen_subscribers(g), &rt), 0);
    cdr_plan_set_release(ps); /* the rater holds its own reference */
    cdr_record *recs = malloc(batch * sizeof *recs);
    cdr_rated *rated = malloc(batch * sizeof *rated);
    size_t cap = n * 160 + 4096, used = 0;
    char *out = malloc(cap);
    memset(rs, 0, sizeof *rs);
    for (size_t done = 0; done < n; done += batch) {
        size_t m = n - done < batch ? n - done : batch;
        cdr_gen_cdrs(g, recs, m);
        cr_assert_eq(cdr_rater_rate(rt, recs, m, rated, rs), 0);
        for (size_t i = 0; i < m; i++) {
            if (cap - used < 2048) {
                cap *= 2;
                out = realloc(out, cap);
            }
            const cdr_plan *pl = rated[i].rr_reason ? NULL : cdr_rater_batch_plan(rt, i);
            int l = cdr_rated_format_csv(&recs[i], &rated[i], pl, out + used, cap - used);
            cr_assert_gt(l, 0);
            used += (size_t)l;
        }
    }
    free(recs);
    free(rated);
    cdr_rater_destroy(rt);
    cdr_gen_destroy(g);
    *len = used;
    return out;
}

Test(rater, deterministic_across_thread_counts, .timeout = 600)
{
    const size_t n = 1000000;
    size_t l1, l2, l8;
    cdr_rate_stats s1, s2, s8;
    char *o1 = rate_render(1, n, 65536, &l1, &s1);
    char *o2 = rate_render(2, n, 65536, &l2, &s2);
    char *o8 = rate_render(8, n, 10007, &l8, &s8); /* other batch boundaries too */
    cr_assert_eq(s1.rs_records, n);
    /* The stream must exercise rating, not only rejections. */
    cr_assert_gt(s1.rs_rated, n * 9 / 10, "rated %llu", (unsigned long long)s1.rs_rated);
    cr_assert_gt(s1.rs_unratable[CDR_REASON_UNKNOWN_SUBSCRIBER], n / 200);
    cr_assert_gt(s1.rs_bundle_units[CDR_SVC_VOICE], 0);
    cr_assert_gt(s1.rs_bundle_units[CDR_SVC_DATA], 0);
    cr_assert_eq(l1, l2);
    cr_assert_eq(l1, l8);
    cr_assert(memcmp(o1, o2, l1) == 0, "1 and 2 threads differ");
    cr_assert(memcmp(o1, o8, l1) == 0, "1 and 8 threads differ");
    cr_assert_eq(memcmp(&s1, &s2, sizeof s1), 0);
    cr_assert_eq(memcmp(&s1, &s8, sizeof s1), 0);
    free(o1);
    free(o2);
    free(o8);
}

/* A one-subscriber world with a plan compiled from text. */
static const char plan_v1[] =
    "plan: t\nversion: 1\neffective_from: 2026-01-01T00:00:00+00:00\ncurrency: EUR\n"
    "timezone: Europe/Berlin\nmonthly_fee: 10\nservices: [voice]\nhome_networks: [\"262-01\"]\n"
    "zones:\n  - {name: de, prefixes: [\"49\"]}\n"
    "bands:\n  - {name: all, days: [mon, tue, wed, thu, fri, sat, sun, holiday], from: \"00:00\", "
    "to: \"24:00\"}\n"
    "rates:\n  - {service: voice, zone: de, band: all, price: 0.60, per: 60, increments: 1/1}\n"
    "bundles:\n  - {name: m100, service: voice, zones: [de], units: 100s}\n";

static cdr_plan_set *set_of(const char *text, const char *text2)
{
    cdr_plan **plans = calloc(2, sizeof *plans);
    cdr_diag dg;
    cr_assert_eq(cdr_plan_compile_text(text, strlen(text), "t.yaml", &plans[0], &dg), 0, "%s",
                 dg.dg_msg);
    uint32_t n = 1;
    if (text2) {
        cr_assert_eq(cdr_plan_compile_text(text2, strlen(text2), "t2.yaml", &plans[1], &dg), 0,
                     "%s", dg.dg_msg);
        n = 2;
    }
    cdr_plan_set *ps;
    cr_assert_eq(cdr_plan_set_from(plans, n, &ps, &dg), 0, "%s", dg.dg_msg);
    return ps;
}

static cdr_subtab *one_sub(void)
{
    cdr_subtab *tab;
    cr_assert_eq(cdr_subtab_create(1, &tab), 0);
    cdr_sub su;
    memset(&su, 0, sizeof su);
    strcpy(su.su_msisdn, "4915100000001");
    strcpy(su.su_plan, "t");
    su.su_id = 7;
    su.su_owner = 7;
    su.su_active_to = INT64_MAX;
    su.su_family = -1;
    cr_assert_eq(cdr_subtab_add(tab, &su), 0);
    cr_assert_eq(cdr_subtab_add(tab, &su), CDR_EXISTS);
    return tab;
}

static cdr_record call(const char *id, cdr_time start, uint32_t secs)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    strcpy(cr.cr_source, "MSC");
    snprintf(cr.cr_origin_id, sizeof cr.cr_origin_id, "%s", id);
    strcpy(cr.cr_msisdn, "4915100000001");
    strcpy(cr.cr_other, "4930123456");
    cr.cr_start = start;
    cr.cr_duration = secs;
    cr.cr_service = CDR_SVC_VOICE;
    cr.cr_direction = CDR_DIR_MO;
    return cr;
}

Test(rater, counters_persist_across_runs)
{
    char dir[] = "/tmp/cdrst_XXXXXX";
    cr_assert(mkdtemp(dir));
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0);
    cdr_subtab *tab = one_sub();
    const cdr_time t = 1793520000; /* 2026-11-01T08:00:00Z, cycle 202611 */
    for (int run = 0; run < 2; run++) {
        cdr_plan_set *ps = set_of(plan_v1, NULL);
        cdr_rater *rt;
        cr_assert_eq(cdr_rater_create(2, ps, tab, &rt), 0);
        cdr_plan_set_release(ps);
        cr_assert_eq(cdr_rater_counters_load(rt, st, &dg), 0, "%s", dg.dg_msg);
        cdr_record cr = call(run ? "b" : "a", t + run * 3600, 70);
        cdr_rated rr;
        cr_assert_eq(cdr_rater_rate(rt, &cr, 1, &rr, NULL), 0);
        cr_assert_eq(rr.rr_reason, CDR_REASON_NONE);
        if (run == 0) {
            /* 70 s all inside the 100 s bundle */
            cr_assert_eq(rr.rr_bundle_units, 70);
            cr_assert_eq(rr.rr_charge, 0);
        } else {
            /* 30 s left in the bundle, 40 s overflow at 0.60/min = 400000 micro */
            cr_assert_eq(rr.rr_bundle_units, 30);
            cr_assert_eq(rr.rr_overflow_units, 40);
            cr_assert_eq(rr.rr_charge, 400000);
        }
        cr_assert_eq(cdr_rater_counters_save(rt, st, &dg), 0, "%s", dg.dg_msg);
        cr_assert_eq(cdr_rater_counter_get(rt, 7, 202611, "m100", CDR_SVC_VOICE, 0),
                     run ? 100u : 70u);
        cdr_rater_destroy(rt);
    }
    cdr_subtab_free(tab);
    cdr_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(rater, plan_swap_between_batches_and_unknown_subscriber)
{
    cdr_subtab *tab = one_sub();
    cdr_plan_set *ps = set_of(plan_v1, NULL);
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(1, ps, tab, &rt), 0);
    cdr_plan_set_release(ps);
    cdr_record recs[2] = {call("a", 1793520000, 200), call("b", 1793520000, 60)};
    strcpy(recs[1].cr_msisdn, "4915199999999");
    cdr_rated rr[2];
    cdr_rate_stats rs;
    memset(&rs, 0, sizeof rs);
    cr_assert_eq(cdr_rater_rate(rt, recs, 2, rr, &rs), 0);
    cr_assert_eq(rr[0].rr_charge, 1000000); /* 100 s bundle, 100 s at 0.60/min */
    cr_assert_eq(rr[1].rr_reason, CDR_REASON_UNKNOWN_SUBSCRIBER);
    cr_assert_eq(rs.rs_unratable[CDR_REASON_UNKNOWN_SUBSCRIBER], 1);

    /* Version 2 from 2026-11-01T12:00Z at 1.20/min: records before it keep version 1. */
    char v2[sizeof plan_v1 + 64];
    snprintf(v2, sizeof v2, "%s", plan_v1);
    char *p = strstr(v2, "version: 1");
    p[9] = '2';
    p = strstr(v2, "2026-01-01T00:00:00");
    memcpy(p, "2026-11-01T12:00:00", 19);
    p = strstr(v2, "0.60");
    memcpy(p, "1.20", 4);
    cdr_plan_set *ps2 = set_of(plan_v1, v2);
    cr_assert_eq(cdr_rater_set_plans(rt, ps2), 0);
    cdr_plan_set_release(ps2); /* the rater took its own reference */
    cdr_record late[2] = {call("c", 1793520000 + 3 * 3600, 60),
                          call("d", 1793520000 + 5 * 3600, 60)};
    cr_assert_eq(cdr_rater_rate(rt, late, 2, rr, NULL), 0);
    cr_assert_eq(rr[0].rr_plan_version, 1);
    cr_assert_eq(rr[0].rr_charge, 600000);
    cr_assert_eq(rr[1].rr_plan_version, 2);
    cr_assert_eq(rr[1].rr_charge, 1200000);
    cdr_rater_destroy(rt);
    cdr_subtab_free(tab);
}

/* A caller that looked the subscribers up (rate-stream) gets the same results as one that did not.
 */
Test(rater, resolved_indexes_rate_like_a_lookup)
{
    cdr_plan_set *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_bench_embedded_plan_set(&ps, &dg), 0, "%s", dg.dg_msg);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = 5000;
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    enum { N = 20000 };
    cdr_record *recs = malloc(N * sizeof *recs);
    cdr_rated *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    int32_t *ix = malloc(N * sizeof *ix);
    cdr_gen_cdrs(g, recs, N);
    strcpy(recs[7].cr_msisdn, "8617000000000"); /* one unknown subscriber */
    const cdr_subtab *tab = cdr_gen_subscribers(g);
    cdr_subtab_find_records(tab, recs, N, ix);
    cr_assert_eq(ix[7], -1);
    cdr_rater *r1, *r2;
    cr_assert_eq(cdr_rater_create(2, ps, tab, &r1), 0);
    cr_assert_eq(cdr_rater_create(2, ps, tab, &r2), 0);
    cdr_rate_stats s1 = {0}, s2 = {0};
    cr_assert_eq(cdr_rater_rate(r1, recs, N, a, &s1), 0);
    cr_assert_eq(cdr_rater_rate_resolved(r2, recs, ix, N, b, &s2), 0);
    cr_assert_eq(memcmp(a, b, N * sizeof *a), 0);
    cr_assert_eq(memcmp(&s1, &s2, sizeof s1), 0);
    cr_assert_eq(a[7].rr_reason, CDR_REASON_UNKNOWN_SUBSCRIBER);
    for (size_t i = 0; i < N; i += 997)
        cr_assert_eq(cdr_rater_batch_plan(r1, i), cdr_rater_batch_plan(r2, i));
    cdr_rater_destroy(r1);
    cdr_rater_destroy(r2);
    cdr_plan_set_release(ps);
    cdr_gen_destroy(g);
    free(recs);
    free(a);
    free(b);
    free(ix);
}
