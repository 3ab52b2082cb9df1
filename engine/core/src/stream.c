/* stream.c - streaming rating on Kafka, exactly once (cdr_stream.h, docs/streaming.md).
 *
 * One process: a consumer (group member) on cdr.raw, a transactional producer, a cdr_rater.
 * The loop: poll a batch; decode it; forward the records whose charging owner belongs to another
 * partition of cdr.raw (re-keying) and rate the others; in one transaction produce the results,
 * the forwarded records, the changed counters and the batch's offsets; commit. Rating and
 * committing happen outside poll, so the rebalance callback (which runs inside poll) never sees a
 * half-done batch: only polled, unrated messages, which it drops for the revoked partitions.
 *
 * A second thread (reload_main) calls the configured reload callback every sc_reload_ms, compares
 * what it loaded with what the loop rates with and hands real changes to the loop, which swaps
 * them into the rater between two batches. Metrics are plain fields of the loop, updated per
 * batch and handed to sc_on_stats as a copy.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "cdr_bytes.h"
#include "cdr_fraud.h"
#include "cdr_kafka.h"
#include "cdr_stream.h"
#include "cdr_suspense.h"

#define STREAM_TIMEOUT_MS 120000 /* metadata, restore, transaction calls */
#define LAT_BUCKETS       976    /* 16 per power of two of nanoseconds (lat_bucket) */

/* What a reload changed, for the log line. */
typedef struct reload_note {
    int rn_plans;                 /* the plan versions changed */
    uint32_t rn_versions;         /* plan versions in the new set */
    uint32_t rn_new, rn_gone;     /* versions added, removed */
    char rn_new_list[256];        /* "id:version@effective_from,..." (cut when long) */
    int rn_subs;                  /* the subscribers changed */
    size_t rn_count;              /* subscribers in the new table */
    size_t rn_added, rn_removed;  /* by MSISDN */
    size_t rn_changed, rn_owners; /* entries that differ; of those, with another charging owner */
    int rn_closed;                /* the closed cycles changed */
    double rn_load_ms;            /* time spent in sc_reload */
} reload_note;

/* The reload thread and what it hands over. rl_ps / rl_tab / rl_note are guarded by rl_lock;
 * rl_ready tells the loop, without the lock, that they hold something. */
typedef struct reloader {
    pthread_t rl_thread;
    int rl_started; /* lock and condition initialised */
    int rl_running; /* the thread runs */
    pthread_mutex_t rl_lock;
    pthread_cond_t rl_cond;
    int rl_quit;
    atomic_int rl_ready;
    cdr_plan_set *rl_ps; /* pending, owned */
    cdr_subtab *rl_tab;  /* pending, owned */
    uint32_t *rl_closed; /* pending closed cycles, owned (sorted, unique), with rl_nclosed */
    size_t rl_nclosed;
    reload_note rl_note;
    /* the reload thread's own view: the newest plans (a reference) and table (current or pending;
     * the loop frees a table only when a newer one, made by this thread, replaces it) */
    cdr_plan_set *rl_last_ps;
    const cdr_subtab *rl_last_tab;
    uint32_t *rl_last_closed; /* the newest closed cycles (sorted, unique), owned */
    size_t rl_last_nclosed;
} reloader;

enum { T_RAW = 0, T_RATED, T_SUSPENSE, T_COUNTERS, T_ALERTS, T_NTOPICS };

typedef struct stream {
    const cdr_stream_config *sm_cfg;
    unsigned sm_hold_ms; /* test hook CDR_STREAM_HOLD_MS: pause inside each transaction */
    cdr_diag *sm_dg;
    char sm_topic[T_NTOPICS][256]; /* raw, rated, suspense, counters, alerts */
    rd_kafka_t *sm_cons;
    rd_kafka_t *sm_prod;
    rd_kafka_topic_t *sm_rkt[T_NTOPICS]; /* producer topic handles */
    int sm_nparts;
    uint8_t *sm_assigned; /* [nparts] */
    int64_t *sm_next;     /* [nparts] next offset of the batch, -1 = none */
    int64_t *sm_pos;      /* [nparts] offset after the last polled record or end seen, -1 = none */
    uint8_t *sm_eof;      /* [nparts] the end was seen since the last record came or went there */
    int sm_joined;        /* a first assignment happened */
    cdr_rater *sm_rt;
    const cdr_subtab *sm_tab;  /* the subscribers the rater rates with */
    cdr_subtab *sm_tab_owned;  /* sm_tab when it came from a reload */
    uint16_t *sm_owner_part;   /* [subscriber index] 1 + its owner's partition, 0 = not yet */
    uint32_t sm_plan_versions; /* of the plans the rater rates with */
    size_t sm_nclosed;         /* closed cycles the rater knows */
    uint32_t sm_last_closed;   /* the latest of them, 0 = none */
    rd_kafka_message_t **sm_msgs;
    size_t sm_nmsgs;
    cdr_record *sm_recs;
    cdr_rated *sm_out;
    uint8_t *sm_bad;  /* [i] the value did not decode */
    int32_t *sm_six;  /* [i] subscriber index in sm_tab or -1 */
    uint32_t *sm_map; /* [j] message index of the j-th rated record */
    int sm_err;       /* error raised in a callback */
    /* init_transactions waited for an open transaction a predecessor left (prod_log_cb) */
    volatile int sm_prev_open;
    cdr_stream_stats sm_stats;
    uint64_t sm_t0;          /* start of the run */
    uint64_t sm_fill_t0;     /* when the first record of the batch in hand came */
    uint64_t sm_last_msg_ns; /* when a record last came */
    uint64_t sm_busy_ns;
    uint64_t sm_lat[LAT_BUCKETS]; /* batch latency histogram */
    uint64_t sm_nlat;
    reloader sm_rl;
} stream;

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

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ms_since(uint64_t t0)
{
    return (double)(now_ns() - t0) / 1e6;
}

static int stopping(const stream *sm)
{
    return sm->sm_cfg->sc_stop && *sm->sm_cfg->sc_stop;
}

static rd_kafka_conf_t *make_conf(stream *sm, const char *const (*kv)[2], size_t n)
{
    return cdr_kafka_conf(sm->sm_cfg->sc_brokers, kv, n, sm->sm_dg);
}

/* ---- logs: logfmt lines ---------------------------------------------------------------------- */

