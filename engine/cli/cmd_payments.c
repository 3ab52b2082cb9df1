/* cmd_payments.c - `cdrate payments load FILE --store STORE` and `cdrate payments status --store
 * STORE --bills DIR --as-of YYYY-MM-DD [--account ID]`: payments from banks and counters and the
 * arrears they leave on the published invoices; `payments dunning` records the dunning list in the
 * store for credit control (cdr_payments.h, docs/billing.md "Payments and
 * arrears"). Errors follow docs/operations.md: file:line:column on stderr, exit 4 for a refused
 * file (nothing stored), 6 for an account that is in no invoice and no payment.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_payments.h"
#include "cli.h"

/* Exit code of a failed library call: the input is at fault (refused, 4) or the environment. */
static int pay_exit(const cdr_diag *dg)
{
    switch (dg->dg_code) {
    case CDR_FORMAT:
    case CDR_EXISTS:
    case CDR_VERSION:
        return CLI_EXIT_REFUSED;
    default:
        return CLI_EXIT_FAIL;
    }
}

static int pay_load(const char *file, const char *store, int quiet, int json)
{
    cdr_diag dg;
    cdr_pay_file *pf;
    /* The whole file is checked before the store is opened for writing. */
    if (cdr_pay_parse_file(file, &pf, &dg) != 0) {
        cli_report("payments", &dg);
        if (!json)
            fprintf(stderr, "cdrate payments: nothing stored\n");
        return pay_exit(&dg);
    }
    cdr_store *st;
    int rc = cli_store_open("payments", store, CLI_STORE_WRITE, &st);
    if (rc) {
        cdr_pay_file_free(pf);
        return rc;
    }
    cdr_pay_load pl;
    if (cdr_pay_store_put(st, pf, &pl, &dg) != 0) {
        cli_report("payments", &dg);
        if (!json)
            fprintf(stderr, "cdrate payments: nothing stored\n");
        rc = pay_exit(&dg);
    } else if (json) {
        printf("{\"file\":");
        cli_json_str(stdout, file);
        printf(",\"store\":");
        cli_json_str(stdout, store);
        printf(",\"payments\":%zu,\"loaded\":%" PRIu64 ",\"duplicates\":%" PRIu64 "}\n", pf->pf_n,
               pl.pl_loaded, pl.pl_duplicates);
    } else if (!quiet) {
        fprintf(stderr,
                "cdrate payments: %s: %zu payment(s): %" PRIu64 " loaded, %" PRIu64
                " duplicate(s) already stored (skipped)\n",
                file, pf->pf_n, pl.pl_loaded, pl.pl_duplicates);
    }
    cdr_store_close(st);
    cdr_pay_file_free(pf);
    return rc;
}

/* ---- status output --------------------------------------------------------------------------- */

static void json_money(const char *key, cdr_money v)
{
    char m[40];
    printf("\"%s\":\"%s\"", key, cli_money(v, m, sizeof m));
}

static void json_aging(const cdr_money *aging)
{
    printf("\"aging\":{");
    for (int b = 0; b < CDR_AGE_COUNT; b++) {
        printf("%s", b ? "," : "");
        json_money(cdr_pay_bucket_name(b), aging[b]);
    }
    printf("}");
}

static void json_class(const char *cc)
{
    if (cc[0])
        cli_json_str(stdout, cc);
    else
        printf("null");
}

