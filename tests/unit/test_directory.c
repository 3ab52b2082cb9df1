/* test_directory.c - the customer directory: file format, validation, store, rating view.
 *
 * Every refused file is checked for its exact line, column, code and message, and for leaving the
 * previously loaded directory active (invariant 3 of the design brief).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_dir.h"
#include "cdr_payments.h"
#include "cdr_stream.h"
#include "cdr_time.h"

static char g_dir[256];
static cdr_store *g_st;

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Write text to a file in the test's directory; returns its path (one of 4 rotating buffers). */
static const char *put_file(const char *name, const char *text)
{
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static void setup_store(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/cdr_test_directory_XXXXXX");
    cr_assert(mkdtemp(g_dir) != NULL);
    char sp[512];
    snprintf(sp, sizeof sp, "%s/store", g_dir);
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(sp, 0, &g_st, &dg), 0, "%s", dg.dg_msg);
}

static void teardown_store(void)
{
    cdr_store_close(g_st);
    g_st = NULL;
    rm_rf(g_dir);
}

/* The directory loaded before every refused file: 2 subscribers. */
static const char GOOD[] =
    "# a small directory\n"
    "directory version=1\n"
    "credit_class id=A name=\"Standard\" limit=1000.50 term_days=30 roaming_without_deposit=yes "
    "warn=50,75,90\n"
    "customer id=1 type=company name=\"Acme \\\"Global\\\" Ltd.\" credit_class=A manager=am.wu "
    "email=ap@acme.example\n"
    "account id=10 customer=1 name=\"Acme AP\" currency=CNY\n"
    "enterprise id=7 customer=1 account=10\n"
    "product id=70 enterprise=7 pool_data=10GB cap_data=2GB pool_voice=100min cug=yes "
    "discount=12.5\n"
    "customer id=2 type=person name=\"Ann Lee\" credit_class=A\n"
    "account id=20 customer=2\n"
    "subscriber id=100 account=20 msisdn=8613800000001 imsi=460001234500001 plan=cn-enterprise "
    "active_from=2026-01-01\n"
    "membership subscriber=100 product=70\n"
    "subscriber id=101 account=20 msisdn=8613800000002 plan=cn-personal-128 status=terminated "
    "active_from=2026-01-01T08:00:00+08:00 active_to=2026-02-01\n"
    "payment_rule id=1 product=70 classes=recurring_fee,data cap=200.00\n";

static void load_ok(const char *path, cdr_dir_stats *ds)
{
    cdr_diag dg;
    int rc = cdr_dir_load_file(g_st, path, NULL, ds, &dg);
    cr_assert_eq(rc, 0, "load %s: %s %s (line %d col %d)", path, cdr_err_name(rc), dg.dg_msg,
                 dg.dg_line, dg.dg_column);
}

static void setup_loaded(void)
{
    setup_store();
    load_ok(put_file("good.dir", GOOD), NULL);
}

/* The GOOD directory is what the store serves. */
static void expect_good_active(void)
{
    cdr_subtab *tab;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_subtab_count(tab), 2);
    const cdr_sub *su = cdr_subtab_find(tab, "8613800000001");
    cr_expect(su != NULL, "8613800000001 no longer resolves");
    if (su)
        cr_expect_str_eq(su->su_plan, "cn-enterprise");
    cdr_subtab_free(tab);
}

static void expect_refused(const char *text, int line, int col, int code, const char *msg)
{
    const char *path = put_file("bad.dir", text);
    cdr_diag dg;
    cdr_dir_stats ds = {.ds_subscribers = 12345};
    int rc = cdr_dir_load_file(g_st, path, NULL, &ds, &dg);
    cr_assert_eq(rc, code, "rc %s, want %s: %s", cdr_err_name(rc), cdr_err_name(code), dg.dg_msg);
    cr_expect_eq(dg.dg_code, code);
    cr_expect_eq(dg.dg_line, line, "line %d, want %d (%s)", dg.dg_line, line, dg.dg_msg);
    cr_expect_eq(dg.dg_column, col, "column %d, want %d (%s)", dg.dg_column, col, dg.dg_msg);
    cr_expect(strstr(dg.dg_msg, msg) != NULL, "message '%s' lacks '%s'", dg.dg_msg, msg);
    cr_expect_str_eq(dg.dg_file, path);
    cr_expect_eq(ds.ds_subscribers, 12345, "stats written on failure");
    expect_good_active();
}

/* Six lines every malformed file starts with (so its own lines are 7, 8, ...). */
#define PRE                                                                                        \
    "directory version=1\n"                                                                        \
    "credit_class id=A limit=1000.00 term_days=30\n"                                               \
    "customer id=1 type=company name=\"Acme\" credit_class=A manager=am.x\n"                       \
    "account id=1 customer=1\n"                                                                    \
    "customer id=2 type=person name=\"Ann\" credit_class=A\n"                                      \
    "account id=2 customer=2\n"

#define SUB5 "subscriber id=5 account=2 msisdn=8613800000009 plan=p active_from=2026-01-01\n"
#define ENT7 "enterprise id=7 customer=1 account=1\n"

TestSuite(dir_refused, .init = setup_loaded, .fini = teardown_store);

Test(dir_refused, unknown_kind)
{
    expect_refused(PRE "  subscribr id=5\n", 7, 3, CDR_FORMAT, "unknown record kind 'subscribr'");
}

Test(dir_refused, unknown_field)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000009 plan=p colour=red "
                       "active_from=2026-01-01\n",
                   7, 55, CDR_FORMAT, "unknown field 'colour' in a subscriber record");
}

Test(dir_refused, missing_required_field)
{
    expect_refused(PRE "subscriber id=5 account=2 plan=p active_from=2026-01-01\n", 7, 1,
                   CDR_FORMAT, "subscriber: missing required field 'msisdn'");
}

Test(dir_refused, bad_number)
{
    expect_refused(PRE "account id=12x customer=1\n", 7, 9, CDR_PARSE,
                   "field 'id': '12x' is not a number");
}

Test(dir_refused, id_out_of_range)
{
    expect_refused(PRE "account id=9223372036854775808 customer=1\n", 7, 9, CDR_RANGE,
                   "id 9223372036854775808 is out of range");
}

Test(dir_refused, bad_money)
{
    expect_refused(PRE "credit_class id=B limit=12.5.0 term_days=30\n", 7, 19, CDR_PARSE,
                   "field 'limit': '12.5.0' is not a decimal amount");
}

Test(dir_refused, money_with_seven_decimals)
{
    expect_refused(PRE "credit_class id=B limit=0.0000001 term_days=30\n", 7, 19, CDR_RANGE,
                   "more than six decimals");
}

Test(dir_refused, impossible_date)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000009 plan=p "
                       "active_from=2026-02-30\n",
                   7, 55, CDR_RANGE, "no such date '2026-02-30'");
}

Test(dir_refused, malformed_date)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000009 plan=p "
                       "active_from=2026/01/01\n",
                   7, 55, CDR_PARSE, "'2026/01/01' is not a date");
}

Test(dir_refused, msisdn_not_digits)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=+8613800000009 plan=p "
                       "active_from=2026-01-01\n",
                   7, 27, CDR_FORMAT, "'+8613800000009' is not E.164 digits");
}

Test(dir_refused, msisdn_too_long)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000000009 plan=p "
                       "active_from=2026-01-01\n",
                   7, 27, CDR_RANGE, "has 16 digits (E.164 allows at most 15)");
}

Test(dir_refused, duplicate_id)
{
    expect_refused(PRE SUB5 "subscriber id=5 account=2 msisdn=8613800000010 plan=p "
                            "active_from=2026-01-01\n",
                   8, 12, CDR_EXISTS, "duplicate subscriber id 5 (first defined on line 7)");
}

Test(dir_refused, duplicate_id_out_of_order)
{
    /* ids 5, 3, 5: the second 5 is found through the hash index built when 3 came. */
    expect_refused(PRE SUB5 "subscriber id=3 account=2 msisdn=8613800000010 plan=p "
                            "active_from=2026-01-01\n"
                            "subscriber id=5 account=2 msisdn=8613800000011 plan=p "
                            "active_from=2026-01-01\n",
                   9, 12, CDR_EXISTS, "duplicate subscriber id 5 (first defined on line 7)");
}

Test(dir_refused, duplicate_msisdn)
{
    expect_refused(PRE SUB5 "subscriber id=6 account=2 msisdn=8613800000009 plan=p "
                            "active_from=2026-01-01\n",
                   8, 27, CDR_EXISTS, "duplicate msisdn 8613800000009 (subscriber 5, line 7)");
}

Test(dir_refused, duplicate_imsi)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000009 imsi=460001234500001 "
                       "plan=p active_from=2026-01-01\n"
                       "subscriber id=6 account=2 msisdn=8613800000010 imsi=460001234500001 "
                       "plan=p active_from=2026-01-01\n",
                   8, 48, CDR_EXISTS, "duplicate imsi 460001234500001 (subscriber 5, line 7)");
}

Test(dir_refused, unknown_reference_after_forward_reference)
{
    /* Account 4 is referenced before it is defined (fine); account 3 never is. */
    expect_refused(PRE "subscriber id=5 account=4 msisdn=8613800000009 plan=p "
                       "active_from=2026-01-01\n"
                       "subscriber id=6 account=3 msisdn=8613800000010 plan=p "
                       "active_from=2026-01-01\n"
                       "account id=4 customer=2\n",
                   8, 17, CDR_NOTFOUND, "subscriber 6: unknown account 3");
}

