/* test_bill.c - the bill run (cdr_bill.h, docs/billing.md): hand-computed invoices, the split,
 * proration, tax rounding, two currencies, determinism, publishing, and bad input. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cdr_bill.h"
#include "cdr_dir.h"
#include "cdr_ledger.h"
#include "cdr_live.h"
#include "test_dirs.h"

#define CYCLE 202611

/* The scenario of docs/billing.md "A worked example": enterprise 7 (account 100, product 70 with a
 * 10 % discount; rule 1 pays recurring_fee and basic_voice up to 50.00 per member), members 20
 * (all month) and 30 (from 16 November), an EUR line 40, an individual 50 terminated on 11
 * November, a pay-as-you-go line 60 with no usage. */
static const char DIRECTORY[] =
    "directory version=1\n"
    "credit_class id=A limit=1000.00 term_days=30 roaming_without_deposit=yes\n"
    "credit_class id=B limit=200.00 term_days=15\n"
    "customer id=1 type=company name=\"Acme\" credit_class=A manager=am.wu\n"
    "account id=100 customer=1 name=\"Acme AP\"\n"
    "enterprise id=7 customer=1 account=100\n"
    "product id=70 enterprise=7 discount=10\n"
    "customer id=2 type=person name=\"Ann\" credit_class=B\n"
    "account id=200 customer=2\n"
    "customer id=3 type=person name=\"Bob\" credit_class=B\n"
    "account id=300 customer=3\n"
    "customer id=4 type=person name=\"Carl\" credit_class=B\n"
    "account id=400 customer=4 currency=EUR\n"
    "customer id=5 type=person name=\"Dora, Jr.\" credit_class=B\n"
    "account id=500 customer=5\n"
    "customer id=6 type=person name=\"Eve\" credit_class=B\n"
    "account id=600 customer=6\n"
    "subscriber id=20 account=200 msisdn=8613800000020 plan=cn-enterprise "
    "active_from=2026-01-01T00:00:00+08:00\n"
    "subscriber id=30 account=300 msisdn=8613800000030 plan=cn-enterprise "
    "active_from=2026-11-16T00:00:00+08:00\n"
    "membership subscriber=20 product=70\n"
    "membership subscriber=30 product=70\n"
    "payment_rule id=1 product=70 classes=recurring_fee,basic_voice cap=50.00\n"
    "subscriber id=40 account=400 msisdn=4915100000040 plan=de-comfort "
    "active_from=2026-01-01T00:00:00+01:00\n"
    "subscriber id=50 account=500 msisdn=8613800000050 plan=cn-personal-128 "
    "active_from=2026-01-01T00:00:00+08:00 active_to=2026-11-11T00:00:00+08:00 "
    "status=terminated\n"
    "subscriber id=60 account=600 msisdn=8613800000060 plan=cn-payg "
    "active_from=2026-01-01T00:00:00+08:00\n";

typedef struct fixture {
    char root[4096], store[4200], ledger[4200], out[4200];
    cdr_store *st;
    cdr_ledger *lg;
    int64_t next_offset;
} fixture;

static void setup_store(fixture *fx, const char *tag, const char *directory)
{
    test_tmpdir(fx->root, sizeof fx->root, tag);
    snprintf(fx->store, sizeof fx->store, "%s/store", fx->root);
    snprintf(fx->ledger, sizeof fx->ledger, "%s/ledger", fx->root);
    snprintf(fx->out, sizeof fx->out, "%s/out", fx->root);
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(fx->store, 0, &fx->st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(
        cdr_plan_store_compile_dir(fx->st, CDR_SOURCE_DIR "/rating-rules/plans", NULL, NULL, &dg),
        0, "%s", dg.dg_msg);
    char dpath[4300];
    snprintf(dpath, sizeof dpath, "%s/d.dir", fx->root);
    FILE *f = fopen(dpath, "w");
    cr_assert_not_null(f);
    fputs(directory, f);
    fclose(f);
    cr_assert_eq(cdr_dir_load_file(fx->st, dpath, NULL, NULL, &dg), 0, "%s:%d:%d: %s", dg.dg_file,
                 dg.dg_line, dg.dg_column, dg.dg_msg);
    cr_assert_eq(cdr_ledger_open(fx->ledger, NULL, &fx->lg, &dg), 0, "%s", dg.dg_msg);
}

/* One rated record of `msisdn` (plan, class, charge in micro-units, currency). */
static cdr_ledger_rec mkrec(fixture *fx, const char *msisdn, const char *plan, int cls, int svc,
                            cdr_money charge, const char *cur)
{
    cdr_ledger_rec r;
    memset(&r, 0, sizeof r);
    r.lr_offset = fx->next_offset++;
    snprintf(r.lr_cdr.cr_source, sizeof r.lr_cdr.cr_source, "MSC01");
    snprintf(r.lr_cdr.cr_origin_id, sizeof r.lr_cdr.cr_origin_id, "o%" PRId64, r.lr_offset);
    snprintf(r.lr_cdr.cr_msisdn, sizeof r.lr_cdr.cr_msisdn, "%s", msisdn);
    strcpy(r.lr_cdr.cr_other, "8613912345678");
    r.lr_cdr.cr_start = 1794000000 + r.lr_offset; /* 2026-11-11 */
    r.lr_cdr.cr_service = (uint8_t)svc;
    if (svc == CDR_SVC_VOICE)
        r.lr_cdr.cr_duration = 60;
    r.lr_rated.rr_service = (uint8_t)svc;
    r.lr_rated.rr_class = (uint8_t)cls;
    r.lr_rated.rr_zone = 0;
    r.lr_rated.rr_bundle = -1;
    r.lr_rated.rr_plan_version = 1;
    r.lr_rated.rr_cycle = CYCLE;
    r.lr_rated.rr_charge = charge;
    r.lr_rated.rr_units = 60;
    if (cls == CDR_CLASS_FREE)
        r.lr_rated.rr_free_units = 60;
    else
        r.lr_rated.rr_overflow_units = 60;
    snprintf(r.lr_rated.rr_currency, sizeof r.lr_rated.rr_currency, "%s", cur);
    r.lr_rated.rr_nparts = 1;
    r.lr_rated.rr_parts[0].rp_units = 60;
    r.lr_rated.rr_parts[0].rp_charge = charge;
    snprintf(r.lr_plan, sizeof r.lr_plan, "%s", plan);
    return r;
}

/* Append it to the ledger. */
static void rec(fixture *fx, const char *msisdn, const char *plan, int cls, int svc,
                cdr_money charge, const char *cur)
{
    cdr_ledger_rec r = mkrec(fx, msisdn, plan, cls, svc, charge, cur);
    cdr_diag dg;
    cr_assert_eq(cdr_ledger_append(fx->lg, 0, &r, 1, r.lr_offset, &dg), 0, "%s", dg.dg_msg);
}

static void scenario_records(fixture *fx)
{
    rec(fx, "8613800000020", "cn-enterprise", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 12345000,
        "CNY");
    rec(fx, "8613800000020", "cn-enterprise", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 7655000, "CNY");
    rec(fx, "8613800000020", "cn-enterprise", CDR_CLASS_DATA, CDR_SVC_DATA, 3333333, "CNY");
    rec(fx, "8613800000030", "cn-enterprise", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 40000000,
        "CNY");
    rec(fx, "8613800000030", "cn-enterprise", CDR_CLASS_SMS_MMS, CDR_SVC_SMS, 1500000, "CNY");
    rec(fx, "4915100000040", "de-comfort", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 2500000, "EUR");
    rec(fx, "8613800000050", "cn-personal-128", CDR_CLASS_ROAMING, CDR_SVC_VOICE, 10000000, "CNY");
    rec(fx, "8613800000050", "cn-personal-128", CDR_CLASS_FREE, CDR_SVC_VOICE, 0, "CNY");
    rec(fx, "8613800000050", "cn-personal-128", CDR_CLASS_PREMIUM, CDR_SVC_VOICE, 150000000, "CNY");
}

static void teardown_fx(fixture *fx)
{
    cdr_ledger_close(fx->lg);
    cdr_store_close(fx->st);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The line of file `name` of the published cycle that contains `needle`; NULL when none. */
static char *line_with(const fixture *fx, const char *name, const char *needle)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/2026-11/%s", fx->out, name);
    char *all = slurp(path);
    char *hit = strstr(all, needle);
    char *res = NULL;
    if (hit) {
        char *b = hit;
        while (b > all && b[-1] != '\n')
            b--;
        char *e = strchr(hit, '\n');
        size_t n = e ? (size_t)(e - b) : strlen(b);
        res = malloc(n + 1);
        memcpy(res, b, n);
        res[n] = '\0';
    }
    free(all);
    return res;
}

static int run(fixture *fx, cdr_bill_summary *sum, cdr_diag *dg)
{
    cdr_bill_config cfg = {.bc_cycle = CYCLE, .bc_ledger = fx->ledger, .bc_out = fx->out};
    cdr_tax_defaults(&cfg.bc_tax);
    return cdr_bill_run(fx->st, &cfg, sum, dg);
}

static fixture *billed(const char *tag)
{
    static fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, tag, DIRECTORY);
    scenario_records(&fx);
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(run(&fx, &sum, &dg), 0, "%s", dg.dg_msg);
    return &fx;
}

/* An expected invoice line: subscriber, class, share, plan (NULL: none), amount, tax rate, tax,
 * total. */
typedef struct xline {
    int x_sub;
    const char *x_cls, *x_share, *x_plan, *x_amount, *x_rate, *x_tax, *x_total;
} xline;

static void expect_exact(const fixture *fx, const char *no, const xline *xl, size_t n,
                         const char *amount, const char *tax, const char *total);

