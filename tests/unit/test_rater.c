/* test_rater.c - the multithreaded rating core: determinism, counters, plan swaps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_bench.h"
#include "cdr_fraud.h"
#include "cdr_rate.h"
#include "cdr_stream.h"
#include "cdr_time.h"

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

/* ---- money per currency --------------------------------------------------------------------- */

/* plan_v1 as plan `id` in currency `cur` (both 1-3 characters long). */
static cdr_plan *plan_in(const char *id, const char *cur)
{
    char text[sizeof plan_v1 + 16];
    snprintf(text, sizeof text, "%s", plan_v1);
    char *p = strstr(text, "plan: t\n");
    memmove(p + 6 + strlen(id), p + 7, strlen(p + 7) + 1);
    memcpy(p + 6, id, strlen(id));
    p = strstr(text, "currency: EUR");
    memcpy(p + 10, cur, 3);
    cdr_plan *pl;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_compile_text(text, strlen(text), "c.yaml", &pl, &dg), 0, "%s", dg.dg_msg);
    cr_assert_str_eq(pl->pl_currency, cur);
    return pl;
}

/* nsubs subscribers 4915100000000 + i on plan ids[i % nids], each its own charging owner. */
static cdr_subtab *subs_on(size_t nsubs, const char *const *ids, size_t nids)
{
    cdr_subtab *tab;
    cr_assert_eq(cdr_subtab_create(nsubs, &tab), 0);
    for (size_t i = 0; i < nsubs; i++) {
        cdr_sub su;
        memset(&su, 0, sizeof su);
        snprintf(su.su_msisdn, sizeof su.su_msisdn, "49151%08u", (unsigned)(i % 100000000));
        snprintf(su.su_plan, sizeof su.su_plan, "%s", ids[i % nids]);
        su.su_id = su.su_owner = 100 + i;
        su.su_active_to = INT64_MAX;
        su.su_family = -1;
        cr_assert_eq(cdr_subtab_add(tab, &su), 0);
    }
    return tab;
}

/* Two plans, CNY and EUR, in one batch: the money is kept per currency, sorted by code, equal to
 * the sums of the rated records, and the same with 1 and 2 threads. */
Test(rater, two_currencies_are_never_mixed)
{
    static const char *const ids[] = {"e", "c"}; /* EUR first in the directory */
    enum { NSUBS = 200, N = 5000 };
    cdr_subtab *tab = subs_on(NSUBS, ids, 2);
    cdr_record *recs = malloc(N * sizeof *recs);
    for (size_t i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%zu", i);
        recs[i] = call(id, 1793520000 + (cdr_time)i * 60, (uint32_t)(1 + i * 7 % 300));
        snprintf(recs[i].cr_msisdn, sizeof recs[i].cr_msisdn, "49151%08u",
                 (unsigned)(i * 13 % NSUBS));
    }
    strcpy(recs[3].cr_msisdn, "4915199999999"); /* unratable: no currency */
    cdr_rate_stats st[2];
    cdr_rated *out[2];
    for (unsigned t = 0; t < 2; t++) {
        cdr_plan **plans = calloc(2, sizeof *plans);
        plans[0] = plan_in("c", "CNY");
        plans[1] = plan_in("e", "EUR");
        cdr_plan_set *ps;
        cdr_diag dg;
        cr_assert_eq(cdr_plan_set_from(plans, 2, &ps, &dg), 0, "%s", dg.dg_msg);
        cdr_rater *rt;
        cr_assert_eq(cdr_rater_create(t + 1, ps, tab, &rt), 0);
        cdr_plan_set_release(ps);
        out[t] = malloc(N * sizeof *out[t]);
        memset(&st[t], 0, sizeof st[t]);
        /* two batches: the second adds to the currencies of the first */
        cr_assert_eq(cdr_rater_rate(rt, recs, N / 2, out[t], &st[t]), 0);
        cr_assert_eq(cdr_rater_rate(rt, recs + N / 2, N - N / 2, out[t] + N / 2, &st[t]), 0);
        cdr_rater_destroy(rt);
    }
    cr_assert_eq(memcmp(out[0], out[1], N * sizeof *out[0]), 0, "1 and 2 threads rate alike");
    cr_assert_eq(memcmp(&st[0], &st[1], sizeof st[0]), 0, "1 and 2 threads give equal stats");
    const cdr_rate_stats *rs = &st[0];
    cr_assert_eq(rs->rs_records, N);
    cr_assert_eq(rs->rs_rated, N - 1);
    cr_assert_eq(rs->rs_ncurrencies, 2);
    cr_assert_str_eq(rs->rs_currency[0].rc_currency, "CNY");
    cr_assert_str_eq(rs->rs_currency[1].rc_currency, "EUR");
    cr_assert_str_eq(out[0][3].rr_currency, "");
    cdr_money want[2] = {0, 0};
    uint64_t nwant[2] = {0, 0}, units = 0;
    for (size_t i = 0; i < N; i++) {
        const cdr_rated *rr = &out[0][i];
        if (rr->rr_reason)
            continue;
        const int k = !strcmp(rr->rr_currency, "EUR");
        cr_assert(k || !strcmp(rr->rr_currency, "CNY"), "record %zu: '%s'", i, rr->rr_currency);
        want[k] += rr->rr_charge;
        nwant[k]++;
        units += rr->rr_units;
    }
    for (int k = 0; k < 2; k++) {
        const cdr_rate_currency *rc = &rs->rs_currency[k];
        cr_assert_gt(nwant[k], 0);
        cr_assert_eq(rc->rc_rated, nwant[k]);
        cr_assert_eq(rc->rc_by_service[CDR_SVC_VOICE], nwant[k]);
        cr_assert_eq(rc->rc_charge[CDR_SVC_VOICE], want[k], "%s", rc->rc_currency);
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            if (s != CDR_SVC_VOICE)
                cr_assert_eq(rc->rc_charge[s], 0);
    }
    cr_assert_eq(rs->rs_currency[0].rc_rated + rs->rs_currency[1].rc_rated, rs->rs_rated);
    cr_assert_eq(rs->rs_bundle_units[CDR_SVC_VOICE] + rs->rs_overflow_units[CDR_SVC_VOICE] +
                     rs->rs_free_units[CDR_SVC_VOICE],
                 units);
    cr_assert_gt(rs->rs_bundle_units[CDR_SVC_VOICE], 0);
    cr_assert_gt(rs->rs_overflow_units[CDR_SVC_VOICE], 0);
    free(out[0]);
    free(out[1]);
    free(recs);
    cdr_subtab_free(tab);
}

