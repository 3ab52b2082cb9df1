/* test_stmt_hint.c - the cheaper-plan hint of a statement (cdr_stmt_hint.h, docs/statements.md
 * "Cheaper-plan hint"): hand-computed costs under small plans, candidates that cannot carry the
 * usage or charge in another currency, proration, pools, plan versions. Every plan here is in UTC
 * with one band; cycle 2026-11 has 30 days. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bill.h"
#include "cdr_dir.h"
#include "cdr_rules.h"
#include "cdr_stmt_hint.h"
#include "test_dirs.h"

#define CYCLE 202611
#define M(units, cents)                                                                            \
    ((cdr_money)(units)*1000000 + (cdr_money)(cents)*10000) /* money in micro-units */

/* A plan: id, version, effective from, currency, monthly fee, voice price per minute (by the
 * started minute), SMS at 0.015 each (a price below the cent), and bundles (YAML list items or
 * ""). services "voice" drops SMS, "sms" drops voice. */
static cdr_plan *plan_v(const char *id, unsigned version, const char *from, const char *cur,
                        const char *fee, const char *voice_price, const char *bundles)
{
    char text[2048];
    const int voice = voice_price != NULL;
    snprintf(text, sizeof text,
             "plan: %s\n"
             "version: %u\n"
             "effective_from: %s\n"
             "currency: %s\n"
             "timezone: UTC\n"
             "monthly_fee: %s\n"
             "services: [%s]\n"
             "zones:\n"
             "  - {name: dom, prefixes: [\"86\"]}\n"
             "bands:\n"
             "  - {name: all, days: \"*\"}\n"
             "rates:\n"
             "%s%s%s"
             "  - {service: sms, zones: \"*\", price: 0.015}\n"
             "%s%s",
             id, version, from, cur, fee, voice ? "voice, sms" : "sms",
             voice ? "  - {service: voice, zones: \"*\", per: 1min, increments: 60/60, price: "
                   : "",
             voice ? voice_price : "", voice ? "}\n" : "", bundles[0] ? "bundles:\n" : "", bundles);
    cdr_plan *pl = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_compile_text(text, strlen(text), id, &pl, &dg), 0, "%s:%d:%d: %s\n%s", id,
                 dg.dg_line, dg.dg_column, dg.dg_msg, text);
    return pl;
}

static cdr_plan *plan(const char *id, const char *cur, const char *fee, const char *voice_price,
                      const char *bundles)
{
    return plan_v(id, 1, "2026-01-01T00:00:00Z", cur, fee, voice_price, bundles);
}

#define MIN100 "  - {name: min100, service: voice, zones: [dom], units: 100min}\n"
#define POOL   "  - {name: pool, service: voice, zones: [dom], pool: true}\n"

/* The catalogue of n plans (NULL-terminated list). */
static cdr_plan_set *catalogue(cdr_plan *first, ...)
{
    cdr_plan **plans = calloc(16, sizeof *plans);
    cr_assert_not_null(plans);
    uint32_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (cdr_plan *pl = first; pl; pl = va_arg(ap, cdr_plan *))
        plans[n++] = pl;
    va_end(ap);
    cdr_plan_set *ps = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_set_from(plans, n, &ps, &dg), 0, "%s", dg.dg_msg);
    return ps;
}

/* Enterprise 7 with product 70 (a 60-minute voice pool); 20..22 individual lines on big58 (22
 * active 2026-11-01 to 2026-11-15 12:00, terminated); 23 a member of product 70 and 24 an
 * individual, both on pool30. */
