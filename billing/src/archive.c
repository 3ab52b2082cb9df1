/* archive.c - the archiver: <prefix>cdr.rated into the ledger, exactly once (cdr_archive.h,
 * docs/ledger.md).
 *
 * One consumer (a group member, read_committed) and one ledger writer. The loop: poll a batch;
 * per partition, decode the values and append them with the batch's last offset to the ledger
 * (durable when it returns); then commit the offsets to the group, asynchronously, for lag tools
 * only. Appending happens outside poll, so the rebalance callback (which runs inside poll) never
 * sees a half-appended batch: only polled, unappended messages, which it drops for the revoked
 * partitions. An assigned partition starts where the ledger says (cdr_ledger_next_offset).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "cdr_archive.h"
#include "cdr_kafka.h"
#include "cdr_ledger.h"
#include "cdr_stream.h"

#define ARCHIVE_BATCH_DEFAULT 10000
#define ARCHIVE_BATCH_MAX     100000
#define ARCHIVE_WAIT_DEFAULT  200
#define ARCHIVE_TIMEOUT_MS    30000 /* metadata and watermark queries */

typedef struct ar_part {
    uint8_t ap_assigned;
    int64_t ap_pos;       /* next offset: after the last message taken or the end reached */
    int64_t ap_committed; /* offset last committed to the group, -1 none */
} ar_part;

typedef struct archiver {
    const cdr_archive_config *ar_cfg;
    cdr_diag *ar_dg;
    char ar_topic[256];
    cdr_ledger *ar_lg;          /* the ledger, unless the caller gave a sink */
    cdr_archive_sink ar_ledger; /* the ledger as a sink */
    const cdr_archive_sink *ar_sink;
    rd_kafka_t *ar_cons;
    ar_part *ar_parts; /* [ar_nparts], grown when partitions appear */
    int ar_nparts;
    rd_kafka_message_t **ar_msgs;
    size_t ar_nmsgs;
    cdr_ledger_rec *ar_recs;
    int ar_err;       /* error raised in a callback */
    uint64_t ar_idle; /* monotonic ns of the last message or assignment change */
    cdr_archive_stats ar_stats;
} archiver;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *ar_name(const archiver *ar)
{
    return ar->ar_cfg->ac_name && *ar->ar_cfg->ac_name ? ar->ar_cfg->ac_name : "archive";
}

static void say(const archiver *ar, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const archiver *ar, const char *fmt, ...)
{
    if (ar->ar_cfg->ac_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cdrate %s: ", ar_name(ar));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The ledger as the archiver's sink. */
static int64_t ledger_next(void *arg, uint32_t partition)
{
    return cdr_ledger_next_offset(arg, partition);
}

static int ledger_append(void *arg, uint32_t partition, const cdr_ledger_rec *recs, size_t n,
                         int64_t last, cdr_diag *dg)
{
    return cdr_ledger_append(arg, partition, recs, n, last, dg);
}

static uint64_t ledger_stored(void *arg)
{
    return cdr_ledger_appended(arg);
}

static int stopping(const archiver *ar)
{
    return ar->ar_cfg->ac_stop && *ar->ar_cfg->ac_stop;
}

/* The state of partition p, growing the table when needed; NULL when out of memory. */
static ar_part *part_at(archiver *ar, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= ar->ar_nparts) {
        int n = ar->ar_nparts ? ar->ar_nparts : 8;
        while (n <= p)
            n *= 2;
        ar_part *np = realloc(ar->ar_parts, (size_t)n * sizeof *np);
        if (!np)
            return NULL;
        for (int i = ar->ar_nparts; i < n; i++)
            np[i] = (ar_part){0, 0, -1};
        ar->ar_parts = np;
        ar->ar_nparts = n;
    }
    return &ar->ar_parts[p];
}

static int assigned(const archiver *ar, int32_t p)
{
    return p >= 0 && p < ar->ar_nparts && ar->ar_parts[p].ap_assigned;
}

/* ---- rebalancing ------------------------------------------------------------------------------
 */

static void drop_unassigned_msgs(archiver *ar)
{
    size_t k = 0;
    for (size_t i = 0; i < ar->ar_nmsgs; i++) {
        rd_kafka_message_t *m = ar->ar_msgs[i];
        if (assigned(ar, m->partition))
            ar->ar_msgs[k++] = m;
        else
            rd_kafka_message_destroy(m);
    }
    ar->ar_nmsgs = k;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    archiver *ar = opaque;
    const int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    ar->ar_idle = now_ns();
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* The sink is the truth: each partition starts after its last applied batch. */
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            ar_part *ap = part_at(ar, tp->partition);
            if (!ap) {
                if (!ar->ar_err)
                    ar->ar_err = cdr_diag_set(ar->ar_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
                continue;
            }
            int64_t next =
                ar->ar_sink->sk_next_offset(ar->ar_sink->sk_arg, (uint32_t)tp->partition);
            tp->offset = next > 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
            ap->ap_assigned = 1;
            ap->ap_pos = next;
            ap->ap_committed = -1;
            say(ar, "assigned %s partition %" PRId32 " from offset %" PRId64 "%s", ar->ar_topic,
                tp->partition, next, next > 0 ? "" : " (the beginning)");
        }
        rd_kafka_error_t *e = NULL;
        rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            re = rd_kafka_assign(rk, parts);
        if (e && !ar->ar_err)
            ar->ar_err = cdr_kafka_error(ar->ar_dg, e, "assign");
        else if (e)
            rd_kafka_error_destroy(e);
        if (re && !ar->ar_err)
            ar->ar_err = cdr_kafka_err(ar->ar_dg, re, "assign");
    } else {
        if (coop) {
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].partition >= 0 && parts->elems[i].partition < ar->ar_nparts)
                    ar->ar_parts[parts->elems[i].partition].ap_assigned = 0;
        } else {
            for (int i = 0; i < ar->ar_nparts; i++)
                ar->ar_parts[i].ap_assigned = 0;
        }
        drop_unassigned_msgs(ar);
        say(ar, "revoked %d partition(s)%s", parts->cnt,
            rd_kafka_assignment_lost(rk) ? " (lost)" : "");
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}

