/* test_kafka_broker.c - the real Apache Kafka broker of the tests (scripts/kafka) supports what the
 * exactly-once designs need: topics created with the admin API, an idempotent producer with
 * acks=all, consumer groups with committed offsets, transactions (commit, abort, consumer offsets
 * sent to the transaction) and read_committed consumers that see only committed records.
 *
 * The broker's address comes from CDR_KAFKA_BROKERS, which `make test` and scripts/with-services
 * set; see docs/testing.md. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define PARTITIONS 4
#define TIMEOUT_MS 30000

#define TEST_KAFKA_NAME "test_kafka_broker"
#include "test_kafka.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A name no earlier run against the same broker has used. */
static void unique_name(char *buf, size_t n, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, n, "test.%s.%ld.%ld.%ld", what, (long)getpid(), (long)ts.tv_sec,
             (long)ts.tv_nsec);
}

/* A configuration from NULL-terminated key/value pairs, with the broker's address. */
static rd_kafka_conf_t *make_conf(const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    cr_assert(rd_kafka_conf_set(c, "bootstrap.servers", brokers(), err, sizeof err) ==
              RD_KAFKA_CONF_OK);
    for (; kv && kv[0]; kv += 2)
        cr_assert(rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof err) == RD_KAFKA_CONF_OK,
                  "%s=%s: %s", kv[0], kv[1], err);
    return c;
}

/* --- delivery reports ------------------------------------------------------------------------ */

static int delivered, failed;
static char first_failure[256];

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        delivered++;
    } else {
        if (!failed++)
            snprintf(first_failure, sizeof first_failure, "%s", rd_kafka_err2str(m->err));
    }
}

static rd_kafka_t *make_client(rd_kafka_type_t type, const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *c = make_conf(kv);
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    cr_assert(rk, "rd_kafka_new: %s", err);
    return rk;
}

/* Every handle of a test is gone, with its threads, before the test ends. */
static void all_destroyed(void)
{
    cr_assert(rd_kafka_wait_destroyed(10000) == 0, "librdkafka handles left behind");
}

static void produce(rd_kafka_t *p, const char *topic, const char *key, const char *value)
{
    rd_kafka_resp_err_t e;
    for (;;) {
        e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(p, 100);
    }
    cr_assert(e == RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(e));
    rd_kafka_poll(p, 0);
}

/* --- admin ----------------------------------------------------------------------------------- */

