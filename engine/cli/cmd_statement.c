/* cmd_statement.c - `cdrate statement`: the statement of one member line or one enterprise for a
 * billed cycle, as JSON, CSV or HTML (cdr_statement.h, docs/statements.md); `statement export`
 * and `statement verify` are in cmd_statement_export.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_statement.h"
#include "cli.h"

static const char *const formats[] = {"json", "csv", "html", NULL};
static const char *const langs[] = {"en", "zh-CN", NULL};
static const char *const privacies[] = {"masked", "full", "hidden", NULL};

/* The exit code of a statement error (docs/operations.md): unknown line or enterprise 6, not
 * billed 7, refused input 4, the rest 1. */
int cli_statement_exit(int rc)
{
    switch (rc) {
    case CDR_NOTFOUND:
        return CLI_EXIT_NOTFOUND;
    case CDR_NOTBILLED:
        return CLI_EXIT_NOTBILLED;
    case CDR_FORMAT:
    case CDR_VERSION:
    case CDR_LIMIT:
        return CLI_EXIT_REFUSED;
    default:
        return CLI_EXIT_FAIL;
    }
}

static int render(const cdr_statement *s, int format, int lang, const char *out, cdr_diag *dg)
{
    if (format == CDR_STMT_CSV)
        return cdr_stmt_render_csv(s, lang, out, dg);
    FILE *f = cli_fopen_out(out);
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, out, 0, 0, "cannot write: %s", strerror(errno));
    int rc = format == CDR_STMT_JSON ? cdr_stmt_render_json(s, lang, f, dg)
                                     : cdr_stmt_render_html(s, lang, f, dg);
    if (cli_fclose(f) != 0 && !rc)
        rc = cdr_diag_set(dg, CDR_EIO, out, 0, 0, "write error: %s", strerror(errno));
    return rc;
}

int cmd_statement(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "export"))
        return cli_statement_export(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "verify"))
        return cli_statement_verify(argc - 1, argv + 1);
    const char *store = NULL, *ledger = NULL, *bills = NULL, *out = NULL, *msisdn = NULL,
               *cycle_s = NULL;
    uint64_t enterprise = 0;
    int format = -1, lang = 0, privacy = 0, itemised = 0, no_hint = 0, json = 0, quiet = 0;
    cli_opt opts[] = {
        {"msisdn", CLI_STRING, &msisdn, "N", "the member statement of this line"},
        {"enterprise", CLI_COUNT, &enterprise, "ID", "or the enterprise statement", 1, UINT64_MAX},
        {"cycle", CLI_STRING, &cycle_s, "YYYY-MM", "the billed cycle (required)"},
        {"bills", CLI_STRING, &bills, "DIR", "the bill run's output folder (`bill --out`)"},
        {"ledger", CLI_STRING, &ledger, "DIR", "the rated-CDR ledger"},
        {"store", CLI_STRING, &store, "STORE", "the store with the plans and the directory"},
        {"format", CLI_CHOICE, &format, "json|csv|html", "the format (required)", 0, 0, formats},
        {"out", CLI_STRING, &out, "PATH",
         "the file (json, html; - for stdout) or folder (csv) to write (required)"},
        {"itemised", CLI_FLAG, &itemised, NULL, "with every call, message and session"},
        {"lang", CLI_CHOICE, &lang, "en|zh-CN", "labels in English (default) or Chinese", 0, 0,
         langs},
        {"privacy", CLI_CHOICE, &privacy, "masked|full|hidden",
         "the other party: 86138****5678 (default), in full, or not shown", 0, 0, privacies},
        {"no-hint", CLI_FLAG, &no_hint, NULL, "no cheaper-plan hint"},
        {"json", CLI_FLAG, &json, NULL, "errors as JSON on stderr"},
        {"quiet", CLI_FLAG, &quiet, NULL, "print errors only"},
        {0},
    };
    const cli_spec cs = {
        "statement",
        "(--msisdn N | --enterprise ID) --cycle YYYY-MM --bills DIR --ledger DIR --store STORE\n"
        "          --format json|csv|html --out PATH [--itemised] [--lang en|zh-CN]\n"
        "          [--privacy masked|full|hidden] [--no-hint]\n"
        "export --cycle YYYY-MM --bills DIR --ledger DIR --store STORE --out DIR [...]\n"
        "verify DIR [--bills DIR]",
        "The statement of a member line or of an enterprise for a billed cycle, from the bill\n"
        "run's invoices and the ledger's records: package use, overflow with a cheaper-plan\n"
        "hint, who pays what, and (--itemised) every record. `statement export --help` and\n"
        "`statement verify --help` for the others. Exit codes: 6 an unknown line or\n"
        "enterprise, 7 a cycle (or a line) not billed, 1 an output that cannot be written.\n"
        "docs/statements.md",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos < argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!msisdn == !enterprise)
        return cli_usage_error(&cs, "give one of --msisdn or --enterprise");
    if (!cycle_s || !bills || !ledger || !store || format < 0 || !out)
        return cli_usage_error(
            &cs, "--cycle, --bills, --ledger, --store, --format and --out are required");
    const uint32_t cycle = cli_parse_cycle(cycle_s);
    if (!cycle)
        return cli_usage_error(&cs, "'%s' is not a cycle YYYY-MM (year from 1970, month 01..12)",
                               cycle_s);
    if (format == CDR_STMT_CSV && !strcmp(out, "-"))
        return cli_usage_error(&cs, "--format csv writes a folder: --out must name one, not -");
    cdr_store *st = NULL;
    int ec = cli_store_open("statement", store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    const cdr_stmt_config cfg = {.sc_cycle = cycle,
                                 .sc_bills = bills,
                                 .sc_ledger = ledger,
                                 .sc_msisdn = msisdn,
                                 .sc_enterprise = enterprise,
                                 .sc_itemised = itemised,
                                 .sc_privacy = privacy,
                                 .sc_hint = !no_hint};
    cdr_statement *s = NULL;
    int rc = cdr_stmt_build(st, &cfg, &s, &dg);
    cdr_store_close(st);
    if (!rc)
        rc = render(s, format, lang, out, &dg);
    if (rc) {
        cli_report("statement", &dg);
        cdr_stmt_free(s);
        return cli_statement_exit(rc);
    }
    if (!quiet && strcmp(out, "-"))
        fprintf(stderr, "cdrate statement: %s statement of %s, cycle %s: %zu line%s%s, %s -> %s\n",
                s->st_kind == CDR_STMT_MEMBER ? "member" : "enterprise",
                msisdn ? msisdn : s->st_enterprise_name, cycle_s, s->st_nlines,
                s->st_nlines == 1 ? "" : "s", itemised ? " itemised" : "", formats[format], out);
    cdr_stmt_free(s);
    return CLI_EXIT_OK;
}
