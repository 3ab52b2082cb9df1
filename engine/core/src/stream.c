/* stream.c - streaming rating on Kafka, exactly once (cdr_stream.h, docs/streaming.md).
 *
 * One process: a consumer (group member) on cdr.raw, a transactional producer, a cdr_rater.
 * The loop: poll a batch; decode and rate it; in one transaction produce the results, the
 * changed counters and the batch's offsets; commit. Rating and committing happen outside poll,
 * so the rebalance callback (which runs inside poll) never sees a half-done batch: only polled,
 * unrated messages, which it drops for the revoked partitions.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "cdr_kafka.h"
#include "cdr_stream.h"

#define STREAM_BATCH_DEFAULT 20000
#define STREAM_BATCH_MAX     100000
#define STREAM_WAIT_DEFAULT  200
#define STREAM_TIMEOUT_MS    120000 /* metadata, restore, transaction calls */

typedef struct stream {
    const cdr_stream_config *sm_cfg;
    cdr_diag *sm_dg;
    char sm_topic[4][256]; /* raw, rated, suspense, counters */
    rd_kafka_t *sm_cons;
    rd_kafka_t *sm_prod;
    rd_kafka_topic_t *sm_rkt[4]; /* producer topic handles (index 0 unused) */
    int sm_nparts;
    uint8_t *sm_assigned; /* [nparts] */
    int64_t *sm_next;     /* [nparts] next offset of the batch, -1 = none */
    cdr_rater *sm_rt;
    rd_kafka_message_t **sm_msgs;
    size_t sm_nmsgs, sm_cap;
    cdr_record *sm_recs;
    cdr_rated *sm_out;
    uint8_t *sm_bad; /* [i] the value did not decode */
    int sm_err;      /* error raised in a callback */
    cdr_stream_stats sm_stats;
    uint64_t *sm_lat;
    size_t sm_nlat, sm_caplat;
} stream;

enum { T_RAW = 0, T_RATED, T_SUSPENSE, T_COUNTERS };

/* ---- errors (cdr_kafka.h translates librdkafka's codes) ------------------------------------ */

static int kafka_err(stream *sm, rd_kafka_resp_err_t err, const char *what)
{
    return cdr_kafka_err(sm->sm_dg, err, what);
}

/* Translates and destroys e. */
static int kafka_error(stream *sm, rd_kafka_error_t *e, const char *what)
{
    return cdr_kafka_error(sm->sm_dg, e, what);
}