/* A ninth currency is an error (CDR_LIMIT), never added to another one; without stats there is
 * nothing to mix and no error. */
Test(rater, a_ninth_currency_is_refused)
{
    static const char *const ids[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    enum { NC = 9 };
    cdr_plan **plans = calloc(NC, sizeof *plans);
    for (int k = 0; k < NC; k++) {
        const char cur[4] = {'A', 'A', (char)('A' + k), '\0'};
        plans[k] = plan_in(ids[k], cur);
    }
    cdr_plan_set *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_set_from(plans, NC, &ps, &dg), 0, "%s", dg.dg_msg);
    cdr_subtab *tab = subs_on(NC, ids, NC);
    cdr_record recs[NC];
    for (int i = 0; i < NC; i++) {
        recs[i] = call("x", 1793520000, 30);
        snprintf(recs[i].cr_msisdn, sizeof recs[i].cr_msisdn, "49151%08d", i);
    }
    cdr_rated rr[NC];
    for (unsigned t = 1; t <= 2; t++) {
        cdr_rater *rt;
        cr_assert_eq(cdr_rater_create(t, ps, tab, &rt), 0);
        cdr_rate_stats rs;
        memset(&rs, 0, sizeof rs);
        cr_assert_eq(cdr_rater_rate(rt, recs, NC - 1, rr, &rs), 0, "eight currencies fit");
        cr_assert_eq(rs.rs_ncurrencies, NC - 1);
        cr_assert_eq(cdr_rater_rate(rt, recs, NC, rr, &rs), CDR_LIMIT, "%u threads", t);
        cr_assert_eq(rs.rs_ncurrencies, CDR_RATE_MAX_CURRENCIES);
        for (int k = 0; k < CDR_RATE_MAX_CURRENCIES; k++) {
            cr_assert_eq(rs.rs_currency[k].rc_currency[2], 'A' + k, "sorted by code");
            cr_assert_eq(rs.rs_currency[k].rc_rated, 2, "nothing of AAI added to another");
        }
        cr_assert_str_eq(rr[NC - 1].rr_currency, "AAI");
        cr_assert_eq(cdr_rater_rate(rt, recs, NC, rr, NULL), 0);
        cdr_rater_destroy(rt);
    }
    cdr_plan_set_release(ps);
    cdr_subtab_free(tab);
}

/* ---- the rated CSV and JSON carry the same fields ------------------------------------------- */

/* The value of the JSON field at *p (a string without escapes, a number, or the parts array
 * rendered as CSV's band:units:charge;...) into out; *p moves past it. */
static void json_value(const char **p, char *out, size_t n)
{
    const char *s = *p;
    if (*s == '"') {
        const char *e = strchr(s + 1, '"');
        cr_assert_not_null(e);
        snprintf(out, n, "%.*s", (int)(e - s - 1), s + 1);
        *p = e + 1;
    } else if (*s == '[') {
        size_t used = 0;
        out[0] = '\0';
        s++;
        while (*s == '{' || *s == ',') {
            char band[64], money[32];
            unsigned long long units;
            long long micro;
            int len = 0;
            s += *s == ',';
            cr_assert_eq(sscanf(s, "{\"band\":\"%63[^\"]\",\"units\":%llu,\"charge_micro\":%lld}%n",
                                band, &units, &micro, &len),
                         3, "%s", s);
            used += (size_t)snprintf(
                out + used, n - used, "%s%s:%llu:%s", used ? ";" : "", band, units,
                cdr_money_format(micro, 6, CDR_ROUND_HALF_UP, money, sizeof money));
            s += len;
        }
        cr_assert_eq(*s, ']');
        *p = s + 1;
    } else {
        size_t k = strspn(s, "-0123456789");
        snprintf(out, n, "%.*s", (int)k, s);
        *p = s + k;
    }
}