static const char DIRECTORY[] =
    "directory version=1\n"
    "credit_class id=A limit=1000.00 term_days=30\n"
    "customer id=1 type=company name=\"Acme\" credit_class=A manager=am.wu\n"
    "account id=100 customer=1\n"
    "enterprise id=7 customer=1 account=100\n"
    "product id=70 enterprise=7 pool_voice=60min\n"
    "customer id=2 type=person name=\"Ann\" credit_class=A\n"
    "account id=200 customer=2\n"
    "subscriber id=20 account=200 msisdn=8613800000020 plan=big58 "
    "active_from=2026-01-01T00:00:00Z\n"
    "subscriber id=21 account=200 msisdn=8613800000021 plan=big58 "
    "active_from=2026-01-01T00:00:00Z\n"
    "subscriber id=22 account=200 msisdn=8613800000022 plan=big58 "
    "active_from=2026-11-01T00:00:00Z active_to=2026-11-15T12:00:00Z status=terminated\n"
    "subscriber id=23 account=200 msisdn=8613800000023 plan=pool30 "
    "active_from=2026-01-01T00:00:00Z\n"
    "membership subscriber=23 product=70\n"
    "subscriber id=24 account=200 msisdn=8613800000024 plan=pool30 "
    "active_from=2026-01-01T00:00:00Z\n"
    "subscriber id=25 account=200 msisdn=8613800000025 plan=payg18 "
    "active_from=2026-01-01T00:00:00Z\n";

static cdr_dir *directory(void)
{
    char root[4096], path[4200];
    test_tmpdir(root, sizeof root, "stmt-hint");
    snprintf(path, sizeof path, "%s/d.dir", root);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(DIRECTORY, f);
    fclose(f);
    cdr_dir *dir = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_parse_file(path, NULL, &dir, &dg), 0, "%d:%d: %s", dg.dg_line,
                 dg.dg_column, dg.dg_msg);
    rm_rf(root);
    return dir;
}

static const cdr_dir_subscriber *line(const cdr_dir *dir, uint64_t id)
{
    const cdr_dir_subscriber *sb = cdr_dir_find_subscriber(dir, id);
    cr_assert_not_null(sb);
    return sb;
}

/* UTC instant of 2026-11-DAY HOUR:00. */
static cdr_time at(unsigned day, unsigned hour)
{
    return cdr_days_from_civil(2026, 11, day) * 86400 + hour * 3600;
}

#define MAXREC 512

/* A line's records and their rating as billed. */
typedef struct usage {
    size_t n;
    cdr_record cr[MAXREC];
    cdr_rated rr[MAXREC];
} usage;

static void call(usage *u, const cdr_dir_subscriber *sb, cdr_time start, uint32_t seconds, int svc)
{
    cr_assert_lt(u->n, MAXREC);
    cdr_record *cr = &u->cr[u->n++];
    memset(cr, 0, sizeof *cr);
    snprintf(cr->cr_source, sizeof cr->cr_source, "MSC01");
    snprintf(cr->cr_origin_id, sizeof cr->cr_origin_id, "o%zu", u->n);
    snprintf(cr->cr_msisdn, sizeof cr->cr_msisdn, "%s", sb->sb_msisdn);
    snprintf(cr->cr_other, sizeof cr->cr_other, "8613912345678");
    cr->cr_start = start;
    cr->cr_duration = svc == CDR_SVC_VOICE ? seconds : 0;
    cr->cr_service = (uint8_t)svc;
    cr->cr_direction = CDR_DIR_MO;
}

/* `minutes` one-minute calls, one an hour from 2026-11-DAY 00:00 on. */
static void calls(usage *u, const cdr_dir_subscriber *sb, unsigned day, unsigned minutes)
{
    for (unsigned i = 0; i < minutes; i++)
        call(u, sb, at(day, 0) + (cdr_time)i * 3600, 60, CDR_SVC_VOICE);
}

/* Rate u's records as the rating core did under the line's plan: one set of counters for the
 * cycle, own bundles at their size, a pool bundle with pool_size units of which pool_used were
 * drawn by other members before. */
static void bill_rate(const cdr_plan_set *ps, const cdr_dir_subscriber *sb, usage *u,
                      uint64_t pool_size, uint64_t pool_used)
{
    const int f = cdr_plan_set_family(ps, sb->sb_plan);
    cr_assert_geq(f, 0);
    cdr_counters bc;
    memset(&bc, 0, sizeof bc);
    for (size_t i = 0; i < u->n; i++) {
        const cdr_plan *pl = cdr_plan_set_at(ps, f, u->cr[i].cr_start);
        cr_assert_not_null(pl);
        for (unsigned b = 0; b < pl->pl_nbundles; b++) {
            bc.bc_limit[b] = pl->pl_bundles[b].bu_pool ? pool_size : pl->pl_bundles[b].bu_units;
            if (i == 0 && pl->pl_bundles[b].bu_pool)
                bc.bc_used[b] = pool_used;
        }
        cr_assert_eq(cdr_rules_rate(pl, &u->cr[i], &bc, &u->rr[i]), 0);
        cr_assert_eq(u->rr[i].rr_cycle, CYCLE);
    }
}