void cdr_stream_log(const cdr_stream_config *sc, int level, const char *msg, const char *fields,
                    ...)
{
    if (level <= CDR_STREAM_INFO && sc && sc->sc_quiet)
        return;
    static const char *const names[] = {"info", "warn", "error"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    size_t k = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
    k += (size_t)snprintf(line + k, sizeof line - k, ".%03ldZ level=%s msg=\"%s\"",
                          ts.tv_nsec / 1000000,
                          names[level < CDR_STREAM_INFO    ? CDR_STREAM_INFO
                                : level > CDR_STREAM_ERROR ? CDR_STREAM_ERROR
                                                           : level],
                          msg);
    if (fields && *fields && k < sizeof line - 2) {
        line[k++] = ' ';
        va_list ap;
        va_start(ap, fields);
        int w = vsnprintf(line + k, sizeof line - k, fields, ap);
        va_end(ap);
        k += w > 0 ? (size_t)w : 0;
    }
    if (k > sizeof line - 2)
        k = sizeof line - 2;
    line[k++] = '\n';
    FILE *out = sc && sc->sc_log ? sc->sc_log : stderr;
    fwrite(line, 1, k, out); /* one call: lines of several threads do not mix */
    fflush(out);
}

const char *cdr_stream_log_quote(const char *s, char *buf, size_t bufsize)
{
    size_t k = 0;
    if (bufsize < 3) {
        if (bufsize)
            buf[0] = '\0';
        return buf;
    }
    buf[k++] = '"';
    for (; s && *s && k + 3 < bufsize; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf[k++] = '\\';
        buf[k++] = c < 0x20 ? ' ' : (char)c;
    }
    buf[k++] = '"';
    buf[k] = '\0';
    return buf;
}

#define say(sm, level, msg, ...) cdr_stream_log((sm)->sm_cfg, level, msg, __VA_ARGS__)

/* "0,1,5" into buf. */
static const char *parts_text(const int32_t *ps, int n, char *buf, size_t bufsize)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k + 12 < bufsize; i++)
        k += (size_t)snprintf(buf + k, bufsize - k, "%s%d", i ? "," : "", (int)ps[i]);
    return buf;
}

/* ---- metrics ---------------------------------------------------------------------------------
 * Batch latencies in a log-linear histogram: values below 32 ns exactly, above in 16 buckets per
 * power of two, so a percentile read back is at most 1/16 above the true value. */

static unsigned lat_bucket(uint64_t ns)
{
    if (ns < 32)
        return (unsigned)ns;
    const int e = 63 - __builtin_clzll(ns); /* >= 5 */
    return (unsigned)((e - 3) * 16) + (unsigned)((ns >> (e - 4)) & 15);
}

static uint64_t lat_upper(unsigned b)
{
    if (b < 32)
        return b;
    const int e = (int)(b / 16) + 3;
    const uint64_t lo = (uint64_t)(16 + b % 16) << (e - 4);
    return lo + (((uint64_t)1 << (e - 4)) - 1);
}

static uint64_t lat_quantile(const stream *sm, unsigned permil)
{
    if (!sm->sm_nlat)
        return 0;
    uint64_t rank = (sm->sm_nlat * permil + 999) / 1000, c = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        if ((c += sm->sm_lat[b]) >= rank)
            return lat_upper(b);
    return lat_upper(LAT_BUCKETS - 1);
}

/* Cached high watermark of partition p of cdr.raw (from the last fetch), or -1. */
static int64_t raw_high(const stream *sm, int32_t p)
{
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(sm->sm_cons, sm->sm_topic[T_RAW], p, &lo, &hi) != 0)
        return -1;
    return hi >= 0 ? hi : -1;
}

/* Sum over the assigned partitions of high watermark - position; -1 while one is not known. */
static int64_t raw_lag(const stream *sm)
{
    int64_t sum = 0;
    for (int p = 0; sm->sm_assigned && p < sm->sm_nparts; p++) {
        if (!sm->sm_assigned[p])
            continue;
        const int64_t hi = raw_high(sm, p);
        if (hi < 0 || sm->sm_pos[p] < 0)
            return -1;
        sum += hi > sm->sm_pos[p] ? hi - sm->sm_pos[p] : 0;
    }
    return sum;
}

/* The totals so far; lag and partitions are measured while the consumer is there (live), else
 * kept from the last time (at the end: just before the consumer left the group). */
static void snapshot(stream *sm, int live, cdr_stream_stats *ss)
{
    if (live && sm->sm_cons) {
        sm->sm_stats.ss_lag = raw_lag(sm);
        uint32_t np = 0;
        for (int p = 0; sm->sm_assigned && p < sm->sm_nparts; p++)
            np += sm->sm_assigned[p];
        sm->sm_stats.ss_partitions = np;
    }
    sm->sm_stats.ss_p50_ns = lat_quantile(sm, 500);
    sm->sm_stats.ss_p99_ns = lat_quantile(sm, 990);
    sm->sm_stats.ss_busy_seconds = (double)sm->sm_busy_ns / 1e9;
    sm->sm_stats.ss_seconds = (double)(now_ns() - sm->sm_t0) / 1e9;
    *ss = sm->sm_stats;
}

static void publish(stream *sm)
{
    if (!sm->sm_cfg->sc_on_stats)
        return;
    cdr_stream_stats ss;
    snapshot(sm, 1, &ss);
    sm->sm_cfg->sc_on_stats(sm->sm_cfg->sc_stats_arg, &ss);
}

/* ---- counters: changelog encoding and partitioning ------------------------------------------ */

void cdr_counter_change_encode(const cdr_counter_change *cc, uint8_t key[CDR_COUNTER_KEY_LEN],
                               uint8_t val[CDR_COUNTER_VAL_LEN])
{
    cdr_put_be(key, cc->cc_holder, 8);
    cdr_put_be(key + 8, cc->cc_cycle, 4);
    cdr_put_be(key + 12, cc->cc_tag, 8);
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
    cc->cc_holder = cdr_get_be(key, 8);
    cc->cc_cycle = (uint32_t)cdr_get_be(key + 8, 4);
    cc->cc_tag = cdr_get_be(key + 12, 8);
    cc->cc_used = cc->cc_owner = 0;
    for (int i = 7; i >= 0; i--) {
        cc->cc_used = (cc->cc_used << 8) | val[i];
        cc->cc_owner = (cc->cc_owner << 8) | val[8 + i];
    }
    return 0;
}

/* The partition of cdr.raw that holds an owner's records: keyed by the owner in decimal and
 * partitioned with murmur2 (the Java clients' partitioner), as the collector does. */
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
 * the last stable offset, which must reach the high watermark) into the rater; *count gets the
 * number of counter records read. */