/* Every rated record: its JSON object holds the CSV header's fields, in the same order and with
 * the same values (JSON adds charge_micro only); and read back from the wire (as the ledger and
 * cdr.rated consumers do), both lines are byte-identical to the direct ones. */
Test(rater, csv_and_json_carry_the_same_fields)
{
    cdr_plan_set *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_bench_embedded_plan_set(&ps, &dg), 0, "%s", dg.dg_msg);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = 3000;
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    enum { N = 20000 };
    cdr_record *recs = malloc(N * sizeof *recs);
    cdr_rated *out = malloc(N * sizeof *out);
    cdr_gen_cdrs(g, recs, N);
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(1, ps, cdr_gen_subscribers(g), &rt), 0);
    cr_assert_eq(cdr_rater_rate(rt, recs, N, out, NULL), 0);
    /* the header's fields */
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%s", cdr_rated_csv_header);
    const char *names[32];
    int nn = 0;
    for (char *save = NULL, *t = strtok_r(hdr, ",", &save); t; t = strtok_r(NULL, ",", &save))
        names[nn++] = t;
    cr_assert_eq(nn, 21);
    cr_assert_str_eq(names[nn - 2], "charge_class");
    cr_assert_str_eq(names[nn - 1], "flags");
    uint64_t seen_free = 0, seen_bundle = 0, seen_eur = 0, seen_class[CDR_CLASS_COUNT] = {0};
    for (size_t i = 0; i < N; i++) {
        const cdr_plan *pl = out[i].rr_reason ? NULL : cdr_rater_batch_plan(rt, i);
        char csv[2048], json[2048], csv2[2048], json2[2048];
        const int lc = cdr_rated_format_csv(&recs[i], &out[i], pl, csv, sizeof csv);
        const int lj = cdr_rated_format_json(&recs[i], &out[i], pl, json, sizeof json);
        cr_assert(lc > 0 && lj > 0);
        /* read back from the wire: the same bytes */
        uint8_t w[CDR_RATED_WIRE_MAX];
        cdr_record cr2;
        cdr_rated rr2;
        char plan[CDR_NAME_MAX];
        size_t wn = cdr_rated_wire_encode(&recs[i], &out[i], pl ? pl->pl_id : NULL, w);
        cr_assert_eq(cdr_rated_wire_decode(w, wn, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
        cr_assert_eq(cdr_rated_format_csv_id(&cr2, &rr2, plan, pl, csv2, sizeof csv2), lc);
        cr_assert_eq(cdr_rated_format_json_id(&cr2, &rr2, plan, pl, json2, sizeof json2), lj);
        cr_assert_eq(memcmp(csv, csv2, (size_t)lc), 0, "%s%s", csv, csv2);
        cr_assert_eq(memcmp(json, json2, (size_t)lj), 0, "%s%s", json, json2);
        if (out[i].rr_reason) {
            cr_assert_eq(out[i].rr_class, CDR_CLASS_NONE);
            continue;
        }
        /* the class: a usage class, the one cdr_plan_charge_class derives from the plan; a
         * record read from an older wire version (no class) prints the same lines with the plan */
        cr_assert(out[i].rr_class >= CDR_CLASS_USAGE_FIRST &&
                  out[i].rr_class <= CDR_CLASS_USAGE_LAST);
        cr_assert_eq(cdr_plan_charge_class(pl, &recs[i], &out[i]), out[i].rr_class, "record %zu",
                     i);
        seen_class[out[i].rr_class]++;
        rr2.rr_class = CDR_CLASS_NONE;
        cr_assert_eq(cdr_rated_format_csv_id(&cr2, &rr2, plan, pl, csv2, sizeof csv2), lc);
        cr_assert_eq(memcmp(csv, csv2, (size_t)lc), 0, "%s%s", csv, csv2);
        cr_assert_eq(cdr_rated_format_json_id(&cr2, &rr2, plan, pl, json2, sizeof json2), lj);
        cr_assert_eq(memcmp(json, json2, (size_t)lj), 0, "%s%s", json, json2);
        seen_free += out[i].rr_free_units > 0;
        seen_bundle += out[i].rr_bundle >= 0;
        seen_eur += !strcmp(out[i].rr_currency, "EUR");
        /* field by field */
        csv[lc - 1] = '\0';
        char *save = NULL, *cv = strtok_r(csv, ",", &save);
        const char *jp = json + 1;
        for (int f = 0; f < nn; f++) {
            char key[64], val[1024];
            int len = 0;
            cr_assert_eq(sscanf(jp, "\"%63[^\"]\":%n", key, &len), 1, "%s", jp);
            jp += len;
            cr_assert_str_eq(key, names[f], "record %zu: JSON field %d", i, f);
            json_value(&jp, val, sizeof val);
            /* an empty CSV field (no bundle) is skipped by strtok_r: compare with "" then */
            const char *c = "";
            if (val[0]) {
                cr_assert_not_null(cv, "record %zu: CSV ends before %s", i, names[f]);
                c = cv;
                cv = strtok_r(NULL, ",", &save);
            }
            cr_assert_str_eq(val, c, "record %zu: field %s", i, names[f]);
            if (!strcmp(key, "charge")) { /* JSON only: the charge in micro-units */
                cr_assert_eq(sscanf(jp, ",\"charge_micro\":%n", &len), 0);
                cr_assert_gt(len, 0);
                jp += len;
                json_value(&jp, val, sizeof val);
                cr_assert_eq(strtoll(val, NULL, 10), out[i].rr_charge);
            }
            cr_assert_eq(*jp, f + 1 < nn ? ',' : '}', "record %zu after %s", i, names[f]);
            jp++;
        }
        cr_assert_null(cv, "record %zu: CSV has more fields", i);
    }
    /* the stream exercised what the fields are about */
    cr_assert_gt(seen_free, 0);
    cr_assert_gt(seen_bundle, 0);
    cr_assert_gt(seen_eur, 0);
    cr_assert_gt(seen_class[CDR_CLASS_BASIC_VOICE], 0);
    cr_assert_gt(seen_class[CDR_CLASS_SMS_MMS], 0);
    cr_assert_gt(seen_class[CDR_CLASS_DATA], 0);
    cr_assert_gt(seen_class[CDR_CLASS_FREE], 0);
    cdr_rater_destroy(rt);
    cdr_plan_set_release(ps);
    cdr_gen_destroy(g);
    free(recs);
    free(out);
}

/* ---- credit control and usage alerts (docs/credit-control.md) -------------------------------- */

#define T0 1767254400 /* 2026-01-01T08:00:00Z */

/* n lines 7, 8, ... of plan t, on accounts 70 + i / per_account, with credit limit `limit`
 * (micro-units), thresholds 50, 80, 100 %. */
static cdr_subtab *credit_subs(int n, int per_account, cdr_money limit, int extended)
{
    cdr_subtab *tab;
    cr_assert_eq(cdr_subtab_create((size_t)n, &tab), 0);
    for (int i = 0; i < n; i++) {
        cdr_sub su;
        memset(&su, 0, sizeof su);
        snprintf(su.su_msisdn, sizeof su.su_msisdn, "49151000%05d", i + 1);
        strcpy(su.su_plan, "t");
        su.su_id = 7 + (uint64_t)i;
        su.su_account = 70 + (uint64_t)(i / per_account);
        su.su_owner = su.su_account;
        su.su_active_to = INT64_MAX;
        su.su_family = -1;
        su.su_credit_limit = limit;
        su.su_credit_nwarn = 3;
        su.su_credit_warn[0] = 50;
        su.su_credit_warn[1] = 80;
        su.su_credit_warn[2] = 100;
        su.su_credit_extended = (uint8_t)extended;
        strcpy(su.su_manager, "am.wu");
        cr_assert_eq(cdr_subtab_add(tab, &su), 0);
    }
    return tab;
}

static cdr_rater *credit_rater(unsigned threads, const cdr_subtab *tab, int64_t grace)
{
    cdr_plan_set *ps = set_of(plan_v1, NULL);
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(threads, ps, tab, &rt), 0);
    cdr_plan_set_release(ps);
    cdr_credit_config cc;
    cdr_credit_config_default(&cc);
    cc.cc_grace = grace;
    cr_assert_eq(cdr_rater_set_credit(rt, &cc), 0);
    cdr_rater_track_changes(rt, 1);
    return rt;
}

