/* cmd_query.c - `cdrate query balance|usage|bill-to-date|owner --msisdn N`: the hotline's and the
 * IVR's questions about one line, answered from the live state (cdr_live.h, docs/live-state.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_dir.h"
#include "cdr_live.h"
#include "cdr_live_json.h"
#include "cdr_payments.h"
#include "cdr_redis.h"
#include "cdr_store.h"
#include "cli.h"

static const char *const verbs[] = {"balance", "usage", "bill-to-date", "owner", "export", NULL};
enum { Q_BALANCE, Q_USAGE, Q_BILL, Q_OWNER, Q_EXPORT };

static const char about[] =
    "Answer one question about the line with MSISDN N from the store's live state (what\n"
    "`cdrate rate` rated into it; docs/live-state.md) and its directory:\n"
    "  balance       the line's account: credit limit, unbilled charges of the cycle per "
    "currency,\n"
    "                available credit (limit minus unbilled, in the account's currency)\n"
    "  usage         records and units per service (in bundle, overflow, free) and every bundle\n"
    "                or pool of the line's plan: used, included, left\n"
    "  bill-to-date  the line's charges so far in the cycle per currency and service, and the\n"
    "                plan's monthly fee (prorated at the bill run)\n"
    "  owner         the six-account view: customer, account, enterprise with its four\n"
    "                managers (account, billing, service, technical), product, payment rules,\n"
    "                credit class, status, roaming without deposit\n"
    "  export        (no --msisdn) the whole state of the cycle (--cycle, else every cycle) as\n"
    "                JSON lines: every line, then every account, in id order\n"
    "With --redis the state comes from Redis (kept by cdrate project --redis), the directory\n"
    "and plans still from STORE.\n"
    "The cycle is --cycle, else the latest cycle with state for the line. Text by default, one\n"
    "JSON object with --json. Exit status: 0 answered, 1 the store could not be read, 2 bad\n"
    "command line, 4 no store (or no directory) at STORE, 6 the MSISDN is not in the directory.";

static void cycle_text(uint32_t c, char *buf, size_t n)
{
    snprintf(buf, n, "%04u-%02u", (unsigned)(c / 100), (unsigned)(c % 100));
}

static void head_text(const cdr_live_view *v)
{
    char c[16];
    cycle_text(v->lv_cycle, c, sizeof c);
    printf("msisdn %s  subscriber %" PRIu64 "  account %" PRIu64 "  plan %s  %s  cycle %s\n",
           v->lv_sub->sb_msisdn, v->lv_sub->sb_id, v->lv_sub->sb_account, v->lv_sub->sb_plan,
           cdr_dir_status_name(v->lv_sub->sb_status), c);
    if (v->lv_has_line && v->lv_line.ll_status != CDR_LINE_ACTIVE)
        cli_credit_status_text(&v->lv_line);
}

/* The account's arrears from the recorded dunning list (cdrate payments dunning): JSON "arrears"
 * (null when no list was recorded), text one line per overdue currency (none without a list). */
static void arrears_out(const cdr_pay_overdue_set *od)
{
    char d1[16], d2[16], m[32];
    if (!od || !od->os_recorded)
        return;
    cdr_pay_date_format(od->os_as_of, d2, sizeof d2);
    if (!od->os_n)
        printf("arrears          none (dunning list as of %s)\n", d2);
    for (size_t i = 0; i < od->os_n; i++) {
        const cdr_pay_overdue *po = &od->os_items[i];
        printf("arrears          %s %s overdue on %" PRIu32
               " invoice(s), oldest due %s (dunning list as of %s)\n",
               po->po_currency, cli_money(po->po_amount, m, sizeof m), po->po_invoices,
               cdr_pay_date_format(po->po_oldest_due, d1, sizeof d1), d2);
    }
}

