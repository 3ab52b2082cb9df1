/* pipeline.c - `cdrate pipeline`: collect, rate, archive on the embedded mock cluster, in one
 * process, and check that the figures add up (cdr_pipeline.h).
 *
 * Nothing is lost in a failure: the collectors hold their files (cl_hold: published, left in the
 * spool, de-duplication state in a pending LMDB transaction) until every stage has made the
 * records durable in the ledger and the figures add up; only then are the files moved to done/
 * and their hashes and identities stored. A failed run rolls the collectors back and empties the
 * ledger (it was empty before the run), so that a re-run starts over with the same inputs. A
 * marker file in the ledger says that the ledger holds a run not committed yet: a run killed
 * before its commit leaves it, and the next run empties that ledger too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_archive.h"
#include "cdr_live.h"
#include "cdr_bench.h"
#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_fraud.h"
#include "cdr_kafka.h"
#include "cdr_ledger.h"
#include "cdr_pipeline.h"
#include "cdr_rules.h"
#include "cdr_stream.h"

#define PIPE_PARTITIONS 32
#define PIPE_IDLE_MS    1000
#define PIPE_MAX_CYCLES 64
#define PIPE_MARKER     ".pipeline-incomplete" /* in the ledger: a run not committed yet */

typedef struct pipe_run {
    const cdr_pipeline_config *pr_cfg;
    cdr_pipeline_summary *pr_sum;
    cdr_diag *pr_dg;
    cdr_plan_set *pr_ps;
    cdr_subtab *pr_subs;
    cdr_kafka_mock *pr_mock;
    const char *pr_brokers; /* the mock's bootstrap servers */
    int pr_nparts;
    uint32_t pr_cycles[PIPE_MAX_CYCLES]; /* billing cycles seen on cdr.rated */
    int pr_ncycles;
    cdr_collect **pr_co;   /* [pc_ninputs]: the collectors, holding their files until the commit */
    cdr_live_acc *pr_live; /* the live state of cdr.rated, written into the store at the commit */
    cdr_fraud_rules *pr_fraud; /* the store's fraud rules, NULL = none */
    uint32_t *pr_closed;       /* the store's closed billing cycles (cdr_cycle_closed_list) */
    size_t pr_nclosed;
} pipe_run;