/* Rate recs[0..n) in one batch; the alerts as "index:kind:pct:status" words into buf. */
static void rate_alerts(cdr_rater *rt, const cdr_record *recs, size_t n, cdr_rated *out, char *buf,
                        size_t cap)
{
    cr_assert_eq(cdr_rater_rate(rt, recs, n, out, NULL), 0);
    size_t na, used = 0;
    const cdr_alert *al = cdr_rater_alerts(rt, &na);
    buf[0] = '\0';
    for (size_t a = 0; a < na; a++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%u:%s:%u:%s", a ? " " : "",
                                 al[a].al_index, cdr_alert_kind_name(al[a].al_kind), al[a].al_pct,
                                 cdr_line_status_name(al[a].al_status));
}

Test(credit, thresholds_warning_grace_and_suspension)
{
    cdr_subtab *tab = credit_subs(1, 1, 10000000, 0); /* 10.00 EUR */
    cdr_rater *rt = credit_rater(1, tab, 3600);
    cdr_record r[6];
    cdr_rated out[6];
    char got[512];
    r[0] = call("1", T0, 100);       /* the whole bundle m100: 80 and 100 % in one record */
    r[1] = call("2", T0 + 200, 900); /* 9.00: 50 and 80 % of the credit in one record */
    r[2] = call("3", T0 + 2000, 60); /* 9.60: nothing */
    r[3] = call("4", T0 + 3000, 60); /* 10.20: 100 %, the line is warned */
    for (int i = 0; i < 4; i++)
        strcpy(r[i].cr_msisdn, "4915100000001");
    rate_alerts(rt, r, 4, out, got, sizeof got);
    cr_expect_str_eq(got, "0:bundle:80:active 0:bundle:100:active 1:credit:50:active "
                          "1:credit:80:active 3:credit:100:warned 3:warned:100:warned");
    size_t na;
    const cdr_alert *al = cdr_rater_alerts(rt, &na);
    cr_assert_eq(na, 6);
    cr_expect_eq(al[0].al_used, 100);
    cr_expect_eq(al[0].al_limit, 100);
    cr_expect_eq(al[0].al_threshold, 80);
    cr_expect_str_eq(al[0].al_bundle, "m100");
    cr_expect_eq(al[2].al_used, 9000000);
    cr_expect_eq(al[2].al_threshold, 5000000);
    cr_expect_eq(al[4].al_used, 10200000);
    cr_expect_eq(al[5].al_since, T0 + 3000);
    cr_expect_eq(al[5].al_account, 70);
    cr_expect_str_eq(al[5].al_manager, "am.wu");
    cr_expect_str_eq(al[5].al_currency, "EUR");
    for (int i = 0; i < 3; i++)
        cr_expect_eq(out[i].rr_flags, 0, "record %d flagged before the warning", i);
    cr_expect_eq(out[3].rr_flags, CDR_RATED_FLAG_WARNED);
    char js[1024];
    cr_assert_gt(cdr_alert_format_json(&al[5], js, sizeof js), 0);
    cr_expect_str_eq(js, "{\"kind\":\"warned\",\"threshold_pct\":100,\"cycle\":202601,"
                         "\"msisdn\":\"4915100000001\",\"subscriber\":7,\"account\":70,"
                         "\"enterprise\":0,\"manager\":\"am.wu\",\"time\":\"2026-01-01T08:50:00Z\","
                         "\"currency\":\"EUR\",\"charges_micro\":10200000,\"limit_micro\":10000000,"
                         "\"threshold_micro\":10000000,\"available_micro\":-200000,"
                         "\"status\":\"warned\",\"warned_at\":\"2026-01-01T08:50:00Z\","
                         "\"reason\":\"credit_limit\"}\n");
    /* within the grace period: still warned, not flagged; one second before its end too */
    r[4] = call("5", T0 + 3000 + 3599, 1);
    strcpy(r[4].cr_msisdn, "4915100000001");
    rate_alerts(rt, &r[4], 1, out, got, sizeof got);
    cr_expect_str_eq(got, "");
    cr_expect_eq(out[0].rr_flags, CDR_RATED_FLAG_WARNED);
    /* at its end: suspended, and the record is flagged but rated and charged as usual */
    r[5] = call("6", T0 + 3000 + 3600, 60);
    strcpy(r[5].cr_msisdn, "4915100000001");
    rate_alerts(rt, &r[5], 1, out, got, sizeof got);
    cr_expect_str_eq(got, "0:suspended:100:suspended");
    cr_expect_eq(out[0].rr_reason, CDR_REASON_NONE);
    cr_expect_eq(out[0].rr_charge, 600000);
    cr_expect_eq(out[0].rr_flags, CDR_RATED_FLAG_SUSPENDED);
    /* later records: flagged, no alert again */
    rate_alerts(rt, &r[5], 1, out, got, sizeof got);
    cr_expect_str_eq(got, "");
    cr_expect_eq(out[0].rr_flags, CDR_RATED_FLAG_SUSPENDED);
    cdr_rater_destroy(rt);
    cdr_subtab_free(tab);
}

