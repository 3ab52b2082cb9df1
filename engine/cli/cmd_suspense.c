/* cmd_suspense.c - `cdrate suspense list|replay`: the entries of cdr.suspense, and their replay
 * into cdr.raw once the directory or the plans are fixed (cdr_suspense.h, docs/suspense.md). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_suspense.h"
#include "cli.h"

/* "a, b, c" of every reason into buf. */
static const char *reason_names(char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int r = 1; r < CDR_SUSPENSE_REASONS && len < n; r++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", r > 1 ? ", " : "",
                                cdr_suspense_reason_name(r));
    return buf;
}

/* --reason: 0 (none given), the reason, or -1 after the usage error was printed. */
static int parse_reason(const cli_spec *cs, const char *s)
{
    if (!s)
        return 0;
    int r = cdr_suspense_reason_parse(s);
    if (r < 0) {
        char names[512];
        cli_usage_error(cs, "--reason: unknown reason '%s' (one of: %s)", s,
                        reason_names(names, sizeof names));
    }
    return r;
}

/* A string as a JSON string (with the quotes). */
static void json_str(const void *s, size_t n, FILE *f)
{
    const unsigned char *p = s;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\')
            fprintf(f, "\\%c", p[i]);
        else if (p[i] < 0x20 || p[i] >= 0x7f)
            fprintf(f, "\\u%04x", p[i]);
        else
            fputc(p[i], f);
    }
    fputc('"', f);
}

/* A key as text: printable ASCII as it is, other bytes as \xNN, "-" when empty. */
static void text_key(const void *s, size_t n, FILE *f)
{
    const unsigned char *p = s;
    if (!p || n == 0) {
        fputc('-', f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '\\')
            fprintf(f, "\\x%02x", p[i]);
        else
            fputc(p[i], f);
    }
}

/* ---- list --------------------------------------------------------------------------------------
 */

typedef struct list_ctx {
    int lc_json;
    int lc_reason; /* 0 = all */
    const cdr_suspense_pos *lc_pos;
    uint64_t lc_entries[CDR_SUSPENSE_REASONS];
    uint64_t lc_pending[CDR_SUSPENSE_REASONS];
} list_ctx;

static int list_entry(void *arg, const cdr_kafka_msg *km)
{
    list_ctx *lc = arg;
    char hdr[64];
    cdr_suspense_entry se = {.se_partition = km->km_partition,
                             .se_offset = km->km_offset,
                             .se_key = km->km_key,
                             .se_key_len = km->km_key_len};
    cdr_suspense_decode(km->km_value, km->km_value_len,
                        cdr_kafka_msg_header(km, CDR_SUSPENSE_HDR_REASON, hdr, sizeof hdr), &se);
    const int r = se.se_reason;
    if (lc->lc_reason && r != lc->lc_reason)
        return 0;
    const int done = cdr_suspense_pos_done(lc->lc_pos, r, se.se_partition, se.se_offset);
    const char *state = done ? (cdr_suspense_replayable(r) ? "replayed" : "passed") : "pending";
    lc->lc_entries[r]++;
    lc->lc_pending[r] += !done;
    const int undecodable = r == CDR_SUSPENSE_UNDECODABLE;
    char start[40] = "-";
    if (!undecodable)
        cdr_time_format(se.se_rec.cr_start, se.se_rec.cr_utc_offset, 0, start, sizeof start);
    if (lc->lc_json) {
        printf("{\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"key\":", se.se_partition,
               se.se_offset);
        json_str(se.se_key, se.se_key ? se.se_key_len : 0, stdout);
        printf(",\"reason\":\"%s\",\"replayable\":%s,\"state\":\"%s\",",
               cdr_suspense_reason_name(r), cdr_suspense_replayable(r) ? "true" : "false", state);
        if (undecodable) {
            printf("\"msisdn\":null,\"start\":null,\"length\":%zu,\"why\":", se.se_len);
            json_str(se.se_why, strlen(se.se_why), stdout);
        } else {
            printf("\"source\":");
            json_str(se.se_rec.cr_source, strlen(se.se_rec.cr_source), stdout);
            printf(",\"origin_id\":");
            json_str(se.se_rec.cr_origin_id, strlen(se.se_rec.cr_origin_id), stdout);
            printf(",\"msisdn\":\"%s\",\"start\":\"%s\"", se.se_rec.cr_msisdn, start);
        }
        printf("}\n");
    } else {
        printf("%" PRId32 "\t%" PRId64 "\t", se.se_partition, se.se_offset);
        text_key(se.se_key, se.se_key_len, stdout);
        printf("\t%s\t%s\t%s\t%s", cdr_suspense_reason_name(r),
               undecodable ? "-" : se.se_rec.cr_msisdn, start, state);
        if (undecodable)
            printf("\t%s", se.se_why);
        putchar('\n');
    }
    return ferror(stdout) ? CDR_EIO : 0;
}