static void balance(const cdr_live_view *v, const cdr_pay_overdue_set *od, int json)
{
    char m1[32], m2[32];
    const char *cur = cdr_live_account_currency(v);
    const cdr_dir_credit_class *cc = v->lv_credit;
    const cdr_live_money *mine = cur ? cdr_live_account_money(v, cur) : NULL;
    cdr_money unbilled = mine ? mine->lm_total : 0;
    if (json) {
        cdr_live_json_balance(stdout, v, od);
        return;
    }
    head_text(v);
    if (cc)
        printf("credit class     %s: limit %s%s%s, payment term %" PRIu32 " days%s\n", cc->cc_id,
               cur ? cur : "", cur ? " " : "", cli_money(cc->cc_limit, m1, sizeof m1),
               cc->cc_term_days, cc->cc_roaming_no_deposit ? ", roaming without deposit" : "");
    else
        printf("credit class     none\n");
    if (!v->lv_has_account || v->lv_acct.la_ncur == 0)
        printf("unbilled         none (nothing rated on account %" PRIu64 " in the cycle)\n",
               v->lv_sub->sb_account);
    for (uint32_t i = 0; v->lv_has_account && i < v->lv_acct.la_ncur; i++)
        printf("unbilled         %.3s %s (%" PRIu64 " records)\n",
               v->lv_acct.la_money[i].lm_currency,
               cli_money(v->lv_acct.la_money[i].lm_total, m1, sizeof m1),
               v->lv_acct.la_money[i].lm_records);
    if (cc && cur)
        printf("available credit %s %s%s\n", cur, cli_money(cc->cc_limit - unbilled, m2, sizeof m2),
               cc->cc_limit - unbilled < 0 ? " (over the limit)" : "");
    arrears_out(od);
}

static void usage_out(const cdr_live_view *v, int json)
{
    const cdr_live_line *l = &v->lv_line;
    char q1[32], q2[32], q3[32];
    if (json) {
        cdr_live_json_usage(stdout, v);
        return;
    }
    head_text(v);
    if (!v->lv_has_line)
        printf("no usage rated in the cycle\n");
    for (int s = 0; v->lv_has_line && s < CDR_SVC_COUNT; s++) {
        if (!l->ll_records[s])
            continue;
        printf("%-6s %8" PRIu64 " records  %s in bundle, %s overflow, %s free\n",
               cdr_service_name(s), l->ll_records[s],
               cdr_dir_format_qty(s, l->ll_bundle_units[s], q1, sizeof q1),
               cdr_dir_format_qty(s, l->ll_overflow_units[s], q2, sizeof q2),
               cdr_dir_format_qty(s, l->ll_free_units[s], q3, sizeof q3));
    }
    if (v->lv_has_line && l->ll_roaming_records)
        printf("roaming %" PRIu64 " records\n", l->ll_roaming_records);
    if (v->lv_nbundles == 0)
        printf("bundles: none%s\n",
               v->lv_plan_currency[0] ? "" : " (the plan is not in the store)");
    for (int b = 0; b < v->lv_nbundles; b++) {
        const cdr_live_bundle *lb = &v->lv_bundles[b];
        int s = lb->lb_service;
        uint64_t left = lb->lb_included > lb->lb_used ? lb->lb_included - lb->lb_used : 0;
        unsigned pct = lb->lb_included
                           ? (unsigned)((lb->lb_used * 100 + lb->lb_included / 2) / lb->lb_included)
                           : 0;
        printf("bundle %-14s %-5s %s used of %s (%u%%), %s left%s\n", lb->lb_name,
               cdr_service_name(s), cdr_dir_format_qty(s, lb->lb_used, q1, sizeof q1),
               cdr_dir_format_qty(s, lb->lb_included, q2, sizeof q2), pct,
               cdr_dir_format_qty(s, left, q3, sizeof q3), lb->lb_pool ? " (enterprise pool)" : "");
        if (lb->lb_pool)
            printf("  this member drew %s%s%s\n",
                   cdr_dir_format_qty(s, lb->lb_member_used, q1, sizeof q1),
                   lb->lb_member_cap ? " of its cap of " : "",
                   lb->lb_member_cap ? cdr_dir_format_qty(s, lb->lb_member_cap, q2, sizeof q2)
                                     : "");
    }
}