static void say(const pipe_run *pr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const pipe_run *pr, const char *fmt, ...)
{
    FILE *f = pr->pr_cfg->pc_log;
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

static int stopped(const pipe_run *pr)
{
    return pr->pr_cfg->pc_stop && *pr->pr_cfg->pc_stop;
}

/* ---- the embedded cluster -------------------------------------------------------------------- */

static const char *const pipe_topics[] = {
    CDR_TOPIC_RAW,          CDR_TOPIC_REJECTED,        CDR_TOPIC_CHECKPOINTS,
    CDR_STREAM_TOPIC_RATED, CDR_STREAM_TOPIC_SUSPENSE, CDR_STREAM_TOPIC_COUNTERS};

/* Every topic created up front with the same partition count: rate-stream wants as many in
 * cdr.counters as in cdr.raw, and the mock would auto-create it with 4. */
static int start_cluster(pipe_run *pr)
{
    int rc = cdr_kafka_mock_create(3, &pr->pr_mock, pr->pr_dg);
    for (size_t t = 0; t < sizeof pipe_topics / sizeof pipe_topics[0] && !rc; t++)
        rc = cdr_kafka_mock_topic_create(
            pr->pr_mock, pipe_topics[t],
            !strcmp(pipe_topics[t], CDR_TOPIC_CHECKPOINTS) ? 1 : pr->pr_nparts, pr->pr_dg);
    if (!rc)
        pr->pr_brokers = cdr_kafka_mock_bootstraps(pr->pr_mock);
    return rc;
}

/* The mock drops the oldest message sets of a partition beyond about 5 MB: a topic whose low
 * watermark left 0 lost records before they were read. */
static int check_kept(pipe_run *pr, const char *topic)
{
    rd_kafka_conf_t *conf = cdr_kafka_conf(pr->pr_brokers, NULL, 0, pr->pr_dg);
    if (!conf)
        return CDR_EINVAL;
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(pr->pr_dg, CDR_KAFKA, NULL, 0, 0, "kafka: %s", err);
    }
    int rc = 0;
    for (int p = 0; p < pr->pr_nparts && !rc; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e)
            rc = cdr_kafka_err(pr->pr_dg, e, topic);
        else if (lo > 0)
            rc = cdr_diag_set(pr->pr_dg, CDR_LIMIT, NULL, 0, 0,
                              "the embedded cluster dropped the first %" PRId64
                              " records of %s partition %d (it keeps about 5 MB per "
                              "partition): run with more --partitions or less input",
                              lo, topic, p);
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- 1. collect ------------------------------------------------------------------------------ */

static void on_report(void *arg, const cdr_collect_report *fr)
{
    pipe_run *pr = arg;
    const cdr_coll_stats *cs = &fr->fr_stats;
    if (fr->fr_status == CDR_COLLECT_DONE && fr->fr_moved_to)
        return; /* moved to done/ at the commit: said when it was held */
    if (fr->fr_status == CDR_COLLECT_DONE && fr->fr_msg[0]) /* at the commit, not moved */
        say(pr,
            "  %s: %s (its records are in the ledger; the next run reads it again, and what "
            "was read now is then duplicates)",
            fr->fr_name, fr->fr_msg);
    else if (fr->fr_status == CDR_COLLECT_DONE || fr->fr_status == CDR_COLLECT_HELD)
        say(pr,
            "  %s: read %" PRIu64 ", published %" PRIu64 ", rejected %" PRIu64
            ", duplicate %" PRIu64 ", nonbillable %" PRIu64,
            fr->fr_name, cs->cs_read, cs->cs_published, cs->cs_rejected, cs->cs_duplicate,
            cs->cs_nonbillable);
    else
        say(pr, "  %s: %s (moved to %s)", fr->fr_name, fr->fr_msg,
            fr->fr_moved_to ? fr->fr_moved_to : "nowhere");
}

static int collect_one(pipe_run *pr, size_t i)
{
    const cdr_pipeline_config *pc = pr->pr_cfg;
    const cdr_pipeline_input *pi = &pc->pc_inputs[i];
    cdr_pipeline_summary *sum = pr->pr_sum;
    cdr_collect_config cl;
    cdr_collect_config_defaults(&cl);
    cl.cl_format = pi->pi_format;
    int n;
    if (pi->pi_source) {
        n = snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "%s", pi->pi_source);
    } else { /* asterisk-1, asterisk-2, 3gpp-1, ... */
        size_t same = 1;
        for (size_t j = 0; j < i; j++)
            same += pc->pc_inputs[j].pi_format == pi->pi_format && !pc->pc_inputs[j].pi_source;
        n = snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "%s-%zu",
                     cdr_coll_format_name(pi->pi_format), same);
    }
    if (n < 0 || (size_t)n >= sizeof cl.cl_coll.cc_source ||
        snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", pi->pi_spool) >= (int)sizeof cl.cl_spool ||
        snprintf(cl.cl_brokers, sizeof cl.cl_brokers, "%s", pr->pr_brokers) >=
            (int)sizeof cl.cl_brokers)
        return cdr_diag_set(pr->pr_dg, CDR_EINVAL, pi->pi_spool, 0, 0,
                            "collect: spool path or source name too long");
    cl.cl_owners = pr->pr_subs;
    if (pc->pc_dedup_window > 0)
        cl.cl_dedup_window = pc->pc_dedup_window;
    cl.cl_quiet = 1;
    cl.cl_log = pc->pc_log ? pc->pc_log : stderr;
    cl.cl_hold = 1;
    cl.cl_settle_ms = pc->pc_settle_ms < 0    ? 0
                      : pc->pc_settle_ms == 0 ? CDR_COLLECT_SETTLE_DEFAULT_MS
                                              : pc->pc_settle_ms;
    say(pr, "collect %s (%s): %s", cl.cl_coll.cc_source, cdr_coll_format_name(pi->pi_format),
        pi->pi_spool);
    cdr_collect *co = NULL;
    int rc = cdr_collect_open(&cl, on_report, pr, &co, pr->pr_dg);
    if (!rc)
        rc = cdr_collect_spool(co, 1, pc->pc_stop, pr->pr_dg);
    if (co) {
        cdr_coll_stats cs;
        uint64_t files = 0, refused = 0, failed = 0;
        cdr_collect_totals(co, &cs, &files, &refused, &failed);
        sum->ps_in.cs_read += cs.cs_read;
        sum->ps_in.cs_published += cs.cs_published;
        sum->ps_in.cs_rejected += cs.cs_rejected;
        sum->ps_in.cs_duplicate += cs.cs_duplicate;
        sum->ps_in.cs_nonbillable += cs.cs_nonbillable;
        sum->ps_files += files;
        sum->ps_refused += refused;
        sum->ps_failed += failed;
    }
    pr->pr_co[i] = co; /* closed at the end of the run, after its commit or rollback */
    if (!rc && stopped(pr))
        rc = cdr_diag_set(pr->pr_dg, CDR_EINVAL, NULL, 0, 0, "stopped");
    return rc;
}

/* ---- 2. rate, 3. archive --------------------------------------------------------------------- */

static int write_alert(void *arg, const cdr_kafka_msg *km)
{
    FILE *f = arg;
    fwrite(km->km_value, 1, km->km_value_len, f);
    fputc('\n', f);
    return 0;
}

/* cdr.alerts as read back (read_committed), one JSON object per line, into a private file. */
static int save_alerts(pipe_run *pr, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return cdr_diag_set(pr->pr_dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    }
    int rc = cdr_kafka_read_topic(pr->pr_brokers, CDR_STREAM_TOPIC_ALERTS, NULL, 0, 0, write_alert,
                                  f, pr->pr_dg);
    if (fclose(f) != 0 && !rc)
        rc = cdr_diag_set(pr->pr_dg, CDR_EIO, path, 0, 0, "write error: %s", strerror(errno));
    return rc;
}