Test(credit, extended_terms_alert_but_never_suspend)
{
    cdr_subtab *tab = credit_subs(1, 1, 1000000, 1); /* 1.00 EUR, extended terms */
    cdr_rater *rt = credit_rater(1, tab, 0);
    cdr_record r[3];
    cdr_rated out[3];
    char got[256];
    for (int i = 0; i < 3; i++) {
        r[i] = call(i ? "2" : "1", T0 + i * 1000, i ? 600 : 100);
        strcpy(r[i].cr_msisdn, "4915100000001");
    }
    rate_alerts(rt, r, 3, out, got, sizeof got);
    cr_expect_str_eq(got, "0:bundle:80:active 0:bundle:100:active 1:credit:50:active "
                          "1:credit:80:active 1:credit:100:active");
    for (int i = 0; i < 3; i++)
        cr_expect_eq(out[i].rr_flags, 0);
    cdr_rater_destroy(rt);
    cdr_subtab_free(tab);
}

/* The state after a committed batch, carried by the counter changes as the changelog carries it,
 * into a fresh rater: a batch redone there (an aborted transaction, a crash, a rebalance) raises
 * exactly the alerts it raised the first time, and a batch already committed raises none again. */
static int carry(void *arg, const cdr_counter_change *cc)
{
    return cdr_rater_counter_import(arg, cc);
}

