/* cmd_archive.c - `cdrate archive`: cdr.rated from Kafka into the ledger, exactly once
 * (cdr_archive.h, docs/ledger.md). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cdr_archive.h"
#include "cli.h"

int cmd_archive(int argc, char **argv)
{
    const char *brokers = NULL, *ledger = NULL, *group = NULL, *prefix = NULL;
    uint64_t idle_ms = 0, segment = 0, batch = 10000, wait_ms = 200;
    int stats = 0, quiet = 0;
    cli_opt opts[] = {
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers (host:port,...)"},
        {"ledger", CLI_STRING, &ledger, "DIR", "ledger directory (created when missing)"},
        {"group", CLI_STRING, &group, "G", "consumer group id, default " CDR_ARCHIVE_GROUP_DEFAULT},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic name (default none)"},
        {"idle-exit", CLI_COUNT, &idle_ms, "MS",
         "exit 0 when caught up and nothing arrived for MS ms (default: run until stopped)", 1,
         86400000},
        {"segment-bytes", CLI_COUNT, &segment, "N", "roll ledger segments at N bytes (default 64M)",
         4096, 1u << 30},
        {"batch", CLI_COUNT, &batch, "N", "most messages per batch, default 10000", 1, 100000},
        {"batch-wait", CLI_COUNT, &wait_ms, "MS", "longest wait to fill a batch, default 200", 1,
         60000},
        {"json", CLI_FLAG, &stats, NULL, "print one JSON line of metrics on stdout at exit"},
        {"stats", CLI_FLAG, &stats, NULL, "the same as --json"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no information lines on stderr"},
        {0},
    };
    const cli_spec cs = {
        "archive",
        "--brokers LIST --ledger DIR [--group G] [--topic-prefix P] [--idle-exit MS] [--stats]",
        "Archive the rated records of cdr.rated (read_committed) into the ledger in DIR,\n"
        "exactly once: each partition resumes where the ledger ends, whatever the group's\n"
        "committed offsets say. A value that is not a rated record is reported on stderr\n"
        "(partition, offset, reason), counted as malformed and skipped. One archiver per\n"
        "ledger (a second one exits 1) and one group per ledger.\n"
        "SIGTERM or SIGINT: finish the batch, leave the group, exit 0. See docs/ledger.md.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0) {
        cli_spec_free(&cs);
        return pos == CLI_HELP ? 0 : 2;
    }
    if (!brokers || !ledger || pos != argc) {
        cli_spec_free(&cs);
        if (pos != argc)
            return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
        return cli_usage_error(&cs, "--brokers and --ledger are required");
    }
    cli_stop_on_signals();
    const cdr_archive_config ac = {.ac_brokers = brokers,
                                   .ac_ledger = ledger,
                                   .ac_group = group,
                                   .ac_topic_prefix = prefix,
                                   .ac_segment_bytes = segment,
                                   .ac_batch = (size_t)batch,
                                   .ac_batch_wait_ms = (int)wait_ms,
                                   .ac_idle_exit_ms = (int)idle_ms,
                                   .ac_quiet = quiet,
                                   .ac_stop = &cli_stop};
    cdr_archive_stats as;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_archive_run(&ac, &as, &dg);
    if (rc)
        cli_report("archive", &dg);
    if (stats) {
        char lag[24] = "null";
        if (as.as_lag >= 0)
            snprintf(lag, sizeof lag, "%" PRId64, as.as_lag);
        printf("{\"consumed\":%" PRIu64 ",\"archived\":%" PRIu64 ",\"malformed\":%" PRIu64
               ",\"batches\":%" PRIu64 ",\"lag\":%s,\"seconds\":%.3f,\"busy_seconds\":%.3f,"
               "\"records_per_busy_s\":%.0f,\"ok\":%s}\n",
               as.as_consumed, as.as_archived, as.as_malformed, as.as_batches, lag, as.as_seconds,
               as.as_busy_seconds,
               as.as_busy_seconds > 0 ? (double)as.as_consumed / as.as_busy_seconds : 0.0,
               rc ? "false" : "true");
        fflush(stdout);
    }
    cli_spec_free(&cs);
    return rc ? 1 : 0;
}
