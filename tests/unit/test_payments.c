/* test_payments.c - payments and arrears (docs/billing.md, "Payments and arrears"): the payments
 * file, loading it into the store (idempotent by id), and the status recomputed from hand-written
 * invoices.jsonl files: partial payment, overpayment carried forward, oldest first, aging on
 * hand-computed dates, two currencies on one account, credit notes, malformed input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_payments.h"
#include "cdr_time.h"
#include "test_dirs.h"

/* Whole cents as micro-units: C(109, 0) is 109.00. */
#define C(units, cents) ((cdr_money)(units)*CDR_MICRO + (cdr_money)(cents)*10000)

typedef struct fx {
    char root[4096], store[4200], bills[4200];
    cdr_store *st;
    int nfiles;
} fx;

static void fx_open(fx *f, const char *tag)
{
    memset(f, 0, sizeof *f);
    test_tmpdir(f->root, sizeof f->root, tag);
    snprintf(f->store, sizeof f->store, "%s/store", f->root);
    snprintf(f->bills, sizeof f->bills, "%s/bills", f->root);
    cr_assert_eq(mkdir(f->bills, 0700), 0);
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(f->store, 0, &f->st, &dg), 0, "%s", dg.dg_msg);
}

static void fx_close(fx *f)
{
    cdr_store_close(f->st);
    rm_rf(f->root);
}

static void write_file(const char *path, const char *text, const char *mode)
{
    FILE *fp = fopen(path, mode);
    cr_assert_not_null(fp, "%s", path);
    fputs(text, fp);
    cr_assert_eq(fclose(fp), 0);
}

/* An invoice line as `cdrate bill` writes it (docs/billing.md, "Output"), appended to
 * bills/CYCLE/invoices.jsonl. The lines and subtotals hold other "total" members on purpose:
 * only the invoice's own total counts. */
static void invoice(fx *f, const char *cycle, const char *number, unsigned account, const char *cur,
                    const char *issued, const char *due, const char *total, const char *cls)
{
    char dir[4300], path[4400], line[2048], ccl[40];
    snprintf(dir, sizeof dir, "%s/%s", f->bills, cycle);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/invoices.jsonl", dir);
    snprintf(ccl, sizeof ccl, cls ? "\"%s\"" : "null", cls);
    snprintf(line, sizeof line,
             "{\"invoice\":\"%s\",\"account\":%u,\"kind\":\"individual\",\"customer\":1,"
             "\"customer_name\":\"Dora, \\\"Jr.\\\" \\u00e9\",\"enterprise\":null,"
             "\"cycle\":\"%s\",\"currency\":\"%s\",\"issued\":\"%s\",\"due\":\"%s\","
             "\"credit_class\":%s,\"lines\":[{\"subscriber\":20,\"msisdn\":\"8613800000020\","
             "\"class\":\"basic_voice\",\"share\":\"own\",\"amount\":\"999.00\","
             "\"tax_rate\":\"9%%\",\"tax\":\"0.00\",\"total\":\"999.00\"}],"
             "\"subtotals\":{\"basic_voice\":{\"amount\":\"999.00\",\"tax\":\"0.00\","
             "\"total\":\"999.00\"}},\"amount\":\"1.00\",\"tax\":\"0.00\",\"total\":\"%s\"}\n",
             number, account, cycle, cur, issued, due, ccl, total);
    write_file(path, line, "a");
}

/* Write text as a payments file and load it. Returns the rc; pl and dg filled. */
static int load(fx *f, const char *text, cdr_pay_load *pl, cdr_diag *dg, char *path, size_t n)
{
    snprintf(path, n, "%s/payments-%d.csv", f->root, ++f->nfiles);
    write_file(path, text, "w");
    cdr_pay_file *pf;
    int rc = cdr_pay_parse_file(path, &pf, dg);
    if (rc)
        return rc;
    rc = cdr_pay_store_put(f->st, pf, pl, dg);
    cdr_pay_file_free(pf);
    return rc;
}

static void load_ok(fx *f, const char *text, uint64_t loaded, uint64_t dups)
{
    char path[4300];
    cdr_pay_load pl;
    cdr_diag dg;
    cr_assert_eq(load(f, text, &pl, &dg, path, sizeof path), 0, "%s:%d:%d: %s", dg.dg_file,
                 dg.dg_line, dg.dg_column, dg.dg_msg);
    cr_assert_eq(pl.pl_loaded, loaded);
    cr_assert_eq(pl.pl_duplicates, dups);
}

static int64_t day(const char *s)
{
    int64_t d;
    cr_assert_eq(cdr_pay_date_parse(s, &d), 0, "%s", s);
    return d;
}

static cdr_pay_status *status(fx *f, const char *as_of, uint64_t account)
{
    cdr_pay_status *ps = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_pay_status_run(f->st, f->bills, day(as_of), account, &ps, &dg), 0,
                 "%s:%d:%d: %s", dg.dg_file, dg.dg_line, dg.dg_column, dg.dg_msg);
    /* the identities of every account: balance = invoiced - paid = open - credit */
    for (size_t a = 0; a < ps->ps_naccounts; a++) {
        const cdr_pay_account *pa = &ps->ps_accounts[a];
        cdr_money aged = 0;
        for (int b = 0; b < CDR_AGE_COUNT; b++)
            aged += pa->pa_aging[b];
        cr_assert_eq(aged, pa->pa_open);
        cr_assert_eq(pa->pa_balance, pa->pa_invoiced - pa->pa_paid);
        cr_assert_eq(pa->pa_balance, pa->pa_open - pa->pa_credit);
        cr_assert_geq(pa->pa_credit, 0);
    }
    return ps;
}

