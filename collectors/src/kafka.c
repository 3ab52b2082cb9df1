/* kafka.c - the embedded mock cluster and the read_committed topic reader (cdr_collect.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cdr_collect.h"

struct cdr_kafka_mock {
    rd_kafka_t *mk_rk; /* the handle the cluster is attached to (never connects anywhere) */
    rd_kafka_mock_cluster_t *mk_cluster;
    int mk_brokers;
    char mk_bootstraps[1024];
};

static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf; /* the owner handle has nothing to say */
}

int cdr_kafka_mock_create(int brokers, cdr_kafka_mock **out, cdr_diag *dg)
{
    *out = NULL;
    if (brokers < 1 || brokers > 16)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "mock cluster: 1..16 brokers");
    cdr_kafka_mock *mk = calloc(1, sizeof *mk);
    if (!mk)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, mock_log_cb);
    rd_kafka_conf_set(conf, "client.id", "cdrate-embedded", err, sizeof err);
    mk->mk_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!mk->mk_rk) {
        rd_kafka_conf_destroy(conf);
        free(mk);
        return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "embedded cluster: %s", err);
    }
    mk->mk_cluster = rd_kafka_mock_cluster_new(mk->mk_rk, brokers);
    if (!mk->mk_cluster) {
        rd_kafka_destroy(mk->mk_rk);
        free(mk);
        return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "embedded cluster: cannot start");
    }
    mk->mk_brokers = brokers;
    snprintf(mk->mk_bootstraps, sizeof mk->mk_bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(mk->mk_cluster));
    *out = mk;
    return 0;
}

const char *cdr_kafka_mock_bootstraps(const cdr_kafka_mock *mk)
{
    return mk->mk_bootstraps;
}

int cdr_kafka_mock_topic_create(cdr_kafka_mock *mk, const char *topic, int partitions, cdr_diag *dg)
{
    if (!topic || partitions < 1)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "mock topic: name and partitions");
    int rf = mk->mk_brokers < 3 ? mk->mk_brokers : 3;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mk->mk_cluster, topic, partitions, rf);
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "mock topic %s: %s", topic,
                            rd_kafka_err2str(err));
    return 0;
}

int cdr_kafka_mock_broker_set(cdr_kafka_mock *mk, int id, int up, cdr_diag *dg)
{
    rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(mk->mk_cluster, id)
                                 : rd_kafka_mock_broker_set_down(mk->mk_cluster, id);
    if (err)
        return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "mock broker %d: %s", id,
                            rd_kafka_err2str(err));
    return 0;
}

void cdr_kafka_mock_destroy(cdr_kafka_mock *mk)
{
    if (!mk)
        return;
    rd_kafka_mock_cluster_destroy(mk->mk_cluster);
    rd_kafka_destroy(mk->mk_rk);
    free(mk);
}

/* ---- reading back ---------------------------------------------------------------------------- */

const char *cdr_kafka_msg_header(const cdr_kafka_msg *km, const char *name, char *buf,
                                 size_t bufsize)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t len;
    if (rd_kafka_message_headers((const rd_kafka_message_t *)km->km_opaque, &hdrs) ||
        rd_kafka_header_get_last(hdrs, name, &val, &len))
        return NULL;
    if (bufsize == 0)
        return NULL;
    size_t n = len < bufsize - 1 ? len : bufsize - 1;
    memcpy(buf, val, n);
    buf[n] = '\0';
    return buf;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reader_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf; /* failures surface as the read's result */
}

int cdr_kafka_read_topic(const char *brokers, const char *topic, const int64_t *from, int nfrom,
                         int timeout_ms, cdr_kafka_read_fn fn, void *arg, cdr_diag *dg)
{
    if (!brokers || !topic || !fn)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "read topic: missing argument");
    if (timeout_ms <= 0)
        timeout_ms = 60000;
    const int64_t deadline = mono_ms() + timeout_ms;
    char err[512], group[64];
    snprintf(group, sizeof group, "cdrate-reader-%ld", (long)getpid());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", brokers},        {"group.id", group},
        {"client.id", "cdrate-reader"},        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"}, {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},      {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "50"},           {"allow.auto.create.topics", "false"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "reader: %s", err);
        }
    rd_kafka_conf_set_log_cb(conf, reader_log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "reader: %s", err);
    }
    /* partitions of the topic (a topic that does not exist reads as empty) */
    int nparts = -1, rc = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    while (nparts < 0) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t merr = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
        if (!merr && md->topic_cnt == 1) {
            rd_kafka_resp_err_t terr = md->topics[0].err;
            if (!terr)
                nparts = md->topics[0].partition_cnt;
            else if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                nparts = 0;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (nparts < 0 && mono_ms() > deadline) {
            rc = cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "reader: no metadata for %s from %s: %s",
                              topic, brokers, rd_kafka_err2str(merr));
            break;
        }
        if (nparts < 0)
            usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    if (rc || nparts == 0) {
        rd_kafka_destroy(rk);
        return rc;
    }
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(tpl, topic, p)->offset =
            (from && p < nfrom && from[p] >= 0) ? from[p] : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, tpl);
    rd_kafka_topic_partition_list_destroy(tpl);
    if (aerr) {
        rd_kafka_destroy(rk);
        return cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "reader: assign %s: %s", topic,
                            rd_kafka_err2str(aerr));
    }
    char *eof = calloc((size_t)nparts, 1);
    int eofs = 0;
    while (!rc && eof && eofs < nparts) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (mono_ms() > deadline)
                rc = cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0,
                                  "reader: timed out reading %s (%d of %d partitions at their end)",
                                  topic, eofs, nparts);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < nparts && !eof[m->partition]) {
                eof[m->partition] = 1;
                eofs++;
            }
        } else if (m->err) {
            /* transport errors are retried by librdkafka; out-of-range resets to the earliest */
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN &&
                m->err != RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET &&
                m->err != RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
                rc = cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0, "reader: %s: %s", topic,
                                  rd_kafka_message_errstr(m));
        } else {
            cdr_kafka_msg km = {.km_topic = topic,
                                .km_partition = m->partition,
                                .km_offset = m->offset,
                                .km_key = m->key,
                                .km_key_len = m->key_len,
                                .km_value = m->payload,
                                .km_value_len = m->len,
                                .km_opaque = m};
            rc = fn(arg, &km);
        }
        rd_kafka_message_destroy(m);
    }
    if (!eof)
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    free(eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