static void expect_invoice(const fixture *fx, const char *no, const char *tail)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"invoice\":\"%s\"", no);
    char *l = line_with(fx, "invoices.jsonl", needle);
    cr_assert_not_null(l, "no invoice %s", no);
    cr_expect(strstr(l, tail) != NULL, "invoice %s:\n%s\nlacks\n%s", no, l, tail);
    free(l);
}

Test(bill, enterprise_invoice_takes_the_capped_shares)
{
    fixture *fx = billed("bill-ent");
    /* member 20: basic_voice 20.00 - 10 % = 18.00 and the fee 58.00 - 5.80 = 52.20, of which the
     * cap leaves 32.00; member 30: 40.00 - 4.00 = 36.00, fee 29.00 (15 of 30 days) - 2.90 =
     * 26.10, of which 14.00. Tax 9 % per line. */
    expect_invoice(fx, "INV-202611-100",
                   "\"lines\":[{\"subscriber\":20,\"msisdn\":\"8613800000020\",\"class\":"
                   "\"basic_voice\",\"share\":\"enterprise\",\"amount\":\"18.00\",\"tax_rate\":"
                   "\"9%\",\"tax\":\"1.62\",\"total\":\"19.62\"},{\"subscriber\":20,\"msisdn\":"
                   "\"8613800000020\",\"class\":\"recurring_fee\",\"share\":\"enterprise\","
                   "\"amount\":\"32.00\",\"tax_rate\":\"9%\",\"tax\":\"2.88\",\"total\":\"34.88\"},"
                   "{\"subscriber\":30,\"msisdn\":\"8613800000030\",\"class\":\"basic_voice\","
                   "\"share\":\"enterprise\",\"amount\":\"36.00\",\"tax_rate\":\"9%\",\"tax\":"
                   "\"3.24\",\"total\":\"39.24\"},{\"subscriber\":30,\"msisdn\":\"8613800000030\","
                   "\"class\":\"recurring_fee\",\"share\":\"enterprise\",\"amount\":\"14.00\","
                   "\"tax_rate\":\"9%\",\"tax\":\"1.26\",\"total\":\"15.26\"}],");
    expect_invoice(fx, "INV-202611-100",
                   "\"amount\":\"100.00\",\"tax\":\"9.00\",\"total\":\"109.00\"}");
    expect_invoice(fx, "INV-202611-100",
                   "\"kind\":\"enterprise\",\"customer\":1,\"customer_name\":\"Acme\","
                   "\"enterprise\":7,\"cycle\":\"2026-11\",\"currency\":\"CNY\",\"issued\":"
                   "\"2026-11-30\",\"due\":\"2026-12-30\",\"credit_class\":\"A\"");
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill, member_pays_what_the_cap_leaves)
{
    fixture *fx = billed("bill-mem");
    /* member 20: data 3.333333 -> 3.33 - 0.33 = 3.00 (6 %: 0.18); the fee's rest 20.20 (9 %:
     * 1.818 -> 1.82); its basic_voice, paid in full by the enterprise, is not on this invoice */
    expect_invoice(fx, "INV-202611-200",
                   "\"lines\":[{\"subscriber\":20,\"msisdn\":\"8613800000020\",\"class\":\"data\","
                   "\"share\":\"own\",\"amount\":\"3.00\",\"tax_rate\":\"6%\",\"tax\":\"0.18\","
                   "\"total\":\"3.18\"},{\"subscriber\":20,\"msisdn\":\"8613800000020\",\"class\":"
                   "\"recurring_fee\",\"share\":\"own\",\"amount\":\"20.20\",\"tax_rate\":\"9%\","
                   "\"tax\":\"1.82\",\"total\":\"22.02\"}],");
    expect_invoice(fx, "INV-202611-200",
                   "\"amount\":\"23.20\",\"tax\":\"2.00\",\"total\":\"25.20\"}");
    expect_invoice(fx, "INV-202611-200", "\"kind\":\"member\"");
    /* member 30 joined on 16 November: sms_mms 1.50 - 0.15 = 1.35 (0.081 -> 0.08), fee rest
     * 12.10 (1.089 -> 1.09) */
    expect_invoice(fx, "INV-202611-300",
                   "\"amount\":\"13.45\",\"tax\":\"1.17\",\"total\":\"14.62\"}");
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill, individual_prorated_terminated_and_over_its_limit)
{
    fixture *fx = billed("bill-ind");
    /* 10 active days of 30: 128.00 * 10 / 30 = 42.666.. -> 42.67 (9 %: 3.8403 -> 3.84); roaming
     * 10.00 (0.90); premium 150.00 (6 %: 9.00); a free call as a 0.00 line */
    expect_invoice(fx, "INV-202611-500",
                   "{\"subscriber\":50,\"msisdn\":\"8613800000050\",\"class\":\"free\",\"share\":"
                   "\"own\",\"amount\":\"0.00\",\"tax_rate\":\"0%\",\"tax\":\"0.00\",\"total\":"
                   "\"0.00\"},{\"subscriber\":50,\"msisdn\":\"8613800000050\",\"class\":"
                   "\"recurring_fee\",\"share\":\"own\",\"amount\":\"42.67\",\"tax_rate\":\"9%\","
                   "\"tax\":\"3.84\",\"total\":\"46.51\"}]");
    expect_invoice(fx, "INV-202611-500",
                   "\"amount\":\"202.67\",\"tax\":\"13.74\",\"total\":\"216.41\"}");
    expect_invoice(fx, "INV-202611-500",
                   "\"kind\":\"individual\",\"customer\":5,\"customer_name\":\"Dora, Jr.\"");
    char *rep = line_with(fx, "report.json", "over_credit_limit");
    cr_assert_not_null(rep);
    cr_expect(strstr(rep, "\"over_credit_limit\":[{\"account\":500,\"total\":\"216.41\","
                          "\"limit\":\"200.00\"}]") != NULL,
              "%s", rep);
    /* the members of enterprise 7 roam without deposit (its customer's class A) */
    cr_expect(strstr(rep, "\"roaming_without_deposit\":[{\"msisdn\":\"8613800000020\","
                          "\"subscriber\":20,\"account\":200,\"credit_class\":\"A\"},{\"msisdn\":"
                          "\"8613800000030\",\"subscriber\":30,\"account\":300,\"credit_class\":"
                          "\"A\"}]") != NULL,
              "%s", rep);
    free(rep);
    /* the CSV quotes a name with a comma */
    char *csv = line_with(fx, "invoices.csv", "INV-202611-500");
    cr_assert_not_null(csv);
    cr_expect_str_eq(csv, "INV-202611-500,500,individual,5,\"Dora, Jr.\",2026-11,CNY,2026-11-30,"
                          "2026-12-15,202.67,13.74,216.41,B");
    free(csv);
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill, second_currency_and_zero_usage)
{
    fixture *fx = billed("bill-cur");
    /* EUR: basic_voice 2.50 (9 %: 0.225 -> 0.23, half-up), fee 9.99 (0.8991 -> 0.90) */
    expect_invoice(fx, "INV-202611-400",
                   "\"currency\":\"EUR\",\"issued\":\"2026-11-30\",\"due\":\"2026-12-15\"");
    expect_invoice(fx, "INV-202611-400",
                   "\"amount\":\"12.49\",\"tax\":\"1.13\",\"total\":\"13.62\"}");
    /* no usage, no fee: one 0.00 fee line */
    expect_invoice(fx, "INV-202611-600",
                   "\"lines\":[{\"subscriber\":60,\"msisdn\":\"8613800000060\",\"class\":"
                   "\"recurring_fee\",\"share\":\"own\",\"amount\":\"0.00\",\"tax_rate\":\"9%\","
                   "\"tax\":\"0.00\",\"total\":\"0.00\"}]");
    /* the report: each currency on its own, never added together */
    char *rep = line_with(fx, "report.json", "\"currencies\"");
    cr_assert_not_null(rep);
    cr_expect(strstr(rep, "\"CNY\":{\"invoices\":5,\"subscribers\":4,\"records\":8,\"amount\":"
                          "\"339.32\",\"tax\":\"25.91\",\"total\":\"365.23\",\"rated_usage\":"
                          "\"224.833333\",\"fees\":\"129.67\",\"discounts\":\"-15.18\","
                          "\"adjustments\":\"0.00\",\"usage_rounding\":\"-0.003333\",\"enterprise_"
                          "share\":\"100.00\","
                          "\"member_share\":\"239.32\"") != NULL,
              "%s", rep);
    cr_expect(strstr(rep, "\"reconciliation\":{\"live_state\":false,\"live_lines\":0,"
                          "\"differences\":0,\"items\":[]}") != NULL,
              "%s", rep);
    cr_expect(strstr(rep, "\"EUR\":{\"invoices\":1,\"subscribers\":1,\"records\":1,\"amount\":"
                          "\"12.49\",\"tax\":\"1.13\",\"total\":\"13.62\"") != NULL,
              "%s", rep);
    free(rep);
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill, rerun_is_byte_identical_and_replaces_the_output)
{
    /* the files take their mode from the umask, which the cdrate command sets to 077
     * (docs/operations.md, "Private files"; tests/cli/modes_test.sh checks the command) */
    const mode_t um = umask(077);
    fixture *fx = billed("bill-det");
    static const char *const files[] = {"invoices.jsonl", "invoices.csv", "invoice_lines.csv",
                                        "subscribers.jsonl", "report.json"};
    char *first[5];
    char path[4400];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/2026-11/%s", fx->out, files[i]);
        first[i] = slurp(path);
        struct stat sb;
        cr_assert_eq(stat(path, &sb), 0);
        cr_expect_eq(sb.st_mode & 0777, 0600, "%s is %o", files[i], sb.st_mode & 0777);
    }
    snprintf(path, sizeof path, "%s/2026-11", fx->out);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0700);
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(run(fx, &sum, &dg), 0, "%s", dg.dg_msg); /* over the first output */
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/2026-11/%s", fx->out, files[i]);
        char *again = slurp(path);
        cr_expect_str_eq(again, first[i], "%s differs", files[i]);
        free(again);
        free(first[i]);
    }
    /* nothing else is left in the output folder but the cycle's lock file */
    int n = 0;
    DIR *d = opendir(fx->out);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            n++;
            cr_expect(!strcmp(de->d_name, "2026-11") || !strcmp(de->d_name, ".2026-11.lock"),
                      "left in the output folder: %s", de->d_name);
        }
    closedir(d);
    cr_expect_eq(n, 2, "the output folder holds %d entries", n);
    cr_expect_eq(sum.bs_invoices, 6);
    cr_expect_eq(sum.bs_records, 9);
    cr_expect_eq(sum.bs_ncurrencies, 2);
    umask(um);
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill, an_account_in_two_currencies_publishes_nothing)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    char dir[sizeof DIRECTORY + 256];
    snprintf(dir, sizeof dir, "%s%s", DIRECTORY,
             "subscriber id=61 account=600 msisdn=4915100000061 plan=de-comfort "
             "active_from=2026-01-01T00:00:00+01:00\n");
    setup_store(&fx, "bill-2cur", dir);
    scenario_records(&fx);
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(run(&fx, &sum, &dg), CDR_FORMAT);
    cr_expect_str_eq(dg.dg_msg,
                     "account 600 would be billed in CNY and in EUR (subscriber 61, plan "
                     "de-comfort): an invoice has one currency; give the account currency= and "
                     "lines whose plans charge in it (docs/billing.md)");
    struct stat sb;
    char path[4400];
    snprintf(path, sizeof path, "%s/2026-11", fx.out);
    cr_expect_neq(stat(path, &sb), 0, "a refused run published %s", path);
    DIR *d = opendir(fx.out); /* and left no temporary folder */
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        cr_expect(!strncmp(de->d_name, ".", 1) && !strstr(de->d_name, ".tmp-"),
                  "a refused run left %s", de->d_name);
    if (d)
        closedir(d);
    teardown_fx(&fx);
    rm_rf(fx.root);
}

