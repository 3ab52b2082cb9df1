/* test_live.c - the live state (cdr_live.h): rated records summed per line and account and cycle,
 * per currency, added to the store in the caller's transaction, and read back by cdr_live_query.
 * Hand-computed sums; currencies never added together; unratable records charge nobody; too many
 * currencies refused without a partial add; an unknown MSISDN is CDR_NOTFOUND.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_archive.h"
#include "cdr_ledger.h"
#include "cdr_live.h"
#include "cdr_stream.h"

static char g_dir[256];
static cdr_store *g_st;

static const char DIRFILE[] =
    "directory version=1\n"
    "credit_class id=A limit=100.00 term_days=30 roaming_without_deposit=yes\n"
    "customer id=1 type=person name=\"Ann\" credit_class=A\n"
    "account id=10 customer=1\n"
    "subscriber id=100 account=10 msisdn=8613800000001 plan=p active_from=2026-01-01\n"
    "subscriber id=101 account=10 msisdn=8613800000002 plan=p active_from=2026-01-01\n"
    "customer id=2 type=person name=\"Bob\" credit_class=A\n"
    "account id=20 customer=2\n"
    "subscriber id=200 account=20 msisdn=4915100000001 plan=q active_from=2026-01-01\n";

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/cdr_test_live_XXXXXX");
    cr_assert(mkdtemp(g_dir) != NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/store", g_dir);
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(p, 0, &g_st, &dg), 0, "%s", dg.dg_msg);
    snprintf(p, sizeof p, "%s/d.dir", g_dir);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(DIRFILE, f);
    fclose(f);
    cr_assert_eq(cdr_dir_load_file(g_st, p, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
}

static void teardown(void)
{
    cdr_store_close(g_st);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(live, .init = setup, .fini = teardown);

static cdr_sub sub(uint64_t id, uint64_t account)
{
    cdr_sub su;
    memset(&su, 0, sizeof su);
    su.su_id = id;
    su.su_owner = id;
    su.su_account = account;
    return su;
}

/* A plan for the records below: zone 0 normal, 1 free, 2 roaming; bundle 0 "min300" (voice,
 * own), bundle 1 the data pool. */
static cdr_plan g_plan;

static const cdr_plan *plan(void)
{
    cdr_plan *pl = &g_plan;
    memset(pl, 0, sizeof *pl);
    snprintf(pl->pl_id, sizeof pl->pl_id, "p");
    pl->pl_nzones = 3;
    pl->pl_zones[1].zo_kind = CDR_ZONE_FREE;
    pl->pl_zones[2].zo_kind = CDR_ZONE_ROAMING;
    pl->pl_nbundles = 2;
    snprintf(pl->pl_bundles[0].bu_name, sizeof pl->pl_bundles[0].bu_name, "min300");
    pl->pl_bundles[0].bu_service = CDR_SVC_VOICE;
    pl->pl_bundles[0].bu_units = 18000;
    snprintf(pl->pl_bundles[1].bu_name, sizeof pl->pl_bundles[1].bu_name, "pool");
    pl->pl_bundles[1].bu_service = CDR_SVC_DATA;
    pl->pl_bundles[1].bu_pool = 1;
    return pl;
}

/* One rated record: service, cycle, currency, charge, units split; zone as above, bundle units
 * drawn on the service's bundle of the plan. */
static void add(cdr_live_acc *acc, const cdr_sub *su, int svc, uint32_t cycle, const char *cur,
                cdr_money charge, uint64_t bundle, uint64_t overflow, uint64_t free_units,
                cdr_time start, int zone, int want_rc)
{
    cdr_record cr;
    cdr_rated rr;
    memset(&cr, 0, sizeof cr);
    memset(&rr, 0, sizeof rr);
    cr.cr_start = start;
    rr.rr_service = (uint8_t)svc;
    rr.rr_cycle = cycle;
    memcpy(rr.rr_currency, cur, 3);
    rr.rr_charge = charge;
    rr.rr_bundle_units = bundle;
    rr.rr_overflow_units = overflow;
    rr.rr_free_units = free_units;
    rr.rr_units = bundle + overflow + free_units;
    rr.rr_zone = (int16_t)zone;
    rr.rr_bundle = (int16_t)(!bundle ? -1 : svc == CDR_SVC_VOICE ? 0 : 1);
    cr_assert_eq(cdr_live_acc_add(acc, su, &cr, &rr, plan()), want_rc);
}