static int rate(pipe_run *pr)
{
    const cdr_pipeline_config *pc = pr->pr_cfg;
    const cdr_stream_config sc = {.sc_brokers = pr->pr_brokers,
                                  .sc_group = "cdrate-pipeline",
                                  .sc_threads = pc->pc_threads ? pc->pc_threads : 1,
                                  .sc_log = pc->pc_log ? pc->pc_log : stderr,
                                  .sc_quiet = !pc->pc_verbose,
                                  .sc_stop = pc->pc_stop,
                                  .sc_idle_exit_ms =
                                      pc->pc_idle_ms > 0 ? pc->pc_idle_ms : PIPE_IDLE_MS,
                                  .sc_fraud = pr->pr_fraud,
                                  .sc_closed = pr->pr_closed,
                                  .sc_nclosed = pr->pr_nclosed};
    cdr_stream_stats ss;
    int rc = cdr_stream_run(&sc, pr->pr_ps, pr->pr_subs, &ss, pr->pr_dg);
    pr->pr_sum->ps_alerts = ss.ss_alerts;
    if (!rc && pc->pc_alerts)
        rc = save_alerts(pr, pc->pc_alerts);
    pr->pr_sum->ps_rated = ss.ss_rated;
    pr->pr_sum->ps_suspense = ss.ss_suspense;
    pr->pr_sum->ps_batches = ss.ss_batches;
    if (!rc)
        say(pr,
            "rate-stream: %" PRIu64 " records, %" PRIu64 " rated, %" PRIu64 " to suspense, %" PRIu64
            " transactions",
            ss.ss_consumed, ss.ss_rated, ss.ss_suspense, ss.ss_batches);
    return rc;
}

static int archive(pipe_run *pr)
{
    const cdr_pipeline_config *pc = pr->pr_cfg;
    const cdr_archive_config ac = {.ac_brokers = pr->pr_brokers,
                                   .ac_ledger = pc->pc_ledger,
                                   .ac_segment_bytes = pc->pc_segment_bytes,
                                   .ac_group = "cdrate-pipeline-archive",
                                   .ac_idle_exit_ms =
                                       pc->pc_idle_ms > 0 ? pc->pc_idle_ms : PIPE_IDLE_MS,
                                   .ac_quiet = !pc->pc_verbose,
                                   .ac_stop = pc->pc_stop};
    cdr_archive_stats as;
    memset(&as, 0, sizeof as);
    int rc = cdr_archive_run(&ac, &as, pr->pr_dg);
    pr->pr_sum->ps_archived = as.as_archived;
    pr->pr_sum->ps_malformed = as.as_malformed;
    if (!rc)
        say(pr, "archive: %" PRIu64 " records into the ledger %s", as.as_archived, pc->pc_ledger);
    return rc;
}

/* ---- 4. read back and add up ----------------------------------------------------------------- */

/* The currency of plan (id, version) in plan set ctx, for a record that carries none. */
static void resolve_currency(const char *plan_id, uint32_t version, char *cur, void *ctx)
{
    const cdr_plan_set *ps = ctx;
    const int f = cdr_plan_set_family(ps, plan_id);
    for (uint32_t i = f >= 0 ? ps->ps_family_off[f] : 0; f >= 0 && i < ps->ps_family_off[f + 1];
         i++)
        if (ps->ps_plans[i]->pl_version == version) {
            memcpy(cur, ps->ps_plans[i]->pl_currency, 4);
            return;
        }
}

/* The summary's entry of currency cur ("" = unknown, shown as "???"), inserted in code order
 * when new; NULL with CDR_LIMIT in the run's diagnostic when there is no room. */
static cdr_pipeline_currency *currency_of(pipe_run *pr, const char *cur)
{
    cdr_pipeline_summary *sum = pr->pr_sum;
    char code[4] = "???";
    if (cur[0])
        snprintf(code, sizeof code, "%s", cur);
    int k = 0, c = 1;
    while (k < sum->ps_ncurrencies && (c = strcmp(sum->ps_currency[k].pc_currency, code)) < 0)
        k++;
    if (k < sum->ps_ncurrencies && c == 0)
        return &sum->ps_currency[k];
    if (sum->ps_ncurrencies == CDR_PIPELINE_CURRENCIES) {
        cdr_diag_set(pr->pr_dg, CDR_LIMIT, NULL, 0, 0, "more than %d currencies",
                     CDR_PIPELINE_CURRENCIES);
        return NULL;
    }
    memmove(&sum->ps_currency[k + 1], &sum->ps_currency[k],
            (size_t)(sum->ps_ncurrencies - k) * sizeof sum->ps_currency[0]);
    memset(&sum->ps_currency[k], 0, sizeof sum->ps_currency[k]);
    memcpy(sum->ps_currency[k].pc_currency, code, 4);
    sum->ps_ncurrencies++;
    return &sum->ps_currency[k];
}