static void json_account(const cdr_pay_status *ps, const cdr_pay_account *pa, int detail)
{
    char d[16];
    printf("{\"account\":%" PRIu64 ",\"currency\":\"%s\",\"credit_class\":", pa->pa_account,
           pa->pa_currency);
    json_class(pa->pa_credit_class);
    printf(",\"invoices\":%" PRIu32 ",\"payments\":%" PRIu32 ",", pa->pa_invoices, pa->pa_payments);
    json_money("invoiced", pa->pa_invoiced);
    printf(",");
    json_money("paid", pa->pa_paid);
    printf(",");
    json_money("balance", pa->pa_balance);
    printf(",");
    json_money("credit", pa->pa_credit);
    printf(",");
    json_money("open", pa->pa_open);
    printf(",");
    json_aging(pa->pa_aging);
    printf(",");
    json_money("overdue", pa->pa_overdue);
    printf(",\"overdue_invoices\":%" PRIu32, pa->pa_overdue_invoices);
    if (pa->pa_overdue_invoices)
        printf(",\"oldest_due\":\"%s\",\"days_past_due\":%" PRId64,
               cdr_pay_date_format(pa->pa_oldest_due, d, sizeof d), pa->pa_days_past_due);
    else
        printf(",\"oldest_due\":null,\"days_past_due\":null");
    if (detail) {
        printf(",\"detail\":{\"invoices\":[");
        for (size_t i = pa->pa_inv_from; i < pa->pa_inv_to; i++) {
            const cdr_pay_invoice *pi = &ps->ps_invoices[i];
            printf("%s{\"invoice\":", i > pa->pa_inv_from ? "," : "");
            cli_json_str(stdout, pi->pi_invoice);
            printf(",\"cycle\":\"%s\",\"issued\":\"%s\"", ps->ps_cycles[pi->pi_cycle],
                   cdr_pay_date_format(pi->pi_issued, d, sizeof d));
            printf(",\"due\":\"%s\",", cdr_pay_date_format(pi->pi_due, d, sizeof d));
            json_money("total", pi->pi_total);
            printf(",\"counted\":%s", pi->pi_counted ? "true" : "false");
            if (pi->pi_counted) {
                printf(",");
                json_money("paid", pi->pi_paid);
                printf(",");
                json_money("open", pi->pi_open);
                printf(",\"days_past_due\":%" PRId64 ",\"bucket\":\"%s\"", pi->pi_days_past_due,
                       cdr_pay_bucket_name(pi->pi_bucket));
            }
            printf("}");
        }
        printf("],\"payments\":[");
        for (size_t j = pa->pa_pay_from; j < pa->pa_pay_to; j++) {
            const cdr_payment *pm = &ps->ps_payments[j];
            printf("%s{\"id\":", j > pa->pa_pay_from ? "," : "");
            cli_json_str(stdout, pm->pm_id);
            printf(",\"date\":\"%s\",\"method\":\"%s\",",
                   cdr_pay_date_format(pm->pm_date, d, sizeof d),
                   cdr_pay_method_name(pm->pm_method));
            json_money("amount", pm->pm_amount);
            printf(",\"counted\":%s,", pm->pm_date <= ps->ps_as_of ? "true" : "false");
            json_money("applied", ps->ps_applied[j]);
            printf(",\"reference\":");
            cli_json_str(stdout, pm->pm_reference);
            printf("}");
        }
        printf("]}");
    }
    printf("}");
}

/* "dunning":[...]: the accounts with an amount unpaid past its due date. */
static void json_dunning(const cdr_pay_status *ps)
{
    char d[16];
    printf("\"dunning\":[");
    int first = 1;
    for (size_t a = 0; a < ps->ps_naccounts; a++) {
        const cdr_pay_account *pa = &ps->ps_accounts[a];
        if (!pa->pa_overdue_invoices)
            continue;
        printf("%s{\"account\":%" PRIu64 ",\"currency\":\"%s\",\"credit_class\":", first ? "" : ",",
               pa->pa_account, pa->pa_currency);
        json_class(pa->pa_credit_class);
        printf(",");
        json_money("overdue", pa->pa_overdue);
        printf(",\"invoices\":%" PRIu32 ",\"oldest_due\":\"%s\",\"days_past_due\":%" PRId64 "}",
               pa->pa_overdue_invoices, cdr_pay_date_format(pa->pa_oldest_due, d, sizeof d),
               pa->pa_days_past_due);
        first = 0;
    }
    printf("]");
}

static void print_json(const cdr_pay_status *ps, const char *bills, int detail)
{
    char d[16];
    printf("{\"as_of\":\"%s\",\"bills\":", cdr_pay_date_format(ps->ps_as_of, d, sizeof d));
    cli_json_str(stdout, bills);
    printf(",\"cycles\":[");
    for (size_t c = 0; c < ps->ps_ncycles; c++)
        printf("%s\"%s\"", c ? "," : "", ps->ps_cycles[c]);
    printf("],\"invoices\":%zu,\"payments\":%zu,\"later_invoices\":%" PRIu64
           ",\"later_payments\":%" PRIu64 ",\"accounts\":[",
           ps->ps_ninvoices, ps->ps_npayments, ps->ps_later_invoices, ps->ps_later_payments);
    for (size_t a = 0; a < ps->ps_naccounts; a++) {
        printf("%s", a ? "," : "");
        json_account(ps, &ps->ps_accounts[a], detail);
    }
    printf("],\"totals\":{");
    for (size_t t = 0; t < ps->ps_ntotals; t++) {
        const cdr_pay_total *pt = &ps->ps_totals[t];
        printf("%s\"%s\":{\"accounts\":%" PRIu64 ",\"dunning\":%" PRIu64 ",\"invoices\":%" PRIu64
               ",\"payments\":%" PRIu64 ",",
               t ? "," : "", pt->pt_currency, pt->pt_accounts, pt->pt_dunning, pt->pt_invoices,
               pt->pt_payments);
        json_money("invoiced", pt->pt_invoiced);
        printf(",");
        json_money("paid", pt->pt_paid);
        printf(",");
        json_money("balance", pt->pt_balance);
        printf(",");
        json_money("credit", pt->pt_credit);
        printf(",");
        json_money("open", pt->pt_open);
        printf(",");
        json_aging(pt->pt_aging);
        printf(",");
        json_money("overdue", pt->pt_overdue);
        printf("}");
    }
    printf("},");
    json_dunning(ps);
    printf("}\n");
}

