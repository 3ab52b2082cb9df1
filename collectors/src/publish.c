/* publish.c - the collector's transactional Kafka producer (publish.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_kafka.h"
#include "publish.h"

/* Largest value sent to cdr.rejected: a longer input record (e.g. a 10 MB "line") is cut there
 * and its full length goes into the cdr.length header. Below message.max.bytes (1 MB). */
#define PUB_REJECT_MAX (900 * 1024)

static const char *const pub_topics[PUB_NTOPICS] = {CDR_TOPIC_RAW, CDR_TOPIC_REJECTED,
                                                    CDR_TOPIC_CHECKPOINTS};

struct coll_pub {
    rd_kafka_t *pb_rk;
    char pb_topic[PUB_NTOPICS][PUB_TOPIC_MAX]; /* the prefix + pub_topics[t] */
    rd_kafka_topic_t *pb_rkt[PUB_NTOPICS];
    int pb_parts[PUB_NTOPICS];
    int64_t *pb_scan[PUB_NTOPICS]; /* per partition: acknowledged offset + 1, at least */
    char pb_tid[192];
    int pb_in_txn;
    uint64_t pb_failed; /* messages whose delivery failed in the open transaction */
    char pb_fail_msg[256];
    unsigned pb_since_poll;
    int pb_quiet;
    FILE *pb_log;
    volatile sig_atomic_t *pb_stop;
    int pb_connect_timeout_ms;
};

/* ---- errors (cdr_kafka.h translates librdkafka's codes) ------------------------------------ */

static int kafka_err(rd_kafka_resp_err_t err, const char *what, cdr_diag *dg)
{
    return cdr_kafka_err(dg, err, what);
}

/* Consumes e. */
static int kafka_error(rd_kafka_error_t *e, const char *what, cdr_diag *dg)
{
    return cdr_kafka_error(dg, e, what);
}