static void say(const stream *sm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const stream *sm, const char *fmt, ...)
{
    if (sm->sm_cfg->sc_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cdrate rate-stream: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int stopping(const stream *sm)
{
    return sm->sm_cfg->sc_stop && *sm->sm_cfg->sc_stop;
}

static rd_kafka_conf_t *make_conf(stream *sm, const char *const (*kv)[2], size_t n)
{
    return cdr_kafka_conf(sm->sm_cfg->sc_brokers, kv, n, sm->sm_dg);
}

/* ---- counters: changelog encoding and partitioning ------------------------------------------ */

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

void cdr_counter_change_encode(const cdr_counter_change *cc, uint8_t key[CDR_COUNTER_KEY_LEN],
                               uint8_t val[CDR_COUNTER_VAL_LEN])
{
    put_be(key, cc->cc_holder, 8);
    put_be(key + 8, cc->cc_cycle, 4);
    put_be(key + 12, cc->cc_tag, 8);
    for (int i = 0; i < 8; i++) {
        val[i] = (uint8_t)(cc->cc_used >> (8 * i));
        val[8 + i] = (uint8_t)(cc->cc_owner >> (8 * i));
    }
}

int cdr_counter_change_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                              cdr_counter_change *cc)
{
    if (!key || !val || klen != CDR_COUNTER_KEY_LEN || vlen != CDR_COUNTER_VAL_LEN)
        return CDR_FORMAT;
    cc->cc_holder = get_be(key, 8);
    cc->cc_cycle = (uint32_t)get_be(key + 8, 4);
    cc->cc_tag = get_be(key + 12, 8);
    cc->cc_used = cc->cc_owner = 0;
    for (int i = 7; i >= 0; i--) {
        cc->cc_used = (cc->cc_used << 8) | val[i];
        cc->cc_owner = (cc->cc_owner << 8) | val[8 + i];
    }
    return 0;
}

/* The partition of cdr.raw that holds an owner's records: the collector keys them by the owner
 * in decimal and partitions with murmur2 (the Java clients' partitioner). */
static int32_t owner_partition(const stream *sm, uint64_t owner)
{
    char key[CDR_KAFKA_KEY_MAX];
    return cdr_kafka_key_partition(key, cdr_kafka_owner_key(owner, key), sm->sm_nparts);
}

static int keep_assigned(void *arg, uint64_t owner)
{
    const stream *sm = arg;
    return sm->sm_assigned[owner_partition(sm, owner)];
}

/* Read partitions parts[0..n) of the changelog from the beginning to their end (read_committed:
 * the last stable offset, which must reach the high watermark) into the rater. */
static int restore(stream *sm, const int32_t *parts, int n)
{
    if (n == 0)
        return 0;
    const uint64_t t0 = now_ns();
    const char *const kv[][2] = {
        {"group.id", "cdrate-rate-stream-restore"}, /* assign only: never joins, never commits */
        {"client.id", "cdrate-rate-stream-restore"}, {"enable.auto.commit", "false"},
        {"isolation.level", "read_committed"},       {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},           {"fetch.wait.max.ms", "20"},
    };
    rd_kafka_conf_t *conf = make_conf(sm, kv, sizeof kv / sizeof kv[0]);
    if (!conf)
        return CDR_EINVAL;
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(sm->sm_dg, CDR_KAFKA, NULL, 0, 0, "kafka: restore: %s", err);
    }
    const char *topic = sm->sm_topic[T_COUNTERS];
    int64_t *hi = calloc((size_t)sm->sm_nparts, sizeof *hi);
    uint8_t *done = calloc((size_t)sm->sm_nparts, 1);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(n);
    int rc = hi && done ? 0 : cdr_diag_set(sm->sm_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    int left = 0;
    for (int i = 0; i < n && !rc; i++) {
        int64_t lo;
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_query_watermark_offsets(rk, topic, parts[i], &lo, &hi[parts[i]],
                                                     5000)) != 0 &&
               now_ns() - t0 < (uint64_t)STREAM_TIMEOUT_MS * 1000000u)
            rd_kafka_poll(rk, 100); /* a new topic's leader may not be known yet */
        if (e) {
            rc = kafka_err(sm, e, "changelog watermarks");
            break;
        }
        if (hi[parts[i]] <= lo) {
            done[parts[i]] = 1;
            continue;
        }
        rd_kafka_topic_partition_list_add(tpl, topic, parts[i])->offset = RD_KAFKA_OFFSET_BEGINNING;
        left++;
    }
    if (!rc && left) {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, tpl);
        if (e)
            rc = kafka_err(sm, e, "changelog assign");
    }
    uint64_t restored = 0;
    while (!rc && left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (now_ns() - t0 > (uint64_t)STREAM_TIMEOUT_MS * 1000000u)
                rc = cdr_diag_set(sm->sm_dg, CDR_KAFKA, NULL, 0, 0,
                                  "kafka: timed out restoring %s (%d partitions not at their end)",
                                  topic, left);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* at the last stable offset; an open transaction below the high watermark is
             * waited for (it commits or aborts, then the end moves on) */
            if (!done[m->partition] && m->offset >= hi[m->partition]) {
                done[m->partition] = 1;
                left--;
            }
        } else if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                rc = cdr_diag_set(sm->sm_dg, CDR_KAFKA, NULL, 0, 0, "kafka: restore %s: %s", topic,
                                  rd_kafka_message_errstr(m));
        } else {
            cdr_counter_change cc;
            if (cdr_counter_change_decode(m->key, m->key_len, m->payload, m->len, &cc))
                rc = cdr_diag_set(sm->sm_dg, CDR_FORMAT, topic, 0, 0,
                                  "malformed counter record at partition %d offset %" PRId64,
                                  (int)m->partition, m->offset);
            else if ((rc = cdr_rater_counter_import(sm->sm_rt, &cc)) != 0)
                cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "cannot restore counters");
            restored++;
            if (!rc && m->offset + 1 >= hi[m->partition] && !done[m->partition]) {
                done[m->partition] = 1; /* the end, without waiting for the EOF event */
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    free(hi);
    free(done);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    sm->sm_stats.ss_restored += restored;
    if (!rc)
        say(sm, "restored %" PRIu64 " counter records of %d partition(s) in %.2f s", restored, n,
            (double)(now_ns() - t0) / 1e9);
    return rc;
}