static int read_rated(void *arg, const cdr_kafka_msg *km)
{
    pipe_run *pr = arg;
    cdr_pipeline_summary *sum = pr->pr_sum;
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    if (cdr_rated_wire_decode(km->km_value, km->km_value_len, &cr, &rr, plan, &dg))
        return 0; /* counted by the archiver as malformed */
    sum->ps_rated_read++;
    int c = 0;
    while (c < pr->pr_ncycles && pr->pr_cycles[c] != rr.rr_cycle)
        c++;
    if (c == pr->pr_ncycles) {
        if (c == PIPE_MAX_CYCLES)
            return cdr_diag_set(pr->pr_dg, CDR_LIMIT, NULL, 0, 0,
                                "cdr.rated spans more than %d billing cycles", PIPE_MAX_CYCLES);
        pr->pr_cycles[pr->pr_ncycles++] = rr.rr_cycle;
    }
    char cur[4] = "";
    memcpy(cur, rr.rr_currency, 4);
    if (!cur[0])
        resolve_currency(plan, rr.rr_plan_version, cur, pr->pr_ps);
    cdr_pipeline_currency *pc = currency_of(pr, cur);
    if (!pc)
        return pr->pr_dg->dg_code;
    pc->pc_records++;
    pc->pc_charge += rr.rr_charge;
    /* the live state (cdr_live.h): the line as the rater saw it, the version that rated it */
    const int f = cdr_plan_set_family(pr->pr_ps, plan);
    const cdr_plan *pl = f >= 0 ? cdr_plan_set_at(pr->pr_ps, f, cr.cr_start) : NULL;
    int rc = cdr_live_acc_add(pr->pr_live, cdr_subtab_find(pr->pr_subs, cr.cr_msisdn), &cr, &rr,
                              pl && pl->pl_version == rr.rr_plan_version ? pl : NULL);
    if (rc)
        return cdr_diag_set(pr->pr_dg, rc, NULL, 0, 0, "live state: msisdn %s: %s", cr.cr_msisdn,
                            rc == CDR_LIMIT ? "too many currencies or bundles in one cycle"
                                            : cdr_strerror(rc));
    return 0;
}

static int add_up(pipe_run *pr)
{
    cdr_pipeline_summary *sum = pr->pr_sum;
    int rc = cdr_kafka_read_topic(pr->pr_brokers, CDR_STREAM_TOPIC_RATED, NULL, 0, 0, read_rated,
                                  pr, pr->pr_dg);
    if (rc)
        return rc;
    cdr_ledger_opts lo = {.lo_readonly = 1};
    cdr_ledger *lg = NULL;
    if ((rc = cdr_ledger_open(pr->pr_cfg->pc_ledger, &lo, &lg, pr->pr_dg)) != 0)
        return rc;
    for (int c = 0; c < pr->pr_ncycles && !rc; c++) {
        cdr_ledger_totals lt;
        if ((rc = cdr_ledger_totals_get(lg, pr->pr_cycles[c], resolve_currency, pr->pr_ps, &lt,
                                        pr->pr_dg)) != 0)
            break;
        sum->ps_ledger_records += lt.lt_records;
        for (int k = 0; k < lt.lt_ncurrencies && !rc; k++) {
            const cdr_ledger_money *lm = &lt.lt_currency[k];
            cdr_pipeline_currency *pc = currency_of(pr, lm->lm_currency);
            if (!pc) {
                rc = CDR_LIMIT;
                break;
            }
            pc->pc_ledger_records += lm->lm_records;
            for (int s = 0; s < CDR_SVC_COUNT; s++)
                pc->pc_ledger_charge += lm->lm_charge_by_service[s];
        }
    }
    cdr_ledger_close(lg);
    if (rc)
        return rc;
    sum->ps_checked = 1;
    const cdr_coll_stats *in = &sum->ps_in;
    char a[64], b[64];
    if (in->cs_read != in->cs_published + in->cs_rejected + in->cs_duplicate + in->cs_nonbillable)
        return cdr_diag_set(pr->pr_dg, CDR_FORMAT, NULL, 0, 0,
                            "collected: read %" PRIu64 " != published + rejected + duplicate + "
                            "nonbillable",
                            in->cs_read);
    if (in->cs_published != sum->ps_rated + sum->ps_suspense)
        return cdr_diag_set(pr->pr_dg, CDR_FORMAT, NULL, 0, 0,
                            "published %" PRIu64 " != rated %" PRIu64 " + suspense %" PRIu64,
                            in->cs_published, sum->ps_rated, sum->ps_suspense);
    if (sum->ps_archived != sum->ps_rated || sum->ps_rated_read != sum->ps_rated ||
        sum->ps_ledger_records != sum->ps_rated || sum->ps_malformed)
        return cdr_diag_set(pr->pr_dg, CDR_FORMAT, NULL, 0, 0,
                            "rated %" PRIu64 ", on cdr.rated %" PRIu64 ", archived %" PRIu64
                            " (%" PRIu64 " malformed), in the ledger %" PRIu64 ": they differ",
                            sum->ps_rated, sum->ps_rated_read, sum->ps_archived, sum->ps_malformed,
                            sum->ps_ledger_records);
    for (int k = 0; k < sum->ps_ncurrencies; k++) {
        const cdr_pipeline_currency *pc = &sum->ps_currency[k];
        if (pc->pc_ledger_records != pc->pc_records || pc->pc_ledger_charge != pc->pc_charge)
            return cdr_diag_set(
                pr->pr_dg, CDR_FORMAT, NULL, 0, 0,
                "%s: on cdr.rated %" PRIu64 " records charging %s, in the ledger %" PRIu64
                " records charging %s",
                pc->pc_currency, pc->pc_records,
                cdr_money_format(pc->pc_charge, 6, CDR_ROUND_HALF_UP, a, sizeof a),
                pc->pc_ledger_records,
                cdr_money_format(pc->pc_ledger_charge, 6, CDR_ROUND_HALF_UP, b, sizeof b));
    }
    return 0;
}