Test(dir_refused, earliest_reference_error_wins)
{
    /* Accounts are resolved before subscribers, yet the subscriber's error is earlier. */
    expect_refused(PRE "subscriber id=5 account=99 msisdn=8613800000009 plan=p "
                       "active_from=2026-01-01\n"
                       "account id=9 customer=99\n",
                   7, 17, CDR_NOTFOUND, "subscriber 5: unknown account 99");
}

Test(dir_refused, account_of_missing_customer)
{
    expect_refused(PRE "account id=9 customer=99\n", 7, 14, CDR_NOTFOUND,
                   "account 9: unknown customer 99");
}

Test(dir_refused, unknown_credit_class)
{
    expect_refused(PRE "customer id=3 type=person name=Bob credit_class=Z\n", 7, 36, CDR_NOTFOUND,
                   "customer 3: unknown credit class 'Z'");
}

Test(dir_refused, subscriber_in_two_enterprises)
{
    expect_refused(PRE ENT7 "enterprise id=8 customer=1 account=1\n"
                            "product id=70 enterprise=7\n"
                            "product id=80 enterprise=8\n" SUB5
                            "membership subscriber=5 product=70\n"
                            "membership subscriber=5 product=80\n",
                   13, 12, CDR_EXISTS,
                   "subscriber 5 is already in enterprise 7 (line 12); a subscriber belongs to at "
                   "most one enterprise");
}

Test(dir_refused, enterprise_of_a_person)
{
    expect_refused(PRE "enterprise id=7 customer=2 account=2\n", 7, 17, CDR_FORMAT,
                   "customer 2 is a person; an enterprise needs a company");
}

Test(dir_refused, enterprise_account_of_another_customer)
{
    expect_refused(PRE "enterprise id=7 customer=1 account=2\n", 7, 28, CDR_FORMAT,
                   "account 2 belongs to customer 2, not to the enterprise's customer 1");
}

Test(dir_refused, company_without_manager)
{
    expect_refused(PRE "customer id=3 type=company name=Bob credit_class=A\n", 7, 1, CDR_FORMAT,
                   "a company needs 'manager'");
}

Test(dir_refused, version_two)
{
    expect_refused("directory version=2\n"
                   "credit_class id=A limit=1 term_days=1\n",
                   1, 11, CDR_VERSION, "directory format version 2 is not supported");
}

Test(dir_refused, no_version_line)
{
    expect_refused("# comment\n\ncredit_class id=A limit=1 term_days=1\n", 3, 1, CDR_FORMAT,
                   "expected 'directory version=1' as the first record");
}

Test(dir_refused, empty_file)
{
    expect_refused("# nothing but a comment\n", 0, 0, CDR_FORMAT, "no 'directory version=1' line");
}

Test(dir_refused, unterminated_quote)
{
    expect_refused(PRE "customer id=3 type=person name=\"Bob credit_class=A\n", 7, 27, CDR_PARSE,
                   "field 'name': unterminated quoted value");
}

Test(dir_refused, field_without_value)
{
    expect_refused(PRE "account id=9 customer\n", 7, 14, CDR_PARSE,
                   "expected key=value, found 'customer'");
}

Test(dir_refused, field_given_twice)
{
    expect_refused(PRE "account id=9 customer=1 customer=2\n", 7, 25, CDR_FORMAT,
                   "field 'customer' given twice (first in column 14)");
}

Test(dir_refused, terminated_without_end)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000009 plan=p status=terminated "
                       "active_from=2026-01-01\n",
                   7, 55, CDR_FORMAT, "a terminated subscriber needs active_to");
}

Test(dir_refused, window_ends_before_it_starts)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000009 plan=p "
                       "active_from=2026-02-01 active_to=2026-01-31\n",
                   7, 78, CDR_RANGE, "field 'active_to': not after active_from");
}

Test(dir_refused, cap_without_pool)
{
    expect_refused(PRE ENT7 "product id=70 enterprise=7 pool_voice=10min cap_data=1GB\n", 8, 45,
                   CDR_FORMAT, "field 'cap_data' without 'pool_data'");
}

Test(dir_refused, two_pooled_products)
{
    expect_refused(PRE ENT7 "product id=70 enterprise=7 pool_data=1GB\n"
                            "product id=71 enterprise=7 name=x pool_sms=100\n",
                   9, 35, CDR_FORMAT,
                   "enterprise 7 already has a pooled product 70 (line 8); one pool per "
                   "enterprise");
}

Test(dir_refused, charge_class_paid_twice)
{
    expect_refused(PRE ENT7 "product id=70 enterprise=7\n"
                            "payment_rule id=1 product=70 classes=sms_mms,data\n"
                            "payment_rule id=2 product=70 classes=recurring_fee,data cap=10\n",
                   10, 30, CDR_EXISTS,
                   "charge class 'data' is already paid by payment_rule 1 (line 9) for product 70");
}

Test(dir_refused, payment_rule_for_a_non_member)
{
    expect_refused(PRE SUB5 "payment_rule id=1 subscriber=5 classes=all\n", 8, 19, CDR_FORMAT,
                   "subscriber 5 is not a member of an enterprise");
}

Test(dir_refused, payment_rule_with_two_scopes)
{
    expect_refused(PRE "payment_rule id=1 enterprise=7 product=70 classes=all\n", 7, 32, CDR_FORMAT,
                   "a payment rule has exactly one of");
}

Test(dir_refused, unknown_charge_class)
{
    expect_refused(PRE "payment_rule id=1 enterprise=7 classes=sms_mms,fax\n", 7, 32, CDR_FORMAT,
                   "unknown charge class 'fax'");
}

Test(dir_refused, charge_class_of_before_issue_11)
{
    expect_refused(
        PRE "payment_rule id=1 enterprise=7 classes=data,voice_domestic\n", 7, 32, CDR_FORMAT,
        "field 'classes': 'voice_domestic' is no longer a charge class: use basic_voice");
    expect_refused(PRE "payment_rule id=1 enterprise=7 classes=monthly_fee\n", 7, 32, CDR_FORMAT,
                   "'monthly_fee' is no longer a charge class: use recurring_fee");
}

Test(dir_refused, account_currency_not_iso)
{
    expect_refused(PRE "account id=99 customer=1 currency=cny\n", 7, 26, CDR_FORMAT,
                   "field 'currency': 'cny' is not an ISO 4217 code");
    expect_refused(PRE "account id=99 customer=1 currency=EURO\n", 7, 26, CDR_FORMAT,
                   "field 'currency': 'EURO' is not an ISO 4217 code");
}

/* Issue 11: plan changes, membership periods, closed-user-group prices. */
Test(dir_refused, plan_change_to_the_same_plan)
{
    expect_refused(PRE SUB5 "plan_change subscriber=5 plan=p previous=p from=2026-11-16\n", 8, 33,
                   CDR_FORMAT,
                   "field 'previous': 'p' is also the new plan; a plan change names two plans");
}

Test(dir_refused, plan_change_of_an_unknown_subscriber)
{
    expect_refused(PRE SUB5 "plan_change subscriber=6 plan=q previous=p from=2026-11-16\n", 8, 13,
                   CDR_NOTFOUND, "plan_change: unknown subscriber 6");
}

Test(dir_refused, plan_change_before_the_line_was_active)
{
    expect_refused(PRE SUB5 "plan_change subscriber=5 plan=p previous=q from=2025-12-01\n", 8, 44,
                   CDR_RANGE,
                   "plan_change: field 'from' is not after the active_from of subscriber 5 (line "
                   "7); its first plan is the subscriber's own");
}

Test(dir_refused, plan_change_after_termination)
{
    expect_refused(PRE "subscriber id=5 account=2 msisdn=8613800000009 plan=p status=terminated "
                       "active_from=2026-01-01 active_to=2026-11-01\n"
                       "plan_change subscriber=5 plan=p previous=q from=2026-11-01\n",
                   8, 44, CDR_RANGE,
                   "plan_change: field 'from' is not before the active_to of subscriber 5 (line "
                   "7)");
}

Test(dir_refused, plan_changes_that_do_not_chain)
{
    expect_refused(PRE SUB5 "plan_change subscriber=5 plan=q previous=r from=2026-10-01\n"
                            "plan_change subscriber=5 plan=p previous=x from=2026-11-01\n",
                   9, 33, CDR_FORMAT,
                   "plan_change: subscriber 5 is on plan 'q' before this change (the change on "
                   "line 8), not on 'x'");
}

Test(dir_refused, last_plan_change_is_not_the_subscribers_plan)
{
    expect_refused(
        PRE SUB5 "plan_change subscriber=5 plan=q previous=p from=2026-11-01\n", 8, 26, CDR_FORMAT,
        "plan_change: the last change of subscriber 5 is to plan 'q', but the subscriber "
        "(line 7) has plan=p; plan= is the plan after the last change");
}

Test(dir_refused, two_plan_changes_at_one_time)
{
    expect_refused(PRE SUB5 "plan_change subscriber=5 plan=q previous=r from=2026-11-01\n"
                            "plan_change subscriber=5 plan=p previous=q from=2026-11-01\n",
                   9, 44, CDR_EXISTS,
                   "plan_change: subscriber 5 already changes plan at this time (line 8)");
}

Test(dir_refused, plan_change_without_previous_or_with_a_bad_date)
{
    expect_refused(PRE SUB5 "plan_change subscriber=5 plan=q from=2026-11-01\n", 8, 1, CDR_FORMAT,
                   "plan_change: missing required field 'previous'");
    expect_refused(PRE SUB5 "plan_change subscriber=5 plan=q previous=p from=2026-13-01\n", 8, 44,
                   CDR_RANGE, "field 'from': no such date '2026-13-01'");
}