Test(credit, alerts_once_across_restarts)
{
    cdr_subtab *tab = credit_subs(40, 3, 5000000, 0);
    enum { N = 3000 };
    cdr_record *r = calloc(N, sizeof *r);
    cdr_rated *out = calloc(N, sizeof *out);
    srand(7);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        r[i] = call(id, T0 + i * 60, 1 + (uint32_t)(rand() % 300));
        snprintf(r[i].cr_msisdn, sizeof r[i].cr_msisdn, "49151000%05d", 1 + rand() % 40);
    }
    /* the reference: one rater, one batch */
    static char ref[1 << 16], a1[1 << 16], a2[1 << 16], again[1 << 16], t4[1 << 16];
    cdr_rater *one = credit_rater(1, tab, 1800);
    rate_alerts(one, r, N, out, ref, sizeof ref);
    cr_assert(strstr(ref, "suspended") && strstr(ref, "credit:80"), "too few alerts: %s", ref);
    cdr_rater_destroy(one);
    /* four threads: the same alerts in the same order */
    cdr_rater *four = credit_rater(4, tab, 1800);
    rate_alerts(four, r, N, out, t4, sizeof t4);
    cr_expect_str_eq(t4, ref);
    cdr_rater_destroy(four);
    /* the first half committed by A; B restarts from A's committed state */
    cdr_rater *a = credit_rater(2, tab, 1800);
    rate_alerts(a, r, N / 2, out, a1, sizeof a1);
    cdr_rater *b = credit_rater(3, tab, 1800);
    cr_assert_eq(cdr_rater_counters_changed(a, carry, b), 0);
    rate_alerts(b, r + N / 2, N / 2, out, a2, sizeof a2);
    /* B's batch aborted: C restarts from the same committed state and redoes it */
    cdr_rater *c = credit_rater(1, tab, 1800);
    cdr_rater *a_again = credit_rater(2, tab, 1800);
    rate_alerts(a_again, r, N / 2, out, again, sizeof again);
    cr_assert_eq(cdr_rater_counters_changed(a_again, carry, c), 0);
    rate_alerts(c, r + N / 2, N / 2, out, again, sizeof again);
    cr_expect_str_eq(again, a2, "a redone batch raised other alerts");
    /* first half + second half, with the indexes of the second half shifted, equal the reference */
    char joined[1 << 17];
    size_t used = (size_t)snprintf(joined, sizeof joined, "%s", a1);
    for (char *save = NULL, *w = strtok_r(a2, " ", &save); w; w = strtok_r(NULL, " ", &save))
        used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%d%s", used ? " " : "",
                                 atoi(w) + N / 2, strchr(w, ':'));
    cr_expect_str_eq(joined, ref);
    /* after everything was committed, the same records again (duplicates) raise nothing */
    cdr_rater *e = credit_rater(1, tab, 1800);
    rate_alerts(e, r, N, out, again, sizeof again);
    cdr_rater *d = credit_rater(1, tab, 1800);
    cr_assert_eq(cdr_rater_counters_changed(e, carry, d), 0);
    cdr_rater_destroy(e);
    rate_alerts(d, r + N / 2, N / 2, out, again, sizeof again);
    cr_expect_str_eq(again, "");
    cdr_rater_destroy(a);
    cdr_rater_destroy(a_again);
    cdr_rater_destroy(b);
    cdr_rater_destroy(c);
    cdr_rater_destroy(d);
    free(r);
    free(out);
    cdr_subtab_free(tab);
}

Test(credit, bad_settings_are_refused)
{
    cdr_subtab *tab = credit_subs(1, 1, 1, 0);
    cdr_rater *rt = credit_rater(1, tab, 0);
    cdr_credit_config cc;
    cdr_credit_config_default(&cc);
    cc.cc_grace = -1;
    cr_expect_eq(cdr_rater_set_credit(rt, &cc), CDR_EINVAL);
    cdr_credit_config_default(&cc);
    cc.cc_bundle_warn[1] = 80; /* not ascending */
    cr_expect_eq(cdr_rater_set_credit(rt, &cc), CDR_EINVAL);
    cc.cc_bundle_warn[1] = 101;
    cr_expect_eq(cdr_rater_set_credit(rt, &cc), CDR_EINVAL);
    cdr_rater_destroy(rt);
    cdr_subtab_free(tab);
}

/* Fraud rules in the rating shard: a window hand-computed, exactly at the threshold (no hit), one
 * second past it (a hit), once per window, again after it; the state carried to a new rater (as
 * the changelog does) decides the same. */
static int carry_fraud(void *arg, const cdr_fraud_change *fc)
{
    return cdr_rater_fraud_import(arg, fc);
}