Test(bill, an_account_the_enterprise_pays_in_full_gets_an_empty_invoice)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    char dir[sizeof DIRECTORY + 512];
    snprintf(dir, sizeof dir, "%s%s", DIRECTORY,
             "customer id=25 type=person name=\"Fay\" credit_class=B\n"
             "account id=250 customer=25\n"
             "subscriber id=25 account=250 msisdn=8613800000025 plan=cn-enterprise "
             "active_from=2026-01-01T00:00:00+08:00\n"
             "membership subscriber=25 product=70\n"
             "payment_rule id=2 subscriber=25 classes=all\n");
    setup_store(&fx, "bill-full", dir);
    scenario_records(&fx);
    rec(&fx, "8613800000025", "cn-enterprise", CDR_CLASS_DATA, CDR_SVC_DATA, 5000000, "CNY");
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(run(&fx, &sum, &dg), 0, "%s", dg.dg_msg);
    expect_invoice(&fx, "INV-202611-250",
                   "\"kind\":\"member\",\"customer\":25,\"customer_name\":\"Fay\",\"enterprise\":"
                   "null,\"cycle\":\"2026-11\",\"currency\":\"CNY\",\"issued\":\"2026-11-30\","
                   "\"due\":\"2026-12-15\",\"credit_class\":\"B\",\"lines\":[],\"subtotals\":{},"
                   "\"amount\":\"0.00\",\"tax\":\"0.00\",\"total\":\"0.00\"}");
    /* the enterprise pays its data 5.00 - 0.50 and its fee 58.00 - 5.80, with no cap */
    char *l = line_with(&fx, "invoices.jsonl", "\"invoice\":\"INV-202611-100\"");
    cr_assert_not_null(l);
    cr_expect(strstr(l, "{\"subscriber\":25,\"msisdn\":\"8613800000025\",\"class\":\"data\","
                        "\"share\":\"enterprise\",\"amount\":\"4.50\"") != NULL,
              "%s", l);
    cr_expect(strstr(l, "{\"subscriber\":25,\"msisdn\":\"8613800000025\",\"class\":"
                        "\"recurring_fee\",\"share\":\"enterprise\",\"amount\":\"52.20\"") != NULL,
              "%s", l);
    free(l);
    teardown_fx(&fx);
    rm_rf(fx.root);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(bill, adjustments_a_charge_to_a_line_and_a_credit_to_an_account)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, "bill-adj", DIRECTORY);
    scenario_records(&fx);
    char path[4300];
    snprintf(path, sizeof path, "%s/adj.csv", fx.root);
    write_file(path, "\xEF\xBB\xBFid,target,class,amount,currency,description\n"
                     "# November\n"
                     "a-1,msisdn:8613800000020,one_off,25.00,CNY,SIM replacement\n"
                     "a-2,account:500,adjustment,-10.00,CNY,\"goodwill, outage of 3 Nov\"\n"
                     "a-3,account:100,one_off,100.00,CNY,installation\n");
    cdr_adjustments *aj = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_adjustments_load(path, &aj, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(aj->aj_n, 3);
    cr_expect_str_eq(aj->aj_items[1].ad_text, "goodwill, outage of 3 Nov");
    cdr_bill_config cfg = {
        .bc_cycle = CYCLE, .bc_ledger = fx.ledger, .bc_out = fx.out, .bc_adjustments = aj};
    cdr_tax_defaults(&cfg.bc_tax);
    cdr_bill_summary sum;
    cr_assert_eq(cdr_bill_run(fx.st, &cfg, &sum, &dg), 0, "%s", dg.dg_msg);
    /* member 20's one-off: no rule of the enterprise names one_off, so the member pays it, with
     * no discount, at 6 %: 23.20 + 25.00 = 48.20, tax 2.00 + 1.50 */
    expect_invoice(&fx, "INV-202611-200",
                   "{\"subscriber\":20,\"msisdn\":\"8613800000020\",\"class\":\"one_off\","
                   "\"share\":\"own\",\"amount\":\"25.00\",\"tax_rate\":\"6%\",\"tax\":\"1.50\","
                   "\"total\":\"26.50\"}");
    expect_invoice(&fx, "INV-202611-200",
                   "\"amount\":\"48.20\",\"tax\":\"3.50\",\"total\":\"51.70\"}");
    /* the whole invoice: data 3.00 (0.18), the fee's rest 20.20 (1.818 -> 1.82), the one-off
     * 25.00 (1.50) */
    static const xline a200[] = {
        {20, "data", "own", NULL, "3.00", "6%", "0.18", "3.18"},
        {20, "recurring_fee", "own", NULL, "20.20", "9%", "1.82", "22.02"},
        {20, "one_off", "own", NULL, "25.00", "6%", "1.50", "26.50"},
    };
    expect_exact(&fx, "INV-202611-200", a200, 3, "48.20", "3.50", "51.70");
    /* the negative adjustment: a credit line of the account, tax 0 % */
    expect_invoice(&fx, "INV-202611-500",
                   "{\"subscriber\":null,\"msisdn\":null,\"class\":\"adjustment\",\"share\":"
                   "\"own\",\"amount\":\"-10.00\",\"tax_rate\":\"0%\",\"tax\":\"0.00\","
                   "\"total\":\"-10.00\",\"adjustment\":\"a-2\",\"description\":\"goodwill, "
                   "outage of 3 Nov\"}");
    expect_invoice(&fx, "INV-202611-500",
                   "\"amount\":\"192.67\",\"tax\":\"13.74\",\"total\":\"206.41\"}");
    expect_invoice(&fx, "INV-202611-100",
                   "\"amount\":\"200.00\",\"tax\":\"15.00\",\"total\":\"215.00\"}");
    char *rep = line_with(&fx, "report.json", "\"currencies\"");
    cr_assert_not_null(rep);
    cr_expect(strstr(rep, "\"amount\":\"454.32\",\"tax\":\"33.41\",\"total\":\"487.73\","
                          "\"rated_usage\":\"224.833333\",\"fees\":\"129.67\",\"discounts\":"
                          "\"-15.18\",\"adjustments\":\"115.00\",\"usage_rounding\":\"-0.003333\","
                          "\"enterprise_share\":\"200.00\",\"member_share\":\"254.32\"") != NULL,
              "%s", rep);
    free(rep);
    char *csv = line_with(&fx, "invoice_lines.csv", "INV-202611-500,500,,,adjustment");
    cr_assert_not_null(csv);
    cr_expect_str_eq(csv, "INV-202611-500,500,,,adjustment,own,-10.00,0%,0.00,-10.00,CNY");
    free(csv);
    cdr_adjustments_free(aj);
    teardown_fx(&fx);
    rm_rf(fx.root);
}

static void adj_refused(const char *text, int line, int col, const char *msg)
{
    char dir[4096], path[4200];
    test_tmpdir(dir, sizeof dir, "adj");
    snprintf(path, sizeof path, "%s/a.csv", dir);
    write_file(path, text);
    cdr_adjustments *aj = NULL;
    cdr_diag dg;
    cr_expect_eq(cdr_adjustments_load(path, &aj, &dg), CDR_FORMAT, "%s", text);
    cr_expect_null(aj);
    cr_expect_eq(dg.dg_line, line, "%s: line %d", msg, dg.dg_line);
    cr_expect_eq(dg.dg_column, col, "%s: column %d", msg, dg.dg_column);
    cr_expect(strstr(dg.dg_msg, msg) != NULL, "'%s' lacks '%s'", dg.dg_msg, msg);
    rm_rf(dir);
}

#define ADJ_HDR "id,target,class,amount,currency,description\n"