Test(dir_refused, membership_that_ends_before_it_starts)
{
    expect_refused(PRE ENT7 "product id=70 enterprise=7\n" SUB5
                            "membership subscriber=5 product=70 from=2026-11-10 to=2026-11-10\n",
                   10, 52, CDR_RANGE, "field 'to': not after from");
    expect_refused(PRE ENT7 "product id=70 enterprise=7\n" SUB5
                            "membership subscriber=5 product=70 to=2026/11/10\n",
                   10, 36, CDR_PARSE,
                   "field 'to': '2026/11/10' is not a date (YYYY-MM-DD) or time "
                   "(YYYY-MM-DDTHH:MM:SS with Z or +HH:MM)");
}

Test(dir_refused, cug_discount_without_a_closed_user_group)
{
    expect_refused(PRE ENT7 "product id=70 enterprise=7 cug_discount=50\n", 8, 28, CDR_FORMAT,
                   "field 'cug_discount' without 'cug=yes': it prices calls within a closed user "
                   "group");
    expect_refused(PRE ENT7 "product id=70 enterprise=7 cug=yes cug_discount=101\n", 8, 36,
                   CDR_RANGE,
                   "field 'cug_discount': 101 is not a percentage from 0 to 100 with at most two "
                   "decimals");
}

Test(dir, plan_changes_membership_periods_and_cug_prices_are_kept)
{
    load_ok(put_file("hist.dir",
                     PRE ENT7 "product id=70 enterprise=7 cug=yes\n"
                              "product id=71 enterprise=7 cug=yes cug_discount=25.5\n" SUB5
                              "subscriber id=6 account=2 msisdn=8613800000010 plan=c "
                              "active_from=2026-01-01\n"
                              "plan_change subscriber=6 plan=c previous=b from=2026-11-20\n"
                              "plan_change subscriber=6 plan=b previous=a from=2026-11-10\n"
                              "membership subscriber=5 product=70 from=2026-11-16T10:00:00+08:00\n"
                              "membership subscriber=6 product=71 to=2026-11-21\n"),
            NULL);
    cdr_dir *dir;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_read(g_st, &dir, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_dir_find_product(dir, 70)->pd_cug_bp, 10000); /* cug=yes: free */
    cr_expect_eq(cdr_dir_find_product(dir, 71)->pd_cug_bp, 2550);
    const cdr_dir_membership *ms = cdr_dir_find_membership(dir, 5);
    cr_expect_eq(ms->ms_from, 1794794400); /* 2026-11-16 02:00 UTC */
    cr_expect_eq(ms->ms_to, INT64_MAX);
    ms = cdr_dir_find_membership(dir, 6);
    cr_expect_eq(ms->ms_from, INT64_MIN);
    cr_expect_eq(ms->ms_to, 1795219200); /* 2026-11-21 00:00 UTC */
    size_t n;
    const cdr_dir_plan_change *pc = cdr_dir_find_plan_changes(dir, 6, &n);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(pc[0].pc_previous, "a"); /* in time order, whatever the file's */
    cr_expect_str_eq(pc[0].pc_plan, "b");
    cr_expect_str_eq(pc[1].pc_plan, "c");
    cr_expect_eq(pc[1].pc_from, 1795132800); /* 2026-11-20 */
    cr_expect_null(cdr_dir_find_plan_changes(dir, 5, &n));
    cr_expect_eq(n, 0);
    cdr_dir_stats ds;
    cdr_dir_get_stats(dir, &ds);
    cr_expect_eq(ds.ds_plan_changes, 2);
    cdr_dir_free(dir);
}

Test(dir_refused, missing_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/no-such.dir", g_dir);
    cdr_diag dg;
    cr_assert_eq(cdr_dir_load_file(g_st, path, NULL, NULL, &dg), CDR_EIO);
    cr_expect_eq(dg.dg_line, 0);
    cr_expect(strstr(dg.dg_msg, "cannot open directory file") != NULL, "%s", dg.dg_msg);
    expect_good_active();
}

/* ---- good files -------------------------------------------------------------------------------
 */

TestSuite(dir_good, .init = setup_loaded, .fini = teardown_store);

Test(dir_good, rating_view_fields)
{
    cdr_subtab *tab;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_subtab_count(tab), 2);

    const cdr_sub *su = cdr_subtab_find(tab, "8613800000001");
    cr_assert(su != NULL);
    cr_expect_str_eq(su->su_msisdn, "8613800000001");
    cr_expect_str_eq(su->su_plan, "cn-enterprise");
    cr_expect_eq(su->su_id, 100);
    cr_expect_eq(su->su_enterprise, 7);
    cr_expect_eq(su->su_owner, (1ULL << 63) | 7);
    cr_expect_eq(su->su_owner, cdr_dir_enterprise_owner(7));
    cr_expect_eq(su->su_active_from, 1767225600); /* 2026-01-01T00:00:00Z */
    cr_expect_eq(su->su_active_to, INT64_MAX);
    cr_expect_eq(su->su_pool_units[CDR_SVC_DATA], 10ULL << 30);
    cr_expect_eq(su->su_pool_units[CDR_SVC_VOICE], 6000);
    cr_expect_eq(su->su_pool_units[CDR_SVC_SMS], 0);
    cr_expect_eq(su->su_pool_units[CDR_SVC_MMS], 0);
    cr_expect_eq(su->su_pool_units[CDR_SVC_VIDEO], 0);
    cr_expect_eq(su->su_member_cap[CDR_SVC_DATA], 2ULL << 30);
    cr_expect_eq(su->su_member_cap[CDR_SVC_VOICE], 0);
    cr_expect_eq(su->su_family, -1);

    su = cdr_subtab_find(tab, "8613800000002");
    cr_assert(su != NULL);
    cr_expect_str_eq(su->su_plan, "cn-personal-128");
    cr_expect_eq(su->su_id, 101);
    cr_expect_eq(su->su_enterprise, 0);
    cr_expect_eq(su->su_owner, 20); /* its account (shared with line 100) */
    cr_expect_eq(su->su_credit_limit, 1000500000LL);
    cr_expect_str_eq(su->su_manager, "");
    cr_expect_eq(su->su_active_from, 1767225600); /* 08:00 at +08:00 */
    cr_expect_eq(su->su_active_to, 1769904000);   /* 2026-02-01: the termination */
    for (int s = 0; s < CDR_SVC_COUNT; s++) {
        cr_expect_eq(su->su_pool_units[s], 0);
        cr_expect_eq(su->su_member_cap[s], 0);
    }
    cr_expect_eq(su->su_family, -1);
    cr_expect_null(cdr_subtab_find(tab, "8613800000003"));
    cdr_subtab_free(tab);
}

Test(dir_good, model_fields)
{
    cdr_dir *dir;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_read(g_st, &dir, &dg), 0, "%s", dg.dg_msg);
    cdr_dir_stats ds;
    cdr_dir_get_stats(dir, &ds);
    cr_expect_eq(ds.ds_credit_classes, 1);
    cr_expect_eq(ds.ds_customers, 2);
    cr_expect_eq(ds.ds_accounts, 2);
    cr_expect_eq(ds.ds_enterprises, 1);
    cr_expect_eq(ds.ds_products, 1);
    cr_expect_eq(ds.ds_subscribers, 2);
    cr_expect_eq(ds.ds_memberships, 1);
    cr_expect_eq(ds.ds_payment_rules, 1);

    const cdr_dir_credit_class *cc = cdr_dir_find_credit_class(dir, "A");
    cr_assert(cc != NULL);
    cr_expect_str_eq(cc->cc_name, "Standard");
    cr_expect_eq(cc->cc_limit, 1000500000);
    cr_expect_eq(cc->cc_term_days, 30);
    cr_expect_eq(cc->cc_roaming_no_deposit, 1);
    cr_expect_eq(cc->cc_nwarn, 3);
    cr_expect_eq(cc->cc_warn_pct[0], 50);
    cr_expect_eq(cc->cc_warn_pct[1], 75);
    cr_expect_eq(cc->cc_warn_pct[2], 90);
    cr_expect_null(cdr_dir_find_credit_class(dir, "B"));

    const cdr_dir_customer *cu = cdr_dir_find_customer(dir, 1);
    cr_assert(cu != NULL);
    cr_expect_eq(cu->cu_party, CDR_DIR_COMPANY);
    cr_expect_str_eq(cu->cu_name, "Acme \"Global\" Ltd.");
    cr_expect_str_eq(cu->cu_credit_class, "A");
    cr_expect_str_eq(cu->cu_manager, "am.wu");
    cr_expect_str_eq(cu->cu_email, "ap@acme.example");
    cr_expect_eq(cdr_dir_find_customer(dir, 2)->cu_party, CDR_DIR_PERSON);

    const cdr_dir_account *ac = cdr_dir_find_account(dir, 10);
    cr_assert(ac != NULL);
    cr_expect_eq(ac->ac_customer, 1);
    cr_expect_eq(ac->ac_party, CDR_DIR_COMPANY);
    cr_expect_str_eq(ac->ac_name, "Acme AP");
    cr_expect_str_eq(ac->ac_credit_class, "A"); /* from the customer */
    cr_expect_str_eq(ac->ac_currency, "CNY");
    cr_expect_str_eq(cdr_dir_find_account(dir, 20)->ac_currency, ""); /* not given */
    cr_expect_null(cdr_dir_find_account(dir, 1)); /* customer 1 is not account 1 */

    const cdr_dir_enterprise *en = cdr_dir_find_enterprise(dir, 7);
    cr_assert(en != NULL);
    cr_expect_eq(en->en_customer, 1);
    cr_expect_eq(en->en_account, 10);
    cr_expect_str_eq(en->en_name, "Acme \"Global\" Ltd.");
    /* managers: the account manager from the customer, no others */
    cr_expect_str_eq(en->en_manager[CDR_DIR_ACCOUNT_MANAGER], "am.wu");
    for (int d = CDR_DIR_BILLING_MANAGER; d < CDR_DIR_MANAGERS; d++)
        cr_expect_str_eq(en->en_manager[d], "");

    const cdr_dir_product *pd = cdr_dir_find_product(dir, 70);
    cr_assert(pd != NULL);
    cr_expect_eq(pd->pd_enterprise, 7);
    cr_expect_eq(pd->pd_pool[CDR_SVC_DATA], 10ULL << 30);
    cr_expect_eq(pd->pd_pool[CDR_SVC_VOICE], 6000);
    cr_expect_eq(pd->pd_member_cap[CDR_SVC_DATA], 2ULL << 30);
    cr_expect_eq(pd->pd_discount_bp, 1250);
    cr_expect_eq(pd->pd_cug, 1);

    const cdr_dir_subscriber *sb = cdr_dir_find_msisdn(dir, "8613800000001");
    cr_assert(sb != NULL);
    cr_expect_eq(sb->sb_id, 100);
    cr_expect_eq(sb->sb_account, 20);
    cr_expect_eq(sb->sb_customer, 2);
    cr_expect_eq(sb->sb_enterprise, 7);
    cr_expect_eq(sb->sb_product, 70);
    cr_expect_str_eq(sb->sb_imsi, "460001234500001");
    cr_expect_eq(sb->sb_status, CDR_DIR_ACTIVE);
    sb = cdr_dir_find_subscriber(dir, 101);
    cr_assert(sb != NULL);
    cr_expect_eq(sb->sb_status, CDR_DIR_TERMINATED);
    cr_expect_str_eq(sb->sb_imsi, "");
    cr_expect_eq(sb->sb_enterprise, 0);

    const cdr_dir_membership *ms = cdr_dir_find_membership(dir, 100);
    cr_assert(ms != NULL);
    cr_expect_eq(ms->ms_product, 70);
    cr_expect_eq(ms->ms_enterprise, 7);
    cr_expect_null(cdr_dir_find_membership(dir, 101));

    size_t n;
    const cdr_dir_payment_rule *pr = cdr_dir_payment_rules(dir, &n);
    cr_assert_eq(n, 1);
    cr_expect_eq(pr->pr_id, 1);
    cr_expect_eq(pr->pr_scope, CDR_DIR_SCOPE_PRODUCT);
    cr_expect_eq(pr->pr_target, 70);
    cr_expect_eq(pr->pr_enterprise, 7);
    cr_expect_eq(pr->pr_payer, 10);
    cr_expect_eq(pr->pr_classes, (1u << CDR_CLASS_RECURRING_FEE) | (1u << CDR_CLASS_DATA));
    cr_expect_eq(pr->pr_cap, 200000000);

    const cdr_dir_payment_rule *out[4];
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 100), out, 4), 1);
    cr_expect_eq(out[0], pr);
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 101), out, 4), 0);
    cdr_dir_free(dir);
}