/* A rated record of line su with credit flags at time t. */
static void add_flagged(cdr_live_acc *acc, const cdr_sub *su, unsigned flags, cdr_time t)
{
    cdr_record cr;
    cdr_rated rr;
    memset(&cr, 0, sizeof cr);
    memset(&rr, 0, sizeof rr);
    cr.cr_start = t;
    rr.rr_service = CDR_SVC_VOICE;
    rr.rr_cycle = 202601;
    memcpy(rr.rr_currency, "CNY", 3);
    rr.rr_charge = 1000000;
    rr.rr_units = rr.rr_overflow_units = 60;
    rr.rr_zone = 0;
    rr.rr_bundle = -1;
    rr.rr_flags = (uint8_t)flags;
    cr_assert_eq(cdr_live_acc_add(acc, su, &cr, &rr, plan()), 0);
}

static void write_acc(cdr_live_acc *acc);
static void query(const char *msisdn, uint32_t cycle, cdr_live_view *v);

/* The line's credit status comes from its records' flags: warned at the first record rated
 * warned, suspended at the first rated suspended (first in rating order, whatever the event times
 * of the later ones); several writes keep the first times and the highest status. */
Test(live, credit_status_from_the_records_flags)
{
    cdr_sub su = sub(100, 10);
    cdr_live_acc *acc;
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    add_flagged(acc, &su, 0, 1767254400);
    add_flagged(acc, &su, CDR_RATED_FLAG_WARNED, 1767254500);
    add_flagged(acc, &su, CDR_RATED_FLAG_WARNED, 1767254400); /* later, of an earlier time */
    write_acc(acc);
    cdr_live_acc_free(acc);
    cdr_live_view v;
    query("8613800000001", 202601, &v);
    cr_expect_eq(v.lv_line.ll_status, CDR_LINE_WARNED);
    cr_expect_eq(v.lv_line.ll_warned_at, 1767254500);
    cr_expect_eq(v.lv_line.ll_suspended_at, 0);
    cdr_live_view_free(&v);
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    add_flagged(acc, &su, CDR_RATED_FLAG_SUSPENDED, 1767600000);
    add_flagged(acc, &su, CDR_RATED_FLAG_SUSPENDED, 1767500000);
    write_acc(acc);
    cdr_live_acc_free(acc);
    query("8613800000001", 202601, &v);
    cr_expect_eq(v.lv_line.ll_status, CDR_LINE_SUSPENDED);
    cr_expect_eq(v.lv_line.ll_warned_at, 1767254500);
    cr_expect_eq(v.lv_line.ll_suspended_at, 1767600000);
    cdr_live_view_free(&v);
    query("8613800000002", 0, &v); /* the other line of the account: no state, active */
    cr_expect_eq(v.lv_has_line ? v.lv_line.ll_status : CDR_LINE_ACTIVE, CDR_LINE_ACTIVE);
    cdr_live_view_free(&v);
}

