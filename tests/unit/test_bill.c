/* test_bill.c - the bill run (cdr_bill.h, docs/billing.md): hand-computed invoices, the split,
 * proration, tax rounding, two currencies, determinism, publishing, and bad input. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