static const cdr_pay_account *find_acct(const cdr_pay_status *ps, uint64_t account, const char *cur)
{
    for (size_t a = 0; a < ps->ps_naccounts; a++)
        if (ps->ps_accounts[a].pa_account == account &&
            !strcmp(ps->ps_accounts[a].pa_currency, cur))
            return &ps->ps_accounts[a];
    cr_assert_fail("account %llu %s is not in the status", (unsigned long long)account, cur);
    return NULL;
}

static const cdr_pay_invoice *inv(const cdr_pay_status *ps, const char *number)
{
    for (size_t i = 0; i < ps->ps_ninvoices; i++)
        if (!strcmp(ps->ps_invoices[i].pi_invoice, number))
            return &ps->ps_invoices[i];
    cr_assert_fail("invoice %s is not in the status", number);
    return NULL;
}

static cdr_money applied(const cdr_pay_status *ps, const char *id)
{
    for (size_t j = 0; j < ps->ps_npayments; j++)
        if (!strcmp(ps->ps_payments[j].pm_id, id))
            return ps->ps_applied[j];
    cr_assert_fail("payment %s is not in the status", id);
    return 0;
}

#define HDR CDR_PAY_HEADER "\n"

Test(payments, partial_payment)
{
    fx f;
    fx_open(&f, "pay-partial");
    invoice(&f, "2026-11", "INV-202611-100", 100, "CNY", "2026-11-30", "2026-12-30", "109.00", "A");
    load_ok(&f, HDR "p1,100,40.00,CNY,2026-12-10,bank,first instalment\n", 1, 0);

    /* 2026-12-20: 10 days before the due date: 69.00 open, current, nobody to dun */
    cdr_pay_status *ps = status(&f, "2026-12-20", 0);
    cr_assert_eq(ps->ps_naccounts, 1);
    const cdr_pay_account *pa = find_acct(ps, 100, "CNY");
    cr_assert_eq(pa->pa_invoiced, C(109, 0));
    cr_assert_eq(pa->pa_paid, C(40, 0));
    cr_assert_eq(pa->pa_balance, C(69, 0));
    cr_assert_eq(pa->pa_credit, 0);
    cr_assert_eq(pa->pa_aging[CDR_AGE_CURRENT], C(69, 0));
    cr_assert_eq(pa->pa_overdue_invoices, 0);
    cr_assert_str_eq(pa->pa_credit_class, "A");
    const cdr_pay_invoice *pi = inv(ps, "INV-202611-100");
    cr_assert_eq(pi->pi_paid, C(40, 0));
    cr_assert_eq(pi->pi_open, C(69, 0));
    cr_assert_eq(pi->pi_days_past_due, -10);
    cr_assert_eq(applied(ps, "p1"), C(40, 0));
    cdr_pay_status_free(ps);

    /* 2027-01-15: 16 days past due: 69.00 in 0-30, on the dunning list */
    ps = status(&f, "2027-01-15", 0);
    pa = find_acct(ps, 100, "CNY");
    cr_assert_eq(pa->pa_balance, C(69, 0));
    cr_assert_eq(pa->pa_aging[CDR_AGE_CURRENT], 0);
    cr_assert_eq(pa->pa_aging[CDR_AGE_0_30], C(69, 0));
    cr_assert_eq(pa->pa_overdue, C(69, 0));
    cr_assert_eq(pa->pa_overdue_invoices, 1);
    cr_assert_eq(pa->pa_oldest_due, day("2026-12-30"));
    cr_assert_eq(pa->pa_days_past_due, 16);
    cr_assert_eq(ps->ps_ntotals, 1);
    cr_assert_eq(ps->ps_totals[0].pt_dunning, 1);
    cdr_pay_status_free(ps);
    fx_close(&f);
}

Test(payments, overpayment_carried_forward)
{
    fx f;
    fx_open(&f, "pay-over");
    invoice(&f, "2026-11", "INV-202611-200", 200, "CNY", "2026-11-30", "2026-12-15", "25.20", NULL);
    invoice(&f, "2026-12", "INV-202612-200", 200, "CNY", "2026-12-31", "2027-01-15", "30.00", NULL);
    load_ok(&f, HDR "c-77,200,40.00,CNY,2026-12-10,counter,\n", 1, 0);

    /* 2026-12-20: the December invoice is not issued yet: 14.80 is credit */
    cdr_pay_status *ps = status(&f, "2026-12-20", 0);
    const cdr_pay_account *pa = find_acct(ps, 200, "CNY");
    cr_assert_eq(pa->pa_invoices, 1);
    cr_assert_eq(pa->pa_invoiced, C(25, 20));
    cr_assert_eq(pa->pa_paid, C(40, 0));
    cr_assert_eq(pa->pa_balance, -C(14, 80));
    cr_assert_eq(pa->pa_credit, C(14, 80));
    cr_assert_eq(pa->pa_open, 0);
    cr_assert_eq(pa->pa_overdue_invoices, 0);
    cr_assert_eq(ps->ps_later_invoices, 1);
    cr_assert_eq(applied(ps, "c-77"), C(25, 20));
    cdr_pay_status_free(ps);

    /* 2027-01-10: the credit pays 14.80 of the December invoice; 15.20 open, not yet due */
    ps = status(&f, "2027-01-10", 0);
    pa = find_acct(ps, 200, "CNY");
    cr_assert_eq(pa->pa_invoiced, C(55, 20));
    cr_assert_eq(pa->pa_balance, C(15, 20));
    cr_assert_eq(pa->pa_credit, 0);
    cr_assert_eq(inv(ps, "INV-202611-200")->pi_open, 0);
    cr_assert_eq(inv(ps, "INV-202612-200")->pi_paid, C(14, 80));
    cr_assert_eq(inv(ps, "INV-202612-200")->pi_open, C(15, 20));
    cr_assert_eq(pa->pa_aging[CDR_AGE_CURRENT], C(15, 20));
    cr_assert_eq(pa->pa_overdue_invoices, 0);
    cr_assert_eq(applied(ps, "c-77"), C(40, 0));
    cdr_pay_status_free(ps);

    /* 2027-01-20: 5 days past due */
    ps = status(&f, "2027-01-20", 0);
    pa = find_acct(ps, 200, "CNY");
    cr_assert_eq(pa->pa_aging[CDR_AGE_0_30], C(15, 20));
    cr_assert_eq(pa->pa_overdue, C(15, 20));
    cr_assert_eq(pa->pa_days_past_due, 5);
    cr_assert_str_eq(pa->pa_credit_class, "");
    cdr_pay_status_free(ps);
    fx_close(&f);
}