static void write_acc(cdr_live_acc *acc)
{
    MDB_txn *txn;
    cdr_diag dg;
    cr_assert_eq(mdb_txn_begin(g_st->st_env, NULL, 0, &txn), 0);
    cr_assert_eq(cdr_live_acc_write(acc, txn, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(mdb_txn_commit(txn), 0);
}

static void query(const char *msisdn, uint32_t cycle, cdr_live_view *v)
{
    cdr_diag dg;
    cr_assert_eq(cdr_live_query(g_st, NULL, NULL, msisdn, cycle, CDR_LIVE_Q_ALL, v, &dg), 0, "%s",
                 dg.dg_msg);
}

static const cdr_live_money *line_money(const cdr_live_view *v, const char *cur)
{
    for (uint32_t i = 0; i < v->lv_line.ll_ncur; i++)
        if (!strcmp(v->lv_line.ll_money[i].lm_currency, cur))
            return &v->lv_line.ll_money[i];
    return NULL;
}

Test(live, sums_per_line_account_cycle_and_currency)
{
    cdr_live_acc *acc;
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    cdr_sub a = sub(100, 10), b = sub(101, 10), c = sub(200, 20);
    /* line 100, cycle 2026-10: voice 1.50 + 0.25 CNY, SMS 0.10 CNY, one EUR data record */
    add(acc, &a, CDR_SVC_VOICE, 202610, "CNY", 1500000, 60, 30, 0, 1000, 0, 0);
    add(acc, &a, CDR_SVC_VOICE, 202610, "CNY", 250000, 0, 6, 0, 3000, 2, 0);
    add(acc, &a, CDR_SVC_SMS, 202610, "CNY", 100000, 0, 1, 0, 2000, 0, 0);
    add(acc, &a, CDR_SVC_DATA, 202610, "EUR", 990000, 0, 1 << 20, 0, 2500, 2, 0);
    add(acc, &a, CDR_SVC_VOICE, 202610, "CNY", 0, 0, 0, 45, 1500, 1, 0); /* free */
    /* line 101 (same account), cycle 2026-10 and 2026-11 */
    add(acc, &b, CDR_SVC_VOICE, 202610, "CNY", 2000000, 0, 120, 0, 500, 0, 0);
    add(acc, &b, CDR_SVC_VOICE, 202611, "CNY", 300000, 0, 12, 0, 9000, 0, 0);
    /* line 200, another account */
    add(acc, &c, CDR_SVC_VOICE, 202610, "EUR", 120000, 0, 60, 0, 700, 0, 0);
    /* an unratable record charges nobody */
    cdr_record cr;
    cdr_rated rr;
    memset(&cr, 0, sizeof cr);
    memset(&rr, 0, sizeof rr);
    rr.rr_reason = CDR_REASON_NO_ZONE;
    rr.rr_charge = 777;
    cr_assert_eq(cdr_live_acc_add(acc, &a, &cr, &rr, NULL), 0);
    cr_expect_eq(cdr_live_acc_lines(acc), 4);
    write_acc(acc);
    cdr_live_acc_free(acc);

    cdr_live_view v;
    query("8613800000001", 202610, &v);
    cr_assert(v.lv_has_line);
    cr_expect_eq(v.lv_line.ll_ncur, 2);
    const cdr_live_money *cny = line_money(&v, "CNY"), *eur = line_money(&v, "EUR");
    cr_assert(cny && eur);
    cr_expect_eq(cny->lm_total, 1850000);
    cr_expect_eq(cny->lm_records, 4);
    cr_expect_eq(cny->lm_charge[CDR_SVC_VOICE], 1750000);
    cr_expect_eq(cny->lm_charge[CDR_SVC_SMS], 100000);
    cr_expect_eq(eur->lm_total, 990000);
    cr_expect_eq(eur->lm_charge[CDR_SVC_DATA], 990000);
    cr_expect_eq(v.lv_line.ll_records[CDR_SVC_VOICE], 3);
    cr_expect_eq(v.lv_line.ll_bundle_units[CDR_SVC_VOICE], 60);
    cr_expect_eq(v.lv_line.ll_overflow_units[CDR_SVC_VOICE], 36);
    cr_expect_eq(v.lv_line.ll_free_units[CDR_SVC_VOICE], 45);
    cr_expect_eq(v.lv_line.ll_units[CDR_SVC_VOICE], 141);
    cr_expect_eq(v.lv_line.ll_roaming_records, 2);
    cr_expect_eq(v.lv_line.ll_last_event, 3000);
    cr_expect_eq(v.lv_line.ll_account, 10);
    /* the account: both lines of cycle 2026-10, per currency */
    cr_assert(v.lv_has_account);
    cr_expect_eq(v.lv_acct.la_lines, 2);
    cr_expect_eq(cdr_live_account_money(&v, "CNY")->lm_total, 3850000);
    cr_expect_eq(cdr_live_account_money(&v, "EUR")->lm_total, 990000);
    cr_expect(cdr_live_account_money(&v, "USD") == NULL);
    cr_assert(v.lv_credit != NULL);
    cr_expect_eq(v.lv_credit->cc_limit, 100000000);
    cdr_live_view_free(&v);

    /* latest cycle by default: 2026-11 for line 101, 2026-10 for line 100 */
    query("8613800000002", 0, &v);
    cr_expect_eq(v.lv_cycle, 202611);
    cr_expect_eq(v.lv_line.ll_money[0].lm_total, 300000);
    cr_expect_eq(v.lv_acct.la_lines, 1);
    cdr_live_view_free(&v);
    query("8613800000001", 0, &v);
    cr_expect_eq(v.lv_cycle, 202610);
    cdr_live_view_free(&v);
    query("4915100000001", 202610, &v);
    cr_expect_eq(v.lv_acct.la_lines, 1);
    cr_expect_eq(cdr_live_account_money(&v, "EUR")->lm_total, 120000);
    cr_expect(cdr_live_account_money(&v, "CNY") == NULL);
    cdr_live_view_free(&v);

    /* a second write adds; a line already counted is not counted again for its account */
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    add(acc, &a, CDR_SVC_VOICE, 202610, "CNY", 10000, 0, 6, 0, 4000, 0, 0);
    write_acc(acc);
    cdr_live_acc_free(acc);
    query("8613800000001", 202610, &v);
    cr_expect_eq(line_money(&v, "CNY")->lm_total, 1860000);
    cr_expect_eq(v.lv_line.ll_last_event, 4000);
    cr_expect_eq(v.lv_acct.la_lines, 2);
    cr_expect_eq(cdr_live_account_money(&v, "CNY")->lm_total, 3860000);
    cdr_live_view_free(&v);
}

Test(live, a_fifth_currency_is_refused_and_adds_nothing)
{
    cdr_live_acc *acc;
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    cdr_sub a = sub(100, 10);
    const char *curs[] = {"CNY", "EUR", "HKD", "USD"};
    for (int i = 0; i < 4; i++)
        add(acc, &a, CDR_SVC_SMS, 202610, curs[i], 1000, 0, 1, 0, 100, 0, 0);
    add(acc, &a, CDR_SVC_SMS, 202610, "GBP", 1000, 0, 1, 0, 100, 0, CDR_LIMIT);
    write_acc(acc);
    cdr_live_acc_free(acc);
    cdr_live_view v;
    query("8613800000001", 202610, &v);
    cr_expect_eq(v.lv_line.ll_ncur, 4);
    cr_expect_eq(v.lv_line.ll_records[CDR_SVC_SMS], 4, "the refused record was counted");
    cr_expect_eq(v.lv_acct.la_ncur, 4);
    /* sorted by currency */
    cr_expect_str_eq(v.lv_line.ll_money[0].lm_currency, "CNY");
    cr_expect_str_eq(v.lv_line.ll_money[3].lm_currency, "USD");
    cdr_live_view_free(&v);
}

Test(live, a_line_without_state_and_an_unknown_msisdn)
{
    cdr_live_view v;
    query("4915100000001", 202610, &v); /* nothing ever rated into the store */
    cr_expect(!v.lv_has_line);
    cr_expect(!v.lv_has_account);
    cr_expect_eq(v.lv_cycle, 202610);
    cr_expect_str_eq(v.lv_sub->sb_plan, "q");
    cdr_live_view_free(&v);
    cdr_diag dg;
    cr_expect_eq(cdr_live_query(g_st, NULL, NULL, "999", 0, CDR_LIVE_Q_ALL, &v, &dg), CDR_NOTFOUND);
    cr_expect_str_eq(dg.dg_msg, "msisdn 999 is not in the directory");
    cr_expect(v.lv_dir == NULL);
}

Test(live, many_lines_grow_the_accumulator)
{
    cdr_live_acc *acc;
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    for (uint64_t id = 1; id <= 5000; id++) {
        cdr_sub s = sub(id, 1000000 + id % 7);
        add(acc, &s, CDR_SVC_VOICE, 202610, "CNY", (cdr_money)id, 0, 1, 0, 1, 0, 0);
        add(acc, &s, CDR_SVC_VOICE, 202610, "CNY", (cdr_money)id, 0, 1, 0, 1, 0, 0);
    }
    cr_expect_eq(cdr_live_acc_lines(acc), 5000);
    write_acc(acc);
    cdr_live_acc_free(acc);
    /* account 1000000 + k holds ids with id % 7 == k: check one account's sum by hand */
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(g_st->st_env, NULL, MDB_RDONLY, &txn), 0);
    MDB_dbi dbi;
    cr_assert_eq(mdb_dbi_open(txn, CDR_DB_LIVE_ACCOUNTS, 0, &dbi), 0);
    uint8_t kb[12];
    uint64_t acct = 1000003;
    for (int i = 0; i < 8; i++)
        kb[i] = (uint8_t)(acct >> (56 - 8 * i));
    uint32_t cyc = 202610;
    for (int i = 0; i < 4; i++)
        kb[8 + i] = (uint8_t)(cyc >> (24 - 8 * i));
    MDB_val k = {12, kb}, val;
    cr_assert_eq(mdb_get(txn, dbi, &k, &val), 0);
    cdr_live_account la;
    cr_assert_eq(val.mv_size, sizeof la);
    memcpy(&la, val.mv_data, sizeof la);
    cdr_money want = 0;
    uint64_t lines = 0;
    for (uint64_t id = 1; id <= 5000; id++)
        if (id % 7 == 3) {
            want += 2 * (cdr_money)id;
            lines++;
        }
    cr_expect_eq(la.la_money[0].lm_total, want);
    cr_expect_eq(la.la_lines, lines);
    cr_expect_eq(la.la_money[0].lm_records, 2 * lines);
    mdb_txn_abort(txn);
}

/* ---- the projection's sink: a batch applied once, whatever is re-delivered ------------------- */

static void rec_at(cdr_ledger_rec *r, int64_t offset, const char *msisdn, cdr_money charge)
{
    memset(r, 0, sizeof *r);
    r->lr_offset = offset;
    snprintf(r->lr_cdr.cr_msisdn, sizeof r->lr_cdr.cr_msisdn, "%s", msisdn);
    r->lr_cdr.cr_service = CDR_SVC_SMS;
    r->lr_cdr.cr_start = 1000 + offset;
    r->lr_rated.rr_service = CDR_SVC_SMS;
    r->lr_rated.rr_cycle = 202610;
    memcpy(r->lr_rated.rr_currency, "CNY", 3);
    r->lr_rated.rr_charge = charge;
    r->lr_rated.rr_units = r->lr_rated.rr_overflow_units = 1;
    snprintf(r->lr_plan, sizeof r->lr_plan, "p");
}

static cdr_money line_total(const char *msisdn)
{
    cdr_live_view v;
    query(msisdn, 202610, &v);
    cdr_money t = v.lv_has_line ? v.lv_line.ll_money[0].lm_total : 0;
    cdr_live_view_free(&v);
    return t;
}

Test(live, the_sink_applies_each_offset_once_and_resumes_from_the_store)
{
    cdr_live_sink *ls;
    cdr_diag dg;
    cr_assert_eq(cdr_live_sink_open(g_st, "cdr.rated", &ls, &dg), 0, "%s", dg.dg_msg);
    const cdr_archive_sink *sk = cdr_live_sink_archive(ls);
    cr_expect_eq(sk->sk_next_offset(sk->sk_arg, 3), 0);
    cdr_ledger_rec recs[15];
    for (int i = 0; i < 15; i++) /* offsets 0..14: 1.00, 2.00, ... alternately on two lines */
        rec_at(&recs[i], i, i % 2 ? "8613800000002" : "8613800000001", (i + 1) * 1000000);
    cr_assert_eq(sk->sk_append(sk->sk_arg, 3, recs, 10, 9, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(sk->sk_next_offset(sk->sk_arg, 3), 10);
    cr_expect_eq(line_total("8613800000001"), 25000000); /* 1+3+5+7+9 */
    cr_expect_eq(line_total("8613800000002"), 30000000); /* 2+4+6+8+10 */
    /* the same batch again (a re-delivery): nothing changes */
    cr_assert_eq(sk->sk_append(sk->sk_arg, 3, recs, 10, 9, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(line_total("8613800000001"), 25000000);
    /* an overlapping batch 5..14 adds only 10..14 */
    cr_assert_eq(sk->sk_append(sk->sk_arg, 3, recs + 5, 10, 14, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(line_total("8613800000001"), 25000000 + 11000000 + 13000000 + 15000000);
    cr_expect_eq(line_total("8613800000002"), 30000000 + 12000000 + 14000000);
    /* another partition is independent; a record of an unknown MSISDN is counted, not added */
    rec_at(&recs[0], 0, "8613899999999", 5000000);
    rec_at(&recs[1], 1, "4915100000001", 7000000);
    cr_assert_eq(sk->sk_append(sk->sk_arg, 0, recs, 2, 1, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(line_total("4915100000001"), 7000000);
    cdr_live_sink_stats st;
    cdr_live_sink_stats_get(ls, &st);
    cr_expect_eq(st.ls_applied, 10 + 5 + 2);
    cr_expect_eq(st.ls_unknown, 1);
    cdr_live_sink_close(ls);
    /* a new sink (a restarted projection) resumes from the offsets in the store */
    cr_assert_eq(cdr_live_sink_open(g_st, "cdr.rated", &ls, &dg), 0, "%s", dg.dg_msg);
    sk = cdr_live_sink_archive(ls);
    cr_expect_eq(sk->sk_next_offset(sk->sk_arg, 3), 15);
    cr_expect_eq(sk->sk_next_offset(sk->sk_arg, 0), 2);
    cr_expect_eq(sk->sk_next_offset(sk->sk_arg, 1), 0);
    rec_at(&recs[0], 14, "8613800000001", 99000000); /* offset 14 again: skipped */
    cr_assert_eq(sk->sk_append(sk->sk_arg, 3, recs, 1, 14, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(line_total("8613800000001"), 64000000);
    cdr_live_sink_close(ls);
    /* another topic (prefix) keeps its own offsets */
    cr_assert_eq(cdr_live_sink_open(g_st, "t1.cdr.rated", &ls, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_live_sink_archive(ls)->sk_next_offset(cdr_live_sink_archive(ls)->sk_arg, 3),
                 0);
    cdr_live_sink_close(ls);
}

/* Bundle use comes from the rated records: own bundles per line, a pool per enterprise and each
 * member's draw; the query shows them against the plan (the view's bundles). */
Test(live, bundle_use_per_line_and_pool)
{
    cdr_live_acc *acc;
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    cdr_sub a = sub(100, 10), b = sub(101, 10);
    a.su_enterprise = b.su_enterprise = 7;
    add(acc, &a, CDR_SVC_VOICE, 202610, "CNY", 0, 120, 0, 0, 10, 0, 0);
    add(acc, &a, CDR_SVC_VOICE, 202610, "CNY", 0, 60, 0, 0, 11, 0, 0);
    add(acc, &a, CDR_SVC_DATA, 202610, "CNY", 0, 1000, 0, 0, 12, 0, 0);
    add(acc, &b, CDR_SVC_DATA, 202610, "CNY", 0, 500, 0, 0, 13, 0, 0);
    write_acc(acc);
    cdr_live_acc_free(acc);
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    add(acc, &b, CDR_SVC_DATA, 202610, "CNY", 0, 250, 0, 0, 14, 0, 0);
    write_acc(acc);
    cdr_live_acc_free(acc);
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(g_st->st_env, NULL, MDB_RDONLY, &txn), 0);
    MDB_dbi dbi;
    cr_assert_eq(mdb_dbi_open(txn, CDR_DB_LIVE_POOLS, 0, &dbi), 0);
    uint8_t kb[12] = {0, 0, 0, 0, 0, 0, 0, 7, 0, 0x03, 0x17, 0x72}; /* 7, 202610 */
    MDB_val k = {12, kb}, val;
    cr_assert_eq(mdb_get(txn, dbi, &k, &val), 0);
    cdr_live_pool pool;
    memcpy(&pool, val.mv_data, sizeof pool);
    cr_expect_eq(pool.lp_used[CDR_SVC_DATA], 1750);
    cr_expect_eq(pool.lp_used[CDR_SVC_VOICE], 0);
    mdb_txn_abort(txn);
    cdr_live_view v;
    query("8613800000001", 202610, &v);
    cr_expect_eq(v.lv_line.ll_bundle[0].lb_tag, cdr_counter_bundle_tag("min300"));
    cr_expect_eq(v.lv_line.ll_bundle[0].lb_used, 180);
    cr_expect_eq(v.lv_line.ll_bundle[1].lb_tag, cdr_live_pool_tag(CDR_SVC_DATA));
    cr_expect_eq(v.lv_line.ll_bundle[1].lb_used, 1000);
    cdr_live_view_free(&v);
    query("8613800000002", 202610, &v);
    cr_expect_eq(v.lv_line.ll_bundle[0].lb_tag, cdr_live_pool_tag(CDR_SVC_DATA));
    cr_expect_eq(v.lv_line.ll_bundle[0].lb_used, 750);
    cdr_live_view_free(&v);
}