static int stopped(const coll_pub *pb)
{
    return pb->pb_stop && *pb->pb_stop;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- callbacks ------------------------------------------------------------------------------- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    coll_pub *pb = opaque;
    int t = (int)(intptr_t)m->_private;
    if (m->err) {
        if (!pb->pb_failed++)
            snprintf(pb->pb_fail_msg, sizeof pb->pb_fail_msg, "%.150s [%" PRId32 "]: %.80s",
                     t >= 0 && t < PUB_NTOPICS ? pb->pb_topic[t] : "?", m->partition,
                     rd_kafka_err2str(m->err));
        return;
    }
    if (t >= 0 && t < PUB_NTOPICS && m->partition >= 0 && m->partition < pb->pb_parts[t] &&
        m->offset + 1 > pb->pb_scan[t][m->partition])
        pb->pb_scan[t][m->partition] = m->offset + 1;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    coll_pub *pb = rd_kafka_opaque(rk);
    if (pb && !pb->pb_quiet && level <= LOG_WARNING)
        fprintf(pb->pb_log, "cdrate collect: kafka: %s: %s\n", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    coll_pub *pb = opaque;
    /* brokers going away is reported here and retried by librdkafka: the collector pauses */
    if (!pb->pb_quiet)
        fprintf(pb->pb_log, "cdrate collect: kafka: %s: %s\n",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

/* Best effort: create the topics that do not exist yet (cdr.collect.checkpoints compacted, one
 * partition; the others with the brokers' defaults), before anything asks for them by name
 * (which may auto-create them without the compaction). Brokers that do not offer CreateTopics
 * (librdkafka's mock cluster) auto-create them instead. */
static void create_topics(coll_pub *pb)
{
    const struct rd_kafka_metadata *md = NULL;
    int missing[PUB_NTOPICS] = {1, 1, 1}, nmissing = 0;
    if (rd_kafka_metadata(pb->pb_rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    for (int i = 0; i < md->topic_cnt; i++)
        for (int t = 0; t < PUB_NTOPICS; t++)
            if (!md->topics[i].err && !strcmp(md->topics[i].topic, pb->pb_topic[t]))
                missing[t] = 0;
    rd_kafka_metadata_destroy(md);
    char err[256];
    rd_kafka_NewTopic_t *nt[PUB_NTOPICS] = {0};
    for (int t = 0; t < PUB_NTOPICS; t++) {
        if (!missing[t])
            continue;
        nt[nmissing] = rd_kafka_NewTopic_new(pb->pb_topic[t], t == PUB_CHECKPOINTS ? 1 : -1, -1,
                                             err, sizeof err);
        if (!nt[nmissing])
            goto out;
        if (t == PUB_CHECKPOINTS)
            rd_kafka_NewTopic_set_config(nt[nmissing], "cleanup.policy", "compact");
        nmissing++;
    }
    if (nmissing) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(pb->pb_rk);
        rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(pb->pb_rk, RD_KAFKA_ADMIN_OP_ANY);
        rd_kafka_AdminOptions_set_request_timeout(ao, 10000, err, sizeof err);
        rd_kafka_CreateTopics(pb->pb_rk, nt, (size_t)nmissing, ao, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
        if (ev)
            rd_kafka_event_destroy(
                ev); /* "already exists" (a race) is fine; others surface later */
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
    }
out:
    for (int t = 0; t < nmissing; t++)
        rd_kafka_NewTopic_destroy(nt[t]);
}

static int learn_partitions(coll_pub *pb, int64_t deadline, cdr_diag *dg)
{
    for (int t = 0; t < PUB_NTOPICS; t++) {
        for (;;) {
            const struct rd_kafka_metadata *md = NULL;
            rd_kafka_resp_err_t err = rd_kafka_metadata(pb->pb_rk, 0, pb->pb_rkt[t], &md, 5000);
            int n = 0;
            if (!err && md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
            else if (!err && md->topic_cnt == 1)
                err = md->topics[0].err;
            if (md)
                rd_kafka_metadata_destroy(md);
            if (n > 0) {
                if (n > PUB_MAX_PARTITIONS)
                    return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                                        "kafka: %s has %d partitions (at most %d)", pb->pb_topic[t],
                                        n, PUB_MAX_PARTITIONS);
                pb->pb_parts[t] = n;
                pb->pb_scan[t] = calloc((size_t)n, sizeof(int64_t));
                if (!pb->pb_scan[t])
                    return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
                break;
            }
            if (mono_ms() > deadline || stopped(pb))
                return kafka_err(err ? err : RD_KAFKA_RESP_ERR__TIMED_OUT, pb->pb_topic[t], dg);
            usleep(200 * 1000);
        }
    }
    return 0;
}

int coll_pub_create(const coll_pub_config *pc, coll_pub **out, cdr_diag *dg)
{
    *out = NULL;
    if (!pc->pc_brokers || !*pc->pc_brokers || !pc->pc_transactional_id)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "kafka: no brokers");
    coll_pub *pb = calloc(1, sizeof *pb);
    if (!pb)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    snprintf(pb->pb_tid, sizeof pb->pb_tid, "%s", pc->pc_transactional_id);
    for (int t = 0; t < PUB_NTOPICS; t++)
        snprintf(pb->pb_topic[t], sizeof pb->pb_topic[t], "%s%s",
                 pc->pc_topic_prefix ? pc->pc_topic_prefix : "", pub_topics[t]);
    pb->pb_quiet = pc->pc_quiet;
    pb->pb_log = pc->pc_log ? pc->pc_log : stderr;
    pb->pb_stop = pc->pc_stop;
    pb->pb_connect_timeout_ms = pc->pc_connect_timeout_ms > 0 ? pc->pc_connect_timeout_ms : 60000;

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", pc->pc_brokers},
        {"client.id", "cdrate-collect"},
        {"transactional.id", pb->pb_tid},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        /* lz4 costs the collector and the broker less CPU than zstd (measured with
         * `cdrate bench e2e`, docs/benchmarks.md); large batches: fewer requests per record */
        {"compression.type", "lz4"},
        {"partitioner", "murmur2_random"}, /* the Java clients' partitioner: same key, same
                                              partition whoever produces */
        {"linger.ms", "20"},
        {"batch.num.messages", "100000"},
        {"batch.size", "4000000"},
        {"queue.buffering.max.messages", "500000"},
        {"transaction.timeout.ms", "60000"},
        {"socket.keepalive.enable", "true"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            free(pb);
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
        }
    rd_kafka_conf_set_opaque(conf, pb);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    pb->pb_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!pb->pb_rk) {
        rd_kafka_conf_destroy(conf);
        free(pb);
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    }
    for (int t = 0; t < PUB_NTOPICS; t++)
        pb->pb_rkt[t] = rd_kafka_topic_new(pb->pb_rk, pb->pb_topic[t], NULL);

    const int64_t deadline = mono_ms() + pb->pb_connect_timeout_ms;
    int rc = 0;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(pb->pb_rk, 10000);
        if (!e)
            break;
        if (!rd_kafka_error_is_retriable(e) || mono_ms() > deadline || stopped(pb)) {
            rc = kafka_error(e, "cannot start the transactional producer", dg);
            break;
        }
        if (!pb->pb_quiet)
            fprintf(pb->pb_log, "cdrate collect: waiting for the brokers (%s): %s\n",
                    pc->pc_brokers, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    if (!rc) {
        create_topics(pb);
        rc = learn_partitions(pb, deadline, dg);
    }
    if (rc) {
        coll_pub_destroy(pb);
        return rc;
    }
    *out = pb;
    return 0;
}

void coll_pub_destroy(coll_pub *pb)
{
    if (!pb)
        return;
    if (pb->pb_in_txn) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(pb->pb_rk, 10000);
        if (e)
            rd_kafka_error_destroy(e);
    }
    for (int t = 0; t < PUB_NTOPICS; t++) {
        if (pb->pb_rkt[t])
            rd_kafka_topic_destroy(pb->pb_rkt[t]);
        free(pb->pb_scan[t]);
    }
    rd_kafka_destroy(pb->pb_rk);
    free(pb);
}

int coll_pub_partitions(const coll_pub *pb, int t)
{
    return t >= 0 && t < PUB_NTOPICS ? pb->pb_parts[t] : 0;
}

const char *coll_pub_topic(const coll_pub *pb, int t)
{
    return pb->pb_topic[t];
}

/* ---- transactions ---------------------------------------------------------------------------- */

int coll_pub_in_txn(const coll_pub *pb)
{
    return pb->pb_in_txn;
}

int coll_pub_begin(coll_pub *pb, cdr_diag *dg)
{
    if (pb->pb_in_txn)
        return 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(pb->pb_rk);
    if (e)
        return kafka_error(e, "begin transaction", dg);
    pb->pb_in_txn = 1;
    pb->pb_failed = 0;
    return 0;
}

int coll_pub_abort(coll_pub *pb, cdr_diag *dg)
{
    if (!pb->pb_in_txn)
        return 0;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(pb->pb_rk, 30000);
        if (!e)
            break;
        if (!rd_kafka_error_is_retriable(e) || stopped(pb))
            return kafka_error(e, "abort transaction", dg);
        rd_kafka_error_destroy(e);
    }
    pb->pb_in_txn = 0;
    pb->pb_failed = 0;
    return 0;
}

/* Produce, waiting while the local queue is full (back-pressure: a slow or absent broker stops
 * the reader here, nothing is dropped). */
static int produce_wait(coll_pub *pb, int t, int (*produce)(coll_pub *, int, const void *),
                        const void *arg, cdr_diag *dg)
{
    for (;;) {
        rd_kafka_resp_err_t err = (rd_kafka_resp_err_t)produce(pb, t, arg);
        if (!err)
            break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return kafka_err(err, pb->pb_topic[t], dg);
        if (stopped(pb))
            return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "kafka: stopped while waiting");
        rd_kafka_poll(pb->pb_rk, 10);
    }
    if (++pb->pb_since_poll >= 1024) {
        pb->pb_since_poll = 0;
        rd_kafka_poll(pb->pb_rk, 0);
    }
    return 0;
}

typedef struct pub_msg {
    const void *pm_key;
    size_t pm_key_len;
    const void *pm_val;
    size_t pm_val_len;
    const coll_pub_reject *pm_rj;
} pub_msg;

static int produce_plain(coll_pub *pb, int t, const void *arg)
{
    const pub_msg *pm = arg;
    if (rd_kafka_produce(pb->pb_rkt[t], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                         (void *)pm->pm_val, pm->pm_val_len, pm->pm_key, pm->pm_key_len,
                         (void *)(intptr_t)t) == 0)
        return 0;
    return (int)rd_kafka_last_error();
}

static int produce_rejected(coll_pub *pb, int t, const void *arg)
{
    const pub_msg *pm = arg;
    const coll_pub_reject *rj = pm->pm_rj;
    char idx[24], line[24], off[24], len[24];
    snprintf(idx, sizeof idx, "%" PRIu64, rj->rj_index);
    snprintf(line, sizeof line, "%" PRIu64, rj->rj_line);
    snprintf(off, sizeof off, "%" PRIu64, rj->rj_offset);
    snprintf(len, sizeof len, "%zu", pm->pm_val_len);
    size_t vlen = pm->pm_val_len > PUB_REJECT_MAX ? PUB_REJECT_MAX : pm->pm_val_len;
    return (int)rd_kafka_producev(
        pb->pb_rk, RD_KAFKA_V_RKT(pb->pb_rkt[t]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(pm->pm_key, pm->pm_key_len), RD_KAFKA_V_VALUE((void *)pm->pm_val, vlen),
        RD_KAFKA_V_HEADER(CDR_HDR_FILE, rj->rj_file, -1),
        RD_KAFKA_V_HEADER(CDR_HDR_SHA256, rj->rj_sha256_hex, -1),
        RD_KAFKA_V_HEADER(CDR_HDR_INDEX, idx, -1), RD_KAFKA_V_HEADER(CDR_HDR_LINE, line, -1),
        RD_KAFKA_V_HEADER(CDR_HDR_OFFSET, off, -1), RD_KAFKA_V_HEADER(CDR_HDR_LENGTH, len, -1),
        RD_KAFKA_V_HEADER(CDR_HDR_REASON, rj->rj_reason, -1),
        RD_KAFKA_V_HEADER(CDR_HDR_SOURCE, rj->rj_source, -1),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)t), RD_KAFKA_V_END);
}