Test(bill_adjustments, malformed_files_name_line_and_column)
{
    adj_refused("id,target,amount\n", 1, 1, "the first line must be the header");
    adj_refused("", 1, 1, "empty: no header");
    adj_refused(ADJ_HDR "a,msisdn:1,one_off,1.00,CNY\n", 2, 1, "5 field(s), expected 6");
    adj_refused(ADJ_HDR "a,msisdn:1,one_off,1.00,CNY,x,y\n", 2, 1, "more than 6 fields");
    adj_refused(ADJ_HDR ",msisdn:1,one_off,1.00,CNY,\n", 2, 1, "id: empty");
    adj_refused(ADJ_HDR "a,line:1,one_off,1.00,CNY,\n", 2, 3,
                "target 'line:1': write msisdn:DIGITS (a line) or account:ID");
    adj_refused(ADJ_HDR "a,account:x,one_off,1.00,CNY,\n", 2, 3, "target 'account:x'");
    adj_refused(ADJ_HDR "a,account:7,data,1.00,CNY,\n", 2, 13,
                "class 'data': an adjustment is one_off or adjustment");
    adj_refused(ADJ_HDR "a,account:7,one_off,1.005,CNY,\n", 2, 21,
                "amount '1.005' is not a decimal with at most two decimals");
    adj_refused(ADJ_HDR "a,account:7,one_off,ten,CNY,\n", 2, 21, "amount 'ten'");
    adj_refused(ADJ_HDR "a,account:7,one_off,0.00,CNY,\n", 2, 21, "amount 0 adjusts nothing");
    adj_refused(ADJ_HDR "a,account:7,one_off,1.00,cny,\n", 2, 26, "currency 'cny' is not an ISO");
    adj_refused(ADJ_HDR "a,account:7,one_off,1.00,CNY,\"open\n", 2, 30,
                "a quoted field is not closed");
    adj_refused(ADJ_HDR "a,account:7,one_off,1.00,CNY,x\nb,account:7,one_off,1.00,CNY,y\n"
                        "a,account:8,adjustment,-1.00,CNY,z\n",
                4, 1, "id 'a' is used twice (first on line 2)");
    cdr_adjustments *aj = NULL;
    cdr_diag dg;
    cr_expect_eq(cdr_adjustments_load("/no/such/adjustments.csv", &aj, &dg), CDR_EIO);
    /* a NUL byte in a description */
    char dir[4096], path[4200];
    test_tmpdir(dir, sizeof dir, "adjnul");
    snprintf(path, sizeof path, "%s/a.csv", dir);
    static const char nul[] = ADJ_HDR "a,account:7,one_off,1.00,CNY,x\0y\n";
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(nul, 1, sizeof nul - 1, f);
    fclose(f);
    cr_expect_eq(cdr_adjustments_load(path, &aj, &dg), CDR_FORMAT);
    cr_expect_eq(dg.dg_line, 2);
    cr_expect_eq(dg.dg_column, 31);
    cr_expect_str_eq(dg.dg_msg, "a NUL byte");
    rm_rf(dir);
}

Test(bill_adjustments, an_unknown_target_or_currency_publishes_nothing)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, "bill-adjbad", DIRECTORY);
    scenario_records(&fx);
    static const struct {
        const char *row, *msg;
    } cases[] = {
        {"a,msisdn:8613899999999,one_off,1.00,CNY,\n",
         "adjustment a: msisdn 8613899999999 is not in the directory"},
        {"a,account:999,one_off,1.00,CNY,\n", "adjustment a: account 999 is not in the directory"},
        {"a,msisdn:8613800000020,one_off,1.00,EUR,\n",
         "adjustment a is in EUR, but msisdn 8613800000020 is billed in CNY"},
        {"a,account:400,one_off,1.00,CNY,\n",
         "adjustment a is in CNY, but account 400 is billed in EUR"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[4300], text[512];
        snprintf(path, sizeof path, "%s/adj%zu.csv", fx.root, k);
        snprintf(text, sizeof text, ADJ_HDR "%s", cases[k].row);
        write_file(path, text);
        cdr_adjustments *aj = NULL;
        cdr_diag dg;
        cr_assert_eq(cdr_adjustments_load(path, &aj, &dg), 0, "%s", dg.dg_msg);
        cdr_bill_config cfg = {
            .bc_cycle = CYCLE, .bc_ledger = fx.ledger, .bc_out = fx.out, .bc_adjustments = aj};
        cdr_tax_defaults(&cfg.bc_tax);
        cdr_bill_summary sum;
        cr_expect_eq(cdr_bill_run(fx.st, &cfg, &sum, &dg), CDR_FORMAT, "%s", cases[k].row);
        cr_expect_str_eq(dg.dg_msg, cases[k].msg);
        cr_expect_str_eq(dg.dg_file, path);
        cr_expect_eq(dg.dg_line, 2);
        char out[4400];
        snprintf(out, sizeof out, "%s/2026-11", fx.out);
        struct stat sb;
        cr_expect_neq(stat(out, &sb), 0, "published after %s", cases[k].row);
        cdr_adjustments_free(aj);
    }
    teardown_fx(&fx);
    rm_rf(fx.root);
}

Test(bill, reconciliation_lists_every_line_the_live_state_disagrees_on)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, "bill-recon", DIRECTORY);
    scenario_records(&fx);
    /* the live state as the rating side kept it: lines 20 and 40 as in the ledger, line 30 with
     * one record more, line 50 missing */
    cdr_subtab *subs = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_rating_view(fx.st, &subs, &dg), 0, "%s", dg.dg_msg);
    cdr_live_acc *acc = NULL;
    cr_assert_eq(cdr_live_acc_create(&acc), 0);
    const struct {
        const char *msisdn, *plan;
        int cls, svc;
        cdr_money charge;
        const char *cur;
    } live[] = {
        {"8613800000020", "cn-enterprise", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 12345000, "CNY"},
        {"8613800000020", "cn-enterprise", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 7655000, "CNY"},
        {"8613800000020", "cn-enterprise", CDR_CLASS_DATA, CDR_SVC_DATA, 3333333, "CNY"},
        {"8613800000030", "cn-enterprise", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 40000000, "CNY"},
        {"8613800000030", "cn-enterprise", CDR_CLASS_SMS_MMS, CDR_SVC_SMS, 1500000, "CNY"},
        {"8613800000030", "cn-enterprise", CDR_CLASS_SMS_MMS, CDR_SVC_SMS, 100000, "CNY"},
        {"4915100000040", "de-comfort", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 2500000, "EUR"},
    };
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        cdr_ledger_rec r = mkrec(&fx, live[i].msisdn, live[i].plan, live[i].cls, live[i].svc,
                                 live[i].charge, live[i].cur);
        cr_assert_eq(cdr_live_acc_add(acc, cdr_subtab_find(subs, live[i].msisdn), &r.lr_cdr,
                                      &r.lr_rated, NULL),
                     0);
    }
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(fx.st->st_env, NULL, 0, &txn), 0);
    cr_assert_eq(cdr_live_acc_write(acc, txn, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    cdr_live_acc_free(acc);
    cdr_subtab_free(subs);
    cdr_bill_summary sum;
    cr_assert_eq(run(&fx, &sum, &dg), 0, "%s", dg.dg_msg);
    char *rep = line_with(&fx, "report.json", "\"reconciliation\"");
    cr_assert_not_null(rep);
    cr_expect(strstr(rep, "\"reconciliation\":{\"live_state\":true,\"live_lines\":3,"
                          "\"differences\":2,\"items\":[{\"subscriber\":30,\"currency\":\"CNY\","
                          "\"live_records\":3,\"ledger_records\":2,\"live_charge\":\"41.600000\","
                          "\"ledger_charge\":\"41.500000\"},{\"subscriber\":50,\"currency\":"
                          "\"CNY\",\"live_records\":0,\"ledger_records\":3,\"live_charge\":"
                          "\"0.000000\",\"ledger_charge\":\"160.000000\"}]}") != NULL,
              "%s", rep);
    free(rep);
    teardown_fx(&fx);
    rm_rf(fx.root);
}

Test(bill, a_line_left_the_directory_is_reported_not_dropped)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, "bill-orphan", DIRECTORY);
    scenario_records(&fx);
    rec(&fx, "8613899999999", "cn-payg", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 1230000, "CNY");
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(run(&fx, &sum, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(sum.bs_records, 10);
    cr_expect_eq(sum.bs_unbilled, 1);
    char *rep = line_with(&fx, "report.json", "\"unbilled\"");
    cr_assert_not_null(rep);
    cr_expect(strstr(rep, "\"unbilled\":{\"records\":1,\"charge\":\"1.230000\"}") != NULL, "%s",
              rep);
    free(rep);
    teardown_fx(&fx);
    rm_rf(fx.root);
}

Test(bill, a_line_with_records_in_two_currencies_publishes_nothing)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, "bill-line2cur", DIRECTORY);
    scenario_records(&fx);
    rec(&fx, "8613800000020", "cn-enterprise", CDR_CLASS_DATA, CDR_SVC_DATA, 1000000, "EUR");
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(run(&fx, &sum, &dg), CDR_FORMAT);
    cr_expect_str_eq(dg.dg_msg, "subscriber 20 (msisdn 8613800000020) has records in CNY and in "
                                "EUR in cycle 202611: a line is billed in one currency");
    char out[4400];
    snprintf(out, sizeof out, "%s/2026-11", fx.out);
    struct stat sb;
    cr_expect_neq(stat(out, &sb), 0, "a refused run published %s", out);
    teardown_fx(&fx);
    rm_rf(fx.root);
}

Test(bill, a_cycle_with_no_data)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, "bill-empty", DIRECTORY);
    cdr_bill_config cfg = {.bc_cycle = 202512, .bc_ledger = fx.ledger, .bc_out = fx.out};
    cdr_tax_defaults(&cfg.bc_tax);
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(cdr_bill_run(fx.st, &cfg, &sum, &dg), CDR_NOTFOUND);
    cr_expect(strstr(dg.dg_msg, "cycle 2025-12 has no records in the ledger") != NULL, "%s",
              dg.dg_msg);
    teardown_fx(&fx);
    rm_rf(fx.root);
}