Test(credit, fraud_rule_once_per_window)
{
    static const char rules[] = "rules:\n"
                                "  - name: de-minutes\n"
                                "    kind: units\n"
                                "    service: voice\n"
                                "    zone: de\n"
                                "    window: 1h\n"
                                "    threshold: 10min\n";
    cdr_fraud_rules *frs;
    cdr_diag dg;
    cr_assert_eq(cdr_fraud_parse_buf("f.yaml", rules, sizeof rules - 1, &frs, &dg), 0, "%s",
                 dg.dg_msg);
    cdr_subtab *tab = credit_subs(1, 1, 1000000000, 0); /* a limit far away */
    cdr_rater *rt = credit_rater(1, tab, 0);
    cr_assert_eq(cdr_rater_set_fraud(rt, frs), 0);
    cdr_record r[4];
    cdr_rated out[4];
    char got[512];
    r[0] = call("1", T0, 300);
    r[1] = call("2", T0 + 600, 300); /* 600 s in the window: at the threshold, no hit */
    for (int i = 0; i < 2; i++)
        strcpy(r[i].cr_msisdn, "4915100000001");
    rate_alerts(rt, r, 2, out, got, sizeof got);
    cr_expect_str_eq(got, "0:bundle:80:active 0:bundle:100:active");
    /* the state now travels to another rater, as after a crash */
    cdr_rater *b = credit_rater(2, tab, 0);
    cr_assert_eq(cdr_rater_set_fraud(b, frs), 0);
    cr_assert_eq(cdr_rater_counters_changed(rt, carry, b), 0);
    cr_assert_eq(cdr_rater_fraud_changed(rt, carry_fraud, b), 0);
    r[2] = call("3", T0 + 1200, 1);   /* 601 s: one past it */
    r[3] = call("4", T0 + 1300, 600); /* more in the same window: no second hit */
    for (int i = 2; i < 4; i++)
        strcpy(r[i].cr_msisdn, "4915100000001");
    rate_alerts(b, r + 2, 2, out, got, sizeof got);
    cr_expect_str_eq(got, "0:fraud:0:active");
    size_t na;
    const cdr_alert *al = cdr_rater_alerts(b, &na);
    cr_assert_eq(na, 1);
    cr_expect_str_eq(al[0].al_rule, "de-minutes");
    cr_expect_eq(al[0].al_used, 601);
    cr_expect_eq(al[0].al_threshold, 600);
    char js[1024];
    cr_assert_gt(cdr_alert_format_json(&al[0], js, sizeof js), 0);
    cr_expect(strstr(js, "\"kind\":\"fraud\"") && strstr(js, "\"rule\":\"de-minutes\"") &&
                  strstr(js, "\"window_units\":601,\"threshold_units\":600}"),
              "%s", js);
    /* the window has slid past the hit: a new burst hits again */
    r[0] = call("5", T0 + 1200 + 3600, 700);
    strcpy(r[0].cr_msisdn, "4915100000001");
    rate_alerts(b, r, 1, out, got, sizeof got);
    cr_expect_str_eq(got, "0:fraud:0:active");
    cdr_rater_destroy(rt);
    cdr_rater_destroy(b);
    cdr_fraud_rules_free(frs);
    cdr_subtab_free(tab);
}

/* Lines 1..8 (subscribers 7..14) on accounts 70..73, two lines each, no credit limit; accounts 70
 * and 72 overdue (cdrate payments dunning); line 6 (account 72) has extended terms. */
static cdr_subtab *overdue_subs(void)
{
    cdr_subtab *tab;
    cr_assert_eq(cdr_subtab_create(8, &tab), 0);
    for (int i = 0; i < 8; i++) {
        cdr_sub su;
        memset(&su, 0, sizeof su);
        snprintf(su.su_msisdn, sizeof su.su_msisdn, "49151000%05d", i + 1);
        strcpy(su.su_plan, "t");
        su.su_id = 7 + (uint64_t)i;
        su.su_account = 70 + (uint64_t)(i / 2);
        su.su_owner = su.su_account;
        su.su_active_to = INT64_MAX;
        su.su_family = -1;
        su.su_credit_extended = i == 5;
        strcpy(su.su_manager, "am.wu");
        if (su.su_account == 70 || su.su_account == 72) {
            su.su_overdue = 1;
            strcpy(su.su_overdue_currency, "EUR");
            su.su_overdue_amount = 39000000;
            su.su_overdue_due = cdr_days_from_civil(2025, 12, 15);
        }
        cr_assert_eq(cdr_subtab_add(tab, &su), 0);
    }
    return tab;
}