Test(dir_good, lookup_msisdn_in_store)
{
    cdr_dir_subscriber sb;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_lookup_msisdn(g_st, "8613800000002", &sb, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(sb.sb_id, 101);
    cr_expect_str_eq(sb.sb_plan, "cn-personal-128");
    cr_expect_eq(cdr_dir_lookup_msisdn(g_st, "8613800000009", &sb, &dg), CDR_NOTFOUND);
}

Test(dir_good, reload_replaces)
{
    /* GOOD without subscriber 101 (its line) and with a new individual. */
    char text[sizeof GOOD + 256];
    const char *cut = strstr(GOOD, "subscriber id=101");
    const char *eol = strchr(cut, '\n') + 1;
    snprintf(text, sizeof text, "%.*s%s%s", (int)(cut - GOOD), GOOD, eol,
             "subscriber id=102 account=20 msisdn=4915100000001 plan=de-comfort "
             "active_from=2026-01-01\n");
    cdr_dir_stats ds;
    load_ok(put_file("reload.dir", text), &ds);
    cr_expect_eq(ds.ds_subscribers, 2);

    cdr_subtab *tab;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_subtab_count(tab), 2);
    cr_expect_null(cdr_subtab_find(tab, "8613800000002"), "removed subscriber still there");
    cr_expect(cdr_subtab_find(tab, "4915100000001") != NULL);
    cr_expect(cdr_subtab_find(tab, "8613800000001") != NULL);
    cdr_subtab_free(tab);
    cdr_dir_subscriber sb;
    cr_expect_eq(cdr_dir_lookup_msisdn(g_st, "8613800000002", &sb, &dg), CDR_NOTFOUND);
}

Test(dir_good, parse_only_leaves_store_alone)
{
    cdr_dir *dir;
    cdr_diag dg;
    const char *path = put_file(
        "other.dir", PRE "subscriber id=5 account=2 msisdn=491 plan=p active_from=2026-01-01\n");
    cr_assert_eq(cdr_dir_parse_file(path, NULL, &dir, &dg), 0, "%s", dg.dg_msg);
    cr_expect(cdr_dir_find_msisdn(dir, "491") != NULL);
    cdr_dir_free(dir);
    expect_good_active();
}

TestSuite(dir, .init = setup_store, .fini = teardown_store);

Test(dir, no_directory_loaded)
{
    cdr_subtab *tab = (cdr_subtab *)1;
    cdr_dir *dir = (cdr_dir *)1;
    cdr_dir_subscriber sb;
    cdr_diag dg;
    cr_expect_eq(cdr_dir_rating_view(g_st, &tab, &dg), CDR_NOTFOUND);
    cr_expect_null(tab);
    cr_expect(strstr(dg.dg_msg, "no directory") != NULL, "%s", dg.dg_msg);
    cr_expect_eq(cdr_dir_read(g_st, &dir, &dg), CDR_NOTFOUND);
    cr_expect_null(dir);
    cr_expect_eq(cdr_dir_lookup_msisdn(g_st, "1", &sb, &dg), CDR_NOTFOUND);
}

Test(dir, sample_directory)
{
    cdr_dir_stats ds;
    load_ok(CDR_SOURCE_DIR "/billing/samples/demo.dir", &ds);
    cr_expect_eq(ds.ds_credit_classes, 3);
    cr_expect_eq(ds.ds_enterprises, 2);
    cr_expect_eq(ds.ds_products, 3);
    cr_expect_eq(ds.ds_subscribers, 36);
    cr_expect_eq(ds.ds_memberships, 24);
    cr_expect_eq(ds.ds_payment_rules, 4);
    cr_expect_eq(ds.ds_customers, 36);
    cr_expect_eq(ds.ds_accounts, 36);

    cdr_subtab *tab;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_subtab_count(tab), 36);
    const cdr_sub *su = cdr_subtab_find(tab, "8613800000001"); /* multinational, pooled */
    cr_assert(su != NULL);
    cr_expect_str_eq(su->su_plan, "cn-enterprise");
    cr_expect_eq(su->su_enterprise, 1);
    cr_expect_eq(su->su_owner, cdr_dir_enterprise_owner(1));
    cr_expect_eq(su->su_pool_units[CDR_SVC_DATA], 500ULL << 30);
    cr_expect_eq(su->su_member_cap[CDR_SVC_DATA], 40ULL << 30);
    su = cdr_subtab_find(tab, "4915100000001"); /* multinational, German product, no pool */
    cr_assert(su != NULL);
    cr_expect_str_eq(su->su_plan, "de-comfort");
    cr_expect_eq(su->su_enterprise, 1);
    /* a member without pool: still its enterprise's shard (credit state of one account) */
    cr_expect_eq(su->su_owner, cdr_dir_enterprise_owner(1));
    cr_expect_eq(su->su_pool_units[CDR_SVC_DATA], 0);
    /* credit: the enterprise's class A (key account, 60 days: extended terms), its manager */
    cr_expect_eq(su->su_credit_limit, 500000000000LL);
    cr_expect_eq(su->su_credit_extended, 1);
    cr_expect_eq(su->su_roaming_no_deposit, 1);
    cr_expect_eq(su->su_credit_nwarn, 3);
    cr_expect_eq(su->su_credit_warn[0], 70);
    cr_expect_eq(su->su_credit_warn[2], 95);
    cr_expect_str_eq(su->su_manager, "am.zhang");
    su = cdr_subtab_find(tab, "8613800000022"); /* an individual: its account owns it */
    cr_assert(su != NULL);
    cr_expect_eq(su->su_owner, 2001);
    cr_expect_eq(su->su_owner, su->su_account);
    cr_expect_eq(su->su_credit_limit, 300000000LL); /* class C: 300.00, 15 days */
    cr_expect_eq(su->su_credit_extended, 0);
    cr_expect_eq(su->su_roaming_no_deposit, 0);
    cr_expect_str_eq(su->su_manager, "");
    su = cdr_subtab_find(tab, "4915100000006"); /* terminated member */
    cr_assert(su != NULL);
    cr_expect_eq(su->su_active_to, 1774994400); /* 2026-04-01T00:00:00+02:00 */
    su = cdr_subtab_find(tab, "8613800000015"); /* small firm */
    cr_assert(su != NULL);
    cr_expect_eq(su->su_owner, cdr_dir_enterprise_owner(2));
    cr_expect_eq(su->su_pool_units[CDR_SVC_DATA], 50ULL << 30);
    cr_expect_eq(su->su_member_cap[CDR_SVC_DATA], 0);
    su = cdr_subtab_find(tab, "8613800000019"); /* IoT line of a company, no enterprise */
    cr_assert(su != NULL);
    cr_expect_str_eq(su->su_plan, "cn-iot-data");
    cr_expect_eq(su->su_enterprise, 0);
    /* its account 300 holds three IoT lines: one owner, so one shard keeps its credit state */
    cr_expect_eq(su->su_owner, 300);
    cr_expect_eq(cdr_subtab_find(tab, "8613800000020")->su_owner, 300);
    cr_expect_eq(su->su_credit_limit, 20000000000LL); /* class B of the company: 20000.00 */
    cr_expect_str_eq(su->su_manager, "am.zhang");
    su = cdr_subtab_find(tab, "8613800000025"); /* individual */
    cr_assert(su != NULL);
    cr_expect_str_eq(su->su_plan, "cn-payg");
    cr_expect_eq(su->su_owner, su->su_account);
    /* Every plan id of the sample is one of the sample plans. */
    const char *plans[] = {"cn-personal-128", "cn-enterprise", "cn-iot-data", "cn-payg",
                           "de-comfort"};
    for (size_t i = 0; i < cdr_subtab_count(tab); i++) {
        const cdr_sub *s = cdr_subtab_at(tab, i);
        int known = 0;
        for (size_t p = 0; p < sizeof plans / sizeof plans[0]; p++)
            known |= strcmp(s->su_plan, plans[p]) == 0;
        cr_expect(known, "%s: plan %s", s->su_msisdn, s->su_plan);
    }
    cdr_subtab_free(tab);

    /* Payment rules: the most specific scope wins. */
    cdr_dir *dir;
    cr_assert_eq(cdr_dir_read(g_st, &dir, &dg), 0, "%s", dg.dg_msg);
    const cdr_dir_payment_rule *out[4];
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 30001), out, 4), 1);
    cr_expect_eq(out[0]->pr_id, 3); /* the managing director's own rule */
    cr_expect_eq(out[0]->pr_cap, CDR_DIR_NO_CAP);
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 30002), out, 4), 1);
    cr_expect_eq(out[0]->pr_id, 1);
    cr_expect_eq(out[0]->pr_payer, 100);
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 30015), out, 4), 1);
    cr_expect_eq(out[0]->pr_id, 2);
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 30101), out, 4), 1);
    cr_expect_eq(out[0]->pr_id, 4); /* enterprise-wide */
    cr_expect_eq(out[0]->pr_payer, 200);
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 40001), out, 4), 0);
    cdr_dir_free(dir);
}

