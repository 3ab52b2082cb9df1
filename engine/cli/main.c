/* main.c - the cdrate command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const cli_command commands[] = {
    {"plans", cmd_plans, "compile tariff plans into the store"},
    {"directory", cmd_directory, "load or show the customer directory"},
    {"cat", cmd_cat, "print CDR files (wire or CSV) as JSON lines"},
    {"decode", cmd_decode, "decode switch files (csv, Asterisk, FreeSWITCH, 3GPP); list rejects"},
    {"rate", cmd_rate, "rate CDR files offline"},
    {"gen", cmd_gen, "generate a synthetic directory, plans and CDRs"},
    {"bench", cmd_bench, "run a benchmark and print one JSON object"},
    {"collect", cmd_collect, "publish CDR files from a spool directory to Kafka"},
    {"rate-stream", cmd_rate_stream, "rate cdr.raw from Kafka, exactly once, into cdr.rated"},
    {"archive", cmd_archive, "write cdr.rated into the ledger, exactly once"},
    {"ledger", cmd_ledger, "read the ledger: records, one subscriber, totals"},
    {"suspense", cmd_suspense, "list or replay the records in cdr.suspense"},
    {"counters", cmd_counters, "print or reset bundle counters (store or changelog)"},
    {"pipeline", cmd_pipeline, "collect, rate and archive in one process on embedded Kafka"},
    {"project", cmd_project, "keep the live state of lines and accounts from cdr.rated"},
    {"query", cmd_query, "balance, usage, bill to date or owner of one line (live state)"},
    {"fraud", cmd_fraud, "check, compile or list fraud and abuse rules"},
    {"bill", cmd_bill, "bill a cycle: invoices per account and a report per currency"},
    {"rerate", cmd_rerate, "re-rate a cycle against the current plans: correction sets"},
    {"payments", cmd_payments, "load payments; balances, arrears aging and dunning list"},
    {"cycle", cmd_cycle, "close a billing cycle against new usage; list the closed cycles"},
    {"statement", cmd_statement, "statements of a member or an enterprise; export and verify"},
    {"serve", cmd_serve, "the web portal and JSON API for customers, managers and the IVR"},
    {"users", cmd_users, "the portal's users (roles, passwords) and API keys"},
    {"requests", cmd_requests, "enterprises' requests for standard changes: list, apply"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cdrate COMMAND [ARGS]   (cdrate COMMAND --help for details)\n"
               "       cdrate --version\n\ncommands:\n");
    for (const cli_command *c = commands; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "\nexit codes: 0 ok, 1 failure, 2 bad command line, 3 records rejected, 4 refused,\n"
               "5 unratable records (rate), 6 not found (query, payments, rerate, statement,\n"
               "users, requests), 7 not billed (statement); docs/operations.md\n");
}

int main(int argc, char **argv)
{
    umask(CLI_UMASK); /* private by default: docs/operations.md, "Private files" */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("cdrate %s\n", CLI_VERSION);
        return 0;
    }
    for (const cli_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "cdrate: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