static cdr_stmt_hint hint(const cdr_plan_set *ps, const cdr_dir *dir, const cdr_dir_subscriber *sb,
                          const usage *u)
{
    cdr_stmt_hint hn;
    cdr_diag dg;
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, sb, CYCLE, u->cr, u->rr, u->n, &hn, &dg), 0, "%s",
                 dg.dg_msg);
    return hn;
}

static usage U; /* one at a time: big enough not to go on the stack */

/* (1) big58: 58.00 a month, 100 minutes, then 0.20 a minute; payg18: 18.00, 0.50 a minute.
 * The line called 30 one-minute calls and sent 3 SMS (0.015 each in both plans).
 *   big58:  fee 58.00 (whole month) + voice 0 (30 min in the bundle)
 *           + sms_mms 3 x 0.015 = 0.045 -> 0.05 (rounded once per class, not 3 x 0.02 = 0.06)
 *           = 58.05
 *   payg18: fee 18.00 + voice 30 x 0.50 = 15.00 + sms_mms 0.05 = 33.05
 *   saving 58.05 - 33.05 = 25.00 */
Test(stmt_hint, a_light_user_of_a_bundle_plan_is_told_of_a_cheaper_one)
{
    cdr_plan_set *ps = catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                                 plan("payg18", "CNY", "18.00", "0.50", ""), NULL);
    cdr_dir *dir = directory();
    const cdr_dir_subscriber *sb = line(dir, 20);
    U.n = 0;
    calls(&U, sb, 2, 30);
    for (unsigned i = 0; i < 3; i++)
        call(&U, sb, at(5, i), 0, CDR_SVC_SMS);
    bill_rate(ps, sb, &U, 0, 0);
    const cdr_stmt_hint hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_candidates, 2);
    cr_assert_str_eq(hn.hn_current, "big58");
    cr_assert_eq(hn.hn_current_cost, M(58, 5), "%" PRId64, hn.hn_current_cost);
    cr_assert_str_eq(hn.hn_best, "payg18");
    cr_assert_eq(hn.hn_best_cost, M(33, 5), "%" PRId64, hn.hn_best_cost);
    cr_assert_eq(hn.hn_saving, M(25, 0));
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}

/* (2) The same plans, 200 one-minute calls:
 *   big58:  58.00 + (200 - 100) x 0.20 = 20.00 -> 78.00
 *   payg18: 18.00 + 200 x 0.50 = 100.00 -> 118.00
 * No plan is cheaper: KEEP. Seen from a payg18 line with the same usage, big58 is 40.00 cheaper
 * (the current plan is re-rated too: its cost is 118.00). */
Test(stmt_hint, a_heavy_user_keeps_the_bundle_plan)
{
    cdr_plan_set *ps = catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                                 plan("payg18", "CNY", "18.00", "0.50", ""), NULL);
    cdr_dir *dir = directory();
    const cdr_dir_subscriber *sb = line(dir, 21);
    U.n = 0;
    for (unsigned d = 1; d <= 10; d++)
        calls(&U, sb, d, 20);
    bill_rate(ps, sb, &U, 0, 0);
    cdr_stmt_hint hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_KEEP);
    cr_assert_eq(hn.hn_candidates, 2);
    cr_assert_eq(hn.hn_current_cost, M(78, 0), "%" PRId64, hn.hn_current_cost);
    cr_assert_str_eq(hn.hn_best, "");
    cr_assert_eq(hn.hn_best_cost, 0);
    cr_assert_eq(hn.hn_saving, 0);

    const cdr_dir_subscriber *pg = line(dir, 25);
    for (size_t i = 0; i < U.n; i++)
        snprintf(U.cr[i].cr_msisdn, sizeof U.cr[i].cr_msisdn, "%s", pg->sb_msisdn);
    bill_rate(ps, pg, &U, 0, 0);
    hn = hint(ps, dir, pg, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_current_cost, M(118, 0));
    cr_assert_str_eq(hn.hn_best, "big58");
    cr_assert_eq(hn.hn_best_cost, M(78, 0));
    cr_assert_eq(hn.hn_saving, M(40, 0));
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}