#define ROW_FMT "%-20s %-3s %12s %12s %12s %12s %12s %12s %12s %12s %12s\n"

static void text_row(const char *who, const char *cur, const cdr_money *v, const cdr_money *aging)
{
    char m[9][40];
    for (int k = 0; k < 4; k++)
        cli_money(v[k], m[k], sizeof m[k]);
    for (int b = 0; b < CDR_AGE_COUNT; b++)
        cli_money(aging[b], m[4 + b], sizeof m[4 + b]);
    printf(ROW_FMT, who, cur, m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]);
}

static void text_detail(const cdr_pay_status *ps, const cdr_pay_account *pa)
{
    char d1[16], d2[16], m1[40], m2[40], m3[40];
    for (size_t i = pa->pa_inv_from; i < pa->pa_inv_to; i++) {
        const cdr_pay_invoice *pi = &ps->ps_invoices[i];
        printf("    invoice %s  issued %s  due %s  total %s", pi->pi_invoice,
               cdr_pay_date_format(pi->pi_issued, d1, sizeof d1),
               cdr_pay_date_format(pi->pi_due, d2, sizeof d2),
               cli_money(pi->pi_total, m1, sizeof m1));
        if (!pi->pi_counted)
            printf("  (issued after the as-of date: not counted)\n");
        else if (!pi->pi_open)
            printf("  paid %s\n", cli_money(pi->pi_paid, m2, sizeof m2));
        else
            printf("  paid %s  open %s  %" PRId64 " day(s) past due (%s)\n",
                   cli_money(pi->pi_paid, m2, sizeof m2), cli_money(pi->pi_open, m3, sizeof m3),
                   pi->pi_days_past_due, cdr_pay_bucket_name(pi->pi_bucket));
    }
    for (size_t j = pa->pa_pay_from; j < pa->pa_pay_to; j++) {
        const cdr_payment *pm = &ps->ps_payments[j];
        printf("    payment %s  %s  %s  %s", pm->pm_id, cdr_pay_date_format(pm->pm_date, d1, 16),
               cdr_pay_method_name(pm->pm_method), cli_money(pm->pm_amount, m1, sizeof m1));
        if (pm->pm_date > ps->ps_as_of)
            printf("  (after the as-of date: not counted)");
        else
            printf("  applied %s", cli_money(ps->ps_applied[j], m2, sizeof m2));
        if (pm->pm_reference[0])
            printf("  \"%s\"", pm->pm_reference);
        printf("\n");
    }
}

/* The dunning list as text: a head line, then one line per account and currency. */
static void text_dunning(const cdr_pay_status *ps)
{
    char d[16], m[40];
    uint64_t n = 0;
    for (size_t a = 0; a < ps->ps_naccounts; a++)
        n += ps->ps_accounts[a].pa_overdue_invoices > 0;
    printf("dunning list (unpaid past the due date): %" PRIu64 " account(s)\n", n);
    for (size_t a = 0; a < ps->ps_naccounts; a++) {
        const cdr_pay_account *pa = &ps->ps_accounts[a];
        if (!pa->pa_overdue_invoices)
            continue;
        printf("  account %" PRIu64 " %s: %s overdue on %" PRIu32 " invoice(s), oldest due %s "
               "(%" PRId64 " day(s) past due), credit class %s\n",
               pa->pa_account, pa->pa_currency, cli_money(pa->pa_overdue, m, sizeof m),
               pa->pa_overdue_invoices, cdr_pay_date_format(pa->pa_oldest_due, d, sizeof d),
               pa->pa_days_past_due, pa->pa_credit_class[0] ? pa->pa_credit_class : "-");
    }
}

