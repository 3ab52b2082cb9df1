/* cmd_pipeline.c - `cdrate pipeline`: spool -> collect -> rate-stream -> archive on the embedded
 * Kafka cluster, in one process (cdr_pipeline.h, README.md "The demo"). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_coll.h"
#include "cdr_pipeline.h"
#include "cdr_store.h"
#include "cli.h"

static const char pipeline_about[] =
    "Run the streaming path in this process, on the embedded Kafka cluster (librdkafka's mock,\n"
    "3 brokers; its data ends with the process), stage after stage:\n"
    "  1. collect: each --input spool directory, as `cdrate collect --once` (de-duplication\n"
    "     store DIR/.store, files taken once unchanged for --settle seconds), cdr.raw keyed by\n"
    "     the charging owner of the store's directory;\n"
    "  2. rate: `cdrate rate-stream` on cdr.raw until it is idle (--idle-exit);\n"
    "  3. archive: `cdrate archive` of cdr.rated into the ledger until idle;\n"
    "  4. read cdr.rated back and the ledger's totals, and check that the figures add up;\n"
    "  5. commit: only now do the input files go to done/ (refused or unreadable ones went to\n"
    "     failed/) and their hashes and records into the de-duplication store.\n"
    "A run that fails leaves every input in its spool and the ledger empty again: a re-run\n"
    "starts over and gives the totals of an uninterrupted run.\n"
    "Prints one line per input file and per stage on stderr, then the summary on stdout:\n"
    "records in, rejected, duplicate, nonbillable, published, rated, suspense, archived and the\n"
    "charge total per currency. The embedded cluster keeps about 5 MB per partition: more input\n"
    "needs more --partitions. Exit status: 0 every stage ran and the figures add up; 3 the\n"
    "same, but input records were rejected or files refused or failed; 1 an error or figures\n"
    "that do not add up (the reason on stderr); 2 bad command line; 4 --store is no store.";

int cmd_pipeline(int argc, char **argv)
{
    const char *store = NULL, *ledger = NULL, *alerts = NULL;
    cli_list inputs = {0};
    uint64_t partitions = 32, threads = 1, dedup_days = 7, idle_ms = 1000, settle = 5, segment = 0;
    int json = 0, quiet = 0, verbose = 0;
    cli_opt opts[] = {
        {"input", CLI_LIST, &inputs, "FORMAT:DIR",
         "a spool directory and its format (csv, asterisk, freeswitch, 3gpp); repeatable"},
        {"store", CLI_STRING, &store, "DIR", "LMDB store with the compiled plans and a directory"},
        {"ledger", CLI_STRING, &ledger, "DIR", "ledger directory (new or empty)"},
        {"alerts", CLI_STRING, &alerts, "FILE",
         "the alerts of cdr.alerts, one JSON object a line (docs/credit-control.md)"},
        {"partitions", CLI_COUNT, &partitions, "N", "partitions per topic, default 32", 1, 1024},
        {"segment-bytes", CLI_COUNT, &segment, "N", "roll ledger segments at N bytes (default 64M)",
         4096, 1u << 30},
        {"threads", CLI_COUNT, &threads, "N", "rating threads, default 1", 1, 64},
        {"dedup-days", CLI_COUNT, &dedup_days, "N", "de-duplication window, days (7)", 1, 3650},
        {"idle-exit", CLI_COUNT, &idle_ms, "MS",
         "rating and archiving end after MS without records, default 1000", 1, 600000},
        {"settle", CLI_COUNT, &settle, "S",
         "take an input file once unchanged for S seconds, default 5 (0: at once)", 0, 86400},
        {"json", CLI_FLAG, &json, NULL, "the summary as one JSON object (alias --stats)"},
        {"stats", CLI_FLAG, &json, NULL, "the same as --json"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no per-file and per-stage lines"},
        {"verbose", CLI_FLAG, &verbose, NULL, "the rater's and the archiver's log lines too"},
        {0},
    };
    const cli_spec cs = {
        "pipeline",
        "--input FORMAT:DIR [--input FORMAT:DIR ...] --store DIR --ledger DIR\n"
        "[--partitions N] [--segment-bytes N] [--threads N] [--dedup-days N] [--idle-exit MS]\n"
        "[--settle S] [--json] [--quiet] [--verbose]",
        pipeline_about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0) {
        cli_spec_free(&cs);
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    int status = CLI_EXIT_USAGE;
    cdr_pipeline_input *in = NULL;
    if (pos != argc) {
        cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
        goto done;
    }
    if (!store || !ledger || inputs.li_n == 0) {
        cli_usage_error(&cs, "--input, --store and --ledger are required");
        goto done;
    }
    in = calloc((size_t)inputs.li_n, sizeof *in);
    if (!in) {
        cli_error("pipeline", CDR_ENOMEM, "out of memory");
        status = CLI_EXIT_FAIL;
        goto done;
    }
    for (int i = 0; i < inputs.li_n; i++) {
        const char *arg = inputs.li_items[i], *colon = strchr(arg, ':');
        int fmt = -1;
        char fname[16];
        if (colon && (size_t)(colon - arg) < sizeof fname) {
            memcpy(fname, arg, (size_t)(colon - arg));
            fname[colon - arg] = '\0';
            fmt = cdr_coll_format_parse(fname);
        }
        if (fmt < 0 || !colon[1]) {
            cli_usage_error(&cs,
                            "--input %s: expected FORMAT:DIR, FORMAT one of csv, asterisk, "
                            "freeswitch, 3gpp",
                            arg);
            goto done;
        }
        in[i].pi_format = fmt;
        in[i].pi_spool = colon + 1;
    }
    cdr_store *st = NULL; /* refuse a path that holds no store before any input is touched */
    if ((status = cli_store_open("pipeline", store, CLI_STORE_WRITE, &st)) != CLI_EXIT_OK)
        goto done;
    cdr_store_close(st);
    cli_stop_on_signals();
    signal(SIGPIPE, SIG_IGN);
    const cdr_pipeline_config pc = {.pc_inputs = in,
                                    .pc_ninputs = (size_t)inputs.li_n,
                                    .pc_store = store,
                                    .pc_ledger = ledger,
                                    .pc_alerts = alerts,
                                    .pc_partitions = (int)partitions,
                                    .pc_segment_bytes = segment,
                                    .pc_threads = (unsigned)threads,
                                    .pc_dedup_window = (int64_t)dedup_days * 86400,
                                    .pc_idle_ms = (int)idle_ms,
                                    .pc_settle_ms =
                                        settle ? (int)settle * 1000 : CDR_PIPELINE_SETTLE_NONE,
                                    .pc_log = quiet ? NULL : stderr,
                                    .pc_verbose = verbose && !quiet,
                                    .pc_stop = &cli_stop};
    cdr_pipeline_summary sum;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_pipeline_run(&pc, &sum, &dg);
    /* after a failure, the figures as far as the run got (if it got to the inputs) */
    if (!rc || sum.ps_files || sum.ps_refused || sum.ps_failed) {
        if (json)
            cdr_pipeline_summary_json(&sum, stdout);
        else
            cdr_pipeline_summary_text(&sum, stdout);
        fflush(stdout);
    }
    if (rc)
        cli_report("pipeline", &dg);
    if (rc)
        status = CLI_EXIT_FAIL;
    else
        status = sum.ps_in.cs_rejected || sum.ps_refused || sum.ps_failed ? CLI_EXIT_REJECTS
                                                                          : CLI_EXIT_OK;
done:
    free(in);
    cli_spec_free(&cs);
    return status;
}
