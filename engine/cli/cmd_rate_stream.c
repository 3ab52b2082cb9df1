/* cmd_rate_stream.c - `cdrate rate-stream`: streaming rating on Kafka, exactly once
 * (cdr_stream.h, docs/streaming.md). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cdr_dir.h"
#include "cdr_rate.h"
#include "cdr_stream.h"
#include "cli.h"

static volatile sig_atomic_t stream_stop;

static void on_signal(int sig)
{
    (void)sig;
    stream_stop = 1;
}

int cmd_rate_stream(int argc, char **argv)
{
    const char *brokers = NULL, *group = NULL, *store = NULL, *prefix = NULL, *tid = NULL;
    uint64_t threads = 1, batch = 20000, wait_ms = 200;
    int stats = 0, quiet = 0;
    cli_opt opts[] = {
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers (host:port,...)"},
        {"group", CLI_STRING, &group, "G", "consumer group id"},
        {"store", CLI_STRING, &store, "DIR", "LMDB store with compiled plans and a directory"},
        {"threads", CLI_COUNT, &threads, "N", "rating threads, default 1", 1, 64},
        {"batch", CLI_COUNT, &batch, "N", "most records per transaction, default 20000", 1, 100000},
        {"batch-wait", CLI_COUNT, &wait_ms, "MS", "longest wait to fill a batch, default 200", 1,
         60000},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic names (default none)"},
        {"transactional-id", CLI_STRING, &tid, "ID",
         "producer transactional id, one per process (default G.rate-stream)"},
        {"stats", CLI_FLAG, &stats, NULL, "print one JSON line of metrics on stdout at exit"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no log lines on stderr"},
        {0},
    };
    const cli_spec cs = {
        "rate-stream", "--brokers LIST --group G --store DIR [--threads N] [--batch N] [--stats]",
        "Rate the records of cdr.raw as a member of consumer group G, exactly once: per batch\n"
        "one Kafka transaction carries the rated records (cdr.rated), the unratable ones\n"
        "(cdr.suspense), the changed bundle counters (compacted cdr.counters) and the consumer\n"
        "offsets. Counters are restored from cdr.counters when partitions are assigned.\n"
        "SIGTERM or SIGINT: finish the batch, commit, leave the group, exit 0.\n"
        "See docs/streaming.md.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0) {
        cli_spec_free(&cs);
        return pos == CLI_HELP ? 0 : 2;
    }
    if (!brokers || !group || !store || pos != argc) {
        cli_spec_free(&cs);
        return cli_usage_error(&cs, "--brokers, --group and --store are required");
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    int status = 1;
    if (cdr_store_open(store, MDB_RDONLY, &st, &dg) || cdr_plan_set_load(st, &ps, &dg) ||
        cdr_dir_rating_view(st, &subs, &dg)) {
        cli_report("rate-stream", &dg);
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    const cdr_stream_config sc = {.sc_brokers = brokers,
                                  .sc_group = group,
                                  .sc_topic_prefix = prefix,
                                  .sc_transactional_id = tid,
                                  .sc_threads = (unsigned)threads,
                                  .sc_batch = (size_t)batch,
                                  .sc_batch_wait_ms = (int)wait_ms,
                                  .sc_quiet = quiet,
                                  .sc_stop = &stream_stop};
    cdr_stream_stats ss;
    int rc = cdr_stream_run(&sc, ps, subs, &ss, &dg);
    if (rc)
        cli_report("rate-stream", &dg);
    if (stats)
        printf("{\"consumed\":%" PRIu64 ",\"rated\":%" PRIu64 ",\"suspense\":%" PRIu64
               ",\"batches\":%" PRIu64 ",\"aborts\":%" PRIu64 ",\"counters\":%" PRIu64
               ",\"restored\":%" PRIu64 ",\"misrouted\":%" PRIu64
               ",\"p99_batch_ms\":%.3f,\"seconds\":%.3f,\"records_per_s\":%.0f,\"ok\":%s}\n",
               ss.ss_consumed, ss.ss_rated, ss.ss_suspense, ss.ss_batches, ss.ss_aborts,
               ss.ss_counters, ss.ss_restored, ss.ss_misrouted, (double)ss.ss_p99_ns / 1e6,
               ss.ss_seconds, ss.ss_seconds > 0 ? (double)ss.ss_consumed / ss.ss_seconds : 0.0,
               rc ? "false" : "true");
    fflush(stdout);
    status = rc ? 1 : 0;
done:
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cli_spec_free(&cs);
    return status;
}