static void bill_out(const cdr_live_view *v, const cdr_plan_set *ps, int json)
{
    const cdr_live_line *l = &v->lv_line;
    char m[32];
    int fam = ps ? cdr_plan_set_family(ps, v->lv_sub->sb_plan) : -1;
    const cdr_plan *pl =
        fam >= 0 ? cdr_plan_set_at(ps, fam, v->lv_has_line ? l->ll_last_event : 0) : NULL;
    if (fam >= 0 && !pl) /* before the plan's first version: its first version's fee */
        pl = cdr_plan_set_at(ps, fam, INT64_MAX);
    if (json) {
        cdr_live_json_bill(stdout, v, ps);
        return;
    }
    head_text(v);
    if (!v->lv_has_line || l->ll_ncur == 0)
        printf("usage charges    none in the cycle\n");
    for (uint32_t i = 0; v->lv_has_line && i < l->ll_ncur; i++) {
        const cdr_live_money *lm = &l->ll_money[i];
        printf("usage charges    %.3s %s (%" PRIu64 " records)\n", lm->lm_currency,
               cli_money(lm->lm_total, m, sizeof m), lm->lm_records);
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            if (lm->lm_charge[s] || l->ll_records[s])
                printf("  %-14s %.3s %s\n", cdr_service_name(s), lm->lm_currency,
                       cli_money(lm->lm_charge[s], m, sizeof m));
    }
    if (pl)
        printf("monthly fee      %.3s %s (plan %s; prorated by active days at the bill run)\n",
               pl->pl_currency, cli_money(pl->pl_monthly_fee, m, sizeof m), pl->pl_id);
    else
        printf("monthly fee      unknown (plan %s is not in the store)\n", v->lv_sub->sb_plan);
}

static void money_json(const cdr_live_money *m, uint32_t n)
{
    char b[32];
    putchar('{');
    for (uint32_t i = 0; i < n; i++) {
        printf("%s\"%.3s\":{\"total\":\"%s\",\"records\":%" PRIu64 ",\"by_service\":{",
               i ? "," : "", m[i].lm_currency, cli_money(m[i].lm_total, b, sizeof b),
               m[i].lm_records);
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            printf("%s\"%s\":\"%s\"", s ? "," : "", cdr_service_name(s),
                   cli_money(m[i].lm_charge[s], b, sizeof b));
        printf("}}");
    }
    putchar('}');
}

static int export_line(void *arg, const cdr_live_line *l)
{
    (void)arg;
    char c[16];
    cycle_text(l->ll_cycle, c, sizeof c);
    printf("{\"line\":%" PRIu64 ",\"account\":%" PRIu64 ",\"cycle\":\"%s\",\"services\":{",
           l->ll_subscriber, l->ll_account, c);
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        printf("%s\"%s\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
               s ? "," : "", cdr_service_name(s), l->ll_records[s], l->ll_units[s],
               l->ll_bundle_units[s], l->ll_overflow_units[s], l->ll_free_units[s]);
    printf("},\"roaming_records\":%" PRIu64 ",\"last_event\":%" PRId64 ",\"charges\":",
           l->ll_roaming_records, (int64_t)l->ll_last_event);
    money_json(l->ll_money, l->ll_ncur);
    printf("}\n");
    return ferror(stdout) ? CDR_EIO : 0;
}

static int export_account(void *arg, const cdr_live_account *a)
{
    (void)arg;
    char c[16];
    cycle_text(a->la_cycle, c, sizeof c);
    printf("{\"account\":%" PRIu64 ",\"cycle\":\"%s\",\"lines\":%" PRIu64 ",\"unbilled\":",
           a->la_account, c, a->la_lines);
    money_json(a->la_money, a->la_ncur);
    printf("}\n");
    return ferror(stdout) ? CDR_EIO : 0;
}