/* A segment deleted from the middle of a partition: the run names the folder and publishes
 * nothing (the last segment of a partition cannot be missed this way: docs/ledger.md). */
Test(bill, a_missing_ledger_segment_publishes_nothing)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, "bill-missing", DIRECTORY);
    cdr_ledger_close(fx.lg); /* again with 4 KiB segments: a few records fill one */
    cdr_diag dg;
    const cdr_ledger_opts lo = {.lo_segment_bytes = 4096};
    cr_assert_eq(cdr_ledger_open(fx.ledger, &lo, &fx.lg, &dg), 0, "%s", dg.dg_msg);
    for (int i = 0; i < 200; i++)
        rec(&fx, "8613800000060", "cn-payg", CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE, 100000, "CNY");
    cdr_ledger_close(fx.lg);
    fx.lg = NULL;
    char seg[4400], pdir[4300];
    snprintf(pdir, sizeof pdir, "%s/%u/p0000", fx.ledger, (unsigned)CYCLE);
    snprintf(seg, sizeof seg, "%s/seg-000000000001.zst", pdir);
    cr_assert_eq(access(seg, F_OK), 0, "the records did not fill two segments");
    cr_assert_eq(unlink(seg), 0);
    cdr_bill_config cfg = {.bc_cycle = CYCLE, .bc_ledger = fx.ledger, .bc_out = fx.out};
    cdr_tax_defaults(&cfg.bc_tax);
    cdr_bill_summary sum;
    cr_assert_eq(cdr_bill_run(fx.st, &cfg, &sum, &dg), CDR_FORMAT);
    cr_expect_str_eq(dg.dg_file, pdir);
    cr_expect(strstr(dg.dg_msg, "segments missing: ") != NULL, "%s", dg.dg_msg);
    char outc[4400];
    snprintf(outc, sizeof outc, "%s/2026-11", fx.out);
    cr_expect_neq(access(outc, F_OK), 0, "a run with a missing segment published");
    teardown_fx(&fx);
    rm_rf(fx.root);
}

Test(bill_tax, rounding_per_line_half_up_to_the_cent)
{
    cr_expect_eq(cdr_tax_of(50000, 90000), 0);                 /* 0.05 * 9 % = 0.0045 -> 0.00 */
    cr_expect_eq(cdr_tax_of(60000, 90000), 10000);             /* 0.0054 -> 0.01 */
    cr_expect_eq(cdr_tax_of(50000, 100000), 10000);            /* 0.005: a tie, away from zero */
    cr_expect_eq(cdr_tax_of(-50000, 100000), -10000);          /* -0.005 -> -0.01 */
    cr_expect_eq(cdr_tax_of(-250000, 90000), -20000);          /* -0.0225 -> -0.02 */
    cr_expect_eq(cdr_tax_of(2500000, 90000), 230000);          /* 0.225 -> 0.23 */
    cr_expect_eq(cdr_tax_of(123456780000, 65000), 8024690000); /* 6.5 % of 123456.78 */
    /* many small lines: each rounds on its own, and the invoice's tax is their sum */
    cdr_money sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += cdr_tax_of(50000, 90000);
    cr_expect_eq(sum, 0);
}