/* (3) sms5 (5.00 a month) offers no voice: it cannot rate the line's calls (no_rate), so it is
 * not a candidate although 5.00 is less than big58's 58.00. The same plan with voice at 0.10
 * (voice5: 5.00 + 30 x 0.10 = 8.00) is one, and the cheapest. */
Test(stmt_hint, a_plan_that_cannot_rate_a_record_is_no_candidate)
{
    cdr_plan_set *ps = catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                                 plan("sms5", "CNY", "5.00", NULL, ""), NULL);
    cdr_dir *dir = directory();
    const cdr_dir_subscriber *sb = line(dir, 20);
    U.n = 0;
    calls(&U, sb, 2, 30);
    bill_rate(ps, sb, &U, 0, 0);
    cdr_stmt_hint hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_KEEP);
    cr_assert_eq(hn.hn_candidates, 1);
    cr_assert_eq(hn.hn_current_cost, M(58, 0));
    cdr_plan_set_release(ps);

    ps = catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                   plan("sms5", "CNY", "5.00", NULL, ""), plan("voice5", "CNY", "5.00", "0.10", ""),
                   NULL);
    hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_candidates, 2);
    cr_assert_str_eq(hn.hn_best, "voice5");
    cr_assert_eq(hn.hn_best_cost, M(8, 0));
    cr_assert_eq(hn.hn_saving, M(50, 0));
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}

/* (4) eur5 (EUR, 5.00 + 0.10 a minute) would cost 8.00, but charges in another currency than the
 * line's CNY: not a candidate. Ties go to the smaller plan id: cny8a and cny8b (both CNY, 8.00
 * flat with free calls) cost 8.00 each, cny8a is named. */
Test(stmt_hint, a_plan_in_another_currency_is_no_candidate_and_ties_go_to_the_smaller_id)
{
    cdr_plan_set *ps = catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                                 plan("eur5", "EUR", "5.00", "0.10", ""), NULL);
    cdr_dir *dir = directory();
    const cdr_dir_subscriber *sb = line(dir, 20);
    U.n = 0;
    calls(&U, sb, 2, 30);
    bill_rate(ps, sb, &U, 0, 0);
    cdr_stmt_hint hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_KEEP);
    cr_assert_eq(hn.hn_candidates, 1);
    cr_assert_eq(hn.hn_current_cost, M(58, 0));
    cdr_plan_set_release(ps);

    ps = catalogue(
        plan("cny8b", "CNY", "8.00", "0", ""), plan("big58", "CNY", "58.00", "0.20", MIN100),
        plan("eur5", "EUR", "5.00", "0.10", ""), plan("cny8a", "CNY", "8.00", "0", ""), NULL);
    hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_candidates, 3);
    cr_assert_str_eq(hn.hn_best, "cny8a");
    cr_assert_eq(hn.hn_best_cost, M(8, 0));
    cr_assert_eq(hn.hn_saving, M(50, 0));
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}

/* (5) Line 22 was active from 2026-11-01 00:00 until 2026-11-15 12:00: 15 of 30 days (the 15th
 * counts: active at some moment of it). 30 one-minute calls.
 *   big58:  58.00 x 15 / 30 = 29.00 + 0 (bundle)                     = 29.00
 *   payg18: 18.00 x 15 / 30 =  9.00 + 30 x 0.50 = 15.00              = 24.00
 *   odd20:  19.99 x 15 / 30 =  9.995 -> 10.00 (half-up) + 30 x 0.30 = 9.00 = 19.00
 * odd20 is the cheapest: saving 10.00. (Unrounded, odd20 would be 18.995.) */