static void create_topic(const char *topic, int partitions)
{
    char err[512];
    rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, NULL);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    cr_assert(nt, "NewTopic: %s", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    cr_assert(rd_kafka_AdminOptions_set_operation_timeout(opt, TIMEOUT_MS, err, sizeof err) == 0);

    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
    cr_assert(ev, "no CreateTopics result");
    cr_assert(rd_kafka_event_type(ev) == RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    cr_assert(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR, "CreateTopics: %s",
              rd_kafka_event_error_string(ev));
    size_t n;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(rd_kafka_topic_result_name(tr[0]), topic);
    cr_assert(rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_NO_ERROR, "create %s: %s",
              topic, rd_kafka_topic_result_error_string(tr[0]));

    /* The topic is in the metadata with a leader for every partition. */
    int64_t deadline = now_ms() + TIMEOUT_MS;
    int ready = 0;
    while (!ready && now_ms() < deadline) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        const rd_kafka_metadata_t *md;
        if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt == partitions) {
                ready = 1;
                for (int i = 0; i < partitions; i++)
                    if (md->topics[0].partitions[i].leader < 0)
                        ready = 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(t);
        if (!ready)
            usleep(100000);
    }
    cr_assert(ready, "topic %s has no leaders after %d ms", topic, TIMEOUT_MS);

    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

/* --- consumers ------------------------------------------------------------------------------- */

typedef struct {
    int count;          /* records read */
    int committed_seen; /* values starting with "c" */
    int aborted_seen;   /* values starting with "a" */
    int eof[PARTITIONS];
    int64_t last_seq[PARTITIONS]; /* per partition, the sequence numbers must increase */
} seen_t;

/* Reads every record of `topic` from the beginning until every partition is at its end. */
static void read_all(const char *topic, const char *isolation, seen_t *s)
{
    const char *kv[] = {"group.id", "unused", "isolation.level", isolation, "enable.partition.eof",
                        "true",     NULL};
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, kv);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int i = 0; i < PARTITIONS; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert(rd_kafka_assign(c, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    memset(s, 0, sizeof *s);
    for (int i = 0; i < PARTITIONS; i++)
        s->last_seq[i] = -1;
    int64_t deadline = now_ms() + TIMEOUT_MS;
    int eofs = 0;
    while (eofs < PARTITIONS && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!s->eof[m->partition]++)
                eofs++;
        } else {
            cr_assert(m->err == RD_KAFKA_RESP_ERR_NO_ERROR, "consume: %s",
                      rd_kafka_message_errstr(m));
            char v[64];
            snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
            s->count++;
            if (v[0] == 'c')
                s->committed_seen++;
            else if (v[0] == 'a')
                s->aborted_seen++;
            int64_t seq = strtoll(strchr(v, '-') + 1, NULL, 10);
            cr_assert(seq > s->last_seq[m->partition], "out of order in partition %d",
                      (int)m->partition);
            s->last_seq[m->partition] = seq;
        }
        rd_kafka_message_destroy(m);
    }
    cr_assert_eq(eofs, PARTITIONS, "%s: not at the end of every partition after %d ms", topic,
                 TIMEOUT_MS);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* --- tests ----------------------------------------------------------------------------------- */

TestSuite(kafka_broker, .timeout = 240);

Test(kafka_broker, address_is_set)
{
    cr_assert(strlen(brokers()) > 0);
}

/* Admin-created topic, idempotent producer with acks=all, a consumer group that reads it all back
 * in order per partition and commits its offsets. */
Test(kafka_broker, idempotent_produce_and_group_consume)
{
    enum { N = 2000 };
    char topic[128], group[128];
    unique_name(topic, sizeof topic, "idem");
    unique_name(group, sizeof group, "group");
    create_topic(topic, PARTITIONS);

    const char *pkv[] = {"enable.idempotence", "true", "acks", "all", "linger.ms", "5", NULL};
    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, pkv);
    delivered = failed = 0;
    for (int i = 0; i < N; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "sub%d", i % 37);
        snprintf(val, sizeof val, "c-%d", i);
        produce(p, topic, key, val);
    }
    cr_assert(rd_kafka_flush(p, TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR, "flush timed out");
    cr_assert_eq(failed, 0, "%d deliveries failed, first: %s", failed, first_failure);
    cr_assert_eq(delivered, N);
    rd_kafka_destroy(p);

    const char *ckv[] = {"group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit",
                         "false",    NULL};
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, ckv);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    cr_assert(rd_kafka_subscribe(c, sub) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);

    static unsigned char got[N];
    memset(got, 0, sizeof got);
    int count = 0;
    int64_t last[PARTITIONS] = {-1, -1, -1, -1};
    int64_t deadline = now_ms() + 60000;
    while (count < N && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        cr_assert(m->err == RD_KAFKA_RESP_ERR_NO_ERROR, "consume: %s", rd_kafka_message_errstr(m));
        int seq = atoi((const char *)m->payload + 2);
        cr_assert(seq >= 0 && seq < N);
        cr_assert(!got[seq], "record %d read twice", seq);
        got[seq] = 1;
        cr_assert(seq > last[m->partition], "out of order in partition %d", (int)m->partition);
        last[m->partition] = seq;
        count++;
        rd_kafka_message_destroy(m);
    }
    cr_assert_eq(count, N, "read %d of %d records", count, N);

    /* Commit synchronously and read the committed offsets back from the group coordinator. */
    cr_assert(rd_kafka_commit(c, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_t *cp = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int i = 0; i < PARTITIONS; i++)
        rd_kafka_topic_partition_list_add(cp, topic, i);
    cr_assert(rd_kafka_committed(c, cp, TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t total = 0;
    for (int i = 0; i < cp->cnt; i++) {
        cr_assert(cp->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR);
        cr_assert(cp->elems[i].offset >= 0);
        total += cp->elems[i].offset;
    }
    cr_assert_eq(total, N, "committed offsets add up to %" PRId64, total);
    rd_kafka_topic_partition_list_destroy(cp);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    all_destroyed();
}

static void check_error(rd_kafka_error_t *e, const char *what)
{
    if (e) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", what, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        cr_assert_fail("%s", msg);
    }
}

/* Transactions: two committed, one aborted in between; read_committed sees only the committed
 * records, read_uncommitted sees the aborted ones too. */
Test(kafka_broker, transactions_read_committed)
{
    enum { C1 = 300, A = 200, C2 = 100 };
    char topic[128], txid[128];
    unique_name(topic, sizeof topic, "txn");
    unique_name(txid, sizeof txid, "txid");
    create_topic(topic, PARTITIONS);

    const char *pkv[] = {"transactional.id", txid, "acks", "all", "linger.ms", "5", NULL};
    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, pkv);
    delivered = failed = 0;
    check_error(rd_kafka_init_transactions(p, TIMEOUT_MS), "init_transactions");
    int seq = 0;

    check_error(rd_kafka_begin_transaction(p), "begin 1");
    for (int i = 0; i < C1; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "k%d", i % 11);
        snprintf(val, sizeof val, "c-%d", seq++);
        produce(p, topic, key, val);
    }
    check_error(rd_kafka_commit_transaction(p, TIMEOUT_MS), "commit 1");

    check_error(rd_kafka_begin_transaction(p), "begin 2");
    for (int i = 0; i < A; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "k%d", i % 11);
        snprintf(val, sizeof val, "a-%d", seq++);
        produce(p, topic, key, val);
    }
    /* Flushed first, so that the aborted records are really in the log, not just dropped. */
    cr_assert(rd_kafka_flush(p, TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
    check_error(rd_kafka_abort_transaction(p, TIMEOUT_MS), "abort");

    check_error(rd_kafka_begin_transaction(p), "begin 3");
    for (int i = 0; i < C2; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "k%d", i % 11);
        snprintf(val, sizeof val, "c-%d", seq++);
        produce(p, topic, key, val);
    }
    check_error(rd_kafka_commit_transaction(p, TIMEOUT_MS), "commit 2");
    cr_assert_eq(failed, 0, "%d deliveries failed, first: %s", failed, first_failure);
    cr_assert_eq(delivered, C1 + A + C2);
    rd_kafka_destroy(p);

    seen_t s;
    test_kafka_wait_readable(topic, TIMEOUT_MS); /* the commit returns before its markers land */
    read_all(topic, "read_committed", &s);
    cr_assert_eq(s.aborted_seen, 0, "read_committed saw %d aborted records", s.aborted_seen);
    cr_assert_eq(s.committed_seen, C1 + C2);
    cr_assert_eq(s.count, C1 + C2);

    read_all(topic, "read_uncommitted", &s);
    cr_assert_eq(s.aborted_seen, A, "read_uncommitted saw %d of %d aborted records", s.aborted_seen,
                 A);
    cr_assert_eq(s.committed_seen, C1 + C2);
    all_destroyed();
}