/* ---- setup ------------------------------------------------------------------------------------
 */

/* Partition count of the topic: > 0, 0 when it does not exist, < 0 on error (in dg) or when
 * stopped meanwhile. */
static int topic_partitions(archiver *ar)
{
    return cdr_kafka_topic_partitions(ar->ar_cons, ar->ar_topic, ARCHIVE_TIMEOUT_MS,
                                      ar->ar_cfg->ac_stop, ar->ar_dg);
}

/* 0, 1 when stopped before the subscription, or an error. */
static int setup_consumer(archiver *ar, const char *group)
{
    const char *const kv[][2] = {
        {"client.id", "cdrate-archive"},
        {"group.id", group},
        {"isolation.level", "read_committed"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        /* every assigned partition gets an explicit offset; one the partition does not hold
         * must stop the archiver, never skip records */
        {"auto.offset.reset", "error"},
        {"enable.partition.eof", "true"}, /* the end, past transaction markers (idle exit) */
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", "6000"}, /* a killed archiver's partitions move after 6 s */
        {"heartbeat.interval.ms", "1000"},
        {"fetch.wait.max.ms", "100"},
    };
    rd_kafka_conf_t *conf =
        cdr_kafka_conf(ar->ar_cfg->ac_brokers, kv, sizeof kv / sizeof kv[0], ar->ar_dg);
    if (!conf)
        return CDR_EINVAL;
    rd_kafka_conf_set_opaque(conf, ar);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char err[512];
    ar->ar_cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!ar->ar_cons) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(ar->ar_dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    }
    rd_kafka_poll_set_consumer(ar->ar_cons);
    int n = topic_partitions(ar);
    if (n < 0 && stopping(ar))
        return 1; /* stopped while waiting for the brokers: not an error */
    if (n < 0)
        return ar->ar_dg->dg_code;
    if (n == 0)
        return cdr_diag_set(ar->ar_dg, CDR_NOTFOUND, NULL, 0, 0,
                            "kafka: no topic %s (cdrate rate-stream creates it)", ar->ar_topic);
    if (!part_at(ar, n - 1))
        return cdr_diag_set(ar->ar_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    say(ar, "group %s on %s (%d partitions), %s %s", group, ar->ar_topic, n, ar->ar_sink->sk_what,
        ar->ar_sink->sk_where);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, ar->ar_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(ar->ar_cons, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    return e ? cdr_kafka_err(ar->ar_dg, e, "subscribe") : 0;
}

/* ---- one batch --------------------------------------------------------------------------------
 */

/* An offset the partition does not hold: say which, with the partition's range. */
static int offset_reset_error(archiver *ar, const rd_kafka_message_t *m)
{
    int64_t lo = -1, hi = -1,
            next = ar->ar_sink->sk_next_offset(ar->ar_sink->sk_arg, (uint32_t)m->partition);
    rd_kafka_query_watermark_offsets(ar->ar_cons, ar->ar_topic, m->partition, &lo, &hi, 5000);
    return cdr_diag_set(ar->ar_dg, CDR_RANGE, NULL, 0, 0,
                        "kafka: %s partition %" PRId32 ": the %s resumes at offset %" PRId64
                        ", which the partition does not hold (it has %" PRId64 "..%" PRId64
                        "): records were deleted before they were archived, or the topic was "
                        "recreated; refusing to skip them (%s)",
                        ar->ar_topic, m->partition, ar->ar_sink->sk_what, next, lo, hi,
                        rd_kafka_message_errstr(m));
}

static int collect(archiver *ar, size_t max)
{
    const int wait =
        ar->ar_cfg->ac_batch_wait_ms > 0 ? ar->ar_cfg->ac_batch_wait_ms : ARCHIVE_WAIT_DEFAULT;
    const uint64_t t0 = now_ns();
    while (ar->ar_nmsgs < max && !ar->ar_err && !stopping(ar)) {
        uint64_t el = (now_ns() - t0) / 1000000u;
        if (el >= (uint64_t)wait)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(ar->ar_cons, (int)((uint64_t)wait - el));
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end as a read_committed consumer sees it, past any transaction marker */
            if (assigned(ar, m->partition) && m->offset > ar->ar_parts[m->partition].ap_pos)
                ar->ar_parts[m->partition].ap_pos = m->offset;
        } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
            ar->ar_err = offset_reset_error(ar, m);
        } else if (m->err) {
            /* transient (the broker or the network): librdkafka retries */
            char es[256];
            rd_kafka_resp_err_t fe = rd_kafka_fatal_error(ar->ar_cons, es, sizeof es);
            if (fe)
                ar->ar_err = cdr_diag_set(ar->ar_dg, CDR_KAFKA_FATAL, NULL, 0, 0,
                                          "kafka: consumer: %s (fatal)", es);
        } else if (assigned(ar, m->partition) &&
                   m->offset >=
                       ar->ar_sink->sk_next_offset(ar->ar_sink->sk_arg, (uint32_t)m->partition)) {
            ar->ar_msgs[ar->ar_nmsgs++] = m;
            ar->ar_idle = now_ns();
            continue; /* kept */
        }
        rd_kafka_message_destroy(m);
    }
    return ar->ar_err;
}