static void tax_file(const char *text, int want_rc, int line, int col, const char *msg)
{
    char dir[4096], path[4200];
    test_tmpdir(dir, sizeof dir, "tax");
    snprintf(path, sizeof path, "%s/tax.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    cdr_tax_table t;
    cdr_diag dg;
    int rc = cdr_tax_load(path, &t, &dg);
    cr_expect_eq(rc, want_rc, "%s", dg.dg_msg);
    if (rc) {
        cr_expect_eq(dg.dg_line, line);
        cr_expect_eq(dg.dg_column, col);
        cr_expect(strstr(dg.dg_msg, msg) != NULL, "'%s' lacks '%s'", dg.dg_msg, msg);
        cr_expect_str_eq(dg.dg_file, path);
    }
    rm_rf(dir);
}

Test(bill_tax, file)
{
    tax_file("# rates\nbasic_voice 9\n  data 6.5 # comment\n\npremium 0\n", 0, 0, 0, NULL);
    tax_file("basic_voice 9\nvoice 9\n", CDR_FORMAT, 2, 1, "unknown charge class 'voice'");
    tax_file("data 6\ndata 7\n", CDR_FORMAT, 2, 1, "charge class 'data' given twice");
    tax_file("data\n", CDR_FORMAT, 1, 5, "missing tax rate after 'data'");
    tax_file("data 101\n", CDR_FORMAT, 1, 6, "tax rate '101' is not a percentage");
    tax_file("data 6.12345\n", CDR_FORMAT, 1, 6, "at most four decimals");
    tax_file("data 6%\n", CDR_FORMAT, 1, 6, "tax rate '6%' is not a percentage");
    tax_file("data 6 7\n", CDR_FORMAT, 1, 8, "unexpected '7' after the rate");
    tax_file("none 0\n", CDR_FORMAT, 1, 1, "unknown charge class 'none'");

    char dir[4096], path[4200];
    test_tmpdir(dir, sizeof dir, "tax");
    snprintf(path, sizeof path, "%s/t", dir);
    FILE *f = fopen(path, "w");
    fputs("data 6.5\nbasic_voice 0\n", f);
    fclose(f);
    cdr_tax_table t;
    cdr_diag dg;
    cr_assert_eq(cdr_tax_load(path, &t, &dg), 0);
    cr_expect_eq(t.tt_ppm[CDR_CLASS_DATA], 65000);
    cr_expect_eq(t.tt_ppm[CDR_CLASS_BASIC_VOICE], 0);
    cr_expect_eq(t.tt_ppm[CDR_CLASS_ROAMING], 90000); /* not named: built in */
    rm_rf(dir);
    cr_expect_eq(cdr_tax_load("/no/such/tax", &t, &dg), CDR_EIO);
}

/* ---- issue 11: plan changes, enterprise joins and leaves, closed user groups -------------------
 *
 * November 2026 (30 days, Asia/Shanghai). Enterprise 8 (account 800): product 80 with a 10 %
 * discount and a closed user group (free among members), rule 5 paying recurring_fee and
 * basic_voice up to 60.00 a member; product 81 with a closed user group at 50 % and no discount,
 * rule 6 paying everything. Enterprise 9 (account 900): product 90, rule 7 paying recurring_fee up
 * to 100.00. Lines (cn-enterprise 58.00 unless said):
 *   101 in 80 all month; 102 in 80 from 11 November; 103 in 80 until 20 November (to= 21st);
 *   104 individual, cn-personal-128 (128.00) then cn-enterprise from 21 November;
 *   105 in 81; 106 in 81, cn-enterprise then cn-iot-data (5.00) from 16 November;
 *   107 in 90 from 16 November 10:00; 108 in 90 until 20 November 15:00;
 *   111 .. 115 five pay-as-you-go lines of account 1100; 120 de-comfort (EUR 9.99);
 *   121 cn-personal-128 from 21 November 15:00; 122 terminated on 5 November 10:00;
 *   130 cn-personal-128 with no usage. */
#define L(id) "8613800000" #id
#define SUBLINE(id, acct, plan, extra)                                                             \
    "customer id=" #acct " type=person name=\"P" #id "\" credit_class=B\n"                         \
    "account id=" #acct " customer=" #acct "\n"                                                    \
    "subscriber id=" #id " account=" #acct " msisdn=" L(id) " plan=" plan " " extra "\n"
#define ALL_YEAR "active_from=2026-01-01T00:00:00+08:00"

static const char HISTORY[] =
    "directory version=1\n"
    "credit_class id=A limit=100000.00 term_days=30\n"
    "credit_class id=B limit=100000.00 term_days=15\n"
    "customer id=11 type=company name=\"Beta\" credit_class=A manager=am.li\n"
    "account id=800 customer=11\n"
    "enterprise id=8 customer=11 account=800\n"
    "product id=80 enterprise=8 discount=10 cug=yes\n"
    "product id=81 enterprise=8 cug=yes cug_discount=50\n"
    "payment_rule id=5 product=80 classes=recurring_fee,basic_voice cap=60.00\n"
    "payment_rule id=6 product=81 classes=all\n"
    "customer id=12 type=company name=\"Gamma\" credit_class=A manager=am.li\n"
    "account id=900 customer=12\n"
    "enterprise id=9 customer=12 account=900\n"
    "product id=90 enterprise=9\n"
    "payment_rule id=7 product=90 classes=recurring_fee cap=100.00\n" SUBLINE(
        101, 1010, "cn-enterprise",
        ALL_YEAR) SUBLINE(102, 1020, "cn-enterprise",
                          ALL_YEAR) SUBLINE(103, 1030, "cn-enterprise",
                                            ALL_YEAR) SUBLINE(104, 1040, "cn-enterprise", ALL_YEAR)
        SUBLINE(105, 1050, "cn-enterprise", ALL_YEAR) SUBLINE(106, 1060, "cn-iot-data", ALL_YEAR)
            SUBLINE(107, 1070, "cn-enterprise", ALL_YEAR) SUBLINE(
                108, 1080, "cn-enterprise",
                ALL_YEAR) "membership subscriber=101 product=80\n"
                          "membership subscriber=102 product=80 from=2026-11-11T00:00:00+08:00\n"
                          "membership subscriber=103 product=80 to=2026-11-21T00:00:00+08:00\n"
                          "membership subscriber=105 product=81\n"
                          "membership subscriber=106 product=81\n"
                          "membership subscriber=107 product=90 from=2026-11-16T10:00:00+08:00\n"
                          "membership subscriber=108 product=90 to=2026-11-20T15:00:00+08:00\n"
                          "plan_change subscriber=104 plan=cn-enterprise previous=cn-personal-128 "
                          "from=2026-11-21T00:00:00+08:00\n"
                          "plan_change subscriber=106 plan=cn-iot-data previous=cn-enterprise "
                          "from=2026-11-16T00:00:00+08:00\n"
                          "customer id=110 type=person name=\"Many\" credit_class=B\n"
                          "account id=1100 customer=110\n"
                          "subscriber id=111 account=1100 msisdn=" L(
                              111) " plan=cn-payg " ALL_YEAR "\n"
                                   "subscriber id=112 account=1100 msisdn=" L(
                                       112) " plan=cn-payg " ALL_YEAR "\n"
                                            "subscriber id=113 account=1100 msisdn=" L(
                                                113) " plan=cn-payg " ALL_YEAR "\n"
                                                     "subscriber id=114 account=1100 msisdn=" L(
                                                         114) " plan=cn-payg " ALL_YEAR "\n"
                                                              "subscriber id=115 account=1100 "
                                                              "msisdn=" L(
                                                                  115) " plan=cn-payg " ALL_YEAR
                                                                       "\n"
                                                                       "customer id=120 "
                                                                       "type=person name=\"Euro\" "
                                                                       "credit_class=B\n"
                                                                       "account id=1200 "
                                                                       "customer=120 currency=EUR\n"
                                                                       "subscriber id=120 "
                                                                       "account=1200 "
                                                                       "msisdn=4915100000120 "
                                                                       "plan=de-comfort "
                                                                       "active_from=2026-01-01T00:"
                                                                       "00:00+01:00\n" SUBLINE(
                                                                           121, 1210,
                                                                           "cn-personal-128",
                                                                           "active_from=2026-11-"
                                                                           "21T15:00:00+08:00")
                                                                           SUBLINE(
                                                                               122, 1220,
                                                                               "cn-personal-128",
                                                                               ALL_YEAR
                                                                               " status=terminated "
                                                                               "active_to=2026-11-"
                                                                               "05T10:00:00+08:00")
                                                                               SUBLINE(
                                                                                   130, 1300,
                                                                                   "cn-personal-"
                                                                                   "128",
                                                                                   ALL_YEAR);

/* 2026-11-DAY HOUR:00 in Shanghai (UTC+8). */
static cdr_time sh(unsigned day, int hour)
{
    return cdr_days_from_civil(2026, 11, day) * 86400 + (hour - 8) * 3600;
}

/* A CNY record of `msisdn` at `t` with `other`. */
static void rec_at(fixture *fx, const char *msisdn, const char *plan, int cls, int svc,
                   cdr_money charge, cdr_time t, const char *other)
{
    cdr_ledger_rec r = mkrec(fx, msisdn, plan, cls, svc, charge, "CNY");
    r.lr_cdr.cr_start = t;
    snprintf(r.lr_cdr.cr_other, sizeof r.lr_cdr.cr_other, "%s", other);
    cdr_diag dg;
    cr_assert_eq(cdr_ledger_append(fx->lg, 0, &r, 1, r.lr_offset, &dg), 0, "%s", dg.dg_msg);
}

#define OUTSIDER "8613912345678"
#define V        CDR_CLASS_BASIC_VOICE, CDR_SVC_VOICE
#define S        CDR_CLASS_SMS_MMS, CDR_SVC_SMS
#define D        CDR_CLASS_DATA, CDR_SVC_DATA

static void history_records(fixture *fx)
{
    /* 101: 10.00 to 102 (a member since the 11th: CUG), 5.00 to an outsider, 3.00 to 102 on the
     * 5th (not yet a member: no CUG), an SMS of 0.30 to 102 (CUG) */
    rec_at(fx, L(101), "cn-enterprise", V, 10000000, sh(15, 10), L(102));
    rec_at(fx, L(101), "cn-enterprise", V, 5000000, sh(15, 11), OUTSIDER);
    rec_at(fx, L(101), "cn-enterprise", V, 3000000, sh(5, 10), L(102));
    rec_at(fx, L(101), "cn-enterprise", S, 300000, sh(15, 12), L(102));
    /* 102: 20.00 before joining, 8.00 to 101 (CUG), 30.00 to an outsider */
    rec_at(fx, L(102), "cn-enterprise", V, 20000000, sh(5, 9), OUTSIDER);
    rec_at(fx, L(102), "cn-enterprise", V, 8000000, sh(20, 9), L(101));
    rec_at(fx, L(102), "cn-enterprise", V, 30000000, sh(20, 10), OUTSIDER);
    /* 103: 12.00 while a member, data 2.00 and voice 6.00 after leaving */
    rec_at(fx, L(103), "cn-enterprise", V, 12000000, sh(10, 9), OUTSIDER);
    rec_at(fx, L(103), "cn-enterprise", D, 2000000, sh(25, 9), OUTSIDER);
    rec_at(fx, L(103), "cn-enterprise", V, 6000000, sh(25, 10), OUTSIDER);
    /* 104: a call rated by its first plan */
    rec_at(fx, L(104), "cn-personal-128", V, 3000000, sh(5, 9), OUTSIDER);
    /* 105 and 106 call each other (CUG at 50 %) */
    rec_at(fx, L(105), "cn-enterprise", V, 4000000, sh(12, 9), L(106));
    rec_at(fx, L(105), "cn-enterprise", S, 150000, sh(12, 10), L(106));
    rec_at(fx, L(106), "cn-enterprise", V, 1000000, sh(10, 9), L(105));
    /* five lines of one account, each with three small lines */
    for (int i = 111; i <= 115; i++) {
        char m[16];
        snprintf(m, sizeof m, "8613800000%d", i);
        rec_at(fx, m, "cn-payg", V, 50000, sh(3, 9), OUTSIDER);
        rec_at(fx, m, "cn-payg", S, 50000, sh(3, 10), OUTSIDER);
        rec_at(fx, m, "cn-payg", D, 90000, sh(3, 11), OUTSIDER);
    }
}

static cdr_money m_of(const char *s)
{
    cdr_money m = 0;
    cr_assert_eq(cdr_money_parse(s, &m), 0, "%s", s);
    return m;
}

/* Invoice `no` holds exactly these lines (in this order) and these totals, from "lines" to its
 * end: every amount asserted. The subtotals per class are the sums of the lines given. */
static void expect_exact(const fixture *fx, const char *no, const xline *xl, size_t n,
                         const char *amount, const char *tax, const char *total)
{
    char want[8192] = "\"lines\":[", b1[40], b2[40], b3[40];
    size_t w = strlen(want);
    cdr_money sa[CDR_CLASS_COUNT] = {0}, st[CDR_CLASS_COUNT] = {0};
    int seen[CDR_CLASS_COUNT] = {0};
    for (size_t i = 0; i < n; i++) {
        const xline *x = &xl[i];
        char msisdn[24];
        if (x->x_sub == 120)
            snprintf(msisdn, sizeof msisdn, "4915100000120");
        else
            snprintf(msisdn, sizeof msisdn, "8613800000%03d", x->x_sub);
        char plan[64] = "";
        if (x->x_plan)
            snprintf(plan, sizeof plan, ",\"plan\":\"%s\"", x->x_plan);
        w += (size_t)snprintf(want + w, sizeof want - w,
                              "%s{\"subscriber\":%d,\"msisdn\":\"%s\",\"class\":\"%s\",\"share\":"
                              "\"%s\"%s,\"amount\":\"%s\",\"tax_rate\":\"%s\",\"tax\":\"%s\","
                              "\"total\":\"%s\"}",
                              i ? "," : "", x->x_sub, msisdn, x->x_cls, x->x_share, plan,
                              x->x_amount, x->x_rate, x->x_tax, x->x_total);
        const int c = cdr_charge_class_parse(x->x_cls);
        cr_assert(c > 0);
        sa[c] += m_of(x->x_amount);
        st[c] += m_of(x->x_tax);
        seen[c] = 1;
        cr_expect_eq(m_of(x->x_amount) + m_of(x->x_tax), m_of(x->x_total), "%s line %zu", no, i);
    }
    w += (size_t)snprintf(want + w, sizeof want - w, "],\"subtotals\":{");
    int first = 1;
    for (int c = 1; c < CDR_CLASS_COUNT; c++) {
        if (!seen[c])
            continue;
        w += (size_t)snprintf(want + w, sizeof want - w,
                              "%s\"%s\":{\"amount\":\"%s\",\"tax\":\"%s\",\"total\":\"%s\"}",
                              first ? "" : ",", cdr_charge_class_name(c),
                              cdr_money_format(sa[c], 2, CDR_ROUND_HALF_UP, b1, sizeof b1),
                              cdr_money_format(st[c], 2, CDR_ROUND_HALF_UP, b2, sizeof b2),
                              cdr_money_format(sa[c] + st[c], 2, CDR_ROUND_HALF_UP, b3, sizeof b3));
        first = 0;
    }
    snprintf(want + w, sizeof want - w, "},\"amount\":\"%s\",\"tax\":\"%s\",\"total\":\"%s\"}",
             amount, tax, total);
    char needle[64];
    snprintf(needle, sizeof needle, "\"invoice\":\"%s\"", no);
    char *l = line_with(fx, "invoices.jsonl", needle);
    cr_assert_not_null(l, "no invoice %s", no);
    const char *got = strstr(l, "\"lines\":");
    cr_assert_not_null(got, "%s", l);
    cr_expect_str_eq(got, want, "invoice %s", no);
    free(l);
}

static fixture *history_billed(const char *tag, const cdr_adjustments *aj)
{
    static fixture fx;
    memset(&fx, 0, sizeof fx);
    setup_store(&fx, tag, HISTORY);
    history_records(&fx);
    cdr_bill_config cfg = {
        .bc_cycle = CYCLE, .bc_ledger = fx.ledger, .bc_out = fx.out, .bc_adjustments = aj};
    cdr_tax_defaults(&cfg.bc_tax);
    cdr_bill_summary sum;
    cdr_diag dg;
    cr_assert_eq(cdr_bill_run(fx.st, &cfg, &sum, &dg), 0, "%s", dg.dg_msg);
    return &fx;
}

#define EN "enterprise"

Test(bill_history, enterprise_invoice_with_cug_joins_leaves_and_plan_changes)
{
    fixture *fx = history_billed("bill-hist-ent", NULL);
    /* 101 (all month; cap partly used): basic_voice 10.00 + 5.00 + 3.00 = 18.00, CUG -10.00 (the
     *   call to 102 on the 15th; the one on the 5th was before 102 joined), 8.00 - 10 % = 7.20;
     *   fee 58.00 - 5.80 = 52.20; the cap 60.00 takes 7.20 + 52.20, 0.60 left. Tax 9 %: 0.648 ->
     *   0.65, 4.698 -> 4.70.
     * 102 (joined on the 11th; discount and cap exceeded): voice in the membership 8.00 + 30.00 =
     *   38.00, CUG -8.00, -10 % = 27.00; fee of 20 of 30 days 58.00 x 20 / 30 = 38.666.. -> 38.67,
     *   -3.867 -> -3.87 = 34.80; the cap: 27.00 + 33.00 (of 34.80) = 60.00. Tax 2.43, 2.97.
     * 103 (left on the 21st): voice 12.00 - 1.20 = 10.80; fee 38.67 - 3.87 = 34.80 (45.60
     * of 60.00). Tax 0.972 -> 0.97, 3.132 -> 3.13. 105 (product 81, CUG 50 %, rule 6 pays all):
     * voice 4.00 - 2.00 = 2.00 (0.18); SMS 0.15 - 0.075 -> 0.08 = 0.07 (6 %: 0.0042 -> 0.00);
     * fee 58.00 (5.22). 106 (CUG 50 %, cn-enterprise until the 15th, cn-iot-data after): voice 1.00
     * - 0.50 = 0.50 (0.045 -> 0.05); fee cn-enterprise 58.00 x 15 / 30 = 29.00 (2.61),
     * cn-iot-data 5.00 x 15 / 30 = 2.50 (0.225 -> 0.23): one fee line per plan. Amount 59.40
     * + 60.00 + 45.60 + 60.07 + 32.00 = 257.07; tax 5.35 + 5.40 + 4.10 + 5.40 + 2.89 = 23.14; total
     * 280.21. */
    static const xline ent[] = {
        {101, "basic_voice", EN, NULL, "7.20", "9%", "0.65", "7.85"},
        {101, "recurring_fee", EN, NULL, "52.20", "9%", "4.70", "56.90"},
        {102, "basic_voice", EN, NULL, "27.00", "9%", "2.43", "29.43"},
        {102, "recurring_fee", EN, NULL, "33.00", "9%", "2.97", "35.97"},
        {103, "basic_voice", EN, NULL, "10.80", "9%", "0.97", "11.77"},
        {103, "recurring_fee", EN, NULL, "34.80", "9%", "3.13", "37.93"},
        {105, "basic_voice", EN, NULL, "2.00", "9%", "0.18", "2.18"},
        {105, "sms_mms", EN, NULL, "0.07", "6%", "0.00", "0.07"},
        {105, "recurring_fee", EN, NULL, "58.00", "9%", "5.22", "63.22"},
        {106, "basic_voice", EN, NULL, "0.50", "9%", "0.05", "0.55"},
        {106, "recurring_fee", EN, "cn-enterprise", "29.00", "9%", "2.61", "31.61"},
        {106, "recurring_fee", EN, "cn-iot-data", "2.50", "9%", "0.23", "2.73"},
    };
    expect_exact(fx, "INV-202611-800", ent, sizeof ent / sizeof ent[0], "257.07", "23.14",
                 "280.21");
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill_history, member_invoices_of_cug_joins_and_leaves)
{
    fixture *fx = history_billed("bill-hist-mem", NULL);
    /* 101: its SMS to 102 is free in the CUG (0.30 - 0.30): a 0.00 line; the enterprise pays the
     * rest */
    static const xline m101[] = {{101, "sms_mms", "own", NULL, "0.00", "6%", "0.00", "0.00"}};
    expect_exact(fx, "INV-202611-1010", m101, 1, "0.00", "0.00", "0.00");
    /* 102: the 20.00 call of the 5th, before joining, at full price; the fee of the 10 days
     * before joining 58.00 - 38.67 = 19.33 and what the cap left of the rest 34.80 - 33.00 =
     * 1.80: 21.13 (9 %: 1.9017 -> 1.90) */
    static const xline m102[] = {
        {102, "basic_voice", "own", NULL, "20.00", "9%", "1.80", "21.80"},
        {102, "recurring_fee", "own", NULL, "21.13", "9%", "1.90", "23.03"},
    };
    expect_exact(fx, "INV-202611-1020", m102, 2, "41.13", "3.70", "44.83");
    /* 103 after leaving on the 21st: voice 6.00 (0.54) and data 2.00 (0.12) undiscounted; the fee
     * of the 10 days after 19.33 (1.7397 -> 1.74) */
    static const xline m103[] = {
        {103, "basic_voice", "own", NULL, "6.00", "9%", "0.54", "6.54"},
        {103, "data", "own", NULL, "2.00", "6%", "0.12", "2.12"},
        {103, "recurring_fee", "own", NULL, "19.33", "9%", "1.74", "21.07"},
    };
    expect_exact(fx, "INV-202611-1030", m103, 3, "27.33", "2.40", "29.73");
    /* 105 and 106: the enterprise pays everything (rule 6, classes=all): empty invoices */
    expect_exact(fx, "INV-202611-1050", NULL, 0, "0.00", "0.00", "0.00");
    expect_exact(fx, "INV-202611-1060", NULL, 0, "0.00", "0.00", "0.00");
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill_history, plan_change_mid_cycle_is_two_fee_lines)
{
    fixture *fx = history_billed("bill-hist-plan", NULL);
    /* 104: cn-personal-128 from the 1st to the 20th: 128.00 x 20 / 30 = 85.333.. -> 85.33 (9 %:
     * 7.6797 -> 7.68); cn-enterprise from the 21st: 58.00 x 10 / 30 = 19.333.. -> 19.33 (1.7397 ->
     * 1.74); the call as rated by cn-personal-128 3.00 (0.27) */
    static const xline l[] = {
        {104, "basic_voice", "own", NULL, "3.00", "9%", "0.27", "3.27"},
        {104, "recurring_fee", "own", "cn-personal-128", "85.33", "9%", "7.68", "93.01"},
        {104, "recurring_fee", "own", "cn-enterprise", "19.33", "9%", "1.74", "21.07"},
    };
    expect_exact(fx, "INV-202611-1040", l, 3, "107.66", "9.69", "117.35");
    /* subscribers.jsonl: the fee lines with their days */
    char *s = line_with(fx, "subscribers.jsonl", "\"subscriber\":104,");
    cr_assert_not_null(s);
    cr_expect(strstr(s, "\"fees\":[{\"plan\":\"cn-personal-128\",\"version\":1,\"monthly_fee\":"
                        "\"128.00\",\"days\":20,\"enterprise_days\":0,\"amount\":\"85.33\"},{"
                        "\"plan\":\"cn-enterprise\",\"version\":1,\"monthly_fee\":\"58.00\","
                        "\"days\":10,\"enterprise_days\":0,\"amount\":\"19.33\"}]") != NULL,
              "%s", s);
    free(s);
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill_history, join_and_leave_within_a_day)
{
    fixture *fx = history_billed("bill-hist-day", NULL);
    /* a day goes to the state of its last moment: 107 joined on the 16th at 10:00, so the
     * enterprise pays the 16th to the 30th, 58.00 x 15 / 30 = 29.00 (2.61); 108 left on the 20th
     * at 15:00, so it pays the 1st to the 19th, 58.00 x 19 / 30 = 36.733.. -> 36.73 (3.3057 ->
     * 3.31); both under the cap of 100.00 */
    static const xline ent[] = {
        {107, "recurring_fee", EN, NULL, "29.00", "9%", "2.61", "31.61"},
        {108, "recurring_fee", EN, NULL, "36.73", "9%", "3.31", "40.04"},
    };
    expect_exact(fx, "INV-202611-900", ent, 2, "65.73", "5.92", "71.65");
    /* the members pay the rest of the month's fee: 58.00 - 29.00 and 58.00 - 36.73 = 21.27
     * (1.9143 -> 1.91) */
    static const xline m107[] = {
        {107, "recurring_fee", "own", NULL, "29.00", "9%", "2.61", "31.61"}};
    expect_exact(fx, "INV-202611-1070", m107, 1, "29.00", "2.61", "31.61");
    static const xline m108[] = {
        {108, "recurring_fee", "own", NULL, "21.27", "9%", "1.91", "23.18"}};
    expect_exact(fx, "INV-202611-1080", m108, 1, "21.27", "1.91", "23.18");
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill_history, tax_on_many_small_lines_zero_usage_proration_and_a_second_currency)
{
    fixture *fx = history_billed("bill-hist-small", NULL);
    /* five lines of one account, each: voice 0.05 (9 %: 0.0045 -> 0.00), SMS 0.05 (6 %: 0.003 ->
     * 0.00), data 0.09 (6 %: 0.0054 -> 0.01), the 0.00 fee of cn-payg. Tax per line: 5 x 0.01 =
     * 0.05 (on the sums it would be 0.0225 + 0.015 + 0.027 -> 0.07) */
    xline small[20];
    static const char *const cls[4] = {"basic_voice", "sms_mms", "data", "recurring_fee"};
    static const char *const amt[4] = {"0.05", "0.05", "0.09", "0.00"};
    static const char *const rate[4] = {"9%", "6%", "6%", "9%"};
    static const char *const tax[4] = {"0.00", "0.00", "0.01", "0.00"};
    static const char *const tot[4] = {"0.05", "0.05", "0.10", "0.00"};
    for (int i = 0; i < 20; i++)
        small[i] = (xline){111 + i / 4, cls[i % 4],  "own",      NULL,
                           amt[i % 4],  rate[i % 4], tax[i % 4], tot[i % 4]};
    expect_exact(fx, "INV-202611-1100", small, 20, "0.95", "0.05", "1.00");
    /* no usage at all: the whole fee 128.00 (11.52) */
    static const xline z[] = {
        {130, "recurring_fee", "own", NULL, "128.00", "9%", "11.52", "139.52"}};
    expect_exact(fx, "INV-202611-1300", z, 1, "128.00", "11.52", "139.52");
    /* active from the 21st at 15:00: 10 days, 128.00 x 10 / 30 = 42.666.. -> 42.67 (3.8403 ->
     * 3.84); terminated on the 5th at 10:00: 5 days, 21.333.. -> 21.33 (1.9197 -> 1.92) */
    static const xline p1[] = {{121, "recurring_fee", "own", NULL, "42.67", "9%", "3.84", "46.51"}};
    expect_exact(fx, "INV-202611-1210", p1, 1, "42.67", "3.84", "46.51");
    static const xline p2[] = {{122, "recurring_fee", "own", NULL, "21.33", "9%", "1.92", "23.25"}};
    expect_exact(fx, "INV-202611-1220", p2, 1, "21.33", "1.92", "23.25");
    /* EUR in the same run: 9.99 (0.8991 -> 0.90) */
    static const xline eur[] = {{120, "recurring_fee", "own", NULL, "9.99", "9%", "0.90", "10.89"}};
    expect_exact(fx, "INV-202611-1200", eur, 1, "9.99", "0.90", "10.89");
    char *rep = line_with(fx, "report.json", "\"currencies\"");
    cr_assert_not_null(rep);
    /* the CUG discounts of CNY: 10.00 + 0.30 (101), 8.00 (102), 2.00 + 0.08 (105), 0.50 (106) */
    cr_expect(strstr(rep, "\"cug_discounts\":\"-20.88\"") != NULL, "%s", rep);
    cr_expect(strstr(rep, "\"EUR\":{\"invoices\":1,\"subscribers\":1,\"records\":0,\"amount\":"
                          "\"9.99\",\"tax\":\"0.90\",\"total\":\"10.89\"") != NULL,
              "%s", rep);
    free(rep);
    /* subscribers.jsonl of 102: CUG and discount per class; the fee's days in the enterprise */
    char *s = line_with(fx, "subscribers.jsonl", "\"subscriber\":102,");
    cr_assert_not_null(s);
    cr_expect(strstr(s, "\"fees\":[{\"plan\":\"cn-enterprise\",\"version\":1,\"monthly_fee\":"
                        "\"58.00\",\"days\":30,\"enterprise_days\":20,\"amount\":\"58.00\"}],"
                        "\"classes\":{\"basic_voice\":{\"records\":3,\"rated\":\"58.000000\","
                        "\"gross\":\"58.00\",\"cug_records\":1,\"cug_discount\":\"-8.00\","
                        "\"discount\":\"-3.00\",\"enterprise\":\"27.00\",\"member\":\"20.00\"},"
                        "\"recurring_fee\":{\"records\":0,\"rated\":\"0.000000\",\"gross\":"
                        "\"58.00\",\"cug_records\":0,\"cug_discount\":\"0.00\",\"discount\":"
                        "\"-3.87\",\"enterprise\":\"33.00\",\"member\":\"21.13\"}}}") != NULL,
              "%s", s);
    free(s);
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill_history, adjustments_with_a_plan_change_and_a_late_joiner)
{
    char dir[4096], path[4200];
    test_tmpdir(dir, sizeof dir, "hist-adj");
    snprintf(path, sizeof path, "%s/adj.csv", dir);
    write_file(path, "id,target,class,amount,currency,description\n"
                     "x-1,msisdn:8613800000104,adjustment,-5.00,CNY,goodwill\n"
                     "x-2,msisdn:8613800000102,one_off,10.00,CNY,SIM replacement\n");
    cdr_adjustments *aj = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_adjustments_load(path, &aj, &dg), 0, "%s", dg.dg_msg);
    fixture *fx = history_billed("bill-hist-adj", aj);
    /* 104: the credit -5.00 at 0 % after its two fee lines: 107.66 - 5.00 = 102.66, tax 9.69 */
    static const xline l104[] = {
        {104, "basic_voice", "own", NULL, "3.00", "9%", "0.27", "3.27"},
        {104, "recurring_fee", "own", "cn-personal-128", "85.33", "9%", "7.68", "93.01"},
        {104, "recurring_fee", "own", "cn-enterprise", "19.33", "9%", "1.74", "21.07"},
        {104, "adjustment", "own", NULL, "-5.00", "0%", "0.00", "-5.00"},
    };
    expect_exact(fx, "INV-202611-1040", l104, 4, "102.66", "9.69", "112.35");
    /* 102: no rule names one_off, so the member pays it undiscounted: 10.00 (6 %: 0.60) */
    static const xline l102[] = {
        {102, "basic_voice", "own", NULL, "20.00", "9%", "1.80", "21.80"},
        {102, "recurring_fee", "own", NULL, "21.13", "9%", "1.90", "23.03"},
        {102, "one_off", "own", NULL, "10.00", "6%", "0.60", "10.60"},
    };
    expect_exact(fx, "INV-202611-1020", l102, 3, "51.13", "4.30", "55.43");
    cdr_adjustments_free(aj);
    teardown_fx(fx);
    rm_rf(fx->root);
    rm_rf(dir);
}

