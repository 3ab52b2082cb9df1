/* test_kafka.h - test support for the tests that need the real broker (included by tests; not a
 * test of its own). The test program's name is given by TEST_KAFKA_NAME before the include. */
#ifndef CDR_TEST_KAFKA_H
#define CDR_TEST_KAFKA_H

#include <criterion/criterion.h>
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

#endif