/* Invoices by issued date then number, payments by date then id, whatever the file order. */
Test(payments, oldest_first)
{
    fx f;
    fx_open(&f, "pay-order");
    invoice(&f, "2026-12", "INV-B", 7, "CNY", "2026-12-31", "2027-01-31", "20.00", NULL);
    invoice(&f, "2026-12", "INV-A", 7, "CNY", "2026-12-31", "2027-01-31", "10.00", NULL);
    invoice(&f, "2026-11", "INV-Z", 7, "CNY", "2026-11-30", "2026-12-31", "5.00", NULL);
    load_ok(&f,
            HDR "p-0,7,5.00,CNY,2027-01-05,bank,\n"
                "p-b,7,8.00,CNY,2027-01-02,bank,\n"
                "p-a,7,8.00,CNY,2027-01-02,bank,\n",
            3, 0);
    cdr_pay_status *ps = status(&f, "2027-01-10", 0);
    /* money in order p-a 8, p-b 8, p-0 5 = 21; invoices in order Z 5, A 10, B 20 = 35 */
    cr_assert_str_eq(ps->ps_invoices[0].pi_invoice, "INV-Z");
    cr_assert_str_eq(ps->ps_invoices[1].pi_invoice, "INV-A");
    cr_assert_str_eq(ps->ps_payments[0].pm_id, "p-a");
    cr_assert_str_eq(ps->ps_payments[1].pm_id, "p-b");
    cr_assert_str_eq(ps->ps_payments[2].pm_id, "p-0");
    cr_assert_eq(inv(ps, "INV-Z")->pi_open, 0);
    cr_assert_eq(inv(ps, "INV-A")->pi_open, 0);
    cr_assert_eq(inv(ps, "INV-B")->pi_paid, C(6, 0));
    cr_assert_eq(inv(ps, "INV-B")->pi_open, C(14, 0));
    const cdr_pay_account *pa = find_acct(ps, 7, "CNY");
    cr_assert_eq(pa->pa_balance, C(14, 0));
    /* INV-Z, due 2026-12-31, was paid on 2 January: nothing is overdue any more */
    cr_assert_eq(pa->pa_overdue_invoices, 0);
    cr_assert_eq(pa->pa_aging[CDR_AGE_CURRENT], C(14, 0));
    cdr_pay_status_free(ps);

    /* 2 January, before p-0 and after the due date of INV-Z: Z 5 and A 10 paid, B 1 */
    ps = status(&f, "2027-01-02", 0);
    cr_assert_eq(ps->ps_later_payments, 1);
    cr_assert_eq(inv(ps, "INV-B")->pi_paid, C(1, 0));
    cr_assert_eq(applied(ps, "p-a"), C(8, 0));
    cr_assert_eq(applied(ps, "p-b"), C(8, 0));
    cr_assert_eq(applied(ps, "p-0"), 0);
    cdr_pay_status_free(ps);

    /* a smaller total: the oldest invoice is paid first, the later ones stay open */
    load_ok(&f, HDR "x,8,3.00,CNY,2027-01-01,card,\n", 1, 0);
    invoice(&f, "2026-11", "INV-8-OLD", 8, "CNY", "2026-11-30", "2026-12-31", "2.00", NULL);
    invoice(&f, "2026-12", "INV-8-NEW", 8, "CNY", "2026-12-31", "2027-01-31", "2.00", NULL);
    ps = status(&f, "2027-01-10", 8);
    cr_assert_eq(ps->ps_naccounts, 1);
    cr_assert_eq(inv(ps, "INV-8-OLD")->pi_open, 0);
    cr_assert_eq(inv(ps, "INV-8-NEW")->pi_open, C(1, 0));
    cdr_pay_status_free(ps);
    fx_close(&f);
}