int coll_pub_record(coll_pub *pb, const cdr_record *cr, cdr_diag *dg)
{
    int rc = coll_pub_begin(pb, dg);
    if (rc)
        return rc;
    uint8_t val[CDR_WIRE_MAX];
    char key[CDR_KAFKA_KEY_MAX];
    pub_msg pm = {.pm_val = val,
                  .pm_val_len = cdr_wire_encode(cr, val),
                  .pm_key = key,
                  .pm_key_len = cdr_kafka_record_key(cr, key)};
    return produce_wait(pb, PUB_RAW, produce_plain, &pm, dg);
}

int coll_pub_rejected(coll_pub *pb, const void *bytes, size_t len, const coll_pub_reject *rj,
                      cdr_diag *dg)
{
    int rc = coll_pub_begin(pb, dg);
    if (rc)
        return rc;
    pub_msg pm = {.pm_val = bytes,
                  .pm_val_len = len,
                  .pm_key = rj->rj_file,
                  .pm_key_len = strlen(rj->rj_file),
                  .pm_rj = rj};
    return produce_wait(pb, PUB_REJECTED, produce_rejected, &pm, dg);
}

int coll_pub_checkpoint(coll_pub *pb, const void *val, size_t len, cdr_diag *dg)
{
    int rc = coll_pub_begin(pb, dg);
    if (rc)
        return rc;
    pub_msg pm = {
        .pm_val = val, .pm_val_len = len, .pm_key = pb->pb_tid, .pm_key_len = strlen(pb->pb_tid)};
    return produce_wait(pb, PUB_CHECKPOINTS, produce_plain, &pm, dg);
}

