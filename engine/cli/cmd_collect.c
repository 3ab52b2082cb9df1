/* cmd_collect.c - `cdrate collect`: decode, check, de-duplicate and publish CDR files from a spool
 * directory (or a live stream) to Kafka, exactly once. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cli.h"

typedef struct collect_cli {
    int cc_stats;
    int cc_quiet;
    uint64_t cc_bad; /* rejected records, refused and failed files */
} collect_cli;

static void on_report(void *arg, const cdr_collect_report *fr)
{
    collect_cli *cc = arg;
    const cdr_coll_stats *cs = &fr->fr_stats;
    static const char *const status[] = {"done", "refused", "failed", "held"};
    if (fr->fr_status == CDR_COLLECT_DONE) {
        cc->cc_bad += cs->cs_rejected;
        if (!cc->cc_quiet)
            fprintf(stderr,
                    "%s: read %" PRIu64 ", published %" PRIu64 ", rejected %" PRIu64
                    ", duplicate %" PRIu64 ", nonbillable %" PRIu64 "\n",
                    fr->fr_name, cs->cs_read, cs->cs_published, cs->cs_rejected, cs->cs_duplicate,
                    cs->cs_nonbillable);
    } else {
        cc->cc_bad++;
        cdr_diag dg;
        cdr_diag_set(&dg, fr->fr_status == CDR_COLLECT_REFUSED ? CDR_EXISTS : CDR_EIO, fr->fr_name,
                     0, 0, "%s (moved to %s)", fr->fr_msg,
                     fr->fr_moved_to ? fr->fr_moved_to : "nowhere");
        if (cli_json)
            cli_report("collect", &dg);
        else
            fprintf(stderr, "%s: %s\n", fr->fr_name, dg.dg_msg);
    }
    if (cc->cc_stats) {
        printf("{\"file\":\"");
        for (const char *p = fr->fr_name; *p; p++) {
            if (*p == '"' || *p == '\\')
                putchar('\\');
            if ((unsigned char)*p < 0x20)
                printf("\\u%04x", (unsigned char)*p);
            else
                putchar(*p);
        }
        printf("\",\"status\":\"%s\",\"stats\":", status[fr->fr_status & 3]);
        cdr_coll_stats_json(cs, stdout);
        printf("}\n");
        fflush(stdout);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char collect_about[] =
    "Decode the CDR files put into DIR (write them elsewhere, or under a name starting with '.'\n"
    "or ending in \".tmp\", then rename them into DIR), check, normalise and de-duplicate their\n"
    "records and publish them to Kafka: clean records to cdr.raw (key: the charging owner, else\n"
    "the MSISDN), rejected ones to cdr.rejected with their original bytes, file, position and\n"
    "reason. With --rating-store, the charging owner comes from the directory in that store\n"
    "(the enterprise for a member that draws on an enterprise pool, so that a pool and its\n"
    "members share a partition; an MSISDN the directory does not know is keyed by itself).\n"
    "A file goes to DIR/done/ once Kafka acknowledged every record (its duplicates are\n"
    "listed in NAME.duplicates), or to DIR/failed/ with NAME.error (unreadable, or the same\n"
    "content ingested before). Exactly once across crashes: an interrupted file resumes where\n"
    "its last transaction ended. Complete files only: a file is taken once its size and\n"
    "modification time have not changed for --settle seconds (default 5; watching, a file\n"
    "renamed into DIR is taken at once); one that changes while it is read is put back and\n"
    "read again once settled. --once takes the files present when it starts, waits for those\n"
    "not settled yet, and exits. One line per file on stderr:\n"
    "  NAME: read N, published N, rejected N, duplicate N, nonbillable N\n"
    "--brokers embedded starts librdkafka's in-process mock cluster (3 brokers; its data ends\n"
    "with the process). --source also names the Kafka transactional id: run one collector per\n"
    "source. Exit status: 0 all published; 3 done, but records were rejected or files refused\n"
    "or failed; 1 error (Kafka, store); 2 bad command line; 4 --rating-store is no store.";

int cli_coll_source_tz(const cli_spec *cs, const char *source, const char *tz, cdr_coll_config *cc)
{
    if (source) {
        int bad = !*source || strlen(source) >= sizeof cc->cc_source;
        for (const char *p = source; *p && !bad; p++)
            bad = *p <= ' ' || *p == ',' || *p == '"' || *p > '~';
        if (bad)
            return cli_usage_error(cs,
                                   "--source must be 1..%d printable characters without "
                                   "spaces, commas or quotes",
                                   (int)sizeof cc->cc_source - 1);
        snprintf(cc->cc_source, sizeof cc->cc_source, "%s", source);
    }
    if (tz) {
        if (!*tz || strlen(tz) >= sizeof cc->cc_timezone)
            return cli_usage_error(cs, "bad --timezone '%s'", tz);
        snprintf(cc->cc_timezone, sizeof cc->cc_timezone, "%s", tz);
    }
    return CLI_EXIT_OK;
}

int cmd_collect(int argc, char **argv)
{
    const char *spool = NULL, *brokers = NULL, *store = NULL, *source = NULL, *tz = NULL;
    const char *rating_store = NULL, *prefix = NULL;
    int format = -1, once = 0, from_stdin = 0;
    uint64_t chunk = 50000, dedup_days = 7, partitions = 6, settle = 5;
    collect_cli cc = {0};
    static const char *const formats[] = {"csv", "asterisk", "freeswitch", "3gpp", NULL};
    cli_opt opts[] = {
        {"spool", CLI_STRING, &spool, "DIR",
         "spool directory (watched with inotify unless --once)"},
        {"format", CLI_CHOICE, &format, "F", "input format", 0, 0, formats},
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers, or \"embedded\""},
        {"store", CLI_STRING, &store, "DIR", "LMDB store for de-duplication (default DIR/.store)"},
        {"rating-store", CLI_STRING, &rating_store, "DIR",
         "store with the directory: key records by their charging owner"},
        {"topic-prefix", CLI_STRING, &prefix, "P",
         "prefix of the topic names and the transactional id (default none)"},
        {"source", CLI_STRING, &source, "NAME", "network element / collector name (\"element\")"},
        {"timezone", CLI_STRING, &tz, "TZ", "IANA zone of element-local times (Asia/Shanghai)"},
        {"once", CLI_FLAG, &once, NULL, "process what is in the spool, then exit"},
        {"settle", CLI_COUNT, &settle, "S",
         "take a file once unchanged for S seconds, default 5 (0: at once)", 0, 86400},
        {"stdin", CLI_FLAG, &from_stdin, NULL, "publish lines from standard input (text formats)"},
        {"json", CLI_FLAG, &cc.cc_stats, NULL, "JSON on stdout: one object per file, the totals"},
        {"stats", CLI_FLAG, &cc.cc_stats, NULL, "the same as --json"},
        {"quiet", CLI_FLAG, &cc.cc_quiet, NULL, "only errors on stderr"},
        {"chunk", CLI_COUNT, &chunk, "N", "records per Kafka transaction, default 50000", 1,
         10000000},
        {"dedup-days", CLI_COUNT, &dedup_days, "N", "de-duplication window, days of event time (7)",
         1, 3650},
        {"partitions", CLI_COUNT, &partitions, "N", "embedded: partitions of cdr.raw (6)", 1, 1024},
        {0},
    };
    const cli_spec cs = {"collect",
                         "--spool DIR --format F --brokers LIST|embedded [options]\n"
                         "--stdin --store DIR --format F --brokers LIST|embedded [options]",
                         collect_about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    cdr_collect_config cl;
    cdr_collect_config_defaults(&cl);
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (format < 0)
        return cli_usage_error(&cs, "--format is required");
    if (!brokers || !*brokers || strlen(brokers) >= sizeof cl.cl_brokers)
        return cli_usage_error(&cs, "--brokers is required");
    if (from_stdin && format == CDR_FMT_3GPP)
        return cli_usage_error(&cs, "--stdin takes text formats (csv, asterisk, freeswitch)");
    if (from_stdin && !store)
        return cli_usage_error(&cs, "--stdin needs --store");
    if (!from_stdin && !spool)
        return cli_usage_error(&cs, "--spool (or --stdin) is required");
    if ((spool && strlen(spool) >= sizeof cl.cl_spool) ||
        (store && strlen(store) >= sizeof cl.cl_store))
        return cli_usage_error(&cs, "path too long");
    if (rating_store && !*rating_store)
        return cli_usage_error(&cs, "--rating-store needs a directory");
    if (prefix) {
        cdr_diag pdg;
        if (cdr_collect_prefix_check(prefix, &pdg))
            return cli_usage_error(&cs, "--topic-prefix: %s", pdg.dg_msg);
        snprintf(cl.cl_topic_prefix, sizeof cl.cl_topic_prefix, "%s", prefix);
    }
    if (cli_coll_source_tz(&cs, source, tz, &cl.cl_coll) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    snprintf(cl.cl_brokers, sizeof cl.cl_brokers, "%s", brokers);
    if (spool)
        snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    if (store)
        snprintf(cl.cl_store, sizeof cl.cl_store, "%s", store);
    cl.cl_chunk = (uint32_t)chunk;
    cl.cl_settle_ms = (int)settle * 1000;
    cl.cl_dedup_window = (int64_t)dedup_days * 86400;
    cl.cl_partitions = (int)partitions;
    cl.cl_quiet = cc.cc_quiet;
    cl.cl_format = format;

    cli_stop_on_signals();
    signal(SIGPIPE, SIG_IGN);

    cdr_diag dg;
    cdr_diag_clear(&dg);
    const double t0 = now_s();
    cdr_subtab *owners = NULL;
    if (rating_store) { /* the rating view is a copy: the store is not kept open */
        cdr_store *rst = NULL;
        int xrc = cli_store_open("collect", rating_store, CLI_STORE_READ, &rst);
        if (xrc != CLI_EXIT_OK)
            return xrc;
        int rrc = cdr_dir_rating_view(rst, &owners, &dg);
        cdr_store_close(rst);
        if (rrc) {
            cli_report("collect", &dg);
            return CLI_EXIT_FAIL;
        }
        cl.cl_owners = owners;
        if (!cc.cc_quiet)
            fprintf(stderr, "cdrate collect: charging owners from %s (%zu subscribers)\n",
                    rating_store, cdr_subtab_count(owners));
    }
    cdr_collect *co;
    if (cdr_collect_open(&cl, on_report, &cc, &co, &dg) != 0) {
        cli_report("collect", &dg);
        cdr_subtab_free(owners);
        return CLI_EXIT_FAIL;
    }
    if (!cc.cc_quiet && !strcmp(cl.cl_brokers, "embedded"))
        fprintf(stderr, "cdrate collect: embedded Kafka cluster at %s\n", cdr_collect_brokers(co));
    int rc = from_stdin ? cdr_collect_stream(co, STDIN_FILENO, "stdin", &cli_stop, &dg)
                        : cdr_collect_spool(co, once, &cli_stop, &dg);
    const double secs = now_s() - t0;
    cdr_coll_stats tot;
    uint64_t files, refused, failed;
    cdr_collect_totals(co, &tot, &files, &refused, &failed);
    cdr_collect_close(co);
    cdr_subtab_free(owners);
    if (rc)
        cli_report("collect", &dg);
    if (cc.cc_stats) {
        printf("{\"total\":");
        cdr_coll_stats_json(&tot, stdout);
        printf(",\"files\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"seconds\":%.3f,\"records_per_second\":%.0f}\n",
               files, refused, failed, secs, secs > 0 ? (double)tot.cs_read / secs : 0.0);
    }
    if (!cc.cc_quiet && files + refused + failed > 1)
        fprintf(stderr,
                "total: read %" PRIu64 ", published %" PRIu64 ", rejected %" PRIu64
                ", duplicate %" PRIu64 ", nonbillable %" PRIu64 " (%" PRIu64 " files, %" PRIu64
                " refused, %" PRIu64 " failed)\n",
                tot.cs_read, tot.cs_published, tot.cs_rejected, tot.cs_duplicate,
                tot.cs_nonbillable, files, refused, failed);
    if (rc)
        return CLI_EXIT_FAIL;
    return cc.cc_bad ? CLI_EXIT_REJECTS : CLI_EXIT_OK;
}