Test(payments, duplicate_file_applies_nothing_twice)
{
    fx f;
    fx_open(&f, "pay-dup");
    invoice(&f, "2026-11", "INV-202611-100", 100, "CNY", "2026-11-30", "2026-12-30", "109.00", "A");
    const char *file = HDR "# the bank's file of 10 December\n"
                           "b-1,100,50.00,CNY,2026-12-10,bank,\"stmt 12, line 4\"\n"
                           "b-2,100,9.00,CNY,2026-12-10,bank,\n";
    load_ok(&f, file, 2, 0);
    load_ok(&f, file, 0, 2); /* the same file again: nothing new */
    load_ok(&f, HDR "b-2,100,9.00,CNY,2026-12-10,bank,\nb-3,100,1.00,CNY,2026-12-11,card,\n", 1, 1);
    cdr_pay_file *pf;
    cdr_diag dg;
    cr_assert_eq(cdr_pay_store_list(f.st, 0, &pf, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(pf->pf_n, 3);
    cr_assert_str_eq(pf->pf_items[0].pm_id, "b-1");
    cr_assert_str_eq(pf->pf_items[0].pm_reference, "stmt 12, line 4");
    cr_assert_eq(pf->pf_items[0].pm_line, 3);
    cr_assert_eq(pf->pf_items[0].pm_method, CDR_PAY_BANK);
    cdr_pay_file_free(pf);
    cdr_pay_status *ps = status(&f, "2026-12-31", 0);
    const cdr_pay_account *pa = find_acct(ps, 100, "CNY");
    cr_assert_eq(pa->pa_payments, 3);
    cr_assert_eq(pa->pa_paid, C(60, 0));
    cr_assert_eq(pa->pa_balance, C(49, 0));
    cr_assert_eq(pa->pa_aging[CDR_AGE_0_30], C(49, 0)); /* 1 day past due */
    cdr_pay_status_free(ps);
    fx_close(&f);
}

Test(payments, same_id_other_content_refused)
{
    fx f;
    fx_open(&f, "pay-conflict");
    char first[4300], second[4300], msg[8192];
    cdr_pay_load pl;
    cdr_diag dg;
    cr_assert_eq(
        load(&f, HDR "p1,100,10.00,CNY,2026-12-10,bank,ref A\n", &pl, &dg, first, sizeof first), 0,
        "%s", dg.dg_msg);
    const int rc =
        load(&f, HDR "p2,100,5.00,CNY,2026-12-11,bank,\np1,100,12.00,CNY,2026-12-10,card,ref B\n",
             &pl, &dg, second, sizeof second);
    cr_assert_eq(rc, CDR_EXISTS);
    cr_assert_str_eq(dg.dg_file, second);
    cr_assert_eq(dg.dg_line, 3);
    cr_assert_eq(dg.dg_column, 1);
    snprintf(msg, sizeof msg,
             "payment id 'p1' is already stored with another content (loaded from %s line 2): "
             "amount 12.00 here, 10.00 stored; method card here, bank stored; reference \"ref "
             "B\" here, \"ref A\" stored",
             first);
    cr_assert_str_eq(dg.dg_msg, msg);
    /* nothing of the refused file was stored: p2 is not there */
    cdr_pay_file *pf;
    cr_assert_eq(cdr_pay_store_list(f.st, 0, &pf, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(pf->pf_n, 1);
    cr_assert_str_eq(pf->pf_items[0].pm_id, "p1");
    cr_assert_eq(pf->pf_items[0].pm_amount, C(10, 0));
    cr_assert_eq(pf->pf_items[0].pm_line, 2);
    cdr_pay_file_free(pf);
    /* another account or date is a difference too */
    cr_assert_eq(
        load(&f, HDR "p1,101,10.00,CNY,2026-12-09,bank,ref A\n", &pl, &dg, second, sizeof second),
        CDR_EXISTS);
    cr_assert(strstr(dg.dg_msg, ": account 101 here, 100 stored; date 2026-12-09 here, "
                                "2026-12-10 stored") != NULL,
              "%s", dg.dg_msg);
    fx_close(&f);
}

Test(payments, buckets)
{
    cr_assert_eq(cdr_pay_bucket_of(-1), CDR_AGE_CURRENT);
    cr_assert_eq(cdr_pay_bucket_of(0), CDR_AGE_0_30);
    cr_assert_eq(cdr_pay_bucket_of(30), CDR_AGE_0_30);
    cr_assert_eq(cdr_pay_bucket_of(31), CDR_AGE_31_60);
    cr_assert_eq(cdr_pay_bucket_of(60), CDR_AGE_31_60);
    cr_assert_eq(cdr_pay_bucket_of(61), CDR_AGE_61_90);
    cr_assert_eq(cdr_pay_bucket_of(90), CDR_AGE_61_90);
    cr_assert_eq(cdr_pay_bucket_of(91), CDR_AGE_OVER_90);
    cr_assert_str_eq(cdr_pay_bucket_name(CDR_AGE_OVER_90), "90+");
    cr_assert_null(cdr_pay_bucket_name(CDR_AGE_COUNT));
    cr_assert_str_eq(cdr_pay_method_name(CDR_PAY_COUNTER), "counter");
}

/* As of 2027-03-31, one unpaid invoice per account, due (hand-counted):
 * 2027-04-01 (-1, not yet due), 2027-03-31 (0), 2027-03-01 (30), 2027-02-28 (31),
 * 2027-01-30 (60), 2027-01-29 (61), 2026-12-31 (90), 2026-12-30 (91). */
Test(payments, aging_on_hand_computed_dates)
{
    fx f;
    fx_open(&f, "pay-aging");
    static const struct {
        unsigned account;
        const char *due, *total;
        int64_t days;
        cdr_pay_bucket bucket;
    } cases[] = {
        {1, "2027-04-01", "128.00", -1, CDR_AGE_CURRENT},
        {2, "2027-03-31", "64.00", 0, CDR_AGE_0_30},
        {3, "2027-03-01", "1.00", 30, CDR_AGE_0_30},
        {4, "2027-02-28", "2.00", 31, CDR_AGE_31_60},
        {5, "2027-01-30", "4.00", 60, CDR_AGE_31_60},
        {6, "2027-01-29", "8.00", 61, CDR_AGE_61_90},
        {7, "2026-12-31", "16.00", 90, CDR_AGE_61_90},
        {8, "2026-12-30", "32.00", 91, CDR_AGE_OVER_90},
    };
    const size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof num, "INV-202611-%u", cases[i].account);
        invoice(&f, "2026-11", num, cases[i].account, "CNY", "2026-11-30", cases[i].due,
                cases[i].total, "B");
    }
    cdr_pay_status *ps = status(&f, "2027-03-31", 0);
    cr_assert_eq(ps->ps_naccounts, n);
    for (size_t i = 0; i < n; i++) {
        const cdr_pay_account *pa = find_acct(ps, cases[i].account, "CNY");
        const cdr_pay_invoice *pi = &ps->ps_invoices[pa->pa_inv_from];
        cr_assert_eq(pi->pi_days_past_due, cases[i].days, "account %u", cases[i].account);
        cr_assert_eq(pi->pi_bucket, cases[i].bucket, "account %u", cases[i].account);
        cr_assert_eq(pa->pa_aging[cases[i].bucket], pa->pa_open);
        /* the dunning rule: unpaid at least one day past the due date */
        cr_assert_eq(pa->pa_overdue_invoices, cases[i].days >= 1 ? 1u : 0u, "account %u",
                     cases[i].account);
        if (cases[i].days >= 1)
            cr_assert_eq(pa->pa_days_past_due, cases[i].days);
    }
    cr_assert_eq(ps->ps_ntotals, 1);
    const cdr_pay_total *pt = &ps->ps_totals[0];
    cr_assert_str_eq(pt->pt_currency, "CNY");
    cr_assert_eq(pt->pt_aging[CDR_AGE_CURRENT], C(128, 0));
    cr_assert_eq(pt->pt_aging[CDR_AGE_0_30], C(65, 0));
    cr_assert_eq(pt->pt_aging[CDR_AGE_31_60], C(6, 0));
    cr_assert_eq(pt->pt_aging[CDR_AGE_61_90], C(24, 0));
    cr_assert_eq(pt->pt_aging[CDR_AGE_OVER_90], C(32, 0));
    cr_assert_eq(pt->pt_open, C(255, 0));
    cr_assert_eq(pt->pt_overdue, C(63, 0)); /* 1 + 2 + 4 + 8 + 16 + 32 */
    cr_assert_eq(pt->pt_dunning, 6);
    cdr_pay_status_free(ps);
    fx_close(&f);
}

Test(payments, two_currencies_kept_apart)
{
    fx f;
    fx_open(&f, "pay-cur");
    invoice(&f, "2026-11", "INV-202611-300", 300, "CNY", "2026-11-30", "2026-12-30", "100.00", "A");
    load_ok(&f,
            HDR "y1,300,60.00,CNY,2026-12-20,bank,\n"
                "e1,300,50.00,EUR,2026-12-21,bank,paid in euros\n"
                "n1,400,20.00,CNY,2026-12-22,counter,no invoice yet\n",
            3, 0);
    cdr_pay_status *ps = status(&f, "2027-01-05", 0);
    cr_assert_eq(ps->ps_naccounts, 3);
    const cdr_pay_account *cny = find_acct(ps, 300, "CNY"), *eur = find_acct(ps, 300, "EUR");
    cr_assert_eq(cny->pa_invoiced, C(100, 0));
    cr_assert_eq(cny->pa_paid, C(60, 0));
    cr_assert_eq(cny->pa_balance, C(40, 0));
    cr_assert_eq(cny->pa_aging[CDR_AGE_0_30], C(40, 0)); /* 6 days past due */
    cr_assert_eq(cny->pa_credit, 0);
    cr_assert_eq(eur->pa_invoices, 0);
    cr_assert_eq(eur->pa_paid, C(50, 0));
    cr_assert_eq(eur->pa_balance, -C(50, 0));
    cr_assert_eq(eur->pa_credit, C(50, 0));
    cr_assert_eq(applied(ps, "e1"), 0);
    /* a payment of an account with no invoice is its credit, never dropped */
    const cdr_pay_account *other = find_acct(ps, 400, "CNY");
    cr_assert_eq(other->pa_credit, C(20, 0));
    cr_assert_eq(other->pa_balance, -C(20, 0));
    /* totals per currency, never added across */
    cr_assert_eq(ps->ps_ntotals, 2);
    cr_assert_str_eq(ps->ps_totals[0].pt_currency, "CNY");
    cr_assert_eq(ps->ps_totals[0].pt_paid, C(80, 0));
    cr_assert_eq(ps->ps_totals[0].pt_credit, C(20, 0));
    cr_assert_eq(ps->ps_totals[0].pt_balance, C(20, 0));
    cr_assert_str_eq(ps->ps_totals[1].pt_currency, "EUR");
    cr_assert_eq(ps->ps_totals[1].pt_paid, C(50, 0));
    cdr_pay_status_free(ps);

    /* --account: only that account, both currencies */
    ps = status(&f, "2027-01-05", 300);
    cr_assert_eq(ps->ps_naccounts, 2);
    cr_assert_eq(ps->ps_ninvoices, 1);
    cr_assert_eq(ps->ps_npayments, 2);
    cdr_pay_status_free(ps);
    ps = status(&f, "2027-01-05", 999);
    cr_assert_eq(ps->ps_naccounts, 0);
    cdr_pay_status_free(ps);
    fx_close(&f);
}

/* A negative invoice (a credit of the adjustments file) is a credit like a payment. */
Test(payments, credit_note)
{
    fx f;
    fx_open(&f, "pay-note");
    invoice(&f, "2026-11", "INV-202611-500", 500, "CNY", "2026-11-30", "2026-12-30", "50.00", NULL);
    invoice(&f, "2026-12", "INV-202612-500", 500, "CNY", "2026-12-31", "2027-01-30", "-20.00",
            NULL);
    load_ok(&f, HDR "z,500,10.00,CNY,2026-12-05,bank,\n", 1, 0);
    cdr_pay_status *ps = status(&f, "2027-01-31", 0);
    const cdr_pay_account *pa = find_acct(ps, 500, "CNY");
    cr_assert_eq(pa->pa_invoiced, C(30, 0));
    cr_assert_eq(pa->pa_balance, C(20, 0));
    cr_assert_eq(pa->pa_credit, 0);
    cr_assert_eq(inv(ps, "INV-202611-500")->pi_open, C(20, 0));
    cr_assert_eq(pa->pa_aging[CDR_AGE_31_60], C(20, 0)); /* 32 days past due */
    cr_assert_eq(inv(ps, "INV-202612-500")->pi_open, 0);
    cdr_pay_status_free(ps);
    fx_close(&f);
}

/* Hidden temporary folders of a bill run in progress and other names are not cycles. */
Test(payments, only_published_cycles)
{
    fx f;
    fx_open(&f, "pay-cycles");
    invoice(&f, "2026-11", "INV-202611-1", 1, "CNY", "2026-11-30", "2026-12-30", "1.00", NULL);
    char p[4400];
    snprintf(p, sizeof p, "%s/.2026-12.tmp-123", f.bills);
    cr_assert_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/.2026-12.tmp-123/invoices.jsonl", f.bills);
    write_file(p, "not even JSON\n", "w");
    snprintf(p, sizeof p, "%s/README", f.bills);
    write_file(p, "notes\n", "w");
    cdr_pay_status *ps = status(&f, "2027-01-01", 0);
    cr_assert_eq(ps->ps_ncycles, 1);
    cr_assert_str_eq(ps->ps_cycles[0], "2026-11");
    cr_assert_eq(ps->ps_ninvoices, 1);
    cdr_pay_status_free(ps);
    fx_close(&f);
}

/* ---- malformed input ------------------------------------------------------------------------- */

Test(payments, malformed_payment_files)
{
    static const struct {
        const char *text;
        int line, column;
        const char *msg;
    } cases[] = {
        {"", 1, 1, "empty: no header " CDR_PAY_HEADER},
        {"id,account,amount,currency,date,method\n", 1, 1,
         "the first line must be the header " CDR_PAY_HEADER},
        {HDR "p1,100,12.345,CNY,2026-12-01,bank,\n", 2, 8,
         "amount '12.345' is not a decimal with at most two decimals (12.50)"},
        {HDR "p1,100,-5.00,CNY,2026-12-01,bank,\n", 2, 8,
         "amount '-5.00' is not a decimal with at most two decimals (12.50)"},
        {HDR "p1,100,0.00,CNY,2026-12-01,bank,\n", 2, 8,
         "amount 0.00: a payment must be more than 0"},
        {HDR "p1,100,1000000000,CNY,2026-12-01,bank,\n", 2, 8,
         "amount 1000000000 is over 999999999.99"},
        {HDR "p1,100,1.,CNY,2026-12-01,bank,\n", 2, 8,
         "amount '1.' is not a decimal with at most two decimals (12.50)"},
        {HDR "p1,acct-9,1.00,CNY,2026-12-01,bank,\n", 2, 4,
         "account 'acct-9' is not an account id (a whole number from 1)"},
        {HDR "p1,0,1.00,CNY,2026-12-01,bank,\n", 2, 4,
         "account '0' is not an account id (a whole number from 1)"},
        {HDR "p1,100,1.00,cny,2026-12-01,bank,\n", 2, 13,
         "currency 'cny' is not an ISO 4217 code (three capital letters)"},
        {HDR "p1,100,1.00,CNY,2026-02-29,bank,\n", 2, 17,
         "date '2026-02-29' is not a real date YYYY-MM-DD"},
        {HDR "p1,100,1.00,CNY,01/12/2026,bank,\n", 2, 17,
         "date '01/12/2026' is not a real date YYYY-MM-DD"},
        {HDR "p1,100,1.00,CNY,2026-12-01,cash,\n", 2, 28,
         "method 'cash': write bank, counter, card or other"},
        {HDR "p 1,100,1.00,CNY,2026-12-01,bank,\n", 2, 1,
         "id 'p 1': 1 to 64 letters, digits or . _ - : /"},
        {HDR ",100,1.00,CNY,2026-12-01,bank,\n", 2, 1,
         "id '': 1 to 64 letters, digits or . _ - : /"},
        {HDR "p1,100,1.00,CNY,2026-12-01,bank,rent, December\n", 2, 38,
         "more than 7 fields (" CDR_PAY_HEADER "): quote a reference that holds a comma"},
        {HDR "p1,100,1.00,CNY,2026-12-01,bank\n", 2, 32, "6 field(s), expected 7: " CDR_PAY_HEADER},
        {HDR "p1,100,1.00,CNY,2026-12-01,bank,\"rent, December\n", 2, 33,
         "a quoted field is not closed, or text follows its closing quote"},
        {HDR "p1,100,1.00,CNY,2026-12-01,bank,\"rent\" December\n", 2, 39,
         "a quoted field is not closed, or text follows its closing quote"},
        {HDR "p1,100,1.00,CNY,2026-12-01,bank,\n"
             "# a comment\n"
             "p2,100,1.00,CNY,2026-12-01,bank,\n"
             "p1,100,1.00,CNY,2026-12-01,bank,\n",
         5, 1, "payment id 'p1' is used twice (first on line 2)"},
    };
    char root[4096], path[4200];
    test_tmpdir(root, sizeof root, "pay-bad");
    snprintf(path, sizeof path, "%s/bad.csv", root);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].text, "w");
        cdr_pay_file *pf = (cdr_pay_file *)1;
        cdr_diag dg;
        cr_assert_eq(cdr_pay_parse_file(path, &pf, &dg), CDR_FORMAT, "case %zu", i);
        cr_assert_null(pf);
        cr_assert_str_eq(dg.dg_file, path);
        cr_assert_eq(dg.dg_line, cases[i].line, "case %zu: line %d", i, dg.dg_line);
        cr_assert_eq(dg.dg_column, cases[i].column, "case %zu: column %d", i, dg.dg_column);
        cr_assert_str_eq(dg.dg_msg, cases[i].msg, "case %zu", i);
    }
    /* a spreadsheet's file: byte order mark, CRLF, a quoted reference with a comma and a quote */
    write_file(path,
               "\xEF\xBB\xBF" CDR_PAY_HEADER "\r\n"
               "\r\n"
               "BK-2026/12.01,100,1234.5,CNY,2026-12-01,other,\"rent, \"\"December\"\"\"\r\n",
               "w");
    cdr_pay_file *pf;
    cdr_diag dg;
    cr_assert_eq(cdr_pay_parse_file(path, &pf, &dg), 0, "%d:%d: %s", dg.dg_line, dg.dg_column,
                 dg.dg_msg);
    cr_assert_eq(pf->pf_n, 1);
    cr_assert_str_eq(pf->pf_items[0].pm_id, "BK-2026/12.01");
    cr_assert_eq(pf->pf_items[0].pm_amount, C(1234, 50));
    cr_assert_eq(pf->pf_items[0].pm_date, cdr_days_from_civil(2026, 12, 1));
    cr_assert_eq(pf->pf_items[0].pm_method, CDR_PAY_OTHER);
    cr_assert_str_eq(pf->pf_items[0].pm_reference, "rent, \"December\"");
    cr_assert_eq(pf->pf_items[0].pm_line, 3);
    cdr_pay_file_free(pf);
    /* a file that cannot be read */
    snprintf(path, sizeof path, "%s/none.csv", root);
    cr_assert_eq(cdr_pay_parse_file(path, &pf, &dg), CDR_EIO);
    cr_assert_str_eq(dg.dg_msg, "cannot open: No such file or directory");
    rm_rf(root);
}