/* Consume-transform-produce, the rater's loop: the input's consumer offsets are sent to the
 * producer's transaction and are committed with the output, or not at all when it aborts. */
Test(kafka_broker, consumer_offsets_in_transaction)
{
    enum { N = 400 };
    char in[128], out[128], group[128], txid[128];
    unique_name(in, sizeof in, "in");
    unique_name(out, sizeof out, "out");
    unique_name(group, sizeof group, "eos");
    unique_name(txid, sizeof txid, "eostx");
    create_topic(in, PARTITIONS);
    create_topic(out, PARTITIONS);

    const char *pkv[] = {"enable.idempotence", "true", "acks", "all", NULL};
    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, pkv);
    delivered = failed = 0;
    for (int i = 0; i < N; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "k%d", i % 13);
        snprintf(val, sizeof val, "c-%d", i);
        produce(p, in, key, val);
    }
    cr_assert(rd_kafka_flush(p, TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(delivered, N);
    rd_kafka_destroy(p);

    const char *ckv[] = {"group.id",
                         group,
                         "auto.offset.reset",
                         "earliest",
                         "enable.auto.commit",
                         "false",
                         "isolation.level",
                         "read_committed",
                         NULL};
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, ckv);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in, RD_KAFKA_PARTITION_UA);
    cr_assert(rd_kafka_subscribe(c, sub) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);

    const char *tkv[] = {"transactional.id", txid, NULL};
    rd_kafka_t *tp = make_client(RD_KAFKA_PRODUCER, tkv);
    check_error(rd_kafka_init_transactions(tp, TIMEOUT_MS), "init_transactions");

    /* First pass: everything is read and transformed, then the transaction aborts. Second
     * pass, after rewinding to the committed offsets: the same, committed. */
    for (int pass = 0; pass < 2; pass++) {
        check_error(rd_kafka_begin_transaction(tp), "begin");
        int count = 0;
        int64_t deadline = now_ms() + 60000;
        while (count < N && now_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
            if (!m)
                continue;
            cr_assert(m->err == RD_KAFKA_RESP_ERR_NO_ERROR, "consume: %s",
                      rd_kafka_message_errstr(m));
            char key[32], val[64];
            snprintf(key, sizeof key, "%.*s", (int)m->key_len, (const char *)m->key);
            snprintf(val, sizeof val, "%c-%.*s", pass ? 'c' : 'a', (int)m->len - 2,
                     (const char *)m->payload + 2);
            produce(tp, out, key, val);
            count++;
            rd_kafka_message_destroy(m);
        }
        cr_assert_eq(count, N, "pass %d read %d of %d records", pass, count, N);

        rd_kafka_topic_partition_list_t *pos;
        cr_assert(rd_kafka_assignment(c, &pos) == RD_KAFKA_RESP_ERR_NO_ERROR);
        cr_assert(rd_kafka_position(c, pos) == RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(c);
        check_error(rd_kafka_send_offsets_to_transaction(tp, pos, gm, TIMEOUT_MS),
                    "send_offsets_to_transaction");
        rd_kafka_consumer_group_metadata_destroy(gm);

        if (pass == 0) {
            cr_assert(rd_kafka_flush(tp, TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
            check_error(rd_kafka_abort_transaction(tp, TIMEOUT_MS), "abort");
            /* Nothing committed for the group: rewind to the beginning, as a restarted rater
             * would after its committed offsets. */
            rd_kafka_topic_partition_list_t *cp = rd_kafka_topic_partition_list_copy(pos);
            cr_assert(rd_kafka_committed(c, cp, TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
            for (int i = 0; i < cp->cnt; i++) {
                cr_assert(cp->elems[i].offset < 0, "offset committed by an aborted transaction");
                cp->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            }
            check_error(rd_kafka_seek_partitions(c, cp, TIMEOUT_MS), "seek");
            for (int i = 0; i < cp->cnt; i++)
                cr_assert(cp->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR, "seek: %s",
                          rd_kafka_err2str(cp->elems[i].err));
            rd_kafka_topic_partition_list_destroy(cp);
        } else {
            check_error(rd_kafka_commit_transaction(tp, TIMEOUT_MS), "commit");
            rd_kafka_topic_partition_list_t *cp = rd_kafka_topic_partition_list_copy(pos);
            cr_assert(rd_kafka_committed(c, cp, TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
            int64_t total = 0;
            for (int i = 0; i < cp->cnt; i++)
                total += cp->elems[i].offset;
            cr_assert_eq(total, N, "the transaction committed offsets adding up to %" PRId64,
                         total);
            rd_kafka_topic_partition_list_destroy(cp);
        }
        rd_kafka_topic_partition_list_destroy(pos);
    }
    rd_kafka_destroy(tp);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);

    seen_t s;
    test_kafka_wait_readable(out, TIMEOUT_MS);
    read_all(out, "read_committed", &s);
    cr_assert_eq(s.aborted_seen, 0);
    cr_assert_eq(s.committed_seen, N);
    all_destroyed();
}