int coll_pub_flush(coll_pub *pb, cdr_diag *dg)
{
    int64_t since = mono_ms();
    while (rd_kafka_outq_len(pb->pb_rk) > 0) {
        rd_kafka_flush(pb->pb_rk, 500);
        if (stopped(pb))
            return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "kafka: stopped while waiting");
        if (rd_kafka_outq_len(pb->pb_rk) > 0 && mono_ms() - since > 10000) {
            if (!pb->pb_quiet)
                fprintf(pb->pb_log,
                        "cdrate collect: waiting for the brokers to acknowledge %d messages\n",
                        rd_kafka_outq_len(pb->pb_rk));
            since = mono_ms();
        }
    }
    if (pb->pb_failed) {
        if (!pb->pb_quiet)
            fprintf(pb->pb_log,
                    "cdrate collect: %" PRIu64 " messages not delivered (%s): transaction "
                    "aborted, redone from the last checkpoint\n",
                    pb->pb_failed, pb->pb_fail_msg);
        int rc = coll_pub_abort(pb, dg);
        return rc ? rc : PUB_REDO;
    }
    return 0;
}

int coll_pub_commit(coll_pub *pb, cdr_diag *dg)
{
    if (!pb->pb_in_txn)
        return 0;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(pb->pb_rk, 60000);
        if (!e)
            break;
        if (rd_kafka_error_txn_requires_abort(e)) {
            if (!pb->pb_quiet)
                fprintf(pb->pb_log,
                        "cdrate collect: commit failed (%s): transaction aborted, redone from "
                        "the last checkpoint\n",
                        rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            int rc = coll_pub_abort(pb, dg);
            return rc ? rc : PUB_REDO;
        }
        if (!rd_kafka_error_is_retriable(e) || stopped(pb))
            return kafka_error(e, "commit transaction", dg);
        if (!pb->pb_quiet)
            fprintf(pb->pb_log, "cdrate collect: commit: %s; retrying\n", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    pb->pb_in_txn = 0;
    pb->pb_failed = 0;
    return 0;
}

/* ---- scan offsets ---------------------------------------------------------------------------- */

const int64_t *coll_pub_scan_offsets(const coll_pub *pb, int t)
{
    return pb->pb_scan[t];
}

void coll_pub_set_scan_offsets(coll_pub *pb, int t, const int64_t *off, int n)
{
    for (int p = 0; p < pb->pb_parts[t]; p++)
        pb->pb_scan[t][p] = p < n ? off[p] : 0; /* a partition added since: from its start */
}

int coll_pub_high_watermarks(coll_pub *pb, int t, int64_t *off, int n, cdr_diag *dg)
{
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err;
        const int64_t deadline = mono_ms() + pb->pb_connect_timeout_ms;
        while ((err = rd_kafka_query_watermark_offsets(pb->pb_rk, pb->pb_topic[t], p, &lo, &hi,
                                                       5000)) != 0) {
            if (mono_ms() > deadline || stopped(pb))
                return kafka_err(err, "watermarks", dg);
            usleep(100 * 1000);
        }
        off[p] = hi;
    }
    return 0;
}