static int suspense_list(int argc, char **argv)
{
    const char *brokers = NULL, *prefix = NULL, *group = NULL, *reason = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers (host:port,...)"},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic names (default none)"},
        {"group", CLI_STRING, &group, "G",
         "replay group whose positions give the state (cdrate-suspense)"},
        {"reason", CLI_STRING, &reason, "R", "only entries of this reason"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object per line"},
        {0},
    };
    const cli_spec cs = {
        "suspense list", "--brokers LIST [--topic-prefix P] [--group G] [--reason R] [--json]",
        "Print every entry of cdr.suspense, each partition in offset order, after a header\n"
        "line, tab-separated:\n"
        "  partition  offset  key  reason  msisdn  start  state  [why, for undecodable ones]\n"
        "state: pending (no replay has handled it), replayed, or passed (not replayable,\n"
        "counted by a replay and left in place). Then one line per reason:\n"
        "  total  REASON  ENTRIES  pending N\n"
        "and \"total all\". Reasons: unknown_subscriber, subscriber_inactive, no_plan, no_zone,\n"
        "no_rate, too_many_parts, bad_record, undecodable. See docs/suspense.md.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!brokers || !*brokers)
        return cli_usage_error(&cs, "--brokers is required");
    list_ctx lc = {.lc_json = json, .lc_reason = parse_reason(&cs, reason)};
    if (lc.lc_reason < 0)
        return 2;
    cdr_suspense_config sp = {.sp_brokers = brokers, .sp_topic_prefix = prefix, .sp_group = group};
    cdr_suspense_pos sq;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_suspense_pos_read(&sp, &sq, &dg)) {
        cli_report("suspense list", &dg);
        return 1;
    }
    lc.lc_pos = &sq;
    char topic[512];
    snprintf(topic, sizeof topic, "%s%s", prefix ? prefix : "", CDR_SUSPENSE_TOPIC);
    int rc = 0;
    if (!json)
        printf("partition\toffset\tkey\treason\tmsisdn\tstart\tstate\n");
    if (sq.sq_nparts > 0)
        rc = cdr_kafka_read_topic(brokers, topic, NULL, 0, 600000, list_entry, &lc, &dg);
    cdr_suspense_pos_free(&sq);
    if (rc) {
        if (rc == CDR_EIO)
            cdr_diag_set(&dg, rc, NULL, 0, 0, "cannot write the list");
        cli_report("suspense list", &dg);
        return 1;
    }
    uint64_t all = 0, pending = 0;
    for (int r = 1; r < CDR_SUSPENSE_REASONS; r++) {
        all += lc.lc_entries[r];
        pending += lc.lc_pending[r];
        if (!lc.lc_entries[r])
            continue;
        if (json)
            printf("{\"total\":\"%s\",\"entries\":%" PRIu64 ",\"pending\":%" PRIu64 "}\n",
                   cdr_suspense_reason_name(r), lc.lc_entries[r], lc.lc_pending[r]);
        else
            printf("total\t%s\t%" PRIu64 "\tpending %" PRIu64 "\n", cdr_suspense_reason_name(r),
                   lc.lc_entries[r], lc.lc_pending[r]);
    }
    if (json)
        printf("{\"total\":\"all\",\"entries\":%" PRIu64 ",\"pending\":%" PRIu64 "}\n", all,
               pending);
    else
        printf("total\tall\t%" PRIu64 "\tpending %" PRIu64 "\n", all, pending);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- replay ------------------------------------------------------------------------------------
 */

typedef struct replay_cli {
    int rc_quiet;
    const char *rc_topic;
} replay_cli;

static int replay_entry(void *arg, const cdr_suspense_entry *se, int disposition)
{
    const replay_cli *rc = arg;
    if (disposition != CDR_SUSPENSE_NOT_REPLAYABLE || rc->rc_quiet)
        return 0;
    fprintf(stderr,
            "cdrate suspense replay: %s [%" PRId32 "] offset %" PRId64 ": %s, left in place",
            rc->rc_topic, se->se_partition, se->se_offset, cdr_suspense_reason_name(se->se_reason));
    if (se->se_reason == CDR_SUSPENSE_UNDECODABLE)
        fprintf(stderr, " (%s)", se->se_why);
    else
        fprintf(stderr, " (%s/%s, msisdn %s)", se->se_rec.cr_source, se->se_rec.cr_origin_id,
                se->se_rec.cr_msisdn);
    fputc('\n', stderr);
    return 0;
}