int cmd_query(int argc, char **argv)
{
    const char *store = NULL, *msisdn = NULL, *cycle_s = NULL, *redis = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store"},
        {"msisdn", CLI_STRING, &msisdn, "N", "the line asked about (E.164 digits, no '+')"},
        {"cycle", CLI_STRING, &cycle_s, "YYYY-MM",
         "the billing cycle (default: the latest with state for the line)"},
        {"redis", CLI_STRING, &redis, "HOST:PORT",
         "answer from the live state in this Redis (cdrate project --redis); default: the store"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on stdout"},
        {0},
    };
    const cli_spec cs = {"query",
                         "balance|usage|bill-to-date|owner --msisdn N --store STORE "
                         "[--cycle YYYY-MM] [--redis HOST:PORT] [--json]\n"
                         "export --store STORE [--cycle YYYY-MM]",
                         about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&cs,
                               "missing question: balance, usage, bill-to-date, owner or export");
    int verb = -1;
    for (int i = 0; verbs[i]; i++)
        if (!strcmp(argv[pos], verbs[i]))
            verb = i;
    if (verb < 0)
        return cli_usage_error(
            &cs, "unknown question '%s' (balance, usage, bill-to-date, owner or export)",
            argv[pos]);
    if (pos + 1 != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos + 1]);
    if (!store)
        return cli_usage_error(&cs, "--store is required");
    if (verb == Q_EXPORT && msisdn)
        return cli_usage_error(&cs, "export takes no --msisdn: it writes every line");
    if (verb != Q_EXPORT && !msisdn)
        return cli_usage_error(&cs, "--msisdn is required");
    size_t n = msisdn ? strlen(msisdn) : 1;
    if (msisdn && (n < 1 || n > 15 || strspn(msisdn, "0123456789") != n))
        return cli_usage_error(&cs, "--msisdn must be 1 to 15 digits (E.164, no '+'), not '%s'",
                               msisdn);
    uint32_t cycle = 0;
    if (cycle_s && !(cycle = cli_parse_cycle(cycle_s)))
        return cli_usage_error(&cs, "--cycle must be YYYY-MM, not '%s'", cycle_s);
    if (verb == Q_OWNER && cycle_s)
        return cli_usage_error(&cs, "--cycle goes with balance, usage and bill-to-date");
    if ((verb == Q_OWNER || verb == Q_EXPORT) && redis)
        return cli_usage_error(&cs, "--redis goes with balance, usage and bill-to-date");

    cdr_store *st;
    int ec = cli_store_open("query", store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (verb == Q_EXPORT) {
        int rc = cdr_live_each(st, cycle, export_line, export_account, NULL, &dg);
        if (rc == CDR_EIO)
            cdr_diag_set(&dg, CDR_EIO, NULL, 0, 0, "write error on standard output");
        if (rc)
            cli_report("query", &dg);
        ec = rc ? (rc == CDR_VERSION ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL) : CLI_EXIT_OK;
        if (cli_fclose(stdout) != 0 && ec == CLI_EXIT_OK) {
            cli_error("query", CDR_EIO, "write error on standard output");
            ec = CLI_EXIT_FAIL;
        }
        cdr_store_close(st);
        return ec;
    }
    cdr_plan_set *ps = NULL;
    cdr_diag pdg;
    if (cdr_plan_set_load(st, &ps, &pdg) != 0)
        ps = NULL; /* answered without the plan: no bundles, no fee */
    cdr_live_view v;
    memset(&v, 0, sizeof v);
    int rc;
    cdr_redis *rd = NULL;
    if (redis && (rc = cdr_redis_open(redis, 2000, &rd, &dg)) != 0) {
        cli_report("query", &dg);
        cdr_plan_set_release(ps);
        cdr_store_close(st);
        return rc == CDR_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    if (verb == Q_OWNER) {
        /* the six-account view, with the line's credit status of the cycle from the live state */
        cdr_dir *dir = NULL;
        rc = cdr_live_query(st, rd, ps, msisdn, cycle, CDR_LIVE_Q_ALL, &v, &dg);
        if (!rc) {
            if (!(rc = cdr_dir_read_line(st, msisdn, &dir, &dg)))
                ec = cli_show_line("query", dir, ps, msisdn, v.lv_has_line ? &v.lv_line : NULL,
                                   v.lv_cycle, json);
            cdr_live_view_free(&v);
        }
        cdr_dir_free(dir);
    } else if ((rc = cdr_live_query(st, rd, ps, msisdn, cycle,
                                    verb == Q_BALANCE ? CDR_LIVE_Q_BALANCE : CDR_LIVE_Q_ALL, &v,
                                    &dg)) == 0) {
        if (verb == Q_BALANCE) {
            /* the account's arrears, if a dunning list was recorded (a point read) */
            cdr_pay_overdue_set *od = NULL;
            if ((rc = cdr_pay_overdue_account(st, v.lv_sub->sb_account, &od, &dg)) == 0)
                balance(&v, od, json);
            cdr_pay_overdue_free(od);
        } else if (verb == Q_USAGE)
            usage_out(&v, json);
        else
            bill_out(&v, ps, json);
        cdr_live_view_free(&v);
    }
    if (rc) {
        cli_report("query", &dg);
        /* an unknown number has its own code; no directory at all is the store's problem */
        ec = rc == CDR_NOTFOUND && strstr(dg.dg_msg, "is not in the directory") ? CLI_EXIT_NOTFOUND
             : rc == CDR_NOTFOUND || rc == CDR_VERSION                          ? CLI_EXIT_REFUSED
                                                                                : CLI_EXIT_FAIL;
    }
    if (cli_fclose(stdout) != 0 && ec == CLI_EXIT_OK) {
        cli_error("query", CDR_EIO, "write error on standard output");
        ec = CLI_EXIT_FAIL;
    }
    cdr_redis_close(rd);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    return ec;
}