static void print_text(const cdr_pay_status *ps, int detail)
{
    char d[16];
    printf("as of %s: %zu cycle(s), %zu invoice(s), %zu payment(s)",
           cdr_pay_date_format(ps->ps_as_of, d, sizeof d), ps->ps_ncycles, ps->ps_ninvoices,
           ps->ps_npayments);
    if (ps->ps_later_invoices || ps->ps_later_payments)
        printf("; not counted, dated after it: %" PRIu64 " invoice(s), %" PRIu64 " payment(s)",
               ps->ps_later_invoices, ps->ps_later_payments);
    printf("\n\n" ROW_FMT, "account", "cur", "invoiced", "paid", "balance", "credit", "current",
           "0-30", "31-60", "61-90", "90+");
    for (size_t a = 0; a < ps->ps_naccounts; a++) {
        const cdr_pay_account *pa = &ps->ps_accounts[a];
        char who[24];
        snprintf(who, sizeof who, "%" PRIu64, pa->pa_account);
        const cdr_money v[4] = {pa->pa_invoiced, pa->pa_paid, pa->pa_balance, pa->pa_credit};
        text_row(who, pa->pa_currency, v, pa->pa_aging);
        if (detail)
            text_detail(ps, pa);
    }
    for (size_t t = 0; t < ps->ps_ntotals; t++) {
        const cdr_pay_total *pt = &ps->ps_totals[t];
        char who[40];
        snprintf(who, sizeof who, "total (%" PRIu64 ")", pt->pt_accounts);
        const cdr_money v[4] = {pt->pt_invoiced, pt->pt_paid, pt->pt_balance, pt->pt_credit};
        text_row(who, pt->pt_currency, v, pt->pt_aging);
    }
    printf("\n");
    text_dunning(ps);
}