static int restore(stream *sm, const int32_t *parts, int n, uint64_t *count)
{
    *count = 0;
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
    /* The high watermarks come from a read_uncommitted client: a read_committed one is answered
     * the last stable offset, which stays short of a transaction the previous owner committed a
     * moment ago until its markers are written, and the counters would miss its changes. */
    const char *const wkv[][2] = {{"group.id", "cdrate-rate-stream-restore"},
                                  {"client.id", "cdrate-rate-stream-restore"},
                                  {"isolation.level", "read_uncommitted"}};
    rd_kafka_conf_t *wconf = make_conf(sm, wkv, sizeof wkv / sizeof wkv[0]);
    if (!wconf) {
        rd_kafka_destroy(rk);
        return CDR_EINVAL;
    }
    rd_kafka_t *wk = rd_kafka_new(RD_KAFKA_CONSUMER, wconf, err, sizeof err);
    if (!wk) {
        rd_kafka_conf_destroy(wconf);
        rd_kafka_destroy(rk);
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
        while ((e = rd_kafka_query_watermark_offsets(wk, topic, parts[i], &lo, &hi[parts[i]],
                                                     5000)) != 0 &&
               now_ns() - t0 < (uint64_t)STREAM_TIMEOUT_MS * 1000000u)
            rd_kafka_poll(wk, 100); /* a new topic's leader may not be known yet */
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
    rd_kafka_destroy(wk);
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
        } else if (cdr_fraud_change_is(m->key, m->key_len)) {
            cdr_fraud_change fc;
            cdr_fraud_line st;
            if (cdr_fraud_change_decode(m->key, m->key_len, m->payload, m->len, &fc, &st))
                rc = cdr_diag_set(sm->sm_dg, CDR_FORMAT, topic, 0, 0,
                                  "malformed fraud state record at partition %d offset %" PRId64,
                                  (int)m->partition, m->offset);
            else if ((rc = cdr_rater_fraud_import(sm->sm_rt, &fc)) != 0)
                cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "cannot restore fraud state");
            restored++;
            if (!rc && m->offset + 1 >= hi[m->partition] && !done[m->partition]) {
                done[m->partition] = 1;
                left--;
            }
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
    *count = restored;
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
    int32_t *ps = calloc((size_t)parts->cnt + 1, sizeof *ps);
    int n = 0;
    for (int i = 0; ps && i < parts->cnt; i++)
        if (parts->elems[i].partition < sm->sm_nparts)
            ps[n++] = parts->elems[i].partition;
    char list[512], etext[600];
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sm->sm_joined = 1;
        for (int i = 0; i < n; i++) {
            sm->sm_assigned[ps[i]] = 1;
            sm->sm_pos[ps[i]] = -1;
            sm->sm_eof[ps[i]] = 0;
        }
        const uint64_t t0 = now_ns();
        uint64_t restored = 0;
        int rc = ps ? restore(sm, ps, n, &restored) : CDR_ENOMEM;
        if (rc && !sm->sm_err)
            sm->sm_err = rc;
        if (rc)
            say(sm, CDR_STREAM_ERROR, "counter restore failed", "parts=%s err=%s",
                parts_text(ps, n, list, sizeof list),
                cdr_stream_log_quote(sm->sm_dg->dg_msg, etext, sizeof etext));
        else if (n)
            say(sm, CDR_STREAM_INFO, "partitions assigned",
                "parts=%s counters_restored=%" PRIu64 " restore_ms=%.1f",
                parts_text(ps, n, list, sizeof list), restored, ms_since(t0));
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && coop) {
            for (int i = 0; i < n; i++)
                sm->sm_assigned[ps[i]] = 0;
        } else {
            memset(sm->sm_assigned, 0, (size_t)sm->sm_nparts);
        }
        drop_unassigned_msgs(sm);
        int rc = cdr_rater_counters_drop(sm->sm_rt, keep_assigned, sm);
        if (rc && !sm->sm_err)
            sm->sm_err = cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "cannot drop counters");
        say(sm, err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? CDR_STREAM_INFO : CDR_STREAM_WARN,
            err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "partitions revoked" : "partitions lost",
            "parts=%s counters_kept=%zu", parts_text(ps, n, list, sizeof list),
            cdr_rater_counter_count(sm->sm_rt));
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
    free(ps);
}

/* ---- hot reload -------------------------------------------------------------------------------
 * The reload thread calls sc_reload, keeps what really differs from the newest plans and table it
 * knows, and leaves it in rl_ps / rl_tab; the loop takes it between two batches (apply_reload). */

static int same_plan(const cdr_plan *a, const cdr_plan *b)
{
    return a->pl_version == b->pl_version && !strcmp(a->pl_id, b->pl_id);
}

/* Compare the versions of two plan sets (versions are immutable: id and version name the
 * content); returns non-zero when they differ, with the details in rn. */
static int plans_diff(const cdr_plan_set *old, const cdr_plan_set *ps, reload_note *rn)
{
    size_t k = strlen(rn->rn_new_list);
    uint32_t added = 0, gone = 0;
    for (uint32_t i = 0; i < ps->ps_nplans; i++) {
        const cdr_plan *pl = ps->ps_plans[i];
        uint32_t j = 0;
        while (j < old->ps_nplans && !same_plan(old->ps_plans[j], pl))
            j++;
        if (j < old->ps_nplans)
            continue;
        added++;
        char from[40];
        cdr_time_format(pl->pl_effective_from, 0, 1, from, sizeof from);
        char item[CDR_NAME_MAX + 64];
        int len = snprintf(item, sizeof item, "%s%s:%u@%s", k ? "," : "", pl->pl_id, pl->pl_version,
                           from);
        if (len > 0 && k + (size_t)len + 4 < sizeof rn->rn_new_list) {
            memcpy(rn->rn_new_list + k, item, (size_t)len + 1);
            k += (size_t)len;
        } else if (k + 4 < sizeof rn->rn_new_list && !strstr(rn->rn_new_list, "...")) {
            memcpy(rn->rn_new_list + k, "...", 4);
            k += 3;
        }
    }
    for (uint32_t j = 0; j < old->ps_nplans; j++) {
        uint32_t i = 0;
        while (i < ps->ps_nplans && !same_plan(ps->ps_plans[i], old->ps_plans[j]))
            i++;
        gone += i == ps->ps_nplans;
    }
    rn->rn_versions = ps->ps_nplans;
    rn->rn_new += added;
    rn->rn_gone += gone;
    return added || gone;
}

static int same_sub(const cdr_sub *a, const cdr_sub *b)
{
    return a->su_id == b->su_id && a->su_owner == b->su_owner &&
           a->su_enterprise == b->su_enterprise && a->su_active_from == b->su_active_from &&
           a->su_active_to == b->su_active_to && !strcmp(a->su_msisdn, b->su_msisdn) &&
           !strcmp(a->su_plan, b->su_plan) &&
           !memcmp(a->su_pool_units, b->su_pool_units, sizeof a->su_pool_units) &&
           !memcmp(a->su_member_cap, b->su_member_cap, sizeof a->su_member_cap) &&
           a->su_account == b->su_account && a->su_credit_limit == b->su_credit_limit &&
           a->su_credit_nwarn == b->su_credit_nwarn &&
           !memcmp(a->su_credit_warn, b->su_credit_warn, sizeof a->su_credit_warn) &&
           a->su_credit_extended == b->su_credit_extended &&
           a->su_roaming_no_deposit == b->su_roaming_no_deposit &&
           !strcmp(a->su_manager, b->su_manager) && a->su_overdue == b->su_overdue &&
           !strcmp(a->su_overdue_currency, b->su_overdue_currency) &&
           a->su_overdue_amount == b->su_overdue_amount && a->su_overdue_due == b->su_overdue_due;
}

/* Compare two subscriber tables by MSISDN; non-zero when they differ, with the details in rn. */
static int subs_diff(const cdr_subtab *old, const cdr_subtab *tab, reload_note *rn)
{
    size_t matched = 0, added = 0, changed = 0, owners = 0;
    const cdr_sub *su;
    for (size_t i = 0; (su = cdr_subtab_at(tab, i)) != NULL; i++) {
        const cdr_sub *was = cdr_subtab_find(old, su->su_msisdn);
        if (!was) {
            added++;
            continue;
        }
        matched++;
        if (!same_sub(was, su)) {
            changed++;
            owners += was->su_owner != su->su_owner;
        }
    }
    const size_t removed = cdr_subtab_count(old) - matched;
    rn->rn_count = cdr_subtab_count(tab);
    rn->rn_added += added;
    rn->rn_removed += removed;
    rn->rn_changed += changed;
    rn->rn_owners += owners;
    return added || removed || changed;
}

