/* test_cycles.c - closed billing cycles: the store's API (cdr_cycle_*), and the rating core
 * billing late usage of a closed cycle in the first open cycle after it, with that cycle's
 * counters and CDR_RATED_FLAG_LATE (cdr_rater_set_closed), cdr_rater_force_cycle, results
 * independent of the thread count, and the flag on the wire. docs/rating.md section 10. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"
#include "cdr_rate.h"
#include "cdr_store.h"

static void rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(cycles, store_close_list_first_open)
{
    char dir[] = "/tmp/cdrcy_XXXXXX";
    cr_assert(mkdtemp(dir));
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    /* a store that never closed a cycle: every cycle open, the list empty */
    uint32_t *list = (uint32_t *)1, open = 0;
    size_t n = 9;
    int closed = 7;
    cr_assert_eq(cdr_cycle_closed_list(st, &list, &n, &dg), 0, "%s", dg.dg_msg);
    cr_assert_null(list);
    cr_assert_eq(n, 0);
    cr_assert_eq(cdr_cycle_is_closed(st, 202611, &closed, &dg), 0);
    cr_assert_eq(closed, 0);
    cr_assert_eq(cdr_cycle_first_open(st, 202611, &open, &dg), 0);
    cr_assert_eq(open, 202611);
    cdr_time when = 0;
    cr_assert_eq(cdr_cycle_closed_at(st, 202611, &when, &dg), CDR_NOTFOUND);

    cr_assert_eq(cdr_cycle_close(st, 202612, 1000, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_cycle_close(st, 202611, 2000, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_cycle_close(st, 202609, 3000, &dg), 0, "%s", dg.dg_msg);
    /* idempotent: a second close keeps the first time */
    cr_assert_eq(cdr_cycle_close(st, 202611, 9999, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_cycle_closed_at(st, 202611, &when, &dg), 0);
    cr_assert_eq(when, 2000);
    cr_assert_eq(cdr_cycle_is_closed(st, 202612, &closed, &dg), 0);
    cr_assert_eq(closed, 1);
    cr_assert_eq(cdr_cycle_is_closed(st, 202610, &closed, &dg), 0);
    cr_assert_eq(closed, 0);

    cr_assert_eq(cdr_cycle_closed_list(st, &list, &n, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(list[0], 202609);
    cr_assert_eq(list[1], 202611);
    cr_assert_eq(list[2], 202612);
    free(list);

    /* two consecutive closed cycles: over the year boundary to 2027-01 */
    cr_assert_eq(cdr_cycle_first_open(st, 202611, &open, &dg), 0);
    cr_assert_eq(open, 202701);
    cr_assert_eq(cdr_cycle_first_open(st, 202612, &open, &dg), 0);
    cr_assert_eq(open, 202701);
    cr_assert_eq(cdr_cycle_first_open(st, 202609, &open, &dg), 0);
    cr_assert_eq(open, 202610);
    cr_assert_eq(cdr_cycle_first_open(st, 202610, &open, &dg), 0);
    cr_assert_eq(open, 202610);

    /* not YYYYMM: refused, nothing written */
    cr_assert_eq(cdr_cycle_close(st, 202613, 1, &dg), CDR_EINVAL);
    cr_assert(strstr(dg.dg_msg, "202613 is not a billing cycle"), "%s", dg.dg_msg);
    cr_assert_eq(cdr_cycle_close(st, 196912, 1, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_cycle_is_closed(st, 0, &closed, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_cycle_first_open(st, 2026, &open, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_cycle_next(202612), 202701);
    cr_assert_eq(cdr_cycle_next(202601), 202602);
    cr_assert_eq(cdr_cycle_next(999912), 0);
    cdr_store_close(st);

    /* read-only, the same answers */
    cr_assert_eq(cdr_store_open(dir, MDB_RDONLY, &st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_cycle_closed_list(st, &list, &n, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(n, 3);
    free(list);
    cr_assert_eq(cdr_cycle_first_open(st, 202611, &open, &dg), 0);
    cr_assert_eq(open, 202701);
    cdr_store_close(st);
    rm_rf(dir);
}

/* Europe/Berlin, voice at 0.60/min, a 100 s bundle per cycle */
static const char plan_v1[] =
    "plan: t\nversion: 1\neffective_from: 2026-01-01T00:00:00+00:00\ncurrency: EUR\n"
    "timezone: Europe/Berlin\nmonthly_fee: 10\nservices: [voice]\nhome_networks: [\"262-01\"]\n"
    "zones:\n  - {name: de, prefixes: [\"49\"]}\n"
    "bands:\n  - {name: all, days: [mon, tue, wed, thu, fri, sat, sun, holiday], from: \"00:00\", "
    "to: \"24:00\"}\n"
    "rates:\n  - {service: voice, zone: de, band: all, price: 0.60, per: 60, increments: 1/1}\n"
    "bundles:\n  - {name: m100, service: voice, zones: [de], units: 100s}\n";

static cdr_plan_set *plan_set(void)
{
    cdr_plan **plans = calloc(1, sizeof *plans);
    cdr_diag dg;
    cr_assert_eq(cdr_plan_compile_text(plan_v1, strlen(plan_v1), "t.yaml", &plans[0], &dg), 0, "%s",
                 dg.dg_msg);
    cdr_plan_set *ps;
    cr_assert_eq(cdr_plan_set_from(plans, 1, &ps, &dg), 0, "%s", dg.dg_msg);
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

#define T_OCT 1790841600 /* 2026-10-01T08:00:00Z, cycle 202610 */
#define T_NOV 1793520000 /* 2026-11-01T08:00:00Z, cycle 202611 */
#define T_DEC 1796889600 /* 2026-12-10T08:00:00Z, cycle 202612 */
#define T_JAN 1798790400 /* 2027-01-01T08:00:00Z, cycle 202701 */

Test(cycles, late_record_lands_in_the_next_open_cycle_with_its_counters)
{
    cdr_plan_set *ps = plan_set();
    cdr_subtab *tab = one_sub();
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(2, ps, tab, &rt), 0);
    const uint32_t closed[] = {202611};
    cr_assert_eq(cdr_rater_set_closed(rt, closed, 1), 0);
    /* December's own record first: 70 s of December's bundle */
    cdr_record recs[3] = {call("dec", T_DEC, 70), call("nov", T_NOV, 70), call("oct", T_OCT, 10)};
    cdr_rated out[3];
    cdr_rate_stats rs;
    memset(&rs, 0, sizeof rs);
    cr_assert_eq(cdr_rater_rate(rt, recs, 3, out, &rs), 0);
    cr_assert_eq(out[0].rr_cycle, 202612);
    cr_assert_eq(out[0].rr_flags, 0);
    cr_assert_eq(out[0].rr_bundle_units, 70);
    /* November's, late: billed in December, with December's bundle (30 s left) */
    cr_assert_eq(out[1].rr_reason, CDR_REASON_NONE);
    cr_assert_eq(out[1].rr_cycle, 202612);
    cr_assert_eq(out[1].rr_flags, CDR_RATED_FLAG_LATE);
    cr_assert_eq(out[1].rr_bundle_units, 30);
    cr_assert_eq(out[1].rr_overflow_units, 40);
    cr_assert_eq(out[1].rr_charge, 400000);
    /* October is open: its own cycle, its own bundle */
    cr_assert_eq(out[2].rr_cycle, 202610);
    cr_assert_eq(out[2].rr_flags, 0);
    cr_assert_eq(out[2].rr_bundle_units, 10);
    cr_assert_eq(rs.rs_late, 1);
    cr_assert_eq(cdr_rater_counter_get(rt, 7, 202612, "m100", CDR_SVC_VOICE, 0), 100);
    cr_assert_eq(cdr_rater_counter_get(rt, 7, 202611, "m100", CDR_SVC_VOICE, 0), 0);
    cr_assert_eq(cdr_rater_counter_get(rt, 7, 202610, "m100", CDR_SVC_VOICE, 0), 10);

    /* the same records rated as December's own (an offline rating of the moved records) give
     * the same counters and charges */
    cdr_rater *rt2;
    cr_assert_eq(cdr_rater_create(1, ps, tab, &rt2), 0);
    cdr_record moved[2] = {call("dec", T_DEC, 70), call("nov", T_DEC + 60, 70)};
    cdr_rated out2[2];
    cr_assert_eq(cdr_rater_rate(rt2, moved, 2, out2, NULL), 0);
    cr_assert_eq(out2[1].rr_cycle, out[1].rr_cycle);
    cr_assert_eq(out2[1].rr_charge, out[1].rr_charge);
    cr_assert_eq(out2[1].rr_bundle_units, out[1].rr_bundle_units);
    cr_assert_eq(cdr_rater_counter_get(rt2, 7, 202612, "m100", CDR_SVC_VOICE, 0), 100);

    /* invalid lists are refused and change nothing */
    const uint32_t bad[] = {202611, 202613};
    cr_assert_eq(cdr_rater_set_closed(rt, bad, 2), CDR_EINVAL);
    cr_assert_eq(cdr_rater_force_cycle(rt, 20261), CDR_EINVAL);
    cdr_record again = call("nov2", T_NOV + 60, 1);
    cdr_rated o;
    cr_assert_eq(cdr_rater_rate(rt, &again, 1, &o, NULL), 0);
    cr_assert_eq(o.rr_cycle, 202612);
    cr_assert_eq(o.rr_flags, CDR_RATED_FLAG_LATE);
    /* none closed again: its own cycle */
    cr_assert_eq(cdr_rater_set_closed(rt, NULL, 0), 0);
    cr_assert_eq(cdr_rater_rate(rt, &again, 1, &o, NULL), 0);
    cr_assert_eq(o.rr_cycle, 202611);
    cr_assert_eq(o.rr_flags, 0);
    cdr_rater_destroy(rt);
    cdr_rater_destroy(rt2);
    cdr_plan_set_release(ps);
    cdr_subtab_free(tab);
}

Test(cycles, two_consecutive_closed_cycles)
{
    cdr_plan_set *ps = plan_set();
    cdr_subtab *tab = one_sub();
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(1, ps, tab, &rt), 0);
    const uint32_t closed[] = {202612, 202611, 202611}; /* any order, doubles allowed */
    cr_assert_eq(cdr_rater_set_closed(rt, closed, 3), 0);
    cdr_record recs[4] = {call("nov", T_NOV, 60), call("dec", T_DEC, 30), call("jan", T_JAN, 5),
                          call("oct", T_OCT, 1)};
    cdr_rated out[4];
    cr_assert_eq(cdr_rater_rate(rt, recs, 4, out, NULL), 0);
    const uint32_t want[] = {202701, 202701, 202701, 202610};
    const uint8_t flags[] = {CDR_RATED_FLAG_LATE, CDR_RATED_FLAG_LATE, 0, 0};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(out[i].rr_cycle, want[i], "record %d: %u", i, out[i].rr_cycle);
        cr_assert_eq(out[i].rr_flags, flags[i], "record %d", i);
    }
    /* all three January records share January's bundle: 60 + 30 + 5 = 95 s */
    cr_assert_eq(cdr_rater_counter_get(rt, 7, 202701, "m100", CDR_SVC_VOICE, 0), 95);
    cdr_rater_destroy(rt);
    cdr_plan_set_release(ps);
    cdr_subtab_free(tab);
}

Test(cycles, force_cycle)
{
    cdr_plan_set *ps = plan_set();
    cdr_subtab *tab = one_sub();
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(3, ps, tab, &rt), 0);
    const uint32_t closed[] = {202612};
    cr_assert_eq(cdr_rater_set_closed(rt, closed, 1), 0);
    cr_assert_eq(cdr_rater_force_cycle(rt, 202612), 0); /* wins over the closed list */
    cdr_record recs[3] = {call("nov", T_NOV, 60), call("dec", T_DEC, 60), call("jan", T_JAN, 5)};
    cdr_rated out[3];
    cr_assert_eq(cdr_rater_rate(rt, recs, 3, out, NULL), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(out[i].rr_cycle, 202612, "record %d", i);
    cr_assert_eq(out[0].rr_flags, CDR_RATED_FLAG_LATE);
    cr_assert_eq(out[1].rr_flags, 0); /* its own cycle */
    cr_assert_eq(out[2].rr_flags, CDR_RATED_FLAG_LATE);
    cr_assert_eq(out[1].rr_bundle_units, 40); /* after the 60 s of the first */
    cr_assert_eq(out[2].rr_overflow_units, 5);
    cr_assert_eq(cdr_rater_counter_get(rt, 7, 202612, "m100", CDR_SVC_VOICE, 0), 100);
    /* off: the closed list applies again */
    cr_assert_eq(cdr_rater_force_cycle(rt, 0), 0);
    cdr_record r = call("dec2", T_DEC + 60, 1);
    cr_assert_eq(cdr_rater_rate(rt, &r, 1, out, NULL), 0);
    cr_assert_eq(out[0].rr_cycle, 202701);
    cr_assert_eq(out[0].rr_flags, CDR_RATED_FLAG_LATE);
    cdr_rater_destroy(rt);
    cdr_plan_set_release(ps);
    cdr_subtab_free(tab);
}

/* Generated traffic with the cycle most records fall in closed: the same results and counters
 * with 1 and 4 threads, and every late record is billed in a cycle after its own. */
Test(cycles, independent_of_thread_count, .timeout = 300)
{
    cdr_plan_set *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_bench_embedded_plan_set(&ps, &dg), 0, "%s", dg.dg_msg);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = 2000;
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    enum { N = 30000 };
    cdr_record *recs = malloc(N * sizeof *recs);
    cdr_rated *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b), *own = calloc(N, sizeof *own);
    cdr_gen_cdrs(g, recs, N);
    /* the cycles as rated with none closed */
    cdr_rater *r0;
    cr_assert_eq(cdr_rater_create(1, ps, cdr_gen_subscribers(g), &r0), 0);
    cr_assert_eq(cdr_rater_rate(r0, recs, N, own, NULL), 0);
    cdr_rater_destroy(r0);
    uint32_t cyc[16] = {0};
    size_t cnt[16] = {0}, nc = 0, best = 0;
    for (size_t i = 0; i < N; i++) {
        if (own[i].rr_reason)
            continue;
        size_t k = 0;
        while (k < nc && cyc[k] != own[i].rr_cycle)
            k++;
        if (k == nc && nc < 16)
            cyc[nc++] = own[i].rr_cycle;
        if (k < 16)
            cnt[k]++;
    }
    for (size_t k = 1; k < nc; k++)
        if (cnt[k] > cnt[best])
            best = k;
    const uint32_t closed[] = {cyc[best]};
    cdr_rater *r1, *r4;
    cr_assert_eq(cdr_rater_create(1, ps, cdr_gen_subscribers(g), &r1), 0);
    cr_assert_eq(cdr_rater_create(4, ps, cdr_gen_subscribers(g), &r4), 0);
    cr_assert_eq(cdr_rater_set_closed(r1, closed, 1), 0);
    cr_assert_eq(cdr_rater_set_closed(r4, closed, 1), 0);
    for (size_t off = 0; off < N; off += 7000) { /* several batches */
        const size_t n = N - off < 7000 ? N - off : 7000;
        cr_assert_eq(cdr_rater_rate(r1, recs + off, n, a + off, NULL), 0);
        cr_assert_eq(cdr_rater_rate(r4, recs + off, n, b + off, NULL), 0);
    }
    size_t late = 0;
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(memcmp(&a[i], &b[i], sizeof a[i]), 0, "record %zu differs", i);
        if (a[i].rr_flags & CDR_RATED_FLAG_LATE) {
            late++;
            cr_assert_eq(own[i].rr_cycle, closed[0]);
            cr_assert_eq(a[i].rr_cycle, cdr_cycle_next(closed[0]));
        } else if (!a[i].rr_reason) {
            cr_assert_neq(a[i].rr_cycle, closed[0]);
        }
    }
    cr_assert_eq(late, cnt[best]);
    cr_assert_eq(cdr_rater_counter_count(r1), cdr_rater_counter_count(r4));
    cdr_rater_destroy(r1);
    cdr_rater_destroy(r4);
    cdr_plan_set_release(ps);
    cdr_gen_destroy(g);
    free(recs);
    free(a);
    free(b);
    free(own);
}

/* The flag is never dropped on the wire: with a class (version 4) and without (version 3). */
Test(cycles, late_flag_on_the_wire_and_in_the_renderers)
{
    cdr_plan_set *ps = plan_set();
    cdr_subtab *tab = one_sub();
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(1, ps, tab, &rt), 0);
    const uint32_t closed[] = {202611};
    cr_assert_eq(cdr_rater_set_closed(rt, closed, 1), 0);
    cdr_record cr = call("nov", T_NOV, 30);
    cdr_rated rr;
    cr_assert_eq(cdr_rater_rate(rt, &cr, 1, &rr, NULL), 0);
    cr_assert_eq(rr.rr_flags, CDR_RATED_FLAG_LATE);
    uint8_t w[CDR_RATED_WIRE_MAX];
    cdr_record cr2;
    cdr_rated rr2;
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    size_t n = cdr_rated_wire_encode(&cr, &rr, "t", w);
    cr_assert_eq(w[0], 4);
    cr_assert_eq(cdr_rated_wire_decode(w, n, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(rr2.rr_flags, CDR_RATED_FLAG_LATE);
    cr_assert_eq(rr2.rr_cycle, 202612);
    rr.rr_class = CDR_CLASS_NONE; /* as read from an older version */
    n = cdr_rated_wire_encode(&cr, &rr, "t", w);
    cr_assert_eq(w[0], 3);
    cr_assert_eq(cdr_rated_wire_decode(w, n, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(rr2.rr_flags, CDR_RATED_FLAG_LATE);
    /* flags above the defined ones are refused */
    w[n - 1] = 32;
    cr_assert_eq(cdr_rated_wire_decode(w, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    rr.rr_flags |= CDR_RATED_FLAG_WARNED;
    char line[2048];
    const cdr_plan *pl = ps->ps_plans[0];
    cr_assert_gt(cdr_rated_format_csv(&cr, &rr, pl, line, sizeof line), 0);
    cr_assert(strstr(line, ",202612,"), "%s", line);
    cr_assert(strstr(line, ",warned;late\n"), "%s", line);
    cr_assert_gt(cdr_rated_format_json(&cr, &rr, pl, line, sizeof line), 0);
    cr_assert(strstr(line, "\"flags\":\"warned;late\""), "%s", line);
    cdr_rater_destroy(rt);
    cdr_plan_set_release(ps);
    cdr_subtab_free(tab);
}