/* ---- the ledger: empty at the start, emptied again after a failure --------------------------- */

static int fsync_path(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Count the names in dir other than the marker; *marker = whether it is there. -1 with errno on
 * error; 0 names and no marker when dir does not exist. */
static long ledger_names(const char *dir, int *marker)
{
    *marker = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    long n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!strcmp(de->d_name, PIPE_MARKER))
            *marker = 1;
        else
            n++;
    }
    closedir(d);
    return n;
}

/* Empty the ledger (what this run, or an interrupted one, wrote), then drop the marker. */
static int ledger_discard(const char *dir, cdr_diag *dg)
{
    int rc = cdr_ledger_clear(dir, dg);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, PIPE_MARKER);
    if (!rc && unlink(path) != 0 && errno != ENOENT)
        rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot remove: %s", strerror(errno));
    if (!rc && fsync_path(dir) != 0 && errno != ENOENT)
        rc = cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "fsync: %s", strerror(errno));
    return rc;
}

/* The ledger must start empty (the embedded cluster's offsets start at 0 every run). One that
 * holds a marker was left by a run that did not commit its inputs (killed): it is emptied. */
static int ledger_check(pipe_run *pr)
{
    const char *dir = pr->pr_cfg->pc_ledger;
    int marker;
    long n = ledger_names(dir, &marker);
    if (n < 0)
        return cdr_diag_set(pr->pr_dg, CDR_EIO, dir, 0, 0, "cannot read: %s", strerror(errno));
    if (marker) {
        if (ledger_discard(dir, pr->pr_dg))
            return pr->pr_dg->dg_code;
        say(pr,
            "ledger %s: emptied of the records of an interrupted run (its inputs were not "
            "committed: they are collected again)",
            dir);
        n = ledger_names(dir, &marker);
    }
    if (n != 0)
        return cdr_diag_set(pr->pr_dg, CDR_EXISTS, dir, 0, 0,
                            "the ledger is not empty (the embedded cluster starts empty on every "
                            "run): give a new directory");
    return 0;
}

/* The marker, durable before any record goes into the ledger. */
static int ledger_mark(pipe_run *pr)
{
    const char *dir = pr->pr_cfg->pc_ledger;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cdr_diag_set(pr->pr_dg, CDR_EIO, dir, 0, 0, "cannot create: %s", strerror(errno));
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, PIPE_MARKER);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    static const char text[] = "cdrate pipeline: this ledger holds a run whose inputs are not "
                               "committed yet; the next run empties it and starts over\n";
    int bad =
        fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1) || fsync(fd) != 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (bad || fsync_path(dir) != 0)
        return cdr_diag_set(pr->pr_dg, CDR_EIO, path, 0, 0, "cannot write: %s",
                            strerror(bad ? e : errno));
    return 0;
}

/* Two inputs on one spool would share its store (and take each other's files). */
static int check_spools(const cdr_pipeline_config *pc, cdr_diag *dg)
{
    for (size_t i = 0; i < pc->pc_ninputs; i++) {
        char a[PATH_MAX], b[PATH_MAX];
        if (!realpath(pc->pc_inputs[i].pi_spool, a))
            continue; /* the collector says what is wrong with it */
        for (size_t j = 0; j < i; j++)
            if (realpath(pc->pc_inputs[j].pi_spool, b) && !strcmp(a, b))
                return cdr_diag_set(dg, CDR_EINVAL, pc->pc_inputs[i].pi_spool, 0, 0,
                                    "pipeline: inputs %zu and %zu are the same spool directory",
                                    j + 1, i + 1);
    }
    return 0;
}

/* ---- commit or roll back --------------------------------------------------------------------- */