Test(stmt_hint, fees_are_prorated_by_active_days_as_the_bill_run_does)
{
    cdr_plan_set *ps = catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                                 plan("payg18", "CNY", "18.00", "0.50", ""),
                                 plan("odd20", "CNY", "19.99", "0.30", ""), NULL);
    cdr_dir *dir = directory();
    const cdr_dir_subscriber *sb = line(dir, 22);
    unsigned cycle_days;
    cdr_time last;
    cr_assert_eq(cdr_bill_active_days(cdr_bill_family_tz(ps, cdr_plan_set_family(ps, "big58")),
                                      CYCLE, sb, &cycle_days, &last),
                 15);
    cr_assert_eq(cycle_days, 30);
    cr_assert_eq(last, at(15, 12) - 1);
    cdr_money fee;
    cr_assert_eq(cdr_bill_prorate(M(19, 99), 15, 30, &fee), 0);
    cr_assert_eq(fee, M(10, 0));
    cr_assert_eq(cdr_bill_prorate(M(19, 99), 31, 30, &fee), CDR_RANGE);

    U.n = 0;
    calls(&U, sb, 3, 30);
    bill_rate(ps, sb, &U, 0, 0);
    const cdr_stmt_hint hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_candidates, 3);
    cr_assert_eq(hn.hn_current_cost, M(29, 0), "%" PRId64, hn.hn_current_cost);
    cr_assert_str_eq(hn.hn_best, "odd20");
    cr_assert_eq(hn.hn_best_cost, M(19, 0), "%" PRId64, hn.hn_best_cost);
    cr_assert_eq(hn.hn_saving, M(10, 0));
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}

/* (6) pool30: 30.00 a month, voice from the enterprise pool, then 0.20 a minute; pool10: 10.00,
 * the pool, then 0.50 a minute. Product 70's pool has 60 minutes; the other members had drawn 40
 * before line 23's 50 one-minute calls, so it drew 20 minutes and 30 were overflow.
 *   pool30 (re-rated, allowance = the 20 minutes drawn): 30.00 + 30 x 0.20 = 6.00 = 36.00
 *   pool10: 10.00 + 30 x 0.50 = 15.00 = 25.00 (not 10.00: the other members' 40 minutes were
 *           never the line's to take)
 * saving 11.00. Line 24 (no enterprise) on pool30 drew nothing: allowance 0 under every plan.
 *   pool30: 30.00 + 50 x 0.20 = 10.00 = 40.00; pool10: 10.00 + 50 x 0.50 = 25.00 = 35.00
 * saving 5.00. */
Test(stmt_hint, a_pool_gives_another_plan_only_what_the_line_drew)
{
    cdr_plan_set *ps = catalogue(plan("pool30", "CNY", "30.00", "0.20", POOL),
                                 plan("pool10", "CNY", "10.00", "0.50", POOL), NULL);
    cdr_dir *dir = directory();
    const cdr_dir_subscriber *sb = line(dir, 23);
    U.n = 0;
    calls(&U, sb, 4, 20);
    calls(&U, sb, 5, 20);
    calls(&U, sb, 6, 10);
    bill_rate(ps, sb, &U, 3600, 2400);
    uint64_t drew = 0;
    for (size_t i = 0; i < U.n; i++)
        drew += U.rr[i].rr_bundle_units;
    cr_assert_eq(drew, 1200);
    cdr_stmt_hint hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_candidates, 2);
    cr_assert_eq(hn.hn_current_cost, M(36, 0), "%" PRId64, hn.hn_current_cost);
    cr_assert_str_eq(hn.hn_best, "pool10");
    cr_assert_eq(hn.hn_best_cost, M(25, 0), "%" PRId64, hn.hn_best_cost);
    cr_assert_eq(hn.hn_saving, M(11, 0));

    const cdr_dir_subscriber *in = line(dir, 24);
    for (size_t i = 0; i < U.n; i++)
        snprintf(U.cr[i].cr_msisdn, sizeof U.cr[i].cr_msisdn, "%s", in->sb_msisdn);
    bill_rate(ps, in, &U, 0, 0);
    hn = hint(ps, dir, in, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_current_cost, M(40, 0), "%" PRId64, hn.hn_current_cost);
    cr_assert_eq(hn.hn_best_cost, M(35, 0), "%" PRId64, hn.hn_best_cost);
    cr_assert_eq(hn.hn_saving, M(5, 0));
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}