static int cmp_msg(const void *a, const void *b)
{
    const rd_kafka_message_t *x = *(rd_kafka_message_t *const *)a;
    const rd_kafka_message_t *y = *(rd_kafka_message_t *const *)b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Decode message m into rec; 0, or non-zero after reporting it as malformed. */
static int decode(archiver *ar, const rd_kafka_message_t *m, cdr_ledger_rec *rec)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = m->payload ? cdr_rated_wire_decode(m->payload, m->len, &rec->lr_cdr, &rec->lr_rated,
                                                rec->lr_plan, &dg)
                        : cdr_diag_set(&dg, CDR_FORMAT, NULL, 0, 0, "no value");
    if (!rc && rec->lr_rated.rr_reason)
        rc = cdr_diag_set(&dg, CDR_FORMAT, NULL, 0, 0,
                          "an unratable record (status %s) belongs on cdr.suspense",
                          cdr_reason_name(rec->lr_rated.rr_reason));
    else if (!rc && rec->lr_rated.rr_cycle == 0)
        rc = cdr_diag_set(&dg, CDR_FORMAT, NULL, 0, 0, "a rated record without a billing cycle");
    if (!rc) {
        rec->lr_offset = m->offset;
        return 0;
    }
    /* One line, whatever ac_quiet says: a data problem the operator must see. */
    if (dg.dg_column > 0)
        fprintf(stderr,
                "cdrate %s: %s partition %" PRId32 " offset %" PRId64
                ": malformed rated record, skipped (it stays in the topic): byte %d: %s\n",
                ar_name(ar), ar->ar_topic, m->partition, m->offset, dg.dg_column, dg.dg_msg);
    else
        fprintf(stderr,
                "cdrate %s: %s partition %" PRId32 " offset %" PRId64
                ": malformed rated record, skipped (it stays in the topic): %s\n",
                ar_name(ar), ar->ar_topic, m->partition, m->offset, dg.dg_msg);
    return 1;
}