static int cycle_cmp(const void *a, const void *b)
{
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort cycles[0..*n) and drop duplicates. */
static void cycles_norm(uint32_t *cycles, size_t *n)
{
    if (!*n)
        return;
    qsort(cycles, *n, sizeof *cycles, cycle_cmp);
    size_t m = 0;
    for (size_t i = 0; i < *n; i++)
        if (!m || cycles[m - 1] != cycles[i])
            cycles[m++] = cycles[i];
    *n = m;
}

static void *reload_main(void *arg)
{
    stream *sm = arg;
    reloader *rl = &sm->sm_rl;
    const cdr_stream_config *sc = sm->sm_cfg;
    const int every = sc->sc_reload_ms > 0 ? sc->sc_reload_ms : CDR_STREAM_RELOAD_DEFAULT;
    pthread_mutex_lock(&rl->rl_lock);
    while (!rl->rl_quit) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += every / 1000;
        until.tv_nsec += (long)(every % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!rl->rl_quit && pthread_cond_timedwait(&rl->rl_cond, &rl->rl_lock, &until) == 0)
            ;
        if (rl->rl_quit)
            break;
        pthread_mutex_unlock(&rl->rl_lock);

        cdr_plan_set *ps = NULL;
        cdr_subtab *tab = NULL;
        cdr_diag dg;
        cdr_diag_clear(&dg);
        const uint64_t t0 = now_ns();
        const int rc = sc->sc_reload(sc->sc_reload_arg, &ps, &tab, &dg);
        uint32_t *closed = NULL; /* the closed cycles, when they changed */
        size_t nclosed = 0;
        if (sc->sc_reload_closed) { /* on their own: a failed load of plans does not hold them */
            cdr_diag cdg;
            cdr_diag_clear(&cdg);
            const int crc = sc->sc_reload_closed(sc->sc_reload_arg, &closed, &nclosed, &cdg);
            if (crc) {
                char etext[600];
                say(sm, CDR_STREAM_WARN, "reload failed", "code=%s err=%s", cdr_err_name(crc),
                    cdr_stream_log_quote(cdg.dg_msg, etext, sizeof etext));
                free(closed);
                closed = NULL;
            } else if (closed) {
                cycles_norm(closed, &nclosed);
                if (nclosed == rl->rl_last_nclosed &&
                    (!nclosed || !memcmp(closed, rl->rl_last_closed, nclosed * sizeof *closed))) {
                    free(closed); /* the same cycles */
                    closed = NULL;
                }
            }
        }
        reload_note rn = {0};
        rn.rn_load_ms = ms_since(t0);
        if (rc) {
            char etext[600];
            say(sm, CDR_STREAM_WARN, "reload failed", "code=%s err=%s", cdr_err_name(rc),
                cdr_stream_log_quote(dg.dg_msg, etext, sizeof etext));
        } else {
            if (ps && !(rn.rn_plans = plans_diff(rl->rl_last_ps, ps, &rn))) {
                cdr_plan_set_release(ps); /* the same versions */
                ps = NULL;
            }
            if (tab && !(rn.rn_subs = subs_diff(rl->rl_last_tab, tab, &rn))) {
                cdr_subtab_free(tab);
                tab = NULL;
            }
        }

        pthread_mutex_lock(&rl->rl_lock);
        if (rc) {
            cdr_plan_set_release(ps);
            cdr_subtab_free(tab);
            ps = NULL;
            tab = NULL;
        }
        if (closed) {
            uint32_t *copy = malloc((nclosed ? nclosed : 1) * sizeof *copy);
            if (copy) { /* else: not taken; the next reload sees the change again */
                memcpy(copy, closed, nclosed * sizeof *copy);
                free(rl->rl_closed); /* a pending one not taken yet: this one is newer */
                rl->rl_closed = closed;
                rl->rl_nclosed = nclosed;
                free(rl->rl_last_closed);
                rl->rl_last_closed = copy;
                rl->rl_last_nclosed = nclosed;
                rl->rl_note.rn_closed = 1;
                atomic_store(&rl->rl_ready, 1);
            } else {
                free(closed);
            }
        }
        if (ps) {
            cdr_plan_set_release(rl->rl_ps); /* a pending one not taken yet: this one is newer */
            rl->rl_ps = ps;
            cdr_plan_set_release(rl->rl_last_ps);
            rl->rl_last_ps = cdr_plan_set_retain(ps);
            rl->rl_note.rn_plans = 1;
            rl->rl_note.rn_versions = rn.rn_versions;
            rl->rl_note.rn_new += rn.rn_new;
            rl->rl_note.rn_gone += rn.rn_gone;
            size_t k = strlen(rl->rl_note.rn_new_list);
            snprintf(rl->rl_note.rn_new_list + k, sizeof rl->rl_note.rn_new_list - k, "%s%s",
                     k && rn.rn_new_list[0] ? "," : "", rn.rn_new_list);
        }
        if (tab) {
            cdr_subtab_free(rl->rl_tab);
            rl->rl_tab = tab;
            rl->rl_last_tab = tab;
            rl->rl_note.rn_subs = 1;
            rl->rl_note.rn_count = rn.rn_count;
            rl->rl_note.rn_added += rn.rn_added;
            rl->rl_note.rn_removed += rn.rn_removed;
            rl->rl_note.rn_changed += rn.rn_changed;
            rl->rl_note.rn_owners += rn.rn_owners;
        }
        if (ps || tab) {
            rl->rl_note.rn_load_ms += rn.rn_load_ms;
            atomic_store(&rl->rl_ready, 1);
        }
    }
    pthread_mutex_unlock(&rl->rl_lock);
    return NULL;
}