Test(credit, overdue_account_warned_then_suspended_once)
{
    cdr_subtab *tab = overdue_subs();
    enum { N = 400 };
    const int64_t grace = 3600;
    cdr_record *r = calloc(N, sizeof *r);
    cdr_rated *out = calloc(N, sizeof *out);
    srand(11);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        r[i] = call(id, T0 + i * 300, 1 + (uint32_t)(rand() % 120));
        snprintf(r[i].cr_msisdn, sizeof r[i].cr_msisdn, "49151000%05d", 1 + rand() % 8);
    }
    /* expected: per overdue line, warned at its first record, suspended at its first record at
     * least the grace later; nothing for the other lines (only the status alerts are compared:
     * the bundle alerts are those of any line) */
    static char want[1 << 14], got[1 << 15], st1[1 << 14], st4[1 << 14];
    size_t wl = 0;
    cdr_time warned_at[8] = {0};
    int state[8] = {0};
    for (int i = 0; i < N; i++) {
        const int line = atoi(r[i].cr_msisdn + 8) - 1;
        if (line / 2 != 0 && line / 2 != 2)
            continue;
        if (state[line] == 0) {
            state[line] = 1;
            warned_at[line] = r[i].cr_start;
            wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%d:warned:100:warned",
                                   wl ? " " : "", i);
        } else if (state[line] == 1 && r[i].cr_start - warned_at[line] >= grace) {
            state[line] = 2;
            wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%d:suspended:100:suspended",
                                   wl ? " " : "", i);
        }
    }
    for (int line = 0; line < 8; line++)
        cr_assert_eq(state[line], line / 2 == 0 || line / 2 == 2 ? 2 : 0, "line %d", line);
    for (int pass = 0; pass < 2; pass++) {
        cdr_rater *rt = credit_rater(pass ? 4 : 1, tab, grace);
        rate_alerts(rt, r, N, out, got, sizeof got);
        /* keep the status alerts only */
        char *dst = pass ? st4 : st1;
        size_t dl = 0;
        dst[0] = '\0';
        for (char *save = NULL, *w = strtok_r(got, " ", &save); w; w = strtok_r(NULL, " ", &save))
            if (strstr(w, ":warned:") || strstr(w, ":suspended:"))
                dl += (size_t)snprintf(dst + dl, (1 << 14) - dl, "%s%s", dl ? " " : "", w);
        cr_expect_str_eq(dst, want, "%u thread(s)", pass ? 4u : 1u);
        size_t na;
        const cdr_alert *al = cdr_rater_alerts(rt, &na);
        for (size_t a = 0; a < na; a++) {
            if (al[a].al_kind != CDR_ALERT_WARNED && al[a].al_kind != CDR_ALERT_SUSPENDED)
                continue;
            cr_expect_eq(al[a].al_reason, CDR_WARN_OVERDUE);
            cr_expect(al[a].al_account == 70 || al[a].al_account == 72);
            cr_expect_str_eq(al[a].al_overdue_currency, "EUR");
            cr_expect_eq(al[a].al_overdue_amount, 39000000);
            cr_expect_eq(al[a].al_limit, 0);
        }
        for (int i = 0; i < N; i++) {
            const int line = atoi(r[i].cr_msisdn + 8) - 1;
            cr_expect_eq(out[i].rr_reason, CDR_REASON_NONE); /* rated as usual */
            if (line / 2 == 1 || line / 2 == 3)
                cr_expect_eq(out[i].rr_flags, 0, "record %d of a paid account flagged", i);
            else
                cr_expect_neq(out[i].rr_flags, 0, "record %d of an overdue account", i);
        }
        cdr_rater_destroy(rt);
    }
    cr_expect_str_eq(st4, st1);

    /* the JSON form: reason and arrears, after the fields every warned alert has; once per
     * cycle: another record of the warned line in the same cycle raises nothing, the next cycle
     * warns it again */
    cdr_rater *rt = credit_rater(1, tab, grace);
    cdr_record more[2] = {call("m1", T0, 10), call("m2", T0 + 40 * 86400, 10)};
    rate_alerts(rt, more, 1, out, got, sizeof got);
    cr_expect_str_eq(got, "0:warned:100:warned");
    size_t na;
    const cdr_alert *al = cdr_rater_alerts(rt, &na);
    char js[1024];
    cr_assert_gt(cdr_alert_format_json(&al[0], js, sizeof js), 0);
    cr_expect(strstr(js, "\"account\":70,\"enterprise\":0,\"manager\":\"am.wu\"") &&
                  strstr(js, ",\"status\":\"warned\",\"warned_at\":\"2026-01-01T08:00:00Z\","
                             "\"reason\":\"overdue\",\"overdue_currency\":\"EUR\","
                             "\"overdue_micro\":39000000,\"oldest_due\":\"2025-12-15\"}\n"),
              "%s", js);
    rate_alerts(rt, more, 1, out, got, sizeof got);
    cr_expect_str_eq(got, "");
    cr_expect_eq(out[0].rr_flags, CDR_RATED_FLAG_WARNED);
    rate_alerts(rt, &more[1], 1, out, got, sizeof got);
    cr_expect_str_eq(got, "0:warned:100:warned");
    cr_expect_eq(cdr_rater_alerts(rt, &na)[0].al_cycle, 202602);
    cdr_rater_destroy(rt);

    /* across a restart: the first half committed by A, B continues from A's state; together
     * they raise what one rater raised, and a batch redone after everything raises nothing */
    static char a1[1 << 15], a2[1 << 15], joined[1 << 15];
    cdr_rater *a = credit_rater(2, tab, grace);
    rate_alerts(a, r, N / 2, out, a1, sizeof a1);
    cdr_rater *b = credit_rater(3, tab, grace);
    cr_assert_eq(cdr_rater_counters_changed(a, carry, b), 0);
    rate_alerts(b, r + N / 2, N / 2, out, a2, sizeof a2);
    size_t used = 0;
    joined[0] = '\0';
    for (char *save = NULL, *w = strtok_r(a1, " ", &save); w; w = strtok_r(NULL, " ", &save))
        if (strstr(w, ":warned:") || strstr(w, ":suspended:"))
            used +=
                (size_t)snprintf(joined + used, sizeof joined - used, "%s%s", used ? " " : "", w);
    for (char *save = NULL, *w = strtok_r(a2, " ", &save); w; w = strtok_r(NULL, " ", &save))
        if (strstr(w, ":warned:") || strstr(w, ":suspended:"))
            used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%d%s", used ? " " : "",
                                     atoi(w) + N / 2, strchr(w, ':'));
    cr_expect_str_eq(joined, want);
    cdr_rater *e = credit_rater(1, tab, grace), *c = credit_rater(1, tab, grace);
    rate_alerts(e, r, N, out, a2, sizeof a2);
    cr_assert_eq(cdr_rater_counters_changed(e, carry, c), 0);
    cdr_rater_destroy(e);
    rate_alerts(c, r + N / 2, N / 2, out, a2, sizeof a2);
    cr_expect(!strstr(a2, "warned") && !strstr(a2, "suspended"), "again: %s", a2);
    cdr_rater_destroy(a);
    cdr_rater_destroy(b);
    cdr_rater_destroy(c);
    free(r);
    free(out);
    cdr_subtab_free(tab);
}
