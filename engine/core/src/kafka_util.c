/* kafka_util.c - librdkafka errors, configuration, keys and partitions (cdr_kafka.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdr_kafka.h"

int cdr_kafka_code(rd_kafka_resp_err_t err, int fatal)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR__FENCED:
        return CDR_EXISTS; /* another instance with our transactional id: not retriable */
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
        return CDR_EINVAL;
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        return CDR_VERSION;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return CDR_LIMIT;
    default:
        return fatal ? CDR_KAFKA_FATAL : CDR_KAFKA;
    }
}

int cdr_kafka_err(cdr_diag *dg, rd_kafka_resp_err_t err, const char *what)
{
    return cdr_diag_set(dg, cdr_kafka_code(err, 0), NULL, 0, 0, "kafka: %s: %s", what,
                        rd_kafka_err2str(err));
}

int cdr_kafka_error(cdr_diag *dg, rd_kafka_error_t *e, const char *what)
{
    int fatal = rd_kafka_error_is_fatal(e);
    int code = cdr_kafka_code(rd_kafka_error_code(e), fatal);
    cdr_diag_set(dg, code, NULL, 0, 0, "kafka: %s: %s%s", what, rd_kafka_error_string(e),
                 fatal ? " (fatal)" : "");
    rd_kafka_error_destroy(e);
    return code;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3) /* errors only; warnings are retried by librdkafka */
        fprintf(stderr, "cdrate: kafka %s: %s\n", fac, buf);
}

rd_kafka_conf_t *cdr_kafka_conf(const char *brokers, const char *const (*kv)[2], size_t n,
                                cdr_diag *dg)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "kafka: out of memory");
        return NULL;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers ? brokers : "", err, sizeof err) !=
        RD_KAFKA_CONF_OK)
        goto bad;
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) != RD_KAFKA_CONF_OK)
            goto bad;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
bad:
    rd_kafka_conf_destroy(conf);
    cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    return NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cdr_kafka_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms,
                               const volatile sig_atomic_t *stop, cdr_diag *dg)
{
    const int64_t deadline = mono_ms() + timeout_ms;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        cdr_kafka_err(dg, rd_kafka_last_error(), topic);
        return -1;
    }
    int n = -1;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (n < 0 && !(stop && *stop)) {
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
        if (n >= 0 || mono_ms() >= deadline)
            break;
        usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    if (n < 0 && !(stop && *stop))
        cdr_kafka_err(dg, e, topic);
    return n;
}

size_t cdr_kafka_owner_key(uint64_t owner, char buf[CDR_KAFKA_KEY_MAX])
{
    char tmp[CDR_KAFKA_KEY_MAX];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + owner % 10);
        owner /= 10;
    } while (owner);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

size_t cdr_kafka_record_key(const cdr_record *cr, char buf[CDR_KAFKA_KEY_MAX])
{
    if (cr->cr_owner)
        return cdr_kafka_owner_key(cr->cr_owner, buf);
    size_t n = strnlen(cr->cr_msisdn, CDR_NUMBER_MAX);
    memcpy(buf, cr->cr_msisdn, n);
    return n;
}

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2, librdkafka's rd_murmur2):
 * seed 0x9747b28c, little-endian 4-byte blocks. */
static uint32_t murmur2(const uint8_t *p, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    while (len >= 4) {
        uint32_t k =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
        p += 4;
        len -= 4;
    }
    switch (len) {
    case 3:
        h ^= (uint32_t)p[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)p[1] << 8;
        /* fall through */
    case 1:
        h ^= p[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t cdr_kafka_key_partition(const void *key, size_t len, int32_t nparts)
{
    if (nparts <= 0)
        return 0;
    return (int32_t)((murmur2(key, len) & 0x7fffffffu) % (uint32_t)nparts);
}