static int reload_start(stream *sm, cdr_plan_set *ps)
{
    reloader *rl = &sm->sm_rl;
    const cdr_stream_config *sc = sm->sm_cfg;
    if (sc->sc_nclosed) { /* what the rater starts with, for the comparison */
        if (!(rl->rl_last_closed = malloc(sc->sc_nclosed * sizeof *rl->rl_last_closed)))
            return cdr_diag_set(sm->sm_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        memcpy(rl->rl_last_closed, sc->sc_closed, sc->sc_nclosed * sizeof *rl->rl_last_closed);
        rl->rl_last_nclosed = sc->sc_nclosed;
        cycles_norm(rl->rl_last_closed, &rl->rl_last_nclosed);
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rl->rl_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&rl->rl_lock, NULL);
    atomic_init(&rl->rl_ready, 0);
    rl->rl_last_ps = cdr_plan_set_retain(ps);
    rl->rl_last_tab = sm->sm_tab;
    rl->rl_started = 1;
    if (!sm->sm_cfg->sc_reload)
        return 0;
    if (pthread_create(&rl->rl_thread, NULL, reload_main, sm) != 0)
        return cdr_diag_set(sm->sm_dg, CDR_ENOMEM, NULL, 0, 0, "cannot start the reload thread");
    rl->rl_running = 1;
    return 0;
}

static void reload_stop(stream *sm)
{
    reloader *rl = &sm->sm_rl;
    if (!rl->rl_started)
        return;
    pthread_mutex_lock(&rl->rl_lock);
    rl->rl_quit = 1;
    pthread_cond_signal(&rl->rl_cond);
    pthread_mutex_unlock(&rl->rl_lock);
    if (rl->rl_running)
        pthread_join(rl->rl_thread, NULL);
    rl->rl_running = 0;
    cdr_plan_set_release(rl->rl_ps);
    cdr_subtab_free(rl->rl_tab);
    cdr_plan_set_release(rl->rl_last_ps);
    free(rl->rl_closed);
    free(rl->rl_last_closed);
    rl->rl_closed = rl->rl_last_closed = NULL;
    pthread_cond_destroy(&rl->rl_cond);
    pthread_mutex_destroy(&rl->rl_lock);
    rl->rl_started = 0;
}

/* Between two batches: swap in what the reload thread left. */
static int apply_reload(stream *sm)
{
    reloader *rl = &sm->sm_rl;
    if (!atomic_load_explicit(&rl->rl_ready, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&rl->rl_lock);
    cdr_plan_set *ps = rl->rl_ps;
    cdr_subtab *tab = rl->rl_tab;
    uint32_t *closed = rl->rl_closed;
    const size_t nclosed = rl->rl_nclosed;
    const uint32_t closed_last = closed && nclosed ? closed[nclosed - 1] : 0; /* sorted */
    const reload_note rn = rl->rl_note;
    rl->rl_ps = NULL;
    rl->rl_tab = NULL;
    rl->rl_closed = NULL;
    memset(&rl->rl_note, 0, sizeof rl->rl_note);
    atomic_store(&rl->rl_ready, 0);
    pthread_mutex_unlock(&rl->rl_lock);

    const uint64_t t0 = now_ns();
    int rc = 0;
    if (tab)
        rc = cdr_rater_set_subtab(sm->sm_rt, tab, ps);
    else if (ps)
        rc = cdr_rater_set_plans(sm->sm_rt, ps);
    if (!rc && rn.rn_closed)
        rc = cdr_rater_set_closed(sm->sm_rt, closed, nclosed);
    free(closed);
    if (rc) { /* the reload thread compares with tab: stop it first; then stop the stream */
        reload_stop(sm);
        cdr_plan_set_release(ps);
        cdr_subtab_free(tab);
        return cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "cannot apply a reload");
    }
    if (tab) {
        uint16_t *op = calloc(cdr_subtab_count(tab) + 1, sizeof *op);
        if (!op) {
            reload_stop(sm);
            return cdr_diag_set(sm->sm_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        }
        free(sm->sm_owner_part);
        sm->sm_owner_part = op;
        cdr_subtab_free(sm->sm_tab_owned); /* the rater no longer reads it */
        sm->sm_tab_owned = tab;
        sm->sm_tab = tab;
    }
    if (ps) {
        sm->sm_plan_versions = ps->ps_nplans;
        cdr_plan_set_release(ps); /* the rater holds its own reference */
    }
    if (rn.rn_closed) {
        sm->sm_nclosed = nclosed;
        sm->sm_last_closed = closed_last;
    }
    sm->sm_stats.ss_reloads++;
    char list[300];
    say(sm, CDR_STREAM_INFO, "reloaded",
        "plans_changed=%d plan_versions=%u new_versions=%s removed_versions=%u "
        "subscribers_changed=%d subscribers=%zu added=%zu removed=%zu changed=%zu "
        "owner_changes=%zu closed_changed=%d closed_cycles=%zu last_closed=%u load_ms=%.1f "
        "apply_ms=%.1f",
        rn.rn_plans, sm->sm_plan_versions, cdr_stream_log_quote(rn.rn_new_list, list, sizeof list),
        rn.rn_gone, rn.rn_subs, cdr_subtab_count(sm->sm_tab), rn.rn_added, rn.rn_removed,
        rn.rn_changed, rn.rn_owners, rn.rn_closed, sm->sm_nclosed, sm->sm_last_closed,
        rn.rn_load_ms, ms_since(t0));
    if (rn.rn_owners)
        say(sm, CDR_STREAM_WARN, "charging owners changed",
            "subscribers=%zu note=\"their records now go to the new owner's partition; counters "
            "of the current cycle stay under the old owner (docs/streaming.md, Hot reload)\"",
            rn.rn_owners);
    return 0;
}

/* ---- setup ------------------------------------------------------------------------------------
 */

/* Partition count of a topic: > 0, 0 when it does not exist, < 0 on error (in dg). */
static int topic_partitions(stream *sm, rd_kafka_t *rk, const char *topic)
{
    return cdr_kafka_topic_partitions(rk, topic, STREAM_TIMEOUT_MS, sm->sm_cfg->sc_stop, sm->sm_dg);
}

/* The changelog is compacted; suspense entries are kept until an operator deletes them (they wait
 * for a fix and a replay, docs/suspense.md); cdr.rated keeps the broker's default retention (the
 * ledger is its long-term copy). */
static int create_topic(stream *sm, rd_kafka_t *rk, int t)
{
    const char *topic = sm->sm_topic[t];
    int nparts = sm->sm_nparts;
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, nparts, -1, err, sizeof err);
    if (!nt)
        return cdr_diag_set(sm->sm_dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s: %s", topic, err);
    if (t == T_COUNTERS)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    if (t == T_SUSPENSE)
        rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
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
    sm->sm_rkt[T_RAW] = rd_kafka_topic_new(sm->sm_prod, sm->sm_topic[T_RAW], NULL); /* re-keying */
    for (int t = T_RATED; t < T_NTOPICS; t++) {
        int n = topic_partitions(sm, sm->sm_prod, sm->sm_topic[t]);
        if (n < 0)
            return sm->sm_dg->dg_code;
        if (n == 0) {
            int rc = create_topic(sm, sm->sm_prod, t);
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

/* The producer's librdkafka log: errors as cdr_kafka_conf prints them; and whether
 * init_transactions had to wait (CONCURRENT_TRANSACTIONS) for a transaction of this id that a
 * previous instance, killed in the middle of it, left open. */
static void prod_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    stream *sm = rd_kafka_opaque(rk);
    if (sm && !strcmp(fac, "GETPID") &&
        strstr(buf, rd_kafka_err2str(RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS)))
        sm->sm_prev_open = 1;
    if (level <= 3)
        fprintf(stderr, "cdrate: kafka %s: %s\n", fac, buf);
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
        /* cdr.rated and cdr.suspense are keyed like cdr.raw and partitioned like it */
        {"partitioner", "murmur2_random"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"queue.buffering.max.messages", "1000000"},
        {"transaction.timeout.ms", "60000"},
    };
    rd_kafka_conf_t *conf = make_conf(sm, pkv, sizeof pkv / sizeof pkv[0]);
    if (!conf)
        return CDR_EINVAL;
    rd_kafka_conf_set_opaque(conf, sm);
    rd_kafka_conf_set_log_cb(conf, prod_log_cb);
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
    if (sm->sm_prev_open) /* aborted (or, when it was being committed, completed) */
        say(sm, CDR_STREAM_INFO, "fenced an open transaction of a previous instance",
            "transactional_id=%s", tid);
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
        /* the 1 MB default returns ~13k records per partition and fetch: the rater then waits
         * for fetches (measured with `cdrate bench e2e`, docs/benchmarks.md) */
        {"max.partition.fetch.bytes", "8388608"},
        {"fetch.max.bytes", "104857600"},
        {"enable.partition.eof", "true"}, /* the end of a partition: lag, --idle-exit */
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
        sm->sm_cfg->sc_batch_wait_ms > 0 ? sm->sm_cfg->sc_batch_wait_ms : CDR_STREAM_WAIT_DEFAULT;
    const uint64_t t0 = now_ns();
    int got = 0;
    while (sm->sm_nmsgs < max && !sm->sm_err && !stopping(sm)) {
        uint64_t el = (now_ns() - t0) / 1000000u;
        if (el >= (uint64_t)wait)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(sm->sm_cons, (int)((uint64_t)wait - el));
        if (!m)
            continue;
        const int32_t p = m->partition;
        const int mine = p >= 0 && p < sm->sm_nparts && sm->sm_assigned[p];
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (mine) { /* read_committed: the last stable offset */
                    sm->sm_eof[p] = 1;
                    if (m->offset > sm->sm_pos[p])
                        sm->sm_pos[p] = m->offset;
                }
            } else if (rd_kafka_fatal_error(sm->sm_cons, NULL, 0)) {
                sm->sm_err = kafka_err(sm, m->err, "consumer (fatal)");
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!mine) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!sm->sm_nmsgs)
            sm->sm_fill_t0 = now_ns();
        sm->sm_pos[p] = m->offset + 1;
        sm->sm_eof[p] = 0;
        sm->sm_msgs[sm->sm_nmsgs++] = m;
        got = 1;
    }
    if (got)
        sm->sm_last_msg_ns = now_ns();
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
                                  RD_KAFKA_V_HEADER(CDR_SUSPENSE_HDR_REASON, reason, -1),
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
        sm->sm_stats.ss_misrouted++; /* re-keying keeps such records away: docs/streaming.md */
    sm->sm_stats.ss_counters++;
    return produce(sm, T_COUNTERS, p, key, sizeof key, val, sizeof val, NULL);
}

/* Back to the last committed state: the consumer to the committed offsets, the counters to the
 * changelog. */
static int rewind_batch(stream *sm)
{
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < sm->sm_nmsgs; i++)
        rd_kafka_message_destroy(sm->sm_msgs[i]);
    sm->sm_nmsgs = 0;
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(sm->sm_nparts);
    int32_t *ps = calloc((size_t)sm->sm_nparts, sizeof *ps);
    int n = 0, rc = 0;
    for (int p = 0; p < sm->sm_nparts; p++) {
        sm->sm_pos[p] = -1;
        sm->sm_eof[p] = 0;
        if (sm->sm_assigned[p]) {
            rd_kafka_topic_partition_list_add(tpl, sm->sm_topic[T_RAW], p);
            if (ps)
                ps[n++] = p;
        }
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
    uint64_t restored = 0;
    if (!rc)
        rc = ps ? restore(sm, ps, n, &restored) : CDR_ENOMEM;
    char list[512];
    if (!rc)
        say(sm, CDR_STREAM_INFO, "rewound",
            "parts=%s counters_restored=%" PRIu64 " restore_ms=%.1f",
            parts_text(ps, n, list, sizeof list), restored, ms_since(t0));
    free(ps);
    return rc;
}

/* Commit the open transaction; on an abortable error abort it and rewind (returns 1). */
static int finish_txn(stream *sm, rd_kafka_topic_partition_list_t *offs, size_t nrecs)
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
    char etext[600];
    say(sm, CDR_STREAM_WARN, "transaction aborted", "records=%zu err=%s", nrecs,
        cdr_stream_log_quote(rd_kafka_error_string(e), etext, sizeof etext));
    rd_kafka_error_destroy(e);
    e = rd_kafka_abort_transaction(sm->sm_prod, STREAM_TIMEOUT_MS);
    if (e)
        return kafka_error(sm, e, "abort");
    sm->sm_stats.ss_aborts++;
    int rc = rewind_batch(sm);
    return rc ? rc : 1;
}