Test(bill_history, output_is_the_same_whatever_the_threads)
{
    static const char *const files[] = {"invoices.jsonl", "invoices.csv", "invoice_lines.csv",
                                        "subscribers.jsonl", "report.json"};
    fixture *fx = history_billed("bill-hist-threads", NULL);
    char *first[5], path[4400];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/2026-11/%s", fx->out, files[i]);
        first[i] = slurp(path);
    }
    for (unsigned t = 1; t <= 4; t += 3) {
        cdr_bill_config cfg = {
            .bc_cycle = CYCLE, .bc_ledger = fx->ledger, .bc_out = fx->out, .bc_threads = t};
        cdr_tax_defaults(&cfg.bc_tax);
        cdr_bill_summary sum;
        cdr_diag dg;
        cr_assert_eq(cdr_bill_run(fx->st, &cfg, &sum, &dg), 0, "%s", dg.dg_msg);
        for (int i = 0; i < 5; i++) {
            snprintf(path, sizeof path, "%s/2026-11/%s", fx->out, files[i]);
            char *again = slurp(path);
            cr_expect_str_eq(again, first[i], "%s differs with %u thread(s)", files[i], t);
            free(again);
        }
    }
    for (int i = 0; i < 5; i++)
        free(first[i]);
    teardown_fx(fx);
    rm_rf(fx->root);
}