Test(dir, any_order_crlf_bom_comments)
{
    /* Every record before what it references, ids descending, CRLF line ends, a UTF-8 BOM,
     * tabs, trailing comments and a UTF-8 name. */
    const char *text = "\xEF\xBB\xBF"
                       "directory version=1 # the version line\r\n"
                       "payment_rule id=9 subscriber=200 classes=all\r\n"
                       "membership subscriber=200 product=5\r\n"
                       "membership subscriber=100 product=5\r\n"
                       "subscriber id=200 account=2 msisdn=4915100000002 plan=de-comfort "
                       "active_from=2026-01-01\r\n"
                       "subscriber\tid=100\taccount=1 msisdn=4915100000001 plan=de-comfort "
                       "active_from=2026-01-01   # member\r\n"
                       "\r\n"
                       "product id=5 enterprise=3 pool_sms=1000 cap_sms=10 pool_video=1h\r\n"
                       "enterprise id=3 customer=1 account=1\r\n"
                       "account id=2 customer=2 credit_class=B\r\n"
                       "account id=1 customer=1\r\n"
                       "customer id=2 type=person name=\"\xE6\x9D\x8E\xE4\xBC\x9F\" "
                       "credit_class=A\r\n"
                       "customer id=1 type=company name=X credit_class=B manager=m\r\n"
                       "credit_class id=B limit=0 term_days=0 warn=none\r\n"
                       "credit_class id=A limit=5 term_days=1\r\n";
    cdr_dir_stats ds;
    load_ok(put_file("order.dir", text), &ds);
    cr_expect_eq(ds.ds_subscribers, 2);

    cdr_dir *dir;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_read(g_st, &dir, &dg), 0, "%s", dg.dg_msg);
    size_t n;
    const cdr_dir_subscriber *sbs = cdr_dir_subscribers(dir, &n);
    cr_assert_eq(n, 2);
    cr_expect_eq(sbs[0].sb_id, 100); /* sorted by id */
    cr_expect_eq(sbs[1].sb_id, 200);
    cr_expect_eq(sbs[0].sb_enterprise, 3);
    const cdr_dir_credit_class *ccs = cdr_dir_credit_classes(dir, &n);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(ccs[0].cc_id, "A");
    cr_expect_eq(ccs[0].cc_nwarn, 2); /* default 80,95 */
    cr_expect_eq(ccs[0].cc_warn_pct[0], 80);
    cr_expect_eq(ccs[0].cc_warn_pct[1], 95);
    cr_expect_eq(ccs[1].cc_nwarn, 0); /* warn=none */
    cr_expect_str_eq(cdr_dir_find_customer(dir, 2)->cu_name, "\xE6\x9D\x8E\xE4\xBC\x9F");
    cr_expect_str_eq(cdr_dir_find_account(dir, 2)->ac_credit_class, "B");
    const cdr_dir_product *pd = cdr_dir_find_product(dir, 5);
    cr_expect_eq(pd->pd_pool[CDR_SVC_SMS], 1000);
    cr_expect_eq(pd->pd_member_cap[CDR_SVC_SMS], 10);
    cr_expect_eq(pd->pd_pool[CDR_SVC_VIDEO], 3600);
    const cdr_dir_payment_rule *out[2];
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 200), out, 2), 1);
    cr_expect_eq(out[0]->pr_classes, CDR_DIR_CLASSES_ALL);
    cr_expect_eq(out[0]->pr_payer, 1);
    cr_expect_eq(cdr_dir_rules_for(dir, cdr_dir_find_subscriber(dir, 100), out, 2), 0);
    cdr_dir_free(dir);
}

typedef struct prog_seen {
    int ps_calls, ps_monotonic;
    uint64_t ps_last, ps_total;
} prog_seen;

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    prog_seen *ps = arg;
    if (ps->ps_calls++ == 0)
        ps->ps_monotonic = 1;
    if (done < ps->ps_last)
        ps->ps_monotonic = 0;
    ps->ps_last = done;
    ps->ps_total = total;
}

Test(dir, progress_on_large_files)
{
    char path[512];
    snprintf(path, sizeof path, "%s/large.dir", g_dir);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs("directory version=1\ncredit_class id=C limit=300 term_days=15\n"
          "customer id=1 type=person name=P credit_class=C\naccount id=1 customer=1\n",
          f);
    const int nsub = 210000; /* 4 + 210000 lines */
    for (int i = 1; i <= nsub; i++)
        fprintf(f,
                "subscriber id=%d account=1 msisdn=86130%08d plan=cn-payg "
                "active_from=2026-01-01\n",
                i, i);
    fclose(f);

    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    prog_seen ps = {0};
    const cdr_progress pr = {on_progress, &ps};
    cdr_diag dg;
    cdr_dir_stats ds;
    int rc = cdr_dir_load_file(g_st, path, &pr, &ds, &dg);
    cr_assert_eq(rc, 0, "%s", dg.dg_msg);
    cr_expect_eq(ds.ds_subscribers, (size_t)nsub);
    /* every 16,384 lines and once at the end: bytes done, never backwards, against the size */
    cr_expect_eq(ps.ps_calls, 210004 / 16384 + 1);
    cr_expect(ps.ps_monotonic);
    cr_expect_eq(ps.ps_total, (uint64_t)sb.st_size);
    cr_expect_eq(ps.ps_last, (uint64_t)sb.st_size);

    cdr_subtab *tab;
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_subtab_count(tab), (size_t)nsub);
    const cdr_sub *su = cdr_subtab_find(tab, "8613000123456");
    cr_assert(su != NULL);
    cr_expect_eq(su->su_id, 123456);
    cdr_subtab_free(tab);
}

Test(dir, names_and_enums)
{
    cr_expect_str_eq(cdr_dir_kind_name(CDR_DIR_PAYMENT_RULE), "payment_rule");
    cr_expect_null(cdr_dir_kind_name(0));
    cr_expect_null(cdr_dir_kind_name(CDR_DIR_KIND_END));
    cr_expect_str_eq(cdr_dir_status_name(CDR_DIR_SUSPENDED), "suspended");
    cr_expect_null(cdr_dir_status_name(0));
    cr_expect_str_eq(cdr_dir_charge_name(CDR_CLASS_VALUE_ADDED), "value_added");
    cr_expect_null(cdr_dir_charge_name(CDR_CLASS_COUNT));
    cr_expect_null(cdr_dir_charge_name(CDR_CLASS_NONE));
    cr_expect_eq(cdr_dir_charge_parse("roaming", 7), CDR_CLASS_ROAMING);
    cr_expect_eq(cdr_dir_charge_parse("roam", 4), -1);
    cr_expect_eq(cdr_dir_charge_parse("none", 4), -1);
}

/* ---- plans named by subscribers (`cdrate directory load` refuses the missing ones) ------------
 */

/* A plan set holding only the sample plan cn-enterprise. */
static cdr_plan_set *one_plan_set(void)
{
    cdr_plan **plans = malloc(sizeof *plans);
    cdr_diag dg;
    cr_assert_eq(cdr_plan_compile_file(CDR_SOURCE_DIR "/rating-rules/plans/cn-enterprise.yaml",
                                       &plans[0], &dg),
                 0, "%s", dg.dg_msg);
    cdr_plan_set *ps;
    cr_assert_eq(cdr_plan_set_from(plans, 1, &ps, &dg), 0, "%s", dg.dg_msg);
    return ps;
}