/* The partition of cdr.raw of subscriber si's charging owner: computed once per subscriber and
 * table (the key's decimal form and murmur2 cost more than the lookup). */
static int32_t sub_partition(stream *sm, int32_t si)
{
    if (!sm->sm_owner_part[si]) {
        const cdr_sub *su = cdr_subtab_at(sm->sm_tab, (size_t)si);
        sm->sm_owner_part[si] = (uint16_t)(1 + owner_partition(sm, su->su_owner));
    }
    return sm->sm_owner_part[si] - 1;
}

/* Rate the batch in hand and commit it with its offsets in one transaction. A record whose
 * charging owner lives on another partition of cdr.raw is forwarded there instead (re-keying):
 * its pool's counters belong to that partition. */
static int produce_fraud(void *arg, const cdr_fraud_change *fc)
{
    stream *sm = arg;
    uint8_t key[CDR_FRAUD_KEY_LEN], val[CDR_FRAUD_VAL_MAX];
    const size_t vlen = cdr_fraud_change_encode(fc, key, val);
    sm->sm_stats.ss_counters++;
    return produce(sm, T_COUNTERS, owner_partition(sm, fc->fc_owner), key, sizeof key, val, vlen,
                   NULL);
}

static int batch(stream *sm)
{
    const size_t n = sm->sm_nmsgs;
    const uint64_t t0 = now_ns();
    cdr_diag ddg, first_bad;
    cdr_diag_clear(&first_bad);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = sm->sm_msgs[i];
        sm->sm_bad[i] = cdr_wire_decode(m->payload, m->len, &sm->sm_recs[i], &ddg) != 0;
        if (sm->sm_bad[i]) {
            memset(&sm->sm_recs[i], 0, sizeof sm->sm_recs[i]); /* an empty MSISDN: no one */
            if (!first_bad.dg_code)
                first_bad = ddg;
        }
    }
    cdr_subtab_find_records(sm->sm_tab, sm->sm_recs, n, sm->sm_six);
    rd_kafka_error_t *e = rd_kafka_begin_transaction(sm->sm_prod);
    if (e)
        return kafka_error(sm, e, "begin_transaction");
    for (int p = 0; p < sm->sm_nparts; p++)
        sm->sm_next[p] = -1;
    uint64_t rated = 0, suspense = 0, rekeyed = 0, bad = 0;
    int32_t bad_part = -1;
    int64_t bad_off = -1;
    size_t k = 0; /* records to rate, moved to the front of sm_recs */
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const rd_kafka_message_t *m = sm->sm_msgs[i];
        if (m->offset + 1 > sm->sm_next[m->partition])
            sm->sm_next[m->partition] = m->offset + 1;
        if (sm->sm_bad[i]) {
            if (!bad++) {
                bad_part = m->partition;
                bad_off = m->offset;
            }
            rc = produce(sm, T_SUSPENSE, RD_KAFKA_PARTITION_UA, m->key, m->key_len, m->payload,
                         m->len, CDR_SUSPENSE_HDR_UNDECODABLE);
            continue;
        }
        const int32_t si = sm->sm_six[i];
        if (si >= 0) {
            const int32_t p = sub_partition(sm, si);
            if (p != m->partition) {
                const cdr_sub *su = cdr_subtab_at(sm->sm_tab, (size_t)si);
                cdr_record *cr = &sm->sm_recs[i];
                uint8_t val[CDR_WIRE_MAX];
                char key[CDR_KAFKA_KEY_MAX];
                const size_t klen = cdr_kafka_owner_key(su->su_owner, key);
                cr->cr_owner = su->su_owner;
                const size_t vlen = cdr_wire_encode(cr, val);
                if (sm->sm_assigned[p])
                    sm->sm_eof[p] = 0; /* it comes back to this process */
                rekeyed++;
                rc = produce(sm, T_RAW, p, key, klen, val, vlen, NULL);
                continue;
            }
        }
        if (k != i) {
            sm->sm_recs[k] = sm->sm_recs[i];
            sm->sm_six[k] = si;
        }
        sm->sm_map[k++] = (uint32_t)i;
    }
    /* the subscribers are looked up once, above: the rater takes the indexes */
    if (!rc && k &&
        (rc = cdr_rater_rate_resolved(sm->sm_rt, sm->sm_recs, sm->sm_six, k, sm->sm_out, NULL)) !=
            0)
        cdr_diag_set(sm->sm_dg, rc, NULL, 0, 0, "rating failed");
    for (size_t j = 0; j < k && !rc; j++) {
        const rd_kafka_message_t *m = sm->sm_msgs[sm->sm_map[j]];
        const cdr_rated *rr = &sm->sm_out[j];
        const cdr_plan *pl = rr->rr_reason ? NULL : cdr_rater_batch_plan(sm->sm_rt, j);
        uint8_t val[CDR_RATED_WIRE_MAX];
        size_t vlen = cdr_rated_wire_encode(&sm->sm_recs[j], rr, pl ? pl->pl_id : NULL, val);
        if (rr->rr_reason)
            suspense++;
        else
            rated++;
        rc = produce(sm, rr->rr_reason ? T_SUSPENSE : T_RATED, RD_KAFKA_PARTITION_UA, m->key,
                     m->key_len, val, vlen, NULL);
    }
    if (!rc)
        rc = cdr_rater_counters_changed(sm->sm_rt, produce_counter, sm);
    if (!rc)
        rc = cdr_rater_fraud_changed(sm->sm_rt, produce_fraud, sm);
    size_t nalerts = 0;
    const cdr_alert *alerts = k && !rc ? cdr_rater_alerts(sm->sm_rt, &nalerts) : NULL;
    for (size_t a = 0; a < nalerts && !rc; a++) {
        char val[1024], key[CDR_KAFKA_KEY_MAX];
        int vlen = cdr_alert_format_json(&alerts[a], val, sizeof val);
        const size_t klen = cdr_kafka_owner_key(alerts[a].al_account, key);
        if (vlen > 0)
            vlen--; /* without the newline */
        rc = vlen < 0
                 ? cdr_diag_set(sm->sm_dg, CDR_LIMIT, NULL, 0, 0, "alert too long")
                 : produce(sm, T_ALERTS, RD_KAFKA_PARTITION_UA, key, klen, val, (size_t)vlen, NULL);
    }
    if (rc) { /* the batch cannot be produced: abort it and stop */
        e = rd_kafka_abort_transaction(sm->sm_prod, STREAM_TIMEOUT_MS);
        if (e)
            rd_kafka_error_destroy(e);
        return rc;
    }
    if (sm->sm_hold_ms && k) { /* the test hook: the transaction stays open for a while */
        say(sm, CDR_STREAM_INFO, "test hook: holding the transaction open", "records=%zu ms=%u", k,
            sm->sm_hold_ms);
        usleep((useconds_t)sm->sm_hold_ms * 1000);
    }
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(sm->sm_nparts);
    for (int p = 0; p < sm->sm_nparts; p++)
        if (sm->sm_next[p] >= 0)
            rd_kafka_topic_partition_list_add(offs, sm->sm_topic[T_RAW], p)->offset =
                sm->sm_next[p];
    rc = finish_txn(sm, offs, n);
    rd_kafka_topic_partition_list_destroy(offs);
    const uint64_t t1 = now_ns();
    sm->sm_busy_ns += t1 - (sm->sm_fill_t0 && sm->sm_fill_t0 < t0 ? sm->sm_fill_t0 : t0);
    if (rc)
        return rc < 0 ? rc : 0; /* 1: aborted and rewound, the records come again */
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(sm->sm_msgs[i]);
    sm->sm_nmsgs = 0;
    sm->sm_stats.ss_consumed += n;
    sm->sm_stats.ss_rated += rated;
    sm->sm_stats.ss_suspense += suspense + bad;
    sm->sm_stats.ss_undecodable += bad;
    sm->sm_stats.ss_rekeyed += rekeyed;
    sm->sm_stats.ss_alerts += nalerts;
    sm->sm_stats.ss_batches++;
    sm->sm_lat[lat_bucket(t1 - t0)]++;
    sm->sm_nlat++;
    if (bad) {
        char etext[600];
        say(sm, CDR_STREAM_WARN, "undecodable records to suspense",
            "count=%" PRIu64 " first_partition=%d first_offset=%" PRId64 " err=%s", bad,
            (int)bad_part, bad_off, cdr_stream_log_quote(first_bad.dg_msg, etext, sizeof etext));
    }
    return 0;
}