Test(bill, classic_scenario_invoices_in_full)
{
    fixture *fx = billed("bill-full3");
    /* member 30 (docs/billing.md): sms 1.50 - 0.15 = 1.35 (6 %: 0.081 -> 0.08); the fee 58.00 x
     * 15 / 30 = 29.00 - 2.90 = 26.10, of which the cap leaves 12.10 (1.089 -> 1.09) */
    static const xline m30[] = {
        {30, "sms_mms", "own", NULL, "1.35", "6%", "0.08", "1.43"},
        {30, "recurring_fee", "own", NULL, "12.10", "9%", "1.09", "13.19"},
    };
    expect_exact(fx, "INV-202611-300", m30, 2, "13.45", "1.17", "14.62");
    /* EUR (its number is not of the 86138 form, so by hand): voice 2.50 (0.225 -> 0.23), fee
     * 9.99 (0.8991 -> 0.90) */
    char *l = line_with(fx, "invoices.jsonl", "\"invoice\":\"INV-202611-400\"");
    cr_assert_not_null(l);
    cr_expect(strstr(l,
                     "\"lines\":[{\"subscriber\":40,\"msisdn\":\"4915100000040\",\"class\":"
                     "\"basic_voice\",\"share\":\"own\",\"amount\":\"2.50\",\"tax_rate\":\"9%\","
                     "\"tax\":\"0.23\",\"total\":\"2.73\"},{\"subscriber\":40,\"msisdn\":"
                     "\"4915100000040\",\"class\":\"recurring_fee\",\"share\":\"own\",\"amount\":"
                     "\"9.99\",\"tax_rate\":\"9%\",\"tax\":\"0.90\",\"total\":\"10.89\"}],"
                     "\"subtotals\":{\"basic_voice\":{\"amount\":\"2.50\",\"tax\":\"0.23\","
                     "\"total\":\"2.73\"},\"recurring_fee\":{\"amount\":\"9.99\",\"tax\":"
                     "\"0.90\",\"total\":\"10.89\"}},\"amount\":\"12.49\",\"tax\":\"1.13\","
                     "\"total\":\"13.62\"}") != NULL,
              "%s", l);
    free(l);
    /* line 50, terminated on the 11th: roaming 10.00 (0.90), premium 150.00 (6 %: 9.00), a free
     * call 0.00, the fee 128.00 x 10 / 30 = 42.67 (3.84) */
    static const xline m50[] = {
        {50, "roaming", "own", NULL, "10.00", "9%", "0.90", "10.90"},
        {50, "premium", "own", NULL, "150.00", "6%", "9.00", "159.00"},
        {50, "free", "own", NULL, "0.00", "0%", "0.00", "0.00"},
        {50, "recurring_fee", "own", NULL, "42.67", "9%", "3.84", "46.51"},
    };
    expect_exact(fx, "INV-202611-500", m50, 4, "202.67", "13.74", "216.41");
    teardown_fx(fx);
    rm_rf(fx->root);
}
