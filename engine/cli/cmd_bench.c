/* cmd_bench.c - `cdrate bench rate|collect|compile|e2e|query|bill|statement|serve`: one JSON object
 * on stdout. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cdr_bench.h"
#include "cdr_pipeline.h"
#include "cli.h"

int cmd_bench(int argc, char **argv)
{
    uint64_t subs = 100000, cdrs = 1000000, threads = 1, batch = 0, seed = 42, prefixes = 100000,
             records = 1000000, raters = 1, partitions = 0, chunk = 0, timeout = 120,
             broker_pid = 0;
    const char *brokers = NULL, *workdir = NULL, *redis = NULL;
    uint64_t queries = 200000, clients = 4, members = 10000, lines = 5000000, connections = 50,
             seconds = 10, server_threads = 0;
    int quiet = 0, json = 0, fmt = -1, keep = 0, embedded = 0, live = 1;
    static const char *const formats[] = {"csv", "asterisk", "freeswitch", "3gpp", NULL};
    static const char *const onoff[] = {"off", "on", NULL};
    cli_opt opts[] = {
        {"subscribers", CLI_COUNT, &subs, "N", "rate: subscribers, default 100000", 1},
        {"cdrs", CLI_COUNT, &cdrs, "M", "rate: CDRs, default 1000000"},
        {"threads", CLI_COUNT, &threads, "T", "rate: rating threads, default 1", 1, 64},
        {"batch", CLI_COUNT, &batch, "B",
         "rate: records per batch (65536); e2e: rate-stream --batch (its default)", 1},
        {"seed", CLI_COUNT, &seed, "S", "generator seed, default 42"},
        {"prefixes", CLI_COUNT, &prefixes, "N", "compile: destination prefixes, default 100000", 1},
        {"format", CLI_CHOICE, &fmt, "F", "collect: input format", 0, 0, formats},
        {"records", CLI_COUNT, &records, "N", "collect: records, default 1000000", 1},
        {"brokers", CLI_STRING, &brokers, "LIST",
         "e2e: a real broker (host:port), or \"embedded\""},
        {"raters", CLI_COUNT, &raters, "K", "e2e: rate-stream processes (threads if embedded), 1",
         1, 64},
        {"partitions", CLI_COUNT, &partitions, "P", "e2e embedded: partitions per topic (4)", 1,
         1024},
        {"chunk", CLI_COUNT, &chunk, "N", "e2e: records per collector transaction (50000)", 1,
         10000000},
        {"timeout", CLI_COUNT, &timeout, "S", "e2e: give up after S s without progress (120)", 1,
         86400},
        {"broker-pid", CLI_COUNT, &broker_pid, "PID", "e2e: report this process's CPU time", 1},
        {"members", CLI_COUNT, &members, "N", "statement: members of the enterprise", 1, 10000000},
        {"lines", CLI_COUNT, &lines, "N", "statement: CDRs of the month (itemised lines)", 1,
         1000000000},
        {"workdir", CLI_STRING, &workdir, "DIR",
         "e2e, bill: scratch directory to create (default: a temporary one)"},
        {"keep", CLI_FLAG, &keep, NULL,
         "e2e: keep the scratch directory and the topics; bill: keep the store, ledger, bills"},
        {"live", CLI_CHOICE, &live, "on|off",
         "e2e: credit control, fraud rules and (real broker) the projection, default on", 0, 0,
         onoff},
        {"redis", CLI_STRING, &redis, "HOST:PORT",
         "query: the live state in this Redis (it writes test accounts into it)"},
        {"embedded", CLI_FLAG, &embedded, NULL, "query: the live state in the store (LMDB)"},
        {"queries", CLI_COUNT, &queries, "Q", "query: balance queries, default 200000", 1},
        {"clients", CLI_COUNT, &clients, "C", "query: client threads, one connection each (4)", 1,
         256},
        {"connections", CLI_COUNT, &connections, "C", "serve: wrk's keep-alive connections (50)", 1,
         10000},
        {"seconds", CLI_COUNT, &seconds, "S", "serve: seconds per phase (10)", 1, 3600},
        {"server-threads", CLI_COUNT, &server_threads, "T",
         "serve: the server's threads (default: half the cores; wrk has the rest)", 1, 256},
        {"json", CLI_FLAG, &json, NULL, "JSON output (the only output; accepted for clarity)"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no progress"},
        {0},
    };
    const cli_spec cs = {
        "bench",
        "rate [--subscribers N] [--cdrs M] [--threads T] [--batch B] [--json]\n"
        "collect --format F [--records N] [--json]\n"
        "compile [--prefixes N] [--json]\n"
        "e2e --brokers HOST:PORT|embedded [--cdrs N] [--raters K] [--subscribers M]\n"
        "    [--live on|off] [--json]\n"
        "query --redis HOST:PORT | --embedded [--subscribers N] [--cdrs M] [--queries Q]\n"
        "      [--clients C] [--json]\n"
        "bill [--subscribers N] [--cdrs M] [--workdir DIR [--keep]] [--json]\n"
        "statement [--members N] [--lines M] [--workdir DIR [--keep]] [--json]\n"
        "serve [--redis HOST:PORT] [--subscribers N] [--cdrs M] [--connections C] [--seconds S]\n"
        "      [--server-threads T] [--json]",
        "rate     generate N subscribers and M CDRs in memory (not timed), time the rating\n"
        "         core alone with T threads in batches of B records\n"
        "collect  generate N records as in-memory input files of format F, time decoding +\n"
        "         validation + normalisation on one thread\n"
        "compile  time the compilation of a plan with N destination prefixes\n"
        "e2e      generate N CDRs as spool files (format F, default csv) and a store (not\n"
        "         timed), start K `cdrate rate-stream` processes in one group, then time the\n"
        "         collector publishing the spool to a fresh set of topics until the raters\n"
        "         have committed every record (docs/benchmarks.md)\n"
        "query    generate N subscribers and rate M CDRs into the live state (Redis, or the store\n"
        "         with --embedded; not timed), then time Q balance queries (cdrate query "
        "balance's\n"
        "         path) on C clients, and as many plain GETs (point reads) on the same clients\n"
        "         and connections: queries_per_sec, p50_ms, p99_ms, get_per_sec, ratio\n"
        "bill     generate N subscribers and rate M CDRs of one month into a ledger (not\n"
        "         timed), then time the bill run of that month (cdrate bill): cdrs_per_sec\n"
        "statement  one enterprise of N members with M CDRs rated and billed (not timed), then\n"
        "         time `cdrate statement export` of that month as a child process:\n"
        "         lines_per_sec (itemised lines, .csv.zst) and the export's rss_bytes\n"
        "serve    N subscribers and M CDRs rated into the live state (the store, or Redis with\n"
        "         --redis; not timed), `cdrate serve` in this process, then Debian's wrk with C\n"
        "         keep-alive connections for S s on the IVR balance endpoint (an API key of scope\n"
        "         ivr) and S s on the same server's static /api/v1/health: req_per_sec, p50_ms,\n"
        "         p99_ms, static_req_per_sec, ratio\n"
        "Each prints one JSON object on stdout; progress goes to stderr on a terminal.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos + 1 != argc)
        return cli_usage_error(&cs, "expected one benchmark name");
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc;
    if (!strcmp(argv[pos], "rate")) {
        cdr_bench_rate_config bc = {(size_t)subs, cdrs, (unsigned)threads,
                                    batch ? (size_t)batch : 65536, seed};
        rc = cdr_bench_rate(&bc, stdout, cli_progress_enabled(quiet) ? stderr : NULL, &dg);
    } else if (!strcmp(argv[pos], "collect")) {
        if (fmt < 0)
            return cli_usage_error(&cs, "collect needs --format");
        rc = cdr_bench_collect(fmt, records, seed, stdout, &dg);
    } else if (!strcmp(argv[pos], "e2e")) {
        if (!brokers || !*brokers)
            return cli_usage_error(&cs, "e2e needs --brokers HOST:PORT or --brokers embedded");
        if (batch > 100000)
            return cli_usage_error(&cs,
                                   "e2e: --batch must be at most 100000 (rate-stream's limit)");
        const cdr_pipeline_bench_config pb = {
            .pb_brokers = brokers,
            .pb_cdrs = cdrs,
            .pb_subscribers = (size_t)subs,
            .pb_raters = (unsigned)raters,
            .pb_threads = (unsigned)threads,
            .pb_batch = (size_t)batch,
            .pb_chunk = (uint32_t)chunk,
            .pb_partitions = (int)partitions,
            .pb_format = fmt < 0 ? 0 : fmt,
            .pb_seed = seed,
            .pb_workdir = workdir,
            .pb_keep = keep,
            .pb_timeout_s = (int)timeout,
            .pb_broker_pid = (long)broker_pid,
            .pb_live = live,
            .pb_progress = cli_progress_enabled(quiet) ? stderr : NULL,
            .pb_stop = &cli_stop,
        };
        cli_stop_on_signals(); /* stop the rater processes rather than orphan them */
        rc = cdr_pipeline_bench(&pb, stdout, &dg);
    } else if (!strcmp(argv[pos], "query")) {
        if (!!redis == !!embedded)
            return cli_usage_error(&cs, "query needs --redis HOST:PORT or --embedded");
        const cdr_bench_query_config bq = {redis,   (size_t)subs,      cdrs,
                                           queries, (unsigned)clients, seed};
        rc = cdr_bench_query(&bq, stdout, cli_progress_enabled(quiet) ? stderr : NULL, &dg);
    } else if (!strcmp(argv[pos], "bill")) {
        const cdr_bench_bill_config bb = {(size_t)subs, cdrs, seed, workdir, keep};
        rc = cdr_bench_bill(&bb, stdout, cli_progress_enabled(quiet) ? stderr : NULL, &dg);
    } else if (!strcmp(argv[pos], "statement")) {
        const cdr_bench_statement_config bs = {(size_t)members, lines, seed,
                                               workdir,         keep,  "/proc/self/exe"};
        rc = cdr_bench_statement(&bs, stdout, cli_progress_enabled(quiet) ? stderr : NULL, &dg);
    } else if (!strcmp(argv[pos], "serve")) {
        const cdr_bench_serve_config bsv = {
            .bs_redis = redis,
            .bs_subscribers = (size_t)subs,
            .bs_cdrs = cdrs,
            .bs_connections = (unsigned)connections,
            .bs_seconds = (unsigned)seconds,
            .bs_threads = (unsigned)server_threads,
            .bs_seed = seed,
        };
        rc = cdr_bench_serve(&bsv, stdout, cli_progress_enabled(quiet) ? stderr : NULL, &dg);
    } else if (!strcmp(argv[pos], "compile")) {
        rc = cdr_bench_compile((size_t)prefixes, stdout, &dg);
    } else {
        return cli_usage_error(&cs, "unknown benchmark '%s'", argv[pos]);
    }
    if (rc) {
        cli_report("bench", &dg);
        return 1;
    }
    return 0;
}
