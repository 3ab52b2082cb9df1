/* cmd_project.c - `cdrate project`: the live state's projection of cdr.rated into the store,
 * exactly once (cdr_live.h, docs/live-state.md). The archiver's loop with the live state's sink. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cdr_archive.h"
#include "cdr_live.h"
#include "cdr_redis.h"
#include "cdr_store.h"
#include "cdr_stream.h"
#include "cli.h"

#define PROJECT_GROUP_DEFAULT "cdrate-project"

int cmd_project(int argc, char **argv)
{
    const char *brokers = NULL, *store = NULL, *group = NULL, *prefix = NULL, *redis = NULL;
    uint64_t idle_ms = 0, batch = 10000, wait_ms = 200;
    int stats = 0, quiet = 0;
    cli_opt opts[] = {
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers (host:port,...)"},
        {"store", CLI_STRING, &store, "STORE",
         "the store with the directory; the live state is kept in it"},
        {"redis", CLI_STRING, &redis, "HOST:PORT",
         "keep the live state in this Redis instead of STORE (STORE still gives the directory)"},
        {"group", CLI_STRING, &group, "G", "consumer group id, default " PROJECT_GROUP_DEFAULT},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic name (default none)"},
        {"idle-exit", CLI_COUNT, &idle_ms, "MS",
         "exit 0 when caught up and nothing arrived for MS ms (default: run until stopped)", 1,
         86400000},
        {"batch", CLI_COUNT, &batch, "N", "most messages per batch, default 10000", 1, 100000},
        {"batch-wait", CLI_COUNT, &wait_ms, "MS", "longest wait to fill a batch, default 200", 1,
         60000},
        {"json", CLI_FLAG, &stats, NULL, "print one JSON line of metrics on stdout at exit"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no information lines on stderr"},
        {0},
    };
    const cli_spec cs = {
        "project",
        "--brokers LIST --store STORE [--redis HOST:PORT] [--group G] [--topic-prefix P] "
        "[--idle-exit MS] [--json]",
        "Keep the live state of every line and account (docs/live-state.md) from the rated\n"
        "records of cdr.rated (read_committed), exactly once: each partition's batch is added\n"
        "to the state in STORE in one transaction with the partition's next offset, and a\n"
        "restart resumes from there, whatever the group's offsets say. Rating never waits for\n"
        "it. Feed a store's live state from this or from `cdrate rate`, not both. A value that\n"
        "is not a rated record is reported and skipped; a record whose MSISDN the directory no\n"
        "longer holds is reported, and its money is in no line. With --redis the state goes to\n"
        "Redis instead, as idempotent ops per account (hash-tagged keys), with a resume point per\n"
        "partition and group; a restarted Redis makes the projector exit 1 (start it again: it\n"
        "resumes from Redis's resume points). SIGTERM or SIGINT: finish the batch, leave the\n"
        "group, exit 0.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!brokers || !store)
        return cli_usage_error(&cs, "--brokers and --store are required");
    cdr_store *st;
    int ec = cli_store_open("project", store, redis ? CLI_STORE_READ : CLI_STORE_WRITE, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    char topic[300];
    snprintf(topic, sizeof topic, "%s%s", prefix ? prefix : "", CDR_STREAM_TOPIC_RATED);
    const char *grp = group && *group ? group : PROJECT_GROUP_DEFAULT;
    cdr_live_sink *ls = NULL;
    cdr_live_rsink *rs = NULL;
    cdr_redis *rd = NULL;
    int rc;
    if (redis) {
        rc = cdr_redis_open(redis, 5000, &rd, &dg);
        if (!rc)
            rc = cdr_live_rsink_open(rd, st, grp, &rs, &dg);
    } else {
        rc = cdr_live_sink_open(st, topic, &ls, &dg);
    }
    if (rc) {
        cli_report("project", &dg);
        cdr_redis_close(rd);
        cdr_store_close(st);
        return rc == CDR_EINVAL                          ? CLI_EXIT_USAGE
               : rc == CDR_NOTFOUND || rc == CDR_VERSION ? CLI_EXIT_REFUSED
                                                         : CLI_EXIT_FAIL;
    }
    cli_stop_on_signals();
    const cdr_archive_config ac = {.ac_brokers = brokers,
                                   .ac_sink =
                                       rs ? cdr_live_rsink_archive(rs) : cdr_live_sink_archive(ls),
                                   .ac_name = "project",
                                   .ac_group = grp,
                                   .ac_topic_prefix = prefix,
                                   .ac_batch = (size_t)batch,
                                   .ac_batch_wait_ms = (int)wait_ms,
                                   .ac_idle_exit_ms = (int)idle_ms,
                                   .ac_quiet = quiet,
                                   .ac_stop = &cli_stop};
    cdr_archive_stats as;
    rc = cdr_archive_run(&ac, &as, &dg);
    if (rc)
        cli_report("project", &dg);
    cdr_live_sink_stats lss;
    if (rs)
        cdr_live_rsink_stats_get(rs, &lss);
    else
        cdr_live_sink_stats_get(ls, &lss);
    if (stats) {
        char lag[24] = "null";
        if (as.as_lag >= 0)
            snprintf(lag, sizeof lag, "%" PRId64, as.as_lag);
        printf("{\"consumed\":%" PRIu64 ",\"applied\":%" PRIu64 ",\"unknown_msisdn\":%" PRIu64
               ",\"malformed\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"lag\":%s,\"seconds\":%.3f,"
               "\"busy_seconds\":%.3f,\"ok\":%s}\n",
               as.as_consumed, lss.ls_applied, lss.ls_unknown, as.as_malformed, lss.ls_batches, lag,
               as.as_seconds, as.as_busy_seconds, rc ? "false" : "true");
        fflush(stdout);
    }
    cdr_live_sink_close(ls);
    cdr_live_rsink_close(rs);
    cdr_redis_close(rd);
    cdr_store_close(st);
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