static void rollback(pipe_run *pr, size_t from)
{
    for (size_t i = from; i < pr->pr_cfg->pc_ninputs; i++)
        if (pr->pr_co[i])
            cdr_collect_rollback(pr->pr_co[i]);
}

/* Every stage succeeded: the ledger is durable (each frame synced by the archiver). The marker
 * goes first (a crash after it leaves a complete ledger and uncommitted inputs: the next run
 * refuses the non-empty ledger rather than count anything twice), then each collector commits:
 * its files' state becomes durable and they move to done/. *partial: some input was committed
 * (the run can no longer be undone). */
static int commit(pipe_run *pr, int *partial)
{
    const cdr_pipeline_config *pc = pr->pr_cfg;
    *partial = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", pc->pc_ledger, PIPE_MARKER);
    if (unlink(path) != 0 || fsync_path(pc->pc_ledger) != 0)
        return cdr_diag_set(pr->pr_dg, CDR_EIO, path, 0, 0, "cannot remove: %s", strerror(errno));
    size_t files = 0;
    for (size_t i = 0; i < pc->pc_ninputs; i++) {
        const size_t held = cdr_collect_held(pr->pr_co[i]);
        cdr_diag cdg;
        cdr_diag_clear(&cdg);
        int rc = cdr_collect_commit(pr->pr_co[i], &cdg);
        if (rc == CDR_COLLECT_UNMOVED) {
            say(pr, "  %s (the next run moves it to done/ without collecting it again)",
                cdg.dg_msg);
            rc = 0;
        }
        if (rc && !*partial) { /* nothing is committed anywhere: the caller undoes the run */
            *pr->pr_dg = cdg;
            rollback(pr, i + 1);
            return rc;
        }
        if (rc) {
            rollback(pr, i + 1);
            return cdr_diag_set(
                pr->pr_dg, rc, pc->pc_inputs[i].pi_spool, 0, 0,
                "committing the inputs: %s; the ledger holds the records of every input, but "
                "the files left in this spool%s are not marked as collected: remove them from "
                "the spool before the next run, or they are counted again",
                cdg.dg_msg, i + 1 < pc->pc_ninputs ? " and in the spools after it" : "");
        }
        files += held;
        *partial |= held > 0;
    }
    say(pr, "committed: %zu file(s) moved to done/", files);
    return 0;
}

/* After the commit: the live state of the run's records into the store, in one transaction
 * (docs/live-state.md). The inputs are committed by then, so a re-run never adds them twice; a
 * failure here leaves the ledger complete and the live state without this run. */
static int live_write(pipe_run *pr)
{
    cdr_store *st = NULL;
    MDB_txn *txn = NULL;
    cdr_diag ldg;
    cdr_diag_clear(&ldg);
    int rc = cdr_store_open(pr->pr_cfg->pc_store, 0, &st, &ldg);
    if (!rc && (rc = mdb_txn_begin(st->st_env, NULL, 0, &txn)) != 0)
        rc = cdr_store_err(rc, "begin live state write", &ldg);
    if (!rc && (rc = cdr_live_acc_write(pr->pr_live, txn, &ldg)) == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc)
            rc = cdr_store_err(rc, "commit live state", &ldg);
    }
    if (txn)
        mdb_txn_abort(txn);
    cdr_store_close(st);
    if (rc)
        return cdr_diag_set(pr->pr_dg, rc, pr->pr_cfg->pc_store, 0, 0,
                            "the inputs are committed and the ledger is complete, but the live "
                            "state of this run could not be written into the store: %s",
                            ldg.dg_msg);
    pr->pr_sum->ps_live_lines = cdr_live_acc_lines(pr->pr_live);
    say(pr, "live state: %zu line-cycles updated in %s", pr->pr_sum->ps_live_lines,
        pr->pr_cfg->pc_store);
    return 0;
}

/* ---- the run --------------------------------------------------------------------------------- */

static double now_s(void)
{
    return (double)cdr_bench_now_ns() / 1e9;
}

