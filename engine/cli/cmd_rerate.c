/* cmd_rerate.c - `cdrate rerate --cycle YYYY-MM --ledger DIR --store STORE [--msisdn N |
 * --enterprise ID | --plan P] [--report DIR]`: re-rate a cycle's ledger records against the
 * current plans and write the changes as a correction set (cdr_rerate.h, docs/billing.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cdr_rerate.h"
#include "cli.h"

static void cycle_text(uint32_t c, char *buf, size_t n)
{
    snprintf(buf, n, "%04u-%02u", (unsigned)(c / 100), (unsigned)(c % 100));
}

int cmd_rerate(int argc, char **argv)
{
    const char *cycle_s = NULL, *ledger = NULL, *store = NULL, *msisdn = NULL, *plan = NULL,
               *report = NULL;
    uint64_t enterprise = 0, threads = 0;
    int quiet = 0, json = 0;
    cli_opt opts[] = {
        {"cycle", CLI_STRING, &cycle_s, "YYYY-MM", "the billing cycle to rerate (required)"},
        {"ledger", CLI_STRING, &ledger, "DIR", "the rated-CDR ledger (required)"},
        {"store", CLI_STRING, &store, "STORE", "the store with the plans, directory, counters"},
        {"msisdn", CLI_STRING, &msisdn, "N", "only this line's charging owner"},
        {"enterprise", CLI_COUNT, &enterprise, "ID", "only the owners of this enterprise's members",
         1, UINT64_MAX},
        {"plan", CLI_STRING, &plan, "P", "only the owners of the lines on plan P"},
        {"report", CLI_STRING, &report, "DIR",
         "write the differences report (records.csv, accounts.csv) into DIR"},
        {"threads", CLI_COUNT, &threads, "N", "rating threads (default: one per core, at most 8)",
         1, 64},
        {"json", CLI_FLAG, &json, NULL, "the summary as one JSON object on stdout"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no progress and no summary (errors only)"},
        {0},
    };
    const cli_spec cs = {
        "rerate",
        "--cycle YYYY-MM --ledger DIR --store STORE [--msisdn N | --enterprise ID |\n"
        "     --plan P] [--report DIR] [--threads N] [--json] [--quiet]",
        "Re-rate the cycle's ledger records of the selected charging owners (all without a\n"
        "selector) against the store's current plans and directory, in input order with fresh\n"
        "bundle counters. Every record whose charge changes gets a correction pair (the\n"
        "reversal of the old charge, the new charge) in a new correction set of the ledger;\n"
        "the owners' bundle counters of the cycle are replaced and the live state corrected.\n"
        "Run twice, the second run changes nothing; a killed run is finished by the next.\n"
        "A bill run of the cycle uses the corrected figures; on a closed cycle the set goes\n"
        "to the next open cycle's bill as adjustment lines. docs/billing.md, \"Rerating\"",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos < argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!cycle_s || !ledger || !store)
        return cli_usage_error(&cs, "--cycle, --ledger and --store are required");
    if ((msisdn != NULL) + (enterprise != 0) + (plan != NULL) > 1)
        return cli_usage_error(&cs, "at most one of --msisdn, --enterprise and --plan");
    cdr_rerate_config cfg = {.rc_cycle = cli_parse_cycle(cycle_s),
                             .rc_ledger = ledger,
                             .rc_msisdn = msisdn,
                             .rc_enterprise = enterprise,
                             .rc_plan = plan,
                             .rc_report = report,
                             .rc_threads = (unsigned)threads};
    if (!cfg.rc_cycle)
        return cli_usage_error(&cs, "--cycle '%s' is not YYYY-MM", cycle_s);
    cdr_store *st = NULL;
    int ec = cli_store_open("rerate", store, CLI_STORE_WRITE, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cli_progress pg;
    cli_progress_start(&pg, quiet || json, "rerate", "records");
    const cdr_progress pr = {cli_progress_cb, &pg};
    cfg.rc_progress = cli_progress_enabled(quiet || json) ? &pr : NULL;
    cdr_rerate_summary sum;
    cdr_diag dg;
    int rc = cdr_rerate_run(st, &cfg, &sum, &dg);
    cli_progress_end(&pg);
    cdr_store_close(st);
    if (rc) {
        cli_report("rerate", &dg);
        return rc == CDR_NOTFOUND                                        ? CLI_EXIT_NOTFOUND
               : rc == CDR_FORMAT || rc == CDR_LIMIT || rc == CDR_EXISTS ? CLI_EXIT_REFUSED
                                                                         : CLI_EXIT_FAIL;
    }
    char cyc[16], tgt[16], m1[40], m2[40], m3[40];
    cycle_text(sum.rs_cycle, cyc, sizeof cyc);
    cycle_text(sum.rs_target, tgt, sizeof tgt);
    if (json) {
        printf("{\"cycle\":\"%s\",\"set\":%" PRIu32 ",\"target\":", cyc, sum.rs_set);
        if (sum.rs_set)
            printf("\"%s\"", tgt);
        else
            printf("null");
        printf(",\"resumed\":%s,\"records\":%" PRIu64 ",\"rerated\":%" PRIu64 ",\"pairs\":%" PRIu64
               ",\"unratable\":%" PRIu64 ",\"counters\":%" PRIu64 ",\"lines\":%" PRIu64
               ",\"currencies\":{",
               sum.rs_resumed ? "true" : "false", sum.rs_records, sum.rs_rerated, sum.rs_pairs,
               sum.rs_unratable, sum.rs_counters, sum.rs_lines);
        for (int i = 0; i < sum.rs_ncurrencies; i++) {
            const cdr_rerate_money *m = &sum.rs_money[i];
            printf("%s\"%s\":{\"pairs\":%" PRIu64 ",\"old\":\"%s\",\"new\":\"%s\","
                   "\"difference\":\"%s\"}",
                   i ? "," : "", m->rm_currency, m->rm_pairs,
                   cdr_money_format(m->rm_old, 6, CDR_ROUND_HALF_UP, m1, sizeof m1),
                   cdr_money_format(m->rm_new, 6, CDR_ROUND_HALF_UP, m2, sizeof m2),
                   cdr_money_format(m->rm_new - m->rm_old, 6, CDR_ROUND_HALF_UP, m3, sizeof m3));
        }
        printf("}}\n");
    } else if (!quiet) {
        printf("cycle %s: %" PRIu64 " records read, %" PRIu64 " re-rated, %" PRIu64 " changed\n",
               cyc, sum.rs_records, sum.rs_rerated, sum.rs_pairs);
        if (sum.rs_set)
            printf("  correction set %" PRIu32 "%s, billed with cycle %s%s\n", sum.rs_set,
                   sum.rs_resumed ? " (finished an interrupted run)" : "", tgt,
                   sum.rs_target != sum.rs_cycle ? " as adjustment lines (the cycle is closed)"
                                                 : "");
        else
            printf("  nothing to correct: no correction set\n");
        for (int i = 0; i < sum.rs_ncurrencies; i++) {
            const cdr_rerate_money *m = &sum.rs_money[i];
            printf("  %s  %" PRIu64 " records  old %s  new %s  difference %s\n", m->rm_currency,
                   m->rm_pairs, cdr_money_format(m->rm_old, 6, CDR_ROUND_HALF_UP, m1, sizeof m1),
                   cdr_money_format(m->rm_new, 6, CDR_ROUND_HALF_UP, m2, sizeof m2),
                   cdr_money_format(m->rm_new - m->rm_old, 6, CDR_ROUND_HALF_UP, m3, sizeof m3));
        }
        if (sum.rs_unratable)
            printf("  %" PRIu64 " records the current plans cannot rate: kept as billed\n",
                   sum.rs_unratable);
        printf("  %" PRIu64 " bundle counters rewritten, live state of %" PRIu64
               " lines corrected\n",
               sum.rs_counters, sum.rs_lines);
    }
    if (cli_fclose(stdout) != 0) {
        cli_error("rerate", CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