static int suspense_replay(int argc, char **argv)
{
    const char *brokers = NULL, *prefix = NULL, *group = NULL, *reason = NULL, *store = NULL,
               *tid = NULL;
    uint64_t batch = CDR_SUSPENSE_BATCH_DEFAULT;
    int stats = 0, quiet = 0;
    cli_opt opts[] = {
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers (host:port,...)"},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic names (default none)"},
        {"group", CLI_STRING, &group, "G",
         "replay group: positions in G.<reason> (default cdrate-suspense)"},
        {"reason", CLI_STRING, &reason, "R", "replay only entries of this reason"},
        {"rating-store", CLI_STRING, &store, "DIR",
         "store with the directory: look each record's charging owner up again"},
        {"batch", CLI_COUNT, &batch, "N", "entries per Kafka transaction, default 1000", 1,
         CDR_SUSPENSE_BATCH_MAX},
        {"transactional-id", CLI_STRING, &tid, "ID",
         "producer transactional id (default G.replay)"},
        {"json", CLI_FLAG, &stats, NULL, "print one JSON line of counts on stdout at exit"},
        {"stats", CLI_FLAG, &stats, NULL, "the same as --json"},
        {"quiet", CLI_FLAG, &quiet, NULL, "only errors on stderr"},
        {0},
    };
    const cli_spec cs = {
        "suspense replay",
        "--brokers LIST [--topic-prefix P] [--reason R] [--rating-store DIR] [--stats]",
        "Put the entries of cdr.suspense that no replay has handled yet back on cdr.raw, up to\n"
        "the end the topic has when the replay starts, then exit: the original CDR, keyed by its\n"
        "charging owner (looked up again in the directory of --rating-store, if given). Exactly\n"
        "once: per batch, one Kafka transaction carries the records and the replay's positions.\n"
        "Undecodable and bad_record entries cannot be replayed: they are listed on stderr,\n"
        "counted and left in cdr.suspense. With --reason, entries of other reasons are skipped\n"
        "and stay pending for a later replay. Fix the directory or the plans first (the raters\n"
        "must have picked up the change). SIGTERM or SIGINT: commit the batch, exit 0.\n"
        "Exit status: 0 done; 3 done, some entries were not replayable; 1 error; 2 usage.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!brokers || !*brokers)
        return cli_usage_error(&cs, "--brokers is required");
    const int r = parse_reason(&cs, reason);
    if (r < 0)
        return 2;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_subtab *owners = NULL;
    if (store) { /* the rating view is a copy: the store is not kept open */
        cdr_store *st = NULL;
        int xrc = cli_store_open("suspense replay", store, CLI_STORE_READ, &st);
        if (xrc != CLI_EXIT_OK)
            return xrc;
        int src = cdr_dir_rating_view(st, &owners, &dg);
        cdr_store_close(st);
        if (src) {
            cli_report("suspense replay", &dg);
            return CLI_EXIT_FAIL;
        }
    }
    cli_stop_on_signals();
    char topic[512];
    snprintf(topic, sizeof topic, "%s%s", prefix ? prefix : "", CDR_SUSPENSE_TOPIC);
    replay_cli rcl = {.rc_quiet = quiet, .rc_topic = topic};
    const cdr_suspense_config sp = {.sp_brokers = brokers,
                                    .sp_topic_prefix = prefix,
                                    .sp_group = group,
                                    .sp_transactional_id = tid,
                                    .sp_reason = r,
                                    .sp_owners = owners,
                                    .sp_batch = (size_t)batch,
                                    .sp_quiet = quiet,
                                    .sp_stop = &cli_stop,
                                    .sp_on_entry = replay_entry,
                                    .sp_arg = &rcl};
    cdr_suspense_stats ss;
    int rc = cdr_suspense_replay(&sp, &ss, &dg);
    cdr_subtab_free(owners);
    if (rc)
        cli_report("suspense replay", &dg);
    if (stats) {
        printf("{\"read\":%" PRIu64 ",\"replayed\":%" PRIu64 ",\"not_replayable\":%" PRIu64
               ",\"skipped\":%" PRIu64 ",\"by_reason\":{",
               ss.sr_read, ss.sr_replayed, ss.sr_not_replayable, ss.sr_skipped);
        for (int i = 1; i < CDR_SUSPENSE_REASONS; i++)
            printf("%s\"%s\":%" PRIu64, i > 1 ? "," : "", cdr_suspense_reason_name(i),
                   ss.sr_by_reason[i]);
        printf("},\"batches\":%" PRIu64 ",\"seconds\":%.3f,\"ok\":%s}\n", ss.sr_batches,
               ss.sr_seconds, rc ? "false" : "true");
        fflush(stdout);
    }
    if (rc)
        return 1;
    return ss.sr_not_replayable ? 3 : 0;
}

/* ---- dispatch ----------------------------------------------------------------------------------
 */

static void usage(FILE *f)
{
    fprintf(f, "usage: cdrate suspense list --brokers LIST [--topic-prefix P] [--group G] "
               "[--reason R] [--json]\n"
               "       cdrate suspense replay --brokers LIST [--topic-prefix P] [--reason R] "
               "[--rating-store DIR] [--stats]\n"
               "\n"
               "list    print the entries of cdr.suspense and the totals per reason\n"
               "replay  put the replayable entries back on cdr.raw, exactly once\n"
               "\n"
               "cdrate suspense list --help, cdrate suspense replay --help: the options.\n");
}

int cmd_suspense(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("suspense", CDR_USAGE, "missing verb (list or replay)");
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "list"))
        return suspense_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "replay"))
        return suspense_replay(argc - 1, argv + 1);
    cli_error("suspense", CDR_USAGE, "unknown verb '%s' (list or replay)", argv[1]);
    usage(stderr);
    return 2;
}