/* (7) Versions: cheap v1 (4.00, 0.50 a minute) and v2 from 2026-11-16 (6.00, 0.40 a minute).
 * 10 one-minute calls on the 2nd, 20 on the 20th: each record under the version in effect at its
 * start, the fee of the version in effect at the line's last active moment (v2):
 *   cheap: 6.00 + 10 x 0.50 + 20 x 0.40 = 6.00 + 5.00 + 8.00 = 19.00; big58: 58.00. */
Test(stmt_hint, each_record_is_rated_by_the_version_in_effect_at_its_start)
{
    cdr_plan_set *ps =
        catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                  plan_v("cheap", 1, "2026-01-01T00:00:00Z", "CNY", "4.00", "0.50", ""),
                  plan_v("cheap", 2, "2026-11-16T00:00:00Z", "CNY", "6.00", "0.40", ""), NULL);
    cdr_dir *dir = directory();
    const cdr_dir_subscriber *sb = line(dir, 20);
    U.n = 0;
    calls(&U, sb, 2, 10);
    calls(&U, sb, 20, 20);
    bill_rate(ps, sb, &U, 0, 0);
    const cdr_stmt_hint hn = hint(ps, dir, sb, &U);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_current_cost, M(58, 0));
    cr_assert_str_eq(hn.hn_best, "cheap");
    cr_assert_eq(hn.hn_best_cost, M(19, 0), "%" PRId64, hn.hn_best_cost);
    cr_assert_eq(hn.hn_saving, M(39, 0));
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}

/* A line with no records still gets a result on fees alone; a record of another cycle and a
 * NULL argument are refused. */
Test(stmt_hint, no_records_and_bad_arguments)
{
    cdr_plan_set *ps = catalogue(plan("big58", "CNY", "58.00", "0.20", MIN100),
                                 plan("payg18", "CNY", "18.00", "0.50", ""), NULL);
    cdr_dir *dir = directory();
    cdr_stmt_hint hn;
    cdr_diag dg;
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, line(dir, 20), CYCLE, NULL, NULL, 0, &hn, &dg), 0);
    cr_assert_eq(hn.hn_state, CDR_HINT_CHEAPER);
    cr_assert_eq(hn.hn_current_cost, M(58, 0));
    cr_assert_eq(hn.hn_best_cost, M(18, 0));
    cr_assert_eq(hn.hn_saving, M(40, 0));
    /* payg18 without usage: the cheapest already */
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, line(dir, 25), CYCLE, NULL, NULL, 0, &hn, &dg), 0);
    cr_assert_eq(hn.hn_state, CDR_HINT_KEEP);
    cr_assert_eq(hn.hn_current_cost, M(18, 0));
    /* line 22 was not active in 2026-12 and has no record there: nothing to compare */
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, line(dir, 22), 202612, NULL, NULL, 0, &hn, &dg), 0);
    cr_assert_eq(hn.hn_state, CDR_HINT_NONE);
    cr_assert_eq(hn.hn_candidates, 0);

    const cdr_dir_subscriber *sb = line(dir, 20);
    U.n = 0;
    calls(&U, sb, 2, 2);
    bill_rate(ps, sb, &U, 0, 0);
    U.rr[1].rr_cycle = 202610;
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, sb, CYCLE, U.cr, U.rr, U.n, &hn, &dg), CDR_EINVAL);
    cr_assert(strstr(dg.dg_msg, "cycle 202610") != NULL, "%s", dg.dg_msg);
    U.rr[1].rr_reason = CDR_REASON_NO_ZONE; /* unratable: never billed, skipped */
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, sb, CYCLE, U.cr, U.rr, U.n, &hn, &dg), 0);
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, sb, 202613, U.cr, U.rr, U.n, &hn, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_stmt_hint_line(ps, NULL, sb, CYCLE, U.cr, U.rr, U.n, &hn, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_stmt_hint_line(ps, dir, sb, CYCLE, NULL, U.rr, U.n, &hn, &dg), CDR_EINVAL);
    cdr_dir_free(dir);
    cdr_plan_set_release(ps);
}
