/* test_kafka.h - test support for the tests that need the real broker (included by tests; not a
 * test of its own). The test program's name is given by TEST_KAFKA_NAME before the include. */
#ifndef CDR_TEST_KAFKA_H
#define CDR_TEST_KAFKA_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define NO_BROKER                                                                                  \
    "CDR_KAFKA_BROKERS is not set: run the tests with make test or scripts/with-services"

/* The bootstrap servers of the broker `make test` started; fails the test when there is none. */
static inline const char *brokers(void)
{
    const char *b = getenv("CDR_KAFKA_BROKERS");
    if (!b || !*b)
        cr_assert_fail(NO_BROKER);
    return b;
}

/* Said before Criterion starts too, so that the reason is the first line of the output (and is
 * seen even when Criterion runs with -q, which sends the tests' output to /dev/null). */
__attribute__((constructor)) static void say_if_no_broker(void)
{
    const char *b = getenv("CDR_KAFKA_BROKERS");
    if (!b || !*b)
        fprintf(stderr, "%s: %s\n", TEST_KAFKA_NAME, NO_BROKER);
}

/* A name no other test run uses: "test.<what>.<pid>.<s>.<ns>." (a topic prefix). */
static inline void test_kafka_unique(char *buf, size_t n, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, n, "test.%s.%ld.%ld.%ld.", what, (long)getpid(), (long)ts.tv_sec,
             (long)ts.tv_nsec);
}

/* A client of the test broker with the settings kv (name, value, ..., NULL; may be NULL) and a
 * delivery callback dr (may be NULL). */
static inline rd_kafka_t *test_kafka_client(rd_kafka_type_t type, const char *const *kv,
                                            void (*dr)(rd_kafka_t *, const rd_kafka_message_t *,
                                                       void *))
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    cr_assert(rd_kafka_conf_set(c, "bootstrap.servers", brokers(), err, sizeof err) == 0);
    for (; kv && kv[0]; kv += 2)
        cr_assert(rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof err) == RD_KAFKA_CONF_OK,
                  "%s=%s: %s", kv[0], kv[1], err);
    if (dr)
        rd_kafka_conf_set_dr_msg_cb(c, dr);
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    cr_assert(rk, "rd_kafka_new: %s", err);
    return rk;
}

/* Create topic on the test broker with partitions partitions (compacted when compact). */
static inline void test_kafka_create_topic(const char *topic, int partitions, int compact)
{
    char err[512];
    rd_kafka_t *rk = test_kafka_client(RD_KAFKA_PRODUCER, NULL, NULL);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    cr_assert(nt, "NewTopic: %s", err);
    if (compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    cr_assert(ev, "no CreateTopics result");
    size_t n;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    cr_assert(n == 1 && rd_kafka_topic_result_error(tr[0]) == 0, "create %s: %s", topic,
              rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

static inline int64_t test_kafka_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A consumer of the bootstrap servers bs that never joins its group, with isolation level iso. */
static inline rd_kafka_t *test_kafka_offsets_client(const char *bs, const char *iso)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const char *const kv[] = {"bootstrap.servers",
                              bs,
                              "group.id",
                              "test-kafka-wait-readable",
                              "isolation.level",
                              iso,
                              "enable.auto.commit",
                              "false",
                              "allow.auto.create.topics",
                              "false",
                              NULL};
    for (const char *const *p = kv; p[0]; p += 2)
        cr_assert(rd_kafka_conf_set(c, p[0], p[1], err, sizeof err) == RD_KAFKA_CONF_OK,
                  "%s=%s: %s", p[0], p[1], err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert(rk, "rd_kafka_new: %s", err);
    return rk;
}

/* Wait until a read_committed consumer of the bootstrap servers bs can read every partition of
 * topic up to where the partition ended when this is called: until each partition's last stable
 * offset (what ListOffsets gives a read_committed client) reaches the high watermark it had then.
 *
 * Call it after a transaction's commit (or abort, or a producer's flush) and before reading the
 * topic back: the broker answers the commit once the transaction is decided, before the commit
 * markers are in the partitions, and until they are, a read_committed read ends short of the
 * committed records. Waits at most timeout_ms and then fails the test, naming the partition; an
 * open transaction (a killed producer's, until it is fenced or times out) also holds the end
 * back, so call it only when no transaction is open on topic. A topic that does not exist has
 * nothing to wait for. */
static inline void test_kafka_wait_readable_at(const char *bs, const char *topic, int timeout_ms)
{
    const int64_t deadline = test_kafka_mono_ms() + timeout_ms;
    rd_kafka_t *hw = test_kafka_offsets_client(bs, "read_uncommitted");
    rd_kafka_t *ls = test_kafka_offsets_client(bs, "read_committed");
    /* the partitions (none when the topic does not exist) */
    int nparts = -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(hw, topic, NULL);
    while (nparts < 0) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(hw, 0, rkt, &md, 5000);
        if (!e && md->topic_cnt == 1) {
            if (!md->topics[0].err)
                nparts = md->topics[0].partition_cnt;
            else if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                nparts = 0;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        cr_assert(nparts >= 0 || test_kafka_mono_ms() < deadline, "%s: no metadata: %s", topic,
                  rd_kafka_err2str(e));
        if (nparts < 0)
            usleep(50 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    for (int p = 0; p < nparts; p++) {
        int64_t lo, end = -1, stable = -1;
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_query_watermark_offsets(hw, topic, p, &lo, &end, 5000)) != 0)
            cr_assert(test_kafka_mono_ms() < deadline, "%s [%d]: high watermark: %s", topic, p,
                      rd_kafka_err2str(e));
        for (;;) {
            e = rd_kafka_query_watermark_offsets(ls, topic, p, &lo, &stable, 5000);
            if (!e && stable >= end)
                break;
            cr_assert(test_kafka_mono_ms() < deadline,
                      "%s [%d]: not readable up to offset %" PRId64 " after %d ms (last stable "
                      "offset %" PRId64 "%s%s): commit markers missing, or a transaction open",
                      topic, p, end, timeout_ms, stable, e ? ", " : "",
                      e ? rd_kafka_err2str(e) : "");
            usleep(20 * 1000);
        }
    }
    rd_kafka_destroy(ls);
    rd_kafka_destroy(hw);
}

/* test_kafka_wait_readable_at on the test broker. */
static inline void test_kafka_wait_readable(const char *topic, int timeout_ms)
{
    test_kafka_wait_readable_at(brokers(), topic, timeout_ms);
}

#endif
