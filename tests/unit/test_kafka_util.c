/* test_kafka_util.c - cdr_kafka.h: error translation, configuration, keys and partitions (no
 * broker needed). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cdr_kafka.h"

Test(kafka_util, partition_equals_librdkafka_murmur2)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "t", NULL);
    char key[CDR_KAFKA_KEY_MAX];
    for (uint64_t i = 0; i < 20000; i++) {
        uint64_t owner = i * 2654435761u + (i & 7);
        if (i % 3 == 0)
            owner |= 1ull << 63; /* enterprise owners */
        size_t len = cdr_kafka_owner_key(owner, key);
        for (int32_t n = 1; n <= 13; n += 4)
            cr_assert_eq(cdr_kafka_key_partition(key, len, n),
                         rd_kafka_msg_partitioner_murmur2(rkt, key, len, n, NULL, NULL),
                         "owner %llu, %d partitions", (unsigned long long)owner, n);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

Test(kafka_util, record_key_is_owner_else_msisdn)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    strcpy(cr.cr_msisdn, "8613800000001");
    char key[CDR_KAFKA_KEY_MAX];
    size_t n = cdr_kafka_record_key(&cr, key);
    cr_assert_eq(n, 13);
    cr_assert(memcmp(key, "8613800000001", 13) == 0);
    cr.cr_owner = 18446744073709551615ull;
    n = cdr_kafka_record_key(&cr, key);
    cr_assert_eq(n, 20);
    cr_assert(memcmp(key, "18446744073709551615", 20) == 0);
    cr.cr_owner = 7;
    cr_assert_eq(cdr_kafka_record_key(&cr, key), 1);
    cr_assert_eq(key[0], '7');
}

Test(kafka_util, errors_translate)
{
    cr_assert_eq(cdr_kafka_code(RD_KAFKA_RESP_ERR__FENCED, 0), CDR_EXISTS);
    cr_assert_eq(cdr_kafka_code(RD_KAFKA_RESP_ERR_PRODUCER_FENCED, 1), CDR_EXISTS);
    cr_assert_eq(cdr_kafka_code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0), CDR_LIMIT);
    cr_assert_eq(cdr_kafka_code(RD_KAFKA_RESP_ERR__TRANSPORT, 0), CDR_KAFKA);
    cr_assert_eq(cdr_kafka_code(RD_KAFKA_RESP_ERR__TRANSPORT, 1), CDR_KAFKA_FATAL);
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_kafka_err(&dg, RD_KAFKA_RESP_ERR__TIMED_OUT, "commit"), CDR_KAFKA);
    cr_assert(strncmp(dg.dg_msg, "kafka: commit: ", 15) == 0, "%s", dg.dg_msg);
}

Test(kafka_util, bad_setting_is_einval)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    const char *const kv[][2] = {{"no.such.setting", "1"}};
    cr_assert_null(cdr_kafka_conf("127.0.0.1:1", kv, 1, &dg));
    cr_assert_eq(dg.dg_code, CDR_EINVAL);
    cr_assert(strstr(dg.dg_msg, "no.such.setting") != NULL, "%s", dg.dg_msg);
}