/* Append the polled messages to the ledger, one call per partition. as_archived counts the
 * records the ledger stored durably (cdr_ledger_appended), so that it equals the ledger's count
 * also when an append fails half-way; the other figures count a partition once its append has
 * returned. */
static int batch(archiver *ar)
{
    const uint64_t t0 = now_ns();
    qsort(ar->ar_msgs, ar->ar_nmsgs, sizeof *ar->ar_msgs, cmp_msg);
    int rc = 0;
    for (size_t i = 0; i < ar->ar_nmsgs && !rc;) {
        const int32_t p = ar->ar_msgs[i]->partition;
        size_t j = i, n = 0;
        uint64_t consumed = 0, malformed = 0;
        int64_t last = -1;
        for (; j < ar->ar_nmsgs && ar->ar_msgs[j]->partition == p; j++) {
            const rd_kafka_message_t *m = ar->ar_msgs[j];
            if (m->offset <= last)
                continue; /* the same message twice: keep the first */
            last = m->offset;
            consumed++;
            if (decode(ar, m, &ar->ar_recs[n]) == 0)
                n++;
            else
                malformed++;
        }
        const cdr_archive_sink *sk = ar->ar_sink;
        const uint64_t before = sk->sk_stored(sk->sk_arg);
        rc = sk->sk_append(sk->sk_arg, (uint32_t)p, ar->ar_recs, n, last, ar->ar_dg);
        /* what the sink stored, also of a failed append (the ledger's first frames stay) */
        ar->ar_stats.as_archived += sk->sk_stored(sk->sk_arg) - before;
        if (!rc) {
            ar->ar_stats.as_consumed += consumed;
            ar->ar_stats.as_malformed += malformed;
            if (last + 1 > ar->ar_parts[p].ap_pos)
                ar->ar_parts[p].ap_pos = last + 1;
        }
        i = j;
    }
    for (size_t i = 0; i < ar->ar_nmsgs; i++)
        rd_kafka_message_destroy(ar->ar_msgs[i]);
    ar->ar_nmsgs = 0;
    ar->ar_stats.as_busy_seconds += (double)(now_ns() - t0) / 1e9;
    if (rc)
        return rc; /* the handle refuses further appends: a restart recovers and resumes */
    ar->ar_stats.as_batches++;
    return 0;
}

/* Tell the group where the archiver is (for lag tools; the ledger does not need it): the
 * positions that moved since the last commit, asynchronously; at exit (final) all of them,
 * synchronously, so that the group's offsets are the archiver's when it is gone. */
static void commit_positions(archiver *ar, int final)
{
    rd_kafka_topic_partition_list_t *tpl = NULL;
    for (int p = 0; p < ar->ar_nparts; p++) {
        ar_part *ap = &ar->ar_parts[p];
        if (!ap->ap_assigned || ap->ap_pos <= 0 || (!final && ap->ap_pos <= ap->ap_committed))
            continue;
        if (!tpl)
            tpl = rd_kafka_topic_partition_list_new(ar->ar_nparts);
        rd_kafka_topic_partition_list_add(tpl, ar->ar_topic, p)->offset = ap->ap_pos;
        ap->ap_committed = ap->ap_pos;
    }
    if (!tpl)
        return;
    (void)rd_kafka_commit(ar->ar_cons, tpl, !final); /* a failure is harmless */
    rd_kafka_topic_partition_list_destroy(tpl);
}

/* Sum over the assigned partitions of high watermark minus position: 0 = caught up, > 0
 * behind, -1 unknown (nothing assigned, or a query failed). */
static int64_t lag(archiver *ar, int timeout_ms)
{
    int64_t sum = 0;
    int any = 0;
    for (int p = 0; p < ar->ar_nparts; p++) {
        const ar_part *ap = &ar->ar_parts[p];
        if (!ap->ap_assigned)
            continue;
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(ar->ar_cons, ar->ar_topic, p, &lo, &hi, timeout_ms))
            return -1;
        int64_t pos = ap->ap_pos > lo ? ap->ap_pos : lo;
        sum += hi > pos ? hi - pos : 0;
        any = 1;
    }
    return any ? sum : -1;
}

/* ---- the run ----------------------------------------------------------------------------------
 */