/* ---- rebalancing ------------------------------------------------------------------------------
 */

/* Drop the polled, not yet rated messages of partitions no longer assigned. */
static void drop_unassigned_msgs(stream *sm)
{
    size_t k = 0;
    for (size_t i = 0; i < sm->sm_nmsgs; i++) {
        rd_kafka_message_t *m = sm->sm_msgs[i];
        if (sm->sm_assigned[m->partition])
            sm->sm_msgs[k++] = m;
        else
            rd_kafka_message_destroy(m);
    }
    sm->sm_nmsgs = k;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    stream *sm = opaque;
    const int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int32_t *ps = calloc((size_t)parts->cnt + 1, sizeof *ps);
        int n = 0;
        for (int i = 0; ps && i < parts->cnt; i++)
            if (parts->elems[i].partition < sm->sm_nparts) {
                ps[n++] = parts->elems[i].partition;
                sm->sm_assigned[parts->elems[i].partition] = 1;
            }
        int rc = ps ? restore(sm, ps, n) : CDR_ENOMEM;
        if (rc && !sm->sm_err)
            sm->sm_err = rc;
        say(sm, "assigned %d partition(s)%s", n, rc ? " (restore failed)" : "");
        free(ps);
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && coop) {
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].partition < sm->sm_nparts)
                    sm->sm_assigned[parts->elems[i].partition] = 0;
        } else {
            memset(sm->sm_assigned, 0, (size_t)sm->sm_nparts);
        }
        drop_unassigned_msgs(sm);
        int rc = cdr_rater_counters_drop(sm->sm_rt, keep_assigned, sm);
        if (rc && !sm->sm_err)
            sm->sm_err = cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "cannot drop counters");
        say(sm, "revoked %d partition(s)", parts->cnt);
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