/* --idle-exit: nothing came for sc_idle_exit_ms and every assigned partition is at its end. */
static int idle_done(const stream *sm)
{
    const int ms = sm->sm_cfg->sc_idle_exit_ms;
    if (ms <= 0 || !sm->sm_joined || sm->sm_nmsgs ||
        now_ns() - sm->sm_last_msg_ns < (uint64_t)ms * 1000000u)
        return 0;
    for (int p = 0; p < sm->sm_nparts; p++) {
        if (!sm->sm_assigned[p])
            continue;
        const int64_t hi = raw_high(sm, p);
        if (!sm->sm_eof[p] || hi < 0 || sm->sm_pos[p] < hi)
            return 0;
    }
    return 1;
}

/* ---- the run ----------------------------------------------------------------------------------
 */

int cdr_stream_run(const cdr_stream_config *sc, cdr_plan_set *ps, const cdr_subtab *tab,
                   cdr_stream_stats *stats, cdr_diag *dg)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!sc || !sc->sc_brokers || !*sc->sc_brokers || !sc->sc_group || !*sc->sc_group || !ps ||
        !tab) {
        cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                     "rate-stream: brokers, group, plans and subscribers are required");
        cdr_stream_log(
            sc, CDR_STREAM_ERROR, "rate-stream failed",
            "code=CDR_EINVAL err=\"brokers, group, plans and subscribers are required\"");
        return CDR_EINVAL;
    }
    const size_t bmax = sc->sc_batch ? sc->sc_batch : CDR_STREAM_BATCH_DEFAULT;
    stream *sm = calloc(1, sizeof *sm); /* the latency histogram makes it large */
    if (!sm)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    sm->sm_cfg = sc;
    const char *hold = getenv(CDR_STREAM_HOLD_ENV);
    sm->sm_hold_ms = hold && *hold ? (unsigned)strtoul(hold, NULL, 10) : 0;
    sm->sm_dg = dg;
    sm->sm_t0 = sm->sm_last_msg_ns = now_ns();
    sm->sm_tab = tab;
    sm->sm_plan_versions = ps->ps_nplans;
    sm->sm_stats.ss_lag = -1;
    static const char *const names[T_NTOPICS] = {
        CDR_STREAM_TOPIC_RAW, CDR_STREAM_TOPIC_RATED, CDR_STREAM_TOPIC_SUSPENSE,
        CDR_STREAM_TOPIC_COUNTERS, CDR_STREAM_TOPIC_ALERTS};
    const char *prefix = sc->sc_topic_prefix ? sc->sc_topic_prefix : "";
    for (int t = 0; t < T_NTOPICS; t++)
        snprintf(sm->sm_topic[t], sizeof sm->sm_topic[t], "%s%s", prefix, names[t]);
    char tid[512];
    snprintf(tid, sizeof tid, "%s", sc->sc_transactional_id ? sc->sc_transactional_id : "");
    if (!tid[0])
        snprintf(tid, sizeof tid, "%s.rate-stream", sc->sc_group);
    const char *why = "signal";

    int rc = 0;
    if (bmax > CDR_STREAM_BATCH_MAX) {
        rc = cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "rate-stream: batch over %d",
                          CDR_STREAM_BATCH_MAX);
        goto done;
    }
    rc = cdr_rater_create(sc->sc_threads ? sc->sc_threads : 1, ps, tab, &sm->sm_rt);
    if (rc) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the rater");
        goto done;
    }
    cdr_rater_track_changes(sm->sm_rt, 1);
    {
        cdr_credit_config ccd;
        cdr_credit_config_default(&ccd);
        if ((rc = cdr_rater_set_credit(sm->sm_rt, sc->sc_credit ? sc->sc_credit : &ccd)) != 0 ||
            (rc = cdr_rater_set_fraud(sm->sm_rt, sc->sc_fraud)) != 0) {
            cdr_diag_set(dg, rc, NULL, 0, 0, "rate-stream: invalid credit control settings");
            goto done;
        }
    }
    if ((rc = cdr_rater_set_closed(sm->sm_rt, sc->sc_closed, sc->sc_nclosed)) != 0) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "rate-stream: invalid closed cycles");
        goto done;
    }
    for (size_t i = 0; i < sc->sc_nclosed; i++) {
        sm->sm_nclosed = sc->sc_nclosed; /* as given; the reload thread compares without doubles */
        if (sc->sc_closed[i] > sm->sm_last_closed)
            sm->sm_last_closed = sc->sc_closed[i];
    }
    sm->sm_msgs = malloc(bmax * sizeof *sm->sm_msgs);
    sm->sm_recs = malloc(bmax * sizeof *sm->sm_recs);
    sm->sm_out = malloc(bmax * sizeof *sm->sm_out);
    sm->sm_bad = malloc(bmax);
    sm->sm_six = malloc(bmax * sizeof *sm->sm_six);
    sm->sm_map = malloc(bmax * sizeof *sm->sm_map);
    if (!sm->sm_msgs || !sm->sm_recs || !sm->sm_out || !sm->sm_bad || !sm->sm_six || !sm->sm_map) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    if ((rc = setup_clients(sm, tid)) != 0)
        goto done;
    sm->sm_assigned = calloc((size_t)sm->sm_nparts, 1);
    sm->sm_next = calloc((size_t)sm->sm_nparts, sizeof *sm->sm_next);
    sm->sm_pos = calloc((size_t)sm->sm_nparts, sizeof *sm->sm_pos);
    sm->sm_eof = calloc((size_t)sm->sm_nparts, 1);
    if (!sm->sm_assigned || !sm->sm_next || !sm->sm_pos || !sm->sm_eof) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (int p = 0; p < sm->sm_nparts; p++)
        sm->sm_pos[p] = -1;
    if (sm->sm_nparts > UINT16_MAX - 1) {
        rc = cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "kafka: %s has over %d partitions",
                          sm->sm_topic[T_RAW], UINT16_MAX - 1);
        goto done;
    }
    if (!(sm->sm_owner_part = calloc(cdr_subtab_count(tab) + 1, sizeof *sm->sm_owner_part))) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    if ((rc = reload_start(sm, ps)) != 0)
        goto done;
    say(sm, CDR_STREAM_INFO, "rate-stream started",
        "group=%s topic=%s partitions=%d transactional_id=%s threads=%u batch=%zu "
        "plan_versions=%u subscribers=%zu closed_cycles=%zu last_closed=%u reload_ms=%d "
        "idle_exit_ms=%d",
        sc->sc_group, sm->sm_topic[T_RAW], sm->sm_nparts, tid, sc->sc_threads ? sc->sc_threads : 1,
        bmax, ps->ps_nplans, cdr_subtab_count(tab), sm->sm_nclosed, sm->sm_last_closed,
        sc->sc_reload ? (sc->sc_reload_ms > 0 ? sc->sc_reload_ms : CDR_STREAM_RELOAD_DEFAULT) : 0,
        sc->sc_idle_exit_ms > 0 ? sc->sc_idle_exit_ms : 0);
    while (!rc) {
        if ((rc = apply_reload(sm)) != 0)
            break;
        rc = collect(sm, bmax);
        if (rc)
            break;
        if (sm->sm_nmsgs > 0) {
            rc = batch(sm);
        } else if (stopping(sm)) {
            break;
        } else if (idle_done(sm)) {
            why = "idle";
            break;
        }
        if (!rc)
            rc = sm->sm_err;
        if (!rc)
            publish(sm);
    }
    if (!rc) {
        cdr_stream_stats ss;
        snapshot(sm, 1, &ss); /* the lag, while the partitions are still assigned */
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(sm->sm_cons); /* leaves the group */
        if (e)
            rc = kafka_err(sm, e, "close");
        rc = rc ? rc : sm->sm_err;
    }