static int pay_status(const char *store, const char *bills, int64_t as_of, uint64_t account,
                      int json)
{
    cdr_store *st;
    int rc = cli_store_open("payments", store, CLI_STORE_READ, &st);
    if (rc)
        return rc;
    cdr_diag dg;
    cdr_pay_status *ps;
    rc = cdr_pay_status_run(st, bills, as_of, account, &ps, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report("payments", &dg);
        return pay_exit(&dg);
    }
    if (account && !ps->ps_naccounts) {
        cli_error("payments", CDR_NOTFOUND,
                  "account %" PRIu64 " is in no invoice under %s and no payment in %s", account,
                  bills, store);
        cdr_pay_status_free(ps);
        return CLI_EXIT_NOTFOUND;
    }
    if (json)
        print_json(ps, bills, account != 0);
    else
        print_text(ps, account != 0);
    cdr_pay_status_free(ps);
    if (cli_fclose(stdout) != 0) {
        cli_error("payments", CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* `payments dunning`: the status of every account as of a day (the same computation as
 * `payments status`), its dunning list recorded in the store for credit control. */
static int pay_dunning(const char *store, const char *bills, int64_t as_of, int quiet, int json)
{
    cdr_store *st;
    int rc = cli_store_open("payments", store, CLI_STORE_WRITE, &st);
    if (rc)
        return rc;
    cdr_diag dg;
    cdr_pay_status *ps;
    cdr_pay_overdue_diff pd;
    rc = cdr_pay_status_run(st, bills, as_of, 0, &ps, &dg);
    if (!rc && (rc = cdr_pay_overdue_store(st, ps, &pd, &dg)) != 0)
        cdr_pay_status_free(ps);
    cdr_store_close(st);
    if (rc) {
        cli_report("payments", &dg);
        if (!json)
            fprintf(stderr, "cdrate payments: the overdue set was not changed\n");
        return pay_exit(&dg);
    }
    char d[16], pd_s[16];
    cdr_pay_date_format(as_of, d, sizeof d);
    const int had_prev = pd.pd_prev_recorded;
    if (had_prev)
        cdr_pay_date_format(pd.pd_prev_as_of, pd_s, sizeof pd_s);
    if (json) {
        printf("{\"as_of\":\"%s\",\"store\":", d);
        cli_json_str(stdout, store);
        printf(",\"bills\":");
        cli_json_str(stdout, bills);
        printf(",\"recorded\":%" PRIu64 ",\"added\":%" PRIu64 ",\"dropped\":%" PRIu64
               ",\"previous_as_of\":",
               pd.pd_accounts, pd.pd_added, pd.pd_dropped);
        if (had_prev)
            printf("\"%s\",", pd_s);
        else
            printf("null,");
        json_dunning(ps);
        printf("}\n");
    } else {
        printf("as of %s: ", d);
        text_dunning(ps);
        if (!quiet) {
            fprintf(stderr,
                    "cdrate payments: recorded %" PRIu64 " overdue account(s) as of %s in %s: "
                    "%" PRIu64 " new, %" PRIu64 " dropped out",
                    pd.pd_accounts, d, store, pd.pd_added, pd.pd_dropped);
            if (had_prev)
                fprintf(stderr, " (previous set as of %s)\n", pd_s);
            else
                fprintf(stderr, " (no set recorded before)\n");
        }
    }
    cdr_pay_status_free(ps);
    if (cli_fclose(stdout) != 0) {
        cli_error("payments", CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cmd_payments(int argc, char **argv)
{
    const char *store = NULL, *bills = NULL, *as_of_s = NULL, *account_s = NULL;
    int quiet = 0, json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"bills", CLI_STRING, &bills, "DIR", "status, dunning: the --out folder of cdrate bill"},
        {"as-of", CLI_STRING, &as_of_s, "YYYY-MM-DD",
         "status, dunning: the day the arrears are aged at"},
        {"account", CLI_STRING, &account_s, "ID", "status: only this account (with detail)"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on stdout, errors as JSON on stderr"},
        {"quiet", CLI_FLAG, &quiet, NULL, "load, dunning: no summary on stderr"},
        {0},
    };
    const cli_spec cs = {
        "payments",
        "load FILE --store STORE [--json] [--quiet]\n"
        "status --store STORE --bills DIR --as-of YYYY-MM-DD [--account ID] [--json]\n"
        "dunning --store STORE --bills DIR --as-of YYYY-MM-DD [--json] [--quiet]",
        "load    check a payments file (CSV: " CDR_PAY_HEADER ")\n"
        "        and store its payments in one transaction; a payment id already stored with\n"
        "        the same content is skipped (duplicate), with another content the whole file\n"
        "        is refused (exit 4, nothing stored)\n"
        "status  apply the stored payments to the invoices published under DIR (oldest first,\n"
        "        per account and currency) as of a day: invoiced, paid, balance, credit, arrears\n"
        "        aging (current, 0-30, 31-60, 61-90, 90+ days past due) and the dunning list\n"
        "        (accounts with an invoice unpaid past its due date); an account in no invoice\n"
        "        and no payment exits 6\n"
        "dunning the dunning list of status (every account), recorded in the store in one\n"
        "        transaction in place of the previous one: the overdue accounts whose lines\n"
        "        the rating core warns, then suspends (docs/credit-control.md)\n"
        "docs/billing.md, \"Payments and arrears\"",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&cs, "missing verb (load, status or dunning)");
    const char *verb = argv[pos];
    if (!strcmp(verb, "load")) {
        if (pos + 2 != argc)
            return cli_usage_error(&cs, "load takes one FILE");
        if (!store)
            return cli_usage_error(&cs, "--store is required");
        if (bills || as_of_s || account_s)
            return cli_usage_error(&cs, "load takes no --bills, --as-of or --account");
        return pay_load(argv[pos + 1], store, quiet, json);
    }
    if (!strcmp(verb, "status") || !strcmp(verb, "dunning")) {
        const int dunning = verb[0] == 'd';
        if (pos + 1 != argc)
            return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos + 1]);
        if (!store || !bills || !as_of_s)
            return cli_usage_error(&cs, "--store, --bills and --as-of are required");
        int64_t as_of;
        if (cdr_pay_date_parse(as_of_s, &as_of) != 0)
            return cli_usage_error(&cs, "--as-of '%s' is not a real date YYYY-MM-DD", as_of_s);
        if (dunning && account_s)
            return cli_usage_error(&cs, "dunning takes no --account (it records every account)");
        uint64_t account = 0;
        if (account_s) {
            const size_t n = strlen(account_s);
            int ok = n > 0 && n <= 19;
            for (size_t i = 0; ok && i < n; i++)
                ok = account_s[i] >= '0' && account_s[i] <= '9';
            if (ok)
                account = strtoull(account_s, NULL, 10);
            if (!account)
                return cli_usage_error(&cs, "--account '%s' is not an account id", account_s);
        }
        if (dunning)
            return pay_dunning(store, bills, as_of, quiet, json);
        return pay_status(store, bills, as_of, account, json);
    }
    return cli_usage_error(&cs, "unknown verb '%s' (load, status or dunning)", verb);
}