/* Partition count of a topic: > 0, 0 when it does not exist, < 0 on error (in dg). */
static int topic_partitions(stream *sm, rd_kafka_t *rk, const char *topic)
{
    const uint64_t t0 = now_ns();
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    while (n < 0 && now_ns() - t0 < (uint64_t)STREAM_TIMEOUT_MS * 1000000u && !stopping(sm)) {
        const struct rd_kafka_metadata *md = NULL;
        e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (!e && md->topic_cnt == 1) {
            if (!md->topics[0].err)
                n = md->topics[0].partition_cnt;
            else if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                n = 0;
            else
                e = md->topics[0].err;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (n < 0)
        kafka_err(sm, e, topic);
    return n;
}

static int create_topic(stream *sm, rd_kafka_t *rk, const char *topic, int nparts, int compact)
{
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, nparts, -1, err, sizeof err);
    if (!nt)
        return cdr_diag_set(sm->sm_dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s: %s", topic, err);
    if (compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 30000, err, sizeof err);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 0;
    if (!ev) {
        rc = cdr_diag_set(sm->sm_dg, CDR_KAFKA, NULL, 0, 0, "kafka: create %s: timed out", topic);
    } else {
        size_t cnt = 0;
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        if (!e && cnt == 1)
            e = rd_kafka_topic_result_error(tr[0]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            rc = kafka_err(sm, e, topic);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* cdr.raw must exist; the three outputs are created like it (the changelog compacted) and the
 * changelog must have as many partitions as cdr.raw. */
static int setup_topics(stream *sm)
{
    sm->sm_nparts = topic_partitions(sm, sm->sm_prod, sm->sm_topic[T_RAW]);
    if (sm->sm_nparts < 0)
        return sm->sm_dg->dg_code;
    if (sm->sm_nparts == 0)
        return cdr_diag_set(sm->sm_dg, CDR_NOTFOUND, NULL, 0, 0, "kafka: no topic %s",
                            sm->sm_topic[T_RAW]);
    for (int t = T_RATED; t <= T_COUNTERS; t++) {
        int n = topic_partitions(sm, sm->sm_prod, sm->sm_topic[t]);
        if (n < 0)
            return sm->sm_dg->dg_code;
        if (n == 0) {
            int rc = create_topic(sm, sm->sm_prod, sm->sm_topic[t], sm->sm_nparts, t == T_COUNTERS);
            if (rc)
                return rc;
            /* until the new topic is in the metadata */
            const uint64_t t0 = now_ns();
            while ((n = topic_partitions(sm, sm->sm_prod, sm->sm_topic[t])) == 0 &&
                   now_ns() - t0 < (uint64_t)STREAM_TIMEOUT_MS * 1000000u && !stopping(sm))
                rd_kafka_poll(sm->sm_prod, 100);
            if (n < 0)
                return sm->sm_dg->dg_code;
        }
        if (t == T_COUNTERS && n != sm->sm_nparts)
            return cdr_diag_set(sm->sm_dg, CDR_FORMAT, NULL, 0, 0,
                                "kafka: %s has %d partitions, %s %d: they must be equal",
                                sm->sm_topic[T_COUNTERS], n, sm->sm_topic[T_RAW], sm->sm_nparts);
        sm->sm_rkt[t] = rd_kafka_topic_new(sm->sm_prod, sm->sm_topic[t], NULL);
    }
    return 0;
}

static int setup_clients(stream *sm, const char *tid)
{
    char err[512];
    const char *const pkv[][2] = {
        {"client.id", "cdrate-rate-stream"},
        {"transactional.id", tid},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "lz4"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"queue.buffering.max.messages", "1000000"},
        {"transaction.timeout.ms", "60000"},
    };
    rd_kafka_conf_t *conf = make_conf(sm, pkv, sizeof pkv / sizeof pkv[0]);
    if (!conf)
        return CDR_EINVAL;
    sm->sm_prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!sm->sm_prod) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(sm->sm_dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    }
    /* fences an older instance with the same id and aborts its open transaction */
    const uint64_t t0 = now_ns();
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(sm->sm_prod, 30000);
        if (!e)
            break;
        if (!rd_kafka_error_is_retriable(e) || stopping(sm) ||
            now_ns() - t0 > (uint64_t)STREAM_TIMEOUT_MS * 1000000u)
            return kafka_error(sm, e, "init_transactions");
        rd_kafka_error_destroy(e);
    }
    int rc = setup_topics(sm);
    if (rc)
        return rc;
    const char *const ckv[][2] = {
        {"client.id", "cdrate-rate-stream"},
        {"group.id", sm->sm_cfg->sc_group},
        {"isolation.level", "read_committed"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", "6000"}, /* a killed member's partitions move after 6 s */
        {"heartbeat.interval.ms", "1000"},
        {"fetch.wait.max.ms", "50"},
    };
    conf = make_conf(sm, ckv, sizeof ckv / sizeof ckv[0]);
    if (!conf)
        return CDR_EINVAL;
    rd_kafka_conf_set_opaque(conf, sm);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    sm->sm_cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!sm->sm_cons) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(sm->sm_dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    }
    rd_kafka_poll_set_consumer(sm->sm_cons);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, sm->sm_topic[T_RAW], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(sm->sm_cons, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    return e ? kafka_err(sm, e, "subscribe") : 0;
}

/* ---- one batch --------------------------------------------------------------------------------
 */

static int collect(stream *sm, size_t max)
{
    const int wait =
        sm->sm_cfg->sc_batch_wait_ms > 0 ? sm->sm_cfg->sc_batch_wait_ms : STREAM_WAIT_DEFAULT;
    const uint64_t t0 = now_ns();
    while (sm->sm_nmsgs < max && !sm->sm_err && !stopping(sm)) {
        uint64_t el = (now_ns() - t0) / 1000000u;
        if (el >= (uint64_t)wait)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(sm->sm_cons, (int)((uint64_t)wait - el));
        if (!m)
            continue;
        if (m->err) {
            if (rd_kafka_fatal_error(sm->sm_cons, NULL, 0))
                sm->sm_err = kafka_err(sm, m->err, "consumer (fatal)");
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition >= sm->sm_nparts || !sm->sm_assigned[m->partition]) {
            rd_kafka_message_destroy(m);
            continue;
        }
        sm->sm_msgs[sm->sm_nmsgs++] = m;
    }
    return sm->sm_err;
}

static int produce(stream *sm, int t, int32_t part, const void *key, size_t klen, const void *val,
                   size_t vlen, const char *reason)
{
    for (;;) {
        rd_kafka_resp_err_t e;
        if (reason)
            e = rd_kafka_producev(sm->sm_prod, RD_KAFKA_V_RKT(sm->sm_rkt[t]),
                                  RD_KAFKA_V_PARTITION(part), RD_KAFKA_V_KEY(key, klen),
                                  RD_KAFKA_V_VALUE((void *)val, vlen),
                                  RD_KAFKA_V_HEADER("cdr.reason", reason, -1),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(sm->sm_prod, RD_KAFKA_V_RKT(sm->sm_rkt[t]),
                                  RD_KAFKA_V_PARTITION(part), RD_KAFKA_V_KEY(key, klen),
                                  RD_KAFKA_V_VALUE((void *)val, vlen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return kafka_err(sm, e, sm->sm_topic[t]);
        rd_kafka_poll(sm->sm_prod, 10);
    }
}

static int produce_counter(void *arg, const cdr_counter_change *cc)
{
    stream *sm = arg;
    uint8_t key[CDR_COUNTER_KEY_LEN], val[CDR_COUNTER_VAL_LEN];
    cdr_counter_change_encode(cc, key, val);
    int32_t p = owner_partition(sm, cc->cc_owner);
    if (!sm->sm_assigned[p])
        sm->sm_stats.ss_misrouted++; /* the collector keyed it differently: docs/streaming.md */
    sm->sm_stats.ss_counters++;
    return produce(sm, T_COUNTERS, p, key, sizeof key, val, sizeof val, NULL);
}

/* Back to the last committed state: the consumer to the committed offsets, the counters to the
 * changelog. */
static int rewind_batch(stream *sm)
{
    for (size_t i = 0; i < sm->sm_nmsgs; i++)
        rd_kafka_message_destroy(sm->sm_msgs[i]);
    sm->sm_nmsgs = 0;
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(sm->sm_nparts);
    int32_t *ps = calloc((size_t)sm->sm_nparts, sizeof *ps);
    int n = 0, rc = 0;
    for (int p = 0; p < sm->sm_nparts; p++)
        if (sm->sm_assigned[p]) {
            rd_kafka_topic_partition_list_add(tpl, sm->sm_topic[T_RAW], p);
            if (ps)
                ps[n++] = p;
        }
    rd_kafka_resp_err_t e = rd_kafka_committed(sm->sm_cons, tpl, STREAM_TIMEOUT_MS);
    if (e) {
        rc = kafka_err(sm, e, "committed offsets");
    } else {
        for (int i = 0; i < tpl->cnt; i++)
            if (tpl->elems[i].offset < 0)
                tpl->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_error_t *er = rd_kafka_seek_partitions(sm->sm_cons, tpl, STREAM_TIMEOUT_MS);
        if (er)
            rc = kafka_error(sm, er, "seek");
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    if (!rc && (rc = cdr_rater_counters_drop(sm->sm_rt, NULL, NULL)) != 0)
        cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "cannot drop counters");
    if (!rc)
        rc = ps ? restore(sm, ps, n) : CDR_ENOMEM;
    free(ps);
    return rc;
}

/* Commit the open transaction; on an abortable error abort it and rewind (returns 1). */
static int finish_txn(stream *sm, rd_kafka_topic_partition_list_t *offs)
{
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(sm->sm_cons);
    rd_kafka_error_t *e = NULL;
    for (int tries = 0; tries < 10; tries++) {
        e = rd_kafka_send_offsets_to_transaction(sm->sm_prod, offs, cgmd, STREAM_TIMEOUT_MS);
        if (!e || !rd_kafka_error_is_retriable(e))
            break;
        rd_kafka_error_destroy(e);
        e = NULL;
    }
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    for (int tries = 0; !e && tries < 10; tries++) {
        e = rd_kafka_commit_transaction(sm->sm_prod, STREAM_TIMEOUT_MS);
        if (!e)
            return 0;
        if (!rd_kafka_error_is_retriable(e))
            break;
        rd_kafka_error_destroy(e);
        e = NULL;
    }
    if (!e)
        return cdr_diag_set(sm->sm_dg, CDR_KAFKA, NULL, 0, 0, "kafka: commit: retries exhausted");
    if (!rd_kafka_error_txn_requires_abort(e))
        return kafka_error(sm, e, "commit");
    say(sm, "transaction aborted: %s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    e = rd_kafka_abort_transaction(sm->sm_prod, STREAM_TIMEOUT_MS);
    if (e)
        return kafka_error(sm, e, "abort");
    sm->sm_stats.ss_aborts++;
    int rc = rewind_batch(sm);
    return rc ? rc : 1;
}

static int batch(stream *sm)
{
    const size_t n = sm->sm_nmsgs;
    const uint64_t t0 = now_ns();
    cdr_diag ddg;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = sm->sm_msgs[i];
        sm->sm_bad[i] = cdr_wire_decode(m->payload, m->len, &sm->sm_recs[i], &ddg) != 0;
        if (sm->sm_bad[i]) { /* rated as a bad record: no subscriber, no counters */
            memset(&sm->sm_recs[i], 0, sizeof sm->sm_recs[i]);
            sm->sm_recs[i].cr_service = CDR_SVC_COUNT;
        }
    }
    int rc = cdr_rater_rate(sm->sm_rt, sm->sm_recs, n, sm->sm_out, NULL);
    if (rc)
        return cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "rating failed");
    rd_kafka_error_t *e = rd_kafka_begin_transaction(sm->sm_prod);
    if (e)
        return kafka_error(sm, e, "begin_transaction");
    for (int p = 0; p < sm->sm_nparts; p++)
        sm->sm_next[p] = -1;
    uint64_t rated = 0, suspense = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const rd_kafka_message_t *m = sm->sm_msgs[i];
        if (m->offset + 1 > sm->sm_next[m->partition])
            sm->sm_next[m->partition] = m->offset + 1;
        if (sm->sm_bad[i]) {
            suspense++;
            rc = produce(sm, T_SUSPENSE, RD_KAFKA_PARTITION_UA, m->key, m->key_len, m->payload,
                         m->len, "undecodable");
            continue;
        }
        const cdr_rated *rr = &sm->sm_out[i];
        const cdr_plan *pl = rr->rr_reason ? NULL : cdr_rater_batch_plan(sm->sm_rt, i);
        uint8_t val[CDR_RATED_WIRE_MAX];
        size_t vlen = cdr_rated_wire_encode(&sm->sm_recs[i], rr, pl ? pl->pl_id : NULL, val);
        if (rr->rr_reason)
            suspense++;
        else
            rated++;
        rc = produce(sm, rr->rr_reason ? T_SUSPENSE : T_RATED, RD_KAFKA_PARTITION_UA, m->key,
                     m->key_len, val, vlen, NULL);
    }
    if (!rc)
        rc = cdr_rater_counters_changed(sm->sm_rt, produce_counter, sm);
    if (rc) { /* the batch cannot be produced: abort it and stop */
        e = rd_kafka_abort_transaction(sm->sm_prod, STREAM_TIMEOUT_MS);
        if (e)
            rd_kafka_error_destroy(e);
        return rc;
    }
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(sm->sm_nparts);
    for (int p = 0; p < sm->sm_nparts; p++)
        if (sm->sm_next[p] >= 0)
            rd_kafka_topic_partition_list_add(offs, sm->sm_topic[T_RAW], p)->offset =
                sm->sm_next[p];
    rc = finish_txn(sm, offs);
    rd_kafka_topic_partition_list_destroy(offs);
    if (rc)
        return rc < 0 ? rc : 0; /* 1: aborted and rewound, the records come again */
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(sm->sm_msgs[i]);
    sm->sm_nmsgs = 0;
    sm->sm_stats.ss_consumed += n;
    sm->sm_stats.ss_rated += rated;
    sm->sm_stats.ss_suspense += suspense;
    sm->sm_stats.ss_batches++;
    if (sm->sm_nlat == sm->sm_caplat) {
        size_t cap = sm->sm_caplat ? 2 * sm->sm_caplat : 1024;
        uint64_t *nl = realloc(sm->sm_lat, cap * sizeof *nl);
        if (nl) {
            sm->sm_lat = nl;
            sm->sm_caplat = cap;
        }
    }
    if (sm->sm_nlat < sm->sm_caplat)
        sm->sm_lat[sm->sm_nlat++] = now_ns() - t0;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the run ----------------------------------------------------------------------------------
 */

int cdr_stream_run(const cdr_stream_config *sc, cdr_plan_set *ps, const cdr_subtab *tab,
                   cdr_stream_stats *stats, cdr_diag *dg)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!sc || !sc->sc_brokers || !*sc->sc_brokers || !sc->sc_group || !*sc->sc_group || !ps ||
        !tab)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "rate-stream: brokers, group, plans and "
                            "subscribers are required");
    const size_t bmax = sc->sc_batch ? sc->sc_batch : STREAM_BATCH_DEFAULT;
    if (bmax > STREAM_BATCH_MAX)
        return cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "rate-stream: batch over %d",
                            STREAM_BATCH_MAX);
    const uint64_t t0 = now_ns();
    stream smv = {.sm_cfg = sc, .sm_dg = dg};
    stream *sm = &smv;
    static const char *const names[4] = {CDR_STREAM_TOPIC_RAW, CDR_STREAM_TOPIC_RATED,
                                         CDR_STREAM_TOPIC_SUSPENSE, CDR_STREAM_TOPIC_COUNTERS};
    const char *prefix = sc->sc_topic_prefix ? sc->sc_topic_prefix : "";
    for (int t = 0; t < 4; t++)
        snprintf(sm->sm_topic[t], sizeof sm->sm_topic[t], "%s%s", prefix, names[t]);
    char tid[512];
    snprintf(tid, sizeof tid, "%s", sc->sc_transactional_id ? sc->sc_transactional_id : "");
    if (!tid[0])
        snprintf(tid, sizeof tid, "%s.rate-stream", sc->sc_group);

    int rc = cdr_rater_create(sc->sc_threads ? sc->sc_threads : 1, ps, tab, &sm->sm_rt);
    if (rc) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the rater");
        goto done;
    }
    cdr_rater_track_changes(sm->sm_rt, 1);
    sm->sm_msgs = malloc(bmax * sizeof *sm->sm_msgs);
    sm->sm_recs = malloc(bmax * sizeof *sm->sm_recs);
    sm->sm_out = malloc(bmax * sizeof *sm->sm_out);
    sm->sm_bad = malloc(bmax);
    if (!sm->sm_msgs || !sm->sm_recs || !sm->sm_out || !sm->sm_bad) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    if ((rc = setup_clients(sm, tid)) != 0)
        goto done;
    sm->sm_assigned = calloc((size_t)sm->sm_nparts, 1);
    sm->sm_next = calloc((size_t)sm->sm_nparts, sizeof *sm->sm_next);
    if (!sm->sm_assigned || !sm->sm_next) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    say(sm, "group %s on %s (%d partitions), transactional id %s", sc->sc_group,
        sm->sm_topic[T_RAW], sm->sm_nparts, tid);
    while (!rc) {
        rc = collect(sm, bmax);
        if (rc)
            break;
        if (sm->sm_nmsgs > 0)
            rc = batch(sm);
        else if (stopping(sm))
            break;
        if (!rc)
            rc = sm->sm_err;
    }
    if (!rc) {
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(sm->sm_cons); /* leaves the group */
        if (e)
            rc = kafka_err(sm, e, "close");
        rc = rc ? rc : sm->sm_err;
    }
done:
    for (size_t i = 0; i < sm->sm_nmsgs; i++)
        rd_kafka_message_destroy(sm->sm_msgs[i]);
    sm->sm_nmsgs = 0; /* destroying the consumer may call rebalance_cb */
    if (sm->sm_cons)
        rd_kafka_destroy(sm->sm_cons);
    for (int t = 0; t < 4; t++)
        if (sm->sm_rkt[t])
            rd_kafka_topic_destroy(sm->sm_rkt[t]);
    if (sm->sm_prod)
        rd_kafka_destroy(sm->sm_prod);
    if (sm->sm_nlat) {
        qsort(sm->sm_lat, sm->sm_nlat, sizeof *sm->sm_lat, cmp_u64);
        sm->sm_stats.ss_p99_ns =
            sm->sm_lat[(sm->sm_nlat * 99) / 100 < sm->sm_nlat ? (sm->sm_nlat * 99) / 100
                                                              : sm->sm_nlat - 1];
    }
    sm->sm_stats.ss_seconds = (double)(now_ns() - t0) / 1e9;
    if (stats)
        *stats = sm->sm_stats;
    cdr_rater_destroy(sm->sm_rt);
    free(sm->sm_msgs);
    free(sm->sm_recs);
    free(sm->sm_out);
    free(sm->sm_bad);
    free(sm->sm_assigned);
    free(sm->sm_next);
    free(sm->sm_lat);
    return rc;
}