done:
    reload_stop(sm);
    for (size_t i = 0; i < sm->sm_nmsgs; i++)
        rd_kafka_message_destroy(sm->sm_msgs[i]);
    sm->sm_nmsgs = 0; /* destroying the consumer may call rebalance_cb */
    if (sm->sm_cons)
        rd_kafka_destroy(sm->sm_cons);
    sm->sm_cons = NULL;
    for (int t = 0; t < T_NTOPICS; t++)
        if (sm->sm_rkt[t])
            rd_kafka_topic_destroy(sm->sm_rkt[t]);
    if (sm->sm_prod)
        rd_kafka_destroy(sm->sm_prod);
    cdr_stream_stats ss;
    snapshot(sm, 0, &ss);
    if (stats)
        *stats = ss;
    if (sc->sc_on_stats)
        sc->sc_on_stats(sc->sc_stats_arg, &ss);
    if (rc) {
        char etext[600];
        say(sm, CDR_STREAM_ERROR, "rate-stream failed", "code=%s err=%s", cdr_err_name(rc),
            cdr_stream_log_quote(dg ? dg->dg_msg : "", etext, sizeof etext));
    } else {
        say(sm, CDR_STREAM_INFO, "rate-stream stopped",
            "reason=%s consumed=%" PRIu64 " rated=%" PRIu64 " suspense=%" PRIu64 " rekeyed=%" PRIu64
            " batches=%" PRIu64 " aborts=%" PRIu64 " reloads=%" PRIu64 " seconds=%.3f",
            why, ss.ss_consumed, ss.ss_rated, ss.ss_suspense, ss.ss_rekeyed, ss.ss_batches,
            ss.ss_aborts, ss.ss_reloads, ss.ss_seconds);
    }
    cdr_rater_destroy(sm->sm_rt);
    cdr_subtab_free(sm->sm_tab_owned); /* after the rater, which borrows it */
    free(sm->sm_msgs);
    free(sm->sm_recs);
    free(sm->sm_out);
    free(sm->sm_bad);
    free(sm->sm_six);
    free(sm->sm_map);
    free(sm->sm_assigned);
    free(sm->sm_next);
    free(sm->sm_pos);
    free(sm->sm_eof);
    free(sm->sm_owner_part);
    free(sm);
    return rc;
}
