/* cmd_statement_export.c - `cdrate statement export` (every statement of a billed cycle, the
 * itemised lines as streaming .csv.zst, a manifest of SHA-256 checksums) and `cdrate statement
 * verify` (docs/statements.md "Export", "Verify"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_statement.h"
#include "cli.h"

static const char *const langs[] = {"en", "zh-CN", NULL};
static const char *const privacies[] = {"masked", "full", "hidden", NULL};

int cli_statement_export(int argc, char **argv)
{
    const char *store = NULL, *ledger = NULL, *bills = NULL, *out = NULL, *cycle_s = NULL;
    int lang = 0, privacy = 0, no_hint = 0, json = 0, quiet = 0;
    uint64_t level = 1;
    cli_opt opts[] = {
        {"cycle", CLI_STRING, &cycle_s, "YYYY-MM", "the billed cycle (required)"},
        {"bills", CLI_STRING, &bills, "DIR", "the bill run's output folder (`bill --out`)"},
        {"ledger", CLI_STRING, &ledger, "DIR", "the rated-CDR ledger"},
        {"store", CLI_STRING, &store, "STORE", "the store with the plans and the directory"},
        {"out", CLI_STRING, &out, "DIR", "the export folder; the cycle goes to DIR/YYYY-MM"},
        {"lang", CLI_CHOICE, &lang, "en|zh-CN", "the itemised files' header row", 0, 0, langs},
        {"privacy", CLI_CHOICE, &privacy, "masked|full|hidden",
         "the other party: 86138****5678 (default), in full, or not shown", 0, 0, privacies},
        {"no-hint", CLI_FLAG, &no_hint, NULL, "no cheaper-plan hints"},
        {"level", CLI_COUNT, &level, "N", "zstd level of the itemised files (default 1)", 1, 19},
        {"json", CLI_FLAG, &json, NULL, "the summary as one JSON object on stdout"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no progress, no summary"},
        {0},
    };
    const cli_spec cs = {
        "statement export",
        "--cycle YYYY-MM --bills DIR --ledger DIR --store STORE --out DIR [--lang en|zh-CN]\n"
        "          [--privacy masked|full|hidden] [--no-hint] [--level N] [--json] [--quiet]",
        "Every statement of a billed cycle: per enterprise its statement (JSON) and its\n"
        "members' itemised lines (streaming .csv.zst, bounded memory), per line its member\n"
        "statement, the figures `statement verify` checks, and manifest.csv with the size and\n"
        "SHA-256 of every file. Written into OUT/.YYYY-MM.partial and published as OUT/YYYY-MM\n"
        "at once; a killed run is started over by the next. Exit codes: 7 the cycle is not\n"
        "billed, 4 another export of the cycle is running, 1 an output that cannot be written.\n"
        "docs/statements.md",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos < argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!cycle_s || !bills || !ledger || !store || !out)
        return cli_usage_error(&cs, "--cycle, --bills, --ledger, --store and --out are required");
    const uint32_t cycle = cli_parse_cycle(cycle_s);
    if (!cycle)
        return cli_usage_error(&cs, "'%s' is not a cycle YYYY-MM (year from 1970, month 01..12)",
                               cycle_s);
    cdr_store *st = NULL;
    int ec = cli_store_open("statement export", store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cli_progress pg;
    cli_progress_start(&pg, quiet || json, "statement export", "lines");
    const cdr_progress prog = {cli_progress_cb, &pg};
    const cdr_stmt_export_config cfg = {.ec_cycle = cycle,
                                        .ec_bills = bills,
                                        .ec_ledger = ledger,
                                        .ec_out = out,
                                        .ec_lang = lang,
                                        .ec_privacy = privacy,
                                        .ec_hint = !no_hint,
                                        .ec_level = (int)level,
                                        .ec_progress = &prog};
    cdr_stmt_export_summary sum;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    const int rc = cdr_stmt_export(st, &cfg, &sum, &dg);
    cli_progress_end(&pg);
    cdr_store_close(st);
    if (rc) {
        cli_report("statement export", &dg);
        return rc == CDR_EXISTS ? CLI_EXIT_REFUSED : cli_statement_exit(rc);
    }
    if (json) {
        printf("{\"cycle\":\"%s\",\"dir\":", cycle_s);
        cli_json_str(stdout, sum.es_dir);
        printf(",\"enterprises\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"items\":%" PRIu64
               ",\"files\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n",
               sum.es_enterprises, sum.es_members, sum.es_items, sum.es_files, sum.es_bytes);
    } else if (!quiet) {
        fprintf(stderr,
                "cdrate statement export: cycle %s: %" PRIu64 " enterprise statements, %" PRIu64
                " member statements, %" PRIu64 " itemised lines in %" PRIu64 " files (%" PRIu64
                " bytes) -> %s\n",
                cycle_s, sum.es_enterprises, sum.es_members, sum.es_items, sum.es_files,
                sum.es_bytes, sum.es_dir);
    }
    if (cli_fclose(stdout) != 0) {
        cli_error("statement export", CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

typedef struct vprint {
    int vp_json;
    uint64_t vp_n;
} vprint;

static void print_diff(const char *d, void *ctx)
{
    vprint *vp = ctx;
    if (vp->vp_json) {
        printf("%s", vp->vp_n++ ? "," : "");
        cli_json_str(stdout, d);
    } else {
        printf("%s\n", d);
    }
}

int cli_statement_verify(int argc, char **argv)
{
    const char *bills = NULL;
    int json = 0, quiet = 0;
    cli_opt opts[] = {
        {"bills", CLI_STRING, &bills, "DIR",
         "the bill run's output to compare with (default: the folder the export recorded)"},
        {"json", CLI_FLAG, &json, NULL, "the result as one JSON object on stdout"},
        {"quiet", CLI_FLAG, &quiet, NULL, "print the differences only"},
        {0},
    };
    const cli_spec cs = {
        "statement verify", "DIR [--bills DIR] [--json] [--quiet]",
        "Check an exported cycle (DIR = OUT/YYYY-MM of `statement export`): every file's size\n"
        "and SHA-256 against the manifest and no file outside it; the itemised lines recounted\n"
        "and summed per line against the lines, the lines against the statements' totals, and\n"
        "both against the invoices of the bill run. Every difference is printed, one a line.\n"
        "Exit codes: 0 everything agrees, 1 differences (or an unreadable file), 4 not an\n"
        "export folder. docs/statements.md",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos + 1 != argc)
        return cli_usage_error(&cs, pos < argc ? "one folder only" : "missing the folder DIR");
    const char *dir = argv[pos];
    vprint vp = {json, 0};
    if (json)
        printf("{\"differences\":[");
    uint64_t ndiff = 0, nfiles = 0, nitems = 0;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    const int rc = cdr_stmt_verify(dir, bills, print_diff, &vp, &ndiff, &nfiles, &nitems, &dg);
    if (json)
        printf("],\"files\":%" PRIu64 ",\"items\":%" PRIu64 ",\"count\":%" PRIu64
               ",\"verified\":%s}\n",
               nfiles, nitems, ndiff, !rc && !ndiff ? "true" : "false");
    fflush(stdout);
    if (rc) {
        cli_report("statement verify", &dg);
        return rc == CDR_FORMAT ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    }
    if (!json && !quiet)
        fprintf(stderr,
                "cdrate statement verify: %s: %" PRIu64 " files, %" PRIu64
                " itemised lines: %s%" PRIu64 " difference%s\n",
                dir, nfiles, nitems, ndiff ? "" : "verified, ", ndiff, ndiff == 1 ? "" : "s");
    return ndiff ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