int cdr_pipeline_run(const cdr_pipeline_config *pc, cdr_pipeline_summary *sum, cdr_diag *dg)
{
    memset(sum, 0, sizeof *sum);
    if (!pc || !pc->pc_inputs || pc->pc_ninputs == 0 || !pc->pc_store || !pc->pc_ledger ||
        pc->pc_partitions < 0 || pc->pc_partitions > 1024)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "pipeline: inputs, a store, a ledger and 1..1024 partitions are "
                            "required");
    for (size_t i = 0; i < pc->pc_ninputs; i++)
        if (!pc->pc_inputs[i].pi_spool || pc->pc_inputs[i].pi_format < 0 ||
            pc->pc_inputs[i].pi_format >= CDR_FMT_COUNT)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "pipeline: input %zu: bad format",
                                i + 1);
    if (strlen(pc->pc_ledger) > 4000)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "pipeline: ledger path too long");
    int rc = check_spools(pc, dg);
    if (rc)
        return rc;
    pipe_run prv = {.pr_cfg = pc,
                    .pr_sum = sum,
                    .pr_dg = dg,
                    .pr_nparts = pc->pc_partitions ? pc->pc_partitions : PIPE_PARTITIONS};
    pipe_run *pr = &prv;
    if (!(pr->pr_co = calloc(pc->pc_ninputs, sizeof *pr->pr_co)) ||
        cdr_live_acc_create(&pr->pr_live) != 0) {
        free(pr->pr_co);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    const double t0 = now_s();
    cdr_store *st = NULL;
    rc = ledger_check(pr);
    if (!rc && (rc = cdr_store_open(pc->pc_store, MDB_RDONLY, &st, dg)) == 0 &&
        (rc = cdr_plan_set_load(st, &pr->pr_ps, dg)) == 0)
        rc = cdr_dir_rating_view(st, &pr->pr_subs, dg);
    if (!rc) /* the fraud rules compiled into the store, if any */
        rc = cdr_fraud_store_load(st, &pr->pr_fraud, dg);
    if (!rc) /* a record of a closed cycle is rated into the next open one (docs/billing.md) */
        rc = cdr_cycle_closed_list(st, &pr->pr_closed, &pr->pr_nclosed, dg);
    cdr_store_close(st);
    const int touched = !rc; /* from here on the ledger may hold records of this run */
    if (!rc)
        rc = ledger_mark(pr);
    if (!rc && (rc = start_cluster(pr)) == 0)
        say(pr, "embedded Kafka cluster at %s (%d partitions per topic)", pr->pr_brokers,
            pr->pr_nparts);

    double t = now_s();
    for (size_t i = 0; i < pc->pc_ninputs && !rc; i++)
        rc = collect_one(pr, i);
    sum->ps_collect_seconds = now_s() - t;
    if (!rc)
        rc = check_kept(pr, CDR_TOPIC_RAW);

    t = now_s();
    if (!rc)
        rc = rate(pr);
    sum->ps_rate_seconds = now_s() - t;
    if (!rc)
        rc = check_kept(pr, CDR_STREAM_TOPIC_RATED);

    t = now_s();
    if (!rc)
        rc = archive(pr);
    sum->ps_archive_seconds = now_s() - t;
    if (!rc && stopped(pr))
        rc = cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "stopped");
    if (!rc)
        rc = add_up(pr);
    int partial = 0;
    if (!rc && (rc = commit(pr, &partial)) != 0 && !partial)
        (void)ledger_mark(pr); /* undone below: the marker again, should emptying it fail */
    if (!rc && (rc = live_write(pr)) != 0)
        partial = 1; /* the inputs are committed and the ledger complete: nothing to undo */
    if (rc && touched && !partial) {
        /* nothing of this run is committed: inputs back, ledger empty, a re-run starts over */
        rollback(pr, 0);
        cdr_diag ldg;
        cdr_diag_clear(&ldg);
        if (ledger_discard(pc->pc_ledger, &ldg) == 0) {
            say(pr,
                "failed: every input is left in its spool and the ledger is empty again (%" PRIu64
                " records archived by this run removed); a re-run collects them anew",
                sum->ps_archived);
            sum->ps_archived = 0; /* what the ledger holds of this run */
        } else
            say(pr,
                "failed: every input is left in its spool; the ledger could not be emptied (%s): "
                "the next run empties it",
                ldg.dg_msg);
    }
    for (size_t i = 0; i < pc->pc_ninputs; i++)
        cdr_collect_close(pr->pr_co[i]);
    free(pr->pr_co);
    cdr_live_acc_free(pr->pr_live);
    cdr_kafka_mock_destroy(pr->pr_mock);
    cdr_subtab_free(pr->pr_subs);
    cdr_plan_set_release(pr->pr_ps);
    free(pr->pr_fraud);
    free(pr->pr_closed);
    sum->ps_seconds = now_s() - t0;
    return rc;
}

/* ---- output ---------------------------------------------------------------------------------- */

/* "NAME":{"CUR":value,...} with the money of the given field of every currency. */
static void json_money(FILE *f, const cdr_pipeline_summary *ps, const char *name, int ledger,
                       int micro)
{
    fprintf(f, ",\"%s\":{", name);
    for (int k = 0; k < ps->ps_ncurrencies; k++) {
        const cdr_pipeline_currency *pc = &ps->ps_currency[k];
        const cdr_money v = ledger ? pc->pc_ledger_charge : pc->pc_charge;
        char m[64];
        if (micro)
            fprintf(f, "%s\"%s\":%" PRId64, k ? "," : "", pc->pc_currency, v);
        else
            fprintf(f, "%s\"%s\":\"%s\"", k ? "," : "", pc->pc_currency,
                    cdr_money_format(v, 6, CDR_ROUND_HALF_UP, m, sizeof m));
    }
    fputc('}', f);
}