Test(dir_good, plan_uses_in_file_order_with_the_value_column)
{
    cdr_dir *dir;
    cdr_diag dg;
    const char *path =
        put_file("plans.dir", PRE
                 "subscriber id=9 account=2 msisdn=4901 plan=zeta active_from=2026-01-01\n"
                 "subscriber id=5 account=2 msisdn=4902 plan=alpha active_from=2026-01-01\n"
                 "subscriber id=7 account=2 msisdn=4903 plan=zeta active_from=2026-01-01\n"
                 "subscriber\tplan=\"alpha\" id=6 account=2 msisdn=4904 active_from=2026-01-01\n"
                 "subscriber id=8 account=2 msisdn=4905 active_from=2026-01-01  plan=mu\n");
    int first = 0; /* the line of the first subscriber: after PRE */
    for (const char *p = PRE; *p; p++)
        first += *p == '\n';
    first++;
    cr_assert_eq(cdr_dir_parse_file(path, NULL, &dir, &dg), 0, "%s", dg.dg_msg);
    size_t n;
    const cdr_dir_plan_use *pu = cdr_dir_plan_uses(dir, &n);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(pu[0].pu_plan, "zeta");
    cr_expect_eq(pu[0].pu_line, (uint32_t)first);
    cr_expect_eq(pu[0].pu_column, 44); /* after "subscriber id=9 account=2 msisdn=4901 plan=" */
    cr_expect_eq(pu[0].pu_subscribers, 2);
    cr_expect_str_eq(pu[1].pu_plan, "alpha");
    cr_expect_eq(pu[1].pu_line, (uint32_t)first + 1);
    cr_expect_eq(pu[1].pu_column, 44);
    cr_expect_eq(pu[1].pu_subscribers, 2);
    cr_expect_str_eq(pu[2].pu_plan, "mu");
    cr_expect_eq(pu[2].pu_line, (uint32_t)first + 4);
    cr_expect_eq(pu[2].pu_column, 68); /* after two spaces */
    cr_expect_eq(pu[2].pu_subscribers, 1);

    cdr_plan_set *ps = one_plan_set();
    const cdr_dir_plan_use *missing[2];
    cr_expect_eq(cdr_dir_missing_plans(dir, ps, missing, 2), 3); /* more than max */
    cr_expect_str_eq(missing[0]->pu_plan, "zeta");
    cr_expect_str_eq(missing[1]->pu_plan, "alpha");
    cr_expect_eq(cdr_dir_missing_plans(dir, NULL, missing, 0), 3, "no plan set: all missing");
    cdr_plan_set_release(ps);
    cdr_dir_free(dir);
}

Test(dir_good, quoted_plan_value_column)
{
    cdr_dir *dir;
    cdr_diag dg;
    const char *path =
        put_file("q.dir", PRE
                 "subscriber\tplan=\"x-1\" id=6 account=2 msisdn=4904 active_from=2026-01-01\n");
    cr_assert_eq(cdr_dir_parse_file(path, NULL, &dir, &dg), 0, "%s", dg.dg_msg);
    size_t n;
    const cdr_dir_plan_use *pu = cdr_dir_plan_uses(dir, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(pu[0].pu_plan, "x-1");
    cr_expect_eq(pu[0].pu_column, 17); /* the opening quote: "subscriber\tplan=" is 16 bytes */
    cdr_dir_free(dir);
}

Test(dir_good, missing_plans_of_the_good_file)
{
    /* GOOD names cn-enterprise (line 10) and cn-personal-128 (line 12, column 56). */
    cdr_dir *dir;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_parse_file(put_file("g.dir", GOOD), NULL, &dir, &dg), 0, "%s", dg.dg_msg);
    cdr_plan_set *ps = one_plan_set();
    const cdr_dir_plan_use *missing[4];
    cr_assert_eq(cdr_dir_missing_plans(dir, ps, missing, 4), 1);
    cr_expect_str_eq(missing[0]->pu_plan, "cn-personal-128");
    cr_expect_eq(missing[0]->pu_line, 12);
    cr_expect_eq(missing[0]->pu_column, 56);
    cr_expect_eq(missing[0]->pu_subscribers, 1);
    cdr_plan_set_release(ps);
    cdr_dir_free(dir);
}

Test(dir_good, plan_uses_from_the_store_have_no_position)
{
    cdr_dir *dir;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_read(g_st, &dir, &dg), 0, "%s", dg.dg_msg);
    size_t n;
    const cdr_dir_plan_use *pu = cdr_dir_plan_uses(dir, &n);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(pu[0].pu_plan, "cn-enterprise"); /* subscriber 100 */
    cr_expect_str_eq(pu[1].pu_plan, "cn-personal-128");
    cr_expect_eq(pu[0].pu_line, 0);
    cr_expect_eq(pu[0].pu_column, 0);
    cdr_dir_free(dir);
}

Test(dir, format_quantities)
{
    char b[32];
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_VOICE, 0, b, sizeof b), "0s");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_VOICE, 59, b, sizeof b), "59s");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_VOICE, 7200, b, sizeof b), "120min");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_VOICE, 7230, b, sizeof b), "120min 30s");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_VIDEO, 61, b, sizeof b), "1min 1s");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_DATA, 1023, b, sizeof b), "1023B");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_DATA, 1024, b, sizeof b), "1KB");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_DATA, 500ULL << 30, b, sizeof b), "500GB");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_DATA, 1288490189, b, sizeof b), "1.2GB");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_DATA, (1ULL << 20) - 1, b, sizeof b), "1024.0KB");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_DATA, 3ULL << 40, b, sizeof b), "3TB");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_DATA, 5ULL << 50, b, sizeof b), "5120TB");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_SMS, 35, b, sizeof b), "35sms");
    cr_expect_str_eq(cdr_dir_format_qty(CDR_SVC_MMS, 3, b, sizeof b), "3mms");
}

/* `cdrate counters` names a counter by its tag (engine/core/src/counters.c): the tags must be
 * the ones the rater keys its counters by. */
Test(dir, counter_tags_match_the_rater)
{
    cdr_plan_set *ps;
    cdr_subtab *tab;
    cdr_rater *rt;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_set_from(NULL, 0, &ps, &dg), 0);
    cr_assert_eq(cdr_subtab_create(1, &tab), 0);
    cr_assert_eq(cdr_rater_create(2, ps, tab, &rt), 0);
    const cdr_counter_change own = {.cc_holder = 42,
                                    .cc_tag = cdr_counter_bundle_tag("minutes500"),
                                    .cc_used = 1234,
                                    .cc_owner = 42,
                                    .cc_cycle = 202611};
    const cdr_counter_change pool = {.cc_holder = 7,
                                     .cc_tag = (2ULL << 62) | CDR_SVC_DATA,
                                     .cc_used = 99,
                                     .cc_owner = cdr_dir_enterprise_owner(7),
                                     .cc_cycle = 202611};
    cr_assert_eq(cdr_rater_counter_import(rt, &own), 0);
    cr_assert_eq(cdr_rater_counter_import(rt, &pool), 0);
    cr_expect_eq(cdr_rater_counter_get(rt, 42, 202611, "minutes500", CDR_SVC_VOICE, 0), 1234);
    cr_expect_eq(cdr_rater_counter_get(rt, 7, 202611, NULL, CDR_SVC_DATA, 1), 99);
    cr_expect_eq(cdr_counter_tag_kind(own.cc_tag), CDR_COUNTER_OWN);
    cr_expect_eq(cdr_counter_tag_service(own.cc_tag), -1);
    cr_expect_eq(cdr_counter_tag_kind(pool.cc_tag), CDR_COUNTER_POOL);
    cr_expect_eq(cdr_counter_tag_service(pool.cc_tag), CDR_SVC_DATA);
    cr_expect_eq(cdr_counter_tag_kind((3ULL << 62) | CDR_SVC_VOICE), CDR_COUNTER_MEMBER);
    cr_expect_eq(cdr_counter_tag_service((3ULL << 62) | CDR_SVC_VOICE), CDR_SVC_VOICE);
    cdr_rater_destroy(rt);
    cdr_subtab_free(tab);
    cdr_plan_set_release(ps);
}

/* cdr_counters_delete: a dry run counts, a real one deletes exactly the selected counters. */
static int match_holder_42(void *arg, const cdr_counter_change *cc)
{
    (void)arg;
    return cc->cc_holder == 42;
}