Test(payments, malformed_invoices)
{
    static const struct {
        const char *line;
        int column;
        const char *msg;
    } cases[] = {
        {"{\"invoice\":\"INV-9\",\"account\":9,\"currency\":\"CNY\",\"issued\":\"2026-11-30\","
         "\"total\":\"1.00\"}",
         1, "the invoice has no \"due\""},
        {"{\"invoice\":\"INV-9\",\"account\":9,\"currency\":\"CNY\",\"issued\":\"2026-11-30\","
         "\"due\":\"2026-11-31\",\"total\":\"1.00\"}",
         77, "\"due\": not a real date \"YYYY-MM-DD\""},
        {"{\"invoice\":\"INV-9\",\"account\":\"9\",\"currency\":\"CNY\",\"issued\":\"2026-11-30\","
         "\"due\":\"2026-12-30\",\"total\":\"1.00\"}",
         30, "\"account\": not an account id (a whole number from 1)"},
        {"{\"invoice\":\"INV-9\",\"account\":9,\"currency\":\"CNY\",\"issued\":\"2026-11-30\","
         "\"due\":\"2026-12-30\",\"total\":\"1,00\"}",
         98, "\"total\": not a decimal amount (\"109.00\")"},
        {"{\"invoice\":\"INV-9\",\"account\":9,\"currency\":\"CNY\",\"issued\":\"2026-11-30\","
         "\"due\":\"2026-12-30\",\"total\":\"1.00\"",
         104, "malformed JSON: expected ',' or '}'"},
        {"{\"invoice\":\"INV-9\" \"account\":9}", 20, "malformed JSON: expected ',' or '}'"},
        {"[1,2]", 1, "malformed JSON: expected an invoice object '{'"},
    };
    fx f;
    fx_open(&f, "pay-badinv");
    char dir[4300], path[4400];
    snprintf(dir, sizeof dir, "%s/2026-11", f.bills);
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/invoices.jsonl", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "\n%s\n", cases[i].line); /* a blank first line */
        write_file(path, text, "w");
        cdr_pay_status *ps = (cdr_pay_status *)1;
        cdr_diag dg;
        cr_assert_eq(cdr_pay_status_run(f.st, f.bills, day("2027-01-01"), 0, &ps, &dg), CDR_FORMAT,
                     "case %zu", i);
        cr_assert_null(ps);
        cr_assert_str_eq(dg.dg_file, path);
        cr_assert_eq(dg.dg_line, 2, "case %zu", i);
        cr_assert_eq(dg.dg_column, cases[i].column, "case %zu: column %d", i, dg.dg_column);
        cr_assert_str_eq(dg.dg_msg, cases[i].msg, "case %zu", i);
    }
    /* the same invoice number in two cycles */
    write_file(path, "", "w");
    invoice(&f, "2026-11", "INV-X", 1, "CNY", "2026-11-30", "2026-12-30", "1.00", NULL);
    invoice(&f, "2026-12", "INV-X", 1, "CNY", "2026-12-31", "2027-01-30", "1.00", NULL);
    cdr_pay_status *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_pay_status_run(f.st, f.bills, day("2027-01-01"), 0, &ps, &dg), CDR_FORMAT);
    cr_assert_eq(dg.dg_line, 1);
    cr_assert_str_eq(dg.dg_msg, "invoice INV-X is there twice (first in 2026-11/invoices.jsonl "
                                "line 1)");
    /* a cycle folder without invoices.jsonl */
    snprintf(path, sizeof path, "%s/2026-12/invoices.jsonl", f.bills);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(cdr_pay_status_run(f.st, f.bills, day("2027-01-01"), 0, &ps, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_file, path);
    cr_assert_str_eq(dg.dg_msg, "missing: every published cycle holds invoices.jsonl");
    fx_close(&f);
}