void cdr_pipeline_summary_json(const cdr_pipeline_summary *ps, FILE *f)
{
    const cdr_coll_stats *in = &ps->ps_in;
    fprintf(f,
            "{\"read\":%" PRIu64 ",\"published\":%" PRIu64 ",\"rejected\":%" PRIu64
            ",\"duplicate\":%" PRIu64 ",\"nonbillable\":%" PRIu64 ",\"files\":%" PRIu64
            ",\"refused\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"rated\":%" PRIu64
            ",\"suspense\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"archived\":%" PRIu64
            ",\"malformed\":%" PRIu64 ",\"ledger_records\":%" PRIu64,
            in->cs_read, in->cs_published, in->cs_rejected, in->cs_duplicate, in->cs_nonbillable,
            ps->ps_files, ps->ps_refused, ps->ps_failed, ps->ps_rated, ps->ps_suspense,
            ps->ps_batches, ps->ps_archived, ps->ps_malformed, ps->ps_ledger_records);
    json_money(f, ps, "charges", 0, 0);
    json_money(f, ps, "charges_micro", 0, 1);
    json_money(f, ps, "ledger_charges", 1, 0);
    json_money(f, ps, "ledger_charges_micro", 1, 1);
    fprintf(f,
            ",\"collect_seconds\":%.3f,\"rate_seconds\":%.3f,\"archive_seconds\":%.3f,"
            "\"seconds\":%.3f,\"checked\":%s,\"live_lines\":%zu,\"alerts\":%" PRIu64 "}\n",
            ps->ps_collect_seconds, ps->ps_rate_seconds, ps->ps_archive_seconds, ps->ps_seconds,
            ps->ps_checked ? "true" : "false", ps->ps_live_lines, ps->ps_alerts);
}

void cdr_pipeline_summary_text(const cdr_pipeline_summary *ps, FILE *f)
{
    const cdr_coll_stats *in = &ps->ps_in;
    const int in_ok =
        in->cs_read == in->cs_published + in->cs_rejected + in->cs_duplicate + in->cs_nonbillable;
    const int out_ok = in->cs_published == ps->ps_rated + ps->ps_suspense;
    const int arch_ok = ps->ps_archived == ps->ps_rated && ps->ps_ledger_records == ps->ps_rated;
    int same = 1;
    for (int k = 0; k < ps->ps_ncurrencies; k++)
        same &= ps->ps_currency[k].pc_ledger_charge == ps->ps_currency[k].pc_charge &&
                ps->ps_currency[k].pc_ledger_records == ps->ps_currency[k].pc_records;
    const char *charge_ok = !ps->ps_checked ? "not checked" : same ? "yes" : "NO";
    char m[64];
    fprintf(f,
            "records in     %12" PRIu64 "   from %" PRIu64 " file(s); %" PRIu64
            " more refused (content seen before), %" PRIu64 " unreadable\n",
            in->cs_read, ps->ps_files, ps->ps_refused, ps->ps_failed);
    fprintf(f, "  rejected     %12" PRIu64 "   to cdr.rejected with file, line and reason\n",
            in->cs_rejected);
    fprintf(f, "  duplicate    %12" PRIu64 "   dropped by the de-duplication\n", in->cs_duplicate);
    fprintf(f, "  nonbillable  %12" PRIu64 "   e.g. unanswered calls\n", in->cs_nonbillable);
    fprintf(f, "  published    %12" PRIu64 "   to cdr.raw (read = the four above: %s)\n",
            in->cs_published, in_ok ? "yes" : "NO");
    fprintf(f, "rated          %12" PRIu64 "   to cdr.rated in %" PRIu64 " transactions\n",
            ps->ps_rated, ps->ps_batches);
    fprintf(f,
            "suspense       %12" PRIu64
            "   to cdr.suspense, with the reason (published = rated + suspense: %s)\n",
            ps->ps_suspense, out_ok ? "yes" : "NO");
    fprintf(f, "archived       %12" PRIu64 "   into the ledger (= rated: %s)\n", ps->ps_archived,
            arch_ok ? "yes" : "NO");
    fprintf(f, "charge total   ");
    for (int k = 0; k < ps->ps_ncurrencies; k++)
        fprintf(f, "%s%s %s", k ? ", " : "", ps->ps_currency[k].pc_currency,
                cdr_money_format(ps->ps_currency[k].pc_charge, 2, CDR_ROUND_HALF_UP, m, sizeof m));
    fprintf(f, "%s   (ledger = cdr.rated to the micro-unit: %s)\n", ps->ps_ncurrencies ? "" : "0",
            charge_ok);
    fprintf(f, "live state     %12zu   line-cycles updated in the store (cdrate query)\n",
            ps->ps_live_lines);
    fprintf(f, "alerts         %12" PRIu64 "   to cdr.alerts (credit, bundle, pool, fraud)\n",
            ps->ps_alerts);
    fprintf(f, "seconds        collect %.1f, rate %.1f, archive %.1f, total %.1f\n",
            ps->ps_collect_seconds, ps->ps_rate_seconds, ps->ps_archive_seconds, ps->ps_seconds);
}