Test(dir, counters_delete)
{
    uint64_t n = 9;
    cdr_diag dg;
    cr_assert_eq(cdr_counters_delete(g_st, NULL, NULL, 1, &n, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(n, 0, "a store never rated has no counters");
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq(mdb_txn_begin(g_st->st_env, NULL, 0, &txn), 0);
    cr_assert_eq(cdr_store_dbi(txn, CDR_DB_COUNTERS, MDB_CREATE, &dbi, &dg), 0);
    const uint64_t holders[] = {41, 42, 42, 43};
    for (int i = 0; i < 4; i++) {
        cdr_counter_change cc = {.cc_holder = holders[i],
                                 .cc_tag = cdr_counter_bundle_tag(i == 2 ? "b" : "a"),
                                 .cc_used = 10,
                                 .cc_owner = holders[i],
                                 .cc_cycle = 202611};
        uint8_t kb[CDR_COUNTER_KEY_LEN], vb[CDR_COUNTER_VAL_LEN];
        cdr_counter_change_encode(&cc, kb, vb);
        MDB_val k = {sizeof kb, kb}, v = {sizeof vb, vb};
        cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);
    cr_assert_eq(cdr_counters_delete(g_st, match_holder_42, NULL, 1, &n, &dg), 0);
    cr_expect_eq(n, 2);
    cr_assert_eq(cdr_counters_delete(g_st, NULL, NULL, 1, &n, &dg), 0);
    cr_expect_eq(n, 4, "the dry run deleted");
    cr_assert_eq(cdr_counters_delete(g_st, match_holder_42, NULL, 0, &n, &dg), 0);
    cr_expect_eq(n, 2);
    cr_assert_eq(cdr_counters_delete(g_st, match_holder_42, NULL, 1, &n, &dg), 0);
    cr_expect_eq(n, 0);
    cr_assert_eq(cdr_counters_delete(g_st, NULL, NULL, 0, &n, &dg), 0);
    cr_expect_eq(n, 2, "41 and 43 were left");
}

/* cdr_dir_read_line gives, for every line, what the whole directory gives for it. */
static void expect_same_record(const void *a, const void *b, size_t n, const char *what,
                               const char *msisdn)
{
    cr_assert((a == NULL) == (b == NULL), "%s of %s: present in only one view", what, msisdn);
    if (a)
        cr_expect(memcmp(a, b, n) == 0, "%s of %s differs", what, msisdn);
}

Test(dir, read_line_equals_the_whole_directory)
{
    load_ok(CDR_SOURCE_DIR "/billing/samples/demo.dir", NULL);
    cdr_dir *all;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_read(g_st, &all, &dg), 0, "%s", dg.dg_msg);
    size_t n;
    const cdr_dir_subscriber *sbs = cdr_dir_subscribers(all, &n);
    cr_assert_eq(n, 36);
    for (size_t i = 0; i < n; i++) {
        const char *m = sbs[i].sb_msisdn;
        cdr_dir *one;
        cr_assert_eq(cdr_dir_read_line(g_st, m, &one, &dg), 0, "%s: %s", m, dg.dg_msg);
        const cdr_dir_subscriber *a = &sbs[i], *b = cdr_dir_find_msisdn(one, m);
        expect_same_record(a, b, sizeof *a, "subscriber", m);
        const cdr_dir_account *aa = cdr_dir_find_account(all, a->sb_account);
        expect_same_record(aa, cdr_dir_find_account(one, a->sb_account), sizeof *aa, "account", m);
        const cdr_dir_customer *ac = cdr_dir_find_customer(all, a->sb_customer);
        expect_same_record(ac, cdr_dir_find_customer(one, a->sb_customer), sizeof *ac, "customer",
                           m);
        expect_same_record(cdr_dir_find_credit_class(all, ac->cu_credit_class),
                           cdr_dir_find_credit_class(one, ac->cu_credit_class),
                           sizeof(cdr_dir_credit_class), "credit class", m);
        if (a->sb_enterprise) {
            const cdr_dir_enterprise *ae = cdr_dir_find_enterprise(all, a->sb_enterprise);
            expect_same_record(ae, cdr_dir_find_enterprise(one, a->sb_enterprise), sizeof *ae,
                               "enterprise", m);
            expect_same_record(cdr_dir_find_customer(all, ae->en_customer),
                               cdr_dir_find_customer(one, ae->en_customer),
                               sizeof(cdr_dir_customer), "enterprise customer", m);
            expect_same_record(cdr_dir_find_account(all, ae->en_account),
                               cdr_dir_find_account(one, ae->en_account), sizeof(cdr_dir_account),
                               "enterprise account", m);
            expect_same_record(cdr_dir_find_product(all, a->sb_product),
                               cdr_dir_find_product(one, a->sb_product), sizeof(cdr_dir_product),
                               "product", m);
        } else {
            size_t ne;
            cdr_dir_enterprises(one, &ne);
            cr_expect_eq(ne, 0, "%s: an individual line read %zu enterprises", m, ne);
        }
        const cdr_dir_payment_rule *ra[8], *rb[8];
        size_t nra = cdr_dir_rules_for(all, a, ra, 8), nrb = cdr_dir_rules_for(one, b, rb, 8);
        cr_expect_eq(nra, nrb, "%s: %zu rules, want %zu", m, nrb, nra);
        for (size_t r = 0; r < nra && r < nrb && r < 8; r++)
            cr_expect_eq(ra[r]->pr_id, rb[r]->pr_id, "%s: rule %zu", m, r);
        size_t ns;
        cdr_dir_subscribers(one, &ns);
        cr_expect_eq(ns, 1, "%s: read %zu subscribers", m, ns);
        cdr_dir_free(one);
    }
    cdr_dir *none = (cdr_dir *)1;
    cr_expect_eq(cdr_dir_read_line(g_st, "999", &none, &dg), CDR_NOTFOUND);
    cr_expect_str_eq(dg.dg_msg, "msisdn 999 is not in the directory");
    cr_expect(none == NULL);
    /* the rating view carries each line's member account (the live state's account) */
    cdr_subtab *tab;
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(cdr_subtab_find(tab, sbs[i].sb_msisdn)->su_account, sbs[i].sb_account);
    cdr_subtab_free(tab);
    cdr_dir_free(all);
}

Test(dir, read_line_without_directory)
{
    cdr_dir *none;
    cdr_diag dg;
    cr_expect_eq(cdr_dir_read_line(g_st, "8613800000001", &none, &dg), CDR_NOTFOUND);
    cr_expect(strstr(dg.dg_msg, "no directory in the store") != NULL, "%s", dg.dg_msg);
}

/* The rating view marks the lines of an account on the recorded dunning list (cdrate payments
 * dunning; docs/credit-control.md "Overdue accounts"), and no longer once it has paid. */
static void record_dunning(const char *as_of)
{
    char bills[512];
    snprintf(bills, sizeof bills, "%s/bills", g_dir);
    int64_t day;
    cr_assert_eq(cdr_pay_date_parse(as_of, &day), 0);
    cdr_pay_status *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_pay_status_run(g_st, bills, day, 0, &ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_pay_overdue_store(g_st, ps, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_pay_status_free(ps);
}

Test(dir_good, rating_view_marks_overdue_accounts)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bills", g_dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/bills/2026-11", g_dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    put_file("bills/2026-11/invoices.jsonl",
             "{\"invoice\":\"I1\",\"account\":20,\"currency\":\"CNY\",\"issued\":\"2026-11-30\","
             "\"due\":\"2026-12-15\",\"credit_class\":\"A\",\"total\":\"12.34\"}\n");
    cdr_subtab *tab;
    cdr_diag dg;
    /* no list recorded: nobody overdue */
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_subtab_find(tab, "8613800000001")->su_overdue, 0);
    cdr_subtab_free(tab);
    record_dunning("2026-12-16");
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    for (int i = 0; i < 2; i++) {
        const cdr_sub *su = cdr_subtab_find(tab, i ? "8613800000002" : "8613800000001");
        cr_assert_not_null(su);
        cr_expect_eq(su->su_overdue, 1);
        cr_expect_str_eq(su->su_overdue_currency, "CNY");
        cr_expect_eq(su->su_overdue_amount, 12340000);
        cr_expect_eq(su->su_overdue_due, cdr_days_from_civil(2026, 12, 15));
    }
    cdr_subtab_free(tab);
    /* paid: the next run drops the account and the view follows */
    put_file("pay.csv", CDR_PAY_HEADER "\np1,20,12.34,CNY,2026-12-20,bank,\n");
    snprintf(path, sizeof path, "%s/pay.csv", g_dir);
    cdr_pay_file *pf;
    cr_assert_eq(cdr_pay_parse_file(path, &pf, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_pay_store_put(g_st, pf, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_pay_file_free(pf);
    record_dunning("2026-12-21");
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_expect_eq(cdr_subtab_find(tab, "8613800000001")->su_overdue, 0);
    cr_expect_eq(cdr_subtab_find(tab, "8613800000002")->su_overdue, 0);
    cdr_subtab_free(tab);
}

/* ---- the enterprise's four managers ("one customer, four managers") ----------------------------
 */

/* Enterprise 7 names three managers and takes its account manager from customer 1; enterprise 8
 * names its own account manager (not its customer's) and one login in two duties; enterprise 9
 * names none. One member each. */
static const char MANAGERS[] =
    "directory version=1\n"
    "credit_class id=A limit=1000.00 term_days=30\n"
    "customer id=1 type=company name=\"Acme\" credit_class=A manager=am.wu\n"
    "account id=1 customer=1\n"
    "customer id=2 type=company name=\"Beta\" credit_class=A manager=am.li\n"
    "account id=2 customer=2\n"
    "customer id=3 type=company name=\"Gamma\" credit_class=A manager=am.wu\n"
    "account id=3 customer=3\n"
    "customer id=4 type=person name=\"Ann\" credit_class=A\n"
    "account id=4 customer=4\n"
    "enterprise id=7 customer=1 account=1 billing_manager=bm.chen service_manager=sm.zhao "
    "technical_manager=tm.qian\n"
    "enterprise id=8 customer=2 account=2 technical_manager=ops@beta account_manager=am.sun "
    "service_manager=ops@beta\n"
    "enterprise id=9 customer=3 account=3\n"
    "product id=70 enterprise=7\n"
    "product id=80 enterprise=8\n"
    "product id=90 enterprise=9\n"
    "subscriber id=1 account=4 msisdn=8613800000071 plan=p active_from=2026-01-01\n"
    "subscriber id=2 account=4 msisdn=8613800000081 plan=p active_from=2026-01-01\n"
    "subscriber id=3 account=4 msisdn=8613800000091 plan=p active_from=2026-01-01\n"
    "membership subscriber=1 product=70\n"
    "membership subscriber=2 product=80\n"
    "membership subscriber=3 product=90\n";

static void expect_managers(const cdr_dir_enterprise *en, const char *am, const char *bm,
                            const char *sm, const char *tm)
{
    cr_assert_not_null(en);
    cr_expect_str_eq(en->en_manager[CDR_DIR_ACCOUNT_MANAGER], am, "enterprise %llu",
                     (unsigned long long)en->en_id);
    cr_expect_str_eq(en->en_manager[CDR_DIR_BILLING_MANAGER], bm);
    cr_expect_str_eq(en->en_manager[CDR_DIR_SERVICE_MANAGER], sm);
    cr_expect_str_eq(en->en_manager[CDR_DIR_TECHNICAL_MANAGER], tm);
}

static void expect_managers_of(const cdr_dir *dir)
{
    expect_managers(cdr_dir_find_enterprise(dir, 7), "am.wu", "bm.chen", "sm.zhao", "tm.qian");
    expect_managers(cdr_dir_find_enterprise(dir, 8), "am.sun", "", "ops@beta", "ops@beta");
    expect_managers(cdr_dir_find_enterprise(dir, 9), "am.wu", "", "", "");
    /* the customer keeps its own manager= */
    cr_expect_str_eq(cdr_dir_find_customer(dir, 2)->cu_manager, "am.li");
}

Test(dir, enterprise_managers_parsed_stored_and_resolved)
{
    const char *path = put_file("managers.dir", MANAGERS);
    cdr_dir *dir;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_parse_file(path, NULL, &dir, &dg), 0, "%s", dg.dg_msg);
    expect_managers_of(dir);
    cdr_dir_free(dir);
    /* stored verbatim: the store gives the same back, whole or by line */
    load_ok(path, NULL);
    cr_assert_eq(cdr_dir_read(g_st, &dir, &dg), 0, "%s", dg.dg_msg);
    expect_managers_of(dir);
    cdr_dir_free(dir);
    cr_assert_eq(cdr_dir_read_line(g_st, "8613800000081", &dir, &dg), 0, "%s", dg.dg_msg);
    expect_managers(cdr_dir_find_enterprise(dir, 8), "am.sun", "", "ops@beta", "ops@beta");
    cdr_dir_free(dir);
    /* alerts name a member's enterprise's account manager (its own when it names one) */
    cdr_subtab *tab;
    cr_assert_eq(cdr_dir_rating_view(g_st, &tab, &dg), 0, "%s", dg.dg_msg);
    cr_expect_str_eq(cdr_subtab_find(tab, "8613800000071")->su_manager, "am.wu");
    cr_expect_str_eq(cdr_subtab_find(tab, "8613800000081")->su_manager, "am.sun");
    cr_expect_str_eq(cdr_subtab_find(tab, "8613800000091")->su_manager, "am.wu");
    cdr_subtab_free(tab);
}

Test(dir, manager_duties)
{
    const char *path = put_file("managers.dir", MANAGERS);
    cdr_dir *dir;
    cdr_diag dg;
    cr_assert_eq(cdr_dir_parse_file(path, NULL, &dir, &dg), 0, "%s", dg.dg_msg);
    const cdr_dir_enterprise *e7 = cdr_dir_find_enterprise(dir, 7);
    const cdr_dir_enterprise *e8 = cdr_dir_find_enterprise(dir, 8);
    const cdr_dir_enterprise *e9 = cdr_dir_find_enterprise(dir, 9);
    cr_expect_eq(cdr_dir_manager_duties(e7, "am.wu"), 1u << CDR_DIR_ACCOUNT_MANAGER);
    cr_expect_eq(cdr_dir_manager_duties(e7, "bm.chen"), 1u << CDR_DIR_BILLING_MANAGER);
    cr_expect_eq(cdr_dir_manager_duties(e7, "sm.zhao"), 1u << CDR_DIR_SERVICE_MANAGER);
    cr_expect_eq(cdr_dir_manager_duties(e7, "tm.qian"), 1u << CDR_DIR_TECHNICAL_MANAGER);
    cr_expect_eq(cdr_dir_manager_duties(e8, "ops@beta"),
                 (1u << CDR_DIR_SERVICE_MANAGER) | (1u << CDR_DIR_TECHNICAL_MANAGER));
    /* the customer's manager= is not enterprise 8's account manager: it named its own */
    cr_expect_eq(cdr_dir_manager_duties(e8, "am.li"), 0);
    cr_expect_eq(cdr_dir_manager_duties(e8, "am.wu"), 0);
    /* one login, several enterprises */
    cr_expect_eq(cdr_dir_manager_duties(e9, "am.wu"), 1u << CDR_DIR_ACCOUNT_MANAGER);
    /* no login holds the duties nobody was named for; names compare exactly */
    cr_expect_eq(cdr_dir_manager_duties(e9, ""), 0);
    cr_expect_eq(cdr_dir_manager_duties(e9, NULL), 0);
    cr_expect_eq(cdr_dir_manager_duties(NULL, "am.wu"), 0);
    cr_expect_eq(cdr_dir_manager_duties(e7, "AM.WU"), 0);
    cr_expect_eq(cdr_dir_manager_duties(e7, "am.w"), 0);
    cdr_dir_free(dir);
}

Test(dir, duty_names)
{
    const char *const want[] = {"account", "billing", "service", "technical"};
    cr_assert_eq(CDR_DIR_MANAGERS, 4);
    for (int d = 0; d < CDR_DIR_MANAGERS; d++) {
        cr_expect_str_eq(cdr_dir_duty_name(d), want[d]);
        cr_expect_eq(cdr_dir_duty_parse(want[d]), d);
    }
    cr_expect_null(cdr_dir_duty_name(-1));
    cr_expect_null(cdr_dir_duty_name(CDR_DIR_MANAGERS));
    cr_expect_eq(cdr_dir_duty_parse("sales"), -1);
    cr_expect_eq(cdr_dir_duty_parse("Account"), -1);
    cr_expect_eq(cdr_dir_duty_parse(""), -1);
    cr_expect_eq(cdr_dir_duty_parse(NULL), -1);
}

Test(dir_refused, manager_login_with_a_space)
{
    expect_refused(PRE "enterprise id=7 customer=1 account=1 billing_manager=\"bm li\"\n", 7, 38,
                   CDR_FORMAT,
                   "field 'billing_manager': 'bm li' may only contain letters, digits and . _ - @");
}

Test(dir_refused, manager_login_with_a_slash)
{
    expect_refused(
        PRE "enterprise id=7 customer=1 account=1 name=X service_manager=sm/wang\n", 7, 45,
        CDR_FORMAT,
        "field 'service_manager': 'sm/wang' may only contain letters, digits and . _ - @");
}

Test(dir_refused, manager_login_too_long)
{
    expect_refused(PRE "enterprise id=7 customer=1 account=1 "
                       "technical_manager=t234567890123456789012345678901x\n",
                   7, 38, CDR_RANGE, "field 'technical_manager': longer than 31 bytes");
}

Test(dir_refused, manager_login_empty)
{
    expect_refused(PRE "enterprise id=7 customer=1 account=1 account_manager= name=X\n", 7, 38,
                   CDR_FORMAT, "field 'account_manager' is empty");
}

Test(dir_refused, manager_given_twice)
{
    expect_refused(PRE "enterprise id=7 customer=1 account=1 billing_manager=bm.a "
                       "service_manager=sm.b billing_manager=bm.c\n",
                   7, 80, CDR_FORMAT, "field 'billing_manager' given twice (first in column 38)");
}

Test(dir_refused, unknown_manager_field)
{
    /* a fifth duty, and the customer's own field name on an enterprise */
    expect_refused(PRE "enterprise id=7 customer=1 account=1 sales_manager=x\n", 7, 38, CDR_FORMAT,
                   "unknown field 'sales_manager' in a enterprise record");
    expect_refused(PRE "enterprise id=7 customer=1 account=1 manager=am.x\n", 7, 38, CDR_FORMAT,
                   "unknown field 'manager' in a enterprise record");
}

/* A store loaded by a build of directory layout 3 (before the managers): every read refuses it,
 * loudly and the same way, and names the remedy; it changes nothing; a load mends it. */
Test(dir_good, store_of_layout_3_is_refused_until_reloaded)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq(mdb_txn_begin(g_st->st_env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, CDR_DB_DIR_META, 0, &dbi), 0);
    uint32_t old = 3;
    MDB_val k = {6, "layout"}, v = {sizeof old, &old};
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);

    const char *msg = "the store holds directory layout 3, this build reads 4: reload the "
                      "directory file";
    cdr_diag dg;
    cdr_dir *dir = (cdr_dir *)&dg;
    cr_expect_eq(cdr_dir_read(g_st, &dir, &dg), CDR_VERSION);
    cr_expect_str_eq(dg.dg_msg, msg);
    cr_expect_null(dir);
    cdr_subtab *tab = (cdr_subtab *)&dg;
    cr_expect_eq(cdr_dir_rating_view(g_st, &tab, &dg), CDR_VERSION);
    cr_expect_str_eq(dg.dg_msg, msg);
    cr_expect_null(tab);
    dir = (cdr_dir *)&dg;
    cr_expect_eq(cdr_dir_read_line(g_st, "8613800000001", &dir, &dg), CDR_VERSION);
    cr_expect_str_eq(dg.dg_msg, msg);
    cr_expect_null(dir);
    cdr_dir_subscriber sb;
    cr_expect_eq(cdr_dir_lookup_msisdn(g_st, "8613800000001", &sb, &dg), CDR_VERSION);
    cr_expect_str_eq(dg.dg_msg, msg);

    /* the refusals wrote nothing: the old layout is still there */
    cr_assert_eq(mdb_txn_begin(g_st->st_env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, CDR_DB_DIR_META, 0, &dbi), 0);
    cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
    cr_expect_eq(v.mv_size, sizeof old);
    cr_expect_eq(memcmp(v.mv_data, &old, sizeof old), 0);
    mdb_txn_abort(txn);

    load_ok(put_file("good.dir", GOOD), NULL);
    expect_good_active();
}