/* ---- the overdue set (cdrate payments dunning; docs/credit-control.md "Overdue accounts") ---- */

static cdr_pay_overdue_set *overdue_of(fx *f)
{
    cdr_pay_overdue_set *set = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_pay_overdue_list(f->st, &set, &dg), 0, "%s", dg.dg_msg);
    return set;
}

static cdr_pay_overdue_diff dunning(fx *f, const char *as_of)
{
    cdr_pay_status *ps = status(f, as_of, 0);
    cdr_pay_overdue_diff pd;
    cdr_diag dg;
    cr_assert_eq(cdr_pay_overdue_store(f->st, ps, &pd, &dg), 0, "%s", dg.dg_msg);
    cdr_pay_status_free(ps);
    return pd;
}

Test(payments, overdue_set_written_replaced_read_back)
{
    fx f;
    fx_open(&f, "pay-overdue");
    /* nothing recorded yet: an empty set */
    cdr_pay_overdue_set *set = overdue_of(&f);
    cr_assert_eq(set->os_recorded, 0);
    cr_assert_eq(set->os_n, 0);
    cr_assert_null(cdr_pay_overdue_find(set, 100));
    cdr_pay_overdue_free(set);

    invoice(&f, "2026-11", "INV-202611-100", 100, "CNY", "2026-11-30", "2026-12-30", "109.00", "A");
    invoice(&f, "2026-11", "INV-202611-200", 200, "CNY", "2026-11-30", "2026-12-15", "25.20", "B");
    invoice(&f, "2026-11", "INV-202611-201", 200, "EUR", "2026-11-30", "2026-12-10", "3.00", NULL);
    invoice(&f, "2026-11", "INV-202611-300", 300, "CNY", "2026-11-30", "2026-12-15", "8.00", "C");
    load_ok(&f, HDR "p1,100,40.00,CNY,2026-12-10,bank,\np2,300,8.00,CNY,2026-12-14,bank,\n", 2, 0);

    /* as of 2027-01-15: 100 CNY 69.00 (due 12-30), 200 CNY 25.20 (12-15) and EUR 3.00 (12-10);
     * 300 paid on time */
    cdr_pay_overdue_diff pd = dunning(&f, "2027-01-15");
    cr_assert_eq(pd.pd_accounts, 3);
    cr_assert_eq(pd.pd_added, 3);
    cr_assert_eq(pd.pd_dropped, 0);
    cr_assert_eq(pd.pd_prev_recorded, 0);
    set = overdue_of(&f);
    cr_assert_eq(set->os_recorded, 1);
    cr_assert_eq(set->os_as_of, day("2027-01-15"));
    cr_assert_eq(set->os_n, 3);
    const cdr_pay_overdue *po = &set->os_items[0];
    cr_assert_eq(po->po_account, 100);
    cr_assert_str_eq(po->po_currency, "CNY");
    cr_assert_eq(po->po_amount, C(69, 0));
    cr_assert_eq(po->po_invoices, 1);
    cr_assert_eq(po->po_oldest_due, day("2026-12-30"));
    cr_assert_eq(po->po_since, day("2026-12-31"));
    cr_assert_str_eq(po->po_credit_class, "A");
    cr_assert_str_eq(set->os_items[1].po_currency, "CNY"); /* by account, then currency */
    cr_assert_str_eq(set->os_items[2].po_currency, "EUR");
    cr_assert_str_eq(set->os_items[2].po_credit_class, "");
    /* an account overdue in two currencies: the one due first */
    po = cdr_pay_overdue_find(set, 200);
    cr_assert_not_null(po);
    cr_assert_str_eq(po->po_currency, "EUR");
    cr_assert_eq(po->po_amount, C(3, 0));
    cr_assert_null(cdr_pay_overdue_find(set, 300));
    cr_assert_null(cdr_pay_overdue_find(set, 0));
    cdr_pay_overdue_free(set);

    /* the same as-of again: the same set */
    pd = dunning(&f, "2027-01-15");
    cr_assert_eq(pd.pd_accounts, 3);
    cr_assert_eq(pd.pd_added, 0);
    cr_assert_eq(pd.pd_dropped, 0);
    cr_assert_eq(pd.pd_prev_recorded, 1);
    cr_assert_eq(pd.pd_prev_as_of, day("2027-01-15"));

    /* 200 pays both currencies: it drops out; 100 is still overdue */
    load_ok(&f, HDR "p3,200,25.20,CNY,2027-01-20,counter,\np4,200,3.00,EUR,2027-01-20,card,\n", 2,
            0);
    pd = dunning(&f, "2027-01-21");
    cr_assert_eq(pd.pd_accounts, 1);
    cr_assert_eq(pd.pd_added, 0);
    cr_assert_eq(pd.pd_dropped, 2);
    set = overdue_of(&f);
    cr_assert_eq(set->os_n, 1);
    cr_assert_eq(set->os_as_of, day("2027-01-21"));
    cr_assert_eq(set->os_items[0].po_account, 100);
    cr_assert_null(cdr_pay_overdue_find(set, 200));
    cdr_pay_overdue_free(set);

    /* nobody overdue: an empty set, recorded as such */
    load_ok(&f, HDR "p5,100,69.00,CNY,2027-01-22,bank,\n", 1, 0);
    pd = dunning(&f, "2027-01-22");
    cr_assert_eq(pd.pd_accounts, 0);
    cr_assert_eq(pd.pd_dropped, 1);
    set = overdue_of(&f);
    cr_assert_eq(set->os_recorded, 1);
    cr_assert_eq(set->os_n, 0);
    cdr_pay_overdue_free(set);
    fx_close(&f);
}