int cdr_archive_run(const cdr_archive_config *ac, cdr_archive_stats *stats, cdr_diag *dg)
{
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->as_lag = -1;
    }
    if (!ac || !ac->ac_brokers || !*ac->ac_brokers ||
        (!ac->ac_sink && (!ac->ac_ledger || !*ac->ac_ledger)))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "archive: brokers and a ledger directory are required");
    const size_t bmax = ac->ac_batch ? ac->ac_batch : ARCHIVE_BATCH_DEFAULT;
    if (bmax > ARCHIVE_BATCH_MAX)
        return cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "archive: batch over %d", ARCHIVE_BATCH_MAX);
    const uint64_t t0 = now_ns();
    archiver arv = {.ar_cfg = ac, .ar_dg = dg};
    archiver *ar = &arv;
    ar->ar_stats.as_lag = -1;
    snprintf(ar->ar_topic, sizeof ar->ar_topic, "%s%s",
             ac->ac_topic_prefix ? ac->ac_topic_prefix : "", CDR_STREAM_TOPIC_RATED);
    const char *group = ac->ac_group && *ac->ac_group ? ac->ac_group : CDR_ARCHIVE_GROUP_DEFAULT;
    int rc = 0;
    ar->ar_msgs = malloc(bmax * sizeof *ar->ar_msgs);
    ar->ar_recs = malloc(bmax * sizeof *ar->ar_recs);
    if (!ar->ar_msgs || !ar->ar_recs) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    if (ac->ac_sink) {
        ar->ar_sink = ac->ac_sink;
    } else {
        /* The ledger first: a second archiver on the same ledger stops here, before it joins. */
        const cdr_ledger_opts lo = {.lo_segment_bytes = ac->ac_segment_bytes};
        if ((rc = cdr_ledger_open(ac->ac_ledger, &lo, &ar->ar_lg, dg)) != 0)
            goto done;
        if (cdr_ledger_dropped_bytes(ar->ar_lg))
            say(ar, "ledger recovered: dropped a torn tail of %" PRIu64 " bytes",
                cdr_ledger_dropped_bytes(ar->ar_lg));
        ar->ar_ledger = (cdr_archive_sink){"ledger",    ac->ac_ledger, ar->ar_lg,
                                           ledger_next, ledger_append, ledger_stored};
        ar->ar_sink = &ar->ar_ledger;
    }
    if ((rc = setup_consumer(ar, group)) != 0) {
        if (rc == 1)
            rc = 0; /* stopped before it joined */
        goto done;
    }
    ar->ar_idle = now_ns();
    uint64_t last_check = 0;
    while (!rc) {
        rc = collect(ar, bmax);
        if (rc)
            break;
        if (ar->ar_nmsgs > 0)
            rc = batch(ar);
        else if (stopping(ar))
            break;
        if (rc || (rc = ar->ar_err) != 0)
            break;
        commit_positions(ar, 0);
        const int idle_ms = ac->ac_idle_exit_ms;
        if (idle_ms > 0 && ar->ar_nmsgs == 0) {
            const uint64_t now = now_ns(), ims = (uint64_t)idle_ms * 1000000u;
            const uint64_t every = ims < 1000000000u ? ims : 1000000000u;
            if (now - ar->ar_idle >= ims && now - last_check >= every) {
                last_check = now;
                if (lag(ar, 5000) == 0) {
                    say(ar, "idle for %d ms at the end of every assigned partition", idle_ms);
                    break;
                }
            }
        }
    }
    if (!rc) {
        ar->ar_stats.as_lag = lag(ar, 5000);
        commit_positions(ar, 1);
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(ar->ar_cons); /* leaves the group */
        if (e)
            rc = cdr_kafka_err(dg, e, "close");
        rc = rc ? rc : ar->ar_err;
    }
done:
    for (size_t i = 0; i < ar->ar_nmsgs; i++)
        rd_kafka_message_destroy(ar->ar_msgs[i]);
    ar->ar_nmsgs = 0; /* destroying the consumer may call rebalance_cb */
    if (ar->ar_cons)
        rd_kafka_destroy(ar->ar_cons);
    cdr_ledger_close(ar->ar_lg);
    ar->ar_stats.as_seconds = (double)(now_ns() - t0) / 1e9;
    if (!rc)
        say(ar,
            "archived %" PRIu64 " records, %" PRIu64 " malformed, in %" PRIu64
            " batches (%.2f s), lag %" PRId64,
            ar->ar_stats.as_archived, ar->ar_stats.as_malformed, ar->ar_stats.as_batches,
            ar->ar_stats.as_seconds, ar->ar_stats.as_lag);
    if (stats)
        *stats = ar->ar_stats;
    free(ar->ar_msgs);
    free(ar->ar_recs);
    free(ar->ar_parts);
    return rc;
}
