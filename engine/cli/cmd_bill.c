/* cmd_bill.c - `cdrate bill --cycle YYYY-MM --ledger DIR --store STORE --out DIR`: the month-end
 * bill run (cdr_bill.h, docs/billing.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cdr_bill.h"
#include "cli.h"

int cmd_bill(int argc, char **argv)
{
    const char *cycle_s = NULL, *ledger = NULL, *store = NULL, *out = NULL, *tax = NULL,
               *adjust = NULL;
    int quiet = 0, json = 0, close_it = 0;
    uint64_t threads = 0;
    cli_opt opts[] = {
        {"cycle", CLI_STRING, &cycle_s, "YYYY-MM", "the billing cycle (required)"},
        {"ledger", CLI_STRING, &ledger, "DIR", "the rated-CDR ledger (required)"},
        {"store", CLI_STRING, &store, "STORE", "the store with the plans and the directory"},
        {"out", CLI_STRING, &out, "DIR", "where the cycle's folder YYYY-MM is published"},
        {"tax", CLI_STRING, &tax, "FILE", "tax rates per charge class (default: built in)"},
        {"adjustments", CLI_STRING, &adjust, "FILE",
         "one-off charges and credits of the cycle (CSV, docs/billing.md)"},
        {"threads", CLI_COUNT, &threads, "N",
         "threads reading the ledger (default: one per core, at most 8)", 1, 64},
        {"close", CLI_FLAG, &close_it, NULL,
         "once published, close the cycle: late usage goes to the next cycle (final)"},
        {"json", CLI_FLAG, &json, NULL, "the summary as one JSON object on stdout"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no progress and no summary (errors only)"},
        {0},
    };
    const cli_spec cs = {
        "bill",
        "--cycle YYYY-MM --ledger DIR --store STORE --out DIR [--tax FILE]\n"
        "     [--adjustments FILE] [--threads N] [--close] [--json] [--quiet]",
        "Bill one cycle: the cycle's rated records in the ledger, the directory and plans of the\n"
        "store give one invoice per account (monthly fees prorated by active days, usage per\n"
        "charge class, enterprise discounts, the enterprise/member split of the payment rules,\n"
        "tax per invoice line) and a report per currency. The output (invoices.jsonl,\n"
        "invoices.csv, invoice_lines.csv, subscribers.jsonl, report.json) is published in\n"
        "OUT/YYYY-MM all at once; a re-run gives byte-identical files and replaces it.\n"
        "Without --close the run is a trial that can be redone; --close then closes the cycle\n"
        "(cdrate cycle close): later usage of it is billed in the next open cycle.\n"
        "docs/billing.md",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos < argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!cycle_s || !ledger || !store || !out)
        return cli_usage_error(&cs, "--cycle, --ledger, --store and --out are required");
    cdr_bill_config cfg = {.bc_cycle = cli_parse_cycle(cycle_s),
                           .bc_ledger = ledger,
                           .bc_out = out,
                           .bc_threads = (unsigned)threads};
    if (!cfg.bc_cycle)
        return cli_usage_error(&cs, "--cycle '%s' is not YYYY-MM", cycle_s);
    if (close_it && cli_cycle_check_closable("bill", cfg.bc_cycle) != CLI_EXIT_OK)
        return CLI_EXIT_REFUSED; /* before anything is written */
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (tax) {
        if (cdr_tax_load(tax, &cfg.bc_tax, &dg) != 0) {
            cli_report("bill", &dg);
            return dg.dg_code == CDR_EIO ? CLI_EXIT_FAIL : CLI_EXIT_REFUSED;
        }
    } else {
        cdr_tax_defaults(&cfg.bc_tax);
    }
    cdr_adjustments *aj = NULL;
    if (adjust && cdr_adjustments_load(adjust, &aj, &dg) != 0) {
        cli_report("bill", &dg);
        return dg.dg_code == CDR_FORMAT ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    }
    cfg.bc_adjustments = aj;
    cdr_store *st = NULL;
    int ec = cli_store_open("bill", store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK) {
        cdr_adjustments_free(aj);
        return ec;
    }
    cli_progress pg;
    cli_progress_start(&pg, quiet || json, "bill", "records");
    const cdr_progress pr = {cli_progress_cb, &pg};
    cfg.bc_progress = cli_progress_enabled(quiet || json) ? &pr : NULL;
    cdr_bill_summary sum;
    int rc = cdr_bill_run(st, &cfg, &sum, &dg);
    cli_progress_end(&pg);
    cdr_store_close(st);
    cdr_adjustments_free(aj);
    if (rc) {
        cli_report("bill", &dg);
        if (!json)
            fprintf(stderr, "cdrate bill: nothing published\n");
        return rc == CDR_FORMAT || rc == CDR_NOTFOUND || rc == CDR_LIMIT ? CLI_EXIT_REFUSED
                                                                         : CLI_EXIT_FAIL;
    }
    if (close_it) { /* published: now the cycle takes no more usage */
        const int cec = cli_cycle_close("bill", store, cfg.bc_cycle, 0, quiet || json);
        if (cec != CLI_EXIT_OK) {
            if (!json)
                fprintf(stderr,
                        "cdrate bill: published in %s, but the cycle is not closed: "
                        "close it with cdrate cycle close\n",
                        sum.bs_dir);
            return cec;
        }
    }
    char m1[40], m2[40], m3[40];
    if (json) {
        printf("{\"cycle\":\"%s\",\"out\":", cycle_s);
        cli_json_str(stdout, sum.bs_dir);
        printf(",\"closed\":%s", close_it ? "true" : "false");
        printf(",\"records\":%" PRIu64 ",\"unbilled_records\":%" PRIu64 ",\"subscribers\":%" PRIu64
               ",\"invoices\":%" PRIu64 ",\"currencies\":{",
               sum.bs_records, sum.bs_unbilled, sum.bs_subscribers, sum.bs_invoices);
        for (int i = 0; i < sum.bs_ncurrencies; i++) {
            const cdr_bill_money *m = &sum.bs_currency[i];
            printf("%s\"%s\":{\"invoices\":%" PRIu64 ",\"amount\":\"%s\",\"tax\":\"%s\","
                   "\"total\":\"%s\"}",
                   i ? "," : "", m->bm_currency[0] ? m->bm_currency : "???", m->bm_invoices,
                   cli_money(m->bm_amount, m1, sizeof m1), cli_money(m->bm_tax, m2, sizeof m2),
                   cli_money(m->bm_total, m3, sizeof m3));
        }
        printf("}}\n");
    } else if (!quiet) {
        printf("cycle %s: %" PRIu64 " records, %" PRIu64 " lines, %" PRIu64
               " invoices, published in %s\n",
               cycle_s, sum.bs_records, sum.bs_subscribers, sum.bs_invoices, sum.bs_dir);
        for (int i = 0; i < sum.bs_ncurrencies; i++) {
            const cdr_bill_money *m = &sum.bs_currency[i];
            printf("  %s  %" PRIu64 " invoices  amount %s  tax %s  total %s\n", m->bm_currency,
                   m->bm_invoices, cli_money(m->bm_amount, m1, sizeof m1),
                   cli_money(m->bm_tax, m2, sizeof m2), cli_money(m->bm_total, m3, sizeof m3));
        }
        if (sum.bs_unbilled)
            printf("  %" PRIu64 " records of lines not in the directory: see report.json "
                   "\"unbilled\"\n",
                   sum.bs_unbilled);
    }
    if (cli_fclose(stdout) != 0) {
        cli_error("bill", CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
